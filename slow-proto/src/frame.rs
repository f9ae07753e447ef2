//! Frames: the wire types of PROTOCOL.md §1 and their codec.
//!
//! Decoding is incremental: [`decode`] looks at a growing buffer and takes a
//! frame off its front once the whole frame is there. The length in the
//! header is checked against the receiver's MAX_FRAME_SIZE as soon as the ten
//! header bytes are in, before any payload is buffered. Payloads come out as
//! [`Bytes`] slices of the receive buffer (no copy).
//!
//! Every stateless rule (ids that must be zero or nonzero, payload shapes,
//! UTF-8, settings ranges, magic and version 0) is checked here; the rules
//! that depend on the connection's state live in [`crate::connection`].

use alloc::string::String;
use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{ErrorCode, FrameError};
use crate::id::RequestId;
use crate::settings::Settings;

/// Length of every frame header: length (4) · type (1) · flags (1) · id (4).
pub const HEADER_LEN: usize = 10;
/// The magic at the start of HELLO and WELCOME.
pub const MAGIC: [u8; 4] = *b"SLOW";
/// The protocol version this crate speaks.
pub const VERSION: u8 = 1;

/// A frame type byte. Types this crate does not know are kept as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameType(pub u8);

impl FrameType {
    /// Client's opening frame.
    pub const HELLO: FrameType = FrameType(0x01);
    /// Server's answer to HELLO.
    pub const WELCOME: FrameType = FrameType(0x02);
    /// A request body chunk.
    pub const REQUEST: FrameType = FrameType(0x03);
    /// A response body chunk.
    pub const RESPONSE: FrameType = FrameType(0x04);
    /// A request failed at the server.
    pub const ERROR: FrameType = FrameType(0x05);
    /// The client abandons a request.
    pub const CANCEL: FrameType = FrameType(0x06);
    /// A one-frame notification, either direction.
    pub const NOTIFY: FrameType = FrameType(0x07);
    /// Liveness probe.
    pub const PING: FrameType = FrameType(0x08);
    /// Answer to PING.
    pub const PONG: FrameType = FrameType(0x09);
    /// The sender is closing the connection.
    pub const GOAWAY: FrameType = FrameType(0x0A);
}

/// Flag bits of the header.
pub mod flags {
    /// More frames of the same message follow (REQUEST, RESPONSE).
    pub const MORE: u8 = 0x01;
    /// The payload starts with a u32 `timeout_ms` (first REQUEST frame only).
    pub const DEADLINE: u8 = 0x02;
}

/// The ten bytes in front of every payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Payload length in bytes (the header is not counted).
    pub length: u32,
    /// Frame type.
    pub ty: FrameType,
    /// Flag bits.
    pub flags: u8,
    /// Request id, or 0.
    pub id: u32,
}

impl Header {
    /// Reads a header from the first ten bytes of `bytes`, if there are ten.
    pub fn parse(mut bytes: &[u8]) -> Option<Header> {
        if bytes.len() < HEADER_LEN {
            return None;
        }
        Some(Header {
            length: bytes.get_u32(),
            ty: FrameType(bytes.get_u8()),
            flags: bytes.get_u8(),
            id: bytes.get_u32(),
        })
    }

    /// Appends the ten header bytes (in one write to `out`: four `put`s
    /// checked its capacity four times, a cost paid on every frame).
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(&self.to_bytes());
    }

    /// The header of a REQUEST (with DEADLINE if `timeout_ms` is given) or
    /// RESPONSE frame whose body is `body_len` bytes: the one place a
    /// message frame's length and flags are worked out.
    pub(crate) fn message(
        ty: FrameType,
        id: RequestId,
        more: bool,
        timeout_ms: Option<u32>,
        body_len: usize,
    ) -> Header {
        let deadline = timeout_ms.is_some();
        Header {
            length: (body_len + if deadline { 4 } else { 0 }) as u32,
            ty,
            flags: more_flag(more) | if deadline { flags::DEADLINE } else { 0 },
            id: id.get(),
        }
    }

    /// The ten header bytes.
    ///
    /// ```
    /// use slow_proto::frame::{FrameType, Header};
    ///
    /// let header = Header { length: 2, ty: FrameType::RESPONSE, flags: 0, id: 7 };
    /// assert_eq!(header.to_bytes(), [0, 0, 0, 2, 0x04, 0, 0, 0, 0, 7]);
    /// assert_eq!(Header::parse(&header.to_bytes()), Some(header));
    /// ```
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let [l0, l1, l2, l3] = self.length.to_be_bytes();
        let [i0, i1, i2, i3] = self.id.to_be_bytes();
        [l0, l1, l2, l3, self.ty.0, self.flags, i0, i1, i2, i3]
    }
}

