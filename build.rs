//! `RUSTFLAGS="--cfg loom" cargo test` builds the library on loom but runs
//! its doc examples outside any loom model, where loom's primitives panic.
//! rustdoc never sees RUSTFLAGS, so this script tells it (`loom_doc`), and
//! the crate then shows rustdoc no examples to collect. Plain `cargo test`
//! runs every example for real.

fn main() {
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    println!("cargo:rustc-check-cfg=cfg(loom_doc)");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let flags: Vec<&str> = flags.split('\x1f').collect();
    let loom = flags.contains(&"--cfg=loom")
        || flags.windows(2).any(|w| w[0] == "--cfg" && w[1] == "loom");
    if loom {
        println!("cargo:rustc-cfg=loom_doc");
    }
}
