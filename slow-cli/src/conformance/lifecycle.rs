//! PROTOCOL.md §5 and §6, and INTEROP.md's connection limit: idle timeout,
//! keepalive, graceful close from either side.

use std::time::{Duration, Instant};

use bytes::Bytes;
use slow_proto::frame::Frame;
use slow_proto::{ErrorCode, RequestId, Settings};

use super::requests::{part, request};
use super::settings::{expect_body, expect_error};
use super::wire::{Got, PROMPT, Peer, describe, show_body};
use super::{Check, CheckResult, Fail, Outcome, Target, ensure, fail};

const IDLE: u16 = Settings::KEY_IDLE_TIMEOUT_MS;
/// Hinted timeouts longer than this make a check skip rather than wait.
const LONGEST_WAIT: Duration = Duration::from_secs(5);

pub(super) const CHECKS: &[Check] = &[
    Check::new(
        "close-command",
        "`!close` → RESPONSE `closing`, then GOAWAY SHUTTING_DOWN with its id, stream ends",
        close_command,
    ),
    Check::new(
        "close-drains",
        "`!close` behind `!sleep`: RESPONSE, then GOAWAY, then the sleep's answer; newer ids refused",
        close_drains,
    ),
    Check::new(
        "close-unfinished-message",
        "a request message unfinished at `!close` (id ≤ GOAWAY's last id) is still answered",
        close_unfinished_message,
    ),
    Check::new(
        "close-client-goaway",
        "client GOAWAY NO_ERROR: outstanding answered, GOAWAY NO_ERROR, stream ends",
        client_goaway,
    ),
    Check::new(
        "idle-timeout",
        "client IDLE_TIMEOUT_MS 300 → GOAWAY IDLE_TIMEOUT after the effective timeout",
        idle_timeout,
    ),
    Check::new(
        "idle-pings-are-not-activity",
        "PINGs do not hold off the idle timeout",
        idle_pings,
    ),
    Check::new(
        "idle-outstanding-request",
        "no idle timeout while a request is outstanding",
        idle_outstanding,
    ),
    Check::new(
        "keepalive-timeout",
        "silence → server PING; no PONG → KEEPALIVE_TIMEOUT (needs the server's values)",
        keepalive,
    ),
    Check::new(
        "connection-limit",
        "one connection over --max-connections → GOAWAY CONNECTION_LIMIT (needs the value)",
        connection_limit,
    ),
];

/// How long a failing close check keeps reading, to report what came after.
const AFTERMATH: Duration = Duration::from_millis(300);

/// Expects what `!close` (request `close_id`) brings, in this order
/// (INTEROP.md): RESPONSE `closing`, then GOAWAY SHUTTING_DOWN with
/// `last_id`. The order matters: a client that reads the answer before it
/// expects the GOAWAY must not see the GOAWAY first. PING/PONG may come
/// anywhere; anything else fails, listing what arrived in order.
fn expect_closing_then_goaway(peer: &mut Peer, close_id: u32, last_id: u32) -> Result<(), Fail> {
    let mut arrived = Vec::new();
    let first = next_noted(peer, PROMPT, &mut arrived);
    let answered = matches!(
        &first,
        Some(Frame::Response { id, more: false, body })
            if id.get() == close_id && body[..] == *slow_interop::CLOSING
    );
    if answered {
        let second = next_noted(peer, PROMPT, &mut arrived);
        if matches!(
            second,
            Some(Frame::GoAway { code: ErrorCode::SHUTTING_DOWN, last_id: l, .. })
                if l.get() == last_id
        ) {
            return Ok(());
        }
    }
    // Say what came after the first surprise too, so the order is plain.
    while arrived.len() < 4 && next_noted(peer, AFTERMATH, &mut arrived).is_some() {}
    fail!(
        "after `!close` (id {close_id}) expected RESPONSE id {close_id} {}, then GOAWAY {} \
         last id {last_id}; got, in order: {}",
        show_body(slow_interop::CLOSING),
        ErrorCode::SHUTTING_DOWN,
        arrived.join(", then ")
    )
}

/// Reads the next frame but PING/PONG, noting in `arrived` what it was, or
/// that the stream ended or nothing came (then `None`).
fn next_noted(peer: &mut Peer, within: Duration, arrived: &mut Vec<String>) -> Option<Frame> {
    match peer.recv_skipping_pings(within) {
        Ok(Got::Frame(frame)) => {
            arrived.push(describe(&frame));
            Some(frame)
        }
        Ok(Got::Closed) => {
            arrived.push("the end of the stream".into());
            None
        }
        Err(Fail(why)) => {
            arrived.push(why);
            None
        }
    }
}

