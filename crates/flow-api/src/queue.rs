//! The write queue that every flow which queues shares: the buffers handed
//! over, the high-water mark that backpressure waits on, the write side's
//! state, and the refusal that state implies.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};

use crate::{Error, ErrorKind, FlowWrite, WriteError};

/// Where the write side of a flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteState {
    /// Writes are taken.
    Open,
    /// The end of writes is under way (a shutdown or close started): writes
    /// are refused with [`WriteError::Closed`].
    Shutting,
    /// The end of writes was signalled: writes are refused with
    /// [`WriteError::Closed`].
    Shut,
    /// Writing failed with this kind: later writes fail with it too, instead
    /// of queueing data that can never be sent.
    Failed(ErrorKind),
}

/// The buffers a flow took with [`start_write`](FlowWrite::start_write) and
/// has not sent yet, and the state of its write side.
///
/// A flow implementation keeps one and gets the contract's write rules from
/// it:
///
/// - [`start_write`](WriteQueue::start_write) refuses a buffer, even an
///   empty one, once writing is shut ([`WriteError::Closed`]) or failed (the
///   failure's kind), and queues it otherwise; empty buffers are not queued.
/// - [`poll_ready`](WriteQueue::poll_ready) is the flow's
///   `poll_write_ready`: it waits only while the queue holds at least the
///   high-water mark, sending meanwhile.
/// - [`advance`](WriteQueue::advance) consumes what was sent (a short write
///   leaves the rest of its buffer at the front), and
///   [`relay`](WriteQueue::relay) hands the queued buffers to another flow,
///   for flows that wrap one.
/// - [`fail`](WriteQueue::fail) records a failure and drops what can no
///   longer be sent.
///
/// ```
/// use flow_api::{Bytes, WriteError, WriteQueue};
///
/// let mut queue = WriteQueue::new(8);
/// queue.start_write(Bytes::from_static(b"hello "))?;
/// queue.start_write(Bytes::from_static(b"world"))?;
/// assert_eq!(queue.len(), 11);
/// assert!(queue.is_full());
/// queue.advance(7); // the socket took "hello w"
/// assert_eq!(queue.front().map(|b| &b[..]), Some(&b"orld"[..]));
/// queue.shut();
/// assert!(matches!(queue.start_write(Bytes::new()), Err(WriteError::Closed)));
/// # Ok::<(), WriteError>(())
/// ```
pub struct WriteQueue {
    // Boxed, made at the first push and kept: a flow that has not written
    // yet (an idle connection) holds 8 bytes here instead of 32. The
    // queue's buffers are on the heap anyway; this is one more pointer.
    #[allow(clippy::box_collection, reason = "an idle queue holds a pointer, not a deque")]
    bufs: Option<Box<VecDeque<Bytes>>>,
    len: usize,
    what: &'static str,
    // `u32::MAX` is no mark at all (`usize::MAX`): see `new`.
    high_water: u32,
    state: WriteState,
}

/// What an unallocated queue reads as.
static NO_BUFFERS: VecDeque<Bytes> = VecDeque::new();

impl WriteQueue {
    /// An empty, open queue that applies backpressure once it holds
    /// `high_water` bytes. A mark of 4 GiB (`u32::MAX` bytes) or more is no
    /// mark at all: the queue is never full, as with `usize::MAX`.
    ///
    /// An empty queue allocates nothing; the first buffer queued makes its
    /// storage, which it keeps.
    pub const fn new(high_water: usize) -> Self {
        WriteQueue {
            bufs: None,
            len: 0,
            what: "the flow's write side",
            // Kept in 32 bits, which is smaller (the queue is part of
            // every idle flow) and more than any mark in use.
            high_water: if high_water >= u32::MAX as usize {
                u32::MAX
            } else {
                high_water as u32
            },
            state: WriteState::Open,
        }
    }

    /// The queued buffers, front first (an empty deque before any was).
    #[inline]
    fn deque(&self) -> &VecDeque<Bytes> {
        match &self.bufs {
            Some(bufs) => bufs,
            None => &NO_BUFFERS,
        }
    }

    /// Names the write side in the error that refuses writes after a
    /// failure: "`what` failed earlier". The default is "the flow's write
    /// side".
    #[must_use]
    pub const fn named(mut self, what: &'static str) -> Self {
        self.what = what;
        self
    }

