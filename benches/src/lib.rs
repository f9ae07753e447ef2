//! Benchmarks that show what SLOW's sans-IO design costs, and the pieces
//! they share (see `docs/BENCHMARKS.md` for the commands and the results).
//!
//! - [`alloc_count`]: a counting global allocator, for allocations per round
//!   trip and bytes per idle connection.
//! - [`core_pair`]: a client core and a server core joined in memory, driven
//!   the way an adapter drives them, on a virtual clock.
//! - [`baseline`]: the same wire format written by hand for one runtime
//!   (tokio, smol, async-std, compio), without `slow-proto`: what the
//!   abstraction is measured against.
//! - [`rig`]: client and server set up over loopback for each runtime, and
//!   the load patterns of the end-to-end benchmarks.
//! - [`idle`]: peers that hold connections open with no heap of their own,
//!   to measure one side's memory per idle connection.
//! - [`report`]: reads criterion's estimates back and prints the tables.
//!
//! `unsafe` appears only in [`alloc_count`] (a `GlobalAlloc` must be unsafe).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod alloc_count;
pub mod baseline;
pub mod core_pair;
pub mod idle;
pub mod pairing;
pub mod report;
pub mod rig;

/// Body sizes used throughout: a small request and the largest body that
/// fits one frame of the default MAX_FRAME_SIZE.
pub const SMALL: usize = 64;
/// 64 KiB, exactly the default MAX_FRAME_SIZE.
pub const LARGE: usize = 64 * 1024;

/// A body of `len` bytes that costs no allocation to clone.
pub fn body(len: usize) -> bytes::Bytes {
    static ZEROS: [u8; LARGE] = [b'x'; LARGE];
    bytes::Bytes::from_static(&ZEROS[..len])
}

/// Whether the bench binary was started with `--test` (`cargo bench -- --test`):
/// run everything once, quickly, and measure nothing.
pub fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}
