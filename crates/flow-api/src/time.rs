//! One timer abstraction for every deadline in flow.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A future that completes once its duration has passed: what a [`Timer`]
/// makes.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A runtime's timer, as flow's deadlines use it: socket close deadlines,
/// TLS handshake deadlines, the conformance suite's time limits, and any
/// [`close_within`](crate::FlowWriteExt::close_within) deadline
/// (`flow.close_within(timer.sleep(duration))`).
///
/// Each runtime backend offers one (`flow_tokio::TokioTimer`,
/// `flow_smol::SmolTimer`...). A value rather than a function, so that it
/// can hold a runtime handle or a mock clock. Any
/// `Fn(Duration) -> Sleep + Send + Sync` is a timer too:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use flow_api::{Sleep, Timer};
///
/// // A clock that never fires, for a test that must not time out.
/// let never: Arc<dyn Timer> = Arc::new(|_: Duration| -> Sleep { Box::pin(std::future::pending()) });
/// let _sleep = never.sleep(Duration::from_secs(1));
/// ```
pub trait Timer: Send + Sync + 'static {
    /// A future that completes once `duration` has passed. It need not be
    /// polled in the runtime that made the timer unless the runtime says so
    /// (tokio's sleeps need a tokio runtime).
    fn sleep(&self, duration: Duration) -> Sleep;
}

impl<F> Timer for F
where
    F: Fn(Duration) -> Sleep + Send + Sync + 'static,
{
    fn sleep(&self, duration: Duration) -> Sleep {
        self(duration)
    }
}

impl fmt::Debug for dyn Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Timer")
    }
}
