//! The clauses of `docs/contract.md`, one async function each.
//!
//! Each takes a [`Factory`] and a seed, and returns an [`Outcome`]. `A` is the
//! client end, `B` the server end. They run under any executor: concurrency
//! inside a clause is `join`, never a spawned task.

use std::cell::Cell;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use flow_api::prelude::*;
use flow_api::{BoxFlow, split};
use futures_util::future::{Either, join_all, select};
use futures_util::{FutureExt, join, try_join};

use crate::pattern::Pattern;
use crate::support::{
    Check, Doing, Fail, Style, ensure, expect_closed, expect_eof, log_uniform, poll_once, receive, send, yield_now,
};
use crate::timer::sleep;
use crate::{Factory, Outcome};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

fn outcome(check: Check) -> Outcome {
    match check {
        Ok(()) => Outcome::Passed,
        Err(Fail::Failed(why)) => Outcome::Failed(why),
        Err(Fail::NotApplicable(why)) => Outcome::NotApplicable(why),
    }
}

macro_rules! clauses {
    ($($(#[$doc:meta])* $name:ident => $check:ident;)*) => {$(
        $(#[$doc])*
        pub async fn $name<F: Factory>(factory: &F, seed: u64) -> Outcome {
            outcome($check(factory, seed).await)
        }
    )*};
}

clauses! {
    /// Clause 1: read returns at least one byte or end of file, never an empty buffer.
    read_never_empty => check_read_never_empty;
    /// Clause 2: bytes arrive in order and unmodified, whatever the write sizes (1 B to 1 MiB).
    bytes_in_order => check_bytes_in_order;
    /// Clause 3: in-flight data first, then end of file, which is sticky.
    eof_after_data => check_eof_after_data;
    /// Clause 4: half-close: after `shutdown(Write)` the local side still reads; the peer reads end of file; local writes return `Closed`.
    half_close => check_half_close;
    /// Clause 5: after `shutdown(Read)` local reads return end of file.
    shutdown_read => check_shutdown_read;
    /// Clause 6: close flushes, signals the end, lets the remote drain and write, and completes once the remote closed; a second close succeeds.
    close_graceful => check_close_graceful;
    /// Clause 7: after close, writes return `Closed` and reads return end of file.
    closed_flow_rejects => check_closed_flow_rejects;
    /// Clause 8: writev equals writing the concatenation; empty lists and members are fine.
    writev_concatenates => check_writev_concatenates;
    /// Clause 9: a zero-length write succeeds at once, sends nothing and signals no end of file.
    zero_length_write => check_zero_length_write;
    /// Clause 10: a writer to a peer that does not read eventually waits.
    backpressure => check_backpressure;
    /// Clause 11: both ends write 8 MiB at once while reading: no deadlock.
    simultaneous_write => check_simultaneous_write;
    /// Clause 12: cancelling a pending read at any poll loses no byte.
    read_cancel_safe => check_read_cancel_safe;
    /// Clause 13: a peer that aborts gives end of file or a reset, never a hang; writes then fail with `Closed` or a reset.
    peer_abort => check_peer_abort;
    /// Clause 14: errors display as readable messages and keep their kind through `std::io::Error`.
    errors_round_trip => check_errors_round_trip;
    /// Clause 15: 64 MiB each way at once, verified byte for byte.
    large_bidirectional => check_large_bidirectional;
    /// Clause 16: 1,000 concurrent pairs all deliver correctly.
    many_pairs => check_many_pairs;
    /// Clause 17: the flow works type-erased (`BoxFlow`, `Box<dyn Flow>`).
    type_erased => check_type_erased;
    /// Clause 18: flows, their halves and their futures are `Send` (a compile-time check).
    send_futures => check_send_futures;
    /// Clause 19: `shutdown(Both)`: local reads end, local writes return `Closed`, the peer reads end of file.
    shutdown_both => check_shutdown_both;
    /// Clause 20: zero-copy: the reader gets the writer's very allocation.
    zero_copy => check_zero_copy;
    /// Clause 21: shutting down twice is a no-op, and close after shutdown completes.
    repeated_shutdown => check_repeated_shutdown;
    /// Clause 22: close does not wait forever on a peer that never closes: `close_within` gives up with `TimedOut`, and close waits for the peer until then.
    close_bounded => check_close_bounded;
}

async fn check_read_never_empty<F: Factory>(factory: &F, seed: u64) -> Check {
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    let pattern = Pattern::new(seed);
    let sender = async {
        let mut offset = 0u64;
        for len in [0usize, 1, 0, 1, 1, 7, 0, 1, 300, 1, 0] {
            a.write(pattern.chunk(offset, len)).await.doing("write")?;
            offset += len as u64;
        }
        a.writev([Bytes::new(), pattern.chunk(offset, 2), Bytes::new()])
            .await
            .doing("writev")?;
        offset += 2;
        a.feed(Bytes::new()).await.doing("feed")?;
        a.feed(pattern.chunk(offset, 1)).await.doing("feed")?;
        a.flush().await.doing("flush")?;
        offset += 1;
        a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
        Ok::<u64, Fail>(offset)
    };
    let (sent, ()) = try_join!(sender, receive(&mut b, pattern, 315))?;
    ensure!(sent == 315, "internal: sent {sent} bytes, expected 315");
    // Sticky end of file is never empty data either.
    for _ in 0..3 {
        expect_eof(&mut b, "read after end of file").await?;
    }
    Ok(())
}

async fn check_bytes_in_order<F: Factory>(factory: &F, seed: u64) -> Check {
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    let total = 8 * MIB;
    for (direction, seed) in [("client to server", seed), ("server to client", seed ^ 0xabcd)] {
        let pattern = Pattern::new(seed);
        let mut rng = fastrand::Rng::with_seed(seed);
        let result = if direction == "client to server" {
            try_join!(
                async {
                    send(&mut a, pattern, total, MIB as usize, &mut rng, Style::Write).await?;
                    a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")
                },
                receive(&mut b, pattern, total)
            )
        } else {
            try_join!(
                async {
                    send(&mut b, pattern, total, MIB as usize, &mut rng, Style::Write).await?;
                    b.shutdown(Shutdown::Write).await.doing("shutdown(Write)")
                },
                receive(&mut a, pattern, total)
            )
        };
        result.doing(direction)?;
    }
    Ok(())
}

async fn check_eof_after_data<F: Factory>(factory: &F, seed: u64) -> Check {
    // The peer shuts down writing right after its last write: nothing in
    // flight may be lost, and end of file comes after it, then stays.
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    let pattern = Pattern::new(seed);
    let mut rng = fastrand::Rng::with_seed(seed);
    try_join!(
        async {
            send(&mut b, pattern, MIB, 64 * KIB as usize, &mut rng, Style::Mixed).await?;
            b.shutdown(Shutdown::Write).await.doing("shutdown(Write)")
        },
        async {
            receive(&mut a, pattern, MIB).await.doing("after shutdown(Write)")?;
            for _ in 0..3 {
                expect_eof(&mut a, "end of file must be sticky").await?;
            }
            Ok::<(), Fail>(())
        }
    )?;

    // The same when the peer closes instead.
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    let pattern = Pattern::new(seed ^ 1);
    try_join!(
        async {
            send(&mut b, pattern, MIB, 64 * KIB as usize, &mut rng, Style::Mixed).await?;
            b.close().await.doing("peer close")
        },
        async {
            receive(&mut a, pattern, MIB).await.doing("after the peer's close")?;
            for _ in 0..3 {
                expect_eof(&mut a, "end of file must be sticky").await?;
            }
            a.close().await.doing("close")
        }
    )?;
    Ok(())
}

async fn check_half_close<F: Factory>(factory: &F, seed: u64) -> Check {
    if !factory.capabilities().half_close {
        return Err(Fail::NotApplicable(
            "backend cannot read after shutting down writing (capability half_close)".into(),
        ));
    }
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    let request = Pattern::new(seed);
    let reply = Pattern::new(seed ^ 2);
    let mut rng_a = fastrand::Rng::with_seed(seed);
    let mut rng_b = fastrand::Rng::with_seed(seed ^ 3);
    try_join!(
        async {
            send(&mut a, request, 100 * KIB, 16 * KIB as usize, &mut rng_a, Style::Mixed).await?;
            a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
            expect_closed(a.write("late").await, "write after shutdown(Write)")?;
            expect_closed(
                a.writev([Bytes::from_static(b"late")]).await,
                "writev after shutdown(Write)",
            )?;
            receive(&mut a, reply, 256 * KIB)
                .await
                .doing("reading the reply after shutdown(Write)")
        },
        async {
            receive(&mut b, request, 100 * KIB)
                .await
                .doing("peer reading the request")?;
            send(&mut b, reply, 256 * KIB, 16 * KIB as usize, &mut rng_b, Style::Mixed).await?;
            b.shutdown(Shutdown::Write).await.doing("peer shutdown(Write)")
        }
    )?;
    Ok(())
}

async fn check_shutdown_read<F: Factory>(factory: &F, seed: u64) -> Check {
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    let pattern = Pattern::new(seed);
    // Data already in flight before the shutdown is not delivered either.
    b.write(pattern.chunk(0, 1000))
        .await
        .doing("peer write before shutdown(Read)")?;
    a.shutdown(Shutdown::Read).await.doing("shutdown(Read)")?;
    expect_eof(&mut a, "read after shutdown(Read)").await?;
    // The peer's writes from now on are discarded (TCP, memory) or refused
    // with Closed (Unix sockets): either way they do not hang.
    match b.write(pattern.chunk(1000, 1000)).await {
        Ok(()) | Err(WriteError::Closed) => {}
        Err(e) => {
            return Err(Fail::Failed(format!(
                "peer write after shutdown(Read): expected success or Closed, got {e}"
            )));
        }
    }
    expect_eof(&mut a, "second read after shutdown(Read)").await?;
    // Writing is unaffected.
    try_join!(
        async {
            a.write(pattern.chunk(0, 5000))
                .await
                .doing("write after shutdown(Read)")?;
            a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")
        },
        receive(&mut b, pattern, 5000)
    )?;
    Ok(())
}

async fn check_close_graceful<F: Factory>(factory: &F, seed: u64) -> Check {
    // Through halves: after close starts, the remote may still write and the
    // local read half still reads; close completes once the remote closed.
    let (a, mut b) = factory.connect().await.doing("connect")?;
    let (mut ar, mut aw) = split(a);
    let request = Pattern::new(seed);
    let reply = Pattern::new(seed ^ 4);
    let remote_closing = AtomicBool::new(false);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut rng_b = fastrand::Rng::with_seed(seed ^ 5);
    try_join!(
        async {
            send(&mut aw, request, 256 * KIB, 32 * KIB as usize, &mut rng, Style::Mixed).await?;
            aw.close().await.doing("close")?;
            ensure!(
                remote_closing.load(Ordering::SeqCst),
                "close completed before the remote closed"
            );
            aw.close().await.doing("second close")?;
            Ok(())
        },
        async {
            receive(&mut ar, reply, 128 * KIB)
                .await
                .doing("read half reading the remote's writes during close")
        },
        async {
            receive(&mut b, request, 256 * KIB)
                .await
                .doing("remote reading before end of file")?;
            send(&mut b, reply, 128 * KIB, 32 * KIB as usize, &mut rng_b, Style::Write)
                .await
                .doing("remote writing after the local close")?;
            remote_closing.store(true, Ordering::SeqCst);
            b.close().await.doing("remote close")
        }
    )?;

    // On a whole flow: close discards what the remote still sends.
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    let remote_closing = AtomicBool::new(false);
    try_join!(
        async {
            send(&mut a, request, 64 * KIB, 8 * KIB as usize, &mut rng, Style::Write).await?;
            a.close().await.doing("close of a whole flow")?;
            ensure!(
                remote_closing.load(Ordering::SeqCst),
                "close completed before the remote closed"
            );
            a.close().await.doing("second close")
        },
        async {
            receive(&mut b, request, 64 * KIB).await?;
            send(&mut b, reply, 256 * KIB, 32 * KIB as usize, &mut rng_b, Style::Write)
                .await
                .doing("remote writing to a closing flow")?;
            remote_closing.store(true, Ordering::SeqCst);
            b.close().await.doing("remote close")
        }
    )?;
    Ok(())
}

async fn check_closed_flow_rejects<F: Factory>(factory: &F, _seed: u64) -> Check {
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    let (ca, cb) = join!(a.close(), b.close());
    ca.doing("close")?;
    cb.doing("peer close")?;
    for (name, end) in [
        ("client", &mut a as &mut dyn DynEnd),
        ("server", &mut b as &mut dyn DynEnd),
    ] {
        expect_closed(
            end.write_dyn(Bytes::from_static(b"x")).await,
            &format!("{name}: write after close"),
        )?;
        expect_closed(
            end.writev_dyn(vec![Bytes::new(), Bytes::from_static(b"y")]).await,
            &format!("{name}: writev after close"),
        )?;
        match end.read_dyn().await {
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
        end.close_dyn().await.doing(&format!("{name}: second close"))?;
    }
    Ok(())
}

/// Lets one loop body test both ends, whatever their types.
trait DynEnd {
    fn write_dyn(&mut self, buf: Bytes) -> futures_util::future::BoxFuture<'_, Result<(), WriteError>>;
    fn writev_dyn(&mut self, bufs: Vec<Bytes>) -> futures_util::future::BoxFuture<'_, Result<(), WriteError>>;
    fn read_dyn(&mut self) -> futures_util::future::BoxFuture<'_, Result<Chunk, Error>>;
    fn close_dyn(&mut self) -> futures_util::future::BoxFuture<'_, Result<(), Error>>;
}

impl<T: Flow + Send + Unpin> DynEnd for T {
    fn write_dyn(&mut self, buf: Bytes) -> futures_util::future::BoxFuture<'_, Result<(), WriteError>> {
        Box::pin(self.write(buf))
    }
    fn writev_dyn(&mut self, bufs: Vec<Bytes>) -> futures_util::future::BoxFuture<'_, Result<(), WriteError>> {
        Box::pin(self.writev(bufs))
    }
    fn read_dyn(&mut self) -> futures_util::future::BoxFuture<'_, Result<Chunk, Error>> {
        Box::pin(self.read())
    }
    fn close_dyn(&mut self) -> futures_util::future::BoxFuture<'_, Result<(), Error>> {
        Box::pin(self.close())
    }
}

