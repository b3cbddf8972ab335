//! TCP over loopback on compio (completion-based, io_uring): flow-compio's
//! flow against compio's own `TcpStream` with its owned-buffer API, and
//! against raw tokio, three sides interleaved in one run. The workloads are
//! the other runtimes' (see tcp.rs): bulk in 64 KiB writes, bursts of
//! 64-byte messages (the flow feeds them and flushes once; the raw streams
//! `write_all` each) and a one-byte ping-pong.
//!
//! compio runs one runtime per thread and its sockets are not `Send`, so
//! where the other rows spawn the writer onto another worker, here the
//! writer gets a thread with its own compio runtime; the reader stays on
//! the calling thread's. The connection is made with `std` sockets first
//! and each end is adopted by the runtime that drives it. Ping-pong runs
//! both ends on one runtime, as the other ping-pong rows do. The tokio side
//! is the tokio rows' baseline, unchanged (two workers for bulk and bursts,
//! one thread for ping-pong).

use std::future::Future;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ::compio::BufResult;
use ::compio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ::compio::net::TcpStream;
use flow_api::prelude::*;

use crate::Scale;
use crate::rows::tcp::{bulk_total, burst_messages, raw_tokio_pair, trips};
use crate::rows::workloads::{BULK_CHUNK, SMALL, flow, tokio_raw};
use crate::rows::{MIB, Runtime, Samples, Tokio, interleave_blocking};
use crate::stats::{Table, Unit};

/// What the three sides of a row are called.
const OURS: &str = "flow-compio";
const COMPIO: &str = "compio TcpStream";
const TOKIO: &str = "tokio TcpStream";

/// The groups, for `--only`.
const GROUPS: [&str; 4] = ["compio-bulk", "compio-small", "compio-pingpong", "compio-stretch"];

/// The compio rows: bulk, bursts, ping-pong, and the two io_uring
/// techniques the completion-I/O issue asked to try (raw compio, each
/// against compio's plain operation).
pub(crate) fn rows(scale: &Scale, table: &mut Table) {
    if !GROUPS.iter().any(|group| scale.wants(group)) {
        return;
    }
    let compio = ::compio::runtime::Runtime::new().expect("cannot start compio");
    if scale.wants("compio-bulk") {
        let total = bulk_total(scale);
        let count = total / BULK_CHUNK as u64;
        let tokio = Tokio::multi_thread();
        let [raw, ours, tok] = three(
            scale,
            &|| raw_bulk(&compio, count),
            &|| {
                compio.block_on(across_threads(
                    move |s| flow_write_each(s, count, BULK_CHUNK),
                    flow_drain,
                ))
            },
            &|| tokio.block_on(async { tokio_raw::bulk::<Tokio, _>(raw_tokio_pair().await, total, BULK_CHUNK).await }),
        );
        let what = format!("compio TCP bulk, {} MiB in 64 KiB writes", total / MIB);
        let unit = Unit::Throughput(total);
        table.compare(&what, OURS, &ours, COMPIO, &raw, unit, Some(1.0));
        table.compare(&what, OURS, &ours, TOKIO, &tok, unit, None);
    }
    if scale.wants("compio-small") {
        let messages = compio_burst_messages(scale);
        let tokio = Tokio::multi_thread();
        let [raw, ours, tok] = three(
            scale,
            &|| compio.block_on(across_threads(move |s| raw::write_each(s, messages, SMALL), raw::drain)),
            &|| compio.block_on(across_threads(move |s| flow_feed_each(s, messages, SMALL), flow_drain)),
            &|| tokio.block_on(async { tokio_raw::burst::<Tokio, _>(raw_tokio_pair().await, messages, SMALL).await }),
        );
        let what = format!("compio TCP, {messages} messages of 64 B");
        let unit = Unit::Rate(messages);
        let ours_name = format!("{OURS} feed");
        table.compare(&what, &ours_name, &ours, "compio write_all each", &raw, unit, Some(2.0));
        table.compare(&what, &ours_name, &ours, "tokio write_all each", &tok, unit, None);
    }
    if scale.wants("compio-pingpong") {
        let trips = trips(scale);
        let tokio = Tokio::current_thread();
        let [raw, ours, tok] = three(
            scale,
            &|| compio.block_on(async { raw::pingpong(compio_pair(), trips).await }),
            &|| {
                compio.block_on(async {
                    let (a, b) = compio_pair();
                    let pair = (
                        flow_compio::TcpFlow::from_stream(flow_compio::CompioStream::new(a)).expect("flow"),
                        flow_compio::TcpFlow::from_stream(flow_compio::CompioStream::new(b)).expect("flow"),
                    );
                    flow::pingpong(pair, trips).await
                })
            },
            &|| tokio.block_on(async { tokio_raw::pingpong(raw_tokio_pair().await, trips).await }),
        );
        let what = "compio TCP 1-byte ping-pong round trip";
        let unit = Unit::Latency(trips);
        table.compare(what, OURS, &ours, COMPIO, &raw, unit, Some(1.0));
        table.compare(what, OURS, &ours, TOKIO, &tok, unit, None);
    }
    if scale.wants("compio-stretch") {
        stretch_rows(scale, table, &compio);
    }
}

