//! `cargo xtask loom [--deep]`: the loom models of the locks and atomics
//! that coordinate tasks (see docs/reliability.md), built with
//! `RUSTFLAGS="--cfg loom"` in a target directory of their own, so that
//! they do not invalidate the normal build.

use std::path::{Path, PathBuf};

use lexopt::{Arg, Parser};

use crate::{cargo, next, step, unexpected};

/// The models: `(package, test target, what it checks)`.
const MODELS: &[(&str, &str, &str)] = &[
    (
        "flow-api",
        "loom_split",
        "the generic split's lock and the write half's close",
    ),
    ("flow-mem", "loom_pair", "the in-memory pair's lock and waker hand-off"),
    (
        "flow-socket",
        "loom_split",
        "the split halves' link and the write half's close",
    ),
    ("flow-loom", "loom_tls", "the TLS flow's waker fan-out"),
];

/// The preemption bound of a run, unless `LOOM_MAX_PREEMPTIONS` is set:
/// the default takes under a minute here, `--deep` a few.
const PREEMPTIONS: &str = "3";
const DEEP_PREEMPTIONS: &str = "6";

/// Parses `cargo xtask loom`'s arguments: whether `--deep` was given.
pub(crate) fn parse(args: &mut Parser) -> Result<bool, String> {
    let mut deep = false;
    while let Some(arg) = next(args, "loom")? {
        match arg {
            Arg::Long("deep") => deep = true,
            other => return Err(unexpected("loom", &other)),
        }
    }
    Ok(deep)
}

/// Where the loom build goes: beside the normal one, apart from it.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("loom")
}

/// `RUSTFLAGS` with `--cfg loom` added to what the caller set.
fn rustflags() -> String {
    match std::env::var("RUSTFLAGS") {
        Ok(flags) if !flags.trim().is_empty() => format!("{} --cfg loom", flags.trim()),
        _ => "--cfg loom".to_owned(),
    }
}

/// Runs every model, in release mode (loom explores thousands of
/// interleavings per model).
pub(crate) fn run(root: &Path, deep: bool) -> Result<(), String> {
    let preemptions = std::env::var("LOOM_MAX_PREEMPTIONS")
        .unwrap_or_else(|_| if deep { DEEP_PREEMPTIONS } else { PREEMPTIONS }.to_owned());
    let target = target_dir(root);
    for (package, test, what) in MODELS {
        let mut models = cargo(root);
        models
            .args([
                "test",
                "--quiet",
                "--release",
                "-p",
                package,
                "--test",
                test,
                "--target-dir",
            ])
            .arg(&target)
            .env("RUSTFLAGS", rustflags())
            .env("LOOM_MAX_PREEMPTIONS", &preemptions);
        step(
            &format!("loom: {what} ({package} {test}, {preemptions} preemptions)"),
            models,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_is_a_loom_test_file() {
        let root = crate::root();
        for (package, test, _) in MODELS {
            let file = root
                .join("crates")
                .join(package)
                .join("tests")
                .join(format!("{test}.rs"));
            let source = std::fs::read_to_string(&file).unwrap_or_default();
            assert!(
                source.contains("#![cfg(loom)]"),
                "{}: missing, or not behind #![cfg(loom)]",
                file.display()
            );
        }
    }
}
