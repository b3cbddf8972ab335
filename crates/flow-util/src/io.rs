//! Any flow as a tokio or futures-io `AsyncRead + AsyncWrite`, or as
//! hyper's `rt::Read + rt::Write`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use flow_api::{Bytes, Chunk, Error, FlowRead, FlowWrite};

/// Any flow as a byte stream of the `std::io` family: tokio's
/// `AsyncRead`/`AsyncWrite`/`AsyncBufRead` (feature `tokio`) and
/// futures-io's (feature `futures-io`), for libraries written against those
/// traits (codecs, `copy`s, tokio-tungstenite), and hyper's `rt::Read` and
/// `rt::Write` (feature `hyper`: hyper's connections on any runtime, with
/// no `TokioIo` in between).
///
/// - Reads copy from the flow's buffer into the caller's; what does not fit
///   is kept for the next read (nothing is lost, and a pending read consumes
///   nothing, so reads stay cancel-safe). End of file is a read of 0 bytes.
///   The `AsyncBufRead` impls lend the flow's buffer itself, without a copy.
/// - Writes copy the caller's slice into a fresh buffer (the traits lend
///   slices; a flow takes ownership) and hand it over: they complete once the
///   flow accepted it, and go out at the next `flush`, as with a `BufWriter`.
///   A vectored write is copied into one buffer. Backpressure carries over:
///   a write waits while the flow has no room.
/// - tokio's and hyper's `poll_shutdown` and futures-io's `poll_close` shut down the
///   flow's write direction (flushing first): the peer reads end of file and
///   reading goes on, as with a socket. To close the flow itself, call
///   [`FlowIo::close_flow`] or take it back with [`FlowIo::into_parts`].
/// - Flow errors become `io::Error`s that give the flow error back
///   (`flow_api::Error::from(io_error)`), kind, context and source.
pub struct FlowIo<F> {
    flow: F,
    rest: Bytes,
}

impl<F> FlowIo<F> {
    /// Wraps `flow`.
    pub fn new(flow: F) -> Self {
        FlowIo {
            flow,
            rest: Bytes::new(),
        }
    }

    /// The flow.
    pub fn get_ref(&self) -> &F {
        &self.flow
    }

    /// The flow, mutably. Reading it directly skips the bytes this adapter
    /// still holds from an earlier read ([`FlowIo::into_parts`] returns them).
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.flow
    }

    /// The flow, and the bytes read from it that were not yet returned.
    pub fn into_parts(self) -> (F, Bytes) {
        (self.flow, self.rest)
    }
}

impl<F: FlowRead + Unpin> FlowIo<F> {
    /// Hands up to `room` buffered bytes to `put` (reading a chunk first
    /// when none is buffered): the read of tokio's `AsyncRead` and hyper's
    /// `rt::Read`. Nothing is read for no room.
    #[cfg(any(feature = "tokio", feature = "hyper"))]
    fn poll_read_into(&mut self, cx: &mut Context<'_>, room: usize, put: impl FnOnce(&[u8])) -> Poll<io::Result<()>> {
        if room == 0 {
            return Poll::Ready(Ok(()));
        }
        ready!(self.poll_fill(cx))?;
        let n = self.rest.len().min(room);
        put(&self.rest[..n]);
        self.rest.advance(n);
        Poll::Ready(Ok(()))
    }

    /// Makes sure `rest` holds data, unless at end of file (then it is empty).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.rest.is_empty() {
            match ready!(Pin::new(&mut self.flow).poll_read(cx)) {
                Ok(Chunk::Data(buf)) => self.rest = buf,
                Ok(Chunk::Eof) => {}
                Err(err) => return Poll::Ready(Err(err.into())),
            }
        }
        Poll::Ready(Ok(()))
    }

    #[cfg(feature = "futures-io")]
    fn poll_read_slice(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(self.poll_fill(cx))?;
        let n = self.rest.len().min(dst.len());
        dst[..n].copy_from_slice(&self.rest[..n]);
        self.rest.advance(n);
        Poll::Ready(Ok(n))
    }
}

