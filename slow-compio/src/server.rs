//! A server on N threads, each with its own compio runtime (its own
//! io_uring), listener and connections.

use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use compio::net::TcpListener;
use slow_driver::{Config, Error, LocalHandler, Server, Stats};
use socket2::{Domain, Socket, Type};

use crate::{Compio, CompioListener};

/// A SLOW server on N threads that share nothing: each runs its own compio
/// runtime with its own io_uring, accepts on a listener of its own (all
/// bound to one port with `SO_REUSEPORT`, so the kernel spreads
/// connections over them), and serves its connections with a handler of
/// its own, made on that thread (so it may hold `Rc` state). No other
/// thread is started. Dropping it shuts it down (as
/// [`shutdown`](ThreadPerCore::shutdown), without the error).
///
/// ```
/// use slow_compio::{Client, LocalRequest, ThreadPerCore};
///
/// let server = ThreadPerCore::builder("127.0.0.1:0".parse()?)
///     .threads(2)
///     .serve(|| |req: LocalRequest| async move { Ok(req.body) })?;
/// assert_eq!(server.threads(), 2);
///
/// slow_compio::runtime()?.block_on(async {
///     let client = Client::connect(server.local_addr()).await?;
///     assert_eq!(client.request("hi").await?, "hi");
///     client.close().await
/// })?;
/// server.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ThreadPerCore {
    addr: SocketAddr,
    /// Dropping them ends every thread's serving (graceful shutdown).
    stops: Vec<async_channel::Sender<()>>,
    threads: Vec<JoinHandle<Result<Stats, Error>>>,
}

/// How a [`ThreadPerCore`] server is set up: from
/// [`ThreadPerCore::builder`].
#[derive(Debug, Clone)]
pub struct Builder {
    addr: SocketAddr,
    threads: usize,
    thread_name: String,
    config: Config,
}

impl ThreadPerCore {
    /// A server that will listen on `addr` (port 0 picks a free one), on
    /// as many threads as there are CPUs, named `slow-compio-N`, with the
    /// default [`Config`].
    ///
    /// ```
    /// let builder = slow_compio::ThreadPerCore::builder("127.0.0.1:7000".parse()?);
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn builder(addr: SocketAddr) -> Builder {
        Builder {
            addr,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            thread_name: "slow-compio".to_owned(),
            config: Config::default(),
        }
    }

    /// The address it listens on, on every thread.
    ///
    /// ```
    /// # use slow_compio::{LocalRequest, ThreadPerCore};
    /// let server = ThreadPerCore::builder("127.0.0.1:0".parse()?)
    ///     .threads(1)
    ///     .serve(|| |req: LocalRequest| async move { Ok(req.body) })?;
    /// assert_ne!(server.local_addr().port(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many threads serve.
    ///
    /// ```
    /// # use slow_compio::{LocalRequest, ThreadPerCore};
    /// let server = ThreadPerCore::builder("127.0.0.1:0".parse()?)
    ///     .threads(2)
    ///     .serve(|| |req: LocalRequest| async move { Ok(req.body) })?;
    /// assert_eq!(server.threads(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Shuts down gracefully: every thread sends GOAWAY to its
    /// connections, lets their requests finish (within the drain timeout)
    /// and ends. Returns what all of their connections did, summed (as
    /// `ServerStats::totals` for one server), or the first thread's error
    /// (a thread that panicked is an [`Error::Io`]).
    ///
    /// ```
    /// # use slow_compio::{LocalRequest, ThreadPerCore};
    /// let server = ThreadPerCore::builder("127.0.0.1:0".parse()?)
    ///     .threads(2)
    ///     .serve(|| |req: LocalRequest| async move { Ok(req.body) })?;
    /// let totals = server.shutdown()?; // both threads have ended
    /// assert_eq!(totals.requests, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(mut self) -> Result<Stats, Error> {
        self.stop()
    }

    fn stop(&mut self) -> Result<Stats, Error> {
        self.stops.clear();
        let mut first = Ok(Stats::default());
        for thread in self.threads.drain(..) {
            let result = thread
                .join()
                .unwrap_or_else(|_| Err(Error::Io(io::Error::other("a server thread panicked"))));
            match (&mut first, result) {
                (Ok(sum), Ok(stats)) => *sum += stats,
                (Ok(_), Err(e)) => first = Err(e),
                (Err(_), _) => {}
            }
        }
        first
    }
}

