//! What a load run measures, and its report (text and JSON): counts,
//! throughput, latency percentiles and a latency histogram.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use slow_driver::{CodeCounts, Stats};

use crate::trigger::Trigger;

/// Latencies above this are recorded as this (one minute, in µs).
const HIGHEST_US: u64 = 60_000_000;

/// The latency histogram's bucket bounds in µs: 1, 2 and 5 times each
/// power of ten (labels that read at a glance), up to the first bound
/// above [`HIGHEST_US`], so every recorded latency has a bucket.
const BOUNDS_US: [u64; 25] = [
    1,
    2,
    5,
    10,
    20,
    50,
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
];

/// The longest bar of the text histogram, in characters.
const BAR_WIDTH: u64 = 30;

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
    /// Fired to end the run before its limit (Ctrl-C).
    stop: Trigger,
}

impl Live {
    /// Counters for a run bounded by `limit`, or ended early by `stop`.
    pub fn new(limit: Limit, stop: Trigger) -> Live {
        Live {
            limit,
            issued: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            started: std::sync::OnceLock::new(),
            stop,
        }
    }

    /// The trigger that ends the run early: workers race their request
    /// in flight against it.
    pub fn stop(&self) -> &Trigger {
        &self.stop
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
        if self.stop.is_fired() {
            return false;
        }
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

/// One bar of the latency histogram: the successful requests that took
/// more than the previous bucket's bound and at most `le_us` (so counts
/// are per bucket, not cumulative, and add up to the requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Upper bound in µs, inclusive.
    pub le_us: u64,
    /// Requests in the bucket.
    pub count: u64,
}

/// `latency` over buckets of 1, 2 and 5 × 10ⁿ µs, from the first bucket
/// with a request to the last (empty ones between are kept, so the shape
/// shows); empty when nothing was recorded. Each of the HDR histogram's
/// bins counts in the bucket of its lowest value: bounds are exact up to
/// 2048 µs and to 3 significant digits above.
pub fn buckets(latency: &Histogram<u64>) -> Vec<Bucket> {
    let mut counts = [0u64; BOUNDS_US.len()];
    for bin in latency.iter_recorded() {
        let us = latency.lowest_equivalent(bin.value_iterated_to());
        let i = BOUNDS_US
            .partition_point(|&le| le < us)
            .min(BOUNDS_US.len() - 1);
        counts[i] += bin.count_at_value();
    }
    let first = counts.iter().position(|&n| n > 0);
    let last = counts.iter().rposition(|&n| n > 0);
    match first.zip(last) {
        Some((first, last)) => (first..=last)
            .map(|i| Bucket {
                le_us: BOUNDS_US[i],
                count: counts[i],
            })
            .collect(),
        None => Vec::new(),
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
    /// Measured time (until the interruption, if there was one).
    pub duration: Duration,
    /// Whether the run was stopped before its limit (Ctrl-C).
    pub interrupted: bool,
    /// What was measured.
    pub recorder: Recorder,
    /// What the client's connections counted (the core's stats, added up
    /// over the connections), as the load left them.
    pub stats: Stats,
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

    /// The latency histogram (see [`buckets`]).
    pub fn histogram(&self) -> Vec<Bucket> {
        buckets(&self.recorder.latency)
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
            "histogram": self
                .histogram()
                .iter()
                .map(|b| serde_json::json!({ "le_us": b.le_us, "count": b.count }))
                .collect::<Vec<_>>(),
            "interrupted": self.interrupted,
            "stats": stats_json(&self.stats),
        })
    }