async fn check_writev_concatenates<F: Factory>(factory: &F, seed: u64) -> Check {
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    let pattern = Pattern::new(seed);
    let mut rng = fastrand::Rng::with_seed(seed);
    let total = 2 * MIB;
    let sender = async {
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
            a.writev(bufs).await.doing("writev")?;
            if rng.bool() && offset < total {
                let len = log_uniform(&mut rng, 1024).min(usize::try_from(total - offset).unwrap_or(usize::MAX));
                a.write(pattern.chunk(offset, len))
                    .await
                    .doing("write between writevs")?;
                offset += len as u64;
            }
        }
        a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")
    };
    try_join!(sender, receive(&mut b, pattern, total))?;
    Ok(())
}

async fn check_zero_length_write<F: Factory>(factory: &F, _seed: u64) -> Check {
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    match a.write(Bytes::new()).now_or_never() {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(Fail::Failed(format!("zero-length write failed: {e}"))),
        None => return Err(Fail::Failed("zero-length write did not complete at once".into())),
    }
    a.writev([Bytes::new()]).await.doing("writev of one empty buffer")?;
    a.write("z").await.doing("write after a zero-length write")?;
    match b.read().await.doing("peer read")? {
        Chunk::Data(d) => ensure!(d.first() == Some(&b'z'), "peer read {:?}, expected \"z\"", d),
        Chunk::Eof => return Err(Fail::Failed("a zero-length write signalled end of file".into())),
    }
    a.write(Bytes::new()).await.doing("zero-length write")?;
    a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
    expect_eof(&mut b, "a zero-length write sent data").await
}

