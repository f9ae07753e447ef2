//! The SLOW wire format written by hand for one runtime, without
//! `slow-proto`: what a user who only needed tokio (or only smol, or only
//! async-std, or only compio) would write, and what the adapters are
//! measured against.
//!
//! Three kinds, each on tokio, the first two on smol too, the second on
//! async-std and compio too:
//!
//! - **per request** ([`tokio::serve`], [`smol::serve`]): the server spawns
//!   a task per request, as the SLOW server runs a handler task per
//!   request.
//! - **pipelined** ([`tokio::serve_pipelined`],
//!   [`futures_io::serve_pipelined`] on smol and on async-std,
//!   [`compio::serve_pipelined`]): one task per connection decodes every
//!   frame in its buffer, answers inline and writes once per read
//!   ([`pipelined`]).
//! - **Framed** ([`framed`]): the same, written with tokio-util's
//!   `Framed` codec on both sides, as most tokio users would.
//!
//! smol and async-std share their code ([`futures_io`]), generic over the
//! runtime's TCP stream and the way it spawns a task. compio's is its own
//! ([`compio`]): completion-based IO owns its buffers, and its tasks are
//! not `Send`, so its client shares state through a `RefCell` (no lock)
//! and its writer is woken directly (no channel).
//!
//! All speak enough of SLOW/1 for the benchmarks: the HELLO / WELCOME
//! handshake (magic and version, no settings), REQUEST and RESPONSE frames
//! of at most 64 KiB (no MORE, no DEADLINE), request ids from 1, and on the
//! client a `HashMap` of pending one-shot channels keyed by id (the first
//! two kinds share their client). The server answers every request with
//! its body. Each client connection (and a per-request server's) has a
//! writer task fed by a channel, which batches whatever is queued (through
//! a `BufWriter`, flushed once the channel is empty; on compio, from the
//! shared output in one vectored write), and a reader loop
//! that reads into a `BytesMut` and hands out frame payloads as `Bytes`
//! slices of it. No keepalive, no timeouts, no back-pressure, no graceful
//! close: everything SLOW does beyond this is what the comparison charges
//! to the abstraction.

use std::io;

use bytes::{Buf, Bytes, BytesMut};

pub mod async_std;
pub mod compio;
pub mod framed;
pub mod futures_io;
pub mod pipelined;
pub mod smol;
pub mod tokio;

/// Frame header length.
pub const HEADER_LEN: usize = 10;
/// Frame types used here.
pub const HELLO: u8 = 0x01;
/// The server's handshake answer.
pub const WELCOME: u8 = 0x02;
/// A request body.
pub const REQUEST: u8 = 0x03;
/// A response body.
pub const RESPONSE: u8 = 0x04;
/// The default MAX_FRAME_SIZE, which both sides keep.
pub const MAX_FRAME: usize = 65_536;
/// HELLO and WELCOME payload: magic and version 1, no settings.
pub const HANDSHAKE: &[u8] = b"SLOW\x01";
/// How much room a read asks for.
pub const READ_CHUNK: usize = 8 * 1024;
/// The writer's buffer (the `BufWriter` default; larger writes bypass it).
pub const WRITE_BUFFER: usize = 8 * 1024;

/// A frame header.
pub fn header(ty: u8, id: u32, len: usize) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&(len as u32).to_be_bytes());
    h[4] = ty;
    h[6..].copy_from_slice(&id.to_be_bytes());
    h
}

/// One frame, as read.
pub struct Frame {
    /// Its type.
    pub ty: u8,
    /// Its id.
    pub id: u32,
    /// Its payload, a slice of the read buffer.
    pub payload: Bytes,
}

/// Takes one whole frame off the front of `buf`, if one is there.
pub fn take_frame(buf: &mut BytesMut) -> io::Result<Option<Frame>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    if buf.len() < HEADER_LEN + len {
        buf.reserve(HEADER_LEN + len - buf.len());
        return Ok(None);
    }
    let ty = buf[4];
    let id = u32::from_be_bytes([buf[6], buf[7], buf[8], buf[9]]);
    let mut payload = buf.split_to(HEADER_LEN + len).freeze();
    payload.advance(HEADER_LEN);
    Ok(Some(Frame { ty, id, payload }))
}

fn check_handshake(frame: Option<Frame>, ty: u8) -> io::Result<()> {
    match frame {
        Some(f) if f.ty == ty && f.payload.starts_with(HANDSHAKE) => Ok(()),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "bad handshake")),
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "connection closed")
}
