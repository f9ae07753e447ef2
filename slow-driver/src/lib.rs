//! What the SLOW runtime adapters share, written once.
//!
//! `slow-tokio`, `slow-async-std` and `slow-smol` each implement the four
//! small traits of [`runtime`] with their runtime's own TCP, timer and
//! spawn, and export [`Client`] and [`Server`] for it. Everything else — the
//! per-connection driver task, request bookkeeping between the core and the
//! waiting callers, handler tasks, graceful shutdown — lives here, so the
//! three adapters cannot drift apart. Protocol rules live in `slow-proto`
//! alone; this crate only moves bytes and wakes tasks.
//!
//! This crate depends on no runtime and spawns no threads.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod driver;
mod error;
mod handler;
mod registry;
pub mod runtime;
mod server;
mod serving;
mod shared;

pub use bytes::Bytes;
pub use client::{Client, Notifications};
pub use error::Error;
pub use handler::{ErrorReply, Handler, Peer, Reply, Request};
pub use server::{DEFAULT_MAX_CONNECTIONS, Server};
pub use slow_proto::{Config, ErrorCode, RequestId, Settings};
