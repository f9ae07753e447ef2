//! PROTOCOL.md §1 after the handshake: every framing violation and the
//! GOAWAY code it earns, the MAX_FRAME_SIZE check on the header alone, and
//! what must be tolerated (unknown types, undefined flags).

use slow_proto::ErrorCode;
use slow_proto::frame::{FrameType, flags};

use super::settings::{expect_body, filler};
use super::wire::{PROMPT, Peer};
use super::{Check, CheckResult, Outcome, Target, ensure};

const REQUEST: u8 = FrameType::REQUEST.0;
const RESPONSE: u8 = FrameType::RESPONSE.0;
const ERROR: u8 = FrameType::ERROR.0;
const CANCEL: u8 = FrameType::CANCEL.0;
const NOTIFY: u8 = FrameType::NOTIFY.0;
const PING: u8 = FrameType::PING.0;
const PONG: u8 = FrameType::PONG.0;
const GOAWAY: u8 = FrameType::GOAWAY.0;
const WELCOME: u8 = FrameType::WELCOME.0;

pub(super) const CHECKS: &[Check] = &[
    Check::new(
        "framing-ping-short",
        "PING with 7 bytes → PROTOCOL_ERROR",
        ping_short,
    ),
    Check::new(
        "framing-ping-long",
        "PING with 9 bytes → PROTOCOL_ERROR",
        ping_long,
    ),
    Check::new(
        "framing-pong-long",
        "PONG with 9 bytes → PROTOCOL_ERROR",
        pong_long,
    ),
    Check::new(
        "framing-ping-id",
        "PING with id 1 → PROTOCOL_ERROR",
        ping_id,
    ),
    Check::new(
        "framing-notify-id",
        "NOTIFY with id 5 → PROTOCOL_ERROR",
        notify_id,
    ),
    Check::new(
        "framing-request-id-0",
        "REQUEST with id 0 → PROTOCOL_ERROR",
        request_id_0,
    ),
    Check::new(
        "framing-cancel-id-0",
        "CANCEL with id 0 → PROTOCOL_ERROR",
        cancel_id_0,
    ),
    Check::new(
        "framing-cancel-payload",
        "CANCEL with a payload → PROTOCOL_ERROR",
        cancel_payload,
    ),
    Check::new(
        "framing-deadline-short",
        "DEADLINE flag on a 3-byte REQUEST → PROTOCOL_ERROR",
        deadline_short,
    ),
    Check::new(
        "framing-deadline-continuation",
        "DEADLINE flag on a continuation frame → PROTOCOL_ERROR",
        deadline_continuation,
    ),
    Check::new(
        "framing-goaway-short",
        "GOAWAY with a 1-byte payload → PROTOCOL_ERROR",
        goaway_short,
    ),
    Check::new(
        "framing-goaway-utf8",
        "GOAWAY whose reason is not UTF-8 → PROTOCOL_ERROR",
        goaway_utf8,
    ),
    Check::new(
        "framing-client-response",
        "RESPONSE sent by the client (wrong role) → PROTOCOL_ERROR",
        client_response,
    ),
    Check::new(
        "framing-client-error",
        "ERROR sent by the client (wrong role) → PROTOCOL_ERROR",
        client_error,
    ),
    Check::new(
        "framing-client-welcome",
        "WELCOME after the handshake → PROTOCOL_ERROR",
        client_welcome,
    ),
    Check::new(
        "framing-garbage",
        "garbage after the handshake → PROTOCOL_ERROR",
        garbage,
    ),
    Check::new(
        "framing-oversized",
        "header longer than the server's MAX_FRAME_SIZE → FRAME_TOO_LARGE before the payload",
        oversized,
    ),
    Check::new(
        "framing-oversized-unknown",
        "an unknown type is length-checked too → FRAME_TOO_LARGE",
        oversized_unknown,
    ),
    Check::new(
        "framing-at-limit",
        "a REQUEST frame of exactly MAX_FRAME_SIZE is accepted",
        at_limit,
    ),
    Check::new(
        "framing-unknown-skipped",
        "unknown frame types are skipped after the handshake",
        unknown_skipped,
    ),
    Check::new(
        "framing-undefined-flags",
        "undefined flag bits are ignored",
        undefined_flags,
    ),
    Check::new(
        "framing-goaway-last-id",
        "a connection error's GOAWAY carries the highest request id seen",
        goaway_last_id,
    ),
];

/// After the handshake, `bytes` is a connection error with `code`.
fn violation(t: &Target, bytes: &[u8], code: ErrorCode) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.send_raw(bytes)?;
    peer.expect_goaway(code, PROMPT)?;
    Ok(Outcome::Pass)
}

fn protocol_error(t: &Target, ty: u8, fl: u8, id: u32, payload: &[u8]) -> CheckResult {
    violation(
        t,
        &super::wire::frame_bytes(ty, fl, id, payload),
        ErrorCode::PROTOCOL_ERROR,
    )
}

fn ping_short(t: &Target) -> CheckResult {
    protocol_error(t, PING, 0, 0, b"1234567")
}

fn ping_long(t: &Target) -> CheckResult {
    protocol_error(t, PING, 0, 0, b"123456789")
}