impl<F: FlowWrite + Unpin> FlowIo<F> {
    fn poll_write_slices(&mut self, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        ready!(Pin::new(&mut self.flow).poll_write_ready(cx))?;
        let buf = match bufs.iter().find(|b| !b.is_empty()) {
            Some(only) if only.len() == total => Bytes::copy_from_slice(only),
            _ => {
                let mut joined = BytesMut::with_capacity(total);
                for b in bufs {
                    joined.extend_from_slice(b);
                }
                joined.freeze()
            }
        };
        Pin::new(&mut self.flow).start_write(buf)?;
        Poll::Ready(Ok(total))
    }

    fn poll_flush_flow(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.flow).poll_flush(cx).map_err(io::Error::from)
    }

    fn poll_shutdown_flow(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.flow)
            .poll_shutdown_write(cx)
            .map_err(io::Error::from)
    }

    /// Closes the flow gracefully (see [`FlowWrite::poll_close`]): flushes,
    /// signals the end of writes and waits until the peer has finished too.
    /// Not to be confused with futures-io's `close`, which only shuts down
    /// writing. Cancel-safe: calling again resumes.
    ///
    /// # Errors
    ///
    /// As [`FlowWrite::poll_close`].
    pub async fn close_flow(&mut self) -> Result<(), Error> {
        poll_fn(|cx| Pin::new(&mut self.flow).poll_close(cx)).await
    }
}

#[cfg(feature = "tokio")]
impl<F: FlowRead + Unpin> tokio::io::AsyncRead for FlowIo<F> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        let remaining = buf.remaining();
        self.get_mut()
            .poll_read_into(cx, remaining, |bytes| buf.put_slice(bytes))
    }
}

#[cfg(feature = "tokio")]
impl<F: FlowRead + Unpin> tokio::io::AsyncBufRead for FlowIo<F> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        ready!(this.poll_fill(cx))?;
        Poll::Ready(Ok(&this.rest))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.rest.advance(amt.min(this.rest.len()));
    }
}

/// tokio's `AsyncWrite` and hyper's `rt::Write` have the same methods: one
/// body for both.
#[cfg(any(feature = "tokio", feature = "hyper"))]
macro_rules! impl_tokio_like_write {
    ($trait:path) => {
        impl<F: FlowWrite + Unpin> $trait for FlowIo<F> {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                self.get_mut().poll_write_slices(cx, &[io::IoSlice::new(buf)])
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().poll_write_slices(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().poll_flush_flow(cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().poll_shutdown_flow(cx)
            }
        }
    };
}

#[cfg(feature = "tokio")]
impl_tokio_like_write!(tokio::io::AsyncWrite);

#[cfg(feature = "hyper")]
impl<F: FlowRead + Unpin> ::hyper::rt::Read for FlowIo<F> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ::hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let remaining = buf.remaining();
        self.get_mut()
            .poll_read_into(cx, remaining, |bytes| buf.put_slice(bytes))
    }
}

#[cfg(feature = "hyper")]
impl_tokio_like_write!(::hyper::rt::Write);

#[cfg(feature = "futures-io")]
impl<F: FlowRead + Unpin> futures_io::AsyncRead for FlowIo<F> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_slice(cx, buf)
    }
}

#[cfg(feature = "futures-io")]
impl<F: FlowRead + Unpin> futures_io::AsyncBufRead for FlowIo<F> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        ready!(this.poll_fill(cx))?;
        Poll::Ready(Ok(&this.rest))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.rest.advance(amt.min(this.rest.len()));
    }
}

#[cfg(feature = "futures-io")]
impl<F: FlowWrite + Unpin> futures_io::AsyncWrite for FlowIo<F> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_slices(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_slices(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_flow(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown_flow(cx)
    }
}

impl<F: fmt::Debug> fmt::Debug for FlowIo<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowIo")
            .field("flow", &self.flow)
            .field("buffered", &self.rest.len())
            .finish()
    }
}
