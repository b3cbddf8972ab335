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
//! - `loom [--deep]`: the loom models of the locks and atomics that
//!   coordinate tasks; see `loom.rs`.
//! - `fuzz [--seconds N] [TARGET]`: the fuzz targets in `fuzz/`, each for a
//!   fixed time, with cargo-fuzz on nightly; see `fuzz.rs`.
//! - `leaks`: test binaries under LeakSanitizer (nightly); see `leaks.rs`.
//! - `peers`: the Python test peers in `target/peers/venv`; see `peers.rs`.
//! - `soak [--minutes N] [--flows N] [--quick] [--seed S]`: the soak under
//!   faults; see `soak.rs`.

mod fuzz;
mod leaks;
mod loom;
mod metadata;
mod peers;
mod release;
mod soak;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use lexopt::{Arg, Parser, ValueExt};

const USAGE: &str = "usage: cargo xtask <command>
  ci [--only STEP,...]     fmt, clippy (per package), test, third-party, features (of the facade), doc, deny, tidy, bench, loom, fuzz, leaks, soak
  conformance [--deep] [--backend NAME]... [--clause N|NAME]... [--list]
                           the conformance matrix, also in target/conformance/;
                           --deep: 10,000 model cases per backend and variant
  bench [--quick] [--only GROUP] [--rounds N] [--update-docs]
                           every backend against the raw runtime, as ratios
  tidy                     workspace conventions
  deny [advisories]        cargo deny check licenses bans sources (or advisories)
  loom [--deep]            the loom models (RUSTFLAGS=\"--cfg loom\"); --deep: 6 preemptions, not 3
  leaks                    flow-mem's, flow-tls's and flow-tokio's tests under LeakSanitizer (nightly)
  fuzz [--seconds N] [TARGET]
                           every fuzz target (or TARGET) for N seconds each (default 30),
                           with cargo-fuzz on nightly; crashes go to fuzz/artifacts/
  peers                    the Python test peers (aioquic, websockets, Hypercorn) in
                           target/peers/venv; prints the FLOW_PYTHON to export
  soak [--minutes N] [--flows N] [--quick] [--seed S]
                           many flows with random traffic and faults, every byte verified;
                           10,000 flows for 10 min by default, --quick: 1,000 for under 1.5 min
  release <major|minor|patch|X.Y.Z> [--execute] [--no-publish] [--no-verify] [--branch NAME]
                           a dry run unless --execute";

fn main() -> ExitCode {
    let root = root();
    let result = parse(Parser::from_env()).and_then(|task| match task {
        Task::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Task::Ci { only } => ci(&root, &only),
        Task::Conformance(options) => conformance(&root, &options),
        Task::Bench(options) => bench(&root, &options),
        Task::Tidy => tidy_command(&root),
        Task::Deny { advisories } => deny(&root, advisories),
        Task::Loom { deep } => loom::run(&root, deep),
        Task::Fuzz(options) => fuzz::fuzz(&root, &options),
        Task::Leaks => leaks::run(&root),
        Task::Peers => peers::ensure(&root).map(|python| {
            println!("export {}={}", peers::PYTHON_VAR, python.display());
        }),
        Task::Soak(options) => soak::run(&root, &options),
        Task::Release(options) => release::release(&root, &options),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A command with its options, as parsed from the command line.
#[derive(Debug, PartialEq)]
enum Task {
    Help,
    /// The CI steps to run, all when none is named; they run in `CI_STEPS` order.
    Ci {
        only: Vec<String>,
    },
    Conformance(ConformanceOptions),
    Bench(BenchOptions),
    Tidy,
    Deny {
        advisories: bool,
    },
    /// `--deep`: a higher preemption bound.
    Loom {
        deep: bool,
    },
    Fuzz(fuzz::Options),
    /// The tests under LeakSanitizer.
    Leaks,
    /// The Python test peers.
    Peers,
    Release(release::Options),
    Soak(soak::Options),
}

/// `cargo xtask conformance`'s options.
#[derive(Debug, Default, PartialEq)]
struct ConformanceOptions {
    deep: bool,
    /// Passed on to conformance-matrix, which knows the backends and clauses.
    backends: Vec<String>,
    clauses: Vec<String>,
    list: bool,
}

/// `cargo xtask bench`'s options.
#[derive(Debug, Default, PartialEq)]
struct BenchOptions {
    quick: bool,
    only: Option<String>,
    rounds: Option<usize>,
    update_docs: bool,
}

/// Parses `cargo xtask`'s arguments (the program name already taken).
fn parse(mut args: Parser) -> Result<Task, String> {
    let command = match args.next().map_err(|e| e.to_string())? {
        None | Some(Arg::Long("help") | Arg::Short('h')) => return Ok(Task::Help),
        Some(Arg::Value(command)) => command.string().map_err(|e| e.to_string())?,
        Some(other) => return Err(format!("unknown option {}; try `cargo xtask help`", shown(&other))),
    };
    let args = &mut args;
    let task = match command.as_str() {
        "help" => Task::Help,
        "ci" => {
            let mut only = Vec::new();
            while let Some(arg) = next(args, "ci")? {
                match arg {
                    Arg::Long("only") => {
                        only.extend(value(args, "--only", "a list of steps")?.split(',').map(str::to_owned))
                    }
                    other => return Err(unexpected("ci", &other)),
                }
            }
            if let Some(unknown) = only.iter().find(|s| !CI_STEPS.contains(&s.as_str())) {
                return Err(format!(
                    "ci: unknown step {unknown:?}; steps are {}",
                    CI_STEPS.join(", ")
                ));
            }
            Task::Ci { only }
        }
        "conformance" => {
            let mut options = ConformanceOptions::default();
            while let Some(arg) = next(args, "conformance")? {
                match arg {
                    Arg::Long("deep") => options.deep = true,
                    Arg::Long("list") => options.list = true,
                    Arg::Long("backend") => options.backends.push(value(args, "--backend", "a name")?),
                    Arg::Long("clause") => options.clauses.push(value(args, "--clause", "a number or a name")?),
                    other => return Err(unexpected("conformance", &other)),
                }
            }
            Task::Conformance(options)
        }
        "bench" => {
            let mut options = BenchOptions::default();
            while let Some(arg) = next(args, "bench")? {
                match arg {
                    Arg::Long("quick") => options.quick = true,
                    Arg::Long("update-docs") => options.update_docs = true,
                    Arg::Long("only") => options.only = Some(value(args, "--only", "a group")?),
                    Arg::Long("rounds") => {
                        let rounds = value(args, "--rounds", "a number")?;
                        match rounds.parse() {
                            Ok(n) if n > 0 => options.rounds = Some(n),
                            _ => return Err(format!("--rounds needs a number, at least 1, not {rounds:?}")),
                        }
                    }
                    other => return Err(unexpected("bench", &other)),
                }
            }
            Task::Bench(options)
        }
        "tidy" => {
            if let Some(arg) = next(args, "tidy")? {
                return Err(unexpected("tidy", &arg));
            }
            Task::Tidy
        }
        "deny" => {
            let mut advisories = false;
            while let Some(arg) = next(args, "deny")? {
                match arg {
                    Arg::Value(check) if check == "advisories" && !advisories => advisories = true,
                    Arg::Value(check) => {
                        return Err(format!(
                            "deny: unknown check {:?}; try `cargo xtask deny` or `cargo xtask deny advisories`",
                            check.to_string_lossy()
                        ));
                    }
                    other => return Err(unexpected("deny", &other)),
                }
            }
            Task::Deny { advisories }
        }
        "loom" => Task::Loom {
            deep: loom::parse(args)?,
        },
        "fuzz" => Task::Fuzz(fuzz::parse(args)?),
        "leaks" => {
            if let Some(arg) = next(args, "leaks")? {
                return Err(unexpected("leaks", &arg));
            }
            Task::Leaks
        }
        "peers" => {
            if let Some(arg) = next(args, "peers")? {
                return Err(unexpected("peers", &arg));
            }
            Task::Peers
        }
        "release" => Task::Release(release::parse(args)?),
        "soak" => Task::Soak(soak::parse(args)?),
        other => return Err(format!("unknown command {other:?}; try `cargo xtask help`")),
    };
    Ok(task)
}

/// How an argument looked on the command line.
fn shown(arg: &Arg<'_>) -> String {
    match arg {
        Arg::Short(c) => format!("-{c}"),
        Arg::Long(name) => format!("--{name}"),
        Arg::Value(value) => format!("{:?}", value.to_string_lossy()),
    }
}

/// The next argument of `cargo xtask {command}`.
fn next<'a>(args: &'a mut Parser, command: &str) -> Result<Option<Arg<'a>>, String> {
    // lexopt's own errors: a value given to a flag (`--quick=yes`), say.
    args.next().map_err(|e| format!("cargo xtask {command}: {e}"))
}

/// The error for an argument that `cargo xtask {command}` does not take.
fn unexpected(command: &str, arg: &Arg<'_>) -> String {
    let what = if matches!(arg, Arg::Value(_)) {
        "unexpected argument"
    } else {
        "unknown option"
    };
    format!(
        "{what} {} for `cargo xtask {command}`; try `cargo xtask help`",
        shown(arg)
    )
}

/// The value of `option`, which needs `what`: "--branch needs a name".
fn value(args: &mut Parser, option: &str, what: &str) -> Result<String, String> {
    args.value()
        .ok()
        .and_then(|v| v.into_string().ok())
        .ok_or_else(|| format!("{option} needs {what}"))
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
    let manifest: toml_edit::DocumentMut = manifest
        .parse()
        .map_err(|e| format!("crates/anyflow/Cargo.toml: {e}"))?;
    let features: Vec<String> = manifest
        .get("features")
        .and_then(toml_edit::Item::as_table_like)
        .into_iter()
        .flat_map(|features| features.iter())
        .map(|(name, _)| name.to_owned())
        .filter(|name| name != "default")
        .collect();
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
    "loom",
    "fuzz",
    "leaks",
    "soak",
];

/// The backend written outside the workspace, as a third party writes one
/// (its own `[workspace]`, the flow crates by path): it must build, pass
/// clippy and pass the suite exactly as the README says to run it.
const THIRD_PARTY: &str = "tests/third-party-backend/Cargo.toml";

/// `cargo xtask ci [--only STEP,...]`: every step, or the ones named (none named: all).
fn ci(root: &Path, only: &[String]) -> Result<(), String> {
    let only: Vec<&str> = if only.is_empty() {
        CI_STEPS.to_vec()
    } else {
        only.iter().map(String::as_str).collect()
    };
    let started = Instant::now();
    for name in CI_STEPS.iter().filter(|s| only.contains(s)) {
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
                let python = peers::ensure(root)?;
                let mut test = cargo(root);
                test.args(["test", "--workspace", "--all-features"])
                    .env(peers::PYTHON_VAR, python);
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
            "deny" => deny(root, false)?,
            "tidy" => tidy_command(root)?,
            "loom" => loom::run(root, false)?,
            "leaks" => leaks::run(root)?,
            "fuzz" => fuzz::fuzz(
                root,
                &fuzz::Options {
                    seconds: Some(fuzz::CI_SECONDS),
                    target: None,
                },
            )?,
            "soak" => soak::run(
                root,
                &soak::Options {
                    quick: true,
                    ..soak::Options::default()
                },
            )?,
            _ => bench(
                root,
                &BenchOptions {
                    quick: true,
                    ..BenchOptions::default()
                },
            )?,
        }
    }
    println!("==> ci passed ({}) in {:.0?}", only.join(", "), started.elapsed());
    Ok(())
}

/// Model-based cases per backend and variant under `--deep`.
const DEEP_MODEL_CASES: &str = "10000";

fn conformance(root: &Path, options: &ConformanceOptions) -> Result<(), String> {
    let mut run = cargo(root);
    if options.deep {
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
    ]);
    for backend in &options.backends {
        run.args(["--backend", backend]);
    }
    for clause in &options.clauses {
        run.args(["--clause", clause]);
    }
    if options.list {
        run.arg("--list");
    }
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
    apt_install(&missing)
}

