//! Hostile peers, faults and load against every SLOW runtime.
//!
//! This crate holds what the reliability scenarios (`tests/`, and
//! `scripts/reliability.sh` for the long runs) are built from:
//!
//! - [`proxy`]: a seeded fault-injecting TCP proxy (split writes down to
//!   single bytes, delays, stall one direction, reset mid-frame, close
//!   half-way), independent of the runtime under test;
//! - [`raw`]: a raw peer that sends any bytes and reads frames, for
//!   garbage, slowloris and peers that never read;
//! - [`servers`]: the INTEROP service on tokio, smol, async-std, the
//!   custom mio loop, compio (io_uring, thread-per-core) and the
//!   thread-per-core `local` runtime, with tasks and handlers counted;
//!   over TLS on the runtimes with a TLS server ([`TLS_SERVERS`]);
//! - [`chaos`]: mixed traffic through the proxy, each request's outcome
//!   checked against the fault its connection suffered;
//! - [`probe`]: a well-behaved client (plaintext or mutual TLS) that must
//!   keep being served;
//! - [`measure`]: a counting allocator, RSS, open descriptors;
//! - [`tasks`]: a runtime wrapper counting live tasks, to prove none leak;
//! - [`tls`]: raw TLS peers (records off the wire, a real ClientHello, a
//!   handshake left half done) for the hostile TLS scenarios.
//!
//! docs/RELIABILITY.md says what each scenario checks and the bounds.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod chaos;
pub mod clients;
pub mod measure;
pub mod probe;
pub mod proxy;
pub mod raw;
pub mod rng;
pub mod servers;
pub mod tasks;
pub mod tls;
pub mod wait;

pub use rng::Rng;
pub use servers::{Kind, SERVERS, TLS_SERVERS, TestServer};

/// The runtimes, re-exported for [`on_runtime!`].
#[doc(hidden)]
pub mod deps {
    pub use async_std;
    pub use slow_async_std;
    pub use slow_smol;
    pub use slow_tokio;
    pub use smol;
}
