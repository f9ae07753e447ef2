//! A server on N threads, each with its own executor, listener and
//! connections.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;

use slow_driver::{Config, Error, LocalHandler, Server};
use slow_smol::SmolListener;
use smol::Async;
use socket2::{Domain, Socket, Type};

use crate::PerCore;

/// A SLOW server on N threads that share nothing: each runs its own
/// [`PerCore`] executor, accepts on a listener of its own (all bound to
/// one port with `SO_REUSEPORT`, so the kernel spreads connections over
/// them), and serves its connections with a handler of its own, made on
/// that thread. No other thread is started. Dropping it shuts it down
/// (as [`shutdown`](PerCoreServer::shutdown), without the error).
///
/// ```
/// use slow_driver::{Client, LocalRequest};
/// use slow_local_example::{PerCore, PerCoreServer};
///
/// let server = PerCoreServer::builder("127.0.0.1:0".parse()?)
///     .threads(3)
///     .thread_name("core")
///     .serve(|_| |req: LocalRequest| async move { Ok(req.body) })?;
/// assert_eq!(server.threads(), 3);
///
/// PerCore::new().block_on(async {
///     let client = Client::<PerCore>::connect(server.local_addr()).await?;
///     assert_eq!(client.request("hi").await?, "hi");
///     client.close().await
/// })?;
/// server.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PerCoreServer {
    addr: SocketAddr,
    /// Dropping them ends every thread's serving (graceful shutdown).
    stops: Vec<smol::channel::Sender<()>>,
    threads: Vec<JoinHandle<Result<(), Error>>>,
}

/// How a [`PerCoreServer`] is set up: from
/// [`PerCoreServer::builder`].
#[derive(Debug, Clone)]
pub struct Builder {
    addr: SocketAddr,
    threads: usize,
    thread_name: String,
    config: Config,
    tls: Option<Tls>,
}

/// What a server's listeners put on what they accept.
#[cfg(feature = "tls")]
type Tls = slow_driver::tls::ServerTls;

/// Without the `tls` feature there is never any TLS to put on.
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone)]
enum Tls {}

impl PerCoreServer {
    /// A server that will listen on `addr` (port 0 picks a free one), on
    /// as many threads as there are CPUs, named `slow-core-N`, with the
    /// default [`Config`].
    ///
    /// ```
    /// let builder = slow_local_example::PerCoreServer::builder("127.0.0.1:7000".parse()?);
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn builder(addr: SocketAddr) -> Builder {
        Builder {
            addr,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            thread_name: "slow-core".to_owned(),
            config: Config::default(),
            tls: None,
        }
    }

    /// The address it listens on, on every thread.
    ///
    /// ```
    /// # use slow_driver::LocalRequest;
    /// # use slow_local_example::PerCoreServer;
    /// let server = PerCoreServer::builder("127.0.0.1:0".parse()?)
    ///     .threads(1)
    ///     .serve(|_| |req: LocalRequest| async move { Ok(req.body) })?;
    /// assert_ne!(server.local_addr().port(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many threads serve.
    ///
    /// ```
    /// # use slow_driver::LocalRequest;
    /// # use slow_local_example::PerCoreServer;
    /// let server = PerCoreServer::builder("127.0.0.1:0".parse()?)
    ///     .threads(2)
    ///     .serve(|_| |req: LocalRequest| async move { Ok(req.body) })?;
    /// assert_eq!(server.threads(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Shuts down gracefully: every thread sends GOAWAY to its
    /// connections, lets their requests finish (within the drain timeout)
    /// and ends. Returns the first thread's error, if any (a thread that
    /// panicked is an [`Error::Io`]).
    ///
    /// ```
    /// # use slow_driver::LocalRequest;
    /// # use slow_local_example::PerCoreServer;
    /// let server = PerCoreServer::builder("127.0.0.1:0".parse()?)
    ///     .threads(2)
    ///     .serve(|_| |req: LocalRequest| async move { Ok(req.body) })?;
    /// server.shutdown()?; // both threads have ended
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), Error> {
        self.stops.clear();
        let mut first = Ok(());
        for thread in self.threads.drain(..) {
            let result = thread
                .join()
                .unwrap_or_else(|_| Err(Error::Io(io::Error::other("a server thread panicked"))));
            if first.is_ok() {
                first = result;
            }
        }
        first
    }
}

impl Drop for PerCoreServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

impl Builder {
    /// How many threads serve (at least 1).
    ///
    /// ```
    /// # let builder = slow_local_example::PerCoreServer::builder("127.0.0.1:0".parse()?);
    /// let builder = builder.threads(4);
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn threads(mut self, threads: usize) -> Builder {
        self.threads = threads.max(1);
        self
    }

