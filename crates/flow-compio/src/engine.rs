//! The completion-based transport under flow-socket's engine: the kernel
//! owns a buffer while an operation runs, so the transport, not the
//! caller's future, owns every operation in flight.

use std::cell::Cell;
use std::convert::Infallible;
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
use compio::buf::IntoInner;
use compio::driver::op::{self, RecvFlags, SendFlags};
use compio::io::AsyncRead;
use compio::runtime::Submit;
use flow_api::{ErrorKind, Timer, WriteQueue};
use flow_socket::{MAX_IOVECS, Transport, prepare_read_buffer};
use socket2::SockRef;

pub(crate) type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T> + 'static>>;

/// A compio stream socket, as the transport drives it: owned-buffer reads
/// and writes that the transport keeps while they run.
pub trait Socket: std::os::fd::AsFd + sealed::Sealed + 'static {}

mod sealed {
    use super::{ErrorKind, Infallible, Lane, LocalBoxFuture, Rc};

    pub trait Sealed {
        /// What a broken pipe on write means: the peer aborted (TCP), or it
        /// stopped reading (Unix).
        const BROKEN_PIPE: ErrorKind;

        /// The receiving loop: each buffer handed to `lane` (empty, with
        /// spare capacity) is received into, and parked there with the
        /// result.
        fn receiver(self: &Rc<Self>, lane: Rc<Lane>) -> LocalBoxFuture<Infallible>;
    }
}

macro_rules! socket {
    ($ty:ty, $broken:expr) => {
        impl Socket for $ty {}

        impl sealed::Sealed for $ty {
            const BROKEN_PIPE: ErrorKind = $broken;

            fn receiver(self: &Rc<Self>, lane: Rc<Lane>) -> LocalBoxFuture<Infallible> {
                let socket = Rc::clone(self);
                Box::pin(async move {
                    let mut socket = &*socket;
                    loop {
                        let buf = lane.request().await;
                        lane.finish(socket.read(buf).await);
                    }
                })
            }
        }
    };
}

socket!(compio::net::TcpStream, ErrorKind::Reset);
socket!(compio::net::UnixStream, ErrorKind::Closed);

/// `MSG_NOSIGNAL`, as compio's own streams send: a peer gone is an error,
/// not a `SIGPIPE`.
#[cfg(not(any(target_vendor = "apple", windows)))]
const SEND_FLAGS: SendFlags = SendFlags::NOSIGNAL;
#[cfg(any(target_vendor = "apple", windows))]
const SEND_FLAGS: SendFlags = SendFlags::empty();

/// Below this, a receive counts as small (see `CompioStream::poll_recv`).
const SMALL_READ: usize = 4 * 1024;

/// The initialised room of a small receive.
const SMALL_ROOM: usize = 16 * 1024;

/// Makes `room` initialised room for a small receive: its length is its
/// capacity (the kernel may write all of it), at least [`SMALL_READ`]
/// bytes. What a small receive leaves is still initialised and is used
/// as it is; a new room is taken back from the old one once every slice
/// of it was dropped, or allocated, and zeroed once.
fn prepare_small_room(room: &mut BytesMut) {
    if room.len() == room.capacity() && room.len() >= SMALL_READ {
        return;
    }
    room.clear();
    if !room.try_reclaim(SMALL_ROOM) {
        *room = BytesMut::with_capacity(SMALL_ROOM);
    }
    let capacity = room.capacity();
    room.resize(capacity, 0);
}

/// What a send hands back: its buffer, or its buffers.
#[derive(Debug)]
enum Sent {
    One(Bytes),
    Many(Vec<Bytes>),
}

/// The send in flight: compio's own operation, submitted directly (a send
/// needs nothing `unsafe` to take its buffers back), so a send allocates
/// only what compio's driver allocates for it. It owns the socket's `Rc`
/// and the buffers until the kernel is done.
enum Sending<S: Socket> {
    One(Submit<op::Send<Bytes, Rc<S>>>),
    Many(Submit<op::SendVectored<Vec<Bytes>, Rc<S>>>),
}

impl<S: Socket> Sending<S> {
    fn one(socket: &Rc<S>, buf: Bytes) -> Self {
        Sending::One(compio::runtime::submit(op::Send::new(
            Rc::clone(socket),
            buf,
            SEND_FLAGS,
        )))
    }

