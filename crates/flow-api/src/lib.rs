//! The flow contract: runtime-agnostic async byte streams with owned buffers.
//!
//! A *flow* is a reliable, ordered, bidirectional byte stream connected to
//! one endpoint, as MirageOS's `Mirage_flow` defines it. Protocol code written
//! against these traits runs unchanged over TCP on tokio, smol or async-std,
//! TLS over any flow, or an in-memory pair in tests.
//!
//! - [`FlowRead::poll_read`] yields a fresh [`Bytes`] of at least one byte,
//!   or [`Chunk::Eof`]: never an empty buffer.
//! - [`FlowWrite`] takes ownership of buffers, sink-style: wait until the flow
//!   is [ready](FlowWrite::poll_write_ready), [hand a buffer over](FlowWrite::start_write),
//!   [flush](FlowWrite::poll_flush).
//! - Half-close with [`FlowRead::poll_shutdown_read`] and
//!   [`FlowWrite::poll_shutdown_write`]; a graceful [close](FlowWrite::poll_close)
//!   that flushes, signals the end of writes and completes once the remote has
//!   finished too.
//! - Errors that programs branch on: [`ErrorKind`], with [`WriteError::Closed`]
//!   distinct for writes.
//!
//! The poll methods are for implementers. Users call the async methods of
//! [`FlowReadExt`], [`FlowWriteExt`] and [`FlowExt`], all in the [`prelude`]:
//!
//! ```
//! use flow_api::prelude::*;
//!
//! /// Sends a request and reads the whole reply, over any flow.
//! async fn ask<F: Flow + Unpin>(flow: &mut F) -> Result<Vec<u8>, flow_api::Error> {
//!     flow.write("PING\r\n").await?;
//!     flow.shutdown(Shutdown::Write).await?;
//!     let mut reply = Vec::new();
//!     while let Chunk::Data(bytes) = flow.read().await? {
//!         reply.extend_from_slice(&bytes);
//!     }
//!     Ok(reply)
//! }
//! ```
//!
//! The full contract, clause by clause with the conformance test that checks
//! each, is in `docs/contract.md` at the root of the repository.
//!
//! # Cancel safety
//!
//! | operation | cancel-safe? |
//! |---|---|
//! | [`read`](FlowReadExt::read) | yes: a read dropped before it completes has consumed nothing |
//! | [`write`](FlowWriteExt::write), [`feed`](FlowWriteExt::feed) | the buffer is either not taken at all or taken whole (then a later flush or close sends it); which one is not reported |
//! | [`writev`](FlowWriteExt::writev) | a prefix of the buffers may have been taken whole, as for `write` |
//! | [`flush`](FlowWriteExt::flush), [`shutdown`](FlowExt::shutdown), [`close`](FlowWriteExt::close) | yes: calling again resumes where the dropped call stopped |

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, clippy::exhaustive_structs)]

mod error;
mod ext;
mod queue;
mod split;
mod sync;
mod time;

use std::ops::DerefMut;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use bytes::Bytes;

pub use crate::error::{Error, ErrorKind, WriteError};
pub use crate::ext::{
    CloseFuture, CloseWithin, FeedFuture, FlowExt, FlowReadExt, FlowWriteExt, FlushFuture, ReadFuture, ShutdownFuture,
    ShutdownReadFuture, ShutdownWriteFuture, WriteFuture, WritevFuture,
};
pub use crate::queue::{IntoInnerError, WriteQueue, WriteState};
pub use crate::split::{ReadHalf, ReuniteError, WriteHalf, split};
pub use crate::time::{Sleep, Timer};

/// The traits and types protocol code needs, in one import.
pub mod prelude {
    pub use crate::{
        Bytes, Chunk, Error, ErrorKind, Flow, FlowExt, FlowRead, FlowReadExt, FlowWrite, FlowWriteExt, Shutdown,
        WriteError,
    };
}

/// The outcome of a successful read: data, or the end of the stream.
///
/// `Data` always holds at least one byte; a conforming flow never returns an
/// empty buffer. `Eof` is explicit and sticky: once a flow returned it, later
/// reads return it again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Chunk {
    /// A fresh buffer of at least one byte. The reader owns it.
    Data(Bytes),
    /// The peer finished writing and every byte it wrote has been read.
    Eof,
}

impl Chunk {
    /// The data, or `None` at end of file.
    pub fn into_data(self) -> Option<Bytes> {
        match self {
            Chunk::Data(bytes) => Some(bytes),
            Chunk::Eof => None,
        }
    }

