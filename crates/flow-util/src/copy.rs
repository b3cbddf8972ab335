//! `copy` and `proxy`: moving bytes between flows without copying them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use flow_api::{Bytes, Chunk, Error, ErrorKind, FlowRead, FlowWrite};

/// Chunks moved in one poll before yielding to other tasks, so that a source
/// that always has data does not starve the executor.
const CHUNKS_PER_POLL: u32 = 64;

/// What a [`copy`] (or one direction of a [`proxy`]) moved.
///
/// The counts are kept while the copy runs; a [`CopyError`] carries them too,
/// so that a failed copy still says how far it got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyStats {
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// Successful reads that returned data (end of file is not counted).
    pub reads: u64,
    /// Bytes handed to the destination.
    pub bytes_written: u64,
    /// Buffers handed to the destination (one per read: buffers are passed
    /// through whole).
    pub writes: u64,
    /// Flushes of the destination that completed.
    pub flushes: u64,
    /// From the first poll to completion (or failure).
    pub duration: Duration,
}

/// Which side of a copy failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Reading from the source.
    Read,
    /// Writing to the destination: waiting for room, handing a buffer over,
    /// flushing or shutting its write direction down (and, in a [`proxy`],
    /// closing it).
    Write,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Read => "reading from the source",
            Side::Write => "writing to the destination",
        })
    }
}

/// A [`copy`] failed: which side, the flow's error (as
/// [`source`](std::error::Error::source)) and what was moved before.
#[derive(Debug, thiserror::Error)]
#[error("copy failed {side}")]
pub struct CopyError {
    side: Side,
    #[source]
    source: Error,
    stats: CopyStats,
}

impl CopyError {
    /// Which side failed.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The kind of the underlying flow error.
    pub fn kind(&self) -> ErrorKind {
        self.source.kind()
    }

    /// The underlying flow error. A write refused with
    /// [`WriteError::Closed`](flow_api::WriteError::Closed) appears as an
    /// error of kind [`ErrorKind::Closed`].
    pub fn flow_error(&self) -> &Error {
        &self.source
    }

    /// The underlying flow error, by value.
    pub fn into_flow_error(self) -> Error {
        self.source
    }

    /// What was moved before the failure.
    pub fn stats(&self) -> &CopyStats {
        &self.stats
    }
}

impl From<CopyError> for Error {
    /// The flow error, with the side as context.
    fn from(err: CopyError) -> Self {
        let context = match err.source.context_message() {
            Some(inner) => format!("copy failed {}: {inner}", err.side),
            None => format!("copy failed {}", err.side),
        };
        err.source.context(context)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Moving,
    Flushing,
    ShuttingDown,
    Done,
}

/// The state of one direction: everything but the flows, so that [`CopyFuture`]
/// and [`ProxyFuture`] share it.
#[derive(Debug)]
struct Pump {
    pending: Option<Bytes>,
    unflushed: bool,
    shutdown_on_eof: bool,
    phase: Phase,
    started: Option<Instant>,
    stats: CopyStats,
}

impl Pump {
    fn new(shutdown_on_eof: bool) -> Self {
        Pump {
            pending: None,
            unflushed: false,
            shutdown_on_eof,
            phase: Phase::Moving,
            started: None,
            stats: CopyStats::default(),
        }
    }

    fn elapsed(&self) -> Duration {
        self.started.map(|s| s.elapsed()).unwrap_or_default()
    }

    fn fail(&mut self, side: Side, source: impl Into<Error>) -> CopyError {
        self.phase = Phase::Done;
        self.pending = None;
        let mut stats = self.stats;
        stats.duration = self.elapsed();
        CopyError {
            side,
            source: source.into(),
            stats,
        }
    }

    fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    fn poll_pump<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut src: Pin<&mut R>,
        mut dst: Pin<&mut W>,
    ) -> Poll<Result<CopyStats, CopyError>>
    where
        R: FlowRead + ?Sized,
        W: FlowWrite + ?Sized,
    {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        let mut moved = 0;
        loop {
            match self.phase {
                Phase::Moving => {
                    if let Some(buf) = self.pending.take() {
                        match dst.as_mut().poll_write_ready(cx) {
                            Poll::Ready(Ok(())) => {}
                            Poll::Ready(Err(err)) => return Poll::Ready(Err(self.fail(Side::Write, err))),
                            Poll::Pending => {
                                // The destination flushes while it waits for room.
                                self.pending = Some(buf);
                                return Poll::Pending;
                            }
                        }
                        let len = buf.len() as u64;
                        if let Err(err) = dst.as_mut().start_write(buf) {
                            return Poll::Ready(Err(self.fail(Side::Write, err)));
                        }
                        self.stats.writes += 1;
                        self.stats.bytes_written += len;
                        self.unflushed = true;
                        moved += 1;
                        if moved >= CHUNKS_PER_POLL {
                            // Let other tasks (and the other direction) run;
                            // push what we have on the way out.
                            if let Poll::Ready(Err(err)) = self.poll_flush_dst(cx, dst.as_mut()) {
                                return Poll::Ready(Err(self.fail(Side::Write, err)));
                            }
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                    }
                    match src.as_mut().poll_read(cx) {
                        Poll::Ready(Ok(Chunk::Data(buf))) => {
                            self.stats.reads += 1;
                            self.stats.bytes_read += buf.len() as u64;
                            self.pending = Some(buf);
                        }
                        Poll::Ready(Ok(Chunk::Eof)) => self.phase = Phase::Flushing,
                        Poll::Ready(Err(err)) => return Poll::Ready(Err(self.fail(Side::Read, err))),
                        Poll::Pending => {
                            // Nothing more to read for now: send what was handed over.
                            if let Poll::Ready(Err(err)) = self.poll_flush_dst(cx, dst.as_mut()) {
                                return Poll::Ready(Err(self.fail(Side::Write, err)));
                            }
                            return Poll::Pending;
                        }
                    }
                }
                Phase::Flushing => {
                    self.unflushed = true;
                    match self.poll_flush_dst(cx, dst.as_mut()) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(err)) => return Poll::Ready(Err(self.fail(Side::Write, err))),
                        Poll::Pending => return Poll::Pending,
                    }
                    self.phase = if self.shutdown_on_eof {
                        Phase::ShuttingDown
                    } else {
                        Phase::Done
                    };
                }
                Phase::ShuttingDown => match dst.as_mut().poll_shutdown_write(cx) {
                    Poll::Ready(Ok(())) => self.phase = Phase::Done,
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(self.fail(Side::Write, err))),
                    Poll::Pending => return Poll::Pending,
                },
                Phase::Done => {
                    let mut stats = self.stats;
                    stats.duration = self.elapsed();
                    self.stats.duration = stats.duration;
                    return Poll::Ready(Ok(stats));
                }
            }
        }
    }

    fn poll_flush_dst<W: FlowWrite + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        dst: Pin<&mut W>,
    ) -> Poll<Result<(), flow_api::WriteError>> {
        if !self.unflushed {
            return Poll::Ready(Ok(()));
        }
        match dst.poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                self.unflushed = false;
                self.stats.flushes += 1;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

/// Copies everything `src` sends to `dst`, until `src`'s end of file, then
/// flushes `dst`.
///
/// Each buffer read is handed to `dst` as it is: no copy, no re-chunking
/// (with in-memory flows `dst`'s reader gets the very allocation `src`'s
/// writer sent). Buffers read back to back go out with one flush. `dst`'s
/// write direction stays open unless [`CopyFuture::shutdown_on_eof`] asks
/// otherwise; neither flow is closed.
///
/// Not cancel-safe: dropping the future may lose a buffer read from `src`
/// and not yet handed to `dst`.
///
/// # Errors
///
/// A [`CopyError`] whose [`side`](CopyError::side) says whether reading
/// `src` or writing `dst` failed, with the flow's error as its source.
///
/// ```
/// use flow_api::prelude::*;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// futures_executor::block_on(async {
///     let (mut src, mut src_peer) = flow_mem::pair();
///     let (mut dst, mut dst_peer) = flow_mem::pair();
///     src_peer.write("hello").await?;
///     src_peer.shutdown(Shutdown::Write).await?;
///     let stats = flow_util::copy(&mut src, &mut dst).shutdown_on_eof(true).await?;
///     assert_eq!((stats.bytes_read, stats.bytes_written), (5, 5));
///     assert_eq!(dst_peer.read().await?, Chunk::Data(Bytes::from("hello")));
///     assert_eq!(dst_peer.read().await?, Chunk::Eof);
///     Ok(())
/// })
/// # }
/// ```
pub fn copy<'a, R, W>(src: &'a mut R, dst: &'a mut W) -> CopyFuture<'a, R, W>
where
    R: FlowRead + Unpin + ?Sized,
    W: FlowWrite + Unpin + ?Sized,
{
    CopyFuture {
        src,
        dst,
        pump: Pump::new(false),
    }
}

/// Future of [`copy`].
#[must_use = "futures do nothing unless polled"]
pub struct CopyFuture<'a, R: ?Sized, W: ?Sized> {
    src: &'a mut R,
    dst: &'a mut W,
    pump: Pump,
}

