//! One waker handed to the underlying flow, waking every task that waits on
//! the TLS flow.
//!
//! A TLS read may need to write (an alert, a key update) and a TLS write or
//! close may need to read (the peer's `close_notify`). If each path polled
//! the underlying flow with its own task's waker, one registration could
//! replace the other (a flow keeps one waker per direction) and a task would
//! never be woken. So the underlying flow always sees this fan-out waker,
//! and it wakes the reader and the writer of the TLS flow alike: a spurious
//! wake-up costs one poll, a lost one a hang.

use std::sync::{Arc, PoisonError};
use std::task::{Wake, Waker};

use crate::sync::Mutex;

#[derive(Debug, Default)]
pub(crate) struct Fanout {
    read: Mutex<Option<Waker>>,
    write: Mutex<Option<Waker>>,
}

impl Fanout {
    pub(crate) fn new() -> (Arc<Fanout>, Waker) {
        let fanout = Arc::new(Fanout::default());
        let waker = Waker::from(Arc::clone(&fanout));
        (fanout, waker)
    }

    fn register(slot: &Mutex<Option<Waker>>, waker: &Waker) {
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        match &*slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// The task reading the TLS flow waits for the underlying flow.
    pub(crate) fn register_read(&self, waker: &Waker) {
        Fanout::register(&self.read, waker);
    }

    /// The task writing (or shutting down, closing) waits for the underlying flow.
    pub(crate) fn register_write(&self, waker: &Waker) {
        Fanout::register(&self.write, waker);
    }

    /// Wakes the writer alone: the read path made the progress it waits
    /// for. The underlying flow would not: that progress came from calls
    /// that did not block, so it has no wake-up pending for them.
    pub(crate) fn wake_write(&self) {
        let write = self.write.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(waker) = write {
            waker.wake();
        }
    }
}

impl Wake for Fanout {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let read = self.read.lock().unwrap_or_else(PoisonError::into_inner).take();
        let write = self.write.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(waker) = read {
            waker.wake();
        }
        if let Some(waker) = write {
            waker.wake();
        }
    }
}
