#![no_main]
//! See `slow_proto_fuzz::pair` for what this target checks.

use libfuzzer_sys::fuzz_target;
use slow_proto_fuzz::pair::{Input, run};

fuzz_target!(|input: Input| {
    run(&input);
});
