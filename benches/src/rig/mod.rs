//! Client and server over loopback, for each runtime, and the load patterns
//! of the end-to-end benchmarks.
//!
//! Threads and runtime flavours, the same on both sides of each comparison:
//!
//! - **tokio** (SLOW and baseline): the server on a current-thread runtime
//!   in its own thread, the client on another current-thread runtime on the
//!   bench thread. Two threads, one runtime each.
//! - **smol** (SLOW and baseline): one `smol::Executor` per side, each run by
//!   `smol::block_on` on its own thread (server thread, bench thread); the
//!   async-io reactor is driven by whichever of them is blocked on it.
//! - **async-std** (SLOW and pipelined baseline): client and server tasks
//!   on async-std's global executor (its default: one worker per core, two
//!   here); the bench thread only waits.
//! - **compio** (SLOW and pipelined baseline): a compio runtime (its own
//!   io_uring) per side, the server's on its own thread, the client's on
//!   the bench thread.
//! - **custom** (SLOW only): the mio event loop of `slow-custom-example`, its
//!   server on its own thread, its client loop on the bench thread.
//!
//! Every server answers a request with its own body (an echo).
//!
//! One file per runtime (`tokio.rs`, `smol.rs`, `async_std.rs`, `compio.rs`,
//! [`custom`]);
//! what the async ones share is written once ([`AsyncRig`], [`ServerThread`]);
//! [`IdleClients`] holds connections open for the memory benchmark.

mod async_rig;
mod async_std;
mod compio;
pub mod custom;
mod idle_clients;
pub mod multi_thread;
mod server_thread;
mod smol;
pub mod tls;
mod tokio;

use std::net::SocketAddr;
use std::time::Duration;

use slow_proto::Config;

use self::async_std::async_std_rig;
use self::compio::compio_rig;
use self::smol::smol_rig;
use self::tokio::tokio_rig;

pub use self::async_rig::{AsyncRig, BoxFut, Exec, Requester};
pub use self::async_std::{AsyncStdExec, async_std_server};
pub use self::compio::{CompioExec, compio_clients, compio_server, pipelined_compio_clients};
pub use self::idle_clients::IdleClients;
pub use self::server_thread::{ServerThread, StopSignal};
pub use self::smol::{SmolExec, smol_server};
pub use self::tokio::{TokioExec, tokio_server};

/// One load pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// Its name: the criterion group is `e2e_<name>`.
    pub name: &'static str,
    /// What it shows, for the report.
    pub what: &'static str,
    /// Request and response body size.
    pub body: usize,
    /// Connections.
    pub conns: usize,
    /// Requests in flight on each connection (one task each, each waiting
    /// for its response before sending the next).
    pub per_conn: usize,
}

impl Scenario {
    /// Requests in flight in all.
    pub fn in_flight(&self) -> usize {
        self.conns * self.per_conn
    }
}

/// The end-to-end scenarios.
pub const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "latency_1",
        what: "64 B, 1 request in flight, 1 connection",
        body: crate::SMALL,
        conns: 1,
        per_conn: 1,
    },
    Scenario {
        name: "inflight_64",
        what: "64 B, 64 in flight on 1 connection",
        body: crate::SMALL,
        conns: 1,
        per_conn: 64,
    },
    Scenario {
        name: "conns_64",
        what: "64 B, 64 connections, 1 in flight each",
        body: crate::SMALL,
        conns: 64,
        per_conn: 1,
    },
    Scenario {
        name: "body_64k",
        what: "64 KiB bodies, 16 in flight on 1 connection",
        body: crate::LARGE,
        conns: 1,
        per_conn: 16,
    },
];

