//! The adapter's `Client`: part of [`adapter_types!`](crate::adapter_types),
//! one file per type so that each stays readable.

/// `adapter_types!`'s `Client` (same parameters); not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __adapter_client {
    (
        runtime = $rt:ident,
        krate = $krate:literal,
        name = $name:literal,
        here = $here:literal,
        main = $main:literal,
        main_end = $main_end:literal,
        spawn = $spawn:literal,
        spawn_end = $spawn_end:literal,
        stream = $stream:literal $(,)?
    ) => {
        #[doc = concat!("A SLOW client on ", $name, ": one connection, multiplexed.")]
        ///
        /// Cheap to clone: every clone uses the same connection, from any
        /// task or thread, with many requests in flight at once. The
        /// connection closes gracefully when the last clone is dropped, or
        /// for every clone when one of them calls [`close`](Client::close).
        ///
        /// ```
        #[doc = $crate::__example_head!($main)]
        #[doc = concat!("use ", $krate, "::{Client, Request, Server};")]
        ///
        /// let server = Server::bind("127.0.0.1:0").await?;
        /// let addr = server.local_addr()?;
        #[doc = concat!(
            $spawn, "server.serve(|req: Request| async move { Ok(req.body) })", $spawn_end
        )]
        ///
        /// let client = Client::connect(addr).await?;
        /// let other = client.clone(); // the same connection
        /// assert_eq!(client.request("hello").await?, "hello");
        /// assert_eq!(other.request("again").await?, "again");
        /// client.close().await?;
        #[doc = concat!("# ", $main_end)]
        /// ```
        ///
        /// Every SLOW adapter's `Client` has this API; each wraps
        #[doc = concat!("`slow_driver::Client<R>`, here on [`", stringify!($rt), "`]. Code")]
        /// generic over the runtime takes the driver's type: see
        /// [`into_inner`](Client::into_inner).
        #[derive(Clone, Debug)]
        pub struct Client($crate::Client<$rt>);

        impl Client {
            /// Connects to `addr` (`host:port`, or anything that displays
            /// as one, such as a `SocketAddr` or a server's [`Addr`]; or
            /// `unix:PATH` for a Unix domain socket) with the default
            /// [`Config`], and completes the handshake.
            ///
            /// Fails with [`Error::Io`] when nothing listens there and with
            /// [`Error::NotSlow`] when what answers does not speak SLOW.
            ///
            /// ```
            #[doc = $crate::__example_head!($main, echo: $krate, $spawn, $spawn_end)]
            #[doc = concat!("use ", $krate, "::Client;")]
            ///
            /// let client = Client::connect(addr).await?;
            /// assert!(client.is_open());
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub async fn connect(
                addr: impl ::core::fmt::Display,
            ) -> ::core::result::Result<Self, $crate::Error> {
                $crate::Client::<$rt>::connect(addr).await.map(Client)
            }

            /// Connects to `addr` with `config`: this side's settings and
            /// timeouts.
            ///
            /// ```
            #[doc = $crate::__example_head!($main, echo: $krate, $spawn, $spawn_end)]
            /// use std::time::Duration;
            #[doc = concat!("use ", $krate, "::{Client, Config};")]
            ///
            /// let config = Config {
            ///     handshake_timeout: Duration::from_secs(2),
            ///     keepalive_interval: Some(Duration::from_secs(5)),
            ///     ..Config::default()
            /// };
            /// let client = Client::connect_with(addr, config).await?;
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub async fn connect_with(
                addr: impl ::core::fmt::Display,
                config: $crate::Config,
            ) -> ::core::result::Result<Self, $crate::Error> {
                $crate::Client::<$rt>::connect_with(addr, config).await.map(Client)
            }

            /// Connects on the given runtime: the connection's driver task
            #[doc = concat!("is spawned there (see [`", stringify!($rt), "`]).")]
            /// [`connect`](Client::connect) and
            /// [`connect_with`](Client::connect_with) use the one the caller
            /// is on.
            ///
            /// ```
            #[doc = $crate::__example_head!($main, echo: $krate, $spawn, $spawn_end)]
            #[doc = concat!("use ", $krate, "::{Client, Config, ", stringify!($rt), "};")]
            ///
            #[doc = concat!("let runtime = ", $here, ";")]
            /// let client = Client::connect_on(runtime, addr, Config::default()).await?;
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub async fn connect_on(
                runtime: $rt,
                addr: impl ::core::fmt::Display,
                config: $crate::Config,
            ) -> ::core::result::Result<Self, $crate::Error> {
                $crate::Client::connect_on(runtime, addr, config).await.map(Client)
            }

            /// Runs a connection over a stream you already have: a Unix
            /// socket, a TLS stream, an in-memory pipe, anything that
            /// implements `slow_driver::runtime::Stream`. The
            /// handshake is complete when this returns; the stream is shut
            /// down and dropped when the connection is over.
            ///
            /// ```
            #[doc = $crate::__example_head!($main, echo: $krate, $spawn, $spawn_end)]
            #[doc = concat!("use ", $krate, "::{Client, Config};")]
            ///
            #[doc = concat!("let stream = ", $stream, ";")]
            /// let client = Client::from_stream(stream, Config::default()).await?;
            /// assert_eq!(client.request("hi").await?, "hi");
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub async fn from_stream(
                stream: impl $crate::runtime::Stream + ::core::marker::Send,
                config: $crate::Config,
            ) -> ::core::result::Result<Self, $crate::Error> {
                $crate::Client::from_stream(stream, config).await.map(Client)
            }

            /// Runs a connection over `stream` on the given runtime.
            ///
            /// ```
            #[doc = $crate::__example_head!($main, echo: $krate, $spawn, $spawn_end)]
            #[doc = concat!("use ", $krate, "::{Client, Config, ", stringify!($rt), "};")]
            ///
            #[doc = concat!("let stream = ", $stream, ";")]
            #[doc = concat!("let runtime = ", $here, ";")]
            /// let client = Client::from_stream_on(runtime, stream, Config::default()).await?;
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub async fn from_stream_on(
                runtime: $rt,
                stream: impl $crate::runtime::Stream + ::core::marker::Send,
                config: $crate::Config,
            ) -> ::core::result::Result<Self, $crate::Error> {
                $crate::Client::from_stream_on(runtime, stream, config).await.map(Client)
            }

            /// Sends a request and waits for its response. Dropping the
            /// returned future cancels the request (CANCEL goes to the
            /// server, whose handler is stopped).
            ///
            /// Fails with [`Error::Server`] when the server answers ERROR;
            /// [`Error::is_retryable`] says whether trying again on a new
            /// connection is safe.
            ///
            /// ```
            #[doc = $crate::__example_head!($main, echo: $krate, $spawn, $spawn_end)]
            #[doc = concat!("use ", $krate, "::Client;")]
            ///
            /// let client = Client::connect(addr).await?;
            /// let answer = client.request("hello").await?;
            /// assert_eq!(answer, "hello");
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn request(
                &self,
                body: impl ::core::convert::Into<$crate::Bytes>,
            ) -> impl ::core::future::Future<
                Output = ::core::result::Result<$crate::Bytes, $crate::Error>,
            > {
                self.0.request(body)
            }

            /// Like [`request`](Client::request), with a deadline `timeout`
            /// from now: sent to the server as DEADLINE and enforced here,
            /// failing with [`Error::TimedOut`] (the server is told to stop).
            ///
            /// ```
            #[doc = $crate::__example_head!($main)]
            /// use std::time::Duration;
            #[doc = concat!("use ", $krate, "::{Client, Error, Request, Server};")]
            ///
            /// // A server that never answers "wait".
            /// let server = Server::bind("127.0.0.1:0").await?;
            /// let addr = server.local_addr()?;
            #[doc = concat!($spawn, "server.serve(|req: Request| async move {")]
            ///     if req.body == "wait" {
            ///         std::future::pending::<()>().await;
            ///     }
            ///     Ok(req.body)
            #[doc = concat!("})", $spawn_end)]
            ///
            /// let client = Client::connect(addr).await?;
            /// let quick = client.request_timeout("hi", Duration::from_secs(5)).await?;
            /// assert_eq!(quick, "hi");
            /// let late = client.request_timeout("wait", Duration::from_millis(50)).await;
            /// assert!(matches!(late, Err(Error::TimedOut)));
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn request_timeout(
                &self,
                body: impl ::core::convert::Into<$crate::Bytes>,
                timeout: ::core::time::Duration,
            ) -> impl ::core::future::Future<
                Output = ::core::result::Result<$crate::Bytes, $crate::Error>,
            > {
                self.0.request_timeout(body, timeout)
            }

            /// Sends a notification: one frame, no answer. The server's
            /// [`Handler::notification`] receives it.
            ///
            /// Fails with [`Error::TooLarge`] above the server's
            /// MAX_FRAME_SIZE and with [`Error::NotProcessed`] once the
            /// connection is closed (nothing is sent); while it drains,
            /// notifications still go out.
            ///
            /// ```
            #[doc = $crate::__example_head!($main, echo: $krate, $spawn, $spawn_end)]
            #[doc = concat!("use ", $krate, "::Client;")]
            ///
            /// let client = Client::connect(addr).await?;
            /// client.notify("cache cleared")?;
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn notify(
                &self,
                body: impl ::core::convert::Into<$crate::Bytes>,
            ) -> ::core::result::Result<(), $crate::Error> {
                self.0.notify(body)
            }

            /// The server's notifications, from now on. Until this is called
            /// they are discarded; after it, they queue (a bounded queue:
            /// when it is full the connection stops reading from the server
            /// until you catch up).
            ///
            /// ```
            #[doc = $crate::__example_head!($main)]
            #[doc = concat!("use ", $krate, "::{Client, Request, Server};")]
            ///
            /// // A server that tells the client it has started on a request.
            /// let server = Server::bind("127.0.0.1:0").await?;
            /// let addr = server.local_addr()?;
            #[doc = concat!($spawn, "server.serve(|req: Request| async move {")]
            ///     req.peer.notify("started")?;
            ///     Ok(req.body)
            #[doc = concat!("})", $spawn_end)]
            ///
            /// let client = Client::connect(addr).await?;
            /// let mut notes = client.notifications(); // before asking, to miss none
            /// client.request("job").await?;
            /// assert_eq!(notes.recv().await.expect("a notification"), "started");
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn notifications(&self) -> $crate::Notifications {
                self.0.notifications()
            }

            /// What the server advertised in its WELCOME: the limits this
            /// client is held to (a `Client` exists only once the handshake
            /// is complete).
            ///
            /// ```
            #[doc = $crate::__example_head!($main)]
            #[doc = concat!("use ", $krate, "::{Client, Config, Request, Server, Settings};")]
            ///
            /// let settings = Settings { max_concurrent_requests: 16, ..Settings::default() };
            /// let config = Config { settings, ..Config::default() };
            /// let server = Server::bind_with("127.0.0.1:0", config).await?;
            /// let addr = server.local_addr()?;
            #[doc = concat!(
                $spawn, "server.serve(|req: Request| async move { Ok(req.body) })", $spawn_end
            )]
            ///
            /// let client = Client::connect(addr).await?;
            /// assert_eq!(client.peer_settings().max_concurrent_requests, 16);
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn peer_settings(&self) -> $crate::Settings {
                self.0.peer_settings()
            }

            /// What this connection has counted so far ([`Stats`]): frames
            /// and bytes each way, the requests sent and how they ended
            /// (answered, failed, cancelled, expired, interrupted),
            /// notifications, pings, and the codes of the ERROR and GOAWAY
            /// frames. A copy; it keeps its last counts once the
            /// connection is closed.
            ///
            /// ```
            #[doc = $crate::__example_head!($main, echo: $krate, $spawn, $spawn_end)]
            #[doc = concat!("use ", $krate, "::Client;")]
            ///
            /// let client = Client::connect(addr).await?;
            /// client.request("hello").await?;
            /// let stats = client.stats();
            /// assert_eq!((stats.requests, stats.responses), (1, 1));
            /// assert_eq!(stats.frames_sent, 2); // HELLO, then the REQUEST
            /// assert!(stats.bytes_received > 0);
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn stats(&self) -> $crate::Stats {
                self.0.stats()
            }

            /// Whether new requests are still accepted: false once either
            /// side has begun a graceful close (GOAWAY) or the connection is
            /// over. Requests already sent may still be answered while it
            /// drains.
            ///
            /// ```
            #[doc = $crate::__example_head!($main, echo: $krate, $spawn, $spawn_end)]
            #[doc = concat!("use ", $krate, "::Client;")]
            ///
            /// let client = Client::connect(addr).await?;
            /// assert!(client.is_open());
            /// client.close().await?;
            /// assert!(!client.is_open());
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn is_open(&self) -> bool {
                self.0.is_open()
            }

            /// Whether the connection is over: every request has its
            /// outcome and nothing more will arrive. While it drains this is
            /// still false.
            ///
            /// ```
            #[doc = $crate::__example_head!($main, echo: $krate, $spawn, $spawn_end)]
            #[doc = concat!("use ", $krate, "::Client;")]
            ///
            /// let client = Client::connect(addr).await?;
            /// assert!(!client.is_closed());
            /// client.close().await?;
            /// assert!(client.is_closed());
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn is_closed(&self) -> bool {
                self.0.is_closed()
            }

            /// Closes gracefully, for every clone: GOAWAY, outstanding
            /// requests finish, then the connection closes and this returns.
            /// Requests made after this fail with [`Error::NotProcessed`].
            ///
            /// ```
            #[doc = $crate::__example_head!($main, echo: $krate, $spawn, $spawn_end)]
            #[doc = concat!("use ", $krate, "::{Client, Error};")]
            ///
            /// let client = Client::connect(addr).await?;
            /// client.close().await?;
            /// let late = client.request("too late").await;
            /// assert!(matches!(late, Err(Error::NotProcessed)));
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn close(
                &self,
            ) -> impl ::core::future::Future<Output = ::core::result::Result<(), $crate::Error>>
            {
                self.0.close()
            }

            /// The driver's client inside,
            #[doc = concat!("`slow_driver::Client<", stringify!($rt), ">`, for code generic")]
            /// over the runtime (code that depends on `slow-driver` itself).
            /// [`AsRef`] lends it instead, and `From` converts both ways.
            ///
            /// ```
            #[doc = $crate::__example_head!($main, echo: $krate, $spawn, $spawn_end)]
            /// use slow_driver::runtime::Runtime;
            #[doc = concat!("use ", $krate, "::{Client, Error, ", stringify!($rt), "};")]
            ///
            /// // Runs on any SLOW adapter's runtime.
            /// async fn ping<R: Runtime>(client: &slow_driver::Client<R>) -> Result<(), Error> {
            ///     client.request("ping").await.map(drop)
            /// }
            ///
            /// let client = Client::connect(addr).await?;
            /// ping(client.as_ref()).await?;
            #[doc = concat!(
                "let inner: slow_driver::Client<", stringify!($rt), "> = client.into_inner();"
            )]
            /// let client = Client::from(inner); // and back
            /// ping(client.as_ref()).await?;
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn into_inner(self) -> $crate::Client<$rt> {
                self.0
            }

            /// Connects to `addr` over TLS (the `tls` feature) with the
            /// default [`Config`]. The server's certificate must be valid
            /// for the name `tls` sets, else for the host of `addr`; a
            /// failed handshake is [`Error::Tls`] saying why.
            ///
            /// ```
            #[doc = concat!("use ", $krate, "::tls::ClientTls;")]
            #[doc = concat!("use ", $krate, "::{Client, Error};")]
            ///
            /// async fn call(ca: &str) -> Result<(), Error> {
            ///     let tls = ClientTls::from_ca_pem_file(ca)?.server_name("localhost")?;
            ///     let client = Client::connect_tls("127.0.0.1:7000", &tls).await?;
            ///     client.request("hello").await?;
            ///     client.close().await
            /// }
            /// ```
            #[cfg(feature = "tls")]
            #[inline]
            pub async fn connect_tls(
                addr: impl ::core::fmt::Display,
                tls: &$crate::tls::ClientTls,
            ) -> ::core::result::Result<Self, $crate::Error> {
                $crate::Client::<$rt>::connect_tls(addr, tls).await.map(Client)
            }

            /// Connects over TLS with `config`, on `runtime`.
            ///
            /// ```
            #[doc = concat!("use ", $krate, "::tls::ClientTls;")]
            #[doc = concat!("use ", $krate, "::{Client, Config, Error, ", stringify!($rt), "};")]
            ///
            /// async fn call(tls: &ClientTls) -> Result<Client, Error> {
            #[doc = concat!("    let runtime = ", $here, ";")]
            ///     Client::connect_tls_on(runtime, "127.0.0.1:7000", tls, Config::default()).await
            /// }
            /// ```
            #[cfg(feature = "tls")]
            #[inline]
            pub async fn connect_tls_on(
                runtime: $rt,
                addr: impl ::core::fmt::Display,
                tls: &$crate::tls::ClientTls,
                config: $crate::Config,
            ) -> ::core::result::Result<Self, $crate::Error> {
                $crate::Client::<$rt>::connect_tls_on(runtime, addr, tls, config)
                    .await
                    .map(Client)
            }

            /// The server's verified certificate chain (the `tls` feature;
            /// `None` without TLS).
            #[cfg(feature = "tls")]
            #[inline]
            pub fn tls_identity(&self) -> ::core::option::Option<$crate::tls::TlsIdentity> {
                self.0.tls_identity()
            }
        }

        impl ::core::convert::From<$crate::Client<$rt>> for Client {
            #[inline]
            fn from(client: $crate::Client<$rt>) -> Self {
                Client(client)
            }
        }

        impl ::core::convert::From<Client> for $crate::Client<$rt> {
            #[inline]
            fn from(client: Client) -> Self {
                client.0
            }
        }

        impl ::core::convert::AsRef<$crate::Client<$rt>> for Client {
            #[inline]
            fn as_ref(&self) -> &$crate::Client<$rt> {
                &self.0
            }
        }

        // Evaluated in the adapter's crate: its own `tower` feature, which
        // turns on slow-driver's.
        #[cfg(feature = "tower")]
        /// With the `tower` feature, the client is a tower service: a
        /// request's body in, the response's body out, under any of tower's
        /// layers. [`poll_ready`](slow_driver::tower::Service::poll_ready)
        /// is ready while the server's MAX_CONCURRENT_REQUESTS leave a slot
        /// free and pending until a request ends (back-pressure, not an
        /// error); it fails once the connection takes no new requests. The
        /// driver's client documents the details.
        ///
        /// ```
        #[doc = $crate::__example_head!($main, echo: $krate, $spawn, $spawn_end)]
        /// use std::future::poll_fn;
        /// use slow_driver::tower::Service;
        #[doc = concat!("use ", $krate, "::{Bytes, Client};")]
        ///
        /// let mut client = Client::connect(addr).await?;
        /// poll_fn(|cx| client.poll_ready(cx)).await?; // a request slot is free
        /// let answer = client.call(Bytes::from("hello")).await?;
        /// assert_eq!(answer, "hello");
        #[doc = concat!("# ", $main_end)]
        /// ```
        impl $crate::tower::Service<$crate::Bytes> for Client {
            type Response = $crate::Bytes;
            type Error = $crate::Error;
            type Future = $crate::tower::ResponseFuture;

            #[inline]
            fn poll_ready(
                &mut self,
                cx: &mut ::core::task::Context<'_>,
            ) -> ::core::task::Poll<::core::result::Result<(), $crate::Error>> {
                <$crate::Client<$rt> as $crate::tower::Service<$crate::Bytes>>::poll_ready(
                    &mut self.0,
                    cx,
                )
            }

            #[inline]
            fn call(&mut self, body: $crate::Bytes) -> $crate::tower::ResponseFuture {
                <$crate::Client<$rt> as $crate::tower::Service<$crate::Bytes>>::call(
                    &mut self.0,
                    body,
                )
            }
        }

    };
}
