//! What one connection has done, counted by the core itself: [`Stats`],
//! read with [`Connection::stats`].
//!
//! Counting is a plain integer increment where a frame is encoded or
//! decoded, where bytes are handed over, and where a request ends: no
//! clock, no allocation, nothing to switch on. A [`Stats`] is a copy, so
//! reading it costs one small `memcpy`, and stats add up
//! ([`AddAssign`], [`Sum`]) into a server's totals.
//!
//! Every request this side put on the wire (client) or took off it
//! (server) is counted in [`requests`](Stats::requests) when its first
//! frame goes out or comes in, and ends in exactly one of
//! [`responses`](Stats::responses), [`failed`](Stats::failed),
//! [`cancelled`](Stats::cancelled), [`expired`](Stats::expired) or
//! [`interrupted`](Stats::interrupted); until then it is
//! [outstanding](Connection::outstanding). So, at any moment:
//!
//! ```text
//! requests == responses + failed + cancelled + expired + interrupted + outstanding()
//! ```
//!
//! A client's request that ends while still queued (cancelled, timed out
//! or refused before the handshake or a concurrency slot let it out) never
//! reached the wire and is counted nowhere.
//!
//! [`Connection::stats`]: crate::Connection::stats
//! [`Connection::outstanding`]: crate::Connection::outstanding

use core::fmt;
use core::iter::Sum;
use core::ops::{Add, AddAssign};

use crate::error::ErrorCode;

#[cfg(doc)]
use crate::Connection;

/// How many frames carried each error code: the protocol's named codes one
/// by one, application codes (0x0100–0xFFFF) together, and unassigned ones
/// (0x000E–0x00FF) together. A fixed table, so it needs no allocation and
/// adds up like any counter.
///
/// ```
/// use slow_proto::{CodeCounts, ErrorCode, Stats};
///
/// let counts: CodeCounts = Stats::default().errors_sent;
/// assert_eq!(counts.get(ErrorCode::TOO_MANY_REQUESTS), 0);
/// assert_eq!(counts.total(), 0);
/// assert_eq!(counts.iter().count(), 0); // only codes that were counted
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CodeCounts {
    /// Slot `n` for named code `n`, then [`APPLICATION`], [`UNASSIGNED`].
    counts: [u64; SLOTS],
}

/// The protocol names the codes 0x0000–0x000D (PROTOCOL.md §7).
const NAMED: usize = 14;
const APPLICATION: usize = NAMED;
const UNASSIGNED: usize = NAMED + 1;
const SLOTS: usize = NAMED + 2;

impl CodeCounts {
    fn slot(code: ErrorCode) -> usize {
        match usize::from(code.as_u16()) {
            n if n < NAMED => n,
            _ if code.is_application() => APPLICATION,
            _ => UNASSIGNED,
        }
    }

    /// Counts one frame with `code`.
    pub(crate) fn record(&mut self, code: ErrorCode) {
        self.counts[Self::slot(code)] += 1;
    }

    /// How many frames carried `code`. Exact for the protocol's named
    /// codes; for any other code, how many carried a code of its group,
    /// which are counted together: [`application`](CodeCounts::application)
    /// or [`unassigned`](CodeCounts::unassigned).
    ///
    /// ```
    /// # use slow_proto::{CodeCounts, ErrorCode};
    /// fn shed(errors_sent: &CodeCounts) -> u64 {
    ///     errors_sent.get(ErrorCode::TOO_MANY_REQUESTS)
    /// }
    /// assert_eq!(shed(&CodeCounts::default()), 0);
    /// ```
    #[must_use]
    pub fn get(&self, code: ErrorCode) -> u64 {
        self.counts[Self::slot(code)]
    }

    /// How many frames carried an application code (0x0100–0xFFFF).
    ///
    /// ```
    /// # use slow_proto::CodeCounts;
    /// assert_eq!(CodeCounts::default().application(), 0);
    /// ```
    #[must_use]
    pub fn application(&self) -> u64 {
        self.counts[APPLICATION]
    }

    /// How many frames carried a code the protocol neither names nor
    /// leaves to applications (0x000E–0x00FF): a peer of a later version,
    /// or a confused one.
    ///
    /// ```
    /// # use slow_proto::CodeCounts;
    /// assert_eq!(CodeCounts::default().unassigned(), 0);
    /// ```
    #[must_use]
    pub fn unassigned(&self) -> u64 {
        self.counts[UNASSIGNED]
    }

