//! A fault-injecting wrapper for any flow.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use flow_api::{Bytes, Chunk, Error, ErrorKind, FlowRead, FlowWrite, IntoInnerError, WriteError, WriteQueue};

/// How a [`Faulty`] flow misbehaves. Every choice comes from a generator
/// seeded with [`seed`](FaultConfig::seed), so a failing run can be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultConfig {
    seed: u64,
    max_chunk: usize,
    pending_percent: u8,
    fail_read_after: Option<(u64, ErrorKind)>,
    fail_write_after: Option<(u64, ErrorKind)>,
}

impl FaultConfig {
    /// Chunks of 1 byte to 64 KiB (log-uniform, so small chunks are common),
    /// `Pending` on a quarter of the polls, no injected error.
    pub fn new(seed: u64) -> Self {
        FaultConfig {
            seed,
            max_chunk: 64 * 1024,
            pending_percent: 25,
            fail_read_after: None,
            fail_write_after: None,
        }
    }

    /// The seed every random choice comes from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Largest chunk a read returns or a write passes on (at least 1); sizes
    /// are drawn log-uniformly from `1..=max_chunk`. `1` gives one-byte chunks only.
    #[must_use]
    pub fn max_chunk(mut self, max_chunk: usize) -> Self {
        self.max_chunk = max_chunk.max(1);
        self
    }

    /// Percentage (0 to 100) of polls answered `Pending` (with an immediate
    /// wake-up) before doing anything.
    #[must_use]
    pub fn pending_percent(mut self, percent: u8) -> Self {
        self.pending_percent = percent.min(100);
        self
    }

    /// After `bytes` bytes were read, reads fail with an error of `kind`.
    #[must_use]
    pub fn fail_read_after(mut self, bytes: u64, kind: ErrorKind) -> Self {
        self.fail_read_after = Some((bytes, kind));
        self
    }

    /// After `bytes` bytes were written, the rest is lost and writes fail
    /// with an error of `kind`, as when a connection dies under a writer.
    #[must_use]
    pub fn fail_write_after(mut self, bytes: u64, kind: ErrorKind) -> Self {
        self.fail_write_after = Some((bytes, kind));
        self
    }
}

/// Wraps any flow and makes it behave like a hostile network: reads and
/// writes split at seeded random places (down to single bytes), `Pending`
/// interleaved, and optionally an error after N bytes.
///
/// Data is never reordered, lost or altered (up to an injected failure): a
/// conforming flow stays conforming under `Faulty`, so protocol code that
/// breaks under it assumed something the contract does not promise.
///
/// ```
/// use flow_api::prelude::*;
/// use flow_mem::{FaultConfig, Faulty};
///
/// # fn main() -> Result<(), flow_api::Error> {
/// futures_executor::block_on(async {
///     let (a, b) = flow_mem::pair();
///     let mut a = Faulty::new(a, FaultConfig::new(7).max_chunk(1));
///     let mut b = Faulty::new(b, FaultConfig::new(8).max_chunk(1));
///     a.write("hi").await?;
///     assert_eq!(b.read().await?, Chunk::Data(Bytes::from("h")));
///     assert_eq!(b.read().await?, Chunk::Data(Bytes::from("i")));
///     Ok(())
/// })
/// # }
/// ```
pub struct Faulty<F> {
    inner: F,
    config: FaultConfig,
    rng: fastrand::Rng,
    read_leftover: Option<Bytes>,
    read_count: u64,
    /// The pieces split off and not yet passed on; no high-water mark of
    /// its own: the inner flow's room paces them.
    write_queue: WriteQueue,
    write_count: u64,
    /// The inner flow's write side was asked to shut down (or close): from
    /// then on buffers go straight to it, so that its refusal is ours.
    write_shutting: bool,
    /// The inner flow's write side failed: the error is ours for good.
    write_failed: Option<ErrorKind>,
    /// Close completed (with success or not): writes are refused as Closed.
    closed: bool,
    /// Close was polled, and has not reached the inner flow's close yet:
    /// reads return end of file meanwhile, as the contract says, even if a
    /// close abandoned early (`close_within`) never gets there. Once the
    /// inner close started, reads are the inner flow's again, so that what
    /// it does after close stays visible.
    closing_here: bool,
    /// End of file was returned while `closing_here`: it stays the answer,
    /// whatever the inner flow would say later.
    eof_returned: bool,
}

