//! What the fuzz targets share: a driver that polls a future a bounded
//! number of times and insists on a wake-up for every `Pending`, input
//! splitting, and data patterns whose every byte depends on its offset.
//!
//! Every target panics on a broken expectation, with a message that says
//! which; libFuzzer turns the panic into a crash artifact.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;

pub mod tls;

#[cfg(test)]
mod seeds;

/// Polls that one operation may take before it counts as hung.
pub const POLL_BUDGET: usize = 100_000;

/// A waker that remembers whether it was woken.
#[derive(Debug, Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Drives futures on one waker, as a single-task executor would, except
/// that it never sleeps: everything the targets drive is in memory.
#[derive(Debug)]
pub struct Driver {
    flag: Arc<Flag>,
    waker: Waker,
}

impl Default for Driver {
    fn default() -> Self {
        let flag = Arc::new(Flag::default());
        let waker = Waker::from(Arc::clone(&flag));
        Driver { flag, waker }
    }
}

/// Why [`Driver::run`] gave up on a future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// It returned `Pending` without arranging a wake-up: a real executor
    /// would never poll it again (a lost wake-up).
    NoWake,
    /// It was still pending after [`POLL_BUDGET`] polls.
    Budget,
}

impl Driver {
    /// Polls `future` to completion. Every `Pending` must have woken the
    /// task (everything below the targets' flows is ready or wakes at once),
    /// and the future must finish within [`POLL_BUDGET`] polls.
    ///
    /// # Errors
    ///
    /// The [`Stall`] that stopped it.
    pub fn run<F: Future>(&self, future: F) -> Result<F::Output, Stall> {
        let mut future = pin!(future);
        let mut cx = Context::from_waker(&self.waker);
        for _ in 0..POLL_BUDGET {
            self.flag.0.store(false, Ordering::SeqCst);
            match future.as_mut().poll(&mut cx) {
                Poll::Ready(output) => return Ok(output),
                Poll::Pending if !self.flag.0.load(Ordering::SeqCst) => return Err(Stall::NoWake),
                Poll::Pending => {}
            }
        }
        Err(Stall::Budget)
    }

    /// Polls `future` once: `None` if it is pending (it is dropped then,
    /// as a cancelled operation is).
    pub fn once<F: Future>(&self, future: F) -> Option<F::Output> {
        let future = pin!(future);
        let mut cx = Context::from_waker(&self.waker);
        match future.poll(&mut cx) {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        }
    }

    /// [`run`](Driver::run), panicking with `what` on a stall.
    ///
    /// # Panics
    ///
    /// When the future stalls.
    pub fn finish<F: Future>(&self, what: &str, future: F) -> F::Output {
        match self.run(future) {
            Ok(output) => output,
            Err(Stall::NoWake) => panic!("{what}: Pending without a wake-up (a lost wake-up)"),
            Err(Stall::Budget) => panic!("{what}: still pending after {POLL_BUDGET} polls (a hang)"),
        }
    }
}

/// Splits `data` into chunks whose sizes cycle through `sizes`: a size
/// byte `s` is a chunk of `s + 1` bytes, `255` takes the rest.
pub fn split(data: &[u8], sizes: &[u8]) -> Vec<Bytes> {
    let sizes: &[u8] = if sizes.is_empty() { &[255] } else { sizes };
    let mut chunks = Vec::new();
    let mut rest = data;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let len = if size == 255 { rest.len() } else { usize::from(size) + 1 };
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        chunks.push(Bytes::copy_from_slice(chunk));
        rest = tail;
    }
    chunks
}

/// Takes `n` bytes off the front of `data` (fewer if it is shorter).
pub fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = data.split_at(n.min(data.len()));
    *data = tail;
    head
}

/// The byte at `offset` of the data stream `stream`: a multiplicative hash
/// of the offset, so that no short shift of the stream matches itself (a
/// lost, duplicated or reordered byte shows).
pub fn pattern_byte(stream: u64, offset: u64) -> u8 {
    let z = (offset ^ stream.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (z >> 56) as u8 ^ (z >> 29) as u8
}

/// `len` bytes of stream `stream` from `offset`.
pub fn pattern(stream: u64, offset: u64, len: usize) -> Bytes {
    (0..len as u64).map(|i| pattern_byte(stream, offset + i)).collect()
}

/// The offset of the first byte of `data` that is not stream `stream` at
/// `offset`, if any.
pub fn mismatch(stream: u64, offset: u64, data: &[u8]) -> Option<u64> {
    data.iter()
        .zip(offset..)
        .find(|(byte, at)| **byte != pattern_byte(stream, *at))
        .map(|(_, at)| at)
}

/// A length from one byte: `0`, or log-uniform-ish up to `max`, so that
/// small lengths are common and large ones possible.
pub fn size(byte: u8, max: usize) -> usize {
    if byte == 0 {
        return 0;
    }
    let power = 1usize << (byte >> 4).min(20);
    (power + (power * usize::from(byte & 15)) / 16).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_cycles_the_sizes() {
        let chunks = split(b"abcdefgh", &[0, 2]);
        assert_eq!(chunks, [&b"a"[..], b"bcd", b"e", b"fgh"]);
        assert_eq!(split(b"abc", &[]), [&b"abc"[..]]);
    }

    #[test]
    fn the_pattern_has_no_short_period() {
        let data = pattern(1, 0, 4096);
        for shift in 1..64 {
            assert!(mismatch(1, shift, &data[..256]).is_some(), "shift {shift}");
        }
        assert_eq!(mismatch(1, 100, &data[100..]), None);
    }
}