async fn check_backpressure<F: Factory>(factory: &F, seed: u64) -> Check {
    if !factory.capabilities().bounded {
        return Err(Fail::NotApplicable(
            "backend buffers without bound (capability bounded)".into(),
        ));
    }
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    let pattern = Pattern::new(seed);
    let chunk = 64 * KIB;
    let limit = 256 * MIB;
    // Set once a write is still pending after a grace period (the writer
    // waits for the reader); holds how many bytes will have been sent.
    let stalled_at: Cell<Option<u64>> = Cell::new(None);
    let sender = async {
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
                    stalled_at.set(Some(offset + 1000));
                    // Wake the task so that the reader sees the flag.
                    yield_now().await;
                    write.await.doing("write blocked by backpressure")?;
                    break;
                }
            }
        }
        // Once the peer reads, the stalled write and the rest go through intact.
        a.write(pattern.chunk(offset, 1000))
            .await
            .doing("write after backpressure")?;
        a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")
    };
    let reader = async {
        let total = std::future::poll_fn(|_| match stalled_at.get() {
            Some(total) => Poll::Ready(total),
            None => Poll::Pending,
        })
        .await;
        receive(&mut b, pattern, total).await
    };
    // try_join: a sender that fails must not leave the reader waiting for the flag.
    try_join!(sender, reader).map(drop)
}

