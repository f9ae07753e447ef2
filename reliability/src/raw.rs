//! A raw SLOW peer over a blocking std socket: it sends whatever bytes a
//! scenario wants (valid frames, garbage, nothing at all) and reads what
//! the other side answers frame by frame, so hostile behaviour can be
//! played byte for byte, independently of the runtime under test.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use slow_proto::frame::{Frame, HEADER_LEN, Handshake, Header, VERSION};
use slow_proto::{ErrorCode, Settings};

/// One frame as it came off the wire: header and payload, not interpreted.
#[derive(Debug, Clone)]
pub struct RawFrame {
    /// The ten header bytes, parsed.
    pub header: Header,
    /// The payload.
    pub payload: Bytes,
}

impl RawFrame {
    /// The code and last id, if this is a GOAWAY.
    pub fn goaway(&self) -> Option<(ErrorCode, u32)> {
        (self.header.ty.0 == 0x0A && self.payload.len() >= 2).then(|| {
            (
                ErrorCode(u16::from_be_bytes([self.payload[0], self.payload[1]])),
                self.header.id,
            )
        })
    }
}

/// How a wait for the peer's GOAWAY ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A GOAWAY with this code and last id.
    GoAway(ErrorCode, u32),
    /// End of stream, no GOAWAY.
    Eof,
    /// The socket failed (reset) before a GOAWAY.
    Reset,
    /// Nothing within the time.
    Silent,
}

/// A blocking connection that speaks bytes, not protocol.
pub struct RawPeer {
    stream: TcpStream,
    rx: BytesMut,
    eof: bool,
}

impl RawPeer {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> io::Result<RawPeer> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        Ok(RawPeer::from_stream(stream))
    }

    /// Wraps an accepted or connected stream.
    pub fn from_stream(stream: TcpStream) -> RawPeer {
        let _ = stream.set_nodelay(true);
        RawPeer {
            stream,
            rx: BytesMut::new(),
            eof: false,
        }
    }

    /// Connects and completes the client handshake with `settings`; returns
    /// the server's settings.
    pub fn client(addr: SocketAddr, settings: &Settings) -> io::Result<(RawPeer, Settings)> {
        let mut peer = RawPeer::connect(addr)?;
        peer.send(&hello(settings))?;
        let frame = peer
            .read_frame(Duration::from_secs(10))?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no WELCOME"))?;
        match slow_proto::frame::parse(frame.header, frame.payload) {
            Ok(Frame::Welcome(w)) => Ok((peer, *w.settings())),
            other => Err(io::Error::other(format!("expected WELCOME, got {other:?}"))),
        }
    }

    /// The socket alone (what was read ahead is dropped).
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }

    /// The socket, for options and non-blocking use.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes one frame.
    pub fn send(&mut self, frame: &Frame) -> io::Result<()> {
        self.stream.write_all(&encode(frame))
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Closes our sending side (the peer reads end of stream).
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Write)
    }

    /// The next frame, waiting at most `limit`; `Ok(None)` at end of stream,
    /// `Err(TimedOut)` when nothing whole came in time.
    pub fn read_frame(&mut self, limit: Duration) -> io::Result<Option<RawFrame>> {
        let end = Instant::now() + limit;
        loop {
            if let Some(f) = self.take_frame() {
                return Ok(Some(f));
            }
            if self.eof {
                return Ok(None);
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
            let mut buf = [0u8; 16 * 1024];
            match self.stream.read(&mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.rx.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads (and discards) frames until a GOAWAY, end of stream, a reset
    /// or `limit`.
    pub fn wait_goaway(&mut self, limit: Duration) -> Ending {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.read_frame(left) {
                Ok(Some(f)) => {
                    if let Some((code, last)) = f.goaway() {
                        return Ending::GoAway(code, last);
                    }
                }
                Ok(None) => return Ending::Eof,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ending::Silent,
                Err(_) => return Ending::Reset,
            }
        }
    }

    /// Whether the stream ends (end of stream or reset) within `limit`,
    /// discarding whatever else arrives.
    pub fn wait_closed(&mut self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.read_frame(left) {
                Ok(Some(_)) => {}
                Ok(None) => return true,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return false,
                Err(_) => return true,
            }
        }
    }

    fn take_frame(&mut self) -> Option<RawFrame> {
        take_frame(&mut self.rx)
    }
}

/// Takes one whole frame off the front of `buf`, if one is there.
pub fn take_frame(buf: &mut BytesMut) -> Option<RawFrame> {
    let header = Header::parse(buf)?;
    let total = HEADER_LEN + header.length as usize;
    if buf.len() < total {
        return None;
    }
    let mut payload = buf.split_to(total).freeze();
    payload.advance(HEADER_LEN);
    Some(RawFrame { header, payload })
}

/// A HELLO advertising `settings`.
pub fn hello(settings: &Settings) -> Frame {
    Frame::Hello(Handshake::new(VERSION, settings))
}

/// A WELCOME advertising `settings`.
pub fn welcome(settings: &Settings) -> Frame {
    Frame::Welcome(Handshake::new(VERSION, settings))
}

/// A single-frame REQUEST.
pub fn request(id: u32, body: impl Into<Bytes>) -> Frame {
    Frame::Request {
        id: id.into(),
        more: false,
        timeout_ms: None,
        body: body.into(),
    }
}

/// A frame's bytes.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    frame.encode(&mut out);
    out.to_vec()
}

/// A frame header with any values, valid or not.
pub fn header(length: u32, ty: u8, flags: u8, id: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    Header {
        length,
        ty: slow_proto::frame::FrameType(ty),
        flags,
        id,
    }
    .encode(&mut out);
    out
}

/// A frame from raw parts: header then payload, as given.
pub fn raw_frame(ty: u8, flags: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = header(payload.len() as u32, ty, flags, id);
    out.extend_from_slice(payload);
    out
}
