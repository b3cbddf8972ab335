//! The clauses of `docs/contract.md`, one async function each.
//!
//! A clause that moves data between the two ends writes what each end does
//! as a [`Program`](crate::drive::Program) and hands both to the driver
//! ([`Cx::run`]), which runs them in one task or in separate tasks. `a` is
//! the client end and `b` the server end.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flow_api::prelude::*;
use flow_api::{BoxFlow, split};
use futures_util::FutureExt;
use futures_util::future::{Either, LocalBoxFuture, select};

use crate::drive::{Drive, Mode, Program, Signal, program};
use crate::pattern::Pattern;
use crate::support::{
    Check, Doing, Fail, Framed, Style, ensure, expect_closed, expect_eof, linger, log_uniform, poll_once, receive,
    send, shutdown_write, start_raw, yield_now,
};
use crate::timer::sleep;
use crate::{Capabilities, Factory, Outcome};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// What a clause is given: the factory, its seed, and the driver.
pub(crate) struct Cx<'a, F: Factory> {
    factory: &'a F,
    pub(crate) seed: u64,
    drive: Drive<F>,
    running: Arc<AtomicU64>,
    /// The clause's time limit.
    pub(crate) limit: Duration,
}

impl<'a, F: Factory> Cx<'a, F> {
    pub(crate) fn new(factory: &'a F, seed: u64, drive: Drive<F>, limit: Duration) -> Self {
        Cx {
            factory,
            seed,
            drive,
            running: Arc::new(AtomicU64::new(0)),
            limit,
        }
    }

    pub(crate) fn factory(&self) -> &'a F {
        self.factory
    }

    pub(crate) fn caps(&self) -> Capabilities {
        self.factory.capabilities()
    }

    /// How branches inside one end run: together, or as separate tasks.
    pub(crate) fn mode(&self) -> Mode {
        self.drive.mode()
    }

    /// Reseeds the factory (see [`Factory::reseed`]): a model case does, so
    /// that its faults replay with it.
    pub(crate) fn reseed(&self, seed: u64) {
        self.factory.reseed(seed);
    }

    pub(crate) async fn connect(&self) -> Result<(F::Client, F::Server), Fail> {
        self.factory.connect().await.doing("connect")
    }

    /// Runs the two end programs concurrently, as the driver says.
    pub(crate) async fn run(
        &self,
        a: F::Client,
        client: Program<F::Client>,
        b: F::Server,
        server: Program<F::Server>,
    ) -> Check {
        let running = Arc::clone(&self.running);
        running.fetch_add(1, Ordering::Relaxed);
        let result = self.drive.run(a, client, b, server).await;
        running.fetch_sub(1, Ordering::Relaxed);
        result
    }

    /// Connects and runs two programs.
    pub(crate) async fn pair(&self, client: Program<F::Client>, server: Program<F::Server>) -> Check {
        let (a, b) = self.connect().await?;
        self.run(a, client, b, server).await
    }

    /// A note for a time-out message.
    pub(crate) fn progress(&self) -> String {
        match self.running.load(Ordering::Relaxed) {
            0 => "no pair was exchanging data".into(),
            _ => format!(
                "a pair was still exchanging data, {}",
                match self.mode() {
                    Mode::OneTask => "both ends in one task",
                    Mode::Tasks => "each end in its own task",
                }
            ),
        }
    }
}

fn outcome(check: Check) -> Outcome {
    match check {
        Ok(()) => Outcome::Passed,
        Err(Fail::Failed(why)) => Outcome::Failed(why),
        Err(Fail::NotApplicable(why)) => Outcome::NotApplicable(why),
    }
}

macro_rules! clauses {
    ($($name:ident => $check:ident;)*) => {$(
        pub(crate) async fn $name<F: Factory>(cx: &Cx<'_, F>) -> Outcome {
            outcome($check(cx).await)
        }
    )*};
}

clauses! {
    read_never_empty => check_read_never_empty;
    bytes_in_order => check_bytes_in_order;
    eof_after_data => check_eof_after_data;
    half_close => check_half_close;
    shutdown_read => check_shutdown_read;
    close_graceful => check_close_graceful;
    closed_flow_rejects => check_closed_flow_rejects;
    writev_concatenates => check_writev_concatenates;
    zero_length_write => check_zero_length_write;
    backpressure => check_backpressure;
    simultaneous_write => check_simultaneous_write;
    read_cancel_safe => check_read_cancel_safe;
    peer_abort => check_peer_abort;
    errors_round_trip => check_errors_round_trip;
    large_bidirectional => check_large_bidirectional;
    many_pairs => check_many_pairs;
    type_erased => check_type_erased;
    send_futures => check_send_futures;
    shutdown_both => check_shutdown_both;
    zero_copy => check_zero_copy;
    repeated_shutdown => check_repeated_shutdown;
    close_bounded => check_close_bounded;
    request_response => check_request_response;
    model => check_model;
    close_sends_fed_data => check_close_sends_fed_data;
    abort_delivers_in_flight => check_abort_delivers_in_flight;
    close_after_peer_abort => check_close_after_peer_abort;
    write_error_sticky => check_write_error_sticky;
    read_after_close => check_read_after_close;
    flood_after_shutdown_read => check_flood_after_shutdown_read;
    cancel_writes => check_cancel_writes;
}

/// Sends `total` bytes of `pattern` and shuts down writing.
fn sender<W: FlowWrite + Flow + Unpin + 'static>(
    pattern: Pattern,
    total: u64,
    max: usize,
    seed: u64,
    style: Style,
) -> Program<W> {
    program(move |mut w: W| async move {
        let mut rng = fastrand::Rng::with_seed(seed);
        send(&mut w, pattern, total, max, &mut rng, style).await?;
        w.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
        linger(&mut w).await
    })
}

/// Reads exactly `total` bytes of `pattern`, then end of file.
fn receiver<R: Flow + Unpin + 'static>(pattern: Pattern, total: u64) -> Program<R> {
    program(move |mut r: R| async move { receive(&mut r, pattern, total).await })
}

async fn check_read_never_empty<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let pattern = Pattern::new(cx.seed);
    cx.pair(
        program(move |mut a: F::Client| async move {
            let mut offset = 0u64;
            for len in [0usize, 1, 0, 1, 1, 7, 0, 1, 300, 1, 0] {
                a.write(pattern.chunk(offset, len)).await.doing("write")?;
                offset += len as u64;
            }
            a.writev([Bytes::new(), pattern.chunk(offset, 2), Bytes::new()])
                .await
                .doing("writev")?;
            offset += 2;
            // Empty buffers straight to the backend, between real ones.
            start_raw(&mut a, Bytes::new())
                .await
                .doing("start_write of an empty buffer")?;
            start_raw(&mut a, pattern.chunk(offset, 1)).await.doing("start_write")?;
            start_raw(&mut a, Bytes::new())
                .await
                .doing("start_write of an empty buffer")?;
            a.flush().await.doing("flush")?;
            offset += 1;
            ensure!(offset == 315, "internal: sent {offset} bytes, expected 315");
            a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
            linger(&mut a).await
        }),
        program(move |mut b: F::Server| async move {
            receive(&mut b, pattern, 315).await?;
            // Sticky end of file is never empty data either.
            for _ in 0..3 {
                expect_eof(&mut b, "read after end of file").await?;
            }
            Ok(())
        }),
    )
    .await
}

async fn check_bytes_in_order<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let total = 8 * MIB;
    let (a, b) = cx.connect().await?;
    // One direction, then the other, on the same pair.
    let there = Pattern::new(cx.seed);
    let back = Pattern::new(cx.seed ^ 0xabcd);
    let seed = cx.seed;
    cx.run(
        a,
        program(move |mut a: F::Client| async move {
            let mut rng = fastrand::Rng::with_seed(seed);
            send(&mut a, there, total, MIB as usize, &mut rng, Style::Write).await?;
            a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
            receive(&mut a, back, total).await.doing("server to client")
        }),
        b,
        program(move |mut b: F::Server| async move {
            receive(&mut b, there, total).await.doing("client to server")?;
            let mut rng = fastrand::Rng::with_seed(seed ^ 0xabcd);
            send(&mut b, back, total, MIB as usize, &mut rng, Style::Write).await?;
            b.shutdown(Shutdown::Write).await.doing("shutdown(Write)")
        }),
    )
    .await
}

