//! PROTOCOL.md §3 (and §1's rules for the first frame): HELLO, WELCOME,
//! version negotiation, and what a server does with anything else first.

use std::time::{Duration, Instant};

use slow_proto::frame::{FrameType, MAGIC, VERSION};
use slow_proto::{ErrorCode, Settings};

use super::wire::{PROMPT, Peer, frame_bytes, handshake_bytes, hello_bytes};
use super::{Check, CheckResult, Outcome, Target, ensure, fail};

pub(super) const CHECKS: &[Check] = &[
    Check::new(
        "handshake-welcome",
        "HELLO version 1 → WELCOME version 1, id 0, valid settings",
        welcome,
    ),
    Check::new(
        "handshake-version-7",
        "HELLO version 7 (and 255) → WELCOME version 1",
        version_7,
    ),
    Check::new(
        "handshake-version-0",
        "HELLO version 0 → GOAWAY VERSION_MISMATCH, last id 0, stream ends",
        version_0,
    ),
    Check::new(
        "handshake-bad-magic",
        "HELLO with magic SLOX → GOAWAY PROTOCOL_ERROR",
        bad_magic,
    ),
    Check::new(
        "handshake-no-version",
        "HELLO payload `SLOW` without a version byte → PROTOCOL_ERROR",
        no_version,
    ),
    Check::new(
        "handshake-hello-id",
        "HELLO with id 1 → PROTOCOL_ERROR",
        hello_id,
    ),
    Check::new(
        "handshake-first-request",
        "REQUEST as the first frame → PROTOCOL_ERROR",
        first_request,
    ),
    Check::new(
        "handshake-first-ping",
        "PING as the first frame → PROTOCOL_ERROR",
        first_ping,
    ),
    Check::new(
        "handshake-first-welcome",
        "WELCOME from the client as the first frame → PROTOCOL_ERROR",
        first_welcome,
    ),
    Check::new(
        "handshake-first-unknown",
        "a frame of unknown type first → PROTOCOL_ERROR",
        first_unknown,
    ),
    Check::new(
        "handshake-first-oversized",
        "first header with length 65,537 → FRAME_TOO_LARGE, no payload sent",
        first_oversized,
    ),
    Check::new(
        "handshake-garbage",
        "binary garbage instead of HELLO → PROTOCOL_ERROR",
        garbage,
    ),
    Check::new(
        "handshake-http",
        "an HTTP request instead of HELLO → FRAME_TOO_LARGE (length read first)",
        http,
    ),
    Check::new(
        "handshake-second-hello",
        "a second HELLO after the handshake → PROTOCOL_ERROR",
        second_hello,
    ),
    Check::new(
        "handshake-one-byte-writes",
        "HELLO written one byte per write → WELCOME",
        one_byte_writes,
    ),
    Check::new(
        "handshake-timeout",
        "silence after connecting → GOAWAY HANDSHAKE_TIMEOUT (needs the server's value)",
        timeout,
    ),
];

fn welcome(t: &Target) -> CheckResult {
    let mut peer = Peer::connect(t)?;
    peer.send_hello(VERSION, &[])?;
    let h = peer.expect_welcome()?;
    ensure!(
        h.version() == 1,
        "WELCOME version {} (expected 1)",
        h.version()
    );
    // The decoder has checked magic, id 0, block shape and every range.
    let s = h.settings();
    ensure!(
        s.max_frame_size >= Settings::MIN_MAX_FRAME_SIZE,
        "MAX_FRAME_SIZE {} too small",
        s.max_frame_size
    );
    peer.ping_pong(*b"welcome!")?;
    Ok(Outcome::Pass)
}

fn version_7(t: &Target) -> CheckResult {
    for version in [7, 255] {
        let mut peer = Peer::connect(t)?;
        peer.send_hello(version, &[])?;
        let h = peer.expect_welcome()?;
        ensure!(
            h.version() == 1,
            "HELLO version {version} got WELCOME version {} (expected 1)",
            h.version()
        );
    }
    Ok(Outcome::Pass)
}

/// Sends `bytes` as the connection's opening and expects GOAWAY `code`
/// with last id 0, then the end of the stream.
fn opening_refused(t: &Target, bytes: &[u8], code: ErrorCode) -> CheckResult {
    let mut peer = Peer::connect(t)?;
    peer.send_raw(bytes)?;
    let last_id = peer.expect_goaway(code, PROMPT)?;
    ensure!(
        last_id == 0,
        "GOAWAY last id {last_id} before any request (expected 0)"
    );
    Ok(Outcome::Pass)
}

fn version_0(t: &Target) -> CheckResult {
    opening_refused(t, &hello_bytes(0, &[]), ErrorCode::VERSION_MISMATCH)
}

