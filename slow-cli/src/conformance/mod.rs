//! The project's own conformance checks: PROTOCOL.md and INTEROP.md,
//! checked against any SLOW server over raw TCP.
//!
//! Each check opens its own connections with `wire::Peer` (our frame
//! codec over blocking `std::net`, not our client; over a blocking rustls
//! client with [`Target::tls`]), so the server is judged
//! by the bytes it sends. Every read has a timeout and every check runs
//! under a hard time limit, so a server that hangs fails instead of
//! hanging the run.
//!
//! A check passes, fails with a reason, or is skipped when it needs
//! something the run was not told: the handshake-timeout, keepalive and
//! connection-limit checks need the server's configured values
//! ([`Hints`]), since a client cannot set or observe those otherwise. The
//! idle-timeout checks need no hint: a client advertises a short
//! IDLE_TIMEOUT_MS and the smaller nonzero value is the effective one.

mod framing;
mod handshake;
mod lifecycle;
mod limits;
mod requests;
mod service;
mod settings;
mod wire;

use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use slow_driver::tls::ClientTls;

use crate::error::CliError;

/// No check runs longer than this, whatever the server does.
const CHECK_LIMIT: Duration = Duration::from_secs(20);

/// Why a check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail(pub String);

/// A check's result when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server did what the protocol says.
    Pass,
    /// Not run, and why (a hint it needs was not given).
    Skip(String),
}

type CheckResult = Result<Outcome, Fail>;

/// Fails the check with a formatted reason.
macro_rules! fail {
    ($($t:tt)*) => { return Err($crate::conformance::Fail(format!($($t)*))) };
}
/// Fails the check unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($t:tt)*) => { if !$cond { $crate::conformance::fail!($($t)*) } };
}
pub(crate) use {ensure, fail};

/// What a run knows about the server beyond its address: values from its
/// command line that the protocol gives a client no way to learn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    /// The server's `--handshake-timeout-ms`.
    pub handshake_timeout: Option<Duration>,
    /// The server's `--keepalive-interval-ms` and `--keepalive-timeout-ms`.
    pub keepalive: Option<(Duration, Duration)>,
    /// The server's `--max-connections`.
    pub max_connections: Option<usize>,
}

/// The server under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where it listens: a TCP address, or a Unix socket's path.
    pub addr: slow_driver::Addr,
    /// TLS on every connection (`None`: plaintext).
    pub tls: Option<TargetTls>,
    /// What the run knows of its configuration.
    pub hints: Hints,
}

/// The TLS every check's connection runs under the raw frames: the rustls
/// configuration of a [`ClientTls`] and the name the server's certificate
/// must be valid for.
#[derive(Debug, Clone)]
pub struct TargetTls {
    pub(crate) config: std::sync::Arc<rustls::ClientConfig>,
    pub(crate) name: rustls::pki_types::ServerName<'static>,
}

impl TargetTls {
    /// From `tls`, for the server at `addr` (`HOST:PORT` or `unix:PATH`):
    /// the name it sets, else the address's host (`localhost` for a Unix
    /// socket), as the async clients choose it.
    pub fn new(tls: &ClientTls, addr: &str) -> Result<TargetTls, CliError> {
        let host = match addr.strip_prefix("unix:") {
            Some(_) => "localhost",
            None => addr.rsplit_once(':').map_or(addr, |(host, _)| host),
        };
        let failed = |source| CliError::TlsConfig {
            flags: format!("the server name for {addr}"),
            source,
        };
        Ok(TargetTls {
            config: tls.config().map_err(failed)?,
            name: tls.name_for(host).map_err(failed)?,
        })
    }
}

/// With TLS, one connection and handshake (TLS and SLOW's) before the
/// checks: a certificate the run does not trust, a wrong name or a client
/// certificate the server refuses is one reason (rustls's), not every
/// check failing with it. Without TLS, nothing.
pub fn probe_tls(target: &Target) -> Result<(), String> {
    if target.tls.is_none() {
        return Ok(());
    }
    // The caller names the address; the reason alone, then.
    let named = format!("cannot connect to {}: ", target.addr);
    wire::Peer::open(target)
        .map(drop)
        .map_err(|Fail(why)| why.strip_prefix(&named).map_or(why.clone(), str::to_owned))
}

/// One named check.
#[derive(Clone, Copy)]
pub struct Check {
    /// Its name, for `--only` and the report: `group-what`.
    pub name: &'static str,
    /// What it checks, in one line.
    pub about: &'static str,
    run: fn(&Target) -> CheckResult,
}

