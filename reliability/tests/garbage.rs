//! Scenario 6, garbage and limits: random bytes, oversized frames and
//! messages, frames of the wrong role, reused and decreasing ids, broken
//! payloads, sent raw. Each must be answered with the right GOAWAY code
//! (and last id) and a close, and the server must keep serving a healthy
//! client throughout. Random frame streams are checked against the
//! sans-IO core itself: the server must close with the code the core
//! finds in the same bytes.

use std::time::Duration;

use bytes::Bytes;
use reliability::probe::Probe;
use reliability::raw::{self, Ending, RawPeer, header, raw_frame};
use reliability::{Kind, Rng, TestServer, rng};
use slow_proto::frame::{self, Frame};
use slow_proto::{Config, Connection, ErrorCode, Instant, Settings};

const MAX_FRAME: u32 = 4096;
const MAX_MESSAGE: u32 = 16_384;
const MAX_CONCURRENT: u32 = 8;
const WAIT: Duration = Duration::from_secs(3);
/// Unfinished messages a server keeps: its MAX_CONCURRENT_REQUESTS, the
/// client's (128 by default) and 1,024 being discarded.
const UNFINISHED_BOUND: u32 = MAX_CONCURRENT + 128 + 1024;

fn config() -> Config {
    Config {
        settings: Settings {
            max_frame_size: MAX_FRAME,
            max_message_size: MAX_MESSAGE,
            max_concurrent_requests: MAX_CONCURRENT,
            ..Settings::default()
        },
        handshake_timeout: Duration::from_secs(2),
        drain_timeout: Duration::from_secs(2),
        ..Config::default()
    }
}

/// A case that must end the connection with `code` (and `last_id`).
struct Fatal {
    name: &'static str,
    /// Complete the handshake first.
    handshake: bool,
    bytes: Vec<u8>,
    code: ErrorCode,
    last_id: Option<u32>,
}

fn hello_payload(extra: &[u8]) -> Vec<u8> {
    let mut p = b"SLOW\x01".to_vec();
    p.extend_from_slice(extra);
    p
}

fn setting(key: u16, value: u32) -> Vec<u8> {
    let mut s = key.to_be_bytes().to_vec();
    s.extend_from_slice(&value.to_be_bytes());
    s
}

