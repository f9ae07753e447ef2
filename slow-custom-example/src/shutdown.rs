//! Asking a running server to shut down, from any thread.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mio::Waker;

/// A handle that shuts a [`Server`](crate::Server) down gracefully: GOAWAY
/// SHUTTING_DOWN to every connection, drain, then
/// [`run`](crate::Server::run) returns. Clone it freely and send it to
/// any thread (a signal handler thread, a test).
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    requested: AtomicBool,
    /// Interrupts the loop's `poll` so it sees the request at once.
    waker: Waker,
}

impl ShutdownHandle {
    pub(crate) fn new(waker: Waker) -> ShutdownHandle {
        ShutdownHandle {
            inner: Arc::new(Inner {
                requested: AtomicBool::new(false),
                waker,
            }),
        }
    }

    /// Starts the graceful shutdown. Idempotent; fine to call before
    /// [`run`](crate::Server::run) starts or after it returned. Fails only if
    /// the loop could not be woken (the request is recorded all the same and
    /// seen at the loop's next wake-up).
    pub fn shutdown(&self) -> io::Result<()> {
        // Set before waking, so the woken loop is sure to see it.
        self.inner.requested.store(true, Ordering::SeqCst);
        self.inner.waker.wake()
    }

    /// Whether a shutdown was asked for.
    pub fn is_requested(&self) -> bool {
        self.inner.requested.load(Ordering::SeqCst)
    }
}
