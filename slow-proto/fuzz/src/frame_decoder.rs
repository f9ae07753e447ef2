//! Target `frame_decoder`: [`slow_proto::frame::decode`] on arbitrary bytes.
//!
//! The bytes are decoded twice: once from one buffer holding all of them, and
//! once fed in chunks whose sizes come from the input (zero-sized chunks
//! included, i.e. "decode again without new input"). Checked:
//!
//! - no panic;
//! - both passes yield the same frames and the same error, at the same place
//!   (decoding does not depend on how the stream was cut);
//! - every decoded frame re-encodes ([`Frame::encode`]) to the bytes it came
//!   from, except for flag bits its type does not define (sent as 0), and
//!   those bytes decode to an equal frame;
//! - `Ok(None)` consumes nothing and changes nothing, keeps returning
//!   `Ok(None)` until more input arrives, and once the header is in has
//!   reserved room for the whole frame.

use bytes::BytesMut;
use slow_proto::frame::{self, Frame, FrameType, HEADER_LEN, Header, flags};
use slow_proto::{FrameError, Settings};

/// One fuzz case.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Input {
    /// The receiver's MAX_FRAME_SIZE, clamped to 1,024..=16,777,215.
    pub max_frame_size: u32,
    /// Chunk sizes for the second pass, used in turn (0: decode again
    /// without new input).
    pub chunks: Vec<u16>,
    /// The received stream.
    pub data: Vec<u8>,
}

type Outcome = Result<Frame, FrameError>;

/// Runs one case; panics when an invariant breaks. Returns how many frames
/// were decoded and whether decoding ended in an error.
pub fn run(input: &Input) -> (usize, bool) {
    let max = input
        .max_frame_size
        .clamp(Settings::MIN_MAX_FRAME_SIZE, Settings::MAX_MAX_FRAME_SIZE);
    let data = &input.data[..];

    let mut whole = Decoder::new(data, max);
    whole.feed(data.len());

    let mut chunked = Decoder::new(data, max);
    let mut sizes: Vec<usize> = input.chunks.iter().map(|&c| usize::from(c)).collect();
    if sizes.iter().all(|&n| n == 0) {
        sizes.push(1); // make progress
    }
    for &n in sizes.iter().cycle() {
        if chunked.fed == data.len() || chunked.failed {
            break;
        }
        chunked.feed(n);
    }

    assert_eq!(
        whole.outcomes, chunked.outcomes,
        "decoding depends on how the input was split"
    );
    if !whole.failed {
        assert_eq!(&whole.buf[..], &chunked.buf[..], "different leftover bytes");
    }
    let frames = whole.outcomes.iter().filter(|o| o.is_ok()).count();
    (frames, whole.failed)
}

/// A receive buffer fed from `data`, decoded after every feed.
struct Decoder<'a> {
    data: &'a [u8],
    max: u32,
    /// Bytes of `data` appended to `buf` so far.
    fed: usize,
    buf: BytesMut,
    outcomes: Vec<Outcome>,
    failed: bool,
}

impl<'a> Decoder<'a> {
    fn new(data: &'a [u8], max: u32) -> Self {
        Decoder {
            data,
            max,
            fed: 0,
            buf: BytesMut::new(),
            outcomes: Vec::new(),
            failed: false,
        }
    }

    /// Appends the next `n` bytes (fewer at the end) and decodes what it can.
    fn feed(&mut self, n: usize) {
        let end = (self.fed + n).min(self.data.len());
        self.buf.extend_from_slice(&self.data[self.fed..end]);
        self.fed = end;
        self.decode_available();
    }

    fn decode_available(&mut self) {
        while !self.failed {
            // The buffer always holds the unconsumed tail of what was fed.
            let start = self.fed - self.buf.len();
            match frame::decode(&mut self.buf, self.max) {
                Ok(Some(frame)) => {
                    let end = self.fed - self.buf.len();
                    check_frame(&self.data[start..end], &frame, self.max);
                    self.outcomes.push(Ok(frame));
                }
                Ok(None) => {
                    self.check_stalled(start);
                    return;
                }
                Err(e) => {
                    self.outcomes.push(Err(e));
                    self.failed = true;
                }
            }
        }
    }

    /// After `Ok(None)`: nothing consumed, nothing changed, no frame until
    /// more input, and room reserved for the frame whose header is in.
    fn check_stalled(&mut self, start: usize) {
        for _ in 0..2 {
            assert_eq!(
                &self.buf[..],
                &self.data[start..self.fed],
                "Ok(None) changed the buffer"
            );
            if let Some(header) = Header::parse(&self.buf) {
                assert!(header.length <= self.max, "Ok(None) for an oversized frame");
                let total = HEADER_LEN + header.length as usize;
                assert!(
                    self.buf.len() < total,
                    "Ok(None) with a whole frame buffered"
                );
                assert!(
                    self.buf.capacity() >= total,
                    "no room reserved for the frame"
                );
            }
            match frame::decode(&mut self.buf, self.max) {
                Ok(None) => {}
                other => panic!("Ok(None), then {other:?} without more input"),
            }
        }
    }
}

/// `wire` is exactly the bytes `frame` was decoded from.
fn check_frame(wire: &[u8], frame: &Frame, max: u32) {
    let header = Header::parse(wire).expect("a frame shorter than its header");
    assert!(header.length <= max, "decoded a frame above MAX_FRAME_SIZE");
    assert_eq!(
        wire.len(),
        HEADER_LEN + header.length as usize,
        "consumed a wrong length"
    );
    assert_eq!(
        frame.payload_len(),
        header.length as usize,
        "payload_len differs from the wire"
    );

    let mut encoded = BytesMut::new();
    frame.encode(&mut encoded);
    assert_eq!(
        frame.header(),
        Header::parse(&encoded).unwrap(),
        "header() differs from encode()"
    );
    let defined = match frame {
        Frame::Request { .. } => flags::MORE | flags::DEADLINE,
        Frame::Response { .. } => flags::MORE,
        Frame::Unknown { .. } => 0xFF,
        _ => 0,
    };
    let mut expected = wire.to_vec();
    expected[5] &= defined;
    assert_eq!(
        &encoded[..],
        &expected[..],
        "re-encoding {frame:?} changed its bytes"
    );
    if let Frame::Unknown { header, .. } = frame {
        assert!(
            !(1..=10).contains(&header.ty.0),
            "a known type came out as Unknown"
        );
    } else {
        assert_ne!(header.ty, FrameType(0), "type 0 decoded as a known frame");
    }

    let again = frame::decode(&mut encoded, max);
    assert_eq!(
        again.as_ref().ok().and_then(Option::as_ref),
        Some(frame),
        "re-decoding gave {again:?}"
    );
    assert!(encoded.is_empty(), "re-decoding left bytes behind");
}
