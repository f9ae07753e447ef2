//! A server on its own thread, for tests and embedders that want one call.

use std::io;
use std::thread::{self, JoinHandle};

use crate::addr::{ListenAddr, Tcp, Transport};
use crate::server::Server;
use crate::shutdown::ShutdownHandle;

/// A [`Server`] running on a background thread, over TCP (`ServerThread`,
/// the default) or a Unix socket (`ServerThread<Unix>`, from
/// [`Server::bind_unix`]).
///
/// Its address is known before it runs, so a test can start it and connect
/// at once. Dropping it shuts the server down gracefully and waits for the
/// thread (bounded by the drain timeout).
///
/// ```
/// use slow_custom_example::{BlockingClient, Server};
/// use std::time::Duration;
///
/// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?.spawn()?;
/// let mut client = BlockingClient::connect(server.local_addr()).unwrap();
/// let body = client.request("hi", Some(Duration::from_secs(5))).unwrap();
/// assert_eq!(&body[..], b"hi");
/// drop(client);
/// server.shutdown()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ServerThread<T: Transport = Tcp> {
    local_addr: T::Addr,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl<T: Transport> ServerThread<T> {
    pub(crate) fn spawn(server: Server<T>) -> io::Result<ServerThread<T>> {
        let local_addr = server.local_addr();
        let handle = server.shutdown_handle();
        let thread = thread::Builder::new()
            .name(format!("slow-custom-server {}", server.listen_addr()))
            .spawn(move || server.run())?;
        Ok(ServerThread {
            local_addr,
            handle,
            thread: Some(thread),
        })
    }

    /// The address the server listens on: a `SocketAddr` for TCP, the
    /// socket's path for a Unix socket (see [`Server::local_addr`]).
    ///
    /// ```
    /// use slow_custom_example::Server;
    ///
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?.spawn()?;
    /// assert_ne!(server.local_addr().port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> T::Addr {
        self.local_addr.clone()
    }

    /// The address the server listens on, whatever its transport
    /// (`HOST:PORT` or `unix:PATH` when displayed).
    ///
    /// ```
    /// use slow_custom_example::Server;
    ///
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?.spawn()?;
    /// assert_eq!(server.listen_addr().tcp(), Some(server.local_addr()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn listen_addr(&self) -> ListenAddr {
        self.local_addr().into()
    }

    /// A handle to start the shutdown without waiting for it.
    ///
    /// ```
    /// use slow_custom_example::Server;
    ///
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?.spawn()?;
    /// server.shutdown_handle().shutdown()?;
    /// server.shutdown()?; // waits for the drain
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// Shuts the server down gracefully and waits until it has drained;
    /// returns what [`Server::run`] returned. A Unix socket's file is gone
    /// by then.
    ///
    /// See [`ServerThread`] for an example.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> io::Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.handle.shutdown()?;
        thread
            .join()
            .map_err(|_| io::Error::other("server thread panicked"))?
    }
}

impl<T: Transport> Drop for ServerThread<T> {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
