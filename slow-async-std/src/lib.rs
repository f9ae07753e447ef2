//! SLOW on async-std.
//!
//! async-std is deprecated upstream in favour of smol; this adapter keeps
//! working for code that still runs on it. New code: use `slow-smol`.
//!
//! ```no_run
//! # fn main() -> Result<(), slow_async_std::Error> { async_std::task::block_on(async {
//! use slow_async_std::{Client, Request, Server};
//!
//! let server = Server::bind("127.0.0.1:0").await?;
//! let addr = server.local_addr()?;
//! async_std::task::spawn(server.serve(|req: Request| async move { Ok(req.body) }));
//!
//! let client = Client::connect(addr).await?;
//! assert_eq!(client.request("hello").await?, "hello");
//! # Ok(()) }) }
//! ```
//!
//! [`Client`] and [`Server`] are the same types as in `slow-tokio` and
//! `slow-smol`, bound to [`AsyncStd`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod runtime;

pub use runtime::{AsyncStd, AsyncStdListener, AsyncStdStream, AsyncStdTimer};
pub use slow_driver::{
    Bytes, Config, Error, ErrorCode, ErrorReply, Handler, Notifications, Peer, Reply, Request,
    RequestId, Settings,
};

/// A SLOW client on async-std. See [`slow_driver::Client`].
pub type Client = slow_driver::Client<AsyncStd>;
/// A SLOW server on async-std. See [`slow_driver::Server`].
pub type Server = slow_driver::Server<AsyncStd>;
