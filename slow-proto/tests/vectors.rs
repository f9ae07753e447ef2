//! The shared test vectors (`../shared/vectors`, beside the repository):
//! every valid frame decodes to the frame its comment names and re-encodes
//! to the same bytes; every invalid one is refused with the code it names,
//! by the codec and by a connection (which sends GOAWAY with that code).

use std::path::PathBuf;

use bytes::BytesMut;
use slow_proto::frame::{self, Frame, FrameType, Header};
use slow_proto::{
    Config, Connection, ConnectionError, ErrorCode, Event, Instant, RequestId, Settings,
};

fn vectors(name: &str) -> Vec<(Vec<u8>, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("test vectors missing at {}: {e}", path.display()));
    let lines: Vec<_> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (hex, comment) = line.split_once('#').expect("every vector has a comment");
            (unhex(hex.trim()), comment.trim().to_string())
        })
        .collect();
    assert!(!lines.is_empty(), "{name} holds no vectors");
    lines
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Reads the comment of a valid vector into the frame it names.
fn named_frame(comment: &str) -> Frame {
    let (head, rest) = comment.split_once(" flags=").expect("flags");
    let (flags, rest) = rest.split_once(" id=").expect("id");
    let (id, fields) = rest.split_once(' ').unwrap_or((rest, ""));
    let id: u32 = id.parse().expect("decimal id");
    let more = flags.contains("MORE");
    let field = |name: &str| field(fields, name);
    match head {
        "HELLO" | "WELCOME" => {
            assert_eq!(field("magic").as_deref(), Some(&b"SLOW"[..]));
            let version: u8 = text_field(fields, "version").parse().unwrap();
            let h = frame::Handshake::new(version, &named_settings(fields));
            if head == "HELLO" {
                Frame::Hello(h)
            } else {
                Frame::Welcome(h)
            }
        }
        "REQUEST" => Frame::Request {
            id: RequestId::new(id),
            more,
            timeout_ms: fields
                .contains("timeout_ms=")
                .then(|| text_field(fields, "timeout_ms").parse().unwrap()),
            body: field("body").expect("body").into(),
        },
        "RESPONSE" => Frame::Response {
            id: RequestId::new(id),
            more,
            body: field("body").expect("body").into(),
        },
        "ERROR" => Frame::Error {
            id: RequestId::new(id),
            code: code_field(fields),
            message: String::from_utf8(field("message").unwrap()).unwrap(),
        },
        "CANCEL" => Frame::Cancel {
            id: RequestId::new(id),
        },
        "NOTIFY" => Frame::Notify {
            body: field("body").unwrap().into(),
        },
        "PING" => Frame::Ping {
            data: field("payload").unwrap().try_into().unwrap(),
        },
        "PONG" => Frame::Pong {
            data: field("payload").unwrap().try_into().unwrap(),
        },
        "GOAWAY" => Frame::GoAway {
            last_id: RequestId::new(id),
            code: code_field(fields),
            reason: String::from_utf8(field("reason").unwrap()).unwrap(),
        },
        unknown => {
            let ty = unknown
                .strip_prefix("unknown type 0x")
                .expect("a known frame name");
            Frame::Unknown {
                header: Header {
                    length: 0, // not compared: the re-encoding check covers it
                    ty: FrameType(u8::from_str_radix(ty, 16).unwrap()),
                    flags: 0,
                    id,
                },
                payload: field("payload").unwrap().into(),
            }
        }
    }
}

fn named_settings(fields: &str) -> Settings {
    let inner = fields
        .split_once("settings={")
        .unwrap()
        .1
        .split_once('}')
        .unwrap()
        .0;
    let mut s = Settings::default();
    for entry in inner.split(", ").filter(|e| !e.is_empty()) {
        let (key, value) = entry.split_once('=').unwrap();
        let value: u32 = value.parse().unwrap();
        match key {
            "MAX_FRAME_SIZE" => s.max_frame_size = value,
            "MAX_MESSAGE_SIZE" => s.max_message_size = value,
            "MAX_CONCURRENT_REQUESTS" => s.max_concurrent_requests = value,
            "IDLE_TIMEOUT_MS" => s.idle_timeout_ms = value,
            k if k.starts_with("unknown key") => {}
            k => panic!("unknown settings name {k}"),
        }
    }
    s
}

fn text_field<'a>(fields: &'a str, name: &str) -> &'a str {
    let start = fields
        .find(&format!("{name}="))
        .unwrap_or_else(|| panic!("{name} in {fields}"));
    let value = &fields[start + name.len() + 1..];
    value.split([' ', ',']).next().unwrap()
}

fn code_field(fields: &str) -> ErrorCode {
    let code = text_field(fields, "code");
    ErrorCode(u16::from_str_radix(code.trim_start_matches("0x"), 16).unwrap())
}

/// `name="text"`, `name=empty` or `name=hex 0011...`.
fn field(fields: &str, name: &str) -> Option<Vec<u8>> {
    let start = fields.find(&format!("{name}="))?;
    let value = &fields[start + name.len() + 1..];
    if let Some(quoted) = value.strip_prefix('"') {
        Some(quoted.as_bytes()[..quoted.rfind('"').unwrap()].to_vec())
    } else if value.starts_with("empty") {
        Some(Vec::new())
    } else if let Some(hex) = value.strip_prefix("hex ") {
        Some(unhex(hex.split(' ').next().unwrap()))
    } else {
        panic!("cannot read field {name} in {fields}")
    }
}

