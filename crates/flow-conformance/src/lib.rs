//! The conformance suite of the flow contract.
//!
//! Every clause of `docs/contract.md` is one [`Clause`]. A backend gives the
//! suite a [`Factory`] (connected pairs, and what the backend can do) and a
//! `block_on` for its executor. [`suite!`] expands the whole suite into
//! `#[test]` functions, and [`Runner`] runs it for a report (the matrix).
//!
//! Each clause that moves data runs in four [variants](Variant):
//!
//! - both ends in **one task** (`c02_bytes_in_order`), and in **separate
//!   tasks** (`c02_bytes_in_order_in_tasks`): each end is its own task with
//!   its own waker, on a thread of its own when the flows are `Send`. One
//!   task hides a lost wake-up, because every branch is polled whenever any
//!   is woken. Separate tasks turn it into a hang, which fails;
//! - **plainly**, and **under faults** (`_under_faults`): both ends wrapped in
//!   [`flow_mem::Faulty`], with seeded random chunking down to single bytes
//!   and interleaved `Pending`.
//!
//! Every clause runs on a thread of its own under a time limit
//! ([`Clause::time_limit`]). A clause that has not finished by then has
//! failed. The limit is checked before the clause is polled again, so it
//! never rescues a stalled clause. A clause whose thread blocks (a poll that
//! never returns) is reported by a watchdog outside it, and the run goes on.
//! A panic is a failure of that clause alone.
//!
//! Random choices are seeded. A failure prints the seed and the test to
//! rerun; `FLOW_CONFORMANCE_SEED=<seed>` replays it.
//!
//! A third-party backend runs the suite from its own tests:
//!
//! ```ignore
//! use flow_conformance::flow_api::{self, Error};
//!
//! #[derive(Default)]
//! struct Pairs;
//!
//! impl flow_conformance::Factory for Pairs {
//!     type Client = my_backend::Flow;
//!     type Server = my_backend::Flow;
//!     async fn connect(&self) -> Result<(Self::Client, Self::Server), Error> {
//!         my_backend::connected_pair().await
//!     }
//!     fn capabilities(&self) -> flow_conformance::Capabilities {
//!         flow_conformance::Capabilities::new()
//!     }
//! }
//!
//! flow_conformance::suite! {
//!     factory: Pairs,
//!     block_on: |future| my_runtime::Runtime::new().unwrap().block_on(future),
//! }
//! ```
//!
//! A backend whose flows are not `Send` (a thread-per-core runtime) runs
//! every clause but the `Send` check, which is reported not applicable; its
//! separate tasks share one thread.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod broken;
mod clauses;
mod drive;
mod factory;
pub mod gallery;
mod mem;
mod model;
mod pattern;
mod report;
mod runner;
pub mod sockets;
mod support;
pub mod timer;

use std::fmt;
use std::time::Duration;

/// The contract this suite checks, re-exported so that a backend's tests
/// need no other dependency to name it.
pub use flow_api;

pub use crate::broken::GalleryPairs;
pub use crate::drive::BlockOn;
pub use crate::factory::{Capabilities, Factory, FaultyFactory};
pub use crate::gallery::Defect;
pub use crate::mem::MemPairs;
pub use crate::report::{Entry, Outcome, Report};
pub use crate::runner::Runner;

/// How a clause is run: its ends in one task or in separate ones, plainly or
/// under fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Variant {
    /// Each end in its own task (on its own thread for `Send` flows).
    pub tasks: bool,
    /// Both ends wrapped in [`flow_mem::Faulty`].
    pub faults: bool,
}

impl Variant {
    /// One task, no faults.
    pub const PLAIN: Variant = Variant {
        tasks: false,
        faults: false,
    };
    /// Separate tasks, no faults.
    pub const TASKS: Variant = Variant {
        tasks: true,
        faults: false,
    };
    /// One task, under faults.
    pub const FAULTS: Variant = Variant {
        tasks: false,
        faults: true,
    };
    /// Separate tasks, under faults.
    pub const TASKS_FAULTS: Variant = Variant {
        tasks: true,
        faults: true,
    };
    /// Every variant, in the order reports list them.
    pub const ALL: [Variant; 4] = [Variant::PLAIN, Variant::TASKS, Variant::FAULTS, Variant::TASKS_FAULTS];