async fn check_eof_after_data<F: Factory>(cx: &Cx<'_, F>) -> Check {
    // The peer shuts down writing right after its last write: nothing in
    // flight may be lost, and end of file comes after it, then stays.
    let pattern = Pattern::new(cx.seed);
    cx.pair(
        program(move |mut a: F::Client| async move {
            receive(&mut a, pattern, MIB).await.doing("after shutdown(Write)")?;
            for _ in 0..3 {
                expect_eof(&mut a, "end of file must be sticky").await?;
            }
            Ok(())
        }),
        sender(pattern, MIB, 64 * KIB as usize, cx.seed, Style::Mixed),
    )
    .await?;

    // The same when the peer closes instead.
    let pattern = Pattern::new(cx.seed ^ 1);
    let seed = cx.seed;
    cx.pair(
        program(move |mut a: F::Client| async move {
            receive(&mut a, pattern, MIB).await.doing("after the peer's close")?;
            for _ in 0..3 {
                expect_eof(&mut a, "end of file must be sticky").await?;
            }
            a.close().await.doing("close")
        }),
        program(move |mut b: F::Server| async move {
            let mut rng = fastrand::Rng::with_seed(seed ^ 1);
            send(&mut b, pattern, MIB, 64 * KIB as usize, &mut rng, Style::Mixed).await?;
            b.close().await.doing("peer close")
        }),
    )
    .await
}

async fn check_half_close<F: Factory>(cx: &Cx<'_, F>) -> Check {
    if !cx.caps().half_close {
        return Err(Fail::NotApplicable(
            "backend cannot read after shutting down writing (capability half_close)".into(),
        ));
    }
    let request = Pattern::new(cx.seed);
    let reply = Pattern::new(cx.seed ^ 2);
    let seed = cx.seed;
    cx.pair(
        program(move |mut a: F::Client| async move {
            let mut rng = fastrand::Rng::with_seed(seed);
            send(&mut a, request, 100 * KIB, 16 * KIB as usize, &mut rng, Style::Mixed).await?;
            a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
            expect_closed(a.write("late").await, "write after shutdown(Write)")?;
            expect_closed(
                a.writev([Bytes::from_static(b"late")]).await,
                "writev after shutdown(Write)",
            )?;
            expect_closed(
                start_raw(&mut a, Bytes::from_static(b"late")).await,
                "start_write after shutdown(Write)",
            )?;
            receive(&mut a, reply, 256 * KIB)
                .await
                .doing("reading the reply after shutdown(Write)")
        }),
        program(move |mut b: F::Server| async move {
            receive(&mut b, request, 100 * KIB)
                .await
                .doing("peer reading the request")?;
            let mut rng = fastrand::Rng::with_seed(seed ^ 3);
            send(&mut b, reply, 256 * KIB, 16 * KIB as usize, &mut rng, Style::Mixed).await?;
            b.shutdown(Shutdown::Write).await.doing("peer shutdown(Write)")
        }),
    )
    .await
}

async fn check_shutdown_read<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let pattern = Pattern::new(cx.seed);
    let before = Signal::new();
    let shut = Signal::new();
    let peer_done = Signal::new();
    let (before_a, shut_a, peer_done_a) = (Arc::clone(&before), Arc::clone(&shut), Arc::clone(&peer_done));
    cx.pair(
        program(move |mut a: F::Client| async move {
            // Data already in flight before the shutdown is not delivered either.
            before_a.wait().await;
            a.shutdown(Shutdown::Read).await.doing("shutdown(Read)")?;
            expect_eof(&mut a, "read after shutdown(Read)").await?;
            shut_a.set();
            expect_eof(&mut a, "second read after shutdown(Read)").await?;
            // Writing is unaffected.
            a.write(pattern.chunk(0, 5000))
                .await
                .doing("write after shutdown(Read)")?;
            a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
            // Alive until the peer is done: a drop would be an abort.
            peer_done_a.wait().await;
            expect_eof(&mut a, "read after shutdown(Read) and the peer's writes").await
        }),
        program(move |mut b: F::Server| async move {
            b.write(pattern.chunk(0, 1000))
                .await
                .doing("peer write before shutdown(Read)")?;
            before.set();
            shut.wait().await;
            // The peer's writes from now on are discarded (TCP, memory) or
            // refused with Closed (Unix sockets): either way they do not hang.
            match b.write(pattern.chunk(1000, 1000)).await {
                Ok(()) | Err(WriteError::Closed) => {}
                Err(e) => {
                    return Err(Fail::Failed(format!(
                        "peer write after shutdown(Read): expected success or Closed, got {e}"
                    )));
                }
            }
            receive(&mut b, pattern, 5000).await?;
            peer_done.set();
            Ok(())
        }),
    )
    .await
}

async fn check_close_graceful<F: Factory>(cx: &Cx<'_, F>) -> Check {
    // Through halves: after close starts, the remote may still write and the
    // local read half still reads; close completes once the remote closed.
    let request = Pattern::new(cx.seed);
    let reply = Pattern::new(cx.seed ^ 4);
    let seed = cx.seed;
    let mode = cx.mode();
    let remote_closing = Signal::new();
    let closing = Arc::clone(&remote_closing);
    cx.pair(
        program(move |a: F::Client| async move {
            let (mut ar, mut aw) = split(a);
            let writer: LocalBoxFuture<'_, Check> = Box::pin(async move {
                let mut rng = fastrand::Rng::with_seed(seed);
                send(&mut aw, request, 256 * KIB, 32 * KIB as usize, &mut rng, Style::Mixed).await?;
                aw.close().await.doing("close")?;
                ensure!(closing.is_set(), "close completed before the remote closed");
                aw.close().await.doing("second close")
            });
            let reader: LocalBoxFuture<'_, Check> = Box::pin(async move {
                receive(&mut ar, reply, 128 * KIB)
                    .await
                    .doing("read half reading the remote's writes during close")
            });
            mode.all(vec![writer, reader]).await
        }),
        program(move |mut b: F::Server| async move {
            receive(&mut b, request, 256 * KIB)
                .await
                .doing("remote reading before end of file")?;
            let mut rng = fastrand::Rng::with_seed(seed ^ 5);
            send(&mut b, reply, 128 * KIB, 32 * KIB as usize, &mut rng, Style::Write)
                .await
                .doing("remote writing after the local close")?;
            remote_closing.set();
            b.close().await.doing("remote close")
        }),
    )
    .await?;

    // On a whole flow: close discards what the remote still sends.
    let remote_closing = Signal::new();
    let closing = Arc::clone(&remote_closing);
    cx.pair(
        program(move |mut a: F::Client| async move {
            let mut rng = fastrand::Rng::with_seed(seed ^ 6);
            send(&mut a, request, 64 * KIB, 8 * KIB as usize, &mut rng, Style::Write).await?;
            a.close().await.doing("close of a whole flow")?;
            ensure!(closing.is_set(), "close completed before the remote closed");
            a.close().await.doing("second close")
        }),
        program(move |mut b: F::Server| async move {
            receive(&mut b, request, 64 * KIB).await?;
            let mut rng = fastrand::Rng::with_seed(seed ^ 7);
            send(&mut b, reply, 256 * KIB, 32 * KIB as usize, &mut rng, Style::Write)
                .await
                .doing("remote writing to a closing flow")?;
            remote_closing.set();
            b.close().await.doing("remote close")
        }),
    )
    .await?;

    // Both ends close at once, each with more unsent than the buffers
    // between them hold, and neither reads: each close must discard what
    // arrives while it sends, or both wait for room for ever.
    let bounded = cx.caps().bounded;
    let (a_full, b_full) = (Signal::new(), Signal::new());
    let (a_full_b, b_full_a) = (Arc::clone(&a_full), Arc::clone(&b_full));
    cx.pair(
        program(move |mut a: F::Client| async move {
            fill_then_close(&mut a, request, seed ^ 8, bounded, &a_full, &b_full_a).await
        }),
        program(move |mut b: F::Server| async move {
            fill_then_close(&mut b, reply, seed ^ 9, bounded, &b_full, &a_full_b).await
        }),
    )
    .await
}