impl<F> Faulty<F> {
    /// Wraps `inner`.
    pub fn new(inner: F, config: FaultConfig) -> Self {
        Faulty {
            inner,
            rng: fastrand::Rng::with_seed(config.seed),
            config,
            read_leftover: None,
            read_count: 0,
            write_queue: WriteQueue::new(usize::MAX),
            write_count: 0,
            write_shutting: false,
            write_failed: None,
            closed: false,
            closing_here: false,
            eof_returned: false,
        }
    }

    /// The configuration, with its seed.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// The wrapped flow.
    pub fn get_ref(&self) -> &F {
        &self.inner
    }

    /// Unwraps the flow, once every piece written was passed on to it.
    ///
    /// # Errors
    ///
    /// Pieces split off are still waiting (flush first), or part of a read
    /// chunk was held back: the error gives this flow back unchanged.
    pub fn into_inner(self) -> Result<F, IntoInnerError<Self>> {
        let unsent = self.write_queue.len();
        let unread = self.read_leftover.as_ref().map_or(0, Bytes::len);
        if unsent == 0 && unread == 0 {
            Ok(self.inner)
        } else {
            Err(IntoInnerError::new(self, unsent, unread))
        }
    }

    fn chunk_size(&mut self) -> usize {
        let max = self.config.max_chunk;
        let bits = usize::BITS - max.leading_zeros();
        let upper = 1usize.checked_shl(self.rng.u32(0..bits)).unwrap_or(max).min(max);
        self.rng.usize(1..=upper)
    }

    fn inject_pending(&mut self, cx: &mut Context<'_>) -> bool {
        if self.rng.u8(0..100) < self.config.pending_percent {
            cx.waker().wake_by_ref();
            true
        } else {
            false
        }
    }

    fn write_failure(&self) -> Option<WriteError> {
        if let Some(kind) = self.write_failed {
            return Some(WriteError::from(
                Error::new(kind).context("the wrapped flow's write side failed earlier"),
            ));
        }
        match self.config.fail_write_after {
            Some((after, kind)) if self.write_count >= after => Some(WriteError::from(
                Error::new(kind).context("fault injected by flow_mem::Faulty"),
            )),
            _ => None,
        }
    }
}

impl<F: FlowWrite + Unpin> Faulty<F> {
    /// Passes the queued pieces on, each after the inner flow said it had room.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        match ready!(self.write_queue.relay(cx, Pin::new(&mut self.inner))) {
            Ok(_) => Poll::Ready(Ok(())),
            Err(err) => Poll::Ready(Err(self.failed(err))),
        }
    }

    /// Keeps a write-side failure of the inner flow, so that later writes
    /// fail too instead of queueing data that can never be sent.
    /// Hands every queued buffer to the inner flow, without waiting for
    /// its room.
    fn hand_over_all(&mut self) -> Result<(), WriteError> {
        for buf in self.write_queue.take_all() {
            if let Err(err) = Pin::new(&mut self.inner).start_write(buf) {
                return Err(self.failed(err));
            }
        }
        Ok(())
    }

    fn failed(&mut self, err: WriteError) -> WriteError {
        self.write_queue.clear();
        if err.is_closed() {
            self.write_shutting = true;
        } else if self.write_failed.is_none() {
            self.write_failed = Some(err.kind());
        }
        err
    }
}

