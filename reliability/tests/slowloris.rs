//! Scenario 2, slowloris: 60 connections at a time, for 2 s (each one shed
//! is replaced), that trickle a HELLO one byte every 150-350 ms (one in six
//! sends nothing) and so never finish the handshake, must each be shed by the server's handshake timeout (GOAWAY
//! HANDSHAKE_TIMEOUT, then close), while a healthy client keeps being
//! served, old connection and new ones alike.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use reliability::probe::Probe;
use reliability::raw::{self, Ending};
use reliability::{Kind, Rng, TestServer, rng};
use slow_driver::{Config, ErrorCode, Settings};

const HANDSHAKE: Duration = Duration::from_millis(600);
/// Shed no later than this after the handshake timeout.
const SHED_SLACK: Duration = Duration::from_secs(2);
const ATTACKERS: usize = 60;
/// How long shed connections are replaced by fresh ones.
const ATTACK: Duration = Duration::from_secs(2);

struct Attacker {
    stream: TcpStream,
    connected: Instant,
    /// Next HELLO byte to send, and when; `None` for a silent one.
    drip: Option<(usize, Instant)>,
    rx: BytesMut,
    ended: Option<(Ending, Instant)>,
}

fn slowloris(kind: Kind, default_seed: u64) {
    if !kind.runs_here(&format!("slowloris {}", kind.name())) {
        return;
    }
    let seed = rng::seed(&format!("slowloris {}", kind.name()), default_seed);
    let mut rng = Rng::new(seed);
    let config = Config {
        handshake_timeout: HANDSHAKE,
        drain_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    let srv = TestServer::start(kind, config);
    let probe = Probe::start(srv.addr, Kind::Tokio);
    let hello = raw::encode(&raw::hello(&Settings::default()));
    assert!(hello.len() > 6, "a HELLO cannot be finished in the time");

    let open = |i: usize| {
        let stream = TcpStream::connect(srv.addr).expect("connect");
        stream.set_nonblocking(true).expect("nonblocking");
        Attacker {
            stream,
            connected: Instant::now(),
            drip: (i % 6 != 0).then(|| (0, Instant::now())),
            rx: BytesMut::new(),
            ended: None,
        }
    };
    let mut attackers: Vec<Attacker> = (0..ATTACKERS).map(open).collect();

    // For ATTACK, every connection shed is replaced by a fresh one: the
    // server is under a sustained attack of ATTACKERS connections.
    let replace_until = Instant::now() + ATTACK;
    let give_up = replace_until + HANDSHAKE + SHED_SLACK + Duration::from_secs(2);
    while attackers.iter().any(|a| a.ended.is_none()) && Instant::now() < give_up {
        let mut fresh = 0;
        for a in attackers.iter_mut().filter(|a| a.ended.is_none()) {
            a.ended = poll_read(a).map(|e| (e, Instant::now()));
            if a.ended.is_some() {
                fresh += usize::from(Instant::now() < replace_until);
                continue;
            }
            if let Some((pos, at)) = a.drip {
                if Instant::now() >= at {
                    // A write to a connection the server already closed
                    // fails; the read side then reports how it ended.
                    let _ = a.stream.write(&hello[pos..pos + 1]);
                    a.drip = Some((
                        pos + 1,
                        Instant::now() + Duration::from_millis(rng.range(150, 350)),
                    ));
                }
            }
        }
        for _ in 0..fresh {
            attackers.push(open(attackers.len()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let report = probe.stop();

    let mut shed = 0;
    let mut worst = Duration::ZERO;
    let mut problems = Vec::new();
    for (i, a) in attackers.iter().enumerate() {
        match &a.ended {
            Some((Ending::GoAway(code, _), at)) if *code == ErrorCode::HANDSHAKE_TIMEOUT => {
                let after = *at - a.connected;
                worst = worst.max(after);
                if after + Duration::from_millis(50) < HANDSHAKE || after > HANDSHAKE + SHED_SLACK {
                    problems.push(format!("attacker {i}: shed after {after:?}"));
                }
                shed += 1;
            }
            other => problems.push(format!("attacker {i}: {other:?}")),
        }
    }
    let tasks_left = srv
        .tasks
        .as_ref()
        .map(|t| t.wait_at_most(0, Duration::from_secs(5)));
    println!(
        "figure: slowloris {}: {shed}/{} trickling or silent connections shed with \
         HANDSHAKE_TIMEOUT, the last {worst:?} after connecting (timeout {HANDSHAKE:?}); \
         healthy client meanwhile: {} requests and {} new connections served, slowest {:?}, \
         {} failures; server tasks left {tasks_left:?}",
        kind.name(),
        attackers.len(),
        report.ok,
        report.connections,
        report.max_latency,
        report.failures.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        report.failures.is_empty(),
        "healthy client: {:?}",
        report.failures
    );
    assert!(
        report.ok > 10 && report.connections >= 2,
        "healthy client barely served: {report:?}"
    );
    assert_eq!(tasks_left.unwrap_or(0), 0, "server tasks leaked");
    srv.shutdown().expect("graceful shutdown");
}

/// Reads what is there; how the connection ended, once it did.
fn poll_read(a: &mut Attacker) -> Option<Ending> {
    let mut buf = [0u8; 1024];
    loop {
        match a.stream.read(&mut buf) {
            Ok(0) => return Some(Ending::Eof),
            Ok(n) => {
                a.rx.extend_from_slice(&buf[..n]);
                while let Some(f) = raw::take_frame(&mut a.rx) {
                    if let Some((code, last)) = f.goaway() {
                        return Some(Ending::GoAway(code, last));
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(_) => return Some(Ending::Reset),
        }
    }
}

#[test]
fn slowloris_tokio() {
    slowloris(Kind::Tokio, 21);
}

#[test]
fn slowloris_smol() {
    slowloris(Kind::Smol, 22);
}

#[test]
fn slowloris_async_std() {
    slowloris(Kind::AsyncStd, 23);
}

#[test]
fn slowloris_custom() {
    slowloris(Kind::Custom, 24);
}

#[test]
fn slowloris_compio() {
    slowloris(Kind::Compio, 25);
}
