//! PROTOCOL.md §4's limits as the server advertises them: concurrency
//! (a request error, the connection stays up) and message size (a
//! connection error).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use slow_proto::frame::Frame;
use slow_proto::{ErrorCode, RequestId};

use super::settings::{expect_body, expect_error, filler};
use super::wire::{Answer, PROMPT, Peer};
use super::{Check, CheckResult, Fail, Outcome, Target, ensure, fail};

/// Larger limits than these are not worth the bytes to test.
const MAX_CONCURRENT_TESTED: u32 = 1024;
const MAX_MESSAGE_TESTED: u32 = 64 << 20;

pub(super) const CHECKS: &[Check] = &[
    Check::new(
        "limits-too-many-requests",
        "MAX_CONCURRENT_REQUESTS + 1 → ERROR TOO_MANY_REQUESTS, connection stays up",
        too_many,
    ),
    Check::new(
        "limits-refused-continuation",
        "continuations of a request refused with TOO_MANY_REQUESTS are discarded silently",
        refused_continuation,
    ),
    Check::new(
        "limits-message-at-limit",
        "a request of exactly MAX_MESSAGE_SIZE is echoed",
        message_at_limit,
    ),
    Check::new(
        "limits-message-too-large",
        "a request over MAX_MESSAGE_SIZE → GOAWAY MESSAGE_TOO_LARGE",
        message_too_large,
    ),
];

fn too_many(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    let limit = peer.server.max_concurrent_requests;
    if limit > MAX_CONCURRENT_TESTED {
        return Ok(Outcome::Skip(format!(
            "MAX_CONCURRENT_REQUESTS {limit} is too many to fill"
        )));
    }
    let over = limit + 1;
    let frames: Vec<Frame> = (1..=over).map(|id| sleep(id, 5000)).collect();
    peer.send_all(&frames)?;
    expect_error(peer.answer(over, PROMPT)?, ErrorCode::TOO_MANY_REQUESTS)
        .map_err(|Fail(why)| Fail(format!("request {over} at limit {limit}: {why}")))?;
    peer.ping_pong(*b"stillup!")?;
    let cancels: Vec<Frame> = (1..=limit)
        .map(|id| Frame::Cancel {
            id: RequestId::new(id),
        })
        .collect();
    peer.send_all(&cancels)?;
    peer.request(over + 1, "after the limit")?;
    expect_body(peer.answer(over + 1, PROMPT)?, b"after the limit")?;
    Ok(Outcome::Pass)
}

fn refused_continuation(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    let limit = peer.server.max_concurrent_requests;
    if limit > MAX_CONCURRENT_TESTED {
        return Ok(Outcome::Skip(format!(
            "MAX_CONCURRENT_REQUESTS {limit} is too many to fill"
        )));
    }
    let over = limit + 1;
    let mut frames: Vec<Frame> = (1..=limit).map(|id| sleep(id, 5000)).collect();
    frames.push(Frame::Request {
        id: RequestId::new(over),
        more: true,
        timeout_ms: None,
        body: Bytes::from_static(b"first, "),
    });
    peer.send_all(&frames)?;
    expect_error(peer.answer(over, PROMPT)?, ErrorCode::TOO_MANY_REQUESTS)?;
    let last = Frame::Request {
        id: RequestId::new(over),
        more: false,
        timeout_ms: None,
        body: Bytes::from_static(b"last"),
    };
    peer.send_all(&[last])?;
    peer.expect_no_answer(over, Duration::from_millis(100))?;
    let cancels: Vec<Frame> = (1..=limit)
        .map(|id| Frame::Cancel {
            id: RequestId::new(id),
        })
        .collect();
    peer.send_all(&cancels)?;
    peer.request(over + 1, "after")?;
    expect_body(peer.answer(over + 1, PROMPT)?, b"after")?;
    Ok(Outcome::Pass)
}

fn sleep(id: u32, ms: u32) -> Frame {
    Frame::Request {
        id: RequestId::new(id),
        more: false,
        timeout_ms: None,
        body: Bytes::from(format!("!sleep {ms}")),
    }
}

/// Request `id` with the body [`filler`]`(total)`, as whole frames of at
/// most `frame` bytes of body each.
fn message_frames(id: u32, total: usize, frame: usize) -> Vec<Bytes> {
    let mut body = filler(total);
    let mut frames = Vec::with_capacity(total / frame + 1);
    loop {
        let chunk = body.split_to(body.len().min(frame));
        let more = !body.is_empty();
        let mut out = BytesMut::with_capacity(chunk.len() + 10);
        Frame::Request {
            id: RequestId::new(id),
            more,
            timeout_ms: None,
            body: chunk,
        }
        .encode(&mut out);
        frames.push(out.freeze());
        if !more {
            return frames;
        }
    }
}

/// The server's settings, from a connection of its own: the bytes of a
/// large upload are built before the upload's connection opens, so that
/// the server's keepalive does not run out while they are.
fn server_settings(t: &Target) -> Result<slow_proto::Settings, Fail> {
    Ok(Peer::open(t)?.server)
}

fn message_at_limit(t: &Target) -> CheckResult {
    let server = server_settings(t)?;
    let limit = server.max_message_size;
    if limit > MAX_MESSAGE_TESTED {
        return Ok(Outcome::Skip(format!(
            "MAX_MESSAGE_SIZE {limit} is too large to send"
        )));
    }
    let frames = message_frames(1, limit as usize, server.max_frame_size as usize);
    let mut peer = Peer::open_with(t, &[(2, u32::MAX)])?;
    let upload = peer.upload(1, frames)?;
    let answer = peer.answer(1, Duration::from_secs(15));
    peer.end_upload(upload);
    match answer? {
        Answer::Body(b) => {
            ensure!(
                b.len() == limit as usize,
                "echo of {} bytes for a {limit}-byte request",
                b.len()
            );
            ensure!(
                b == filler(limit as usize),
                "the echo differs from the request"
            );
            Ok(Outcome::Pass)
        }
        other => fail!(
            "a request of exactly MAX_MESSAGE_SIZE ({limit}) got {}",
            other.describe()
        ),
    }
}

fn message_too_large(t: &Target) -> CheckResult {
    let server = server_settings(t)?;
    let limit = server.max_message_size;
    if limit > MAX_MESSAGE_TESTED {
        return Ok(Outcome::Skip(format!(
            "MAX_MESSAGE_SIZE {limit} is too large to exceed"
        )));
    }
    let frames = message_frames(1, limit as usize + 1, server.max_frame_size as usize);
    let mut peer = Peer::open(t)?;
    let upload = peer.upload(1, frames)?;
    let result = peer.expect_goaway(ErrorCode::MESSAGE_TOO_LARGE, Duration::from_secs(15));
    peer.end_upload(upload);
    result?;
    Ok(Outcome::Pass)
}
