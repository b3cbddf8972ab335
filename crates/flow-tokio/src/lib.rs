//! The tokio backend of the flow contract: TCP and Unix socket flows.
//!
//! ```no_run
//! use flow_api::prelude::*;
//! use flow_tokio::{TcpFlow, TcpListener};
//!
//! # async fn demo() -> Result<(), flow_api::Error> {
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let mut client = TcpFlow::connect(listener.local_addr()?).await?;
//! let (mut server, _peer) = listener.accept().await?;
//! client.write("ping").await?;
//! client.shutdown(Shutdown::Write).await?; // a real FIN
//! assert_eq!(server.read().await?, Chunk::Data(Bytes::from("ping")));
//! assert_eq!(server.read().await?, Chunk::Eof);
//! # Ok(())
//! # }
//! ```
//!
//! The flows and listeners are flow-socket's, written once for every
//! runtime ([`flow_socket::TcpFlow`] and the others) over [`Tokio`], this
//! crate's [`Runtime`]: reads into a reused buffer,
//! vectored writes, a real half-close, resets reported as
//! [`ErrorKind::Reset`], and a graceful close
//! bounded by a deadline (30 s by default,
//! [`set_close_timeout`](flow_socket::TcpFlow::set_close_timeout)). New
//! connections have `TCP_NODELAY` set: the flow batches small writes itself
//! (`feed`, `writev`), so Nagle's delay only adds latency.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use flow_api::ErrorKind;
use flow_socket::{ByteStream, BytesMut, Runtime};
#[cfg(unix)]
use flow_socket::{RawOp, Readiness, ReadyIo};

/// A TCP connection as a flow, on tokio.
pub type TcpFlow = flow_socket::TcpFlow<Tokio>;
/// Accepts TCP connections as flows, on tokio.
pub type TcpListener = flow_socket::TcpListener<Tokio>;
/// The read half of a [`TcpFlow`] split with [`into_split`](TcpFlow::into_split).
pub type TcpReadHalf = flow_socket::TcpReadHalf<Tokio>;
/// The write half of a [`TcpFlow`] split with [`into_split`](TcpFlow::into_split).
pub type TcpWriteHalf = flow_socket::TcpWriteHalf<Tokio>;
/// A Unix domain stream socket as a flow, on tokio.
#[cfg(unix)]
pub type UnixFlow = flow_socket::UnixFlow<Tokio>;
/// Accepts Unix domain socket connections as flows, on tokio.
#[cfg(unix)]
pub type UnixListener = flow_socket::UnixListener<Tokio>;
/// The read half of a [`UnixFlow`] split with [`into_split`](UnixFlow::into_split).
#[cfg(unix)]
pub type UnixReadHalf = flow_socket::UnixReadHalf<Tokio>;
/// The write half of a [`UnixFlow`] split with [`into_split`](UnixFlow::into_split).
#[cfg(unix)]
pub type UnixWriteHalf = flow_socket::UnixWriteHalf<Tokio>;

/// tokio's timer (`tokio::time::sleep`): its sleeps need a tokio runtime
/// with time enabled.
///
/// The flows of this crate use it for their close deadlines; give it to
/// anything else that takes a [`Timer`](flow_api::Timer), such as a TLS
/// handshake deadline.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct TokioTimer;

impl TokioTimer {
    /// The timer, shared.
    pub fn shared() -> Arc<dyn flow_api::Timer> {
        Arc::new(TokioTimer)
    }
}

impl flow_api::Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> flow_api::Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// tokio's sockets, for flow-socket's flows. Its functions need a tokio
/// runtime (with I/O enabled) to be running, as tokio's own do.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Tokio;

/// A tokio socket, as a flow's engine uses it; it dereferences to the
/// tokio stream (`flow.get_ref().peer_addr()`).
#[derive(Debug)]
pub struct TokioSocket<S>(S);

impl<S> TokioSocket<S> {
    /// The tokio stream.
    pub fn into_inner(self) -> S {
        self.0
    }
}

impl<S> Deref for TokioSocket<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.0
    }
}

impl<S: std::os::fd::AsFd> std::os::fd::AsFd for TokioSocket<S> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// What a broken pipe on write means on this kind of socket.
trait BrokenPipe {
    const BROKEN_PIPE: ErrorKind;
}

impl BrokenPipe for tokio::net::TcpStream {
    const BROKEN_PIPE: ErrorKind = ErrorKind::Reset;
}

#[cfg(unix)]
impl BrokenPipe for tokio::net::UnixStream {
    const BROKEN_PIPE: ErrorKind = ErrorKind::Closed;
}

