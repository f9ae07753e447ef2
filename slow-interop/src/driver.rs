//! The INTEROP test service (`shared/INTEROP.md`) as a `slow_driver`
//! [`Handler`], on any runtime: what `slow serve` runs and what the interop
//! tests talk to. Test tooling, not part of the adapters' API.

use std::future::poll_fn;
use std::time::Duration;

use bytes::Bytes;
use slow_driver::runtime::{Local, LocalRuntime, Mode, Reactor, Runtime, Timer};
use slow_driver::{Error, ErrorReply, Handler, LocalHandler, LocalRequest, Peer, Reply, Request};

use crate::{
    BAD_COMMAND, CLOSING, COMMAND_ERROR, Command, NOTIFIED, NOTIFY_TOO_LARGE, Refusal,
    UNKNOWN_COMMAND,
};

/// The interop service; `!sleep` waits on `R`'s own timer. A [`Handler`]
/// on a threaded runtime, a [`LocalHandler`] on a local one.
///
/// ```no_run
/// # async fn run() -> Result<(), slow_tokio::Error> {
/// use slow_interop::driver::InteropService;
/// use slow_tokio::{Server, Tokio};
///
/// let server = Server::bind("127.0.0.1:7000").await?;
/// server.serve(InteropService::<Tokio>::current()?).await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct InteropService<R> {
    runtime: R,
}

impl<R: Reactor> InteropService<R> {
    /// The service, sleeping on `runtime`.
    pub fn new(runtime: R) -> Self {
        InteropService { runtime }
    }

    /// The service on the runtime the caller is running on.
    pub fn current() -> std::io::Result<Self> {
        R::current().map(Self::new)
    }

    async fn sleep(&self, d: Duration) {
        let Some(deadline) = R::now().checked_add(d) else {
            // Beyond what the clock can hold: only a cancel or deadline ends it.
            return std::future::pending().await;
        };
        let mut timer = self.runtime.timer(deadline);
        poll_fn(|cx| timer.poll_expired(cx)).await
    }
}

fn refuse(r: Refusal) -> ErrorReply {
    ErrorReply::new(r.code, r.message)
}

impl<R: Reactor> InteropService<R> {
    async fn answer<M: Mode>(&self, request: Request<M>) -> Reply {
        match Command::parse(&request.body) {
            Command::Echo => Ok(request.body),
            Command::Sleep { ms } => {
                self.sleep(Duration::from_millis(ms)).await;
                Ok(Command::slept(ms))
            }
            Command::Error { code, message } => Err(ErrorReply { code, message }),
            Command::Notify { body } => match request.peer.notify(body) {
                Ok(()) => Ok(Bytes::from_static(NOTIFIED)),
                Err(Error::TooLarge { .. }) => Err(refuse(NOTIFY_TOO_LARGE)),
                Err(e) => Err(e.into()),
            },
            Command::Bytes { n } => {
                crate::bytes(n, request.peer.settings().max_message_size).map_err(refuse)
            }
            Command::Close => {
                request.peer.close_after(request.id);
                Ok(Bytes::from_static(CLOSING))
            }
            Command::Unknown => Err(ErrorReply::new(COMMAND_ERROR, UNKNOWN_COMMAND)),
            Command::Bad => Err(ErrorReply::new(COMMAND_ERROR, BAD_COMMAND)),
        }
    }
}

/// Notifications are echoed back; a body that fit one frame our way fits
/// back unless the client's limit is smaller, and then there is no one to
/// tell.
fn echo_notification<M: Mode>(body: Bytes, peer: Peer<M>) {
    let _ = peer.notify(body);
}

impl<R: Runtime> Handler for InteropService<R> {
    async fn request(&self, request: Request) -> Reply {
        self.answer(request).await
    }

    async fn notification(&self, body: Bytes, peer: Peer) {
        echo_notification(body, peer);
    }
}

impl<R: LocalRuntime> LocalHandler for InteropService<R> {
    async fn request(&self, request: LocalRequest) -> Reply {
        self.answer(request).await
    }

    async fn notification(&self, body: Bytes, peer: Peer<Local>) {
        echo_notification(body, peer);
    }
}
