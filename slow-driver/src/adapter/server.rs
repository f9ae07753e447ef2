//! The adapter's `Server`: part of [`adapter_types!`](crate::adapter_types),
//! one file per type so that each stays readable.

/// `adapter_types!`'s `Server` (same parameters); not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __adapter_server {
    (
        runtime = $rt:ident,
        krate = $krate:literal,
        name = $name:literal,
        here = $here:literal,
        main = $main:literal,
        main_end = $main_end:literal,
        spawn = $spawn:literal,
        spawn_end = $spawn_end:literal,
        listener = $listener:literal $(,)?
    ) => {
        #[doc = concat!("A SLOW server on ", $name, ": bound to an address, or serving what a listener of yours accepts.")]
        ///
        /// [`bind`](Server::bind) it, then [`serve`](Server::serve) a
        /// [`Handler`]: an `async` function or closure from [`Request`] to
        /// [`Reply`], or a type of your own that also hears notifications.
        /// Each request runs as its own task; each connection has one
        /// driver task and one timer.
        ///
        /// ```
        #[doc = $crate::__example_head!($main)]
        #[doc = concat!("use ", $krate, "::{Client, ErrorReply, Request, Server};")]
        ///
        /// let server = Server::bind("127.0.0.1:0").await?;
        /// let addr = server.local_addr()?;
        #[doc = concat!($spawn, "server.serve(|req: Request| async move {")]
        ///     if req.body.is_empty() {
        ///         return Err(ErrorReply::new(0x0100, "empty request"));
        ///     }
        ///     Ok(req.body.to_ascii_uppercase().into())
        #[doc = concat!("})", $spawn_end)]
        ///
        /// let client = Client::connect(addr).await?;
        /// assert_eq!(client.request("hi").await?, "HI");
        #[doc = concat!("# ", $main_end)]
        /// ```
        ///
        /// Every SLOW adapter's `Server` has this API; each wraps
        #[doc = concat!("`slow_driver::Server<R>`, here on [`", stringify!($rt), "`]: see")]
        /// [`into_inner`](Server::into_inner).
        pub struct Server<L = $crate::net::NetListener<$rt>>($crate::Server<$rt, L>);

        impl Server {
            /// Binds to `addr` (`host:port`, port 0 picks a free one; or
            /// `unix:PATH` for a Unix domain socket) with the default
            /// [`Config`]. A Unix socket's file is removed when serving
            /// ends; a stale one left by a server that is gone is
            /// replaced, a live server's is [`Error::Unix`] (`AddrInUse`).
            ///
            /// ```
            #[doc = $crate::__example_head!($main)]
            #[doc = concat!("use ", $krate, "::Server;")]
            ///
            /// let server = Server::bind("127.0.0.1:0").await?;
            /// println!("listening on {}", server.local_addr()?);
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub async fn bind(
                addr: impl ::core::fmt::Display,
            ) -> ::core::result::Result<Self, $crate::Error> {
                $crate::Server::<$rt>::bind(addr).await.map(Server)
            }

            /// Binds with `config`, which every connection uses: the
            /// settings this server advertises and its timeouts.
            ///
            /// ```
            #[doc = $crate::__example_head!($main)]
            /// use std::time::Duration;
            #[doc = concat!("use ", $krate, "::{Config, Server, Settings};")]
            ///
            /// let config = Config {
            ///     settings: Settings { max_concurrent_requests: 16, ..Settings::default() },
            ///     drain_timeout: Duration::from_secs(5),
            ///     ..Config::default()
            /// };
            /// let server = Server::bind_with("127.0.0.1:0", config).await?;
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub async fn bind_with(
                addr: impl ::core::fmt::Display,
                config: $crate::Config,
            ) -> ::core::result::Result<Self, $crate::Error> {
                $crate::Server::<$rt>::bind_with(addr, config).await.map(Server)
            }

            /// Binds on the given runtime: every task the server spawns
            #[doc = concat!("runs there (see [`", stringify!($rt), "`]).")]
            /// [`bind`](Server::bind) and [`bind_with`](Server::bind_with)
            /// use the one the caller is on.
            ///
            /// ```
            #[doc = $crate::__example_head!($main)]
            #[doc = concat!("use ", $krate, "::{Config, Server, ", stringify!($rt), "};")]
            ///
            #[doc = concat!("let runtime = ", $here, ";")]
            /// let server = Server::bind_on(runtime, "127.0.0.1:0", Config::default()).await?;
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub async fn bind_on(
                runtime: $rt,
                addr: impl ::core::fmt::Display,
                config: $crate::Config,
            ) -> ::core::result::Result<Self, $crate::Error> {
                $crate::Server::bind_on(runtime, addr, config).await.map(Server)
            }
        }

        impl<L: $crate::runtime::Listener> Server<L> {
            /// Serves the streams `listener` accepts, with `config`: a
            /// listener of your own (a Unix socket's, a TLS acceptor, a
            /// channel of streams another thread accepted) instead of a
            /// bound address. Each stream is one connection, with the same
            /// limits, handlers and graceful shutdown.
            ///
            /// ```
            #[doc = $crate::__example_head!($main)]
            #[doc = concat!("use ", $krate, "::{Client, Config, Request, Server};")]
            ///
            #[doc = concat!("let listener = ", $listener, ";")]
            /// let server = Server::from_listener(listener, Config::default())?;
            /// let addr = server.local_addr()?;
            #[doc = concat!(
                $spawn, "server.serve(|req: Request| async move { Ok(req.body) })", $spawn_end
            )]
            ///
            /// let client = Client::connect(addr).await?;
            /// assert_eq!(client.request("hi").await?, "hi");
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn from_listener(
                listener: L,
                config: $crate::Config,
            ) -> ::core::result::Result<Self, $crate::Error> {
                $crate::Server::from_listener(listener, config).map(Server)
            }

            /// Serves what `listener` accepts on the given runtime: every
            /// task the server spawns runs there.
            ///
            /// ```
            #[doc = $crate::__example_head!($main)]
            #[doc = concat!("use ", $krate, "::{Config, Server, ", stringify!($rt), "};")]
            ///
            #[doc = concat!("let listener = ", $listener, ";")]
            #[doc = concat!("let runtime = ", $here, ";")]
            /// let server = Server::from_listener_on(runtime, listener, Config::default())?;
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn from_listener_on(
                runtime: $rt,
                listener: L,
                config: $crate::Config,
            ) -> ::core::result::Result<Self, $crate::Error> {
                $crate::Server::from_listener_on(runtime, listener, config).map(Server)
            }

            /// The address the server is bound to: where clients connect
            /// when it was bound to port 0.
            ///
            /// ```
            #[doc = $crate::__example_head!($main)]
            #[doc = concat!("use ", $krate, "::Server;")]
            ///
            /// let server = Server::bind("127.0.0.1:0").await?;
            /// let addr = server.local_addr()?.tcp().expect("a TCP address");
            /// assert!(addr.ip().is_loopback());
            /// assert_ne!(addr.port(), 0);
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn local_addr(
                &self,
            ) -> ::core::result::Result<$crate::Addr, $crate::Error> {
                self.0.local_addr()
            }

            /// Limits concurrent connections (default 10,000). A connection
            /// beyond the limit is answered GOAWAY CONNECTION_LIMIT and
            /// closed; draining connections count, refused ones do not.
            ///
            /// ```
            #[doc = $crate::__example_head!($main)]
            #[doc = concat!("use ", $krate, "::{Client, Error, ErrorCode, Request, Server};")]
            ///
            /// let server = Server::bind("127.0.0.1:0").await?.max_connections(1);
            /// let addr = server.local_addr()?;
            #[doc = concat!(
                $spawn, "server.serve(|req: Request| async move { Ok(req.body) })", $spawn_end
            )]
            ///
            /// let first = Client::connect(&addr).await?;
            /// let second = Client::connect(&addr).await;
            /// assert!(matches!(
            ///     second,
            ///     Err(Error::Closed { code: ErrorCode::CONNECTION_LIMIT, .. })
            /// ));
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn max_connections(self, n: usize) -> Self {
                Server(self.0.max_connections(n))
            }

            /// A handle on what this server serves ([`ServerStats`]): the
            /// [`Stats`] of every connection it admits, added up, and how
            /// many connections. Take it before serving (which takes the
            /// server); it works while the server serves and after.
            ///
            /// ```
            #[doc = $crate::__example_head!($main)]
            #[doc = concat!("use ", $krate, "::{Client, Request, Server};")]
            ///
            /// let server = Server::bind("127.0.0.1:0").await?;
            /// let addr = server.local_addr()?;
            /// let stats = server.stats_handle(); // before `serve` takes the server
            #[doc = concat!(
                $spawn, "server.serve(|req: Request| async move { Ok(req.body) })", $spawn_end
            )]
            ///
            /// let client = Client::connect(addr).await?;
            /// client.request("one").await?;
            /// client.request("two").await?;
            /// assert_eq!(stats.connections(), 1);
            /// let totals = stats.totals();
            /// assert_eq!((totals.requests, totals.responses), (2, 2));
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn stats_handle(&self) -> $crate::ServerStats {
                self.0.stats_handle()
            }

            /// Serves forever (until accepting fails): each connection's
            /// requests go to `handler`.
            ///
            /// ```
            #[doc = $crate::__example_head!($main)]
            #[doc = concat!("use ", $krate, "::{Client, Reply, Request, Server};")]
            ///
            /// async fn shout(req: Request) -> Reply {
            ///     Ok(req.body.to_ascii_uppercase().into())
            /// }
            ///
            /// let server = Server::bind("127.0.0.1:0").await?;
            /// let addr = server.local_addr()?;
            #[doc = concat!($spawn, "server.serve(shout)", $spawn_end)]
            ///
            /// let client = Client::connect(addr).await?;
            /// assert_eq!(client.request("hi").await?, "HI");
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn serve(
                self,
                handler: impl $crate::Handler,
            ) -> impl ::core::future::Future<Output = ::core::result::Result<(), $crate::Error>>
            where
                L::Stream: ::core::marker::Send,
            {
                self.0.serve(handler)
            }

            /// Serves until `signal` completes, then shuts down gracefully:
            /// GOAWAY SHUTTING_DOWN to every connection, outstanding requests
            /// finish (within the [drain timeout](Config::drain_timeout)),
            /// then this returns. `signal` is any future: a Ctrl-C handler's,
            /// a channel's receive, or (here) the end of the work to serve.
            ///
            /// ```
            #[doc = $crate::__example_head!($main)]
            #[doc = concat!("use ", $krate, "::{Client, Request, Server};")]
            ///
            /// let server = Server::bind("127.0.0.1:0").await?;
            /// let addr = server.local_addr()?;
            /// let work = async move {
            ///     let client = Client::connect(addr).await.expect("connect");
            ///     assert_eq!(client.request("hi").await.expect("answer"), "hi");
            /// };
            /// server
            ///     .serve_with_shutdown(|req: Request| async move { Ok(req.body) }, work)
            ///     .await?; // returns once the work is done and its connection closed
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn serve_with_shutdown(
                self,
                handler: impl $crate::Handler,
                signal: impl ::core::future::Future<Output = ()>,
            ) -> impl ::core::future::Future<Output = ::core::result::Result<(), $crate::Error>>
            where
                L::Stream: ::core::marker::Send,
            {
                self.0.serve_with_shutdown(handler, signal)
            }

            /// The driver's server inside,
            #[doc = concat!("`slow_driver::Server<", stringify!($rt), ">`, for code generic")]
            /// over the runtime (code that depends on `slow-driver` itself).
            /// [`AsRef`] lends it instead, and `From` converts both ways.
            ///
            /// ```
            #[doc = $crate::__example_head!($main)]
            /// use slow_driver::runtime::Runtime;
            #[doc = concat!("use ", $krate, "::{Server, ", stringify!($rt), "};")]
            ///
            /// // Runs on any SLOW adapter's runtime.
            /// fn port<R: Runtime>(server: &slow_driver::Server<R>) -> u16 {
            ///     server.local_addr().ok().and_then(|a| a.tcp()).map_or(0, |a| a.port())
            /// }
            ///
            /// let server = Server::bind("127.0.0.1:0").await?;
            /// assert_ne!(port(server.as_ref()), 0);
            #[doc = concat!(
                "let inner: slow_driver::Server<", stringify!($rt), "> = server.into_inner();"
            )]
            /// let server = Server::from(inner); // and back
            #[doc = concat!("# ", $main_end)]
            /// ```
            #[inline]
            pub fn into_inner(self) -> $crate::Server<$rt, L> {
                self.0
            }

            /// Serves over TLS (the `tls` feature): each accepted stream
            /// gets TLS, its handshake run by the connection (the accept
            /// loop never waits for one; the handshake timeout covers it).
            /// With a client CA, clients must present a certificate it
            /// signed, and handlers see it in `req.peer.tls_identity()`.
            ///
            /// ```
            #[doc = concat!("use ", $krate, "::tls::ServerTls;")]
            #[doc = concat!("use ", $krate, "::{Error, Request, Server};")]
            ///
            /// async fn serve_tls(cert: &str, key: &str, clients_ca: &str) -> Result<(), Error> {
            ///     let tls = ServerTls::from_pem_files_with_client_ca(cert, key, Some(clients_ca))?;
            ///     let server = Server::bind("127.0.0.1:7000").await?.tls(tls);
            ///     server
            ///         .serve(|req: Request| async move {
            ///             let who = req.peer.tls_identity().map(|id| id.certificate().len());
            ///             Ok(format!("{who:?}").into())
            ///         })
            ///         .await
            /// }
            /// ```
            #[cfg(feature = "tls")]
            #[inline]
            pub fn tls(self, tls: $crate::tls::ServerTls) -> Server<$crate::tls::TlsListener<L>> {
                Server(self.0.tls(tls))
            }
        }

        impl<L> ::core::convert::From<$crate::Server<$rt, L>> for Server<L> {
            #[inline]
            fn from(server: $crate::Server<$rt, L>) -> Self {
                Server(server)
            }
        }

        impl<L> ::core::convert::From<Server<L>> for $crate::Server<$rt, L> {
            #[inline]
            fn from(server: Server<L>) -> Self {
                server.0
            }
        }

        impl<L> ::core::convert::AsRef<$crate::Server<$rt, L>> for Server<L> {
            #[inline]
            fn as_ref(&self) -> &$crate::Server<$rt, L> {
                &self.0
            }
        }
    };
}
