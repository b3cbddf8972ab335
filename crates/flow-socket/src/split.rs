//! Owned halves of a socket flow: two engines over two descriptors of one
//! socket, so that reading and writing take no lock.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::PoisonError;
use std::task::{Context, Poll, Waker, ready};

use bytes::{Bytes, BytesMut};
use flow_api::{Chunk, Error, ErrorKind, FlowRead, FlowWrite, WriteError};

use crate::sync::{Arc, AtomicBool, Mutex, MutexGuard, Ordering};
use crate::{DEFAULT_CLOSE_TIMEOUT, ReadState, StreamFlow, Transport};

/// What the halves tell each other, at the few moments that matter to the
/// write half's close: the remote finished, or the read half is gone.
/// Reads never touch it; writes read one flag.
#[derive(Default)]
struct Link {
    /// The read half was dropped or shut down: nobody reads there any more,
    /// so the write half discards what arrives while it is polled, as an
    /// unsplit flow does after `shutdown(Read)`. Otherwise a peer that
    /// writes before it reads would wait for room for ever.
    reader_gone: AtomicBool,
    state: Mutex<LinkState>,
}

#[derive(Default)]
struct LinkState {
    /// The read half saw the remote's end of file (or an error).
    remote_finished: bool,
    closer: Option<Waker>,
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake_closer(&self, change: impl FnOnce(&mut LinkState)) {
        let mut state = self.lock();
        change(&mut state);
        if let Some(waker) = state.closer.take() {
            waker.wake();
        }
    }

    fn reader_gone(&self) {
        self.reader_gone.store(true, Ordering::Release);
        self.wake_closer(|_| {});
    }
}

/// The read half of a socket flow split with `into_split`: a flow engine of
/// its own over a second descriptor of the same socket, so that it reads
/// while the [`OwnedWriteHalf`] writes, with no lock between them.
///
/// Dropping it (or shutting its reading down) tells the write half that
/// nobody reads any more: the write half's close then discards the
/// remote's data itself. The socket is released once both halves are gone.
///
/// # Cancel safety
///
/// As the flow's: a read dropped before it completes consumed nothing.
pub struct OwnedReadHalf<S: Transport> {
    flow: StreamFlow<S>,
    link: Arc<Link>,
}

/// The write half of a socket flow split with `into_split`.
///
/// [`close`](FlowWrite::poll_close) keeps the contract without losing data:
/// it flushes and sends the end of writes, then waits until the
/// [`OwnedReadHalf`] has read the remote's end of file. If the read half was
/// dropped or shut down, it discards the remote's data itself until that
/// end. The flow's close deadline bounds the whole close; at the deadline it
/// fails with [`ErrorKind::TimedOut`] and shuts both directions down.
///
/// # Cancel safety
///
/// As the flow's: a buffer is taken whole or not at all, and a dropped
/// flush, shutdown or close resumes where it stopped.
pub struct OwnedWriteHalf<S: Transport> {
    flow: StreamFlow<S>,
    link: Arc<Link>,
    close: CloseStep,
    deadline: Option<S::Sleep>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseStep {
    Open,
    /// Flushing and sending the end of writes.
    ShutdownWrite,
    /// Waiting for the read half to see the remote's end.
    AwaitRemote,
    /// The read half is gone: the engine's own close discards until the end.
    Drain,
    Done,
}

impl<S: Transport> StreamFlow<S> {
    /// Splits the flow into owned halves; `second` is another descriptor of
    /// the same socket (see [`socket2::Socket::try_clone`]), registered with
    /// the same runtime. The write half keeps what is queued, and the read
    /// half starts where the flow's reading stood.
    ///
    /// With a completion-based transport, a receive the flow has in flight
    /// (a read started and dropped) stays with the write half and is
    /// abandoned: read it to completion before splitting.
    pub fn into_split(mut self, second: S) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
        let mut reader = StreamFlow::new(second);
        reader.read = self.read;
        if let Some(lazy) = &mut self.lazy {
            if lazy.timer.is_some() || lazy.close_timeout != Some(DEFAULT_CLOSE_TIMEOUT) {
                let theirs = crate::lazy(&mut reader.lazy);
                theirs.timer.clone_from(&lazy.timer);
                theirs.close_timeout = lazy.close_timeout;
            }
            lazy.read_buf = BytesMut::new();
        }
        let link = Arc::new(Link::default());
        link.lock().remote_finished = matches!(self.read, ReadState::Eof | ReadState::Failed(_));
        if matches!(
            self.read,
            ReadState::Discarding | ReadState::Shut | ReadState::ShutFailed(_)
        ) {
            link.reader_gone.store(true, Ordering::Relaxed);
        }
        (
            OwnedReadHalf {
                flow: reader,
                link: Arc::clone(&link),
            },
            OwnedWriteHalf {
                flow: self,
                link,
                close: CloseStep::Open,
                deadline: None,
            },
        )
    }
}

