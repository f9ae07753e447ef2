//! SLOW on async-std.
//!
//! async-std is deprecated upstream in favour of smol; this adapter keeps
//! working for code that still runs on it. New code: use `slow-smol`.
//!
//! ```
//! use slow_async_std::{Client, Request, Server};
//!
//! fn main() -> Result<(), slow_async_std::Error> {
//!     async_std::task::block_on(async {
//!         let server = Server::bind("127.0.0.1:0").await?;
//!         let addr = server.local_addr()?;
//!         async_std::task::spawn(server.serve(|req: Request| async move { Ok(req.body) }));
//!
//!         let client = Client::connect(addr).await?;
//!         assert_eq!(client.request("hello").await?, "hello");
//!         client.close().await
//!     })
//! }
//! ```
//!
//! [`Client`] and [`Server`] have the same API as in `slow-tokio` and
//! `slow-smol`, on [`AsyncStd`]: tasks are spawned with async-std's
//! `task::spawn`, sockets and timers are async-std's.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod runtime;

pub use runtime::{
    AsyncStd, AsyncStdListener, AsyncStdStream, AsyncStdTimer, AsyncStdUnixListener, HalfClose,
};

slow_driver::adapter_types! {
    runtime = AsyncStd,
    krate = "slow_async_std",
    name = "async-std",
    here = "AsyncStd",
    main = "fn main() -> Result<(), slow_async_std::Error> { async_std::task::block_on(async {",
    main_end = "Ok(()) }) }",
    spawn = "async_std::task::spawn(",
    spawn_end = ");",
    listener = "slow_async_std::AsyncStdListener::from(async_std::net::TcpListener::bind(\"127.0.0.1:0\").await?)",
    stream = "slow_async_std::AsyncStdStream::from(async_std::net::TcpStream::connect(addr.tcp().unwrap()).await?)",
}
