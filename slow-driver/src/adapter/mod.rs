//! What an adapter crate invokes once, [`adapter_types!`](crate::adapter_types):
//! its own `Client` and `Server`, and the shared types it re-exports, each
//! documented with examples that name the adapter and run on its runtime.
//!
//! Why newtypes and not `type Client = Client<Tokio>`: rustdoc puts no
//! method of an alias's target in the alias's page (it loads them with
//! JavaScript, from the driver's docs, with the driver's examples), and the
//! driver's examples cannot name an adapter or run on a runtime. A newtype
//! has a page of its own, and its examples are the adapter's doc tests. Its
//! methods only forward, so the logic stays in [`Client`](crate::Client) and
//! [`Server`](crate::Server); the doc text is written here once, with the
//! adapter's crate name, runtime and way to run a future spliced in.
//!
//! A forward that needs nothing done to the driver's result returns the
//! driver's future itself (`-> impl Future`) rather than awaiting it in an
//! `async fn`: a wrapping future would hold the arguments beside the inner
//! future (a request's future 160 bytes instead of 128) and add a poll.

mod client;
mod server;

/// Defines an adapter's `Client` and `Server` on `runtime` and re-exports
/// the shared types. Invoke it once, at the adapter's root, after the
/// runtime type is in scope:
///
/// ```text
/// slow_driver::adapter_types! {
///     runtime = Tokio,                  // the adapter's `Runtime` type
///     krate = "slow_tokio",             // its crate name, for `use` lines
///     name = "tokio",                   // the runtime's name, for prose
///     here = "Tokio(tokio::runtime::Handle::current())", // a runtime value
///     main = "#[tokio::main] async fn main() -> Result<(), slow_tokio::Error> {",
///     main_end = "Ok(()) }",            // closes `main`
///     spawn = "tokio::spawn(",          // spawns a future, detached ...
///     spawn_end = ");",                 // ... up to here
///     listener = "slow_tokio::TokioListener(tokio::net::TcpListener::bind(\"127.0.0.1:0\").await?)",
///     stream = "slow_tokio::TokioStream(tokio::net::TcpStream::connect(addr.tcp().unwrap()).await?)",
/// }
/// ```
///
/// `here`, `main`, `spawn`, `listener` (a listener of the runtime's own,
/// bound to a free port) and `stream` (a stream of its own, connected to
/// the `Addr` named `addr`) are code for the examples (doc tests), not
/// for the adapter: `main` and `main_end` are hidden lines around each
/// example, so its body may use `.await` and `?`.
///
/// The adapter declares a `tower` feature that turns on slow-driver's
/// (`tower = ["slow-driver/tower"]`): with it, its `Client` is a tower
/// `Service<Bytes>` and it re-exports `ServiceHandler` and
/// `ResponseFuture`. (The `#[cfg(feature = "tower")]` in the expansion is
/// the adapter's own.)
#[doc(hidden)]
#[macro_export]
macro_rules! adapter_types {
    (
        runtime = $rt:ident,
        krate = $krate:literal,
        name = $name:literal,
        here = $here:literal,
        main = $main:literal,
        main_end = $main_end:literal,
        spawn = $spawn:literal,
        spawn_end = $spawn_end:literal,
        listener = $listener:literal,
        stream = $stream:literal $(,)?
    ) => {
        #[doc(inline)]
        pub use $crate::{
            Addr, CodeCounts, Config, Error, ErrorReply, Handler, Notifications, Peer, Reply,
            Request, ServerStats, Settings,
        };

        /// A request, response or notification body: `bytes::Bytes`,
        /// re-exported so that you need not depend on `bytes`. Wherever a
        /// body goes in, anything that converts into one will do (`&'static
        /// str`, `String`, `Vec<u8>`, `&'static [u8]`); what comes out derefs
        /// to `[u8]` and compares with strings and byte slices.
        ///
        /// ```
        #[doc = $crate::__example_head!($main, echo: $krate, $spawn, $spawn_end)]
        #[doc = concat!("use ", $krate, "::{Bytes, Client};")]
        ///
        /// let client = Client::connect(addr).await?;
        /// let body: Bytes = client.request(vec![1, 2, 3]).await?;
        /// assert_eq!(&body[..], [1, 2, 3]);
        /// assert_eq!(client.request(String::from("hi")).await?, "hi");
        #[doc = concat!("# ", $main_end)]
        /// ```
        ///
        /// What follows is the `bytes` crate's own documentation.
        #[doc(inline)]
        pub use $crate::Bytes;

        /// The code of an ERROR answer or a GOAWAY. The protocol's own are
        /// the named constants; 0x0100 and above are your application's, for
        /// the [`ErrorReply`]s your handlers answer and your clients match
        /// in [`Error::Server`]:
        ///
        /// ```
        #[doc = $crate::__example_head!($main)]
        #[doc = concat!(
                    "use ", $krate, "::{Client, Error, ErrorCode, ErrorReply, Request, Server};"
                )]
        ///
        /// const NOT_FOUND: ErrorCode = ErrorCode(0x0104);
        ///
        /// let server = Server::bind("127.0.0.1:0").await?;
        /// let addr = server.local_addr()?;
        #[doc = concat!($spawn, "server.serve(|req: Request| async move {")]
        ///     match &req.body[..] {
        ///         b"known" => Ok(req.body),
        ///         _ => Err(ErrorReply::new(NOT_FOUND, "no such key")),
        ///     }
        #[doc = concat!("})", $spawn_end)]
        ///
        /// let client = Client::connect(addr).await?;
        /// match client.request("unknown").await {
        ///     Err(Error::Server { code: NOT_FOUND, message }) => {
        ///         assert_eq!(message, "no such key")
        ///     }
        ///     other => panic!("expected NOT_FOUND, got {other:?}"),
        /// }
        #[doc = concat!("# ", $main_end)]
        /// ```
        ///
        /// What follows is the protocol core's documentation.
        #[doc(inline)]
        pub use $crate::ErrorCode;

        /// What one connection has counted: frames and bytes each way,
        /// requests and how they ended, notifications, pings, and the codes
        /// of the ERROR and GOAWAY frames. A client's from
        /// [`Client::stats`], a handler's connection's from
        /// [`Peer::stats`], and a server's, added up over its connections,
        /// from [`ServerStats::totals`]:
        ///
        /// ```
        #[doc = $crate::__example_head!($main)]
        #[doc = concat!("use ", $krate, "::{Client, ErrorReply, Request, Server, Stats};")]
        ///
        /// let server = Server::bind("127.0.0.1:0").await?;
        /// let addr = server.local_addr()?;
        /// let served = server.stats_handle();
        #[doc = concat!($spawn, "server.serve(|req: Request| async move {")]
        ///     match &req.body[..] {
        ///         b"fail" => Err(ErrorReply::new(0x0100, "as asked")),
        ///         _ => Ok(req.body),
        ///     }
        #[doc = concat!("})", $spawn_end)]
        ///
        /// let client = Client::connect(addr).await?;
        /// client.request("ok").await?;
        /// assert!(client.request("fail").await.is_err());
        /// let mine: Stats = client.stats();
        /// assert_eq!((mine.requests, mine.responses, mine.failed), (2, 1, 1));
        /// assert_eq!(mine.errors_received.application(), 1);
        /// // The server counted the same requests, from its side.
        /// let theirs = served.totals();
        /// assert_eq!((theirs.requests, theirs.responses, theirs.failed), (2, 1, 1));
        #[doc = concat!("# ", $main_end)]
        /// ```
        ///
        /// What follows is the protocol core's documentation.
        #[doc(inline)]
        pub use $crate::Stats;

        /// The id of a request, as a handler sees it in [`Request::id`]
        /// (e.g. to close the connection after answering it, with
        /// [`Peer::close_after`]). [`Request::new`] takes one, to test a
        /// handler without a connection:
        ///
        /// ```
        #[doc = concat!("use ", $krate, "::{Request, RequestId};")]
        ///
        /// let req = Request::new(RequestId::new(1), "hello");
        /// assert_eq!(req.id, RequestId::FIRST);
        /// ```
        ///
        /// What follows is the protocol core's documentation.
        #[doc(inline)]
        pub use $crate::RequestId;

        // The adapter's own `tower` feature (cfg is evaluated in its crate).
        #[cfg(feature = "tower")]
        #[doc(inline)]
        pub use $crate::tower::{ResponseFuture, ServiceHandler};

        // The adapter's own `tls` feature.
        #[cfg(feature = "tls")]
        #[doc(inline)]
        pub use $crate::tls;

        $crate::__adapter_client! {
            runtime = $rt,
            krate = $krate,
            name = $name,
            here = $here,
            main = $main,
            main_end = $main_end,
            spawn = $spawn,
            spawn_end = $spawn_end,
            stream = $stream,
        }
        $crate::__adapter_server! {
            runtime = $rt,
            krate = $krate,
            name = $name,
            here = $here,
            main = $main,
            main_end = $main_end,
            spawn = $spawn,
            spawn_end = $spawn_end,
            listener = $listener,
        }
    };
}

/// The hidden first lines of an adapter's doc example: `main`, and with
/// `echo`, an echo server listening at `addr`.
#[doc(hidden)]
#[macro_export]
#[rustfmt::skip] // one line of the example a line here
macro_rules! __example_head {
    ($main:literal) => {
        concat!("# ", $main)
    };
    ($main:literal, echo: $krate:literal, $spawn:literal, $spawn_end:literal) => {
        concat!(
            "# ", $main, "\n",
            "# let server = ", $krate, "::Server::bind(\"127.0.0.1:0\").await?;\n",
            "# let addr = server.local_addr()?;\n",
            "# ", $spawn, "server.serve(|req: ", $krate, "::Request| async move {",
            " Ok(req.body) })", $spawn_end,
        )
    };
}
