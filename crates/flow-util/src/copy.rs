//! `copy` and `proxy`: moving bytes between flows without copying them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use flow_api::{Bytes, Chunk, Error, ErrorKind, FlowRead, FlowWrite, Sleep, Timer};

#[cfg(not(all(feature = "splice", target_os = "linux")))]
#[path = "copy/no_splice.rs"]
mod kernel;
#[cfg(all(feature = "splice", target_os = "linux"))]
#[path = "copy/splice.rs"]
mod kernel;

use kernel::Kernel;

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
    /// Of [`bytes_written`](CopyStats::bytes_written), those that moved
    /// inside the kernel, socket to pipe to socket, without entering user
    /// space (with [`splice`](CopyFuture::splice)). There, each
    /// `splice(2)` into the pipe counts as one of the
    /// [`reads`](CopyStats::reads) and each out of it as one of the
    /// [`writes`](CopyStats::writes); the bytes are on the wire when a
    /// call returns, so they need no flush.
    pub spliced: u64,
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

    fn start(&mut self) {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
    }

    /// Bytes moved either way so far: what a half-close timeout watches.
    fn progress(&self) -> u64 {
        self.stats.bytes_read + self.stats.bytes_written
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
        self.start();
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

/// One direction's poll: the kernel relay first, while it has one and it
/// lasts, then the pump.
fn poll_direction<R, W>(
    pump: &mut Pump,
    kernel: &mut Option<Kernel<R, W>>,
    src: &mut R,
    dst: &mut W,
    cx: &mut Context<'_>,
) -> Poll<Result<CopyStats, CopyError>>
where
    R: FlowRead + Unpin + ?Sized,
    W: FlowWrite + Unpin + ?Sized,
{
    if let Some(kernel) = kernel {
        std::task::ready!(kernel.poll(pump, src, dst, cx))?;
    }
    pump.poll_pump(cx, Pin::new(src), Pin::new(dst))
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
/// and not yet handed to `dst` (with [`splice`](CopyFuture::splice), what
/// its pipe holds).
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
        kernel: None,
    }
}

/// Future of [`copy`].
#[must_use = "futures do nothing unless polled"]
pub struct CopyFuture<'a, R: ?Sized, W: ?Sized> {
    src: &'a mut R,
    dst: &'a mut W,
    pump: Pump,
    kernel: Option<Kernel<R, W>>,
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

#[cfg(all(feature = "splice", unix))]
impl<R, W> CopyFuture<'_, R, W>
where
    R: flow_socket::RawSocketFlow + ?Sized,
    W: flow_socket::RawSocketFlow + ?Sized,
{
    /// Moves the bytes inside the kernel: `splice(2)` from `src`'s socket
    /// into a pipe and from the pipe into `dst`'s, so that they never enter
    /// user space (with the `splice` feature; on Unix systems other than
    /// Linux the copy goes through user space). What the copy
    /// promises stays: the statistics (the spliced bytes also in
    /// [`CopyStats::spliced`]), errors that name the side, and the end of
    /// file passed on with [`shutdown_on_eof`](CopyFuture::shutdown_on_eof).
    ///
    /// Whether the kernel can do it is decided at the first poll, after
    /// flushing `dst`: when the runtime cannot wait for readiness on raw
    /// descriptors (compio), when `src`'s read side is not open or `dst`'s
    /// write side is not, or when the sockets cannot splice, the copy goes
    /// through user space as without this call.
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    pub fn splice(mut self) -> Self {
        #[cfg(target_os = "linux")]
        {
            self.kernel = Some(Kernel::new());
        }
        self
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
        poll_direction(&mut this.pump, &mut this.kernel, this.src, this.dst, cx)
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
/// Not cancel-safe: dropping the future may lose a buffer in each direction
/// (with [`splice`](ProxyFuture::splice), what each direction's pipe holds).
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
        kernel_a_to_b: None,
        kernel_b_to_a: None,
        half_close: None,
        a_closed: false,
        b_closed: false,
    }
}

/// The bound on a half-closed proxy: see [`ProxyFuture::half_close_timeout`].
struct HalfClose {
    timer: Arc<dyn Timer>,
    idle: Duration,
    sleep: Option<Sleep>,
    /// The open direction's progress when `sleep` was started.
    seen: u64,
}

impl fmt::Debug for HalfClose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HalfClose")
            .field("idle", &self.idle)
            .field("armed", &self.sleep.is_some())
            .finish_non_exhaustive()
    }
}

