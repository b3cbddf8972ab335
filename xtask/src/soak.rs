//! `cargo xtask soak [--minutes N] [--flows N] [--quick] [--seed S]`: the
//! soak under faults (see docs/reliability.md), built and run in release mode:
//! many concurrent flows on every runtime lane with random traffic, every
//! byte verified, memory and descriptors watched.

use std::path::Path;

use lexopt::{Arg, Parser};

use crate::{cargo, next, step, unexpected, value};

/// `cargo xtask soak`'s options; `None` leaves the binary's default.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Options {
    pub(crate) minutes: Option<String>,
    pub(crate) flows: Option<String>,
    pub(crate) quick: bool,
    pub(crate) seed: Option<String>,
}

/// Parses `cargo xtask soak`'s arguments.
pub(crate) fn parse(args: &mut Parser) -> Result<Options, String> {
    let mut options = Options::default();
    while let Some(arg) = next(args, "soak")? {
        match arg {
            Arg::Long("quick") => options.quick = true,
            Arg::Long("minutes") => {
                let minutes = value(args, "--minutes", "a number")?;
                match minutes.parse::<f64>() {
                    Ok(m) if m > 0.0 && m.is_finite() => options.minutes = Some(minutes),
                    _ => return Err(format!("--minutes needs a number above 0, not {minutes:?}")),
                }
            }
            Arg::Long("flows") => {
                let flows = value(args, "--flows", "a number")?;
                match flows.parse::<usize>() {
                    Ok(n) if n >= 6 => options.flows = Some(flows),
                    _ => return Err(format!("--flows needs a number, at least 6, not {flows:?}")),
                }
            }
            Arg::Long("seed") => options.seed = Some(value(args, "--seed", "a number")?),
            other => return Err(unexpected("soak", &other)),
        }
    }
    Ok(options)
}

/// Builds and runs the soak binary of flow-tests, in release mode.
pub(crate) fn run(root: &Path, options: &Options) -> Result<(), String> {
    let mut soak = cargo(root);
    soak.args(["run", "--quiet", "--release", "-p", "flow-tests", "--bin", "soak", "--"]);
    if options.quick {
        soak.arg("--quick");
    }
    for (flag, given) in [
        ("--minutes", &options.minutes),
        ("--flows", &options.flows),
        ("--seed", &options.seed),
    ] {
        if let Some(given) = given {
            soak.args([flag, given]);
        }
    }
    let what = if options.quick {
        "soak under faults (quick)"
    } else {
        "soak under faults"
    };
    step(what, soak)
}
