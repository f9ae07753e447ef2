//! One test (or a few) per rule of PROTOCOL.md, on raw frames and a virtual
//! clock. Scenario-level properties live in `tests/sim_properties.rs`.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};
use core::time::Duration;

use super::*;
use crate::error::ConnectionError;
use crate::frame::{self, HEADER_LEN, Handshake, Header};

const T0: Instant = Instant::ZERO;

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn id(n: u32) -> RequestId {
    RequestId::new(n)
}

fn wire(frames: &[Frame]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for f in frames {
        f.encode(&mut out);
    }
    out.to_vec()
}

/// Everything `conn` wants to send, decoded.
fn sent(conn: &mut Connection) -> Vec<Frame> {
    let bytes: Vec<u8> = conn.transmit().flatten().copied().collect();
    conn.advance_transmit(bytes.len());
    let mut buf = BytesMut::from(&bytes[..]);
    let mut frames = Vec::new();
    while let Some(f) = frame::decode(&mut buf, u32::MAX).unwrap() {
        frames.push(f);
    }
    assert!(buf.is_empty());
    frames
}

fn events(conn: &mut Connection) -> Vec<Event> {
    core::iter::from_fn(|| conn.poll_event()).collect()
}

fn hello(settings: &Settings) -> Frame {
    Frame::Hello(Handshake::new(1, settings))
}

fn welcome(settings: &Settings) -> Frame {
    Frame::Welcome(Handshake::new(1, settings))
}

fn req(id: u32, body: &'static [u8]) -> Frame {
    Frame::Request {
        id: RequestId::new(id),
        more: false,
        timeout_ms: None,
        body: Bytes::from_static(body),
    }
}

fn config(settings: Settings) -> Config {
    Config {
        settings,
        ..Config::default()
    }
}

/// A server past its handshake, with its output and events drained.
fn server_with(settings: Settings, client: Settings) -> Connection {
    let mut s = Connection::server(config(settings), T0).unwrap();
    s.recv(&wire(&[hello(&client)]), T0);
    sent(&mut s);
    events(&mut s);
    s
}

fn server() -> Connection {
    server_with(Settings::default(), Settings::default())
}

/// A client past its handshake, with its output and events drained.
fn client_with(settings: Settings, server: Settings) -> Connection {
    let mut c = Connection::client(config(settings), T0).unwrap();
    c.recv(&wire(&[welcome(&server)]), T0);
    sent(&mut c);
    events(&mut c);
    c
}

fn client() -> Connection {
    client_with(Settings::default(), Settings::default())
}

/// Moves all bytes between the two until neither has anything to send.
fn exchange(c: &mut Connection, s: &mut Connection, now: Instant) {
    loop {
        let a: Vec<u8> = c.transmit().flatten().copied().collect();
        c.advance_transmit(a.len());
        s.recv(&a, now);
        let b: Vec<u8> = s.transmit().flatten().copied().collect();
        s.advance_transmit(b.len());
        c.recv(&b, now);
        if a.is_empty() && b.is_empty() {
            break;
        }
    }
}

fn closed_with(events: &[Event]) -> Option<Option<ConnectionError>> {
    events.iter().find_map(|e| match e {
        Event::Closed { error } => Some(error.clone()),
        _ => None,
    })
}

fn assert_goaway(frames: &[Frame], want: ErrorCode) {
    assert!(
        matches!(frames.last(), Some(Frame::GoAway { code, .. }) if *code == want),
        "expected GOAWAY {want}, sent {frames:?}"
    );
}

fn assert_local_error(conn: &mut Connection, want: ErrorCode) {
    let frames = sent(conn);
    assert_goaway(&frames, want);
    let ev = events(conn);
    assert!(
        matches!(closed_with(&ev), Some(Some(ConnectionError::Local { code, .. })) if code == want),
        "expected Closed with local {want}, got {ev:?}"
    );
    assert!(conn.is_closed());
}

// ---- §3 handshake ----------------------------------------------------------

#[test]
fn client_sends_hello_then_nothing_until_welcome() {
    let mut c = Connection::client(Config::default(), T0).unwrap();
    c.send_request(Bytes::from_static(b"early"), None, T0)
        .unwrap();
    assert_eq!(c.notify(Bytes::new(), T0), Err(SendError::NotReady));
    let frames = sent(&mut c);
    assert!(matches!(frames[..], [Frame::Hello(ref h)] if h.version() == 1));
    c.recv(&wire(&[welcome(&Settings::default())]), ms(5));
    assert!(matches!(sent(&mut c)[..], [Frame::Request { id: got, .. }] if got == id(1)));
    assert!(matches!(events(&mut c)[..], [Event::Connected { .. }]));
}

#[test]
fn server_answers_with_the_lower_version() {
    let mut s = Connection::server(Config::default(), T0).unwrap();
    s.recv(
        &wire(&[Frame::Hello(Handshake::new(7, &Settings::default()))]),
        T0,
    );
    assert!(matches!(sent(&mut s)[..], [Frame::Welcome(ref w)] if w.version() == 1));
    assert!(s.is_established());
}

