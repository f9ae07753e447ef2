//! The `slow` command-line tool, as a library: every subcommand's work
//! lives here so that tests run it in-process, and `main.rs` only parses
//! arguments and prints.
//!
//! - [`server`]: the INTEROP service on any runtime (`slow serve`).
//! - [`call`]: one request or notification (`slow call`).
//! - [`bench`](mod@bench): a load generator with an HDR latency histogram (`slow bench`).
//! - [`conformance`]: the project's own checks of PROTOCOL.md and
//!   INTEROP.md against any server, over raw TCP (`slow conformance`).
//! - [`demo`]: every runtime's client against every runtime's server
//!   (`slow demo`).
//!
//! [`tls`] loads the `--tls-*` flags' PEM files, and [`certs`] makes the
//! demo's own CA and certificates.
//!
//! [`runtime`] builds the runtime a command asked for; `custom` (private)
//! adapts the hand-written mio loop, which has its own client APIs, and
//! `compio_rt` (private) runs the same work as the async runtimes on
//! compio's runtimes, one per thread, and serves thread-per-core.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bench;
pub mod call;
pub mod certs;
mod compio_rt;
pub mod conformance;
mod custom;
pub mod demo;
pub mod error;
pub mod options;
pub mod runtime;
pub mod server;
pub mod tls;
pub mod trigger;

pub use error::CliError;
pub use options::ServeOptions;
pub use runtime::RuntimeKind;
