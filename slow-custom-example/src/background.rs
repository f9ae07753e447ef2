//! A server on its own thread, for tests and embedders that want one call.

use std::io;
use std::net::SocketAddr;
use std::thread::{self, JoinHandle};

use crate::server::Server;
use crate::shutdown::ShutdownHandle;

/// A [`Server`] running on a background thread.
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
pub struct ServerThread {
    local_addr: SocketAddr,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl ServerThread {
    pub(crate) fn spawn(server: Server) -> io::Result<ServerThread> {
        let local_addr = server.local_addr();
        let handle = server.shutdown_handle();
        let thread = thread::Builder::new()
            .name(format!("slow-custom-server {local_addr}"))
            .spawn(move || server.run())?;
        Ok(ServerThread {
            local_addr,
            handle,
            thread: Some(thread),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to start the shutdown without waiting for it.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// Shuts the server down gracefully and waits until it has drained;
    /// returns what [`Server::run`] returned.
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

impl Drop for ServerThread {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
