//! How a clause drives the two ends of a pair: in one task, or in separate
//! tasks (each with its own waker) that run on their own threads when the
//! backend's flows are `Send`.
//!
//! One task polls every branch whenever any branch is woken, so a backend
//! that forgets to wake the right task still passes there. Separate tasks
//! are polled only when *their* waker fires: a lost wake-up becomes a hang,
//! which the clause's time limit turns into a failure. On threads, the two
//! ends also race for real, as they do on a multi-threaded runtime.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use futures_util::stream::FuturesUnordered;

use crate::Factory;
use crate::support::{Check, Fail};

/// Runs a future to completion on the backend's executor. Called from the
/// suite's own threads, once per clause and once per end program in
/// separate-task runs, so it must work from any thread (a fresh runtime per
/// call is fine).
pub type BlockOn = Arc<dyn Fn(LocalBoxFuture<'static, ()>) + Send + Sync>;

/// What one end does in a clause: takes the end, returns whether the clause
/// holds from its side. Built from `Send` data only (patterns, seeds,
/// signals), so that it can be moved to another thread whatever the end is;
/// the future it makes runs where it is made and need not be `Send`.
pub(crate) type Program<E> = Box<dyn FnOnce(E) -> LocalBoxFuture<'static, Check> + Send>;

/// Makes a [`Program`] from a closure.
pub(crate) fn program<E, Fut>(f: impl FnOnce(E) -> Fut + Send + 'static) -> Program<E>
where
    Fut: Future<Output = Check> + 'static,
{
    Box::new(move |end| Box::pin(f(end)))
}

/// How concurrent branches run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every branch in one task, polled together.
    OneTask,
    /// Every branch its own task, with its own waker.
    Tasks,
}

impl Mode {
    /// Runs `branches` concurrently and fails with the first failure.
    pub(crate) async fn all<'a>(self, branches: Vec<LocalBoxFuture<'a, Check>>) -> Check {
        match self {
            Mode::OneTask => JoinAll::new(branches).await,
            Mode::Tasks => separate_tasks(branches).await,
        }
    }
}

/// Runs futures as separate tasks: each is polled only when its own waker
/// was woken. Fails fast: the first failure drops the others.
async fn separate_tasks(branches: Vec<LocalBoxFuture<'_, Check>>) -> Check {
    let mut set: FuturesUnordered<_> = branches.into_iter().collect();
    while let Some(result) = set.next().await {
        result?;
    }
    Ok(())
}

/// Polls every unfinished branch each time it is polled: one task.
struct JoinAll<'a> {
    branches: Vec<Option<LocalBoxFuture<'a, Check>>>,
}

impl<'a> JoinAll<'a> {
    fn new(branches: Vec<LocalBoxFuture<'a, Check>>) -> Self {
        JoinAll {
            branches: branches.into_iter().map(Some).collect(),
        }
    }
}

