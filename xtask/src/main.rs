//! The workspace's automation, run as `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks: formatting, clippy per package with
//!   warnings denied, the tests, and the docs with warnings denied.
//! - `conformance [--deep] [--backend NAME]... [--clause N|NAME]...`: the
//!   conformance suite for every backend, printed as a matrix (clause by
//!   backend) and written to `target/conformance/matrix.{md,json}`; `--deep`
//!   runs 10,000 model-based cases (clause 24) per backend and variant.
//! - `tidy`: the workspace conventions that keep the crates publishable.
//! - `release <major|minor|patch|X.Y.Z> [--execute]`: see `release.rs`.
//! - `deny`: `cargo deny check licenses bans sources`, installing cargo-deny
//!   when missing; `deny advisories` for the advisory database (network).

mod metadata;
mod release;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const USAGE: &str = "usage: cargo xtask <command>
  ci [--only STEP,...]     fmt, clippy (per package), test, third-party, features (of the facade), doc, deny, tidy, bench
  conformance [--deep] [--backend NAME]... [--clause N|NAME]... [--list]
                           the conformance matrix, also in target/conformance/;
                           --deep: 10,000 model cases per backend and variant
  bench [--quick] [--only GROUP] [--rounds N] [--update-docs]
                           every backend against the raw runtime, as ratios
  tidy                     workspace conventions
  deny [advisories]        cargo deny check licenses bans sources (or advisories)
  release <major|minor|patch|X.Y.Z> [--execute] [--no-publish] [--no-verify] [--branch NAME]
                           a dry run unless --execute";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(&root, &args[1..]),
        Some("conformance") => conformance(&root, &args[1..]),
        Some("tidy") => tidy_command(&root),
        Some("deny") => deny(&root, args.get(1).map(String::as_str)),
        Some("release") => release::release(&root, &args[1..]),
        Some("bench") => bench(&root, &args[1..]),
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
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