/// The payload of HELLO and WELCOME: version and settings.
///
/// The settings block is kept as it was received, so that a decoded frame
/// re-encodes to the same bytes (unknown keys and explicit defaults included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    version: u8,
    settings: Settings,
    block: Bytes,
}

impl Handshake {
    /// A handshake payload advertising `settings` (non-default keys only).
    pub fn new(version: u8, settings: &Settings) -> Handshake {
        let mut block = BytesMut::new();
        settings.encode(&mut block);
        Handshake {
            version,
            settings: *settings,
            block: block.freeze(),
        }
    }

    /// The protocol version offered (HELLO) or chosen (WELCOME).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The advertised settings, defaults applied.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The settings block as it is on the wire.
    pub fn settings_block(&self) -> &[u8] {
        &self.block
    }

    fn decode(mut payload: Bytes) -> Result<Handshake, FrameError> {
        if payload.len() < 5 {
            return Err(FrameError::protocol(
                "handshake payload shorter than magic and version",
            ));
        }
        if payload[..4] != MAGIC {
            return Err(FrameError::protocol("wrong magic"));
        }
        // Version 0 is refused by the handshake, once the role and phase say
        // whether this frame was expected at all.
        let version = payload[4];
        payload.advance(5);
        let settings = Settings::decode(&payload)?;
        Ok(Handshake {
            version,
            settings,
            block: payload,
        })
    }
}

/// One decoded frame.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use slow_proto::frame::{self, Frame};
/// use slow_proto::RequestId;
///
/// let mut wire = BytesMut::new();
/// let id = RequestId::new(1);
/// Frame::Request { id, more: false, timeout_ms: None, body: Bytes::from_static(b"hi") }
///     .encode(&mut wire);
/// let frame = frame::decode(&mut wire, 65_536).unwrap().unwrap();
/// assert!(matches!(frame, Frame::Request { id: got, .. } if got == id));
/// assert!(wire.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Client → server: magic, highest version, settings.
    Hello(Handshake),
    /// Server → client: magic, chosen version, settings.
    Welcome(Handshake),
    /// A request body chunk.
    Request {
        /// Request id (≥ 1).
        id: RequestId,
        /// More frames of this message follow.
        more: bool,
        /// The DEADLINE budget in milliseconds, when the flag is set.
        timeout_ms: Option<u32>,
        /// This frame's part of the body.
        body: Bytes,
    },
    /// A response body chunk.
    Response {
        /// Request id (≥ 1).
        id: RequestId,
        /// More frames of this message follow.
        more: bool,
        /// This frame's part of the body.
        body: Bytes,
    },
    /// The request failed at the server.
    Error {
        /// Request id (≥ 1).
        id: RequestId,
        /// Why.
        code: ErrorCode,
        /// Human-readable text.
        message: String,
    },
    /// The client abandons a request.
    Cancel {
        /// Request id (≥ 1).
        id: RequestId,
    },
    /// A one-frame notification.
    Notify {
        /// The whole body.
        body: Bytes,
    },
    /// Liveness probe with 8 opaque bytes.
    Ping {
        /// Echoed back in the PONG.
        data: [u8; 8],
    },
    /// Answer to a PING.
    Pong {
        /// The PING's bytes.
        data: [u8; 8],
    },
    /// The sender is closing.
    GoAway {
        /// Highest request id seen (server) or sent (client);
        /// [`RequestId::NONE`] before any.
        last_id: RequestId,
        /// Why.
        code: ErrorCode,
        /// Human-readable text.
        reason: String,
    },
    /// A frame type this version does not define (skipped after the handshake).
    Unknown {
        /// Header as received.
        header: Header,
        /// Payload as received.
        payload: Bytes,
    },
}