    /// The report for people: first what ran, then what it measured.
    pub fn to_text(&self) -> String {
        let threads = self
            .threads
            .map_or("default threads".to_string(), |n| format!("{n} thread(s)"));
        let duration = if self.interrupted {
            "interrupted after"
        } else {
            "duration    "
        };
        let mut out = format!(
            "{} connection(s) × {} in flight, {}-byte payload, {} ({threads}), server {}\n\
             {duration} {:.2} s\n\
             requests     {} ok, {} error(s)\n\
             throughput   {:.0} req/s, {:.2} MB/s\n\
             latency      p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n",
            self.connections,
            self.concurrency,
            self.payload,
            self.runtime,
            self.server,
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
        out += &histogram_text(&self.histogram());
        for (kind, n) in &self.recorder.errors {
            out += &format!("error        {n} × {kind}\n");
        }
        out
    }
}

/// The core's counters as JSON: one key per counter, and each table of
/// error codes as an object from the code's name (`application` and
/// `unassigned` for the groups) to its count, with only the codes seen.
pub fn stats_json(s: &Stats) -> serde_json::Value {
    fn codes(counts: &CodeCounts) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (code, n) in counts.iter() {
            map.insert(code.name().unwrap_or("?").to_owned(), n.into());
        }
        for (group, n) in [
            ("application", counts.application()),
            ("unassigned", counts.unassigned()),
        ] {
            if n > 0 {
                map.insert(group.to_owned(), n.into());
            }
        }
        serde_json::Value::Object(map)
    }
    serde_json::json!({
        "frames_sent": s.frames_sent,
        "frames_received": s.frames_received,
        "bytes_sent": s.bytes_sent,
        "bytes_received": s.bytes_received,
        "requests": s.requests,
        "responses": s.responses,
        "failed": s.failed,
        "cancelled": s.cancelled,
        "expired": s.expired,
        "interrupted": s.interrupted,
        "notifications_sent": s.notifications_sent,
        "notifications_received": s.notifications_received,
        "pings_sent": s.pings_sent,
        "pings_received": s.pings_received,
        "pongs_received": s.pongs_received,
        "errors_sent": codes(&s.errors_sent),
        "errors_received": codes(&s.errors_received),
        "goaways_sent": codes(&s.goaways_sent),
        "goaways_received": codes(&s.goaways_received),
    })
}

/// The histogram's lines, like oha's: each bucket's bound, its count and a
/// bar scaled to the fullest bucket (one mark at least for a bucket that
/// has any, so a thin tail still shows). Nothing without requests.
fn histogram_text(buckets: &[Bucket]) -> String {
    let most = buckets.iter().map(|b| b.count).max().unwrap_or(0);
    let labels: Vec<String> = buckets.iter().map(|b| bound(b.le_us)).collect();
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let count_width = most.to_string().len();
    let mut out = String::new();
    for (i, (b, label)) in buckets.iter().zip(&labels).enumerate() {
        let marks = match b.count {
            0 => 0,
            n => (n * BAR_WIDTH / most).max(1),
        };
        out += &format!(
            "{:<13}≤ {label:<label_width$}  {:>count_width$} |{}\n",
            if i == 0 { "histogram" } else { "" },
            b.count,
            "■".repeat(marks as usize),
        );
    }
    out
}