async fn check_simultaneous_write<F: Factory>(factory: &F, seed: u64) -> Check {
    exchange_both_ways(factory, seed, 8 * MIB).await
}

async fn check_large_bidirectional<F: Factory>(factory: &F, seed: u64) -> Check {
    exchange_both_ways(factory, seed, 64 * MIB).await
}

/// Both ends write `total` bytes at once while reading, through halves.
async fn exchange_both_ways<F: Factory>(factory: &F, seed: u64, total: u64) -> Check {
    let (a, b) = factory.connect().await.doing("connect")?;
    let (mut ar, mut aw) = split(a);
    let (mut br, mut bw) = split(b);
    let to_b = Pattern::new(seed);
    let to_a = Pattern::new(seed ^ 6);
    let mut rng_a = fastrand::Rng::with_seed(seed);
    let mut rng_b = fastrand::Rng::with_seed(seed ^ 7);
    try_join!(
        async {
            send(&mut aw, to_b, total, 256 * KIB as usize, &mut rng_a, Style::Mixed).await?;
            aw.shutdown_write().await.doing("client shutdown(Write)")
        },
        async { receive(&mut ar, to_a, total).await.doing("client reading") },
        async {
            send(&mut bw, to_a, total, 256 * KIB as usize, &mut rng_b, Style::Mixed).await?;
            bw.shutdown_write().await.doing("server shutdown(Write)")
        },
        async { receive(&mut br, to_b, total).await.doing("server reading") },
    )?;
    Ok(())
}