    /// Bytes queued and not yet sent.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.deque().is_empty()
    }

    /// Buffers queued (the front one possibly partly sent).
    pub fn buffers(&self) -> usize {
        self.deque().len()
    }

    /// Whether the queue holds the high-water mark or more.
    pub fn is_full(&self) -> bool {
        self.len >= self.high_water()
    }

    /// The high-water mark (`usize::MAX` for none: see
    /// [`new`](WriteQueue::new)).
    pub fn high_water(&self) -> usize {
        match self.high_water {
            u32::MAX => usize::MAX,
            mark => mark as usize,
        }
    }

    /// The write side's state.
    pub fn state(&self) -> WriteState {
        self.state
    }

    /// Whether writes are taken.
    pub fn is_open(&self) -> bool {
        self.state == WriteState::Open
    }

    /// The front buffer, the next to send.
    pub fn front(&self) -> Option<&Bytes> {
        self.deque().front()
    }

    /// The queued buffers, front first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Bytes> + '_ {
        self.deque().iter()
    }

    /// Why a write would be refused now, if it would.
    #[inline]
    pub fn refusal(&self) -> Option<WriteError> {
        // Asked before every write: the open case stays at the call site.
        match self.state {
            WriteState::Open => None,
            _ => self.refusal_of_closed(),
        }
    }

    #[cold]
    fn refusal_of_closed(&self) -> Option<WriteError> {
        match self.state {
            WriteState::Open => None,
            WriteState::Shutting | WriteState::Shut => Some(WriteError::Closed),
            WriteState::Failed(kind) => Some(self.failure(kind).into()),
        }
    }

    /// The error for a write side that failed with `kind`.
    fn failure(&self, kind: ErrorKind) -> Error {
        Error::new(kind).context(format!("{} failed earlier", self.what))
    }

    /// An error if the write side failed, for the steps (flush, shutdown)
    /// that succeed once writing is shut.
    ///
    /// # Errors
    ///
    /// The write side failed earlier: an error of that kind.
    pub fn check_failed(&self) -> Result<(), Error> {
        match self.state {
            WriteState::Failed(kind) => Err(self.failure(kind)),
            _ => Ok(()),
        }
    }

    /// Takes `buf` for sending, or refuses it (an empty one too) as
    /// [`refusal`](WriteQueue::refusal) says. An empty buffer is not queued.
    ///
    /// # Errors
    ///
    /// [`WriteError::Closed`] once writing is shut; the earlier failure once
    /// it failed.
    pub fn start_write(&mut self, buf: Bytes) -> Result<(), WriteError> {
        if let Some(refusal) = self.refusal() {
            return Err(refusal);
        }
        self.push(buf);
        Ok(())
    }

    /// Queues `buf` whatever the state (nothing if it is empty): for flows
    /// that decide about refusals themselves.
    pub fn push(&mut self, buf: Bytes) {
        if !buf.is_empty() {
            self.len += buf.len();
            self.bufs.get_or_insert_with(Box::default).push_back(buf);
        }
    }

    /// Puts `buf` back at the front, as the next to send.
    pub fn push_front(&mut self, buf: Bytes) {
        if !buf.is_empty() {
            self.len += buf.len();
            self.bufs.get_or_insert_with(Box::default).push_front(buf);
        }
    }

    /// Takes the front buffer off the queue.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        let buf = self.bufs.as_mut()?.pop_front()?;
        self.len -= buf.len();
        Some(buf)
    }

    /// Consumes the first `n` bytes, which were sent: whole buffers are
    /// dropped, and a buffer sent in part keeps its rest at the front. `n`
    /// larger than [`len`](WriteQueue::len) consumes everything.
    pub fn advance(&mut self, mut n: usize) {
        let Some(bufs) = self.bufs.as_mut() else { return };
        while n > 0 {
            let Some(front) = bufs.front_mut() else { break };
            if front.len() <= n {
                n -= front.len();
                self.len -= front.len();
                bufs.pop_front();
            } else {
                front.advance(n);
                self.len -= n;
                n = 0;
            }
        }
    }

    /// The flow's `poll_write_ready`: refused as
    /// [`refusal`](WriteQueue::refusal) says; otherwise ready at once while
    /// the queue is below its high-water mark. At or above it, `send` is
    /// called to send some, and the flow is ready once the queue is below
    /// the mark again, even if `send` could not send everything.
    ///
    /// # Errors
    ///
    /// The refusal, or what `send` failed with.
    pub fn poll_ready<E>(&mut self, send: impl FnOnce(&mut Self) -> Poll<Result<(), E>>) -> Poll<Result<(), WriteError>>
    where
        WriteError: From<E>,
    {
        if let Some(refusal) = self.refusal() {
            return Poll::Ready(Err(refusal));
        }
        if self.is_full() {
            match send(self) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err.into())),
                Poll::Pending if self.is_full() => return Poll::Pending,
                Poll::Pending => {}
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Hands the queued buffers to `flow`, each once it
    /// [has room](FlowWrite::poll_write_ready), without flushing it. Ready
    /// once the queue is empty, with whether anything was handed over. What
    /// `flow` refuses stays queued.
    ///
    /// # Errors
    ///
    /// What `flow` refused a buffer with.
    pub fn relay<F: FlowWrite + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        mut flow: Pin<&mut F>,
    ) -> Poll<Result<bool, WriteError>> {
        let mut handed = false;
        while let Some(front) = self.front() {
            match flow.as_mut().poll_write_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            }
            // A clone is a reference count: the buffer stays queued if refused.
            flow.as_mut().start_write(front.clone())?;
            self.pop_front();
            handed = true;
        }
        Poll::Ready(Ok(handed))
    }

    /// Marks the end of writes as under way: writes are refused from now on.
    pub fn shutting(&mut self) {
        if self.state == WriteState::Open {
            self.state = WriteState::Shutting;
        }
    }

    /// Marks the end of writes as signalled, or the write side as closed:
    /// writes are refused with [`WriteError::Closed`] from now on, even
    /// after a failure (the contract's refusal after `shutdown(Write)` or
    /// close).
    pub fn shut(&mut self) {
        self.state = WriteState::Shut;
    }

    /// Records that writing failed with `kind` (unless the end of writes was
    /// signalled already, or another failure came first) and drops what is
    /// queued, which can no longer be sent.
    pub fn fail(&mut self, kind: ErrorKind) {
        if matches!(self.state, WriteState::Open | WriteState::Shutting) {
            self.state = WriteState::Failed(kind);
        }
        self.clear();
    }

    /// Drops what is queued.
    pub fn clear(&mut self) {
        if let Some(bufs) = &mut self.bufs {
            bufs.clear();
        }
        self.len = 0;
    }

    /// Takes everything queued off, front first, leaving the queue empty.
    pub fn take_all(&mut self) -> Vec<Bytes> {
        self.len = 0;
        self.bufs
            .as_mut()
            .map(|bufs| bufs.drain(..).collect())
            .unwrap_or_default()
    }
}

