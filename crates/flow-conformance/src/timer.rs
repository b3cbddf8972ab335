//! A timer that needs no runtime: a helper thread waits, then wakes the task.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A future that completes after a delay, under any executor.
///
/// The first poll starts a helper thread that waits until the deadline and
/// then wakes the task; dropping the future ends the thread at once.
pub struct Sleep {
    deadline: Instant,
    shared: Arc<Mutex<Timer>>,
    stop: Option<mpsc::Sender<()>>,
}

#[derive(Default)]
struct Timer {
    fired: bool,
    waker: Option<Waker>,
}

/// Completes after `duration`.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: Instant::now() + duration,
        shared: Arc::new(Mutex::new(Timer::default())),
        stop: None,
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        {
            let mut timer = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
            if timer.fired {
                return Poll::Ready(());
            }
            timer.waker = Some(cx.waker().clone());
        }
        if self.stop.is_none() {
            let (stop, stopped) = mpsc::channel::<()>();
            let shared = Arc::clone(&self.shared);
            let deadline = self.deadline;
            let spawned = std::thread::Builder::new()
                .name("flow-conformance-timer".into())
                .spawn(move || {
                    let wait = deadline.saturating_duration_since(Instant::now());
                    if let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                        let mut timer = shared.lock().unwrap_or_else(PoisonError::into_inner);
                        timer.fired = true;
                        if let Some(waker) = timer.waker.take() {
                            waker.wake();
                        }
                    }
                });
            if spawned.is_err() {
                // No thread to wait with: fire now rather than never.
                return Poll::Ready(());
            }
            self.stop = Some(stop);
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
pub async fn timeout<T>(duration: Duration, future: impl Future<Output = T>) -> Option<T> {
    use futures_util::future::{Either, select};
    let future = std::pin::pin!(future);
    match select(future, sleep(duration)).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(((), _)) => None,
    }
}
