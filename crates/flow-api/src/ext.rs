//! The async methods users call, as extension traits over the poll-based core.
//!
//! Each method returns a named future, `Send` whenever the flow is, so that
//! generic code can be spawned on multi-threaded runtimes.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;

use crate::split::{ReadHalf, WriteHalf, split};
use crate::{BoxFlow, Chunk, Error, ErrorKind, Flow, FlowRead, FlowWrite, Shutdown, WriteError};

/// Async reads, for every [`FlowRead`].
pub trait FlowReadExt: FlowRead {
    /// Reads the next chunk: a fresh buffer of at least one byte, or
    /// [`Chunk::Eof`].
    ///
    /// Cancel-safe: dropping the future before it completes loses no data.
    ///
    /// # Errors
    ///
    /// As [`FlowRead::poll_read`].
    fn read(&mut self) -> ReadFuture<'_, Self>
    where
        Self: Unpin,
    {
        ReadFuture { flow: self }
    }

    /// Stops reading, as [`FlowRead::poll_shutdown_read`] says: what a read
    /// half has for `shutdown(Shutdown::Read)`. Cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`FlowRead::poll_shutdown_read`].
    fn shutdown_read(&mut self) -> ShutdownReadFuture<'_, Self>
    where
        Self: Unpin,
    {
        ShutdownReadFuture { flow: self }
    }
}

impl<T: FlowRead + ?Sized> FlowReadExt for T {}

/// Async writes, for every [`FlowWrite`].
pub trait FlowWriteExt: FlowWrite {
    /// Writes `buf` and flushes it: completes once the flow has accepted the
    /// whole buffer and pushed it to its transport. The buffer is handed over
    /// (no copy where the backend can avoid one); anything that converts into
    /// [`Bytes`] works (`Vec<u8>`, `&'static str`, ...).
    ///
    /// A zero-length write succeeds at once and sends nothing. Not
    /// cancel-safe: see the crate docs.
    ///
    /// # Errors
    ///
    /// [`WriteError::Closed`] after `shutdown(Write)` or close; a transport
    /// failure otherwise.
    fn write(&mut self, buf: impl Into<Bytes>) -> WriteFuture<'_, Self>
    where
        Self: Unpin,
    {
        WriteFuture {
            flow: self,
            buf: Some(buf.into()),
            flush: true,
        }
    }

    /// Hands `buf` over without flushing, waiting for room first: buffers fed
    /// one after the other go out together at the next flush.
    ///
    /// # Errors
    ///
    /// As [`write`](FlowWriteExt::write).
    fn feed(&mut self, buf: impl Into<Bytes>) -> FeedFuture<'_, Self>
    where
        Self: Unpin,
    {
        WriteFuture {
            flow: self,
            buf: Some(buf.into()),
            flush: false,
        }
    }

    /// Writes a sequence of buffers, in order, as if they were concatenated,
    /// then flushes once. Empty buffers are skipped; an empty sequence
    /// succeeds.
    ///
    /// # Errors
    ///
    /// As [`write`](FlowWriteExt::write).
    fn writev<I>(&mut self, bufs: I) -> WritevFuture<'_, Self, I::IntoIter>
    where
        Self: Unpin,
        I: IntoIterator<Item = Bytes>,
    {
        WritevFuture {
            flow: self,
            bufs: bufs.into_iter(),
            next: None,
        }
    }

    /// Pushes every buffer handed over so far to the transport. Cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`FlowWrite::poll_flush`].
    fn flush(&mut self) -> FlushFuture<'_, Self>
    where
        Self: Unpin,
    {
        FlushFuture { flow: self }
    }

    /// Closes the flow gracefully, as [`FlowWrite::poll_close`] says.
    /// Cancel-safe: calling it again resumes.
    ///
    /// # Errors
    ///
    /// As [`FlowWrite::poll_close`].
    fn close(&mut self) -> CloseFuture<'_, Self>
    where
        Self: Unpin,
    {
        CloseFuture { flow: self }
    }

