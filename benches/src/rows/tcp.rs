//! TCP over loopback, per runtime: each backend's flow against the
//! runtime's own stream. Bulk (64 KiB writes), bursts of 64-byte messages
//! (the flow feeds them and flushes once; the raw stream `write_all`s each)
//! and a one-byte ping-pong.

use crate::Scale;
use crate::rows::workloads::{BULK_CHUNK, SMALL, fio, flow, tokio_raw};
use crate::rows::{AsyncStd, MIB, Samples, Smol, Tokio, interleave};
use crate::stats::{Table, Unit};

/// All the TCP rows, by runtime.
pub(crate) fn rows(scale: &Scale, table: &mut Table) {
    tokio_rows(scale, table);
    smol_rows(scale, table);
    async_std_rows(scale, table);
}

pub(crate) fn bulk_total(scale: &Scale) -> u64 {
    scale.bytes(1024 * MIB, 64 * MIB)
}

pub(crate) fn burst_messages(scale: &Scale) -> u64 {
    scale.bytes(1_000_000, 100_000)
}

pub(crate) fn trips(scale: &Scale) -> u64 {
    scale.bytes(20_000, 5_000)
}

/// The three rows of one runtime, from its measured rounds.
struct Sides {
    runtime: &'static str,
    ours: &'static str,
    raw: &'static str,
}

impl Sides {
    fn bulk(&self, scale: &Scale, table: &mut Table, (raw, ours): (Samples, Samples)) {
        let total = bulk_total(scale);
        table.compare(
            &format!("{} TCP bulk, {} MiB in 64 KiB writes", self.runtime, total / MIB),
            self.ours,
            &ours,
            self.raw,
            &raw,
            Unit::Throughput(total),
            Some(1.0),
        );
    }

    fn burst(&self, scale: &Scale, table: &mut Table, (raw, ours): (Samples, Samples)) {
        let messages = burst_messages(scale);
        table.compare(
            &format!("{} TCP, {messages} messages of 64 B", self.runtime),
            &format!("{} feed", self.ours),
            &ours,
            "write_all each",
            &raw,
            Unit::Rate(messages),
            Some(2.0),
        );
    }

    fn pingpong(&self, scale: &Scale, table: &mut Table, (raw, ours): (Samples, Samples)) {
        table.compare(
            &format!("{} TCP 1-byte ping-pong round trip", self.runtime),
            self.ours,
            &ours,
            self.raw,
            &raw,
            Unit::Latency(trips(scale)),
            Some(0.95),
        );
    }
}

pub(crate) async fn raw_tokio_pair() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
    let (client, server) = (client.expect("connect"), accepted.expect("accept").0);
    client.set_nodelay(true).expect("nodelay");
    server.set_nodelay(true).expect("nodelay");
    (client, server)
}

pub(crate) async fn flow_tokio_pair() -> (flow_tokio::TcpFlow, flow_tokio::TcpFlow) {
    let listener = flow_tokio::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) = tokio::join!(flow_tokio::TcpFlow::connect(addr), listener.accept());
    (client.expect("connect"), accepted.expect("accept").0)
}

fn tokio_rows(scale: &Scale, table: &mut Table) {
    let sides = Sides {
        runtime: "tokio",
        ours: "flow-tokio",
        raw: "tokio TcpStream",
    };
    // Bulk and bursts on two workers: the writer is a spawned task.
    if scale.wants("tokio-bulk") {
        let total = bulk_total(scale);
        let samples = interleave(
            scale,
            &Tokio::multi_thread(),
            || async move { tokio_raw::bulk::<Tokio, _>(raw_tokio_pair().await, total, BULK_CHUNK).await },
            || async move { flow::bulk::<Tokio, _>(flow_tokio_pair().await, total, BULK_CHUNK).await },
        );
        sides.bulk(scale, table, samples);
    }
    if scale.wants("tokio-small") {
        let messages = burst_messages(scale);
        let samples = interleave(
            scale,
            &Tokio::multi_thread(),
            || async move { tokio_raw::burst::<Tokio, _>(raw_tokio_pair().await, messages, SMALL).await },
            || async move { flow::burst::<Tokio, _>(flow_tokio_pair().await, messages, SMALL).await },
        );
        sides.burst(scale, table, samples);
    }
    // Ping-pong with both ends on one thread: the row measures the flow's
    // overhead, not where the scheduler happens to wake a task (on two
    // workers it varies 4x from run to run, for raw tokio as much).
    if scale.wants("tokio-pingpong") {
        let trips = trips(scale);
        let samples = interleave(
            scale,
            &Tokio::current_thread(),
            || async move { tokio_raw::pingpong(raw_tokio_pair().await, trips).await },
            || async move { flow::pingpong(flow_tokio_pair().await, trips).await },
        );
        sides.pingpong(scale, table, samples);
    }
}

