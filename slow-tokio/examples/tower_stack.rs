//! tower's middleware on SLOW, on tokio: a client stack of `Timeout`,
//! `ConcurrencyLimit` and `Retry`, then one client over three servers with
//! tower's `balance` (scaling past one server is the ecosystem's
//! balancing). Every server is a tower service too (`ServiceHandler`).
//!
//! `cargo run -p slow-tokio --features tower --example tower_stack`; it
//! also runs as a test in `cargo test` (`the_example_runs`, below).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use slow_tokio::{Bytes, Client, Error, ErrorCode, ErrorReply, Request, Server, ServiceHandler};
use tokio::task::JoinSet;
use tower::balance::p2c::Balance;
use tower::discover::ServiceList;
use tower::load::{CompleteOnResponse, PendingRequests};
use tower::retry::Policy;
use tower::timeout::error::Elapsed;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};

/// How long the client stack waits for an answer, retries included.
const TIMEOUT: Duration = Duration::from_millis(100);
/// How long the first server takes to answer "slow".
const SLOW: Duration = Duration::from_millis(200);
/// How many requests the stack lets through at once.
const IN_FLIGHT: usize = 4;

/// What one server saw.
#[derive(Default)]
struct Stats {
    requests: AtomicU32,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Attempts at "flaky"; the first two are refused.
    flaky: AtomicU32,
    /// Handlers for "slow" that ran to the end (a cancelled one does not).
    slow_done: AtomicU32,
}

/// Counts a handler in flight while it lives.
struct InFlight(Arc<Stats>);

