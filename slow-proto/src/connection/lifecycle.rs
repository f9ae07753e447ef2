//! The lifecycle as data (the h11 habit): the connection's [`Phase`] and a
//! request's [`Stage`], each changed in one function that holds the table
//! of legal transitions, so the whole lifecycle reads at a glance and an
//! illegal step is caught in one place.
//!
//! ```text
//! connection:  Handshake ──Established──▶ Open
//!              Handshake, Open ──GoAwaySent / GoAwayReceived──▶ Draining
//!              Draining ──GoAwaySent──▶ Draining (ours went out too)
//!              any ──Closed──▶ Closed (remembering whether it was established)
//!
//! request:     client  Queued ──▶ Sent ──▶ (untracked: answered, failed, cancelled)
//!              server  Receiving ──▶ Delivered ──▶ (untracked: answered, abandoned)
//!
//! A request may start at a later stage: a client's that goes on the wire
//! at once is tracked as Sent, a server's that arrived whole in one frame
//! as Delivered (most do; each skips a lookup).
//! ```

use super::{Active, Connection, Requests};
use crate::id::RequestId;
use crate::time::Instant;

/// Where the connection is (PROTOCOL.md §3, §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Client: HELLO sent, waiting for WELCOME. Server: waiting for HELLO.
    Handshake,
    /// Requests flow.
    Open,
    /// A graceful GOAWAY went one way or both; what is outstanding finishes,
    /// nothing new starts.
    Draining {
        /// When draining began (the drain timeout counts from here).
        since: Instant,
        /// Our own GOAWAY is out (else only the peer's came).
        goaway_sent: bool,
    },
    /// Over: no input is processed, only the remaining output is written.
    Closed {
        /// The handshake had completed (so the peer's settings are known).
        established: bool,
    },
}

/// What moves a connection from one [`Phase`] to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transition {
    /// The peer's HELLO or WELCOME was accepted.
    Established,
    /// We sent a graceful GOAWAY.
    GoAwaySent,
    /// The peer sent a graceful GOAWAY.
    GoAwayReceived,
    /// The connection is over (cleanly or not).
    Closed,
}

impl Phase {
    /// The phase after `t`, or `None` if `t` is not legal here.
    fn after(self, t: Transition, now: Instant) -> Option<Phase> {
        use Transition::*;
        Some(match (self, t) {
            (Phase::Handshake, Established) => Phase::Open,
            (Phase::Handshake | Phase::Open, GoAwaySent) => Phase::Draining {
                since: now,
                goaway_sent: true,
            },
            (Phase::Handshake | Phase::Open, GoAwayReceived) => Phase::Draining {
                since: now,
                goaway_sent: false,
            },
            (Phase::Draining { since, .. }, GoAwaySent) => Phase::Draining {
                since,
                goaway_sent: true,
            },
            (phase @ Phase::Draining { .. }, GoAwayReceived) => phase,
            (Phase::Closed { .. }, Closed) => return None,
            (phase, Closed) => Phase::Closed {
                established: phase != Phase::Handshake,
            },
            _ => return None,
        })
    }

    /// Whether the connection is over.
    pub(super) fn is_closed(self) -> bool {
        matches!(self, Phase::Closed { .. })
    }

    /// Whether the peer's HELLO or WELCOME was accepted (so its settings
    /// are known), whatever happened since.
    pub(super) fn established(self) -> bool {
        !matches!(
            self,
            Phase::Handshake | Phase::Closed { established: false }
        )
    }

    /// Whether our graceful GOAWAY is out (only possible while draining:
    /// a GOAWAY with an error code closes at once).
    pub(super) fn goaway_sent(self) -> bool {
        matches!(
            self,
            Phase::Draining {
                goaway_sent: true,
                ..
            }
        )
    }
}

impl Connection {
    /// The one place the phase changes. Returns whether it did; an illegal
    /// transition leaves the phase as it is (and fails debug builds, as it
    /// is a bug in this crate, never the peer's doing).
    pub(super) fn transition(&mut self, t: Transition) -> bool {
        match self.phase.after(t, self.now) {
            Some(next) => {
                self.phase = next;
                true
            }
            None => {
                debug_assert!(
                    self.phase.is_closed(),
                    "illegal transition {t:?} from {:?}",
                    self.phase
                );
                false
            }
        }
    }
}

/// Where one request is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Client: waiting in the queue, not on the wire.
    Queued,
    /// Client: on the wire, outstanding.
    Sent,
    /// Server: its message is still arriving.
    Receiving,
    /// Server: handed to the application, waiting for its answer.
    Delivered,
}

impl Stage {
    fn may_become(self, next: Stage) -> bool {
        matches!(
            (self, next),
            (Stage::Queued, Stage::Sent) | (Stage::Receiving, Stage::Delivered)
        )
    }
}

impl Requests {
    /// Starts tracking request `id` at `stage`: a client's at `Queued`, or
    /// `Sent` when it goes on the wire at once; a server's at `Receiving`,
    /// or `Delivered` when it arrived whole.
    pub(super) fn track(&mut self, id: RequestId, stage: Stage, deadline: Option<Instant>) {
        self.queued += usize::from(stage == Stage::Queued);
        self.active.insert(id, Active { stage, deadline });
        if let Some(d) = deadline {
            self.deadlines.insert(d, id);
        }
    }

    /// The one place a tracked request's stage changes (keeping the queued
    /// count). Returns its deadline, if it is tracked.
    pub(super) fn set_stage(&mut self, id: RequestId, stage: Stage) -> Option<Option<Instant>> {
        let active = self.active.get_mut(id)?;
        debug_assert!(
            active.stage.may_become(stage),
            "illegal request transition {:?} -> {stage:?}",
            active.stage
        );
        self.queued -= usize::from(active.stage == Stage::Queued);
        self.queued += usize::from(stage == Stage::Queued);
        active.stage = stage;
        Some(active.deadline)
    }

    /// Stops tracking request `id` (it ended, one way or another).
    pub(super) fn untrack(&mut self, id: RequestId) -> Option<Active> {
        let active = self.active.remove(id)?;
        self.untracked(id, active);
        Some(active)
    }

    /// Stops tracking request `id` if it is at `stage` (an answer ends only
    /// a request that waits for one), in one lookup.
    pub(super) fn untrack_at(&mut self, id: RequestId, stage: Stage) -> Option<Active> {
        let active = self.active.remove_if(id, |a| a.stage == stage)?;
        self.untracked(id, active);
        Some(active)
    }

    fn untracked(&mut self, id: RequestId, active: Active) {
        self.queued -= usize::from(active.stage == Stage::Queued);
        if let Some(d) = active.deadline {
            self.deadlines.remove(d, id);
        }
    }

    pub(super) fn stage(&self, id: RequestId) -> Option<Stage> {
        self.active.get(id).map(|a| a.stage)
    }
}
