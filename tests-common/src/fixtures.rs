//! What scenarios serve and probe with: a served server shut down when
//! dropped, a handler that counts its runs, and the `!bytes` pattern.

use std::future::poll_fn;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use bytes::Bytes;
use slow_driver::runtime::{Mode, Reactor};
use slow_driver::{Client, Config, Error, Request, Server, ServerStats};
use slow_interop::driver::InteropService;

use crate::handler::{Answer, TestHandler};
use crate::runner::{Join, ModeOf, TestRuntime, TestRuntimeExt};
use crate::wire::{Served, Wire};

/// A one-way signal any number of tasks can wait for.
#[derive(Clone, Default)]
pub(crate) struct Trigger(Arc<Mutex<(bool, Vec<Waker>)>>);

impl Trigger {
    pub(crate) fn fire(&self) {
        let wakers = {
            let mut s = self.0.lock().unwrap();
            s.0 = true;
            std::mem::take(&mut s.1)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    pub(crate) async fn wait(self) {
        poll_fn(|cx| {
            let mut s = self.0.lock().unwrap();
            if s.0 {
                return Poll::Ready(());
            }
            if !s.1.iter().any(|w| w.will_wake(cx.waker())) {
                s.1.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

/// Counts handlers started, and handlers stopped (their future dropped,
/// whether they finished or were aborted).
#[derive(Clone, Default)]
pub(crate) struct Probe {
    started: Arc<AtomicUsize>,
    stopped: Arc<AtomicUsize>,
    pub(crate) saw_deadline: Arc<AtomicBool>,
}

/// Counts a handler as stopped when dropped.
pub(crate) struct Stopped(Arc<AtomicUsize>);

impl Drop for Stopped {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

impl Probe {
    pub(crate) fn enter<M: Mode>(&self, request: &Request<M>) -> Stopped {
        if request.deadline.is_some() {
            self.saw_deadline.store(true, SeqCst);
        }
        self.started.fetch_add(1, SeqCst);
        Stopped(self.stopped.clone())
    }

    pub(crate) fn started(&self) -> usize {
        self.started.load(SeqCst)
    }

    pub(crate) fn stopped(&self) -> usize {
        self.stopped.load(SeqCst)
    }
}

/// A handler that never answers `hang` (until stopped from outside) and
/// echoes anything else.
pub(crate) fn hanging<R: Reactor>(probe: &Probe) -> TestHandler<R> {
    let probe = probe.clone();
    TestHandler::new(move |req| {
        if req.body == "hang" {
            Answer::never().holding(probe.enter(req))
        } else {
            Answer::now(Ok(req.body.clone()))
        }
    })
}

/// The `!bytes N` pattern: byte i is i mod 251.
pub(crate) fn pattern(n: usize) -> Bytes {
    (0..n).map(|i| (i % 251) as u8).collect()
}

pub(crate) fn assert_pattern(body: &[u8], n: usize) {
    assert_eq!(body.len(), n);
    if let Some(i) = (0..n).find(|&i| body[i] != (i % 251) as u8) {
        panic!("byte {i} is {}, not {}", body[i], i % 251);
    }
}

/// A server served on `T` over wire `W`, shut down when dropped.
pub(crate) struct Running<T: TestRuntime, W> {
    pub(crate) addr: SocketAddr,
    /// What it has served, kept after it stops.
    pub(crate) stats: ServerStats<ModeOf<T>>,
    stop: Trigger,
    done: Option<Join<Result<(), Error>>>,
    runtime: PhantomData<fn() -> (T, W)>,
}

impl<T: TestRuntime, W: Wire<T>> Running<T, W> {
    /// Serves `served`: a [`TestHandler`] or the INTEROP service.
    pub(crate) async fn start(served: impl Into<Served<T::Runtime>>) -> Running<T, W> {
        Running::start_with(served, Config::default(), None).await
    }

    pub(crate) async fn start_with(
        served: impl Into<Served<T::Runtime>>,
        config: Config,
        max_connections: Option<usize>,
    ) -> Running<T, W> {
        let mut server = Server::<T::Runtime>::bind_with("127.0.0.1:0", config)
            .await
            .expect("bind");
        if let Some(n) = max_connections {
            server = server.max_connections(n);
        }
        let addr = server
            .local_addr()
            .expect("local_addr")
            .tcp()
            .expect("a TCP address");
        let stats = server.stats_handle();
        let stop = Trigger::default();
        let signal = stop.clone().wait();
        let done = T::spawn_join(W::serve(server, served.into(), signal));
        Running {
            addr,
            stats,
            stop,
            done: Some(done),
            runtime: PhantomData,
        }
    }

    pub(crate) async fn interop() -> Running<T, W> {
        Running::start(InteropService::<T::Runtime>::current().expect("runtime")).await
    }

    pub(crate) async fn client(&self) -> Client<T::Runtime> {
        self.client_with(Config::default()).await
    }

    pub(crate) async fn client_with(&self, config: Config) -> Client<T::Runtime> {
        T::bounded("connect", W::connect(self.addr, config))
            .await
            .expect("connect")
    }

    /// Fires the shutdown signal and waits for `serve` to return.
    pub(crate) async fn shutdown(mut self) -> Result<(), Error> {
        self.stop.fire();
        T::bounded("serve to return", self.done.take().expect("running").join()).await
    }
}

impl<T: TestRuntime, W> Drop for Running<T, W> {
    fn drop(&mut self) {
        // Shuts down in the background (the runtime may outlive the test).
        self.stop.fire();
    }
}
