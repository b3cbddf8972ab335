//! Runs clauses on threads of their own, under a time limit and a watchdog.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;

use crate::clauses::Cx;
use crate::drive::{BlockOn, Drive, Threads};
use crate::{Clause, Entry, Factory, FaultyFactory, Outcome, Report, Variant, clause_seed};

/// How long past its time limit a clause's thread may stay silent before
/// the watchdog reports it blocked. The time limit itself fires inside the
/// clause; only a thread stuck in a poll that never returns gets this far.
const WATCHDOG_GRACE: Duration = Duration::from_secs(10);

/// Runs the suite for one backend: every clause in every variant, each on a
/// thread of its own, under its time limit and a watchdog.
///
/// ```ignore
/// let runner = flow_conformance::Runner::new("my-backend", MyPairs::default, futures_executor::block_on);
/// let report = runner.run();
/// assert!(report.iter().all(|r| r.is_success()), "{report:?}");
/// ```
pub struct Runner<F: Factory> {
    name: String,
    make: Arc<dyn Fn() -> F + Send + Sync>,
    block_on: BlockOn,
    threads: Option<(Threads<F>, Threads<FaultyFactory<F>>)>,
    send_check: Option<fn() -> Outcome>,
    clauses: Vec<Clause>,
    seed: u64,
    scale: f64,
}

impl<F: Factory + 'static> Runner<F> {
    /// A runner for a backend whose flows are `Send`: separate-task
    /// variants put each end on a thread of its own, and the `Send` clause
    /// is checked.
    ///
    /// `make` makes a fresh factory for each clause (it is called inside
    /// `block_on`, so it may need the runtime). `block_on` runs a future to
    /// completion on the backend's executor, from any thread.
    pub fn new(
        name: &str,
        make: impl Fn() -> F + Send + Sync + 'static,
        block_on: impl Fn(LocalBoxFuture<'static, ()>) + Send + Sync + 'static,
    ) -> Self
    where
        F::Client: Send,
        F::Server: Send,
    {
        let mut runner = Runner::new_local(name, make, block_on);
        runner.threads = Some((
            Threads::new(Arc::clone(&runner.block_on)),
            Threads::new(Arc::clone(&runner.block_on)),
        ));
        runner.send_check = Some(crate::clauses::send_futures_of::<F>);
        runner
    }

    /// A runner for a backend whose flows are not `Send` (thread-per-core
    /// runtimes): separate tasks share the clause's thread, and the `Send`
    /// clause is reported not applicable.
    pub fn new_local(
        name: &str,
        make: impl Fn() -> F + Send + Sync + 'static,
        block_on: impl Fn(LocalBoxFuture<'static, ()>) + Send + Sync + 'static,
    ) -> Self {
        Runner {
            name: name.to_owned(),
            make: Arc::new(make),
            block_on: Arc::new(block_on),
            threads: None,
            send_check: None,
            clauses: Clause::ALL.to_vec(),
            seed: crate::base_seed(),
            scale: 1.0,
        }
    }

    /// Scales every clause's time limit (and the watchdog's grace) by
    /// `scale`, on top of `FLOW_CONFORMANCE_TIME_SCALE`: a fast backend's
    /// tests of hanging defects stay short with `0.1`.
    #[must_use]
    pub fn time_scale(mut self, scale: f64) -> Self {
        if scale.is_finite() && scale > 0.0 {
            self.scale = scale;
        }
        self
    }

    fn limit(&self, clause: Clause) -> Duration {
        clause.time_limit().mul_f64(self.scale)
    }

    /// Runs the clauses in every variant until one fails, and returns that
    /// failure: how a gallery of broken backends is checked quickly.
    pub fn first_failure(&self) -> Option<(Clause, Variant, String)> {
        for variant in Variant::ALL {
            for &clause in &self.clauses {
                if let Outcome::Failed(why) = self.check(clause, variant) {
                    return Some((clause, variant, why));
                }
            }
        }
        None
    }

    /// Runs only these clauses.
    #[must_use]
    pub fn clauses(mut self, clauses: &[Clause]) -> Self {
        self.clauses = clauses.to_vec();
        self
    }

    /// The base seed (default: [`base_seed`](crate::base_seed)).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Runs every clause in every variant it has; one report per variant,
    /// named after the backend and the variant (`tokio-tcp (separate
    /// tasks, under faults)`).
    pub fn run(&self) -> Vec<Report> {
        Variant::ALL
            .into_iter()
            .map(|variant| {
                let entries = self
                    .clauses
                    .iter()
                    .map(|&clause| {
                        let started = Instant::now();
                        let outcome = self.check(clause, variant);
                        Entry {
                            clause,
                            outcome,
                            elapsed: started.elapsed(),
                        }
                    })
                    .collect();
                Report {
                    backend: if variant == Variant::PLAIN {
                        self.name.clone()
                    } else {
                        format!("{} ({variant})", self.name)
                    },
                    entries,
                }
            })
            .collect()
    }

    /// Runs one clause in one variant on a thread of its own.
    ///
    /// A clause that has not finished within its time limit has failed; a
    /// thread that stays blocked past it is reported by the watchdog (and
    /// left behind); a panic is a failure.
    pub fn check(&self, clause: Clause, variant: Variant) -> Outcome {
        if !clause.variants().contains(&variant) {
            return Outcome::NotApplicable(format!("{} does not run {variant}", clause.test_name()));
        }
        if clause == Clause::SendFutures {
            return match self.send_check {
                Some(check) => self.on_thread(clause, variant, check),
                None => Outcome::NotApplicable("the backend's flows are not Send (a thread-per-core runtime)".into()),
            };
        }
        let make = Arc::clone(&self.make);
        let block_on = Arc::clone(&self.block_on);
        let threads = self.threads.clone();
        let seed = self.seed;
        let limit = self.limit(clause);
        self.on_thread(clause, variant, move || {
            let slot = Arc::new(Mutex::new(None));
            let result = Arc::clone(&slot);
            block_on(Box::pin(async move {
                let factory = make();
                let outcome = if variant.faults {
                    let faulty = FaultyFactory::new(factory, clause_seed(seed, clause));
                    let drive = match (variant.tasks, threads) {
                        (false, _) => Drive::OneTask,
                        (true, threads) => Drive::Tasks(threads.map(|(_, faulty)| faulty)),
                    };
                    check_variant(clause, &faulty, seed, variant, drive, limit).await
                } else {
                    let drive = match (variant.tasks, threads) {
                        (false, _) => Drive::OneTask,
                        (true, threads) => Drive::Tasks(threads.map(|(plain, _)| plain)),
                    };
                    check_variant(clause, &factory, seed, variant, drive, limit).await
                };
                *result.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
            }));
            let outcome = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            outcome.unwrap_or_else(|| Outcome::Failed("block_on returned before the clause finished".into()))
        })
    }

    fn on_thread(&self, clause: Clause, variant: Variant, body: impl FnOnce() -> Outcome + Send + 'static) -> Outcome {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name(format!("{}{}", clause.test_name(), variant.suffix()))
            .spawn(move || {
                let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
                    Outcome::Failed(format!("the clause panicked: {}", crate::panic_message(&*panic)))
                });
                let _ = tx.send(outcome);
            });
        if let Err(err) = spawned {
            return Outcome::Failed(format!("cannot start a thread for the clause: {err}"));
        }
        let limit = self.limit(clause) + WATCHDOG_GRACE.mul_f64(self.scale.min(1.0)).max(Duration::from_secs(2));
        let outcome = match rx.recv_timeout(limit) {
            Ok(outcome) => outcome,
            Err(RecvTimeoutError::Timeout) => Outcome::Failed(format!(
                "the clause's thread was blocked for {limit:?}: a poll never returned (blocking code in a poll \
                 method?); its thread is left behind"
            )),
            Err(RecvTimeoutError::Disconnected) => Outcome::Failed("the clause's thread ended without a result".into()),
        };
        with_replay(outcome, clause, variant, self.seed)
    }
}

