//! The suite must be able to fail: each deliberately broken backend here is
//! caught by the clause that covers what it breaks, while the same clauses
//! pass on the reference backend underneath.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use flow_api::{Bytes, Chunk, Error, FlowRead, FlowWrite, WriteError};
use flow_conformance::{Capabilities, Clause, Factory, MemPairs, Outcome};
use flow_mem::MemFlow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breakage {
    /// Returns an empty buffer before every other real read.
    EmptyReads,
    /// Holds back the last buffer written and drops it on shutdown or close.
    LosesLastChunkOnClose,
    /// Never signals end of file on shutdown(Write) or close.
    NoEofOnShutdown,
    /// Sends the buffers handed over before a flush in reverse order.
    ReordersWritev,
    /// Drops a chunk when a read is polled and then cancelled.
    LosesDataOnCancel,
    /// Claims bounded buffers but never makes a writer wait.
    NoBackpressure,
    /// Reports a closed error from reads after close, not end of file.
    ReadErrorAfterClose,
}

struct Broken {
    inner: MemFlow,
    breakage: Breakage,
    held: Vec<Bytes>,
    reads: u64,
    closed: bool,
    write_shut: bool,
}

impl Broken {
    fn new(inner: MemFlow, breakage: Breakage) -> Self {
        Broken {
            inner,
            breakage,
            held: Vec::new(),
            reads: 0,
            closed: false,
            write_shut: false,
        }
    }

    fn inner(&mut self) -> Pin<&mut MemFlow> {
        Pin::new(&mut self.inner)
    }

    fn release_held(&mut self) -> Result<(), WriteError> {
        let mut held = std::mem::take(&mut self.held);
        if self.breakage == Breakage::ReordersWritev {
            held.reverse();
        }
        for buf in held {
            self.inner().start_write(buf)?;
        }
        Ok(())
    }
}