impl<S> ByteStream for TokioSocket<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + std::os::fd::AsFd + BrokenPipe + Unpin,
{
    fn poll_read_buf(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
        // Straight into the buffer's spare capacity (no zeroing, no copy),
        // through tokio's own read path, which also skips the next system
        // call when a read shows the socket drained.
        tokio_util::io::poll_read_buf(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_write_vectored(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write_vectored(Pin::new(&mut self.0), cx, bufs)
    }

    fn poll_shutdown(&mut self, _cx: &mut Context<'_>, how: std::net::Shutdown) -> Poll<io::Result<()>> {
        // The socket's own shutdown: a real FIN for the write side.
        Poll::Ready(socket2::SockRef::from(&self.0).shutdown(how))
    }

    fn broken_pipe_kind(&self) -> ErrorKind {
        S::BROKEN_PIPE
    }

    fn runtime_timer() -> Option<Arc<dyn flow_api::Timer>> {
        Some(TokioTimer::shared())
    }
}

/// tokio's readiness calls, on both of its stream sockets.
#[cfg(unix)]
trait TokioReady: std::os::fd::AsFd {
    fn poll_ready(&self, cx: &mut Context<'_>, readiness: Readiness) -> Poll<io::Result<()>>;
    fn try_io_with(&self, interest: tokio::io::Interest, op: impl FnOnce() -> io::Result<usize>) -> io::Result<usize>;
}

#[cfg(unix)]
macro_rules! tokio_ready {
    ($ty:ty) => {
        impl TokioReady for $ty {
            fn poll_ready(&self, cx: &mut Context<'_>, readiness: Readiness) -> Poll<io::Result<()>> {
                match readiness {
                    Readiness::Read => self.poll_read_ready(cx),
                    Readiness::Write => self.poll_write_ready(cx),
                }
            }

            fn try_io_with(
                &self,
                interest: tokio::io::Interest,
                op: impl FnOnce() -> io::Result<usize>,
            ) -> io::Result<usize> {
                self.try_io(interest, op)
            }
        }
    };
}

#[cfg(unix)]
tokio_ready!(tokio::net::TcpStream);
#[cfg(unix)]
tokio_ready!(tokio::net::UnixStream);

/// Raw operations (a relay's `splice`) on tokio's reactor: wait for the
/// readiness tokio has recorded, run the call, and clear the readiness
/// when the call would block (`try_io`), so that no event is lost.
#[cfg(unix)]
impl<S: TokioReady> ReadyIo for TokioSocket<S> {
    fn supports_ready_io(&self) -> bool {
        true
    }

    fn poll_ready_io(&mut self, cx: &mut Context<'_>, readiness: Readiness, op: RawOp<'_>) -> Poll<io::Result<usize>> {
        let interest = match readiness {
            Readiness::Read => tokio::io::Interest::READABLE,
            Readiness::Write => tokio::io::Interest::WRITABLE,
        };
        loop {
            std::task::ready!(self.0.poll_ready(cx, readiness))?;
            let fd = self.0.as_fd();
            match self.0.try_io_with(interest, || op(fd)) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
        }
    }
}

impl Runtime for Tokio {
    type Tcp = TokioSocket<tokio::net::TcpStream>;
    type TcpListener = tokio::net::TcpListener;
    #[cfg(unix)]
    type Unix = TokioSocket<tokio::net::UnixStream>;
    #[cfg(unix)]
    type UnixListener = tokio::net::UnixListener;

    fn timer() -> Option<Arc<dyn flow_api::Timer>> {
        Some(TokioTimer::shared())
    }

    async fn resolve(addr: String) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host(addr).await?.collect())
    }

    async fn connect_tcp(addr: SocketAddr) -> io::Result<Self::Tcp> {
        Ok(TokioSocket(tokio::net::TcpStream::connect(addr).await?))
    }

    fn tcp_stream(stream: std::net::TcpStream) -> io::Result<Self::Tcp> {
        Ok(TokioSocket(tokio::net::TcpStream::from_std(stream)?))
    }

    fn tcp_listener(listener: std::net::TcpListener) -> io::Result<Self::TcpListener> {
        tokio::net::TcpListener::from_std(listener)
    }

    fn poll_accept_tcp(
        listener: &Self::TcpListener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Tcp, SocketAddr)>> {
        listener
            .poll_accept(cx)
            .map_ok(|(stream, peer)| (TokioSocket(stream), peer))
    }

    #[cfg(unix)]
    async fn connect_unix(path: std::path::PathBuf) -> io::Result<Self::Unix> {
        Ok(TokioSocket(tokio::net::UnixStream::connect(path).await?))
    }

    #[cfg(unix)]
    fn unix_stream(stream: std::os::unix::net::UnixStream) -> io::Result<Self::Unix> {
        Ok(TokioSocket(tokio::net::UnixStream::from_std(stream)?))
    }

    #[cfg(unix)]
    fn unix_listener(listener: std::os::unix::net::UnixListener) -> io::Result<Self::UnixListener> {
        tokio::net::UnixListener::from_std(listener)
    }

    #[cfg(unix)]
    fn poll_accept_unix(listener: &Self::UnixListener, cx: &mut Context<'_>) -> Poll<io::Result<Self::Unix>> {
        listener.poll_accept(cx).map_ok(|(stream, _)| TokioSocket(stream))
    }
}
