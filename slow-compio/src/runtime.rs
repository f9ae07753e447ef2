//! compio's parts behind slow-driver's traits: its sockets as completion
//! streams, its timer, and spawning on the thread's runtime.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use compio::BufResult;
use compio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use compio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use slow_driver::Addr;
use slow_driver::runtime::{
    Completion, CompletionStream, Listener, Local, LocalRuntime, Reactor, Timer,
};

/// The compio runtime of the calling thread: every task SLOW spawns runs
/// there and stays there (compio is thread-per-core: one runtime, one
/// io_uring, per thread), so nothing it runs needs to be `Send`.
///
/// A handle, not the runtime: create the runtime with
/// [`compio::runtime::Runtime::new`] (or [`crate::runtime()`], which says
/// why io_uring is unavailable) and run inside its `block_on`.
///
/// ```
/// use slow_compio::{Client, Compio, LocalRequest, Server};
///
/// slow_compio::runtime()?.block_on(async {
///     let server = Server::bind("127.0.0.1:0").await?;
///     let addr = server.local_addr()?;
///     compio::runtime::spawn(server.serve(|req: LocalRequest| async move { Ok(req.body) })).detach();
///
///     let client = Client::connect(addr).await?;
///     assert_eq!(client.request("hello").await?, "hello");
///     client.close().await
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Compio {
    /// Not `Send`: the handle means "this thread's runtime".
    _local: std::marker::PhantomData<*const ()>,
}

impl Compio {
    /// The handle, for a thread that runs (or will run) a compio runtime
    /// when it is used; `Reactor::current` checks that one runs now.
    ///
    /// ```
    /// use slow_interop::driver::InteropService;
    ///
    /// let service = InteropService::new(slow_compio::Compio::new());
    /// ```
    pub fn new() -> Compio {
        Compio::default()
    }
}

impl Reactor for Compio {
    type Mode = Local;
    type Stream = Completion<CompioStream>;
    type Listener = CompioListener;
    type UnixStream = Completion<CompioStream<UnixStream>>;
    type UnixListener = CompioUnixListener;
    type Timer = CompioTimer;

    fn current() -> io::Result<Self> {
        match compio::runtime::Runtime::try_current() {
            Some(_) => Ok(Compio::new()),
            None => Err(io::Error::other(
                "no compio runtime on this thread (run inside compio's Runtime::block_on)",
            )),
        }
    }

    async fn resolve(&self, addr: String) -> io::Result<Vec<SocketAddr>> {
        // A literal address needs no resolver (compio's would hand the
        // lookup to a blocking thread).
        if let Ok(addr) = addr.parse::<SocketAddr>() {
            return Ok(vec![addr]);
        }
        let addrs = compio::runtime::spawn_blocking(move || {
            std::net::ToSocketAddrs::to_socket_addrs(&addr).map(Iterator::collect)
        })
        .await;
        addrs.map_err(|_| io::Error::other("the resolver thread panicked"))?
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Completion::new(CompioStream(stream)))
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<CompioListener> {
        TcpListener::bind(addr).await.map(CompioListener::new)
    }

    async fn connect_unix(&self, path: PathBuf) -> io::Result<Self::UnixStream> {
        let stream = UnixStream::connect(path).await?;
        Ok(Completion::new(CompioStream(stream)))
    }

    fn unix_listener(&self, listener: StdUnixListener) -> io::Result<CompioUnixListener> {
        UnixListener::from_std(listener).map(CompioUnixListener::new)
    }

    fn timer(&self, deadline: Instant) -> CompioTimer {
        CompioTimer {
            deadline,
            sleep: None,
        }
    }
}

impl LocalRuntime for Compio {
    fn spawn_local<F>(&self, task: F)
    where
        F: Future<Output = ()> + 'static,
    {
        // compio's tasks catch their own panics: a panicking handler costs
        // only its request.
        compio::runtime::spawn(task).detach();
    }
}

type Op<T> = Pin<Box<dyn Future<Output = T>>>;

/// A compio socket (TCP by default, or a `UnixStream`) as a completion
/// stream: reads fill the connection's own receive buffer, writes hand the
/// kernel the connection's queued `Bytes` in one vectored send, each in
/// flight while the connection goes on. Run a connection over one of your
/// own with `Client::from_stream(Completion::new(CompioStream(stream)))`.
///
/// Each operation is one boxed future around compio's own (its socket
/// futures cannot be named); compio allocates one per operation as well.
#[derive(Debug, Clone)]
pub struct CompioStream<S = TcpStream>(pub S);