    /// Flushes and signals the end of writes, as
    /// [`FlowWrite::poll_shutdown_write`] says: what a write half has for
    /// `shutdown(Shutdown::Write)`. Cancel-safe: calling it again resumes.
    ///
    /// # Errors
    ///
    /// As [`FlowWrite::poll_shutdown_write`].
    fn shutdown_write(&mut self) -> ShutdownWriteFuture<'_, Self>
    where
        Self: Unpin,
    {
        ShutdownWriteFuture { flow: self }
    }

    /// Closes the flow gracefully, giving up when `deadline` completes first.
    ///
    /// `deadline` is any future: a runtime's sleep, for example
    /// `tokio::time::sleep(Duration::from_secs(5))`. On time-out the flow is
    /// left half-closed at best; drop it to release it (for sockets, that
    /// aborts the connection).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`] when the deadline came first; otherwise as
    /// [`close`](FlowWriteExt::close).
    fn close_within<D>(&mut self, deadline: D) -> CloseWithin<'_, Self, D>
    where
        Self: Unpin,
        D: Future<Output = ()>,
    {
        CloseWithin {
            flow: self,
            deadline: Box::pin(deadline),
        }
    }
}

impl<T: FlowWrite + ?Sized> FlowWriteExt for T {}

/// Whole-flow conveniences, for every [`Flow`].
pub trait FlowExt: Flow {
    /// Shuts down one direction or both, as [`Shutdown`] says. Cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`FlowRead::poll_shutdown_read`] and [`FlowWrite::poll_shutdown_write`].
    fn shutdown(&mut self, how: Shutdown) -> ShutdownFuture<'_, Self>
    where
        Self: Unpin,
    {
        ShutdownFuture {
            flow: self,
            how,
            write_done: false,
        }
    }

    /// Splits the flow into a read half and a write half that can be used
    /// from two tasks at once. See [`split`].
    fn split(self) -> (ReadHalf<Self>, WriteHalf<Self>)
    where
        Self: Sized,
    {
        split(self)
    }

    /// Erases the flow's type, for choosing a transport at run time.
    fn boxed<'a>(self) -> BoxFlow<'a>
    where
        Self: Sized + Send + 'a,
    {
        Box::pin(self)
    }
}

impl<T: Flow + ?Sized> FlowExt for T {}

/// Future of [`FlowReadExt::read`].
#[must_use = "futures do nothing unless polled"]
pub struct ReadFuture<'a, F: ?Sized> {
    flow: &'a mut F,
}

impl<F: FlowRead + Unpin + ?Sized> Future for ReadFuture<'_, F> {
    type Output = Result<Chunk, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.flow).poll_read(cx)
    }
}

/// Future of [`FlowWriteExt::write`] and [`FlowWriteExt::feed`].
#[must_use = "futures do nothing unless polled"]
pub struct WriteFuture<'a, F: ?Sized> {
    flow: &'a mut F,
    buf: Option<Bytes>,
    flush: bool,
}

/// Future of [`FlowWriteExt::feed`]: a write that does not flush.
pub type FeedFuture<'a, F> = WriteFuture<'a, F>;

impl<F: FlowWrite + Unpin + ?Sized> Future for WriteFuture<'_, F> {
    type Output = Result<(), WriteError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Some(buf) = this.buf.take() {
            if buf.is_empty() {
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut *this.flow).poll_write_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => {
                    this.buf = Some(buf);
                    return Poll::Pending;
                }
            }
            Pin::new(&mut *this.flow).start_write(buf)?;
        }
        if this.flush {
            Pin::new(&mut *this.flow).poll_flush(cx)
        } else {
            Poll::Ready(Ok(()))
        }
    }
}

/// Future of [`FlowWriteExt::writev`].
#[must_use = "futures do nothing unless polled"]
pub struct WritevFuture<'a, F: ?Sized, I> {
    flow: &'a mut F,
    bufs: I,
    next: Option<Bytes>,
}

