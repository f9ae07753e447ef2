//! Requests and responses (PROTOCOL.md §4): ids, MORE reassembly and
//! splitting, message size, concurrency, DEADLINE, CANCEL.

use alloc::string::String;
use bytes::{Bytes, BytesMut};

use super::{
    AbandonReason, Connection, Event, Incoming, MAX_DISCARDED_UNFINISHED, Phase, RequestId, Stage,
    truncate_utf8,
};
use crate::error::{ErrorCode, RequestError, SendError};
use crate::frame::{Frame, FrameType, Header};
use crate::stats::Ended;
use crate::time::Instant;

impl Connection {
    // ---- client --------------------------------------------------------

    /// A client opens no new request after a GOAWAY either way (§6).
    pub(super) fn may_open_requests(&self) -> bool {
        matches!(self.phase, Phase::Handshake | Phase::Open)
    }

    /// Whether a request may go on the wire now: the connection is open
    /// and the server's concurrency limit allows one more.
    pub(super) fn may_start_request(&self) -> bool {
        self.phase == Phase::Open
            && self.may_open_requests()
            && self.outstanding() < self.peer().max_concurrent_requests as usize
    }

    /// Sends queued requests while the server's concurrency limit allows.
    pub(super) fn send_queued(&mut self) {
        while self.may_start_request() {
            let Some((id, body)) = self.requests.queue.pop_front() else {
                break;
            };
            if self.requests.stage(id) == Some(Stage::Queued) {
                self.start_request(id, body);
            }
        }
    }

    /// Puts queued request `id` on the wire, unless it may not go at all:
    /// too large for the server, or its deadline already passed.
    fn start_request(&mut self, id: RequestId, body: Bytes) {
        if let Err(SendError::TooLarge { size, limit }) = self.check_message_size(body.len()) {
            // Queued before the handshake told us the server's limit.
            return self.finish(id, Err(RequestError::TooLarge { size, limit }));
        }
        let deadline = self.requests.active.get(id).and_then(|a| a.deadline);
        if deadline.is_some_and(|d| d <= self.now) {
            return self.finish(id, Err(RequestError::TimedOut));
        }
        self.requests.set_stage(id, Stage::Sent);
        self.transmit_request(id, deadline, body);
    }

    /// Queues the REQUEST frames of request `id`, now [`Stage::Sent`], with
    /// what is left of its `deadline` (which has not passed).
    pub(super) fn transmit_request(
        &mut self,
        id: RequestId,
        deadline: Option<Instant>,
        body: Bytes,
    ) {
        // Rounded up: the server's budget must not end before ours.
        let timeout_ms = deadline
            .map(|d| u32::try_from((d - self.now).as_micros().div_ceil(1000)).unwrap_or(u32::MAX));
        self.requests.highest = id;
        self.stats.requests += 1;
        self.push_message(id, timeout_ms, body);
        if id == RequestId::MAX {
            // Ids ran out: open nothing more here, drain (§4).
            self.begin_close(ErrorCode::NO_ERROR, "request ids exhausted");
        }
    }

    pub(super) fn on_response(&mut self, id: RequestId, more: bool, body: Bytes) {
        let unfinished = self.requests.incoming.contains_key(&id);
        if !unfinished && id > self.requests.highest {
            return self.fail(
                ErrorCode::PROTOCOL_ERROR,
                "RESPONSE for a request id never used",
            );
        }
        self.last_activity = self.now;
        if !more && !unfinished {
            // A whole answer in one frame (most are): one lookup ends it.
            if self.message_fits(body.len() as u64) {
                if let Some(active) = self.requests.untrack_at(id, Stage::Sent) {
                    self.finished(id, active, Ok(body), Ended::Answered);
                }
            }
            return;
        }
        let wanted = self.requests.stage(id) == Some(Stage::Sent);
        if let Some(body) = self.reassemble(id, more, body, wanted) {
            self.finish(id, Ok(body));
        }
    }

    pub(super) fn on_error(&mut self, id: RequestId, code: ErrorCode, message: String) {
        if id > self.requests.highest {
            return self.fail(
                ErrorCode::PROTOCOL_ERROR,
                "ERROR for a request id never used",
            );
        }
        self.stats.errors_received.record(code);
        self.last_activity = self.now;
        if self.requests.stage(id) == Some(Stage::Sent) {
            // A request refused while the server shuts down was never processed.
            let error = if code == ErrorCode::SHUTTING_DOWN {
                RequestError::NotProcessed
            } else {
                RequestError::Server { code, message }
            };
            // An ERROR answer, whatever the caller is told.
            self.finish_as(id, Err(error), Ended::by_error(code));
        }
    }

