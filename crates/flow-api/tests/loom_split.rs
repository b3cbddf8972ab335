//! Loom models of [`flow_api::split`]: the read half on one thread, the
//! write half's close on another, every interleaving of their lock
//! operations explored (up to the preemption bound, `LOOM_MAX_PREEMPTIONS`).
//!
//! The halves share one lock over the flow, the flags "the read half saw
//! the remote's end" and "the read half is gone", and the waker of a close
//! that waits for either. The models check that a close waiting there is
//! always woken, whichever way the read half finishes (end of file, an
//! error, a drop, with or without data first), and that the close reaches
//! the flow's own shutdown and close exactly once.
//!
//! The flow under the halves never waits: its reads return what its script
//! says at once and its writes go through, so the only waiting left is the
//! one between the halves. A lost wake-up leaves `loom::future::block_on`
//! waiting for ever, which loom reports as a deadlock.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p flow-api --release --test loom_split`,
//! or `cargo xtask loom`.

#![cfg(loom)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use flow_api::prelude::*;
use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// Checks `f` under loom, bounded to 3 preemptions unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(f);
}

/// What the write half's close did to the flow.
#[derive(Default)]
struct Seen {
    shutdowns: AtomicUsize,
    closes: AtomicUsize,
}

/// A flow whose reads follow a script (then end of file) and whose writes
/// go through, none of them waiting.
struct Scripted {
    reads: VecDeque<Result<Chunk, ErrorKind>>,
    seen: Arc<Seen>,
}

impl Scripted {
    fn new(reads: Vec<Result<Chunk, ErrorKind>>) -> (Scripted, Arc<Seen>) {
        let seen = Arc::new(Seen::default());
        let flow = Scripted {
            reads: reads.into(),
            seen: Arc::clone(&seen),
        };
        (flow, seen)
    }
}

impl FlowRead for Scripted {
    fn poll_read(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let next = self.reads.pop_front().unwrap_or(Ok(Chunk::Eof));
        Poll::Ready(next.map_err(Error::new))
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }
}

impl FlowWrite for Scripted {
    fn poll_write_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        Poll::Ready(Ok(()))
    }

    fn start_write(self: Pin<&mut Self>, _buf: Bytes) -> Result<(), WriteError> {
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.seen.shutdowns.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.seen.closes.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Ok(()))
    }
}

/// What the read half does on its thread.
#[derive(Clone, Copy)]
enum Reader {
    /// Reads to the end (the script's end of file or error), and is kept
    /// until the close completed: only the end can wake the close.
    ToTheEnd,
    /// Is dropped without reading.
    Dropped,
    /// Reads once (data), then is dropped before the end.
    OnceThenDropped,
}

/// The read half on a thread of its own doing `reader`, while this thread
/// writes and closes the write half: the close must complete, having shut
/// the flow's writes and closed it once each.
fn close_against(reader: Reader, script: Vec<Result<Chunk, ErrorKind>>) {
    let (flow, seen) = Scripted::new(script);
    let (mut read, mut write) = flow_api::split(flow);
    let reading = thread::spawn(move || {
        block_on(async move {
            match reader {
                Reader::ToTheEnd => {
                    while let Ok(Chunk::Data(_)) = read.read().await {}
                    Some(read)
                }
                Reader::Dropped => None,
                Reader::OnceThenDropped => {
                    let _ = read.read().await;
                    None
                }
            }
        })
    });
    block_on(async {
        write.write("x").await.unwrap();
        write.close().await.unwrap();
    });
    // Dropped only now, after the close: its drop cannot be what woke it.
    drop(reading.join().unwrap());
    assert_eq!(seen.shutdowns.load(Ordering::SeqCst), 1, "close shut the writes once");
    assert_eq!(seen.closes.load(Ordering::SeqCst), 1, "close closed the flow once");
}

#[test]
fn close_is_woken_by_the_read_halfs_end_of_file() {
    model(|| close_against(Reader::ToTheEnd, vec![Ok(Chunk::Data(Bytes::from("a")))]));
}

#[test]
fn close_is_woken_by_the_read_halfs_error() {
    model(|| close_against(Reader::ToTheEnd, vec![Err(ErrorKind::Reset)]));
}

#[test]
fn close_is_woken_by_the_read_halfs_drop() {
    model(|| close_against(Reader::Dropped, vec![Ok(Chunk::Data(Bytes::from("a")))]));
}

#[test]
fn close_is_woken_by_a_drop_after_data() {
    model(|| {
        close_against(
            Reader::OnceThenDropped,
            vec![Ok(Chunk::Data(Bytes::from("a"))), Ok(Chunk::Data(Bytes::from("b")))],
        )
    });
}

/// Both halves dropped on two threads at once, one of them mid-close: the
/// flow is dropped once, whoever goes last.
#[test]
fn halves_dropped_on_two_threads_drop_the_flow_once() {
    model(|| {
        let (flow, seen) = Scripted::new(vec![Ok(Chunk::Data(Bytes::from("a")))]);
        let (read, mut write) = flow_api::split(flow);
        let dropping = thread::spawn(move || drop(read));
        // Polled once: the close may wait for the read half, then is dropped.
        let mut close = Box::pin(write.close());
        let waker = futures_util::task::noop_waker();
        let _ = close.as_mut().poll(&mut Context::from_waker(&waker));
        drop(close);
        drop(write);
        dropping.join().unwrap();
        // The flow (and so its handle on `seen`) is gone with the last half.
        assert_eq!(Arc::strong_count(&seen), 1, "the flow was dropped");
    });
}
