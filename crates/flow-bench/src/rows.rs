//! The benchmark rows. Each pair of sides runs in the same process,
//! interleaved (baseline, ours, baseline, ours...), and the table gets the
//! medians.

use std::future::Future;
use std::time::{Duration, Instant};

use flow_api::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Scale;
use crate::stats::{Table, Unit, median};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// Groups: tokio-bulk, tokio-small, tokio-pingpong, mem, memory, iperf.
pub(crate) fn all(scale: &Scale, table: &mut Table) {
    tokio_rows(scale, table);
    if scale.wants("mem") {
        mem_rows(scale, table);
    }
    if scale.wants("memory") {
        memory_rows(scale, table);
    }
    if scale.wants("iperf") {
        iperf_row(scale, table);
    }
}

/// Runs `baseline` and `ours` alternately, `rounds` times each, on a
/// two-worker tokio runtime; returns their median durations.
fn interleave<B, O, FB, FO>(scale: &Scale, baseline: B, ours: O) -> (Duration, Duration)
where
    B: Fn() -> FB,
    O: Fn() -> FO,
    FB: Future<Output = Duration>,
    FO: Future<Output = Duration>,
{
    interleave_on(
        scale,
        tokio::runtime::Builder::new_multi_thread().worker_threads(2),
        baseline,
        ours,
    )
}

/// As [`interleave`], on the runtime `builder` makes.
fn interleave_on<B, O, FB, FO>(
    scale: &Scale,
    builder: &mut tokio::runtime::Builder,
    baseline: B,
    ours: O,
) -> (Duration, Duration)
where
    B: Fn() -> FB,
    O: Fn() -> FO,
    FB: Future<Output = Duration>,
    FO: Future<Output = Duration>,
{
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => panic!("cannot start tokio: {err}"),
    };
    let (mut b, mut o) = (Vec::new(), Vec::new());
    // One untimed warm-up of each.
    runtime.block_on(baseline());
    runtime.block_on(ours());
    for _ in 0..scale.rounds {
        b.push(runtime.block_on(baseline()));
        o.push(runtime.block_on(ours()));
    }
    (median(b), median(o))
}

async fn raw_tokio_pair() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
    let (client, server) = (client.expect("connect"), accepted.expect("accept").0);
    client.set_nodelay(true).expect("nodelay");
    server.set_nodelay(true).expect("nodelay");
    (client, server)
}

async fn flow_tokio_pair() -> (flow_tokio::TcpFlow, flow_tokio::TcpFlow) {
    let listener = flow_tokio::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) = tokio::join!(flow_tokio::TcpFlow::connect(addr), listener.accept());
    (client.expect("connect"), accepted.expect("accept").0)
}

/// Reads a flow to its end; returns the byte count.
async fn drain<F: FlowRead + Unpin>(flow: &mut F) -> u64 {
    let mut got = 0;
    while let Chunk::Data(data) = flow.read().await.expect("read") {
        got += data.len() as u64;
    }
    got
}

async fn drain_raw<R: tokio::io::AsyncRead + Unpin>(reader: &mut R) -> u64 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    loop {
        let n = reader.read(&mut buf).await.expect("read");
        if n == 0 {
            return got;
        }
        got += n as u64;
    }
}

fn tokio_rows(scale: &Scale, table: &mut Table) {
    if scale.wants("tokio-bulk") {
        tokio_bulk(scale, table);
    }
    if scale.wants("tokio-small") {
        tokio_small(scale, table);
    }
    if scale.wants("tokio-pingpong") {
        tokio_pingpong(scale, table);
    }
}

fn tokio_bulk(scale: &Scale, table: &mut Table) {
    // Bulk: 64 KiB writes.
    let total = scale.bytes(1024 * MIB, 64 * MIB);
    let chunk = 64 * KIB as usize;
    let (raw, ours) = interleave(
        scale,
        || async move {
            let (mut a, mut b) = raw_tokio_pair().await;
            let started = Instant::now();
            let writer = tokio::spawn(async move {
                let buf = vec![7u8; chunk];
                for _ in 0..total / chunk as u64 {
                    a.write_all(&buf).await.expect("write");
                }
                a.shutdown().await.expect("shutdown");
            });
            assert_eq!(drain_raw(&mut b).await, total);
            writer.await.expect("writer");
            started.elapsed()
        },
        || async move {
            let (mut a, mut b) = flow_tokio_pair().await;
            let started = Instant::now();
            let writer = tokio::spawn(async move {
                let buf = Bytes::from(vec![7u8; chunk]);
                for _ in 0..total / chunk as u64 {
                    a.write(buf.clone()).await.expect("write");
                }
                a.shutdown(Shutdown::Write).await.expect("shutdown");
            });
            assert_eq!(drain(&mut b).await, total);
            writer.await.expect("writer");
            started.elapsed()
        },
    );
    table.compare(
        &format!("tokio TCP bulk, {} MiB in 64 KiB writes", total / MIB),
        "flow-tokio",
        ours,
        "tokio TcpStream",
        raw,
        Unit::Throughput(total),
        Some(1.0),
    );
}

