//! Loom models of the halves of a split flow: the read half on one thread,
//! the write half's close on another, every interleaving of their atomic
//! and lock operations explored (up to the preemption bound,
//! `LOOM_MAX_PREEMPTIONS`).
//!
//! The halves share a `Link`: an `AtomicBool` saying the read half is gone
//! (dropped or shut down) and a `Mutex` holding whether the read half saw
//! the remote's end, with the waker of a close waiting for one or the
//! other. The models check that a close waiting there is always woken, and
//! that it takes the right way out: with the read half still there it
//! waits for that half to see the remote's end, and with the read half gone
//! it discards the remote's data itself.
//!
//! The halves run over a fake descriptor whose remote has already finished:
//! each receive returns the end of file at once, so the only waiting left
//! is the one between the halves. It has no clock, so close has no
//! deadline: a lost wake-up leaves `loom::future::block_on` waiting for
//! ever, which loom reports as a deadlock.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p flow-socket --release --test loom_split`,
//! or `cargo xtask loom`.

#![cfg(loom)]

use std::io;
use std::net::Shutdown as NetShutdown;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use flow_api::prelude::*;
use flow_api::{Timer, WriteQueue};
use flow_socket::{OwnedReadHalf, OwnedWriteHalf, StreamFlow, Transport};
use loom::future::block_on;
use loom::thread;

/// Checks `f` under loom, bounded to 3 preemptions unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(f);
}

/// One descriptor of a socket whose remote has sent everything and its end
/// of file: every receive returns the end of file, every send goes through.
#[derive(Debug, Default)]
struct Finished {
    /// Receives on this descriptor: the write half's own discarding.
    recvs: usize,
}

impl Transport for Finished {
    type Sleep = std::future::Pending<()>;

    fn poll_recv(&mut self, _cx: &mut Context<'_>, _buf: &mut BytesMut) -> Poll<io::Result<Bytes>> {
        self.recvs += 1;
        Poll::Ready(Ok(Bytes::new()))
    }

    fn poll_send(&mut self, _cx: &mut Context<'_>, queue: &mut WriteQueue) -> Poll<io::Result<()>> {
        queue.advance(queue.len());
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(&mut self, _cx: &mut Context<'_>, _how: NetShutdown) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn broken_pipe_kind(&self) -> ErrorKind {
        ErrorKind::Reset
    }

    fn refuses_after_shutdown_read(&self) -> bool {
        false
    }

    fn sleep(&self, _timer: Option<&Arc<dyn Timer>>, _duration: Duration) -> Option<Self::Sleep> {
        None
    }
}

fn halves() -> (OwnedReadHalf<Finished>, OwnedWriteHalf<Finished>) {
    StreamFlow::new(Finished::default()).into_split(Finished::default())
}

/// Closes the write half; how many receives it made itself (0: it waited
/// for the read half to see the remote's end).
fn close(mut writer: OwnedWriteHalf<Finished>) -> Result<usize, String> {
    block_on(writer.close()).map_err(|e| e.to_string())?;
    Ok(writer.get_ref().recvs)
}

#[test]
fn close_waits_for_the_read_half_to_see_the_end() {
    model(|| {
        let (mut reader, writer) = halves();
        let read_half = thread::spawn(move || {
            let end = block_on(reader.read()).map_err(|e| e.to_string());
            // Still there while the write half closes: it is not gone.
            (end, reader)
        });
        assert_eq!(
            close(writer),
            Ok(0),
            "the write half drained although the read half read"
        );
        let joined = read_half.join().map(|(end, _reader)| end);
        assert_eq!(joined.ok(), Some(Ok(Chunk::Eof)));
    });
}

#[test]
fn close_drains_once_the_read_half_is_dropped() {
    model(|| {
        let (reader, writer) = halves();
        let read_half = thread::spawn(move || drop(reader));
        let recvs = close(writer);
        assert!(
            matches!(recvs, Ok(n) if n > 0),
            "the write half did not drain: {recvs:?}"
        );
        assert!(read_half.join().is_ok());
    });
}

#[test]
fn close_drains_once_the_read_half_shut_down() {
    model(|| {
        let (mut reader, writer) = halves();
        let read_half = thread::spawn(move || {
            let shut = block_on(reader.shutdown_read()).map_err(|e| e.to_string());
            (shut, reader)
        });
        let recvs = close(writer);
        assert!(
            matches!(recvs, Ok(n) if n > 0),
            "the write half did not drain: {recvs:?}"
        );
        let joined = read_half.join().map(|(shut, _reader)| shut);
        assert_eq!(joined.ok(), Some(Ok(())));
    });
}

#[test]
fn close_meets_a_read_half_that_reads_and_leaves() {
    model(|| {
        // Either way out is right here: the read half saw the end, or left.
        let (mut reader, writer) = halves();
        let read_half = thread::spawn(move || block_on(reader.read()).map_err(|e| e.to_string()));
        assert!(close(writer).is_ok());
        assert_eq!(read_half.join().ok(), Some(Ok(Chunk::Eof)));
    });
}