impl<S> CompletionStream for CompioStream<S>
where
    S: Clone + 'static,
    for<'a> &'a S: AsyncRead + AsyncWrite,
{
    type Read = Op<(io::Result<usize>, BytesMut)>;
    type Write = Op<(io::Result<usize>, Vec<Bytes>)>;
    type Shutdown = Op<io::Result<()>>;

    fn read(&mut self, buf: BytesMut) -> Self::Read {
        let socket = self.0.clone();
        Box::pin(async move {
            // After what is buffered, into the spare capacity (`read`
            // would write from the front).
            let BufResult(result, buf) = (&mut &socket).append(buf).await;
            (result, buf)
        })
    }

    fn write(&mut self, bufs: Vec<Bytes>) -> Self::Write {
        let socket = self.0.clone();
        Box::pin(async move {
            let BufResult(result, bufs) = (&mut &socket).write_vectored(bufs).await;
            (result, bufs)
        })
    }

    fn shutdown(&mut self) -> Self::Shutdown {
        let socket = self.0.clone();
        Box::pin(async move { (&mut &socket).shutdown().await })
    }
}

/// A compio TCP listener. Accepted streams have `TCP_NODELAY` set.
pub struct CompioListener {
    listener: TcpListener,
    accept: Option<Op<io::Result<(TcpStream, SocketAddr)>>>,
}

impl CompioListener {
    /// Serves what `listener` accepts (`Server::from_listener`).
    pub fn new(listener: TcpListener) -> Self {
        CompioListener {
            listener,
            accept: None,
        }
    }
}

impl std::fmt::Debug for CompioListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CompioListener")
            .field(&self.listener)
            .finish()
    }
}

impl Listener for CompioListener {
    type Stream = Completion<CompioStream>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Addr)>> {
        let accept = self.accept.get_or_insert_with(|| {
            let listener = self.listener.clone();
            Box::pin(async move { listener.accept().await })
        });
        let result = ready!(accept.as_mut().poll(cx));
        self.accept = None;
        let (stream, addr) = result?;
        stream.set_nodelay(true)?;
        Poll::Ready(Ok((Completion::new(CompioStream(stream)), Addr::Tcp(addr))))
    }

    fn local_addr(&self) -> io::Result<Addr> {
        self.listener.local_addr().map(Addr::Tcp)
    }
}

/// A compio Unix socket listener, to serve with `Server::from_listener`.
/// Its clients' addresses are their socket paths (usually unnamed).
pub struct CompioUnixListener {
    listener: UnixListener,
    accept: Option<Op<io::Result<(UnixStream, Addr)>>>,
}

impl CompioUnixListener {
    /// Serves what `listener` accepts.
    pub fn new(listener: UnixListener) -> Self {
        CompioUnixListener {
            listener,
            accept: None,
        }
    }
}

impl std::fmt::Debug for CompioUnixListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CompioUnixListener")
            .field(&self.listener)
            .finish()
    }
}

impl Listener for CompioUnixListener {
    type Stream = Completion<CompioStream<UnixStream>>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Addr)>> {
        let accept = self.accept.get_or_insert_with(|| {
            let listener = self.listener.clone();
            Box::pin(async move {
                let (stream, addr) = listener.accept().await?;
                let path = addr.as_pathname().map(Into::into);
                Ok((stream, Addr::Unix(path)))
            })
        });
        let result = ready!(accept.as_mut().poll(cx));
        self.accept = None;
        let (stream, addr) = result?;
        Poll::Ready(Ok((Completion::new(CompioStream(stream)), addr)))
    }

    fn local_addr(&self) -> io::Result<Addr> {
        let addr = self.listener.local_addr()?;
        Ok(Addr::Unix(addr.as_pathname().map(Into::into)))
    }
}

/// compio's timer. compio's sleeps cannot be moved, so a reset drops the
/// one waiting and the next poll starts another (the driver only moves its
/// timer earlier, and rarely).
pub struct CompioTimer {
    deadline: Instant,
    sleep: Option<Op<()>>,
}

impl std::fmt::Debug for CompioTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompioTimer")
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Timer for CompioTimer {
    fn reset(&mut self, deadline: Instant) {
        if deadline != self.deadline {
            self.deadline = deadline;
            self.sleep = None;
        }
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        self.sleep
            .get_or_insert_with(|| Box::pin(compio::time::sleep_until(deadline)))
            .as_mut()
            .poll(cx)
    }
}
