#![cfg(not(any(loom, shuttle)))]
//! Replays the committed fuzz seeds (`fuzz/corpus/<target>/seed-*`)
//! through the very checks the fuzz targets run, so that `cargo test`
//! exercises every target without cargo-fuzz.
//!
//! One test on purpose: the builder check counts the process's threads,
//! which is only sound while no other test of this binary starts or ends
//! threads.

use std::path::PathBuf;

use verified_pool::conformance::{
    check_build, check_channel_program, check_program, silence_deliberate_panics, BuildConfig,
    ChannelProgram, Program, ThreadCheck, Violation,
};

/// The seed files of `target`, by name.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "fuzz", "corpus", target]
        .iter()
        .collect();
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable corpus directory").path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_string();
            name.starts_with("seed-").then(|| {
                let bytes = std::fs::read(&path).expect("a readable seed");
                (name, bytes)
            })
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seed-* files in {}", dir.display());
    seeds
}

fn replay<T>(
    target: &str,
    decode: impl Fn(&[u8]) -> Option<T>,
    check: impl Fn(&T) -> Result<(), Violation>,
    failures: &mut Vec<String>,
) -> usize {
    let seeds = seeds(target);
    for (name, bytes) in &seeds {
        match decode(bytes) {
            None => failures.push(format!("{target}/{name}: the fuzz target would skip it")),
            Some(input) => {
                if let Err(v) = check(&input) {
                    failures.push(format!("{target}/{name}: {v}"));
                }
            }
        }
    }
    seeds.len()
}

#[test]
fn committed_fuzz_seeds_pass() {
    silence_deliberate_panics();
    let mut failures = Vec::new();
    let pool_ops = replay(
        "pool_ops",
        Program::from_fuzz_input,
        check_program,
        &mut failures,
    );
    let channel = replay(
        "channel",
        ChannelProgram::from_fuzz_input,
        check_channel_program,
        &mut failures,
    );
    let builder = replay(
        "builder",
        BuildConfig::from_fuzz_input,
        |config| check_build(config, ThreadCheck::Process),
        &mut failures,
    );
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed:\n{}",
        failures.len(),
        pool_ops + channel + builder,
        failures.join("\n")
    );
    println!("replayed {pool_ops} pool_ops, {channel} channel and {builder} builder seeds");
}
