//! An echo server under many connections, after monoio's published
//! benchmark: 1, 100 and 1,000 clients, each writing 1 KiB, waiting for the
//! 1 KiB echoed back, and repeating. Reports the round trips per second of
//! all connections together and the 99th percentile of one round trip, for
//! each backend's flow server against its runtime's raw server (and, for
//! compio, against raw tokio too).
//!
//! Only the server differs between the sides of a row. Each round starts a
//! server on a thread of its own, one runtime on one thread (compio's
//! thread-per-core model, and the same shape for every runtime: tokio's
//! current-thread runtime; smol's and async-std's sockets on a
//! `LocalExecutor`, the executor async-std's own is built on). The load
//! generator is the same for every side: raw tokio clients on a
//! current-thread runtime on the calling thread, so on a two-core machine
//! one core serves and one loads. The clients connect in batches of 100,
//! each making one untimed round trip (so the server has accepted and
//! serves every connection); then all run their round trips at once, and
//! only that phase is timed: the round trips per second are all the trips
//! over that time, the p99 is over every trip of the round. Every echoed
//! byte is checked: each trip's payload carries its connection and trip
//! number. `TCP_NODELAY` is set on every socket of both ends (the flows
//! set it themselves).
//!
//! Groups: `tokio-echo`, `smol-echo`, `async-std-echo`, `compio-echo`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ::compio::BufResult;
use flow_api::prelude::*;

use crate::Scale;
use crate::rows::memory::raise_fd_limit;
use crate::rows::{Runtime, Tokio, interleave_blocking};
use crate::stats::{Table, Unit, percentile};

/// The groups, for `--only`.
const GROUPS: [&str; 4] = ["tokio-echo", "smol-echo", "async-std-echo", "compio-echo"];

/// Bytes in one ping (and its echo).
const PAYLOAD: usize = 1024;
/// What the raw servers read into: room for a few pings.
const RAW_BUFFER: usize = 4096;
/// Where the servers listen.
const LOCAL: &str = "127.0.0.1:0";
/// Clients that connect at once, at most: fewer than the smallest listen
/// backlog of the servers (128, std's and compio's), so that none waits
/// for a retransmitted handshake.
const CONNECT_BATCH: usize = 100;
/// A round that takes longer than this is stuck: fail the run.
const ROUND_TIMEOUT: Duration = Duration::from_secs(120);

/// How many clients, and how many timed round trips each makes.
#[derive(Debug, Clone, Copy)]
struct Load {
    conns: usize,
    trips: u64,
}

impl Load {
    fn total(self) -> u64 {
        self.conns as u64 * self.trips
    }
}

/// The loads of a run. With --quick, far fewer trips (and, at 1,000
/// connections, so few that mostly setup is checked): the quick echo rows
/// all together stay within about 20 s.
fn loads(scale: &Scale) -> [Load; 3] {
    let load = |conns, full, quick| Load {
        conns,
        trips: scale.bytes(full, quick),
    };
    [load(1, 10_000, 1_000), load(100, 300, 50), load(1_000, 50, 5)]
}

/// One round's outcome: how long the timed round trips took, and the 99th
/// percentile of one.
#[derive(Debug, Clone, Copy)]
struct Round {
    elapsed: Duration,
    p99: Duration,
}

/// A server: listens on [`LOCAL`], sends its address, serves `conns`
/// connections until each ends, and returns. Runs on a thread of its own.
type Serve = fn(conns: usize, ready: mpsc::Sender<SocketAddr>);

