//! Arbitrary operation programs (up to three threads submitting, closing,
//! joining) against a real pool; any broken promise aborts with the
//! violation, the program and its trace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verified_pool::conformance::{check_program, silence_deliberate_panics, Program};

fuzz_target!(
    // libfuzzer-sys aborts on every panic, even one a worker catches: let
    // the tasks' deliberate panics through, keep aborting on any other.
    init: silence_deliberate_panics(),
    |program: Program| {
        if let Err(violation) = check_program(&program) {
            panic!("{violation}");
        }
    }
);
