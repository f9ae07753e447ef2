//! §4 requests and responses: ids, reassembly, sizes, concurrency,
//! deadlines and CANCEL.

use super::*;

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

/// `awaits_answer`: from delivery until answered, cancelled, expired or
/// closed; never for an id not delivered, still arriving, or on a client.
#[test]
fn a_request_awaits_its_answer_until_answered_or_abandoned() {
    let mut s = server();
    let part = Frame::Request {
        id: id(4),
        more: true,
        timeout_ms: None,
        body: Bytes::from_static(b"half"),
    };
    let deadline = Frame::Request {
        id: id(3),
        more: false,
        timeout_ms: Some(10),
        body: Bytes::from_static(b"soon"),
    };
    s.recv(&wire(&[req(1, b"a"), req(2, b"b"), deadline, part]), T0);
    assert_eq!(events(&mut s).len(), 3);
    let waiting = |s: &Connection| [1, 2, 3, 4, 5].map(|n| s.awaits_answer(id(n)));
    assert_eq!(waiting(&s), [true, true, true, false, false]);
    s.respond(id(1), Bytes::new(), T0).unwrap();
    s.recv(&wire(&[Frame::Cancel { id: id(2) }]), T0);
    assert_eq!(waiting(&s), [false, false, true, false, false]);
    s.handle_timeout(ms(10));
    assert_eq!(waiting(&s), [false; 5]);
    // The message still arriving, once whole, until the connection closes.
    s.recv(&wire(&[req(4, b"")]), ms(10));
    assert!(s.awaits_answer(id(4)));
    s.close(ErrorCode::NO_ERROR, "bye", ms(10));
    assert!(s.awaits_answer(id(4)), "a graceful close waits for answers");
    s.handle_timeout(ms(100_000)); // past the drain timeout
    assert!(s.is_closed());
    assert!(!s.awaits_answer(id(4)));
    assert!(!client().awaits_answer(id(1)));
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
fn a_client_can_send_a_request_while_a_slot_is_free_and_it_is_open() {
    let two = Settings {
        max_concurrent_requests: 2,
        ..Settings::default()
    };
    let mut c = client_with(Settings::default(), two);
    assert!(c.can_send_request());
    c.send_request(Bytes::from_static(b"x"), None, T0).unwrap();
    assert!(c.can_send_request());
    c.send_request(Bytes::from_static(b"x"), None, T0).unwrap();
    assert!(!c.can_send_request());
    // A queued request holds a slot too: it goes out before any new one.
    c.send_request(Bytes::from_static(b"x"), None, T0).unwrap();
    let answer = |n| {
        wire(&[Frame::Response {
            id: id(n),
            more: false,
            body: Bytes::new(),
        }])
    };
    c.recv(&answer(1), T0);
    assert!(!c.can_send_request()); // the queued one took the slot
    c.recv(&answer(2), T0);
    assert!(c.can_send_request());
    // Draining: nothing new opens, whatever the slots.
    c.close(ErrorCode::NO_ERROR, "", T0);
    assert!(!c.can_send_request());
    // Nor before the handshake, nor as a server.
    assert!(
        !Connection::client(Config::default(), T0)
            .unwrap()
            .can_send_request()
    );
    assert!(!server().can_send_request());
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
