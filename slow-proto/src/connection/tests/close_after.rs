//! `close_after`: a request that ends the connection is answered before
//! the GOAWAY goes out (INTEROP `!close`, the same bytes on every runtime).

use super::*;

#[test]
fn the_answer_goes_out_before_the_goaway() {
    let mut s = server();
    s.recv(&wire(&[req(1, b"!close")]), T0);
    events(&mut s);
    s.close_after(id(1), ErrorCode::SHUTTING_DOWN, "closing", T0);
    assert!(!s.is_draining(), "nothing may go out before the answer");
    assert!(sent(&mut s).is_empty());
    s.respond(id(1), Bytes::from_static(b"closing"), T0)
        .unwrap();
    let frames = sent(&mut s);
    assert!(
        matches!(
            &frames[..],
            [
                Frame::Response { id: answered, more: false, .. },
                Frame::GoAway { last_id, code: ErrorCode::SHUTTING_DOWN, .. },
            ] if (*answered, *last_id) == (id(1), id(1))
        ),
        "sent {frames:?}"
    );
    // Nothing else was outstanding: the close is complete.
    assert!(s.is_closed());
    assert_eq!(closed_with(&events(&mut s)), Some(None));
}

#[test]
fn other_outstanding_requests_still_drain() {
    let mut s = server();
    s.recv(&wire(&[req(1, b"!sleep 400"), req(2, b"!close")]), T0);
    events(&mut s);
    s.close_after(id(2), ErrorCode::SHUTTING_DOWN, "closing", T0);
    s.respond(id(2), Bytes::from_static(b"closing"), T0)
        .unwrap();
    let frames = sent(&mut s);
    assert!(
        matches!(
            &frames[..],
            [
                Frame::Response { id: answered, .. },
                Frame::GoAway { last_id, code: ErrorCode::SHUTTING_DOWN, .. },
            ] if (*answered, *last_id) == (id(2), id(2))
        ),
        "sent {frames:?}"
    );
    assert!(s.is_draining());
    // Newer than the last id: refused; the sleeping one is still answered.
    s.recv(&wire(&[req(3, b"late")]), ms(10));
    let refused = sent(&mut s);
    assert!(matches!(
        &refused[..],
        [Frame::Error { id: r, code: ErrorCode::SHUTTING_DOWN, .. }] if *r == id(3)
    ));
    s.respond(id(1), Bytes::from_static(b"slept 400"), ms(400))
        .unwrap();
    let last = sent(&mut s);
    assert!(matches!(&last[0], Frame::Response { id: r, .. } if *r == id(1)));
    assert!(s.is_closed());
}

#[test]
fn an_abandoned_request_starts_the_close_too() {
    let mut s = server();
    s.recv(&wire(&[req(1, b"!close")]), T0);
    events(&mut s);
    s.close_after(id(1), ErrorCode::SHUTTING_DOWN, "closing", T0);
    s.recv(&wire(&[Frame::Cancel { id: id(1) }]), T0);
    let frames = sent(&mut s);
    assert_goaway(&frames[..1], ErrorCode::SHUTTING_DOWN);
    assert!(
        s.is_closed(),
        "nothing outstanding: the drain is over at once"
    );
}

#[test]
fn without_an_outstanding_request_it_closes_now() {
    let mut s = server();
    s.close_after(id(7), ErrorCode::SHUTTING_DOWN, "closing", T0);
    let frames = sent(&mut s);
    assert!(matches!(
        frames.first(),
        Some(Frame::GoAway { last_id, code: ErrorCode::SHUTTING_DOWN, .. }) if *last_id == RequestId::NONE
    ));
    assert!(s.is_closed());
}

#[test]
fn a_later_call_replaces_an_earlier_one() {
    let mut s = server();
    s.recv(&wire(&[req(1, b"a"), req(2, b"b")]), T0);
    events(&mut s);
    s.close_after(id(1), ErrorCode::SHUTTING_DOWN, "first", T0);
    s.close_after(id(2), ErrorCode::NO_ERROR, "second", T0);
    s.respond(id(1), Bytes::from_static(b"a"), T0).unwrap();
    assert!(!s.is_draining(), "the close waits for request 2 now");
    s.respond(id(2), Bytes::from_static(b"b"), T0).unwrap();
    let frames = sent(&mut s);
    assert!(
        matches!(
            &frames[..],
            [
                Frame::Response { .. },
                Frame::Response { .. },
                Frame::GoAway { code: ErrorCode::NO_ERROR, reason, .. },
            ] if reason == "second"
        ),
        "sent {frames:?}"
    );
}