impl InFlight {
    fn new(stats: &Arc<Stats>) -> InFlight {
        let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(stats.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An echo server whose handler is a tower service; `slow` makes "slow"
/// take [`SLOW`].
async fn start_server(slow: bool) -> Result<(String, Arc<Stats>), Error> {
    let stats = Arc::new(Stats::default());
    let seen = stats.clone();
    let echo = service_fn(move |req: Request| {
        let stats = seen.clone();
        async move {
            stats.requests.fetch_add(1, Ordering::SeqCst);
            let _in_flight = InFlight::new(&stats);
            match &req.body[..] {
                b"slow" if slow => {
                    tokio::time::sleep(SLOW).await;
                    stats.slow_done.fetch_add(1, Ordering::SeqCst);
                }
                // Refused unprocessed twice (the client sees
                // `Error::NotProcessed`, safe to retry), then answered.
                b"flaky" if stats.flaky.fetch_add(1, Ordering::SeqCst) < 2 => {
                    return Err(ErrorReply::new(ErrorCode::SHUTTING_DOWN, "not now"));
                }
                _ => tokio::time::sleep(Duration::from_millis(2)).await,
            }
            Ok(req.body)
        }
    });
    let server = Server::bind("127.0.0.1:0").await?;
    let addr = server.local_addr()?.to_string();
    tokio::spawn(server.serve(ServiceHandler::new(echo)));
    Ok((addr, stats))
}

/// Retries what the server certainly did not process
/// ([`Error::is_retryable`]), up to `left` more times, 10 ms apart.
#[derive(Clone)]
struct RetryNotProcessed {
    left: u32,
    retries: Arc<AtomicU32>,
}

impl Policy<Bytes, Bytes, Error> for RetryNotProcessed {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, _: &mut Bytes, result: &mut Result<Bytes, Error>) -> Option<Self::Future> {
        match result {
            // Here the connection stays open (one request was refused), so
            // the same client serves; after a GOAWAY its `poll_ready`
            // fails, and a retry needs a new connection (tower's
            // `Reconnect`, or a balancer over several).
            Err(e) if e.is_retryable() && self.left > 0 => {
                self.left -= 1;
                self.retries.fetch_add(1, Ordering::SeqCst);
                Some(tokio::time::sleep(Duration::from_millis(10)))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, req: &Bytes) -> Option<Bytes> {
        Some(req.clone())
    }
}

/// Sends one request through `svc` once it is ready.
fn send<S>(svc: &S, body: &'static str) -> impl Future<Output = Result<Bytes, BoxError>> + use<S>
where
    S: Service<Bytes, Response = Bytes, Error = BoxError> + Clone,
{
    let svc = svc.clone();
    async move { svc.oneshot(Bytes::from(body)).await }
}

async fn run() -> Result<(), BoxError> {
    let mut servers = Vec::new();
    for slow in [true, false, false] {
        servers.push(start_server(slow).await?);
    }

    // ---- one server, a stack of tower's layers ---------------------------
    let client = Client::connect(&servers[0].0).await?;
    let retries = Arc::new(AtomicU32::new(0));
    let policy = RetryNotProcessed {
        left: 3,
        retries: retries.clone(),
    };
    let stack = ServiceBuilder::new()
        .timeout(TIMEOUT)
        .concurrency_limit(IN_FLIGHT)
        .retry(policy)
        .service(client.clone());

    let hello = send(&stack, "hello").await?;
    println!("stack:   hello -> {:?}", hello);
    assert_eq!(hello, "hello");

    let late = send(&stack, "slow").await.expect_err("the timeout fires");
    assert!(late.is::<Elapsed>(), "{late}");
    println!("timeout: slow  -> {late} after {TIMEOUT:?} (the handler takes {SLOW:?})");

    let flaky = send(&stack, "flaky").await?;
    let stats = &servers[0].1;
    let attempts = stats.flaky.load(Ordering::SeqCst);
    println!(
        "retry:   flaky -> {:?} after {attempts} attempts ({} retries of Error::NotProcessed)",
        flaky,
        retries.load(Ordering::SeqCst)
    );
    assert_eq!((attempts, retries.load(Ordering::SeqCst)), (3, 2));

    // Many at once: the stack lets IN_FLIGHT through, the rest wait in
    // `poll_ready` (the limit's, then the connection's own).
    stats.max_in_flight.store(0, Ordering::SeqCst);
    let mut burst = JoinSet::new();
    for _ in 0..32 {
        burst.spawn(send(&stack, "burst"));
    }
    while let Some(answer) = burst.join_next().await {
        assert_eq!(answer??, "burst");
    }
    let max = stats.max_in_flight.load(Ordering::SeqCst);
    println!("limit:   32 requests, at most {max} at once at the server (limit {IN_FLIGHT})");
    assert!(max <= IN_FLIGHT, "{max} in flight");

    // The timed-out request was cancelled: its handler never finished.
    tokio::time::sleep(SLOW).await;
    assert_eq!(stats.slow_done.load(Ordering::SeqCst), 0);
    println!("cancel:  the timed-out request's handler was stopped (CANCEL)");
    drop(stack);
    client.close().await?;

    // ---- three servers, one balanced client ------------------------------
    let before: Vec<u32> = servers
        .iter()
        .map(|(_, s)| s.requests.load(Ordering::SeqCst))
        .collect();
    let mut clients = Vec::new();
    for (addr, _) in &servers {
        let client = Client::connect(addr).await?;
        // p2c compares load: here, each client's requests in flight.
        clients.push(PendingRequests::new(client, CompleteOnResponse::default()));
    }
    let mut balance = Balance::new(ServiceList::new::<Bytes>(clients));
    let mut answers = JoinSet::new();
    for n in 0..100 {
        let body = Bytes::from(format!("request {n}"));
        let response = balance.ready().await?.call(body.clone());
        answers.spawn(async move { (response.await, body) });
    }
    while let Some(answer) = answers.join_next().await {
        let (response, body) = answer?;
        assert_eq!(response?, body);
    }
    let per_server: Vec<u32> = servers
        .iter()
        .zip(&before)
        .map(|((_, s), before)| s.requests.load(Ordering::SeqCst) - before)
        .collect();
    println!("balance: 100 requests over 3 servers -> {per_server:?}");
    assert_eq!(per_server.iter().sum::<u32>(), 100);
    assert!(per_server.iter().all(|&n| n > 0), "{per_server:?}");
    Ok(())
}

fn main() -> Result<(), BoxError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

#[test]
fn the_example_runs() {
    main().expect("the tower example");
}