/// Takes one whole frame off the front of `buf`, if one is there.
///
/// Returns `Ok(None)` when more bytes are needed; in that case, once the
/// header is in, it reserves room for the rest so that the frame ends up
/// contiguous. Fails as soon as the header shows a length above
/// `max_frame_size` (FRAME_TOO_LARGE), and on any stateless rule of §1–§2.
pub fn decode(buf: &mut BytesMut, max_frame_size: u32) -> Result<Option<Frame>, FrameError> {
    let Some(header) = Header::parse(buf) else {
        return Ok(None);
    };
    if header.length > max_frame_size {
        return Err(FrameError {
            code: ErrorCode::FRAME_TOO_LARGE,
            reason: "frame longer than MAX_FRAME_SIZE",
        });
    }
    let total = HEADER_LEN + header.length as usize;
    if buf.len() < total {
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    let mut payload = buf.split_to(total).freeze();
    payload.advance(HEADER_LEN);
    parse(header, payload).map(Some)
}

/// Builds a frame from its header and whole payload, checking stateless rules.
pub fn parse(header: Header, mut payload: Bytes) -> Result<Frame, FrameError> {
    let id = header.id;
    let zero_id = |frame| {
        if id == 0 {
            Ok(frame)
        } else {
            Err(FrameError::protocol("nonzero id where 0 is required"))
        }
    };
    let request_id = || {
        if id != 0 {
            Ok(RequestId::new(id))
        } else {
            Err(FrameError::protocol("id 0 on a request frame"))
        }
    };
    match header.ty {
        FrameType::HELLO => zero_id(Frame::Hello(Handshake::decode(payload)?)),
        FrameType::WELCOME => zero_id(Frame::Welcome(Handshake::decode(payload)?)),
        FrameType::REQUEST => {
            let id = request_id()?;
            let timeout_ms = if header.flags & flags::DEADLINE != 0 {
                if payload.len() < 4 {
                    return Err(FrameError::protocol("DEADLINE frame shorter than 4 bytes"));
                }
                Some(payload.get_u32())
            } else {
                None
            };
            let more = header.flags & flags::MORE != 0;
            Ok(Frame::Request {
                id,
                more,
                timeout_ms,
                body: payload,
            })
        }
        FrameType::RESPONSE => {
            let id = request_id()?;
            Ok(Frame::Response {
                id,
                more: header.flags & flags::MORE != 0,
                body: payload,
            })
        }
        FrameType::ERROR => {
            let id = request_id()?;
            let (code, message) = code_and_text(payload)?;
            Ok(Frame::Error { id, code, message })
        }
        FrameType::CANCEL => {
            let id = request_id()?;
            if !payload.is_empty() {
                return Err(FrameError::protocol("CANCEL with a payload"));
            }
            Ok(Frame::Cancel { id })
        }
        FrameType::NOTIFY => zero_id(Frame::Notify { body: payload }),
        FrameType::PING => zero_id(Frame::Ping {
            data: eight_bytes(&payload)?,
        }),
        FrameType::PONG => zero_id(Frame::Pong {
            data: eight_bytes(&payload)?,
        }),
        FrameType::GOAWAY => {
            let (code, reason) = code_and_text(payload)?;
            Ok(Frame::GoAway {
                last_id: RequestId::new(id),
                code,
                reason,
            })
        }
        _ => Ok(Frame::Unknown { header, payload }),
    }
}

fn eight_bytes(payload: &[u8]) -> Result<[u8; 8], FrameError> {
    payload
        .try_into()
        .map_err(|_| FrameError::protocol("PING/PONG payload is not 8 bytes"))
}

fn code_and_text(mut payload: Bytes) -> Result<(ErrorCode, String), FrameError> {
    if payload.len() < 2 {
        return Err(FrameError::protocol(
            "ERROR/GOAWAY payload shorter than 2 bytes",
        ));
    }
    let code = ErrorCode(payload.get_u16());
    let text = core::str::from_utf8(&payload)
        .map_err(|_| FrameError::protocol("ERROR/GOAWAY text is not UTF-8"))?;
    Ok((code, String::from(text)))
}

impl Frame {
    /// The header this frame is sent with.
    pub fn header(&self) -> Header {
        let (ty, flags, id) = match self {
            Frame::Hello(_) => (FrameType::HELLO, 0, 0),
            Frame::Welcome(_) => (FrameType::WELCOME, 0, 0),
            Frame::Request {
                id,
                more,
                timeout_ms,
                body,
            } => return Header::message(FrameType::REQUEST, *id, *more, *timeout_ms, body.len()),
            Frame::Response { id, more, body } => {
                return Header::message(FrameType::RESPONSE, *id, *more, None, body.len());
            }
            Frame::Error { id, .. } => (FrameType::ERROR, 0, id.get()),
            Frame::Cancel { id } => (FrameType::CANCEL, 0, id.get()),
            Frame::Notify { .. } => (FrameType::NOTIFY, 0, 0),
            Frame::Ping { .. } => (FrameType::PING, 0, 0),
            Frame::Pong { .. } => (FrameType::PONG, 0, 0),
            Frame::GoAway { last_id, .. } => (FrameType::GOAWAY, 0, last_id.get()),
            Frame::Unknown { header, .. } => (header.ty, header.flags, header.id),
        };
        Header {
            length: self.payload_len() as u32,
            ty,
            flags,
            id,
        }
    }

    /// Length of the payload in bytes.
    pub fn payload_len(&self) -> usize {
        match self {
            Frame::Hello(h) | Frame::Welcome(h) => 5 + h.block.len(),
            Frame::Request {
                timeout_ms, body, ..
            } => body.len() + if timeout_ms.is_some() { 4 } else { 0 },
            Frame::Response { body, .. } | Frame::Notify { body } => body.len(),
            Frame::Error { message: text, .. } | Frame::GoAway { reason: text, .. } => {
                2 + text.len()
            }
            Frame::Cancel { .. } => 0,
            Frame::Ping { .. } | Frame::Pong { .. } => 8,
            Frame::Unknown { payload, .. } => payload.len(),
        }
    }

    /// Appends the whole frame, header and payload, to `out`.
    ///
    /// This copies the payload; the connection sends large bodies by
    /// reference instead (see [`crate::Connection::transmit`]).
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(HEADER_LEN + self.payload_len());
        self.header().encode(out);
        self.encode_payload_prefix(out);
        if let Some(body) = self.bulk() {
            out.extend_from_slice(body);
        }
    }

    /// Writes everything of the payload except the bulk part returned by
    /// [`Frame::bulk`].
    pub(crate) fn encode_payload_prefix(&self, out: &mut BytesMut) {
        match self {
            Frame::Request { timeout_ms, .. } => encode_deadline(out, *timeout_ms),
            Frame::Hello(h) | Frame::Welcome(h) => {
                out.put_slice(&MAGIC);
                out.put_u8(h.version);
                out.put_slice(&h.block);
            }
            Frame::Error {
                code,
                message: text,
                ..
            }
            | Frame::GoAway {
                code, reason: text, ..
            } => {
                out.put_u16(code.0);
                out.put_slice(text.as_bytes());
            }
            Frame::Ping { data } | Frame::Pong { data } => out.put_slice(data),
            _ => {}
        }
    }

    /// The part of the payload that can be sent by reference (a body).
    pub(crate) fn bulk(&self) -> Option<&Bytes> {
        match self {
            Frame::Request { body, .. } | Frame::Response { body, .. } | Frame::Notify { body } => {
                Some(body)
            }
            Frame::Unknown { payload, .. } => Some(payload),
            _ => None,
        }
    }
}

