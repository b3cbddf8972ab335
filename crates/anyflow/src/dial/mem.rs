//! The in-process registry behind `mem:NAME`: listeners by name, each with
//! a queue of connections that dials put in and `accept` takes out.

use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};

use flow_api::{Error, ErrorKind};
use flow_mem::MemFlow;

/// The listeners, by name.
static REGISTRY: Mutex<BTreeMap<String, Arc<Queue>>> = Mutex::new(BTreeMap::new());

#[derive(Debug, Default)]
struct Queue {
    state: Mutex<QueueState>,
}

#[derive(Debug, Default)]
struct QueueState {
    pending: VecDeque<MemFlow>,
    /// Every task waiting in `accept` (a listener may be shared).
    waiting: Vec<Waker>,
}

/// A `mem:NAME` listener: it owns the name until it is dropped.
#[derive(Debug)]
pub(crate) struct MemListener {
    name: String,
    queue: Arc<Queue>,
}

fn in_use() -> Error {
    Error::with_source(
        ErrorKind::Other,
        std::io::Error::new(std::io::ErrorKind::AddrInUse, "another listener has this name"),
    )
}

impl MemListener {
    /// Takes `name`.
    pub(crate) fn bind(name: &str) -> Result<MemListener, Error> {
        let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        if registry.contains_key(name) {
            return Err(in_use());
        }
        let queue = Arc::new(Queue::default());
        registry.insert(name.to_owned(), Arc::clone(&queue));
        Ok(MemListener {
            name: name.to_owned(),
            queue,
        })
    }

    /// The next connection. Cancel-safe: a connection is taken only when
    /// the future completes.
    pub(crate) async fn accept(&self) -> MemFlow {
        poll_fn(|cx| {
            let mut state = self.queue.state.lock().unwrap_or_else(PoisonError::into_inner);
            match state.pending.pop_front() {
                Some(flow) => Poll::Ready(flow),
                None => {
                    if !state.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                        state.waiting.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl Drop for MemListener {
    fn drop(&mut self) {
        let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        if registry
            .get(&self.name)
            .is_some_and(|queue| Arc::ptr_eq(queue, &self.queue))
        {
            registry.remove(&self.name);
        }
        drop(registry);
        // Connections never accepted: their clients see a reset.
        let pending = std::mem::take(&mut self.queue.state.lock().unwrap_or_else(PoisonError::into_inner).pending);
        drop(pending);
    }
}

/// Connects to the listener named `name`: [`ErrorKind::Refused`] when there
/// is none.
pub(crate) fn connect(name: &str) -> Result<MemFlow, Error> {
    let queue = REGISTRY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(name)
        .cloned()
        .ok_or_else(|| Error::new(ErrorKind::Refused))?;
    let (client, server) = flow_mem::pair();
    let waiting = {
        let mut state = queue.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.pending.push_back(server);
        std::mem::take(&mut state.waiting)
    };
    for waker in waiting {
        waker.wake();
    }
    Ok(client)
}
