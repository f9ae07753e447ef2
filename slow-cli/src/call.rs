//! `slow call`: one request (or one notification) on a new connection.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use std::io::Read;

use bytes::Bytes;
use slow_driver::tls::ClientTls;
use slow_driver::{Client, Config, Error};

use crate::error::CliError;
use crate::runtime::{self, AsyncRuntime, Connects, Job, RuntimeKind, timeout_at};

/// How long a graceful close after the call may take.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// One call.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// `host:port`, or `unix:PATH`.
    pub addr: String,
    /// The request (or notification) body.
    pub body: Body,
    /// The request's timeout, sent as DEADLINE; `None`: wait as long as it takes.
    pub timeout: Option<Duration>,
    /// How long connecting (TCP and handshake) may take.
    pub connect_timeout: Duration,
    /// Send a NOTIFY instead of a request.
    pub notify: bool,
    /// Connect over TLS with this (`None`: plaintext).
    pub tls: Option<ClientTls>,
}

/// Where a call's body comes from.
#[derive(Debug, Clone)]
pub enum Body {
    /// These bytes.
    Bytes(Bytes),
    /// Standard input, read once connected: only as far as the server's
    /// limit allows, so a body too large is refused without reading all of
    /// it (or holding it in memory).
    Stdin,
}

impl Body {
    /// The body, at most `limit` bytes of it.
    pub(crate) fn take(&self, limit: u64) -> Result<Bytes, CliError> {
        let bytes = match self {
            Body::Bytes(b) => return Ok(b.clone()),
            Body::Stdin => {
                let mut buf = Vec::new();
                std::io::stdin()
                    .lock()
                    .take(limit.saturating_add(1))
                    .read_to_end(&mut buf)
                    .map_err(CliError::io("reading the body from stdin"))?;
                buf
            }
        };
        if bytes.len() as u64 > limit {
            return Err(CliError::BodyTooLarge { limit });
        }
        Ok(Bytes::from(bytes))
    }
}

/// The most a call's body may be: the server's MAX_MESSAGE_SIZE, or its
/// MAX_FRAME_SIZE for a notification (one frame).
pub(crate) fn body_limit(peer: &slow_driver::Settings, notify: bool) -> u64 {
    u64::from(if notify {
        peer.max_frame_size
    } else {
        peer.max_message_size
    })
}

/// What came back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallOutcome {
    /// The response body (`None` for a notification).
    pub body: Option<Bytes>,
    /// Notifications that arrived before the response (e.g. `!notify`).
    pub notifications: Vec<Bytes>,
}

/// Makes the call with a client of runtime `kind`.
pub fn call(kind: RuntimeKind, options: &CallOptions) -> Result<CallOutcome, CliError> {
    if options.tls.is_some() {
        kind.tls_supported()?;
    }
    match kind {
        RuntimeKind::Custom => crate::custom::call(options),
        RuntimeKind::Compio => crate::compio_rt::call(options),
        // One connection needs one thread.
        _ => runtime::block_on(kind, Some(1), CallJob(options.clone())).and_then(|r| r),
    }
}

struct CallJob(CallOptions);

impl Job for CallJob {
    type Output = Result<CallOutcome, CliError>;

    async fn run<R: AsyncRuntime>(self, rt: R) -> Result<CallOutcome, CliError> {
        call_on(rt, self.0).await
    }
}

/// The call, on a runtime of either kind.
pub(crate) async fn call_on<R: Connects>(rt: R, o: CallOptions) -> Result<CallOutcome, CliError> {
    let client = connect(&rt, &o.addr, o.tls.as_ref(), o.connect_timeout).await?;
    let body = o.body.take(body_limit(&client.peer_settings(), o.notify))?;
    let outcome = if o.notify {
        client.notify(body)?;
        CallOutcome::default()
    } else {
        let mut notes = client.notifications();
        let response = match o.timeout {
            Some(t) => client.request_timeout(body, t).await,
            None => client.request(body).await,
        }?;
        let mut notifications = Vec::new();
        while let Some(Some(n)) = now_or_never(notes.recv()) {
            notifications.push(n);
        }
        CallOutcome {
            body: Some(response),
            notifications,
        }
    };
    // Graceful: a notification still queued goes out before the FIN.
    match timeout_at(&rt, Instant::now() + CLOSE_WAIT, client.close()).await {
        Some(Err(e)) if o.notify => Err(e.into()),
        _ => Ok(outcome),
    }
}

/// Connects within `limit` (over TLS with `tls`), with an error that says
/// where to (and, for a TLS handshake that failed, rustls's reason).
pub(crate) async fn connect<R: Connects>(
    rt: &R,
    addr: &str,
    tls: Option<&ClientTls>,
    limit: Duration,
) -> Result<Client<R>, CliError> {
    // The core bounds the handshake and says what did not come ("connected,
    // but no WELCOME within …"); the outer bound, a little later, catches a
    // TCP connect that never completes.
    let config = Config {
        handshake_timeout: limit,
        ..Config::default()
    };
    let connecting = rt.dial(addr, tls, config);
    let outer = limit + Duration::from_secs(1);
    match timeout_at(rt, Instant::now() + outer, connecting).await {
        Some(Ok(client)) => Ok(client),
        Some(Err(e)) => Err(CliError::Connect {
            addr: addr.into(),
            reason: match e {
                // It names the socket already: say it once.
                Error::Unix { source, .. } => source.to_string(),
                e => e.to_string(),
            },
        }),
        None => Err(CliError::Connect {
            addr: addr.into(),
            reason: format!("no connection within {} ms", outer.as_millis()),
        }),
    }
}

/// Polls `f` once: its value if it is ready now.
pub(crate) fn now_or_never<T>(f: impl Future<Output = T>) -> Option<T> {
    let f = pin!(f);
    match f.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// Where `addr` (`HOST:PORT`, resolved to its first address, or
/// `unix:PATH`) is, or an error that says which could not be reached.
pub fn endpoint(addr: &str) -> Result<slow_driver::Addr, CliError> {
    match addr.strip_prefix("unix:") {
        Some(path) => Ok(slow_driver::Addr::Unix(Some(path.into()))),
        None => resolve(addr).map(slow_driver::Addr::Tcp),
    }
}

/// The first address `addr` (`HOST:PORT`) resolves to, or an error that
/// says which address could not be reached. A `unix:PATH` is not one (the
/// callers take it before asking).
pub fn resolve(addr: &str) -> Result<std::net::SocketAddr, CliError> {
    use std::net::ToSocketAddrs;
    let failed = |reason: String| CliError::Connect {
        addr: addr.into(),
        reason,
    };
    if addr.starts_with("unix:") {
        return Err(failed("a Unix socket path, not HOST:PORT".into()));
    }
    addr.to_socket_addrs()
        .map_err(|e| failed(e.to_string()))?
        .next()
        .ok_or_else(|| failed("no address".into()))
}
