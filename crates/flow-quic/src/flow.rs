//! [`QuicFlow`]: one bidirectional QUIC stream as a flow.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use flow_api::{Bytes, Chunk, Error, ErrorKind, FlowRead, FlowWrite, Sleep, Timer, WriteError, WriteQueue};
use quinn::{RecvStream, SendStream, Side, StreamId, VarInt};

use crate::error::Place;
use crate::{ABORT_CODE, DEFAULT_CLOSE_TIMEOUT, SHUTDOWN_READ_CODE};

/// Bytes queued before `poll_write_ready` waits. quinn buffers on its own
/// side up to the stream's flow-control window, so this mark is small.
const WRITE_HIGH_WATER: usize = 64 * 1024;
/// Buffers handed to quinn in one `write_chunks`.
const BATCH: usize = 32;
/// The largest chunk one read returns.
const READ_MAX: usize = 1024 * 1024;

enum ReadState {
    Open,
    /// The peer finished: end of file, sticky.
    Eof,
    /// Shut down locally (`shutdown(Read)`, close, abort): end of file.
    Shut,
    /// Failed; every later read fails the same way.
    Failed(quinn::ReadError),
}

enum CloseState {
    Open,
    /// Flushing and finishing, and draining the peer's data until its end.
    Closing {
        deadline: Option<Sleep>,
    },
    /// Closed (or aborted): nothing flows either way.
    Done,
}

/// One bidirectional QUIC stream (quinn's [`SendStream`] and
/// [`RecvStream`]) as a flow.
///
/// Get one from [`QuicConnection::open`](crate::QuicConnection::open) or
/// [`accept`](crate::QuicConnection::accept), or wrap quinn's streams with
/// [`QuicFlow::new`].
///
/// - **Reads** return quinn's own chunks ([`RecvStream::read_chunk`]):
///   owned [`Bytes`], never copied. The peer's `finish` is end of file; its
///   `reset` is an error of kind [`ErrorKind::Reset`] (data not read by
///   then is lost: that is what a QUIC reset means).
/// - **Writes** hand the buffers to quinn ([`SendStream::write_chunks`]),
///   which keeps them until they are acknowledged: no copy either. Up to
///   64 KiB wait in the flow beyond what the stream's flow-control window
///   lets quinn take; `poll_write_ready` waits while they do.
/// - **`shutdown(Write)`** flushes, then [`finish`](SendStream::finish)es
///   the stream: the peer reads end of file after the data.
/// - **`shutdown(Read)`** [`stop`](RecvStream::stop)s the stream with
///   [`SHUTDOWN_READ_CODE`]: local reads return end of file, what is in
///   flight is discarded, and the peer's writes fail with
///   [`WriteError::Closed`] (as on a Unix socket).
/// - **`close`** flushes, finishes, and reads and discards what the peer
///   still sends until its finish, under a deadline
///   ([`DEFAULT_CLOSE_TIMEOUT`], see [`set_close_timeout`](QuicFlow::set_close_timeout));
///   at the deadline it aborts the stream and fails with
///   [`ErrorKind::TimedOut`].
/// - **[`abort`](QuicFlow::abort)** resets the stream and stops its reading
///   with [`ABORT_CODE`]: the peer's reads fail with [`ErrorKind::Reset`]
///   (what was in flight is lost) and its writes with a reset too.
/// - **Dropping** a flow that was not closed delivers what was flushed,
///   then finishes the stream, and stops its reading with [`ABORT_CODE`]
///   (unless it was read to its end): the peer reads the data, then end of
///   file, and its writes fail with [`ErrorKind::Reset`]. This is what
///   a TCP socket does, and what the contract asks (a flow dropped with
///   data in flight delivers it); a QUIC reset would throw that data away.
///   Like a TCP socket's linger, a task on the runtime the flow was made
///   on (tokio's, or quinn's smol runtime) keeps the connection open until
///   the peer has read it all, or stopped the stream, or the close
///   deadline passed: dropping the connection's last handle with its flows
///   (closed or not) loses nothing they flushed.
///   [`set_reset_on_drop`](QuicFlow::set_reset_on_drop) makes a drop an
///   abort instead.
/// - A peer that stops reading with any code other than
///   [`SHUTDOWN_READ_CODE`] aborted: writes fail with [`ErrorKind::Reset`].
///
/// When the connection closes (either side's
/// [`QuicConnection::close`](crate::QuicConnection::close), the idle
/// timeout, the peer's stack going away), every stream flow of it fails:
/// reads with an error whose kind says why ([`ErrorKind::Reset`] for the
/// peer closing it, [`ErrorKind::TimedOut`] for the idle timeout,
/// [`ErrorKind::Closed`] for a local close) and whose source is quinn's
/// [`ConnectionError`](quinn::ConnectionError); writes the same, or
/// [`WriteError::Closed`] after a local close.
///
/// Error messages name the stream, the side and the peer:
/// `reading QUIC stream 0 (server side, peer 127.0.0.1:50123): the peer
/// reset the stream with code 2 (...): connection reset by peer`.
///
/// # Cancel safety
///
/// Every operation is cancel-safe, as the flow contract says: a dropped
/// read consumed nothing (quinn's `read_chunk` is cancel-safe); a buffer
/// handed over is taken whole (quinn's `write_chunks`, which this flow
/// polls, takes nothing when it does not complete); a dropped flush,
/// shutdown or close resumes where it stopped when called again.
pub struct QuicFlow {
    send: SendStream,
    recv: RecvStream,
    place: Place,
    queue: WriteQueue,
    batch: Vec<Bytes>,
    read: ReadState,
    /// The peer's end of writes was seen (or it can no longer send) while
    /// closing: what close waits for.
    peer_done: bool,
    /// `finish` was called.
    finished: bool,
    /// `shutdown(Read)` stopped the receiving side.
    stopped: bool,
    /// Dropping without close resets the stream; see `set_reset_on_drop`.
    reset_on_drop: bool,
    /// The stream was reset: nothing is left for a linger to deliver.
    aborted: bool,
    close: CloseState,
    close_timeout: Option<Duration>,
    timer: Option<Arc<dyn Timer>>,
    /// Where a dropped flow's linger runs; see `Drop`.
    linger: Option<Linger>,
}

