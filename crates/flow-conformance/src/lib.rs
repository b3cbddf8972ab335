//! The conformance suite of the flow contract.
//!
//! Every clause of `docs/contract.md` is one public async function in
//! [`clauses`], taking a [`Factory`] that makes connected pairs (the two ends
//! may come from different backends) and a seed. [`suite!`] expands the
//! whole suite into one `#[test]` per clause for a backend, run plainly and
//! again under fault injection ([`FaultyFactory`]: chunks down to one byte,
//! interleaved `Pending`). [`run`] returns a per-clause [`Report`] for a
//! matrix.
//!
//! Every clause runs under a time limit ([`Clause::time_limit`]), so a hang
//! is a failure, not a stuck CI. Random choices are seeded: failures print
//! the seed, and `FLOW_CONFORMANCE_SEED=<seed>` replays them.
//!
//! A third-party backend runs the suite from its own tests:
//!
//! ```ignore
//! struct Pairs;
//!
//! impl flow_conformance::Factory for Pairs {
//!     type Client = my_backend::Flow;
//!     type Server = my_backend::Flow;
//!     async fn connect(&self) -> Result<(Self::Client, Self::Server), flow_api::Error> {
//!         my_backend::connected_pair().await
//!     }
//!     fn capabilities(&self) -> flow_conformance::Capabilities {
//!         flow_conformance::Capabilities::new()
//!     }
//! }
//!
//! flow_conformance::suite! {
//!     factory: Pairs,
//!     block_on: my_runtime::block_on,
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod clauses;
mod factory;
mod mem;
mod pattern;
mod report;
mod support;
pub mod timer;

use std::fmt;
use std::time::{Duration, Instant};

pub use crate::factory::{Capabilities, Factory, FaultyFactory};
pub use crate::mem::MemPairs;
pub use crate::report::{Entry, Outcome, Report};

macro_rules! clause_table {
    ($($variant:ident = $number:literal, $test:literal, $func:ident, $limit:literal, $summary:literal;)*) => {
        /// A clause of the contract, numbered as in `docs/contract.md`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Clause {
            $(
                #[doc = $summary]
                $variant = $number,
            )*
        }

        impl Clause {
            /// Every clause, in order.
            pub const ALL: &'static [Clause] = &[$(Clause::$variant),*];

            /// The clause's number in `docs/contract.md`.
            pub fn number(self) -> u8 {
                self as u8
            }

            /// The name of the `#[test]` that [`suite!`] generates for it
            /// (the fault-injected one adds `_under_faults`).
            pub fn test_name(self) -> &'static str {
                match self {
                    $(Clause::$variant => $test,)*
                }
            }

            /// One sentence saying what the clause requires.
            pub fn summary(self) -> &'static str {
                match self {
                    $(Clause::$variant => $summary,)*
                }
            }

            /// How long the clause may run before it counts as hung.
            /// `FLOW_CONFORMANCE_TIME_SCALE` (a positive number) scales it.
            pub fn time_limit(self) -> Duration {
                let secs = match self {
                    $(Clause::$variant => $limit,)*
                };
                Duration::from_secs_f64(secs as f64 * time_scale())
            }

            /// The clause with this number or test name.
            pub fn find(name: &str) -> Option<Clause> {
                let name = name.trim_end_matches("_under_faults");
                Clause::ALL.iter().copied().find(|c| c.test_name() == name || c.number().to_string() == name)
            }

            async fn dispatch<F: Factory>(self, factory: &F, seed: u64) -> Outcome {
                match self {
                    $(Clause::$variant => Box::pin(clauses::$func(factory, seed)).await,)*
                }
            }
        }
    };
}

