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
//! Every flow keeps the contract through [`flow_socket::StreamFlow`]:
//! reads into a reused buffer, vectored writes, a real half-close, resets
//! reported as [`ErrorKind::Reset`](flow_api::ErrorKind::Reset), and a
//! graceful close bounded by a deadline (30 s by default,
//! [`TcpFlow::set_close_timeout`]). New connections have `TCP_NODELAY` set:
//! the flow batches small writes itself (`feed`, `writev`), so Nagle's delay
//! only adds latency.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod tcp;
#[cfg(unix)]
mod unix;

use std::time::Duration;

pub use crate::tcp::{TcpFlow, TcpListener};
#[cfg(unix)]
pub use crate::unix::{UnixFlow, UnixListener};

/// tokio's timer (`tokio::time::sleep`): its sleeps need a tokio runtime with time enabled.
///
/// The flows of this crate use it for their close deadlines; give it to
/// anything else that takes a [`Timer`](flow_api::Timer), such as a TLS
/// handshake deadline.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct TokioTimer;

impl TokioTimer {
    /// The timer, shared.
    pub fn shared() -> std::sync::Arc<dyn flow_api::Timer> {
        std::sync::Arc::new(TokioTimer)
    }
}

impl flow_api::Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> flow_api::Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Defines a newtype over a tokio stream and its [`ByteStream`](flow_socket::ByteStream) impl.
macro_rules! byte_stream {
    ($name:ident, $stream:ty, $broken_pipe:expr) => {
        pub(crate) struct $name(pub(crate) $stream);

        impl flow_socket::ByteStream for $name {
            fn poll_read_buf(
                &mut self,
                cx: &mut std::task::Context<'_>,
                buf: &mut flow_socket::BytesMut,
            ) -> std::task::Poll<std::io::Result<usize>> {
                // Straight into the buffer's spare capacity (no zeroing, no
                // copy), through tokio's own read path, which also skips the
                // next system call when a read shows the socket drained.
                tokio_util::io::poll_read_buf(std::pin::Pin::new(&mut self.0), cx, buf)
            }

            fn poll_write(
                &mut self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                tokio::io::AsyncWrite::poll_write(std::pin::Pin::new(&mut self.0), cx, buf)
            }

            fn poll_write_vectored(
                &mut self,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                tokio::io::AsyncWrite::poll_write_vectored(std::pin::Pin::new(&mut self.0), cx, bufs)
            }

            fn poll_shutdown(
                &mut self,
                _cx: &mut std::task::Context<'_>,
                how: std::net::Shutdown,
            ) -> std::task::Poll<std::io::Result<()>> {
                // The socket's own shutdown: a real FIN for the write side.
                std::task::Poll::Ready(socket2::SockRef::from(&self.0).shutdown(how))
            }

            fn broken_pipe_kind(&self) -> flow_api::ErrorKind {
                $broken_pipe
            }
        }
    };
}
pub(crate) use byte_stream;