impl Check {
    const fn new(
        name: &'static str,
        about: &'static str,
        run: fn(&Target) -> CheckResult,
    ) -> Check {
        Check { name, about, run }
    }
}

/// Every check, in the order they run.
pub fn all() -> Vec<Check> {
    [
        handshake::CHECKS,
        settings::CHECKS,
        framing::CHECKS,
        requests::CHECKS,
        limits::CHECKS,
        service::CHECKS,
        lifecycle::CHECKS,
    ]
    .concat()
}

/// The checks named in `only`: each entry is a check's name or a group
/// (the part before the first `-`, e.g. `handshake`). Empty: all of them.
pub fn select(only: &[String]) -> Result<Vec<Check>, String> {
    let all = all();
    if only.is_empty() {
        return Ok(all);
    }
    let matches = |c: &Check, want: &str| c.name == want || c.name.split('-').next() == Some(want);
    if let Some(unknown) = only.iter().find(|w| !all.iter().any(|c| matches(c, w))) {
        return Err(format!(
            "no check or group named `{unknown}` (see `slow conformance --list`)"
        ));
    }
    Ok(all
        .into_iter()
        .filter(|c| only.iter().any(|w| matches(c, w)))
        .collect())
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The check's name.
    pub name: &'static str,
    /// Pass or skip, or the failure.
    pub result: Result<Outcome, Fail>,
    /// How long it took.
    pub elapsed: Duration,
}

/// The results of a run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Every check's verdict, in order.
    pub verdicts: Vec<Verdict>,
}

impl Summary {
    /// How many passed.
    pub fn passed(&self) -> usize {
        self.verdicts
            .iter()
            .filter(|v| v.result == Ok(Outcome::Pass))
            .count()
    }

    /// How many failed.
    pub fn failed(&self) -> usize {
        self.verdicts.iter().filter(|v| v.result.is_err()).count()
    }

    /// How many were skipped.
    pub fn skipped(&self) -> usize {
        self.verdicts
            .iter()
            .filter(|v| matches!(v.result, Ok(Outcome::Skip(_))))
            .count()
    }

    /// The closing line: `N passed, M failed` (`, K skipped` when some were).
    pub fn totals(&self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed(), self.failed());
        if self.skipped() > 0 {
            line += &format!(", {} skipped", self.skipped());
        }
        line
    }
}

/// Runs `checks` one after the other against `target`, writing `PASS name`,
/// `FAIL name: reason` or `SKIP name: reason` to `out` as each finishes,
/// then the totals line.
pub fn run(target: &Target, checks: &[Check], out: &mut impl Write) -> std::io::Result<Summary> {
    let mut summary = Summary::default();
    for check in checks {
        let verdict = run_one(target, check);
        match &verdict.result {
            Ok(Outcome::Pass) => writeln!(out, "PASS {}", check.name)?,
            Ok(Outcome::Skip(why)) => writeln!(out, "SKIP {}: {why}", check.name)?,
            Err(Fail(why)) => writeln!(out, "FAIL {}: {why}", check.name)?,
        }
        out.flush()?;
        summary.verdicts.push(verdict);
    }
    writeln!(out, "{}", summary.totals())?;
    out.flush()?;
    Ok(summary)
}

/// Runs one check on its own thread under `CHECK_LIMIT`. A check that
/// overruns is reported failed and left to finish on its own (its socket
/// timeouts end it).
pub fn run_one(target: &Target, check: &Check) -> Verdict {
    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    let (target2, run) = (target.clone(), check.run);
    let spawned = std::thread::Builder::new()
        .name(format!("check {}", check.name))
        .spawn(move || {
            let _ = tx.send(run(&target2));
        });
    let result = match spawned {
        Err(e) => Err(Fail(format!("cannot start a thread: {e}"))),
        Ok(_) => match rx.recv_timeout(CHECK_LIMIT) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Fail(format!(
                "did not finish within {} s",
                CHECK_LIMIT.as_secs()
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Fail("the check panicked".into())),
        },
    };
    Verdict {
        name: check.name,
        result,
        elapsed: start.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_grouped() {
        let all = all();
        let mut names: Vec<_> = all.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "duplicate check names");
        for c in &all {
            assert!(c.name.contains('-'), "{} has no group", c.name);
        }
    }

    #[test]
    fn select_by_group_and_name() {
        let hs = select(&["handshake".into()]).unwrap();
        assert!(hs.len() > 3 && hs.iter().all(|c| c.name.starts_with("handshake-")));
        let one = select(&["service-ping".into()]).unwrap();
        assert_eq!(one.len(), 1);
        assert!(select(&["nope".into()]).is_err());
    }
}
