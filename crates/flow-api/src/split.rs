//! A generic split of any flow into a read half and a write half.

use std::fmt;
use std::pin::Pin;
use std::sync::PoisonError;
use std::task::{Context, Poll, Waker, ready};

use bytes::Bytes;

use crate::sync::{Arc, Mutex, MutexGuard};
use crate::{Chunk, Error, FlowRead, FlowWrite, WriteError};

/// Splits `flow` into a read half and a write half that two tasks can use at
/// once: one reads while the other writes, and neither waits for the other.
///
/// The halves share the flow behind a lock that is held only for the
/// duration of one poll call, never across an `.await`, so a pending read
/// never blocks a write (the deadlock of splitting a flow of plain `async fn`s).
///
/// Closing the [`WriteHalf`] follows the contract of `close` without losing
/// data: it flushes and signals the end of writes, then waits until the
/// [`ReadHalf`] has read the remote's end of file (or has been dropped, in
/// which case it discards the remote's data itself). Keep reading the read
/// half while the write half closes.
pub fn split<F: FlowRead + FlowWrite>(flow: F) -> (ReadHalf<F>, WriteHalf<F>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            flow: Box::pin(flow),
            remote_finished: false,
            read_half_alive: true,
            close_waker: None,
        }),
    });
    (
        ReadHalf {
            shared: Arc::clone(&shared),
        },
        WriteHalf {
            shared,
            close: CloseStep::ShutdownWrite,
        },
    )
}

struct Shared<F: ?Sized> {
    state: Mutex<State<F>>,
}

struct State<F: ?Sized> {
    /// Set once the read half saw end of file or an error: the remote's
    /// writes are over, so a close may complete.
    remote_finished: bool,
    read_half_alive: bool,
    close_waker: Option<Waker>,
    flow: Pin<Box<F>>,
}

impl<F: ?Sized> Shared<F> {
    fn lock(&self) -> MutexGuard<'_, State<F>> {
        // A panic in another half's poll leaves the flow as it was between
        // two poll calls, which is a state the flow must handle anyway.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<F: ?Sized> State<F> {
    fn wake_closer(&mut self) {
        if let Some(waker) = self.close_waker.take() {
            waker.wake();
        }
    }
}

/// The read half of a [`split`] flow.
pub struct ReadHalf<F> {
    shared: Arc<Shared<F>>,
}

/// The write half of a [`split`] flow.
pub struct WriteHalf<F> {
    shared: Arc<Shared<F>>,
    close: CloseStep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseStep {
    ShutdownWrite,
    AwaitRemote,
    Close,
    Done,
}

impl<F> ReadHalf<F> {
    /// Whether `other` is the write half split from the same flow.
    pub fn is_pair_of(&self, other: &WriteHalf<F>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<F: Unpin> ReadHalf<F> {
    /// Puts the two halves back together.
    ///
    /// # Errors
    ///
    /// [`ReuniteError`], holding both halves back, when they do not come from
    /// the same [`split`].
    pub fn reunite(self, other: WriteHalf<F>) -> Result<F, ReuniteError<F>> {
        if !self.is_pair_of(&other) {
            return Err(ReuniteError(self, other));
        }
        let shared = Arc::clone(&self.shared);
        drop(self);
        drop(other);
        match Arc::try_unwrap(shared) {
            Ok(shared) => {
                let state = shared.state.into_inner().unwrap_or_else(PoisonError::into_inner);
                Ok(*Pin::into_inner(state.flow))
            }
            // Both halves were dropped above and nothing else holds the Arc.
            Err(_) => unreachable!("a split flow is shared by its two halves only"),
        }
    }
}

impl<F: FlowRead> FlowRead for ReadHalf<F> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let mut state = self.shared.lock();
        let result = ready!(state.flow.as_mut().poll_read(cx));
        if !matches!(result, Ok(Chunk::Data(_))) {
            state.remote_finished = true;
            state.wake_closer();
        }
        Poll::Ready(result)
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.lock().flow.as_mut().poll_shutdown_read(cx)
    }
}

impl<F> Drop for ReadHalf<F> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.read_half_alive = false;
        state.wake_closer();
    }
}

impl<F: FlowWrite> FlowWrite for WriteHalf<F> {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        self.shared.lock().flow.as_mut().poll_write_ready(cx)
    }

    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        self.shared.lock().flow.as_mut().start_write(buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        self.shared.lock().flow.as_mut().poll_flush(cx)
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.lock().flow.as_mut().poll_shutdown_write(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        loop {
            let mut state = this.shared.lock();
            match this.close {
                CloseStep::ShutdownWrite => {
                    ready!(state.flow.as_mut().poll_shutdown_write(cx))?;
                    this.close = CloseStep::AwaitRemote;
                }
                CloseStep::AwaitRemote => {
                    if state.remote_finished || !state.read_half_alive {
                        this.close = CloseStep::Close;
                    } else {
                        state.close_waker = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                }
                CloseStep::Close => {
                    ready!(state.flow.as_mut().poll_close(cx))?;
                    this.close = CloseStep::Done;
                }
                CloseStep::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<F> fmt::Debug for ReadHalf<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadHalf").finish_non_exhaustive()
    }
}

impl<F> fmt::Debug for WriteHalf<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteHalf")
            .field("close", &self.close)
            .finish_non_exhaustive()
    }
}

/// The halves given to [`ReadHalf::reunite`] come from different flows.
#[allow(clippy::exhaustive_structs)] // Both halves, given back: nothing else will ever be in it.
pub struct ReuniteError<F>(pub ReadHalf<F>, pub WriteHalf<F>);

impl<F> fmt::Debug for ReuniteError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReuniteError").finish_non_exhaustive()
    }
}

impl<F> fmt::Display for ReuniteError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same flow")
    }
}

impl<F> std::error::Error for ReuniteError<F> {}
