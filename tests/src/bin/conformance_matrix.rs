//! Runs the conformance suite for every backend and prints the matrix:
//! clause by backend, passed, failed or not applicable with the reason.
//! Writes it as Markdown and JSON too. Exits non-zero on any failure.
//!
//! Usage: conformance-matrix [--backend NAME]... [--clause N|NAME]... [--out DIR] [--list]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use flow_conformance::{Clause, Defect, GalleryPairs, MemPairs, Outcome, Report, Runner};
use flow_tests::quic::QuicPairs;
use flow_tests::tls::{
    TlsAsyncStd, TlsMem, TlsMem12, TlsOverFaultyMem, TlsOverFaultyMem12, TlsSmol, TlsTokio, TlsTokio12,
};
use flow_tests::{
    AsyncStdSplitTcp, AsyncStdTcp, AsyncStdToTokio, AsyncStdUnix, CompioTcp, CompioToSmol, CompioUnix, SmolSplitTcp,
    SmolTcp, SmolToAsyncStd, SmolToCompio, SmolUnix, TokioSplitTcp, TokioTcp, TokioToSmol, TokioUnix, compio_block_on,
    tokio_block_on,
};

const USAGE: &str = "usage: conformance-matrix [--backend NAME]... [--clause N|NAME]... [--out DIR] [--list]";

struct Options {
    backends: Vec<String>,
    clauses: Vec<Clause>,
    out: PathBuf,
}

const BACKENDS: &[&str] = &[
    "mem",
    "tokio-tcp",
    "tokio-unix",
    "smol-tcp",
    "smol-unix",
    "async-std-tcp",
    "async-std-unix",
    "compio-tcp",
    "compio-unix",
    "tokio-split-tcp",
    "smol-split-tcp",
    "async-std-split-tcp",
    "tokio-to-smol",
    "smol-to-async-std",
    "async-std-to-tokio",
    "compio-to-smol",
    "smol-to-compio",
    "tls13-mem",
    "tls12-mem",
    "tls13-faulty-mem",
    "tls12-faulty-mem",
    "tls13-tokio",
    "tls12-tokio",
    "tls13-smol",
    "tls13-async-std",
    "quic-tokio",
    "quic-smol",
];

/// The value of `option`, which needs `what`.
fn value(args: &mut lexopt::Parser, option: &str, what: &str) -> Result<String, String> {
    args.value()
        .ok()
        .and_then(|v| v.into_string().ok())
        .ok_or_else(|| format!("{option} needs {what}"))
}

/// The options, or `None` when the arguments were `--list`'s and it is done.
fn parse(mut args: lexopt::Parser) -> Result<Option<Options>, String> {
    use lexopt::Arg;
    let mut options = Options {
        backends: Vec::new(),
        clauses: Vec::new(),
        out: PathBuf::from("target/conformance"),
    };
    let mut list = false;
    while let Some(arg) = args.next().map_err(|e| e.to_string())? {
        match arg {
            Arg::Long("backend") => {
                let name = value(&mut args, "--backend", "a name")?;
                let broken = name.strip_prefix("broken-").and_then(Defect::find);
                if !BACKENDS.contains(&name.as_str()) && broken.is_none() {
                    return Err(format!(
                        "unknown backend {name:?}; known: {}, and broken-NAME (see --list)",
                        BACKENDS.join(", ")
                    ));
                }
                options.backends.push(name);
            }
            Arg::Long("clause") => {
                let name = value(&mut args, "--clause", "a number or a name")?;
                options
                    .clauses
                    .push(Clause::find(&name).ok_or(format!("unknown clause {name:?}"))?);
            }
            Arg::Long("out") => options.out = PathBuf::from(value(&mut args, "--out", "a directory")?),
            Arg::Long("list") => list = true,
            Arg::Long(name) => return Err(format!("unknown option --{name}; {USAGE}")),
            Arg::Short(c) => return Err(format!("unknown option -{c}; {USAGE}")),
            Arg::Value(v) => return Err(format!("unexpected argument {:?}; {USAGE}", v.to_string_lossy())),
        }
    }
    if list {
        for b in BACKENDS {
            println!("{b}");
        }
        for d in Defect::ALL {
            println!(
                "broken-{} (deliberately broken; only when named): {}",
                d.name(),
                d.describe()
            );
        }
        for c in Clause::ALL {
            println!("{:>2} {}", c.number(), c.test_name());
        }
        return Ok(None);
    }
    if options.backends.is_empty() {
        options.backends = BACKENDS.iter().map(|s| s.to_string()).collect();
    }
    if options.clauses.is_empty() {
        options.clauses = Clause::ALL.to_vec();
    }
    Ok(Some(options))
}

