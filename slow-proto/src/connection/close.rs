//! Closing (PROTOCOL.md §6): graceful drain, connection errors, end of stream.

use alloc::string::String;
use alloc::vec::Vec;

use super::{
    AbandonReason, Connection, Event, Phase, RequestId, Role, Stage, Transition, truncate_utf8,
};
use crate::error::{ConnectionError, ErrorCode, RequestError};
use crate::frame::Frame;
use crate::stats::Ended;

impl Connection {
    /// Starts a graceful close with GOAWAY `code` (idempotent).
    pub(super) fn begin_close(&mut self, code: ErrorCode, reason: &str) {
        if self.phase.is_closed() || self.phase.goaway_sent() {
            return;
        }
        if self.role == Role::Client && self.phase == Phase::Handshake {
            // A client sends nothing but HELLO before WELCOME (§3).
            return self.close_with(None);
        }
        self.send_goaway(code, reason);
        self.transition(Transition::GoAwaySent);
        if self.role == Role::Client {
            // Never sent, so never processed.
            self.fail_queued(RequestError::NotProcessed);
        }
        self.check_drained();
    }

    pub(super) fn on_goaway(&mut self, last_id: RequestId, code: ErrorCode, reason: String) {
        self.stats.goaways_received.record(code);
        self.events.push_back(Event::GoAway {
            code,
            last_id,
            reason: reason.clone(),
        });
        if !code.is_graceful() {
            return self.close_with(Some(ConnectionError::Remote { code, reason }));
        }
        self.transition(Transition::GoAwayReceived);
        if self.role == Role::Client {
            // Requests above the server's last id were not and will not be
            // processed: safe to retry elsewhere.
            let above: Vec<RequestId> = match last_id.next() {
                Some(first) => self
                    .requests
                    .active
                    .iter_from(first)
                    .map(|(id, _)| id)
                    .collect(),
                None => Vec::new(), // nothing is above the last id there is
            };
            for id in above {
                self.finish(id, Err(RequestError::NotProcessed));
            }
            self.fail_queued(RequestError::NotProcessed);
        }
        self.check_drained();
    }

    /// Once a graceful GOAWAY went either way and nothing is outstanding,
    /// the stream closes (after our own GOAWAY, if we have not sent one).
    pub(super) fn check_drained(&mut self) {
        if !matches!(self.phase, Phase::Draining { .. }) || !self.requests.active.is_empty() {
            return;
        }
        if !self.phase.goaway_sent() {
            self.send_goaway(ErrorCode::NO_ERROR, "");
        }
        self.close_with(None);
    }

    /// The drain timeout passed: stop waiting (saying so, if we had not).
    pub(super) fn force_close(&mut self) {
        if !self.phase.goaway_sent() {
            self.send_goaway(ErrorCode::NO_ERROR, "drain timeout");
        }
        self.close_with(Some(ConnectionError::DrainTimeout));
    }

    /// A connection error found here: GOAWAY with `code`, then close at once.
    pub(super) fn fail(&mut self, code: ErrorCode, reason: &str) {
        if self.phase.is_closed() {
            return;
        }
        self.send_goaway(code, reason);
        self.close_with(Some(ConnectionError::Local {
            code,
            reason: String::from(reason),
        }));
    }

    /// The first frame is not SLOW at all (see [`ConnectionError::NotSlow`]):
    /// GOAWAY `code` as for any violation, and an error that says what
    /// the peer sent instead.
    pub(super) fn fail_not_slow(&mut self, code: ErrorCode, reason: &str) {
        if self.phase.is_closed() {
            return;
        }
        self.send_goaway(code, reason);
        let expected = match self.role {
            Role::Client => "WELCOME",
            Role::Server => "HELLO",
        };
        let first_bytes = self.first_bytes.to_vec();
        self.close_with(Some(ConnectionError::NotSlow {
            expected,
            code,
            first_bytes,
        }));
    }

    fn send_goaway(&mut self, code: ErrorCode, reason: &str) {
        let reason = truncate_utf8(reason, self.peer().max_frame_size as usize - 2);
        let last_id = self.requests.highest;
        self.stats.goaways_sent.record(code);
        self.tx.push(&Frame::GoAway {
            last_id,
            code,
            reason: String::from(reason),
        });
    }

    fn fail_queued(&mut self, error: RequestError) {
        let queued: Vec<RequestId> = self
            .requests
            .active
            .iter()
            .filter(|(_, a)| a.stage == Stage::Queued)
            .map(|(id, _)| id)
            .collect();
        for id in queued {
            self.finish(id, Err(error.clone()));
        }
    }

    /// Ends the connection: every request still active gets its outcome,
    /// then [`Event::Closed`] is the last event.
    pub(super) fn close_with(&mut self, error: Option<ConnectionError>) {
        if !self.transition(Transition::Closed) {
            return;
        }
        self.close_after = None;
        let active = core::mem::take(&mut self.requests.active);
        self.requests.queued = 0;
        for (id, request) in active {
            if request.stage != Stage::Queued {
                self.stats.ended(Ended::Interrupted);
            }
            self.events.push_back(match (self.role, request.stage) {
                (Role::Client, Stage::Queued) => Event::RequestFailed {
                    id,
                    error: RequestError::NotProcessed,
                },
                (Role::Client, _) => Event::RequestFailed {
                    id,
                    error: RequestError::Connection(error.clone().unwrap_or(ConnectionError::Lost)),
                },
                (Role::Server, _) => Event::RequestAbandoned {
                    id,
                    reason: AbandonReason::ConnectionClosed,
                },
            });
        }
        self.requests.deadlines.clear();
        self.requests.incoming.clear();
        self.requests.queue.clear();
        self.keepalive_ping_at = None;
        self.events.push_back(Event::Closed { error });
    }
}
