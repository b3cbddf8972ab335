//! A timer that needs no runtime: one thread for the whole process keeps
//! every deadline in a heap and wakes each sleeping task when its time comes.
//!
//! The suite runs under any executor (tokio, smol, a bare `block_on`, a
//! third party's), so it cannot borrow a runtime's timer. One thread serves
//! every [`Sleep`], however many are pending.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

struct Entry {
    deadline: Instant,
    seq: u64,
    shared: Arc<Shared>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

#[derive(Default)]
struct Shared {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Shared {
    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        let waker = self.waker.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

#[derive(Default)]
struct Wheel {
    heap: BinaryHeap<Reverse<Entry>>,
    next_seq: u64,
    running: bool,
}

struct Timer {
    wheel: Mutex<Wheel>,
    changed: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<Timer> = OnceLock::new();
    TIMER.get_or_init(|| Timer {
        wheel: Mutex::new(Wheel::default()),
        changed: Condvar::new(),
    })
}

impl Timer {
    /// Registers a deadline; false when no timer thread could be started.
    fn register(&'static self, deadline: Instant, shared: Arc<Shared>) -> bool {
        let mut wheel = self.wheel.lock().unwrap_or_else(PoisonError::into_inner);
        if !wheel.running {
            let spawned = std::thread::Builder::new()
                .name("flow-conformance-timer".into())
                .spawn(move || self.run());
            if spawned.is_err() {
                return false;
            }
            wheel.running = true;
        }
        let seq = wheel.next_seq;
        wheel.next_seq += 1;
        wheel.heap.push(Reverse(Entry { deadline, seq, shared }));
        self.changed.notify_one();
        true
    }

    fn run(&self) {
        let mut wheel = self.wheel.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            while wheel.heap.peek().is_some_and(|Reverse(e)| e.deadline <= now) {
                if let Some(Reverse(entry)) = wheel.heap.pop() {
                    entry.shared.fire();
                }
            }
            // A dropped Sleep leaves its entry behind; it fires into nothing.
            wheel = match wheel.heap.peek().map(|Reverse(e)| e.deadline) {
                Some(deadline) => {
                    let wait = deadline.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(wheel, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self.changed.wait(wheel).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

/// A future that completes after a delay, under any executor.
pub struct Sleep {
    deadline: Instant,
    shared: Arc<Shared>,
    registered: bool,
}

/// Completes after `duration`.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: Instant::now() + duration,
        shared: Arc::new(Shared::default()),
        registered: false,
    }
}

/// The same timer as a [`flow_api::Timer`], for whatever takes one (a
/// socket's close deadline, a TLS handshake deadline) in a test that runs
/// under any executor.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct SuiteTimer;

impl SuiteTimer {
    /// The timer, shared.
    pub fn shared() -> Arc<dyn flow_api::Timer> {
        Arc::new(SuiteTimer)
    }
}

impl flow_api::Timer for SuiteTimer {
    fn sleep(&self, duration: Duration) -> flow_api::Sleep {
        Box::pin(sleep(duration))
    }
}

impl Sleep {
    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.shared.fired.load(Ordering::Acquire) || Instant::now() >= self.deadline
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_elapsed() {
            return Poll::Ready(());
        }
        *self.shared.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
        if !self.registered {
            self.registered = true;
            if !timer().register(self.deadline, Arc::clone(&self.shared)) {
                // No thread to wait with: fire now rather than never.
                return Poll::Ready(());
            }
        }
        // The timer may have fired between the check and the registration.
        if self.shared.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// Runs `future`, or gives up after `duration` and returns `None`.
///
/// The deadline is checked *before* the future is polled: once it has
/// passed, the future is not polled again. A time limit that gave a stalled
/// future one more poll would rescue the very lost wake-up it exists to
/// catch.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future: Box::pin(future),
        sleep: sleep(duration),
    }
}

/// The future of [`timeout`].
#[must_use = "futures do nothing unless polled"]
pub struct Timeout<F> {
    future: Pin<Box<F>>,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if Pin::new(&mut self.sleep).poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        self.future.as_mut().poll(cx).map(Some)
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("sleep", &self.sleep)
            .finish_non_exhaustive()
    }
}