/// The implementations benchmarked end to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imp {
    /// `slow-tokio`.
    SlowTokio,
    /// The hand-written tokio baseline, a task per request on the server.
    BaselineTokio,
    /// The hand-written tokio baseline, the server answering inline.
    PipelinedTokio,
    /// tokio-util `Framed` on both sides, the server answering inline.
    FramedTokio,
    /// `slow-smol`.
    SlowSmol,
    /// The hand-written smol baseline, a task per request on the server.
    BaselineSmol,
    /// The hand-written smol baseline, the server answering inline.
    PipelinedSmol,
    /// `slow-async-std`.
    SlowAsyncStd,
    /// The hand-written async-std baseline, the server answering inline
    /// (smol's code on async-std's sockets and global executor).
    PipelinedAsyncStd,
    /// `slow-compio` (io_uring).
    SlowCompio,
    /// The hand-written compio baseline, the server answering inline.
    PipelinedCompio,
    /// `slow-custom-example`'s mio loop.
    Custom,
}

impl Imp {
    /// Every implementation, each SLOW adapter followed by its baselines.
    pub const ALL: [Imp; 12] = [
        Imp::SlowTokio,
        Imp::BaselineTokio,
        Imp::PipelinedTokio,
        Imp::FramedTokio,
        Imp::SlowSmol,
        Imp::BaselineSmol,
        Imp::PipelinedSmol,
        Imp::SlowAsyncStd,
        Imp::PipelinedAsyncStd,
        Imp::SlowCompio,
        Imp::PipelinedCompio,
        Imp::Custom,
    ];

    /// The implementations that can run on this machine: all of them, but
    /// the compio ones only where io_uring is available (it says why not,
    /// once, on stderr).
    pub fn runnable() -> impl Iterator<Item = Imp> {
        static SAID: std::sync::Once = std::sync::Once::new();
        let uring = slow_compio::available();
        if let Err(why) = &uring {
            SAID.call_once(|| eprintln!("slow_compio and pipelined_compio skipped: {why}"));
        }
        Imp::ALL
            .into_iter()
            .filter(move |&imp| !imp.is_compio() || uring.is_ok())
    }

    /// The criterion function name.
    pub fn name(self) -> &'static str {
        match self {
            Imp::SlowTokio => "slow_tokio",
            Imp::BaselineTokio => "baseline_tokio",
            Imp::PipelinedTokio => "pipelined_tokio",
            Imp::FramedTokio => "framed_tokio",
            Imp::SlowSmol => "slow_smol",
            Imp::BaselineSmol => "baseline_smol",
            Imp::PipelinedSmol => "pipelined_smol",
            Imp::SlowAsyncStd => "slow_async_std",
            Imp::PipelinedAsyncStd => "pipelined_async_std",
            Imp::SlowCompio => "slow_compio",
            Imp::PipelinedCompio => "pipelined_compio",
            Imp::Custom => "slow_custom",
        }
    }

    /// Every baseline this SLOW adapter is measured against in paired
    /// rounds: its runtime's hand-written ones (per request, pipelined,
    /// Framed). async-std against its own pipelined code, then smol's
    /// (the same code on async-io, as async-std is, under smol's
    /// executor); compio against its own pipelined code, then tokio's
    /// (the 64 KiB target is set against tokio's for every adapter); the
    /// custom loop, which has no async runtime, against tokio's.
    pub fn baselines(self) -> &'static [Imp] {
        match self {
            Imp::SlowTokio => &[Imp::BaselineTokio, Imp::PipelinedTokio, Imp::FramedTokio],
            Imp::SlowSmol => &[Imp::BaselineSmol, Imp::PipelinedSmol],
            Imp::SlowAsyncStd => &[Imp::PipelinedAsyncStd, Imp::PipelinedSmol],
            Imp::SlowCompio => &[Imp::PipelinedCompio, Imp::PipelinedTokio],
            Imp::Custom => &[Imp::PipelinedTokio],
            _ => &[],
        }
    }

    /// Whether this is a hand-written baseline.
    pub fn is_baseline(self) -> bool {
        matches!(
            self,
            Imp::BaselineTokio | Imp::FramedTokio | Imp::BaselineSmol
        ) || self.is_pipelined()
    }

    /// Whether this is a pipelined baseline (the server answering inline).
    pub fn is_pipelined(self) -> bool {
        matches!(
            self,
            Imp::PipelinedTokio
                | Imp::PipelinedSmol
                | Imp::PipelinedAsyncStd
                | Imp::PipelinedCompio
        )
    }

    /// Whether this runs on compio (and so needs io_uring).
    pub fn is_compio(self) -> bool {
        matches!(self, Imp::SlowCompio | Imp::PipelinedCompio)
    }

    /// The baselines this adapter is paired with in `scenario`: its
    /// [`baselines`](Imp::baselines), and at 64 KiB the pipelined tokio code
    /// for every adapter, the target there being set against it
    /// (slow-smol and slow-async-std are paired with it only there).
    pub fn paired_with(self, scenario: &Scenario) -> Vec<Imp> {
        let mut bases = self.baselines().to_vec();
        let large = scenario.name == "body_64k";
        if large && !bases.is_empty() && !bases.contains(&Imp::PipelinedTokio) {
            bases.push(Imp::PipelinedTokio);
        }
        bases
    }

    /// The pipelined baseline this adapter is judged against: the first of
    /// [`Imp::baselines`], its own runtime's where it has one.
    pub fn pipelined_baseline(self) -> Option<Imp> {
        self.baselines().iter().copied().find(|b| b.is_pipelined())
    }
}

