//! The connection itself: connect, handshake, send frames or raw bytes,
//! read frames back (checking on the way in what binds a server), and
//! upload from a second thread.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use slow_driver::Addr;
use slow_proto::frame::{self, Frame, FrameType, Handshake, Header, flags};
use slow_proto::{RequestId, Settings};

use super::PROMPT;
use super::expect::Answer;
use super::frames::{describe, hello_bytes, settings_block};
use super::tls::TlsConn;
use crate::conformance::{Fail, Target};

/// What a read found.
#[derive(Debug)]
pub(crate) enum Got {
    Frame(Frame),
    /// End of stream (or reset): the server closed the connection.
    Closed,
}

/// A socket to the server under test: TCP or a Unix socket, TLS on it
/// when the run was given TLS.
pub(super) enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsConn>),
}

impl Conn {
    fn open(target: &Target) -> std::io::Result<Conn> {
        let socket = match &target.addr {
            Addr::Tcp(addr) => {
                let stream = TcpStream::connect_timeout(addr, PROMPT)?;
                // One write is one segment as far as we can make it: the
                // checks decide how the bytes are cut, not Nagle.
                let _ = stream.set_nodelay(true);
                Conn::Tcp(stream)
            }
            Addr::Unix(Some(path)) => UnixStream::connect(path).map(Conn::Unix)?,
            other => {
                return Err(std::io::Error::new(
                    ErrorKind::InvalidInput,
                    format!("no way to connect to {other}"),
                ));
            }
        };
        match &target.tls {
            Some(tls) => TlsConn::handshake(socket, tls, PROMPT)
                .map(|c| Conn::Tls(Box::new(c)))
                .map_err(|e| std::io::Error::new(e.kind(), format!("TLS: {e}"))),
            None => Ok(socket),
        }
    }

    pub(super) fn try_clone(&self) -> std::io::Result<Conn> {
        match self {
            Conn::Tcp(s) => s.try_clone().map(Conn::Tcp),
            Conn::Unix(s) => s.try_clone().map(Conn::Unix),
            Conn::Tls(s) => s.try_clone().map(|c| Conn::Tls(Box::new(c))),
        }
    }

    pub(super) fn shutdown(&self, how: Shutdown) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.shutdown(how),
            Conn::Unix(s) => s.shutdown(how),
            Conn::Tls(s) => s.shutdown(how),
        }
    }

    pub(super) fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_read_timeout(t),
            Conn::Unix(s) => s.set_read_timeout(t),
            Conn::Tls(s) => s.set_read_timeout(t),
        }
    }

    pub(super) fn set_write_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_write_timeout(t),
            Conn::Unix(s) => s.set_write_timeout(t),
            Conn::Tls(s) => s.set_write_timeout(t),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One raw connection to the server under test.
pub(crate) struct Peer {
    stream: Conn,
    rx: BytesMut,
    /// The MAX_FRAME_SIZE we advertised: the server must not exceed it.
    our_max_frame: u32,
    /// What the server advertised in WELCOME (defaults before it).
    pub(crate) server: Settings,
    welcomed: bool,
    closed: bool,
    /// Answer the server's PINGs (keepalive) with PONG.
    pub(crate) auto_pong: bool,
    /// While another thread writes (see [`Uploader`]), PONGs go through it
    /// so that they do not land in the middle of its frames.
    pong_via: Option<mpsc::Sender<[u8; 8]>>,
    highest_sent: u32,
    /// RESPONSE bodies being reassembled.
    pub(super) partial: HashMap<u32, BytesMut>,
    /// Answers that arrived while another was awaited.
    pub(super) early: HashMap<u32, Answer>,
    /// Notifications that arrived while something else was awaited.
    pub(crate) notifications: Vec<Bytes>,
}

impl Peer {
    /// Opens a connection (TCP or Unix socket, TLS on it when the run has
    /// TLS, its handshake done); nothing of SLOW is sent yet.
    pub(crate) fn connect(target: &Target) -> Result<Peer, Fail> {
        let stream = Conn::open(target)
            .map_err(|e| Fail(format!("cannot connect to {}: {e}", target.addr)))?;
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        Ok(Peer {
            stream,
            rx: BytesMut::new(),
            our_max_frame: Settings::DEFAULT_MAX_FRAME_SIZE,
            server: Settings::default(),
            welcomed: false,
            closed: false,
            auto_pong: true,
            pong_via: None,
            highest_sent: 0,
            partial: HashMap::new(),
            early: HashMap::new(),
            notifications: Vec::new(),
        })
    }

    /// Connects and completes the handshake with default settings.
    pub(crate) fn open(target: &Target) -> Result<Peer, Fail> {
        Peer::open_with(target, &[])
    }