/// One side of a row: its name and its server.
type Side = (&'static str, Serve);

/// The echo rows, by runtime and load.
pub(crate) fn rows(scale: &Scale, table: &mut Table) {
    if !GROUPS.iter().any(|group| scale.wants(group)) {
        return;
    }
    let client = Tokio::current_thread();
    let runtimes: [(&str, &str, Side, Side); 3] = [
        (
            "tokio-echo",
            "tokio",
            ("tokio TcpStream", servers::tokio_raw),
            ("flow-tokio", servers::tokio_flow),
        ),
        (
            "smol-echo",
            "smol",
            ("async-net TcpStream", servers::smol_raw),
            ("flow-smol", servers::smol_flow),
        ),
        (
            "async-std-echo",
            "async-std",
            ("async-std TcpStream", servers::async_std_raw),
            ("flow-async-std", servers::async_std_flow),
        ),
    ];
    for (group, runtime, (raw_name, raw), (ours_name, ours)) in runtimes {
        if !scale.wants(group) {
            continue;
        }
        for load in loads(scale) {
            if !fds_for(load) {
                continue;
            }
            let [raw_rounds, ours_rounds] = sides(scale, &client, load, [raw, ours]);
            let rows = Rows { runtime, load };
            rows.add(table, (ours_name, &ours_rounds), (raw_name, &raw_rounds), true);
        }
    }
    if scale.wants("compio-echo") {
        for load in loads(scale) {
            if !fds_for(load) {
                continue;
            }
            let [raw, ours, tokio] = sides(
                scale,
                &client,
                load,
                [servers::compio_raw, servers::compio_flow, servers::tokio_raw],
            );
            let rows = Rows {
                runtime: "compio",
                load,
            };
            rows.add(table, ("flow-compio", &ours), ("compio TcpStream", &raw), true);
            rows.add(table, ("flow-compio", &ours), ("tokio TcpStream", &tokio), false);
        }
    }
}

/// Whether the descriptor limit allows `load` (a client and a server end per
/// connection, and some to spare), raising it if needed; says so when not.
fn fds_for(load: Load) -> bool {
    let wanted = 2 * load.conns as u64 + 256;
    let limit = raise_fd_limit(wanted);
    if limit < wanted {
        eprintln!(
            "flow-bench: {} echo connections need {wanted} descriptors, the limit is {limit}; rows left out",
            load.conns
        );
    }
    limit >= wanted
}

/// The rounds of each server under `load`, interleaved.
fn sides<const N: usize>(scale: &Scale, client: &Tokio, load: Load, servers: [Serve; N]) -> [Vec<Round>; N] {
    let runs: Vec<Box<dyn Fn() -> Round + '_>> = servers
        .iter()
        .map(|&serve| Box::new(move || round(serve, load, client)) as Box<dyn Fn() -> Round + '_>)
        .collect();
    let runs: Vec<&dyn Fn() -> Round> = runs.iter().map(|run| &**run).collect();
    match <[Vec<Round>; N]>::try_from(interleave_blocking(scale, &runs)) {
        Ok(rounds) => rounds,
        Err(_) => unreachable!("N sides give N sets of rounds"),
    }
}

/// The two rows (round trips per second, p99) of one comparison.
struct Rows {
    runtime: &'static str,
    load: Load,
}

impl Rows {
    fn add(
        &self,
        table: &mut Table,
        (ours, ours_rounds): (&str, &[Round]),
        (baseline, base_rounds): (&str, &[Round]),
        targets: bool,
    ) {
        let Load { conns, trips } = self.load;
        let conns = match conns {
            1 => "1 conn".to_owned(),
            n => format!("{n} conns"),
        };
        let elapsed = |rounds: &[Round]| rounds.iter().map(|r| r.elapsed).collect::<Vec<_>>();
        let p99 = |rounds: &[Round]| rounds.iter().map(|r| r.p99).collect::<Vec<_>>();
        table.compare(
            &format!("{} echo, {conns} x {trips} trips of 1 KiB", self.runtime),
            ours,
            &elapsed(ours_rounds),
            baseline,
            &elapsed(base_rounds),
            Unit::Rate(self.load.total()),
            targets.then_some(1.0),
        );
        table.compare(
            &format!("{} echo, {conns}: p99 of a round trip", self.runtime),
            ours,
            &p99(ours_rounds),
            baseline,
            &p99(base_rounds),
            Unit::Latency(1),
            targets.then_some(0.95),
        );
    }
}

/// One round: starts `serve` on a thread of its own, runs the clients on
/// `client`, and waits for the server to finish (each within
/// [`ROUND_TIMEOUT`]).
fn round(serve: Serve, load: Load, client: &Tokio) -> Round {
    let (ready, address) = mpsc::channel();
    let (done, finished) = mpsc::channel();
    let server = std::thread::spawn(move || {
        serve(load.conns, ready);
        let _ = done.send(());
    });
    let Ok(addr) = address.recv() else {
        // The server ended before listening: its panic says why.
        match server.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => panic!("the echo server ended without listening"),
        }
    };
    let round = client
        .block_on(async { tokio::time::timeout(ROUND_TIMEOUT, clients(addr, load)).await })
        .unwrap_or_else(|_| {
            panic!(
                "an echo round with {} connections took over {ROUND_TIMEOUT:?}",
                load.conns
            )
        });
    // Disconnected means the server panicked: joining it re-raises that.
    if let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(ROUND_TIMEOUT) {
        panic!("the echo server did not end {ROUND_TIMEOUT:?} after its clients");
    }
    if let Err(panic) = server.join() {
        std::panic::resume_unwind(panic);
    }
    round
}

/// The load generator: connects `load.conns` clients, [`CONNECT_BATCH`] at
/// a time, each making one untimed trip; then times all their trips at
/// once.
async fn clients(addr: SocketAddr, load: Load) -> Round {
    let mut conns = Vec::with_capacity(load.conns);
    for batch in (0..load.conns).collect::<Vec<_>>().chunks(CONNECT_BATCH) {
        let batch = batch.iter().map(|&id| async move {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let mut conn = Client::new(stream, id);
            conn.trip(0).await;
            conn
        });
        conns.extend(futures_util::future::join_all(batch).await);
    }
    let started = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|conn| tokio::spawn(conn.run(load.trips)))
        .collect();
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await.expect("an echo client failed"));
    }
    let elapsed = started.elapsed();
    let mut latencies = latencies.concat();
    assert_eq!(latencies.len() as u64, load.total(), "every trip was timed");
    Round {
        elapsed,
        p99: percentile(&mut latencies, 0.99),
    }
}