/// Writes (and feeds, unflushed) until a write waits for the peer, or up to
/// 16 MiB on a backend without bounds, and hands one more buffer over; then,
/// once the peer is full too, closes while the peer closes.
async fn fill_then_close<E: Flow + Unpin>(
    end: &mut E,
    pattern: Pattern,
    seed: u64,
    bounded: bool,
    full: &Signal,
    peer_full: &Signal,
) -> Check {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut offset = 0u64;
    while offset < 16 * MIB {
        let chunk = pattern.chunk(offset, 64 * KIB as usize);
        offset += 64 * KIB;
        let write: Pin<Box<dyn Future<Output = Result<(), WriteError>> + '_>> = if rng.bool() {
            Box::pin(end.write(chunk))
        } else {
            Box::pin(end.feed(chunk))
        };
        if !bounded {
            write.await.doing("write to a peer that does not read")?;
            continue;
        }
        match select(write, sleep(Duration::from_millis(200))).await {
            Either::Left((result, _)) => result.doing("write to a peer that does not read")?,
            // The buffers are full: this write is cancelled (it went out
            // whole or not at all).
            Either::Right(_) => break,
        }
    }
    // One more buffer over the bound, as the contract allows (a TLS close
    // hands its last records over so): it waits in this end's queue.
    Pin::new(&mut *end)
        .start_write(pattern.chunk(offset, 64 * KIB as usize))
        .doing("start_write over the bound")?;
    full.set();
    peer_full.wait().await;
    end.close()
        .await
        .doing("close while the peer closes too, both with unsent data and neither reading")?;
    end.close().await.doing("second close")
}

async fn after_close<E: Flow + Unpin>(end: &mut E, name: &str) -> Check {
    expect_closed(
        end.write(Bytes::from_static(b"x")).await,
        &format!("{name}: write after close"),
    )?;
    expect_closed(
        end.writev(vec![Bytes::new(), Bytes::from_static(b"y")]).await,
        &format!("{name}: writev after close"),
    )?;
    expect_closed(
        start_raw(end, Bytes::from_static(b"z")).await,
        &format!("{name}: start_write after close"),
    )?;
    for _ in 0..2 {
        match end.read().await {
            Ok(Chunk::Eof) => {}
            Ok(Chunk::Data(d)) => {
                return Err(Fail::Failed(format!(
                    "{name}: read after close returned {} bytes",
                    d.len()
                )));
            }
            Err(e) => {
                return Err(Fail::Failed(format!(
                    "{name}: read after close must return end of file, got {e}"
                )));
            }
        }
    }
    end.close().await.doing(&format!("{name}: second close"))
}

async fn check_closed_flow_rejects<F: Factory>(cx: &Cx<'_, F>) -> Check {
    cx.pair(
        program(|mut a: F::Client| async move {
            a.close().await.doing("close")?;
            after_close(&mut a, "client").await
        }),
        program(|mut b: F::Server| async move {
            b.close().await.doing("peer close")?;
            after_close(&mut b, "server").await
        }),
    )
    .await
}

async fn check_writev_concatenates<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let pattern = Pattern::new(cx.seed);
    let seed = cx.seed;
    let total = 2 * MIB;
    cx.pair(
        program(move |mut a: F::Client| async move {
            let mut rng = fastrand::Rng::with_seed(seed);
            a.writev(Vec::new()).await.doing("writev of an empty list")?;
            a.writev([Bytes::new(), Bytes::new()])
                .await
                .doing("writev of empty buffers")?;
            let mut offset = 0u64;
            while offset < total {
                let mut bufs = Vec::new();
                for _ in 0..rng.usize(1..12) {
                    let left = usize::try_from(total - offset).unwrap_or(usize::MAX);
                    let len = if rng.u8(0..5) == 0 {
                        0
                    } else {
                        log_uniform(&mut rng, 64 * 1024).min(left)
                    };
                    bufs.push(pattern.chunk(offset, len));
                    offset += len as u64;
                }
                if rng.bool() {
                    a.writev(bufs).await.doing("writev")?;
                } else {
                    // The same buffers, empty members included, straight to
                    // the backend, then one flush: a vectored write as the
                    // backend sees it.
                    // Room is awaited once: a flow takes the buffers after
                    // it even past its bound, as a vectored write hands them.
                    std::future::poll_fn(|task| Pin::new(&mut a).poll_write_ready(task))
                        .await
                        .doing("poll_write_ready")?;
                    for buf in bufs {
                        Pin::new(&mut a)
                            .start_write(buf)
                            .doing("start_write of a writev member without waiting for room")?;
                    }
                    a.flush().await.doing("flush after start_write")?;
                }
                if rng.bool() && offset < total {
                    let len = log_uniform(&mut rng, 1024).min(usize::try_from(total - offset).unwrap_or(usize::MAX));
                    a.write(pattern.chunk(offset, len))
                        .await
                        .doing("write between writevs")?;
                    offset += len as u64;
                }
            }
            a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
            linger(&mut a).await
        }),
        receiver(pattern, total),
    )
    .await
}

async fn check_zero_length_write<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let wrote = Signal::new();
    let read = Signal::new();
    let (wrote_b, read_a) = (Arc::clone(&wrote), Arc::clone(&read));
    cx.pair(
        program(move |mut a: F::Client| async move {
            match a.write(Bytes::new()).now_or_never() {
                Some(Ok(())) => {}
                Some(Err(e)) => return Err(Fail::Failed(format!("zero-length write failed: {e}"))),
                None => return Err(Fail::Failed("zero-length write did not complete at once".into())),
            }
            a.writev([Bytes::new()]).await.doing("writev of one empty buffer")?;
            // An empty buffer straight to the backend: accepted, sends nothing.
            start_raw(&mut a, Bytes::new())
                .await
                .doing("start_write of an empty buffer")?;
            a.flush().await.doing("flush of an empty buffer")?;
            a.write("z").await.doing("write after a zero-length write")?;
            wrote.set();
            read_a.wait().await;
            start_raw(&mut a, Bytes::new())
                .await
                .doing("start_write of an empty buffer")?;
            a.flush().await.doing("flush")?;
            a.write(Bytes::new()).await.doing("zero-length write")?;
            a.write("!").await.doing("write")?;
            a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
            linger(&mut a).await
        }),
        program(move |mut b: F::Server| async move {
            wrote_b.wait().await;
            match b.read().await.doing("peer read")? {
                Chunk::Data(d) => ensure!(d.as_ref() == b"z", "peer read {:?}, expected \"z\"", d),
                Chunk::Eof => return Err(Fail::Failed("a zero-length write signalled end of file".into())),
            }
            read.set();
            match b.read().await.doing("peer read")? {
                Chunk::Data(d) => ensure!(d.as_ref() == b"!", "peer read {:?}, expected \"!\"", d),
                Chunk::Eof => return Err(Fail::Failed("a zero-length write signalled end of file".into())),
            }
            expect_eof(&mut b, "a zero-length write sent data").await
        }),
    )
    .await
}