impl<R: ?Sized, W: ?Sized> CopyFuture<'_, R, W> {
    /// Whether to shut down `dst`'s write direction once `src` reached end
    /// of file (after flushing), so that `dst`'s peer reads end of file too.
    /// Off by default. Call it before the first poll.
    pub fn shutdown_on_eof(mut self, yes: bool) -> Self {
        self.pump.shutdown_on_eof = yes;
        self
    }

    /// What was moved so far.
    pub fn stats(&self) -> CopyStats {
        let mut stats = self.pump.stats;
        stats.duration = self.pump.elapsed();
        stats
    }
}

impl<R, W> Future for CopyFuture<'_, R, W>
where
    R: FlowRead + Unpin + ?Sized,
    W: FlowWrite + Unpin + ?Sized,
{
    type Output = Result<CopyStats, CopyError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.pump
            .poll_pump(cx, Pin::new(&mut *this.src), Pin::new(&mut *this.dst))
    }
}

impl<R: ?Sized, W: ?Sized> fmt::Debug for CopyFuture<'_, R, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyFuture")
            .field("pump", &self.pump)
            .finish_non_exhaustive()
    }
}

/// Which way a [`proxy`] direction goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the first flow given to [`proxy`] to the second.
    AToB,
    /// From the second flow to the first.
    BToA,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::AToB => "a to b",
            Direction::BToA => "b to a",
        })
    }
}

/// What a [`proxy`] moved, each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStats {
    /// From the first flow to the second.
    pub a_to_b: CopyStats,
    /// From the second flow to the first.
    pub b_to_a: CopyStats,
}

/// A [`proxy`] failed: in which direction, and the [`CopyError`] (as
/// [`source`](std::error::Error::source)) that says which side.
#[derive(Debug, thiserror::Error)]
#[error("proxy failed copying {direction}")]
pub struct ProxyError {
    direction: Direction,
    #[source]
    source: CopyError,
    other: CopyStats,
}

impl ProxyError {
    /// The direction that failed.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The failed direction's error: which side, the flow error, its stats.
    pub fn copy_error(&self) -> &CopyError {
        &self.source
    }

    /// The kind of the underlying flow error.
    pub fn kind(&self) -> ErrorKind {
        self.source.kind()
    }

    /// What the other direction had moved when this one failed.
    pub fn other_stats(&self) -> &CopyStats {
        &self.other
    }
}

impl From<ProxyError> for Error {
    /// The flow error, with the direction and side as context.
    fn from(err: ProxyError) -> Self {
        let direction = err.direction;
        let inner = Error::from(err.source);
        let context = format!("proxy {direction}: {}", inner.context_message().unwrap_or_default());
        inner.context(context)
    }
}