clause_table! {
    ReadNeverEmpty = 1, "c01_read_never_empty", read_never_empty, 30, "read returns at least one byte or end of file, never an empty buffer.";
    BytesInOrder = 2, "c02_bytes_in_order", bytes_in_order, 60, "Bytes arrive in order and unmodified, whatever the write sizes (1 B to 1 MiB).";
    EofAfterData = 3, "c03_eof_after_data", eof_after_data, 30, "After the peer shuts down writing or closes, in-flight data comes first, then end of file, which is sticky.";
    HalfClose = 4, "c04_half_close", half_close, 30, "After shutdown(Write) the local side still reads, the peer reads end of file, and local writes return Closed.";
    ShutdownRead = 5, "c05_shutdown_read", shutdown_read, 30, "After shutdown(Read) local reads return end of file.";
    CloseGraceful = 6, "c06_close_graceful", close_graceful, 30, "close flushes, signals the end, lets the remote drain and write, and completes once the remote closed; a second close succeeds.";
    ClosedFlowRejects = 7, "c07_closed_flow_rejects", closed_flow_rejects, 30, "After close, writes return Closed and reads return end of file.";
    WritevConcatenates = 8, "c08_writev_concatenates", writev_concatenates, 30, "writev equals writing the concatenation; empty lists and members are fine.";
    ZeroLengthWrite = 9, "c09_zero_length_write", zero_length_write, 30, "A zero-length write succeeds at once, sends nothing and signals no end of file.";
    Backpressure = 10, "c10_backpressure", backpressure, 60, "A writer to a peer that does not read eventually waits.";
    SimultaneousWrite = 11, "c11_simultaneous_write", simultaneous_write, 60, "Both ends write 8 MiB at once while reading: no deadlock.";
    ReadCancelSafe = 12, "c12_read_cancel_safe", read_cancel_safe, 60, "Cancelling a pending read at any poll loses no byte.";
    PeerAbort = 13, "c13_peer_abort", peer_abort, 30, "A peer that aborts gives end of file or a reset, never a hang; writes then fail with Closed or a reset.";
    ErrorsRoundTrip = 14, "c14_errors_round_trip", errors_round_trip, 30, "Errors display as readable messages and keep their kind through std::io::Error.";
    LargeBidirectional = 15, "c15_large_bidirectional", large_bidirectional, 240, "64 MiB each way at once, verified byte for byte.";
    ManyPairs = 16, "c16_many_pairs", many_pairs, 120, "1,000 concurrent pairs all deliver correctly.";
    TypeErased = 17, "c17_type_erased", type_erased, 30, "The flow works type-erased (`BoxFlow`, `Box<dyn Flow>`).";
    SendFutures = 18, "c18_send_futures", send_futures, 30, "Flows, their halves and their futures are Send (checked at compile time).";
    ShutdownBoth = 19, "c19_shutdown_both", shutdown_both, 30, "shutdown(Both): local reads end, local writes return Closed, the peer reads end of file.";
    ZeroCopy = 20, "c20_zero_copy", zero_copy, 30, "Zero-copy backends hand the reader the writer's very allocation.";
    RepeatedShutdown = 21, "c21_repeated_shutdown", repeated_shutdown, 30, "Shutting down twice is a no-op, and close after shutdown completes.";
    CloseBounded = 22, "c22_close_bounded", close_bounded, 30, "close waits for the peer, and close_within gives up with TimedOut when the peer never closes.";
}

impl fmt::Display for Clause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.test_name(), self.summary())
    }
}

