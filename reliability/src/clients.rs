//! Running client code on each runtime: [`on_runtime!`](crate::on_runtime)
//! gives an async block the runtime value of the chosen kind (wrapped in a
//! task counter) and runs the block to completion on that runtime;
//! [`round_trip_as`] connects once (plaintext or TLS) on any runtime with
//! a client, the thread-per-core `local` included.

use std::time::Duration;

use interop_tests::scenarios::Dial;
use slow_async_std::AsyncStd;
use slow_driver::runtime::Reactor;
use slow_driver::{Config, Error};
use slow_local_example::PerCore;
use slow_smol::Smol;
use slow_tokio::Tokio;

use crate::servers::Kind;
use crate::tasks::Counted;

/// A tokio multi-thread runtime with 2 workers named `name`.
pub fn tokio_runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs `$body`, an async block that uses `$rt` (a
/// [`Counted`](crate::tasks::Counted) runtime of kind `$kind`), on that
/// runtime and returns its output. Client runtimes are tokio (a runtime of
/// its own, 2 workers), smol (the global executor) and async-std (the
/// global runtime); the custom loop has no async client, and compio's is
/// local (its futures are not `Send`), which the client code of these
/// tests (generic over `Runtime`) does not take.
///
/// ```ignore
/// let n = reliability::on_runtime!(Kind::Smol, |rt| async move {
///     let client = slow_driver::Client::connect_on(rt, addr, config).await?;
///     client.request("hi").await
/// });
/// ```
#[macro_export]
macro_rules! on_runtime {
    ($kind:expr, |$rt:ident| $body:expr) => {
        match $kind {
            $crate::servers::Kind::Tokio => {
                let runtime = $crate::clients::tokio_runtime("client-tokio");
                let $rt = $crate::tasks::Counted::new($crate::deps::slow_tokio::Tokio(
                    runtime.handle().clone(),
                ));
                let out = runtime.block_on($body);
                runtime.shutdown_timeout(::std::time::Duration::from_secs(1));
                out
            }
            $crate::servers::Kind::Smol => {
                let $rt = $crate::tasks::Counted::new($crate::deps::slow_smol::Smol::global());
                $crate::deps::smol::block_on($body)
            }
            $crate::servers::Kind::AsyncStd => {
                let $rt = $crate::tasks::Counted::new($crate::deps::slow_async_std::AsyncStd);
                $crate::deps::async_std::task::block_on($body)
            }
            $crate::servers::Kind::Custom => panic!("the custom example has no async client"),
            $crate::servers::Kind::Compio | $crate::servers::Kind::Local => {
                panic!(
                    "this runtime's client is local: these tests' clients run on `Send` runtimes"
                )
            }
        }
    };
}

/// A client of every async runtime that has one with TLS: tokio, smol,
/// async-std and the thread-per-core `local`. The custom loop's TLS client
/// is not an async one and its errors are its own types: it is
/// [`custom_round_trip`].
pub const TLS_CLIENTS: [Kind; 4] = [Kind::Tokio, Kind::Smol, Kind::AsyncStd, Kind::Local];

/// A way to connect that every [`TLS_CLIENTS`] runtime can dial: plaintext
/// TCP (a `SocketAddr`) or TLS (`interop_tests::tls::TlsDial`).
pub trait AnyDial:
    Dial<Counted<Tokio>>
    + Dial<Counted<Smol>>
    + Dial<Counted<AsyncStd>>
    + Dial<PerCore>
    + Clone
    + Send
    + 'static
{
}

impl<D> AnyDial for D where
    D: Dial<Counted<Tokio>>
        + Dial<Counted<Smol>>
        + Dial<Counted<AsyncStd>>
        + Dial<PerCore>
        + Clone
        + Send
        + 'static
{
}

/// What [`round_trip_as`] ended with: the client's error, or `None` when
/// the connection answered an echo and closed cleanly.
pub type RoundTrip = Result<(), Error>;

/// Connects with a client of `kind` through `dial`, asks one echo and
/// closes, on a thread of its own; `None` when that took over `limit`.
pub fn round_trip_as(kind: Kind, dial: impl AnyDial, limit: Duration) -> Option<RoundTrip> {
    let run = move || match kind {
        Kind::Local => {
            let rt = PerCore::new();
            rt.block_on(round_trip(rt.clone(), dial, limit))
        }
        kind => crate::on_runtime!(kind, |rt| round_trip(rt, dial, limit)),
    };
    std::thread::Builder::new()
        .name(format!("round-trip-{}", kind.name()))
        .spawn(run)
        .expect("spawn a client thread")
        .join()
        .expect("the client thread")
}

async fn round_trip<R: Reactor, D: Dial<R>>(rt: R, dial: D, limit: Duration) -> Option<RoundTrip> {
    crate::wait::timeout(&rt, limit, async {
        let client = dial.dial(rt.clone(), Config::default()).await?;
        let got = client.request("round trip").await?;
        assert_eq!(got, "round trip", "an echo answered otherwise");
        client.close().await
    })
    .await
}

/// How a custom-loop client's round trip failed ([`custom_round_trip`]):
/// the custom loop's own error types, not the driver's.
#[derive(Debug)]
pub enum CustomEnd {
    /// The loop refused to start the connection (a broken TLS config, a
    /// socket that would not open).
    Refused(slow_custom_example::ClientError),
    /// The connection ended before the echo was answered; `None` for a
    /// graceful close (a server's GOAWAY SHUTTING_DOWN before the
    /// handshake is `Some(ClosedBeforeHandshake)`).
    Closed(Option<slow_custom_example::ConnError>),
    /// The echo was answered otherwise.
    Request(slow_proto::RequestError),
}

/// Connects with the custom loop's client (`ClientLoop`, TLS when `tls`
/// is given, rustls's config and server name), asks one echo and closes,
/// on the calling thread; `None` when that took over `limit` (every wait
/// of the loop is bounded by what is left of it).
pub fn custom_round_trip(
    addr: std::net::SocketAddr,
    tls: Option<(
        std::sync::Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    limit: Duration,
) -> Option<Result<(), CustomEnd>> {
    use slow_custom_example::{ClientLoop, Completion};
    let end = std::time::Instant::now() + limit;
    let mut lp = ClientLoop::new().expect("a client loop");
    let started = match tls {
        Some((config, name)) => lp.connect_tls(addr, Config::default(), config, name),
        None => lp.connect(addr, Config::default()),
    };
    let conn = match started {
        Ok(conn) => conn,
        Err(e) => return Some(Err(CustomEnd::Refused(e))),
    };
    let mut asked = None;
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        match lp.next_completion(Some(left)).expect("the client loop") {
            Some(Completion::Connected { .. }) => {
                let id = lp
                    .request(conn, "round trip", None)
                    .expect("a request on a new connection");
                asked = Some(id);
            }
            Some(Completion::Response { id, body, .. }) if Some(id) == asked => {
                assert_eq!(body, "round trip", "an echo answered otherwise");
                lp.close(conn).expect("close");
            }
            Some(Completion::Failed { error, .. }) => {
                return Some(Err(CustomEnd::Request(error)));
            }
            // After our close: clean unless the error says otherwise.
            Some(Completion::Closed { error: None, .. }) if asked.is_some() => {
                return Some(Ok(()));
            }
            Some(Completion::Closed { error, .. }) => {
                return Some(Err(CustomEnd::Closed(error)));
            }
            Some(_) => {}
            None => return None,
        }
    }
}
