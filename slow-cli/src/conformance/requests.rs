//! PROTOCOL.md §4: requests and responses: reassembly, interleaving,
//! fragmentation, pipelining, id order, DEADLINE and CANCEL.

use std::time::{Duration, Instant};

use bytes::Bytes;
use slow_proto::frame::{Frame, FrameType, Handshake, flags};
use slow_proto::{ErrorCode, RequestId, Settings};

use super::settings::{expect_body, expect_error, filler};
use super::wire::{Answer, PROMPT, Peer};
use super::{Check, CheckResult, Outcome, Target, ensure, fail};

const REQUEST: u8 = FrameType::REQUEST.0;

pub(super) const CHECKS: &[Check] = &[
    Check::new(
        "requests-echo",
        "a one-frame request is answered with its echo",
        echo,
    ),
    Check::new(
        "requests-empty",
        "an empty body is echoed as one empty RESPONSE",
        empty,
    ),
    Check::new(
        "requests-more",
        "a request in three MORE frames is reassembled",
        more,
    ),
    Check::new(
        "requests-interleaved",
        "frames of two requests interleaved are reassembled apart",
        interleaved,
    ),
    Check::new(
        "requests-one-byte-writes",
        "handshake and request written one byte per write",
        one_byte_writes,
    ),
    Check::new(
        "requests-pipelining",
        "64 requests in one write, 64 answers",
        pipelining,
    ),
    Check::new(
        "requests-hello-pipelined",
        "HELLO and a REQUEST in one write",
        hello_pipelined,
    ),
    Check::new("requests-id-gaps", "ids may skip (1, 5, 1000)", id_gaps),
    Check::new(
        "requests-id-decreasing",
        "a request id below one seen → PROTOCOL_ERROR",
        id_decreasing,
    ),
    Check::new(
        "requests-id-repeated",
        "a request id equal to one seen (finished) → PROTOCOL_ERROR",
        id_repeated,
    ),
    Check::new(
        "requests-cancel-not-seen",
        "a CANCEL's id does not count as seen",
        cancel_not_seen,
    ),
    Check::new(
        "requests-concurrent",
        "10 `!sleep 200` run concurrently, not one after another",
        concurrent,
    ),
    Check::new(
        "requests-deadline-exceeded",
        "`!sleep 500` with DEADLINE 100 → ERROR DEADLINE_EXCEEDED near 100 ms",
        deadline_exceeded,
    ),
    Check::new(
        "requests-deadline-zero",
        "DEADLINE 0 → ERROR DEADLINE_EXCEEDED at once",
        deadline_zero,
    ),
    Check::new(
        "requests-deadline-met",
        "`!sleep 20` with DEADLINE 2000 → `slept 20`",
        deadline_met,
    ),
    Check::new(
        "requests-deadline-more",
        "DEADLINE on the first of several MORE frames",
        deadline_more,
    ),
    Check::new(
        "requests-cancel",
        "after CANCEL nothing more is sent for that id",
        cancel,
    ),
    Check::new(
        "requests-cancel-unknown",
        "CANCEL for an id not outstanding is ignored",
        cancel_unknown,
    ),
    Check::new(
        "requests-cancel-mid-message",
        "continuations of a cancelled message are discarded silently",
        cancel_mid_message,
    ),
    Check::new(
        "requests-deadline-mid-message",
        "continuations of an expired message are discarded silently",
        deadline_mid_message,
    ),
];

fn echo(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.request(1, "hello, SLOW")?;
    expect_body(peer.answer(1, PROMPT)?, b"hello, SLOW")
}

fn empty(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.request(1, Bytes::new())?;
    expect_body(peer.answer(1, PROMPT)?, b"")
}

fn more(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.send_parts(REQUEST, flags::MORE, 1, b"one ")?;
    peer.send_parts(REQUEST, flags::MORE, 1, b"two ")?;
    peer.send_parts(REQUEST, 0, 1, b"three")?;
    expect_body(peer.answer(1, PROMPT)?, b"one two three")
}

