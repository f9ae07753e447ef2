//! A client runtime per adapter, each its own instance, and how a matrix
//! cell runs the scenario list on it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slow_driver::Config;

use crate::scenarios::{self, Cell, Outcome};
use crate::servers::{ASYNC_STD, COMPIO, CUSTOM, LOCAL, SMOL, SmolPool, TOKIO};
use crate::tls::TlsDial;
use crate::util::with_watchdog;

/// How long one cell may take in all before it counts as hung.
pub const CELL_LIMIT: Duration = Duration::from_secs(25);

/// A runtime clients run on.
pub enum ClientRuntime {
    /// A tokio multi-thread runtime of its own.
    Tokio(tokio::runtime::Runtime),
    /// A smol executor of its own (own threads).
    Smol(SmolPool),
    /// async-std's global runtime (shared with an async-std server: there is
    /// no other).
    AsyncStd,
    /// `slow-custom-example`'s client loop, run by the cell's own thread.
    Custom,
    /// `slow-local-example`'s thread-per-core runtime: a `PerCore`
    /// executor on the cell's own thread (it is not `Send`, so it is made
    /// there, per cell).
    Local,
    /// slow-compio: a compio runtime (its own io_uring) on the cell's own
    /// thread (it is not `Send` either, so it is made there, per cell).
    /// Needs io_uring: ask [`crate::util::io_uring`] first.
    Compio,
}

impl ClientRuntime {
    /// A tokio client runtime: 2 workers named `cli-tokio`.
    pub fn tokio() -> ClientRuntime {
        ClientRuntime::Tokio(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("cli-tokio")
                .enable_all()
                .build()
                .expect("tokio runtime"),
        )
    }

    /// A smol client executor: 2 threads named `cli-smol-N`.
    pub fn smol() -> ClientRuntime {
        ClientRuntime::Smol(SmolPool::new(2, "cli-smol"))
    }

    /// async-std's global runtime.
    pub fn async_std() -> ClientRuntime {
        ClientRuntime::AsyncStd
    }

    /// The custom event loop's client.
    pub fn custom() -> ClientRuntime {
        ClientRuntime::Custom
    }

    /// The thread-per-core runtime's client.
    pub fn local() -> ClientRuntime {
        ClientRuntime::Local
    }

    /// compio's client.
    pub fn compio() -> ClientRuntime {
        ClientRuntime::Compio
    }

    /// Its name in the matrix.
    pub fn name(&self) -> &'static str {
        match self {
            ClientRuntime::Tokio(_) => TOKIO,
            ClientRuntime::Smol(_) => SMOL,
            ClientRuntime::AsyncStd => ASYNC_STD,
            ClientRuntime::Custom => CUSTOM,
            ClientRuntime::Local => LOCAL,
            ClientRuntime::Compio => COMPIO,
        }
    }

    /// Runs every scenario against `addr`, blocking this thread.
    pub fn run_scenarios(&self, addr: SocketAddr, config: Config) -> Vec<Outcome> {
        match self {
            ClientRuntime::Tokio(rt) => rt.block_on(scenarios::run_all(
                slow_tokio::Tokio(rt.handle().clone()),
                addr,
                config,
            )),
            ClientRuntime::Smol(pool) => smol::block_on(scenarios::run_all(
                slow_smol::Smol::on(pool.ex.clone()),
                addr,
                config,
            )),
            ClientRuntime::AsyncStd => async_std::task::block_on(scenarios::run_all(
                slow_async_std::AsyncStd,
                addr,
                config,
            )),
            ClientRuntime::Custom => crate::custom::run_all(addr, config),
            ClientRuntime::Local => {
                let rt = slow_local_example::PerCore::new();
                rt.block_on(scenarios::run_all(rt.clone(), addr, config))
            }
            ClientRuntime::Compio => slow_compio::runtime()
                .expect("a compio runtime (io_uring was available when the matrix started)")
                .block_on(scenarios::run_all(slow_compio::Compio::new(), addr, config)),
        }
    }

    /// Runs every scenario over TLS as `dial` says, blocking this thread.
    /// A runtime's TLS client goes here: compio's is not written yet, so
    /// its cells fail saying so.
    pub fn run_scenarios_tls(&self, dial: &TlsDial, config: Config) -> Vec<Outcome> {
        match self {
            ClientRuntime::Tokio(rt) => rt.block_on(scenarios::run_all_over(
                slow_tokio::Tokio(rt.handle().clone()),
                dial,
                config,
            )),
            ClientRuntime::Smol(pool) => smol::block_on(scenarios::run_all_over(
                slow_smol::Smol::on(pool.ex.clone()),
                dial,
                config,
            )),
            ClientRuntime::AsyncStd => async_std::task::block_on(scenarios::run_all_over(
                slow_async_std::AsyncStd,
                dial,
                config,
            )),
            ClientRuntime::Local => {
                let rt = slow_local_example::PerCore::new();
                rt.block_on(scenarios::run_all_over(rt.clone(), dial, config))
            }
            ClientRuntime::Custom => crate::custom::run_all_tls(dial, config),
            ClientRuntime::Compio => {
                scenarios::all_failed(&format!("no TLS client on {}", self.name()))
            }
        }
    }

    /// Stops the runtime.
    pub fn stop(self) {
        match self {
            ClientRuntime::Tokio(rt) => rt.shutdown_timeout(Duration::from_secs(1)),
            ClientRuntime::Smol(pool) => pool.stop(),
            ClientRuntime::AsyncStd
            | ClientRuntime::Custom
            | ClientRuntime::Local
            | ClientRuntime::Compio => {}
        }
    }
}

/// Runs one cell on a watchdog thread: a hang or panic fails the cell,
/// bounded by [`CELL_LIMIT`], instead of hanging the test.
pub fn run_cell(
    client: &Arc<ClientRuntime>,
    server_name: &str,
    addr: SocketAddr,
    config: Config,
) -> Cell {
    run_cell_with(client, server_name, move |c| c.run_scenarios(addr, config))
}

/// [`run_cell`] over TLS, as `dial` says.
pub fn run_tls_cell(
    client: &Arc<ClientRuntime>,
    server_name: &str,
    dial: TlsDial,
    config: Config,
) -> Cell {
    run_cell_with(client, server_name, move |c| {
        c.run_scenarios_tls(&dial, config)
    })
}

/// A cell whose scenarios `run` runs on the client runtime, bounded as
/// [`run_cell`] says.
pub fn run_cell_with(
    client: &Arc<ClientRuntime>,
    server_name: &str,
    run: impl FnOnce(&ClientRuntime) -> Vec<Outcome> + Send + 'static,
) -> Cell {
    let start = Instant::now();
    let c = client.clone();
    let result = with_watchdog(
        &format!("cell {}x{server_name}", client.name()),
        CELL_LIMIT,
        move || run(&c),
    );
    let (outcomes, error) = match result {
        Ok(outcomes) => (outcomes, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    Cell {
        client: client.name().to_string(),
        server: server_name.to_string(),
        outcomes,
        error,
        elapsed: start.elapsed(),
    }
}