fn tokio_small(scale: &Scale, table: &mut Table) {
    // Bursts of 64-byte messages: the flow feeds them and flushes once
    // (vectored writes); the baseline write_alls each.
    let messages = scale.bytes(1_000_000, 100_000);
    let (raw, ours) = interleave(
        scale,
        || async move {
            let (mut a, mut b) = raw_tokio_pair().await;
            let started = Instant::now();
            let writer = tokio::spawn(async move {
                let msg = [9u8; 64];
                for _ in 0..messages {
                    a.write_all(&msg).await.expect("write");
                }
                a.shutdown().await.expect("shutdown");
            });
            assert_eq!(drain_raw(&mut b).await, messages * 64);
            writer.await.expect("writer");
            started.elapsed()
        },
        || async move {
            let (mut a, mut b) = flow_tokio_pair().await;
            let started = Instant::now();
            let writer = tokio::spawn(async move {
                let msg = Bytes::from_static(&[9u8; 64]);
                for _ in 0..messages {
                    a.feed(msg.clone()).await.expect("feed");
                }
                a.shutdown(Shutdown::Write).await.expect("shutdown");
            });
            assert_eq!(drain(&mut b).await, messages * 64);
            writer.await.expect("writer");
            started.elapsed()
        },
    );
    table.compare(
        &format!("tokio TCP, {messages} messages of 64 B"),
        "flow-tokio feed",
        ours,
        "write_all each",
        raw,
        Unit::Rate(messages),
        Some(2.0),
    );
}

fn tokio_pingpong(scale: &Scale, table: &mut Table) {
    // One-byte ping-pong, both ends on one thread: the row measures the
    // flow's overhead, not where the scheduler happens to wake a task.
    let trips = scale.bytes(20_000, 5_000);
    let (raw, ours) = interleave_on(
        scale,
        &mut tokio::runtime::Builder::new_current_thread(),
        || async move {
            let (mut a, mut b) = raw_tokio_pair().await;
            let echo = tokio::spawn(async move {
                let mut byte = [0u8; 1];
                while b.read(&mut byte).await.expect("read") == 1 {
                    b.write_all(&byte).await.expect("write");
                }
            });
            let started = Instant::now();
            let mut byte = [1u8; 1];
            for _ in 0..trips {
                a.write_all(&byte).await.expect("write");
                a.read_exact(&mut byte).await.expect("read");
            }
            let elapsed = started.elapsed();
            drop(a);
            echo.await.expect("echo");
            elapsed
        },
        || async move {
            let (mut a, mut b) = flow_tokio_pair().await;
            let echo = tokio::spawn(async move {
                while let Chunk::Data(data) = b.read().await.expect("read") {
                    b.write(data).await.expect("write");
                }
            });
            let started = Instant::now();
            let ping = Bytes::from_static(b"x");
            for _ in 0..trips {
                a.write(ping.clone()).await.expect("write");
                let _ = a.read().await.expect("read");
            }
            let elapsed = started.elapsed();
            a.shutdown(Shutdown::Write).await.expect("shutdown");
            echo.await.expect("echo");
            elapsed
        },
    );
    table.compare(
        "tokio TCP 1-byte ping-pong round trip",
        "flow-tokio",
        ours,
        "tokio TcpStream",
        raw,
        Unit::Latency(trips),
        Some(0.95),
    );
}

fn mem_rows(scale: &Scale, table: &mut Table) {
    for (size, total) in [
        (64usize, scale.bytes(16 * MIB, 2 * MIB)),
        (4096, scale.bytes(256 * MIB, 32 * MIB)),
        (65536, scale.bytes(1024 * MIB, 128 * MIB)),
    ] {
        let count = total / size as u64;
        let (raw, ours) = interleave(
            scale,
            || async move {
                let (mut a, mut b) = tokio::io::duplex(64 * 1024);
                let started = Instant::now();
                let buf = vec![3u8; size];
                let writer = async {
                    for _ in 0..count {
                        a.write_all(&buf).await.expect("write");
                    }
                    a.shutdown().await.expect("shutdown");
                };
                let (_, got) = tokio::join!(writer, drain_raw(&mut b));
                assert_eq!(got, total);
                started.elapsed()
            },
            || async move {
                let (mut a, mut b) = flow_mem::pair();
                let started = Instant::now();
                let buf = Bytes::from(vec![3u8; size]);
                let writer = async {
                    for _ in 0..count {
                        a.write(buf.clone()).await.expect("write");
                    }
                    a.shutdown(Shutdown::Write).await.expect("shutdown");
                };
                let (_, got) = tokio::join!(writer, drain(&mut b));
                assert_eq!(got, total);
                started.elapsed()
            },
        );
        let target = if size == 65536 { Some(10.0) } else { None };
        table.compare(
            &format!("in-memory pair, {size} B messages"),
            "flow-mem",
            ours,
            "tokio::io::duplex",
            raw,
            Unit::Throughput(total),
            target,
        );
    }
}

