//! SLOW/1 in a hand-written, single-threaded event loop on `mio`: no async
//! runtime, no tasks, no futures.
//!
//! This crate shows how to embed the sans-IO core ([`slow_proto`]) in a
//! runtime of your own. It plays both roles over the same loop, over TCP
//! or a Unix domain socket:
//!
//! - [`Server`]: the INTEROP service (`shared/INTEROP.md`), with a connection
//!   limit and a graceful shutdown triggered from any thread through a
//!   [`ShutdownHandle`]; [`Server::spawn`] runs it on a background thread.
//! - [`ClientLoop`]: client connections with a completion-queue API (submit
//!   commands, collect [`Completion`]s), and [`BlockingClient`] on top of it
//!   for tests and small tools.
//!
//! The README walks through the loop: the calling order, where each deadline
//! comes from, how back-pressure works. The files, in reading order:
//! `clock.rs` (one time origin), `timers.rs` (the timer queue), `socket.rs`
//! (a stream or listener, TCP or Unix), `link.rs` (one socket driven for
//! its core), `reactor.rs` (the loop), then the two applications on it:
//! `server.rs` + `service.rs` (with `addr.rs` and `socket_file.rs` for
//! where it listens), and `client.rs` + `blocking.rs`.
//!
//! ```
//! use slow_custom_example::{BlockingClient, Server};
//! use std::time::Duration;
//!
//! let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?.spawn()?;
//! let mut client = BlockingClient::connect(server.local_addr()).unwrap();
//! assert_eq!(&client.request("!bytes 3", Some(Duration::from_secs(5))).unwrap()[..], [0, 1, 2]);
//! client.close(Duration::from_secs(5)).unwrap();
//! server.shutdown()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Over TLS (the `tls` feature, on by default), rustls's own sans-IO state
//! machine runs between each socket and its core, in the same loop:
//! `Server::tls`, `ClientLoop::connect_tls`, `BlockingClient::connect_tls`,
//! and the `tls` module to load configs from PEM files. A TLS failure is
//! `ConnError::Tls`, carrying rustls's error.
//!
//! The same over a Unix domain socket: [`Server::bind_unix`] and
//! [`BlockingClient::connect_unix`] (or [`ClientLoop::connect_unix`]).
//!
//! ```
//! use slow_custom_example::{BlockingClient, Server};
//! use std::time::Duration;
//!
//! let path = std::env::temp_dir().join(format!("slow-doc-lib-{}.sock", std::process::id()));
//! let server = Server::bind_unix(&path, Default::default())?.spawn()?;
//! println!("listening on {}", server.listen_addr()); // unix:/tmp/...
//! let mut client = BlockingClient::connect_unix(server.local_addr()).unwrap();
//! assert_eq!(&client.request("!bytes 3", Some(Duration::from_secs(5))).unwrap()[..], [0, 1, 2]);
//! client.close(Duration::from_secs(5)).unwrap();
//! server.shutdown()?;
//! assert!(!path.exists());
//! # Ok::<(), std::io::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod addr;
mod background;
mod blocking;
mod client;
mod clock;
mod error;
mod link;
mod options;
mod reactor;
mod server;
mod service;
mod shutdown;
mod socket;
mod socket_file;
mod stats;
mod timers;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tls")]
mod tls_session;
mod trace;

pub use addr::{ListenAddr, Tcp, Transport, Unix};
pub use background::ServerThread;
pub use blocking::BlockingClient;
pub use client::{ClientLoop, Completion, ConnId};
pub use error::{ClientError, ConnError, UnixSocketError};
pub use options::{OptionsError, ServeOptions, USAGE};
pub use server::{DEFAULT_MAX_CONNECTIONS, Server};
pub use shutdown::ShutdownHandle;
pub use stats::ServerStats;
