//! `Metered` emits `tracing` events.
//!
//! This test has a binary of its own: tracing caches each callsite's interest
//! process-wide, and a callsite first hit by another test's thread while this
//! test's scoped subscriber is being installed can be cached as uninterested,
//! which dropped an event here now and then.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::within;
use flow_api::prelude::*;
use flow_util::Metered;
use futures_executor::block_on;

#[test]
fn emits_tracing_events() {
    use std::sync::{Arc, Mutex};

    /// Records the message field of every event.
    struct Recorder(Arc<Mutex<Vec<String>>>);

    struct Message<'a>(&'a mut String);

    impl tracing::field::Visit for Message<'_> {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            use std::fmt::Write as _;
            let _ = write!(self.0, "{}={:?} ", field.name(), value);
        }
    }

    impl tracing::Subscriber for Recorder {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut line = format!("{} ", event.metadata().target());
            event.record(&mut Message(&mut line));
            self.0.lock().unwrap().push(line);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    let events = Arc::new(Mutex::new(Vec::new()));
    let dispatch = tracing::Dispatch::new(Recorder(Arc::clone(&events)));
    tracing::dispatcher::with_default(&dispatch, || {
        block_on(within("meter", async {
            let (a, mut b) = flow_mem::pair();
            let mut a = Metered::with_label(a, "traced");
            a.write("12345").await.unwrap();
            b.shutdown(Shutdown::Write).await.unwrap();
            assert_eq!(a.read().await.unwrap(), Chunk::Eof);
        }));
    });
    let events = events.lock().unwrap();
    let all = events.join("\n");
    assert!(
        events.iter().any(|e| e.starts_with("flow_util::meter")
            && e.contains("flow=traced")
            && e.contains("bytes=5")
            && e.contains("message=write")),
        "{all}"
    );
    assert!(events.iter().any(|e| e.contains("message=end of file")), "{all}");
}