impl fmt::Debug for WriteQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteQueue")
            .field("len", &self.len)
            .field("buffers", &self.buffers())
            .field("high_water", &self.high_water())
            .field("state", &self.state)
            .finish()
    }
}

/// The error of an `into_inner` that would lose data: the flow, given back
/// whole, still holds bytes that it read and not returned, or took and not
/// sent. Flush (and read) first, or take the parts apart with the flow's
/// `into_parts`.
pub struct IntoInnerError<F> {
    // Boxed: flows are large, and the `Ok` side of `into_inner` is small.
    flow: Box<F>,
    unsent: usize,
    unread: usize,
}

impl<F> IntoInnerError<F> {
    /// The error for `flow`, which holds `unsent` bytes not yet sent and
    /// `unread` bytes not yet returned.
    pub fn new(flow: F, unsent: usize, unread: usize) -> Self {
        IntoInnerError {
            flow: Box::new(flow),
            unsent,
            unread,
        }
    }

    /// The flow, unchanged.
    pub fn into_flow(self) -> F {
        *self.flow
    }

    /// The same error around another flow: for wrappers that give back
    /// themselves, not what they wrap.
    pub fn map<G>(self, wrap: impl FnOnce(F) -> G) -> IntoInnerError<G> {
        IntoInnerError {
            flow: Box::new(wrap(*self.flow)),
            unsent: self.unsent,
            unread: self.unread,
        }
    }

    /// The flow, by reference.
    pub fn flow(&self) -> &F {
        &self.flow
    }

    /// Bytes taken and not yet sent.
    pub fn unsent(&self) -> usize {
        self.unsent
    }

    /// Bytes read and not yet returned.
    pub fn unread(&self) -> usize {
        self.unread
    }
}

impl<F> fmt::Display for IntoInnerError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "into_inner would lose data: ")?;
        match (self.unsent, self.unread) {
            (unsent, 0) => write!(f, "{unsent} bytes are not sent yet (flush first)"),
            (0, unread) => write!(f, "{unread} bytes are read and not returned yet"),
            (unsent, unread) => write!(
                f,
                "{unsent} bytes are not sent yet (flush first) and {unread} bytes are read and not returned yet"
            ),
        }
    }
}

impl<F> fmt::Debug for IntoInnerError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoInnerError")
            .field("unsent", &self.unsent)
            .field("unread", &self.unread)
            .finish_non_exhaustive()
    }
}

impl<F> std::error::Error for IntoInnerError<F> {}

