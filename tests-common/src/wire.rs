//! What a scenario's connections run over: plaintext ([`Plain`]) or mutual
//! TLS ([`MutualTls`]). The scenarios are written once, generic over the
//! [`Wire`]; it decides how a server serves, how a client connects and what
//! a raw peer's socket carries, so that the same scenario runs over both.
//!
//! The TLS wire uses the adapters' own entry points (`Server::tls`,
//! `Client::connect_tls_on`), with one [`Pki`] per test binary: the server
//! requires a client certificate signed by its CA, and every client
//! presents one. Its raw peers speak TLS too ([`ClientTls::connect`] and
//! [`ServerTls::accept`] on the runtime's own socket), so a hand-encoded
//! frame still reaches the driver only through rustls.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;

use bytes::Bytes;
use slow_driver::net::NetStream;
use slow_driver::runtime::{LocalRuntime, Reactor, RunsClient, RunsServer, Runtime, Stream};
use slow_driver::tls::{ClientTls, ServerTls, TlsNetStream, TlsStream};
use slow_driver::{
    Client, Config, Error, Handler, LocalHandler, LocalRequest, Peer, Reply, Request, Server,
};
use slow_interop::driver::InteropService;

use crate::handler::TestHandler;
use crate::pki::Pki;
use crate::raw::{RawIo, ReadinessIo};
use crate::runner::{ModeOf, TestRuntime};

/// How the scenarios on `T` serve, connect and open raw sockets. Two
/// wires: [`Plain`] and [`MutualTls`]; [`scenario_tests!`](crate::scenario_tests)
/// picks one. Its bounds on the runtime are on each impl, checked where
/// the macro names a concrete runtime.
pub trait Wire<T: TestRuntime>: 'static {
    /// What a raw peer reads and writes: the runtime's TCP stream, or TLS
    /// on it.
    type RawStream;
    /// How a raw peer reads and writes it.
    type Io: RawIo<Self::RawStream>;

    /// Serves `served` on `server` until `shutdown` (over TLS, if the wire
    /// is TLS).
    fn serve(
        server: Server<T::Runtime>,
        served: Served<T::Runtime>,
        shutdown: impl Future<Output = ()> + 'static,
    ) -> impl Future<Output = Result<(), Error>>;

    /// Connects a client to `addr` with `config`, on the caller's runtime.
    fn connect(
        addr: SocketAddr,
        config: Config,
    ) -> impl Future<Output = Result<Client<T::Runtime>, Error>>;

    /// A raw client's stream over `tcp`, a socket connected to a server.
    fn raw_client(tcp: <T::Runtime as Reactor>::Stream) -> Self::RawStream;

    /// A raw server's stream over `tcp`, a socket it accepted.
    fn raw_server(tcp: <T::Runtime as Reactor>::Stream) -> Self::RawStream;
}

/// What a scenario's server serves: a [`TestHandler`] or the INTEROP
/// service (one type, so that a [`Wire`] serves either).
pub enum Served<R: Reactor> {
    /// A handler of the scenario's own.
    Test(TestHandler<R>),
    /// The INTEROP service.
    Interop(InteropService<R>),
}

impl<R: Reactor> From<TestHandler<R>> for Served<R> {
    fn from(handler: TestHandler<R>) -> Self {
        Served::Test(handler)
    }
}

impl<R: Reactor> From<InteropService<R>> for Served<R> {
    fn from(service: InteropService<R>) -> Self {
        Served::Interop(service)
    }
}

impl<R: Runtime> Handler for Served<R> {
    async fn request(&self, request: Request) -> Reply {
        match self {
            Served::Test(h) => Handler::request(h, request).await,
            Served::Interop(s) => Handler::request(s, request).await,
        }
    }

    async fn notification(&self, body: Bytes, peer: Peer) {
        match self {
            Served::Test(h) => Handler::notification(h, body, peer).await,
            Served::Interop(s) => Handler::notification(s, body, peer).await,
        }
    }
}

impl<R: LocalRuntime> LocalHandler for Served<R> {
    async fn request(&self, request: LocalRequest) -> Reply {
        match self {
            Served::Test(h) => LocalHandler::request(h, request).await,
            Served::Interop(s) => LocalHandler::request(s, request).await,
        }
    }

