//! What can go wrong in a `slow` command, as one line for the user.

/// A command's failure. `main` prints it as one line on stderr and exits
/// non-zero; nothing here panics or prints a backtrace.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A SLOW client or server call failed (the message includes the
    /// protocol's error code where there is one).
    #[error(transparent)]
    Slow(#[from] slow_driver::Error),
    /// Connecting (TCP or handshake) failed.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// Where to.
        addr: String,
        /// Why not.
        reason: String,
    },
    /// The custom event loop's client or server failed.
    #[error("{0}")]
    Custom(String),
    /// Nothing answered in time.
    #[error("timed out {0}")]
    TimedOut(String),
    /// Local IO (stdin, stdout, threads) failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A runtime or server could not be started.
    #[error("{0}")]
    Setup(String),
    /// The body on standard input is larger than the server accepts;
    /// reading stopped just past the limit, and nothing was sent.
    #[error(
        "the body on standard input is larger than the server's limit of {limit} bytes (reading stopped there; nothing was sent)"
    )]
    BodyTooLarge {
        /// The server's MAX_MESSAGE_SIZE (MAX_FRAME_SIZE for a notification).
        limit: u64,
    },
    /// The arguments make no sense together.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// Wraps a local IO error with what was being done.
    pub fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> CliError {
        move |source| CliError::Io { what, source }
    }
}