    /// Whether this is the end of the stream.
    pub fn is_eof(&self) -> bool {
        matches!(self, Chunk::Eof)
    }
}

/// Which direction of a flow to shut down (`read | write | read_write` in
/// mirage-flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shutdown {
    /// Stop reading: later local reads return [`Chunk::Eof`].
    Read,
    /// Flush, then signal the end of writes: the peer reads the data in
    /// flight, then end of file. Later local writes fail with
    /// [`WriteError::Closed`]. Reading goes on.
    Write,
    /// Both of the above.
    Both,
}

/// The read side of a flow.
///
/// Implementers write the poll methods; users call [`FlowReadExt::read`].
pub trait FlowRead {
    /// Attempts to read the next chunk.
    ///
    /// Returns a fresh buffer of at least one byte, or [`Chunk::Eof`] once the
    /// peer has finished writing and every byte in flight has been delivered.
    /// End of file is sticky. After a local [`Shutdown::Read`] or a close, it
    /// returns `Eof`.
    ///
    /// `Poll::Pending` means no data is available yet; the waker in `cx` is
    /// woken when that may have changed. Returning `Pending` must not consume
    /// data: this is what makes reads cancel-safe.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Reset`] when the peer aborted, [`ErrorKind::Truncated`]
    /// when the stream ended without its proper end (TLS without
    /// `close_notify`), and backend-specific failures.
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>>;

    /// Attempts to shut down the read direction: later reads return
    /// [`Chunk::Eof`], and what the peer sends afterwards is discarded.
    /// Shutting down twice is a no-op.
    ///
    /// # Errors
    ///
    /// A backend failure while shutting down.
    fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;
}

/// The write side of a flow: owned buffers, sink-style.
///
/// A write is three steps: wait until [`poll_write_ready`](FlowWrite::poll_write_ready)
/// says the flow has room, hand the buffer over with
/// [`start_write`](FlowWrite::start_write), and eventually
/// [`poll_flush`](FlowWrite::poll_flush). Several buffers handed over before
/// one flush go out together (one vectored system call on sockets).
/// Implementers write the poll methods; users call [`FlowWriteExt`].
pub trait FlowWrite {
    /// Attempts to get room for one more buffer.
    ///
    /// A flow with bounded buffers returns `Pending` while they are full
    /// (backpressure), flushing what it holds.
    ///
    /// # Errors
    ///
    /// [`WriteError::Closed`] once the write direction is shut down or the
    /// flow closed; other failures as [`WriteError::Flow`].
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>>;

    /// Hands `buf` over to the flow, which takes it whole.
    ///
    /// Call it after [`poll_write_ready`](FlowWrite::poll_write_ready)
    /// returned `Ready(Ok(()))`; a flow accepts a buffer even without that,
    /// going over its bound by at most that buffer. An empty buffer is
    /// accepted and sends nothing. The data goes out no later than the next
    /// successful flush, shutdown or close.
    ///
    /// # Errors
    ///
    /// [`WriteError::Closed`] once the write direction is shut down or the
    /// flow closed; the buffer is then not sent.
    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError>;

    /// Attempts to push every buffer handed over so far to the transport.
    ///
    /// # Errors
    ///
    /// [`WriteError::Closed`] or the transport's failure.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>>;

    /// Attempts to shut down the write direction: flushes, then signals the
    /// end of writes, so the peer reads the data in flight, then end of file.
    /// Reading goes on. Shutting down twice is a no-op.
    ///
    /// # Errors
    ///
    /// A failure while flushing or signalling the end of writes.
    fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;

    /// Attempts to close the flow gracefully (the seed's `close`).
    ///
    /// Flushes, signals the end of writes, then waits until the remote has
    /// finished its writes too; data the remote sends meanwhile is discarded
    /// (read it through a [`ReadHalf`] to keep it, see [`split`]). When it
    /// completes, nothing can flow either way and resources are freed. Later
    /// writes fail with [`WriteError::Closed`], later reads return
    /// [`Chunk::Eof`], and closing again succeeds at once.
    ///
    /// A peer that never closes keeps this pending: bound it with
    /// [`FlowWriteExt::close_within`], or rely on the backend's linger
    /// deadline where it documents one.
    ///
    /// # Errors
    ///
    /// A failure while flushing or signalling the end of writes, or the peer
    /// aborting while we wait ([`ErrorKind::Reset`]).
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;
}

