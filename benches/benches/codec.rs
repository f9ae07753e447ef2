//! The core's codec alone: decode and encode of one frame, at 64 B, 4 KiB
//! and 64 KiB of payload, in frames/s (criterion's throughput) and bytes/s
//! (in the table printed at the end).
//!
//! Decode takes whole frames off the front of a receive buffer holding many
//! (the buffer is refilled outside the timed part); each frame is dropped
//! after decoding, as a consumer would. Encode appends a RESPONSE frame,
//! header and body, to a reused output buffer (`Frame::encode` copies the
//! body; the connection itself sends bodies of 1 KiB and more by reference).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{Criterion, Throughput};
use slow_proto::RequestId;
use slow_proto::frame::{self, Frame, HEADER_LEN};

const SIZES: [(&str, usize); 3] = [("64B", 64), ("4KiB", 4096), ("64KiB", 65_536)];
/// Bytes of frames per refill of the receive buffer.
const BATCH_BYTES: usize = 4 << 20;

fn response(len: usize) -> Frame {
    Frame::Response {
        id: RequestId::new(7),
        more: false,
        body: benches::body(len),
    }
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec_decode");
    group.throughput(Throughput::Elements(1));
    for (name, len) in SIZES {
        let mut wire = BytesMut::new();
        response(len).encode(&mut wire);
        let per_batch = (BATCH_BYTES / wire.len()).max(1);
        let template: Vec<u8> = wire
            .iter()
            .copied()
            .cycle()
            .take(wire.len() * per_batch)
            .collect();
        let mut buf = BytesMut::with_capacity(template.len());
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let k = left.min(per_batch as u64) as usize;
                    buf.extend_from_slice(&template[..k * wire.len()]);
                    let start = Instant::now();
                    for _ in 0..k {
                        let f = frame::decode(black_box(&mut buf), 65_536);
                        black_box(f.expect("valid").expect("whole"));
                    }
                    total += start.elapsed();
                    left -= k as u64;
                }
                total
            })
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec_encode");
    group.throughput(Throughput::Elements(1));
    for (name, len) in SIZES {
        let frame = response(len);
        let mut out = BytesMut::with_capacity(BATCH_BYTES + HEADER_LEN + len);
        group.bench_function(name, |b| {
            b.iter(|| {
                if out.len() >= BATCH_BYTES {
                    out.clear();
                }
                black_box(&frame).encode(&mut out);
            })
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    decode(&mut c);
    encode(&mut c);
    c.final_summary();
    if !benches::test_mode() {
        let mut rows = Vec::new();
        for group in ["codec_decode", "codec_encode"] {
            for (name, len) in SIZES {
                rows.push((
                    group.to_string(),
                    name.to_string(),
                    1,
                    (HEADER_LEN + len) as u64,
                ));
            }
        }
        benches::report::print_rates("Codec (one frame per iteration, whole frame bytes)", &rows);
    }
}