    /// How many frames were counted, whatever their code.
    ///
    /// ```
    /// # use slow_proto::CodeCounts;
    /// assert_eq!(CodeCounts::default().total(), 0);
    /// ```
    #[must_use]
    pub fn total(&self) -> u64 {
        self.counts
            .iter()
            .fold(0u64, |sum, &n| sum.saturating_add(n))
    }

    /// The named codes that were counted, with their counts, in code order
    /// (application and unassigned codes are not in it: see
    /// [`application`](CodeCounts::application) and
    /// [`unassigned`](CodeCounts::unassigned)).
    ///
    /// ```
    /// # use slow_proto::CodeCounts;
    /// fn report(goaways: &CodeCounts) -> String {
    ///     goaways
    ///         .iter()
    ///         .map(|(code, n)| format!("{n} × {}", code.name().unwrap_or("?")))
    ///         .collect::<Vec<_>>()
    ///         .join(", ")
    /// }
    /// assert_eq!(report(&CodeCounts::default()), "");
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (ErrorCode, u64)> + '_ {
        self.counts[..NAMED]
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(code, &n)| (ErrorCode(code as u16), n))
    }
}

/// Shows the counted codes only: `{SHUTTING_DOWN: 2, application: 1}`.
impl fmt::Debug for CodeCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (code, n) in self.iter() {
            map.entry(&format_args!("{}", code.name().unwrap_or("?")), &n);
        }
        if self.application() > 0 {
            map.entry(&format_args!("application"), &self.application());
        }
        if self.unassigned() > 0 {
            map.entry(&format_args!("unassigned"), &self.unassigned());
        }
        map.finish()
    }
}

/// Adds another table's counts (saturating, never overflowing).
impl AddAssign for CodeCounts {
    fn add_assign(&mut self, other: CodeCounts) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine = mine.saturating_add(theirs);
        }
    }
}