/// Adds how to replay a failure: the seed and the test name.
fn with_replay(outcome: Outcome, clause: Clause, variant: Variant, seed: u64) -> Outcome {
    match outcome {
        Outcome::Failed(why) if !why.contains("FLOW_CONFORMANCE_SEED") => Outcome::Failed(format!(
            "{why} (seed {seed}, {variant}: rerun with FLOW_CONFORMANCE_SEED={seed} cargo test {}{})",
            clause.test_name(),
            variant.suffix()
        )),
        other => other,
    }
}

/// Runs one clause's body under its time limit.
pub(crate) async fn check_variant<F: Factory>(
    clause: Clause,
    factory: &F,
    base: u64,
    variant: Variant,
    drive: Drive<F>,
    limit: Duration,
) -> Outcome {
    let seed = clause_seed(base, clause);
    factory.reseed(seed);
    let cx = Cx::new(factory, seed, drive, limit);
    let outcome = crate::timer::timeout(limit, clause.dispatch(&cx)).await;
    let outcome = match outcome {
        None => Outcome::Failed(format!(
            "timed out after {limit:?}: the clause hung ({}); a lost wake-up, a deadlock or a missing end of file",
            cx.progress()
        )),
        Some(outcome) => outcome,
    };
    with_replay(outcome, clause, variant, base)
}

impl<F: Factory> fmt::Debug for Runner<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("name", &self.name)
            .field("send", &self.threads.is_some())
            .field("clauses", &self.clauses.len())
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}
