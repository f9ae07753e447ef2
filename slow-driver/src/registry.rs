//! A server's live connections: counted against its limit (the core's
//! [`ConnectionLimit`]), reachable for graceful shutdown, and summed into
//! the server's statistics (the finished ones' stats are added up as each
//! leaves).

use std::collections::HashMap;
use std::future::poll_fn;
use std::task::{Poll, Waker};

use slow_proto::limit::Admission;
use slow_proto::{Config, ConnectionLimit, ErrorCode, Instant, Stats};

use crate::mode::{Cell, Lock, Mode};
use crate::shared::Shared;
use crate::trace::Span;

/// The live connections of one server, shared by its accept loop and its
/// connections' drivers (which leave it when they finish).
pub(crate) struct Registry<M: Mode>(Cell<M, Inner<M>>);

impl<M: Mode> Clone for Registry<M> {
    fn clone(&self) -> Self {
        Registry(self.0.clone())
    }
}

pub(crate) struct Inner<M: Mode> {
    limit: ConnectionLimit,
    conns: HashMap<u64, Shared<M>>,
    next: u64,
    /// Woken when the last connection is gone.
    empty: Option<Waker>,
    /// The stats of the connections that have left, added up.
    finished: Stats,
}

/// An admitted connection's place in the registry; leaving frees it.
pub struct Entry<M: Mode> {
    registry: Registry<M>,
    key: u64,
}

impl<M: Mode> Registry<M> {
    pub(crate) fn new(max_connections: usize) -> Registry<M> {
        Registry(Cell::new(Inner {
            limit: ConnectionLimit::new(max_connections),
            conns: HashMap::new(),
            next: 0,
            empty: None,
            finished: Stats::default(),
        }))
    }

    /// Sets the connection limit (before serving starts).
    pub(crate) fn set_max(&self, max_connections: usize) {
        self.lock().limit.set_max(max_connections);
    }

    /// The stats of every connection admitted so far, finished or live
    /// (each live one read now), and how many connections that is.
    pub(crate) fn totals(&self) -> (Stats, u64) {
        let (mut totals, live, admitted) = {
            let inner = self.lock();
            let live: Vec<Shared<M>> = inner.conns.values().cloned().collect();
            (inner.finished, live, inner.next)
        };
        // Each connection's lock on its own, never under the registry's.
        for shared in live {
            totals += shared.lock().conn.stats();
        }
        (totals, admitted)
    }

    /// How many admitted connections are live (draining ones included).
    pub(crate) fn live(&self) -> usize {
        self.lock().conns.len()
    }

    /// How many connections were admitted so far.
    pub(crate) fn admitted(&self) -> u64 {
        self.lock().next
    }

    fn lock(&self) -> <M::Lock<Inner<M>> as Lock<Inner<M>>>::Guard<'_> {
        self.0.lock()
    }

    /// The core for a stream just accepted, and its entry when the limit
    /// admitted it (a refused one has only its GOAWAY CONNECTION_LIMIT to
    /// write, and does not count).
    pub(crate) fn accept(
        &self,
        config: &Config,
        clock: fn() -> std::time::Instant,
        span: Span,
    ) -> Option<(Shared<M>, Option<Entry<M>>)> {
        let mut inner = self.lock();
        // The config was validated when the server was bound.
        let (conn, admission) = inner.limit.accept(config.clone(), Instant::ZERO).ok()?;
        if admission == Admission::Refused {
            span.in_scope(crate::trace::refused);
        }
        let shared = Shared::new(conn, clock, span);
        let entry = match admission {
            Admission::Admitted => {
                inner.next += 1;
                let key = inner.next;
                inner.conns.insert(key, shared.clone());
                Some(Entry {
                    registry: self.clone(),
                    key,
                })
            }
            Admission::Refused => None,
        };
        Some((shared, entry))
    }

    /// Sends GOAWAY SHUTTING_DOWN to every connection and waits until all
    /// of them have finished (each bounded by its drain timeout).
    pub(crate) async fn shutdown(&self) {
        let conns: Vec<Shared<M>> = self.lock().conns.values().cloned().collect();
        for shared in conns {
            shared
                .lock()
                .close(ErrorCode::SHUTTING_DOWN, "server shutting down");
        }
        poll_fn(|cx| {
            let mut inner = self.lock();
            if inner.conns.is_empty() {
                Poll::Ready(())
            } else {
                inner.empty = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

impl<M: Mode> Drop for Entry<M> {
    fn drop(&mut self) {
        // Its driver is done: its stats are final. Read under its own lock
        // alone, then moved from the live ones to the finished in one step
        // (so the totals count it once, and before shutdown returns).
        let shared = self.registry.lock().conns.get(&self.key).cloned();
        let stats = shared.map(|shared| shared.lock().conn.stats());
        let mut inner = self.registry.lock();
        if inner.conns.remove(&self.key).is_some() {
            inner.limit.release();
            inner.finished += stats.unwrap_or_default();
        }
        if inner.conns.is_empty() {
            if let Some(w) = inner.empty.take() {
                w.wake();
            }
        }
    }
}
