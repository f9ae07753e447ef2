//! What a load run measures, and its report (text and JSON).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Latencies above this are recorded as this (one minute, in µs).
const HIGHEST_US: u64 = 60_000_000;

/// When the run stops: after a time, or after a number of requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// Run this long.
    Duration(Duration),
    /// Send this many requests in total.
    Requests(u64),
}

/// The counters every worker bumps and the progress bar reads.
#[derive(Debug)]
pub struct Live {
    limit: Limit,
    /// Requests handed out (with `Limit::Requests`).
    issued: AtomicU64,
    /// Requests finished, either way.
    pub finished: AtomicU64,
    /// Requests that failed.
    pub failed: AtomicU64,
    /// Set when measuring starts.
    started: std::sync::OnceLock<Instant>,
}

impl Live {
    /// Counters for a run bounded by `limit`.
    pub fn new(limit: Limit) -> Live {
        Live {
            limit,
            issued: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            started: std::sync::OnceLock::new(),
        }
    }

    /// Measuring starts now (after the connections are up).
    pub fn start(&self) -> Instant {
        *self.started.get_or_init(Instant::now)
    }

    /// When measuring started, if it has.
    pub fn started(&self) -> Option<Instant> {
        self.started.get().copied()
    }

    /// The limit.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Whether a worker may send one more request (and counts it).
    pub fn claim(&self) -> bool {
        match self.limit {
            Limit::Duration(d) => self.started().is_some_and(|s| s.elapsed() < d),
            Limit::Requests(n) => self.issued.fetch_add(1, Ordering::Relaxed) < n,
        }
    }

    /// Records one finished request.
    pub fn finish(&self, ok: bool) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One worker's measurements, merged at the end (no shared histogram lock
/// on the hot path).
pub struct Recorder {
    pub(crate) latency: Histogram<u64>,
    pub(crate) errors: BTreeMap<String, u64>,
    pub(crate) ok: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            latency: Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("valid histogram bounds"),
            errors: BTreeMap::new(),
            ok: 0,
        }
    }
}

impl Recorder {
    /// A request succeeded after `latency`.
    pub fn ok(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, HIGHEST_US);
        self.latency.saturating_record(us);
        self.ok += 1;
    }

    /// A request failed; `kind` groups it in the report.
    pub fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }

    /// Adds another worker's measurements.
    pub fn merge(&mut self, other: Recorder) {
        let _ = self.latency.add(&other.latency);
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        self.ok += other.ok;
    }
}

/// The result of a load run.
pub struct Report {
    /// Client runtime name.
    pub runtime: String,
    /// Worker threads of the client runtime (`None`: its default).
    pub threads: Option<usize>,
    /// The server: an address, or "in-process".
    pub server: String,
    /// Connections opened.
    pub connections: usize,
    /// Requests in flight per connection.
    pub concurrency: usize,
    /// Request body size in bytes.
    pub payload: usize,
    /// Measured time.
    pub duration: Duration,
    /// What was measured.
    pub recorder: Recorder,
}

impl Report {
    /// Successful requests.
    pub fn requests(&self) -> u64 {
        self.recorder.ok
    }

    /// Failed requests.
    pub fn errors(&self) -> u64 {
        self.recorder.errors.values().sum()
    }

    /// Successful requests per second.
    pub fn requests_per_sec(&self) -> f64 {
        self.recorder.ok as f64 / self.duration.as_secs_f64().max(1e-9)
    }

    /// Payload megabytes (10^6) echoed per second, counted once per request.
    pub fn mb_per_sec(&self) -> f64 {
        self.requests_per_sec() * self.payload as f64 / 1e6
    }

    fn quantile_us(&self, q: f64) -> u64 {
        if self.recorder.ok == 0 {
            0
        } else {
            self.recorder.latency.value_at_quantile(q)
        }
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "runtime": self.runtime,
            "threads": self.threads,
            "server": self.server,
            "connections": self.connections,
            "concurrency": self.concurrency,
            "payload": self.payload,
            "requests": self.requests(),
            "errors": self.errors(),
            "errors_by_kind": self.recorder.errors,
            "duration_s": self.duration.as_secs_f64(),
            "requests_per_sec": self.requests_per_sec(),
            "mb_per_sec": self.mb_per_sec(),
            "p50_us": self.quantile_us(0.50),
            "p90_us": self.quantile_us(0.90),
            "p99_us": self.quantile_us(0.99),
            "p999_us": self.quantile_us(0.999),
            "max_us": if self.recorder.ok == 0 { 0 } else { self.recorder.latency.max() },
        })
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let threads = self
            .threads
            .map_or("default threads".to_string(), |n| format!("{n} thread(s)"));
        let mut out = format!(
            "runtime      {} ({threads}), server {}\n\
             load         {} connection(s) × {} in flight, {}-byte payload, {:.2} s\n\
             requests     {} ok, {} error(s)\n\
             throughput   {:.0} req/s, {:.2} MB/s\n\
             latency      p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n",
            self.runtime,
            self.server,
            self.connections,
            self.concurrency,
            self.payload,
            self.duration.as_secs_f64(),
            self.requests(),
            self.errors(),
            self.requests_per_sec(),
            self.mb_per_sec(),
            micros(self.quantile_us(0.50)),
            micros(self.quantile_us(0.90)),
            micros(self.quantile_us(0.99)),
            micros(self.quantile_us(0.999)),
            micros(if self.recorder.ok == 0 {
                0
            } else {
                self.recorder.latency.max()
            }),
        );
        for (kind, n) in &self.recorder.errors {
            out += &format!("error        {n} × {kind}\n");
        }
        out
    }
}

/// Microseconds in the unit that reads best.
fn micros(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.2} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

/// A client error's kind for the report: the variant and its code.
pub fn error_kind(e: &slow_driver::Error) -> String {
    use slow_driver::Error as E;
    match e {
        E::TimedOut => "timed out".into(),
        E::Server { code, .. } => format!("server error {code}"),
        E::NotProcessed => "not processed".into(),
        E::ConnectionLost { cause: None } => "connection lost".into(),
        E::ConnectionLost { cause: Some(e) } => format!("connection lost ({:?})", e.kind()),
        E::Protocol { code, .. } => format!("protocol violation {code}"),
        E::Closed { code, .. } => format!("connection closed {code}"),
        E::TooLarge { .. } => "too large".into(),
        E::Config(_) => "config".into(),
        E::Refused(e) => format!("refused ({e})"),
        E::Io(e) => format!("io {:?}", e.kind()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_key() {
        let mut recorder = Recorder::default();
        recorder.ok(Duration::from_micros(120));
        recorder.ok(Duration::from_micros(80));
        recorder.error("timed out".into());
        let report = Report {
            runtime: "tokio".into(),
            threads: Some(1),
            server: "in-process".into(),
            connections: 1,
            concurrency: 2,
            payload: 64,
            duration: Duration::from_secs(1),
            recorder,
        };
        let json = report.to_json();
        for key in [
            "runtime",
            "connections",
            "concurrency",
            "payload",
            "requests",
            "errors",
            "duration_s",
            "requests_per_sec",
            "mb_per_sec",
            "p50_us",
            "p90_us",
            "p99_us",
            "p999_us",
            "max_us",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert_eq!(json["requests"], 2);
        assert_eq!(json["errors"], 1);
        assert!(report.to_text().contains("1 × timed out"));
    }

    #[test]
    fn request_limit_is_exact() {
        let live = Live::new(Limit::Requests(3));
        let claimed = (0..10).filter(|_| live.claim()).count();
        assert_eq!(claimed, 3);
    }
}