    /// Connects and completes the handshake advertising `settings`
    /// (key, value) entries.
    pub(crate) fn open_with(target: &Target, settings: &[(u16, u32)]) -> Result<Peer, Fail> {
        let mut peer = Peer::connect(target)?;
        peer.send_hello(frame::VERSION, &settings_block(settings))?;
        peer.expect_welcome()?;
        Ok(peer)
    }

    /// Sends HELLO with `version` and a raw settings `block`, and notes the
    /// MAX_FRAME_SIZE it advertises (if the block is valid).
    pub(crate) fn send_hello(&mut self, version: u8, block: &[u8]) -> Result<(), Fail> {
        if let Ok(s) = Settings::decode(block) {
            self.our_max_frame = s.max_frame_size;
        }
        self.send_raw(&hello_bytes(version, block))
    }

    /// Waits for WELCOME and records the server's settings.
    pub(crate) fn expect_welcome(&mut self) -> Result<Handshake, Fail> {
        let got = self
            .recv(PROMPT)
            .map_err(|Fail(why)| Fail(format!("expected WELCOME, but {why}")))?;
        match got {
            Got::Frame(Frame::Welcome(h)) => Ok(h),
            Got::Frame(other) => Err(Fail(format!("expected WELCOME, got {}", describe(&other)))),
            Got::Closed => Err(Fail("connection closed instead of WELCOME".into())),
        }
    }

    /// Sends one frame.
    pub(crate) fn send(&mut self, frame: &Frame) -> Result<(), Fail> {
        self.send_all(std::slice::from_ref(frame))
    }

    /// Sends several frames in one write.
    pub(crate) fn send_all(&mut self, frames: &[Frame]) -> Result<(), Fail> {
        let mut out = BytesMut::new();
        for frame in frames {
            self.note_sent(frame);
            frame.encode(&mut out);
        }
        self.send_raw(&out)
    }

    /// Sends frames one byte per write, pausing `pause` between writes so
    /// that the bytes arrive in separate segments.
    pub(crate) fn send_bytewise(&mut self, frames: &[Frame], pause: Duration) -> Result<(), Fail> {
        let mut out = BytesMut::new();
        for frame in frames {
            self.note_sent(frame);
            frame.encode(&mut out);
        }
        for b in out {
            self.send_raw(&[b])?;
            std::thread::sleep(pause);
        }
        Ok(())
    }

    /// Records that request `id` went out in bytes sent raw.
    pub(crate) fn mark_sent(&mut self, id: u32) {
        self.highest_sent = self.highest_sent.max(id);
    }

    fn note_sent(&mut self, frame: &Frame) {
        if let Frame::Request { id, .. } = frame {
            self.highest_sent = self.highest_sent.max(id.get());
        }
    }

    /// Sends bytes as they are. A failed write is not a failure by itself
    /// (the server may have closed on purpose); what is read next tells.
    pub(crate) fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Fail> {
        match self.stream.write_all(bytes) {
            Ok(()) => Ok(()),
            Err(e) if is_closed_error(&e) => Ok(()),
            Err(e) => Err(Fail(format!("write failed: {e}"))),
        }
    }

    /// Sends a header with no payload after it.
    pub(crate) fn send_header(
        &mut self,
        length: u32,
        ty: u8,
        flags: u8,
        id: u32,
    ) -> Result<(), Fail> {
        let mut out = BytesMut::new();
        Header {
            length,
            ty: FrameType(ty),
            flags,
            id,
        }
        .encode(&mut out);
        self.send_raw(&out)
    }

    /// Sends a whole frame built from parts (payload as given).
    pub(crate) fn send_parts(
        &mut self,
        ty: u8,
        flags: u8,
        id: u32,
        payload: &[u8],
    ) -> Result<(), Fail> {
        if ty == FrameType::REQUEST.0 {
            self.highest_sent = self.highest_sent.max(id);
        }
        self.send_raw(&super::frames::frame_bytes(ty, flags, id, payload))
    }

    /// A one-frame REQUEST.
    pub(crate) fn request(&mut self, id: u32, body: impl Into<Bytes>) -> Result<(), Fail> {
        self.send(&Frame::Request {
            id: RequestId::new(id),
            more: false,
            timeout_ms: None,
            body: body.into(),
        })
    }

    /// A one-frame REQUEST with a DEADLINE.
    pub(crate) fn request_deadline(
        &mut self,
        id: u32,
        body: impl Into<Bytes>,
        ms: u32,
    ) -> Result<(), Fail> {
        self.send(&Frame::Request {
            id: RequestId::new(id),
            more: false,
            timeout_ms: Some(ms),
            body: body.into(),
        })
    }

