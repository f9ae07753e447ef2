//! §6 closing: GOAWAY, draining, the drain timeout, end of stream.

use super::*;

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
