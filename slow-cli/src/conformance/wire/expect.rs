//! Waiting for what the server says: answers to requests (reassembled),
//! GOAWAY and the end of the stream, NOTIFY, PONG.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use slow_proto::ErrorCode;
use slow_proto::frame::Frame;

use super::PROMPT;
use super::frames::{describe, show_body};
use super::peer::{Got, Peer};
use crate::conformance::Fail;

/// How long a check waits for the stream to end after a GOAWAY.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The server's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The reassembled RESPONSE body.
    Body(Bytes),
    /// An ERROR frame.
    Error(ErrorCode, String),
}

impl Answer {
    /// A short description for failure messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Answer::Body(b) => format!("RESPONSE {}", show_body(b)),
            Answer::Error(code, msg) => format!("ERROR {code} {msg:?}"),
        }
    }
}

impl Peer {
    /// Expects GOAWAY `code` (before anything but PING/PONG), then the end
    /// of the stream; returns the GOAWAY's last id.
    pub(crate) fn expect_goaway(&mut self, code: ErrorCode, within: Duration) -> Result<u32, Fail> {
        let got = self
            .recv_skipping_pings(within)
            .map_err(|Fail(why)| Fail(format!("expected GOAWAY {code}, but {why}")))?;
        match got {
            Got::Frame(Frame::GoAway {
                code: c, last_id, ..
            }) if c == code => {
                if !code.is_graceful() {
                    self.expect_end()?;
                }
                Ok(last_id.get())
            }
            Got::Frame(other) => Err(Fail(format!(
                "expected GOAWAY {code}, got {}",
                describe(&other)
            ))),
            Got::Closed => Err(Fail(format!("connection closed without GOAWAY {code}"))),
        }
    }

    /// Expects the stream to end with nothing more than PING/PONG before.
    pub(crate) fn expect_end(&mut self) -> Result<(), Fail> {
        match self.recv_skipping_pings(CLOSE_WAIT) {
            Ok(Got::Closed) => Ok(()),
            Ok(Got::Frame(f)) => Err(Fail(format!("{} after the GOAWAY", describe(&f)))),
            Err(_) => Err(Fail(format!(
                "the stream did not end within {} ms of the GOAWAY",
                CLOSE_WAIT.as_millis()
            ))),
        }
    }

    /// Waits for the answer to request `id`.
    pub(crate) fn answer(&mut self, id: u32, within: Duration) -> Result<Answer, Fail> {
        let mut all = self.answers(&[id], within)?;
        Ok(all.remove(&id).expect("answers returns every id"))
    }

    /// Waits for the answers to every request in `ids` (in any order),
    /// reassembling multi-frame responses. A GOAWAY or the end of the
    /// stream before they are all in fails.
    pub(crate) fn answers(
        &mut self,
        ids: &[u32],
        within: Duration,
    ) -> Result<HashMap<u32, Answer>, Fail> {
        let deadline = Instant::now() + within;
        let mut done = HashMap::new();
        for id in ids {
            if let Some(a) = self.early.remove(id) {
                done.insert(*id, a);
            }
        }
        while done.len() < ids.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = self.recv(left).map_err(|Fail(why)| {
                let missing: Vec<_> = ids.iter().filter(|i| !done.contains_key(*i)).collect();
                Fail(format!("no answer for request {missing:?}: {why}"))
            })?;
            let Some((id, answer)) = self.on_frame(got)? else {
                continue;
            };
            if ids.contains(&id) {
                done.insert(id, answer);
            } else {
                self.early.insert(id, answer);
            }
        }
        Ok(done)
    }

    /// Expects no RESPONSE or ERROR for `id` for `quiet`; other answers
    /// are kept for later.
    pub(crate) fn expect_no_answer(&mut self, id: u32, quiet: Duration) -> Result<(), Fail> {
        let deadline = Instant::now() + quiet;
        loop {
            if let Some(a) = self.early.remove(&id) {
                return Err(Fail(format!("got {} for request {id}", a.describe())));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            match self.recv(left) {
                Err(_) => return Ok(()), // quiet until the deadline
                Ok(got) => {
                    if let Some((got_id, answer)) = self.on_frame(got)? {
                        self.early.insert(got_id, answer);
                    }
                }
            }
        }
    }

    /// Waits for a NOTIFY (or takes one that came earlier).
    pub(crate) fn notification(&mut self, within: Duration) -> Result<Bytes, Fail> {
        let deadline = Instant::now() + within;
        loop {
            if !self.notifications.is_empty() {
                return Ok(self.notifications.remove(0));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let got = self
                .recv(left)
                .map_err(|Fail(why)| Fail(format!("no NOTIFY: {why}")))?;
            if let Some((id, answer)) = self.on_frame(got)? {
                self.early.insert(id, answer);
            }
        }
    }

    /// Sends PING and waits for its PONG: the connection is alive.
    pub(crate) fn ping_pong(&mut self, data: [u8; 8]) -> Result<(), Fail> {
        self.send(&Frame::Ping { data })?;
        let deadline = Instant::now() + PROMPT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = self
                .recv(left)
                .map_err(|Fail(why)| Fail(format!("no PONG: {why}")))?;
            match got {
                Got::Frame(Frame::Pong { data: d }) if d == data => return Ok(()),
                Got::Frame(Frame::Pong { data: d }) => {
                    return Err(Fail(format!(
                        "PONG {d:02x?} does not echo PING {data:02x?}"
                    )));
                }
                got => {
                    if let Some((id, answer)) = self.on_frame(got)? {
                        self.early.insert(id, answer);
                    }
                }
            }
        }
    }

    /// Files a frame received while waiting for answers: returns a whole
    /// answer when one is complete; fails on GOAWAY or end of stream.
    fn on_frame(&mut self, got: Got) -> Result<Option<(u32, Answer)>, Fail> {
        match got {
            Got::Closed => Err(Fail("the server closed the connection".into())),
            Got::Frame(Frame::GoAway {
                code,
                last_id,
                reason,
            }) => Err(Fail(format!(
                "server sent GOAWAY {code} (last id {last_id}, {reason:?})"
            ))),
            Got::Frame(Frame::Response { id, more, body }) => {
                let id = id.get();
                let buf = self.partial.entry(id).or_default();
                buf.extend_from_slice(&body);
                if more {
                    return Ok(None);
                }
                let body = self.partial.remove(&id).unwrap_or_default().freeze();
                Ok(Some((id, Answer::Body(body))))
            }
            Got::Frame(Frame::Error { id, code, message }) => {
                let id = id.get();
                if self.partial.remove(&id).is_some() {
                    // An ERROR may end a request mid-response only if it is
                    // not the same message; a server must not do this.
                    return Err(Fail(format!(
                        "ERROR for request {id} after part of its RESPONSE"
                    )));
                }
                Ok(Some((id, Answer::Error(code, message))))
            }
            Got::Frame(Frame::Notify { body }) => {
                self.notifications.push(body);
                Ok(None)
            }
            Got::Frame(_) => Ok(None), // PING (answered), PONG, unknown types
        }
    }
}