/// Multishot receive into compio's provided buffer ring, and zero-copy
/// send (`SEND_ZC`), each on raw compio against compio's plain `read` or
/// `write_all`: what the technique itself is worth here, before a flow
/// would adopt it (docs/performance.md, "The io_uring stretch").
fn stretch_rows(scale: &Scale, table: &mut Table, compio: &::compio::runtime::Runtime) {
    let trips = trips(scale);
    let samples = interleave_blocking(
        scale,
        &[
            &|| compio.block_on(async { raw::pingpong(compio_pair(), trips).await }),
            &|| compio.block_on(async { raw::pingpong_multishot(compio_pair(), trips).await }),
        ],
    );
    if let [read, multishot] = samples.as_slice() {
        let what = "compio 1-byte ping-pong round trip, multishot receive";
        table.compare(what, "read_multi", multishot, "read", read, Unit::Latency(trips), None);
    }
    let total = bulk_total(scale);
    let count = total / BULK_CHUNK as u64;
    let samples = interleave_blocking(
        scale,
        &[&|| raw_bulk(compio, count), &|| {
            compio.block_on(across_threads(
                move |s| raw::write_each_zerocopy(s, count, BULK_CHUNK),
                raw::drain,
            ))
        }],
    );
    if let [send, zerocopy] = samples.as_slice() {
        let what = format!("compio TCP bulk, {} MiB in 64 KiB writes, SEND_ZC", total / MIB);
        let unit = Unit::Throughput(total);
        table.compare(&what, "write_zerocopy", zerocopy, "write_all", send, unit, None);
    }
}

/// Raw compio's bulk side: `count` 64 KiB `write_all`s across threads.
fn raw_bulk(compio: &::compio::runtime::Runtime, count: u64) -> Duration {
    compio.block_on(across_threads(
        move |s| raw::write_each(s, count, BULK_CHUNK),
        raw::drain,
    ))
}

/// The bursts' message count: the other runtimes' normally; with --quick,
/// a fifth of theirs, since compio's `write_all` per message (one
/// submission and completion each) makes this the slowest quick row
/// otherwise.
fn compio_burst_messages(scale: &Scale) -> u64 {
    scale.bytes(burst_messages(scale), 20_000)
}

/// Interleaves the three sides of a row: raw compio, flow-compio, raw tokio.
fn three(
    scale: &Scale,
    raw: &dyn Fn() -> Duration,
    ours: &dyn Fn() -> Duration,
    tokio: &dyn Fn() -> Duration,
) -> [Samples; 3] {
    let samples = interleave_blocking(scale, &[raw, ours, tokio]);
    match <[Samples; 3]>::try_from(samples) {
        Ok(three) => three,
        Err(_) => unreachable!("three sides give three sample sets"),
    }
}

