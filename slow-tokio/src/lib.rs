//! SLOW on tokio.
//!
//! ```no_run
//! # async fn run() -> Result<(), slow_tokio::Error> {
//! use slow_tokio::{Client, Request, Server};
//!
//! let server = Server::bind("127.0.0.1:0").await?;
//! let addr = server.local_addr()?;
//! tokio::spawn(server.serve(|req: Request| async move { Ok(req.body) }));
//!
//! let client = Client::connect(addr).await?;
//! assert_eq!(client.request("hello").await?, "hello");
//! # Ok(()) }
//! ```
//!
//! [`Client`] and [`Server`] are the same types as in `slow-smol` and
//! `slow-async-std`, bound to [`Tokio`]: every task runs on the tokio runtime
//! the caller is on, every connection has one tokio timer, and nothing else
//! (no thread, no other runtime) is started.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod runtime;

pub use runtime::{Tokio, TokioListener, TokioStream, TokioTimer};
pub use slow_driver::{
    Bytes, Config, Error, ErrorCode, ErrorReply, Handler, Notifications, Peer, Reply, Request,
    RequestId, Settings,
};

/// A SLOW client on tokio. See [`slow_driver::Client`].
pub type Client = slow_driver::Client<Tokio>;
/// A SLOW server on tokio. See [`slow_driver::Server`].
pub type Server = slow_driver::Server<Tokio>;