impl HalfClose {
    /// Ready once `open` (the direction still running after the other
    /// ended) moved nothing for the whole timeout. Each poll that sees
    /// progress starts the timeout again.
    fn poll_idle(&mut self, cx: &mut Context<'_>, open: &Pump) -> Poll<()> {
        let progress = open.progress();
        if self.sleep.is_none() || self.seen != progress {
            self.seen = progress;
            self.sleep = Some(self.timer.sleep(self.idle));
        }
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

/// Future of [`proxy`].
#[must_use = "futures do nothing unless polled"]
pub struct ProxyFuture<A, B> {
    a: A,
    b: B,
    a_to_b: Pump,
    b_to_a: Pump,
    kernel_a_to_b: Option<Kernel<A, B>>,
    kernel_b_to_a: Option<Kernel<B, A>>,
    half_close: Option<HalfClose>,
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

    /// Bounds a half-closed proxy: once one direction has ended (its
    /// source's end of file passed on), the other must move a byte at
    /// least every `idle`, or the proxy fails with
    /// [`ErrorKind::TimedOut`] on that direction's read side, and the flows
    /// are dropped (or left to the caller, for `&mut`) without a close.
    ///
    /// Without it, a peer that half-closes while the other stays idle
    /// keeps the proxy (and both connections) open for as long as that
    /// other peer lives: the relay hang of tokio#3876, which HAProxy bounds
    /// with `timeout client-fin` and `timeout server-fin`. The timeout
    /// starts again with every byte moved, so a slow but live transfer
    /// after a half-close (a response after a request and its end of file)
    /// is not cut. While both directions are open, nothing is bounded:
    /// an idle connection stays.
    ///
    /// `timer` is the runtime's (for example `flow_tokio::TokioTimer::shared()`).
    /// Call it before the first poll.
    pub fn half_close_timeout(mut self, timer: Arc<dyn Timer>, idle: Duration) -> Self {
        self.half_close = Some(HalfClose {
            timer,
            idle,
            sleep: None,
            seen: 0,
        });
        self
    }
}

#[cfg(all(feature = "splice", unix))]
impl<A, B> ProxyFuture<A, B>
where
    A: flow_socket::RawSocketFlow,
    B: flow_socket::RawSocketFlow,
{
    /// Moves the bytes of both directions inside the kernel: `splice(2)`
    /// from one socket into a pipe and from the pipe into the other, so
    /// that they never enter user space (with the `splice` feature; on Unix
    /// systems other than Linux the proxy goes through user space).
    /// What the proxy promises stays: half-close passed on each way, the
    /// statistics (the spliced bytes also in [`CopyStats::spliced`]),
    /// errors that name the direction and the side, and closing both flows
    /// at the end.
    ///
    /// Each direction decides at its first poll, after flushing its
    /// destination: when the runtime cannot wait for readiness on raw
    /// descriptors (compio), when its source's read side or its
    /// destination's write side is not open, or when the sockets cannot
    /// splice, that direction goes through user space as without this
    /// call.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = flow_tokio::TcpListener::bind("127.0.0.1:8080").await?;
    /// let (client, _) = listener.accept().await?;
    /// let server = flow_tokio::TcpFlow::connect("127.0.0.1:9090").await?;
    /// let stats = flow_util::proxy(client, server)
    ///     .splice()
    ///     .half_close_timeout(flow_tokio::TokioTimer::shared(), std::time::Duration::from_secs(30))
    ///     .await?;
    /// println!("{} bytes spliced to the server", stats.a_to_b.spliced);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    pub fn splice(mut self) -> Self {
        #[cfg(target_os = "linux")]
        {
            self.kernel_a_to_b = Some(Kernel::new());
            self.kernel_b_to_a = Some(Kernel::new());
        }
        self
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
            let polled = poll_direction(&mut this.a_to_b, &mut this.kernel_a_to_b, &mut this.a, &mut this.b, cx);
            if let Poll::Ready(Err(err)) = polled {
                return Poll::Ready(Err(ProxyError {
                    direction: Direction::AToB,
                    source: err,
                    other: this.b_to_a.stats,
                }));
            }
        }
        if !this.b_to_a.is_done() {
            let polled = poll_direction(&mut this.b_to_a, &mut this.kernel_b_to_a, &mut this.b, &mut this.a, cx);
            if let Poll::Ready(Err(err)) = polled {
                return Poll::Ready(Err(ProxyError {
                    direction: Direction::BToA,
                    source: err,
                    other: this.a_to_b.stats,
                }));
            }
        }
        match (this.a_to_b.is_done(), this.b_to_a.is_done()) {
            (true, true) => {}
            (false, false) => return Poll::Pending,
            (a_to_b_done, _) => {
                if let Some(bound) = &mut this.half_close {
                    let (direction, open, other, ended) = if a_to_b_done {
                        (Direction::BToA, &mut this.b_to_a, this.a_to_b.stats, Direction::AToB)
                    } else {
                        (Direction::AToB, &mut this.a_to_b, this.b_to_a.stats, Direction::BToA)
                    };
                    if bound.poll_idle(cx, open).is_ready() {
                        let err = Error::new(ErrorKind::TimedOut).context(format!(
                            "nothing moved for {:?} after {ended} ended (the proxy's half-close timeout)",
                            bound.idle
                        ));
                        return Poll::Ready(Err(ProxyError {
                            direction,
                            source: open.fail(Side::Read, err),
                            other,
                        }));
                    }
                }
                return Poll::Pending;
            }
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
            .field("kernel_a_to_b", &self.kernel_a_to_b)
            .field("kernel_b_to_a", &self.kernel_b_to_a)
            .field("half_close", &self.half_close)
            .field("a_closed", &self.a_closed)
            .field("b_closed", &self.b_closed)
            .finish_non_exhaustive()
    }
}