    async fn notification(&self, body: Bytes, peer: Peer<slow_driver::runtime::Local>) {
        match self {
            Served::Test(h) => LocalHandler::notification(h, body, peer).await,
            Served::Interop(s) => LocalHandler::notification(s, body, peer).await,
        }
    }
}

/// What a plaintext connection runs over on `R`.
type Net<R> = NetStream<<R as Reactor>::Stream, <R as Reactor>::UnixStream>;

/// Plaintext: the runtime's sockets as they are.
#[derive(Debug)]
pub enum Plain {}

impl<T: TestRuntime> Wire<T> for Plain
where
    T::Runtime: RunsServer<Net<T::Runtime>, Served<T::Runtime>, ModeOf<T>>,
{
    type RawStream = <T::Runtime as Reactor>::Stream;
    type Io = T::Raw;

    fn serve(
        server: Server<T::Runtime>,
        served: Served<T::Runtime>,
        shutdown: impl Future<Output = ()> + 'static,
    ) -> impl Future<Output = Result<(), Error>> {
        server.serve_with_shutdown(served, shutdown)
    }

    async fn connect(addr: SocketAddr, config: Config) -> Result<Client<T::Runtime>, Error> {
        Client::connect_with(addr, config).await
    }

    fn raw_client(tcp: <T::Runtime as Reactor>::Stream) -> Self::RawStream {
        tcp
    }

    fn raw_server(tcp: <T::Runtime as Reactor>::Stream) -> Self::RawStream {
        tcp
    }
}

/// Mutual TLS: the server requires a client certificate signed by the test
/// CA ([`pki`]), every client presents one and verifies the server's
/// certificate for `127.0.0.1`. Readiness streams only (rustls runs on
/// [`Stream`]s).
#[derive(Debug)]
pub enum MutualTls {}

impl<T: TestRuntime> Wire<T> for MutualTls
where
    T::Runtime: Reactor<Stream: Stream, UnixStream: Stream>
        + RunsServer<TlsNetStream<T::Runtime>, Served<T::Runtime>, ModeOf<T>>
        + RunsClient<TlsNetStream<T::Runtime>, ModeOf<T>>,
{
    type RawStream = TlsStream<<T::Runtime as Reactor>::Stream>;
    type Io = ReadinessIo;

    fn serve(
        server: Server<T::Runtime>,
        served: Served<T::Runtime>,
        shutdown: impl Future<Output = ()> + 'static,
    ) -> impl Future<Output = Result<(), Error>> {
        server
            .tls(server_tls().clone())
            .serve_with_shutdown(served, shutdown)
    }

    async fn connect(addr: SocketAddr, config: Config) -> Result<Client<T::Runtime>, Error> {
        Client::connect_tls_on(T::Runtime::current()?, addr, client_tls(), config).await
    }

    fn raw_client(tcp: <T::Runtime as Reactor>::Stream) -> Self::RawStream {
        let name = client_tls().name_for("127.0.0.1").expect("server name");
        client_tls().connect(tcp, name).expect("raw TLS client")
    }

    fn raw_server(tcp: <T::Runtime as Reactor>::Stream) -> Self::RawStream {
        server_tls().accept(tcp).expect("raw TLS server")
    }
}

/// The test binary's one PKI (made on first use: a key pair per
/// certificate is not free, and every scenario shares it).
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(Pki::new)
}

/// The server's TLS: the [`pki`]'s server certificate, client
/// certificates signed by its CA required.
pub fn server_tls() -> &'static ServerTls {
    static TLS: OnceLock<ServerTls> = OnceLock::new();
    TLS.get_or_init(|| {
        let pki = pki();
        ServerTls::from_pem(
            pki.server.cert.as_bytes(),
            pki.server.key.as_bytes(),
            Some(pki.ca.as_bytes()),
        )
        .expect("server TLS")
    })
}

/// A client's TLS: trusting the [`pki`]'s CA, presenting its client
/// certificate.
pub fn client_tls() -> &'static ClientTls {
    static TLS: OnceLock<ClientTls> = OnceLock::new();
    TLS.get_or_init(|| {
        let pki = pki();
        ClientTls::from_ca_pem(pki.ca.as_bytes())
            .expect("roots")
            .client_cert_pem(pki.client.cert.as_bytes(), pki.client.key.as_bytes())
            .expect("client certificate")
    })
}
