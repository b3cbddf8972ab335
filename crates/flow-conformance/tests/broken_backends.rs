//! The suite must be able to fail: each deliberately broken backend
//! (`flow_tests::broken`) is caught by the clause that covers what it
//! breaks, while the same clauses pass on the reference backend underneath.

use std::time::Duration;

use flow_conformance::{Clause, MemPairs, Outcome};
use flow_tests::broken::{Breakage, BrokenPairs};

/// Runs `clause` on the broken backend and on the reference backend, and
/// asserts that only the broken one fails, with a message containing `expect`.
fn assert_caught(breakage: Breakage, clause: Clause, expect: &str) {
    let seed = flow_conformance::base_seed();
    // A hang is caught by the time limit; keep it short here.
    let limit = Duration::from_secs(3);
    let reference = futures_executor::block_on(flow_conformance::check_within(
        clause,
        &MemPairs::default(),
        seed,
        limit,
    ));
    assert_eq!(reference, Outcome::Passed, "reference backend must pass {clause}");
    let outcome = futures_executor::block_on(flow_conformance::check_within(
        clause,
        &BrokenPairs(breakage),
        seed,
        limit,
    ));
    match outcome {
        Outcome::Failed(why) => assert!(
            why.contains(expect),
            "{breakage:?}: clause {} failed, but not as expected ({expect:?}): {why}",
            clause.test_name()
        ),
        other => panic!("{breakage:?} was not caught by {}: {other}", clause.test_name()),
    }
}

#[test]
fn empty_reads_are_caught() {
    assert_caught(Breakage::EmptyReads, Clause::ReadNeverEmpty, "empty buffer");
    assert_caught(Breakage::EmptyReads, Clause::BytesInOrder, "empty buffer");
}

#[test]
fn losing_the_last_chunk_on_close_is_caught() {
    assert_caught(Breakage::LosesLastChunkOnClose, Clause::EofAfterData, "bytes lost");
    assert_caught(Breakage::LosesLastChunkOnClose, Clause::CloseGraceful, "bytes lost");
}

#[test]
fn missing_end_of_file_on_shutdown_is_caught_by_the_time_limit() {
    assert_caught(Breakage::NoEofOnShutdown, Clause::HalfClose, "timed out");
    assert_caught(Breakage::NoEofOnShutdown, Clause::EofAfterData, "timed out");
}

#[test]
fn reordered_writev_is_caught() {
    assert_caught(
        Breakage::ReordersWritev,
        Clause::WritevConcatenates,
        "corrupted or reordered",
    );
}

#[test]
fn data_lost_on_cancelled_read_is_caught() {
    assert_caught(Breakage::LosesDataOnCancel, Clause::ReadCancelSafe, "cancelled reads");
}

#[test]
fn missing_backpressure_is_caught() {
    assert_caught(Breakage::NoBackpressure, Clause::Backpressure, "without ever waiting");
}

#[test]
fn read_error_after_close_is_caught() {
    assert_caught(
        Breakage::ReadErrorAfterClose,
        Clause::ClosedFlowRejects,
        "must return end of file",
    );
}

#[test]
fn failures_name_the_seed_to_replay() {
    let outcome = futures_executor::block_on(flow_conformance::check_within(
        Clause::ReadNeverEmpty,
        &BrokenPairs(Breakage::EmptyReads),
        1234,
        Duration::from_secs(3),
    ));
    match outcome {
        Outcome::Failed(why) => assert!(why.contains("FLOW_CONFORMANCE_SEED=1234"), "{why}"),
        other => panic!("expected a failure, got {other}"),
    }
}

#[test]
fn the_report_marks_failures_and_not_applicable() {
    let clauses = [Clause::ReadNeverEmpty, Clause::ZeroCopy, Clause::Backpressure];
    let report = futures_executor::block_on(flow_conformance::run(
        "broken",
        &flow_conformance::FaultyFactory::new(BrokenPairs(Breakage::NoBackpressure), 5),
        &clauses,
        5,
    ));
    assert_eq!(report.entries.len(), 3);
    assert_eq!(report.outcome(Clause::ReadNeverEmpty), Some(&Outcome::Passed));
    assert!(matches!(
        report.outcome(Clause::ZeroCopy),
        Some(Outcome::NotApplicable(_))
    ));
    assert!(report.outcome(Clause::Backpressure).is_some_and(Outcome::is_failure));
    assert!(!report.is_success());
    assert!(report.to_markdown().contains("FAILED"));
}
