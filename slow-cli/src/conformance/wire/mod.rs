//! A raw SLOW client for the checks: blocking `std::net`, one frame at a
//! time, encoded and decoded with `slow_proto::frame` only. It shares no
//! code with our `Client`, so a check sees exactly what the server sends,
//! and can send what no well-behaved client would.
//!
//! Everything the server sends is checked on the way in against the rules
//! that bind a server (undefined flag bits sent as 0, frame types of its
//! role, ids that were used, our advertised MAX_FRAME_SIZE), so every check
//! also checks those.
//!
//! `peer` is the connection (sending, reading, the checks on the way in;
//! `tls` puts a blocking rustls client under it when the run has TLS),
//! `expect` waits for what a check expects the server to say, `frames`
//! builds raw bytes and describes frames for failure messages.

mod expect;
mod frames;
mod peer;
mod tls;

use std::time::Duration;

pub(crate) use expect::Answer;
pub(crate) use frames::{
    describe, frame_bytes, handshake_bytes, hello_bytes, settings_block, show_body,
};
pub(crate) use peer::{Got, Peer};

/// How long a check waits for an answer that should come at once.
pub(crate) const PROMPT: Duration = Duration::from_secs(2);
