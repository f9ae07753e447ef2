//! Scenario 5, graceful shutdown under load: clients load the server at
//! full speed (4 connections x 16 tasks, each issuing its next request as
//! soon as the last is answered; a mix of echoes, sleeps and large answers,
//! or echoes only), then the server is told to shut down
//! (`serve_with_shutdown`'s signal; the custom loop's shutdown handle).
//!
//! Every request must end as either answered correctly (the server accepted
//! it and finished it) or `Error::NotProcessed` (it did not, and says so):
//! zero requests with an unknown fate. On the driver servers the handlers
//! are counted too: every handler that started completed, and exactly as
//! many requests were answered as handlers completed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reliability::{Kind, Rng, TestServer, on_runtime, rng, wait};
use slow_driver::runtime::Runtime;
use slow_driver::{Client, Config, Error};

const CONNECTIONS: usize = 4;
const TASKS: usize = 16;
const LOAD_BEFORE_SHUTDOWN: Duration = Duration::from_millis(700);
/// No task runs longer than this, whatever happens.
const TASK_LIMIT: Duration = Duration::from_secs(20);

#[derive(Debug, Default, Clone)]
struct Tally {
    answered: usize,
    /// Answered after the shutdown began: in flight when it began, or sent
    /// before its GOAWAY arrived.
    answered_in_drain: usize,
    not_processed: usize,
    /// Anything else: wrong bodies, lost connections, other errors.
    unknown: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.answered += other.answered;
        self.answered_in_drain += other.answered_in_drain;
        self.not_processed += other.not_processed;
        self.unknown.extend(other.unknown);
    }
}

/// When the shutdown began, once it did.
type ShutdownAt = Arc<std::sync::Mutex<Option<Instant>>>;

/// What the load sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// Echoes, `!sleep 10` and `!bytes 20000`: some request is always
    /// outstanding at the server.
    Mixed,
    /// Small echoes only, answered at once: the server drains in an
    /// instant and closes while the clients are still sending.
    Echoes,
}

async fn load_task<R: Runtime>(
    rt: R,
    client: Client<R>,
    mut rng: Rng,
    shutdown_at: ShutdownAt,
    mix: Mix,
) -> Tally {
    let mut t = Tally::default();
    let end = Instant::now() + TASK_LIMIT;
    while Instant::now() < end {
        let kinds = if mix == Mix::Echoes { 1 } else { 3 };
        let (body, expected) = match rng.below(kinds) {
            0 => {
                // Not starting with `!`: an echo, never a command.
                let n = rng.range(1, 300) as usize;
                let mut b = rng.bytes(n);
                b[0] = b'e';
                let b = Bytes::from(b);
                (b.clone(), b)
            }
            1 => (
                Bytes::from_static(b"!sleep 10"),
                Bytes::from_static(b"slept 10"),
            ),
            _ => (
                Bytes::from_static(b"!bytes 20000"),
                slow_interop::pattern(20_000),
            ),
        };
        match wait::timeout(&rt, TASK_LIMIT, client.request(body)).await {
            Some(Ok(b)) if b == expected => {
                t.answered += 1;
                let began = *shutdown_at.lock().unwrap();
                t.answered_in_drain += usize::from(began.is_some_and(|s| s <= Instant::now()));
            }
            Some(Err(Error::NotProcessed)) => {
                t.not_processed += 1;
                // The connection is closing: this task is done.
                return t;
            }
            Some(Ok(b)) => t.unknown.push(format!("wrong body of {} bytes", b.len())),
            Some(Err(e)) => {
                t.unknown.push(e.to_string());
                return t;
            }
            None => {
                t.unknown.push("no outcome".into());
                return t;
            }
        }
    }
    t.unknown
        .push("still answering at the end of the test".into());
    t
}

async fn load<R: Runtime>(
    rt: R,
    addr: std::net::SocketAddr,
    seed: u64,
    started: Arc<AtomicBool>,
    shutdown_at: ShutdownAt,
    mix: Mix,
) -> Result<Tally, String> {
    let config = Config {
        drain_timeout: Duration::from_secs(10),
        ..Config::default()
    };
    let mut handles = Vec::new();
    for c in 0..CONNECTIONS {
        let client = Client::connect_on(rt.clone(), addr, config.clone())
            .await
            .map_err(|e| format!("connect: {e}"))?;
        for k in 0..TASKS {
            let rng = Rng::new(seed).fork((c * TASKS + k) as u64);
            handles.push(wait::spawn(
                &rt,
                load_task(rt.clone(), client.clone(), rng, shutdown_at.clone(), mix),
            ));
        }
    }
    started.store(true, Ordering::SeqCst);
    let mut tally = Tally::default();
    for t in wait::join_all(handles).await {
        tally.add(t.unwrap_or_else(|| Tally {
            unknown: vec!["task vanished".into()],
            ..Tally::default()
        }));
    }
    Ok(tally)
}