impl<F: FlowRead + Unpin> FlowRead for Faulty<F> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let this = self.get_mut();
        if this.closing_here || this.eof_returned {
            this.eof_returned = true;
            return Poll::Ready(Ok(Chunk::Eof));
        }
        if this.inject_pending(cx) {
            return Poll::Pending;
        }
        let budget = match this.config.fail_read_after {
            Some((after, kind)) if this.read_count >= after => {
                return Poll::Ready(Err(Error::new(kind).context("fault injected by flow_mem::Faulty")));
            }
            Some((after, _)) => usize::try_from(after - this.read_count).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        let mut data = match this.read_leftover.take() {
            Some(data) => data,
            None => match ready!(Pin::new(&mut this.inner).poll_read(cx))? {
                Chunk::Data(data) => data,
                Chunk::Eof => return Poll::Ready(Ok(Chunk::Eof)),
            },
        };
        let take = this.chunk_size().min(budget);
        if data.len() > take {
            this.read_leftover = Some(data.split_off(take));
        }
        this.read_count += data.len() as u64;
        Poll::Ready(Ok(Chunk::Data(data)))
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.read_leftover = None;
        Pin::new(&mut this.inner).poll_shutdown_read(cx)
    }
}

impl<F: FlowWrite + Unpin> FlowWrite for Faulty<F> {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        if this.closed {
            return Poll::Ready(Err(WriteError::Closed));
        }
        if this.write_shutting {
            return Pin::new(&mut this.inner).poll_write_ready(cx);
        }
        if let Some(failure) = this.write_failure() {
            return Poll::Ready(Err(failure));
        }
        if this.inject_pending(cx) {
            return Poll::Pending;
        }
        ready!(this.poll_drain(cx))?;
        match ready!(Pin::new(&mut this.inner).poll_write_ready(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(err) => Poll::Ready(Err(this.failed(err))),
        }
    }

    fn start_write(self: Pin<&mut Self>, mut buf: Bytes) -> Result<(), WriteError> {
        let this = self.get_mut();
        if this.closed {
            return Err(WriteError::Closed);
        }
        if this.write_shutting {
            // The inner flow decides: it refuses once its write side is shut.
            let result = Pin::new(&mut this.inner).start_write(buf);
            return result.map_err(|err| this.failed(err));
        }
        if let Some(failure) = this.write_failure() {
            return Err(failure);
        }
        if let Some((after, _)) = this.config.fail_write_after {
            let room = usize::try_from(after - this.write_count).unwrap_or(usize::MAX);
            buf.truncate(room);
        }
        this.write_count += buf.len() as u64;
        while !buf.is_empty() {
            let take = this.chunk_size().min(buf.len());
            this.write_queue.push(buf.split_to(take));
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        if this.inject_pending(cx) {
            return Poll::Pending;
        }
        ready!(this.poll_drain(cx))?;
        if let Err(err) = ready!(Pin::new(&mut this.inner).poll_flush(cx)) {
            return Poll::Ready(Err(this.failed(err)));
        }
        match this.write_failure() {
            Some(failure) => Poll::Ready(Err(failure)),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.inject_pending(cx) {
            return Poll::Pending;
        }
        if let Err(err) = ready!(this.poll_drain(cx)) {
            // The queue is gone with the failure: later writes go to the inner flow.
            this.write_shutting = true;
            return Poll::Ready(Err(err.into()));
        }
        this.write_shutting = true;
        Pin::new(&mut this.inner).poll_shutdown_write(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.closed {
            // Closing again succeeds at once, whatever the first close said.
            return Poll::Ready(Ok(()));
        }
        this.closing_here = true;
        this.read_leftover = None;
        if this.inject_pending(cx) {
            return Poll::Pending;
        }
        // Everything queued goes to the inner flow at once, without waiting
        // for its room (the contract lets a flow take a buffer over its
        // bound): its close sends it while discarding what arrives. Waiting
        // here for room instead, while nobody reads, deadlocks two ends
        // that close at once with full buffers.
        if let Err(err) = this.hand_over_all() {
            this.write_shutting = true;
            this.closed = true;
            return Poll::Ready(Err(err.into()));
        }
        this.read_leftover = None;
        this.write_shutting = true;
        this.closing_here = false;
        let result = ready!(Pin::new(&mut this.inner).poll_close(cx));
        this.closed = true;
        Poll::Ready(result)
    }
}

impl<F: fmt::Debug> fmt::Debug for Faulty<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faulty")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("read_count", &self.read_count)
            .field("write_count", &self.write_count)
            .finish_non_exhaustive()
    }
}
