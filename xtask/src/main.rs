//! The workspace's automation, run as `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks: formatting, clippy per package with
//!   warnings denied, the tests, and the docs with warnings denied.
//! - `conformance [--backend NAME]... [--clause N|NAME]...`: the conformance
//!   suite for every backend, printed as a matrix (clause by backend) and
//!   written to `target/conformance/matrix.{md,json}`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("conformance") => conformance(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            println!("usage: cargo xtask <ci | conformance [--backend NAME]... [--clause N|NAME]... [--list]>");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}; try `cargo xtask help`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's directory.
fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// `cargo`, as the `CARGO` variable names it when cargo runs us.
fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// Runs a step, saying what it does and how long it took.
fn step(what: &str, mut command: Command) -> Result<(), String> {
    println!("==> {what}");
    let started = Instant::now();
    let status = command.status().map_err(|err| format!("{what}: cannot run: {err}"))?;
    if status.success() {
        println!("    ok ({:.1?})", started.elapsed());
        Ok(())
    } else {
        Err(format!("{what}: failed ({status})"))
    }
}

/// The workspace's packages, from each member's manifest.
fn packages() -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).map_err(|e| format!("Cargo.toml: {e}"))?;
    let members = manifest
        .lines()
        .find_map(|line| line.trim().strip_prefix("members = "))
        .ok_or("Cargo.toml: no members list")?;
    for member in members.trim_matches(|c| c == '[' || c == ']').split(',') {
        let member = member.trim().trim_matches('"');
        if member.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(root().join(member).join("Cargo.toml"))
            .map_err(|e| format!("{member}/Cargo.toml: {e}"))?;
        let name = text
            .lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix("name = ")
                    .map(|n| n.trim_matches('"').to_owned())
            })
            .ok_or(format!("{member}/Cargo.toml: no package name"))?;
        names.push(name);
    }
    Ok(names)
}

/// The facade's features, from its manifest (`default` left out).
fn facade_features() -> Result<Vec<String>, String> {
    let manifest = std::fs::read_to_string(root().join("crates/anyflow/Cargo.toml"))
        .map_err(|e| format!("crates/anyflow/Cargo.toml: {e}"))?;
    let mut features = Vec::new();
    let mut in_features = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_features = line == "[features]";
        } else if in_features {
            if let Some((name, _)) = line.split_once('=') {
                let name = name.trim();
                if name != "default" && !name.starts_with('#') {
                    features.push(name.to_owned());
                }
            }
        }
    }
    if features.is_empty() {
        return Err("crates/anyflow/Cargo.toml: no features found".into());
    }
    Ok(features)
}

fn ci() -> Result<(), String> {
    let started = Instant::now();
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    step("cargo fmt --check", fmt)?;

    // Per package, so that feature unification across the workspace cannot
    // hide a crate that does not build alone.
    for package in packages()? {
        let mut clippy = cargo();
        clippy.args([
            "clippy",
            "--quiet",
            "-p",
            &package,
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]);
        step(&format!("cargo clippy -p {package}"), clippy)?;
    }

    let mut test = cargo();
    test.args(["test", "--workspace", "--all-features"]);
    step("cargo test --workspace", test)?;

    // The facade's features are additive: each alone, none, and all build and test.
    for feature in facade_features()? {
        let mut alone = cargo();
        alone.args([
            "test",
            "--quiet",
            "-p",
            "anyflow",
            "--no-default-features",
            "--features",
            &feature,
        ]);
        step(&format!("anyflow with feature {feature} alone"), alone)?;
    }
    let mut none = cargo();
    none.args(["test", "--quiet", "-p", "anyflow", "--no-default-features"]);
    step("anyflow with no feature", none)?;

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps", "--all-features"])
        .env("RUSTDOCFLAGS", "-D warnings");
    step("cargo doc (warnings denied)", doc)?;

    println!("==> ci passed in {:.0?}", started.elapsed());
    Ok(())
}

fn conformance(args: &[String]) -> Result<(), String> {
    let mut run = cargo();
    run.args([
        "run",
        "--quiet",
        "--release",
        "-p",
        "flow-tests",
        "--bin",
        "conformance-matrix",
        "--",
    ])
    .args(args);
    step("conformance suite on every backend", run)
}
