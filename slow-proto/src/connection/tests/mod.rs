//! One test (or a few) per rule of PROTOCOL.md, on raw frames and a virtual
//! clock. Scenario-level properties live in `tests/sim_properties.rs`.
//!
//! One file per part of the protocol; this one holds what they share.

mod close;
mod close_after;
mod completion;
mod framing;
mod handshake;
mod keepalive;
mod push_poll;
mod requests;

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