    fn many(socket: &Rc<S>, bufs: Vec<Bytes>) -> Self {
        Sending::Many(compio::runtime::submit(op::SendVectored::new(
            Rc::clone(socket),
            bufs,
            SEND_FLAGS,
        )))
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<BufResult<usize, Sent>> {
        match self {
            Sending::One(send) => Pin::new(send)
                .poll(cx)
                .map(|BufResult(result, send)| BufResult(result, Sent::One(send.into_inner()))),
            Sending::Many(send) => Pin::new(send)
                .poll(cx)
                .map(|BufResult(result, send)| BufResult(result, Sent::Many(send.into_inner()))),
        }
    }
}

/// The large receives, handed between the transport and the loop that
/// runs them (see [`Driver`]): a request in, a result out.
pub struct Lane {
    request: Cell<Option<BytesMut>>,
    result: Cell<Option<BufResult<usize, BytesMut>>>,
}

impl Lane {
    /// The next request: pending until the transport hands one over. Only
    /// the transport polls the loop, and it hands the request over first,
    /// so no waker is kept.
    pub(crate) fn request(&self) -> impl Future<Output = BytesMut> + '_ {
        std::future::poll_fn(|_| match self.request.take() {
            Some(request) => Poll::Ready(request),
            None => Poll::Pending,
        })
    }

    /// Parks an operation's result for the transport.
    pub(crate) fn finish(&self, result: BufResult<usize, BytesMut>) {
        self.result.set(Some(result));
    }
}

impl fmt::Debug for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lane").finish_non_exhaustive()
    }
}

/// The large receives' loop: a single future, boxed once per flow and
/// polled by the transport, that runs each operation the lane asks for. It owns
/// the operation in flight (and the buffers in it) until the kernel is
/// done, so a caller's future dropped meanwhile loses nothing; dropping
/// the loop cancels the operation, and compio's driver keeps the buffers
/// until the kernel lets go. One allocation per flow, not per receive:
/// compio's stream's receive is an `async fn` whose type cannot be named,
/// so each would need a box of its own otherwise (and compio's `Recv`
/// submitted directly leaves the filled length for `unsafe` code to set,
/// which is why only small receives, into initialised room, go that way).
struct Driver {
    lane: Rc<Lane>,
    run: Option<LocalBoxFuture<Infallible>>,
    /// A request was handed over and its result not taken yet.
    busy: bool,
}

impl Driver {
    fn new() -> Self {
        Driver {
            lane: Rc::new(Lane {
                request: Cell::new(None),
                result: Cell::new(None),
            }),
            run: None,
            busy: false,
        }
    }

    /// Hands `request` to the loop, which `start` makes if there is none.
    fn submit(&mut self, request: BytesMut, start: impl FnOnce(Rc<Lane>) -> LocalBoxFuture<Infallible>) {
        self.lane.request.set(Some(request));
        if self.run.is_none() {
            self.run = Some(start(Rc::clone(&self.lane)));
        }
        self.busy = true;
    }

    /// Polls the operation in flight; its result once it has one.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<BufResult<usize, BytesMut>> {
        if let Some(run) = &mut self.run {
            // The loop never ends: it is only ever pending.
            let _pending = run.as_mut().poll(cx);
        }
        match self.lane.result.take() {
            Some(result) => {
                self.busy = false;
                Poll::Ready(result)
            }
            None => Poll::Pending,
        }
    }

    /// Cancels the operation in flight, if any.
    fn cancel(&mut self) {
        if self.busy {
            self.run = None;
            self.lane.request.take();
            self.busy = false;
        }
    }
}

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
    /// The large receives, into the buffer's spare capacity (see
    /// `poll_recv`).
    reader: Driver,
    /// The small receive in flight, into initialised room.
    small_recv: Option<Submit<op::Recv<BytesMut, Rc<S>>>>,
    /// The last receive was small: the next one goes into initialised
    /// room, submitted directly.
    small: bool,
    /// The send in flight, owning its buffers.
    writer: Option<Sending<S>>,
    /// Bytes the send in flight took off the queue.
    in_flight: usize,
    /// The vector of the last vectored send, kept for the next one.
    iovecs: Vec<Bytes>,
}

