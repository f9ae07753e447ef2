//! What only TLS has: the identities each side of a mutual-TLS connection
//! sees, a server that requires one, and TLS's own half-close
//! (close_notify). Run over [`MutualTls`](crate::MutualTls) only.

use std::future::poll_fn;

use bytes::{Bytes, BytesMut};
use slow_driver::runtime::{Listener, Reactor, RunsClient, Stream};
use slow_driver::tls::{ClientTls, TlsNetStream, TlsStream};
use slow_driver::{Client, Config, Error};

use crate::combinators::join2;
use crate::fixtures::Running;
use crate::handler::Answer;
use crate::raw::{RawIo, ReadinessIo};
use crate::runner::{ModeOf, TestRuntime, TestRuntimeExt};
use crate::wire::{Wire, client_tls, pki, server_tls};

/// The handler sees the client's certificate (in `req.peer` and in the
/// peer it keeps), the client sees the server's; a client without a
/// certificate of its own is refused with a TLS error, and the server
/// goes on serving.
pub async fn mutual_tls_identities_both_ways<T: TestRuntime, W: Wire<T>>()
where
    T::Runtime: Reactor<Stream: Stream, UnixStream: Stream>
        + RunsClient<TlsNetStream<T::Runtime>, ModeOf<T>>,
{
    let pki = pki();
    // Answers with the client's certificate, as the handler sees it.
    let (handler, peers) = T::handler(|req| {
        let id = req.peer.tls_identity();
        Answer::now(Ok(id.map_or_else(Bytes::new, |id| {
            Bytes::copy_from_slice(id.certificate())
        })))
    })
    .keeping_peers();
    let server = Running::<T, W>::start(handler).await;
    let client = server.client().await;

    let seen = client.request("who am I").await.unwrap();
    assert_eq!(
        &seen[..],
        &pki.client.cert_der[..],
        "the handler saw our certificate"
    );
    let peer = peers.lock().unwrap()[0].clone();
    let theirs = peer.tls_identity().expect("the peer's identity");
    assert_eq!(theirs.chain().len(), 1, "the client sent its leaf only");
    assert_eq!(&theirs.certificate()[..], &pki.client.cert_der[..]);

    let chain = client.tls_identity().expect("the server's chain");
    assert_eq!(chain.chain().len(), 1, "the server sent its leaf only");
    assert_eq!(&chain.certificate()[..], &pki.server.cert_der[..]);
    assert_ne!(&chain.certificate()[..], &pki.ca_der[..]);

    // Mutual: no certificate, no connection.
    let anonymous = ClientTls::from_ca_pem(pki.ca.as_bytes()).expect("roots");
    let runtime = T::Runtime::current().expect("runtime");
    let refused = T::bounded(
        "an anonymous connect",
        Client::connect_tls_on(runtime, server.addr, &anonymous, Config::default()),
    )
    .await;
    match refused {
        Err(Error::Tls { .. }) => {}
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(_) => panic!("a client without a certificate was served"),
    }
    assert_eq!(
        client.request("still").await.unwrap(),
        &pki.client.cert_der[..]
    );
    client.close().await.unwrap();
}

/// TLS on the runtime's TCP and Unix streams half-closes: our shutdown
/// finishes the handshake (what was written during it goes first), sends
/// close_notify and a FIN; the peer reads what we wrote, then end of
/// stream, while the stream stays open: what the peer sends afterwards is
/// still read. (The TLS counterpart of
/// [`streams_half_close_with_a_fin`](crate::scenarios::connections::streams_half_close_with_a_fin);
/// it opens its own sockets, with the test PKI's TLS on both ends.)
pub async fn tls_streams_half_close_with_close_notify<T: TestRuntime, W: Wire<T>>()
where
    T::Runtime: Reactor<Stream: Stream, UnixStream: Stream>,
{
    /// Writes, shuts `ours` down, checks the peer reads it all and then
    /// end of stream, then that `ours` still reads what the peer sends.
    async fn half_close<T: TestRuntime, S: Stream, P: Stream>(
        mut ours: TlsStream<S>,
        mut peer: TlsStream<P>,
    ) {
        let n = ReadinessIo::write(&mut ours, b"before")
            .await
            .expect("write");
        assert_eq!(n, 6, "a write during the handshake is held whole");
        let peer_reads = async {
            let mut buf = BytesMut::new();
            loop {
                let n = ReadinessIo::read(&mut peer, &mut buf)
                    .await
                    .expect("peer read");
                if n == 0 {
                    break buf;
                }
            }
        };
        let (shut, got) = T::bounded(
            "the shutdown and the peer's end of stream",
            join2(ReadinessIo::shutdown(&mut ours), peer_reads),
        )
        .await;
        shut.expect("shutdown");
        assert_eq!(
            &got[..],
            b"before",
            "the peer read what we wrote, then end of stream"
        );
        assert!(!ours.is_handshaking());
        assert!(peer.identity().is_some(), "the peer saw our certificate");

        let mut at = 0;
        while at < 5 {
            at += ReadinessIo::write(&mut peer, &b"after"[at..])
                .await
                .expect("peer write");
        }
        let mut buf = BytesMut::new();
        while buf.len() < 5 {
            let n = T::bounded(
                "read after shutdown",
                ReadinessIo::read(&mut ours, &mut buf),
            )
            .await
            .expect("read");
            assert!(n > 0, "end of stream before the peer's bytes");
        }
        assert_eq!(&buf[..], b"after");
    }

    let runtime = T::Runtime::current().expect("runtime");
    let name = || client_tls().name_for("localhost").expect("name");

    let mut listener = runtime
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").tcp().expect("tcp");
    let ours = T::bounded("connect", runtime.connect(addr))
        .await
        .expect("connect");
    let (peer, _) = T::bounded("accept", poll_fn(|cx| listener.poll_accept(cx)))
        .await
        .expect("accept");
    let ours = client_tls().connect(ours, name()).expect("TLS client");
    let peer = server_tls().accept(peer).expect("TLS server");
    half_close::<T, _, _>(ours, peer).await;

    let dir = std::env::temp_dir().join(format!("slow-tls-fin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("socket dir");
    let path = dir.join(format!("{}.sock", std::any::type_name::<T>().len()));
    let _ = std::fs::remove_file(&path);
    let std_listener = std::os::unix::net::UnixListener::bind(&path).expect("bind unix");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let mut listener = runtime.unix_listener(std_listener).expect("unix listener");
    let ours = T::bounded("connect unix", runtime.connect_unix(path.clone()))
        .await
        .expect("connect unix");
    let (peer, _) = T::bounded("accept unix", poll_fn(|cx| listener.poll_accept(cx)))
        .await
        .expect("accept unix");
    let ours = client_tls().connect(ours, name()).expect("TLS client");
    let peer = server_tls().accept(peer).expect("TLS server");
    half_close::<T, _, _>(ours, peer).await;
    let _ = std::fs::remove_file(&path);
}