fn concat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn fatal_cases(rng: &mut Rng) -> Vec<Fatal> {
    use ErrorCode as C;
    let fatal = |name, handshake, bytes, code, last_id| Fatal {
        name,
        handshake,
        bytes,
        code,
        last_id,
    };
    let mut huge = rng.bytes(64);
    huge[0] = 0xFF;
    let small_random = {
        let ty = *rng.pick(&[0x00u8, 0x03, 0x07, 0x08, 0x42, 0xFF]);
        concat(&[header(8, ty, rng.below(256) as u8, 0), rng.bytes(8)])
    };
    let req_more = |id, body: &[u8]| raw_frame(0x03, 0x01, id, body);
    vec![
        // Before the handshake.
        fatal(
            "random bytes, huge length",
            false,
            huge,
            C::FRAME_TOO_LARGE,
            Some(0),
        ),
        fatal(
            "random frame, not HELLO",
            false,
            small_random,
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "NOTIFY first",
            false,
            raw_frame(0x07, 0, 0, b"hi"),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "HELLO, wrong magic",
            false,
            raw_frame(0x01, 0, 0, b"SLOX\x01"),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "HELLO, version 0",
            false,
            raw_frame(0x01, 0, 0, b"SLOW\x00"),
            C::VERSION_MISMATCH,
            Some(0),
        ),
        fatal(
            "HELLO, a setting twice",
            false,
            raw_frame(
                0x01,
                0,
                0,
                &hello_payload(&concat(&[setting(1, 4096), setting(1, 4096)])),
            ),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "HELLO, MAX_FRAME_SIZE out of range",
            false,
            raw_frame(0x01, 0, 0, &hello_payload(&setting(1, 100))),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "HELLO, settings not a multiple of 6",
            false,
            raw_frame(0x01, 0, 0, &hello_payload(b"12345")),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "HELLO, nonzero id",
            false,
            raw_frame(0x01, 0, 7, b"SLOW\x01"),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "HELLO over 65,536",
            false,
            header(65_537, 0x01, 0, 0),
            C::FRAME_TOO_LARGE,
            Some(0),
        ),
        // After it: limits.
        fatal(
            "REQUEST over MAX_FRAME_SIZE",
            true,
            header(MAX_FRAME + 1, 0x03, 0, 1),
            C::FRAME_TOO_LARGE,
            Some(0),
        ),
        fatal(
            "unknown type over MAX_FRAME_SIZE",
            true,
            header(MAX_FRAME + 1, 0x42, 0, 0),
            C::FRAME_TOO_LARGE,
            Some(0),
        ),
        // Messages begun and never finished: the server keeps at most its
        // limit + the client's + 1,024 of them (slow-proto's bound).
        fatal(
            "unfinished messages without end",
            true,
            concat(
                &(1..=UNFINISHED_BOUND + 1)
                    .map(|id| req_more(id, b"a"))
                    .collect::<Vec<_>>(),
            ),
            C::INTERNAL_ERROR,
            Some(UNFINISHED_BOUND + 1),
        ),
        fatal(
            "message over MAX_MESSAGE_SIZE",
            true,
            concat(
                &(0..5)
                    .map(|_| req_more(1, &[b'a'; 4000]))
                    .collect::<Vec<_>>(),
            ),
            C::MESSAGE_TOO_LARGE,
            Some(1),
        ),
        // Wrong roles.
        fatal(
            "RESPONSE from a client",
            true,
            raw_frame(0x04, 0, 1, b"x"),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "ERROR from a client",
            true,
            raw_frame(0x05, 0, 1, &[0, 1]),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "WELCOME from a client",
            true,
            raw::encode(&raw::welcome(&Settings::default())),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "second HELLO",
            true,
            raw::encode(&raw::hello(&Settings::default())),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        // Ids.
        fatal(
            "request id reused",
            true,
            concat(&[
                raw::encode(&raw::request(5, "a")),
                raw::encode(&raw::request(5, "b")),
            ]),
            C::PROTOCOL_ERROR,
            Some(5),
        ),
        fatal(
            "request id going down",
            true,
            concat(&[
                raw::encode(&raw::request(7, "a")),
                raw::encode(&raw::request(6, "b")),
            ]),
            C::PROTOCOL_ERROR,
            Some(7),
        ),
        fatal(
            "request id 0",
            true,
            raw_frame(0x03, 0, 0, b"x"),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "CANCEL id 0",
            true,
            raw_frame(0x06, 0, 0, b""),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        // Payloads.
        fatal(
            "DEADLINE on a continuation",
            true,
            concat(&[
                req_more(3, b"ab"),
                raw_frame(0x03, 0x02, 3, &[0, 0, 0, 5, b'x']),
            ]),
            C::PROTOCOL_ERROR,
            Some(3),
        ),
        fatal(
            "DEADLINE shorter than 4 bytes",
            true,
            raw_frame(0x03, 0x02, 1, &[0, 0]),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "PING of 7 bytes",
            true,
            raw_frame(0x08, 0, 0, &[0; 7]),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "NOTIFY with an id",
            true,
            raw_frame(0x07, 0, 3, b"n"),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "CANCEL with a payload",
            true,
            raw_frame(0x06, 0, 1, b"x"),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "GOAWAY, 1 byte",
            true,
            raw_frame(0x0A, 0, 0, &[0]),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
        fatal(
            "GOAWAY, bad UTF-8",
            true,
            raw_frame(0x0A, 0, 0, &[0, 1, 0xFF, 0xFE]),
            C::PROTOCOL_ERROR,
            Some(0),
        ),
    ]
}

fn peer(addr: std::net::SocketAddr, handshake: bool) -> RawPeer {
    if handshake {
        RawPeer::client(addr, &Settings::default())
            .expect("handshake")
            .0
    } else {
        RawPeer::connect(addr).expect("connect")
    }
}

fn run_fatal(addr: std::net::SocketAddr, case: &Fatal) -> Result<(), String> {
    let mut p = peer(addr, case.handshake);
    // The server may close before it has read all of it.
    let _ = p.send_raw(&case.bytes);
    match p.wait_goaway(WAIT) {
        Ending::GoAway(code, last)
            if code == case.code && case.last_id.is_none_or(|l| l == last) => {}
        other => {
            return Err(format!(
                "{}: expected GOAWAY {} (last id {:?}), got {other:?}",
                case.name, case.code, case.last_id
            ));
        }
    }
    if !p.wait_closed(WAIT) {
        return Err(format!(
            "{}: GOAWAY sent but the connection stayed open",
            case.name
        ));
    }
    Ok(())
}

/// Reads frames until every id in `ids` has its RESPONSE or ERROR.
fn answers(p: &mut RawPeer, ids: &[u32]) -> Result<Vec<raw::RawFrame>, String> {
    let end = std::time::Instant::now() + WAIT;
    let mut got: Vec<Option<raw::RawFrame>> = vec![None; ids.len()];
    while got.iter().any(Option::is_none) {
        let left = end.saturating_duration_since(std::time::Instant::now());
        match p.read_frame(left) {
            Ok(Some(f)) if matches!(f.header.ty.0, 0x04 | 0x05) => {
                if let Some(i) = ids.iter().position(|&id| id == f.header.id) {
                    got[i] = Some(f);
                }
            }
            Ok(Some(f)) if f.goaway().is_some() => return Err(format!("GOAWAY {:?}", f.goaway())),
            Ok(Some(_)) => {}
            other => return Err(format!("no answer for all of {ids:?}: {other:?}")),
        }
    }
    Ok(got.into_iter().flatten().collect())
}

fn answer(p: &mut RawPeer, id: u32) -> Result<raw::RawFrame, String> {
    answers(p, &[id]).map(|mut v| v.remove(0))
}

/// Things a server must take without closing.
fn survivable(addr: std::net::SocketAddr) -> Result<(), String> {
    // An unknown frame type after the handshake is skipped.
    let mut p = peer(addr, true);
    p.send_raw(&raw_frame(0x42, 0xFF, 9, &[7; 100]))
        .map_err(|e| e.to_string())?;
    p.send(&raw::request(1, "after"))
        .map_err(|e| e.to_string())?;
    let f = answer(&mut p, 1).map_err(|e| format!("unknown type: {e}"))?;
    if &f.payload[..] != b"after" {
        return Err(format!("unknown type: answered {f:?}"));
    }
    // CANCEL of an id never used is ignored.
    p.send_raw(&raw_frame(0x06, 0, 99, b""))
        .map_err(|e| e.to_string())?;
    p.send(&raw::request(2, "still"))
        .map_err(|e| e.to_string())?;
    answer(&mut p, 2).map_err(|e| format!("cancel of nothing: {e}"))?;

    // One request over MAX_CONCURRENT_REQUESTS: ERROR TOO_MANY_REQUESTS,
    // the connection stays.
    let mut p = peer(addr, true);
    let n = MAX_CONCURRENT + 1;
    for id in 1..=n {
        p.send(&raw::request(id, "!sleep 300"))
            .map_err(|e| e.to_string())?;
    }
    let ids: Vec<u32> = (1..=n).collect();
    let mut all = answers(&mut p, &ids).map_err(|e| format!("at the limit: {e}"))?;
    let over = all.pop().expect("n answers");
    let code = u16::from_be_bytes([over.payload[0], over.payload[1]]);
    if over.header.ty.0 != 0x05 || code != ErrorCode::TOO_MANY_REQUESTS.0 {
        return Err(format!("over the limit: answered {over:?}"));
    }
    if let Some(f) = all.iter().find(|f| &f.payload[..] != b"slept 300") {
        return Err(format!("within the limit: answered {f:?}"));
    }
    p.send(&raw::request(n + 1, "again"))
        .map_err(|e| e.to_string())?;
    answer(&mut p, n + 1).map_err(|e| format!("after the limit: {e}"))?;

    // A client's graceful GOAWAY: what is outstanding is answered, then the
    // server says NO_ERROR and closes.
    let mut p = peer(addr, true);
    p.send(&raw::request(1, "!sleep 100"))
        .map_err(|e| e.to_string())?;
    p.send_raw(&raw_frame(0x0A, 0, 1, &[0, 0]))
        .map_err(|e| e.to_string())?;
    answer(&mut p, 1).map_err(|e| format!("client GOAWAY: {e}"))?;
    match p.wait_goaway(WAIT) {
        Ending::GoAway(code, 1) if code == ErrorCode::NO_ERROR => {}
        other => return Err(format!("client GOAWAY: server ended with {other:?}")),
    }
    Ok(())
}

/// A random frame: random type (never GOAWAY, whose graceful drain the
/// core alone would time differently), flags, id, length and payload;
/// sometimes a lying length or loose bytes.
fn random_frame(rng: &mut Rng) -> Vec<u8> {
    let ty = *rng.pick(&[
        0x01u8, 0x02, 0x03, 0x03, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0B, 0x42, 0xFF,
    ]);
    let flags = if rng.chance(800) {
        rng.below(4) as u8
    } else {
        rng.below(256) as u8
    };
    let id = match rng.below(4) {
        0 => 0,
        1 => rng.range(1, 4) as u32,
        2 => rng.range(1, 40) as u32,
        _ => rng.next_u64() as u32,
    };
    let len = match rng.below(5) {
        0 => 8,
        1 => 0,
        _ => rng.range(0, 64) as usize,
    };
    let payload = rng.bytes(len);
    match rng.below(20) {
        0 => {
            let n = rng.range(1, 30) as usize;
            rng.bytes(n)
        }
        1 => concat(&[
            header(len as u32 + rng.range(1, 20) as u32, ty, flags, id),
            payload,
        ]),
        _ => raw_frame(ty, flags, id, &payload),
    }
}

/// The code the sans-IO core closes with on `stream` (after a HELLO), if
/// any: what the server must send.
fn oracle(stream: &[u8]) -> Option<ErrorCode> {
    let mut conn = Connection::server(config(), Instant::ZERO).expect("config");
    conn.recv(
        &raw::encode(&raw::hello(&Settings::default())),
        Instant::ZERO,
    );
    conn.recv(stream, Instant::ZERO);
    let out: Vec<u8> = conn.transmit().flatten().copied().collect();
    let mut buf = bytes::BytesMut::from(&out[..]);
    while let Ok(Some(f)) = frame::decode(&mut buf, u32::MAX >> 8) {
        if let Frame::GoAway { code, .. } = f {
            return Some(code);
        }
    }
    None
}

fn random_streams(
    addr: std::net::SocketAddr,
    rng: &mut Rng,
    n: usize,
) -> Result<[usize; 2], String> {
    let mut closed_with_error = 0;
    for i in 0..n {
        let stream = concat(
            &(0..rng.range(1, 6))
                .map(|_| random_frame(rng))
                .collect::<Vec<_>>(),
        );
        let expected = oracle(&stream);
        let mut p = peer(addr, true);
        let _ = p.send_raw(&stream);
        let _ = p.shutdown_write();
        let got = match p.wait_goaway(WAIT) {
            Ending::GoAway(code, _) => Some(code),
            Ending::Eof | Ending::Reset => None,
            Ending::Silent => return Err(format!("stream {i}: still open after end of stream")),
        };
        if got != expected {
            return Err(format!(
                "stream {i} {}: core says {expected:?}, server sent {got:?}",
                Bytes::from(stream).escape_ascii()
            ));
        }
        closed_with_error += usize::from(got.is_some());
    }
    Ok([closed_with_error, n - closed_with_error])
}

fn garbage(kind: Kind, default_seed: u64) {
    if !kind.runs_here(&format!("garbage {}", kind.name())) {
        return;
    }
    let seed = rng::seed(&format!("garbage {}", kind.name()), default_seed);
    let mut rng = Rng::new(seed);
    let srv = TestServer::start(kind, config());
    let probe = Probe::start(srv.addr, Kind::Smol);
    let mut failures = Vec::new();
    let cases = fatal_cases(&mut rng);
    for case in &cases {
        if let Err(e) = run_fatal(srv.addr, case) {
            failures.push(e);
        }
    }
    if let Err(e) = survivable(srv.addr) {
        failures.push(e);
    }
    let streams = random_streams(srv.addr, &mut rng, 100);
    let report = probe.stop();
    let tasks_left = srv
        .tasks
        .as_ref()
        .map(|t| t.wait_at_most(0, Duration::from_secs(5)));
    println!(
        "figure: garbage {}: {} fatal cases, random streams (closed with an error, ended cleanly) \
         {streams:?}; healthy client meanwhile: {} requests, {} new connections, {} failures; \
         server tasks left {tasks_left:?}",
        kind.name(),
        cases.len(),
        report.ok,
        report.connections,
        report.failures.len()
    );
    if let Err(e) = streams {
        failures.push(e);
    }
    assert!(
        failures.is_empty(),
        "{} (RELIABILITY_SEED={seed}):\n{}",
        kind.name(),
        failures.join("\n")
    );
    assert!(
        report.failures.is_empty(),
        "healthy client: {:?}",
        report.failures
    );
    assert!(report.ok > 0, "healthy client never served");
    assert_eq!(tasks_left.unwrap_or(0), 0, "server tasks leaked");
    srv.shutdown().expect("graceful shutdown");
}

#[test]
fn garbage_tokio() {
    garbage(Kind::Tokio, 61);
}

#[test]
fn garbage_smol() {
    garbage(Kind::Smol, 62);
}

#[test]
fn garbage_async_std() {
    garbage(Kind::AsyncStd, 63);
}

#[test]
fn garbage_custom() {
    garbage(Kind::Custom, 64);
}

#[test]
fn garbage_compio() {
    garbage(Kind::Compio, 65);
}
