//! Whether io_uring is there, and if not, why not.

use std::io;

/// Why io_uring cannot be used on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// `kernel.io_uring_disabled = 2`: disabled for every process.
    Disabled,
    /// `kernel.io_uring_disabled = 1`: only for members of the group
    /// `kernel.io_uring_group` (and root), which this process is not.
    GroupOnly,
    /// `io_uring_setup` does not exist (`ENOSYS`): a kernel older than 5.1
    /// or built without io_uring.
    NotSupported,
    /// `io_uring_setup` was refused (`EPERM`) though the kernel allows it:
    /// a seccomp filter (most container runtimes' default profile) or a
    /// security module.
    Denied,
    /// Out of locked memory or another resource (`ENOMEM`, `EMFILE`, ...).
    Resources,
    /// Anything else.
    Other,
}

impl Cause {
    /// What to tell the operator.
    pub fn explain(self) -> &'static str {
        match self {
            Cause::Disabled => {
                "io_uring is disabled on this machine (sysctl kernel.io_uring_disabled = 2)"
            }
            Cause::GroupOnly => {
                "io_uring is restricted to the group kernel.io_uring_group (sysctl kernel.io_uring_disabled = 1), which this process is not in"
            }
            Cause::NotSupported => {
                "this kernel has no io_uring (Linux 5.1 or later, built with CONFIG_IO_URING, is needed)"
            }
            Cause::Denied => {
                "io_uring_setup was denied, though the kernel allows io_uring: a seccomp filter (a container's default profile) or a security module blocks it"
            }
            Cause::Resources => {
                "io_uring could not be set up for lack of resources (locked memory or file descriptors)"
            }
            Cause::Other => "io_uring could not be set up",
        }
    }

    /// The cause of `error`, from `io_uring_setup`, given the value of
    /// `kernel.io_uring_disabled` (`None` if it could not be read).
    pub(crate) fn of(error: &io::Error, disabled: Option<u8>) -> Cause {
        const ENOSYS: i32 = 38;
        const EPERM: i32 = 1;
        const ENOMEM: i32 = 12;
        const EMFILE: i32 = 24;
        const ENFILE: i32 = 23;
        match (error.raw_os_error(), disabled) {
            (Some(ENOSYS), _) => Cause::NotSupported,
            (Some(EPERM), Some(2)) => Cause::Disabled,
            (Some(EPERM), Some(1)) => Cause::GroupOnly,
            (Some(EPERM), _) => Cause::Denied,
            (Some(ENOMEM | EMFILE | ENFILE), _) => Cause::Resources,
            _ => Cause::Other,
        }
    }
}

/// io_uring is not available, so no compio runtime (and no SLOW over it)
/// can start on this machine. Its message names the cause.
///
/// ```
/// match slow_compio::runtime() {
///     Ok(runtime) => runtime.block_on(async { /* serve */ }),
///     Err(unavailable) => eprintln!("slow: {unavailable}"),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", cause.explain())]
pub struct Unavailable {
    /// Why.
    pub cause: Cause,
    /// What `io_uring_setup` returned.
    #[source]
    pub source: io::Error,
}

impl From<Unavailable> for slow_driver::Error {
    fn from(e: Unavailable) -> Self {
        slow_driver::Error::Io(io::Error::new(e.source.kind(), e))
    }
}

/// `kernel.io_uring_disabled`, if this kernel has it.
fn disabled_sysctl() -> Option<u8> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A compio runtime for this thread, with its own io_uring; or why there
/// can be none. (compio's `Runtime::new` fails with the bare errno.)
///
/// ```
/// let runtime = slow_compio::runtime()?;
/// assert_eq!(runtime.block_on(async { 6 * 7 }), 42);
/// # Ok::<(), slow_compio::Unavailable>(())
/// ```
pub fn runtime() -> Result<compio::runtime::Runtime, Unavailable> {
    compio::runtime::Runtime::new().map_err(|source| Unavailable {
        cause: Cause::of(&source, disabled_sysctl()),
        source,
    })
}

/// Whether a compio runtime can start here: `Err` says why not. Tests that
/// need io_uring ask this first and say why they skip.
///
/// The answer is found once per process, on a thread of its own: a ring
/// torn down on a thread leaves the kernel work to finish there, which
/// interrupts that thread's next blocking call with a timeout (`EINTR`,
/// which std's `read` does not retry). So asking never disturbs the
/// caller's thread. (Dropping a compio runtime of your own does, once.)
///
/// ```
/// if let Err(why) = slow_compio::available() {
///     eprintln!("skipped: {why}");
/// }
/// ```
pub fn available() -> Result<(), Unavailable> {
    static ANSWER: std::sync::OnceLock<Result<(), (Cause, i32)>> = std::sync::OnceLock::new();
    let answer = ANSWER.get_or_init(|| {
        let probe = std::thread::Builder::new()
            .name("slow-compio-probe".into())
            .spawn(|| runtime().map(drop))
            .and_then(|t| t.join().map_err(|_| io::Error::other("the probe panicked")));
        match probe {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err((e.cause, e.source.raw_os_error().unwrap_or(0))),
            Err(e) => Err((Cause::Other, e.raw_os_error().unwrap_or(0))),
        }
    });
    answer.map_err(|(cause, errno)| Unavailable {
        cause,
        source: io::Error::from_raw_os_error(errno),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno(n: i32) -> io::Error {
        io::Error::from_raw_os_error(n)
    }

    #[test]
    fn causes_from_errno_and_sysctl() {
        assert_eq!(Cause::of(&errno(38), Some(0)), Cause::NotSupported);
        assert_eq!(Cause::of(&errno(38), None), Cause::NotSupported);
        assert_eq!(Cause::of(&errno(1), Some(2)), Cause::Disabled);
        assert_eq!(Cause::of(&errno(1), Some(1)), Cause::GroupOnly);
        assert_eq!(Cause::of(&errno(1), Some(0)), Cause::Denied);
        assert_eq!(Cause::of(&errno(1), None), Cause::Denied);
        assert_eq!(Cause::of(&errno(12), Some(0)), Cause::Resources);
        assert_eq!(Cause::of(&errno(22), Some(0)), Cause::Other);
    }

    #[test]
    fn the_message_names_the_cause_and_the_errno() {
        let e = Unavailable {
            cause: Cause::of(&errno(1), Some(2)),
            source: errno(1),
        };
        let text = e.to_string();
        assert!(text.contains("kernel.io_uring_disabled = 2"), "{text}");
        assert!(text.contains("Operation not permitted"), "{text}");
        let driver: slow_driver::Error = e.into();
        assert!(
            driver.to_string().contains("io_uring is disabled"),
            "{driver}"
        );
    }
}
