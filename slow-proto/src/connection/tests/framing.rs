//! §1 framing: frame limits, roles, unknown frame types.

use super::*;

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