async fn check_backpressure<F: Factory>(cx: &Cx<'_, F>) -> Check {
    if !cx.caps().bounded {
        return Err(Fail::NotApplicable(
            "backend buffers without bound (capability bounded)".into(),
        ));
    }
    let pattern = Pattern::new(cx.seed);
    let chunk = 64 * KIB;
    let limit = 256 * MIB;
    // Set once a write is still pending after a grace period (the writer
    // waits for the reader); holds how many bytes will have been sent.
    let stalled_at = Arc::new(AtomicU64::new(0));
    let stalled = Signal::new();
    let (stalled_at_b, stalled_b) = (Arc::clone(&stalled_at), Arc::clone(&stalled));
    cx.pair(
        program(move |mut a: F::Client| async move {
            let mut offset = 0u64;
            loop {
                ensure!(
                    offset < limit,
                    "wrote {limit} bytes to a peer that does not read without ever waiting"
                );
                let mut write = a.write(pattern.chunk(offset, chunk as usize));
                offset += chunk;
                match select(&mut write, sleep(Duration::from_millis(200))).await {
                    Either::Left((result, _)) => result.doing("write")?,
                    Either::Right(((), _)) => {
                        stalled_at.store(offset + 1000, Ordering::SeqCst);
                        stalled.set();
                        write.await.doing("write blocked by backpressure")?;
                        break;
                    }
                }
            }
            // Once the peer reads, the stalled write and the rest go through intact.
            a.write(pattern.chunk(offset, 1000))
                .await
                .doing("write after backpressure")?;
            a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
            linger(&mut a).await
        }),
        program(move |mut b: F::Server| async move {
            stalled_b.wait().await;
            receive(&mut b, pattern, stalled_at_b.load(Ordering::SeqCst)).await
        }),
    )
    .await
}

async fn check_simultaneous_write<F: Factory>(cx: &Cx<'_, F>) -> Check {
    exchange_both_ways(cx, 8 * MIB).await
}

async fn check_large_bidirectional<F: Factory>(cx: &Cx<'_, F>) -> Check {
    exchange_both_ways(cx, 64 * MIB).await
}

/// Writes `total` bytes of `to_peer` through one half and reads `total`
/// bytes of `from_peer` through the other, both at once.
fn split_exchange<E: Flow + Unpin + 'static>(
    mode: Mode,
    to_peer: Pattern,
    from_peer: Pattern,
    total: u64,
    seed: u64,
    who: &'static str,
) -> Program<E> {
    program(move |end: E| async move {
        let (mut r, mut w) = split(end);
        let writer: LocalBoxFuture<'_, Check> = Box::pin(async move {
            let mut rng = fastrand::Rng::with_seed(seed);
            send(&mut w, to_peer, total, 256 * KIB as usize, &mut rng, Style::Mixed).await?;
            shutdown_write(&mut w).await.doing(&format!("{who} shutdown(Write)"))
        });
        let reader: LocalBoxFuture<'_, Check> =
            Box::pin(async move { receive(&mut r, from_peer, total).await.doing(&format!("{who} reading")) });
        mode.all(vec![writer, reader]).await
    })
}

/// Both ends write `total` bytes at once while reading, through halves. In
/// separate-task runs the client drives its two halves from one task (as a
/// proxy loop does) and the server from two.
async fn exchange_both_ways<F: Factory>(cx: &Cx<'_, F>, total: u64) -> Check {
    let to_b = Pattern::new(cx.seed);
    let to_a = Pattern::new(cx.seed ^ 6);
    cx.pair(
        split_exchange(Mode::OneTask, to_b, to_a, total, cx.seed, "client"),
        split_exchange(cx.mode(), to_a, to_b, total, cx.seed ^ 7, "server"),
    )
    .await
}

async fn check_read_cancel_safe<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let pattern = Pattern::new(cx.seed);
    let total = 4 * MIB;
    let seed = cx.seed;
    cx.pair(
        sender(pattern, total, 64 * KIB as usize, seed, Style::Mixed),
        program(move |mut b: F::Server| async move {
            let mut rng_read = fastrand::Rng::with_seed(seed ^ 8);
            let mut offset = 0u64;
            let mut cancelled = 0u64;
            loop {
                // Either await a read, or poll one once and drop it if pending.
                let chunk = if rng_read.bool() {
                    b.read().await.doing("read")?
                } else {
                    let mut read = b.read();
                    match poll_once(&mut read).await {
                        Some(result) => result.doing("read")?,
                        None => {
                            drop(read);
                            cancelled += 1;
                            yield_now().await;
                            continue;
                        }
                    }
                };
                match chunk {
                    Chunk::Data(data) => {
                        ensure!(!data.is_empty(), "empty read at byte {offset}");
                        if let Some(at) = pattern.mismatch(offset, &data) {
                            return Err(Fail::Failed(format!(
                                "after {cancelled} cancelled reads, data lost or corrupted: first wrong byte at offset {at}"
                            )));
                        }
                        offset += data.len() as u64;
                    }
                    Chunk::Eof => {
                        ensure!(
                            offset == total,
                            "after {cancelled} cancelled reads, {} bytes lost",
                            total - offset
                        );
                        return Ok(());
                    }
                }
            }
        }),
    )
    .await
}

/// Reads until end of file or an error: what an aborted peer leaves.
/// Returns the error, if any.
async fn read_to_end<R: FlowRead + Unpin>(r: &mut R, what: &str) -> Result<Option<Error>, Fail> {
    loop {
        match r.read().await {
            Ok(Chunk::Data(d)) => ensure!(!d.is_empty(), "{what}: read returned an empty buffer"),
            Ok(Chunk::Eof) => return Ok(None),
            Err(e) if matches!(e.kind(), ErrorKind::Reset | ErrorKind::Truncated) => return Ok(Some(e)),
            Err(e) => {
                return Err(Fail::Failed(format!(
                    "{what}: expected end of file or a reset, got {e} (kind {:?})",
                    e.kind()
                )));
            }
        }
    }
}

/// Writes until a write fails, which must happen soon after the peer went.
async fn write_until_failure<W: FlowWrite + Unpin>(w: &mut W, what: &str) -> Result<WriteError, Fail> {
    for attempt in 0..10_000u32 {
        match w.write(vec![0x5a; 1024]).await {
            Ok(()) => yield_now().await,
            // Truncated: a TLS flow whose reads saw the cut fails its writes with it.
            Err(e) if matches!(e.kind(), ErrorKind::Closed | ErrorKind::Reset | ErrorKind::Truncated) => return Ok(e),
            Err(e) => {
                return Err(Fail::Failed(format!(
                    "{what}: write {attempt}: expected Closed, a reset or Truncated, got {e} (kind {:?})",
                    e.kind()
                )));
            }
        }
    }
    Err(Fail::Failed(format!(
        "{what}: 10,000 writes to an aborted peer all succeeded"
    )))
}

async fn check_peer_abort<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let pattern = Pattern::new(cx.seed);
    let gone = Signal::new();
    let gone_a = Arc::clone(&gone);
    cx.pair(
        program(move |mut a: F::Client| async move {
            a.write(pattern.chunk(0, 1000)).await.doing("write")?;
            gone_a.wait().await;
            // Reads end: data in flight may come first, then end of file or an error.
            read_to_end(&mut a, "read after the peer aborted").await?;
            // Writes fail, soon: a socket may take one write to learn of the reset.
            write_until_failure(&mut a, "after the peer aborted").await.map(drop)
        }),
        program(move |mut b: F::Server| async move {
            receive_exact(&mut b, 1000).await?;
            drop(b);
            gone.set();
            Ok(())
        }),
    )
    .await
}

/// Reads exactly `len` bytes (whatever they are).
async fn receive_exact<R: FlowRead + Unpin>(r: &mut R, len: usize) -> Check {
    let mut got = 0;
    while got < len {
        match r.read().await.doing("read")? {
            Chunk::Data(d) => got += d.len(),
            Chunk::Eof => return Err(Fail::Failed(format!("end of file after {got} of {len} bytes"))),
        }
    }
    Ok(())
}

