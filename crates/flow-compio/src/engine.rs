//! The flow contract over a completion-based socket: the kernel owns a
//! buffer while an operation runs, so the flow, not the caller's future,
//! owns every operation in flight.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::mem;
use std::net::Shutdown as NetShutdown;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use compio::BufResult;
use compio::io::{AsyncRead, AsyncWrite};
use flow_api::{Chunk, Error, ErrorKind, FlowRead, FlowWrite, WriteError};
use socket2::SockRef;

/// How long close waits for the peer to finish by default.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Below this much spare room, the read buffer is topped up.
const MIN_READ_ROOM: usize = 4 * 1024;
/// How much room a read buffer gets when topped up.
const READ_BUFFER: usize = 64 * 1024;
/// Bytes queued (or in flight) before `poll_write_ready` flushes and waits.
const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Buffers per vectored write: `IOV_MAX` on Linux.
const MAX_IOVECS: usize = 1024;
/// What one poll of the flow discards at most, so that a peer that sends
/// faster than the flow reads cannot keep the caller in that poll.
const DISCARD_PER_POLL: usize = 256 * 1024;

pub(crate) type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T> + 'static>>;

/// What a write operation hands back: the buffers it was given.
pub(crate) enum Sent {
    One(Bytes),
    Many(Vec<Bytes>),
}

/// A compio stream socket, as the engine drives it: owned-buffer reads and
/// writes that the engine keeps while they run.
pub(crate) trait Socket: std::os::fd::AsFd + 'static {
    /// What a broken pipe on write means: the peer aborted (TCP), or it
    /// stopped reading (Unix).
    const BROKEN_PIPE: ErrorKind;

    /// Receives into `buf` (empty, with spare capacity).
    fn recv(self: &Rc<Self>, buf: BytesMut) -> LocalBoxFuture<BufResult<usize, BytesMut>>;

    /// Sends one buffer.
    fn send(self: &Rc<Self>, buf: Bytes) -> LocalBoxFuture<BufResult<usize, Sent>>;

    /// Sends several buffers in one vectored submission.
    fn send_vectored(self: &Rc<Self>, bufs: Vec<Bytes>) -> LocalBoxFuture<BufResult<usize, Sent>>;
}

macro_rules! socket {
    ($ty:ty, $broken:expr) => {
        impl Socket for $ty {
            const BROKEN_PIPE: ErrorKind = $broken;

            fn recv(self: &Rc<Self>, buf: BytesMut) -> LocalBoxFuture<BufResult<usize, BytesMut>> {
                let socket = Rc::clone(self);
                Box::pin(async move {
                    let mut socket = &*socket;
                    socket.read(buf).await
                })
            }

            fn send(self: &Rc<Self>, buf: Bytes) -> LocalBoxFuture<BufResult<usize, Sent>> {
                let socket = Rc::clone(self);
                Box::pin(async move {
                    let mut socket = &*socket;
                    let BufResult(result, buf) = socket.write(buf).await;
                    BufResult(result, Sent::One(buf))
                })
            }

            fn send_vectored(self: &Rc<Self>, bufs: Vec<Bytes>) -> LocalBoxFuture<BufResult<usize, Sent>> {
                let socket = Rc::clone(self);
                Box::pin(async move {
                    let mut socket = &*socket;
                    let BufResult(result, bufs) = socket.write_vectored(bufs).await;
                    BufResult(result, Sent::Many(bufs))
                })
            }
        }
    };
}