/// A runtime to keep a dropped flow's connection open on, until the peer
/// acknowledged what the flow sent: quinn closes a connection (and throws
/// away what is unacknowledged) once its last handle is gone.
enum Linger {
    /// The tokio runtime the flow was made on; its handle spawns from any
    /// thread, also outside the runtime.
    #[cfg(feature = "tokio")]
    Tokio(tokio::runtime::Handle),
    /// quinn's runtime otherwise (smol's global executor).
    Quinn(Arc<dyn quinn::Runtime>),
}

impl Linger {
    fn current() -> Option<Linger> {
        #[cfg(feature = "tokio")]
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            return Some(Linger::Tokio(handle));
        }
        quinn::default_runtime().map(Linger::Quinn)
    }

    fn spawn(&self, task: Pin<Box<dyn Future<Output = ()> + Send>>) {
        match self {
            // A runtime shut down already drops the task (and the connection).
            #[cfg(feature = "tokio")]
            Linger::Tokio(handle) => drop(handle.spawn(task)),
            Linger::Quinn(runtime) => runtime.spawn(task),
        }
    }
}

impl QuicFlow {
    /// Wraps a bidirectional stream of `connection` (quinn's halves of it).
    ///
    /// The peer's address and the connection's side are taken from
    /// `connection`, for error messages.
    pub fn new(send: SendStream, recv: RecvStream, connection: &quinn::Connection) -> Self {
        let place = Place {
            id: send.id(),
            peer: connection.remote_address(),
            side: connection.side(),
        };
        QuicFlow {
            send,
            recv,
            place,
            queue: WriteQueue::new(WRITE_HIGH_WATER).named("the QUIC stream"),
            batch: Vec::new(),
            read: ReadState::Open,
            peer_done: false,
            finished: false,
            stopped: false,
            reset_on_drop: false,
            aborted: false,
            close: CloseState::Open,
            close_timeout: Some(DEFAULT_CLOSE_TIMEOUT),
            timer: None,
            linger: Linger::current(),
        }
    }