/// The error's display, kind, message and source survive `std::io::Error`.
fn round_trips(err: Error, what: &str) -> Check {
    let (kind, text, has_source) = (err.kind(), err.to_string(), std::error::Error::source(&err).is_some());
    ensure!(
        !text.is_empty() && !text.contains("Error {") && !text.contains("Custom {"),
        "{what}: error displays as {text:?}"
    );
    ensure!(
        has_source || err.context_message().is_some() || text != kind.to_string(),
        "{what}: the error {text:?} says only its kind; it must say what failed (a context or its source)"
    );
    let io_err = io::Error::from(err);
    ensure!(
        io_err.kind() == kind.to_io() || kind == ErrorKind::Other,
        "{what}: {kind:?} maps to io kind {:?}",
        io_err.kind()
    );
    let back = Error::from(io_err);
    ensure!(
        back.kind() == kind,
        "{what}: kind {kind:?} came back as {:?}",
        back.kind()
    );
    ensure!(
        back.to_string() == text,
        "{what}: display changed in the round trip: {text:?} became {:?}",
        back.to_string()
    );
    ensure!(
        std::error::Error::source(&back).is_some() == has_source,
        "{what}: the source was lost in the io::Error round trip"
    );
    Ok(())
}

async fn check_errors_round_trip<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let (mut a, b) = cx.connect().await?;
    a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
    for (what, result) in [
        ("write after shutdown(Write)", a.write("x").await),
        (
            "start_write after shutdown(Write)",
            start_raw(&mut a, Bytes::from_static(b"x")).await,
        ),
    ] {
        let err = match result {
            Err(err) => err,
            Ok(()) => return Err(Fail::Failed(format!("{what} succeeded"))),
        };
        ensure!(
            matches!(err, WriteError::Closed),
            "{what}: expected exactly WriteError::Closed, got {err:?}"
        );
        ensure!(
            err.to_string() == "attempted to write to a closed flow",
            "{what}: WriteError::Closed displays as {:?}",
            err.to_string()
        );
        let io_err = io::Error::from(err);
        ensure!(
            io_err.kind() == io::ErrorKind::BrokenPipe,
            "{what}: Closed maps to io kind {:?}",
            io_err.kind()
        );
        let back = WriteError::from(io_err);
        ensure!(
            back.is_closed(),
            "{what}: Closed did not survive the io::Error round trip: {back:?}"
        );
    }

    // The errors a backend gives for an aborted peer, on read and on write,
    // are readable and round-trip too.
    drop(b);
    if let Some(err) = read_to_end(&mut a, "read after the peer aborted").await? {
        round_trips(err, "read error after the peer aborted")?;
    }
    let (mut a, mut b) = cx.connect().await?;
    b.write("unread").await.doing("write")?;
    drop(b);
    match write_until_failure(&mut a, "write after the peer aborted").await? {
        WriteError::Closed => Ok(()),
        WriteError::Flow(err) => round_trips(err, "write error after the peer aborted"),
        other => Err(Fail::Failed(format!("unexpected write error shape {other:?}"))),
    }
}

async fn check_many_pairs<F: Factory>(cx: &Cx<'_, F>) -> Check {
    const PAIRS: u64 = 1000;
    let seed = cx.seed;
    let mut pairs = Vec::new();
    for i in 0..PAIRS {
        pairs.push(cx.factory().connect().await.doing(&format!("connect pair {i}"))?);
    }
    // All 2,000 ends at once, each its own task in separate-task runs.
    let mut branches: Vec<LocalBoxFuture<'static, Check>> = Vec::new();
    for (i, (mut a, mut b)) in pairs.into_iter().enumerate() {
        let there = Pattern::new(seed.wrapping_add(i as u64));
        let back = Pattern::new(seed.wrapping_sub(i as u64 + 1));
        let len = 512 + (i as u64 * 7) % 1024;
        branches.push(Box::pin(async move {
            a.write(there.chunk(0, len as usize)).await.doing("write")?;
            a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
            receive(&mut a, back, len).await.doing(&format!("pair {i}, client"))
        }));
        branches.push(Box::pin(async move {
            receive(&mut b, there, len).await.doing(&format!("pair {i}, server"))?;
            b.write(back.chunk(0, len as usize)).await.doing("write")?;
            b.shutdown(Shutdown::Write).await.doing("shutdown(Write)")
        }));
    }
    cx.mode().all(branches).await
}

async fn check_type_erased<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let (a, b) = cx.connect().await?;
    // Both ends in one collection, though their types differ.
    let mut ends: Vec<Pin<Box<dyn Flow>>> = vec![Box::pin(a), Box::pin(b)];
    let (left, right) = ends.split_at_mut(1);
    let (a, b) = (&mut left[0], &mut right[0]);
    let pattern = Pattern::new(cx.seed);
    let mut rng = fastrand::Rng::with_seed(cx.seed);
    Mode::OneTask
        .all(vec![
            Box::pin(async {
                send(a, pattern, 512 * KIB, 64 * KIB as usize, &mut rng, Style::Mixed).await?;
                a.shutdown(Shutdown::Write)
                    .await
                    .doing("shutdown(Write) through dyn Flow")
            }),
            Box::pin(receive(b, pattern, 512 * KIB)),
        ])
        .await?;
    let b = ends.pop().ok_or_else(|| Fail::Failed("internal: no end".into()))?;
    let a = ends.pop().ok_or_else(|| Fail::Failed("internal: no end".into()))?;
    // A boxed flow splits, and a Box<dyn Flow + Unpin> is a flow too.
    let (mut ar, _aw) = split(a);
    let mut b: Box<dyn Flow + Unpin> = Box::new(b);
    Mode::OneTask
        .all(vec![
            Box::pin(async {
                b.write(pattern.chunk(0, 3000))
                    .await
                    .doing("write through Box<dyn Flow>")?;
                b.shutdown(Shutdown::Write)
                    .await
                    .doing("shutdown(Write) through Box<dyn Flow>")
            }),
            Box::pin(receive(&mut ar, pattern, 3000)),
        ])
        .await
}

async fn check_send_futures<F: Factory>(_cx: &Cx<'_, F>) -> Check {
    Err(Fail::NotApplicable(
        "the Send check runs through flow_conformance::Runner or suite!, which know the flow types".into(),
    ))
}

/// Clause 18 for a backend whose flows are `Send`: each line fails to
/// compile if the type is not `Send`, which is the check.
pub(crate) fn send_futures_of<F: Factory>() -> Outcome
where
    F::Client: Send,
    F::Server: Send,
{
    fn assert_send<T: Send>() {}
    fn for_end<E: Flow + Unpin + Send + 'static>() {
        assert_send::<E>();
        assert_send::<flow_api::ReadFuture<'static, E>>();
        assert_send::<flow_api::WriteFuture<'static, E>>();
        assert_send::<flow_api::FeedFuture<'static, E>>();
        assert_send::<flow_api::WritevFuture<'static, E, std::vec::IntoIter<Bytes>>>();
        assert_send::<flow_api::FlushFuture<'static, E>>();
        assert_send::<flow_api::ShutdownFuture<'static, E>>();
        assert_send::<flow_api::CloseFuture<'static, E>>();
        assert_send::<flow_api::CloseWithin<'static, E, std::future::Ready<()>>>();
        assert_send::<flow_api::ReadHalf<E>>();
        assert_send::<flow_api::WriteHalf<E>>();
        assert_send::<BoxFlow<'static>>();
    }
    for_end::<F::Client>();
    for_end::<F::Server>();
    Outcome::Passed
}

