//! What the pipelined baselines share: answering every request in the read
//! buffer inline, and the output they gather for one write (borrowed for a
//! readiness-based write, handed over for a completion-based one).
//!
//! A performance-minded server for this wire format has one task per
//! connection that reads, decodes every whole frame it has, answers each
//! at once (the echo needs no task of its own), and writes everything
//! those answers produced in one vectored write per read. Small frames
//! are copied together into one buffer; a body of [`BY_REFERENCE`] or more
//! goes out as the read buffer's own slice, uncopied.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use bytes::{Buf, Bytes, BytesMut};

use super::{REQUEST, RESPONSE, header, take_frame};

/// Bodies this large are written from where they were read, not copied.
pub const BY_REFERENCE: usize = 1024;

/// The most slices one vectored write is given.
const MAX_SLICES: usize = 64;

/// Output waiting for the socket: pieces in order.
#[derive(Default)]
pub struct Out {
    pieces: VecDeque<Bytes>,
    /// Small frames, copied together; becomes a piece before a large body
    /// and before writing.
    small: BytesMut,
}

impl Out {
    /// Queues one frame.
    pub fn frame(&mut self, ty: u8, id: u32, body: Bytes) {
        self.small.extend_from_slice(&header(ty, id, body.len()));
        if body.len() < BY_REFERENCE {
            self.small.extend_from_slice(&body);
        } else {
            self.seal();
            self.pieces.push_back(body);
        }
    }

    fn seal(&mut self) {
        if !self.small.is_empty() {
            self.pieces.push_back(self.small.split().freeze());
        }
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty() && self.small.is_empty()
    }

    /// Up to 64 slices of what is waiting, for a vectored write.
    pub fn slices(&mut self) -> Vec<IoSlice<'_>> {
        self.seal();
        self.pieces
            .iter()
            .take(MAX_SLICES)
            .map(|p| IoSlice::new(p))
            .collect()
    }

    /// Moves up to 64 pieces of what is waiting, in order, onto `to`: for
    /// a completion-based write, which owns its buffers until the kernel
    /// is done with them (so it cannot borrow them as [`Out::slices`]).
    pub fn take(&mut self, to: &mut Vec<Bytes>) {
        self.seal();
        let n = self.pieces.len().min(MAX_SLICES);
        to.extend(self.pieces.drain(..n));
    }

    /// `n` bytes were written.
    pub fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(first) = self.pieces.front_mut() else {
                return;
            };
            if n < first.len() {
                first.advance(n);
                return;
            }
            n -= first.len();
            self.pieces.pop_front();
        }
    }
}

/// Answers every whole REQUEST in `buf` with a RESPONSE carrying its body
/// (an echo), into `out`.
pub fn answer_all(buf: &mut BytesMut, out: &mut Out) -> io::Result<()> {
    while let Some(frame) = take_frame(buf)? {
        if frame.ty == REQUEST {
            out.frame(RESPONSE, frame.id, frame.payload);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_frames_are_copied_together_and_large_bodies_are_not() {
        let mut out = Out::default();
        out.frame(RESPONSE, 1, Bytes::from_static(b"abc"));
        out.frame(RESPONSE, 2, Bytes::from_static(b"de"));
        let large = Bytes::from(vec![7u8; BY_REFERENCE]);
        out.frame(RESPONSE, 3, large.clone());
        let lens: Vec<usize> = out.slices().iter().map(|s| s.len()).collect();
        // Two small frames and a header in one piece, then the body itself.
        assert_eq!(lens, [10 + 3 + 10 + 2 + 10, BY_REFERENCE]);
        assert_eq!(out.pieces[1].as_ptr(), large.as_ptr(), "not copied");
        out.advance(20);
        assert_eq!(out.slices()[0].len(), 15);
        out.advance(15 + BY_REFERENCE);
        assert!(out.is_empty());
    }

    #[test]
    fn take_hands_over_the_same_pieces_in_order() {
        let mut out = Out::default();
        out.frame(RESPONSE, 1, Bytes::from_static(b"abc"));
        let large = Bytes::from(vec![7u8; BY_REFERENCE]);
        out.frame(RESPONSE, 2, large.clone());
        let mut taken = Vec::new();
        out.take(&mut taken);
        let lens: Vec<usize> = taken.iter().map(Bytes::len).collect();
        assert_eq!(lens, [10 + 3 + 10, BY_REFERENCE]);
        assert_eq!(taken[1].as_ptr(), large.as_ptr(), "not copied");
        assert!(out.is_empty());
    }

    #[test]
    fn every_request_in_the_buffer_is_answered() {
        let mut buf = BytesMut::new();
        for id in 1..=3u32 {
            buf.extend_from_slice(&header(REQUEST, id, 1));
            buf.extend_from_slice(&[id as u8]);
        }
        buf.extend_from_slice(&header(REQUEST, 4, 5)[..6]); // not whole yet
        let mut out = Out::default();
        answer_all(&mut buf, &mut out).unwrap();
        let wire: Vec<u8> = out.slices().iter().flat_map(|s| s.to_vec()).collect();
        let mut expected = Vec::new();
        for id in 1..=3u32 {
            expected.extend_from_slice(&header(RESPONSE, id, 1));
            expected.push(id as u8);
        }
        assert_eq!(wire, expected);
        assert_eq!(buf.len(), 6, "the partial frame stays");
    }
}
