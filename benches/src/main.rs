//! `flow-bench`: every backend against the raw runtime and its peers, in
//! one process, interleaved over several rounds; reports medians and ratios.
//!
//! Usage: flow-bench [--quick] [--only GROUP] [--rounds N] [--markdown FILE]

#![forbid(unsafe_code)]
// A benchmark harness: a failed setup or a wrong byte count must stop the run loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

mod rows;
mod stats;

use std::time::Instant;

use crate::stats::Table;

/// How big a run is.
#[derive(Debug, Clone)]
pub(crate) struct Scale {
    pub(crate) quick: bool,
    pub(crate) rounds: usize,
    /// Run only the rows whose group contains this.
    pub(crate) only: Option<String>,
}

impl Scale {
    /// Whether the rows of `group` run.
    pub(crate) fn wants(&self, group: &str) -> bool {
        self.only.as_deref().is_none_or(|only| group.contains(only))
    }

    /// `full` bytes normally, `quick` bytes with --quick.
    pub(crate) fn bytes(&self, full: u64, quick: u64) -> u64 {
        if self.quick { quick } else { full }
    }
}

const USAGE: &str = "usage: flow-bench [--quick] [--only GROUP] [--rounds N] [--markdown FILE]";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Run {
    /// The benchmarks: `--quick`, `--only`, `--rounds`, `--markdown`.
    Bench {
        quick: bool,
        only: Option<String>,
        rounds: Option<usize>,
        markdown: Option<String>,
    },
    /// `--memory-probe KIND ADDR COUNT`: this process is the peer of the
    /// memory rows (see rows/memory.rs).
    MemoryProbe { kind: String, addr: String, count: usize },
    /// `--count NAME OPS`: runs one workload of the instruction rows, which
    /// callgrind watches (see rows/instructions.rs).
    Count { name: String, ops: u64 },
}

/// The value of `option`, which needs `what`.
fn value(args: &mut lexopt::Parser, option: &str, what: &str) -> Result<String, String> {
    args.value()
        .ok()
        .and_then(|v| v.into_string().ok())
        .ok_or_else(|| format!("{option} needs {what}"))
}

fn parse(mut args: lexopt::Parser) -> Result<Run, String> {
    use lexopt::Arg;
    let (mut quick, mut only, mut rounds, mut markdown) = (false, None, None, None);
    while let Some(arg) = args.next().map_err(|e| e.to_string())? {
        match arg {
            Arg::Long("quick") => quick = true,
            Arg::Long("markdown") => markdown = Some(value(&mut args, "--markdown", "a file")?),
            Arg::Long("only") => only = Some(value(&mut args, "--only", "a group")?),
            Arg::Long("rounds") => match value(&mut args, "--rounds", "a positive number")?.parse() {
                Ok(n) if n > 0 => rounds = Some(n),
                _ => return Err("--rounds needs a positive number".into()),
            },
            Arg::Long("count") => {
                let name = value(&mut args, "--count", "NAME OPS")?;
                let ops = value(&mut args, "--count", "NAME OPS")?;
                let ops = match ops.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--count: operations {ops:?}: not a positive number")),
                };
                return Ok(Run::Count { name, ops });
            }
            Arg::Long("memory-probe") => {
                let kind = value(&mut args, "--memory-probe", "KIND ADDR COUNT")?;
                let addr = value(&mut args, "--memory-probe", "KIND ADDR COUNT")?;
                let count = value(&mut args, "--memory-probe", "KIND ADDR COUNT")?;
                let count = count
                    .parse()
                    .map_err(|e| format!("--memory-probe: count {count:?}: {e}"))?;
                return Ok(Run::MemoryProbe { kind, addr, count });
            }
            Arg::Long(name) => return Err(format!("unknown option --{name}; {USAGE}")),
            Arg::Short(c) => return Err(format!("unknown option -{c}; {USAGE}")),
            Arg::Value(v) => return Err(format!("unexpected argument {:?}; {USAGE}", v.to_string_lossy())),
        }
    }
    Ok(Run::Bench {
        quick,
        only,
        rounds,
        markdown,
    })
}

fn main() {
    let (quick, only, rounds, markdown) = match parse(lexopt::Parser::from_env()) {
        Ok(Run::Bench {
            quick,
            only,
            rounds,
            markdown,
        }) => (quick, only, rounds, markdown),
        Ok(Run::MemoryProbe { kind, addr, count }) => match rows::memory_probe(&kind, &addr, count) {
            Ok(per) => {
                println!("{per}");
                return;
            }
            Err(err) => {
                eprintln!("flow-bench: memory probe: {err}");
                std::process::exit(1);
            }
        },
        Ok(Run::Count { name, ops }) => match rows::count(&name, ops) {
            Ok(()) => return,
            Err(err) => {
                eprintln!("flow-bench: --count: {err}");
                std::process::exit(2);
            }
        },
        Err(err) => {
            eprintln!("flow-bench: {err}");
            std::process::exit(2);
        }
    };
    let scale = Scale {
        quick,
        rounds: rounds.unwrap_or(if quick { 3 } else { 5 }),
        only,
    };
    let started = Instant::now();
    let mut table = Table::default();
    rows::all(&scale, &mut table);
    println!("{}", table.to_text());
    println!(
        "({} rounds per row, medians; ran in {:.1?})",
        scale.rounds,
        started.elapsed()
    );
    if let Some(path) = markdown {
        let text = format!(
            "{}\n\n{} rounds per row, interleaved; medians. Ran in {:.0?}.\n",
            table.to_markdown(),
            scale.rounds,
            started.elapsed()
        );
        if let Err(err) = std::fs::write(&path, text) {
            eprintln!("flow-bench: cannot write {path}: {err}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Run, String> {
        parse(lexopt::Parser::from_args(args))
    }

    #[test]
    fn arguments_parse() {
        assert_eq!(
            parsed(&["--quick", "--only", "tls", "--rounds=2", "--markdown", "out.md"]),
            Ok(Run::Bench {
                quick: true,
                only: Some("tls".into()),
                rounds: Some(2),
                markdown: Some("out.md".into()),
            })
        );
        assert_eq!(
            parsed(&["--memory-probe", "tokio", "127.0.0.1:1", "100"]),
            Ok(Run::MemoryProbe {
                kind: "tokio".into(),
                addr: "127.0.0.1:1".into(),
                count: 100
            })
        );
        assert_eq!(
            parsed(&["--rounds", "0"]),
            Err("--rounds needs a positive number".into())
        );
        assert_eq!(parsed(&["--rounds"]), Err("--rounds needs a positive number".into()));
        assert!(parsed(&["--fast"]).is_err_and(|e| e.starts_with("unknown option --fast; usage: flow-bench")));
        assert!(parsed(&["--memory-probe", "tokio"]).is_err_and(|e| e.starts_with("--memory-probe needs")));
        assert_eq!(
            parsed(&["--count", "mem64-duplex", "1000"]),
            Ok(Run::Count {
                name: "mem64-duplex".into(),
                ops: 1000
            })
        );
        assert!(parsed(&["--count", "mem64-duplex", "0"]).is_err_and(|e| e.contains("not a positive number")));
    }
}