impl<F> From<IntoInnerError<F>> for Error {
    fn from(err: IntoInnerError<F>) -> Self {
        Error::new(ErrorKind::Other).context(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_consumes_across_buffers_and_keeps_partial_fronts() {
        let mut queue = WriteQueue::new(usize::MAX);
        queue.push(Bytes::from_static(b"abc"));
        queue.push(Bytes::new());
        queue.push(Bytes::from_static(b"defg"));
        assert_eq!((queue.len(), queue.buffers()), (7, 2));
        queue.advance(4);
        assert_eq!(queue.front().map(|b| &b[..]), Some(&b"efg"[..]));
        assert_eq!(queue.len(), 3);
        queue.advance(10);
        assert!(queue.is_empty());
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn refusals_follow_the_state() {
        let mut queue = WriteQueue::new(4).named("the test socket");
        assert!(queue.start_write(Bytes::from_static(b"x")).is_ok());
        queue.fail(ErrorKind::Reset);
        assert!(queue.is_empty(), "a failure drops what can no longer be sent");
        let err = queue.start_write(Bytes::new()).err().map(Error::from);
        let err = err.as_ref().map(|e| (e.kind(), e.to_string()));
        assert_eq!(
            err,
            Some((
                ErrorKind::Reset,
                "the test socket failed earlier: connection reset by peer".to_owned()
            ))
        );
        // A failure is not overwritten by another failure; once shut (a
        // close gave up), writes are refused as closed.
        queue.fail(ErrorKind::TimedOut);
        assert_eq!(queue.state(), WriteState::Failed(ErrorKind::Reset));
        assert!(queue.check_failed().is_err());
        queue.shut();
        assert!(matches!(queue.start_write(Bytes::new()), Err(WriteError::Closed)));

        let mut queue = WriteQueue::new(4);
        queue.shutting();
        assert!(matches!(queue.start_write(Bytes::new()), Err(WriteError::Closed)));
        queue.shut();
        assert!(queue.check_failed().is_ok());
        queue.fail(ErrorKind::Reset);
        assert_eq!(
            queue.state(),
            WriteState::Shut,
            "a failure after the end of writes is not a refusal"
        );
    }

    #[test]
    fn poll_ready_waits_only_while_at_the_high_water_mark() {
        let mut queue = WriteQueue::new(4);
        queue.push(Bytes::from_static(b"abc"));
        let mut sent = false;
        let polled = queue.poll_ready(|_| -> Poll<Result<(), WriteError>> {
            sent = true;
            Poll::Pending
        });
        assert!(matches!(polled, Poll::Ready(Ok(()))));
        assert!(!sent, "below the mark nothing is sent");

        queue.push(Bytes::from_static(b"defg"));
        let polled = queue.poll_ready(|q| -> Poll<Result<(), WriteError>> {
            q.advance(2);
            Poll::Pending
        });
        assert!(polled.is_pending(), "still at the mark after sending 2 of 7");
        let polled = queue.poll_ready(|q| -> Poll<Result<(), WriteError>> {
            q.advance(3);
            Poll::Pending
        });
        assert!(matches!(polled, Poll::Ready(Ok(()))), "below the mark again");
    }

    #[test]
    fn an_idle_queue_stays_small_and_allocates_nothing() {
        // Every socket flow holds one, idle or not, and an idle flow must
        // cost at most 64 bytes over its raw socket (issue 15): the deque
        // is boxed (8 bytes, not 32) and the mark kept in 32 bits. Were the
        // queue to grow back, that budget would be gone.
        assert!(
            std::mem::size_of::<WriteQueue>() <= 40,
            "WriteQueue is {} bytes",
            std::mem::size_of::<WriteQueue>()
        );
        let mut queue = WriteQueue::new(4);
        assert!(queue.bufs.is_none());
        assert!(queue.is_empty() && queue.front().is_none() && queue.iter().len() == 0);
        queue.advance(3);
        assert!(queue.pop_front().is_none() && queue.take_all().is_empty());
        queue.push(Bytes::new());
        assert!(queue.bufs.is_none(), "an empty buffer is not queued");
        queue.push(Bytes::from_static(b"ab"));
        assert_eq!(queue.take_all(), vec![Bytes::from_static(b"ab")]);
    }

    #[test]
    fn marks_beyond_32_bits_are_no_mark() {
        assert_eq!(WriteQueue::new(usize::MAX).high_water(), usize::MAX);
        assert_eq!(WriteQueue::new(u32::MAX as usize).high_water(), usize::MAX);
        let below = u32::MAX as usize - 1;
        assert_eq!(WriteQueue::new(below).high_water(), below);
        assert_eq!(WriteQueue::new(256 * 1024).high_water(), 256 * 1024);
        let mut queue = WriteQueue::new(usize::MAX);
        queue.push(Bytes::from(vec![0; 1024]));
        assert!(!queue.is_full());
    }

    #[test]
    fn into_inner_error_says_what_would_be_lost() {
        let err = IntoInnerError::new((), 5, 0);
        assert_eq!(
            err.to_string(),
            "into_inner would lose data: 5 bytes are not sent yet (flush first)"
        );
        let err = IntoInnerError::new((), 2, 3);
        assert!(err.to_string().contains("2 bytes are not sent yet"));
        assert!(err.to_string().contains("3 bytes are read and not returned yet"));
    }
}
