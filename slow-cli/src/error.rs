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
    /// A `--tls-*` file could not be used: unreadable, malformed, or a key
    /// that does not match its certificate. Found at start-up, before
    /// anything listens or connects; exit status 2, like a usage error.
    #[error("{flags}: {source}")]
    TlsConfig {
        /// The flag or flags and their files (`--tls-key /x/key.pem`).
        flags: String,
        /// What is wrong, naming the file where it is one file's fault.
        source: slow_driver::tls::TlsConfigError,
    },
    /// The runtime asked for cannot run on this machine: compio without
    /// io_uring (the message names why: the kernel, its sysctl, a seccomp
    /// filter). Like a usage error, exit status 2: no retry will help.
    #[error(
        "compio cannot run here: {0} (compio needs io_uring and has no epoll fallback; use --runtime tokio or smol)"
    )]
    Unavailable(#[from] slow_compio::Unavailable),
}

impl CliError {
    /// The exit status it ends `slow` with: 2 for a command line that
    /// cannot work (a usage error, a runtime this machine cannot run, a
    /// `--tls-*` file it cannot use), 1 for anything else (a TLS handshake
    /// that fails is a failed connection: 1).
    ///
    /// ```
    /// use slow_cli::CliError;
    ///
    /// assert_eq!(CliError::Usage("no".into()).exit_code(), 2);
    /// assert_eq!(CliError::TimedOut("connecting".into()).exit_code(), 1);
    /// ```
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Unavailable(_) | CliError::TlsConfig { .. } => 2,
            _ => 1,
        }
    }

    /// Wraps a local IO error with what was being done.
    pub fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> CliError {
        move |source| CliError::Io { what, source }
    }
}
