//! Shared harness for the cross-runtime tests in `tests/`.
//!
//! - [`scenarios`]: the INTEROP scenario list, run by a client on any
//!   runtime against any server (the interop matrix).
//! - [`servers`] / [`clients`]: one server and one client runtime per
//!   adapter, each on its own runtime instance.
//! - [`tls`]: the matrix over mutual TLS: a TLS [`Dial`](scenarios::Dial)
//!   and a handler wrapper that checks each request's client certificate.
//! - [`custom`]: the same for `slow-custom-example`'s mio event loop (not
//!   an async runtime: its client runs the scenarios through its own API).
//! - [`threads`]: counting and naming this process's threads
//!   (`/proc/self/task`), for the "no hidden threads" tests.
//! - [`observe`]: a [`Runtime`](slow_driver::runtime::Runtime) wrapper and a
//!   [`Handler`](slow_driver::Handler) wrapper that record which threads
//!   the tasks SLOW spawns run on, for the runtime-isolation tests.
//! - [`load`]: 10,000 requests held in flight, for the thread tests.
//! - [`child`]: re-running one test in a child process with an environment
//!   variable set (async-std reads its worker count from one).
//! - [`util`]: a timeout on any runtime's own timer, `join_all`, and a
//!   watchdog that bounds a blocking call.

pub mod child;
pub mod clients;
pub mod custom;
pub mod load;
pub mod observe;
pub mod scenarios;
pub mod servers;
pub mod threads;
pub mod tls;
pub mod unix;
pub mod util;