/// A full flow: both directions. Implemented for every type that is
/// [`FlowRead`] and [`FlowWrite`]; object-safe, so `Box<dyn Flow + Send>` (or
/// [`BoxFlow`]) picks a transport at run time.
pub trait Flow: FlowRead + FlowWrite {}

impl<T: FlowRead + FlowWrite + ?Sized> Flow for T {}

/// A type-erased flow, for choosing the transport at run time.
pub type BoxFlow<'a> = Pin<Box<dyn Flow + Send + 'a>>;

macro_rules! deref_flow {
    ($ty:ty, $($gen:tt)*) => {
        impl<$($gen)*> FlowRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
                Pin::new(&mut **self.get_mut()).poll_read(cx)
            }
            fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                Pin::new(&mut **self.get_mut()).poll_shutdown_read(cx)
            }
        }
    };
}

macro_rules! deref_flow_write {
    ($ty:ty, $($gen:tt)*) => {
        impl<$($gen)*> FlowWrite for $ty {
            fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
                Pin::new(&mut **self.get_mut()).poll_write_ready(cx)
            }
            fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
                Pin::new(&mut **self.get_mut()).start_write(buf)
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
                Pin::new(&mut **self.get_mut()).poll_flush(cx)
            }
            fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                Pin::new(&mut **self.get_mut()).poll_shutdown_write(cx)
            }
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                Pin::new(&mut **self.get_mut()).poll_close(cx)
            }
        }
    };
}

deref_flow!(Box<T>, T: FlowRead + Unpin + ?Sized);
deref_flow!(&mut T, T: FlowRead + Unpin + ?Sized);
deref_flow_write!(Box<T>, T: FlowWrite + Unpin + ?Sized);
deref_flow_write!(&mut T, T: FlowWrite + Unpin + ?Sized);

impl<P> FlowRead for Pin<P>
where
    P: DerefMut + Unpin,
    P::Target: FlowRead,
{
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        self.get_mut().as_mut().poll_read(cx)
    }
    fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().as_mut().poll_shutdown_read(cx)
    }
}

impl<P> FlowWrite for Pin<P>
where
    P: DerefMut + Unpin,
    P::Target: FlowWrite,
{
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        self.get_mut().as_mut().poll_write_ready(cx)
    }
    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        self.get_mut().as_mut().start_write(buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        self.get_mut().as_mut().poll_flush(cx)
    }
    fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().as_mut().poll_shutdown_write(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().as_mut().poll_close(cx)
    }
}

/// Implements [`FlowRead`] and [`FlowWrite`] for a wrapper type by
/// forwarding to one of its fields, which must be a `Flow + Unpin`.
///
/// ```
/// struct Metered {
///     inner: flow_mem::MemFlow,
///     label: &'static str,
/// }
///
/// flow_api::forward_flow!(Metered => inner);
/// ```
#[macro_export]
macro_rules! forward_flow {
    ($ty:ty => $field:ident) => {
        impl $crate::FlowRead for $ty {
            fn poll_read(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::result::Result<$crate::Chunk, $crate::Error>> {
                ::std::pin::Pin::new(&mut self.get_mut().$field).poll_read(cx)
            }
            fn poll_shutdown_read(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::result::Result<(), $crate::Error>> {
                ::std::pin::Pin::new(&mut self.get_mut().$field).poll_shutdown_read(cx)
            }
        }
        impl $crate::FlowWrite for $ty {
            fn poll_write_ready(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::result::Result<(), $crate::WriteError>> {
                ::std::pin::Pin::new(&mut self.get_mut().$field).poll_write_ready(cx)
            }
            fn start_write(
                self: ::std::pin::Pin<&mut Self>,
                buf: $crate::Bytes,
            ) -> ::std::result::Result<(), $crate::WriteError> {
                ::std::pin::Pin::new(&mut self.get_mut().$field).start_write(buf)
            }
            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::result::Result<(), $crate::WriteError>> {
                ::std::pin::Pin::new(&mut self.get_mut().$field).poll_flush(cx)
            }
            fn poll_shutdown_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::result::Result<(), $crate::Error>> {
                ::std::pin::Pin::new(&mut self.get_mut().$field).poll_shutdown_write(cx)
            }
            fn poll_close(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::result::Result<(), $crate::Error>> {
                ::std::pin::Pin::new(&mut self.get_mut().$field).poll_close(cx)
            }
        }
    };
}
