//! A server's statistics: the [`Stats`] of every connection it served,
//! added up, through a handle that outlives the serving.

use std::fmt;

use slow_proto::Stats;

use crate::mode::{Mode, Threaded};
use crate::registry::Registry;

#[cfg(doc)]
use crate::Server;

/// What a [`Server`] has served, from
/// [`Server::stats_handle`]: the core's [`Stats`] of every connection it
/// admitted, added up, and how many connections that is. Take it before
/// [`serve`](Server::serve) (which takes the server); it keeps working
/// while the server serves and after it returns. Cheap to clone (on a
/// local runtime a `ServerStats<Local>`, which stays on its thread).
///
/// A finished connection's stats are added once its driver is done
/// (its last bytes written); a live one's are read each time you ask.
/// Connections refused at the connection limit are not counted.
///
/// ```
/// use std::future::Future;
/// use slow_driver::runtime::Runtime;
/// use slow_driver::{Error, Request, Server};
///
/// /// Serves until `stop`, then says what was served.
/// async fn run<R: Runtime>(server: Server<R>, stop: impl Future<Output = ()>) -> Result<(), Error> {
///     let stats = server.stats_handle(); // before serving, which takes the server
///     server
///         .serve_with_shutdown(|req: Request| async move { Ok(req.body) }, stop)
///         .await?;
///     let totals = stats.totals();
///     eprintln!(
///         "served {} connections: {} requests, {} failed",
///         stats.connections(),
///         totals.requests,
///         totals.failed
///     );
///     Ok(())
/// }
/// ```
pub struct ServerStats<M: Mode = Threaded> {
    registry: Registry<M>,
}

impl<M: Mode> ServerStats<M> {
    pub(crate) fn new(registry: Registry<M>) -> ServerStats<M> {
        ServerStats { registry }
    }

    /// The stats of every connection served so far, added up: the
    /// finished ones' final counts and the live ones' counts now.
    ///
    /// ```
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{ServerStats, Stats};
    ///
    /// /// Requests answered with ERROR, as a share of all requests served.
    /// fn error_rate(stats: &ServerStats) -> f64 {
    ///     let totals: Stats = stats.totals();
    ///     (totals.failed + totals.expired) as f64 / totals.requests.max(1) as f64
    /// }
    /// ```
    #[must_use]
    pub fn totals(&self) -> Stats {
        self.registry.totals().0
    }

    /// How many connections the server has admitted so far (refused ones
    /// are not counted): those whose stats are in
    /// [`totals`](ServerStats::totals).
    ///
    /// ```
    /// use slow_driver::ServerStats;
    ///
    /// /// Requests per connection served.
    /// fn per_connection(stats: &ServerStats) -> f64 {
    ///     stats.totals().requests as f64 / stats.connections().max(1) as f64
    /// }
    /// ```
    #[must_use]
    pub fn connections(&self) -> u64 {
        self.registry.admitted()
    }

    /// How many of them are open now (draining ones included).
    ///
    /// ```
    /// use slow_driver::ServerStats;
    ///
    /// fn busy(stats: &ServerStats) -> bool {
    ///     stats.open() > 100
    /// }
    /// ```
    #[must_use]
    pub fn open(&self) -> usize {
        self.registry.live()
    }
}

impl<M: Mode> Clone for ServerStats<M> {
    fn clone(&self) -> Self {
        ServerStats {
            registry: self.registry.clone(),
        }
    }
}

impl<M: Mode> fmt::Debug for ServerStats<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (totals, connections) = self.registry.totals();
        f.debug_struct("ServerStats")
            .field("connections", &connections)
            .field("totals", &totals)
            .finish()
    }
}
