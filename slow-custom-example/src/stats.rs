//! What a server has served, readable from any thread.

use std::sync::{Arc, Mutex};

use slow_proto::Stats;

/// What a [`Server`](crate::Server) has served, from
/// [`Server::stats_handle`](crate::Server::stats_handle): the core's
/// [`Stats`] of its connections, added up. Clone it freely and read it
/// from any thread.
///
/// The loop owns its connections, so a connection's counts are added when
/// it is done (its socket closed); until then it counts only as
/// [open](ServerStats::open). Once [`run`](crate::Server::run) has returned,
/// every connection is in the totals. Connections refused at the
/// connection limit are not counted.
///
/// ```
/// use slow_custom_example::{BlockingClient, Server};
/// use std::time::Duration;
///
/// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
/// let stats = server.stats_handle();
/// let server = server.spawn()?;
/// let mut client = BlockingClient::connect(server.local_addr()).unwrap();
/// client.request("hi", Some(Duration::from_secs(5))).unwrap();
/// client.close(Duration::from_secs(5)).unwrap();
/// server.shutdown()?; // every connection has finished
/// assert_eq!((stats.connections(), stats.open()), (1, 0));
/// assert_eq!((stats.totals().requests, stats.totals().responses), (1, 1));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    inner: Arc<Mutex<Totals>>,
}

#[derive(Debug, Default)]
struct Totals {
    admitted: u64,
    finished: u64,
    stats: Stats,
}

impl ServerStats {
    fn lock(&self) -> std::sync::MutexGuard<'_, Totals> {
        // Only counters inside: a panic elsewhere leaves them usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection was admitted.
    pub(crate) fn admitted(&self) {
        self.lock().admitted += 1;
    }

    /// An admitted connection is done: its final counts.
    pub(crate) fn finished(&self, stats: Stats) {
        let mut totals = self.lock();
        totals.finished += 1;
        totals.stats += stats;
    }

    /// The stats of the connections that are done, added up.
    ///
    /// ```
    /// # use slow_custom_example::Server;
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// assert_eq!(server.stats_handle().totals().requests, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn totals(&self) -> Stats {
        self.lock().stats
    }

    /// How many connections the server has admitted so far.
    ///
    /// ```
    /// # use slow_custom_example::Server;
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// assert_eq!(server.stats_handle().connections(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn connections(&self) -> u64 {
        self.lock().admitted
    }

    /// How many of them are not done yet (not in the
    /// [`totals`](ServerStats::totals)).
    ///
    /// ```
    /// # use slow_custom_example::Server;
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// assert_eq!(server.stats_handle().open(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn open(&self) -> u64 {
        let totals = self.lock();
        totals.admitted - totals.finished
    }
}
