//! The suite must be able to fail: every deliberately broken backend of the
//! gallery (`flow_conformance::gallery`) fails the suite, run the way a
//! user runs it (every clause, every variant, each on its own thread under
//! its time limit and the watchdog), while the reference backend under it
//! passes.
//!
//! The full gallery runs each defect through the whole suite, so it is one
//! test per defect: a failure names the defect that slipped through.

use std::time::Duration;

use flow_conformance::{Clause, Defect, GalleryPairs, MemPairs, Outcome, Runner, Variant};

/// Runs the whole suite on `defect`, every variant, until a clause fails.
/// The limits are scaled down: memory clauses take milliseconds, and a
/// hanging defect should not cost the full limit.
fn assert_caught(defect: Defect) {
    let runner = Runner::new(defect.name(), move || GalleryPairs(defect), futures_executor::block_on).time_scale(0.2);
    match runner.first_failure() {
        Some((clause, variant, why)) => {
            println!(
                "{}: caught by {}{} ({variant}): {why}",
                defect.name(),
                clause.test_name(),
                variant.suffix()
            );
        }
        None => panic!(
            "the suite did not catch {} ({}): every clause passed in every variant",
            defect.name(),
            defect.describe()
        ),
    }
}

macro_rules! gallery_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                let defect = Defect::find($name).unwrap_or_else(|| panic!("no defect named {}", $name));
                assert_caught(defect);
            }
        )*

        #[test]
        fn every_defect_has_a_test() {
            let tested = [$($name),*];
            for defect in Defect::ALL {
                assert!(tested.contains(&defect.name()), "no test for the defect {}", defect.name());
            }
            assert!(Defect::ALL.len() >= 25, "the gallery holds {} defects", Defect::ALL.len());
        }
    };
}

gallery_tests! {
    close_sends_no_fin => "close-sends-no-fin",
    shutdown_is_noop => "shutdown-is-noop",
    shutdown_write_closes_read => "shutdown-write-closes-read",
    drop_is_clean_eof => "drop-is-clean-eof",
    close_waits_without_fin => "close-waits-without-fin",
    empty_reads => "empty-reads",
    loses_last_chunk_on_close => "loses-last-chunk-on-close",
    no_eof_on_shutdown => "no-eof-on-shutdown",
    reorders_writev => "reorders-writev",
    loses_data_on_cancel => "loses-data-on-cancel",
    no_backpressure => "no-backpressure",
    read_error_after_close => "read-error-after-close",
    shared_waker_slot => "shared-waker-slot",
    lost_wakeup_sometimes => "lost-wakeup-sometimes",
    first_waker_only => "first-waker-only",
    wakes_before_update => "wakes-before-update",
    write_ready_no_waker => "write-ready-no-waker",
    eof_wakes_no_reader => "eof-wakes-no-reader",
    abort_wakes_no_reader => "abort-wakes-no-reader",
    blocking_read => "blocking-read",
    blocking_write => "blocking-write",
    close_does_not_wait => "close-does-not-wait",
    close_drops_unflushed => "close-drops-unflushed",
    drop_loses_flushed => "drop-loses-flushed",
    close_waits_for_room => "close-waits-for-room",
    reads_after_dropped_close => "reads-after-dropped-close",
    second_close_fails => "second-close-fails",
    close_hangs_after_abort => "close-hangs-after-abort",
    shutdown_read_noop => "shutdown-read-noop",
    shutdown_read_keeps_buffered => "shutdown-read-keeps-buffered",
    shutdown_read_not_discarding => "shutdown-read-not-discarding",
    shutdown_both_only_write => "shutdown-both-only-write",
    reads_after_close_return_data => "reads-after-close-return-data",
    close_with_unread_resets => "close-with-unread-resets",
    writes_accepted_after_shutdown => "writes-accepted-after-shutdown",
    eof_closes_write => "eof-closes-write",
    close_after_shutdown_fails => "close-after-shutdown-fails",
    shutdown_fails_after_peer_fin => "shutdown-fails-after-peer-fin",
    shutdown_skips_flush => "shutdown-skips-flush",
    shutdown_never_woken => "shutdown-never-woken",
    eof_not_sticky => "eof-not-sticky",
    read_error_not_sticky => "read-error-not-sticky",
    write_error_not_sticky => "write-error-not-sticky",
    duplicates_chunk => "duplicates-chunk",
    drops_last_of_flush => "drops-last-of-flush",
    truncates_large_writes => "truncates-large-writes",
    empty_write_is_eof => "empty-write-is-eof",
    corrupts_one_byte => "corrupts-one-byte",
    eof_when_empty => "eof-when-empty",
    closed_as_flow_error => "closed-as-flow-error",
    closed_as_other => "closed-as-other",
    abort_as_other => "abort-as-other",
    error_source_lost => "error-source-lost",
    flush_forgets_on_pending => "flush-forgets-on-pending",
    close_restarts => "close-restarts",
    start_write_refuses_when_full => "start-write-refuses-when-full",
    writes_to_aborted_peer_succeed => "writes-to-aborted-peer-succeed",
}