    /// The suffix of the test name: `""`, `"_in_tasks"`, `"_under_faults"`,
    /// `"_in_tasks_under_faults"`.
    pub fn suffix(self) -> &'static str {
        match (self.tasks, self.faults) {
            (false, false) => "",
            (true, false) => "_in_tasks",
            (false, true) => "_under_faults",
            (true, true) => "_in_tasks_under_faults",
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.tasks, self.faults) {
            (false, false) => "one task",
            (true, false) => "separate tasks",
            (false, true) => "one task, under faults",
            (true, true) => "separate tasks, under faults",
        })
    }
}

macro_rules! clause_table {
    ($($variant:ident = $number:literal, $test:literal, $func:ident, $limit:literal, tasks: $tasks:literal, faults: $faults:literal, $summary:literal;)*) => {
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

            /// The name of the `#[test]` that [`suite!`] generates for it in
            /// one task, without faults; [`Variant::suffix`] names the others.
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

            /// The variants this clause runs in. A clause that moves no data
            /// between tasks has no separate-task variant; the `Send` check
            /// is a property of types and runs once.
            pub fn variants(self) -> Vec<Variant> {
                let (tasks, faults) = match self {
                    $(Clause::$variant => ($tasks, $faults),)*
                };
                Variant::ALL.into_iter().filter(|v| (tasks || !v.tasks) && (faults || !v.faults)).collect()
            }

            /// How long the clause may run before it counts as hung.
            /// `FLOW_CONFORMANCE_TIME_SCALE` (a positive number) scales it.
            pub fn time_limit(self) -> Duration {
                let secs = match self {
                    $(Clause::$variant => $limit,)*
                };
                // The model clause's limit grows with the cases it runs.
                let cases = if self == Clause::Model { model::cases().div_ceil(24) as f64 } else { 1.0 };
                Duration::from_secs_f64(secs as f64 * cases * time_scale())
            }

            /// The clause with this number or test name (a variant's suffix
            /// is ignored).
            pub fn find(name: &str) -> Option<Clause> {
                let name = Variant::ALL
                    .iter()
                    .rev()
                    .filter(|v| !v.suffix().is_empty())
                    .find_map(|v| name.strip_suffix(v.suffix()))
                    .unwrap_or(name);
                Clause::ALL.iter().copied().find(|c| c.test_name() == name || c.number().to_string() == name)
            }

            async fn dispatch<F: Factory>(self, cx: &clauses::Cx<'_, F>) -> Outcome {
                match self {
                    $(Clause::$variant => Box::pin(clauses::$func(cx)).await,)*
                }
            }
        }
    };
}

