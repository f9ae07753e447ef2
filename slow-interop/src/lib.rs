//! The interop test service every SLOW runtime serves (`shared/INTEROP.md`).
//!
//! This crate only *decides*: [`Command::parse`] reads a request body into
//! what the service must do. Each server (tokio, async-std, smol, the custom
//! event loop) carries the decision out with its own timers and IO, so the
//! service behaves the same everywhere. What the service answers beyond
//! parsing (the size rules of `!bytes` and `!notify`) is here too, once.
//!
//! With the `driver` feature, [`driver::InteropService`] is the whole
//! service as a `slow_driver` handler, for every async runtime.
//!
//! ```
//! use bytes::Bytes;
//! use slow_interop::Command;
//!
//! assert_eq!(Command::parse(&Bytes::from_static(b"hi")), Command::Echo);
//! assert_eq!(Command::parse(&Bytes::from_static(b"!sleep 20")), Command::Sleep { ms: 20 });
//! assert_eq!(Command::parse(&Bytes::from_static(b"!sleep abc")), Command::Bad);
//! assert_eq!(Command::parse(&Bytes::from_static(b"!dance")), Command::Unknown);
//! ```
#![cfg_attr(not(feature = "driver"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::format;
use bytes::{BufMut, Bytes, BytesMut};
use slow_proto::ErrorCode;

#[cfg(feature = "driver")]
pub mod driver;

/// The ERROR code of `unknown command` and `bad command` answers.
pub const COMMAND_ERROR: ErrorCode = ErrorCode(0x0100);
/// Message of the ERROR for a body starting with `!` but no known command.
pub const UNKNOWN_COMMAND: &str = "unknown command";
/// Message of the ERROR for a known command with missing or bad arguments.
pub const BAD_COMMAND: &str = "bad command";

/// What the interop service does with one request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Not a command: answer with the body unchanged.
    Echo,
    /// `!sleep MS`: wait on the runtime's timer, then answer [`Command::slept`].
    Sleep {
        /// Milliseconds to wait.
        ms: u64,
    },
    /// `!error CODE TEXT`: answer ERROR `code` with `message`.
    Error {
        /// The decimal code given.
        code: ErrorCode,
        /// The rest of the body (may be empty).
        message: alloc::string::String,
    },
    /// `!notify TEXT`: send NOTIFY `body`, then answer `notified` (or ERROR
    /// MESSAGE_TOO_LARGE, sending nothing, when it exceeds the client's
    /// MAX_FRAME_SIZE).
    Notify {
        /// The NOTIFY body.
        body: Bytes,
    },
    /// `!bytes N`: answer [`pattern`]`(n)`, or ERROR MESSAGE_TOO_LARGE above
    /// the client's MAX_MESSAGE_SIZE (see [`bytes()`]).
    Bytes {
        /// How many bytes.
        n: u64,
    },
    /// `!close`: answer `closing`, then close gracefully (GOAWAY
    /// SHUTTING_DOWN): the answer goes out first (the core's
    /// `Connection::close_after`).
    Close,
    /// A `!` word the service does not know: ERROR 0x0100 `unknown command`.
    Unknown,
    /// A known word with missing or unparsable arguments: ERROR 0x0100 `bad command`.
    Bad,
}

impl Command {
    /// Reads a request body. Commands are ASCII words separated by one space.
    pub fn parse(body: &Bytes) -> Command {
        let Some(rest) = body.strip_prefix(b"!") else {
            return Command::Echo;
        };
        let (word, args) = match rest.iter().position(|&b| b == b' ') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        match word {
            b"sleep" => args
                .and_then(number)
                .map_or(Command::Bad, |ms| Command::Sleep { ms }),
            b"bytes" => args
                .and_then(number)
                .map_or(Command::Bad, |n| Command::Bytes { n }),
            b"close" if args.is_none() => Command::Close,
            b"close" => Command::Bad,
            b"notify" => match args {
                // The text starts after "!notify "; slice it out without a copy.
                Some(_) => Command::Notify {
                    body: body.slice(b"!notify ".len()..),
                },
                None => Command::Bad,
            },
            b"error" => parse_error(args).unwrap_or(Command::Bad),
            _ => Command::Unknown,
        }
    }

    /// The response body of `!sleep MS`.
    pub fn slept(ms: u64) -> Bytes {
        Bytes::from(format!("slept {ms}"))
    }
}

