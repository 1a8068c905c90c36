//! Arbitrary builder settings, absurd ones included: a `BuildError` or a
//! working pool, never a panic, never a thread left behind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verified_pool::conformance::{
    check_build, silence_deliberate_panics, BuildConfig, ThreadCheck,
};

fuzz_target!(
    // See pool_ops.rs: only the tasks' deliberate panics may pass.
    init: silence_deliberate_panics(),
    |config: BuildConfig| {
        // The fuzzing process runs one input at a time on one thread, so
        // counting the process's threads finds any thread left behind.
        if let Err(violation) = check_build(&config, ThreadCheck::Process) {
            panic!("{violation}");
        }
    }
);