fn close_command(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.request(1, "warm-up")?;
    expect_body(peer.answer(1, PROMPT)?, b"warm-up")?;
    peer.request(2, "!close")?;
    expect_closing_then_goaway(&mut peer, 2, 2)?;
    peer.expect_end()?;
    Ok(Outcome::Pass)
}

fn close_drains(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.send_all(&[request(1, "!sleep 400"), request(2, "!close")])?;
    expect_closing_then_goaway(&mut peer, 2, 2)?;
    // Newer than the last id: refused, while request 1 is still running.
    peer.request(3, "too late")?;
    expect_error(peer.answer(3, PROMPT)?, ErrorCode::SHUTTING_DOWN)
        .map_err(|Fail(why)| Fail(format!("request 3 after GOAWAY: {why}")))?;
    expect_body(peer.answer(1, PROMPT)?, b"slept 400")
        .map_err(|Fail(why)| Fail(format!("outstanding request 1 while draining: {why}")))?;
    peer.expect_end()?;
    Ok(Outcome::Pass)
}

fn close_unfinished_message(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    let (head, tail) = ("begun before `!close`, ", "finished after its GOAWAY");
    peer.send_all(&[part(1, true, Bytes::from(head)), request(2, "!close")])?;
    expect_closing_then_goaway(&mut peer, 2, 2)?;
    // Request 1 is at or below the last id: the server must take in the
    // rest of its message and answer it before it closes.
    peer.send(&part(1, false, Bytes::from(tail)))?;
    let answered = peer
        .answer(1, PROMPT)
        .and_then(|answer| expect_body(answer, format!("{head}{tail}").as_bytes()));
    answered.map_err(|Fail(why)| {
        Fail(format!(
            "request 1 (unfinished at GOAWAY last id 2, its last frame sent after the GOAWAY): \
             {why}"
        ))
    })?;
    peer.expect_end()?;
    Ok(Outcome::Pass)
}

fn client_goaway(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.request(1, "!sleep 200")?;
    peer.send(&Frame::GoAway {
        last_id: RequestId::new(1),
        code: ErrorCode::NO_ERROR,
        reason: "done".into(),
    })?;
    expect_body(peer.answer(1, PROMPT)?, b"slept 200")?;
    let last_id = peer.expect_goaway(ErrorCode::NO_ERROR, PROMPT)?;
    ensure!(last_id == 1, "GOAWAY last id {last_id} (expected 1)");
    peer.expect_end()?;
    Ok(Outcome::Pass)
}

/// The idle timeout in force when we advertise `ours` (§5: the smaller of
/// the nonzero values).
fn effective_idle(peer: &Peer, ours: u32) -> Duration {
    let ms = Settings::effective_idle_timeout_ms(ours, peer.server.idle_timeout_ms).unwrap_or(ours);
    Duration::from_millis(ms.into())
}

/// Waits for GOAWAY IDLE_TIMEOUT, then the end of the stream; fails if it
/// comes before `idle` has passed since `since`.
fn expect_idle_goaway(peer: &mut Peer, since: Instant, idle: Duration) -> CheckResult {
    peer.expect_goaway(ErrorCode::IDLE_TIMEOUT, idle + PROMPT)?;
    let took = since.elapsed();
    ensure!(
        took + Duration::from_millis(30) >= idle,
        "GOAWAY IDLE_TIMEOUT after {} ms, before the {} ms idle timeout",
        took.as_millis(),
        idle.as_millis()
    );
    peer.expect_end()?;
    Ok(Outcome::Pass)
}

fn idle_timeout(t: &Target) -> CheckResult {
    let mut peer = Peer::open_with(t, &[(IDLE, 300)])?;
    let since = Instant::now();
    let idle = effective_idle(&peer, 300);
    expect_idle_goaway(&mut peer, since, idle)
}

