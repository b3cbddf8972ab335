//! Instructions per operation, counted by callgrind: a second measure for
//! the rows whose time noise moves. The count of a workload does not depend
//! on what else the machine is doing, so a ratio of counts tells a real
//! difference from a noisy round.
//!
//! Each side runs in a child process of this binary (`--count NAME N`)
//! under `valgrind --tool=callgrind`, twice: with N operations and with
//! 2N. The difference, over N, is the instructions of one operation; the
//! set-up (a runtime, a connection, certificates) cancels out. Only
//! user-space instructions are counted: a socket's system calls cost the
//! same on both sides, and are not in the figures.
//!
//! All sides run on one thread (tokio's current-thread runtime, compio's
//! runtime, `smol::block_on`), so that no idle worker adds to the count.

use std::process::Command;
use std::time::Duration;

use crate::Scale;
use crate::rows::compio_tcp::{compio_pair, raw as compio_raw};
use crate::rows::tcp::{flow_smol_pair, flow_tokio_pair, raw_smol_pair, raw_tokio_pair};
use crate::rows::tls::{configs, flow_handshakes, raw_handshakes};
use crate::rows::workloads::{fio, flow, tokio_raw};
use crate::rows::{Runtime, Tokio};
use crate::stats::Table;

/// One comparison: two workloads that do the same operations.
struct Pair {
    what: &'static str,
    ours: Side,
    baseline: Side,
    /// Operations per measurement: full and `--quick`.
    ops: (u64, u64),
}

/// One side of a comparison: its `--count` name and its label.
struct Side {
    name: &'static str,
    label: &'static str,
}

const PAIRS: [Pair; 6] = [
    Pair {
        what: "instructions per 64 B message, in-memory pair",
        ours: Side {
            name: "mem64-flow-mem",
            label: "flow-mem",
        },
        baseline: Side {
            name: "mem64-duplex",
            label: "tokio::io::duplex",
        },
        ops: (1_000_000, 100_000),
    },
    Pair {
        what: "instructions per 1-byte ping-pong round trip, tokio TCP",
        ours: Side {
            name: "tokio-pingpong-flow",
            label: "flow-tokio",
        },
        baseline: Side {
            name: "tokio-pingpong-raw",
            label: "tokio TcpStream",
        },
        ops: (10_000, 2_000),
    },
    Pair {
        what: "instructions per 1-byte ping-pong round trip, smol TCP",
        ours: Side {
            name: "smol-pingpong-flow",
            label: "flow-smol",
        },
        baseline: Side {
            name: "smol-pingpong-raw",
            label: "async-net TcpStream",
        },
        ops: (10_000, 2_000),
    },
    Pair {
        what: "instructions per 1-byte ping-pong round trip, compio TCP",
        ours: Side {
            name: "compio-pingpong-flow",
            label: "flow-compio",
        },
        baseline: Side {
            name: "compio-pingpong-raw",
            label: "compio TcpStream",
        },
        ops: (10_000, 2_000),
    },
    Pair {
        what: "instructions per 1-byte ping-pong round trip, raw compio, multishot receive",
        ours: Side {
            name: "compio-pingpong-multishot",
            label: "read_multi",
        },
        baseline: Side {
            name: "compio-pingpong-read",
            label: "read",
        },
        ops: (10_000, 2_000),
    },
    Pair {
        what: "instructions per TLS 1.3 full handshake (ECDSA P-256), tokio TCP",
        ours: Side {
            name: "tls-handshake-flow",
            label: "flow-tls on flow-tokio",
        },
        baseline: Side {
            name: "tls-handshake-raw",
            label: "tokio-rustls",
        },
        ops: (40, 10),
    },
];

/// The names `--count` takes.
pub(crate) fn workloads() -> impl Iterator<Item = &'static str> {
    PAIRS.iter().flat_map(|p| [p.ours.name, p.baseline.name])
}