clause_table! {
    ReadNeverEmpty = 1, "c01_read_never_empty", read_never_empty, 30, tasks: true, faults: true, "read returns at least one byte or end of file, never an empty buffer.";
    BytesInOrder = 2, "c02_bytes_in_order", bytes_in_order, 60, tasks: true, faults: true, "Bytes arrive in order and unmodified, whatever the write sizes (1 B to 1 MiB).";
    EofAfterData = 3, "c03_eof_after_data", eof_after_data, 30, tasks: true, faults: true, "After the peer shuts down writing or closes, in-flight data comes first, then end of file, which is sticky.";
    HalfClose = 4, "c04_half_close", half_close, 30, tasks: true, faults: true, "After shutdown(Write) the local side still reads, the peer reads end of file, and local writes return Closed.";
    ShutdownRead = 5, "c05_shutdown_read", shutdown_read, 30, tasks: true, faults: true, "After shutdown(Read) local reads return end of file; the peer's writes do not hang.";
    CloseGraceful = 6, "c06_close_graceful", close_graceful, 30, tasks: true, faults: true, "close flushes, signals the end, lets the remote drain and write, and completes once the remote closed (also when both close at once with full buffers); a second close succeeds.";
    ClosedFlowRejects = 7, "c07_closed_flow_rejects", closed_flow_rejects, 30, tasks: true, faults: true, "After close, writes return Closed and reads return end of file.";
    WritevConcatenates = 8, "c08_writev_concatenates", writev_concatenates, 30, tasks: true, faults: true, "writev equals writing the concatenation; empty lists and members are fine.";
    ZeroLengthWrite = 9, "c09_zero_length_write", zero_length_write, 30, tasks: true, faults: true, "A zero-length write succeeds at once, sends nothing and signals no end of file.";
    Backpressure = 10, "c10_backpressure", backpressure, 60, tasks: true, faults: true, "A writer to a peer that does not read eventually waits.";
    SimultaneousWrite = 11, "c11_simultaneous_write", simultaneous_write, 60, tasks: true, faults: true, "Both ends write 8 MiB at once while reading: no deadlock.";
    ReadCancelSafe = 12, "c12_read_cancel_safe", read_cancel_safe, 60, tasks: true, faults: true, "Cancelling a pending read at any poll loses no byte.";
    PeerAbort = 13, "c13_peer_abort", peer_abort, 30, tasks: true, faults: true, "A peer that aborts gives end of file or a reset, never a hang; writes then fail with Closed, a reset or (TLS) Truncated.";
    ErrorsRoundTrip = 14, "c14_errors_round_trip", errors_round_trip, 30, tasks: false, faults: true, "Errors display as readable messages and keep their kind through std::io::Error.";
    LargeBidirectional = 15, "c15_large_bidirectional", large_bidirectional, 240, tasks: true, faults: true, "64 MiB each way at once, verified byte for byte.";
    ManyPairs = 16, "c16_many_pairs", many_pairs, 120, tasks: true, faults: true, "1,000 concurrent pairs all deliver correctly.";
    TypeErased = 17, "c17_type_erased", type_erased, 30, tasks: false, faults: true, "The flow works type-erased (`Box<dyn Flow>`, pinned boxes).";
    SendFutures = 18, "c18_send_futures", send_futures, 30, tasks: false, faults: false, "Flows, their halves and their futures are Send (checked at compile time).";
    ShutdownBoth = 19, "c19_shutdown_both", shutdown_both, 30, tasks: true, faults: true, "shutdown(Both): local reads end, local writes return Closed, the peer reads end of file.";
    ZeroCopy = 20, "c20_zero_copy", zero_copy, 30, tasks: false, faults: false, "Zero-copy backends hand the reader the writer's very allocation.";
    RepeatedShutdown = 21, "c21_repeated_shutdown", repeated_shutdown, 30, tasks: true, faults: true, "Shutting down twice is a no-op, and close after shutdown completes.";
    CloseBounded = 22, "c22_close_bounded", close_bounded, 30, tasks: true, faults: true, "close waits for the peer, and close_within gives up with TimedOut when the peer never closes.";
    RequestResponse = 23, "c23_request_response", request_response, 60, tasks: true, faults: true, "Thousands of small round trips, each side waiting on the other, all arrive.";
    Model = 24, "c24_model", model, 180, tasks: false, faults: true, "Seeded random operation sequences on both ends, each step checked against an executable model of the contract.";
    CloseSendsFed = 25, "c25_close_sends_fed_data", close_sends_fed_data, 30, tasks: true, faults: true, "close (and shutdown) send what was fed but not flushed.";
    AbortDeliversInFlight = 26, "c26_abort_delivers_in_flight", abort_delivers_in_flight, 30, tasks: true, faults: true, "An end dropped with data in flight: the peer reads that data first, then an end that stays put.";
    CloseAfterPeerAbort = 27, "c27_close_after_peer_abort", close_after_peer_abort, 30, tasks: true, faults: true, "close after the peer aborted completes, with success or a reset, and never hangs.";
    WriteErrorSticky = 28, "c28_write_error_sticky", write_error_sticky, 30, tasks: true, faults: true, "After a write fails, later writes and flushes fail too: no data is silently dropped.";
    ReadAfterClose = 29, "c29_read_after_close", read_after_close, 30, tasks: true, faults: true, "Reads after close return end of file, even while the remote still had data in flight, and after a close whose future was dropped.";
    FloodAfterShutdownRead = 30, "c30_flood_after_shutdown_read", flood_after_shutdown_read, 60, tasks: true, faults: true, "A peer writing far more than any buffer after shutdown(Read) does not hang.";
    CancelWrites = 31, "c31_cancel_writes", cancel_writes, 60, tasks: false, faults: true, "write, writev, flush, shutdown and close cancelled at any poll: buffers go out whole or not at all, and calling again resumes.";
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

/// The seed a clause uses under `base`: the same for every variant, so that
/// a failure in one variant replays in it from the base seed alone.
pub fn clause_seed(base: u64, clause: Clause) -> u64 {
    base ^ (u64::from(clause.number()) << 32)
}

/// Runs one clause in one task, without faults, under its time limit, on
/// the caller's executor (no watchdog: see [`Runner`] for that).
pub async fn check<F: Factory>(clause: Clause, factory: &F, base: u64) -> Outcome {
    check_within(clause, factory, base, clause.time_limit()).await
}

/// Runs one clause in one task under the time limit `limit`.
pub async fn check_within<F: Factory>(clause: Clause, factory: &F, base: u64, limit: Duration) -> Outcome {
    runner::check_variant(clause, factory, base, Variant::PLAIN, drive::Drive::OneTask, limit).await
}

/// Runs one clause with its ends in separate tasks (sharing the caller's
/// thread), without faults, under the time limit `limit`.
pub async fn check_in_tasks<F: Factory>(clause: Clause, factory: &F, base: u64, limit: Duration) -> Outcome {
    runner::check_variant(clause, factory, base, Variant::TASKS, drive::Drive::Tasks(None), limit).await
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

#[doc(hidden)]
pub mod __private {
    use std::marker::PhantomData;

    use super::{Clause, Factory, Outcome, Runner, Variant};

    pub use futures_util;
    pub use futures_util::future::LocalBoxFuture;

    /// Clause 24 for fuzzers: one model case whose steps are decoded from
    /// `bytes` (the first 8 seed the data patterns and the fault injector),
    /// over an in-memory pair of `capacity` bytes, both ends wrapped in
    /// [`flow_mem::Faulty`] when `faults`. Every step is checked against the
    /// model; `Err` describes the case (the failing step, why, the steps).
    pub async fn model_case(bytes: &[u8], capacity: usize, faults: bool) -> Result<(), String> {
        let pairs = crate::MemPairs { capacity };
        if faults {
            crate::model::fuzz_case(&crate::FaultyFactory::new(pairs, 0), bytes).await
        } else {
            crate::model::fuzz_case(&pairs, bytes).await
        }
    }

    /// `len` bytes of the suite's seeded pattern, for the socket tests.
    pub fn pattern(len: usize) -> flow_api::Bytes {
        crate::pattern::Pattern::new(0x5eed).chunk(0, len)
    }

    /// Turns an outcome into a test result: panics on failure, says so on
    /// not applicable.
    pub fn conclude(clause: Clause, variant: Variant, outcome: Outcome) {
        match outcome {
            Outcome::Passed => {}
            Outcome::NotApplicable(why) => {
                println!("{}{}: not applicable: {why}", clause.test_name(), variant.suffix());
            }
            Outcome::Failed(why) => panic!(
                "clause {} failed ({variant}): {why}\n  clause: {}",
                clause.number(),
                clause.summary()
            ),
        }
    }

    /// Picks [`Runner::new`] for `Send` flows and [`Runner::new_local`]
    /// otherwise, for a factory type known only by inference (autoref
    /// specialisation: the `Send` impl is on the probe, the fallback on a
    /// reference to it).
    #[derive(Debug)]
    pub struct Probe<F>(PhantomData<F>);

    impl<F> Probe<F> {
        pub fn of<M: Fn() -> F>(_make: &M) -> Self {
            Probe(PhantomData)
        }
    }

    pub trait ViaSend<F: Factory> {
        fn runner(
            &self,
            name: &str,
            make: impl Fn() -> F + Send + Sync + 'static,
            block_on: impl Fn(LocalBoxFuture<'static, ()>) + Send + Sync + 'static,
        ) -> Runner<F>;
    }

    impl<F: Factory + 'static> ViaSend<F> for Probe<F>
    where
        F::Client: Send,
        F::Server: Send,
    {
        fn runner(
            &self,
            name: &str,
            make: impl Fn() -> F + Send + Sync + 'static,
            block_on: impl Fn(LocalBoxFuture<'static, ()>) + Send + Sync + 'static,
        ) -> Runner<F> {
            Runner::new(name, make, block_on)
        }
    }

    pub trait ViaLocal<F: Factory> {
        fn runner(
            &self,
            name: &str,
            make: impl Fn() -> F + Send + Sync + 'static,
            block_on: impl Fn(LocalBoxFuture<'static, ()>) + Send + Sync + 'static,
        ) -> Runner<F>;
    }

    impl<F: Factory + 'static> ViaLocal<F> for &Probe<F> {
        fn runner(
            &self,
            name: &str,
            make: impl Fn() -> F + Send + Sync + 'static,
            block_on: impl Fn(LocalBoxFuture<'static, ()>) + Send + Sync + 'static,
        ) -> Runner<F> {
            Runner::new_local(name, make, block_on)
        }
    }
}

/// Expands the whole suite into `#[test]` functions for one backend: one per
/// clause and [variant](Variant) (`c02_bytes_in_order`,
/// `c02_bytes_in_order_in_tasks`, `c02_bytes_in_order_under_faults`,
/// `c02_bytes_in_order_in_tasks_under_faults`).
///
/// - `factory` is an expression that makes a [`Factory`]; it is evaluated
///   for each clause, inside `block_on`.
/// - `block_on` is any expression callable as `block_on(future)` with a
///   `Pin<Box<dyn Future<Output = ()>>>`: a function path
///   (`futures_executor::block_on`, `smol::block_on`) or a closure
///   (`|f| runtime().block_on(f)`). It is called from the suite's threads.
/// - `name` (optional) puts the tests in a module of that name, so that one
///   file can hold several suites.
///
/// ```ignore
/// flow_conformance::suite! {
///     name: memory,
///     factory: flow_conformance::MemPairs::default(),
///     block_on: futures_executor::block_on,
/// }
/// ```
#[macro_export]
macro_rules! suite {
    (name: $name:ident, factory: $factory:expr, block_on: $block_on:expr $(,)?) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::suite!(factory: $factory, block_on: $block_on);
        }
    };
    (factory: $factory:expr, block_on: $block_on:expr $(,)?) => {
        $crate::__suite_tests! { ($factory) ($block_on)
            ReadNeverEmpty: c01_read_never_empty c01_read_never_empty_in_tasks c01_read_never_empty_under_faults c01_read_never_empty_in_tasks_under_faults;
            BytesInOrder: c02_bytes_in_order c02_bytes_in_order_in_tasks c02_bytes_in_order_under_faults c02_bytes_in_order_in_tasks_under_faults;
            EofAfterData: c03_eof_after_data c03_eof_after_data_in_tasks c03_eof_after_data_under_faults c03_eof_after_data_in_tasks_under_faults;
            HalfClose: c04_half_close c04_half_close_in_tasks c04_half_close_under_faults c04_half_close_in_tasks_under_faults;
            ShutdownRead: c05_shutdown_read c05_shutdown_read_in_tasks c05_shutdown_read_under_faults c05_shutdown_read_in_tasks_under_faults;
            CloseGraceful: c06_close_graceful c06_close_graceful_in_tasks c06_close_graceful_under_faults c06_close_graceful_in_tasks_under_faults;
            ClosedFlowRejects: c07_closed_flow_rejects c07_closed_flow_rejects_in_tasks c07_closed_flow_rejects_under_faults c07_closed_flow_rejects_in_tasks_under_faults;
            WritevConcatenates: c08_writev_concatenates c08_writev_concatenates_in_tasks c08_writev_concatenates_under_faults c08_writev_concatenates_in_tasks_under_faults;
            ZeroLengthWrite: c09_zero_length_write c09_zero_length_write_in_tasks c09_zero_length_write_under_faults c09_zero_length_write_in_tasks_under_faults;
            Backpressure: c10_backpressure c10_backpressure_in_tasks c10_backpressure_under_faults c10_backpressure_in_tasks_under_faults;
            SimultaneousWrite: c11_simultaneous_write c11_simultaneous_write_in_tasks c11_simultaneous_write_under_faults c11_simultaneous_write_in_tasks_under_faults;
            ReadCancelSafe: c12_read_cancel_safe c12_read_cancel_safe_in_tasks c12_read_cancel_safe_under_faults c12_read_cancel_safe_in_tasks_under_faults;
            PeerAbort: c13_peer_abort c13_peer_abort_in_tasks c13_peer_abort_under_faults c13_peer_abort_in_tasks_under_faults;
            ErrorsRoundTrip: c14_errors_round_trip - c14_errors_round_trip_under_faults -;
            LargeBidirectional: c15_large_bidirectional c15_large_bidirectional_in_tasks c15_large_bidirectional_under_faults c15_large_bidirectional_in_tasks_under_faults;
            ManyPairs: c16_many_pairs c16_many_pairs_in_tasks c16_many_pairs_under_faults c16_many_pairs_in_tasks_under_faults;
            TypeErased: c17_type_erased - c17_type_erased_under_faults -;
            SendFutures: c18_send_futures - - -;
            ShutdownBoth: c19_shutdown_both c19_shutdown_both_in_tasks c19_shutdown_both_under_faults c19_shutdown_both_in_tasks_under_faults;
            ZeroCopy: c20_zero_copy - - -;
            RepeatedShutdown: c21_repeated_shutdown c21_repeated_shutdown_in_tasks c21_repeated_shutdown_under_faults c21_repeated_shutdown_in_tasks_under_faults;
            CloseBounded: c22_close_bounded c22_close_bounded_in_tasks c22_close_bounded_under_faults c22_close_bounded_in_tasks_under_faults;
            RequestResponse: c23_request_response c23_request_response_in_tasks c23_request_response_under_faults c23_request_response_in_tasks_under_faults;
            Model: c24_model - c24_model_under_faults -;
            CloseSendsFed: c25_close_sends_fed_data c25_close_sends_fed_data_in_tasks c25_close_sends_fed_data_under_faults c25_close_sends_fed_data_in_tasks_under_faults;
            AbortDeliversInFlight: c26_abort_delivers_in_flight c26_abort_delivers_in_flight_in_tasks c26_abort_delivers_in_flight_under_faults c26_abort_delivers_in_flight_in_tasks_under_faults;
            CloseAfterPeerAbort: c27_close_after_peer_abort c27_close_after_peer_abort_in_tasks c27_close_after_peer_abort_under_faults c27_close_after_peer_abort_in_tasks_under_faults;
            WriteErrorSticky: c28_write_error_sticky c28_write_error_sticky_in_tasks c28_write_error_sticky_under_faults c28_write_error_sticky_in_tasks_under_faults;
            ReadAfterClose: c29_read_after_close c29_read_after_close_in_tasks c29_read_after_close_under_faults c29_read_after_close_in_tasks_under_faults;
            FloodAfterShutdownRead: c30_flood_after_shutdown_read c30_flood_after_shutdown_read_in_tasks c30_flood_after_shutdown_read_under_faults c30_flood_after_shutdown_read_in_tasks_under_faults;
            CancelWrites: c31_cancel_writes - c31_cancel_writes_under_faults -;
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __suite_tests {
    (($factory:expr) ($block_on:expr) $($clause:ident: $plain:tt $tasks:tt $faults:tt $both:tt;)*) => {
        $(
            $crate::__suite_test!(($factory) ($block_on) $clause $plain PLAIN);
            $crate::__suite_test!(($factory) ($block_on) $clause $tasks TASKS);
            $crate::__suite_test!(($factory) ($block_on) $clause $faults FAULTS);
            $crate::__suite_test!(($factory) ($block_on) $clause $both TASKS_FAULTS);
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __suite_test {
    (($factory:expr) ($block_on:expr) $clause:ident - $variant:ident) => {};
    (($factory:expr) ($block_on:expr) $clause:ident $test:ident $variant:ident) => {
        #[test]
        fn $test() {
            #[allow(unused_imports)]
            use $crate::__private::{ViaLocal as _, ViaSend as _};
            let make = move || $factory;
            let runner = (&$crate::__private::Probe::of(&make)).runner(
                ::std::module_path!(),
                make,
                move |future: $crate::__private::LocalBoxFuture<'static, ()>| {
                    ($block_on)(future);
                },
            );
            let clause = $crate::Clause::$clause;
            let variant = $crate::Variant::$variant;
            $crate::__private::conclude(clause, variant, runner.check(clause, variant));
        }
    };
}
