//! Runs the conformance suite for every backend and prints the matrix:
//! clause by backend, passed, failed or not applicable with the reason.
//! Writes it as Markdown and JSON too. Exits non-zero on any failure.
//!
//! Usage: conformance-matrix [--backend NAME]... [--clause N|NAME]... [--out DIR] [--list]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use flow_conformance::{Clause, FaultyFactory, MemPairs, Outcome, Report};
use flow_tests::{TokioTcp, TokioUnix, tokio_block_on};

struct Options {
    backends: Vec<String>,
    clauses: Vec<Clause>,
    out: PathBuf,
}

const BACKENDS: &[&str] = &["mem", "tokio-tcp", "tokio-unix"];

fn parse() -> Result<Option<Options>, String> {
    let mut options = Options {
        backends: Vec::new(),
        clauses: Vec::new(),
        out: PathBuf::from("target/conformance"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--backend" => {
                let name = args.next().ok_or("--backend needs a name")?;
                if !BACKENDS.contains(&name.as_str()) {
                    return Err(format!("unknown backend {name:?}; known: {}", BACKENDS.join(", ")));
                }
                options.backends.push(name);
            }
            "--clause" => {
                let name = args.next().ok_or("--clause needs a number or a name")?;
                options
                    .clauses
                    .push(Clause::find(&name).ok_or(format!("unknown clause {name:?}"))?);
            }
            "--out" => options.out = PathBuf::from(args.next().ok_or("--out needs a directory")?),
            "--list" => {
                for b in BACKENDS {
                    println!("{b}");
                }
                for c in Clause::ALL {
                    println!("{:>2} {}", c.number(), c.test_name());
                }
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if options.backends.is_empty() {
        options.backends = BACKENDS.iter().map(|s| s.to_string()).collect();
    }
    if options.clauses.is_empty() {
        options.clauses = Clause::ALL.to_vec();
    }
    Ok(Some(options))
}

/// The backend's report plainly, then under fault injection.
macro_rules! both {
    ($name:expr, $make:expr, $clauses:expr, $block_on:path) => {{
        let seed = flow_conformance::base_seed();
        let plain = $make();
        let faulty = FaultyFactory::new($make(), seed);
        [
            $block_on(flow_conformance::run($name, &plain, $clauses, seed)),
            $block_on(flow_conformance::run(
                &format!("{} (faults)", $name),
                &faulty,
                $clauses,
                seed,
            )),
        ]
    }};
}

fn main() -> ExitCode {
    let options = match parse() {
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
            _ => continue,
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
    let width = 26;
    print!("{:<width$}", "clause");
    for r in reports {
        print!(" {:>w$}", short(&r.backend), w = short(&r.backend).len().max(6));
    }
    println!();
    for &clause in clauses {
        print!(
            "{:<width$}",
            format!(
                "{:>2} {}",
                clause.number(),
                clause.test_name().get(4..).unwrap_or_default()
            )
        );
        for r in reports {
            let label = r.outcome(clause).map_or("-", Outcome::label);
            print!(" {:>w$}", label, w = short(&r.backend).len().max(6));
        }
        println!();
    }
    let not_applicable: BTreeSet<String> = reports
        .iter()
        .flat_map(|r| {
            r.entries.iter().filter_map(move |e| match &e.outcome {
                Outcome::NotApplicable(why) => Some(format!("  {} / {}: {why}", r.backend, e.clause.test_name())),
                _ => None,
            })
        })
        .collect();
    if !not_applicable.is_empty() {
        println!("\nnot applicable:");
        for line in not_applicable {
            println!("{line}");
        }
    }
}

fn short(backend: &str) -> String {
    backend.replace(" (faults)", "+f")
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