/// The counters of one connection (or, added up, of many), from
/// [`Connection::stats`]. Every field is a count since the connection was
/// made; none is reset.
///
/// Frames and bytes are counted where they cross the core's edge: frames
/// when this side encodes them into its output and when it decodes them
/// from its input; bytes when the socket takes them
/// ([`advance_transmit`](Connection::advance_transmit)) and when they are
/// handed in ([`handle_input`](Connection::handle_input) and the calls
/// that lead to it). So between two peers, once everything sent has been
/// delivered, one side's `bytes_sent` is the other's `bytes_received`, and
/// the same for frames. The counters of one type of frame (NOTIFY, PING,
/// ERROR, ...) count those this side sent or accepted: a frame that broke
/// the protocol (the wrong role's, or one before the handshake) ends the
/// connection and is counted in `frames_received` only.
///
/// The request counters are the same fields for both roles, from each
/// side's point of view: a client counts the requests it sent and the
/// answers it got, a server the requests it received and the answers it
/// gave (see the [module documentation](self) for how they add up).
///
/// ```
/// use bytes::Bytes;
/// use slow_proto::{Config, Connection, Event, Instant};
///
/// let now = Instant::ZERO;
/// let mut client = Connection::client(Config::default(), now).unwrap();
/// let mut server = Connection::server(Config::default(), now).unwrap();
/// fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
///     let bytes: Vec<u8> = from.transmit().flatten().copied().collect();
///     from.advance_transmit(bytes.len());
///     to.recv(&bytes, now);
/// }
/// client.send_request(Bytes::from_static(b"hi"), None, now).unwrap();
/// pump(&mut client, &mut server, now); // HELLO
/// pump(&mut server, &mut client, now); // WELCOME
/// pump(&mut client, &mut server, now); // REQUEST
/// while let Some(event) = server.poll_event() {
///     if let Event::Request { id, body, .. } = event {
///         server.respond(id, body, now).unwrap();
///     }
/// }
/// pump(&mut server, &mut client, now); // RESPONSE
///
/// let (c, s) = (client.stats(), server.stats());
/// assert_eq!((c.requests, c.responses), (1, 1));
/// assert_eq!((s.requests, s.responses), (1, 1));
/// assert_eq!((c.frames_sent, s.frames_received), (2, 2)); // HELLO, REQUEST
/// assert_eq!(c.bytes_sent, s.bytes_received);
/// assert_eq!(s.bytes_sent, c.bytes_received);
///
/// // A server's totals: the sum of its connections' stats.
/// let totals: slow_proto::Stats = [s, s].into_iter().sum();
/// assert_eq!(totals.requests, 2);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Frames this side encoded into its output, every type: counted when
    /// queued, so a frame still unwritten when the socket failed is counted
    /// here (and its bytes are not in `bytes_sent`).
    pub frames_sent: u64,
    /// Frames this side decoded from its input, every type (unknown ones
    /// included). Bytes that arrive after the connection closed are read
    /// and dropped without being decoded.
    pub frames_received: u64,
    /// Bytes the socket took: the sum of what was reported to
    /// [`advance_transmit`](Connection::advance_transmit).
    pub bytes_sent: u64,
    /// Bytes handed in from the socket (through
    /// [`handle_input`](Connection::handle_input),
    /// [`recv_commit`](Connection::recv_commit) or
    /// [`recv`](Connection::recv)), including any read and dropped after
    /// the connection closed.
    pub bytes_received: u64,
    /// Requests on the wire: (client) sent, counted when the first frame
    /// of the request is queued; (server) received, counted when the first
    /// frame of a new request is accepted, refused ones included (they are
    /// answered ERROR at once, and count as `failed` or `expired`).
    pub requests: u64,
    /// Requests answered with a RESPONSE: (client) whose whole response
    /// arrived; (server) whose response was queued.
    pub responses: u64,
    /// Requests answered with ERROR, with any code but DEADLINE_EXCEEDED
    /// (those are `expired`): (client) received; (server) sent, by the
    /// application or by the core itself (a refusal while shutting down
    /// or over MAX_CONCURRENT_REQUESTS, a response too large for the
    /// client). A client's request refused with SHUTTING_DOWN fails as
    /// "not processed", and counts here.
    pub failed: u64,
    /// Requests cancelled: (client) by the application, after they were
    /// sent (a CANCEL went out); (server) by the client's CANCEL, while
    /// outstanding. A client whose deadline passes also sends CANCEL, which
    /// the server counts here unless its own deadline passed first.
    pub cancelled: u64,
    /// Requests whose deadline passed: (client) timed out locally, or
    /// answered ERROR DEADLINE_EXCEEDED; (server) answered ERROR
    /// DEADLINE_EXCEEDED, by the core when the DEADLINE passed (or arrived
    /// as 0) or by the application.
    pub expired: u64,
    /// Requests ended by the connection rather than answered: (client)
    /// above the last id of the server's graceful GOAWAY (not processed),
    /// or outstanding when the connection closed; (server) outstanding
    /// when the connection closed.
    pub interrupted: u64,
    /// NOTIFY frames sent.
    pub notifications_sent: u64,
    /// NOTIFY frames received.
    pub notifications_received: u64,
    /// PING frames sent: by [`ping`](Connection::ping) and by keepalive.
    pub pings_sent: u64,
    /// PING frames received (each is answered with a PONG).
    pub pings_received: u64,
    /// PONG frames received, whether or not they answered one of our PINGs
    /// (only those that did are reported as [`Event::Pong`](crate::Event::Pong)).
    pub pongs_received: u64,
    /// ERROR frames sent (a server's), by code.
    pub errors_sent: CodeCounts,
    /// ERROR frames received (a client's: a server accepts none), by code,
    /// including those for requests that had already ended here (a late
    /// DEADLINE_EXCEEDED).
    pub errors_received: CodeCounts,
    /// GOAWAY frames sent, by code. A connection sends at most two: a
    /// graceful one, then one with an error code if something breaks
    /// while it drains.
    pub goaways_sent: CodeCounts,
    /// GOAWAY frames received, by code.
    pub goaways_received: CodeCounts,
}

/// How a request on the wire ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    Answered,
    Failed,
    Cancelled,
    Expired,
    Interrupted,
}

impl Ended {
    /// An ERROR answer with `code`.
    pub(crate) fn by_error(code: ErrorCode) -> Ended {
        if code == ErrorCode::DEADLINE_EXCEEDED {
            Ended::Expired
        } else {
            Ended::Failed
        }
    }
}

impl Stats {
    /// Counts one request on the wire that ended.
    pub(crate) fn ended(&mut self, how: Ended) {
        let counter = match how {
            Ended::Answered => &mut self.responses,
            Ended::Failed => &mut self.failed,
            Ended::Cancelled => &mut self.cancelled,
            Ended::Expired => &mut self.expired,
            Ended::Interrupted => &mut self.interrupted,
        };
        *counter += 1;
    }
}