impl<F, I> Future for WritevFuture<'_, F, I>
where
    F: FlowWrite + Unpin + ?Sized,
    I: Iterator<Item = Bytes> + Unpin,
{
    type Output = Result<(), WriteError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            let buf = match this.next.take() {
                Some(buf) => buf,
                None => match this.bufs.by_ref().find(|buf| !buf.is_empty()) {
                    Some(buf) => buf,
                    None => return Pin::new(&mut *this.flow).poll_flush(cx),
                },
            };
            match Pin::new(&mut *this.flow).poll_write_ready(cx) {
                Poll::Ready(Ok(())) => Pin::new(&mut *this.flow).start_write(buf)?,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => {
                    this.next = Some(buf);
                    return Poll::Pending;
                }
            }
        }
    }
}

/// Future of [`FlowWriteExt::flush`].
#[must_use = "futures do nothing unless polled"]
pub struct FlushFuture<'a, F: ?Sized> {
    flow: &'a mut F,
}

impl<F: FlowWrite + Unpin + ?Sized> Future for FlushFuture<'_, F> {
    type Output = Result<(), WriteError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.flow).poll_flush(cx)
    }
}

/// Future of [`FlowReadExt::shutdown_read`].
#[must_use = "futures do nothing unless polled"]
pub struct ShutdownReadFuture<'a, F: ?Sized> {
    flow: &'a mut F,
}

impl<F: FlowRead + Unpin + ?Sized> Future for ShutdownReadFuture<'_, F> {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.flow).poll_shutdown_read(cx)
    }
}

/// Future of [`FlowWriteExt::shutdown_write`].
#[must_use = "futures do nothing unless polled"]
pub struct ShutdownWriteFuture<'a, F: ?Sized> {
    flow: &'a mut F,
}

impl<F: FlowWrite + Unpin + ?Sized> Future for ShutdownWriteFuture<'_, F> {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.flow).poll_shutdown_write(cx)
    }
}

/// Future of [`FlowWriteExt::close`].
#[must_use = "futures do nothing unless polled"]
pub struct CloseFuture<'a, F: ?Sized> {
    flow: &'a mut F,
}

impl<F: FlowWrite + Unpin + ?Sized> Future for CloseFuture<'_, F> {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.flow).poll_close(cx)
    }
}

/// Future of [`FlowWriteExt::close_within`].
#[must_use = "futures do nothing unless polled"]
pub struct CloseWithin<'a, F: ?Sized, D> {
    flow: &'a mut F,
    deadline: Pin<Box<D>>,
}

impl<F, D> Future for CloseWithin<'_, F, D>
where
    F: FlowWrite + Unpin + ?Sized,
    D: Future<Output = ()>,
{
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Poll::Ready(result) = Pin::new(&mut *this.flow).poll_close(cx) {
            return Poll::Ready(result);
        }
        ready!(this.deadline.as_mut().poll(cx));
        Poll::Ready(Err(
            Error::new(ErrorKind::TimedOut).context("close: the peer did not close before the deadline")
        ))
    }
}

/// Future of [`FlowExt::shutdown`].
#[must_use = "futures do nothing unless polled"]
pub struct ShutdownFuture<'a, F: ?Sized> {
    flow: &'a mut F,
    how: Shutdown,
    write_done: bool,
}

impl<F: Flow + Unpin + ?Sized> Future for ShutdownFuture<'_, F> {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if matches!(this.how, Shutdown::Write | Shutdown::Both) && !this.write_done {
            ready!(Pin::new(&mut *this.flow).poll_shutdown_write(cx))?;
            this.write_done = true;
        }
        if matches!(this.how, Shutdown::Read | Shutdown::Both) {
            ready!(Pin::new(&mut *this.flow).poll_shutdown_read(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}

macro_rules! debug_future {
    ($($name:ident),*) => {$(
        impl<F: ?Sized> fmt::Debug for $name<'_, F> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}

debug_future!(
    ReadFuture,
    WriteFuture,
    FlushFuture,
    CloseFuture,
    ShutdownFuture,
    ShutdownReadFuture,
    ShutdownWriteFuture
);

impl<F: ?Sized, I> fmt::Debug for WritevFuture<'_, F, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WritevFuture").finish_non_exhaustive()
    }
}

impl<F: ?Sized, D> fmt::Debug for CloseWithin<'_, F, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloseWithin").finish_non_exhaustive()
    }
}
