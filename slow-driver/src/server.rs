//! The server: binds, accepts, hands each connection to its driver task,
//! and shuts down gracefully.

use std::fmt::Display;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use slow_proto::{Config, ConnectionLimit};

use crate::Addr;
use crate::driver::Driver;
use crate::error::Error;
use crate::handler::Peer;
use crate::mode::Mode;
use crate::net::{self, NetListener};
use crate::registry::Registry;
use crate::runtime::{Listener, Reactor, Timer};
use crate::serving::ServerDispatch;
use crate::spawn::RunsServer;
use crate::stats::ServerStats;

/// The default limit on concurrent connections (INTEROP.md), the core's
/// [`ConnectionLimit::DEFAULT_MAX`].
pub const DEFAULT_MAX_CONNECTIONS: usize = ConnectionLimit::DEFAULT_MAX;

/// A SLOW server: bound to a TCP address ([`bind`](Server::bind)), or
/// serving the streams any [`Listener`] accepts
/// ([`from_listener`](Server::from_listener)).
///
/// Applications use their adapter's `Server` (`slow_tokio::Server`, ...),
/// which wraps this type on one runtime and documents it with examples that
/// run there. Name this one in code generic over the runtime; an adapter's
/// server converts into it (`into()`, `into_inner()`, `as_ref()`) and back
/// (`from()`):
///
/// ```
/// use slow_driver::runtime::Runtime;
/// use slow_driver::{Error, Request, Server};
///
/// /// An echo server on any runtime, until accepting fails.
/// async fn echo<R: Runtime>(server: Server<R>) -> Result<(), Error> {
///     server.serve(|req: Request| async move { Ok(req.body) }).await
/// }
/// ```
pub struct Server<R: Reactor, L = NetListener<R>> {
    runtime: R,
    listener: L,
    config: Config,
    /// Its connections, from the start: where its stats are kept.
    registry: Registry<R::Mode>,
}

impl<R: Reactor> Server<R> {
    /// Binds to `addr` (`host:port`, port 0 picks a free one; or
    /// `unix:PATH` for a Unix domain socket) with the default [`Config`],
    /// on the runtime the caller is on ([`Reactor::current`]). A Unix
    /// socket's file is removed when serving ends; a stale one left by a
    /// server that is gone is replaced, a live server's is an
    /// [`Error::Unix`] of kind `AddrInUse`.
    ///
    /// ```
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Error, Server};
    ///
    /// async fn listen<R: Runtime>() -> Result<Server<R>, Error> {
    ///     let server = Server::bind("127.0.0.1:0").await?;
    ///     println!("listening on {}", server.local_addr()?);
    ///     Ok(server)
    /// }
    /// ```
    pub async fn bind(addr: impl Display) -> Result<Self, Error> {
        Self::bind_with(addr, Config::default()).await
    }

    /// Binds with `config`, which every connection uses.
    ///
    /// ```
    /// use std::time::Duration;
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Config, Error, Server};
    ///
    /// async fn listen<R: Runtime>(addr: &str) -> Result<Server<R>, Error> {
    ///     let config = Config { drain_timeout: Duration::from_secs(5), ..Config::default() };
    ///     Server::bind_with(addr, config).await
    /// }
    /// ```
    pub async fn bind_with(addr: impl Display, config: Config) -> Result<Self, Error> {
        Self::bind_on(R::current()?, addr, config).await
    }

    /// Binds on the given runtime: every task the server spawns runs there.
    ///
    /// ```
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Config, Error, Server};
    ///
    /// async fn listen<R: Runtime>(runtime: R, addr: &str) -> Result<Server<R>, Error> {
    ///     Server::bind_on(runtime, addr, Config::default()).await
    /// }
    /// ```
    pub async fn bind_on(runtime: R, addr: impl Display, config: Config) -> Result<Self, Error> {
        config.validate()?;
        let addr = addr.to_string();
        let listener = match net::unix_path(&addr) {
            Some(path) => NetListener::bind_unix(&runtime, path)?,
            None => NetListener::tcp(bind_tcp(&runtime, &addr).await?),
        };
        Ok(Server {
            runtime,
            listener,
            config,
            registry: Registry::new(ConnectionLimit::DEFAULT_MAX),
        })
    }
}