impl Future for JoinAll<'_> {
    type Output = Check;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Check> {
        let mut pending = false;
        for slot in &mut self.branches {
            if let Some(branch) = slot {
                match branch.as_mut().poll(cx) {
                    Poll::Ready(Ok(())) => *slot = None,
                    Poll::Ready(Err(fail)) => return Poll::Ready(Err(fail)),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(Ok(())) }
    }
}

/// Moves ends to threads of their own. Only made where the ends are known
/// to be `Send` (see [`Threads::new`]); the suite's generic code calls it
/// through these function pointers without knowing that.
pub(crate) struct Threads<F: Factory> {
    block_on: BlockOn,
    client: Ship<F::Client>,
    server: Ship<F::Server>,
}

/// Runs a program on an end on a thread of its own: [`ship`] for one end type.
type Ship<E> = fn(&BlockOn, E, Program<E>, &'static str) -> Joined;

impl<F: Factory> Clone for Threads<F> {
    fn clone(&self) -> Self {
        Threads {
            block_on: Arc::clone(&self.block_on),
            client: self.client,
            server: self.server,
        }
    }
}

impl<F: Factory> Threads<F>
where
    F::Client: Send,
    F::Server: Send,
{
    pub(crate) fn new(block_on: BlockOn) -> Self {
        Threads {
            block_on,
            client: ship::<F::Client>,
            server: ship::<F::Server>,
        }
    }
}

/// How a clause drives its pairs.
pub(crate) enum Drive<F: Factory> {
    /// Both ends in the clause's own task.
    OneTask,
    /// Each end in its own task; on its own thread when `Some`.
    Tasks(Option<Threads<F>>),
}

impl<F: Factory> Drive<F> {
    pub(crate) fn mode(&self) -> Mode {
        match self {
            Drive::OneTask => Mode::OneTask,
            Drive::Tasks(_) => Mode::Tasks,
        }
    }

    /// Runs `client_program` on the client end and `server_program` on the
    /// server end, concurrently, as this driver says.
    pub(crate) async fn run(
        &self,
        client: F::Client,
        client_program: Program<F::Client>,
        server: F::Server,
        server_program: Program<F::Server>,
    ) -> Check {
        match self {
            Drive::OneTask => {
                Mode::OneTask
                    .all(vec![client_program(client), server_program(server)])
                    .await
            }
            Drive::Tasks(None) => {
                Mode::Tasks
                    .all(vec![client_program(client), server_program(server)])
                    .await
            }
            Drive::Tasks(Some(threads)) => {
                let a = (threads.client)(&threads.block_on, client, client_program, "client");
                let b = (threads.server)(&threads.block_on, server, server_program, "server");
                Mode::Tasks.all(vec![Box::pin(a), Box::pin(b)]).await
            }
        }
    }
}

/// Runs `program(end)` on a new thread under `block_on`; the returned future
/// resolves to its result. A panic on that thread is a failure naming the end.
fn ship<E: Send + 'static>(block_on: &BlockOn, end: E, program: Program<E>, label: &'static str) -> Joined {
    let slot = Arc::new(Mutex::new(JoinState::default()));
    let result = Arc::clone(&slot);
    let block_on = Arc::clone(block_on);
    let spawned = std::thread::Builder::new()
        .name(format!("flow-conformance-{label}"))
        .spawn(move || {
            let finished = Arc::clone(&result);
            let run = catch_unwind(AssertUnwindSafe(|| {
                block_on(Box::pin(async move {
                    let outcome = program(end).await;
                    finish(&finished, outcome);
                }));
            }));
            let outcome = match run {
                Ok(()) => Err(Fail::Failed(format!(
                    "the {label} end's block_on returned before its program finished"
                ))),
                Err(panic) => Err(Fail::Failed(format!(
                    "the {label} end panicked: {}",
                    crate::panic_message(&*panic)
                ))),
            };
            // A no-op when the program finished first.
            finish(&result, outcome);
        });
    if let Err(err) = spawned {
        finish(
            &slot,
            Err(Fail::Failed(format!(
                "cannot start a thread for the {label} end: {err}"
            ))),
        );
    }
    Joined { slot }
}

#[derive(Default)]
struct JoinState {
    result: Option<Check>,
    done: bool,
    waker: Option<Waker>,
}

fn finish(slot: &Mutex<JoinState>, outcome: Check) {
    let waker = {
        let mut state = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if state.done {
            return;
        }
        state.done = true;
        state.result = Some(outcome);
        state.waker.take()
    };
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The result of an end program on its own thread.
pub(crate) struct Joined {
    slot: Arc<Mutex<JoinState>>,
}

impl Future for Joined {
    type Output = Check;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Check> {
        let mut state = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        match state.result.take() {
            Some(result) => Poll::Ready(result),
            None if state.done => Poll::Ready(Err(Fail::Failed("internal: result taken twice".into()))),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// A flag one end sets and the other waits for, from any thread.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    state: Mutex<(bool, Vec<Waker>)>,
}

impl Signal {
    pub(crate) fn new() -> Arc<Signal> {
        Arc::new(Signal::default())
    }

    pub(crate) fn set(&self) {
        let wakers = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.0 = true;
            std::mem::take(&mut state.1)
        };
        for waker in wakers {
            waker.wake();
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    /// Waits until the flag is set.
    pub(crate) async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.0 {
                Poll::Ready(())
            } else {
                state.1.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}