    /// Ends client request `id` with its one outcome.
    pub(super) fn finish(&mut self, id: RequestId, outcome: Result<Bytes, RequestError>) {
        let ended = match &outcome {
            Ok(_) => Ended::Answered,
            Err(RequestError::Cancelled) => Ended::Cancelled,
            Err(RequestError::TimedOut) => Ended::Expired,
            Err(RequestError::Server { code, .. }) => Ended::by_error(*code),
            // Not processed (above a GOAWAY's last id), or a request that
            // never went out (too large, still queued): only the former
            // was on the wire, and is counted.
            Err(_) => Ended::Interrupted,
        };
        self.finish_as(id, outcome, ended);
    }

    /// [`finish`](Connection::finish), counted as `ended` if it was on the
    /// wire.
    pub(super) fn finish_as(
        &mut self,
        id: RequestId,
        outcome: Result<Bytes, RequestError>,
        ended: Ended,
    ) {
        if let Some(active) = self.requests.untrack(id) {
            self.finished(id, active, outcome, ended);
        }
    }

    /// What follows the end of client request `id`, just untracked.
    fn finished(
        &mut self,
        id: RequestId,
        active: super::Active,
        outcome: Result<Bytes, RequestError>,
        ended: Ended,
    ) {
        if active.stage == Stage::Sent {
            self.stats.ended(ended);
        }
        self.events.push_back(match outcome {
            Ok(body) => Event::Response { id, body },
            Err(error) => Event::RequestFailed { id, error },
        });
        self.send_queued();
        self.check_drained();
    }

    // ---- server --------------------------------------------------------

    pub(super) fn on_request(
        &mut self,
        id: RequestId,
        more: bool,
        timeout_ms: Option<u32>,
        body: Bytes,
    ) {
        if self.requests.incoming.contains_key(&id) {
            if timeout_ms.is_some() {
                return self.fail(
                    ErrorCode::PROTOCOL_ERROR,
                    "DEADLINE on a continuation frame",
                );
            }
            self.last_activity = self.now;
            let wanted = self.requests.stage(id) == Some(Stage::Receiving);
            if let Some(body) = self.reassemble(id, more, body, wanted) {
                self.deliver(id, body);
            }
            return;
        }
        if id <= self.requests.highest {
            return self.fail(
                ErrorCode::PROTOCOL_ERROR,
                "REQUEST id not above every id seen, or continuation of no message",
            );
        }
        if body.len() as u64 > u64::from(self.config.settings.max_message_size) {
            // A frame that is a connection error does not count as seen (§4).
            return self.fail(
                ErrorCode::MESSAGE_TOO_LARGE,
                "message larger than MAX_MESSAGE_SIZE",
            );
        }
        self.requests.highest = id;
        self.stats.requests += 1;
        self.last_activity = self.now;
        let refusal = if self.phase.goaway_sent() {
            Some(ErrorCode::SHUTTING_DOWN)
        } else if self.requests.active.len()
            >= self.config.settings.max_concurrent_requests as usize
        {
            Some(ErrorCode::TOO_MANY_REQUESTS)
        } else if timeout_ms == Some(0) {
            Some(ErrorCode::DEADLINE_EXCEEDED)
        } else {
            None
        };
        match refusal {
            Some(code) => self.push_error(id, code, code.name().unwrap_or_default()),
            None => {
                let deadline =
                    timeout_ms.map(|ms| self.now + core::time::Duration::from_millis(ms.into()));
                if !more {
                    // Whole in one frame (most are): delivered at once.
                    self.requests.track(id, Stage::Delivered, deadline);
                    self.events.push_back(Event::Request { id, body, deadline });
                    return;
                }
                self.requests.track(id, Stage::Receiving, deadline);
            }
        }
        if let Some(body) = self.reassemble(id, more, body, refusal.is_none()) {
            self.deliver(id, body);
        }
    }

    fn deliver(&mut self, id: RequestId, body: Bytes) {
        if let Some(deadline) = self.requests.set_stage(id, Stage::Delivered) {
            self.events.push_back(Event::Request { id, body, deadline });
        }
    }