/// A connected loopback pair of `std` sockets, with `TCP_NODELAY` (which
/// flow-compio sets too).
fn std_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let server = listener.accept().expect("accept").0;
    client.set_nodelay(true).expect("nodelay");
    server.set_nodelay(true).expect("nodelay");
    (client, server)
}

/// Both ends on the calling thread's compio runtime.
pub(crate) fn compio_pair() -> (TcpStream, TcpStream) {
    let (a, b) = std_pair();
    (
        TcpStream::from_std(a).expect("adopt"),
        TcpStream::from_std(b).expect("adopt"),
    )
}

/// `write` runs on a new thread with its own compio runtime and writes to
/// one end; `read` reads the other on the calling runtime and returns the
/// byte count, which must be `write`'s. Times from the moment both are
/// ready to the reader's end of file.
async fn across_threads<W, FW, R, FR>(write: W, read: R) -> Duration
where
    W: FnOnce(TcpStream) -> FW + Send + 'static,
    FW: Future<Output = u64>,
    R: FnOnce(TcpStream) -> FR,
    FR: Future<Output = u64>,
{
    let (client, server) = std_pair();
    let start = Arc::new(Barrier::new(2));
    let writer = std::thread::spawn({
        let start = Arc::clone(&start);
        move || {
            let runtime = ::compio::runtime::Runtime::new().expect("cannot start compio");
            runtime.block_on(async move {
                let stream = TcpStream::from_std(client).expect("adopt");
                let work = write(stream);
                start.wait();
                work.await
            })
        }
    });
    let reader = read(TcpStream::from_std(server).expect("adopt"));
    start.wait();
    let started = Instant::now();
    let got = reader.await;
    let elapsed = started.elapsed();
    match writer.join() {
        Ok(sent) => assert_eq!(got, sent, "the reader got what the writer sent"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
    elapsed
}

/// Writes `count` buffers of `size` bytes with `write`, then sends the FIN;
/// returns the bytes written.
async fn flow_write_each(stream: TcpStream, count: u64, size: usize) -> u64 {
    let mut flow = flow_compio::TcpFlow::from_stream(flow_compio::CompioStream::new(stream)).expect("flow");
    let buf = Bytes::from(vec![7u8; size]);
    for _ in 0..count {
        flow.write(buf.clone()).await.expect("write");
    }
    flow.shutdown(Shutdown::Write).await.expect("shutdown");
    count * size as u64
}

/// Feeds `count` messages of `size` bytes, flushing only at the end (the
/// shutdown), then sends the FIN; returns the bytes written.
async fn flow_feed_each(stream: TcpStream, count: u64, size: usize) -> u64 {
    let mut flow = flow_compio::TcpFlow::from_stream(flow_compio::CompioStream::new(stream)).expect("flow");
    let msg = Bytes::from(vec![9u8; size]);
    for _ in 0..count {
        flow.feed(msg.clone()).await.expect("feed");
    }
    flow.shutdown(Shutdown::Write).await.expect("shutdown");
    count * size as u64
}

/// Reads the flow to its end; returns the byte count.
async fn flow_drain(stream: TcpStream) -> u64 {
    let mut flow = flow_compio::TcpFlow::from_stream(flow_compio::CompioStream::new(stream)).expect("flow");
    flow::drain(&mut flow).await
}

/// compio's own stream, written as compio code is: owned buffers handed to
/// the kernel and handed back in a `BufResult`, reused.
pub(crate) mod raw {
    use super::*;

    /// Reads to end of file into a reused 64 KiB buffer; returns the byte
    /// count.
    pub(super) async fn drain(mut stream: TcpStream) -> u64 {
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut got = 0;
        loop {
            buf.clear();
            let BufResult(n, back) = stream.read(buf).await;
            buf = back;
            match n.expect("read") {
                0 => return got,
                n => got += n as u64,
            }
        }
    }

    /// `write_all`s one `size`-byte buffer `count` times, then shuts the
    /// write side down; returns the bytes written.
    pub(super) async fn write_each(mut stream: TcpStream, count: u64, size: usize) -> u64 {
        let mut buf = vec![7u8; size];
        for _ in 0..count {
            let BufResult(done, back) = stream.write_all(buf).await;
            done.expect("write");
            buf = back;
        }
        stream.shutdown().await.expect("shutdown");
        count * size as u64
    }

    /// As [`flow::pingpong`], both ends on the
    /// calling task.
    pub(crate) async fn pingpong((mut a, mut b): (TcpStream, TcpStream), trips: u64) -> Duration {
        let echo = async move {
            let mut byte = [0u8; 1];
            loop {
                let BufResult(n, back) = b.read(byte).await;
                if n.expect("read") == 0 {
                    return;
                }
                let BufResult(done, back) = b.write_all(back).await;
                done.expect("write");
                byte = back;
            }
        };
        let client = async move {
            let started = Instant::now();
            let mut byte = [1u8; 1];
            for _ in 0..trips {
                let BufResult(done, back) = a.write_all(byte).await;
                done.expect("write");
                let BufResult(done, back) = a.read_exact(back).await;
                done.expect("read");
                byte = back;
            }
            let elapsed = started.elapsed();
            a.shutdown().await.expect("shutdown");
            elapsed
        };
        futures_util::future::join(echo, client).await.1
    }

    /// [`pingpong`] with each end's receives multishot: one submission
    /// armed for the whole connection, the kernel picking a buffer from the
    /// runtime's provided ring for each arrival.
    pub(crate) async fn pingpong_multishot((a, b): (TcpStream, TcpStream), trips: u64) -> Duration {
        use ::compio::io::AsyncReadMulti;
        use futures_util::StreamExt;
        let echo = async move {
            let mut writer = &b;
            let mut reader = &b;
            let mut incoming = std::pin::pin!(reader.read_multi(0));
            while let Some(buf) = incoming.next().await {
                let buf = buf.expect("read");
                if buf.is_empty() {
                    return;
                }
                let BufResult(done, _) = writer.write_all(buf).await;
                done.expect("write");
            }
        };
        let client = async move {
            let mut writer = &a;
            let mut reader = &a;
            let mut incoming = std::pin::pin!(reader.read_multi(0));
            let started = Instant::now();
            let mut byte = [1u8; 1];
            for _ in 0..trips {
                let BufResult(done, back) = writer.write_all(byte).await;
                done.expect("write");
                byte = back;
                let echoed = incoming.next().await.expect("an echo").expect("read");
                assert_eq!(echoed.len(), 1, "one byte echoed");
            }
            let elapsed = started.elapsed();
            writer.shutdown().await.expect("shutdown");
            elapsed
        };
        futures_util::future::join(echo, client).await.1
    }

    /// [`write_each`] with zero-copy sends (`SEND_ZC`): the kernel holds
    /// each buffer until its notification, so four buffers take turns,
    /// each reused once the kernel has let go of it.
    pub(super) async fn write_each_zerocopy(stream: TcpStream, count: u64, size: usize) -> u64 {
        use ::compio::io::AsyncWriteZerocopy;
        use std::collections::VecDeque;
        let mut writer = &stream;
        let mut spare: Vec<Vec<u8>> = (0..4).map(|_| vec![7u8; size]).collect();
        let mut held = VecDeque::new();
        for _ in 0..count {
            let buf = match spare.pop() {
                Some(buf) => buf,
                None => held.pop_front().expect("a buffer in the kernel").await,
            };
            let BufResult(sent, ready) = writer.write_zerocopy(buf).await;
            assert_eq!(sent.expect("write"), size, "a blocking zero-copy send takes it all");
            held.push_back(ready);
        }
        for ready in held {
            ready.await;
        }
        writer.shutdown().await.expect("shutdown");
        count * size as u64
    }
}
