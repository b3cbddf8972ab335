//! Two connected in-memory flows.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::PoisonError;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use flow_api::{Bytes, Chunk, Error, ErrorKind, FlowRead, FlowWrite, WriteError};

use crate::sync::{Arc, Mutex, MutexGuard};

/// The default buffer bound of [`pair`]: 64 KiB queued per direction.
pub const DEFAULT_CAPACITY: usize = 64 * 1024;

/// Buffers of at least this many bytes are handed to the reader unchanged
/// (zero-copy); smaller ones are copied into a shared chunk, so that one
/// read takes many small writes at once.
pub const ZERO_COPY_MIN: usize = 1024;

/// The size of the chunks that small writes are copied into.
const CHUNK: usize = 16 * 1024;

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
/// - Reads hand out the writer's buffers of [`ZERO_COPY_MIN`] bytes or more
///   unchanged (pointer-equal). Smaller writes are copied, back to back,
///   into a shared chunk, and a read takes all of them that came after the
///   last buffer handed over, as one buffer: like a socket, a pair keeps the
///   bytes and their order, not the boundaries of the writes.
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
    /// Buffers, in order; `tail` comes after the last of them.
    queue: VecDeque<Bytes>,
    /// Small writes copied back to back, not handed out yet. Its spare room
    /// is the rest of the current chunk, allocated on the first small write.
    tail: BytesMut,
    /// The bytes in `queue` and `tail`.
    queued: usize,
    /// The writer signalled the end of its writes.
    eof: bool,
}

impl Pipe {
    fn push(&mut self, buf: Bytes) {
        self.queued += buf.len();
        if buf.len() >= ZERO_COPY_MIN {
            self.seal_tail();
            self.queue.push_back(buf);
            return;
        }
        if self.tail.capacity() - self.tail.len() < buf.len() {
            // The chunk is full: what it holds goes out as one buffer, and
            // the next small writes start a new chunk (the old one is freed
            // once the reader drops its pieces).
            self.seal_tail();
            self.tail = BytesMut::with_capacity(CHUNK);
        }
        self.tail.extend_from_slice(&buf);
    }

    /// Ends the current run of small writes: the copies so far become one
    /// buffer in the queue, before whatever comes next.
    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.queue.push_back(self.tail.split().freeze());
        }
    }

    fn pop(&mut self) -> Option<Bytes> {
        let buf = match self.queue.pop_front() {
            Some(buf) => buf,
            None if !self.tail.is_empty() => self.tail.split().freeze(),
            None => return None,
        };
        self.queued -= buf.len();
        Some(buf)
    }

    /// Drops everything queued, and the chunk with it.
    fn clear(&mut self) {
        self.queue.clear();
        self.tail = BytesMut::new();
        self.queued = 0;
    }
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
            self.pipes[1 - me].clear();
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
        if let Some(buf) = incoming.pop() {
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
        outgoing.push(buf);
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
        shared.pipes[peer].clear();
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

#[cfg(test)]
mod tests {
    use flow_api::prelude::*;
    use futures_executor::block_on;

    use super::{CHUNK, MemFlow, ZERO_COPY_MIN, pair, pair_with_capacity};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// One read, which must be data.
    fn read_data(flow: &mut MemFlow) -> Result<Bytes, Box<dyn std::error::Error>> {
        match block_on(flow.read())? {
            Chunk::Data(buf) => Ok(buf),
            Chunk::Eof => Err("end of file instead of data".into()),
        }
    }

    /// Reads until `want` bytes came, and how many reads that took.
    fn read_exactly(flow: &mut MemFlow, want: usize) -> Result<(Vec<u8>, usize), Box<dyn std::error::Error>> {
        let (mut got, mut reads) = (Vec::new(), 0);
        while got.len() < want {
            got.extend_from_slice(&read_data(flow)?);
            reads += 1;
        }
        Ok((got, reads))
    }

    #[test]
    fn small_writes_arrive_in_order_in_one_read() -> TestResult {
        let (mut a, mut b) = pair();
        let mut sent = Vec::new();
        for i in 0..100u8 {
            let msg = vec![i; 1 + usize::from(i) % 7];
            sent.extend_from_slice(&msg);
            block_on(a.write(Bytes::from(msg)))?;
        }
        let (got, reads) = read_exactly(&mut b, sent.len())?;
        assert_eq!(got, sent);
        assert_eq!(reads, 1, "the small writes were copied into one chunk");
        Ok(())
    }

    #[test]
    fn large_buffers_are_handed_over_between_small_ones_in_order() -> TestResult {
        let (mut a, mut b) = pair();
        let large = Bytes::from(vec![9u8; ZERO_COPY_MIN]);
        block_on(a.write("ab"))?;
        block_on(a.write(large.clone()))?;
        block_on(a.write("cd"))?;
        assert_eq!(read_data(&mut b)?, "ab");
        let got = read_data(&mut b)?;
        assert_eq!(got.as_ptr(), large.as_ptr(), "a large buffer is not copied");
        assert_eq!(got.len(), large.len());
        assert_eq!(read_data(&mut b)?, "cd");
        Ok(())
    }

    #[test]
    fn one_byte_under_the_bound_is_copied() -> TestResult {
        let (mut a, mut b) = pair();
        let small = Bytes::from(vec![1u8; ZERO_COPY_MIN - 1]);
        block_on(a.write(small.clone()))?;
        let got = read_data(&mut b)?;
        assert_eq!(got, small);
        assert_ne!(got.as_ptr(), small.as_ptr());
        Ok(())
    }

    #[test]
    fn small_writes_past_a_chunk_keep_every_byte() -> TestResult {
        let (mut a, mut b) = pair_with_capacity(usize::MAX);
        let mut sent = Vec::new();
        for i in 0..(3 * CHUNK / 1000) {
            let msg: Vec<u8> = (0..1000).map(|j| ((i * 31 + j) % 251) as u8).collect();
            sent.extend_from_slice(&msg);
            block_on(a.write(Bytes::from(msg)))?;
        }
        let (got, reads) = read_exactly(&mut b, sent.len())?;
        assert_eq!(got, sent);
        assert!(reads >= 3, "each full chunk went out as its own buffer ({reads} reads)");
        Ok(())
    }

    #[test]
    fn copied_bytes_count_against_the_bound() -> TestResult {
        let (mut a, mut b) = pair_with_capacity(100);
        for _ in 0..10 {
            block_on(a.write(Bytes::from(vec![5u8; 10])))?;
        }
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(
            std::pin::Pin::new(&mut a).poll_write_ready(&mut cx).is_pending(),
            "100 copied bytes fill a 100-byte bound"
        );
        let (got, _) = read_exactly(&mut b, 100)?;
        assert_eq!(got, vec![5u8; 100]);
        assert!(std::pin::Pin::new(&mut a).poll_write_ready(&mut cx).is_ready());
        Ok(())
    }

    #[test]
    fn shutdown_read_discards_copied_bytes() -> TestResult {
        let (mut a, mut b) = pair();
        block_on(a.write("lost"))?;
        block_on(b.shutdown(Shutdown::Read))?;
        assert_eq!(block_on(b.read())?, Chunk::Eof);
        block_on(a.write("also discarded"))?;
        Ok(())
    }
}