    /// The stream's id.
    pub fn id(&self) -> StreamId {
        self.place.id
    }

    /// The peer's address.
    pub fn remote_address(&self) -> SocketAddr {
        self.place.peer
    }

    /// Which side of the connection this end is.
    pub fn side(&self) -> Side {
        self.place.side
    }

    /// How long close waits for the peer to finish before giving up with
    /// [`ErrorKind::TimedOut`] (aborting the stream); `None` waits as long
    /// as the peer takes. The default is [`DEFAULT_CLOSE_TIMEOUT`].
    pub fn set_close_timeout(&mut self, timeout: Option<Duration>) {
        self.close_timeout = timeout;
    }

    /// The close deadline; see [`set_close_timeout`](QuicFlow::set_close_timeout).
    pub fn close_timeout(&self) -> Option<Duration> {
        self.close_timeout
    }

    /// Gives the flow the runtime's timer for its close deadline; without
    /// one, the deadline runs on futures-timer's timer thread (any executor).
    #[must_use]
    pub fn with_timer(mut self, timer: Arc<dyn Timer>) -> Self {
        self.timer = Some(timer);
        self
    }

    /// Aborts the stream at once: resets the sending side and stops the
    /// receiving side, both with [`ABORT_CODE`]. What was not delivered is
    /// lost; the peer's reads fail with [`ErrorKind::Reset`], and so do its
    /// writes. Later local reads return end of file and writes fail with
    /// [`WriteError::Closed`]. A dropped flow does the same only after
    /// [`set_reset_on_drop`](QuicFlow::set_reset_on_drop); by default it
    /// delivers what was flushed and finishes.
    pub fn abort(&mut self) {
        self.abort_with(ABORT_CODE);
    }

    /// [`abort`](QuicFlow::abort) with an application error code of the
    /// caller's.
    pub fn abort_with(&mut self, code: VarInt) {
        // Harmless errors: the direction was finished or reset already.
        let _ = self.send.reset(code);
        let _ = self.recv.stop(code);
        self.finished = true;
        self.aborted = true;
        self.done();
    }

    /// Whether dropping the flow without closing it
    /// [aborts](QuicFlow::abort) the stream (a reset: the peer's reads fail
    /// with [`ErrorKind::Reset`], and what is in flight is lost), rather
    /// than finishing it (the default: the peer reads what was flushed,
    /// then end of file, and its writes fail with a reset).
    ///
    /// The default keeps the flow contract (clause 26): a flow dropped with
    /// data in flight delivers it. QUIC has no reset that keeps data in
    /// flight (quinn 0.11 has no `RESET_STREAM_AT`), so a visible abort on
    /// drop would lose it.
    pub fn set_reset_on_drop(&mut self, reset: bool) {
        self.reset_on_drop = reset;
    }

    /// quinn's streams, for what this flow does not offer (priorities,
    /// 0-RTT checks). Writing or reading them directly bypasses the flow's
    /// state.
    pub fn streams(&self) -> (&SendStream, &RecvStream) {
        (&self.send, &self.recv)
    }

    fn done(&mut self) {
        self.close = CloseState::Done;
        if matches!(self.read, ReadState::Open) {
            self.read = ReadState::Shut;
        }
        self.queue.shut();
        self.queue.clear();
    }