/// Bytes of resident memory per idle connected flow: a child process opens
/// the connections (so that each process stays under the descriptor limit)
/// and reports its resident memory growth.
fn memory_rows(scale: &Scale, table: &mut Table) {
    let flows = if scale.quick { 1000 } else { 10_000 };
    let probe = |kind: &str| -> Option<f64> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
        let addr = listener.local_addr().ok()?;
        let acceptor = std::thread::spawn(move || {
            let mut held = Vec::with_capacity(flows);
            while held.len() < flows {
                match listener.accept() {
                    Ok((socket, _)) => held.push(socket),
                    Err(_) => break,
                }
            }
            held
        });
        let output = std::process::Command::new(std::env::current_exe().ok()?)
            .args(["--memory-probe", kind, &addr.to_string(), &flows.to_string()])
            .output()
            .ok()?;
        drop(acceptor.join());
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    };
    if let (Some(raw), Some(ours)) = (probe("tokio-raw"), probe("tokio-flow")) {
        table.compare_values(
            &format!("memory per idle TCP connection ({flows})"),
            "flow-tokio",
            ours,
            "tokio TcpStream",
            raw,
            "B",
        );
    } else {
        eprintln!("flow-bench: the memory probe failed; row left out");
    }
}

/// The child side of [`memory_rows`]: opens `count` connections to `addr`
/// and prints the resident memory growth per connection.
pub(crate) fn memory_probe(kind: &str, addr: &str, count: usize) -> Result<f64, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let before = resident_bytes()?;
        let per = match kind {
            "tokio-raw" => {
                let mut held = Vec::with_capacity(count);
                for _ in 0..count {
                    held.push(tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?);
                }
                (resident_bytes()? - before) as f64 / count as f64
            }
            "tokio-flow" => {
                let mut held = Vec::with_capacity(count);
                for _ in 0..count {
                    held.push(flow_tokio::TcpFlow::connect(addr).await.map_err(|e| e.to_string())?);
                }
                (resident_bytes()? - before) as f64 / count as f64
            }
            other => return Err(format!("unknown probe {other}")),
        };
        Ok(per)
    })
}

fn resident_bytes() -> Result<i64, String> {
    let statm = std::fs::read_to_string("/proc/self/statm").map_err(|e| format!("/proc/self/statm: {e}"))?;
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or("bad statm")?;
    Ok(pages * 4096)
}

/// The loopback limit for reference, when iperf3 is installed.
fn iperf_row(scale: &Scale, table: &mut Table) {
    let Some(iperf) = iperf3_throughput(if scale.quick { 1 } else { 5 }) else {
        eprintln!("flow-bench: iperf3 is not installed; the loopback reference row is left out");
        return;
    };
    // Our single-stream figure: the bulk row's flow side.
    let ours = table
        .rows
        .iter()
        .find(|r| r.what.starts_with("tokio TCP bulk"))
        .map(|r| r.ours_value);
    if let Some(ours) = ours {
        table.rows.push(crate::stats::Row {
            what: "single-stream TCP vs the loopback limit".into(),
            ours: "flow-tokio".into(),
            ours_value: ours,
            baseline: "iperf3".into(),
            baseline_value: iperf,
            unit: "MiB/s",
            ratio: ours / iperf,
            target: Some(0.8),
        });
    }
}

fn iperf3_throughput(seconds: u32) -> Option<f64> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port()
        .to_string();
    let mut server = std::process::Command::new("iperf3")
        .args(["-s", "-1", "-B", "127.0.0.1", "-p", &port])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    // The server needs a moment to listen: retry the client, bounded.
    let mut result = None;
    for _ in 0..50 {
        let output = std::process::Command::new("iperf3")
            .args(["-c", "127.0.0.1", "-p", &port, "-t", &seconds.to_string(), "-f", "m"])
            .output()
            .ok()?;
        if output.status.success() {
            result = String::from_utf8_lossy(&output.stdout)
                .lines()
                .find(|l| l.contains("receiver"))
                .and_then(|l| {
                    let words: Vec<&str> = l.split_whitespace().collect();
                    let at = words.iter().position(|w| *w == "Mbits/sec")?;
                    words.get(at - 1)?.parse::<f64>().ok()
                })
                .map(|mbits| mbits * 1e6 / 8.0 / (1024.0 * 1024.0));
            break;
        }
        std::thread::yield_now();
    }
    let _ = server.kill();
    let _ = server.wait();
    result
}
