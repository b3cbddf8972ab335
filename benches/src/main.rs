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

fn main() {
    let mut quick = false;
    let mut markdown = None;
    let mut only = None;
    let mut rounds = None;
    let all: Vec<String> = std::env::args().skip(1).collect();
    if let [probe, kind, addr, count] = all.as_slice() {
        if probe == "--memory-probe" {
            match count
                .parse()
                .map_err(|e| format!("{e}"))
                .and_then(|n| rows::memory_probe(kind, addr, n))
            {
                Ok(per) => println!("{per}"),
                Err(err) => {
                    eprintln!("flow-bench: memory probe: {err}");
                    std::process::exit(1);
                }
            }
            return;
        }
    }
    let mut args = all.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--markdown" => markdown = args.next(),
            "--only" => only = args.next(),
            "--rounds" => match args.next().and_then(|n| n.parse::<usize>().ok()) {
                Some(n) if n > 0 => rounds = Some(n),
                _ => {
                    eprintln!("flow-bench: --rounds needs a positive number");
                    std::process::exit(2);
                }
            },
            other => {
                eprintln!(
                    "flow-bench: unknown argument {other:?}; usage: flow-bench [--quick] [--only GROUP] [--rounds N] [--markdown FILE]"
                );
                std::process::exit(2);
            }
        }
    }
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
