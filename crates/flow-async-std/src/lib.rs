//! The async-std backend of the flow contract: TCP and Unix socket flows.
//!
//! **async-std is discontinued upstream** (2025; RustSec lists it as
//! unmaintained). This crate is kept thin for programs that still run on
//! it; new code should use `flow-smol` (smol is what async-std was built
//! on, and its flows behave the same).
//!
//! ```no_run
//! use flow_api::prelude::*;
//! use flow_async_std::{TcpFlow, TcpListener};
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
//! Every flow keeps the contract through [`flow_socket::StreamFlow`].
//! async-std's own `close` only flushes and sends no FIN: this crate's
//! `shutdown(Write)` calls the socket's `shutdown`, so the peer reads end of
//! file. Resets are [`ErrorKind::Reset`](flow_api::ErrorKind::Reset), and
//! close is bounded by a deadline (30 s by default,
//! [`TcpFlow::set_close_timeout`]). New connections have `TCP_NODELAY` set.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod tcp;
#[cfg(unix)]
mod unix;

use std::time::Duration;

pub use crate::tcp::{TcpFlow, TcpListener};
#[cfg(unix)]
pub use crate::unix::{UnixFlow, UnixListener};

/// async-std's timer (`async_std::task::sleep`).
///
/// The flows of this crate use it for their close deadlines; give it to
/// anything else that takes a [`Timer`](flow_api::Timer), such as a TLS
/// handshake deadline.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct AsyncStdTimer;

impl AsyncStdTimer {
    /// The timer, shared.
    pub fn shared() -> std::sync::Arc<dyn flow_api::Timer> {
        std::sync::Arc::new(AsyncStdTimer)
    }
}

impl flow_api::Timer for AsyncStdTimer {
    fn sleep(&self, duration: Duration) -> flow_api::Sleep {
        Box::pin(async_std::task::sleep(duration))
    }
}

/// Defines a newtype over an async-std stream and its
/// [`ByteStream`](flow_socket::ByteStream) impl, through the stream's
/// own `futures-io` implementation.
macro_rules! byte_stream {
    ($name:ident, $stream:ty, $broken_pipe:expr) => {
        pub(crate) struct $name {
            pub(crate) stream: $stream,
            reads: flow_socket::ZeroedReads,
        }

        impl $name {
            pub(crate) fn new(stream: $stream) -> Self {
                $name {
                    stream,
                    reads: flow_socket::ZeroedReads::default(),
                }
            }
        }

        impl flow_socket::ByteStream for $name {
            fn poll_read_buf(
                &mut self,
                cx: &mut std::task::Context<'_>,
                buf: &mut flow_socket::BytesMut,
            ) -> std::task::Poll<std::io::Result<usize>> {
                let stream = &mut self.stream;
                self.reads.read(buf, |spare| {
                    futures_io::AsyncRead::poll_read(std::pin::Pin::new(stream), cx, spare)
                })
            }

            fn poll_write(
                &mut self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                futures_io::AsyncWrite::poll_write(std::pin::Pin::new(&mut self.stream), cx, buf)
            }

            fn poll_write_vectored(
                &mut self,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                futures_io::AsyncWrite::poll_write_vectored(std::pin::Pin::new(&mut self.stream), cx, bufs)
            }

            fn poll_shutdown(
                &mut self,
                _cx: &mut std::task::Context<'_>,
                how: std::net::Shutdown,
            ) -> std::task::Poll<std::io::Result<()>> {
                // The socket's own shutdown: a real FIN for the write side.
                std::task::Poll::Ready(self.stream.shutdown(how))
            }

            fn broken_pipe_kind(&self) -> flow_api::ErrorKind {
                $broken_pipe
            }
        }
    };
}
pub(crate) use byte_stream;