#[test]
fn the_reference_backend_passes_everything() {
    let runner = Runner::new("mem", MemPairs::default, futures_executor::block_on);
    for report in runner.run() {
        assert!(report.is_success(), "{report}");
    }
}

#[test]
fn failures_name_the_seed_and_the_test_to_replay() {
    let runner = Runner::new("empty", || GalleryPairs(Defect::EmptyReads), futures_executor::block_on).seed(1234);
    match runner.check(Clause::ReadNeverEmpty, Variant::TASKS_FAULTS) {
        Outcome::Failed(why) => {
            assert!(why.contains("FLOW_CONFORMANCE_SEED=1234"), "{why}");
            assert!(why.contains("c01_read_never_empty_in_tasks_under_faults"), "{why}");
        }
        other => panic!("expected a failure, got {other}"),
    }
}

#[test]
fn a_failure_replays_from_its_seed() {
    // The same seed gives the same failure, word for word, under faults too.
    let runner = Runner::new("empty", || GalleryPairs(Defect::EmptyReads), futures_executor::block_on).seed(77);
    let first = runner.check(Clause::BytesInOrder, Variant::FAULTS);
    let again = runner.check(Clause::BytesInOrder, Variant::FAULTS);
    assert!(first.is_failure(), "{first}");
    assert_eq!(first, again);
}

#[test]
fn a_panicking_clause_fails_alone_and_the_run_goes_on() {
    #[derive(Default)]
    struct Panics;
    impl flow_conformance::Factory for Panics {
        type Client = flow_mem::MemFlow;
        type Server = flow_mem::MemFlow;
        async fn connect(&self) -> Result<(Self::Client, Self::Server), flow_api::Error> {
            panic!("this factory panics")
        }
        fn capabilities(&self) -> flow_conformance::Capabilities {
            flow_conformance::Capabilities::new()
        }
    }
    let runner = Runner::new("panics", Panics::default, futures_executor::block_on)
        .clauses(&[Clause::ReadNeverEmpty, Clause::BytesInOrder]);
    let reports = runner.run();
    assert_eq!(reports.len(), 4, "one report per variant");
    for report in &reports {
        assert_eq!(report.entries.len(), 2, "both clauses reported: {report}");
        for entry in &report.entries {
            match &entry.outcome {
                Outcome::Failed(why) => assert!(why.contains("this factory panics"), "{why}"),
                other => panic!("expected the panic as a failure, got {other}"),
            }
        }
    }
}

#[test]
fn a_blocked_thread_is_reported_by_the_watchdog() {
    // A scaled-down limit keeps this test short; the watchdog's grace is fixed.
    let defect = Defect::find("blocking-read").unwrap_or_else(|| panic!("the gallery has no blocking defect"));
    let started = std::time::Instant::now();
    let runner = Runner::new("blocks", move || GalleryPairs(defect), futures_executor::block_on).time_scale(0.1);
    // The reader's end is polled first and blocks its thread, where the
    // writer would have run: a deadlock only the watchdog can see.
    let outcome = runner.check(Clause::EofAfterData, Variant::PLAIN);
    match outcome {
        Outcome::Failed(why) => assert!(why.contains("blocked"), "{why}"),
        other => panic!("a clause whose thread blocks must fail, got {other}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the watchdog took {:?}",
        started.elapsed()
    );
}