/// One client connection and its ping.
struct Client {
    stream: tokio::net::TcpStream,
    id: usize,
    ping: Vec<u8>,
    echo: Vec<u8>,
}

impl Client {
    fn new(stream: tokio::net::TcpStream, id: usize) -> Client {
        // A pattern of the connection's own; each trip writes its number
        // into the first bytes, so a mixed-up or stale echo shows.
        let mut ping: Vec<u8> = (0..PAYLOAD).map(|i| (i * 7 + id) as u8).collect();
        ping[8..16].copy_from_slice(&(id as u64).to_le_bytes());
        Client {
            stream,
            id,
            ping,
            echo: vec![0; PAYLOAD],
        }
    }

    /// One round trip, numbered `trip`; returns how long it took. Panics if
    /// the echo is not the ping.
    async fn trip(&mut self, trip: u64) -> Duration {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.ping[..8].copy_from_slice(&trip.to_le_bytes());
        let started = Instant::now();
        self.stream.write_all(&self.ping).await.expect("write");
        self.stream.read_exact(&mut self.echo).await.expect("read the echo");
        let took = started.elapsed();
        if self.echo != self.ping {
            let at = self.echo.iter().zip(&self.ping).position(|(a, b)| a != b);
            panic!(
                "echo connection {}, trip {trip}: the server sent back other bytes (first difference at byte {at:?})",
                self.id
            );
        }
        took
    }

    /// `trips` round trips (numbered from 1); returns each one's time.
    async fn run(mut self, trips: u64) -> Vec<Duration> {
        let mut took = Vec::with_capacity(trips as usize);
        for trip in 1..=trips {
            took.push(self.trip(trip).await);
        }
        took
    }
}

/// The servers, one function per side: each binds, reports its address,
/// accepts `conns` connections, echoes on each until its end of file, and
/// returns once all have ended.
mod servers {
    use super::*;

    /// Accepts `conns` connections with `accept`, hands each to `spawn`
    /// (which starts its echo task), then waits for every task.
    async fn serve<S, A, FA, P, T>(conns: usize, mut accept: A, mut spawn: P)
    where
        A: FnMut() -> FA,
        FA: Future<Output = S>,
        P: FnMut(S) -> T,
        T: Future<Output = ()>,
    {
        let mut tasks = Vec::with_capacity(conns);
        for _ in 0..conns {
            let stream = accept().await;
            tasks.push(spawn(stream));
        }
        for task in tasks {
            task.await;
        }
    }