#[test]
fn server_first_frame_must_be_hello() {
    for first in [req(1, b"x"), Frame::Ping { data: [0; 8] }] {
        let mut s = Connection::server(Config::default(), T0).unwrap();
        s.recv(&wire(&[first]), T0);
        assert_local_error(&mut s, ErrorCode::PROTOCOL_ERROR);
    }
    // Even a frame of an unknown type.
    let mut s = Connection::server(Config::default(), T0).unwrap();
    let mut raw = BytesMut::new();
    Header {
        length: 0,
        ty: frame::FrameType(0x7F),
        flags: 0,
        id: 0,
    }
    .encode(&mut raw);
    s.recv(&raw, T0);
    assert_local_error(&mut s, ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn client_first_frame_must_be_welcome_or_goaway() {
    let mut c = Connection::client(Config::default(), T0).unwrap();
    sent(&mut c);
    c.recv(&wire(&[Frame::Notify { body: Bytes::new() }]), T0);
    assert_local_error(&mut c, ErrorCode::PROTOCOL_ERROR);

    let mut c = Connection::client(Config::default(), T0).unwrap();
    let id = c.send_request(Bytes::from_static(b"q"), None, T0).unwrap();
    sent(&mut c);
    let limit = ErrorCode::CONNECTION_LIMIT;
    c.recv(
        &wire(&[Frame::GoAway {
            last_id: RequestId::NONE,
            code: limit,
            reason: "full".into(),
        }]),
        T0,
    );
    let ev = events(&mut c);
    assert!(
        ev.contains(&Event::RequestFailed {
            id,
            error: RequestError::NotProcessed
        }),
        "{ev:?}"
    );
    assert!(matches!(
        closed_with(&ev),
        Some(Some(ConnectionError::Remote { code, .. })) if code == limit
    ));
    assert!(sent(&mut c).is_empty(), "no answer to an error GOAWAY");
}

#[test]
fn version_zero_is_refused_by_the_handshake_not_the_codec() {
    let mut s = Connection::server(Config::default(), T0).unwrap();
    s.recv(
        &wire(&[Frame::Hello(Handshake::new(0, &Settings::default()))]),
        T0,
    );
    assert_local_error(&mut s, ErrorCode::VERSION_MISMATCH);
    // A WELCOME of version 0 sent first to a server is simply not a HELLO.
    let mut s = Connection::server(Config::default(), T0).unwrap();
    s.recv(
        &wire(&[Frame::Welcome(Handshake::new(0, &Settings::default()))]),
        T0,
    );
    assert_local_error(&mut s, ErrorCode::PROTOCOL_ERROR);
    let mut c = Connection::client(Config::default(), T0).unwrap();
    sent(&mut c);
    c.recv(
        &wire(&[Frame::Welcome(Handshake::new(0, &Settings::default()))]),
        T0,
    );
    assert_local_error(&mut c, ErrorCode::VERSION_MISMATCH);
}

#[test]
fn a_graceful_goaway_before_welcome_still_ends_the_connection_with_its_code() {
    let mut c = Connection::client(Config::default(), T0).unwrap();
    sent(&mut c);
    let code = ErrorCode::SHUTTING_DOWN;
    c.recv(
        &wire(&[Frame::GoAway {
            last_id: RequestId::NONE,
            code,
            reason: String::new(),
        }]),
        T0,
    );
    assert!(matches!(
        closed_with(&events(&mut c)),
        Some(Some(ConnectionError::Remote { code: c, .. })) if c == code
    ));
    assert!(
        sent(&mut c).is_empty(),
        "a client sends nothing but HELLO before WELCOME"
    );
    assert_eq!(c.peer_settings(), None);
}

#[test]
fn a_client_closing_during_the_handshake_sends_nothing_more() {
    let mut c = Connection::client(Config::default(), T0).unwrap();
    sent(&mut c);
    c.close(ErrorCode::NO_ERROR, "", T0);
    assert!(c.is_closed());
    assert!(sent(&mut c).is_empty());
}

#[test]
fn an_oversized_first_frame_does_not_count_as_seen() {
    let limit = Settings {
        max_message_size: 1024,
        ..Settings::default()
    };
    let mut s = server_with(limit, Settings::default());
    s.recv(&wire(&[req(2, b"ok")]), T0);
    let body = Bytes::from(alloc::vec![0u8; 1025]);
    s.recv(
        &wire(&[Frame::Request {
            id: id(5),
            more: false,
            timeout_ms: None,
            body,
        }]),
        T0,
    );
    let frames = sent(&mut s);
    assert!(
        matches!(
            frames[..],
            [Frame::GoAway {
                last_id: last,
                code: ErrorCode::MESSAGE_TOO_LARGE,
                ..
            }] if last == id(2)
        ),
        "{frames:?}"
    );
}

#[test]
fn an_answer_arriving_after_the_deadline_is_a_timeout() {
    let mut c = client();
    let id = c
        .send_request(Bytes::new(), Some(Duration::from_millis(100)), T0)
        .unwrap();
    sent(&mut c);
    // The adapter was late: the ERROR and the deadline are handled together.
    let late = Frame::Error {
        id,
        code: ErrorCode::DEADLINE_EXCEEDED,
        message: String::new(),
    };
    c.recv(&wire(&[late]), ms(150));
    assert_eq!(
        events(&mut c),
        [Event::RequestFailed {
            id,
            error: RequestError::TimedOut
        }]
    );
}

#[test]
fn a_forced_drain_says_goaway_if_it_had_not() {
    let mut c = client();
    let id = c.send_request(Bytes::new(), None, T0).unwrap();
    sent(&mut c);
    let bye = Frame::GoAway {
        last_id: id,
        code: ErrorCode::SHUTTING_DOWN,
        reason: String::new(),
    };
    c.recv(&wire(&[bye]), T0);
    c.handle_timeout(ms(30_000));
    assert_goaway(&sent(&mut c), ErrorCode::NO_ERROR);
    assert!(c.is_closed());
}

#[test]
fn client_refuses_a_version_it_does_not_speak() {
    let mut c = Connection::client(Config::default(), T0).unwrap();
    sent(&mut c);
    c.recv(
        &wire(&[Frame::Welcome(Handshake::new(2, &Settings::default()))]),
        T0,
    );
    assert_local_error(&mut c, ErrorCode::VERSION_MISMATCH);
}

#[test]
fn second_hello_or_welcome_is_a_protocol_error() {
    let mut s = server();
    s.recv(&wire(&[hello(&Settings::default())]), T0);
    assert_local_error(&mut s, ErrorCode::PROTOCOL_ERROR);
    let mut c = client();
    c.recv(&wire(&[welcome(&Settings::default())]), T0);
    assert_local_error(&mut c, ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn handshake_timeout_fires_at_ten_seconds_on_both_sides() {
    for mut conn in [
        Connection::client(Config::default(), T0).unwrap(),
        Connection::server(Config::default(), T0).unwrap(),
    ] {
        sent(&mut conn);
        assert_eq!(conn.poll_timeout(), Some(ms(10_000)));
        conn.handle_timeout(ms(9_999));
        assert!(!conn.is_closed());
        conn.handle_timeout(ms(10_000));
        assert_local_error(&mut conn, ErrorCode::HANDSHAKE_TIMEOUT);
    }
}

// ---- §1 framing -------------------------------------------------------------

#[test]
fn wrong_role_frames_are_protocol_errors() {
    let mut s = server();
    s.recv(
        &wire(&[Frame::Response {
            id: id(1),
            more: false,
            body: Bytes::new(),
        }]),
        T0,
    );
    assert_local_error(&mut s, ErrorCode::PROTOCOL_ERROR);
    let mut c = client();
    c.recv(&wire(&[req(1, b"x")]), T0);
    assert_local_error(&mut c, ErrorCode::PROTOCOL_ERROR);
    let mut c = client();
    c.recv(&wire(&[Frame::Cancel { id: id(1) }]), T0);
    assert_local_error(&mut c, ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn frame_limit_is_the_default_until_the_handshake_then_ours() {
    let small = Settings {
        max_frame_size: 1024,
        ..Settings::default()
    };
    // Before the handshake, 65,536 applies even though we advertise 1,024.
    let mut s = Connection::server(config(small), T0).unwrap();
    let mut big_hello = BytesMut::new();
    Header {
        length: 65_537,
        ty: frame::FrameType::HELLO,
        flags: 0,
        id: 0,
    }
    .encode(&mut big_hello);
    s.recv(&big_hello, T0);
    assert_local_error(&mut s, ErrorCode::FRAME_TOO_LARGE);

    let mut s = server_with(small, Settings::default());
    let mut raw = BytesMut::new();
    Header {
        length: 1025,
        ty: frame::FrameType(0x7F),
        flags: 0,
        id: 0,
    }
    .encode(&mut raw);
    s.recv(&raw, T0);
    assert_local_error(&mut s, ErrorCode::FRAME_TOO_LARGE);
}

#[test]
fn unknown_frame_types_are_skipped_after_the_handshake() {
    let mut s = server();
    let mut raw = BytesMut::new();
    Header {
        length: 3,
        ty: frame::FrameType(0x42),
        flags: 0xFF,
        id: 9,
    }
    .encode(&mut raw);
    raw.extend_from_slice(b"abc");
    raw.extend_from_slice(&wire(&[req(1, b"after")]));
    s.recv(&raw, T0);
    assert!(matches!(events(&mut s)[..], [Event::Request { id: got, .. }] if got == id(1)));
}

// ---- §4 requests and responses ----------------------------------------------

#[test]
fn request_ids_must_increase() {
    let mut s = server();
    s.recv(&wire(&[req(5, b"a"), req(3, b"b")]), T0);
    assert_local_error(&mut s, ErrorCode::PROTOCOL_ERROR);
    let mut s = server();
    s.recv(&wire(&[req(5, b"a"), req(5, b"again")]), T0);
    assert_local_error(&mut s, ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn a_cancel_does_not_count_as_seen() {
    let mut s = server();
    s.recv(&wire(&[Frame::Cancel { id: id(9) }, req(2, b"fine")]), T0);
    assert!(matches!(events(&mut s)[..], [Event::Request { id: got, .. }] if got == id(2)));
}

#[test]
fn more_frames_are_reassembled_and_may_interleave() {
    let mut s = server();
    let part = |id, more, body: &'static [u8]| Frame::Request {
        id: RequestId::new(id),
        more,
        timeout_ms: None,
        body: Bytes::from_static(body),
    };
    s.recv(
        &wire(&[
            part(1, true, b"he"),
            part(2, true, b"wo"),
            part(1, false, b"llo"),
        ]),
        T0,
    );
    s.recv(&wire(&[part(2, false, b"rld")]), T0);
    let ev = events(&mut s);
    let bodies: Vec<(RequestId, Bytes)> = ev
        .into_iter()
        .filter_map(|e| match e {
            Event::Request { id, body, .. } => Some((id, body)),
            _ => None,
        })
        .collect();
    assert_eq!(
        bodies,
        [
            (id(1), Bytes::from_static(b"hello")),
            (id(2), Bytes::from_static(b"world"))
        ]
    );
}

#[test]
fn continuation_without_a_message_is_a_protocol_error() {
    let mut s = server();
    s.recv(&wire(&[req(1, b"done"), req(1, b"more?")]), T0);
    assert_local_error(&mut s, ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn deadline_on_a_continuation_is_a_protocol_error() {
    let mut s = server();
    let first = Frame::Request {
        id: id(1),
        more: true,
        timeout_ms: None,
        body: Bytes::new(),
    };
    let second = Frame::Request {
        id: id(1),
        more: false,
        timeout_ms: Some(5),
        body: Bytes::new(),
    };
    s.recv(&wire(&[first, second]), T0);
    assert_local_error(&mut s, ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn bodies_are_split_to_the_peer_frame_size() {
    let small = Settings {
        max_frame_size: 1024,
        ..Settings::default()
    };
    let mut c = client_with(Settings::default(), small);
    let body = Bytes::from(alloc::vec![3u8; 2500]);
    c.send_request(body.clone(), Some(Duration::from_secs(1)), T0)
        .unwrap();
    let frames = sent(&mut c);
    let lens: Vec<(usize, bool, bool)> = frames
        .iter()
        .map(|f| match f {
            Frame::Request {
                more,
                timeout_ms,
                body,
                ..
            } => (body.len(), *more, timeout_ms.is_some()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        lens,
        [(1020, true, true), (1024, true, false), (456, false, false)]
    );
    for f in &frames {
        assert!(f.payload_len() <= 1024);
    }
}

#[test]
fn reassembled_body_over_max_message_size_is_a_connection_error() {
    let limit = Settings {
        max_message_size: 1024,
        ..Settings::default()
    };
    let mut s = server_with(limit, Settings::default());
    let chunk = Bytes::from(alloc::vec![0u8; 600]);
    let part = |more| Frame::Request {
        id: id(1),
        more,
        timeout_ms: None,
        body: chunk.clone(),
    };
    s.recv(&wire(&[part(true), part(false)]), T0);
    assert_local_error(&mut s, ErrorCode::MESSAGE_TOO_LARGE);
}

#[test]
fn senders_refuse_bodies_the_peer_would_refuse() {
    let limit = Settings {
        max_message_size: 1024,
        max_frame_size: 1024,
        ..Settings::default()
    };
    let mut c = client_with(Settings::default(), limit);
    let big = Bytes::from(alloc::vec![0u8; 1025]);
    assert_eq!(
        c.send_request(big.clone(), None, T0),
        Err(SendError::TooLarge {
            size: 1025,
            limit: 1024
        })
    );
    assert!(matches!(
        c.notify(big.clone(), T0),
        Err(SendError::TooLarge { .. })
    ));
    assert!(sent(&mut c).is_empty());

    // A server answers ERROR MESSAGE_TOO_LARGE instead of a too-large response.
    let mut s = server_with(Settings::default(), limit);
    s.recv(&wire(&[req(1, b"!bytes 2000")]), T0);
    events(&mut s);
    assert!(matches!(
        s.respond(id(1), big, T0),
        Err(SendError::TooLarge { .. })
    ));
    assert!(matches!(
        sent(&mut s)[..],
        [Frame::Error {
            id: got,
            code: ErrorCode::MESSAGE_TOO_LARGE,
            ..
        }] if got == id(1)
    ));
}

#[test]
fn client_queues_beyond_the_servers_concurrency_limit() {
    let two = Settings {
        max_concurrent_requests: 2,
        ..Settings::default()
    };
    let mut c = client_with(Settings::default(), two);
    for _ in 0..3 {
        c.send_request(Bytes::from_static(b"x"), None, T0).unwrap();
    }
    assert_eq!(sent(&mut c).len(), 2);
    assert_eq!((c.outstanding(), c.queued()), (2, 1));
    c.recv(
        &wire(&[Frame::Response {
            id: id(1),
            more: false,
            body: Bytes::new(),
        }]),
        T0,
    );
    assert!(matches!(sent(&mut c)[..], [Frame::Request { id: got, .. }] if got == id(3)));
}

#[test]
fn server_refuses_requests_beyond_its_limit_and_stays_up() {
    let one = Settings {
        max_concurrent_requests: 1,
        ..Settings::default()
    };
    let mut s = server_with(one, Settings::default());
    s.recv(&wire(&[req(1, b"a"), req(2, b"b")]), T0);
    assert!(matches!(
        sent(&mut s)[..],
        [Frame::Error {
            id: got,
            code: ErrorCode::TOO_MANY_REQUESTS,
            ..
        }] if got == id(2)
    ));
    assert!(!s.is_closed());
    s.respond(id(1), Bytes::new(), T0).unwrap();
    s.recv(&wire(&[req(3, b"c")]), T0);
    let ev = events(&mut s);
    assert!(matches!(
        ev[..],
        [Event::Request { id: a, .. }, Event::Request { id: b, .. }] if (a, b) == (id(1), id(3))
    ));
}

#[test]
fn server_deadline_expires_at_receipt_plus_budget() {
    let mut s = server();
    let r = Frame::Request {
        id: id(1),
        more: false,
        timeout_ms: Some(200),
        body: Bytes::new(),
    };
    s.recv(&wire(&[r]), ms(1_000));
    assert!(
        matches!(events(&mut s)[..], [Event::Request { id: got, deadline: Some(d), .. }] if got == id(1) && d == ms(1_200))
    );
    assert_eq!(s.poll_timeout(), Some(ms(1_200)));
    s.handle_timeout(ms(1_199));
    assert!(sent(&mut s).is_empty());
    s.handle_timeout(ms(1_200));
    assert!(matches!(
        sent(&mut s)[..],
        [Frame::Error {
            id: got,
            code: ErrorCode::DEADLINE_EXCEEDED,
            ..
        }] if got == id(1)
    ));
    assert_eq!(
        events(&mut s),
        [Event::RequestAbandoned {
            id: id(1),
            reason: AbandonReason::DeadlineExceeded
        }]
    );
    assert_eq!(
        s.respond(id(1), Bytes::new(), ms(1_201)),
        Err(SendError::UnknownRequest(id(1)))
    );
}

#[test]
fn a_zero_budget_is_already_expired() {
    let mut s = server();
    let r = Frame::Request {
        id: id(1),
        more: false,
        timeout_ms: Some(0),
        body: Bytes::new(),
    };
    s.recv(&wire(&[r]), T0);
    assert!(events(&mut s).is_empty());
    assert!(matches!(
        sent(&mut s)[..],
        [Frame::Error {
            id: got,
            code: ErrorCode::DEADLINE_EXCEEDED,
            ..
        }] if got == id(1)
    ));
}

#[test]
fn client_deadline_times_out_and_cancels() {
    let mut c = client();
    let id = c
        .send_request(
            Bytes::from_static(b"slow"),
            Some(Duration::from_millis(250)),
            ms(10),
        )
        .unwrap();
    assert!(matches!(
        sent(&mut c)[..],
        [Frame::Request {
            timeout_ms: Some(250),
            ..
        }]
    ));
    assert_eq!(c.poll_timeout(), Some(ms(260)));
    c.handle_timeout(ms(260));
    assert_eq!(
        events(&mut c),
        [Event::RequestFailed {
            id,
            error: RequestError::TimedOut
        }]
    );
    assert_eq!(sent(&mut c), [Frame::Cancel { id }]);
    // A late response is discarded silently.
    c.recv(
        &wire(&[Frame::Response {
            id,
            more: false,
            body: Bytes::new(),
        }]),
        ms(300),
    );
    assert!(events(&mut c).is_empty());
    assert!(!c.is_closed());
}

#[test]
fn responses_for_ids_never_used_are_protocol_errors() {
    let mut c = client();
    c.send_request(Bytes::new(), None, T0).unwrap();
    sent(&mut c);
    c.recv(
        &wire(&[Frame::Response {
            id: id(2),
            more: false,
            body: Bytes::new(),
        }]),
        T0,
    );
    assert_local_error(&mut c, ErrorCode::PROTOCOL_ERROR);
    let mut c = client();
    c.recv(
        &wire(&[Frame::Error {
            id: id(1),
            code: ErrorCode(0x100),
            message: String::new(),
        }]),
        T0,
    );
    assert_local_error(&mut c, ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn cancel_ends_the_request_at_both_ends() {
    let (mut c, mut s) = (client(), server());
    let id = c
        .send_request(Bytes::from_static(b"work"), None, T0)
        .unwrap();
    exchange(&mut c, &mut s, T0);
    assert!(matches!(events(&mut s)[..], [Event::Request { .. }]));
    c.cancel(id, T0).unwrap();
    assert_eq!(
        events(&mut c),
        [Event::RequestFailed {
            id,
            error: RequestError::Cancelled
        }]
    );
    exchange(&mut c, &mut s, T0);
    assert_eq!(
        events(&mut s),
        [Event::RequestAbandoned {
            id,
            reason: AbandonReason::Cancelled
        }]
    );
    assert_eq!(
        s.respond(id, Bytes::new(), T0),
        Err(SendError::UnknownRequest(id))
    );
    // CANCEL for an id that is not outstanding is ignored.
    s.recv(
        &wire(&[Frame::Cancel {
            id: RequestId::new(77),
        }]),
        T0,
    );
    assert!(!s.is_closed());
}

#[test]
fn continuation_of_an_abandoned_message_is_discarded_but_counted() {
    let limit = Settings {
        max_message_size: 1024,
        ..Settings::default()
    };
    let mut s = server_with(limit, Settings::default());
    let part = |more, n| Frame::Request {
        id: id(1),
        more,
        timeout_ms: None,
        body: Bytes::from(alloc::vec![0u8; n]),
    };
    s.recv(
        &wire(&[
            part(true, 100),
            Frame::Cancel { id: id(1) },
            part(true, 100),
        ]),
        T0,
    );
    assert!(!s.is_closed());
    s.recv(&wire(&[part(false, 900)]), T0);
    assert_local_error(&mut s, ErrorCode::MESSAGE_TOO_LARGE);
}

#[test]
fn exhausted_ids_stop_new_requests_and_drain() {
    let mut c = client();
    c.requests.next_id = Some(RequestId::MAX);
    let id = c.send_request(Bytes::new(), None, T0).unwrap();
    assert_eq!(id, RequestId::MAX);
    let frames = sent(&mut c);
    assert!(matches!(
        frames[..],
        [
            Frame::Request { .. },
            Frame::GoAway {
                code: ErrorCode::NO_ERROR,
                last_id: RequestId::MAX,
                ..
            }
        ]
    ));
    assert_eq!(
        c.send_request(Bytes::new(), None, T0),
        Err(SendError::Closed)
    );
}

// ---- §5 keepalive and idle ----------------------------------------------------

#[test]
fn ping_is_answered_with_pong_ahead_of_bulk_data() {
    let mut s = server();
    s.recv(&wire(&[req(1, b"x")]), T0);
    events(&mut s);
    s.respond(id(1), Bytes::from(alloc::vec![0u8; 8192]), T0)
        .unwrap();
    s.recv(
        &wire(&[Frame::Ping {
            data: [1, 2, 3, 4, 5, 6, 7, 8],
        }]),
        T0,
    );
    let frames = sent(&mut s);
    assert_eq!(
        frames[0],
        Frame::Pong {
            data: [1, 2, 3, 4, 5, 6, 7, 8]
        }
    );
    // An unsolicited PONG is ignored.
    s.recv(&wire(&[Frame::Pong { data: [9; 8] }]), T0);
    assert!(events(&mut s).is_empty() && !s.is_closed());
}

#[test]
fn keepalive_pings_after_the_interval_and_times_out_after_that() {
    let mut c = client();
    assert_eq!(c.poll_timeout(), Some(ms(15_000)));
    c.handle_timeout(ms(15_000));
    assert!(matches!(sent(&mut c)[..], [Frame::Ping { .. }]));
    assert_eq!(c.poll_timeout(), Some(ms(25_000)));
    c.handle_timeout(ms(25_000));
    assert_local_error(&mut c, ErrorCode::KEEPALIVE_TIMEOUT);
}

#[test]
fn anything_received_resets_keepalive() {
    let mut c = client();
    c.handle_timeout(ms(15_000));
    let ping = sent(&mut c);
    let Frame::Ping { data } = ping[0] else {
        panic!()
    };
    c.recv(&wire(&[Frame::Pong { data }]), ms(15_010));
    assert_eq!(events(&mut c), [Event::Pong { data }]);
    assert_eq!(c.poll_timeout(), Some(ms(30_010)));
}

#[test]
fn idle_timeout_is_the_smaller_nonzero_value() {
    let a = Settings {
        idle_timeout_ms: 5_000,
        ..Settings::default()
    };
    let b = Settings {
        idle_timeout_ms: 0,
        ..Settings::default()
    };
    let mut s = server_with(a, b);
    let keepalive_off = Config {
        keepalive_interval: None,
        ..config(a)
    };
    s.config = keepalive_off;
    assert_eq!(s.poll_timeout(), Some(ms(5_000)));
    // PING does not count as activity.
    s.recv(&wire(&[Frame::Ping { data: [0; 8] }]), ms(4_000));
    sent(&mut s);
    s.handle_timeout(ms(5_000));
    let frames = sent(&mut s);
    assert_goaway(&frames, ErrorCode::IDLE_TIMEOUT);
    assert_eq!(
        closed_with(&events(&mut s)),
        Some(None),
        "idle close is graceful"
    );

    let none = Settings {
        idle_timeout_ms: 0,
        ..Settings::default()
    };
    let mut s = server_with(none, none);
    s.config.keepalive_interval = None;
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn outstanding_requests_hold_off_the_idle_timeout() {
    let short = Settings {
        idle_timeout_ms: 1_000,
        ..Settings::default()
    };
    let mut s = server_with(short, short);
    s.config.keepalive_interval = None;
    s.recv(&wire(&[req(1, b"x")]), ms(500));
    assert_eq!(s.poll_timeout(), None);
    s.respond(id(1), Bytes::new(), ms(3_000)).unwrap();
    assert_eq!(s.poll_timeout(), Some(ms(4_000)));
}

// ---- §6 closing -----------------------------------------------------------------

#[test]
fn graceful_server_close_drains_and_refuses_newer_requests() {
    let (mut c, mut s) = (client(), server());
    let first = c.send_request(Bytes::from_static(b"1"), None, T0).unwrap();
    exchange(&mut c, &mut s, T0);
    events(&mut s);
    s.close(ErrorCode::SHUTTING_DOWN, "bye", T0);
    // A request the server had not seen when it sent GOAWAY.
    s.recv(&wire(&[req(2, b"late")]), T0);
    let frames = sent(&mut s);
    assert!(matches!(
        frames[..],
        [
            Frame::GoAway {
                last_id: last,
                code: ErrorCode::SHUTTING_DOWN,
                ..
            },
            Frame::Error {
                id: refused,
                code: ErrorCode::SHUTTING_DOWN,
                ..
            }
        ] if (last, refused) == (id(1), id(2))
    ));
    assert!(s.is_draining());
    let second = c.send_request(Bytes::from_static(b"2"), None, T0).unwrap();
    sent(&mut c); // lost on purpose: the server already refused id 2 above
    c.recv(&wire(&[frames[0].clone()]), T0);
    let ev = events(&mut c);
    assert!(ev.contains(&Event::RequestFailed {
        id: second,
        error: RequestError::NotProcessed
    }));
    assert_eq!(
        c.send_request(Bytes::new(), None, T0),
        Err(SendError::Closed)
    );
    s.respond(first, Bytes::from_static(b"done"), T0).unwrap();
    exchange(&mut c, &mut s, T0);
    let ev = events(&mut c);
    assert!(ev.contains(&Event::Response {
        id: first,
        body: Bytes::from_static(b"done")
    }));
    assert_eq!(closed_with(&ev), Some(None));
    assert_eq!(closed_with(&events(&mut s)), Some(None));
    assert!(c.is_closed() && s.is_closed());
}

#[test]
fn client_close_fails_queued_requests_as_not_processed() {
    let mut c = Connection::client(Config::default(), T0).unwrap();
    let id = c.send_request(Bytes::new(), None, T0).unwrap();
    c.close(ErrorCode::NO_ERROR, "", T0);
    let ev = events(&mut c);
    assert_eq!(
        ev[0],
        Event::RequestFailed {
            id,
            error: RequestError::NotProcessed
        }
    );
    assert_eq!(closed_with(&ev), Some(None));
}

#[test]
fn drain_timeout_forces_the_close() {
    let mut s = server();
    s.recv(&wire(&[req(1, b"stuck")]), T0);
    events(&mut s);
    s.close(ErrorCode::SHUTTING_DOWN, "", ms(100));
    assert_eq!(s.poll_timeout(), Some(ms(15_000)), "keepalive comes first");
    s.handle_timeout(ms(30_099));
    assert!(!s.is_closed());
    s.handle_timeout(ms(30_100));
    let ev = events(&mut s);
    assert!(ev.contains(&Event::RequestAbandoned {
        id: id(1),
        reason: AbandonReason::ConnectionClosed
    }));
    assert_eq!(closed_with(&ev), Some(Some(ConnectionError::DrainTimeout)));
}

#[test]
fn error_goaway_fails_everything_and_later_bytes_are_ignored() {
    let mut c = client();
    let id = c.send_request(Bytes::new(), None, T0).unwrap();
    sent(&mut c);
    let bad = Frame::GoAway {
        last_id: RequestId::NONE,
        code: ErrorCode::PROTOCOL_ERROR,
        reason: "no".into(),
    };
    let mut bytes = wire(&[bad]);
    bytes.extend_from_slice(b"garbage that would be an error");
    c.recv(&bytes, T0);
    let ev = events(&mut c);
    assert!(
        matches!(&ev[1], Event::RequestFailed { id: i, error: RequestError::Connection(ConnectionError::Remote { .. }) } if *i == id)
    );
    assert!(matches!(
        closed_with(&ev),
        Some(Some(ConnectionError::Remote { .. }))
    ));
    assert!(sent(&mut c).is_empty());
}

#[test]
fn end_of_stream_without_goaway_is_connection_lost() {
    let mut c = client();
    let id = c.send_request(Bytes::new(), None, T0).unwrap();
    c.recv_eof(T0);
    let ev = events(&mut c);
    assert_eq!(
        ev[0],
        Event::RequestFailed {
            id,
            error: RequestError::Connection(ConnectionError::Lost)
        }
    );
    assert_eq!(closed_with(&ev), Some(Some(ConnectionError::Lost)));
}

#[test]
fn a_failed_connection_sends_goaway_with_last_id() {
    let mut s = server();
    s.recv(&wire(&[req(4, b"a")]), T0);
    s.recv(&wire(&[Frame::Ping { data: [0; 8] }]), T0);
    sent(&mut s);
    s.recv(&[0, 0, 0, 0, 0x09, 0, 0, 0, 0, 0], T0); // PONG with 0 bytes
    let frames = sent(&mut s);
    assert!(matches!(
        frames[..],
        [Frame::GoAway {
            last_id: last,
            code: ErrorCode::PROTOCOL_ERROR,
            ..
        }] if last == id(4)
    ));
}

// ---- the push/poll contract ------------------------------------------------------

#[test]
fn back_pressure_stops_reading_above_the_high_water_mark() {
    let mut s = server();
    s.config.send_high_water = 4096;
    s.recv(&wire(&[req(1, b"x")]), T0);
    events(&mut s);
    assert!(s.wants_read());
    s.respond(id(1), Bytes::from(alloc::vec![0u8; 5000]), T0)
        .unwrap();
    assert!(!s.wants_read());
    s.advance_transmit(2000);
    assert!(s.wants_read());
}

#[test]
fn a_client_keeps_reading_while_it_sends_but_not_under_a_ping_flood() {
    let mut c = client();
    c.config.send_high_water = 4096;
    c.send_request(Bytes::from(alloc::vec![0u8; 50_000]), None, T0)
        .unwrap();
    assert!(
        c.wants_read(),
        "its own request bodies must not stop it reading responses"
    );
    let pings: Vec<Frame> = (0..300).map(|_| Frame::Ping { data: [0; 8] }).collect();
    c.recv(&wire(&pings), T0);
    assert!(!c.wants_read(), "PONGs the server never reads are bounded");
}

#[test]
fn received_payloads_are_slices_of_the_receive_buffer() {
    let mut s = server();
    let body = Bytes::from(alloc::vec![5u8; 60_000]);
    let bytes = wire(&[Frame::Request {
        id: id(1),
        more: false,
        timeout_ms: None,
        body,
    }]);
    let buf = s.recv_buffer();
    buf.extend_from_slice(&bytes);
    let start = buf.as_ptr() as usize;
    s.handle_input(T0);
    let Some(Event::Request { body, .. }) = s.poll_event() else {
        panic!()
    };
    assert_eq!(body.as_ptr() as usize, start + HEADER_LEN);
}

#[test]
fn recv_space_and_commit_read_in_place() {
    let mut s = server();
    let bytes = wire(&[req(1, b"in place")]);
    let space = s.recv_space();
    space[..bytes.len()].copy_from_slice(&bytes);
    s.recv_commit(bytes.len(), T0);
    assert!(matches!(events(&mut s)[..], [Event::Request { .. }]));
    // An uncommitted window is discarded, not taken as data.
    let _ = s.recv_space();
    s.recv(&wire(&[req(2, b"next")]), T0);
    assert!(matches!(events(&mut s)[..], [Event::Request { id: got, .. }] if got == id(2)));
}

#[test]
fn commands_check_role_and_state() {
    let mut s = server();
    assert_eq!(
        s.send_request(Bytes::new(), None, T0),
        Err(SendError::WrongRole)
    );
    assert_eq!(
        s.respond_error(id(1), ErrorCode(300), "", T0),
        Err(SendError::UnknownRequest(id(1)))
    );
    let mut c = client();
    assert_eq!(
        c.respond(id(1), Bytes::new(), T0),
        Err(SendError::WrongRole)
    );
    assert_eq!(c.cancel(id(9), T0), Err(SendError::UnknownRequest(id(9))));
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "time went backwards")]
fn time_must_not_go_backwards() {
    let mut c = client();
    c.handle_timeout(ms(10));
    c.handle_timeout(ms(9));
}
