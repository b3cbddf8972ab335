//! The whole conformance suite over in-memory pairs, under two executors,
//! plainly and under fault injection, in one task and in separate tasks.

use flow_conformance::MemPairs;

fn tokio_block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("cannot start a tokio runtime: {err}"),
    }
}

flow_conformance::suite! {
    name: futures_executor_suite,
    factory: MemPairs::default(),
    block_on: futures_executor::block_on,
}

flow_conformance::suite! {
    name: tokio_suite,
    factory: MemPairs::default(),
    block_on: tokio_block_on,
}

// Without a bound, the backpressure clause is reported not applicable and
// everything else still holds; the executor is a closure over a local pool.
flow_conformance::suite! {
    name: unbounded_suite,
    factory: MemPairs { capacity: usize::MAX },
    block_on: |future| futures_executor::LocalPool::new().run_until(future),
}