    pub(super) fn on_cancel(&mut self, id: RequestId) {
        // CANCEL for an id that is not outstanding is ignored (§4).
        if self.requests.untrack(id).is_some() {
            self.stats.ended(Ended::Cancelled);
            self.events.push_back(Event::RequestAbandoned {
                id,
                reason: AbandonReason::Cancelled,
            });
            self.ended(id);
        }
    }

    /// Takes a delivered request out of the outstanding set to answer it.
    pub(super) fn take_delivered(&mut self, id: RequestId) -> Result<(), SendError> {
        if self.role != super::Role::Server {
            return Err(SendError::WrongRole);
        }
        if self.phase.is_closed() {
            return Err(SendError::Closed);
        }
        match self.requests.untrack_at(id, Stage::Delivered) {
            Some(_) => Ok(()),
            None => Err(SendError::UnknownRequest(id)),
        }
    }

    // ---- both ----------------------------------------------------------

    /// Adds one frame to message `id`; returns the whole body when this was
    /// its last frame and the body is `wanted`. Frames of unwanted messages
    /// (refused, cancelled, expired, finished) are only counted.
    fn reassemble(
        &mut self,
        id: RequestId,
        more: bool,
        body: Bytes,
        wanted: bool,
    ) -> Option<Bytes> {
        let size = self.requests.incoming.get(&id).map_or(0, |m| m.size) + body.len() as u64;
        if !self.message_fits(size) {
            return None;
        }
        match (self.requests.incoming.remove(&id), more) {
            // A single-frame message: the body is a slice of the receive buffer.
            (None, false) => wanted.then_some(body),
            (Some(mut m), false) => {
                m.body.extend_from_slice(&body);
                wanted.then(|| m.body.freeze())
            }
            (previous, true) => {
                let mut m = previous.unwrap_or(Incoming {
                    body: BytesMut::new(),
                    size: 0,
                });
                m.size = size;
                if wanted {
                    m.body.extend_from_slice(&body);
                } else {
                    m.body = BytesMut::new();
                }
                self.requests.incoming.insert(id, m);
                let bound = self.config.settings.max_concurrent_requests as usize
                    + self.peer().max_concurrent_requests as usize
                    + MAX_DISCARDED_UNFINISHED;
                if self.requests.incoming.len() > bound {
                    self.fail(ErrorCode::INTERNAL_ERROR, "too many unfinished messages");
                }
                None
            }
        }
    }

    /// Whether a message of `size` bytes so far is within our
    /// MAX_MESSAGE_SIZE; if not, that is a connection error, and it fails.
    fn message_fits(&mut self, size: u64) -> bool {
        let fits = size <= u64::from(self.config.settings.max_message_size);
        if !fits {
            self.fail(
                ErrorCode::MESSAGE_TOO_LARGE,
                "message larger than MAX_MESSAGE_SIZE",
            );
        }
        fits
    }

    /// Queues a REQUEST (client) or RESPONSE (server) message, split so that
    /// no frame exceeds the peer's MAX_FRAME_SIZE. Bodies are sliced, not copied.
    pub(super) fn push_message(&mut self, id: RequestId, timeout_ms: Option<u32>, mut body: Bytes) {
        let max = self.peer().max_frame_size as usize;
        let ty = match self.role {
            super::Role::Client => FrameType::REQUEST,
            super::Role::Server => FrameType::RESPONSE,
        };
        // The DEADLINE goes on the first frame only, and takes 4 bytes of it.
        let mut timeout_ms = timeout_ms;
        let room = |timeout_ms: Option<u32>| max - if timeout_ms.is_some() { 4 } else { 0 };
        while body.len() > room(timeout_ms) {
            let chunk = body.split_to(room(timeout_ms));
            let header = Header::message(ty, id, true, timeout_ms, chunk.len());
            self.tx.push_message(header, timeout_ms.take(), chunk);
        }
        // The last (most often the only) frame takes the rest whole.
        let header = Header::message(ty, id, false, timeout_ms, body.len());
        self.tx.push_message(header, timeout_ms, body);
        self.last_activity = self.now;
    }

    /// (server) Answers request `id` with ERROR: the end of that request,
    /// counted as failed or expired by its code.
    pub(super) fn push_error(&mut self, id: RequestId, code: ErrorCode, message: &str) {
        self.stats.errors_sent.record(code);
        self.stats.ended(Ended::by_error(code));
        let message = truncate_utf8(message, self.peer().max_frame_size as usize - 2);
        self.tx.push(&Frame::Error {
            id,
            code,
            message: String::from(message),
        });
        self.last_activity = self.now;
    }
}