/// A bucket bound in the unit that reads best (bounds are round numbers).
fn bound(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{} ms", us / 1_000),
        _ => format!("{} s", us / 1_000_000),
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
        E::Server { code, .. } => format!("server answered {code}"),
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
            interrupted: false,
            recorder,
            stats: {
                // Non-exhaustive: made by the core, changed field by field.
                let mut stats = Stats::default();
                stats.requests = 3;
                stats.responses = 2;
                stats
            },
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
            "histogram",
            "interrupted",
            "stats",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        for key in [
            "frames_sent",
            "frames_received",
            "bytes_sent",
            "bytes_received",
            "requests",
            "responses",
            "failed",
            "cancelled",
            "expired",
            "interrupted",
            "pings_sent",
            "pongs_received",
            "errors_received",
            "goaways_sent",
        ] {
            assert!(json["stats"].get(key).is_some(), "missing stats.{key}");
        }
        assert_eq!(json["stats"]["requests"], 3);
        assert_eq!(json["stats"]["responses"], 2);
        assert_eq!(json["stats"]["goaways_sent"], serde_json::json!({}));
        assert_eq!(json["requests"], 2);
        assert_eq!(json["errors"], 1);
        assert!(report.to_text().contains("1 × timed out"));
    }

    #[test]
    fn stats_json_names_the_codes() {
        use slow_proto::{Config, Connection, ErrorCode, Instant};
        let mut conn = Connection::client(Config::default(), Instant::ZERO).unwrap();
        conn.close(ErrorCode::INTERNAL_ERROR, "test", Instant::ZERO);
        let json = stats_json(&conn.stats());
        assert_eq!(
            json["goaways_sent"],
            serde_json::json!({ "INTERNAL_ERROR": 1 })
        );
        assert_eq!(json["frames_sent"], 2); // HELLO, GOAWAY
        assert_eq!(json["errors_sent"], serde_json::json!({}));
    }

    #[test]
    fn request_limit_is_exact() {
        let live = Live::new(Limit::Requests(3), Trigger::new());
        let claimed = (0..10).filter(|_| live.claim()).count();
        assert_eq!(claimed, 3);
    }

    #[test]
    fn a_stopped_run_claims_nothing() {
        let stop = Trigger::new();
        let live = Live::new(Limit::Requests(3), stop.clone());
        assert!(live.claim());
        stop.fire();
        assert!(!live.claim());
    }

    /// A recorder that saw each of `us` once.
    fn recorded(us: &[u64]) -> Recorder {
        let mut recorder = Recorder::default();
        for &us in us {
            recorder.ok(Duration::from_micros(us));
        }
        recorder
    }

    #[test]
    fn bounds_rise_and_cover_every_latency() {
        assert!(BOUNDS_US.windows(2).all(|w| w[0] < w[1]));
        assert!(BOUNDS_US[BOUNDS_US.len() - 1] >= HIGHEST_US);
    }

    #[test]
    fn a_bound_is_in_its_bucket_and_one_more_is_in_the_next() {
        let r = recorded(&[0, 1, 2, 3, 100, 101, 199, 200, 201, 1_000, 1_001]);
        let got: Vec<(u64, u64)> = buckets(&r.latency)
            .iter()
            .map(|b| (b.le_us, b.count))
            .collect();
        assert_eq!(
            got,
            [
                (1, 2), // 0 is recorded as 1 µs
                (2, 1),
                (5, 1),
                (10, 0),
                (20, 0),
                (50, 0),
                (100, 1),
                (200, 3),
                (500, 1),
                (1_000, 1),
                (2_000, 1),
            ]
        );
    }

    #[test]
    fn buckets_span_first_to_last_and_add_up() {
        let r = recorded(&[300, 450, 4_000, 4_999, 70_000, 5_000_000, 90_000_000]);
        let b = buckets(&r.latency);
        assert_eq!(b.first().map(|b| b.le_us), Some(500));
        // Beyond a minute is recorded as a minute, in the 100 s bucket.
        assert_eq!(b.last().map(|b| (b.le_us, b.count)), Some((100_000_000, 1)));
        assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 7);
        let at = |le| b.iter().find(|b| b.le_us == le).map(|b| b.count);
        assert_eq!(at(5_000), Some(2));
        assert_eq!(at(100_000), Some(1));
        assert_eq!(at(5_000_000), Some(1));
        assert_eq!(at(1_000), Some(0), "empty buckets between are kept");
        assert!(buckets(&Recorder::default().latency).is_empty());
    }

    #[test]
    fn text_histogram_scales_bars_to_the_fullest_bucket() {
        let mut us = vec![150; 60];
        us.extend([400; 30]);
        us.push(9_000);
        let text = histogram_text(&buckets(&recorded(&us).latency));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(lines[0].starts_with("histogram    ≤ 200 µs"), "{text}");
        let bar = |line: &str| line.chars().filter(|&c| c == '■').count();
        assert_eq!(bar(lines[0]), 30, "{text}");
        assert_eq!(bar(lines[1]), 15, "{text}");
        assert_eq!(bar(lines[2]), 0, "{text}");
        assert_eq!(bar(lines[5]), 1, "a tail of one still shows: {text}");
        assert!(lines[5].contains("≤ 10 ms"), "{text}");
        assert!(histogram_text(&[]).is_empty());
    }

    #[test]
    fn an_interrupted_report_says_so() {
        let report = Report {
            runtime: "smol".into(),
            threads: None,
            server: "in-process 127.0.0.1:1".into(),
            connections: 2,
            concurrency: 8,
            payload: 64,
            duration: Duration::from_millis(2_310),
            interrupted: true,
            recorder: recorded(&[100, 200]),
            stats: Stats::default(),
        };
        let text = report.to_text();
        assert!(
            text.starts_with(
                "2 connection(s) × 8 in flight, 64-byte payload, smol (default threads), \
                 server in-process 127.0.0.1:1\n"
            ),
            "{text}"
        );
        assert!(text.contains("\ninterrupted after 2.31 s\n"), "{text}");
        assert_eq!(report.to_json()["interrupted"], true);
        assert_eq!(report.to_json()["histogram"][0]["le_us"], 100);
    }
}
