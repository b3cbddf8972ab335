//! The completion-based transport under flow-socket's engine: the kernel
//! owns a buffer while an operation runs, so the transport, not the
//! caller's future, owns every operation in flight.

use std::fmt;
use std::future::Future;
use std::io;
use std::mem;
use std::net::Shutdown as NetShutdown;
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use compio::BufResult;
use compio::io::{AsyncRead, AsyncWrite};
use flow_api::{ErrorKind, Timer, WriteQueue};
use flow_socket::{MAX_IOVECS, Transport, prepare_read_buffer};
use socket2::SockRef;

pub(crate) type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T> + 'static>>;

use self::sealed::Sent;

/// A compio stream socket, as the transport drives it: owned-buffer reads
/// and writes that the transport keeps while they run.
pub trait Socket: std::os::fd::AsFd + sealed::Sealed + 'static {}

mod sealed {
    use super::{BufResult, Bytes, BytesMut, ErrorKind, LocalBoxFuture, Rc};

    /// What a write operation hands back: the buffers it was given.
    #[derive(Debug)]
    pub enum Sent {
        One(Bytes),
        Many(Vec<Bytes>),
    }

    pub trait Sealed {
        /// What a broken pipe on write means: the peer aborted (TCP), or it
        /// stopped reading (Unix).
        const BROKEN_PIPE: ErrorKind;

        /// Receives into `buf` (empty, with spare capacity).
        fn recv(self: &Rc<Self>, buf: BytesMut) -> LocalBoxFuture<BufResult<usize, BytesMut>>;

        /// Sends one buffer.
        fn send(self: &Rc<Self>, buf: Bytes) -> LocalBoxFuture<BufResult<usize, Sent>>;

        /// Sends several buffers in one vectored submission.
        fn send_vectored(self: &Rc<Self>, bufs: Vec<Bytes>) -> LocalBoxFuture<BufResult<usize, Sent>>;
    }
}

macro_rules! socket {
    ($ty:ty, $broken:expr) => {
        impl Socket for $ty {}

        impl sealed::Sealed for $ty {
            const BROKEN_PIPE: ErrorKind = $broken;

            fn recv(self: &Rc<Self>, buf: BytesMut) -> LocalBoxFuture<BufResult<usize, BytesMut>> {
                let socket = Rc::clone(self);
                Box::pin(async move {
                    let mut socket = &*socket;
                    socket.read(buf).await
                })
            }

            fn send(self: &Rc<Self>, buf: Bytes) -> LocalBoxFuture<BufResult<usize, Sent>> {
                let socket = Rc::clone(self);
                Box::pin(async move {
                    let mut socket = &*socket;
                    let BufResult(result, buf) = socket.write(buf).await;
                    BufResult(result, Sent::One(buf))
                })
            }

            fn send_vectored(self: &Rc<Self>, bufs: Vec<Bytes>) -> LocalBoxFuture<BufResult<usize, Sent>> {
                let socket = Rc::clone(self);
                Box::pin(async move {
                    let mut socket = &*socket;
                    let BufResult(result, bufs) = socket.write_vectored(bufs).await;
                    BufResult(result, Sent::Many(bufs))
                })
            }
        }
    };
}

socket!(compio::net::TcpStream, ErrorKind::Reset);
socket!(compio::net::UnixStream, ErrorKind::Closed);

/// A compio socket as flow-socket's engine drives it: the [`Transport`]
/// under [`TcpFlow`](crate::TcpFlow) and [`UnixFlow`](crate::UnixFlow). It
/// dereferences to the compio socket (`flow.get_ref().peer_addr()`).
///
/// It keeps the receive and the send in flight, each owning its buffers:
/// a read future dropped meanwhile leaves the receive here, and the next
/// read takes its result; a dropped write, flush or close leaves its send
/// running, and calling again resumes.
pub struct CompioStream<S: Socket> {
    socket: Rc<S>,
    /// The receive in flight.
    read_op: Option<LocalBoxFuture<BufResult<usize, BytesMut>>>,
    /// The send in flight, owning its buffers.
    write_op: Option<LocalBoxFuture<BufResult<usize, Sent>>>,
    /// Bytes the send in flight took off the queue.
    in_flight: usize,
    /// The vector of the last vectored send, kept for the next one.
    iovecs: Vec<Bytes>,
}

impl<S: Socket> CompioStream<S> {
    /// Wraps a connected compio socket.
    pub fn new(socket: S) -> Self {
        CompioStream {
            socket: Rc::new(socket),
            read_op: None,
            write_op: None,
            in_flight: 0,
            iovecs: Vec::new(),
        }
    }

    /// The compio socket, if no operation holds it (a flow's
    /// [`into_inner`](flow_socket::StreamFlow::into_inner) succeeds only
    /// then); otherwise the transport, unchanged.
    ///
    /// # Errors
    ///
    /// An operation is in flight: `self`, given back.
    pub fn into_inner(self) -> Result<S, Self> {
        if self.is_busy() {
            return Err(self);
        }
        Rc::try_unwrap(self.socket).map_err(CompioStream::from_rc)
    }