async fn check_shutdown_both<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let shut = Signal::new();
    let shut_b = Arc::clone(&shut);
    cx.pair(
        program(move |mut a: F::Client| async move {
            a.shutdown(Shutdown::Both).await.doing("shutdown(Both)")?;
            shut.set();
            expect_eof(&mut a, "read after shutdown(Both)").await?;
            expect_closed(a.write("x").await, "write after shutdown(Both)")?;
            expect_eof(&mut a, "second read after shutdown(Both)").await
        }),
        program(move |mut b: F::Server| async move {
            shut_b.wait().await;
            expect_eof(&mut b, "peer read after shutdown(Both)").await?;
            // The peer's writes do not hang; whether they fail is the backend's call.
            match b.write(Bytes::from(vec![7u8; 1024])).await {
                Ok(()) => Ok(()),
                Err(e) if matches!(e.kind(), ErrorKind::Closed | ErrorKind::Reset) => Ok(()),
                Err(e) => Err(Fail::Failed(format!("peer write after shutdown(Both): unexpected {e}"))),
            }
        }),
    )
    .await
}

async fn check_zero_copy<F: Factory>(cx: &Cx<'_, F>) -> Check {
    if !cx.caps().zero_copy {
        return Err(Fail::NotApplicable(
            "backend copies data, or the fault injector splits its buffers (capability zero_copy)".into(),
        ));
    }
    let (mut a, mut b) = cx.connect().await?;
    let buf = Bytes::from(vec![42u8; 4096]);
    let (ptr, len) = (buf.as_ptr(), buf.len());
    a.write(buf).await.doing("write")?;
    match b.read().await.doing("read")? {
        Chunk::Data(d) => {
            ensure!(
                d.as_ptr() == ptr && d.len() == len,
                "the reader got a copy, not the writer's buffer"
            );
            Ok(())
        }
        Chunk::Eof => Err(Fail::Failed("end of file instead of data".into())),
    }
}

async fn check_repeated_shutdown<F: Factory>(cx: &Cx<'_, F>) -> Check {
    cx.pair(
        program(|mut a: F::Client| async move {
            a.write("before").await.doing("write")?;
            a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
            a.shutdown(Shutdown::Write).await.doing("second shutdown(Write)")?;
            a.shutdown(Shutdown::Read).await.doing("shutdown(Read)")?;
            a.shutdown(Shutdown::Read).await.doing("second shutdown(Read)")?;
            a.shutdown(Shutdown::Both).await.doing("shutdown(Both) after both")?;
            a.close().await.doing("close after shutdown")
        }),
        program(|mut b: F::Server| async move {
            receive_exact(&mut b, 6).await?;
            expect_eof(&mut b, "peer read after two shutdown(Write)").await?;
            expect_eof(&mut b, "peer read after end of file").await?;
            b.close().await.doing("peer close")
        }),
    )
    .await
}

async fn check_close_bounded<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let timed_out = Signal::new();
    let may_close = Signal::new();
    let (timed_out_b, may_close_a) = (Arc::clone(&timed_out), Arc::clone(&may_close));
    cx.pair(
        program(move |mut a: F::Client| async move {
            a.write("bye").await.doing("write")?;
            // The peer is alive and never closes: close must wait, and give up at the deadline.
            match a.close_within(sleep(Duration::from_millis(200))).await {
                Err(e) if e.kind() == ErrorKind::TimedOut => {}
                Err(e) => return Err(Fail::Failed(format!("close_within: expected TimedOut, got {e}"))),
                Ok(()) => return Err(Fail::Failed("close completed although the peer never closed".into())),
            }
            timed_out.set();
            may_close_a.wait().await;
            // Once the peer closes, closing again completes.
            a.close().await.doing("close after the peer closed")
        }),
        program(move |mut b: F::Server| async move {
            timed_out_b.wait().await;
            // It did flush and signal the end of writes meanwhile.
            receive_exact(&mut b, 3).await.doing("peer reading during the close")?;
            expect_eof(&mut b, "peer read during close").await?;
            may_close.set();
            b.close().await.doing("peer close")
        }),
    )
    .await
}

/// One request: a length byte and that many bytes.
fn request_bytes(rng: &mut fastrand::Rng) -> Vec<u8> {
    let len = rng.usize(1..=64);
    let mut out = Vec::with_capacity(len + 1);
    out.push(len as u8);
    out.extend((0..len).map(|_| rng.u8(..)));
    out
}

/// The server's answer to a request's payload.
fn answer(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 1);
    out.push(payload.len() as u8);
    out.extend(payload.iter().rev().map(|b| b ^ 0xa5));
    out
}

async fn check_request_response<F: Factory>(cx: &Cx<'_, F>) -> Check {
    const ROUNDS: usize = 3000;
    let seed = cx.seed;
    cx.pair(
        program(move |mut a: F::Client| async move {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut framed = Framed::default();
            let mut round = 0;
            while round < ROUNDS {
                // Mostly one request at a time; now and then a pipelined burst.
                let burst = if rng.u8(0..8) == 0 { rng.usize(2..8) } else { 1 }.min(ROUNDS - round);
                let requests: Vec<Vec<u8>> = (0..burst).map(|_| request_bytes(&mut rng)).collect();
                for request in &requests {
                    if rng.bool() {
                        a.feed(request.clone()).await.doing("feed a request")?;
                    } else {
                        a.write(request.clone()).await.doing("write a request")?;
                    }
                }
                a.flush().await.doing("flush the requests")?;
                for request in &requests {
                    let head = framed
                        .take(&mut a, 1)
                        .await
                        .doing(&format!("round {round}: reading the answer"))?;
                    let Some(head) = head else {
                        return Err(Fail::Failed(format!("round {round}: end of file instead of an answer")));
                    };
                    let body = framed.take(&mut a, usize::from(head[0])).await?.unwrap_or_default();
                    let expected = answer(&request[1..]);
                    ensure!(
                        head[0] == expected[0] && body == expected[1..],
                        "round {round}: wrong answer ({} bytes, expected {})",
                        body.len(),
                        expected.len() - 1
                    );
                    round += 1;
                }
            }
            a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
            expect_eof(&mut a, "after the last answer").await
        }),
        program(move |mut b: F::Server| async move {
            let mut framed = Framed::default();
            let mut served = 0usize;
            loop {
                let Some(head) = framed.take(&mut b, 1).await.doing("server reading a request")? else {
                    break;
                };
                let payload = framed.take(&mut b, usize::from(head[0])).await?.unwrap_or_default();
                b.write(answer(&payload)).await.doing("server answering")?;
                served += 1;
            }
            ensure!(served == ROUNDS, "the server saw {served} of {ROUNDS} requests");
            b.shutdown(Shutdown::Write).await.doing("server shutdown(Write)")
        }),
    )
    .await
}

async fn check_model<F: Factory>(cx: &Cx<'_, F>) -> Check {
    crate::model::run(cx).await
}

async fn check_close_sends_fed_data<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let pattern = Pattern::new(cx.seed);
    // Fed, never flushed, then closed: close flushes.
    cx.pair(
        program(move |mut a: F::Client| async move {
            let mut offset = 0u64;
            for len in [1usize, 100, 4000, 20_000, 7] {
                a.feed(pattern.chunk(offset, len)).await.doing("feed")?;
                offset += len as u64;
            }
            a.close().await.doing("close with fed data")
        }),
        program(move |mut b: F::Server| async move {
            receive(&mut b, pattern, 24_108)
                .await
                .doing("reading what was fed before close")?;
            b.close().await.doing("peer close")
        }),
    )
    .await?;
    // Fed, then shut down: shutdown flushes.
    let pattern = Pattern::new(cx.seed ^ 9);
    cx.pair(
        program(move |mut a: F::Client| async move {
            a.feed(pattern.chunk(0, 3000)).await.doing("feed")?;
            start_raw(&mut a, pattern.chunk(3000, 3000))
                .await
                .doing("start_write")?;
            a.shutdown(Shutdown::Write).await.doing("shutdown(Write) with fed data")
        }),
        receiver(pattern, 6000),
    )
    .await
}