fn bad_magic(t: &Target) -> CheckResult {
    opening_refused(
        t,
        &handshake_bytes(1, 0, b"SLOX", 1, &[]),
        ErrorCode::PROTOCOL_ERROR,
    )
}

fn no_version(t: &Target) -> CheckResult {
    opening_refused(
        t,
        &frame_bytes(FrameType::HELLO.0, 0, 0, &MAGIC),
        ErrorCode::PROTOCOL_ERROR,
    )
}

fn hello_id(t: &Target) -> CheckResult {
    opening_refused(
        t,
        &handshake_bytes(1, 1, &MAGIC, 1, &[]),
        ErrorCode::PROTOCOL_ERROR,
    )
}

fn first_request(t: &Target) -> CheckResult {
    opening_refused(
        t,
        &frame_bytes(FrameType::REQUEST.0, 0, 1, b"hi"),
        ErrorCode::PROTOCOL_ERROR,
    )
}

fn first_ping(t: &Target) -> CheckResult {
    opening_refused(
        t,
        &frame_bytes(FrameType::PING.0, 0, 0, b"12345678"),
        ErrorCode::PROTOCOL_ERROR,
    )
}

fn first_welcome(t: &Target) -> CheckResult {
    opening_refused(
        t,
        &handshake_bytes(FrameType::WELCOME.0, 0, &MAGIC, 1, &[]),
        ErrorCode::PROTOCOL_ERROR,
    )
}

fn first_unknown(t: &Target) -> CheckResult {
    opening_refused(
        t,
        &frame_bytes(0x7F, 0, 0, b"SLOW\x01"),
        ErrorCode::PROTOCOL_ERROR,
    )
}

fn first_oversized(t: &Target) -> CheckResult {
    // A HELLO header announcing one byte more than the pre-handshake limit;
    // the payload never comes, so only the header can be judged.
    let mut peer = Peer::connect(t)?;
    peer.send_header(
        Settings::DEFAULT_MAX_FRAME_SIZE + 1,
        FrameType::HELLO.0,
        0,
        0,
    )?;
    peer.expect_goaway(ErrorCode::FRAME_TOO_LARGE, PROMPT)?;
    Ok(Outcome::Pass)
}

fn garbage(t: &Target) -> CheckResult {
    // A small length, then noise: a "frame" of type 0xBE.
    let mut bytes = vec![0, 0, 0, 8];
    bytes.extend((0u32..18).map(|i| (i.wrapping_mul(97) ^ 0xBE) as u8));
    bytes[4] = 0xBE;
    opening_refused(t, &bytes, ErrorCode::PROTOCOL_ERROR)
}

fn http(t: &Target) -> CheckResult {
    // "GET " read as a length is 0x47455420, far above 65,536.
    opening_refused(
        t,
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ErrorCode::FRAME_TOO_LARGE,
    )
}

fn second_hello(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.send_raw(&hello_bytes(1, &[]))?;
    peer.expect_goaway(ErrorCode::PROTOCOL_ERROR, PROMPT)?;
    Ok(Outcome::Pass)
}

fn one_byte_writes(t: &Target) -> CheckResult {
    let mut peer = Peer::connect(t)?;
    let block = super::wire::settings_block(&[(Settings::KEY_MAX_CONCURRENT_REQUESTS, 64)]);
    for b in hello_bytes(1, &block) {
        peer.send_raw(&[b])?;
        std::thread::sleep(Duration::from_millis(1));
    }
    peer.expect_welcome()?;
    peer.ping_pong(*b"bytewise")?;
    Ok(Outcome::Pass)
}

fn timeout(t: &Target) -> CheckResult {
    let Some(limit) = t.hints.handshake_timeout else {
        return Ok(Outcome::Skip(
            "needs the server's --handshake-timeout-ms (pass it to conformance)".into(),
        ));
    };
    if limit > Duration::from_secs(5) {
        return Ok(Outcome::Skip(format!(
            "handshake timeout {} ms is too long to wait for",
            limit.as_millis()
        )));
    }
    // Half a HELLO is no handshake either.
    let mut peer = Peer::connect(t)?;
    let start = Instant::now();
    peer.send_raw(&hello_bytes(1, &[])[..7])?;
    peer.expect_goaway(ErrorCode::HANDSHAKE_TIMEOUT, limit + PROMPT)?;
    let took = start.elapsed();
    if took + Duration::from_millis(50) < limit {
        fail!(
            "HANDSHAKE_TIMEOUT after {} ms, before the {} ms timeout",
            took.as_millis(),
            limit.as_millis()
        );
    }
    Ok(Outcome::Pass)
}
