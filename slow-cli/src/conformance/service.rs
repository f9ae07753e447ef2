//! INTEROP.md: the test service's commands, and PING/PONG (§5) which every
//! server answers the same way.

use std::time::{Duration, Instant};

use bytes::Bytes;
use slow_proto::ErrorCode;
use slow_proto::frame::Frame;

use super::settings::{expect_body, expect_error};
use super::wire::{Got, PROMPT, Peer, describe, show_body};
use super::{Check, CheckResult, Outcome, Target, ensure, fail};

/// INTEROP.md's code for `unknown command` and `bad command`.
const COMMAND_ERROR: ErrorCode = ErrorCode(0x0100);

pub(super) const CHECKS: &[Check] = &[
    Check::new(
        "service-echo-binary",
        "any body not starting with `!` is echoed byte for byte",
        echo_binary,
    ),
    Check::new(
        "service-sleep",
        "`!sleep 50` → `slept 50` after 50 ms",
        sleep,
    ),
    Check::new(
        "service-error",
        "`!error CODE TEXT` → ERROR CODE TEXT (text optional)",
        error,
    ),
    Check::new(
        "service-unknown-command",
        "`!dance` → ERROR 0x0100 `unknown command`",
        unknown_command,
    ),
    Check::new(
        "service-bad-command",
        "bad arguments → ERROR 0x0100 `bad command`",
        bad_command,
    ),
    Check::new("service-bytes", "`!bytes N` → N bytes of i mod 251", bytes),
    Check::new(
        "service-notify",
        "`!notify TEXT` → NOTIFY TEXT, then RESPONSE `notified`",
        notify,
    ),
    Check::new(
        "service-client-notify",
        "a client NOTIFY is echoed as a NOTIFY",
        client_notify,
    ),
    Check::new("service-ping", "PING → PONG with the same 8 bytes", ping),
    Check::new(
        "service-unsolicited-pong",
        "an unsolicited PONG is ignored",
        unsolicited_pong,
    ),
];

fn echo_binary(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    let body: Vec<u8> = (0..=255u8).chain(0..=255).collect();
    peer.request(1, body.clone())?;
    expect_body(peer.answer(1, PROMPT)?, &body)?;
    peer.request(2, "not!a command")?;
    expect_body(peer.answer(2, PROMPT)?, b"not!a command")
}

fn sleep(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    let start = Instant::now();
    peer.request(1, "!sleep 50")?;
    expect_body(peer.answer(1, PROMPT)?, b"slept 50")?;
    let took = start.elapsed();
    ensure!(
        took >= Duration::from_millis(45),
        "`!sleep 50` answered after {} ms",
        took.as_millis()
    );
    peer.request(2, "!sleep 0")?;
    expect_body(peer.answer(2, PROMPT)?, b"slept 0")
}

fn error(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    for (id, body, code, want) in [
        (1, "!error 300 it broke", 300, "it broke"),
        (2, "!error 65535", 65535, ""),
        (3, "!error 256 two  spaces", 256, "two  spaces"),
    ] {
        peer.request(id, body)?;
        let message = expect_error(peer.answer(id, PROMPT)?, ErrorCode(code))?;
        ensure!(
            message == want,
            "`{body}` got message {message:?} (expected {want:?})"
        );
    }
    Ok(Outcome::Pass)
}

fn command_errors(t: &Target, bodies: &[&str], want: &str) -> CheckResult {
    let mut peer = Peer::open(t)?;
    for (id, body) in (1..).zip(bodies) {
        peer.request(id, body.to_string())?;
        let message = expect_error(peer.answer(id, PROMPT)?, COMMAND_ERROR)
            .map_err(|e| super::Fail(format!("`{body}`: {}", e.0)))?;
        ensure!(
            message == want,
            "`{body}` got message {message:?} (expected {want:?})"
        );
    }
    Ok(Outcome::Pass)
}

fn unknown_command(t: &Target) -> CheckResult {
    command_errors(t, &["!dance", "!", "!SLEEP 5"], "unknown command")
}

fn bad_command(t: &Target) -> CheckResult {
    command_errors(
        t,
        &[
            "!sleep abc",
            "!sleep",
            "!sleep -1",
            "!bytes -1",
            "!bytes",
            "!error",
            "!error x",
            "!error 65536 big",
            "!notify",
        ],
        "bad command",
    )
}

fn bytes(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.request(1, "!bytes 100000")?;
    expect_body(peer.answer(1, PROMPT)?, &slow_interop::pattern(100_000))?;
    peer.request(2, "!bytes 0")?;
    expect_body(peer.answer(2, PROMPT)?, b"")
}

fn notify(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.request(1, "!notify hello there")?;
    expect_body(peer.answer(1, PROMPT)?, slow_interop::NOTIFIED)?;
    // Anything that came before the RESPONSE was filed as a notification.
    ensure!(
        !peer.notifications.is_empty(),
        "no NOTIFY before the RESPONSE `notified`"
    );
    let got = peer.notification(PROMPT)?;
    ensure!(
        got[..] == b"hello there"[..],
        "NOTIFY {} (expected \"hello there\")",
        show_body(&got)
    );
    Ok(Outcome::Pass)
}

fn client_notify(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.send(&Frame::Notify {
        body: Bytes::from_static(b"echo me"),
    })?;
    let got = peer.notification(PROMPT)?;
    ensure!(
        got[..] == b"echo me"[..],
        "NOTIFY {} (expected \"echo me\")",
        show_body(&got)
    );
    peer.send(&Frame::Notify { body: Bytes::new() })?;
    let got = peer.notification(PROMPT)?;
    ensure!(
        got.is_empty(),
        "NOTIFY {} (expected an empty echo)",
        show_body(&got)
    );
    Ok(Outcome::Pass)
}

fn ping(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    let sent = [*b"pingone1", [0, 1, 2, 3, 252, 253, 254, 255]];
    peer.send_all(&sent.map(|data| Frame::Ping { data }))?;
    // Each PING gets its PONG; §5 does not order PONGs among themselves.
    let mut got = Vec::new();
    while got.len() < sent.len() {
        match peer.recv(PROMPT)? {
            Got::Frame(Frame::Pong { data }) if sent.contains(&data) && !got.contains(&data) => {
                got.push(data)
            }
            Got::Frame(other) => fail!(
                "expected PONGs echoing {sent:02x?}, got {}",
                describe(&other)
            ),
            Got::Closed => fail!("connection closed instead of PONG"),
        }
    }
    Ok(Outcome::Pass)
}

fn unsolicited_pong(t: &Target) -> CheckResult {
    let mut peer = Peer::open(t)?;
    peer.send(&Frame::Pong { data: *b"unasked!" })?;
    peer.request(1, "after pong")?;
    expect_body(peer.answer(1, PROMPT)?, b"after pong")
}
