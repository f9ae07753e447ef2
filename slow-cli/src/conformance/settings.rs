//! PROTOCOL.md §2: the settings block of HELLO is validated, and the server
//! respects the limits the client advertised.

use bytes::Bytes;
use slow_proto::frame::Frame;
use slow_proto::{ErrorCode, RequestId, Settings};

use super::wire::{Answer, Got, PROMPT, Peer, hello_bytes, settings_block, show_body};
use super::{Check, CheckResult, Outcome, Target, ensure, fail};

const FRAME: u16 = Settings::KEY_MAX_FRAME_SIZE;
const MESSAGE: u16 = Settings::KEY_MAX_MESSAGE_SIZE;
const CONCURRENT: u16 = Settings::KEY_MAX_CONCURRENT_REQUESTS;
const IDLE: u16 = Settings::KEY_IDLE_TIMEOUT_MS;

pub(super) const CHECKS: &[Check] = &[
    Check::new(
        "settings-ragged-block",
        "settings block not a multiple of 6 bytes → PROTOCOL_ERROR",
        ragged,
    ),
    Check::new(
        "settings-frame-size-low",
        "MAX_FRAME_SIZE 1,023 → PROTOCOL_ERROR",
        frame_low,
    ),
    Check::new(
        "settings-frame-size-high",
        "MAX_FRAME_SIZE 16,777,216 → PROTOCOL_ERROR",
        frame_high,
    ),
    Check::new(
        "settings-message-size-low",
        "MAX_MESSAGE_SIZE 1,023 → PROTOCOL_ERROR",
        message_low,
    ),
    Check::new(
        "settings-concurrent-zero",
        "MAX_CONCURRENT_REQUESTS 0 → PROTOCOL_ERROR",
        concurrent_zero,
    ),
    Check::new(
        "settings-duplicate-key",
        "a known key twice → PROTOCOL_ERROR",
        duplicate,
    ),
    Check::new(
        "settings-unknown-keys",
        "unknown keys (repeated, and key 0) are ignored",
        unknown_keys,
    ),
    Check::new(
        "settings-boundaries",
        "every boundary value of §2 is accepted",
        boundaries,
    ),
    Check::new(
        "settings-peer-frame-size",
        "responses are split to the client's MAX_FRAME_SIZE 1,024",
        peer_frame_size,
    ),
    Check::new(
        "settings-peer-message-size",
        "`!bytes` over the client's MAX_MESSAGE_SIZE → ERROR MESSAGE_TOO_LARGE",
        peer_message_size,
    ),
    Check::new(
        "settings-peer-notify-size",
        "`!notify` over the client's MAX_FRAME_SIZE → ERROR MESSAGE_TOO_LARGE, no NOTIFY",
        peer_notify_size,
    ),
];

/// A HELLO with this settings block is refused with PROTOCOL_ERROR.
fn refused(t: &Target, block: &[u8]) -> CheckResult {
    let mut peer = Peer::connect(t)?;
    peer.send_raw(&hello_bytes(1, block))?;
    peer.expect_goaway(ErrorCode::PROTOCOL_ERROR, PROMPT)?;
    Ok(Outcome::Pass)
}

fn ragged(t: &Target) -> CheckResult {
    let mut block = settings_block(&[(CONCURRENT, 16)]);
    block.pop();
    refused(t, &block)
}

fn frame_low(t: &Target) -> CheckResult {
    refused(t, &settings_block(&[(FRAME, 1023)]))
}

fn frame_high(t: &Target) -> CheckResult {
    refused(t, &settings_block(&[(FRAME, 16_777_216)]))
}

fn message_low(t: &Target) -> CheckResult {
    refused(t, &settings_block(&[(MESSAGE, 1023)]))
}

fn concurrent_zero(t: &Target) -> CheckResult {
    refused(t, &settings_block(&[(CONCURRENT, 0)]))
}

fn duplicate(t: &Target) -> CheckResult {
    refused(
        t,
        &settings_block(&[(FRAME, 65_536), (IDLE, 0), (FRAME, 65_536)]),
    )
}

fn unknown_keys(t: &Target) -> CheckResult {
    let mut peer = Peer::open_with(t, &[(0x00FF, 1), (0x00FF, 2), (0, 3), (0xFFFF, u32::MAX)])?;
    peer.request(1, "still here")?;
    expect_body(peer.answer(1, PROMPT)?, b"still here")
}

