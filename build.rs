//! `RUSTFLAGS="--cfg loom" cargo test` (or `--cfg shuttle`) builds the
//! library on a model checker's primitives but runs its doc examples
//! outside any model, where those primitives panic. rustdoc never sees
//! RUSTFLAGS, so this script tells it (`checker_build`), and the crate then
//! shows rustdoc no examples to collect. Plain `cargo test` runs every
//! example for real.

fn main() {
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    println!("cargo:rustc-check-cfg=cfg(checker_build)");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let flags: Vec<&str> = flags.split('\x1f').collect();
    let checker = ["loom", "shuttle"].iter().any(|cfg| {
        flags.contains(&format!("--cfg={cfg}").as_str())
            || flags.windows(2).any(|w| w[0] == "--cfg" && w[1] == *cfg)
    });
    if checker {
        println!("cargo:rustc-cfg=checker_build");
    }
}
