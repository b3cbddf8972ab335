//! What differs between a readiness-based and a completion-based socket,
//! below the engine: how bytes are received and sent, and how the close
//! deadline sleeps.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::Shutdown as NetShutdown;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use flow_api::{ErrorKind, Sleep, Timer, WriteQueue};

use crate::{ByteStream, MAX_IOVECS, MIN_READ_ROOM, READ_BUFFER};

/// The I/O primitives [`StreamFlow`](crate::StreamFlow) drives: the one
/// part of a socket flow that differs between a readiness-based runtime
/// (every [`ByteStream`] is a `Transport`) and a completion-based one
/// (compio, whose operations own their buffers while the kernel runs them,
/// and which keeps those operations itself, so that a dropped future loses
/// nothing). The flow contract on top (read states, discarding, the write
/// queue, half-close, close with its deadline) is the engine's.
pub trait Transport: Unpin {
    /// The close deadline's sleep. A readiness transport uses the flow's
    /// [`Timer`] (its sleeps are `Send`, so are the flows); a transport
    /// whose runtime's timer is not `Send` (compio) names its own.
    type Sleep: Future<Output = ()> + Unpin;

    /// Receives what the socket has: a non-empty buffer, or an empty one
    /// at end of file. `buf` is the flow's read buffer, reused from one
    /// receive to the next (see [`prepare_read_buffer`]); what is handed
    /// out is split off it.
    ///
    /// # Errors
    ///
    /// The socket's error.
    ///
    /// # Cancel safety
    ///
    /// A `Pending` receive consumed nothing: a transport whose operation
    /// was submitted keeps it, and the next call completes it.
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<Bytes>>;

    /// Sends what `queue` holds, Ready once it is empty and nothing is in
    /// flight. Sent bytes leave the queue; a transport may take buffers off
    /// it into an operation of its own (then it counts them in
    /// [`in_flight`](Transport::in_flight), and puts what a short write
    /// left back at the front).
    ///
    /// # Errors
    ///
    /// The socket's error; [`io::ErrorKind::WriteZero`] when the socket
    /// took nothing.
    fn poll_send(&mut self, cx: &mut Context<'_>, queue: &mut WriteQueue) -> Poll<io::Result<()>>;

    /// Shuts one direction down at the socket level: for
    /// [`NetShutdown::Write`], the peer reads end of file (a TCP FIN).
    ///
    /// # Errors
    ///
    /// The socket's error.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>, how: NetShutdown) -> Poll<io::Result<()>>;

    /// What a broken pipe on write means; see
    /// [`ByteStream::broken_pipe_kind`].
    fn broken_pipe_kind(&self) -> ErrorKind;

    /// Whether the socket refuses the peer's data once its read direction
    /// is shut; see [`ByteStream::refuses_after_shutdown_read`].
    fn refuses_after_shutdown_read(&self) -> bool;

    /// A sleep of `duration` for the close deadline, or `None` for no
    /// deadline. `timer` is the one the flow was given
    /// ([`StreamFlow::with_timer`](crate::StreamFlow::with_timer)); a
    /// transport with a clock of its own may ignore it. Every
    /// [`ByteStream`] sleeps on `timer`, or without one on a timer thread
    /// (futures-timer's), so that its close deadline holds on any executor.
    fn sleep(&self, timer: Option<&Arc<dyn Timer>>, duration: Duration) -> Option<Self::Sleep>;

    /// The runtime's timer, which a flow's close deadline sleeps on when it
    /// was given none ([`crate::StreamFlow::with_timer`]). Asked for when
    /// a close starts, so that an idle flow holds no timer. A
    /// [`ByteStream`] forwards [`ByteStream::runtime_timer`]; `None` by
    /// default.
    fn runtime_timer() -> Option<Arc<dyn Timer>>
    where
        Self: Sized,
    {
        None
    }

    /// Bytes taken off the write queue into a send still in flight.
    fn in_flight(&self) -> usize {
        0
    }

    /// Whether an operation holds the socket (a receive or a send in
    /// flight): the socket cannot be handed out then.
    fn is_busy(&self) -> bool {
        false
    }

    /// Abandons the receive in flight, if any: the flow reads no more.
    fn stop_reading(&mut self) {}

    /// Abandons the send in flight, if any: the flow sends no more.
    fn stop_writing(&mut self) {}
}

/// Makes room in a read buffer before a receive. Below half of 64 KiB of
/// room, once every slice handed out was dropped, the whole allocation is
/// free again: it is taken back (no allocation, no copy) so that reads stay
/// large. Otherwise the buffer is topped up to 64 KiB only below 4 KiB of
/// room. (Above half, the reclaim is not tried: small reads, a ping-pong's,
/// would pay for the attempt on every receive.)
#[inline]
pub fn prepare_read_buffer(buf: &mut BytesMut) {
    let room = buf.capacity() - buf.len();
    if room < READ_BUFFER / 2 && !buf.try_reclaim(READ_BUFFER) && room < MIN_READ_ROOM {
        buf.reserve(READ_BUFFER);
    }
}

/// One vectored write of the queue's front buffers: up to 64 slices on
/// the stack (no allocation per flush), larger bursts in one allocation of
/// up to [`MAX_IOVECS`].
fn poll_write_queued<S: ByteStream>(
    stream: &mut S,
    cx: &mut Context<'_>,
    queue: &WriteQueue,
) -> Poll<io::Result<usize>> {
    let mut stack = [IoSlice::new(&[]); 64];
    if queue.buffers() <= stack.len() {
        for (slot, buf) in stack.iter_mut().zip(queue.iter()) {
            *slot = IoSlice::new(buf);
        }
        stream.poll_write_vectored(cx, &stack[..queue.buffers()])
    } else {
        let heap: Vec<IoSlice<'_>> = queue.iter().take(MAX_IOVECS).map(|b| IoSlice::new(b)).collect();
        stream.poll_write_vectored(cx, &heap)
    }
}

impl<S: ByteStream> Transport for S {
    type Sleep = Sleep;

    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<Bytes>> {
        prepare_read_buffer(buf);
        Poll::Ready(match ready!(self.poll_read_buf(cx, buf)) {
            Ok(0) => Ok(Bytes::new()),
            Ok(_) => Ok(buf.split().freeze()),
            Err(err) => Err(err),
        })
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, queue: &mut WriteQueue) -> Poll<io::Result<()>> {
        while let Some(front) = queue.front() {
            let polled = if queue.buffers() == 1 {
                // One buffer (a request, a ping): a plain write, without
                // filling a vector first.
                self.poll_write(cx, front)
            } else {
                poll_write_queued(self, cx, queue)
            };
            match ready!(polled) {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the socket accepted no bytes",
                    )));
                }
                Ok(written) => queue.advance(written),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>, how: NetShutdown) -> Poll<io::Result<()>> {
        ByteStream::poll_shutdown(self, cx, how)
    }

    fn broken_pipe_kind(&self) -> ErrorKind {
        ByteStream::broken_pipe_kind(self)
    }

    fn refuses_after_shutdown_read(&self) -> bool {
        ByteStream::refuses_after_shutdown_read(self)
    }

    fn runtime_timer() -> Option<Arc<dyn Timer>> {
        S::runtime_timer()
    }

    fn sleep(&self, timer: Option<&Arc<dyn Timer>>, duration: Duration) -> Option<Sleep> {
        Some(match timer {
            Some(timer) => timer.sleep(duration),
            // No runtime timer: futures-timer's thread keeps the deadline,
            // on any executor.
            None => Box::pin(futures_timer::Delay::new(duration)),
        })
    }
}
