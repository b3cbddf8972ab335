//! `cargo xtask leaks`: test binaries under LeakSanitizer (nightly's
//! `-Zsanitizer=leak`), in a target directory of their own. A leak fails
//! the test binary with LeakSanitizer's report (what leaked, allocated
//! where). See docs/reliability.md.

use std::path::{Path, PathBuf};

use crate::fuzz::nightly;
use crate::step;

/// What runs under the sanitizer: `(package, cargo test arguments, why)`.
/// The memory pair and its fault injector, TLS (its own tests, over memory
/// and tokio), and one runtime backend's whole suite over real sockets
/// (flows dropped with data in flight, listeners, split halves).
const RUNS: &[(&str, &[&str], &str)] = &[
    (
        "flow-mem",
        &["--tests"],
        "the memory pair and the fault injector, through the suite",
    ),
    ("flow-tls", &["--lib", "--test", "tls"], "TLS over memory and tokio TCP"),
    (
        "flow-tokio",
        &["--tests"],
        "the suite over tokio TCP and Unix sockets, and split halves",
    ),
];

/// The host's target triple: the sanitizer needs `--target`, so that it
/// applies to the tests and not to build scripts and proc macros.
fn host() -> Result<String, String> {
    let out = std::process::Command::new("rustc")
        .args(["+nightly", "-vV"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .map_err(|e| format!("leaks: cannot run rustc +nightly -vV: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "leaks: rustc +nightly -vV gave no host line (is the nightly toolchain installed? \
                 `rustup toolchain install nightly`): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })
}

/// Where the sanitized build goes.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("lsan")
}

/// Runs every entry of [`RUNS`] under LeakSanitizer.
pub(crate) fn run(root: &Path) -> Result<(), String> {
    let host = host()?;
    if !(host.starts_with("x86_64-") || host.starts_with("aarch64-")) || !host.contains("linux") {
        return Err(format!(
            "leaks: LeakSanitizer needs x86_64 or aarch64 Linux, not {host}"
        ));
    }
    let target = target_dir(root);
    for (package, args, what) in RUNS {
        let mut test = nightly(root);
        test.args(["test", "--quiet", "-p", package, "--target", &host, "--target-dir"])
            .arg(&target)
            .args(*args)
            .env("RUSTFLAGS", "-Zsanitizer=leak");
        step(&format!("leaks: {what} ({package}, LeakSanitizer)"), test)?;
    }
    Ok(())
}
