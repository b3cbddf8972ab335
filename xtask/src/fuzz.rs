//! `cargo xtask fuzz [--seconds N] [TARGET]`: the fuzz targets in `fuzz/`
//! (see docs/reliability.md), each for a fixed time, with cargo-fuzz on
//! the nightly toolchain, installing cargo-fuzz when it is missing.
//!
//! Each target starts from its committed seeds (`fuzz/corpus/TARGET/`,
//! read only) and a working corpus that grows from run to run
//! (`target/fuzz/corpus/TARGET/`, not committed). A crash is written to
//! `fuzz/artifacts/TARGET/` (git-ignored); the command then fails, naming
//! the artifact and how to replay it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use lexopt::{Arg, Parser};

use crate::{next, step, unexpected, value};

/// Every fuzz target, in the order they run.
pub(crate) const TARGETS: &[&str] = &["tls_client", "tls_server", "buf_flow", "engine", "mem_model"];

/// Seconds per target unless `--seconds` says otherwise.
pub(crate) const DEFAULT_SECONDS: u64 = 30;

/// Seconds per target in `cargo xtask ci`: with the build, every target
/// together stays within about four minutes.
pub(crate) const CI_SECONDS: u64 = 15;

/// Seconds one input may take before libFuzzer reports it as a hang.
const INPUT_TIMEOUT: u64 = 30;

/// `cargo xtask fuzz`'s options.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Options {
    /// Seconds per target; [`DEFAULT_SECONDS`] when `None`.
    pub(crate) seconds: Option<u64>,
    /// The target to run; every one when `None`.
    pub(crate) target: Option<String>,
}

/// Parses `cargo xtask fuzz`'s arguments (after `fuzz`).
pub(crate) fn parse(args: &mut Parser) -> Result<Options, String> {
    let mut options = Options::default();
    while let Some(arg) = next(args, "fuzz")? {
        match arg {
            Arg::Long("seconds") => {
                let seconds = value(args, "--seconds", "a number")?;
                match seconds.parse() {
                    Ok(n) if n > 0 => options.seconds = Some(n),
                    _ => return Err(format!("--seconds needs a number, at least 1, not {seconds:?}")),
                }
            }
            Arg::Value(target) if options.target.is_none() => {
                let target = target.to_string_lossy().into_owned();
                if !TARGETS.contains(&target.as_str()) {
                    return Err(format!(
                        "fuzz: unknown target {target:?}; targets are {}",
                        TARGETS.join(", ")
                    ));
                }
                options.target = Some(target);
            }
            other => return Err(unexpected("fuzz", &other)),
        }
    }
    Ok(options)
}

/// `cargo +nightly`, from the root: cargo-fuzz needs nightly's sanitizer
/// flags. The `cargo` on the `PATH` (rustup's proxy), not the one that
/// runs xtask, which is a stable toolchain's own binary.
pub(crate) fn nightly(root: &Path) -> Command {
    let mut command = Command::new("cargo");
    command.current_dir(root).arg("+nightly");
    // Set by the cargo that runs xtask; it would pin the toolchain.
    command.env_remove("RUSTUP_TOOLCHAIN");
    command
}

/// The crash, hang or out-of-memory inputs libFuzzer wrote for `target`
/// since `since`, newest last.
fn artifacts_since(root: &Path, target: &str, since: SystemTime) -> Vec<PathBuf> {
    let dir = root.join("fuzz/artifacts").join(target);
    let mut found: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let modified = entry.metadata().ok()?.modified().ok()?;
            (modified >= since).then(|| (modified, entry.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, path)| path).collect()
}

/// The line that says how to replay `artifact` of `target`.
pub(crate) fn replay_hint(root: &Path, target: &str, artifact: &Path) -> String {
    let shown = artifact.strip_prefix(root).unwrap_or(artifact);
    format!(
        "{target}: found {}\n    replay it with: cargo +nightly fuzz run {target} {}",
        shown.display(),
        shown.display()
    )
}

