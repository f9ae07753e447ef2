//! The outgoing byte queue.
//!
//! Small frames are coalesced into one buffer; a body of at least
//! [`BY_REFERENCE`] bytes is queued as the caller's own [`Bytes`] (a slice,
//! never a copy), behind a header written into the buffer. The adapter sees
//! the queue as a list of slices it can hand to `write_vectored`.
//!
//! Urgent frames (PONG) jump the queue at the next frame boundary that
//! follows every byte handed out since the last `advance`: those may be in
//! the kernel already (a completion-based driver submits them and reports
//! how many were taken later), so they stay first.

use alloc::collections::VecDeque;
use bytes::{Bytes, BytesMut};

use crate::frame::{Frame, HEADER_LEN, Header, encode_message_head};

/// Bodies at least this large go out by reference instead of being copied.
const BY_REFERENCE: usize = 1024;

struct Chunk {
    bytes: Bytes,
    /// The chunk ends on a frame boundary (false for a header whose body
    /// follows in the next chunk).
    ends_frame: bool,
    /// An urgent frame (PONG): what a peer can make us send without
    /// ever reading, counted apart for back-pressure.
    urgent: bool,
}

#[derive(Default)]
pub(crate) struct TxQueue {
    chunks: VecDeque<Chunk>,
    /// Frames not yet moved into `chunks`; always whole frames.
    tail: BytesMut,
    /// The front chunk starts inside a frame (its header went out already).
    front_mid_frame: bool,
    /// Bytes of the front chunk already written.
    offset: usize,
    /// Unsent bytes in all.
    pending: usize,
    /// Unsent bytes of urgent frames.
    urgent_pending: usize,
    /// Urgent frames not yet spliced into `chunks`.
    urgent_tail: BytesMut,
    /// Frames queued since the start, urgent ones included.
    frames: u64,
    /// Bytes from the front handed out by `slices` since the last
    /// `advance`: possibly taken already, so nothing goes in front of them.
    handed_out: usize,
}

impl TxQueue {
    /// Queues a whole frame.
    pub(crate) fn push(&mut self, frame: &Frame) {
        self.frames += 1;
        self.pending += HEADER_LEN + frame.payload_len();
        match frame.bulk() {
            Some(body) if body.len() >= BY_REFERENCE => {
                self.tail.reserve(HEADER_LEN + 8);
                frame.header().encode(&mut self.tail);
                frame.encode_payload_prefix(&mut self.tail);
                self.push_body(body.clone());
            }
            _ => frame.encode(&mut self.tail),
        }
    }

    /// Queues a REQUEST or RESPONSE frame from its parts, as
    /// [`push`](Self::push) queues the [`Frame`] they make (the same
    /// bytes), without building one: `header` from [`Header::message`],
    /// the DEADLINE's milliseconds if any, and the body, which a large one
    /// goes out as (moved into the queue, not copied).
    pub(crate) fn push_message(&mut self, header: Header, timeout_ms: Option<u32>, body: Bytes) {
        let len = HEADER_LEN + header.length as usize;
        self.frames += 1;
        self.pending += len;
        if body.len() >= BY_REFERENCE {
            self.tail.reserve(HEADER_LEN + 4);
            encode_message_head(&mut self.tail, &header, timeout_ms);
            self.push_body(body);
        } else {
            self.tail.reserve(len);
            encode_message_head(&mut self.tail, &header, timeout_ms);
            self.tail.extend_from_slice(&body);
        }
    }

    /// Queues a large body by reference behind the header (and payload
    /// prefix) just written into the tail.
    fn push_body(&mut self, body: Bytes) {
        self.seal_tail(false);
        self.chunks.push_back(Chunk {
            bytes: body,
            ends_frame: true,
            urgent: false,
        });
    }

    /// Queues a frame ahead of everything not yet started, behind urgent
    /// frames already waiting. Urgent frames gather in their own buffer and
    /// are spliced in as one chunk when output is taken, so a flood of PINGs
    /// costs linear time, not quadratic.
    pub(crate) fn push_urgent(&mut self, frame: &Frame) {
        self.frames += 1;
        self.pending += HEADER_LEN + frame.payload_len();
        self.urgent_pending += HEADER_LEN + frame.payload_len();
        frame.encode(&mut self.urgent_tail);
    }