/// The workspace root: the nearest directory up from the current one whose
/// Cargo.toml has a `[workspace]`, else the parent of this crate.
fn root() -> PathBuf {
    if let Ok(mut dir) = std::env::current_dir() {
        loop {
            let manifest = dir.join("Cargo.toml");
            if std::fs::read_to_string(&manifest).is_ok_and(|m| m.lines().any(|l| l.trim() == "[workspace]")) {
                return dir;
            }
            if !dir.pop() {
                break;
            }
        }
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// `cargo`, as the `CARGO` variable names it when cargo runs us, in `root`.
fn cargo(root: &Path) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root);
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

/// The facade's features, from its manifest (`default` left out).
fn facade_features(root: &Path) -> Result<Vec<String>, String> {
    let manifest = std::fs::read_to_string(root.join("crates/anyflow/Cargo.toml"))
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

/// The steps of `cargo xtask ci`, in order.
const CI_STEPS: &[&str] = &[
    "fmt",
    "clippy",
    "test",
    "third-party",
    "features",
    "doc",
    "deny",
    "tidy",
    "bench",
];

/// The backend written outside the workspace, as a third party writes one
/// (its own `[workspace]`, the flow crates by path): it must build, pass
/// clippy and pass the suite exactly as the README says to run it.
const THIRD_PARTY: &str = "tests/third-party-backend/Cargo.toml";

/// `cargo xtask ci [--only STEP,...]`: every step, or the ones named.
fn ci(root: &Path, args: &[String]) -> Result<(), String> {
    let only: Vec<String> = match args {
        [] => CI_STEPS.iter().map(|s| (*s).to_owned()).collect(),
        [flag, steps] if flag == "--only" => steps.split(',').map(str::to_owned).collect(),
        _ => {
            return Err(format!(
                "usage: cargo xtask ci [--only STEP,...] with steps {}",
                CI_STEPS.join(", ")
            ));
        }
    };
    if let Some(unknown) = only.iter().find(|s| !CI_STEPS.contains(&s.as_str())) {
        return Err(format!(
            "ci: unknown step {unknown:?}; steps are {}",
            CI_STEPS.join(", ")
        ));
    }
    let started = Instant::now();
    for name in CI_STEPS.iter().filter(|s| only.iter().any(|o| o == *s)) {
        match *name {
            "fmt" => {
                let mut fmt = cargo(root);
                fmt.args(["fmt", "--all", "--", "--check"]);
                step("cargo fmt --check", fmt)?;
            }
            "clippy" => {
                // Per package, so that feature unification across the workspace
                // cannot hide a crate that does not build alone.
                for package in metadata::workspace(root)?.iter().map(|p| &p.name) {
                    let mut clippy = cargo(root);
                    clippy.args(["clippy", "--quiet", "-p", package, "--all-targets", "--all-features"]);
                    clippy.args(["--", "-D", "warnings"]);
                    step(&format!("cargo clippy -p {package}"), clippy)?;
                }
            }
            "test" => {
                ensure_system_tools(TEST_TOOLS)?;
                let mut test = cargo(root);
                test.args(["test", "--workspace", "--all-features"]);
                step("cargo test --workspace", test)?;
            }
            "third-party" => {
                let manifest = root.join(THIRD_PARTY);
                let manifest = manifest.to_string_lossy();
                let target = root.join("target/third-party");
                let target = target.to_string_lossy();
                let mut fmt = cargo(root);
                fmt.args(["fmt", "--manifest-path", &manifest, "--", "--check"]);
                step("third-party backend: cargo fmt --check", fmt)?;
                let mut clippy = cargo(root);
                clippy.args([
                    "clippy",
                    "--quiet",
                    "--locked",
                    "--all-targets",
                    "--manifest-path",
                    &manifest,
                ]);
                clippy.args(["--target-dir", &target, "--", "-D", "warnings"]);
                step("third-party backend: cargo clippy", clippy)?;
                let mut test = cargo(root);
                test.args([
                    "test",
                    "--locked",
                    "--manifest-path",
                    &manifest,
                    "--target-dir",
                    &target,
                ]);
                step("third-party backend: the suite, as the README says", test)?;
            }
            "features" => {
                // The facade's features are additive: each alone, and none, build and test
                // (all together is the workspace test above).
                for feature in facade_features(root)? {
                    let mut alone = cargo(root);
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
                let mut none = cargo(root);
                none.args(["test", "--quiet", "-p", "anyflow", "--no-default-features"]);
                step("anyflow with no feature", none)?;
                // flow-tls without a crypto provider, and with ring alone.
                for features in [None, Some("ring")] {
                    let mut tls = cargo(root);
                    tls.args(["clippy", "--quiet", "-p", "flow-tls", "--no-default-features"]);
                    if let Some(features) = features {
                        tls.args(["--features", features]);
                    }
                    tls.args(["--", "-D", "warnings"]);
                    step(&format!("flow-tls with features {features:?} only"), tls)?;
                }
            }
            "doc" => {
                let mut doc = cargo(root);
                doc.args(["doc", "--workspace", "--no-deps", "--all-features"])
                    .env("RUSTDOCFLAGS", "-D warnings");
                step("cargo doc (warnings denied)", doc)?;
            }
            "deny" => deny(root, None)?,
            "tidy" => tidy_command(root)?,
            _ => bench(root, &["--quick".to_owned()])?,
        }
    }
    println!("==> ci passed ({}) in {:.0?}", only.join(", "), started.elapsed());
    Ok(())
}

/// Model-based cases per backend and variant under `--deep`.
const DEEP_MODEL_CASES: &str = "10000";

fn conformance(root: &Path, args: &[String]) -> Result<(), String> {
    let deep = args.iter().any(|a| a == "--deep");
    let args: Vec<&String> = args.iter().filter(|a| *a != "--deep").collect();
    let mut run = cargo(root);
    if deep {
        run.env("FLOW_CONFORMANCE_MODEL_CASES", DEEP_MODEL_CASES);
    }
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

fn tidy_command(root: &Path) -> Result<(), String> {
    println!("==> tidy");
    let problems = tidy::check(&metadata::workspace(root)?);
    if problems.is_empty() {
        println!("    ok");
        Ok(())
    } else {
        Err(format!(
            "tidy found {} problems:\n  {}",
            problems.len(),
            problems.join("\n  ")
        ))
    }
}

/// Installs `tool` from crates.io with `cargo install --locked` unless
/// `tool --version` already works.
fn ensure_cargo_tool(root: &Path, tool: &str, krate: &str) -> Result<(), String> {
    let present = cargo(root)
        .args([tool.trim_start_matches("cargo-"), "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    let mut install = cargo(root);
    install.args(["install", "--locked", krate]);
    step(&format!("installing {krate} (missing)"), install)
}

/// Programs the tests run as peers nobody here wrote: `(program, an
/// argument that only prints its version, Debian package)`. OpenSSL's
/// `s_server` and `s_client` for TLS interoperability, curl for the HTTP
/// examples.
const TEST_TOOLS: &[(&str, &str, &str)] = &[("openssl", "version", "openssl"), ("curl", "--version", "curl")];

/// Installs the Debian packages of the programs in `tools` that are not on
/// the `PATH`, with apt-get (CI runs as root on a fresh machine).
fn ensure_system_tools(tools: &[(&str, &str, &str)]) -> Result<(), String> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(program, version, _)| {
            !Command::new(program)
                .arg(version)
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|(_, _, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut update = Command::new("apt-get");
    update.arg("update").arg("-qq");
    step("apt-get update (for the tests' system tools)", update)?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive");
    step(&format!("installing {} (missing)", missing.join(", ")), install)
}

fn deny(root: &Path, what: Option<&str>) -> Result<(), String> {
    ensure_cargo_tool(root, "cargo-deny", "cargo-deny")?;
    let mut check = cargo(root);
    match what {
        None => {
            check.args(["deny", "--all-features", "check", "licenses", "bans", "sources"]);
            step("cargo deny check licenses bans sources", check)
        }
        Some("advisories") => {
            check.args(["deny", "check", "advisories"]);
            step("cargo deny check advisories (fetches the advisory database)", check)
        }
        Some(other) => Err(format!(
            "deny: unknown check {other:?}; try `cargo xtask deny` or `cargo xtask deny advisories`"
        )),
    }
}

/// Markers around the generated part of docs/performance.md.
const BENCH_START: &str = "<!-- bench:start -->";
const BENCH_END: &str = "<!-- bench:end -->";

fn bench(root: &Path, args: &[String]) -> Result<(), String> {
    let update_docs = args.iter().any(|a| a == "--update-docs");
    let passthrough: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--update-docs")
        .collect();
    if !args.iter().any(|a| a == "--quick") {
        // The loopback reference row needs iperf3; the rest runs without it.
        if let Err(err) = ensure_system_tools(&[("iperf3", "--version", "iperf3")]) {
            println!("    iperf3 is missing and could not be installed ({err}): its row is left out");
        }
    }
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("bench: {e}"))?;
    let table = out_dir.join("results.md");
    let mut run = cargo(root);
    run.args(["run", "--quiet", "--release", "-p", "flow-bench", "--"])
        .args(&passthrough);
    run.arg("--markdown").arg(&table);
    step("benchmarks, side by side", run)?;
    if !update_docs {
        return Ok(());
    }
    let results = std::fs::read_to_string(&table).map_err(|e| format!("bench: {}: {e}", table.display()))?;
    let doc_path = root.join("docs/performance.md");
    let doc = std::fs::read_to_string(&doc_path).map_err(|e| format!("bench: docs/performance.md: {e}"))?;
    let (Some(start), Some(end)) = (doc.find(BENCH_START), doc.find(BENCH_END)) else {
        return Err(format!(
            "bench: docs/performance.md has no {BENCH_START} ... {BENCH_END} markers"
        ));
    };
    let generated = format!("{BENCH_START}\n{}\n{}\n", machine(root), results.trim_end());
    let updated = format!("{}{generated}{}", &doc[..start], &doc[end..]);
    std::fs::write(&doc_path, updated).map_err(|e| format!("bench: docs/performance.md: {e}"))?;
    println!("    updated docs/performance.md");
    Ok(())
}

/// What the benchmarks ran on, for the record.
fn machine(root: &Path) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".into(), |k| k.trim().to_owned());
    let rustc = Command::new("rustc")
        .current_dir(root)
        .arg("--version")
        .output()
        .map_or_else(
            |_| "unknown rustc".into(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    format!("Machine: {cpu}, {cores} cores, Linux {kernel}; {rustc}; release build.\n")
}