/// The backend's reports: every variant (one task and separate tasks,
/// plainly and under faults), each clause on its own thread under the
/// watchdog.
macro_rules! both {
    ($name:expr, $make:expr, $clauses:expr, $block_on:path) => {{
        Runner::new($name, $make, |future| {
            $block_on(future);
        })
        .clauses($clauses)
        .run()
    }};
}

/// [`both!`] for a backend whose flows are not `Send`: separate tasks share
/// the clause's thread, and the `Send` clause is not applicable.
macro_rules! local {
    ($name:expr, $make:expr, $clauses:expr, $block_on:path) => {{
        Runner::new_local($name, $make, |future| {
            $block_on(future);
        })
        .clauses($clauses)
        .run()
    }};
}

fn smol_block_on<F: std::future::Future>(future: F) -> F::Output {
    smol::block_on(future)
}

fn async_std_block_on<F: std::future::Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

fn main() -> ExitCode {
    let options = match parse(lexopt::Parser::from_env()) {
        Ok(Some(options)) => options,
        Ok(None) => return ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("conformance-matrix: {err}");
            return ExitCode::from(2);
        }
    };
    let mut reports = Vec::new();
    for backend in &options.backends {
        eprintln!("running the suite on {backend}...");
        let pair = match backend.as_str() {
            "mem" => both!("mem", MemPairs::default, &options.clauses, futures_executor::block_on),
            "tokio-tcp" => both!("tokio-tcp", TokioTcp::default, &options.clauses, tokio_block_on),
            "tokio-unix" => both!("tokio-unix", TokioUnix::default, &options.clauses, tokio_block_on),
            "smol-tcp" => both!("smol-tcp", SmolTcp::default, &options.clauses, smol_block_on),
            "smol-unix" => both!("smol-unix", SmolUnix::default, &options.clauses, smol_block_on),
            "async-std-tcp" => both!(
                "async-std-tcp",
                AsyncStdTcp::default,
                &options.clauses,
                async_std_block_on
            ),
            "async-std-unix" => both!(
                "async-std-unix",
                AsyncStdUnix::default,
                &options.clauses,
                async_std_block_on
            ),
            "compio-tcp" => local!("compio-tcp", CompioTcp::default, &options.clauses, compio_block_on),
            "compio-unix" => local!("compio-unix", CompioUnix::default, &options.clauses, compio_block_on),
            "tokio-split-tcp" => both!(
                "tokio-split-tcp",
                TokioSplitTcp::default,
                &options.clauses,
                tokio_block_on
            ),
            "smol-split-tcp" => both!("smol-split-tcp", SmolSplitTcp::default, &options.clauses, smol_block_on),
            "async-std-split-tcp" => both!(
                "async-std-split-tcp",
                AsyncStdSplitTcp::default,
                &options.clauses,
                async_std_block_on
            ),
            "compio-to-smol" => local!(
                "compio-to-smol",
                CompioToSmol::default,
                &options.clauses,
                compio_block_on
            ),
            "smol-to-compio" => local!(
                "smol-to-compio",
                SmolToCompio::default,
                &options.clauses,
                compio_block_on
            ),
            "tokio-to-smol" => both!("tokio-to-smol", TokioToSmol::default, &options.clauses, tokio_block_on),
            "smol-to-async-std" => both!(
                "smol-to-async-std",
                SmolToAsyncStd::default,
                &options.clauses,
                smol_block_on
            ),
            "async-std-to-tokio" => {
                both!(
                    "async-std-to-tokio",
                    AsyncStdToTokio::default,
                    &options.clauses,
                    tokio_block_on
                )
            }
            "quic-tokio" => both!(
                "quic-tokio",
                QuicPairs::default,
                &options.clauses,
                flow_tests::quic::tokio_block_on
            ),
            "quic-smol" => both!("quic-smol", QuicPairs::default, &options.clauses, smol_block_on),
            "tls13-mem" => both!(
                "tls13-mem",
                TlsMem::default,
                &options.clauses,
                futures_executor::block_on
            ),
            "tls12-mem" => both!(
                "tls12-mem",
                TlsMem12::default,
                &options.clauses,
                futures_executor::block_on
            ),
            "tls13-faulty-mem" => both!(
                "tls13-faulty-mem",
                TlsOverFaultyMem::default,
                &options.clauses,
                futures_executor::block_on
            ),
            "tls12-faulty-mem" => both!(
                "tls12-faulty-mem",
                TlsOverFaultyMem12::default,
                &options.clauses,
                futures_executor::block_on
            ),
            "tls13-tokio" => both!("tls13-tokio", TlsTokio::default, &options.clauses, tokio_block_on),
            "tls12-tokio" => both!("tls12-tokio", TlsTokio12::default, &options.clauses, tokio_block_on),
            "tls13-smol" => both!("tls13-smol", TlsSmol::default, &options.clauses, smol_block_on),
            "tls13-async-std" => both!(
                "tls13-async-std",
                TlsAsyncStd::default,
                &options.clauses,
                async_std_block_on
            ),
            other => match other.strip_prefix("broken-").and_then(Defect::find) {
                Some(defect) => both!(
                    other,
                    move || GalleryPairs(defect),
                    &options.clauses,
                    futures_executor::block_on
                ),
                None => continue,
            },
        };
        reports.extend(pair);
    }
    print_matrix(&reports, &options.clauses);
    if let Err(err) = write_files(&reports, &options.out) {
        eprintln!(
            "conformance-matrix: cannot write the report under {}: {err}",
            options.out.display()
        );
        return ExitCode::from(2);
    }
    let failures: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.failures().map(move |e| {
                format!(
                    "{} / clause {} {}: {}",
                    r.backend,
                    e.clause.number(),
                    e.clause.test_name(),
                    e.outcome
                )
            })
        })
        .collect();
    if failures.is_empty() {
        println!("\nall {} backends keep every applicable clause", reports.len());
        ExitCode::SUCCESS
    } else {
        println!("\n{} failures:", failures.len());
        for failure in failures {
            println!("  {failure}");
        }
        ExitCode::FAILURE
    }
}