    /// Moves waiting urgent frames to the next frame boundary: after the
    /// frame in progress, merged with the urgent chunk already there (there is
    /// at most one: each splice merges).
    fn seal_urgent(&mut self) {
        if self.urgent_tail.is_empty() {
            return;
        }
        let at = self.urgent_position();
        let fresh = self.urgent_tail.split().freeze();
        match self.chunks.get_mut(at) {
            Some(chunk) if chunk.urgent => {
                let mut merged = BytesMut::with_capacity(chunk.bytes.len() + fresh.len());
                merged.extend_from_slice(&chunk.bytes);
                merged.extend_from_slice(&fresh);
                chunk.bytes = merged.freeze();
            }
            _ => self.chunks.insert(
                at,
                Chunk {
                    bytes: fresh,
                    ends_frame: true,
                    urgent: true,
                },
            ),
        }
    }

    /// Where urgent frames go: the first frame boundary after the frame in
    /// progress and after every byte handed out since the last advance
    /// (the last chunk always ends a frame, so there is one).
    fn urgent_position(&self) -> usize {
        if self.handed_out == 0 && self.offset == 0 && !self.front_mid_frame {
            return 0;
        }
        let mut passed = 0;
        for (i, c) in self.chunks.iter().enumerate() {
            passed += c.bytes.len() - if i == 0 { self.offset } else { 0 };
            if c.ends_frame && passed >= self.handed_out {
                return i + 1;
            }
        }
        self.chunks.len()
    }

    /// Unsent bytes.
    pub(crate) fn len(&self) -> usize {
        self.pending
    }

    /// Unsent bytes of urgent frames.
    pub(crate) fn urgent_len(&self) -> usize {
        self.urgent_pending
    }

    /// Frames queued since the start.
    pub(crate) fn frames(&self) -> u64 {
        self.frames
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.tail.is_empty() && self.urgent_tail.is_empty()
    }

    /// The unsent bytes, in order, as at most `max` slices. They count as
    /// handed out (they stay first) until the next [`advance`](Self::advance).
    pub(crate) fn slices(&mut self, max: usize) -> impl Iterator<Item = &[u8]> {
        self.seal_tail(true);
        self.seal_urgent();
        let offset = self.offset;
        let exposed: usize = self
            .chunks
            .iter()
            .take(max)
            .map(|c| c.bytes.len())
            .sum::<usize>()
            .saturating_sub(offset);
        self.handed_out = self.handed_out.max(exposed);
        self.chunks.iter().take(max).enumerate().map(move |(i, c)| {
            if i == 0 {
                &c.bytes[offset..]
            } else {
                &c.bytes[..]
            }
        })
    }

