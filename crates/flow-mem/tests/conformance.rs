//! The whole conformance suite over in-memory pairs, under two executors,
//! plainly and under fault injection.

use flow_conformance::MemPairs;

fn tokio_block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("cannot start a tokio runtime: {err}"),
    }
}

mod futures_executor_suite {
    use super::*;

    flow_conformance::suite! {
        factory: MemPairs::default(),
        block_on: futures_executor::block_on,
    }

    #[test]
    fn the_suite_has_one_test_per_clause() {
        let names: Vec<&str> = flow_conformance::Clause::ALL.iter().map(|c| c.test_name()).collect();
        assert_eq!(SUITE_TESTS, names.as_slice());
    }
}

mod tokio_suite {
    use super::*;

    flow_conformance::suite! {
        factory: MemPairs::default(),
        block_on: tokio_block_on,
    }
}

mod unbounded_suite {
    use super::*;

    // Without a bound, the backpressure clause is reported not applicable
    // and everything else still holds.
    flow_conformance::suite! {
        factory: MemPairs { capacity: usize::MAX },
        block_on: futures_executor::block_on,
    }
}