fn pong_long(t: &Target) -> CheckResult {
    protocol_error(t, PONG, 0, 0, b"123456789")
}

fn ping_id(t: &Target) -> CheckResult {
    protocol_error(t, PING, 0, 1, b"12345678")
}

fn notify_id(t: &Target) -> CheckResult {
    protocol_error(t, NOTIFY, 0, 5, b"hi")
}

fn request_id_0(t: &Target) -> CheckResult {
    protocol_error(t, REQUEST, 0, 0, b"x")
}

fn cancel_id_0(t: &Target) -> CheckResult {
    protocol_error(t, CANCEL, 0, 0, b"")
}

fn cancel_payload(t: &Target) -> CheckResult {
    protocol_error(t, CANCEL, 0, 1, b"x")
}

fn deadline_short(t: &Target) -> CheckResult {
    protocol_error(t, REQUEST, flags::DEADLINE, 1, &[0, 0, 1])
}

fn deadline_continuation(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.send_parts(REQUEST, flags::MORE, 1, b"first part ")?;
    let mut second = 1000u32.to_be_bytes().to_vec();
    second.extend_from_slice(b"second part");
    peer.send_parts(REQUEST, flags::DEADLINE, 1, &second)?;
    peer.expect_goaway(ErrorCode::PROTOCOL_ERROR, PROMPT)?;
    Ok(Outcome::Pass)
}

fn goaway_short(t: &Target) -> CheckResult {
    protocol_error(t, GOAWAY, 0, 0, &[0])
}

fn goaway_utf8(t: &Target) -> CheckResult {
    protocol_error(t, GOAWAY, 0, 0, &[0, 0, 0xC0, 0x80])
}

fn client_response(t: &Target) -> CheckResult {
    protocol_error(t, RESPONSE, 0, 1, b"x")
}

fn client_error(t: &Target) -> CheckResult {
    protocol_error(t, ERROR, 0, 1, &[0x01, 0x2C, b'n', b'o'])
}

fn client_welcome(t: &Target) -> CheckResult {
    violation(
        t,
        &super::wire::handshake_bytes(WELCOME, 0, b"SLOW", 1, &[]),
        ErrorCode::PROTOCOL_ERROR,
    )
}

fn garbage(t: &Target) -> CheckResult {
    // Small length, then bytes that make an ERROR frame from a client.
    violation(
        t,
        &[
            0, 0, 0, 3, ERROR, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xA5, 0x5A, 0xC3,
        ],
        ErrorCode::PROTOCOL_ERROR,
    )
}

fn oversized(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    let limit = peer.server.max_frame_size;
    peer.send_header(limit + 1, REQUEST, 0, 1)?;
    peer.expect_goaway(ErrorCode::FRAME_TOO_LARGE, PROMPT)?;
    Ok(Outcome::Pass)
}

fn oversized_unknown(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    let limit = peer.server.max_frame_size;
    peer.send_header(limit + 1, 0x7F, 0, 0)?;
    peer.expect_goaway(ErrorCode::FRAME_TOO_LARGE, PROMPT)?;
    Ok(Outcome::Pass)
}

fn at_limit(t: &Target) -> CheckResult {
    let mut peer = Peer::open_with(t, &[(2, u32::MAX)])?;
    let limit = peer.server.max_frame_size as usize;
    if limit > peer.server.max_message_size as usize {
        return Ok(Outcome::Skip(
            "the server's MAX_MESSAGE_SIZE is below its MAX_FRAME_SIZE".into(),
        ));
    }
    let body = filler(limit);
    peer.request(1, body.clone())?;
    expect_body(peer.answer(1, PROMPT * 2)?, &body)
}

fn unknown_skipped(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.send_parts(0x7F, 0, 0, b"from a later version")?;
    peer.send_parts(0xFF, 0xFF, 9, &[0xAB; 300])?;
    peer.send_parts(0x0B, 0, 0, b"")?;
    peer.request(1, "after unknown frames")?;
    expect_body(peer.answer(1, PROMPT)?, b"after unknown frames")
}

fn undefined_flags(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.send_parts(REQUEST, 0xF0, 1, b"flagged")?;
    expect_body(peer.answer(1, PROMPT)?, b"flagged")?;
    peer.send_parts(PING, 0xFF, 0, b"flagping")?;
    let pong = peer.recv(PROMPT).ok();
    let ok = matches!(pong, Some(super::wire::Got::Frame(slow_proto::frame::Frame::Pong { data })) if &data == b"flagping");
    ensure!(
        ok,
        "PING with flags 0xFF was not answered with its PONG (got {pong:?})"
    );
    Ok(Outcome::Pass)
}

fn goaway_last_id(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.request(3, "three")?;
    expect_body(peer.answer(3, PROMPT)?, b"three")?;
    peer.send_parts(PING, 0, 0, b"short")?;
    let last_id = peer.expect_goaway(ErrorCode::PROTOCOL_ERROR, PROMPT)?;
    ensure!(
        last_id == 3,
        "GOAWAY last id {last_id} (expected 3, the highest id seen)"
    );
    Ok(Outcome::Pass)
}