fn idle_pings(t: &Target) -> CheckResult {
    let mut peer = Peer::open_with(t, &[(IDLE, 300)])?;
    let since = Instant::now();
    let idle = effective_idle(&peer, 300);
    let give_up = since + idle + PROMPT;
    while Instant::now() < give_up {
        peer.send(&Frame::Ping { data: *b"notidle!" })?;
        match peer.recv(Duration::from_millis(50)) {
            Ok(Got::Frame(Frame::GoAway {
                code: ErrorCode::IDLE_TIMEOUT,
                ..
            })) => {
                let took = since.elapsed();
                ensure!(
                    took + Duration::from_millis(30) >= idle,
                    "IDLE_TIMEOUT after {} ms",
                    took.as_millis()
                );
                return Ok(Outcome::Pass);
            }
            Ok(Got::Frame(Frame::Pong { .. } | Frame::Ping { .. })) | Err(_) => {}
            Ok(Got::Frame(other)) => fail!(
                "expected PONG or GOAWAY IDLE_TIMEOUT, got {}",
                describe(&other)
            ),
            Ok(Got::Closed) => fail!("connection closed without GOAWAY IDLE_TIMEOUT"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    fail!(
        "no GOAWAY IDLE_TIMEOUT within {} ms while pinging",
        (idle + PROMPT).as_millis()
    )
}

fn idle_outstanding(t: &Target) -> CheckResult {
    let mut peer = Peer::open_with(t, &[(IDLE, 200)])?;
    let idle = effective_idle(&peer, 200);
    let sleep_ms = idle.as_millis() as u64 * 2 + 100;
    peer.request(1, format!("!sleep {sleep_ms}"))?;
    expect_body(
        peer.answer(1, PROMPT + idle * 2)?,
        format!("slept {sleep_ms}").as_bytes(),
    )
    .map_err(|Fail(why)| Fail(format!("a request longer than the idle timeout: {why}")))?;
    let since = Instant::now();
    expect_idle_goaway(&mut peer, since, idle)
}

fn keepalive(t: &Target) -> CheckResult {
    let Some((interval, timeout)) = t.hints.keepalive else {
        return Ok(Outcome::Skip(
            "needs the server's --keepalive-interval-ms and --keepalive-timeout-ms".into(),
        ));
    };
    if interval + timeout > LONGEST_WAIT {
        return Ok(Outcome::Skip(
            "the server's keepalive is too slow to wait for".into(),
        ));
    }
    // Answering keeps the connection up past interval + timeout.
    let mut alive = Peer::open_with(t, &[(IDLE, 0)])?;
    let until = Instant::now() + interval + timeout + Duration::from_millis(200);
    while Instant::now() < until {
        match alive.recv(until.saturating_duration_since(Instant::now())) {
            Ok(Got::Frame(Frame::Ping { .. })) | Err(_) => {}
            Ok(Got::Frame(other)) => fail!("while answering keepalive PINGs: {}", describe(&other)),
            Ok(Got::Closed) => fail!("closed although every keepalive PING was answered"),
        }
    }
    alive.request(1, "alive")?;
    expect_body(alive.answer(1, PROMPT)?, b"alive")?;

    // Silence: a PING after the interval, then KEEPALIVE_TIMEOUT.
    let mut silent = Peer::open_with(t, &[(IDLE, 0)])?;
    silent.auto_pong = false;
    let since = Instant::now();
    match silent.recv(interval + PROMPT)? {
        Got::Frame(Frame::Ping { .. }) => {}
        Got::Frame(other) => fail!("expected a keepalive PING, got {}", describe(&other)),
        Got::Closed => fail!("connection closed instead of a keepalive PING"),
    }
    let took = since.elapsed();
    ensure!(
        took + Duration::from_millis(30) >= interval,
        "keepalive PING after {} ms, before the interval",
        took.as_millis()
    );
    silent.expect_goaway(ErrorCode::KEEPALIVE_TIMEOUT, timeout + PROMPT)?;
    Ok(Outcome::Pass)
}

fn connection_limit(t: &Target) -> CheckResult {
    let Some(limit) = t.hints.max_connections else {
        return Ok(Outcome::Skip("needs the server's --max-connections".into()));
    };
    if limit > 64 {
        return Ok(Outcome::Skip(format!(
            "--max-connections {limit} is too many to open"
        )));
    }
    // Let connections of earlier checks finish closing at the server.
    std::thread::sleep(Duration::from_millis(200));
    let mut open = Vec::new();
    for i in 0..limit {
        open.push(
            Peer::open(t)
                .map_err(|Fail(why)| Fail(format!("connection {} of {limit}: {why}", i + 1)))?,
        );
    }
    let mut over = Peer::connect(t)?;
    over.send_hello(1, &[])?;
    over.expect_goaway(ErrorCode::CONNECTION_LIMIT, PROMPT)?;
    for (id, peer) in (1..).zip(open.iter_mut()) {
        peer.request(id, "unaffected")?;
        expect_body(peer.answer(id, PROMPT)?, b"unaffected")?;
    }
    // One closes: there is room again (the refused one did not count).
    drop(open.pop());
    let retry_until = Instant::now() + PROMPT;
    loop {
        match Peer::open(t) {
            Ok(_) => return Ok(Outcome::Pass),
            Err(Fail(why)) if Instant::now() >= retry_until => {
                fail!("no room after a connection closed: {why}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