fn shutdown_under_load(server: Kind, client: Kind, default_seed: u64, mix: Mix) {
    let name = format!(
        "shutdown {} server, {} client, {mix:?}",
        server.name(),
        client.name()
    );
    if !server.runs_here(&name) {
        return;
    }
    let seed = rng::seed(&name, default_seed);
    let config = Config {
        drain_timeout: Duration::from_secs(10),
        ..Config::default()
    };
    let srv = TestServer::start(server, config);
    let (addr, handlers) = (srv.addr, srv.handlers.clone());
    let started = Arc::new(AtomicBool::new(false));
    let shutdown_at = ShutdownAt::default();
    let (flag, at) = (started.clone(), shutdown_at.clone());
    let loader =
        std::thread::spawn(move || on_runtime!(client, |rt| load(rt, addr, seed, flag, at, mix)));

    let ready_by = Instant::now() + Duration::from_secs(10);
    while !started.load(Ordering::SeqCst) && Instant::now() < ready_by && !loader.is_finished() {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(LOAD_BEFORE_SHUTDOWN);
    let t = Instant::now();
    *shutdown_at.lock().unwrap() = Some(t);
    let stopped = srv.shutdown();
    let drained_in = t.elapsed();
    let tally = loader.join().expect("load thread").expect("load");

    let counts = handlers.as_ref().map(|h| {
        (
            h.started.load(Ordering::SeqCst),
            h.completed.load(Ordering::SeqCst),
            h.dropped.load(Ordering::SeqCst),
        )
    });
    println!(
        "figure: {name}: {} answered ({} of them after the shutdown began), {} not processed, \
         {} unknown fate; server drained in {drained_in:.1?}; handlers (started, completed, \
         dropped) {counts:?}",
        tally.answered,
        tally.answered_in_drain,
        tally.not_processed,
        tally.unknown.len(),
    );
    stopped.expect("graceful shutdown");
    assert!(
        tally.unknown.is_empty(),
        "{name}: requests of unknown fate: {:?}",
        tally.unknown
    );
    assert!(tally.answered > 0, "{name}: no load before the shutdown");
    assert_eq!(
        tally.not_processed,
        CONNECTIONS * TASKS,
        "{name}: every task ends on NotProcessed"
    );
    if let Some((started, completed, dropped)) = counts {
        assert_eq!(dropped, 0, "{name}: accepted requests abandoned");
        assert_eq!(started, completed, "{name}: handlers never finished");
        assert_eq!(
            completed, tally.answered,
            "{name}: answers lost or invented"
        );
    }
}

#[test]
fn shutdown_tokio_server_async_std_client() {
    shutdown_under_load(Kind::Tokio, Kind::AsyncStd, 51, Mix::Mixed);
}

#[test]
fn shutdown_smol_server_tokio_client() {
    shutdown_under_load(Kind::Smol, Kind::Tokio, 52, Mix::Mixed);
}

#[test]
fn shutdown_async_std_server_smol_client() {
    shutdown_under_load(Kind::AsyncStd, Kind::Smol, 53, Mix::Mixed);
}

#[test]
fn shutdown_custom_server_tokio_client() {
    shutdown_under_load(Kind::Custom, Kind::Tokio, 54, Mix::Mixed);
}

#[test]
fn shutdown_compio_server_async_std_client() {
    shutdown_under_load(Kind::Compio, Kind::AsyncStd, 58, Mix::Mixed);
}

// Echoes only: the server drains at once and closes while the clients'
// next requests are on their way in. Unread input at close makes the
// kernel send RST, which can destroy the answers and the GOAWAY the client
// has not read yet, unless the server lingers (reads until the client's
// FIN) before closing. The custom loop lingers and passes; the driver does
// not, and loses requests to "connection lost" (about 1 run in 3 for a smol
// server and a tokio client on a 2-core machine).

#[test]
fn shutdown_echo_flood_custom_server_tokio_client() {
    for round in 0..2 {
        shutdown_under_load(Kind::Custom, Kind::Tokio, 55 + round, Mix::Echoes);
    }
}

#[test]
fn shutdown_echo_flood_driver_servers() {
    for round in 0..5 {
        shutdown_under_load(Kind::Smol, Kind::Tokio, 60 + round, Mix::Echoes);
        shutdown_under_load(Kind::Tokio, Kind::Smol, 70 + round, Mix::Echoes);
        shutdown_under_load(Kind::AsyncStd, Kind::Tokio, 80 + round, Mix::Echoes);
    }
}

// The same on the driver's completion path: a compio server, tokio and
// smol clients in turn.
#[test]
fn shutdown_echo_flood_compio_server() {
    if !Kind::Compio.runs_here("shutdown echo flood, compio server") {
        return;
    }
    for round in 0..5 {
        let client = [Kind::Tokio, Kind::Smol][round as usize % 2];
        shutdown_under_load(Kind::Compio, client, 90 + round, Mix::Echoes);
    }
}