fn print_matrix(reports: &[Report], clauses: &[Clause]) {
    // A row per backend, a column per clause: 36 backends stay readable.
    let width = reports
        .iter()
        .map(|r| short(&r.backend).len())
        .max()
        .unwrap_or(7)
        .max(7);
    print!("{:<width$}", "backend");
    for clause in clauses {
        print!(" {:>4}", clause.number());
    }
    println!();
    for r in reports {
        print!("{:<width$}", short(&r.backend));
        for &clause in clauses {
            let cell = match r.outcome(clause) {
                Some(Outcome::Passed) => "ok",
                Some(Outcome::NotApplicable(_)) => "n/a",
                Some(_) => "FAIL",
                None => "-",
            };
            print!(" {cell:>4}");
        }
        println!();
    }
    println!("\nclauses (docs/contract.md):");
    for clause in clauses {
        println!("  {:>2} {}", clause.number(), clause.test_name());
    }
    println!(
        "+t: each end in its own task (its own thread for Send flows); +f: under fault injection (random chunking down to 1 byte, interleaved Pending); +tf: both"
    );
    // Grouped by clause and reason: which backends each excuse covers.
    let mut not_applicable: BTreeMap<(u8, &str, &str), Vec<String>> = BTreeMap::new();
    for r in reports {
        for e in &r.entries {
            if let Outcome::NotApplicable(why) = &e.outcome {
                not_applicable
                    .entry((e.clause.number(), e.clause.test_name(), why.as_str()))
                    .or_default()
                    .push(short(&r.backend));
            }
        }
    }
    if !not_applicable.is_empty() {
        println!("\nnot applicable:");
        for ((_, clause, why), backends) in not_applicable {
            println!("  {clause}: {why}\n    for {}", backends.join(", "));
        }
    }
}

fn short(backend: &str) -> String {
    backend
        .replace(" (separate tasks, under faults)", "+tf")
        .replace(" (one task, under faults)", "+f")
        .replace(" (separate tasks)", "+t")
}

fn write_files(reports: &[Report], out: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let markdown: String = reports.iter().map(|r| r.to_markdown() + "\n").collect();
    std::fs::write(out.join("matrix.md"), format!("# Conformance matrix\n\n{markdown}"))?;
    let json = format!(
        "[{}]\n",
        reports.iter().map(Report::to_json).collect::<Vec<_>>().join(",")
    );
    std::fs::write(out.join("matrix.json"), json)?;
    eprintln!(
        "wrote {} and {}",
        out.join("matrix.md").display(),
        out.join("matrix.json").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(args: &[&str]) -> String {
        parse(lexopt::Parser::from_args(args)).err().unwrap_or_default()
    }

    #[test]
    fn arguments_parse() {
        let options = parse(lexopt::Parser::from_args([
            "--backend",
            "mem",
            "--clause=1",
            "--out",
            "x",
        ]));
        let Ok(Some(options)) = options else {
            panic!("{:?}", options.err());
        };
        assert_eq!(options.backends, ["mem"]);
        assert_eq!(options.clauses.len(), 1);
        assert_eq!(options.out, PathBuf::from("x"));
        assert!(error(&["--backend"]).starts_with("--backend needs a name"));
        assert!(error(&["--backend", "nope"]).starts_with("unknown backend \"nope\""));
        assert!(error(&["--clause", "nope"]).starts_with("unknown clause \"nope\""));
        assert!(error(&["--fast"]).starts_with("unknown option --fast; usage: conformance-matrix"));
        assert!(error(&["mem"]).starts_with("unexpected argument \"mem\""));
    }
}
