//! Request ids: their own type, so an id is never mistaken for a count, a
//! length or a code (quinn-proto's `StreamId` habit).

use core::fmt;

/// A request id: the number on the wire that ties a REQUEST to its
/// RESPONSE, ERROR and CANCEL frames (PROTOCOL.md §4).
///
/// A client numbers its requests from 1, each above the last. The one place
/// 0 appears is GOAWAY's last id, meaning "no request"
/// ([`RequestId::NONE`]).
///
/// ```
/// # use slow_proto::RequestId;
///
/// let id = RequestId::new(7);
/// assert_eq!(id.get(), 7);
/// assert_eq!(id.to_string(), "7");
/// assert!(RequestId::FIRST > RequestId::NONE);
/// assert_eq!(RequestId::FIRST.next(), Some(RequestId::new(2)));
/// assert_eq!(RequestId::MAX.next(), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RequestId(u32);

impl RequestId {
    /// No request: GOAWAY's last id before any request was seen or sent.
    pub const NONE: RequestId = RequestId(0);
    /// The first id a client hands out.
    pub const FIRST: RequestId = RequestId(1);
    /// The last id there is; a client that reaches it drains (§4).
    pub const MAX: RequestId = RequestId(u32::MAX);

    /// The id `n` (as it goes on the wire).
    pub const fn new(n: u32) -> RequestId {
        RequestId(n)
    }

    /// The number on the wire.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The id after this one, or `None` after [`RequestId::MAX`].
    pub const fn next(self) -> Option<RequestId> {
        match self.0.checked_add(1) {
            Some(n) => Some(RequestId(n)),
            None => None,
        }
    }
}

impl From<u32> for RequestId {
    fn from(n: u32) -> RequestId {
        RequestId(n)
    }
}

impl From<RequestId> for u32 {
    fn from(id: RequestId) -> u32 {
        id.0
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.0)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