/// Copies between `a` and `b` both ways at once until both directions have
/// reached end of file, then closes both flows.
///
/// Half-close goes through: when `a` reaches end of file, the proxy flushes
/// `b` and shuts down `b`'s write direction (and the other way round), while
/// the other direction keeps going. Buffers pass through without copying, as
/// in [`copy`]. Both directions are driven by this one future, which needs no
/// runtime and no [`split`](flow_api::split); pass `&mut` flows to keep them.
///
/// Not cancel-safe: dropping the future may lose a buffer in each direction.
///
/// # Errors
///
/// A [`ProxyError`] naming the [`Direction`] that failed and, through its
/// [`CopyError`], the side (reading or writing). The first failure ends the
/// proxy; the flows are then dropped (or left to the caller, for `&mut`)
/// without a close. A failure closing `a` is reported as a write-side
/// failure of [`Direction::BToA`], and closing `b` of [`Direction::AToB`].
pub fn proxy<A, B>(a: A, b: B) -> ProxyFuture<A, B>
where
    A: FlowRead + FlowWrite + Unpin,
    B: FlowRead + FlowWrite + Unpin,
{
    ProxyFuture {
        a,
        b,
        a_to_b: Pump::new(true),
        b_to_a: Pump::new(true),
        a_closed: false,
        b_closed: false,
    }
}

/// Future of [`proxy`].
#[must_use = "futures do nothing unless polled"]
pub struct ProxyFuture<A, B> {
    a: A,
    b: B,
    a_to_b: Pump,
    b_to_a: Pump,
    a_closed: bool,
    b_closed: bool,
}

impl<A, B> ProxyFuture<A, B> {
    /// What was moved so far, each way.
    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            a_to_b: self.a_to_b.stats,
            b_to_a: self.b_to_a.stats,
        }
    }
}

impl<A, B> Future for ProxyFuture<A, B>
where
    A: FlowRead + FlowWrite + Unpin,
    B: FlowRead + FlowWrite + Unpin,
{
    type Output = Result<ProxyStats, ProxyError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if !this.a_to_b.is_done() {
            if let Poll::Ready(Err(err)) = this.a_to_b.poll_pump(cx, Pin::new(&mut this.a), Pin::new(&mut this.b)) {
                return Poll::Ready(Err(ProxyError {
                    direction: Direction::AToB,
                    source: err,
                    other: this.b_to_a.stats,
                }));
            }
        }
        if !this.b_to_a.is_done() {
            if let Poll::Ready(Err(err)) = this.b_to_a.poll_pump(cx, Pin::new(&mut this.b), Pin::new(&mut this.a)) {
                return Poll::Ready(Err(ProxyError {
                    direction: Direction::BToA,
                    source: err,
                    other: this.a_to_b.stats,
                }));
            }
        }
        if !(this.a_to_b.is_done() && this.b_to_a.is_done()) {
            return Poll::Pending;
        }
        // Both ends have finished writing and both were told so: closing
        // completes at once on a conforming flow.
        if !this.b_closed {
            match Pin::new(&mut this.b).poll_close(cx) {
                Poll::Ready(Ok(())) => this.b_closed = true,
                Poll::Ready(Err(err)) => {
                    let err = this.a_to_b.fail(Side::Write, err.context("closing b"));
                    return Poll::Ready(Err(ProxyError {
                        direction: Direction::AToB,
                        source: err,
                        other: this.b_to_a.stats,
                    }));
                }
                Poll::Pending => {}
            }
        }
        if !this.a_closed {
            match Pin::new(&mut this.a).poll_close(cx) {
                Poll::Ready(Ok(())) => this.a_closed = true,
                Poll::Ready(Err(err)) => {
                    let err = this.b_to_a.fail(Side::Write, err.context("closing a"));
                    return Poll::Ready(Err(ProxyError {
                        direction: Direction::BToA,
                        source: err,
                        other: this.a_to_b.stats,
                    }));
                }
                Poll::Pending => {}
            }
        }
        if this.a_closed && this.b_closed {
            Poll::Ready(Ok(this.stats()))
        } else {
            Poll::Pending
        }
    }
}

impl<A, B> fmt::Debug for ProxyFuture<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyFuture")
            .field("a_to_b", &self.a_to_b)
            .field("b_to_a", &self.b_to_a)
            .field("a_closed", &self.a_closed)
            .field("b_closed", &self.b_closed)
            .finish_non_exhaustive()
    }
}
