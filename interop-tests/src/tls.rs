//! The interop matrix over mutual TLS: how a cell's client dials a TLS
//! server ([`TlsDial`], a [`Dial`] for the scenario list), and a handler
//! wrapper that holds every request to the client's certificate
//! ([`Identified`]): the INTEROP service itself never looks at who asks,
//! so the check sits around it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use slow_driver::runtime::{Local, Reactor, RunsClient, Stream};
use slow_driver::tls::{ClientTls, TlsIdentity, TlsNetStream};
use slow_driver::{
    Client, Config, Error, ErrorReply, Handler, LocalHandler, LocalRequest, Peer, Reply, Request,
};

use crate::scenarios::Dial;

/// A TLS connection to `addr` (`HOST:PORT` or `unix:PATH`) with `tls`
/// (its roots and, for mutual TLS, the client certificate). A connection
/// whose server presented no certificate chain fails the dial.
#[derive(Debug, Clone)]
pub struct TlsDial {
    /// Where the server is.
    pub addr: String,
    /// The client's TLS.
    pub tls: ClientTls,
}

impl<R> Dial<R> for TlsDial
where
    R: Reactor<Stream: Stream, UnixStream: Stream>
        + RunsClient<TlsNetStream<R>, <R as Reactor>::Mode>,
{
    async fn dial(&self, rt: R, config: Config) -> Result<Client<R>, Error> {
        let client = Client::connect_tls_on(rt, &self.addr, &self.tls, config).await?;
        if client.tls_identity().is_none() {
            return Err(Error::Io(std::io::Error::other(
                "connected over TLS, but the server's certificate is not known",
            )));
        }
        Ok(client)
    }
}

/// The error code a request gets when its connection does not carry the
/// expected client certificate (an application code: above 0x00FF).
pub const NO_IDENTITY: u16 = 0x0E01;

/// What the handlers behind an [`Identified`] saw: requests and client
/// notifications on connections carrying the expected certificate, and
/// those without it (none, or another).
#[derive(Debug)]
pub struct IdentityLog {
    expected: Vec<u8>,
    /// With the expected certificate.
    pub verified: AtomicUsize,
    /// With no client certificate.
    pub anonymous: AtomicUsize,
    /// With another certificate.
    pub other: AtomicUsize,
}

impl IdentityLog {
    /// A log expecting the client certificate `der`.
    pub fn expecting(der: impl Into<Vec<u8>>) -> Arc<IdentityLog> {
        Arc::new(IdentityLog {
            expected: der.into(),
            verified: AtomicUsize::new(0),
            anonymous: AtomicUsize::new(0),
            other: AtomicUsize::new(0),
        })
    }

    /// Records what a request's peer presented; whether it is the expected
    /// certificate.
    fn record(&self, id: Option<TlsIdentity>) -> bool {
        let counter = match &id {
            Some(id) if id.certificate().as_ref() == self.expected.as_slice() => &self.verified,
            Some(_) => &self.other,
            None => &self.anonymous,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        std::ptr::eq(counter, &self.verified)
    }

    /// (verified, anonymous, other).
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.verified.load(Ordering::SeqCst),
            self.anonymous.load(Ordering::SeqCst),
            self.other.load(Ordering::SeqCst),
        )
    }
}

/// A handler that checks every request's `Peer::tls_identity()` against
/// the expected client certificate before `inner` answers it: a request
/// without it is answered ERROR [`NO_IDENTITY`] (so the scenario fails)
/// and counted in the [`IdentityLog`].
pub struct Identified<H> {
    inner: H,
    log: Arc<IdentityLog>,
}

impl<H> Identified<H> {
    /// Wraps `inner` (a [`Handler`] or a [`LocalHandler`]), logging into
    /// `log`.
    pub fn new(inner: H, log: Arc<IdentityLog>) -> Self {
        Identified { inner, log }
    }

    fn refusal() -> Reply {
        Err(ErrorReply::new(
            NO_IDENTITY,
            "the connection has not the expected client certificate",
        ))
    }
}

impl<H: Handler> Handler for Identified<H> {
    async fn request(&self, request: Request) -> Reply {
        if !self.log.record(request.peer.tls_identity()) {
            return Self::refusal();
        }
        self.inner.request(request).await
    }

    async fn notification(&self, body: Bytes, peer: Peer) {
        if self.log.record(peer.tls_identity()) {
            self.inner.notification(body, peer).await
        }
    }
}

impl<H: LocalHandler> LocalHandler for Identified<H> {
    async fn request(&self, request: LocalRequest) -> Reply {
        if !self.log.record(request.peer.tls_identity()) {
            return Self::refusal();
        }
        self.inner.request(request).await
    }

    async fn notification(&self, body: Bytes, peer: Peer<Local>) {
        if self.log.record(peer.tls_identity()) {
            self.inner.notification(body, peer).await
        }
    }
}
