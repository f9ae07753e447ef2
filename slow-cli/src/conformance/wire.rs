//! A raw SLOW client for the checks: blocking `std::net`, one frame at a
//! time, encoded and decoded with `slow_proto::frame` only. It shares no
//! code with our `Client`, so a check sees exactly what the server sends,
//! and can send what no well-behaved client would.
//!
//! Everything the server sends is checked on the way in against the rules
//! that bind a server (undefined flag bits sent as 0, frame types of its
//! role, ids that were used, our advertised MAX_FRAME_SIZE), so every check
//! also checks those.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use slow_proto::frame::{self, Frame, FrameType, Handshake, Header, flags};
use slow_proto::{ErrorCode, Settings};

use super::Fail;

/// How long a check waits for an answer that should come at once.
pub(crate) const PROMPT: Duration = Duration::from_secs(2);
/// How long a check waits for the stream to end after a GOAWAY.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The server's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The reassembled RESPONSE body.
    Body(Bytes),
    /// An ERROR frame.
    Error(ErrorCode, String),
}

impl Answer {
    /// A short description for failure messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Answer::Body(b) => format!("RESPONSE {}", show_body(b)),
            Answer::Error(code, msg) => format!("ERROR {code} {msg:?}"),
        }
    }
}

/// What a read found.
#[derive(Debug)]
pub(crate) enum Got {
    Frame(Frame),
    /// End of stream (or reset): the server closed the connection.
    Closed,
}

/// One raw connection to the server under test.
pub(crate) struct Peer {
    stream: TcpStream,
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
    partial: HashMap<u32, BytesMut>,
    /// Answers that arrived while another was awaited.
    early: HashMap<u32, Answer>,
    /// Notifications that arrived while something else was awaited.
    pub(crate) notifications: Vec<Bytes>,
}

