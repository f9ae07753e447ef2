//! Frames as bytes and as words: raw bytes built from any parts (valid or
//! not), and a frame or body described in a few words for failure messages.

use bytes::{BufMut, BytesMut};
use slow_proto::frame::{self, Frame, FrameType, Header};

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
