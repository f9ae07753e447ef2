//! The async side, written once: a client trait over every async
//! implementation, a trait over where its tasks run, and the rig that drives
//! a scenario's load through both.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Bench, Scenario, ServerThread, share};
use crate::baseline;

/// A boxed, sendable future with no output.
pub type BoxFut = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A client of any of the async implementations.
pub trait Requester: Clone + Send + Sync + 'static {
    /// One round trip; returns the response body's length.
    fn call(&self, body: Bytes) -> impl Future<Output = usize> + Send;
}

macro_rules! slow_requester {
    ($($t:ty),*) => {$(
        impl Requester for $t {
            async fn call(&self, body: Bytes) -> usize {
                self.request(body).await.expect("SLOW request").len()
            }
        }
    )*};
}
slow_requester!(
    slow_tokio::Client,
    slow_smol::Client,
    slow_async_std::Client
);

impl Requester for baseline::tokio::Client {
    async fn call(&self, body: Bytes) -> usize {
        self.request(body).await.expect("baseline request").len()
    }
}

impl Requester for baseline::framed::Client {
    async fn call(&self, body: Bytes) -> usize {
        self.request(body).await.expect("baseline request").len()
    }
}

impl Requester for baseline::futures_io::Client {
    async fn call(&self, body: Bytes) -> usize {
        self.request(body).await.expect("baseline request").len()
    }
}

/// Where the client side's tasks run.
pub trait Exec {
    /// Runs `f` to completion on the bench thread.
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T;
    /// Spawns `f`; the returned future completes with it.
    fn spawn(&self, f: BoxFut) -> BoxFut;
}

/// A client-side runtime, the clients on it and the server they talk to.
pub struct AsyncRig<E: Exec, C: Requester> {
    pub(super) clients: Vec<C>,
    pub(super) exec: E,
    pub(super) scenario: Scenario,
    pub(super) _server: ServerThread,
}

impl<E: Exec, C: Requester> Bench for AsyncRig<E, C> {
    fn run(&mut self, iters: u64, latencies: &mut Vec<u64>) -> Duration {
        let body = crate::body(self.scenario.body);
        let len = body.len();
        let workers = self.scenario.in_flight();
        if workers == 1 {
            let client = &self.clients[0];
            latencies.reserve(iters as usize);
            return self.exec.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let t = Instant::now();
                    assert_eq!(client.call(body.clone()).await, len);
                    latencies.push(t.elapsed().as_nanos() as u64);
                }
                start.elapsed()
            });
        }
        let exec = &self.exec;
        let clients = &self.clients;
        exec.block_on(async {
            let start = Instant::now();
            let tasks: Vec<BoxFut> = (0..workers)
                .map(|w| {
                    let n = share(iters, workers, w);
                    let client = clients[w % clients.len()].clone();
                    let body = body.clone();
                    exec.spawn(Box::pin(async move {
                        for _ in 0..n {
                            assert_eq!(client.call(body.clone()).await, len);
                        }
                    }))
                })
                .collect();
            for task in tasks {
                task.await;
            }
            start.elapsed()
        })
    }
}
