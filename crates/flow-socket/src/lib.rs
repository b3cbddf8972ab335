//! The socket engine of flow: the contract over a byte stream socket,
//! written once for every runtime backend, readiness-based (tokio, smol,
//! async-std) and completion-based (compio) alike.
//!
//! [`StreamFlow`] keeps the whole flow contract (the read state machine,
//! discarding after `shutdown(Read)`, the write queue and its backpressure,
//! a real end of file on `shutdown(Write)`, resets reported as resets, and
//! a graceful close with a linger deadline) over a [`Transport`]: the few
//! I/O primitives that differ between kinds of runtime (receive, send what
//! is queued, shut down a direction, sleep until the close deadline).
//!
//! A readiness-based backend implements [`ByteStream`] for its socket type
//! (the three syscalls: read into a buffer, write vectored, shut down a
//! direction) and gets a [`Transport`] with it; a completion-based backend,
//! whose operations own their buffers while the kernel runs them,
//! implements [`Transport`] itself, keeping its operations in flight.
//!
//! On top of that, [`TcpFlow`], [`TcpListener`], [`UnixFlow`] and
//! [`UnixListener`] are written once over a [`Runtime`]: a backend crate
//! (flow-tokio, flow-smol, flow-async-std, flow-compio) implements
//! [`Runtime`] for its runtime and names these types with aliases.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::Shutdown as NetShutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::Bytes;

pub use bytes::BytesMut;

use flow_api::{
    Chunk, Error, ErrorKind, FlowRead, FlowWrite, IntoInnerError, Timer, WriteError, WriteQueue, WriteState,
};

mod transport;

mod net;
#[cfg(unix)]
mod relay;
mod split;
mod sync;
mod wakers;

use wakers::{DrainWakers, Side};

#[cfg(unix)]
pub use crate::net::{Accepted as UnixAccepted, UnixFlow, UnixListener};
pub use crate::net::{AsSocket, Runtime, TcpFlow, TcpListener, ToAddrs};
#[cfg(unix)]
pub use crate::relay::{RawOp, RawSocketFlow, Readiness, ReadyIo};
pub use crate::split::{OwnedReadHalf, OwnedWriteHalf};
pub use crate::transport::{Transport, prepare_read_buffer};

/// The read half of a split [`TcpFlow`] on runtime `R`.
pub type TcpReadHalf<R> = OwnedReadHalf<<R as Runtime>::Tcp>;
/// The write half of a split [`TcpFlow`] on runtime `R`.
pub type TcpWriteHalf<R> = OwnedWriteHalf<<R as Runtime>::Tcp>;
/// The read half of a split [`UnixFlow`] on runtime `R`.
#[cfg(unix)]
pub type UnixReadHalf<R> = OwnedReadHalf<<R as Runtime>::Unix>;
/// The write half of a split [`UnixFlow`] on runtime `R`.
#[cfg(unix)]
pub type UnixWriteHalf<R> = OwnedWriteHalf<<R as Runtime>::Unix>;

