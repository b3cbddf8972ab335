//! The smol backend of the flow contract: TCP and Unix socket flows on
//! async-io, which smol (and async-std) run on.
//!
//! ```no_run
//! use flow_api::prelude::*;
//! use flow_smol::{TcpFlow, TcpListener};
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
//! reads into a reused buffer, vectored writes, a real half-close (async-io's
//! own `close` only flushes and sends no FIN; this crate calls the socket's
//! `shutdown`), resets reported as [`ErrorKind::Reset`](flow_api::ErrorKind::Reset),
//! and a graceful close bounded by a deadline (30 s by default,
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

/// async-io's timer (`async_io::Timer`), the one smol runs: its sleeps run on any executor.
///
/// The flows of this crate use it for their close deadlines; give it to
/// anything else that takes a [`Timer`](flow_api::Timer), such as a TLS
/// handshake deadline.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct SmolTimer;

impl SmolTimer {
    /// The timer, shared.
    pub fn shared() -> std::sync::Arc<dyn flow_api::Timer> {
        std::sync::Arc::new(SmolTimer)
    }
}

impl flow_api::Timer for SmolTimer {
    fn sleep(&self, duration: Duration) -> flow_api::Sleep {
        let timer = async_io::Timer::after(duration);
        Box::pin(async move {
            timer.await;
        })
    }
}

/// Defines a newtype over an async-io socket and its
/// [`ByteStream`](flow_socket::ByteStream) impl.
macro_rules! byte_stream {
    ($name:ident, $socket:ty, $broken_pipe:expr) => {
        pub(crate) struct $name {
            pub(crate) io: std::sync::Arc<async_io::Async<$socket>>,
            reads: flow_socket::ZeroedReads,
            readable: Option<async_io::ReadableOwned<$socket>>,
            writable: Option<async_io::WritableOwned<$socket>>,
        }

        impl $name {
            pub(crate) fn new(io: std::sync::Arc<async_io::Async<$socket>>) -> Self {
                $name {
                    io,
                    reads: flow_socket::ZeroedReads::default(),
                    readable: None,
                    writable: None,
                }
            }

            /// Runs a non-blocking write until it does not block, waiting
            /// for writability in between with a future kept across polls
            /// (as async-net does), so that no readiness event is lost.
            ///
            /// A pending registration is kept until it fires, also when a
            /// later write goes through without it: its waker may belong to
            /// another caller of the flow, parked on it (a TLS flow's writer,
            /// while its read path pushed records), and dropping it would
            /// leave that caller without a wake-up for good. A registration
            /// that fired meanwhile costs one more write attempt.
            fn poll_writing(
                &mut self,
                cx: &mut std::task::Context<'_>,
                mut write: impl FnMut(&$socket) -> std::io::Result<usize>,
            ) -> std::task::Poll<std::io::Result<usize>> {
                loop {
                    match write(self.io.get_ref()) {
                        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                        other => return std::task::Poll::Ready(other),
                    }
                    let io = &self.io;
                    let writable = self
                        .writable
                        .get_or_insert_with(|| std::sync::Arc::clone(io).writable_owned());
                    let result = std::task::ready!(std::future::Future::poll(std::pin::Pin::new(writable), cx));
                    // It fired: the next wait needs a fresh one.
                    self.writable = None;
                    result?;
                }
            }
        }

        impl flow_socket::ByteStream for $name {
            fn poll_read_buf(
                &mut self,
                cx: &mut std::task::Context<'_>,
                buf: &mut flow_socket::BytesMut,
            ) -> std::task::Poll<std::io::Result<usize>> {
                use std::io::Read;
                // As for writes, a pending registration lives until it fires:
                // see `poll_writing`.
                loop {
                    let socket = self.io.get_ref();
                    match self
                        .reads
                        .read(buf, |spare| std::task::Poll::Ready((&*socket).read(spare)))
                    {
                        std::task::Poll::Ready(Err(err)) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                        other => return other,
                    }
                    let io = &self.io;
                    let readable = self
                        .readable
                        .get_or_insert_with(|| std::sync::Arc::clone(io).readable_owned());
                    let result = std::task::ready!(std::future::Future::poll(std::pin::Pin::new(readable), cx));
                    // It fired: the next wait needs a fresh one.
                    self.readable = None;
                    result?;
                }
            }

            fn poll_write(
                &mut self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_writing(cx, |mut socket| std::io::Write::write(&mut socket, buf))
            }

            fn poll_write_vectored(
                &mut self,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_writing(cx, |mut socket| std::io::Write::write_vectored(&mut socket, bufs))
            }

            fn poll_shutdown(
                &mut self,
                _cx: &mut std::task::Context<'_>,
                how: std::net::Shutdown,
            ) -> std::task::Poll<std::io::Result<()>> {
                // The socket's own shutdown: a real FIN for the write side.
                std::task::Poll::Ready(self.io.get_ref().shutdown(how))
            }

            fn broken_pipe_kind(&self) -> flow_api::ErrorKind {
                $broken_pipe
            }
        }
    };
}
pub(crate) use byte_stream;