    /// Echoes what a flow reads until its end of file.
    async fn flow_echo<F: Flow + Unpin>(mut flow: F) {
        while let Chunk::Data(data) = flow.read().await.expect("read") {
            flow.write(data).await.expect("write");
        }
    }

    /// Echoes a tokio stream, as a tokio echo server is written: read into
    /// a buffer, `write_all` it back.
    async fn tokio_echo(mut stream: tokio::net::TcpStream) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = vec![0u8; RAW_BUFFER];
        loop {
            match stream.read(&mut buf).await.expect("read") {
                0 => return,
                n => stream.write_all(&buf[..n]).await.expect("write"),
            }
        }
    }

    /// [`tokio_echo`] over futures-io (async-net, async-std).
    async fn fio_echo<S>(mut stream: S)
    where
        S: futures_util::io::AsyncRead + futures_util::io::AsyncWrite + Unpin,
    {
        use futures_util::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = vec![0u8; RAW_BUFFER];
        loop {
            match stream.read(&mut buf).await.expect("read") {
                0 => return,
                n => stream.write_all(&buf[..n]).await.expect("write"),
            }
        }
    }

    /// Echoes a compio stream as compio code is written: an owned buffer
    /// handed to the kernel and back, reused.
    async fn compio_echo(mut stream: ::compio::net::TcpStream) {
        use ::compio::io::{AsyncRead, AsyncWriteExt};
        let mut buf = Vec::with_capacity(RAW_BUFFER);
        loop {
            buf.clear();
            let BufResult(n, back) = stream.read(buf).await;
            if n.expect("read") == 0 {
                return;
            }
            let BufResult(done, back) = stream.write_all(back).await;
            done.expect("write");
            buf = back;
        }
    }

    fn on_tokio(serve: impl Future<Output = ()>) {
        Tokio::current_thread().block_on(serve);
    }

    pub(super) fn tokio_raw(conns: usize, ready: mpsc::Sender<SocketAddr>) {
        on_tokio(async {
            let listener = tokio::net::TcpListener::bind(LOCAL).await.expect("bind");
            ready.send(listener.local_addr().expect("addr")).expect("ready");
            let accept = || async {
                let (stream, _) = listener.accept().await.expect("accept");
                stream.set_nodelay(true).expect("nodelay");
                stream
            };
            serve(conns, accept, |stream| Tokio::spawn(tokio_echo(stream))).await;
        });
    }

    pub(super) fn tokio_flow(conns: usize, ready: mpsc::Sender<SocketAddr>) {
        on_tokio(async {
            let listener = flow_tokio::TcpListener::bind(LOCAL).await.expect("bind");
            ready.send(listener.local_addr().expect("addr")).expect("ready");
            let accept = || async { listener.accept().await.expect("accept").0 };
            serve(conns, accept, |flow| Tokio::spawn(flow_echo(flow))).await;
        });
    }

    pub(super) fn smol_raw(conns: usize, ready: mpsc::Sender<SocketAddr>) {
        let ex = smol::LocalExecutor::new();
        smol::block_on(ex.run(async {
            let listener = async_net::TcpListener::bind(LOCAL).await.expect("bind");
            ready.send(listener.local_addr().expect("addr")).expect("ready");
            let accept = || async {
                let (stream, _) = listener.accept().await.expect("accept");
                stream.set_nodelay(true).expect("nodelay");
                stream
            };
            serve(conns, accept, |stream| ex.spawn(fio_echo(stream))).await;
        }));
    }

    pub(super) fn smol_flow(conns: usize, ready: mpsc::Sender<SocketAddr>) {
        let ex = smol::LocalExecutor::new();
        smol::block_on(ex.run(async {
            let listener = flow_smol::TcpListener::bind(LOCAL).await.expect("bind");
            ready.send(listener.local_addr().expect("addr")).expect("ready");
            let accept = || async { listener.accept().await.expect("accept").0 };
            serve(conns, accept, |flow| ex.spawn(flow_echo(flow))).await;
        }));
    }

    pub(super) fn async_std_raw(conns: usize, ready: mpsc::Sender<SocketAddr>) {
        let ex = smol::LocalExecutor::new();
        async_std::task::block_on(ex.run(async {
            let listener = async_std::net::TcpListener::bind(LOCAL).await.expect("bind");
            ready.send(listener.local_addr().expect("addr")).expect("ready");
            let accept = || async {
                let (stream, _) = listener.accept().await.expect("accept");
                stream.set_nodelay(true).expect("nodelay");
                stream
            };
            serve(conns, accept, |stream| ex.spawn(fio_echo(stream))).await;
        }));
    }

    pub(super) fn async_std_flow(conns: usize, ready: mpsc::Sender<SocketAddr>) {
        let ex = smol::LocalExecutor::new();
        async_std::task::block_on(ex.run(async {
            let listener = flow_async_std::TcpListener::bind(LOCAL).await.expect("bind");
            ready.send(listener.local_addr().expect("addr")).expect("ready");
            let accept = || async { listener.accept().await.expect("accept").0 };
            serve(conns, accept, |flow| ex.spawn(flow_echo(flow))).await;
        }));
    }

    /// Spawns a task on the current compio runtime; awaiting it re-raises
    /// its panic.
    fn compio_spawn(future: impl Future<Output = ()> + 'static) -> impl Future<Output = ()> {
        use ::compio::runtime::ResumeUnwind;
        let task = ::compio::runtime::spawn(future);
        async move {
            if task.await.resume_unwind().is_none() {
                panic!("an echo task was cancelled");
            }
        }
    }

    fn on_compio(serve: impl Future<Output = ()>) {
        ::compio::runtime::Runtime::new()
            .expect("cannot start compio")
            .block_on(serve);
    }

    pub(super) fn compio_raw(conns: usize, ready: mpsc::Sender<SocketAddr>) {
        on_compio(async {
            let listener = ::compio::net::TcpListener::bind(LOCAL).await.expect("bind");
            ready.send(listener.local_addr().expect("addr")).expect("ready");
            let accept = || async {
                let (stream, _) = listener.accept().await.expect("accept");
                stream.set_nodelay(true).expect("nodelay");
                stream
            };
            serve(conns, accept, |stream| compio_spawn(compio_echo(stream))).await;
        });
    }

    pub(super) fn compio_flow(conns: usize, ready: mpsc::Sender<SocketAddr>) {
        on_compio(async {
            let listener = flow_compio::TcpListener::bind(LOCAL).await.expect("bind");
            ready.send(listener.local_addr().expect("addr")).expect("ready");
            let accept = || async { listener.accept().await.expect("accept").0 };
            serve(conns, accept, |flow| compio_spawn(flow_echo(flow))).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_echoes() {
        let client = Tokio::current_thread();
        let load = Load { conns: 3, trips: 20 };
        let all: [(&str, Serve); 8] = [
            ("tokio raw", servers::tokio_raw),
            ("tokio flow", servers::tokio_flow),
            ("smol raw", servers::smol_raw),
            ("smol flow", servers::smol_flow),
            ("async-std raw", servers::async_std_raw),
            ("async-std flow", servers::async_std_flow),
            ("compio raw", servers::compio_raw),
            ("compio flow", servers::compio_flow),
        ];
        for (name, serve) in all {
            let round = round(serve, load, &client);
            assert!(
                Duration::ZERO < round.p99 && round.p99 <= round.elapsed,
                "{name}: a p99 of {:?} in a timed phase of {:?}",
                round.p99,
                round.elapsed
            );
        }
    }

    /// An echo server that flips a bit of the last byte of every read.
    fn corrupting(conns: usize, ready: mpsc::Sender<SocketAddr>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        assert_eq!(conns, 1);
        Tokio::current_thread().block_on(async {
            let listener = tokio::net::TcpListener::bind(LOCAL).await.expect("bind");
            ready.send(listener.local_addr().expect("addr")).expect("ready");
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; RAW_BUFFER];
            loop {
                match stream.read(&mut buf).await.expect("read") {
                    0 => return,
                    n => {
                        buf[n - 1] ^= 1;
                        stream.write_all(&buf[..n]).await.expect("write");
                    }
                }
            }
        });
    }

    #[test]
    #[should_panic(expected = "the server sent back other bytes")]
    fn a_wrong_byte_stops_the_run() {
        round(corrupting, Load { conns: 1, trips: 1 }, &Tokio::current_thread());
    }
}
