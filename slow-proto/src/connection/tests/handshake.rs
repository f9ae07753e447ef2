//! §3 the handshake: HELLO, WELCOME, versions, the handshake timeout.

use super::*;

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
    // Even a frame of an unknown type. No version of SLOW opens with one
    // (§3 fixes HELLO first for every version), so the peer is named as
    // not speaking SLOW; the GOAWAY is the same.
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
    assert_goaway(&sent(&mut s), ErrorCode::PROTOCOL_ERROR);
    let error = closed_with(&events(&mut s)).flatten();
    assert!(
        matches!(
            error,
            Some(ConnectionError::NotSlow {
                code: ErrorCode::PROTOCOL_ERROR,
                ..
            })
        ),
        "{error:?}"
    );
    assert!(s.is_closed());
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

#[test]
fn an_http_server_is_named_as_not_slow_with_its_first_bytes() {
    let mut c = Connection::client(Config::default(), T0).unwrap();
    sent(&mut c);
    c.recv(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", T0);
    assert_goaway(&sent(&mut c), ErrorCode::FRAME_TOO_LARGE);
    let error = closed_with(&events(&mut c)).flatten().expect("an error");
    let ConnectionError::NotSlow {
        expected,
        code,
        ref first_bytes,
    } = error
    else {
        panic!("expected NotSlow, got {error:?}");
    };
    assert_eq!(
        (expected, code, &first_bytes[..]),
        (
            "WELCOME",
            ErrorCode::FRAME_TOO_LARGE,
            &b"HTTP/1.1 400 Bad"[..]
        )
    );
    assert_eq!(
        error.to_string(),
        "the peer does not speak SLOW/1 (no WELCOME frame); its first bytes were `HTTP/1.1 400 Bad` (an HTTP response)"
    );
}

#[test]
fn a_tls_client_is_named_as_not_slow_even_a_byte_at_a_time() {
    // The start of a TLS ClientHello record.
    let hello = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0xaa,
    ];
    let mut s = Connection::server(Config::default(), T0).unwrap();
    for b in hello {
        s.recv(&[b], T0);
    }
    sent(&mut s);
    let error = closed_with(&events(&mut s)).flatten().expect("an error");
    assert!(
        matches!(&error, ConnectionError::NotSlow { expected: "HELLO", first_bytes, .. }
            // Its header was enough to tell: the connection ends there.
            if first_bytes[..] == hello[..HEADER_LEN]),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .ends_with("`\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03` (a TLS record: the peer speaks TLS)"),
        "{error}"
    );
}

#[test]
fn a_tls_servers_alert_to_a_plaintext_client_is_named_not_lost() {
    // What a TLS server sends a plaintext HELLO (a decode_error alert,
    // 7 bytes: less than a frame header) before it closes.
    let alert = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32];
    let mut c = Connection::client(Config::default(), T0).unwrap();
    sent(&mut c);
    c.recv(&alert, T0);
    assert!(
        !c.is_closed(),
        "too short to judge before the end of stream"
    );
    c.recv_eof(T0);
    let error = closed_with(&events(&mut c)).flatten().expect("an error");
    assert!(
        matches!(&error, ConnectionError::NotSlow { expected: "WELCOME", first_bytes, .. }
            if first_bytes[..] == alert[..]),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .ends_with("(a TLS record: the peer speaks TLS)"),
        "{error}"
    );
    // A SLOW peer cut short mid-header is still just lost.
    let mut c = Connection::client(Config::default(), T0).unwrap();
    sent(&mut c);
    c.recv(&[0x00, 0x00, 0x00], T0);
    c.recv_eof(T0);
    assert!(
        matches!(
            closed_with(&events(&mut c)).flatten(),
            Some(ConnectionError::Lost)
        ),
        "a short SLOW-looking start is a lost connection"
    );
}

#[test]
fn a_slow_peer_that_breaks_the_handshake_is_a_violation_not_a_stranger() {
    // A REQUEST where HELLO belongs: SLOW, but wrong.
    let mut s = Connection::server(Config::default(), T0).unwrap();
    s.recv(&wire(&[req(1, b"too early")]), T0);
    assert_local_error(&mut s, ErrorCode::PROTOCOL_ERROR);
    // A HELLO with a wrong magic is not SLOW.
    let mut s = Connection::server(Config::default(), T0).unwrap();
    let mut bad = wire(&[hello(&Settings::default())]);
    bad[10..14].copy_from_slice(b"SLOP");
    s.recv(&bad, T0);
    sent(&mut s);
    let error = closed_with(&events(&mut s)).flatten();
    assert!(
        matches!(
            error,
            Some(ConnectionError::NotSlow {
                code: ErrorCode::PROTOCOL_ERROR,
                ..
            })
        ),
        "{error:?}"
    );
}