/// Runs the targets `options` names, each for its time; fails when any
/// finds a crash (all run first), naming the artifacts.
pub(crate) fn fuzz(root: &Path, options: &Options) -> Result<(), String> {
    crate::ensure_cargo_tool(root, "cargo-fuzz", "cargo-fuzz")?;
    let seconds = options.seconds.unwrap_or(DEFAULT_SECONDS);
    let targets: Vec<&str> = match &options.target {
        Some(target) => vec![target.as_str()],
        None => TARGETS.to_vec(),
    };
    let mut build = nightly(root);
    build.args(["fuzz", "build", "--fuzz-dir", "fuzz"]);
    if let [target] = targets[..] {
        build.arg(target);
    }
    step("cargo +nightly fuzz build", build)?;
    let mut found = Vec::new();
    for target in targets {
        let corpus = root.join("target/fuzz/corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("fuzz: {}: {e}", corpus.display()))?;
        let seeds = root.join("fuzz/corpus").join(target);
        let started = SystemTime::now();
        let mut run = nightly(root);
        run.args(["fuzz", "run", "--fuzz-dir", "fuzz", target])
            .arg(&corpus)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-timeout={INPUT_TIMEOUT}"))
            .arg("-print_final_stats=1");
        if let Err(err) = step(&format!("fuzz {target} for {seconds} s"), run) {
            let artifacts = artifacts_since(root, target, started);
            if artifacts.is_empty() {
                found.push(format!("{target}: {err} (no artifact was written)"));
            }
            found.extend(artifacts.iter().map(|artifact| replay_hint(root, target, artifact)));
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzzing found {} problems:\n  {}",
            found.len(),
            found.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Options, String> {
        parse(&mut Parser::from_args(args))
    }

    #[test]
    fn options_parse() {
        assert_eq!(parsed(&[]), Ok(Options::default()));
        assert_eq!(
            parsed(&["--seconds", "5", "engine"]),
            Ok(Options {
                seconds: Some(5),
                target: Some("engine".into()),
            })
        );
        assert_eq!(
            parsed(&["mem_model", "--seconds=300"]),
            Ok(Options {
                seconds: Some(300),
                target: Some("mem_model".into()),
            })
        );
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&[&str], &str)] = &[
            (&["--seconds"], "--seconds needs a number"),
            (&["--seconds", "0"], "--seconds needs a number, at least 1, not \"0\""),
            (
                &["--seconds", "soon"],
                "--seconds needs a number, at least 1, not \"soon\"",
            ),
            (
                &["tls"],
                "fuzz: unknown target \"tls\"; targets are tls_client, tls_server",
            ),
            (
                &["engine", "buf_flow"],
                "unexpected argument \"buf_flow\" for `cargo xtask fuzz`",
            ),
            (&["--runs", "3"], "unknown option --runs for `cargo xtask fuzz`"),
        ];
        for (args, expected) in cases {
            let got = parsed(args).err().unwrap_or_default();
            assert!(got.starts_with(expected), "{args:?}: {got:?}");
        }
    }

    #[test]
    fn every_target_has_a_manifest_entry_and_seeds() -> Result<(), String> {
        let root = crate::root();
        let manifest = std::fs::read_to_string(root.join("fuzz/Cargo.toml")).map_err(|e| e.to_string())?;
        for target in TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "{target} is not in fuzz/Cargo.toml"
            );
            let seeds = std::fs::read_dir(root.join("fuzz/corpus").join(target)).map_err(|e| e.to_string())?;
            assert!(seeds.count() > 0, "{target} has no seeds in fuzz/corpus/");
        }
        Ok(())
    }

    #[test]
    fn a_crash_names_its_replay() {
        let root = Path::new("/repo");
        let hint = replay_hint(root, "engine", &root.join("fuzz/artifacts/engine/crash-abc"));
        assert_eq!(
            hint,
            "engine: found fuzz/artifacts/engine/crash-abc\n    \
             replay it with: cargo +nightly fuzz run engine fuzz/artifacts/engine/crash-abc"
        );
    }
}
