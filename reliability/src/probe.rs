//! A well-behaved client that keeps asking while a scenario attacks the
//! server: proof that the server keeps serving others.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;
use interop_tests::scenarios::Dial;
use interop_tests::tls::TlsDial;
use slow_driver::tls::ClientTls;

use crate::clients::AnyDial;
use crate::servers::Kind;
use crate::wait;

/// How long one probe request (or connect) may take.
pub const PROBE_LIMIT: Duration = Duration::from_secs(3);

/// What the probe saw.
#[derive(Debug, Default, Clone)]
pub struct ProbeReport {
    /// Requests answered correctly.
    pub ok: usize,
    /// New connections made (and served) during the run.
    pub connections: usize,
    /// Everything else, described.
    pub failures: Vec<String>,
    /// The slowest correct answer.
    pub max_latency: Duration,
}

/// A client on its own thread: one connection echoing every 20 ms, and a
/// new connection with one request every 300 ms, until stopped; every
/// connection plaintext or TLS, as it was started.
pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<ProbeReport>,
}

impl Probe {
    /// Starts probing `addr` with a client of runtime `kind`.
    pub fn start(addr: SocketAddr, kind: Kind) -> Probe {
        Probe::dialing(addr, kind)
    }

    /// Starts probing a TLS server at `addr` with a client of runtime
    /// `kind` over `tls` (for mutual TLS, with its client certificate).
    pub fn start_tls(addr: SocketAddr, kind: Kind, tls: ClientTls) -> Probe {
        let dial = TlsDial {
            addr: addr.to_string(),
            tls,
        };
        Probe::dialing(dial, kind)
    }

    /// Starts probing with every connection made by `dial`, on a client of
    /// runtime `kind` (tokio, smol or async-std).
    pub fn dialing(dial: impl AnyDial, kind: Kind) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::Builder::new()
            .name("probe".into())
            .spawn(move || crate::on_runtime!(kind, |rt| run(rt, dial, flag)))
            .expect("spawn probe");
        Probe { stop, thread }
    }

    /// Stops and reports.
    pub fn stop(self) -> ProbeReport {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_else(|_| ProbeReport {
            failures: vec!["probe panicked".into()],
            ..ProbeReport::default()
        })
    }
}

async fn run<R: slow_driver::runtime::Runtime, D: Dial<R>>(
    rt: R,
    dial: D,
    stop: Arc<AtomicBool>,
) -> ProbeReport {
    let mut report = ProbeReport::default();
    let config = crate::chaos::client_config();
    let client = match wait::timeout(&rt, PROBE_LIMIT, dial.dial(rt.clone(), config.clone())).await
    {
        Some(Ok(c)) => c,
        other => {
            report.failures.push(format!(
                "connect: {other:?}",
                other = other.map(|r| r.map(|_| ()))
            ));
            return report;
        }
    };
    let mut next_connection = Instant::now();
    let mut k = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let body = Bytes::from(format!("probe {k}"));
        let t = Instant::now();
        match client.request_timeout(body.clone(), PROBE_LIMIT).await {
            Ok(b) if b == body => {
                report.ok += 1;
                report.max_latency = report.max_latency.max(t.elapsed());
            }
            other => report.failures.push(format!("request {k}: {other:?}")),
        }
        if Instant::now() >= next_connection {
            next_connection = Instant::now() + Duration::from_millis(300);
            let fresh = async {
                let c = dial.dial(rt.clone(), config.clone()).await?;
                c.request("fresh").await
            };
            match wait::timeout(&rt, PROBE_LIMIT, fresh).await {
                Some(Ok(b)) if b == "fresh" => report.connections += 1,
                other => report.failures.push(format!("new connection: {other:?}")),
            }
        }
        wait::sleep(&rt, Duration::from_millis(20)).await;
        k += 1;
    }
    report
}
