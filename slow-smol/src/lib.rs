//! SLOW on smol.
//!
//! ```
//! use slow_smol::{Client, Request, Server};
//!
//! fn main() -> Result<(), slow_smol::Error> {
//!     smol::block_on(async {
//!         let server = Server::bind("127.0.0.1:0").await?;
//!         let addr = server.local_addr()?;
//!         smol::spawn(server.serve(|req: Request| async move { Ok(req.body) })).detach();
//!
//!         let client = Client::connect(addr).await?;
//!         assert_eq!(client.request("hello").await?, "hello");
//!         client.close().await
//!     })
//! }
//! ```
//!
//! [`Client`] and [`Server`] have the same API as in `slow-tokio` and
//! `slow-async-std`, on [`Smol`]: tasks are spawned on smol's global
//! executor, or on your own with [`Smol::on`] and `connect_on` / `bind_on`.
//! Sockets and timers are async-io's, smol's reactor; no tokio, no extra
//! threads.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod runtime;

pub use runtime::{HalfClose, Smol, SmolListener, SmolStream, SmolTimer, SmolUnixListener};

slow_driver::adapter_types! {
    runtime = Smol,
    krate = "slow_smol",
    name = "smol",
    here = "Smol::global()",
    main = "fn main() -> Result<(), slow_smol::Error> { smol::block_on(async {",
    main_end = "Ok(()) }) }",
    spawn = "smol::spawn(",
    spawn_end = ").detach();",
    listener = "slow_smol::SmolListener(smol::Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 0))?)",
    stream = "slow_smol::SmolStream::from(smol::Async::<std::net::TcpStream>::connect(addr.tcp().unwrap()).await?)",
}
