//! The INTEROP service (`shared/INTEROP.md`) carried out on this loop.
//!
//! [`slow_interop::Command::parse`] decides what a request asks for; this
//! file does it with the loop's own tools: `!sleep` is a timer in the loop's
//! queue, abandoned when the core says so ([`Event::RequestAbandoned`] on
//! CANCEL, DEADLINE or close).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use slow_interop::{
    BAD_COMMAND, CLOSING, COMMAND_ERROR, Command, NOTIFIED, NOTIFY_TOO_LARGE, Refusal,
    UNKNOWN_COMMAND,
};
use slow_proto::{ErrorCode, Event, Instant, RequestId, SendError};

use crate::reactor::Cx;

/// One server connection's INTEROP state: the `!sleep`s in progress, by
/// request id, each with its wake-up time (to cancel its timer) and length
/// (for the answer).
#[derive(Debug, Default)]
pub(crate) struct Sleeps(HashMap<RequestId, (Instant, u64)>);

/// Acts on one event of a server connection.
pub(crate) fn on_event(cx: &mut Cx<'_>, sleeps: &mut Sleeps, event: Event) {
    match event {
        Event::Request { id, body, .. } => {
            // An error here means the core has already answered or refused
            // the request itself (e.g. a response over the client's
            // MAX_MESSAGE_SIZE becomes ERROR MESSAGE_TOO_LARGE): nothing
            // is left for the service to do.
            let _ = serve(cx, sleeps, id, body);
        }
        Event::RequestAbandoned { id, .. } => {
            if let Some((at, _)) = sleeps.0.remove(&id) {
                cx.cancel_timer(at, id.get());
            }
        }
        // Echoed so that client-to-server notifications can be tested. Best
        // effort: a body within our frame limit may exceed the client's.
        Event::Notify { body } => {
            let _ = cx.conn.notify(body, cx.now);
        }
        _ => {}
    }
}

/// A `!sleep` ran out: answer it.
pub(crate) fn on_timer(cx: &mut Cx<'_>, sleeps: &mut Sleeps, id: RequestId) {
    if let Some((_, ms)) = sleeps.0.remove(&id) {
        let _ = cx.conn.respond(id, Command::slept(ms), cx.now);
    }
}

fn serve(
    cx: &mut Cx<'_>,
    sleeps: &mut Sleeps,
    id: RequestId,
    body: Bytes,
) -> Result<(), SendError> {
    let now = cx.now;
    match Command::parse(&body) {
        Command::Echo => cx.conn.respond(id, body, now),
        Command::Sleep { ms } => {
            let at = now + Duration::from_millis(ms);
            sleeps.0.insert(id, (at, ms));
            cx.set_timer(at, id.get());
            Ok(())
        }
        Command::Error { code, message } => cx.conn.respond_error(id, code, &message, now),
        Command::Notify { body } => notify(cx, id, body),
        Command::Bytes { n } => bytes(cx, id, n),
        Command::Close => {
            // The answer first, then GOAWAY: the core's order, as on every
            // runtime.
            cx.conn
                .close_after(id, ErrorCode::SHUTTING_DOWN, "closing", now);
            cx.conn.respond(id, Bytes::from_static(CLOSING), now)
        }
        Command::Unknown => cx
            .conn
            .respond_error(id, COMMAND_ERROR, UNKNOWN_COMMAND, now),
        Command::Bad => cx.conn.respond_error(id, COMMAND_ERROR, BAD_COMMAND, now),
    }
}

/// `!notify TEXT`: the core refuses a NOTIFY that exceeds the client's
/// MAX_FRAME_SIZE (nothing is sent), and the request gets the service's
/// ERROR for that.
fn notify(cx: &mut Cx<'_>, id: RequestId, body: Bytes) -> Result<(), SendError> {
    match cx.conn.notify(body, cx.now) {
        Ok(()) => cx.conn.respond(id, Bytes::from_static(NOTIFIED), cx.now),
        Err(SendError::TooLarge { .. }) => refuse(cx, id, NOTIFY_TOO_LARGE),
        Err(e) => Err(e),
    }
}

/// `!bytes N`, sized against the client's MAX_MESSAGE_SIZE before anything
/// is made.
fn bytes(cx: &mut Cx<'_>, id: RequestId, n: u64) -> Result<(), SendError> {
    let limit = cx
        .conn
        .peer_settings()
        .map_or(0, |peer| peer.max_message_size);
    match slow_interop::bytes(n, limit) {
        Ok(body) => cx.conn.respond(id, body, cx.now),
        Err(refusal) => refuse(cx, id, refusal),
    }
}

fn refuse(cx: &mut Cx<'_>, id: RequestId, refusal: Refusal) -> Result<(), SendError> {
    cx.conn
        .respond_error(id, refusal.code, refusal.message, cx.now)
}
