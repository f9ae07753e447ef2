//! The push/poll contract: back-pressure, the receive paths, commands
//! refused by role and state, time.

use super::*;

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
