//! SLOW on smol.
//!
//! ```no_run
//! # fn main() -> Result<(), slow_smol::Error> { smol::block_on(async {
//! use slow_smol::{Client, Request, Server};
//!
//! let server = Server::bind("127.0.0.1:0").await?;
//! let addr = server.local_addr()?;
//! smol::spawn(server.serve(|req: Request| async move { Ok(req.body) })).detach();
//!
//! let client = Client::connect(addr).await?;
//! assert_eq!(client.request("hello").await?, "hello");
//! # Ok(()) }) }
//! ```
//!
//! [`Client`] and [`Server`] are the same types as in `slow-tokio` and
//! `slow-async-std`, bound to [`Smol`]. Tasks are spawned on smol's global
//! executor, or on your own with [`Smol::on`] and `Client::connect_on` /
//! `Server::bind_on`. Sockets and timers are async-io's, smol's reactor;
//! no tokio, no extra threads.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod runtime;

pub use runtime::{Smol, SmolListener, SmolStream, SmolTimer};
pub use slow_driver::{
    Bytes, Config, Error, ErrorCode, ErrorReply, Handler, Notifications, Peer, Reply, Request,
    RequestId, Settings,
};

/// A SLOW client on smol. See [`slow_driver::Client`].
pub type Client = slow_driver::Client<Smol>;
/// A SLOW server on smol. See [`slow_driver::Server`].
pub type Server = slow_driver::Server<Smol>;
