//! §5 keepalive and idle.

use super::*;

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