    /// The unsent bytes as at most `max` owned chunks (a clone of each
    /// chunk's `Bytes`, the front one sliced past what was written),
    /// handed out as [`slices`](Self::slices)'.
    pub(crate) fn chunks(&mut self, max: usize) -> impl Iterator<Item = Bytes> + '_ {
        let offset = self.offset;
        // Seals and counts what is handed out, as `slices` does.
        let _ = self.slices(max);
        self.chunks.iter().take(max).enumerate().map(move |(i, c)| {
            if i == 0 {
                c.bytes.slice(offset..)
            } else {
                c.bytes.clone()
            }
        })
    }

    /// Marks `n` bytes as written (0 for a write that took nothing): the
    /// outcome of what was handed out, which is no longer held first.
    pub(crate) fn advance(&mut self, mut n: usize) {
        self.seal_tail(true);
        // Urgent frames queued since the bytes were handed out go after
        // them, before those bytes are consumed.
        self.seal_urgent();
        self.handed_out = 0;
        debug_assert!(
            n <= self.pending,
            "advanced past the end of the transmit queue"
        );
        self.pending -= n.min(self.pending);
        while n > 0 {
            let Some(front) = self.chunks.front() else {
                debug_assert!(false, "advanced past the end of the transmit queue");
                return;
            };
            let left = front.bytes.len() - self.offset;
            if front.urgent {
                self.urgent_pending -= n.min(left);
            }
            if n < left {
                self.offset += n;
                return;
            }
            n -= left;
            self.offset = 0;
            if let Some(done) = self.chunks.pop_front() {
                self.front_mid_frame = !done.ends_frame;
            }
        }
    }

    fn seal_tail(&mut self, ends_frame: bool) {
        if !self.tail.is_empty() {
            let bytes = self.tail.split().freeze();
            self.chunks.push_back(Chunk {
                bytes,
                ends_frame,
                urgent: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::RequestId;
    use alloc::vec::Vec;

    fn drain(q: &mut TxQueue) -> Vec<u8> {
        let out: Vec<u8> = q.slices(usize::MAX).flatten().copied().collect();
        q.advance(out.len());
        out
    }

    proptest::proptest! {
        /// A message frame queued from its parts goes out as the same
        /// bytes as the frame itself, large bodies by reference.
        #[test]
        fn message_parts_are_the_frame(
            request in proptest::bool::ANY,
            id in 1u32..,
            more in proptest::bool::ANY,
            timeout_ms in proptest::option::of(proptest::num::u32::ANY),
            len in proptest::sample::select(alloc::vec![0usize, 1, 64, 1023, 1024, 5000]),
        ) {
            let body = Bytes::from(alloc::vec![7u8; len]);
            let id = RequestId::new(id);
            let (frame, ty, timeout_ms) = if request {
                let frame = Frame::Request { id, more, timeout_ms, body: body.clone() };
                (frame, crate::frame::FrameType::REQUEST, timeout_ms)
            } else {
                let frame = Frame::Response { id, more, body: body.clone() };
                (frame, crate::frame::FrameType::RESPONSE, None)
            };
            let mut whole = TxQueue::default();
            whole.push(&frame);
            let mut parts = TxQueue::default();
            let header = Header::message(ty, id, more, timeout_ms, len);
            proptest::prop_assert_eq!(header, frame.header());
            parts.push_message(header, timeout_ms, body.clone());
            proptest::prop_assert_eq!(parts.len(), whole.len());
            proptest::prop_assert_eq!(parts.frames(), 1);
            let by_reference = parts.slices(usize::MAX).any(|s| s.as_ptr() == body.as_ptr());
            proptest::prop_assert_eq!(by_reference, len >= BY_REFERENCE);
            proptest::prop_assert_eq!(drain(&mut parts), drain(&mut whole));
        }
    }

    #[test]
    fn large_bodies_are_not_copied() {
        let body = Bytes::from(alloc::vec![1u8; 4096]);
        let mut q = TxQueue::default();
        q.push(&Frame::Response {
            id: RequestId::new(1),
            more: false,
            body: body.clone(),
        });
        let slices: Vec<&[u8]> = q.slices(usize::MAX).collect();
        assert_eq!(slices.len(), 2);
        assert_eq!(slices[1].as_ptr(), body.as_ptr());
    }

    #[test]
    fn urgent_frames_wait_for_the_frame_in_progress() {
        let body = Bytes::from(alloc::vec![1u8; 4096]);
        let mut q = TxQueue::default();
        q.push(&Frame::Response {
            id: RequestId::new(1),
            more: false,
            body: body.clone(),
        });
        q.push(&Frame::Notify {
            body: Bytes::from_static(b"n"),
        });
        q.advance(3); // inside the header of the response
        q.push_urgent(&Frame::Pong { data: [9; 8] });
        let mut expected = BytesMut::new();
        Frame::Response {
            id: RequestId::new(1),
            more: false,
            body,
        }
        .encode(&mut expected);
        Frame::Pong { data: [9; 8] }.encode(&mut expected);
        Frame::Notify {
            body: Bytes::from_static(b"n"),
        }
        .encode(&mut expected);
        assert_eq!(drain(&mut q), expected[3..]);
        assert!(q.is_empty());
    }

    #[test]
    fn urgent_frames_keep_their_order() {
        let mut q = TxQueue::default();
        q.push(&Frame::Notify {
            body: Bytes::from_static(b"n"),
        });
        q.push_urgent(&Frame::Pong { data: [1; 8] });
        q.push_urgent(&Frame::Pong { data: [2; 8] });
        let out = drain(&mut q);
        assert_eq!((out[10], out[28], out[40]), (1, 2, 0x07));
    }

    #[test]
    fn urgent_frames_go_first_when_nothing_started() {
        let mut q = TxQueue::default();
        q.push(&Frame::Notify {
            body: Bytes::from_static(b"n"),
        });
        q.push_urgent(&Frame::Pong { data: [9; 8] });
        let out = drain(&mut q);
        assert_eq!(out[4], 0x09);
    }
}