/// `shutdown(Write)` on a write half.
trait ShutdownWrite {
    fn shutdown_write(&mut self) -> impl std::future::Future<Output = Result<(), Error>>;
}

impl<W: FlowWrite + Unpin> ShutdownWrite for W {
    fn shutdown_write(&mut self) -> impl std::future::Future<Output = Result<(), Error>> {
        std::future::poll_fn(move |cx| std::pin::Pin::new(&mut *self).poll_shutdown_write(cx))
    }
}

async fn check_read_cancel_safe<F: Factory>(factory: &F, seed: u64) -> Check {
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    let pattern = Pattern::new(seed);
    let total = 4 * MIB;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut rng_read = fastrand::Rng::with_seed(seed ^ 8);
    let reader = async {
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
    };
    try_join!(
        async {
            send(&mut a, pattern, total, 64 * KIB as usize, &mut rng, Style::Mixed).await?;
            a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")
        },
        reader
    )?;
    Ok(())
}

async fn check_peer_abort<F: Factory>(factory: &F, seed: u64) -> Check {
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    let pattern = Pattern::new(seed);
    a.write(pattern.chunk(0, 1000)).await.doing("write")?;
    receive_exact(&mut b, 1000).await?;
    drop(b);
    // Reads end: data in flight may come first, then end of file or an error.
    loop {
        match a.read().await {
            Ok(Chunk::Data(_)) => continue,
            Ok(Chunk::Eof) => break,
            Err(e) if matches!(e.kind(), ErrorKind::Reset | ErrorKind::Truncated) => break,
            Err(e) => {
                return Err(Fail::Failed(format!(
                    "read after the peer aborted: expected end of file or a reset, got {e} (kind {:?})",
                    e.kind()
                )));
            }
        }
    }
    // Writes fail, soon: a socket may take one write to learn of the reset.
    for attempt in 0..10_000u32 {
        match a.write(pattern.chunk(0, 1024)).await {
            Ok(()) => yield_now().await,
            Err(e) if matches!(e.kind(), ErrorKind::Closed | ErrorKind::Reset) => return Ok(()),
            Err(e) => {
                return Err(Fail::Failed(format!(
                    "write {attempt} after the peer aborted: expected Closed or a reset, got {e} (kind {:?})",
                    e.kind()
                )));
            }
        }
    }
    Err(Fail::Failed("10,000 writes to an aborted peer all succeeded".into()))
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

async fn check_errors_round_trip<F: Factory>(factory: &F, _seed: u64) -> Check {
    let (mut a, b) = factory.connect().await.doing("connect")?;
    a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
    let err = match a.write("x").await {
        Err(err) => err,
        Ok(()) => return Err(Fail::Failed("write after shutdown(Write) succeeded".into())),
    };
    ensure!(
        err.is_closed(),
        "write after shutdown(Write): expected Closed, got {err}"
    );
    ensure!(
        err.to_string() == "attempted to write to a closed flow",
        "WriteError::Closed displays as {:?}",
        err.to_string()
    );
    let io_err = io::Error::from(err);
    ensure!(
        io_err.kind() == io::ErrorKind::BrokenPipe,
        "Closed maps to io kind {:?}",
        io_err.kind()
    );
    let back = WriteError::from(io_err);
    ensure!(
        back.is_closed(),
        "Closed did not survive the io::Error round trip: {back:?}"
    );

    // The error a backend gives for an aborted peer, if any, round-trips too.
    drop(b);
    let err = loop {
        match a.read().await {
            Ok(Chunk::Data(_)) => continue,
            Ok(Chunk::Eof) => return Ok(()),
            Err(err) => break err,
        }
    };
    let (kind, text, has_source) = (err.kind(), err.to_string(), std::error::Error::source(&err).is_some());
    ensure!(
        !text.is_empty() && !text.contains("Error {"),
        "error displays as {text:?}"
    );
    let io_err = io::Error::from(err);
    ensure!(
        io_err.kind() == kind.to_io() || kind == ErrorKind::Other,
        "{kind:?} maps to io kind {:?}",
        io_err.kind()
    );
    let back = Error::from(io_err);
    ensure!(back.kind() == kind, "kind {kind:?} came back as {:?}", back.kind());
    ensure!(
        back.to_string() == text,
        "display changed in the round trip: {text:?} became {:?}",
        back.to_string()
    );
    ensure!(
        std::error::Error::source(&back).is_some() == has_source,
        "the source was lost in the io::Error round trip"
    );
    Ok(())
}

async fn check_many_pairs<F: Factory>(factory: &F, seed: u64) -> Check {
    const PAIRS: u64 = 1000;
    let mut pairs = Vec::new();
    for i in 0..PAIRS {
        pairs.push(factory.connect().await.doing(&format!("connect pair {i}"))?);
    }
    let results = join_all(pairs.into_iter().enumerate().map(|(i, (mut a, mut b))| async move {
        let there = Pattern::new(seed.wrapping_add(i as u64));
        let back = Pattern::new(seed.wrapping_sub(i as u64 + 1));
        let len = 512 + (i as u64 * 7) % 1024;
        try_join!(
            async {
                a.write(there.chunk(0, len as usize)).await.doing("write")?;
                a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
                receive(&mut a, back, len).await
            },
            async {
                receive(&mut b, there, len).await?;
                b.write(back.chunk(0, len as usize)).await.doing("write")?;
                b.shutdown(Shutdown::Write).await.doing("shutdown(Write)")
            }
        )
        .map(drop)
        .doing(&format!("pair {i}"))
    }))
    .await;
    results.into_iter().collect::<Result<Vec<()>, Fail>>().map(drop)
}

async fn check_type_erased<F: Factory>(factory: &F, seed: u64) -> Check {
    let (a, b) = factory.connect().await.doing("connect")?;
    // Both ends in one collection, though their types differ.
    let mut ends: Vec<BoxFlow<'static>> = vec![a.boxed(), b.boxed()];
    let (left, right) = ends.split_at_mut(1);
    let (a, b) = (&mut left[0], &mut right[0]);
    let pattern = Pattern::new(seed);
    let mut rng = fastrand::Rng::with_seed(seed);
    try_join!(
        async {
            send(a, pattern, 512 * KIB, 64 * KIB as usize, &mut rng, Style::Mixed).await?;
            a.shutdown(Shutdown::Write)
                .await
                .doing("shutdown(Write) through dyn Flow")
        },
        receive(b, pattern, 512 * KIB)
    )?;
    let b = ends.pop().ok_or_else(|| Fail::Failed("internal: no end".into()))?;
    let a = ends.pop().ok_or_else(|| Fail::Failed("internal: no end".into()))?;
    // A boxed flow splits, and a Box<dyn Flow> is a flow too.
    let (mut ar, _aw) = split(a);
    let mut b: Box<dyn Flow + Send + Unpin> = Box::new(b);
    try_join!(
        async {
            b.write(pattern.chunk(0, 3000))
                .await
                .doing("write through Box<dyn Flow>")?;
            b.shutdown(Shutdown::Write)
                .await
                .doing("shutdown(Write) through Box<dyn Flow>")
        },
        receive(&mut ar, pattern, 3000)
    )?;
    Ok(())
}

async fn check_send_futures<F: Factory>(factory: &F, _seed: u64) -> Check {
    fn assert_send<T: Send>(_: &T) {}
    let (mut a, b) = factory.connect().await.doing("connect")?;
    // Each line fails to compile if the type is not Send: that is the check.
    assert_send(&a);
    assert_send(&b);
    assert_send(&a.read());
    assert_send(&a.write(Bytes::new()));
    assert_send(&a.feed(Bytes::new()));
    assert_send(&a.writev(vec![Bytes::new()]));
    assert_send(&a.flush());
    assert_send(&a.shutdown(Shutdown::Both));
    assert_send(&a.close());
    assert_send(&a.close_within(std::future::ready(())));
    let (mut r, mut w) = split(a);
    assert_send(&r.read());
    assert_send(&w.write(Bytes::new()));
    assert_send(&w.close());
    let mut boxed = b.boxed();
    assert_send(&boxed.read());
    Ok(())
}

async fn check_shutdown_both<F: Factory>(factory: &F, _seed: u64) -> Check {
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    a.shutdown(Shutdown::Both).await.doing("shutdown(Both)")?;
    expect_eof(&mut a, "read after shutdown(Both)").await?;
    expect_closed(a.write("x").await, "write after shutdown(Both)")?;
    expect_eof(&mut b, "peer read after shutdown(Both)").await?;
    // The peer's writes do not hang; whether they fail is the backend's call.
    match b.write(Bytes::from(vec![7u8; 1024])).await {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.kind(), ErrorKind::Closed | ErrorKind::Reset) => Ok(()),
        Err(e) => Err(Fail::Failed(format!("peer write after shutdown(Both): unexpected {e}"))),
    }
}