/// What comes before a REQUEST or RESPONSE frame's body: its `header`
/// (see [`Header::message`]) and, on a REQUEST with DEADLINE, the
/// milliseconds left. The transmit queue writes message frames with this
/// directly, without building a [`Frame`].
pub(crate) fn encode_message_head(out: &mut BytesMut, header: &Header, timeout_ms: Option<u32>) {
    out.put_slice(&header.to_bytes());
    encode_deadline(out, timeout_ms);
}

fn encode_deadline(out: &mut BytesMut, timeout_ms: Option<u32>) {
    if let Some(ms) = timeout_ms {
        out.put_u32(ms);
    }
}

fn more_flag(more: bool) -> u8 {
    if more { flags::MORE } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(frame: &Frame) -> BytesMut {
        let mut out = BytesMut::new();
        frame.encode(&mut out);
        out
    }

    #[test]
    fn decodes_one_byte_at_a_time() {
        let frame = Frame::Response {
            id: RequestId::new(9),
            more: true,
            body: Bytes::from_static(b"abcdef"),
        };
        let bytes = wire(&frame);
        let mut buf = BytesMut::new();
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(
                decode(&mut buf, 1024).unwrap(),
                None,
                "complete too early at {i}"
            );
            buf.put_u8(*b);
        }
        assert_eq!(decode(&mut buf, 1024).unwrap(), Some(frame));
    }

    #[test]
    fn length_is_checked_before_the_payload_arrives() {
        let mut buf = BytesMut::new();
        Header {
            length: 2000,
            ty: FrameType(0x7F),
            flags: 0,
            id: 0,
        }
        .encode(&mut buf);
        let err = decode(&mut buf, 1024).unwrap_err();
        assert_eq!(err.code, ErrorCode::FRAME_TOO_LARGE);
    }

    #[test]
    fn payload_is_a_slice_of_the_receive_buffer() {
        let body = Bytes::from(alloc::vec![7u8; 64 * 1024]);
        let mut buf = wire(&Frame::Notify { body });
        let start = buf.as_ptr() as usize;
        let Some(Frame::Notify { body }) = decode(&mut buf, 1 << 20).unwrap() else {
            panic!("not a notify");
        };
        assert_eq!(body.as_ptr() as usize, start + HEADER_LEN);
    }

    #[test]
    fn undefined_flags_are_ignored() {
        let mut buf = BytesMut::new();
        Header {
            length: 0,
            ty: FrameType::CANCEL,
            flags: 0xF0,
            id: 3,
        }
        .encode(&mut buf);
        assert_eq!(
            decode(&mut buf, 1024).unwrap(),
            Some(Frame::Cancel {
                id: RequestId::new(3)
            })
        );
    }
}
