//! Raw TLS peers, for the hostile TLS scenarios (`tests/tls.rs`): TLS
//! records as they come off the wire (the alert a server sent before any
//! key was agreed), a real ClientHello made by rustls, and a peer that
//! completes the server's half of a handshake with rustls and then sends
//! whatever it likes, reading the server's (encrypted) answer back through
//! the same rustls client.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rustls::{AlertDescription, ClientConnection};
use slow_driver::tls::ClientTls;

use crate::raw::Ending;

/// TLS record content types.
pub mod content {
    /// change_cipher_spec.
    pub const CHANGE_CIPHER_SPEC: u8 = 0x14;
    /// alert.
    pub const ALERT: u8 = 0x15;
    /// handshake.
    pub const HANDSHAKE: u8 = 0x16;
    /// application_data (in TLS 1.3, every encrypted record).
    pub const APPLICATION_DATA: u8 = 0x17;
}

/// A record's header length: type, version (2), length (2).
pub const RECORD_HEADER: usize = 5;

/// One TLS record as read: its content type and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The content type ([`content`]).
    pub ty: u8,
    /// The payload (encrypted, past the handshake).
    pub payload: Vec<u8>,
}

/// The whole records at the front of `bytes`, in order (a cut one at the
/// end is left out).
pub fn records(mut bytes: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    while bytes.len() >= RECORD_HEADER {
        let len = usize::from(u16::from_be_bytes([bytes[3], bytes[4]]));
        if bytes.len() < RECORD_HEADER + len {
            break;
        }
        out.push(Record {
            ty: bytes[0],
            payload: bytes[RECORD_HEADER..RECORD_HEADER + len].to_vec(),
        });
        bytes = &bytes[RECORD_HEADER + len..];
    }
    out
}

/// The first plaintext alert in `bytes` (one sent before any key was
/// agreed): its level (2: fatal) and description.
pub fn plaintext_alert(bytes: &[u8]) -> Option<(u8, AlertDescription)> {
    records(bytes)
        .into_iter()
        .find(|r| r.ty == content::ALERT && r.payload.len() == 2)
        .map(|r| (r.payload[0], AlertDescription::from(r.payload[1])))
}

/// A record header with any values (version TLS 1.2 on the wire, as
/// TLS 1.3 records carry).
pub fn record_header(ty: u8, len: u16) -> [u8; RECORD_HEADER] {
    let [hi, lo] = len.to_be_bytes();
    [ty, 0x03, 0x03, hi, lo]
}

/// A rustls client for `name` with `tls`, and the ClientHello it would
/// send first (one handshake record, or more).
pub fn client_hello(tls: &ClientTls, name: &str) -> (ClientConnection, Vec<u8>) {
    let config = tls.config().expect("client TLS config");
    let name = tls.name_for(name).expect("server name");
    let mut conn = ClientConnection::new(config, name).expect("rustls client");
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).expect("write to a Vec");
    }
    (conn, hello)
}

/// Reads from `stream` until end of stream, a reset or `limit`; what came
/// and how it ended ([`Ending::Silent`]: still open at `limit`).
pub fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Ending) {
    let end = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (got, Ending::Silent);
        }
        if stream.set_read_timeout(Some(left)).is_err() {
            return (got, Ending::Reset);
        }
        match stream.read(&mut buf) {
            Ok(0) => return (got, Ending::Eof),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return (got, Ending::Silent);
            }
            Err(_) => return (got, Ending::Reset),
        }
    }
}

/// A TCP connection on which a rustls client has sent its ClientHello and
/// taken in the server's whole first flight (in TLS 1.3 up to the
/// server's Finished), but sent nothing more: what follows on the socket
/// is the scenario's.
pub struct HalfHandshake {
    /// The socket.
    pub stream: TcpStream,
    /// The rustls client, keys agreed: it reads the server's encrypted
    /// records.
    pub conn: ClientConnection,
}

impl HalfHandshake {
    /// Connects to `addr`, sends a ClientHello for `name` and reads until
    /// the client has the server's Finished (at most `limit`).
    pub fn start(
        addr: SocketAddr,
        tls: &ClientTls,
        name: &str,
        limit: Duration,
    ) -> io::Result<HalfHandshake> {
        let mut stream = TcpStream::connect_timeout(&addr, limit)?;
        let _ = stream.set_nodelay(true);
        let (mut conn, hello) = client_hello(tls, name);
        stream.write_all(&hello)?;
        let end = Instant::now() + limit;
        let mut buf = [0u8; 16 * 1024];
        while conn.is_handshaking() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            stream.set_read_timeout(Some(left))?;
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let mut chunk = &buf[..n];
            while !chunk.is_empty() {
                conn.read_tls(&mut chunk)?;
                conn.process_new_packets().map_err(io::Error::other)?;
            }
        }
        Ok(HalfHandshake { stream, conn })
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads until the server closes (at most `limit`), passing what came
    /// through the rustls client: the error it reports (the server's alert
    /// is `AlertReceived`), and how the stream ended.
    pub fn server_verdict(&mut self, limit: Duration) -> (Option<rustls::Error>, Ending) {
        let (got, ending) = read_until_closed(&mut self.stream, limit);
        let mut rest = &got[..];
        while !rest.is_empty() {
            if self.conn.read_tls(&mut rest).is_err() {
                break;
            }
            if let Err(e) = self.conn.process_new_packets() {
                return (Some(e), ending);
            }
        }
        (None, ending)
    }
}