impl<R: Reactor, L: Listener> Server<R, L> {
    /// Serves the streams `listener` accepts (a Unix listener, a channel
    /// of streams an acceptor hands out, a TLS acceptor), with `config`,
    /// on the runtime the caller is on. Each accepted stream is one
    /// connection, with the same limits, handlers and graceful shutdown
    /// as a bound server's.
    ///
    /// ```
    /// use slow_driver::runtime::{Listener, Runtime};
    /// use slow_driver::{Config, Error, Request, Server};
    ///
    /// /// Echoes on whatever `listener` accepts.
    /// async fn echo<R: Runtime>(listener: impl Listener<Stream: Send>) -> Result<(), Error> {
    ///     let server = Server::<R, _>::from_listener(listener, Config::default())?;
    ///     server.serve(|req: Request| async move { Ok(req.body) }).await
    /// }
    /// ```
    pub fn from_listener(listener: L, config: Config) -> Result<Self, Error> {
        Self::from_listener_on(R::current()?, listener, config)
    }

    /// Serves what `listener` accepts on the given runtime: every task the
    /// server spawns runs there.
    ///
    /// ```
    /// use slow_driver::runtime::{Listener, Runtime};
    /// use slow_driver::{Config, Error, Server};
    ///
    /// fn on<R: Runtime, L: Listener>(runtime: R, listener: L) -> Result<Server<R, L>, Error> {
    ///     Server::from_listener_on(runtime, listener, Config::default())
    /// }
    /// ```
    pub fn from_listener_on(runtime: R, listener: L, config: Config) -> Result<Self, Error> {
        config.validate()?;
        Ok(Server {
            runtime,
            listener,
            config,
            registry: Registry::new(ConnectionLimit::DEFAULT_MAX),
        })
    }

