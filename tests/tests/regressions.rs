//! Regression tests for defects that an outside check found with real
//! peers: each test failed (hung, or broke the contract) before its fix.
//!
//! Every test is bounded: `within_limit` (20 s), or
//! `flow_conformance::timer::timeout` for each step that may hang (20 s a
//! transfer, 10 s a close), and std peers have socket timeouts, so that a
//! hang fails instead of stalling the run.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read as _, Write as _};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flow_api::prelude::*;
use flow_conformance::Factory as _;
use flow_conformance::timer::timeout;
use flow_tests::tls::{acceptor, connector};
use flow_tests::{tokio_block_on, within_limit};
use flow_tls::rustls::version;
use flow_tls::server_name;
use futures_util::future::{join, try_join};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// The byte at `offset` of the test stream: not periodic at any chunk size
/// used here, so that a lost, repeated or reordered chunk shows.
fn byte_at(offset: usize) -> u8 {
    let x = offset as u64;
    (x ^ (x >> 8) ^ (x >> 16) ^ (x >> 24)) as u8
}

fn pattern(offset: usize, len: usize) -> Bytes {
    (offset..offset + len).map(byte_at).collect::<Vec<u8>>().into()
}

/// Where `data`, read at `offset`, first differs from the pattern.
fn first_mismatch(offset: usize, data: &[u8]) -> Option<usize> {
    data.iter()
        .enumerate()
        .find(|(i, b)| **b != byte_at(offset + i))
        .map(|(i, _)| offset + i)
}

// Defect 1: TLS over flow-smol, one task driving both halves of the TLS flow.

const ECHO_TOTAL: usize = 64 * MIB;
const ECHO_CHUNK: usize = 64 * KIB;
const ECHO_RUNS: usize = 8;
/// A transfer takes well under a second here, a few on a loaded machine; a
/// stalled one never ends.
const ECHO_LIMIT: Duration = Duration::from_secs(20);