#[test]
fn valid_frames_decode_to_their_names_and_reencode_identically() {
    let lines = vectors("frames.hex");
    for (bytes, comment) in &lines {
        let mut buf = BytesMut::from(&bytes[..]);
        let decoded = frame::decode(&mut buf, Settings::MAX_MAX_FRAME_SIZE)
            .unwrap_or_else(|e| panic!("{comment}: {e}"))
            .unwrap_or_else(|| panic!("{comment}: incomplete"));
        assert!(buf.is_empty(), "{comment}: bytes left over");

        let expected = named_frame(comment);
        match (&decoded, &expected) {
            (Frame::Hello(d), Frame::Hello(e)) | (Frame::Welcome(d), Frame::Welcome(e)) => {
                assert_eq!(d.version(), e.version(), "{comment}");
                assert_eq!(*d.settings(), named_settings(comment), "{comment}");
            }
            (
                Frame::Unknown {
                    header: d,
                    payload: dp,
                },
                Frame::Unknown {
                    header: e,
                    payload: ep,
                },
            ) => {
                assert_eq!((d.ty, d.id, dp), (e.ty, e.id, ep), "{comment}");
            }
            _ => assert_eq!(decoded, expected, "{comment}"),
        }

        let mut out = BytesMut::new();
        decoded.encode(&mut out);
        assert_eq!(&out[..], &bytes[..], "{comment}: re-encoding differs");
    }
    assert!(lines.len() >= 30, "only {} valid vectors", lines.len());
}

fn named_code(comment: &str) -> ErrorCode {
    let name = comment.split(':').next().unwrap();
    (0..=0x00FF)
        .map(ErrorCode)
        .find(|c| c.name() == Some(name))
        .unwrap_or_else(|| panic!("unknown code name {name}"))
}

/// Every stateless rule is the codec's; version negotiation is the
/// handshake's (a version-0 HELLO is only wrong where a HELLO is expected),
/// so the codec reads it and the connection test below refuses it.
#[test]
fn invalid_frames_are_refused_by_the_codec_with_the_named_code() {
    let mut refused = 0;
    for (bytes, comment) in vectors("invalid.hex") {
        let mut buf = BytesMut::from(&bytes[..]);
        match frame::decode(&mut buf, Settings::DEFAULT_MAX_FRAME_SIZE) {
            Err(err) => {
                assert_eq!(err.code, named_code(&comment), "{comment}");
                refused += 1;
            }
            Ok(Some(Frame::Hello(h))) if named_code(&comment) == ErrorCode::VERSION_MISMATCH => {
                assert_eq!(h.version(), 0, "{comment}");
            }
            other => panic!("{comment}: accepted as {other:?}"),
        }
    }
    assert!(refused >= 20, "only {refused} refused by the codec");
}

/// A connection in the state where `bytes` would be its next input.
fn receiver_for(bytes: &[u8]) -> Connection {
    let now = Instant::ZERO;
    match bytes[4] {
        0x01 => Connection::server(Config::default(), now).unwrap(),
        0x02 => Connection::client(Config::default(), now).unwrap(),
        _ => {
            // An established server: feed it a HELLO and discard its WELCOME.
            let mut server = Connection::server(Config::default(), now).unwrap();
            let mut hello = BytesMut::new();
            Frame::Hello(frame::Handshake::new(1, &Settings::default())).encode(&mut hello);
            server.recv(&hello, now);
            let n = server.transmit_len();
            server.advance_transmit(n);
            while server.poll_event().is_some() {}
            server
        }
    }
}

#[test]
fn invalid_frames_close_the_connection_with_goaway_and_the_named_code() {
    for (bytes, comment) in vectors("invalid.hex") {
        let code = named_code(&comment);
        let mut conn = receiver_for(&bytes);
        let before = conn.transmit_len();
        conn.advance_transmit(before);
        // One byte at a time: the verdict must not depend on chunking.
        for b in &bytes {
            conn.recv(&[*b], Instant::ZERO);
        }
        assert!(conn.is_closed(), "{comment}: still open");
        let events: Vec<Event> = std::iter::from_fn(|| conn.poll_event()).collect();
        assert!(
            // Closed by this side with the named code: as a violation, or,
            // when the first bytes are not SLOW at all, naming the stranger.
            events.iter().any(|e| matches!(e,
                Event::Closed { error: Some(
                    ConnectionError::Local { code: c, .. } | ConnectionError::NotSlow { code: c, .. }
                ) } if *c == code)),
            "{comment}: events {events:?}"
        );
        let out: Vec<u8> = conn.transmit().flatten().copied().collect();
        let mut out = BytesMut::from(&out[..]);
        let goaway = frame::decode(&mut out, u32::MAX).unwrap().unwrap();
        assert!(
            matches!(goaway, Frame::GoAway { code: c, .. } if c == code),
            "{comment}: sent {goaway:?}"
        );
    }
}
