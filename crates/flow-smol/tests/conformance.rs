//! The whole conformance suite over loopback TCP and Unix sockets, plainly
//! and under fault injection.

mod tcp {
    flow_conformance::suite! {
        factory: flow_tests::SmolTcp::default(),
        block_on: smol::block_on,
    }
}

#[cfg(unix)]
mod unix {
    flow_conformance::suite! {
        factory: flow_tests::SmolUnix::default(),
        block_on: smol::block_on,
    }
}