    /// Sends what is queued, until quinn takes no more.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        while !self.queue.is_empty() {
            self.batch.clear();
            while self.batch.len() < BATCH {
                match self.queue.pop_front() {
                    Some(buf) => self.batch.push(buf),
                    None => break,
                }
            }
            // `write_chunks` is a poll function in disguise: a fresh future
            // polled once takes nothing unless it is ready.
            let polled = pin!(self.send.write_chunks(&mut self.batch)).poll(cx);
            // What quinn did not take goes back to the front, in order.
            for buf in self.batch.drain(..).rev() {
                self.queue.push_front(buf);
            }
            match polled {
                Poll::Ready(Ok(_written)) => {}
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(err)) => {
                    let err = self.place.write_error(err);
                    self.queue.fail(err.kind());
                    return Poll::Ready(Err(err));
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Flushes and finishes. A peer that stopped reading with
    /// [`SHUTDOWN_READ_CODE`] takes nothing more, and needs no finish:
    /// that is a success.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.finished {
            return Poll::Ready(match self.queue.check_failed() {
                Err(err) if err.kind() != ErrorKind::Closed => Err(err),
                _ => Ok(()),
            });
        }
        if let Err(err) = self.queue.check_failed() {
            if err.kind() != ErrorKind::Closed {
                return Poll::Ready(Err(err));
            }
        }
        self.queue.shutting();
        match ready!(self.poll_send(cx)) {
            Ok(()) => {}
            Err(WriteError::Closed) => {}
            Err(err) => return Poll::Ready(Err(err.into())),
        }
        // Harmless error: finished or reset already.
        let _ = self.send.finish();
        self.finished = true;
        self.queue.shut();
        Poll::Ready(Ok(()))
    }

    /// Reads one chunk from quinn, mapping the end and the failures.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Option<quinn::ReadError>>> {
        loop {
            let polled = pin!(self.recv.read_chunk(READ_MAX, true)).poll(cx);
            return Poll::Ready(match ready!(polled) {
                Ok(Some(chunk)) if chunk.bytes.is_empty() => continue,
                Ok(Some(chunk)) => Ok(Some(chunk.bytes)),
                Ok(None) => Ok(None),
                // Stopped by us, or read to its end already: over.
                Err(quinn::ReadError::ClosedStream) => Err(None),
                Err(err) => Err(Some(err)),
            });
        }
    }

    /// While closing: reads and drops what the peer sends until its end
    /// (or its reset, or the connection's end).
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // After `shutdown(Read)` stopped the stream, the peer sends no more.
        if self.peer_done || self.stopped {
            self.peer_done = true;
            return Poll::Ready(Ok(()));
        }
        match self.read {
            ReadState::Eof => {
                self.peer_done = true;
                return Poll::Ready(Ok(()));
            }
            ReadState::Failed(ref err) => {
                self.peer_done = true;
                return Poll::Ready(self.place.read_error(err.clone()).map_or(Ok(()), Err));
            }
            ReadState::Open | ReadState::Shut => {}
        }
        loop {
            match ready!(self.poll_chunk(cx)) {
                Ok(Some(_discarded)) => {}
                Ok(None) | Err(None) => {
                    self.peer_done = true;
                    return Poll::Ready(Ok(()));
                }
                Err(Some(err)) => {
                    self.peer_done = true;
                    return Poll::Ready(self.place.read_error(err).map_or(Ok(()), Err));
                }
            }
        }
    }

    fn start_deadline(&self) -> Option<Sleep> {
        let timeout = self.close_timeout?;
        Some(match &self.timer {
            Some(timer) => timer.sleep(timeout),
            None => Box::pin(futures_timer::Delay::new(timeout)),
        })
    }
}

impl FlowRead for QuicFlow {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let this = self.get_mut();
        match &this.read {
            ReadState::Open => {}
            ReadState::Eof | ReadState::Shut => return Poll::Ready(Ok(Chunk::Eof)),
            ReadState::Failed(err) => {
                return Poll::Ready(match this.place.read_error(err.clone()) {
                    Some(err) => Err(err),
                    None => Ok(Chunk::Eof),
                });
            }
        }
        match ready!(this.poll_chunk(cx)) {
            Ok(Some(bytes)) => Poll::Ready(Ok(Chunk::Data(bytes))),
            Ok(None) | Err(None) => {
                this.read = ReadState::Eof;
                Poll::Ready(Ok(Chunk::Eof))
            }
            Err(Some(err)) => {
                this.read = ReadState::Failed(err.clone());
                Poll::Ready(this.place.read_error(err).map_or(Ok(Chunk::Eof), Err))
            }
        }
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if matches!(this.read, ReadState::Open) {
            // Harmless error: the stream was read to its end already.
            let _ = this.recv.stop(SHUTDOWN_READ_CODE);
            this.read = ReadState::Shut;
            this.stopped = true;
        }
        Poll::Ready(Ok(()))
    }
}