impl<S: Socket> CompioStream<S> {
    /// Wraps a connected compio socket.
    pub fn new(socket: S) -> Self {
        CompioStream::from_rc(Rc::new(socket))
    }

    /// The compio socket, if no operation holds it (a flow's
    /// [`into_inner`](flow_socket::StreamFlow::into_inner) succeeds only
    /// then); otherwise the transport, unchanged.
    ///
    /// # Errors
    ///
    /// An operation is in flight: `self`, given back.
    // The error is the transport itself, given back whole (as
    // `StreamFlow::into_inner` gives the flow back).
    #[allow(clippy::result_large_err)]
    pub fn into_inner(mut self) -> Result<S, Self> {
        if self.is_busy() {
            return Err(self);
        }
        // The idle receive loop holds the socket too.
        self.reader.run = None;
        Rc::try_unwrap(self.socket).map_err(CompioStream::from_rc)
    }

    fn from_rc(socket: Rc<S>) -> Self {
        CompioStream {
            socket,
            reader: Driver::new(),
            small_recv: None,
            small: false,
            writer: None,
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

    /// Two ways to receive, both into the flow's buffer, no copy. compio's
    /// receive writes from the start of the buffer's memory, up to its
    /// capacity, and the length the kernel filled is set by compio's own
    /// stream (`unsafe` there): so a large receive goes through that
    /// stream, in the loop. A small one, after a small receive, is
    /// compio's `Recv` operation submitted directly, into room that is
    /// initialised once (length = capacity): its filled part is split off
    /// with no `unsafe` and no second future. Zeroing costs about a byte
    /// per byte of small reads; bulk reads never pay it.
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<Bytes>> {
        if !self.reader.busy && self.small_recv.is_none() {
            let mut room = mem::take(buf);
            if self.small {
                prepare_small_room(&mut room);
                let recv = op::Recv::new(Rc::clone(&self.socket), room, RecvFlags::empty());
                self.small_recv = Some(compio::runtime::submit(recv));
            } else {
                // The room is the spare capacity: the buffer must be empty.
                room.clear();
                prepare_read_buffer(&mut room);
                let socket = &self.socket;
                self.reader.submit(room, |lane| socket.receiver(lane));
            }
        }
        let BufResult(result, mut filled) = match &mut self.small_recv {
            Some(recv) => {
                let BufResult(result, recv) = ready!(Pin::new(recv).poll(cx));
                self.small_recv = None;
                BufResult(result, recv.into_inner())
            }
            None => ready!(self.reader.poll(cx)),
        };
        let result = result.map(|n| {
            self.small = n < SMALL_READ;
            filled.split_to(n.min(filled.len())).freeze()
        });
        *buf = filled;
        Poll::Ready(result)
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, queue: &mut WriteQueue) -> Poll<io::Result<()>> {
        loop {
            if let Some(send) = &mut self.writer {
                let BufResult(result, sent) = ready!(send.poll(cx));
                self.writer = None;
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
            let send = match queue.buffers() {
                0 => return Poll::Ready(Ok(())),
                // A plain send costs less in the kernel than a one-element
                // vectored one.
                1 => match queue.pop_front() {
                    Some(buf) => {
                        self.in_flight = buf.len();
                        Sending::one(&self.socket, buf)
                    }
                    None => return Poll::Ready(Ok(())),
                },
                n => {
                    let mut bufs = mem::take(&mut self.iovecs);
                    bufs.extend((0..n.min(MAX_IOVECS)).map_while(|_| queue.pop_front()));
                    self.in_flight = bufs.iter().map(Bytes::len).sum();
                    Sending::many(&self.socket, bufs)
                }
            };
            self.writer = Some(send);
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
        self.reader.busy || self.small_recv.is_some() || self.writer.is_some()
    }

    fn stop_reading(&mut self) {
        // Dropping an operation cancels it; compio's driver keeps its buffer
        // until the kernel is done with it.
        self.reader.cancel();
        self.small_recv = None;
    }

    fn stop_writing(&mut self) {
        // Dropping the send cancels it, as above.
        self.writer = None;
        self.in_flight = 0;
    }
}

impl<S: Socket> fmt::Debug for CompioStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompioStream")
            .field("reading", &(self.reader.busy || self.small_recv.is_some()))
            .field("writing", &self.writer.is_some())
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}
