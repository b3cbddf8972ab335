//! Two connected in-memory flows.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::PoisonError;
use std::task::{Context, Poll, Waker};

use flow_api::{Bytes, Chunk, Error, ErrorKind, FlowRead, FlowWrite, WriteError};

use crate::sync::{Arc, Mutex, MutexGuard};

/// The default buffer bound of [`pair`]: 64 KiB queued per direction.
pub const DEFAULT_CAPACITY: usize = 64 * 1024;

/// Two connected flows, each buffering at most [`DEFAULT_CAPACITY`] bytes
/// toward the other.
pub fn pair() -> (MemFlow, MemFlow) {
    pair_with_capacity(DEFAULT_CAPACITY)
}

/// Two connected flows, each buffering at most `capacity` bytes toward the
/// other before a writer waits. A writer may go over the bound by the one
/// buffer it hands over when there is room, so a single large write is never
/// refused. `usize::MAX` means unbounded; `0` is treated as `1` (every write
/// waits until the previous one was read).
pub fn pair_with_capacity(capacity: usize) -> (MemFlow, MemFlow) {
    let shared = Arc::new(Mutex::new(Shared {
        pipes: [Pipe::default(), Pipe::default()],
        ends: [End::default(), End::default()],
    }));
    let capacity = capacity.max(1);
    (
        MemFlow {
            shared: Arc::clone(&shared),
            me: 0,
            capacity,
            room_seen: false,
        },
        MemFlow {
            shared,
            me: 1,
            capacity,
            room_seen: false,
        },
    )
}

/// One end of an in-memory pair: a [`Flow`](flow_api::Flow).
///
/// - Reads hand out the writer's buffers unchanged (pointer-equal).
/// - A peer dropped without closing is an abort: reads return the data in
///   flight, then [`ErrorKind::Reset`]; writes fail with `Reset`.
/// - Close waits until the peer has finished writing (its `shutdown(Write)`,
///   close or drop), discarding what it sends meanwhile. It needs no timer; to
///   bound it, use [`close_within`](flow_api::FlowWriteExt::close_within).
/// - After a local `shutdown(Read)` or close, what the peer writes is
///   accepted and discarded, so the peer never waits on a reader that left.
pub struct MemFlow {
    shared: Arc<Mutex<Shared>>,
    me: usize,
    capacity: usize,
    /// The last `start_write` left room toward the peer. Only this end adds
    /// to that queue, so the room can only have grown since: the next
    /// `poll_write_ready` is ready without taking the lock (a refusal, such
    /// as a peer dropped meanwhile, still comes from `start_write`).
    room_seen: bool,
}

struct Shared {
    /// `pipes[i]` holds what end `i` wrote and end `1 - i` has not read yet.
    pipes: [Pipe; 2],
    ends: [End; 2],
}

#[derive(Default)]
struct Pipe {
    queue: VecDeque<Bytes>,
    queued: usize,
    /// The writer signalled the end of its writes.
    eof: bool,
}

#[derive(Default)]
struct End {
    read_shut: bool,
    write_shut: bool,
    closed: bool,
    dropped: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

impl End {
    fn wake_reader(&mut self) {
        if let Some(waker) = self.read_waker.take() {
            waker.wake();
        }
    }
    fn wake_writer(&mut self) {
        if let Some(waker) = self.write_waker.take() {
            waker.wake();
        }
    }
}

impl MemFlow {
    /// The buffer bound toward the peer, in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn peer(&self) -> usize {
        1 - self.me
    }
}

impl Shared {
    /// Why end `me` cannot write, if it cannot.
    fn write_refusal(&self, me: usize) -> Option<WriteError> {
        let peer = &self.ends[1 - me];
        if self.ends[me].write_shut {
            Some(WriteError::Closed)
        } else if peer.dropped && !peer.closed {
            Some(WriteError::Flow(
                Error::new(ErrorKind::Reset).context("the in-memory peer was dropped without closing"),
            ))
        } else if peer.dropped {
            Some(WriteError::Closed)
        } else {
            None
        }
    }

