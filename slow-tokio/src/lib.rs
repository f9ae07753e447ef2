//! SLOW on tokio.
//!
//! ```
//! use slow_tokio::{Client, Request, Server};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), slow_tokio::Error> {
//!     let server = Server::bind("127.0.0.1:0").await?;
//!     let addr = server.local_addr()?;
//!     tokio::spawn(server.serve(|req: Request| async move { Ok(req.body) }));
//!
//!     let client = Client::connect(addr).await?;
//!     assert_eq!(client.request("hello").await?, "hello");
//!     client.close().await
//! }
//! ```
//!
//! [`Client`] and [`Server`] have the same API as in `slow-smol` and
//! `slow-async-std`, on [`Tokio`]: every task runs on the tokio runtime the
//! caller is on (or the one given to `connect_on` / `bind_on`), every
//! connection has one tokio timer, and nothing else (no thread, no other
//! runtime) is started.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod runtime;

pub use runtime::{Tokio, TokioListener, TokioStream, TokioTimer, TokioUnixListener};

slow_driver::adapter_types! {
    runtime = Tokio,
    krate = "slow_tokio",
    name = "tokio",
    here = "Tokio(tokio::runtime::Handle::current())",
    main = "#[tokio::main] async fn main() -> Result<(), slow_tokio::Error> {",
    main_end = "Ok(()) }",
    spawn = "tokio::spawn(",
    spawn_end = ");",
    listener = "slow_tokio::TokioListener(tokio::net::TcpListener::bind(\"127.0.0.1:0\").await?)",
    stream = "slow_tokio::TokioStream(tokio::net::TcpStream::connect(addr.tcp().unwrap()).await?)",
}