async fn check_abort_delivers_in_flight<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let visible = cx.caps().abort_visible;
    let pattern = Pattern::new(cx.seed);
    let total = 256 * KIB;
    let seed = cx.seed;
    let most = Signal::new();
    let most_a = Arc::clone(&most);
    cx.pair(
        program(move |mut a: F::Client| async move {
            let mut rng = fastrand::Rng::with_seed(seed);
            send(&mut a, pattern, total - 1000, 32 * KIB as usize, &mut rng, Style::Mixed).await?;
            // The peer has read most of it and waits for more: the drop
            // must wake it, after the last bytes.
            most_a.wait().await;
            a.write(pattern.chunk(total - 1000, 1000)).await.doing("last write")?;
            // Flushed, not closed: an abort with data in flight.
            drop(a);
            Ok(())
        }),
        program(move |mut b: F::Server| async move {
            let mut offset = 0u64;
            let mut told = false;
            let end = loop {
                if !told && offset == total - 1000 {
                    told = true;
                    most.set();
                }
                match b.read().await {
                    Ok(Chunk::Data(data)) => {
                        ensure!(!data.is_empty(), "empty read at byte {offset}");
                        if let Some(at) = pattern.mismatch(offset, &data) {
                            return Err(Fail::Failed(format!("data corrupted at offset {at}")));
                        }
                        offset += data.len() as u64;
                    }
                    Ok(Chunk::Eof) => break None,
                    Err(e) => break Some(e),
                }
            };
            ensure!(
                offset == total,
                "the peer was dropped after flushing {total} bytes, but only {offset} arrived before {}",
                match &end {
                    None => "end of file".to_owned(),
                    Some(e) => format!("the error {e}"),
                }
            );
            match &end {
                None if visible => {
                    return Err(Fail::Failed(
                        "a peer dropped without closing looks like a clean end of file (capability abort_visible)"
                            .into(),
                    ));
                }
                Some(e) if !matches!(e.kind(), ErrorKind::Reset | ErrorKind::Truncated) => {
                    return Err(Fail::Failed(format!(
                        "after the peer was dropped: expected end of file or a reset, got {e} (kind {:?})",
                        e.kind()
                    )));
                }
                _ => {}
            }
            // The end stays put: reads after it return the same.
            for i in 0..3 {
                match (b.read().await, &end) {
                    (Ok(Chunk::Eof), None) => {}
                    (Err(e), Some(first)) if e.kind() == first.kind() => {}
                    (got, _) => {
                        return Err(Fail::Failed(format!(
                            "read {i} after the dropped peer's end: expected {} again, got {}",
                            match &end {
                                None => "end of file".to_owned(),
                                Some(e) => format!("{:?}", e.kind()),
                            },
                            match got {
                                Ok(Chunk::Eof) => "end of file".to_owned(),
                                Ok(Chunk::Data(d)) => format!("{} bytes", d.len()),
                                Err(e) => format!("{e} (kind {:?})", e.kind()),
                            }
                        )));
                    }
                }
            }
            Ok(())
        }),
    )
    .await
}

async fn check_close_after_peer_abort<F: Factory>(cx: &Cx<'_, F>) -> Check {
    // The peer read everything, then went; and the peer left data unread
    // (a socket answers that with a reset).
    for unread in [false, true] {
        let gone = Signal::new();
        let written = Signal::new();
        let (gone_a, written_b) = (Arc::clone(&gone), Arc::clone(&written));
        let what = if unread {
            "a peer that left data unread"
        } else {
            "a peer that read everything"
        };
        cx.pair(
            program(move |mut a: F::Client| async move {
                a.write(vec![1u8; 4096]).await.doing("write")?;
                written.set();
                // The close waits for the peer, which aborts meanwhile: the
                // abort must wake it.
                let closed = a.close().await;
                gone_a.wait().await;
                match closed {
                    Ok(()) => Ok(()),
                    Err(e) if matches!(e.kind(), ErrorKind::Reset | ErrorKind::Truncated) => Ok(()),
                    Err(e) => Err(Fail::Failed(format!(
                        "close after {what} aborted: expected success or a reset, got {e} (kind {:?})",
                        e.kind()
                    ))),
                }
            }),
            program(move |mut b: F::Server| async move {
                written_b.wait().await;
                if !unread {
                    receive_exact(&mut b, 4096).await?;
                }
                drop(b);
                gone.set();
                Ok(())
            }),
        )
        .await?;
    }
    Ok(())
}

async fn check_write_error_sticky<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let gone = Signal::new();
    let written = Signal::new();
    let (gone_a, written_b) = (Arc::clone(&gone), Arc::clone(&written));
    cx.pair(
        program(move |mut a: F::Client| async move {
            // Unread data makes a socket answer the drop with a reset.
            a.write(vec![1u8; 4096]).await.doing("write")?;
            written.set();
            gone_a.wait().await;
            let first = write_until_failure(&mut a, "after the peer aborted").await?;
            for i in 0..3 {
                let result = match i {
                    0 => a.write("after the error").await,
                    1 => {
                        a.writev([Bytes::from_static(b"after"), Bytes::from_static(b" the error")])
                            .await
                    }
                    _ => match start_raw(&mut a, Bytes::from_static(b"after the error")).await {
                        Ok(()) => a.flush().await,
                        Err(e) => Err(e),
                    },
                };
                match result {
                    Err(e) if matches!(e.kind(), ErrorKind::Closed | ErrorKind::Reset) => {}
                    Err(e) => {
                        return Err(Fail::Failed(format!(
                            "write {i} after the write error {first}: expected the error again, got {e}"
                        )));
                    }
                    Ok(()) => {
                        return Err(Fail::Failed(format!(
                            "write {i} after the write error {first} succeeded: the data is silently lost"
                        )));
                    }
                }
            }
            Ok(())
        }),
        program(move |b: F::Server| async move {
            written_b.wait().await;
            drop(b);
            gone.set();
            Ok(())
        }),
    )
    .await
}

async fn check_read_after_close<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let pattern = Pattern::new(cx.seed);
    let sent = Signal::new();
    let sent_a = Arc::clone(&sent);
    cx.pair(
        program(move |mut a: F::Client| async move {
            // The remote's data is in flight and unread when close starts.
            sent_a.wait().await;
            a.close().await.doing("close with data in flight from the remote")?;
            for i in 0..3 {
                match a.read().await {
                    Ok(Chunk::Eof) => {}
                    Ok(Chunk::Data(d)) => {
                        return Err(Fail::Failed(format!(
                            "read {i} after close returned {} bytes the remote had in flight",
                            d.len()
                        )));
                    }
                    Err(e) => {
                        return Err(Fail::Failed(format!(
                            "read {i} after close: expected end of file, got {e}"
                        )));
                    }
                }
            }
            Ok(())
        }),
        program(move |mut b: F::Server| async move {
            b.write(pattern.chunk(0, 20_000)).await.doing("write")?;
            sent.set();
            b.close().await.doing("remote close")
        }),
    )
    .await?;

    // A close that started and was dropped while it waited for the remote
    // still ends reads: what arrives is the close's to discard.
    let started = Signal::new();
    let sent = Signal::new();
    let (started_b, sent_a) = (Arc::clone(&started), Arc::clone(&sent));
    cx.pair(
        program(move |mut a: F::Client| async move {
            {
                let mut close = Box::pin(a.close());
                let first = futures_util::poll!(close.as_mut());
                if let std::task::Poll::Ready(Err(e)) = first {
                    return Err(Fail::Failed(format!("close, first poll: {e}")));
                }
            }
            started.set();
            sent_a.wait().await;
            for i in 0..3 {
                match a.read().await {
                    Ok(Chunk::Eof) => {}
                    Ok(Chunk::Data(d)) => {
                        return Err(Fail::Failed(format!(
                            "read {i} after a close whose future was dropped returned {} bytes the remote \
                             sent after the close started",
                            d.len()
                        )));
                    }
                    Err(e) => {
                        return Err(Fail::Failed(format!(
                            "read {i} after a close whose future was dropped: expected end of file, got {e}"
                        )));
                    }
                }
            }
            a.close()
                .await
                .doing("close, called again after its first future was dropped")
        }),
        program(move |mut b: F::Server| async move {
            started_b.wait().await;
            b.write(pattern.chunk(0, 20_000))
                .await
                .doing("write to a closing peer")?;
            sent.set();
            b.close().await.doing("remote close")
        }),
    )
    .await
}