/// The syscalls a readiness-based socket offers, at poll level. Implement
/// it for a runtime's stream type and wrap that in a [`StreamFlow`]: every
/// `ByteStream` is a [`Transport`], reading into the flow's reused buffer
/// and sending the write queue with vectored writes.
pub trait ByteStream: Unpin {
    /// Attempts to read into the spare capacity of `buf`, appending to it.
    /// Returns how many bytes were read; `0` means end of file.
    ///
    /// # Errors
    ///
    /// The socket's error.
    fn poll_read_buf(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>>;

    /// Attempts to write from `bufs` in one vectored call; returns how many
    /// bytes were written.
    ///
    /// # Errors
    ///
    /// The socket's error.
    fn poll_write_vectored(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>>;

    /// Attempts to write from one buffer; returns how many bytes were
    /// written. [`StreamFlow`] calls it when a single buffer is queued (a
    /// ping-pong, a request): a plain `send` costs less in the kernel than
    /// a one-element `writev`, so a stream should forward it to its own
    /// single-buffer write. The default goes through
    /// [`poll_write_vectored`](ByteStream::poll_write_vectored).
    ///
    /// # Errors
    ///
    /// The socket's error.
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    /// Attempts to shut down one direction at the socket level: for
    /// [`NetShutdown::Write`], the peer must read end of file (a TCP FIN).
    ///
    /// # Errors
    ///
    /// The socket's error.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>, how: NetShutdown) -> Poll<io::Result<()>>;

    /// What a broken pipe on write means for this kind of socket. TCP's
    /// default, [`ErrorKind::Reset`]: the peer aborted. A Unix socket says
    /// [`ErrorKind::Closed`]: the peer stopped reading (shut down or closed).
    fn broken_pipe_kind(&self) -> ErrorKind {
        ErrorKind::Reset
    }

    /// The runtime's timer, for the close deadline of a flow that was not
    /// given one ([`StreamFlow::with_timer`]); `None` (the default) means
    /// a timer thread of its own. It is asked for when a close with a
    /// deadline starts, so an idle flow holds no timer and allocates
    /// nothing for one.
    fn runtime_timer() -> Option<Arc<dyn Timer>>
    where
        Self: Sized,
    {
        None
    }

    /// Whether shutting the socket's read direction down makes the kernel
    /// refuse what the peer sends next. A Unix socket does (the peer's
    /// writes fail), and [`StreamFlow`] shuts its read direction down on
    /// `shutdown(Read)`. TCP on Linux does not: it keeps queueing the
    /// peer's data, which then stalls once the buffers are full, and reads
    /// report end of file whenever the queue is empty, so the peer's real
    /// end cannot be told. For such a socket, [`StreamFlow`] leaves the
    /// read direction open and discards what arrives itself.
    ///
    /// The default follows [`broken_pipe_kind`](ByteStream::broken_pipe_kind):
    /// a socket whose broken pipe means that the peer stopped reading
    /// ([`ErrorKind::Closed`]) refuses data once its own reading stopped.
    fn refuses_after_shutdown_read(&self) -> bool {
        self.broken_pipe_kind() == ErrorKind::Closed
    }
}

/// How long [`StreamFlow`] close waits for the peer to finish by default.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Below this much spare room, the read buffer is topped up.
const MIN_READ_ROOM: usize = 4 * 1024;
/// How much room a read buffer gets when topped up.
const READ_BUFFER: usize = 64 * 1024;
/// Bytes queued (or in flight) before `poll_write_ready` flushes and waits.
const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Buffers per vectored write: `IOV_MAX` on Linux and macOS, so that a burst
/// of small messages goes out in as few system calls as the kernel allows.
pub const MAX_IOVECS: usize = 1024;
/// What one poll of the flow discards at most, so that a peer that sends
/// faster than the flow reads cannot keep the caller in that poll.
const DISCARD_PER_POLL: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Open,
    /// The peer finished; reads return end of file.
    Eof,
    /// Shut down locally; reads return end of file, and what the peer
    /// still sends is read and discarded until its end of file.
    Discarding,
    /// Shut down locally, nothing left to discard; reads return end of file.
    Shut,
    /// Shut down locally, and the socket failed while discarding: reads
    /// return end of file, close reports this kind.
    ShutFailed(ErrorKind),
    /// The socket failed; reads return this kind.
    Failed(ErrorKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseState {
    Open,
    ShuttingDown,
    Draining,
    Done,
}

/// A [`Flow`](flow_api::Flow) over any [`Transport`] (every [`ByteStream`]
/// is one): the contract kept once for all socket backends, readiness- and
/// completion-based.
///
/// - Reads go into a reused buffer and come out as frozen slices of it: no
///   allocation per read once readers drop what they read.
/// - Writes queue the buffers handed over (no copy) and send them with
///   vectored writes, up to 1,024 buffers per syscall; a writer waits once
///   256 KiB are queued or in flight.
/// - `shutdown(Write)` flushes, then shuts the socket's write direction: the
///   peer reads end of file while this side keeps reading.
/// - A peer reset is [`ErrorKind::Reset`] on reads and writes (a broken pipe
///   the flow did not cause itself is a reset too).
/// - `shutdown(Read)`: reads return end of file at once, and what the
///   peer sends from then on (and what was in flight) is read from the
///   socket and dropped, until the peer's end of file or a socket error,
///   so that the peer's writes never stall on a full receive buffer. The
///   flow discards while it is polled for anything (read, write readiness,
///   flush, shutdown, close), at most 256 KiB per poll, and the polling
///   task is woken when more arrives: a flow that nobody polls discards
///   nothing. A socket that refuses the peer's data itself once its read
///   direction is shut (a Unix socket, see
///   [`ByteStream::refuses_after_shutdown_read`]) is shut instead.
/// - Close flushes, shuts down writing, discards what the peer still sends
///   until its end of file, and completes then, also after
///   `shutdown(Read)`. It discards while it flushes too, so that two peers
///   that both send a lot and then close do not wait for each other. A
///   deadline (default [`DEFAULT_CLOSE_TIMEOUT`], see
///   [`set_close_timeout`](StreamFlow::set_close_timeout)) bounds it. The
///   socket itself is released when the flow is dropped.
///
/// # Cancel safety
///
/// A read dropped before it completes consumed nothing (a transport that
/// submitted a receive keeps it, and the next read returns its bytes); a
/// buffer handed to `start_write` is sent whole or not at all; a dropped
/// flush, shutdown or close resumes where it stopped when called again.
pub struct StreamFlow<T: Transport> {
    transport: T,
    /// The read buffer and what only some flows need; see [`Lazy`].
    lazy: Option<Box<Lazy<T::Sleep>>>,
    queue: WriteQueue,
    read: ReadState,
    close: CloseState,
}

/// The parts of a [`StreamFlow`] that an idle connection (connected, not
/// read from yet) does not use, in one allocation made the first time any
/// of them is: on the first read or discard, at close, or when a close
/// deadline or timer is set by hand. Idle flows are what a server holds by
/// the thousand, and each keeps 8 bytes for all of this, not 104.
struct Lazy<S> {
    read_buf: BytesMut,
    /// Made on the first discarding read; see [`DrainWakers`].
    drain_wakers: Option<(Arc<DrainWakers>, Waker)>,
    close_timeout: Option<Duration>,
    /// Given with [`StreamFlow::with_timer`].
    timer: Option<Arc<dyn Timer>>,
    deadline: Option<S>,
}

impl<S> Default for Lazy<S> {
    fn default() -> Self {
        Lazy {
            read_buf: BytesMut::new(),
            drain_wakers: None,
            close_timeout: Some(DEFAULT_CLOSE_TIMEOUT),
            timer: None,
            deadline: None,
        }
    }
}

/// The flow's [`Lazy`] parts, made if they are not yet. A function of the
/// field rather than a method, so that the transport stays borrowable.
#[inline]
fn lazy<S>(slot: &mut Option<Box<Lazy<S>>>) -> &mut Lazy<S> {
    slot.get_or_insert_with(Box::default)
}

impl<T: Transport> StreamFlow<T> {
    /// Wraps `stream`. Close has its [default deadline](DEFAULT_CLOSE_TIMEOUT)
    /// from the start: on the runtime's [timer](StreamFlow::with_timer)
    /// once given one, on the transport's own clock if it has one, and
    /// otherwise on a timer thread (a [`ByteStream`]'s default).
    pub fn new(stream: T) -> Self {
        StreamFlow {
            transport: stream,
            lazy: None,
            queue: WriteQueue::new(WRITE_HIGH_WATER).named("the connection"),
            read: ReadState::Open,
            close: CloseState::Open,
        }
    }

    /// Gives the flow a timer for its close deadline, in place of its
    /// transport's runtime timer ([`Transport::runtime_timer`], asked for
    /// when close starts; the runtimes' sockets of this workspace have
    /// one).
    ///
    /// The flow keeps the timer in an allocation of its own, made here: a
    /// flow that is made by the thousand and mostly idle costs less with
    /// its runtime's timer.
    #[must_use]
    pub fn with_timer(mut self, timer: Arc<dyn Timer>) -> Self {
        lazy(&mut self.lazy).timer = Some(timer);
        self
    }

    /// How long close waits for the peer to finish before giving up with
    /// [`ErrorKind::TimedOut`] (and shutting both directions down); `None`
    /// waits as long as the peer takes. The default is
    /// [`DEFAULT_CLOSE_TIMEOUT`].
    pub fn set_close_timeout(&mut self, timeout: Option<Duration>) {
        if self.lazy.is_some() || timeout != Some(DEFAULT_CLOSE_TIMEOUT) {
            lazy(&mut self.lazy).close_timeout = timeout;
        }
    }

    /// The close deadline; see [`set_close_timeout`](StreamFlow::set_close_timeout).
    pub fn close_timeout(&self) -> Option<Duration> {
        match &self.lazy {
            Some(lazy) => lazy.close_timeout,
            None => Some(DEFAULT_CLOSE_TIMEOUT),
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.transport
    }

    /// The wrapped stream, mutably. Reading or writing it directly bypasses
    /// the flow's buffers.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Bytes handed over and not yet sent (queued, or in a send in flight).
    pub fn queued(&self) -> usize {
        self.queue.len() + self.transport.in_flight()
    }

    /// The wrapped stream, once nothing waits to be sent and no operation
    /// is in flight. The flow holds no data read ahead, so nothing received
    /// is lost either.
    ///
    /// # Errors
    ///
    /// Bytes are still queued, or an operation is in flight (a read that
    /// was started and dropped left its receive with a completion-based
    /// transport): the error gives the flow back unchanged, and says how
    /// many bytes are unsent. Flush (or read) first.
    pub fn into_inner(self) -> Result<T, IntoInnerError<Self>> {
        match self.queued() {
            0 if !self.transport.is_busy() => Ok(self.transport),
            unsent => Err(IntoInnerError::new(self, unsent, 0)),
        }
    }

    fn poll_read_some(&mut self, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        if self.close != CloseState::Open {
            // Once close started, even if its future was dropped, what
            // arrives is the close's to discard: a read here would hand out
            // bytes from the middle of what it drops.
            return Poll::Ready(Ok(Chunk::Eof));
        }
        loop {
            match self.read {
                ReadState::Eof | ReadState::Discarding | ReadState::Shut | ReadState::ShutFailed(_) => {
                    return Poll::Ready(Ok(Chunk::Eof));
                }
                ReadState::Failed(kind) => {
                    return Poll::Ready(Err(Error::new(kind).context("the connection failed earlier")));
                }
                ReadState::Open => {}
            }
            let buf = &mut lazy(&mut self.lazy).read_buf;
            match ready!(self.transport.poll_recv(cx, buf)) {
                Ok(data) if data.is_empty() => self.read = ReadState::Eof,
                Ok(data) => return Poll::Ready(Ok(Chunk::Data(data))),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    let err = Error::from(err);
                    self.read = ReadState::Failed(err.kind());
                    return Poll::Ready(Err(err));
                }
            }
        }
    }

    /// Reads what the socket has and drops it, spending `budget`: Ready
    /// once the socket's read side is over (its end of file, or its error),
    /// Pending otherwise, with the task woken when more arrives, or at once
    /// if the budget ran out first.
    fn poll_drain(&mut self, cx: &mut Context<'_>, side: Side, budget: &mut usize) -> Poll<Result<(), Error>> {
        let lazy = lazy(&mut self.lazy);
        let (wakers, waker) = lazy.drain_wakers.get_or_insert_with(|| {
            let wakers = Arc::new(DrainWakers::default());
            let waker = Waker::from(Arc::clone(&wakers));
            (wakers, waker)
        });
        wakers.register(side, cx.waker());
        let waker = waker.clone();
        let dcx = &mut Context::from_waker(&waker);
        while *budget > 0 {
            // What is dropped here is taken back by the next receive.
            match ready!(self.transport.poll_recv(dcx, &mut lazy.read_buf)) {
                Ok(data) if data.is_empty() => return Poll::Ready(Ok(())),
                Ok(data) => *budget = budget.saturating_sub(data.len()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Poll::Ready(Err(Error::from(err))),
            }
        }
        // More may be waiting, and no registration would report it.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Discards what the peer sends, while the socket's read side is the
    /// flow's to empty: after a local `shutdown(Read)`, or (with `closing`)
    /// during close. Keeps the outcome in the read state; Ready once the
    /// peer's writes are over.
    fn poll_discard(
        &mut self,
        cx: &mut Context<'_>,
        side: Side,
        closing: bool,
        budget: &mut usize,
    ) -> Poll<Result<(), Error>> {
        match self.read {
            ReadState::Discarding => {}
            ReadState::Open if closing => {}
            ReadState::Open => return Poll::Pending,
            ReadState::Eof | ReadState::Shut => return Poll::Ready(Ok(())),
            ReadState::Failed(kind) | ReadState::ShutFailed(kind) => {
                return Poll::Ready(Err(Error::new(kind).context("the connection failed earlier")));
            }
        }
        let result = ready!(self.poll_drain(cx, side, budget));
        let shut = self.read == ReadState::Discarding;
        self.read = match (&result, shut) {
            (Ok(()), false) => ReadState::Eof,
            (Ok(()), true) => ReadState::Shut,
            (Err(err), false) => ReadState::Failed(err.kind()),
            (Err(err), true) => ReadState::ShutFailed(err.kind()),
        };
        self.stop_reading();
        Poll::Ready(result)
    }

    /// Discards after `shutdown(Read)`, from any poll but close's; its
    /// outcome is in the read state, and the poll goes on with its own job.
    #[inline]
    fn discard_while_polled(&mut self, cx: &mut Context<'_>, side: Side) {
        if matches!(self.read, ReadState::Discarding) {
            let mut budget = DISCARD_PER_POLL;
            let _ = self.poll_discard(cx, side, false, &mut budget);
        }
    }

    /// Nothing more is read: the buffer and any receive in flight go.
    fn stop_reading(&mut self) {
        if let Some(lazy) = &mut self.lazy {
            lazy.read_buf = BytesMut::new();
        }
        self.transport.stop_reading();
    }

    fn write_error(&mut self, err: io::Error) -> Error {
        // The flow did not shut its write side (it checks that before any
        // syscall), so a broken pipe comes from the peer: the transport
        // says how.
        let err = if err.kind() == io::ErrorKind::BrokenPipe {
            Error::with_source(self.transport.broken_pipe_kind(), err)
        } else {
            Error::from(err)
        };
        self.queue.fail(err.kind());
        err
    }

    fn poll_send_queue(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match ready!(self.transport.poll_send(cx, &mut self.queue)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(err) => Poll::Ready(Err(self.write_error(err))),
        }
    }

    fn is_full(&self) -> bool {
        self.queued() >= self.queue.high_water()
    }

    fn poll_finish_writes(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.queue.check_failed()?;
        if self.queue.state() == WriteState::Shut {
            return Poll::Ready(Ok(()));
        }
        // Nothing is in flight on the write side once this is ready: the
        // FIN follows every byte.
        ready!(self.poll_send_queue(cx))?;
        match ready!(self.transport.poll_shutdown(cx, NetShutdown::Write)) {
            Ok(()) => {}
            // The peer is gone already; there is nobody left to tell.
            Err(err) if err.kind() == io::ErrorKind::NotConnected => {}
            Err(err) => return Poll::Ready(Err(self.write_error(err))),
        }
        self.queue.shut();
        Poll::Ready(Ok(()))
    }

    fn start_deadline(&mut self) -> Option<T::Sleep> {
        let timeout = self.close_timeout()?;
        match self.lazy.as_ref().and_then(|lazy| lazy.timer.as_ref()) {
            Some(timer) => self.transport.sleep(Some(timer), timeout),
            None => self.transport.sleep(T::runtime_timer().as_ref(), timeout),
        }
    }

    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.lazy.as_mut().and_then(|lazy| lazy.deadline.as_mut()) {
            Some(deadline) => Pin::new(deadline).poll(cx),
            None => Poll::Pending,
        }
    }

    fn abandon(&mut self, cx: &mut Context<'_>) {
        self.closed();
        // Best effort: the peer learns at once that nothing more comes.
        let _ = self.transport.poll_shutdown(cx, NetShutdown::Both);
    }

    /// Marks the flow closed without touching the socket: for a close that
    /// completed, its end of writes sent and the remote's end seen. (Shutting
    /// the read direction of a TCP socket whose own FIN is out makes the
    /// kernel answer any later data with a reset.)
    fn closed(&mut self) {
        self.close = CloseState::Done;
        self.read = ReadState::Shut;
        self.queue.shut();
        self.queue.clear();
        if let Some(lazy) = &mut self.lazy {
            lazy.deadline = None;
        }
        // Dropping an operation cancels it; a completion-based runtime
        // keeps its buffer until the kernel is done with it.
        self.stop_reading();
        self.transport.stop_writing();
    }
}

impl<T: Transport> FlowRead for StreamFlow<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let this = self.get_mut();
        this.discard_while_polled(cx, Side::Read);
        this.poll_read_some(cx)
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        match this.read {
            ReadState::Open if this.transport.refuses_after_shutdown_read() => {
                this.read = ReadState::Shut;
                // A receive in flight would complete with end of file;
                // dropped, it is cancelled.
                this.stop_reading();
                match ready!(this.transport.poll_shutdown(cx, NetShutdown::Read)) {
                    Ok(()) => {}
                    Err(err) if err.kind() == io::ErrorKind::NotConnected => {}
                    Err(err) => return Poll::Ready(Err(err.into())),
                }
            }
            // The socket's read direction stays open: see
            // `ByteStream::refuses_after_shutdown_read`.
            ReadState::Open => this.read = ReadState::Discarding,
            // Nothing more comes.
            ReadState::Eof => {
                this.read = ReadState::Shut;
                this.stop_reading();
            }
            ReadState::Discarding | ReadState::Shut | ReadState::ShutFailed(_) | ReadState::Failed(_) => {}
        }
        this.discard_while_polled(cx, Side::Read);
        Poll::Ready(Ok(()))
    }
}

impl<T: Transport> FlowWrite for StreamFlow<T> {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        this.discard_while_polled(cx, Side::Write);
        if let Some(refusal) = this.queue.refusal() {
            return Poll::Ready(Err(refusal));
        }
        if this.is_full() {
            match this.poll_send_queue(cx) {
                Poll::Ready(result) => result?,
                // Room once the socket took enough, even if not everything.
                Poll::Pending if this.is_full() => return Poll::Pending,
                Poll::Pending => {}
            }
        }
        Poll::Ready(Ok(()))
    }

    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        self.get_mut().queue.start_write(buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        this.discard_while_polled(cx, Side::Write);
        match this.queue.state() {
            WriteState::Failed(_) => Poll::Ready(this.queue.check_failed().map_err(WriteError::from)),
            // Everything was sent before the write side was shut.
            WriteState::Shut | WriteState::Shutting => Poll::Ready(Ok(())),
            WriteState::Open => this.poll_send_queue(cx).map_err(WriteError::from),
        }
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.discard_while_polled(cx, Side::Write);
        this.poll_finish_writes(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let mut budget = DISCARD_PER_POLL;
        loop {
            match this.close {
                CloseState::Done => return Poll::Ready(Ok(())),
                CloseState::Open => {
                    let deadline = this.start_deadline();
                    lazy(&mut this.lazy).deadline = deadline;
                    this.close = CloseState::ShuttingDown;
                }
                CloseState::ShuttingDown => {
                    // Discard while flushing, the outcome kept for Draining: a
                    // peer that itself waits for room to send reads nothing
                    // until then, and two such peers would wait for each other.
                    let _ = this.poll_discard(cx, Side::Write, true, &mut budget);
                    match this.poll_finish_writes(cx) {
                        Poll::Ready(Ok(())) => this.close = CloseState::Draining,
                        Poll::Ready(Err(err)) => {
                            this.abandon(cx);
                            return Poll::Ready(Err(err));
                        }
                        Poll::Pending => {
                            ready!(this.poll_deadline(cx));
                            this.abandon(cx);
                            return Poll::Ready(Err(Error::new(ErrorKind::TimedOut).context(
                                "close: the peer did not take the remaining data before the close deadline",
                            )));
                        }
                    }
                }
                // After shutdown(Read) too: the peer's writes are over only at
                // its end of file, and a close that completed earlier would
                // leave them to stall (or to a reset, once the socket is gone).
                CloseState::Draining => match this.poll_discard(cx, Side::Write, true, &mut budget) {
                    Poll::Ready(result) => {
                        this.abandon(cx);
                        return Poll::Ready(result);
                    }
                    Poll::Pending => {
                        ready!(this.poll_deadline(cx));
                        this.abandon(cx);
                        return Poll::Ready(Err(Error::new(ErrorKind::TimedOut)
                            .context("close: the peer did not close before the close deadline")));
                    }
                },
            }
        }
    }
}

impl<T: Transport + fmt::Debug> fmt::Debug for StreamFlow<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamFlow")
            .field("stream", &self.transport)
            .field("read", &self.read)
            .field("close", &self.close)
            .field("queue", &self.queue)
            .field("in_flight", &self.transport.in_flight())
            .field("close_timeout", &self.close_timeout())
            .finish_non_exhaustive()
    }
}