impl FlowRead for Broken {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let this = self.get_mut();
        this.reads += 1;
        match this.breakage {
            Breakage::EmptyReads if this.reads % 2 == 0 => Poll::Ready(Ok(Chunk::Data(Bytes::new()))),
            Breakage::LosesDataOnCancel if this.reads % 3 == 0 => {
                // Takes a chunk, then claims nothing was ready.
                if let Poll::Ready(Ok(Chunk::Data(_))) = this.inner().poll_read(cx) {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
            Breakage::ReadErrorAfterClose if this.closed => Poll::Ready(Err(Error::new(flow_api::ErrorKind::Closed))),
            _ => this.inner().poll_read(cx),
        }
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner().poll_shutdown_read(cx)
    }
}

impl FlowWrite for Broken {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        if this.write_shut {
            return Poll::Ready(Err(WriteError::Closed));
        }
        if this.breakage == Breakage::NoBackpressure {
            // Room is always claimed, whatever the bound says.
            return match this.inner().poll_write_ready(cx) {
                Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
                _ => Poll::Ready(Ok(())),
            };
        }
        this.inner().poll_write_ready(cx)
    }

    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        let this = self.get_mut();
        if this.write_shut {
            return Err(WriteError::Closed);
        }
        match this.breakage {
            Breakage::LosesLastChunkOnClose => {
                if buf.is_empty() {
                    return Ok(());
                }
                this.release_held()?;
                this.held.push(buf);
                Ok(())
            }
            Breakage::ReordersWritev => {
                this.held.push(buf);
                Ok(())
            }
            _ => this.inner().start_write(buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        if this.breakage == Breakage::ReordersWritev {
            this.release_held()?;
        }
        this.inner().poll_flush(cx)
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        match this.breakage {
            Breakage::NoEofOnShutdown => {
                // Refuses later writes, as it should, but never tells the peer.
                this.write_shut = true;
                Poll::Ready(Ok(()))
            }
            Breakage::LosesLastChunkOnClose => {
                this.held.clear();
                this.inner().poll_shutdown_write(cx)
            }
            _ => {
                this.release_held()?;
                this.inner().poll_shutdown_write(cx)
            }
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        match this.breakage {
            Breakage::NoEofOnShutdown => {
                this.write_shut = true;
                return Poll::Ready(Ok(()));
            }
            Breakage::LosesLastChunkOnClose => this.held.clear(),
            _ => this.release_held()?,
        }
        ready!(this.inner().poll_close(cx))?;
        this.closed = true;
        Poll::Ready(Ok(()))
    }
}

struct BrokenPairs(Breakage);

impl Factory for BrokenPairs {
    type Client = Broken;
    type Server = Broken;

    async fn connect(&self) -> Result<(Broken, Broken), Error> {
        let capacity = if self.0 == Breakage::NoBackpressure {
            usize::MAX
        } else {
            flow_mem::DEFAULT_CAPACITY
        };
        let (a, b) = flow_mem::pair_with_capacity(capacity);
        Ok((Broken::new(a, self.0), Broken::new(b, self.0)))
    }

    fn capabilities(&self) -> Capabilities {
        // Every broken backend claims what the reference backend does.
        MemPairs::default().capabilities()
    }
}

/// Runs `clause` on the broken backend and on the reference backend, and
/// asserts that only the broken one fails, with a message containing `expect`.
fn assert_caught(breakage: Breakage, clause: Clause, expect: &str) {
    let seed = flow_conformance::base_seed();
    // A hang is caught by the time limit; keep it short here.
    let limit = Duration::from_secs(3);
    let reference = futures_executor::block_on(flow_conformance::check_within(
        clause,
        &MemPairs::default(),
        seed,
        limit,
    ));
    assert_eq!(reference, Outcome::Passed, "reference backend must pass {clause}");
    let outcome = futures_executor::block_on(flow_conformance::check_within(
        clause,
        &BrokenPairs(breakage),
        seed,
        limit,
    ));
    match outcome {
        Outcome::Failed(why) => assert!(
            why.contains(expect),
            "{breakage:?}: clause {} failed, but not as expected ({expect:?}): {why}",
            clause.test_name()
        ),
        other => panic!("{breakage:?} was not caught by {}: {other}", clause.test_name()),
    }
}

#[test]
fn empty_reads_are_caught() {
    assert_caught(Breakage::EmptyReads, Clause::ReadNeverEmpty, "empty buffer");
    assert_caught(Breakage::EmptyReads, Clause::BytesInOrder, "empty buffer");
}

#[test]
fn losing_the_last_chunk_on_close_is_caught() {
    assert_caught(Breakage::LosesLastChunkOnClose, Clause::EofAfterData, "bytes lost");
    assert_caught(Breakage::LosesLastChunkOnClose, Clause::CloseGraceful, "bytes lost");
}

#[test]
fn missing_end_of_file_on_shutdown_is_caught_by_the_time_limit() {
    assert_caught(Breakage::NoEofOnShutdown, Clause::HalfClose, "timed out");
    assert_caught(Breakage::NoEofOnShutdown, Clause::EofAfterData, "timed out");
}

#[test]
fn reordered_writev_is_caught() {
    assert_caught(
        Breakage::ReordersWritev,
        Clause::WritevConcatenates,
        "corrupted or reordered",
    );
}

#[test]
fn data_lost_on_cancelled_read_is_caught() {
    assert_caught(Breakage::LosesDataOnCancel, Clause::ReadCancelSafe, "cancelled reads");
}

#[test]
fn missing_backpressure_is_caught() {
    assert_caught(Breakage::NoBackpressure, Clause::Backpressure, "without ever waiting");
}

#[test]
fn read_error_after_close_is_caught() {
    assert_caught(
        Breakage::ReadErrorAfterClose,
        Clause::ClosedFlowRejects,
        "must return end of file",
    );
}

#[test]
fn failures_name_the_seed_to_replay() {
    let outcome = futures_executor::block_on(flow_conformance::check_within(
        Clause::ReadNeverEmpty,
        &BrokenPairs(Breakage::EmptyReads),
        1234,
        Duration::from_secs(3),
    ));
    match outcome {
        Outcome::Failed(why) => assert!(why.contains("FLOW_CONFORMANCE_SEED=1234"), "{why}"),
        other => panic!("expected a failure, got {other}"),
    }
}

#[test]
fn the_report_marks_failures_and_not_applicable() {
    let clauses = [Clause::ReadNeverEmpty, Clause::ZeroCopy, Clause::Backpressure];
    let report = futures_executor::block_on(flow_conformance::run(
        "broken",
        &flow_conformance::FaultyFactory::new(BrokenPairs(Breakage::NoBackpressure), 5),
        &clauses,
        5,
    ));
    assert_eq!(report.entries.len(), 3);
    assert_eq!(report.outcome(Clause::ReadNeverEmpty), Some(&Outcome::Passed));
    assert!(matches!(
        report.outcome(Clause::ZeroCopy),
        Some(Outcome::NotApplicable(_))
    ));
    assert!(report.outcome(Clause::Backpressure).is_some_and(Outcome::is_failure));
    assert!(!report.is_success());
    assert!(report.to_markdown().contains("FAILED"));
}
