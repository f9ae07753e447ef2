//! SLOW/1 on [compio]: completion-based IO on io_uring, thread-per-core.
//!
//! Poll-based IO traits (tokio's and futures' `AsyncRead`) cannot express
//! completion-based IO, where the kernel owns a buffer while the read or
//! write is in flight; that is why io_uring runtimes have IO traits of
//! their own and why libraries written against `AsyncRead` do not run on
//! them. SLOW's protocol is a sans-IO core that needs only bytes in and
//! bytes out, so it runs here unchanged: the connection lends its receive
//! buffer to the kernel for each read (payloads are slices of it, no copy)
//! and hands the kernel its queued frames as `Bytes` for each write (a
//! large body is the application's own buffer, by reference).
//!
//! - [`Compio`]: the thread's compio runtime behind slow-driver's
//!   [`Reactor`](slow_driver::runtime::Reactor) and
//!   [`LocalRuntime`](slow_driver::runtime::LocalRuntime); its sockets are
//!   [`CompletionStream`](slow_driver::runtime::CompletionStream)s.
//! - [`Client`] and [`Server`]: slow-driver's, as on every other runtime
//!   (the driver's local path: `Rc`, no locks; handlers are
//!   [`LocalHandler`]s and may hold `Rc` state).
//! - [`ThreadPerCore`]: N threads, each with its own runtime and io_uring
//!   and a listener of its own on one port (`SO_REUSEPORT`).
//! - [`runtime()`] and [`available()`]: io_uring may be missing (an old
//!   kernel, `kernel.io_uring_disabled`, a container's seccomp profile);
//!   they say which. There is no fallback to epoll: use slow-tokio or
//!   slow-smol there.
//!
//! ```
//! use slow_compio::{Client, LocalRequest, Server};
//!
//! slow_compio::runtime()?.block_on(async {
//!     let server = Server::bind("127.0.0.1:0").await?;
//!     let addr = server.local_addr()?;
//!     compio::runtime::spawn(server.serve(|req: LocalRequest| async move {
//!         Ok(req.body)
//!     }))
//!     .detach();
//!
//!     let client = Client::connect(addr).await?;
//!     assert_eq!(client.request("hello").await?, "hello");
//!     client.close().await
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [compio]: https://docs.rs/compio
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod runtime;
mod server;
mod uring;

pub use runtime::{Compio, CompioListener, CompioStream, CompioTimer, CompioUnixListener};
pub use server::{Builder, ThreadPerCore};
pub use slow_driver::runtime::Completion;
pub use slow_driver::{
    Addr, Bytes, CodeCounts, Config, Error, ErrorCode, ErrorReply, LocalHandler, LocalRequest,
    Reply, Settings, Stats,
};
pub use uring::{Cause, Unavailable, available, runtime};

/// A SLOW client on the thread's compio runtime: slow-driver's
/// [`Client`](slow_driver::Client), as on every other runtime.
///
/// ```
/// # use slow_compio::{LocalRequest, Server};
/// use slow_compio::Client;
///
/// slow_compio::runtime()?.block_on(async {
/// #   let server = Server::bind("127.0.0.1:0").await?;
/// #   let addr = server.local_addr()?;
/// #   compio::runtime::spawn(server.serve(|req: LocalRequest| async move { Ok(req.body) })).detach();
///     let client = Client::connect(addr).await?;
///     let (a, b) = futures_join(client.request("one"), client.request("two")).await;
///     assert_eq!((a?, b?), ("one".into(), "two".into()));
///     client.close().await
/// })?;
/// # async fn futures_join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
/// #     let b = std::pin::pin!(b);
/// #     let a = a.await;
/// #     (a, b.await)
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type Client = slow_driver::Client<Compio>;

/// A SLOW server on the thread's compio runtime: slow-driver's
/// [`Server`](slow_driver::Server). For many threads, see
/// [`ThreadPerCore`].
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use slow_compio::{Client, LocalRequest, Server};
///
/// slow_compio::runtime()?.block_on(async {
///     let server = Server::bind("127.0.0.1:0").await?;
///     let addr = server.local_addr()?;
///     // A handler with `Rc` state: nothing here is `Send`.
///     let seen = Rc::new(Cell::new(0));
///     let counter = seen.clone();
///     compio::runtime::spawn(server.serve(move |req: LocalRequest| {
///         counter.set(counter.get() + 1);
///         async move { Ok(req.body) }
///     }))
///     .detach();
///
///     let client = Client::connect(addr).await?;
///     client.request("x").await?;
///     assert_eq!(seen.get(), 1);
///     client.close().await
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type Server = slow_driver::Server<Compio>;