impl FlowWrite for QuicFlow {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        if let Some(refusal) = this.queue.refusal() {
            return Poll::Ready(Err(refusal));
        }
        if this.queue.is_full() {
            match this.poll_send(cx) {
                Poll::Ready(result) => result?,
                Poll::Pending if this.queue.is_full() => return Poll::Pending,
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
        if let Err(err) = this.queue.check_failed() {
            return Poll::Ready(Err(err.into()));
        }
        this.poll_send(cx)
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if matches!(this.close, CloseState::Done) {
            return Poll::Ready(Ok(()));
        }
        this.poll_finish(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if matches!(this.close, CloseState::Open) {
            let deadline = this.start_deadline();
            this.close = CloseState::Closing { deadline };
        }
        if matches!(this.read, ReadState::Open) {
            // From now on reads return end of file; the close drains.
            this.read = ReadState::Shut;
        }
        // Drain while flushing, so that two ends that close at once with
        // more queued than the windows hold both get through.
        let drained = this.poll_drain(cx);
        let finished = match &this.close {
            CloseState::Done => return Poll::Ready(Ok(())),
            _ => this.poll_finish(cx),
        };
        match (drained, finished) {
            (Poll::Ready(Err(err)), _) | (_, Poll::Ready(Err(err))) => {
                this.abort();
                return Poll::Ready(Err(err));
            }
            (Poll::Ready(Ok(())), Poll::Ready(Ok(()))) => {
                this.done();
                return Poll::Ready(Ok(()));
            }
            _ => {}
        }
        if let CloseState::Closing {
            deadline: Some(deadline),
        } = &mut this.close
        {
            if deadline.as_mut().poll(cx).is_ready() {
                let after = this.close_timeout.unwrap_or(DEFAULT_CLOSE_TIMEOUT);
                this.abort();
                return Poll::Ready(Err(this.place.close_timed_out(after)));
            }
        }
        Poll::Pending
    }
}

impl Drop for QuicFlow {
    fn drop(&mut self) {
        if !matches!(self.close, CloseState::Done) {
            if self.reset_on_drop {
                self.abort();
                return;
            }
            // What quinn took is delivered, then the end of writes: a QUIC
            // reset would throw away what is in flight (RFC 9000 §3.1), which
            // a flow must deliver. What was queued and never flushed is lost.
            let _ = self.send.finish();
            if !matches!(self.read, ReadState::Eof) {
                // The peer's later writes fail with a reset.
                let _ = self.recv.stop(ABORT_CODE);
            }
        }
        if self.aborted {
            return;
        }
        // Closed or not, what the stream sent may not be acknowledged yet
        // (a close ends once the peer finished, not once it read). The
        // stream's `stopped` future holds the connection until the peer
        // has it all (or stopped the stream, or the connection ended),
        // within the close deadline: as a TCP socket lingers, so that
        // dropping the connection's last handle with the flow does not
        // lose what it sent.
        if let Some(linger) = &self.linger {
            let acknowledged = self.send.stopped();
            let deadline = futures_timer::Delay::new(self.close_timeout.unwrap_or(DEFAULT_CLOSE_TIMEOUT));
            linger.spawn(Box::pin(async move {
                let mut acknowledged = pin!(acknowledged);
                let mut deadline = pin!(deadline);
                std::future::poll_fn(|cx| {
                    if acknowledged.as_mut().poll(cx).is_ready() || deadline.as_mut().poll(cx).is_ready() {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await;
            }));
        }
    }
}

impl fmt::Debug for QuicFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuicFlow")
            .field("id", &self.place.id)
            .field("peer", &self.place.peer)
            .field("side", &self.place.side)
            .field("queue", &self.queue)
            .field("closing", &!matches!(self.close, CloseState::Open))
            .finish_non_exhaustive()
    }
}