    /// Serves over TLS (`tls` feature): each accepted stream gets TLS with
    /// `tls`, its handshake run by the connection (so the accept loop never
    /// waits for one, and the handshake timeout covers it). With a client
    /// CA, clients must present a certificate it signed, and handlers see
    /// it in [`Peer::tls_identity`](crate::Peer::tls_identity).
    ///
    /// ```
    /// use slow_driver::runtime::{Listener, Runtime};
    /// use slow_driver::tls::{ServerTls, TlsListener};
    /// use slow_driver::{Error, Server};
    ///
    /// async fn secure<R: Runtime>(tls: ServerTls) -> Result<Server<R, TlsListener<slow_driver::net::NetListener<R>>>, Error>
    /// where
    ///     R::Stream: slow_driver::runtime::Stream,
    ///     R::UnixStream: slow_driver::runtime::Stream,
    /// {
    ///     Ok(Server::bind("127.0.0.1:0").await?.tls(tls))
    /// }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(self, tls: crate::tls::ServerTls) -> Server<R, crate::tls::TlsListener<L>> {
        Server {
            runtime: self.runtime,
            listener: crate::tls::TlsListener::new(self.listener, tls),
            config: self.config,
            registry: self.registry,
        }
    }

    /// The address the server listens on (where clients connect when it
    /// was bound to port 0): a TCP address, a Unix socket path, or
    /// [`Addr::Unknown`] for a listener that has none. It displays as
    /// `connect` takes it.
    ///
    /// ```
    /// use slow_driver::Server;
    /// use slow_driver::runtime::Runtime;
    ///
    /// fn port<R: Runtime>(server: &Server<R>) -> Option<u16> {
    ///     server.local_addr().ok()?.tcp().map(|addr| addr.port())
    /// }
    /// ```
    pub fn local_addr(&self) -> Result<Addr, Error> {
        Ok(self.listener.local_addr()?)
    }

    /// Limits concurrent connections (default
    /// [`ConnectionLimit::DEFAULT_MAX`], 10,000). A connection beyond the
    /// limit is answered GOAWAY CONNECTION_LIMIT and closed; draining
    /// connections count, refused ones do not (the core's
    /// [`ConnectionLimit`] rule).
    ///
    /// ```
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Error, Server};
    ///
    /// async fn small<R: Runtime>() -> Result<Server<R>, Error> {
    ///     Ok(Server::bind("127.0.0.1:0").await?.max_connections(100))
    /// }
    /// ```
    pub fn max_connections(self, n: usize) -> Self {
        self.registry.set_max(n);
        self
    }

    /// A handle on what this server serves: the [`Stats`] of every
    /// connection it admits, added up ([`ServerStats::totals`]), and how
    /// many connections ([`ServerStats::connections`]). Take it before
    /// serving (which takes the server); it works while the server serves
    /// and after.
    ///
    /// ```
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Error, Request, Server};
    ///
    /// async fn run<R: Runtime>(server: Server<R>) -> Result<(), Error> {
    ///     let stats = server.stats_handle();
    ///     let served = server.serve(|req: Request| async move { Ok(req.body) }).await;
    ///     eprintln!("{} requests on {} connections", stats.totals().requests, stats.connections());
    ///     served
    /// }
    /// ```
    ///
    /// [`Stats`]: crate::Stats
    pub fn stats_handle(&self) -> ServerStats<R::Mode> {
        ServerStats::new(self.registry.clone())
    }

    /// Serves forever (until accepting fails).
    ///
    /// ```
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Error, Reply, Request, Server};
    ///
    /// async fn shout(req: Request) -> Reply {
    ///     Ok(req.body.to_ascii_uppercase().into())
    /// }
    ///
    /// async fn run<R: Runtime>(server: Server<R>) -> Result<(), Error> {
    ///     server.serve(shout).await
    /// }
    /// ```
    pub async fn serve<H: 'static>(self, handler: H) -> Result<(), Error>
    where
        R: RunsServer<L::Stream, H, <R as Reactor>::Mode>,
    {
        self.serve_with_shutdown(handler, std::future::pending())
            .await
    }

    /// Serves until `signal` completes, then shuts down gracefully: GOAWAY
    /// SHUTTING_DOWN to every connection, outstanding requests finish (within
    /// the drain timeout), then this returns.
    ///
    /// ```
    /// use std::future::Future;
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Error, Request, Server};
    ///
    /// /// Serves until `stop` completes (a Ctrl-C handler, a channel's receive).
    /// async fn run<R: Runtime>(
    ///     server: Server<R>,
    ///     stop: impl Future<Output = ()>,
    /// ) -> Result<(), Error> {
    ///     server
    ///         .serve_with_shutdown(|req: Request| async move { Ok(req.body) }, stop)
    ///         .await
    /// }
    /// ```
    pub async fn serve_with_shutdown<H: 'static>(
        mut self,
        handler: H,
        signal: impl Future<Output = ()>,
    ) -> Result<(), Error>
    where
        R: RunsServer<L::Stream, H, <R as Reactor>::Mode>,
    {
        let handler = R::Mode::ptr(handler);
        let registry = self.registry.clone();
        let mut signal = pin!(signal);
        // While out of file descriptors, accepting waits on this timer
        // instead of spinning on the same error.
        let mut backoff: Option<R::Timer> = None;
        let accepted = poll_fn(|cx| {
            if signal.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            loop {
                if let Some(timer) = &mut backoff {
                    if timer.poll_expired(cx).is_pending() {
                        return Poll::Pending;
                    }
                    backoff = None;
                }
                match self.listener.poll_accept(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok((stream, addr))) => {
                        self.start(stream, addr, &handler, &registry)
                    }
                    // The connection died before we took it: take the next.
                    Poll::Ready(Err(e)) if is_per_connection(&e) => {}
                    // Out of file descriptors and the like: keep serving the
                    // connections we have, and try again a little later.
                    Poll::Ready(Err(e)) if is_resource_exhaustion(&e) => {
                        let later = R::now() + ACCEPT_BACKOFF;
                        backoff = Some(self.runtime.timer(later));
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Io(e))),
                }
            }
        })
        .await;
        registry.shutdown().await;
        accepted
    }

    fn start<H: 'static>(
        &self,
        stream: L::Stream,
        addr: Addr,
        handler: &<<R as Reactor>::Mode as Mode>::Ptr<H>,
        registry: &Registry<<R as Reactor>::Mode>,
    ) where
        R: RunsServer<L::Stream, H, <R as Reactor>::Mode>,
    {
        let span =
            crate::trace::Span::connection("server", &addr, crate::trace::runtime_name::<R>());
        let Some((shared, entry)) = registry.accept(&self.config, R::now, span) else {
            return; // the config was validated in bind_on
        };
        let dispatch = ServerDispatch {
            runtime: self.runtime.clone(),
            handler: handler.clone(),
            peer: Peer::new(addr, shared.clone()),
            entry,
            fresh: Vec::new(),
        };
        let driver = Driver::new(shared, stream, self.runtime.clone(), dispatch);
        self.runtime.spawn_connection(driver);
    }
}

/// Binds the first of `addr`'s addresses that can be bound.
async fn bind_tcp<R: Reactor>(runtime: &R, addr: &str) -> Result<R::Listener, Error> {
    let mut last = None;
    for a in runtime.resolve(addr.to_owned()).await? {
        match runtime.bind(a).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Io(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no address found for {addr}"),
        )
    })))
}

/// How long accepting pauses when the process is out of descriptors.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted)
}

fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    // ENFILE, EMFILE, ENOBUFS, ENOMEM on Linux; WouldBlock should not reach
    // here, but if it does, waiting is the right answer too.
    e.kind() == std::io::ErrorKind::WouldBlock
        || e.raw_os_error()
            .is_some_and(|c| matches!(c, 23 | 24 | 105 | 12))
}
