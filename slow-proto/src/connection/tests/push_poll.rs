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

/// Payloads still held keep the receive buffer shared, so it cannot grow
/// in place: it is renewed only when less than half a `read_chunk` of room
/// is left, not before every read (which allocated a new buffer twice per
/// round trip). Once the payloads are gone, renewing reclaims it in place.
#[test]
fn the_receive_buffer_is_renewed_only_when_half_used() {
    let mut s = server();
    let chunk = Config::default().read_chunk;
    let mut next = 0;
    let mut request = move || {
        next += 1;
        wire(&[req(next, &[7; 50])])
    };
    // Reads one request through `recv_buffer`; returns where the buffer
    // was and the room it had, and the request's payload.
    let mut read_one = |s: &mut Connection| {
        let frame = request();
        let buf = s.recv_buffer();
        let (at, room) = (buf.as_ptr() as usize, buf.capacity() - buf.len());
        buf.extend_from_slice(&frame);
        s.handle_input(T0);
        let Some(Event::Request { id, body, .. }) = s.poll_event() else {
            panic!("no request")
        };
        s.respond(id, Bytes::new(), T0).unwrap();
        (at, room, body)
    };
    // Holding every payload: the buffer stays until less than half a
    // chunk of room is left, then a new one comes.
    let frame_len = wire(&[req(1, &[7; 50])]).len();
    let mut held = Vec::new();
    let (first, first_room, body) = read_one(&mut s);
    assert!(first_room >= chunk);
    held.push(body);
    let mut expected = first + frame_len;
    let renewed = loop {
        let (at, room, body) = read_one(&mut s);
        held.push(body);
        if at != expected {
            let old_room = first_room - (expected - first);
            assert!(
                old_room < chunk / 2,
                "renewed with {old_room} bytes of room"
            );
            assert!(room >= chunk, "a new buffer has a whole chunk");
            assert!(
                at < first || at >= first + first_room,
                "inside the old buffer"
            );
            break at;
        }
        assert!(room >= chunk / 2);
        expected += frame_len;
        assert!(held.len() < chunk, "never renewed");
    };
    // The payloads still point into the old one, intact.
    assert!(held.iter().all(|b| b[..] == [7; 50]));
    // With no payload held, the next renewal reuses the buffer in place.
    drop(held);
    for reads in 1.. {
        let (at, room, _) = read_one(&mut s);
        if room >= chunk {
            assert_eq!(at, renewed, "a new buffer, not the old one reclaimed");
            break;
        }
        assert!(reads < chunk, "never renewed");
    }
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