    /// The threads' names: `{name}-0`, `{name}-1`, ...
    ///
    /// ```
    /// # let builder = slow_local_example::PerCoreServer::builder("127.0.0.1:0".parse()?);
    /// let builder = builder.thread_name("srv-core");
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn thread_name(mut self, name: &str) -> Builder {
        self.thread_name = name.to_owned();
        self
    }

    /// The config every connection uses.
    ///
    /// ```
    /// # let builder = slow_local_example::PerCoreServer::builder("127.0.0.1:0".parse()?);
    /// let config = slow_driver::Config { keepalive_interval: None, ..Default::default() };
    /// let builder = builder.config(config);
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn config(mut self, config: Config) -> Builder {
        self.config = config;
        self
    }

    /// Serves over TLS (the `tls` feature): every thread's listener puts
    /// `tls` on what it accepts; with a client CA, clients must present a
    /// certificate it signed, and handlers see it in
    /// [`Peer::tls_identity`](slow_driver::Peer::tls_identity).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    /// # let (cert_pem, key_pem) = (key.cert.pem(), key.signing_key.serialize_pem());
    /// use slow_driver::tls::{ClientTls, ServerTls};
    /// use slow_driver::{Client, LocalRequest};
    /// use slow_local_example::{PerCore, PerCoreServer};
    ///
    /// let tls = ServerTls::from_pem(cert_pem.as_bytes(), key_pem.as_bytes(), None)?;
    /// let server = PerCoreServer::builder("127.0.0.1:0".parse()?)
    ///     .threads(2)
    ///     .tls(tls)
    ///     .serve(|_| |req: LocalRequest| async move { Ok(req.body) })?;
    ///
    /// let trust = ClientTls::from_ca_pem(cert_pem.as_bytes())?.server_name("localhost")?;
    /// PerCore::new().block_on(async {
    ///     let client = Client::<PerCore>::connect_tls(server.local_addr(), &trust).await?;
    ///     assert_eq!(client.request("sealed").await?, "sealed");
    ///     client.close().await
    /// })?;
    /// server.shutdown()?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: slow_driver::tls::ServerTls) -> Builder {
        self.tls = Some(tls);
        self
    }

    /// Binds every thread's listener, then starts the threads: each calls
    /// `make_handler` with its runtime and serves what its listener
    /// accepts with the handler it returns. Fails (with no thread
    /// started) if the config is invalid or the address cannot be bound.
    ///
    /// ```
    /// # use slow_local_example::PerCoreServer;
    /// use slow_interop::driver::InteropService;
    ///
    /// // The INTEROP service, sleeping on each thread's own timer.
    /// let server = PerCoreServer::builder("127.0.0.1:0".parse()?)
    ///     .threads(2)
    ///     .serve(InteropService::new)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn serve<F, H>(self, make_handler: F) -> Result<PerCoreServer, Error>
    where
        F: Fn(PerCore) -> H + Clone + Send + 'static,
        H: LocalHandler,
    {
        self.config.validate()?;
        let first = reuse_port_listener(self.addr)?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..self.threads {
            listeners.push(reuse_port_listener(addr)?);
        }
        let mut server = PerCoreServer {
            addr,
            stops: Vec::new(),
            threads: Vec::new(),
        };
        for (i, listener) in listeners.into_iter().enumerate() {
            let (stop, stopped) = smol::channel::bounded::<()>(1);
            let (config, make_handler) = (self.config.clone(), make_handler.clone());
            let tls = self.tls.clone();
            let thread = std::thread::Builder::new()
                .name(format!("{}-{i}", self.thread_name))
                .spawn(move || {
                    serve_on_this_thread(listener, tls, config, make_handler, stopped)
                })?;
            server.stops.push(stop);
            server.threads.push(thread);
        }
        Ok(server)
    }
}

/// One thread's life: its executor, its listener, its handler.
fn serve_on_this_thread<F, H>(
    listener: TcpListener,
    tls: Option<Tls>,
    config: Config,
    make_handler: F,
    stopped: smol::channel::Receiver<()>,
) -> Result<(), Error>
where
    F: Fn(PerCore) -> H,
    H: LocalHandler,
{
    let runtime = PerCore::new();
    runtime.block_on(async {
        let listener = SmolListener(Async::new(listener)?);
        let server = Server::from_listener_on(runtime.clone(), listener, config)?;
        let handler = make_handler(runtime.clone());
        // Every sender dropped: shut down.
        let stop = async move {
            let _ = stopped.recv().await;
        };
        match tls {
            #[cfg(feature = "tls")]
            Some(tls) => server.tls(tls).serve_with_shutdown(handler, stop).await,
            #[cfg(not(feature = "tls"))]
            Some(never) => match never {},
            None => server.serve_with_shutdown(handler, stop).await,
        }
    })
}

/// A listening socket on `addr` that other sockets may share
/// (`SO_REUSEPORT`).
fn reuse_port_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
