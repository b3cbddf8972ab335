//! Driving a socket flow's descriptor directly, for a relay that moves
//! bytes inside the kernel (`splice(2)` through a pipe, in flow-util)
//! instead of through the flow's buffers.
//!
//! Two traits: [`ReadyIo`], which a runtime's socket implements (run a
//! non-blocking system call once the reactor reports the socket ready),
//! and [`RawSocketFlow`], which the socket flows implement on top of it
//! (the same, guarded by the flow's own state, with errors that keep the
//! flow's contract). Neither is part of the flow contract: a flow that is
//! not a plain socket (TLS, memory, an adapter) has no descriptor to give,
//! and a relay falls back to reading and writing it.

use std::io;
use std::os::fd::BorrowedFd;
use std::task::{Context, Poll};

use flow_api::{Error, FlowRead, FlowWrite, WriteState};

use crate::{CloseState, ReadState, StreamFlow, Transport};

/// Which readiness a raw operation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Readiness {
    /// The socket has data to read, or its end of file, or an error.
    Read,
    /// The socket has room to send.
    Write,
}

/// The operation a raw poll runs on the socket's descriptor: a
/// non-blocking system call that returns how many bytes it moved, or
/// [`io::ErrorKind::WouldBlock`] when the socket is not ready.
pub type RawOp<'a> = &'a mut dyn FnMut(BorrowedFd<'_>) -> io::Result<usize>;

/// A runtime's socket that can run a non-blocking system call of the
/// caller's once the runtime's reactor reports the socket ready: how a
/// relay splices on the runtime's own event loop.
///
/// The default says that it cannot (a completion-based runtime such as
/// compio, whose sockets are not registered for readiness): relays then
/// move the bytes through the flow.
pub trait ReadyIo {
    /// Whether [`poll_ready_io`](ReadyIo::poll_ready_io) works.
    fn supports_ready_io(&self) -> bool {
        false
    }

    /// Runs `op` on the socket's descriptor, and again each time the
    /// reactor reports the socket ready for `readiness` after `op` said
    /// [`io::ErrorKind::WouldBlock`]. Ready with `op`'s first other result.
    ///
    /// `op` must report `WouldBlock` only when the socket itself is not
    /// ready: a `WouldBlock` of another descriptor (a full pipe) would wait
    /// for an event of this socket that may never come.
    ///
    /// # Errors
    ///
    /// `op`'s error, or the reactor's; [`io::ErrorKind::Unsupported`] when
    /// the socket cannot wait for readiness.
    fn poll_ready_io(&mut self, cx: &mut Context<'_>, readiness: Readiness, op: RawOp<'_>) -> Poll<io::Result<usize>> {
        let _ = (cx, readiness, op);
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this runtime's sockets cannot wait for readiness",
        )))
    }
}

/// A flow over a socket whose descriptor a relay may drive directly, while
/// the flow's state allows it: a plain TCP or Unix flow of a readiness
/// runtime.
///
/// The relay checks [`raw_ready`](RawSocketFlow::raw_ready) once before it
/// starts; while it drives a direction, it does not also read or write
/// that direction through the flow. Ends of file and shutdowns go through
/// the flow as usual ([`FlowWrite::poll_shutdown_write`] sends the FIN
/// after what the relay spliced), and so does close.
pub trait RawSocketFlow: FlowRead + FlowWrite + Unpin {
    /// Whether `readiness`'s direction can be driven directly now: the
    /// runtime supports it, and for [`Readiness::Read`] the flow's read
    /// side is open (no end of file seen, not shut down, not failed, not
    /// closing), for [`Readiness::Write`] its write side is open with
    /// nothing queued. Flush first.
    fn raw_ready(&self, readiness: Readiness) -> bool;

    /// Runs `op` on the descriptor once the socket is ready; see
    /// [`ReadyIo::poll_ready_io`]. Errors are the socket's, as
    /// [`io::Error`]s: pass a failure to
    /// [`raw_error`](RawSocketFlow::raw_error) to make it the flow's.
    ///
    /// # Errors
    ///
    /// `op`'s error or the reactor's; [`io::ErrorKind::Unsupported`] when
    /// [`raw_ready`](RawSocketFlow::raw_ready) is false.
    ///
    /// # Cancel safety
    ///
    /// `op` ran to completion whenever it ran: a `Pending` poll moved
    /// nothing.
    fn poll_raw_io(&mut self, cx: &mut Context<'_>, readiness: Readiness, op: RawOp<'_>) -> Poll<io::Result<usize>>;

    /// Records a failure of a raw operation as the flow's own, as if its
    /// read (or write) had failed: later reads (or writes) report its
    /// kind. Returns the error, its kind mapped as the flow maps its
    /// socket's errors (a reset is [`ErrorKind::Reset`](flow_api::ErrorKind::Reset),
    /// a broken pipe as the socket type means it).
    fn raw_error(&mut self, readiness: Readiness, err: io::Error) -> Error;
}

fn not_ready() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "the flow's state does not allow driving its socket directly",
    )
}

impl<T> RawSocketFlow for StreamFlow<T>
where
    T: Transport + ReadyIo,
{
    fn raw_ready(&self, readiness: Readiness) -> bool {
        if !self.transport.supports_ready_io() || self.close != CloseState::Open {
            return false;
        }
        match readiness {
            Readiness::Read => self.read == ReadState::Open && !self.transport.is_busy(),
            Readiness::Write => {
                matches!(self.queue.state(), WriteState::Open)
                    && self.queued() == 0
                    && self.queue.check_failed().is_ok()
            }
        }
    }

    fn poll_raw_io(&mut self, cx: &mut Context<'_>, readiness: Readiness, op: RawOp<'_>) -> Poll<io::Result<usize>> {
        if !self.raw_ready(readiness) {
            return Poll::Ready(Err(not_ready()));
        }
        self.transport.poll_ready_io(cx, readiness, op)
    }

    fn raw_error(&mut self, readiness: Readiness, err: io::Error) -> Error {
        match readiness {
            Readiness::Read => {
                let err = Error::from(err);
                self.read = ReadState::Failed(err.kind());
                err
            }
            Readiness::Write => self.write_error(err),
        }
    }
}

macro_rules! forward_raw_socket_flow {
    ($ty:ty) => {
        impl<F: RawSocketFlow + ?Sized> RawSocketFlow for $ty {
            fn raw_ready(&self, readiness: Readiness) -> bool {
                (**self).raw_ready(readiness)
            }

            fn poll_raw_io(
                &mut self,
                cx: &mut Context<'_>,
                readiness: Readiness,
                op: RawOp<'_>,
            ) -> Poll<io::Result<usize>> {
                (**self).poll_raw_io(cx, readiness, op)
            }

            fn raw_error(&mut self, readiness: Readiness, err: io::Error) -> Error {
                (**self).raw_error(readiness, err)
            }
        }
    };
}

forward_raw_socket_flow!(&mut F);
forward_raw_socket_flow!(Box<F>);
