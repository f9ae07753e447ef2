//! SLOW/1 on a thread-per-core runtime whose tasks are not `Send`.
//!
//! Many high-throughput services run one single-threaded executor per
//! core (glommio, monoio, or their own), each with its own listener and
//! its own connections, sharing nothing between threads. Their tasks are
//! not `Send`, so their state lives in `Rc` and `RefCell`. This crate is
//! such a runtime, built from async-executor's `LocalExecutor` and
//! async-io, and shows slow-driver's `Client` and `Server` running on it
//! unchanged:
//!
//! - [`PerCore`]: one thread's executor, behind slow-driver's
//!   [`Reactor`](slow_driver::runtime::Reactor) and
//!   [`LocalRuntime`](slow_driver::runtime::LocalRuntime) traits (its IO is
//!   async-io's, so its streams, listener and timer are slow-smol's).
//! - [`PerCoreServer`]: N threads, each with its executor and a listener of
//!   its own on one port (`SO_REUSEPORT`: the kernel spreads connections
//!   over them), serving a [`LocalHandler`](slow_driver::LocalHandler)
//!   made on each thread.
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use slow_driver::{Client, LocalRequest};
//! use slow_local_example::{PerCore, PerCoreServer};
//!
//! // Two threads, each counting its own requests in an `Rc`: no lock.
//! let server = PerCoreServer::builder("127.0.0.1:0".parse()?)
//!     .threads(2)
//!     .serve(|_runtime| {
//!         let count = Rc::new(Cell::new(0u64));
//!         move |req: LocalRequest| {
//!             let count = count.clone();
//!             async move {
//!                 count.set(count.get() + 1);
//!                 Ok(req.body)
//!             }
//!         }
//!     })?;
//!
//! // A client on this thread's own executor.
//! let runtime = PerCore::new();
//! runtime.block_on(async {
//!     let client = Client::<PerCore>::connect(server.local_addr()).await?;
//!     assert_eq!(client.request("hello").await?, "hello");
//!     client.close().await
//! })?;
//! server.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod runtime;
mod server;

pub use runtime::PerCore;
pub use server::{Builder, PerCoreServer};
