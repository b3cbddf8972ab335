//! Any tokio or futures-io stream as a flow, through `StreamFlow`.

use std::fmt;
use std::io::{self, IoSlice};
use std::net::Shutdown as NetShutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use flow_socket::{ByteStream, BytesMut, StreamFlow};

/// A tokio `AsyncRead + AsyncWrite` stream as a [`ByteStream`], for
/// [`StreamFlow`]; [`from_tokio`] makes the flow.
///
/// - Reads go straight into the flow's buffer (no zeroing).
/// - Shutting down writing is the stream's `poll_shutdown` (for a socket, a
///   FIN). tokio's traits cannot shut down reading: after `shutdown(Read)`
///   reads return end of file, and the flow keeps reading and discarding
///   what the peer sends whenever it is polled, as [`StreamFlow`] does on
///   TCP (so the peer's writes do not stall).
/// - A broken pipe on write is a [`Reset`](flow_api::ErrorKind::Reset).
#[cfg(feature = "tokio")]
pub struct TokioStream<S> {
    stream: S,
}

/// Any tokio stream as a flow: see [`from_tokio`].
#[cfg(feature = "tokio")]
pub type TokioStreamFlow<S> = StreamFlow<TokioStream<S>>;

/// Makes any tokio `AsyncRead + AsyncWrite` stream (a `tokio::io::duplex`
/// end, a TLS stream from another library, a serial port...) a flow that
/// keeps the contract: non-empty reads and sticky end of file, owned buffers
/// queued and sent with vectored writes, half-close, backpressure, and a
/// graceful close, all from [`StreamFlow`].
///
/// Its close waits for the peer at most
/// [`DEFAULT_CLOSE_TIMEOUT`](flow_socket::DEFAULT_CLOSE_TIMEOUT) (30 s; see
/// [`StreamFlow::set_close_timeout`]), kept by a timer thread unless you
/// give it the runtime's timer with [`StreamFlow::with_timer`]. Bound a
/// single close further with
/// [`close_within`](flow_api::FlowWriteExt::close_within).
///
/// ```
/// use flow_api::prelude::*;
///
/// # fn main() -> Result<(), flow_api::Error> {
/// futures_executor::block_on(async {
///     let (a, b) = tokio::io::duplex(64 * 1024);
///     let (mut a, mut b) = (flow_util::from_tokio(a), flow_util::from_tokio(b));
///     a.write("over a duplex").await?;
///     a.shutdown(Shutdown::Write).await?;
///     assert_eq!(b.read().await?, Chunk::Data(Bytes::from("over a duplex")));
///     assert_eq!(b.read().await?, Chunk::Eof);
///     Ok(())
/// })
/// # }
/// ```
#[cfg(feature = "tokio")]
pub fn from_tokio<S>(stream: S) -> TokioStreamFlow<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    StreamFlow::new(TokioStream { stream })
}

#[cfg(feature = "tokio")]
impl<S> TokioStream<S> {
    /// Wraps `stream`; [`StreamFlow::new`] makes it a flow.
    pub fn new(stream: S) -> Self {
        TokioStream { stream }
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

#[cfg(feature = "tokio")]
impl<S> ByteStream for TokioStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    fn poll_read_buf(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
        tokio_util::io::poll_read_buf(Pin::new(&mut self.stream), cx, buf)
    }

    fn poll_write_vectored(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        if self.stream.is_write_vectored() {
            tokio::io::AsyncWrite::poll_write_vectored(Pin::new(&mut self.stream), cx, bufs)
        } else {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &**b);
            tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.stream), cx, first)
        }
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>, how: NetShutdown) -> Poll<io::Result<()>> {
        match how {
            NetShutdown::Read => Poll::Ready(Ok(())),
            NetShutdown::Write | NetShutdown::Both => {
                tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.stream), cx)
            }
        }
    }
}

#[cfg(feature = "tokio")]
impl<S: fmt::Debug> fmt::Debug for TokioStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioStream").field("stream", &self.stream).finish()
    }
}

/// A futures-io `AsyncRead + AsyncWrite` stream as a [`ByteStream`], for
/// [`StreamFlow`]; [`from_futures_io`] makes the flow.
///
/// - futures-io reads need initialised memory: the flow's buffer is zeroed
///   as far as recent reads used it
///   ([`ZeroedReads`](flow_socket::ZeroedReads)).
/// - Shutting down writing is the stream's `poll_close` (for async-std and
///   smol sockets, a FIN). futures-io cannot shut down reading: after
///   `shutdown(Read)` reads return end of file, and the flow keeps reading
///   and discarding what the peer sends whenever it is polled.
/// - A broken pipe on write is a [`Reset`](flow_api::ErrorKind::Reset).
#[cfg(feature = "futures-io")]
pub struct FuturesIoStream<S> {
    stream: S,
    reads: flow_socket::ZeroedReads,
}

/// Any futures-io stream as a flow: see [`from_futures_io`].
#[cfg(feature = "futures-io")]
pub type FuturesIoStreamFlow<S> = StreamFlow<FuturesIoStream<S>>;

/// Makes any futures-io `AsyncRead + AsyncWrite` stream a flow that keeps
/// the contract, as [`from_tokio`] does for tokio streams, with the same
/// default close deadline.
///
/// ```
/// use flow_api::prelude::*;
/// use flow_util::FlowIo;
///
/// # fn main() -> Result<(), flow_api::Error> {
/// futures_executor::block_on(async {
///     // A flow seen as a futures-io stream, and back.
///     let (a, mut b) = flow_mem::pair();
///     let mut a = flow_util::from_futures_io(FlowIo::new(a));
///     a.write("round trip").await?;
///     assert_eq!(b.read().await?, Chunk::Data(Bytes::from("round trip")));
///     Ok(())
/// })
/// # }
/// ```
#[cfg(feature = "futures-io")]
pub fn from_futures_io<S>(stream: S) -> FuturesIoStreamFlow<S>
where
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin,
{
    StreamFlow::new(FuturesIoStream::new(stream))
}

#[cfg(feature = "futures-io")]
impl<S> FuturesIoStream<S> {
    /// Wraps `stream`; [`StreamFlow::new`] makes it a flow.
    pub fn new(stream: S) -> Self {
        FuturesIoStream {
            stream,
            reads: flow_socket::ZeroedReads::default(),
        }
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

#[cfg(feature = "futures-io")]
impl<S> ByteStream for FuturesIoStream<S>
where
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin,
{
    fn poll_read_buf(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
        let FuturesIoStream { stream, reads } = self;
        reads.read(buf, |spare| {
            futures_io::AsyncRead::poll_read(Pin::new(stream), cx, spare)
        })
    }

    fn poll_write_vectored(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write_vectored(Pin::new(&mut self.stream), cx, bufs)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>, how: NetShutdown) -> Poll<io::Result<()>> {
        match how {
            NetShutdown::Read => Poll::Ready(Ok(())),
            NetShutdown::Write | NetShutdown::Both => {
                futures_io::AsyncWrite::poll_close(Pin::new(&mut self.stream), cx)
            }
        }
    }
}

#[cfg(feature = "futures-io")]
impl<S: fmt::Debug> fmt::Debug for FuturesIoStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FuturesIoStream")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}
