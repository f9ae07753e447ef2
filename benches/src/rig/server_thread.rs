//! A server on a thread of its own (or on a shared runtime), stopped and
//! joined when dropped.

use std::net::SocketAddr;
use std::thread::JoinHandle;

/// A server running on its own thread until dropped.
pub struct ServerThread {
    stop: Option<Box<dyn FnOnce() + Send>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// No thread: the server lives on a shared runtime (async-std).
    pub fn none(stop: impl FnOnce() + Send + 'static) -> ServerThread {
        ServerThread {
            stop: Some(Box::new(stop)),
            thread: None,
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts a server thread: `run` gets a sender for its address and a
/// receiver that yields once the server must stop.
pub(super) fn server_thread(
    name: &str,
    run: impl FnOnce(std::sync::mpsc::Sender<SocketAddr>, StopSignal) + Send + 'static,
) -> (SocketAddr, ServerThread) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || run(addr_tx, StopSignal(stop_rx)))
        .expect("spawn server thread");
    let addr = addr_rx.recv().expect("server address");
    let server = ServerThread {
        // Dropping the sender closes the channel: the signal completes.
        stop: Some(Box::new(move || drop(stop_tx))),
        thread: Some(thread),
    };
    (addr, server)
}

/// Completes once the server must stop (works on any runtime).
pub struct StopSignal(smol::channel::Receiver<()>);

impl StopSignal {
    /// Waits for the stop.
    pub async fn wait(self) {
        let _ = self.0.recv().await;
    }
}