/// Adds another connection's counts (saturating, never overflowing): how
/// a server sums its connections.
///
/// ```
/// use slow_proto::Stats;
///
/// let mut totals = Stats::default();
/// for stats in [Stats::default(); 3] {
///     totals += stats;
/// }
/// assert_eq!(totals, Stats::default());
/// ```
impl AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        // Destructured, so that a new field cannot be forgotten here.
        let Stats {
            frames_sent,
            frames_received,
            bytes_sent,
            bytes_received,
            requests,
            responses,
            failed,
            cancelled,
            expired,
            interrupted,
            notifications_sent,
            notifications_received,
            pings_sent,
            pings_received,
            pongs_received,
            errors_sent,
            errors_received,
            goaways_sent,
            goaways_received,
        } = other;
        let add = |mine: &mut u64, theirs: u64| *mine = mine.saturating_add(theirs);
        add(&mut self.frames_sent, frames_sent);
        add(&mut self.frames_received, frames_received);
        add(&mut self.bytes_sent, bytes_sent);
        add(&mut self.bytes_received, bytes_received);
        add(&mut self.requests, requests);
        add(&mut self.responses, responses);
        add(&mut self.failed, failed);
        add(&mut self.cancelled, cancelled);
        add(&mut self.expired, expired);
        add(&mut self.interrupted, interrupted);
        add(&mut self.notifications_sent, notifications_sent);
        add(&mut self.notifications_received, notifications_received);
        add(&mut self.pings_sent, pings_sent);
        add(&mut self.pings_received, pings_received);
        add(&mut self.pongs_received, pongs_received);
        self.errors_sent += errors_sent;
        self.errors_received += errors_received;
        self.goaways_sent += goaways_sent;
        self.goaways_received += goaways_received;
    }
}

/// The sum of two connections' counts (see [`AddAssign`]).
impl Add for Stats {
    type Output = Stats;

    fn add(mut self, other: Stats) -> Stats {
        self += other;
        self
    }
}

/// The sum of many connections' counts (see [`AddAssign`]).
impl Sum for Stats {
    fn sum<I: Iterator<Item = Stats>>(iter: I) -> Stats {
        iter.fold(Stats::default(), Add::add)
    }
}

impl<'a> Sum<&'a Stats> for Stats {
    fn sum<I: Iterator<Item = &'a Stats>>(iter: I) -> Stats {
        iter.copied().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_slots_are_the_named_codes() {
        for n in 0..=u16::MAX {
            let code = ErrorCode(n);
            let slot = CodeCounts::slot(code);
            assert_eq!(code.name().is_some(), slot < NAMED, "{code}");
            if code.name().is_some() {
                assert_eq!(slot, usize::from(n));
            }
        }
    }

    #[test]
    fn codes_are_counted_in_their_slot_and_add_up() {
        let mut counts = CodeCounts::default();
        counts.record(ErrorCode::SHUTTING_DOWN);
        counts.record(ErrorCode::SHUTTING_DOWN);
        counts.record(ErrorCode(0x0100));
        counts.record(ErrorCode(0xFFFF));
        counts.record(ErrorCode(0x00FF));
        assert_eq!(counts.get(ErrorCode::SHUTTING_DOWN), 2);
        assert_eq!(counts.get(ErrorCode::NO_ERROR), 0);
        assert_eq!(counts.application(), 2);
        assert_eq!(counts.get(ErrorCode(0x1234)), 2, "the group's count");
        assert_eq!(counts.unassigned(), 1);
        assert_eq!(counts.total(), 5);
        assert_eq!(
            counts.iter().collect::<alloc::vec::Vec<_>>(),
            [(ErrorCode::SHUTTING_DOWN, 2)]
        );
        assert_eq!(
            alloc::format!("{counts:?}"),
            "{SHUTTING_DOWN: 2, application: 2, unassigned: 1}"
        );
        let mut twice = counts;
        twice += counts;
        assert_eq!(twice.get(ErrorCode::SHUTTING_DOWN), 4);
        assert_eq!(twice.total(), 10);
    }

    #[test]
    fn sums_saturate() {
        let mut big = Stats {
            bytes_sent: u64::MAX - 1,
            ..Stats::default()
        };
        big.errors_sent.counts[0] = u64::MAX;
        let one = Stats {
            bytes_sent: 5,
            frames_sent: 1,
            ..Stats::default()
        };
        let mut more = one;
        more.errors_sent.record(ErrorCode::NO_ERROR);
        let sum = big + more;
        assert_eq!(sum.bytes_sent, u64::MAX);
        assert_eq!(sum.frames_sent, 1);
        assert_eq!(sum.errors_sent.get(ErrorCode::NO_ERROR), u64::MAX);
        assert_eq!([one, one, one].iter().sum::<Stats>().bytes_sent, 15);
    }
}
