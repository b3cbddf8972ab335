//! The one read waker the socket keeps, fanned out to both sides of the
//! flow that wait on the discarding read.
//!
//! std's `Mutex`, or loom's under `--cfg loom`: flow-loom's models compile
//! this file itself (`crates/flow-loom/tests/loom_tls.rs`).

use std::sync::{Arc, PoisonError};
use std::task::{Wake, Waker};

use crate::sync::Mutex;

/// Which side of the flow polls the discarding read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Read,
    Write,
}

/// The socket keeps one read waker, and both sides of the flow wait on the
/// discarding read: a reader after `shutdown(Read)`, and a writer whose
/// peer cannot take what it flushes until its own writes went through. The
/// socket gets this one waker, which wakes both, so that one side's poll
/// does not replace the other's registration.
#[derive(Debug, Default)]
pub(crate) struct DrainWakers {
    read: Mutex<Option<Waker>>,
    write: Mutex<Option<Waker>>,
}

impl DrainWakers {
    pub(crate) fn register(&self, side: Side, waker: &Waker) {
        let slot = match side {
            Side::Read => &self.read,
            Side::Write => &self.write,
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if !slot.as_ref().is_some_and(|old| old.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

impl Wake for DrainWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let read = self.read.lock().unwrap_or_else(PoisonError::into_inner).take();
        let write = self.write.lock().unwrap_or_else(PoisonError::into_inner).take();
        for waker in [read, write].into_iter().flatten() {
            waker.wake();
        }
    }
}