async fn check_flood_after_shutdown_read<F: Factory>(cx: &Cx<'_, F>) -> Check {
    // A server that stopped reading early answers with a reply larger than
    // any buffer; the client sends its whole (huge) request before it reads
    // the reply. Unless the server discards the request, both wait forever.
    const FLOOD: u64 = 24 * MIB;
    const REPLY: u64 = 16 * MIB;
    let reply = Pattern::new(cx.seed);
    let flood = Pattern::new(cx.seed ^ 10);
    let seed = cx.seed;
    let shut = Signal::new();
    let shut_b = Arc::clone(&shut);
    cx.pair(
        program(move |mut a: F::Client| async move {
            a.shutdown(Shutdown::Read).await.doing("shutdown(Read)")?;
            expect_eof(&mut a, "read after shutdown(Read)").await?;
            shut.set();
            let mut rng = fastrand::Rng::with_seed(seed);
            send(&mut a, reply, REPLY, 256 * KIB as usize, &mut rng, Style::Write)
                .await
                .doing("replying while the peer floods a flow that shut down reading")?;
            a.close().await.doing("close after shutdown(Read)")
        }),
        program(move |mut b: F::Server| async move {
            shut_b.wait().await;
            let mut offset = 0u64;
            while offset < FLOOD {
                match b.write(flood.chunk(offset, 256 * KIB as usize)).await {
                    Ok(()) => offset += 256 * KIB,
                    // Refused (a Unix socket says so): it did not hang.
                    Err(WriteError::Closed) => break,
                    Err(e) if e.kind() == ErrorKind::Reset => break,
                    Err(e) => {
                        return Err(Fail::Failed(format!(
                            "flooding a peer that shut down reading: write at byte {offset}: {e}"
                        )));
                    }
                }
            }
            match b.shutdown(Shutdown::Write).await {
                Ok(()) => {}
                Err(e) if matches!(e.kind(), ErrorKind::Closed | ErrorKind::Reset) => {}
                Err(e) => return Err(Fail::Failed(format!("shutdown(Write) after the flood: {e}"))),
            }
            receive(&mut b, reply, REPLY)
                .await
                .doing("reading the reply after the flood")?;
            match b.close().await {
                Ok(()) => Ok(()),
                // The refused writes left the write side failed: close says so.
                Err(e) if matches!(e.kind(), ErrorKind::Closed | ErrorKind::Reset) => Ok(()),
                Err(e) => Err(Fail::Failed(format!("close after the flood: {e}"))),
            }
        }),
    )
    .await
}

/// Polls `future` up to `polls` times (fewer if it completes), then drops
/// it. Returns its output if it completed.
async fn poll_then_cancel<Fut: Future + Unpin>(mut future: Fut, polls: usize) -> Option<Fut::Output> {
    for _ in 0..polls {
        if let Some(out) = poll_once(&mut future).await {
            return Some(out);
        }
        yield_now().await;
    }
    None
}

/// Checks that `stream` is `bufs` in order, each one whole or absent (not
/// cut, not repeated), and that every `required` one is present.
fn whole_or_absent(stream: &[u8], bufs: &[(Bytes, bool)]) -> Check {
    let mut at = 0;
    for (i, (buf, required)) in bufs.iter().enumerate() {
        if stream[at..].starts_with(buf) {
            at += buf.len();
        } else if *required {
            return Err(Fail::Failed(format!(
                "buffer {i} ({} bytes), which must be sent, is missing or cut at byte {at}",
                buf.len()
            )));
        }
    }
    ensure!(
        at == stream.len(),
        "{} bytes arrived that are no whole buffer handed over (a cancelled write sent part of its buffer, or twice)",
        stream.len() - at
    );
    Ok(())
}

async fn check_cancel_writes<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let mut rng = fastrand::Rng::with_seed(cx.seed);
    for op in ["write", "writev", "flush", "shutdown", "close"] {
        let (mut a, mut b) = cx.connect().await?;
        let pattern = Pattern::new(cx.seed ^ rng.u64(..));
        let mut op_rng = fastrand::Rng::with_seed(rng.u64(..));
        // What the writer handed over, each buffer with whether it must arrive.
        let bufs: std::cell::RefCell<Vec<(Bytes, bool)>> = std::cell::RefCell::new(Vec::new());
        let writer = async {
            let mut offset = 0u64;
            let mut next = |len: usize| {
                let buf = pattern.chunk(offset, len);
                offset += len as u64;
                buf
            };
            for round in 0..24 {
                let polls = op_rng.usize(1..5);
                let len = log_uniform(&mut op_rng, 512 * 1024);
                match op {
                    "write" => {
                        let buf = next(len);
                        let done = poll_then_cancel(a.write(buf.clone()), polls).await;
                        if let Some(result) = &done {
                            result
                                .as_ref()
                                .map_err(|e| Fail::Failed(format!("write {round}: {e}")))?;
                        }
                        bufs.borrow_mut().push((buf, done.is_some()));
                    }
                    "writev" => {
                        let members: Vec<Bytes> = (0..op_rng.usize(1..4)).map(|_| next(len / 2 + 1)).collect();
                        let done = poll_then_cancel(a.writev(members.clone()), polls).await;
                        if let Some(result) = &done {
                            result
                                .as_ref()
                                .map_err(|e| Fail::Failed(format!("writev {round}: {e}")))?;
                        }
                        bufs.borrow_mut()
                            .extend(members.into_iter().map(|m| (m, done.is_some())));
                    }
                    _ => {
                        // Fed buffers are taken for sure; a cancelled flush,
                        // shutdown or close must not lose them.
                        let buf = next(len.min(64 * 1024));
                        a.feed(buf.clone()).await.doing("feed")?;
                        bufs.borrow_mut().push((buf, true));
                        if op == "flush" {
                            if let Some(result) = poll_then_cancel(a.flush(), polls).await {
                                result.doing("flush")?;
                            }
                        }
                    }
                }
            }
            match op {
                "shutdown" => {
                    for _ in 0..4 {
                        if let Some(result) = poll_then_cancel(a.shutdown(Shutdown::Write), 1).await {
                            result.doing("shutdown(Write)")?;
                            break;
                        }
                    }
                    a.shutdown(Shutdown::Write)
                        .await
                        .doing("shutdown(Write) called again after cancels")?;
                    a.close().await.doing("close")
                }
                "close" => {
                    for _ in 0..4 {
                        if let Some(result) = poll_then_cancel(a.close(), 1).await {
                            return result.doing("close");
                        }
                    }
                    a.close().await.doing("close called again after cancels")
                }
                _ => {
                    a.flush().await.doing("flush")?;
                    a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
                    a.close().await.doing("close")
                }
            }
        };
        let reader = async {
            let mut stream = Vec::new();
            // Slow at first, so that the writer meets backpressure.
            for _ in 0..8 {
                yield_now().await;
            }
            while let Chunk::Data(d) = b.read().await.doing("peer read")? {
                stream.extend_from_slice(&d);
            }
            let checked = {
                let bufs = bufs.borrow();
                whole_or_absent(&stream, &bufs).doing(&format!("after {} buffers", bufs.len()))
            };
            checked?;
            b.close().await.doing("peer close")
        };
        Mode::OneTask
            .all(vec![Box::pin(writer), Box::pin(reader)])
            .await
            .doing(&format!("cancelled {op}s"))?;
    }
    Ok(())
}
