//! The INTEROP test service (`shared/INTEROP.md`) as a [`Handler`], on any
//! runtime: what `slow serve` runs, and what the interop tests talk to.

use std::future::poll_fn;
use std::time::Duration;

use bytes::Bytes;
use slow_interop::{BAD_COMMAND, CLOSING, COMMAND_ERROR, Command, NOTIFIED, UNKNOWN_COMMAND};
use slow_proto::ErrorCode;

use crate::runtime::{Runtime, Timer};
use crate::{Error, ErrorReply, Handler, Peer, Reply, Request};

/// The interop service; `!sleep` waits on `R`'s own timer.
#[derive(Clone)]
pub struct InteropService<R> {
    runtime: R,
}

impl<R: Runtime> InteropService<R> {
    /// The service, sleeping on `runtime`.
    pub fn new(runtime: R) -> Self {
        InteropService { runtime }
    }

    /// The service on the runtime the caller is running on.
    pub fn current() -> std::io::Result<Self> {
        R::current().map(Self::new)
    }

    async fn sleep(&self, d: Duration) {
        let Some(deadline) = std::time::Instant::now().checked_add(d) else {
            // Beyond what the clock can hold: only a cancel or deadline ends it.
            return std::future::pending().await;
        };
        let mut timer = self.runtime.timer(deadline);
        poll_fn(|cx| timer.poll_expired(cx)).await
    }
}

impl<R: Runtime> Handler for InteropService<R> {
    async fn request(&self, request: Request) -> Reply {
        match Command::parse(&request.body) {
            Command::Echo => Ok(request.body),
            Command::Sleep { ms } => {
                self.sleep(Duration::from_millis(ms)).await;
                Ok(Command::slept(ms))
            }
            Command::Error { code, message } => Err(ErrorReply { code, message }),
            Command::Notify { body } => match request.peer.notify(body) {
                Ok(()) => Ok(Bytes::from_static(NOTIFIED)),
                Err(Error::TooLarge { .. }) => Err(ErrorReply::new(
                    ErrorCode::MESSAGE_TOO_LARGE,
                    "notification too large",
                )),
                Err(e) => Err(ErrorReply::new(ErrorCode::INTERNAL_ERROR, e.to_string())),
            },
            Command::Bytes { n } => {
                // Checked before allocating: `!bytes 10000000000` must not
                // make the server build ten gigabytes to refuse them.
                let limit = u64::from(request.peer.settings().max_message_size);
                match usize::try_from(n) {
                    Ok(n) if n as u64 <= limit => Ok(slow_interop::pattern(n)),
                    _ => Err(ErrorReply::new(
                        ErrorCode::MESSAGE_TOO_LARGE,
                        "response too large",
                    )),
                }
            }
            Command::Close => {
                request.peer.close();
                Ok(Bytes::from_static(CLOSING))
            }
            Command::Unknown => Err(ErrorReply::new(COMMAND_ERROR, UNKNOWN_COMMAND)),
            Command::Bad => Err(ErrorReply::new(COMMAND_ERROR, BAD_COMMAND)),
        }
    }

    async fn notification(&self, body: Bytes, peer: Peer) {
        // Echoed back; a body that fit one frame our way fits back unless
        // the client's limit is smaller, and then there is no one to tell.
        let _ = peer.notify(body);
    }
}