/// Installs Debian packages with apt-get (CI runs as root on a fresh machine).
fn apt_install(packages: &[&str]) -> Result<(), String> {
    if packages.is_empty() {
        return Ok(());
    }
    let mut update = Command::new("apt-get");
    update.arg("update").arg("-qq");
    step("apt-get update (for the tests' system tools)", update)?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    step(&format!("installing {} (missing)", packages.join(", ")), install)
}

fn deny(root: &Path, advisories: bool) -> Result<(), String> {
    ensure_cargo_tool(root, "cargo-deny", "cargo-deny")?;
    let mut check = cargo(root);
    if advisories {
        check.args(["deny", "check", "advisories"]);
        step("cargo deny check advisories (fetches the advisory database)", check)
    } else {
        check.args(["deny", "--all-features", "check", "licenses", "bans", "sources"]);
        step("cargo deny check licenses bans sources", check)
    }
}

/// Markers around the generated part of docs/performance.md.
const BENCH_START: &str = "<!-- bench:start -->";
const BENCH_END: &str = "<!-- bench:end -->";

fn bench(root: &Path, options: &BenchOptions) -> Result<(), String> {
    // The instruction rows run their workloads under callgrind.
    if let Err(err) = ensure_system_tools(&[("valgrind", "--version", "valgrind")]) {
        println!("    valgrind is missing and could not be installed ({err}): the instruction rows are left out");
    }
    if !options.quick {
        // The loopback reference row needs iperf3; the rest runs without it.
        if let Err(err) = ensure_system_tools(&[("iperf3", "--version", "iperf3")]) {
            println!("    iperf3 is missing and could not be installed ({err}): its row is left out");
        }
    }
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("bench: {e}"))?;
    let table = out_dir.join("results.md");
    let mut run = cargo(root);
    run.args(["run", "--quiet", "--release", "-p", "flow-bench", "--"]);
    if options.quick {
        run.arg("--quick");
    }
    if let Some(only) = &options.only {
        run.args(["--only", only]);
    }
    if let Some(rounds) = options.rounds {
        run.args(["--rounds", &rounds.to_string()]);
    }
    run.arg("--markdown").arg(&table);
    step("benchmarks, side by side", run)?;
    if !options.update_docs {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Task, String> {
        parse(Parser::from_args(args))
    }

    fn error(args: &[&str]) -> String {
        parsed(args).err().unwrap_or_default()
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parsed(&[]), Ok(Task::Help));
        assert_eq!(parsed(&["--help"]), Ok(Task::Help));
        assert_eq!(parsed(&["ci"]), Ok(Task::Ci { only: Vec::new() }));
        assert_eq!(
            parsed(&["ci", "--only", "fmt,tidy", "--only=doc"]),
            Ok(Task::Ci {
                only: vec!["fmt".into(), "tidy".into(), "doc".into()]
            })
        );
        assert_eq!(
            parsed(&[
                "conformance",
                "--deep",
                "--backend",
                "mem",
                "--clause=3",
                "--backend",
                "smol-tcp"
            ]),
            Ok(Task::Conformance(ConformanceOptions {
                deep: true,
                backends: vec!["mem".into(), "smol-tcp".into()],
                clauses: vec!["3".into()],
                list: false,
            }))
        );
        assert_eq!(
            parsed(&["bench", "--quick", "--rounds", "7", "--only", "tls", "--update-docs"]),
            Ok(Task::Bench(BenchOptions {
                quick: true,
                only: Some("tls".into()),
                rounds: Some(7),
                update_docs: true,
            }))
        );
        assert_eq!(parsed(&["tidy"]), Ok(Task::Tidy));
        assert_eq!(parsed(&["deny"]), Ok(Task::Deny { advisories: false }));
        assert_eq!(parsed(&["deny", "advisories"]), Ok(Task::Deny { advisories: true }));
        assert_eq!(parsed(&["loom"]), Ok(Task::Loom { deep: false }));
        assert_eq!(parsed(&["loom", "--deep"]), Ok(Task::Loom { deep: true }));
        assert_eq!(
            parsed(&["ci", "--only", "loom"]),
            Ok(Task::Ci {
                only: vec!["loom".into()]
            })
        );
        assert!(matches!(parsed(&["release", "patch"]), Ok(Task::Release(_))));
        assert_eq!(parsed(&["fuzz"]), Ok(Task::Fuzz(fuzz::Options::default())));
        assert_eq!(parsed(&["leaks"]), Ok(Task::Leaks));
        assert_eq!(parsed(&["peers"]), Ok(Task::Peers));
        assert_eq!(
            parsed(&["fuzz", "--seconds", "5", "engine"]),
            Ok(Task::Fuzz(fuzz::Options {
                seconds: Some(5),
                target: Some("engine".into()),
            }))
        );
        assert_eq!(
            parsed(&["ci", "--only", "fuzz"]),
            Ok(Task::Ci {
                only: vec!["fuzz".into()]
            })
        );
        assert_eq!(parsed(&["soak"]), Ok(Task::Soak(soak::Options::default())));
        assert_eq!(
            parsed(&["soak", "--quick", "--minutes", "2.5", "--flows=600", "--seed", "0x2a"]),
            Ok(Task::Soak(soak::Options {
                minutes: Some("2.5".into()),
                flows: Some("600".into()),
                quick: true,
                seed: Some("0x2a".into()),
            }))
        );
        assert_eq!(
            parsed(&["ci", "--only", "soak"]),
            Ok(Task::Ci {
                only: vec!["soak".into()]
            })
        );
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&[&str], &str)] = &[
            (&["bench", "--x"], "unknown option --x for `cargo xtask bench`"),
            (&["bench", "-q"], "unknown option -q for `cargo xtask bench`"),
            (&["bench", "--rounds"], "--rounds needs a number"),
            (
                &["bench", "--rounds", "many"],
                "--rounds needs a number, at least 1, not \"many\"",
            ),
            (&["bench", "--rounds", "0"], "--rounds needs a number"),
            (&["bench", "--quick=yes"], "cargo xtask bench: "),
            (&["ci", "--only", "fmt,lint"], "ci: unknown step \"lint\""),
            (&["ci", "fmt"], "unexpected argument \"fmt\" for `cargo xtask ci`"),
            (&["conformance", "--backend"], "--backend needs a name"),
            (
                &["conformance", "--fast"],
                "unknown option --fast for `cargo xtask conformance`",
            ),
            (&["tidy", "--fix"], "unknown option --fix for `cargo xtask tidy`"),
            (&["deny", "bans"], "deny: unknown check \"bans\""),
            (&["loom", "--quick"], "unknown option --quick for `cargo xtask loom`"),
            (&["fuzz", "--seconds", "0"], "--seconds needs a number, at least 1"),
            (&["fuzz", "tls"], "fuzz: unknown target \"tls\""),
            (&["fuzz", "--quick"], "unknown option --quick for `cargo xtask fuzz`"),
            (&["soak", "--minutes"], "--minutes needs a number"),
            (
                &["soak", "--minutes", "0"],
                "--minutes needs a number above 0, not \"0\"",
            ),
            (
                &["soak", "--flows", "3"],
                "--flows needs a number, at least 6, not \"3\"",
            ),
            (&["soak", "--deep"], "unknown option --deep for `cargo xtask soak`"),
            (&["soak", "10"], "unexpected argument \"10\" for `cargo xtask soak`"),
            (
                &["release", "patch", "--publish"],
                "unknown option --publish for `cargo xtask release`",
            ),
            (&["build"], "unknown command \"build\""),
            (&["--verbose"], "unknown option --verbose"),
        ];
        for (args, expected) in cases {
            let got = error(args);
            assert!(got.starts_with(expected), "{args:?}: {got:?}");
        }
    }

    #[test]
    fn the_facade_has_features() -> Result<(), String> {
        let features = facade_features(&root())?;
        assert!(features.iter().any(|f| f == "tokio"), "{features:?}");
        assert!(!features.iter().any(|f| f == "default"), "{features:?}");
        Ok(())
    }
}
