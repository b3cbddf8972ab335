//! Resident memory per idle connection, per backend against its raw
//! stream: a child process (a fresh heap, and its own descriptor table)
//! opens the connections and reports its resident memory growth per
//! connection; this process accepts them.

use std::fmt::Display;
use std::future::Future;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Scale;
use crate::rows::{AsyncStd, Runtime, Smol, Tokio};
use crate::stats::Table;

/// Descriptors kept free for everything else a process has open.
const SPARE_FDS: u64 = 128;

/// One row per backend: (probe kind of ours, of the baseline, labels).
const BACKENDS: [(&str, &str, &str, &str, &str); 4] = [
    ("tokio", "tokio-flow", "flow-tokio", "tokio-raw", "tokio TcpStream"),
    ("smol", "smol-flow", "flow-smol", "smol-raw", "async-net TcpStream"),
    (
        "async-std",
        "async-std-flow",
        "flow-async-std",
        "async-std-raw",
        "async-std TcpStream",
    ),
    (
        "in-memory",
        "mem-flow",
        "flow-mem pair",
        "mem-duplex",
        "tokio::io::duplex",
    ),
];

/// The memory rows: 10,000 connections each (1,000 with `--quick`), fewer
/// if the descriptor limit cannot be raised that far (the row says how many).
pub(crate) fn rows(scale: &Scale, table: &mut Table) {
    let wanted: u64 = if scale.quick { 1000 } else { 10_000 };
    // This process holds the accepted ends, the child the connecting ones.
    let limit = raise_fd_limit(wanted + SPARE_FDS);
    let flows = wanted.min(limit.saturating_sub(SPARE_FDS));
    if flows < wanted {
        eprintln!(
            "flow-bench: the descriptor limit is {limit} and cannot be raised; the memory rows use {flows} connections, not {wanted}"
        );
    }
    if flows == 0 {
        return;
    }
    for (runtime, ours_kind, ours, raw_kind, raw) in BACKENDS {
        let what = if runtime == "in-memory" {
            format!("memory per idle in-memory pair ({flows})")
        } else {
            format!("memory per idle {runtime} TCP connection ({flows})")
        };
        match (probe(raw_kind, flows), probe(ours_kind, flows)) {
            (Ok(raw_bytes), Ok(ours_bytes)) => table.compare_values(&what, ours, ours_bytes, raw, raw_bytes, "B"),
            (Err(err), _) | (_, Err(err)) => {
                eprintln!("flow-bench: the memory probe failed ({err}); row {what:?} left out")
            }
        }
    }
}

/// Raises the soft descriptor limit toward `wanted` (up to the hard limit);
/// returns the soft limit in force afterwards.
pub(crate) fn raise_fd_limit(wanted: u64) -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= wanted {
        return current;
    }
    let target = limit.maximum.map_or(wanted, |max| max.min(wanted));
    let raised = rustix::process::Rlimit {
        current: Some(target),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => target,
        Err(_) => current,
    }
}

/// Runs the child probe `kind` with `flows` connections to a listener here.
fn probe(kind: &str, flows: u64) -> Result<f64, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("local address: {e}"))?;
    let done = Arc::new(AtomicBool::new(false));
    let acceptor = std::thread::spawn({
        let done = Arc::clone(&done);
        move || {
            let mut held = Vec::new();
            while !done.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((socket, _)) => held.push(socket),
                    Err(_) => break,
                }
            }
            held
        }
    });
    let exe = std::env::current_exe().map_err(|e| format!("current executable: {e}"))?;
    let output = std::process::Command::new(exe)
        .args(["--memory-probe", kind, &addr.to_string(), &flows.to_string()])
        .output();
    // Wakes the acceptor, whatever the child did.
    done.store(true, Ordering::SeqCst);
    drop(TcpStream::connect(addr));
    drop(acceptor.join());
    let output = output.map_err(|e| format!("cannot run the probe: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout.trim().parse().map_err(|_| {
        format!(
            "probe {kind} said {:?}: {}",
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })
}

/// The child side of [`rows`]: opens `count` connections of `kind` to
/// `addr` (or `count` in-memory pairs) and returns the resident memory
/// growth per connection.
pub(crate) fn memory_probe(kind: &str, addr: &str, count: usize) -> Result<f64, String> {
    raise_fd_limit(count as u64 + SPARE_FDS);
    match kind {
        "tokio-raw" => held_growth(&Tokio::current_thread(), count, || tokio::net::TcpStream::connect(addr)),
        "tokio-flow" => held_growth(&Tokio::current_thread(), count, || flow_tokio::TcpFlow::connect(addr)),
        "smol-raw" => held_growth(&Smol, count, || async_net::TcpStream::connect(addr)),
        "smol-flow" => held_growth(&Smol, count, || flow_smol::TcpFlow::connect(addr)),
        "async-std-raw" => held_growth(&AsyncStd, count, || async_std::net::TcpStream::connect(addr)),
        "async-std-flow" => held_growth(&AsyncStd, count, || flow_async_std::TcpFlow::connect(addr)),
        "mem-flow" => held_growth(&Tokio::current_thread(), count, || async {
            Ok::<_, io::Error>(flow_mem::pair())
        }),
        "mem-duplex" => held_growth(&Tokio::current_thread(), count, || async {
            Ok::<_, io::Error>(tokio::io::duplex(flow_mem::DEFAULT_CAPACITY))
        }),
        other => Err(format!("unknown probe {other}")),
    }
}

/// Makes one connection (so that the runtime's lazily built parts are in
/// place), then `count` more, and returns the resident growth per one of
/// those, holding them all while it measures.
fn held_growth<R, T, E, F, Fut>(runtime: &R, count: usize, connect: F) -> Result<f64, String>
where
    R: Runtime,
    E: Display,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    runtime.block_on(async {
        let warm = connect().await.map_err(|e| format!("connect: {e}"))?;
        let before = resident_bytes()?;
        let mut held = Vec::with_capacity(count);
        for _ in 0..count {
            held.push(connect().await.map_err(|e| format!("connect: {e}"))?);
        }
        let after = resident_bytes()?;
        drop((warm, held));
        Ok((after - before) as f64 / count.max(1) as f64)
    })
}

fn resident_bytes() -> Result<i64, String> {
    let statm = std::fs::read_to_string("/proc/self/statm").map_err(|e| format!("/proc/self/statm: {e}"))?;
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or("bad /proc/self/statm")?;
    Ok(pages * 4096)
}