pub(crate) async fn raw_smol_pair() -> (async_net::TcpStream, async_net::TcpStream) {
    let listener = async_net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) = futures_util::future::join(async_net::TcpStream::connect(addr), listener.accept()).await;
    let (client, server) = (client.expect("connect"), accepted.expect("accept").0);
    client.set_nodelay(true).expect("nodelay");
    server.set_nodelay(true).expect("nodelay");
    (client, server)
}

pub(crate) async fn flow_smol_pair() -> (flow_smol::TcpFlow, flow_smol::TcpFlow) {
    let listener = flow_smol::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) = futures_util::future::join(flow_smol::TcpFlow::connect(addr), listener.accept()).await;
    (client.expect("connect"), accepted.expect("accept").0)
}

fn smol_rows(scale: &Scale, table: &mut Table) {
    let sides = Sides {
        runtime: "smol",
        ours: "flow-smol",
        raw: "async-net TcpStream",
    };
    // The reader on the calling thread, the writer on smol's global executor.
    if scale.wants("smol-bulk") {
        let total = bulk_total(scale);
        let samples = interleave(
            scale,
            &Smol,
            || async move { fio::bulk::<Smol, _>(raw_smol_pair().await, total, BULK_CHUNK).await },
            || async move { flow::bulk::<Smol, _>(flow_smol_pair().await, total, BULK_CHUNK).await },
        );
        sides.bulk(scale, table, samples);
    }
    if scale.wants("smol-small") {
        let messages = burst_messages(scale);
        let samples = interleave(
            scale,
            &Smol,
            || async move { fio::burst::<Smol, _>(raw_smol_pair().await, messages, SMALL).await },
            || async move { flow::burst::<Smol, _>(flow_smol_pair().await, messages, SMALL).await },
        );
        sides.burst(scale, table, samples);
    }
    if scale.wants("smol-pingpong") {
        let trips = trips(scale);
        let samples = interleave(
            scale,
            &Smol,
            || async move { fio::pingpong(raw_smol_pair().await, trips).await },
            || async move { flow::pingpong(flow_smol_pair().await, trips).await },
        );
        sides.pingpong(scale, table, samples);
    }
}

async fn raw_async_std_pair() -> (async_std::net::TcpStream, async_std::net::TcpStream) {
    let listener = async_std::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) =
        futures_util::future::join(async_std::net::TcpStream::connect(addr), listener.accept()).await;
    let (client, server) = (client.expect("connect"), accepted.expect("accept").0);
    client.set_nodelay(true).expect("nodelay");
    server.set_nodelay(true).expect("nodelay");
    (client, server)
}

async fn flow_async_std_pair() -> (flow_async_std::TcpFlow, flow_async_std::TcpFlow) {
    let listener = flow_async_std::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) =
        futures_util::future::join(flow_async_std::TcpFlow::connect(addr), listener.accept()).await;
    (client.expect("connect"), accepted.expect("accept").0)
}

fn async_std_rows(scale: &Scale, table: &mut Table) {
    let sides = Sides {
        runtime: "async-std",
        ours: "flow-async-std",
        raw: "async-std TcpStream",
    };
    // The reader on the calling thread, the writer on async-std's executor.
    if scale.wants("async-std-bulk") {
        let total = bulk_total(scale);
        let samples = interleave(
            scale,
            &AsyncStd,
            || async move { fio::bulk::<AsyncStd, _>(raw_async_std_pair().await, total, BULK_CHUNK).await },
            || async move { flow::bulk::<AsyncStd, _>(flow_async_std_pair().await, total, BULK_CHUNK).await },
        );
        sides.bulk(scale, table, samples);
    }
    if scale.wants("async-std-small") {
        let messages = burst_messages(scale);
        let samples = interleave(
            scale,
            &AsyncStd,
            || async move { fio::burst::<AsyncStd, _>(raw_async_std_pair().await, messages, SMALL).await },
            || async move { flow::burst::<AsyncStd, _>(flow_async_std_pair().await, messages, SMALL).await },
        );
        sides.burst(scale, table, samples);
    }
    if scale.wants("async-std-pingpong") {
        let trips = trips(scale);
        let samples = interleave(
            scale,
            &AsyncStd,
            || async move { fio::pingpong(raw_async_std_pair().await, trips).await },
            || async move { flow::pingpong(flow_async_std_pair().await, trips).await },
        );
        sides.pingpong(scale, table, samples);
    }
}