    fn shutdown_write(&mut self, me: usize) {
        let end = &mut self.ends[me];
        if !end.write_shut {
            end.write_shut = true;
            self.pipes[me].eof = true;
            self.ends[1 - me].wake_reader();
        }
    }

    fn shutdown_read(&mut self, me: usize) {
        let end = &mut self.ends[me];
        if !end.read_shut {
            end.read_shut = true;
            let incoming = &mut self.pipes[1 - me];
            incoming.queue.clear();
            incoming.queued = 0;
            self.ends[1 - me].wake_writer();
        }
    }
}

impl FlowRead for MemFlow {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let (me, peer) = (self.me, self.peer());
        let mut shared = self.lock();
        if shared.ends[me].read_shut {
            return Poll::Ready(Ok(Chunk::Eof));
        }
        let incoming = &mut shared.pipes[peer];
        if let Some(buf) = incoming.queue.pop_front() {
            incoming.queued -= buf.len();
            shared.ends[peer].wake_writer();
            return Poll::Ready(Ok(Chunk::Data(buf)));
        }
        if incoming.eof {
            return Poll::Ready(Ok(Chunk::Eof));
        }
        if shared.ends[peer].dropped {
            return Poll::Ready(Err(
                Error::new(ErrorKind::Reset).context("the in-memory peer was dropped without closing")
            ));
        }
        shared.ends[me].read_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let me = self.me;
        self.lock().shutdown_read(me);
        Poll::Ready(Ok(()))
    }
}

impl FlowWrite for MemFlow {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        if self.room_seen {
            return Poll::Ready(Ok(()));
        }
        let (me, peer, capacity) = (self.me, self.peer(), self.capacity);
        let mut shared = self.lock();
        if let Some(refusal) = shared.write_refusal(me) {
            return Poll::Ready(Err(refusal));
        }
        if shared.ends[peer].read_shut || shared.pipes[me].queued < capacity {
            return Poll::Ready(Ok(()));
        }
        shared.ends[me].write_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        let this = self.get_mut();
        let (me, peer, capacity) = (this.me, this.peer(), this.capacity);
        let mut shared = this.shared.lock().unwrap_or_else(PoisonError::into_inner);
        this.room_seen = false;
        if let Some(refusal) = shared.write_refusal(me) {
            return Err(refusal);
        }
        if buf.is_empty() || shared.ends[peer].read_shut {
            return Ok(());
        }
        let outgoing = &mut shared.pipes[me];
        outgoing.queued += buf.len();
        outgoing.queue.push_back(buf);
        this.room_seen = outgoing.queued < capacity;
        shared.ends[peer].wake_reader();
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        // A buffer handed over is already where the peer reads it.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown_write(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.room_seen = false;
        let me = self.me;
        self.lock().shutdown_write(me);
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.room_seen = false;
        let (me, peer) = (self.me, self.peer());
        let mut shared = self.lock();
        if shared.ends[me].closed {
            return Poll::Ready(Ok(()));
        }
        shared.shutdown_write(me);
        shared.shutdown_read(me);
        if shared.pipes[peer].eof {
            shared.ends[me].closed = true;
            return Poll::Ready(Ok(()));
        }
        if shared.ends[peer].dropped {
            shared.ends[me].closed = true;
            return Poll::Ready(Err(
                Error::new(ErrorKind::Reset).context("close: the in-memory peer was dropped without closing")
            ));
        }
        shared.ends[me].read_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for MemFlow {
    fn drop(&mut self) {
        let (me, peer) = (self.me, self.peer());
        let mut shared = self.lock();
        shared.ends[me].dropped = true;
        let incoming = &mut shared.pipes[peer];
        incoming.queue.clear();
        incoming.queued = 0;
        let other = &mut shared.ends[peer];
        other.wake_reader();
        other.wake_writer();
    }
}

impl fmt::Debug for MemFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemFlow")
            .field("end", &self.me)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}