/// A TLS echo server for one connection, on its own thread and smol
/// executor: it sends back what it reads, then closes after the client's end.
fn spawn_tls_echo_server() -> (SocketAddr, std::thread::JoinHandle<Result<usize, Error>>) {
    let (addr_tx, addr_rx) = mpsc::channel();
    let server = std::thread::spawn(move || {
        smol::block_on(async move {
            let listener = flow_smol::TcpListener::bind("127.0.0.1:0").await?;
            let _ = addr_tx.send(listener.local_addr()?);
            let (tcp, _) = listener.accept().await?;
            let mut tls = acceptor(&[&version::TLS13]).accept(tcp).await?;
            let mut echoed = 0;
            while let Chunk::Data(data) = tls.read().await? {
                echoed += data.len();
                tls.write(data).await?;
            }
            tls.close().await?;
            Ok(echoed)
        })
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the echo server did not start");
    (addr, server)
}

/// How far a transfer got, for the report of one that stalled.
#[derive(Debug, Default)]
struct Progress {
    written: AtomicUsize,
    read: AtomicUsize,
}

/// Splits the TLS flow and drives both halves from this one task.
async fn echo_transfer(addr: SocketAddr, progress: &Progress) -> Result<(), String> {
    let tcp = flow_smol::TcpFlow::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let tls = connector(&[&version::TLS13])
        .connect(server_name("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (mut reader, mut writer) = flow_api::split(tls);
    let write_all = async {
        for offset in (0..ECHO_TOTAL).step_by(ECHO_CHUNK) {
            writer
                .write(pattern(offset, ECHO_CHUNK))
                .await
                .map_err(|e| format!("write at {offset}: {e}"))?;
            progress.written.store(offset + ECHO_CHUNK, Ordering::Relaxed);
        }
        // A write half is no whole flow: no `shutdown`, its poll method instead.
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut writer).poll_shutdown_write(cx))
            .await
            .map_err(|e| format!("shutdown(Write): {e}"))
    };
    let read_all = async {
        let mut received = 0;
        loop {
            match reader.read().await.map_err(|e| format!("read at {received}: {e}"))? {
                Chunk::Data(data) => {
                    if let Some(at) = first_mismatch(received, &data) {
                        return Err(format!("the echo differs from what was sent at byte {at}"));
                    }
                    received += data.len();
                    progress.read.store(received, Ordering::Relaxed);
                }
                Chunk::Eof => return Ok(received),
            }
        }
    };
    let (written, read) = futures_util::join!(write_all, read_all);
    written?;
    let received = read?;
    if received != ECHO_TOTAL {
        return Err(format!("received {received} bytes of {ECHO_TOTAL}"));
    }
    let mut tls = reader.reunite(writer).map_err(|e| e.to_string())?;
    tls.close().await.map_err(|e| format!("close: {e}"))
}

#[test]
fn tls_over_smol_one_task_driving_both_halves_does_not_hang() {
    let mut failures = Vec::new();
    for run in 1..=ECHO_RUNS {
        let (addr, server) = spawn_tls_echo_server();
        let started = Instant::now();
        let progress = Progress::default();
        match smol::block_on(timeout(ECHO_LIMIT, echo_transfer(addr, &progress))) {
            Some(Ok(())) => match server.join() {
                Ok(Ok(echoed)) => assert_eq!(echoed, ECHO_TOTAL, "run {run}: the server echoed {echoed} bytes"),
                Ok(Err(err)) => failures.push(format!("run {run}: the echo server failed: {err}")),
                Err(_) => failures.push(format!("run {run}: the echo server panicked")),
            },
            Some(Err(err)) => failures.push(format!("run {run}: {err}")),
            // The client was dropped: the server sees the connection end and stops on its own.
            None => failures.push(format!(
                "run {run}: the transfer stopped for good, still pending after {:?} (written {} KiB, read {} KiB of {} KiB)",
                started.elapsed(),
                progress.written.load(Ordering::Relaxed) / KIB,
                progress.read.load(Ordering::Relaxed) / KIB,
                ECHO_TOTAL / KIB
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ECHO_RUNS} transfers failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// Defect 2: TLS close against a peer that reads close_notify, then neither
// answers nor closes.

/// The TCP close deadline the client sets; its TLS close must keep to it.
const TCP_CLOSE_DEADLINE: Duration = Duration::from_secs(2);
/// Far above the deadline, far below "never".
const CLOSE_LIMIT: Duration = Duration::from_secs(10);

macro_rules! tls_close_keeps_the_tcp_close_deadline {
    ($name:ident, $factory:ty, $block_on:path) => {
        #[test]
        fn $name() {
            $block_on(within_limit(async {
                let (client, server) = <$factory>::default().connect().await.unwrap();
                let (mut client, mut server) = try_join(
                    connector(&[&version::TLS13]).connect(server_name("localhost").unwrap(), client),
                    acceptor(&[&version::TLS13]).accept(server),
                )
                .await
                .unwrap();
                client.get_mut().set_close_timeout(Some(TCP_CLOSE_DEADLINE));
                // The peer reads up to the client's close_notify, then holds
                // the connection open without a word until the test ends.
                let silent_peer = async {
                    loop {
                        match server.read().await {
                            Ok(Chunk::Data(_)) => {}
                            other => break other,
                        }
                    }
                };
                let closing = async {
                    let started = Instant::now();
                    let closed = timeout(CLOSE_LIMIT, client.close()).await;
                    (closed, started.elapsed())
                };
                let (seen, (closed, elapsed)) = join(silent_peer, closing).await;
                assert!(
                    matches!(seen, Ok(Chunk::Eof)),
                    "the peer must have read close_notify as end of file: {seen:?}"
                );
                let Some(closed) = closed else {
                    panic!("TlsFlow::close still pending after {elapsed:?}, with a TCP close deadline of {TCP_CLOSE_DEADLINE:?}");
                };
                let err = closed.expect_err("close cannot complete gracefully: the peer never closes");
                assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
                assert!(elapsed >= TCP_CLOSE_DEADLINE / 2, "close gave up after {elapsed:?}, before its deadline");
                // The peer lived, silent, until the close was over.
                drop(server);
            }));
        }
    };
}

tls_close_keeps_the_tcp_close_deadline!(
    tls_close_over_tokio_keeps_the_tcp_close_deadline,
    flow_tests::TokioTcp,
    tokio_block_on
);
tls_close_keeps_the_tcp_close_deadline!(
    tls_close_over_smol_keeps_the_tcp_close_deadline,
    flow_tests::SmolTcp,
    smol::block_on
);

// Defect 3: TCP after shutdown(Read), against a peer that writes far more
// than any socket buffer holds.

const PEER_WRITES: usize = 32 * MIB;
const FLOW_WRITES: usize = MIB;

/// A plain blocking peer: it writes `PEER_WRITES`, ends its writes, then
/// reads what the flow sent until end of file. Its socket timeouts bound
/// every step.
fn spawn_flooding_peer() -> (SocketAddr, std::thread::JoinHandle<Result<Vec<u8>, String>>) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
        socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        socket.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        let block = vec![0x5a; 64 * KIB];
        let mut written = 0;
        while written < PEER_WRITES {
            socket.write_all(&block).map_err(|e| {
                format!(
                    "the peer's writes failed after {} KiB of {} KiB: {e}",
                    written / KIB,
                    PEER_WRITES / KIB
                )
            })?;
            written += block.len();
        }
        socket
            .shutdown(NetShutdown::Write)
            .map_err(|e| format!("peer shutdown(Write): {e}"))?;
        let mut received = Vec::new();
        socket
            .read_to_end(&mut received)
            .map_err(|e| format!("peer read after {} bytes: {e}", received.len()))?;
        Ok(received)
    });
    (addr, peer)
}

macro_rules! shutdown_read_discards_what_the_peer_sends {
    ($name:ident, $krate:ident, $block_on:path) => {
        #[test]
        fn $name() {
            let (addr, peer) = spawn_flooding_peer();
            let (closed, flow) = $block_on(within_limit(async {
                let mut flow = $krate::TcpFlow::connect(addr).await.unwrap();
                flow.shutdown(Shutdown::Read).await.unwrap();
                flow.write(pattern(0, FLOW_WRITES)).await.unwrap();
                assert_eq!(
                    flow.read().await.unwrap(),
                    Chunk::Eof,
                    "a read after shutdown(Read)"
                );
                let closed = flow.close().await;
                (closed, flow)
            }));
            // Kept until the peer is done: dropping it would reset the connection.
            let received = peer.join().unwrap();
            drop(flow);
            let received = received.unwrap();
            closed.unwrap();
            assert_eq!(received.len(), FLOW_WRITES, "what the peer received");
            assert_eq!(first_mismatch(0, &received), None, "what the peer received");
        }
    };
}

shutdown_read_discards_what_the_peer_sends!(
    tokio_shutdown_read_discards_what_the_peer_sends,
    flow_tokio,
    tokio_block_on
);
shutdown_read_discards_what_the_peer_sends!(
    smol_shutdown_read_discards_what_the_peer_sends,
    flow_smol,
    smol::block_on
);
shutdown_read_discards_what_the_peer_sends!(
    async_std_shutdown_read_discards_what_the_peer_sends,
    flow_async_std,
    smol::block_on
);

/// Both ends queue more than the socket buffers hold, without reading, then
/// close at once: each close must discard the other's data while it flushes
/// its own, or both wait for each other.
macro_rules! closes_that_both_flush_a_lot_do_not_deadlock {
    ($name:ident, $factory:ty, $block_on:path) => {
        #[test]
        fn $name() {
            $block_on(within_limit(async {
                let (mut a, mut b) = <$factory>::default().connect().await.unwrap();
                a.feed(pattern(0, 8 * MIB)).await.unwrap();
                b.feed(pattern(0, 8 * MIB)).await.unwrap();
                let (ca, cb) = join(a.close(), b.close()).await;
                ca.unwrap();
                cb.unwrap();
            }));
        }
    };
}

closes_that_both_flush_a_lot_do_not_deadlock!(
    tokio_closes_that_both_flush_a_lot_do_not_deadlock,
    flow_tests::TokioTcp,
    tokio_block_on
);
closes_that_both_flush_a_lot_do_not_deadlock!(
    smol_closes_that_both_flush_a_lot_do_not_deadlock,
    flow_tests::SmolTcp,
    smol::block_on
);