fn interleaved(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.send_parts(REQUEST, flags::MORE, 1, b"a1 ")?;
    peer.send_parts(REQUEST, flags::MORE, 2, b"b1 ")?;
    peer.send_parts(REQUEST, 0, 1, b"a2")?;
    peer.send_parts(REQUEST, flags::MORE, 3, b"c1 ")?;
    peer.send_parts(REQUEST, 0, 2, b"b2")?;
    peer.send_parts(REQUEST, 0, 3, b"c2")?;
    let got = peer.answers(&[1, 2, 3], PROMPT)?;
    for (id, want) in [(1, &b"a1 a2"[..]), (2, b"b1 b2"), (3, b"c1 c2")] {
        expect_body(got[&id].clone(), want)?;
    }
    Ok(Outcome::Pass)
}

fn one_byte_writes(t: &Target) -> CheckResult {
    let mut peer = Peer::connect(t)?;
    peer.send_bytewise(&[hello()], Duration::ZERO)?;
    peer.expect_welcome()?;
    let body = filler(300);
    let parts = [
        part(1, true, body.slice(..100)),
        part(1, false, body.slice(100..)),
    ];
    peer.send_bytewise(&parts, Duration::from_micros(200))?;
    expect_body(peer.answer(1, PROMPT)?, &body)
}

fn pipelining(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    let ids: Vec<u32> = (1..=64).collect();
    let frames: Vec<Frame> = ids
        .iter()
        .map(|&id| request(id, format!("request {id}")))
        .collect();
    peer.send_all(&frames)?;
    let got = peer.answers(&ids, PROMPT)?;
    for id in ids {
        expect_body(got[&id].clone(), format!("request {id}").as_bytes())?;
    }
    Ok(Outcome::Pass)
}

fn hello_pipelined(t: &Target) -> CheckResult {
    let mut peer = Peer::connect(t)?;
    peer.send_all(&[hello(), request(1, "right behind HELLO")])?;
    peer.expect_welcome()?;
    expect_body(peer.answer(1, PROMPT)?, b"right behind HELLO")
}

fn id_gaps(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    for id in [1, 5, 1000] {
        peer.request(id, format!("id {id}"))?;
        expect_body(peer.answer(id, PROMPT)?, format!("id {id}").as_bytes())?;
    }
    Ok(Outcome::Pass)
}

/// Request 5, then request `second`: a PROTOCOL_ERROR with last id 5.
fn id_after_5(t: &Target, second: u32) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.request(5, "five")?;
    expect_body(peer.answer(5, PROMPT)?, b"five")?;
    peer.request(second, "again")?;
    let last_id = peer.expect_goaway(ErrorCode::PROTOCOL_ERROR, PROMPT)?;
    ensure!(last_id == 5, "GOAWAY last id {last_id} (expected 5)");
    Ok(Outcome::Pass)
}

fn id_decreasing(t: &Target) -> CheckResult {
    id_after_5(t, 3)
}

fn id_repeated(t: &Target) -> CheckResult {
    id_after_5(t, 5)
}

fn cancel_not_seen(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.send(&Frame::Cancel {
        id: RequestId::new(10),
    })?;
    peer.request(5, "five after cancel 10")?;
    expect_body(peer.answer(5, PROMPT)?, b"five after cancel 10")
}

fn concurrent(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    let ids: Vec<u32> = (1..=10).collect();
    let frames: Vec<Frame> = ids.iter().map(|&id| request(id, "!sleep 200")).collect();
    let start = Instant::now();
    peer.send_all(&frames)?;
    let got = peer.answers(&ids, PROMPT)?;
    let took = start.elapsed();
    for id in ids {
        expect_body(got[&id].clone(), b"slept 200")?;
    }
    ensure!(
        took < Duration::from_millis(1000),
        "10 × `!sleep 200` took {} ms: not concurrent",
        took.as_millis()
    );
    Ok(Outcome::Pass)
}

fn deadline_exceeded(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    let start = Instant::now();
    peer.request_deadline(1, "!sleep 500", 100)?;
    expect_error(peer.answer(1, PROMPT)?, ErrorCode::DEADLINE_EXCEEDED)?;
    let took = start.elapsed();
    ensure!(
        took >= Duration::from_millis(90),
        "DEADLINE_EXCEEDED after {} ms, before the 100 ms budget",
        took.as_millis()
    );
    ensure!(
        took < Duration::from_millis(450),
        "DEADLINE_EXCEEDED after {} ms for a 100 ms budget",
        took.as_millis()
    );
    peer.request(2, "still up")?;
    expect_body(peer.answer(2, PROMPT)?, b"still up")
}