/// Reads into the spare capacity of a [`BytesMut`] for a [`ByteStream`]
/// whose socket needs initialised memory (`futures_io::AsyncRead`,
/// `std::io::Read`). Streams that can read into uninitialised memory
/// (tokio's) should do that instead.
///
/// The spare room must be initialised before each read; this zeroes only
/// as much as recent reads used (from 512 bytes, doubling while reads fill
/// it, up to the buffer's room), so a connection of small messages does not
/// pay for a 64 KiB `memset` per read. Small reads (the window at its
/// smallest) go into a 512-byte scratch buffer of its own instead, zeroed
/// once when first needed and copied out for the bytes read: an attempt
/// that finds nothing, and a one-byte read, cost no `memset` at all.
#[derive(Debug, Clone)]
pub struct ZeroedReads {
    window: usize,
    /// Initialised once, reused by every small read.
    scratch: Option<Box<[u8; MIN_WINDOW]>>,
}

const MIN_WINDOW: usize = 512;

impl Default for ZeroedReads {
    fn default() -> Self {
        ZeroedReads {
            window: MIN_WINDOW,
            scratch: None,
        }
    }
}

impl ZeroedReads {
    /// Runs `read` on initialised memory and appends what it read to `buf`.
    ///
    /// # Errors
    ///
    /// Whatever `read` returns.
    pub fn read(
        &mut self,
        buf: &mut BytesMut,
        read: impl FnOnce(&mut [u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let room = (buf.capacity() - buf.len()).max(1);
        if self.window <= MIN_WINDOW {
            let scratch = self.scratch.get_or_insert_with(|| Box::new([0; MIN_WINDOW]));
            let len = room.min(MIN_WINDOW);
            let result = read(&mut scratch[..len]);
            if let Poll::Ready(Ok(n)) = result {
                buf.extend_from_slice(&scratch[..n.min(len)]);
                if n >= len {
                    self.window = MIN_WINDOW * 2;
                }
            }
            return result;
        }
        let start = buf.len();
        let len = room.min(self.window);
        buf.resize(start + len, 0);
        let result = read(&mut buf[start..]);
        let kept = match &result {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        buf.truncate(start + kept);
        if let Poll::Ready(Ok(n)) = result {
            if n == len {
                self.window = self.window.saturating_mul(2);
            } else if n < len / 4 {
                self.window = (self.window / 2).max(MIN_WINDOW);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket of a descriptor's size, that never has anything to do.
    #[derive(Debug)]
    struct Idle(#[allow(dead_code)] u64);

    impl ByteStream for Idle {
        fn poll_read_buf(&mut self, _: &mut Context<'_>, _: &mut BytesMut) -> Poll<io::Result<usize>> {
            Poll::Pending
        }

        fn poll_write_vectored(&mut self, _: &mut Context<'_>, _: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
            Poll::Pending
        }

        fn poll_shutdown(&mut self, _: &mut Context<'_>, _: NetShutdown) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn an_idle_flow_costs_at_most_56_bytes_over_its_socket() {
        // Issue 15: a server holds idle connections by the thousand, and an
        // idle flow must cost at most 64 bytes of memory over its runtime's
        // raw stream (benches/src/rows/memory.rs measures it). The engine
        // takes 56 of them: async-io's socket wrapper (flow-smol's, which
        // async-std's flows use too) is 8 bytes larger than async-std's
        // own stream. What an idle flow does not use is in one lazy
        // allocation (`Lazy`), the write queue keeps its deque boxed, and
        // the runtime's timer comes from the transport's type at close. A
        // field added inline, or a part moved back out of `Lazy`, fails
        // here.
        let overhead = std::mem::size_of::<StreamFlow<Idle>>() - std::mem::size_of::<Idle>();
        assert!(
            overhead <= 56,
            "an idle StreamFlow costs {overhead} bytes over its socket"
        );
        // ...and allocates nothing, with the runtime's timer and the
        // default close deadline.
        let mut flow = StreamFlow::new(Idle(0));
        flow.set_close_timeout(Some(DEFAULT_CLOSE_TIMEOUT));
        assert_eq!(flow.close_timeout(), Some(DEFAULT_CLOSE_TIMEOUT));
        assert!(flow.lazy.is_none());
        flow.set_close_timeout(None);
        assert_eq!(flow.close_timeout(), None);
        assert!(flow.lazy.is_some());
    }

    #[test]
    fn zeroed_reads_keep_what_was_read_and_adapt_the_window() {
        let mut reads = ZeroedReads::default();
        let mut buf = BytesMut::with_capacity(64 * 1024);
        // A read that fills the window doubles it.
        let filled = reads.read(&mut buf, |spare| {
            assert_eq!(spare.len(), MIN_WINDOW);
            assert!(spare.iter().all(|b| *b == 0));
            spare.fill(1);
            Poll::Ready(Ok(spare.len()))
        });
        assert!(matches!(filled, Poll::Ready(Ok(MIN_WINDOW))));
        assert_eq!(buf.len(), MIN_WINDOW);
        let short = reads.read(&mut buf, |spare| {
            assert_eq!(spare.len(), 2 * MIN_WINDOW);
            spare[..3].copy_from_slice(b"abc");
            Poll::Ready(Ok(3))
        });
        assert!(matches!(short, Poll::Ready(Ok(3))));
        assert_eq!(&buf[MIN_WINDOW..], b"abc");
        // Short reads shrink it back; a pending read keeps nothing.
        let pending = reads.read(&mut buf, |spare| {
            assert_eq!(spare.len(), MIN_WINDOW);
            Poll::Pending
        });
        assert!(pending.is_pending());
        assert_eq!(buf.len(), MIN_WINDOW + 3);
        // Small reads go through the scratch buffer: only what was read is
        // appended, after what the buffer held.
        let small = reads.read(&mut buf, |spare| {
            assert_eq!(spare.len(), MIN_WINDOW);
            spare[..2].copy_from_slice(b"de");
            Poll::Ready(Ok(2))
        });
        assert!(matches!(small, Poll::Ready(Ok(2))));
        assert_eq!(&buf[MIN_WINDOW..], b"abcde");
        // A reader that claims more than it was given keeps no more than that.
        let mut tiny = BytesMut::with_capacity(4);
        let mut fresh = ZeroedReads::default();
        let lying = fresh.read(&mut tiny, |spare| Poll::Ready(Ok(spare.len() + 10)));
        assert!(matches!(lying, Poll::Ready(Ok(_))));
        assert!(tiny.len() <= 4 + 10 && tiny.len() <= MIN_WINDOW, "{}", tiny.len());
    }
}