impl Drop for ThreadPerCore {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

impl Builder {
    /// How many threads serve (at least 1).
    ///
    /// ```
    /// # let builder = slow_compio::ThreadPerCore::builder("127.0.0.1:0".parse()?);
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
    /// # let builder = slow_compio::ThreadPerCore::builder("127.0.0.1:0".parse()?);
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
    /// # let builder = slow_compio::ThreadPerCore::builder("127.0.0.1:0".parse()?);
    /// let config = slow_compio::Config { keepalive_interval: None, ..Default::default() };
    /// let builder = builder.config(config);
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn config(mut self, config: Config) -> Builder {
        self.config = config;
        self
    }

    /// Checks that io_uring is available, binds every thread's listener,
    /// then starts the threads: each creates its runtime, calls
    /// `make_handler` and serves what its listener accepts with the handler
    /// it returns. Fails (with no thread left running) if io_uring is
    /// unavailable (the error says why), the config is invalid or the
    /// address cannot be bound.
    ///
    /// ```
    /// # use slow_compio::ThreadPerCore;
    /// use slow_interop::driver::InteropService;
    ///
    /// // The INTEROP service, sleeping on each thread's own timer.
    /// let server = ThreadPerCore::builder("127.0.0.1:0".parse()?)
    ///     .threads(2)
    ///     .serve(|| InteropService::new(slow_compio::Compio::new()))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn serve<F, H>(self, make_handler: F) -> Result<ThreadPerCore, Error>
    where
        F: Fn() -> H + Clone + Send + 'static,
        H: LocalHandler,
    {
        self.config.validate()?;
        crate::available()?;
        let first = reuse_port_listener(self.addr)?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..self.threads {
            listeners.push(reuse_port_listener(addr)?);
        }
        let mut server = ThreadPerCore {
            addr,
            stops: Vec::new(),
            threads: Vec::new(),
        };
        for (i, listener) in listeners.into_iter().enumerate() {
            let (stop, stopped) = async_channel::bounded::<()>(1);
            let (started, ready) = std::sync::mpsc::channel();
            let (config, make_handler) = (self.config.clone(), make_handler.clone());
            let thread = std::thread::Builder::new()
                .name(format!("{}-{i}", self.thread_name))
                .spawn(move || {
                    serve_on_this_thread(listener, config, make_handler, stopped, started)
                })?;
            server.stops.push(stop);
            server.threads.push(thread);
            // Each thread says whether its runtime and listener started.
            match ready.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    // It ended before saying: its join says why.
                    let thread = server.threads.pop().expect("just pushed");
                    return Err(thread.join().map_or_else(
                        |_| Error::Io(io::Error::other("a server thread panicked")),
                        |r| {
                            r.err().unwrap_or_else(|| {
                                Error::Io(io::Error::other("a server thread ended at start"))
                            })
                        },
                    ));
                }
            }
        }
        Ok(server)
    }
}

/// One thread's life: its runtime, its listener, its handler.
fn serve_on_this_thread<F, H>(
    listener: std::net::TcpListener,
    config: Config,
    make_handler: F,
    stopped: async_channel::Receiver<()>,
    started: std::sync::mpsc::Sender<Result<(), Error>>,
) -> Result<Stats, Error>
where
    F: Fn() -> H,
    H: LocalHandler,
{
    let runtime = match crate::runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = started.send(Err(e.into()));
            return Ok(Stats::default());
        }
    };
    runtime.block_on(async {
        let server = TcpListener::from_std(listener)
            .map_err(Error::Io)
            .and_then(|l| {
                Server::<Compio, CompioListener>::from_listener_on(
                    Compio::new(),
                    CompioListener::new(l),
                    config,
                )
            });
        let server = match server {
            Ok(server) => server,
            Err(e) => {
                let _ = started.send(Err(e));
                return Ok(Stats::default());
            }
        };
        let stats = server.stats_handle();
        let _ = started.send(Ok(()));
        let handler = make_handler();
        // Every sender dropped: shut down.
        let stop = async move {
            let _ = stopped.recv().await;
        };
        server.serve_with_shutdown(handler, stop).await?;
        Ok(stats.totals())
    })
}

/// A listening socket on `addr` that other sockets may share
/// (`SO_REUSEPORT`).
fn reuse_port_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