socket!(compio::net::TcpStream, ErrorKind::Reset);
socket!(compio::net::UnixStream, ErrorKind::Closed);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Open,
    /// The peer finished; reads return end of file.
    Eof,
    /// Shut down locally; reads return end of file, and what the peer
    /// still sends is received and discarded until its end of file.
    Discarding,
    /// Shut down locally, nothing left to discard.
    Shut,
    /// Shut down locally, and the socket failed while discarding: reads
    /// return end of file, close reports this kind.
    ShutFailed(ErrorKind),
    /// The socket failed; reads return this kind.
    Failed(ErrorKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteState {
    Open,
    Shut,
    Failed(ErrorKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseState {
    Open,
    ShuttingDown,
    Draining,
    Done,
}

/// Which side of the flow polls the discarding read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Read,
    Write,
}

/// One receive operation is in flight at a time, and while the flow
/// discards, both sides poll it: a reader after `shutdown(Read)`, and a
/// writer or a close. The operation keeps one waker; this one wakes both,
/// so that one side's poll does not replace the other's registration.
#[derive(Debug, Default)]
struct DrainWakers {
    read: Mutex<Option<Waker>>,
    write: Mutex<Option<Waker>>,
}

impl DrainWakers {
    fn register(&self, side: Side, waker: &Waker) {
        let slot = match side {
            Side::Read => &self.read,
            Side::Write => &self.write,
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if !slot.as_ref().is_some_and(|old| old.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

impl Wake for DrainWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let read = self.read.lock().unwrap_or_else(PoisonError::into_inner).take();
        let write = self.write.lock().unwrap_or_else(PoisonError::into_inner).take();
        for waker in [read, write].into_iter().flatten() {
            waker.wake();
        }
    }
}

/// The flow over a compio socket. See the crate documentation for what it
/// promises; the comments here say how.
pub(crate) struct Engine<S: Socket> {
    socket: Rc<S>,
    /// The receive in flight. It owns its buffer, and it belongs to the
    /// flow: a read future dropped meanwhile leaves it here, and the next
    /// read takes its result.
    read_op: Option<LocalBoxFuture<BufResult<usize, BytesMut>>>,
    /// What is left of the last receive buffer, for the next one.
    spare: BytesMut,
    read: ReadState,
    drain_wakers: Option<(Arc<DrainWakers>, Waker)>,
    /// Buffers handed over and not yet submitted.
    queue: VecDeque<Bytes>,
    /// Bytes queued or in flight.
    queued: usize,
    /// The send in flight, owning its buffers; it belongs to the flow too.
    write_op: Option<LocalBoxFuture<BufResult<usize, Sent>>>,
    /// The vector of the last vectored send, kept for the next one.
    iovecs: Vec<Bytes>,
    write: WriteState,
    close: CloseState,
    close_timeout: Option<Duration>,
    deadline: Option<LocalBoxFuture<()>>,
}

impl<S: Socket> Engine<S> {
    pub(crate) fn new(socket: S) -> Self {
        Engine::with_rc(Rc::new(socket))
    }

    fn with_rc(socket: Rc<S>) -> Self {
        Engine {
            socket,
            read_op: None,
            spare: BytesMut::new(),
            read: ReadState::Open,
            drain_wakers: None,
            queue: VecDeque::new(),
            queued: 0,
            write_op: None,
            iovecs: Vec::new(),
            write: WriteState::Open,
            close: CloseState::Open,
            close_timeout: Some(DEFAULT_CLOSE_TIMEOUT),
            deadline: None,
        }
    }

    pub(crate) fn socket(&self) -> &S {
        &self.socket
    }

    pub(crate) fn sock(&self) -> SockRef<'_> {
        SockRef::from(&*self.socket)
    }

    pub(crate) fn set_close_timeout(&mut self, timeout: Option<Duration>) {
        self.close_timeout = timeout;
    }

    pub(crate) fn close_timeout(&self) -> Option<Duration> {
        self.close_timeout
    }

    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Whether an operation is in flight or bytes wait to be sent: the
    /// socket cannot be handed out then.
    pub(crate) fn is_busy(&self) -> bool {
        self.read_op.is_some() || self.write_op.is_some() || self.queued > 0
    }

    /// The socket, once no operation holds it and nothing waits to be sent.
    pub(crate) fn into_socket(self) -> Result<S, Box<Self>> {
        if self.is_busy() {
            return Err(Box::new(self));
        }
        let Engine { socket, .. } = self;
        // No operation is stored, so nothing else holds the socket; the
        // fallback keeps it usable all the same.
        Rc::try_unwrap(socket).map_err(|socket| Box::new(Engine::with_rc(socket)))
    }

    /// Polls the receive in flight, submitting one first if there is none.
    /// An empty buffer is end of file.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Bytes>> {
        let op = match &mut self.read_op {
            Some(op) => op,
            None => {
                let mut buf = mem::take(&mut self.spare);
                // compio receives from the start of the buffer: it must be
                // empty, and what it holds is room.
                buf.clear();
                let room = buf.capacity();
                // Once every slice handed out was dropped, the whole
                // allocation is free again: take it back (no allocation, no
                // copy). Otherwise top up only below the minimum.
                if room < READ_BUFFER && !buf.try_reclaim(READ_BUFFER) && room < MIN_READ_ROOM {
                    buf = BytesMut::with_capacity(READ_BUFFER);
                }
                self.read_op.insert(self.socket.recv(buf))
            }
        };
        let BufResult(result, mut buf) = ready!(op.as_mut().poll(cx));
        self.read_op = None;
        let result = result.map(|n| buf.split_to(n.min(buf.len())).freeze());
        self.spare = buf;
        Poll::Ready(result)
    }

    fn poll_read_some(&mut self, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
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
            match ready!(self.poll_recv(cx)) {
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

    /// Receives and drops, spending `budget`: Ready once the socket's read
    /// side is over (its end of file, or its error), Pending otherwise, with
    /// the task woken when more arrives, or at once if the budget ran out.
    fn poll_drain(&mut self, cx: &mut Context<'_>, side: Side, budget: &mut usize) -> Poll<Result<(), Error>> {
        let (wakers, waker) = self.drain_wakers.get_or_insert_with(|| {
            let wakers = Arc::new(DrainWakers::default());
            let waker = Waker::from(Arc::clone(&wakers));
            (wakers, waker)
        });
        wakers.register(side, cx.waker());
        let waker = waker.clone();
        let dcx = &mut Context::from_waker(&waker);
        while *budget > 0 {
            match ready!(self.poll_recv(dcx)) {
                Ok(data) if data.is_empty() => return Poll::Ready(Ok(())),
                Ok(data) => *budget = budget.saturating_sub(data.len()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Poll::Ready(Err(Error::from(err))),
            }
        }
        // More may be waiting, and no operation is registered to say so.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Discards what the peer sends, while the socket's read side is the
    /// flow's to empty: after a local `shutdown(Read)`, or (with `closing`)
    /// during close. Keeps the outcome in the read state.
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
            ReadState::Open | ReadState::Eof | ReadState::Shut => return Poll::Ready(Ok(())),
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
        self.spare = BytesMut::new();
        Poll::Ready(result)
    }

    /// Discards after `shutdown(Read)`, from any poll but close's.
    fn discard_while_polled(&mut self, cx: &mut Context<'_>, side: Side) {
        if self.read == ReadState::Discarding {
            let mut budget = DISCARD_PER_POLL;
            let _ = self.poll_discard(cx, side, false, &mut budget);
        }
    }

    fn write_error(&mut self, err: io::Error) -> Error {
        // The flow did not shut its write side (it checks that before any
        // submission), so a broken pipe comes from the peer.
        let err = if err.kind() == io::ErrorKind::BrokenPipe {
            Error::with_source(S::BROKEN_PIPE, err)
        } else {
            Error::from(err)
        };
        self.write = WriteState::Failed(err.kind());
        self.queue.clear();
        self.queued = 0;
        err
    }

    fn write_refusal(&self) -> Option<WriteError> {
        match self.write {
            WriteState::Open => None,
            WriteState::Shut => Some(WriteError::Closed),
            WriteState::Failed(kind) => Some(WriteError::from(
                Error::new(kind).context("the connection failed earlier"),
            )),
        }
    }

    /// Takes back what a send did not write, in order, at the queue's front.
    fn requeue(&mut self, written: usize, sent: Sent) {
        let mut left = written;
        match sent {
            Sent::One(mut buf) => {
                if buf.len() > left {
                    buf.advance(left);
                    self.queue.push_front(buf);
                }
            }
            Sent::Many(mut bufs) => {
                let mut first = 0;
                for buf in &mut bufs {
                    if left >= buf.len() {
                        left -= buf.len();
                        first += 1;
                    } else {
                        buf.advance(left);
                        break;
                    }
                }
                for buf in bufs.drain(first..).rev() {
                    self.queue.push_front(buf);
                }
                bufs.clear();
                self.iovecs = bufs;
            }
        }
    }

    fn poll_send_queue(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if let Some(op) = &mut self.write_op {
                let BufResult(result, sent) = ready!(op.as_mut().poll(cx));
                self.write_op = None;
                match result {
                    Ok(0) => {
                        self.requeue(0, sent);
                        let err = io::Error::new(io::ErrorKind::WriteZero, "the socket accepted no bytes");
                        return Poll::Ready(Err(self.write_error(err)));
                    }
                    Ok(written) => {
                        self.queued = self.queued.saturating_sub(written);
                        self.requeue(written, sent);
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => self.requeue(0, sent),
                    Err(err) => return Poll::Ready(Err(self.write_error(err))),
                }
            }
            let op = match self.queue.len() {
                0 => return Poll::Ready(Ok(())),
                // A plain send costs less in the kernel than a one-element
                // vectored one.
                1 => match self.queue.pop_front() {
                    Some(buf) => self.socket.send(buf),
                    None => return Poll::Ready(Ok(())),
                },
                n => {
                    let mut bufs = mem::take(&mut self.iovecs);
                    bufs.extend(self.queue.drain(..n.min(MAX_IOVECS)));
                    self.socket.send_vectored(bufs)
                }
            };
            self.write_op = Some(op);
        }
    }

    fn poll_finish_writes(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.write {
            WriteState::Shut => return Poll::Ready(Ok(())),
            WriteState::Failed(kind) => {
                return Poll::Ready(Err(Error::new(kind).context("the connection failed earlier")));
            }
            WriteState::Open => {}
        }
        ready!(self.poll_send_queue(cx))?;
        // Nothing is in flight on the write side now: the FIN follows every
        // byte. shutdown(2) does not block.
        match self.sock().shutdown(NetShutdown::Write) {
            Ok(()) => {}
            // The peer is gone already; there is nobody left to tell.
            Err(err) if err.kind() == io::ErrorKind::NotConnected => {}
            Err(err) => return Poll::Ready(Err(self.write_error(err))),
        }
        self.write = WriteState::Shut;
        Poll::Ready(Ok(()))
    }

    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.deadline {
            Some(deadline) => deadline.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }

    fn abandon(&mut self) {
        self.close = CloseState::Done;
        self.read = ReadState::Shut;
        self.write = WriteState::Shut;
        self.queue.clear();
        self.queued = 0;
        self.deadline = None;
        // Dropping an operation cancels it; compio's driver keeps its buffer
        // until the kernel is done with it.
        self.read_op = None;
        self.write_op = None;
        self.spare = BytesMut::new();
        // Best effort: the peer learns at once that nothing more comes.
        let _ = self.sock().shutdown(NetShutdown::Both);
    }

    /// Whether the socket refuses the peer's data once its own read
    /// direction is shut (Unix), rather than queueing it (TCP on Linux,
    /// where reads would then report end of file whenever the queue is
    /// empty, and the peer would stall once the buffers are full).
    fn refuses_after_shutdown_read() -> bool {
        S::BROKEN_PIPE == ErrorKind::Closed
    }
}

impl<S: Socket> FlowRead for Engine<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let this = self.get_mut();
        this.discard_while_polled(cx, Side::Read);
        this.poll_read_some(cx)
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        match this.read {
            ReadState::Open if Self::refuses_after_shutdown_read() => {
                this.read = ReadState::Shut;
                // A receive in flight completes with end of file; dropped,
                // it is cancelled.
                this.read_op = None;
                this.spare = BytesMut::new();
                match this.sock().shutdown(NetShutdown::Read) {
                    Ok(()) => {}
                    Err(err) if err.kind() == io::ErrorKind::NotConnected => {}
                    Err(err) => return Poll::Ready(Err(err.into())),
                }
            }
            ReadState::Open => this.read = ReadState::Discarding,
            ReadState::Eof => {
                this.read = ReadState::Shut;
                this.spare = BytesMut::new();
            }
            ReadState::Discarding | ReadState::Shut | ReadState::ShutFailed(_) | ReadState::Failed(_) => {}
        }
        this.discard_while_polled(cx, Side::Read);
        Poll::Ready(Ok(()))
    }
}

impl<S: Socket> FlowWrite for Engine<S> {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        this.discard_while_polled(cx, Side::Write);
        if let Some(refusal) = this.write_refusal() {
            return Poll::Ready(Err(refusal));
        }
        if this.queued >= WRITE_HIGH_WATER {
            match this.poll_send_queue(cx) {
                Poll::Ready(result) => result?,
                // Room once the kernel took enough, even if not everything.
                Poll::Pending if this.queued >= WRITE_HIGH_WATER => return Poll::Pending,
                Poll::Pending => {}
            }
        }
        Poll::Ready(Ok(()))
    }

    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        let this = self.get_mut();
        if let Some(refusal) = this.write_refusal() {
            return Err(refusal);
        }
        if !buf.is_empty() {
            this.queued += buf.len();
            this.queue.push_back(buf);
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        this.discard_while_polled(cx, Side::Write);
        match this.write {
            WriteState::Failed(_) => match this.write_refusal() {
                Some(refusal) => Poll::Ready(Err(refusal)),
                None => Poll::Ready(Ok(())),
            },
            WriteState::Shut => Poll::Ready(Ok(())),
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
                    if let Some(timeout) = this.close_timeout {
                        this.deadline = Some(Box::pin(compio::time::sleep(timeout)));
                    }
                    this.close = CloseState::ShuttingDown;
                }
                CloseState::ShuttingDown => {
                    // Discard while flushing: a peer that itself waits for
                    // room to send reads nothing until then, and two such
                    // peers would wait for each other.
                    let _ = this.poll_discard(cx, Side::Write, true, &mut budget);
                    match this.poll_finish_writes(cx) {
                        Poll::Ready(Ok(())) => this.close = CloseState::Draining,
                        Poll::Ready(Err(err)) => {
                            this.abandon();
                            return Poll::Ready(Err(err));
                        }
                        Poll::Pending => {
                            ready!(this.poll_deadline(cx));
                            this.abandon();
                            return Poll::Ready(Err(Error::new(ErrorKind::TimedOut).context(
                                "close: the peer did not take the remaining data before the close deadline",
                            )));
                        }
                    }
                }
                // After shutdown(Read) too: the peer's writes are over only
                // at its end of file.
                CloseState::Draining => match this.poll_discard(cx, Side::Write, true, &mut budget) {
                    Poll::Ready(result) => {
                        this.abandon();
                        return Poll::Ready(result);
                    }
                    Poll::Pending => {
                        ready!(this.poll_deadline(cx));
                        this.abandon();
                        return Poll::Ready(Err(Error::new(ErrorKind::TimedOut)
                            .context("close: the peer did not close before the close deadline")));
                    }
                },
            }
        }
    }
}

impl<S: Socket> fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("read", &self.read)
            .field("write", &self.write)
            .field("close", &self.close)
            .field("queued", &self.queued)
            .field("reading", &self.read_op.is_some())
            .field("writing", &self.write_op.is_some())
            .field("close_timeout", &self.close_timeout)
            .finish_non_exhaustive()
    }
}
