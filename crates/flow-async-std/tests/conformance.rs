//! The whole conformance suite over loopback TCP and Unix sockets, plainly
//! and under fault injection.

mod tcp {
    flow_conformance::suite! {
        factory: flow_tests::AsyncStdTcp::default(),
        block_on: async_std::task::block_on,
    }
}

#[cfg(unix)]
mod unix {
    flow_conformance::suite! {
        factory: flow_tests::AsyncStdUnix::default(),
        block_on: async_std::task::block_on,
    }
}