fn time_scale() -> f64 {
    std::env::var("FLOW_CONFORMANCE_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(1.0)
}

/// The seed for this run: `FLOW_CONFORMANCE_SEED` if set, else a fixed default,
/// so that runs are reproducible unless asked otherwise.
pub fn base_seed() -> u64 {
    std::env::var("FLOW_CONFORMANCE_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0x5eed_f10e)
}

/// The seed a clause uses under `base`.
pub fn clause_seed(base: u64, clause: Clause) -> u64 {
    base ^ (u64::from(clause.number()) << 32)
}

/// Runs one clause under its time limit. A failure message names the seed.
pub async fn check<F: Factory>(clause: Clause, factory: &F, base: u64) -> Outcome {
    check_within(clause, factory, base, clause.time_limit()).await
}

/// Runs one clause under the time limit `limit`.
pub async fn check_within<F: Factory>(clause: Clause, factory: &F, base: u64, limit: Duration) -> Outcome {
    let outcome = timer::timeout(limit, clause.dispatch(factory, clause_seed(base, clause))).await;
    let rerun = format!("(seed {base}: rerun with FLOW_CONFORMANCE_SEED={base})");
    match outcome {
        None => Outcome::Failed(format!("timed out after {limit:?}: the clause hung {rerun}")),
        Some(Outcome::Failed(why)) => Outcome::Failed(format!("{why} {rerun}")),
        Some(other) => other,
    }
}

/// Runs `clauses` (all of them: [`Clause::ALL`]) against `factory` and
/// reports each outcome.
pub async fn run<F: Factory>(backend: &str, factory: &F, clauses: &[Clause], base: u64) -> Report {
    let mut entries = Vec::with_capacity(clauses.len());
    for &clause in clauses {
        let started = Instant::now();
        let outcome = check(clause, factory, base).await;
        entries.push(Entry {
            clause,
            outcome,
            elapsed: started.elapsed(),
        });
    }
    Report {
        backend: backend.to_owned(),
        entries,
    }
}

#[doc(hidden)]
pub mod __private {
    use super::{Clause, Outcome};

    /// Turns an outcome into a test result: panics on failure, says so on
    /// not applicable.
    pub fn conclude(clause: Clause, outcome: Outcome) {
        match outcome {
            Outcome::Passed => {}
            Outcome::NotApplicable(why) => println!("{}: not applicable: {why}", clause.test_name()),
            Outcome::Failed(why) => panic!(
                "clause {} failed: {why}\n  clause: {}",
                clause.number(),
                clause.summary()
            ),
        }
    }
}

/// Expands the whole suite into `#[test]` functions for one backend: one per
/// clause, plus the same under fault injection (`<name>_under_faults`).
///
/// `factory` is an expression evaluated in each test, making a [`Factory`];
/// `block_on` is a path to a function that runs a future to completion on
/// the backend's executor. Put it in a module per executor to run the suite
/// under several.
///
/// ```ignore
/// mod futures_executor_mem {
///     flow_conformance::suite! {
///         factory: MemPairs::default(),
///         block_on: futures_executor::block_on,
///     }
/// }
/// ```
#[macro_export]
macro_rules! suite {
    (factory: $factory:expr, block_on: $block_on:path $(,)?) => {
        $crate::suite!(@tests ($factory) ($block_on)
            c01_read_never_empty c01_read_never_empty_under_faults ReadNeverEmpty,
            c02_bytes_in_order c02_bytes_in_order_under_faults BytesInOrder,
            c03_eof_after_data c03_eof_after_data_under_faults EofAfterData,
            c04_half_close c04_half_close_under_faults HalfClose,
            c05_shutdown_read c05_shutdown_read_under_faults ShutdownRead,
            c06_close_graceful c06_close_graceful_under_faults CloseGraceful,
            c07_closed_flow_rejects c07_closed_flow_rejects_under_faults ClosedFlowRejects,
            c08_writev_concatenates c08_writev_concatenates_under_faults WritevConcatenates,
            c09_zero_length_write c09_zero_length_write_under_faults ZeroLengthWrite,
            c10_backpressure c10_backpressure_under_faults Backpressure,
            c11_simultaneous_write c11_simultaneous_write_under_faults SimultaneousWrite,
            c12_read_cancel_safe c12_read_cancel_safe_under_faults ReadCancelSafe,
            c13_peer_abort c13_peer_abort_under_faults PeerAbort,
            c14_errors_round_trip c14_errors_round_trip_under_faults ErrorsRoundTrip,
            c15_large_bidirectional c15_large_bidirectional_under_faults LargeBidirectional,
            c16_many_pairs c16_many_pairs_under_faults ManyPairs,
            c17_type_erased c17_type_erased_under_faults TypeErased,
            c18_send_futures c18_send_futures_under_faults SendFutures,
            c19_shutdown_both c19_shutdown_both_under_faults ShutdownBoth,
            c20_zero_copy c20_zero_copy_under_faults ZeroCopy,
            c21_repeated_shutdown c21_repeated_shutdown_under_faults RepeatedShutdown,
            c22_close_bounded c22_close_bounded_under_faults CloseBounded,
        );
    };
    (@tests ($factory:expr) ($block_on:path) $($plain:ident $faulty:ident $clause:ident,)*) => {
        /// The test names this expansion generated, in clause order.
        #[allow(dead_code)]
        pub(crate) const SUITE_TESTS: &[&str] = &[$(stringify!($plain)),*];
        $(
            #[test]
            fn $plain() {
                let factory = $factory;
                let clause = $crate::Clause::$clause;
                $crate::__private::conclude(clause, $block_on($crate::check(clause, &factory, $crate::base_seed())));
            }

            #[test]
            fn $faulty() {
                let factory = $crate::FaultyFactory::new($factory, $crate::base_seed());
                let clause = $crate::Clause::$clause;
                $crate::__private::conclude(clause, $block_on($crate::check(clause, &factory, $crate::base_seed())));
            }
        )*
    };
}