    fn from_rc(socket: Rc<S>) -> Self {
        CompioStream {
            socket,
            read_op: None,
            write_op: None,
            in_flight: 0,
            iovecs: Vec::new(),
        }
    }

    /// Takes back what a send did not write, in order, at the queue's front.
    fn requeue(&mut self, queue: &mut WriteQueue, written: usize, sent: Sent) {
        let mut left = written;
        match sent {
            Sent::One(mut buf) => {
                if buf.len() > left {
                    buf.advance(left);
                    queue.push_front(buf);
                }
            }
            Sent::Many(mut bufs) => {
                let mut first = 0;
                for buf in &mut bufs {
                    if left >= buf.len() {
                        left -= buf.len();
                        first += 1;
                    } else {
                        buf.advance(left);
                        break;
                    }
                }
                for buf in bufs.drain(first..).rev() {
                    queue.push_front(buf);
                }
                bufs.clear();
                self.iovecs = bufs;
            }
        }
    }
}

impl<S: Socket> Deref for CompioStream<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.socket
    }
}

impl<S: Socket> std::os::fd::AsFd for CompioStream<S> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// compio's sockets are not registered for readiness: a relay's raw
/// operations (`splice`) are not available, and relays over these flows
/// move the bytes through the flow (compio's driver has a completion-based
/// `Splice` operation, which a relay does not use yet).
#[cfg(unix)]
impl<S: Socket> flow_socket::ReadyIo for CompioStream<S> {}

impl<S: Socket> Transport for CompioStream<S> {
    type Sleep = LocalBoxFuture<()>;

    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<Bytes>> {
        let op = match &mut self.read_op {
            Some(op) => op,
            None => {
                let mut room = mem::take(buf);
                // compio receives from the start of the buffer: it must be
                // empty, and what it holds is room.
                room.clear();
                prepare_read_buffer(&mut room);
                self.read_op.insert(self.socket.recv(room))
            }
        };
        let BufResult(result, mut filled) = ready!(op.as_mut().poll(cx));
        self.read_op = None;
        let result = result.map(|n| filled.split_to(n.min(filled.len())).freeze());
        *buf = filled;
        Poll::Ready(result)
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, queue: &mut WriteQueue) -> Poll<io::Result<()>> {
        loop {
            if let Some(op) = &mut self.write_op {
                let BufResult(result, sent) = ready!(op.as_mut().poll(cx));
                self.write_op = None;
                self.in_flight = 0;
                match result {
                    Ok(0) => {
                        self.requeue(queue, 0, sent);
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "the socket accepted no bytes",
                        )));
                    }
                    Ok(written) => self.requeue(queue, written, sent),
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => self.requeue(queue, 0, sent),
                    Err(err) => return Poll::Ready(Err(err)),
                }
            }
            let op = match queue.buffers() {
                0 => return Poll::Ready(Ok(())),
                // A plain send costs less in the kernel than a one-element
                // vectored one.
                1 => match queue.pop_front() {
                    Some(buf) => {
                        self.in_flight = buf.len();
                        self.socket.send(buf)
                    }
                    None => return Poll::Ready(Ok(())),
                },
                n => {
                    let mut bufs = mem::take(&mut self.iovecs);
                    bufs.extend((0..n.min(MAX_IOVECS)).map_while(|_| queue.pop_front()));
                    self.in_flight = bufs.iter().map(Bytes::len).sum();
                    self.socket.send_vectored(bufs)
                }
            };
            self.write_op = Some(op);
        }
    }

    fn poll_shutdown(&mut self, _cx: &mut Context<'_>, how: NetShutdown) -> Poll<io::Result<()>> {
        // Nothing is in flight on the write side when the engine shuts it
        // down; shutdown(2) does not block.
        Poll::Ready(SockRef::from(&*self.socket).shutdown(how))
    }

    fn broken_pipe_kind(&self) -> ErrorKind {
        S::BROKEN_PIPE
    }

    fn refuses_after_shutdown_read(&self) -> bool {
        S::BROKEN_PIPE == ErrorKind::Closed
    }

    /// compio's own timer: [`flow_api::Timer`] makes `Send` sleeps, and
    /// compio's are not; `timer` is not used.
    fn sleep(&self, _timer: Option<&Arc<dyn Timer>>, duration: Duration) -> Option<Self::Sleep> {
        Some(Box::pin(compio::time::sleep(duration)))
    }

    fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn is_busy(&self) -> bool {
        self.read_op.is_some() || self.write_op.is_some() || Rc::strong_count(&self.socket) > 1
    }

    fn stop_reading(&mut self) {
        // Dropping an operation cancels it; compio's driver keeps its buffer
        // until the kernel is done with it.
        self.read_op = None;
    }

    fn stop_writing(&mut self) {
        self.write_op = None;
        self.in_flight = 0;
    }
}

impl<S: Socket> fmt::Debug for CompioStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompioStream")
            .field("reading", &self.read_op.is_some())
            .field("writing", &self.write_op.is_some())
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}