fn parse_error(args: Option<&[u8]>) -> Option<Command> {
    let args = args?;
    let (code, text) = match args.iter().position(|&b| b == b' ') {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &b""[..]),
    };
    let code = u16::try_from(number(code)?).ok()?;
    let message = core::str::from_utf8(text).ok()?;
    Some(Command::Error {
        code: ErrorCode(code),
        message: message.into(),
    })
}

/// A decimal number: digits only, no sign, no spaces, fits in u64.
fn number(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(s).ok()?.parse().ok()
}

/// Response body of `notified`.
pub const NOTIFIED: &[u8] = b"notified";
/// Response body of `!close`.
pub const CLOSING: &[u8] = b"closing";

/// An ERROR answer the service gives: a code and its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The ERROR code.
    pub code: ErrorCode,
    /// The ERROR message.
    pub message: &'static str,
}

/// `!notify TEXT` whose NOTIFY would exceed the client's MAX_FRAME_SIZE
/// (the connection refuses to send it: `SendError::TooLarge`).
pub const NOTIFY_TOO_LARGE: Refusal = Refusal {
    code: ErrorCode::MESSAGE_TOO_LARGE,
    message: "notification larger than your MAX_FRAME_SIZE",
};

/// `!bytes N` above the client's MAX_MESSAGE_SIZE.
pub const BYTES_TOO_LARGE: Refusal = Refusal {
    code: ErrorCode::MESSAGE_TOO_LARGE,
    message: "response too large",
};

/// The answer to `!bytes N` for a client whose MAX_MESSAGE_SIZE is `limit`.
/// `n` comes from the peer, so it is checked before `n` bytes are made:
/// `!bytes 10000000000` must not make the server build ten gigabytes to
/// refuse them.
///
/// ```
/// use slow_interop::{BYTES_TOO_LARGE, bytes};
///
/// assert_eq!(bytes(3, 1024).unwrap().len(), 3);
/// assert_eq!(bytes(10_000_000_000, 1024), Err(BYTES_TOO_LARGE));
/// ```
pub fn bytes(n: u64, limit: u32) -> Result<Bytes, Refusal> {
    match usize::try_from(n) {
        Ok(len) if n <= u64::from(limit) => Ok(pattern(len)),
        _ => Err(BYTES_TOO_LARGE),
    }
}

/// The `!bytes N` body: byte `i` is `i mod 251`.
///
/// ```
/// let b = slow_interop::pattern(300);
/// assert_eq!((b[0], b[250], b[251], b.len()), (0, 250, 0, 300));
/// ```
pub fn pattern(n: usize) -> Bytes {
    let mut out = BytesMut::with_capacity(n);
    let cycle: [u8; 251] = core::array::from_fn(|i| i as u8);
    while out.len() < n {
        let take = (n - out.len()).min(cycle.len());
        out.put_slice(&cycle[..take]);
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Command {
        Command::parse(&Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn echo_unless_bang() {
        assert_eq!(parse(""), Command::Echo);
        assert_eq!(parse("sleep 5"), Command::Echo);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse("!error 300 it broke"),
            Command::Error {
                code: ErrorCode(300),
                message: "it broke".into()
            }
        );
        assert_eq!(
            parse("!error 300"),
            Command::Error {
                code: ErrorCode(300),
                message: "".into()
            }
        );
        for bad in [
            "!error",
            "!error x",
            "!error 65536",
            "!error -1 x",
            "!error  1",
        ] {
            assert_eq!(parse(bad), Command::Bad, "{bad}");
        }
    }

    #[test]
    fn bad_arguments() {
        for bad in [
            "!sleep",
            "!sleep abc",
            "!sleep -1",
            "!sleep 1 2",
            "!bytes -1",
            "!bytes",
            "!notify",
            "!close now",
        ] {
            assert_eq!(parse(bad), Command::Bad, "{bad}");
        }
        assert_eq!(parse("!bytes 0"), Command::Bytes { n: 0 });
        assert_eq!(parse("!notify "), Command::Notify { body: Bytes::new() });
        assert_eq!(
            parse("!notify a b"),
            Command::Notify {
                body: Bytes::from_static(b"a b")
            }
        );
        assert_eq!(parse("!close"), Command::Close);
        assert_eq!(parse("!nope 1"), Command::Unknown);
        assert_eq!(parse("!"), Command::Unknown);
    }
}