impl<S: Transport> OwnedReadHalf<S> {
    /// This half's descriptor of the socket.
    pub fn get_ref(&self) -> &S {
        self.flow.get_ref()
    }

    /// Whether `other` is the write half split from the same flow.
    pub fn is_pair_of(&self, other: &OwnedWriteHalf<S>) -> bool {
        Arc::ptr_eq(&self.link, &other.link)
    }
}

impl<S: Transport> OwnedWriteHalf<S> {
    /// This half's descriptor of the socket.
    pub fn get_ref(&self) -> &S {
        self.flow.get_ref()
    }

    /// Bytes handed over and not yet sent.
    pub fn queued(&self) -> usize {
        self.flow.queued()
    }
}

impl<S: Transport> FlowRead for OwnedReadHalf<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let this = self.get_mut();
        let result = ready!(Pin::new(&mut this.flow).poll_read(cx));
        // The remote's end, or the socket's failure: not the end of file
        // that reads return after this half shut its reading down.
        if !matches!(result, Ok(Chunk::Data(_))) && matches!(this.flow.read, ReadState::Eof | ReadState::Failed(_)) {
            this.link.wake_closer(|state| state.remote_finished = true);
        }
        Poll::Ready(result)
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.flow).poll_shutdown_read(cx))?;
        // Nobody reads here any more: a close of the write half must drain.
        this.link.reader_gone();
        Poll::Ready(Ok(()))
    }
}

impl<S: Transport> Drop for OwnedReadHalf<S> {
    fn drop(&mut self) {
        self.link.reader_gone();
    }
}

impl<S: Transport> OwnedWriteHalf<S> {
    /// This half's engine, discarding what arrives once the read half is
    /// gone (see [`Link::reader_gone`]).
    fn engine(&mut self) -> Pin<&mut StreamFlow<S>> {
        if self.flow.read == ReadState::Open && self.link.reader_gone.load(Ordering::Acquire) {
            self.flow.read = ReadState::Discarding;
        }
        Pin::new(&mut self.flow)
    }

    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.deadline {
            Some(deadline) => Pin::new(deadline).poll(cx),
            None => Poll::Pending,
        }
    }

    fn give_up(&mut self, cx: &mut Context<'_>) -> Error {
        self.close = CloseStep::Done;
        self.flow.abandon(cx);
        Error::new(ErrorKind::TimedOut).context("close: the peer did not close before the close deadline")
    }
}

impl<S: Transport> FlowWrite for OwnedWriteHalf<S> {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        self.get_mut().engine().poll_write_ready(cx)
    }

    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        self.get_mut().flow.queue.start_write(buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        self.get_mut().engine().poll_flush(cx)
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().engine().poll_shutdown_write(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        loop {
            match this.close {
                CloseStep::Open => {
                    this.deadline = this.flow.start_deadline();
                    this.close = CloseStep::ShutdownWrite;
                }
                CloseStep::ShutdownWrite => match this.engine().poll_shutdown_write(cx) {
                    Poll::Ready(Ok(())) => this.close = CloseStep::AwaitRemote,
                    Poll::Ready(Err(err)) => {
                        this.close = CloseStep::Done;
                        this.flow.abandon(cx);
                        return Poll::Ready(Err(err));
                    }
                    Poll::Pending => {
                        ready!(this.poll_deadline(cx));
                        return Poll::Ready(Err(this.give_up(cx)));
                    }
                },
                CloseStep::AwaitRemote => {
                    let mut state = this.link.lock();
                    // Read under the lock: the read half sets the flag before
                    // it takes the lock to wake the closer, so either the flag
                    // is seen here or the waker registered here is woken.
                    // Read before the lock, the flag could be set and the
                    // closer woken (there was none yet) in between: a close
                    // waiting for a read half that is gone.
                    let reader_gone = this.link.reader_gone.load(Ordering::Acquire);
                    if state.remote_finished {
                        drop(state);
                        this.close = CloseStep::Done;
                        this.flow.closed();
                    } else if reader_gone {
                        drop(state);
                        this.close = CloseStep::Drain;
                    } else {
                        state.closer = Some(cx.waker().clone());
                        drop(state);
                        ready!(this.poll_deadline(cx));
                        return Poll::Ready(Err(this.give_up(cx)));
                    }
                }
                CloseStep::Drain => {
                    // The engine's close: its writes are shut already, so it
                    // discards until the remote's end, within its own deadline.
                    let result = ready!(this.engine().poll_close(cx));
                    this.close = CloseStep::Done;
                    return Poll::Ready(result);
                }
                CloseStep::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<S: Transport + fmt::Debug> fmt::Debug for OwnedReadHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedReadHalf").field("flow", &self.flow).finish()
    }
}

impl<S: Transport + fmt::Debug> fmt::Debug for OwnedWriteHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedWriteHalf")
            .field("flow", &self.flow)
            .field("close", &self.close)
            .finish_non_exhaustive()
    }
}