async fn check_zero_copy<F: Factory>(factory: &F, _seed: u64) -> Check {
    if !factory.capabilities().zero_copy {
        return Err(Fail::NotApplicable(
            "backend copies data, or the fault injector splits its buffers (capability zero_copy)".into(),
        ));
    }
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
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

async fn check_repeated_shutdown<F: Factory>(factory: &F, _seed: u64) -> Check {
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    a.write("before").await.doing("write")?;
    a.shutdown(Shutdown::Write).await.doing("shutdown(Write)")?;
    a.shutdown(Shutdown::Write).await.doing("second shutdown(Write)")?;
    receive_exact(&mut b, 6).await?;
    expect_eof(&mut b, "peer read after two shutdown(Write)").await?;
    expect_eof(&mut b, "peer read after end of file").await?;
    a.shutdown(Shutdown::Read).await.doing("shutdown(Read)")?;
    a.shutdown(Shutdown::Read).await.doing("second shutdown(Read)")?;
    let (ca, cb) = join!(a.close(), b.close());
    ca.doing("close after shutdown")?;
    cb.doing("peer close")
}

async fn check_close_bounded<F: Factory>(factory: &F, _seed: u64) -> Check {
    let (mut a, mut b) = factory.connect().await.doing("connect")?;
    a.write("bye").await.doing("write")?;
    // The peer is alive and never closes: close must wait, and give up at the deadline.
    match a.close_within(sleep(Duration::from_millis(200))).await {
        Err(e) if e.kind() == ErrorKind::TimedOut => {}
        Err(e) => return Err(Fail::Failed(format!("close_within: expected TimedOut, got {e}"))),
        Ok(()) => return Err(Fail::Failed("close completed although the peer never closed".into())),
    }
    // It did flush and signal the end of writes meanwhile.
    receive_exact(&mut b, 3).await.doing("peer reading during the close")?;
    expect_eof(&mut b, "peer read during close").await?;
    // Once the peer closes, closing again completes.
    let closed = Arc::new(AtomicBool::new(false));
    try_join!(
        async {
            let r = a.close().await;
            closed.store(true, Ordering::SeqCst);
            r
        },
        b.close()
    )?;
    ensure!(closed.load(Ordering::SeqCst), "internal: close did not run");
    Ok(())
}