fn boundaries(t: &Target) -> CheckResult {
    for entries in [
        &[(FRAME, 1024), (MESSAGE, 1024), (CONCURRENT, 1), (IDLE, 0)][..],
        &[
            (FRAME, 16_777_215),
            (MESSAGE, u32::MAX),
            (CONCURRENT, u32::MAX),
            (IDLE, u32::MAX),
        ][..],
    ] {
        let mut peer = Peer::open_with(t, entries)
            .map_err(|e| super::Fail(format!("HELLO with {entries:?}: {}", e.0)))?;
        peer.request(1, "ok")?;
        expect_body(peer.answer(1, PROMPT)?, b"ok")?;
    }
    Ok(Outcome::Pass)
}

fn peer_frame_size(t: &Target) -> CheckResult {
    let mut peer = Peer::open_with(t, &[(FRAME, 1024)])?;
    let n = 5000;
    peer.request(1, format!("!bytes {n}"))?;
    let mut body = Vec::new();
    let mut frames = 0;
    loop {
        match peer.recv_skipping_pings(PROMPT)? {
            // The wire layer already fails any frame over our 1,024.
            Got::Frame(Frame::Response {
                id,
                more,
                body: chunk,
            }) if id == RequestId::new(1) => {
                frames += 1;
                ensure!(
                    !chunk.is_empty() || !more,
                    "an empty RESPONSE frame with MORE"
                );
                body.extend_from_slice(&chunk);
                if !more {
                    break;
                }
            }
            Got::Frame(other) => fail!(
                "expected RESPONSE frames, got {}",
                super::wire::describe(&other)
            ),
            Got::Closed => fail!("connection closed mid-response"),
        }
    }
    ensure!(
        body[..] == slow_interop::pattern(n)[..],
        "the reassembled body is not the `!bytes {n}` pattern"
    );
    ensure!(
        frames >= n.div_ceil(1024),
        "{frames} frames cannot carry {n} bytes at ≤ 1,024 each"
    );
    Ok(Outcome::Pass)
}

fn peer_message_size(t: &Target) -> CheckResult {
    let mut peer = Peer::open_with(t, &[(MESSAGE, 4096)])?;
    peer.request(1, "!bytes 4097")?;
    expect_error(peer.answer(1, PROMPT)?, ErrorCode::MESSAGE_TOO_LARGE)?;
    // A request error only: the connection goes on, and exactly the limit fits.
    peer.request(2, "!bytes 4096")?;
    match peer.answer(2, PROMPT)? {
        Answer::Body(b) if b.len() == 4096 => Ok(Outcome::Pass),
        other => fail!(
            "`!bytes 4096` at MAX_MESSAGE_SIZE 4,096 got {}",
            other.describe()
        ),
    }
}

fn peer_notify_size(t: &Target) -> CheckResult {
    let mut peer = Peer::open_with(t, &[(FRAME, 1024)])?;
    let text = "n".repeat(1025);
    peer.request(1, format!("!notify {text}"))?;
    expect_error(peer.answer(1, PROMPT)?, ErrorCode::MESSAGE_TOO_LARGE)?;
    // Exactly one frame's worth is fine.
    let fits = "f".repeat(1024);
    peer.request(2, format!("!notify {fits}"))?;
    expect_body(peer.answer(2, PROMPT)?, slow_interop::NOTIFIED)?;
    let got = peer.notification(PROMPT)?;
    ensure!(
        got[..] == *fits.as_bytes(),
        "NOTIFY {} (expected the 1,024-byte text)",
        show_body(&got)
    );
    ensure!(
        peer.notifications.is_empty(),
        "the refused NOTIFY was sent as well"
    );
    Ok(Outcome::Pass)
}

/// The answer must be a RESPONSE with exactly `want`.
pub(super) fn expect_body(got: Answer, want: &[u8]) -> CheckResult {
    match got {
        Answer::Body(b) if b[..] == *want => Ok(Outcome::Pass),
        other => fail!(
            "expected RESPONSE {}, got {}",
            show_body(want),
            other.describe()
        ),
    }
}

/// The answer must be an ERROR with `code`.
pub(super) fn expect_error(got: Answer, code: ErrorCode) -> Result<String, super::Fail> {
    match got {
        Answer::Error(c, message) if c == code => Ok(message),
        other => fail!("expected ERROR {code}, got {}", other.describe()),
    }
}

/// A body of `n` bytes that is not a command.
pub(super) fn filler(n: usize) -> Bytes {
    const CYCLE: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::with_capacity(n + CYCLE.len());
    while out.len() < n {
        out.extend_from_slice(CYCLE);
    }
    out.truncate(n);
    Bytes::from(out)
}
