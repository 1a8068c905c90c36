//! The pool's queue alone against a `VecDeque` model: sends, receives,
//! close and drain, bounded and unbounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verified_pool::conformance::{check_channel_program, ChannelProgram};

fuzz_target!(|program: ChannelProgram| {
    if let Err(violation) = check_channel_program(&program) {
        panic!("{violation}");
    }
});
