//! The whole conformance suite over loopback TCP and Unix sockets, plainly
//! and under fault injection.

flow_conformance::socket_factories!(AsyncStdTcp, AsyncStdUnix, flow_async_std);

mod tcp {
    flow_conformance::suite! {
        factory: crate::AsyncStdTcp::default(),
        block_on: async_std::task::block_on,
    }
}

#[cfg(unix)]
mod unix {
    flow_conformance::suite! {
        factory: crate::AsyncStdUnix::default(),
        block_on: async_std::task::block_on,
    }
}

flow_conformance::split_factory!(AsyncStdSplitTcp, flow_async_std);

/// The suite over owned halves: each end split with `into_split` and
/// joined again.
mod split_tcp {
    flow_conformance::suite! {
        factory: crate::AsyncStdSplitTcp::default(),
        block_on: async_std::task::block_on,
    }
}
