//! What the SLOW runtime adapters share, written once.
//!
//! `slow-tokio`, `slow-async-std` and `slow-smol` each implement the four
//! small traits of [`runtime`] with their runtime's own TCP, timer and
//! spawn, and invoke one macro of this crate that wraps [`Client`] and
//! [`Server`] for that runtime (every method forwards here; the docs and
//! examples name the adapter) and re-exports the rest. Everything else — the
//! per-connection driver task, request bookkeeping between the core and the
//! waiting callers, handler tasks, graceful shutdown — lives here, so the
//! three adapters cannot drift apart. Protocol rules live in `slow-proto`
//! alone; this crate only moves bytes and wakes tasks.
//!
//! Applications use an adapter. Depend on this crate as well to write code
//! that runs on any of them: it takes a `Client<R>` or `Server<R>`, which an
//! adapter's `Client` and `Server` convert into (`into()`, `as_ref()`):
//!
//! ```
//! use slow_driver::runtime::Runtime;
//! use slow_driver::{Client, Error};
//!
//! /// Sends each line as a request and collects the answers, on any runtime.
//! async fn each_line<R: Runtime>(client: &Client<R>, text: &str) -> Result<Vec<String>, Error> {
//!     let mut answers = Vec::new();
//!     for line in text.lines() {
//!         let body = client.request(line.to_owned()).await?;
//!         answers.push(String::from_utf8_lossy(&body).into_owned());
//!     }
//!     Ok(answers)
//! }
//! ```
//!
//! This crate depends on no runtime and spawns no threads.
//!
//! # Logging
//!
//! With the `tracing` feature (on by default; each adapter forwards it),
//! every connection runs in a `tracing` span `connection{role, peer,
//! runtime}` and every request in `request{id}` inside it, so what a
//! handler logs says which connection and request it was for. Events: WARN
//! for a protocol violation (what the peer sent) or a peer that does not
//! speak SLOW; INFO for a connection that ended otherwise in error (a
//! timeout, a lost peer, a refused connection); DEBUG for a connection's
//! life (opened, handshake, GOAWAY sent and received, closed) and each
//! request; TRACE for keepalive PONGs and the socket's teardown. Nothing is
//! logged per frame at INFO or above, and without a subscriber the cost is
//! a check per event. Off (`default-features = false`), it compiles out.
//!
//! With the `tower` feature (the `tower-service` trait crate only),
//! [`Client`] is a tower `Service` and any tower service can be a handler:
//! see `tower`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod adapter;
mod addr;
mod client;
mod driver;
mod error;
mod handler;
mod mailbox;
mod mode;
pub mod net;
mod now;
mod registry;
pub mod runtime;
mod server;
mod serving;
mod shared;
mod spawn;
mod stats;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tower")]
pub mod tower;
mod trace;

pub use addr::Addr;
pub use bytes::Bytes;
pub use client::{Client, Notifications};
pub use error::Error;
pub use handler::{ErrorReply, Handler, LocalHandler, LocalRequest, Peer, Reply, Request};
pub use server::{DEFAULT_MAX_CONNECTIONS, Server};
pub use slow_proto::{CodeCounts, Config, ErrorCode, RequestId, Settings, Stats};
pub use stats::ServerStats;