    /// Reads the next frame, waiting at most `within`. PINGs are answered
    /// (when `auto_pong`) and returned like any frame.
    pub(crate) fn recv(&mut self, within: Duration) -> Result<Got, Fail> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(frame) = self.take_frame()? {
                if let (Frame::Ping { data }, true) = (&frame, self.auto_pong) {
                    match &self.pong_via {
                        Some(uploader) => drop(uploader.send(*data)),
                        None => self.send(&Frame::Pong { data: *data })?,
                    }
                }
                return Ok(Got::Frame(frame));
            }
            if self.closed {
                return Ok(Got::Closed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Fail(format!(
                    "nothing received within {} ms",
                    within.as_millis()
                )));
            }
            self.fill(left)?;
        }
    }

    /// Like [`recv`](Peer::recv), skipping PING and PONG.
    pub(crate) fn recv_skipping_pings(&mut self, within: Duration) -> Result<Got, Fail> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left)? {
                Got::Frame(Frame::Ping { .. } | Frame::Pong { .. }) => continue,
                other => return Ok(other),
            }
        }
    }
}

impl Peer {
    /// server on the way.
    fn take_frame(&mut self) -> Result<Option<Frame>, Fail> {
        let Some(header) = Header::parse(&self.rx) else {
            return Ok(None);
        };
        let limit = if self.welcomed {
            self.our_max_frame
        } else {
            Settings::DEFAULT_MAX_FRAME_SIZE
        };
        let Some(frame) = frame::decode(&mut self.rx, limit).map_err(|e| {
            Fail(format!(
                "server sent an invalid frame ({:?}): {}",
                header, e.reason
            ))
        })?
        else {
            return Ok(None);
        };
        // Types this version does not define may define flags of their own.
        let allowed = match frame {
            Frame::Response { .. } => flags::MORE,
            Frame::Unknown { .. } => 0xFF,
            _ => 0,
        };
        if header.flags & !allowed != 0 {
            return Err(Fail(format!(
                "server set undefined flag bits {:#04x} on {}",
                header.flags,
                describe(&frame)
            )));
        }
        match &frame {
            Frame::Hello(_) | Frame::Request { .. } | Frame::Cancel { .. } => {
                return Err(Fail(format!(
                    "server sent a client's frame: {}",
                    describe(&frame)
                )));
            }
            Frame::Welcome(h) if !self.welcomed => {
                self.welcomed = true;
                self.server = *h.settings();
            }
            Frame::Welcome(_) => return Err(Fail("server sent a second WELCOME".into())),
            Frame::Response { id, .. } | Frame::Error { id, .. }
                if id.get() > self.highest_sent =>
            {
                return Err(Fail(format!(
                    "server answered request {id}, which was never sent"
                )));
            }
            _ => {}
        }
        Ok(Some(frame))
    }

    /// Reads more bytes, waiting at most `left`.
    fn fill(&mut self, left: Duration) -> Result<(), Fail> {
        let _ = self
            .stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))));
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => self.closed = true,
            Ok(n) => self.rx.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) if is_closed_error(&e) => self.closed = true,
            Err(e) => return Err(Fail(format!("read failed: {e}"))),
        }
        Ok(())
    }

    /// Starts writing `wire` (whole frames, request `id`) from another
    /// thread, so that this one can read meanwhile: a server may answer
    /// before the upload ends (a GOAWAY at the limit), or ping us.
    pub(crate) fn upload(&mut self, id: u32, frames: Vec<Bytes>) -> Result<Uploader, Fail> {
        self.mark_sent(id);
        let mut stream = self
            .stream
            .try_clone()
            .map_err(|e| Fail(format!("cannot clone the socket: {e}")))?;
        let (pongs, pending) = mpsc::channel::<[u8; 8]>();
        self.pong_via = Some(pongs);
        let thread = std::thread::spawn(move || {
            let mut write = |bytes: &[u8]| stream.write_all(bytes).is_ok();
            for frame in frames {
                for data in pending.try_iter() {
                    write(&pong_bytes(data));
                }
                if !write(&frame) {
                    return;
                }
            }
            // Until the check is over, PONGs still go out from here.
            for data in pending.iter() {
                write(&pong_bytes(data));
            }
        });
        Ok(Uploader { thread })
    }

    /// Ends an upload: the writer thread finishes.
    pub(crate) fn end_upload(&mut self, uploader: Uploader) {
        self.pong_via = None;
        let _ = self.stream.shutdown(Shutdown::Write);
        let _ = uploader.thread.join();
    }
}

/// A writer thread started by [`Peer::upload`].
pub(crate) struct Uploader {
    thread: std::thread::JoinHandle<()>,
}

fn pong_bytes(data: [u8; 8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    Frame::Pong { data }.encode(&mut out);
    out.to_vec()
}

fn is_closed_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
    )
}
