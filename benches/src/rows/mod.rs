//! The benchmark rows. Each pair of sides runs in the same process,
//! interleaved (baseline, ours, baseline, ours...), and the table gets the
//! medians, their ratio, and the range of the per-round ratios.
//!
//! Groups (for `--only`, which matches any group containing the word):
//! `tokio-bulk`, `tokio-small`, `tokio-pingpong`, `smol-bulk`, `smol-small`,
//! `smol-pingpong`, `async-std-bulk`, `async-std-small`,
//! `async-std-pingpong`, `compio-bulk`, `compio-small`, `compio-pingpong`,
//! `mem`, `memory`, `tls-bulk`, `tls-handshake`, `quic-bulk`,
//! `quic-pingpong` (flow-quic against raw quinn streams), `relay` (client → proxy
//! → server, splice against `copy_bidirectional`), `iperf`, and the
//! many-connection echo servers `tokio-echo`, `smol-echo`,
//! `async-std-echo`, `compio-echo` (`--only echo` selects all four), and
//! `instructions`: callgrind's counts per operation, when valgrind is
//! installed.

mod compio_tcp;
mod echo;
mod instructions;
mod iperf;
mod mem;
mod memory;
mod quic;
mod relay;
mod tcp;
mod tls;
mod workloads;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::Scale;
use crate::stats::Table;

pub(crate) use instructions::run as count;
pub(crate) use memory::memory_probe;

pub(crate) const MIB: u64 = 1024 * 1024;

/// Every row, in table order.
pub(crate) fn all(scale: &Scale, table: &mut Table) {
    tcp::rows(scale, table);
    compio_tcp::rows(scale, table);
    echo::rows(scale, table);
    if scale.wants("mem") {
        mem::rows(scale, table);
    }
    if scale.wants("memory") {
        memory::rows(scale, table);
    }
    if scale.wants("tls") {
        tls::rows(scale, table);
    }
    if scale.wants("quic-bulk") || scale.wants("quic-pingpong") {
        quic::rows(scale, table);
    }
    if scale.wants("relay") {
        relay::rows(scale, table);
    }
    if scale.wants("iperf") {
        iperf::row(scale, table);
    }
    if scale.wants("instructions") {
        instructions::rows(scale, table);
    }
}

/// A spawned task, awaited for its completion (a panic in it propagates).
pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A boxed timed run of one side of a row.
pub(crate) type Run<'a> = Pin<Box<dyn Future<Output = Duration> + 'a>>;

/// An async runtime the rows run on: how to block on a future, and how to
/// spawn a task onto its other threads.
pub(crate) trait Runtime {
    /// Runs `future` to completion on the current thread.
    fn block_on<F: Future>(&self, future: F) -> F::Output;
    /// Spawns `future` on the runtime (called from inside [`block_on`](Runtime::block_on)).
    fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) -> Task;
}

/// A tokio runtime.
#[derive(Debug)]
pub(crate) struct Tokio(tokio::runtime::Runtime);

impl Tokio {
    /// Two worker threads: what a server on this machine would use.
    pub(crate) fn multi_thread() -> Tokio {
        Tokio::build(tokio::runtime::Builder::new_multi_thread().worker_threads(2))
    }

    /// Everything on the calling thread.
    pub(crate) fn current_thread() -> Tokio {
        Tokio::build(&mut tokio::runtime::Builder::new_current_thread())
    }

    fn build(builder: &mut tokio::runtime::Builder) -> Tokio {
        match builder.enable_all().build() {
            Ok(runtime) => Tokio(runtime),
            Err(err) => panic!("cannot start tokio: {err}"),
        }
    }
}

impl Runtime for Tokio {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) -> Task {
        let handle = tokio::spawn(future);
        Box::pin(async move {
            if let Err(err) = handle.await {
                panic!("a benchmark task failed: {err}");
            }
        })
    }
}

/// smol: `smol::block_on` on the calling thread, tasks on its global
/// executor.
#[derive(Debug)]
pub(crate) struct Smol;

impl Runtime for Smol {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        smol::block_on(future)
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) -> Task {
        Box::pin(smol::spawn(future))
    }
}

/// async-std: its `block_on` on the calling thread, tasks on its global
/// executor.
#[derive(Debug)]
pub(crate) struct AsyncStd;

impl Runtime for AsyncStd {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_std::task::block_on(future)
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) -> Task {
        Box::pin(async_std::task::spawn(future))
    }
}

/// Runs every side in turn, `rounds` times (after one untimed warm-up of
/// each); returns each side's measurements (durations, for most rows), one
/// per round, in order. A side blocks until its run is done, on whichever
/// runtime it needs, so sides on different runtimes interleave too.
pub(crate) fn interleave_blocking<T>(scale: &Scale, sides: &[&dyn Fn() -> T]) -> Vec<Vec<T>> {
    for side in sides {
        side();
    }
    let mut samples: Vec<Vec<T>> = sides.iter().map(|_| Vec::with_capacity(scale.rounds)).collect();
    for _ in 0..scale.rounds {
        for (side, samples) in sides.iter().zip(&mut samples) {
            samples.push(side());
        }
    }
    samples
}

/// [`interleave_blocking`] for sides that all run on `runtime`.
pub(crate) fn interleave_all<R: Runtime>(
    scale: &Scale,
    runtime: &R,
    sides: &[&dyn Fn() -> Run<'static>],
) -> Vec<Vec<Duration>> {
    let blocking: Vec<Box<dyn Fn() -> Duration + '_>> = sides
        .iter()
        .map(|side| Box::new(move || runtime.block_on(side())) as Box<dyn Fn() -> Duration + '_>)
        .collect();
    let blocking: Vec<&dyn Fn() -> Duration> = blocking.iter().map(|side| &**side).collect();
    interleave_blocking(scale, &blocking)
}

/// The durations of one side, one per round.
pub(crate) type Samples = Vec<Duration>;

/// [`interleave_all`] for a baseline and ours: returns their durations.
pub(crate) fn interleave<R, B, O, FB, FO>(scale: &Scale, runtime: &R, baseline: B, ours: O) -> (Samples, Samples)
where
    R: Runtime,
    B: Fn() -> FB,
    O: Fn() -> FO,
    FB: Future<Output = Duration> + 'static,
    FO: Future<Output = Duration> + 'static,
{
    let baseline = || -> Run<'static> { Box::pin(baseline()) };
    let ours = || -> Run<'static> { Box::pin(ours()) };
    let mut samples = interleave_all(scale, runtime, &[&baseline, &ours]).into_iter();
    match (samples.next(), samples.next()) {
        (Some(b), Some(o)) => (b, o),
        _ => unreachable!("two sides give two sample sets"),
    }
}
