//! The whole conformance suite over loopback TCP and Unix sockets, plainly
//! and under fault injection.

mod tcp {
    flow_conformance::suite! {
        factory: flow_tests::TokioTcp::default(),
        block_on: flow_tests::tokio_block_on,
    }
}

#[cfg(unix)]
mod unix {
    flow_conformance::suite! {
        factory: flow_tests::TokioUnix::default(),
        block_on: flow_tests::tokio_block_on,
    }
}
