//! Fuzzing harnesses for `slow-proto`.
//!
//! Each module holds one target's input type and its `run` function, using
//! only the public API of `slow-proto` (and `bytes`). The files are also
//! compiled, through `#[path]`, into `slow-proto/tests/fuzz_regressions.rs`,
//! so that every crash found here is replayed by stable `cargo test` through
//! the very same logic. That is why the input types derive `Arbitrary` only
//! with this crate's `arbitrary` feature.

pub mod frame_decoder;
pub mod knobs;
pub mod pair;
pub mod server_connection;