fn deadline_zero(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    let start = Instant::now();
    peer.request_deadline(1, "!sleep 500", 0)?;
    expect_error(peer.answer(1, PROMPT)?, ErrorCode::DEADLINE_EXCEEDED)?;
    let took = start.elapsed();
    ensure!(
        took < Duration::from_millis(300),
        "DEADLINE 0 answered after {} ms (expected at once)",
        took.as_millis()
    );
    Ok(Outcome::Pass)
}

fn deadline_met(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.request_deadline(1, "!sleep 20", 2000)?;
    expect_body(peer.answer(1, PROMPT)?, b"slept 20")
}

fn deadline_more(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    let first = Frame::Request {
        id: RequestId::new(1),
        more: true,
        timeout_ms: Some(2000),
        body: Bytes::from_static(b"part one, "),
    };
    peer.send_all(&[first, part(1, false, Bytes::from_static(b"part two"))])?;
    expect_body(peer.answer(1, PROMPT)?, b"part one, part two")
}

fn cancel(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.request(1, "!sleep 300")?;
    std::thread::sleep(Duration::from_millis(30));
    peer.send(&Frame::Cancel {
        id: RequestId::new(1),
    })?;
    peer.expect_no_answer(1, Duration::from_millis(600))?;
    peer.request(2, "after cancel")?;
    expect_body(peer.answer(2, PROMPT)?, b"after cancel")?;
    peer.expect_no_answer(1, Duration::from_millis(10))?;
    Ok(Outcome::Pass)
}

fn cancel_unknown(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.send(&Frame::Cancel {
        id: RequestId::new(77),
    })?;
    peer.ping_pong(*b"cancel77")?;
    peer.request(1, "one")?;
    expect_body(peer.answer(1, PROMPT)?, b"one")?;
    // Finished: a CANCEL for it now is ignored too.
    peer.send(&Frame::Cancel {
        id: RequestId::new(1),
    })?;
    peer.ping_pong(*b"cancel-1")?;
    peer.request(2, "two")?;
    match peer.answer(2, PROMPT)? {
        Answer::Body(b) if b[..] == b"two"[..] => Ok(Outcome::Pass),
        other => fail!("after CANCEL of a finished request: {}", other.describe()),
    }
}

fn cancel_mid_message(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.send_all(&[
        part(1, true, Bytes::from_static(b"!sleep")),
        Frame::Cancel {
            id: RequestId::new(1),
        },
    ])?;
    peer.send_all(&[part(1, false, Bytes::from_static(b" 10"))])?;
    peer.expect_no_answer(1, Duration::from_millis(200))?;
    peer.request(2, "after")?;
    expect_body(peer.answer(2, PROMPT)?, b"after")
}

fn deadline_mid_message(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    let first = Frame::Request {
        id: RequestId::new(1),
        more: true,
        timeout_ms: Some(0),
        body: Bytes::from_static(b"!sleep"),
    };
    peer.send_all(&[first])?;
    std::thread::sleep(Duration::from_millis(20));
    peer.send_all(&[
        part(1, true, Bytes::from_static(b" 1")),
        part(1, false, Bytes::from_static(b"0")),
    ])?;
    expect_error(peer.answer(1, PROMPT)?, ErrorCode::DEADLINE_EXCEEDED)?;
    peer.request(2, "after")?;
    expect_body(peer.answer(2, PROMPT)?, b"after")?;
    peer.expect_no_answer(1, Duration::from_millis(100))?;
    Ok(Outcome::Pass)
}

fn hello() -> Frame {
    Frame::Hello(Handshake::new(1, &Settings::default()))
}

/// A one-frame REQUEST `id` (shared with the close checks).
pub(super) fn request(id: u32, body: impl Into<Bytes>) -> Frame {
    Frame::Request {
        id: RequestId::new(id),
        more: false,
        timeout_ms: None,
        body: body.into(),
    }
}

/// One frame of request `id`'s message, with MORE when `more`.
pub(super) fn part(id: u32, more: bool, body: Bytes) -> Frame {
    Frame::Request {
        id: RequestId::new(id),
        more,
        timeout_ms: None,
        body,
    }
}