/// Runs workload `name` with `ops` operations (the `--count` mode, which
/// callgrind watches).
///
/// # Errors
///
/// `name` is not a workload.
pub(crate) fn run(name: &str, ops: u64) -> Result<(), String> {
    let tokio = || Tokio::current_thread();
    let _: Duration = match name {
        "mem64-flow-mem" => tokio().block_on(flow::local_stream(
            flow_mem::pair_with_capacity(64 * 1024),
            ops * 64,
            64,
        )),
        "mem64-duplex" => tokio().block_on(async {
            let (a, b) = tokio::io::duplex(64 * 1024);
            tokio_raw::local_stream(a, b, ops * 64, 64).await
        }),
        "tokio-pingpong-flow" => tokio().block_on(async { flow::pingpong(flow_tokio_pair().await, ops).await }),
        "tokio-pingpong-raw" => tokio().block_on(async { tokio_raw::pingpong(raw_tokio_pair().await, ops).await }),
        "smol-pingpong-flow" => smol::block_on(async { flow::pingpong(flow_smol_pair().await, ops).await }),
        "smol-pingpong-raw" => smol::block_on(async { fio::pingpong(raw_smol_pair().await, ops).await }),
        "compio-pingpong-flow" => compio().block_on(async {
            let (a, b) = compio_pair();
            let pair = (
                flow_compio::TcpFlow::from_stream(flow_compio::CompioStream::new(a)).expect("flow"),
                flow_compio::TcpFlow::from_stream(flow_compio::CompioStream::new(b)).expect("flow"),
            );
            flow::pingpong(pair, ops).await
        }),
        "compio-pingpong-raw" | "compio-pingpong-read" => {
            compio().block_on(async { compio_raw::pingpong(compio_pair(), ops).await })
        }
        "compio-pingpong-multishot" => {
            compio().block_on(async { compio_raw::pingpong_multishot(compio_pair(), ops).await })
        }
        "tls-handshake-flow" => tokio().block_on(async { flow_handshakes(&configs(), ops).await }),
        "tls-handshake-raw" => tokio().block_on(async { raw_handshakes(&configs(), ops).await }),
        other => {
            let names: Vec<&str> = workloads().collect();
            return Err(format!("no workload {other:?}; one of {}", names.join(", ")));
        }
    };
    Ok(())
}

fn compio() -> ::compio::runtime::Runtime {
    ::compio::runtime::Runtime::new().expect("cannot start compio")
}

/// The `instructions` rows: every pair, when valgrind is installed.
pub(crate) fn rows(scale: &Scale, table: &mut Table) {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            println!("instructions: cannot find this binary ({err}): rows left out");
            return;
        }
    };
    for pair in &PAIRS {
        let ops = if scale.quick { pair.ops.1 } else { pair.ops.0 };
        let count = |side: &Side| -> Result<f64, String> {
            let once = collected(&exe, side.name, ops)?;
            let twice = collected(&exe, side.name, 2 * ops)?;
            // The extra N operations; set-up and teardown cancel out.
            Ok(twice.saturating_sub(once) as f64 / ops as f64)
        };
        match (count(&pair.ours), count(&pair.baseline)) {
            (Ok(ours), Ok(baseline)) => {
                table.compare_values(pair.what, pair.ours.label, ours, pair.baseline.label, baseline, "instr");
            }
            (Err(err), _) | (_, Err(err)) => {
                println!("instructions: {}: {err}: row left out", pair.what);
            }
        }
    }
}

/// The instructions callgrind counted in `exe --count name ops`.
fn collected(exe: &std::path::Path, name: &str, ops: u64) -> Result<u64, String> {
    let output = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(exe)
        .args(["--count", name, &ops.to_string()])
        .output()
        .map_err(|e| format!("cannot run valgrind ({e}); install it (Debian: valgrind)"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        // The program's own lines (a panic), not valgrind's (`==PID==`).
        let tail: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("==")).rev().take(5).collect();
        return Err(format!(
            "`{name}` with {ops} operations failed under callgrind ({}): {}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        ));
    }
    parse_collected(&stderr).ok_or_else(|| format!("`{name}`: no \"Collected\" line in callgrind's output"))
}

/// The count in callgrind's `==PID== Collected : 239504176` line.
fn parse_collected(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|line| {
        let (_, rest) = line.split_once("Collected :")?;
        rest.trim().replace(',', "").parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_callgrinds_total() {
        let stderr = "==17268== \n==17268== Events    : Ir\n==17268== Collected : 239504176\n==17268== \n";
        assert_eq!(parse_collected(stderr), Some(239_504_176));
        assert_eq!(parse_collected("==1== Events : Ir\n"), None);
    }

    #[test]
    fn every_workload_has_a_unique_name_and_an_unknown_one_is_refused() {
        let mut names: Vec<&str> = workloads().collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all);
        let err = run("nope", 1).expect_err("an unknown workload");
        assert!(err.contains("mem64-flow-mem"), "{err}");
    }

    #[test]
    fn a_workload_runs_natively() {
        run("mem64-flow-mem", 1_000).expect("the in-memory workload");
    }
}