/// A running client and server for one scenario.
pub trait Bench {
    /// Performs `iters` round trips in the scenario's pattern and returns
    /// the wall time they took. With one request in flight, the latency of
    /// each round trip (ns) is pushed onto `latencies`.
    fn run(&mut self, iters: u64, latencies: &mut Vec<u64>) -> Duration;
}

/// Sets up `imp` for `scenario`: server started, clients connected.
pub fn start(imp: Imp, scenario: Scenario) -> Box<dyn Bench> {
    match imp {
        Imp::SlowTokio | Imp::BaselineTokio | Imp::PipelinedTokio | Imp::FramedTokio => {
            tokio_rig(imp, scenario)
        }
        Imp::SlowSmol | Imp::BaselineSmol | Imp::PipelinedSmol => smol_rig(imp, scenario),
        Imp::SlowAsyncStd | Imp::PipelinedAsyncStd => async_std_rig(imp, scenario),
        Imp::SlowCompio | Imp::PipelinedCompio => compio_rig(imp, scenario),
        Imp::Custom => custom::start(scenario),
    }
}

/// How many of `iters` requests worker `w` of `workers` makes.
pub fn share(iters: u64, workers: usize, w: usize) -> u64 {
    let workers = workers as u64;
    iters / workers + u64::from((w as u64) < iters % workers)
}

/// The configuration every SLOW side uses: the defaults.
pub fn config() -> Config {
    Config::default()
}

/// A running server of any implementation; stops when dropped.
pub enum AnyServer {
    /// One of the async servers.
    Async(ServerThread),
    /// The custom loop's.
    Custom(slow_custom_example::ServerThread),
}

/// Starts `imp`'s server (SLOW or baseline).
pub fn start_server(imp: Imp) -> (SocketAddr, AnyServer) {
    if imp == Imp::Custom {
        let (addr, server) = custom::server();
        return (addr, AnyServer::Custom(server));
    }
    let (addr, server) = match imp {
        Imp::SlowTokio | Imp::BaselineTokio | Imp::PipelinedTokio | Imp::FramedTokio => {
            tokio_server(imp)
        }
        Imp::SlowSmol | Imp::BaselineSmol | Imp::PipelinedSmol => smol_server(imp),
        Imp::SlowAsyncStd | Imp::PipelinedAsyncStd => async_std_server(imp),
        Imp::SlowCompio | Imp::PipelinedCompio => compio_server(imp),
        Imp::Custom => unreachable!(),
    };
    (addr, AnyServer::Async(server))
}
