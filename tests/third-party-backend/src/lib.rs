//! `pipe-flow`: a duplex in-memory pipe, written from scratch against the
//! flow contract (it does not reuse `flow-mem`), as a third party would
//! write a backend. Its tests run the shared conformance suite.
//!
//! [`pair`] makes two `Send` ends; [`local_pair`] makes two ends that are
//! not `Send`, as a thread-per-core runtime's flows are.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use flow_api::{Bytes, Chunk, Error, ErrorKind, FlowRead, FlowWrite, WriteError};

/// Bytes a direction holds before its writer waits.
const CAPACITY: usize = 32 * 1024;

#[derive(Default)]
struct Direction {
    chunks: VecDeque<Bytes>,
    queued: usize,
    /// The writer finished (shutdown(Write), close).
    finished: bool,
    /// The reader stopped reading (shutdown(Read), close): writes are discarded.
    reader_left: bool,
    /// The writer was dropped without finishing: an abort.
    writer_aborted: bool,
    /// The reader was dropped.
    reader_dropped: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Direction {
    fn wake_reader(&mut self) {
        if let Some(waker) = self.reader.take() {
            waker.wake();
        }
    }
    fn wake_writer(&mut self) {
        if let Some(waker) = self.writer.take() {
            waker.wake();
        }
    }
}

type Shared = Arc<Mutex<Direction>>;

fn lock(dir: &Shared) -> MutexGuard<'_, Direction> {
    dir.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One end of a pipe.
pub struct PipeFlow {
    incoming: Shared,
    outgoing: Shared,
    write_shut: bool,
    closed: bool,
}

impl std::fmt::Debug for PipeFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeFlow")
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// Two connected ends.
pub fn pair() -> (PipeFlow, PipeFlow) {
    let (ab, ba) = (Shared::default(), Shared::default());
    (
        PipeFlow {
            incoming: Arc::clone(&ba),
            outgoing: Arc::clone(&ab),
            write_shut: false,
            closed: false,
        },
        PipeFlow {
            incoming: ab,
            outgoing: ba,
            write_shut: false,
            closed: false,
        },
    )
}

impl PipeFlow {
    fn refusal(&self, out: &Direction) -> Option<WriteError> {
        if self.write_shut || self.closed {
            Some(WriteError::Closed)
        } else if out.reader_dropped && !out.reader_left {
            Some(WriteError::Flow(
                Error::new(ErrorKind::Reset).context("the pipe's other end was dropped"),
            ))
        } else {
            None
        }
    }

    fn finish_writes(&mut self) {
        if !self.write_shut {
            self.write_shut = true;
            let mut out = lock(&self.outgoing);
            out.finished = true;
            out.wake_reader();
        }
    }

    fn stop_reading(&self) {
        let mut inc = lock(&self.incoming);
        inc.reader_left = true;
        inc.chunks.clear();
        inc.queued = 0;
        inc.wake_writer();
    }
}

impl FlowRead for PipeFlow {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let mut inc = lock(&self.incoming);
        if inc.reader_left {
            return Poll::Ready(Ok(Chunk::Eof));
        }
        if let Some(chunk) = inc.chunks.pop_front() {
            inc.queued -= chunk.len();
            inc.wake_writer();
            return Poll::Ready(Ok(Chunk::Data(chunk)));
        }
        if inc.finished {
            return Poll::Ready(Ok(Chunk::Eof));
        }
        if inc.writer_aborted {
            return Poll::Ready(Err(
                Error::new(ErrorKind::Reset).context("the pipe's other end was dropped")
            ));
        }
        inc.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.stop_reading();
        Poll::Ready(Ok(()))
    }
}

impl FlowWrite for PipeFlow {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let mut out = lock(&self.outgoing);
        if let Some(refusal) = self.refusal(&out) {
            return Poll::Ready(Err(refusal));
        }
        if out.reader_left || out.queued < CAPACITY {
            return Poll::Ready(Ok(()));
        }
        out.writer = Some(cx.waker().clone());
        Poll::Pending
    }

    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        let mut out = lock(&self.outgoing);
        if let Some(refusal) = self.refusal(&out) {
            return Err(refusal);
        }
        if !buf.is_empty() && !out.reader_left {
            out.queued += buf.len();
            out.chunks.push_back(buf);
            out.wake_reader();
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        // A buffer handed over is where the reader takes it from.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().finish_writes();
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        this.finish_writes();
        this.stop_reading();
        let mut inc = lock(&this.incoming);
        if inc.finished {
            drop(inc);
            this.closed = true;
            return Poll::Ready(Ok(()));
        }
        if inc.writer_aborted {
            drop(inc);
            this.closed = true;
            return Poll::Ready(Err(
                Error::new(ErrorKind::Reset).context("close: the pipe's other end was dropped")
            ));
        }
        inc.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for PipeFlow {
    fn drop(&mut self) {
        {
            let mut out = lock(&self.outgoing);
            if !out.finished {
                out.writer_aborted = true;
            }
            out.wake_reader();
        }
        let mut inc = lock(&self.incoming);
        inc.reader_dropped = true;
        inc.chunks.clear();
        inc.queued = 0;
        inc.wake_writer();
    }
}

/// An end that is not `Send`, like the flows of a thread-per-core runtime.
#[derive(Debug)]
pub struct LocalFlow {
    inner: PipeFlow,
    _not_send: PhantomData<Rc<()>>,
}

/// Two connected ends that are not `Send`.
pub fn local_pair() -> (LocalFlow, LocalFlow) {
    let (a, b) = pair();
    (
        LocalFlow {
            inner: a,
            _not_send: PhantomData,
        },
        LocalFlow {
            inner: b,
            _not_send: PhantomData,
        },
    )
}

flow_api::forward_flow!(LocalFlow => inner);