impl Peer {
    /// Opens a TCP connection; nothing is sent yet.
    pub(crate) fn connect(addr: SocketAddr) -> Result<Peer, Fail> {
        let stream = TcpStream::connect_timeout(&addr, PROMPT)
            .map_err(|e| Fail(format!("cannot connect to {addr}: {e}")))?;
        // One write is one segment as far as we can make it: the checks
        // decide how the bytes are cut, not Nagle.
        let _ = stream.set_nodelay(true);
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
    pub(crate) fn open(addr: SocketAddr) -> Result<Peer, Fail> {
        Peer::open_with(addr, &[])
    }

    /// Connects and completes the handshake advertising `settings`
    /// (key, value) entries.
    pub(crate) fn open_with(addr: SocketAddr, settings: &[(u16, u32)]) -> Result<Peer, Fail> {
        let mut peer = Peer::connect(addr)?;
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
            self.highest_sent = self.highest_sent.max(*id);
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
        let mut out = BytesMut::new();
        Header {
            length: payload.len() as u32,
            ty: FrameType(ty),
            flags,
            id,
        }
        .encode(&mut out);
        out.put_slice(payload);
        self.send_raw(&out)
    }

    /// A one-frame REQUEST.
    pub(crate) fn request(&mut self, id: u32, body: impl Into<Bytes>) -> Result<(), Fail> {
        self.send(&Frame::Request {
            id,
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
            id,
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

    /// Expects GOAWAY `code` (before anything but PING/PONG), then the end
    /// of the stream; returns the GOAWAY's last id.
    pub(crate) fn expect_goaway(&mut self, code: ErrorCode, within: Duration) -> Result<u32, Fail> {
        let got = self
            .recv_skipping_pings(within)
            .map_err(|Fail(why)| Fail(format!("expected GOAWAY {code}, but {why}")))?;
        match got {
            Got::Frame(Frame::GoAway {
                code: c, last_id, ..
            }) if c == code => {
                if !code.is_graceful() {
                    self.expect_end()?;
                }
                Ok(last_id)
            }
            Got::Frame(other) => Err(Fail(format!(
                "expected GOAWAY {code}, got {}",
                describe(&other)
            ))),
            Got::Closed => Err(Fail(format!("connection closed without GOAWAY {code}"))),
        }
    }

    /// Expects the stream to end with nothing more than PING/PONG before.
    pub(crate) fn expect_end(&mut self) -> Result<(), Fail> {
        match self.recv_skipping_pings(CLOSE_WAIT) {
            Ok(Got::Closed) => Ok(()),
            Ok(Got::Frame(f)) => Err(Fail(format!("{} after the GOAWAY", describe(&f)))),
            Err(_) => Err(Fail(format!(
                "the stream did not end within {} ms of the GOAWAY",
                CLOSE_WAIT.as_millis()
            ))),
        }
    }

    /// Waits for the answer to request `id`.
    pub(crate) fn answer(&mut self, id: u32, within: Duration) -> Result<Answer, Fail> {
        let mut all = self.answers(&[id], within)?;
        Ok(all.remove(&id).expect("answers returns every id"))
    }

    /// Waits for the answers to every request in `ids` (in any order),
    /// reassembling multi-frame responses. A GOAWAY or the end of the
    /// stream before they are all in fails.
    pub(crate) fn answers(
        &mut self,
        ids: &[u32],
        within: Duration,
    ) -> Result<HashMap<u32, Answer>, Fail> {
        let deadline = Instant::now() + within;
        let mut done = HashMap::new();
        for id in ids {
            if let Some(a) = self.early.remove(id) {
                done.insert(*id, a);
            }
        }
        while done.len() < ids.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = self.recv(left).map_err(|Fail(why)| {
                let missing: Vec<_> = ids.iter().filter(|i| !done.contains_key(*i)).collect();
                Fail(format!("no answer for request {missing:?}: {why}"))
            })?;
            let Some((id, answer)) = self.on_frame(got)? else {
                continue;
            };
            if ids.contains(&id) {
                done.insert(id, answer);
            } else {
                self.early.insert(id, answer);
            }
        }
        Ok(done)
    }

    /// Expects no RESPONSE or ERROR for `id` for `quiet`; other answers
    /// are kept for later.
    pub(crate) fn expect_no_answer(&mut self, id: u32, quiet: Duration) -> Result<(), Fail> {
        let deadline = Instant::now() + quiet;
        loop {
            if let Some(a) = self.early.remove(&id) {
                return Err(Fail(format!("got {} for request {id}", a.describe())));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            match self.recv(left) {
                Err(_) => return Ok(()), // quiet until the deadline
                Ok(got) => {
                    if let Some((got_id, answer)) = self.on_frame(got)? {
                        self.early.insert(got_id, answer);
                    }
                }
            }
        }
    }

    /// Waits for a NOTIFY (or takes one that came earlier).
    pub(crate) fn notification(&mut self, within: Duration) -> Result<Bytes, Fail> {
        let deadline = Instant::now() + within;
        loop {
            if !self.notifications.is_empty() {
                return Ok(self.notifications.remove(0));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let got = self
                .recv(left)
                .map_err(|Fail(why)| Fail(format!("no NOTIFY: {why}")))?;
            if let Some((id, answer)) = self.on_frame(got)? {
                self.early.insert(id, answer);
            }
        }
    }

    /// Sends PING and waits for its PONG: the connection is alive.
    pub(crate) fn ping_pong(&mut self, data: [u8; 8]) -> Result<(), Fail> {
        self.send(&Frame::Ping { data })?;
        let deadline = Instant::now() + PROMPT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = self
                .recv(left)
                .map_err(|Fail(why)| Fail(format!("no PONG: {why}")))?;
            match got {
                Got::Frame(Frame::Pong { data: d }) if d == data => return Ok(()),
                Got::Frame(Frame::Pong { data: d }) => {
                    return Err(Fail(format!(
                        "PONG {d:02x?} does not echo PING {data:02x?}"
                    )));
                }
                got => {
                    if let Some((id, answer)) = self.on_frame(got)? {
                        self.early.insert(id, answer);
                    }
                }
            }
        }
    }

    /// Files a frame received while waiting for answers: returns a whole
    /// answer when one is complete; fails on GOAWAY or end of stream.
    fn on_frame(&mut self, got: Got) -> Result<Option<(u32, Answer)>, Fail> {
        match got {
            Got::Closed => Err(Fail("the server closed the connection".into())),
            Got::Frame(Frame::GoAway {
                code,
                last_id,
                reason,
            }) => Err(Fail(format!(
                "server sent GOAWAY {code} (last id {last_id}, {reason:?})"
            ))),
            Got::Frame(Frame::Response { id, more, body }) => {
                let buf = self.partial.entry(id).or_default();
                buf.extend_from_slice(&body);
                if more {
                    return Ok(None);
                }
                let body = self.partial.remove(&id).unwrap_or_default().freeze();
                Ok(Some((id, Answer::Body(body))))
            }
            Got::Frame(Frame::Error { id, code, message }) => {
                if self.partial.remove(&id).is_some() {
                    // An ERROR may end a request mid-response only if it is
                    // not the same message; a server must not do this.
                    return Err(Fail(format!(
                        "ERROR for request {id} after part of its RESPONSE"
                    )));
                }
                Ok(Some((id, Answer::Error(code, message))))
            }
            Got::Frame(Frame::Notify { body }) => {
                self.notifications.push(body);
                Ok(None)
            }
            Got::Frame(_) => Ok(None), // PING (answered), PONG, unknown types
        }
    }

    /// Takes one whole frame off the receive buffer, checking what binds a
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
            Frame::Response { id, .. } | Frame::Error { id, .. } if *id > self.highest_sent => {
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

/// A settings block from (key, value) entries, in the given order.
pub(crate) fn settings_block(entries: &[(u16, u32)]) -> Vec<u8> {
    let mut block = Vec::with_capacity(entries.len() * 6);
    for &(key, value) in entries {
        block.put_u16(key);
        block.put_u32(value);
    }
    block
}

/// HELLO's bytes with any version and settings block.
pub(crate) fn hello_bytes(version: u8, block: &[u8]) -> Vec<u8> {
    handshake_bytes(FrameType::HELLO.0, 0, &frame::MAGIC, version, block)
}

/// HELLO/WELCOME-shaped bytes with every part chosen by the caller.
pub(crate) fn handshake_bytes(ty: u8, id: u32, magic: &[u8], version: u8, block: &[u8]) -> Vec<u8> {
    let mut payload = magic.to_vec();
    payload.push(version);
    payload.extend_from_slice(block);
    frame_bytes(ty, 0, id, &payload)
}

/// One frame's bytes from its parts.
pub(crate) fn frame_bytes(ty: u8, flags: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    Header {
        length: payload.len() as u32,
        ty: FrameType(ty),
        flags,
        id,
    }
    .encode(&mut out);
    out.put_slice(payload);
    out.to_vec()
}

/// A frame in a few words, for failure messages.
pub(crate) fn describe(frame: &Frame) -> String {
    match frame {
        Frame::Hello(h) => format!("HELLO version {}", h.version()),
        Frame::Welcome(h) => format!("WELCOME version {}", h.version()),
        Frame::Request { id, more, body, .. } => {
            format!("REQUEST id {id}{} {}", more_tag(*more), show_body(body))
        }
        Frame::Response { id, more, body } => {
            format!("RESPONSE id {id}{} {}", more_tag(*more), show_body(body))
        }
        Frame::Error { id, code, message } => format!("ERROR id {id} {code} {message:?}"),
        Frame::Cancel { id } => format!("CANCEL id {id}"),
        Frame::Notify { body } => format!("NOTIFY {}", show_body(body)),
        Frame::Ping { .. } => "PING".into(),
        Frame::Pong { .. } => "PONG".into(),
        Frame::GoAway {
            last_id,
            code,
            reason,
        } => format!("GOAWAY {code} last id {last_id} {reason:?}"),
        Frame::Unknown { header, .. } => format!("frame of unknown type {:#04x}", header.ty.0),
    }
}

fn more_tag(more: bool) -> &'static str {
    if more { " (MORE)" } else { "" }
}

/// A body for a message: text if short and printable, else its length.
pub(crate) fn show_body(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(s) if s.len() <= 40 && !s.chars().any(char::is_control) => format!("{s:?}"),
        _ => format!("<{} bytes>", body.len()),
    }
}
