//! The whole conformance suite over loopback TCP and Unix sockets, plainly
//! and under fault injection.

flow_conformance::socket_factories!(SmolTcp, SmolUnix, flow_smol);

mod tcp {
    flow_conformance::suite! {
        factory: crate::SmolTcp::default(),
        block_on: smol::block_on,
    }
}

#[cfg(unix)]
mod unix {
    flow_conformance::suite! {
        factory: crate::SmolUnix::default(),
        block_on: smol::block_on,
    }
}

flow_conformance::split_factory!(SmolSplitTcp, flow_smol);

/// The suite over owned halves: each end split with `into_split` and
/// joined again.
mod split_tcp {
    flow_conformance::suite! {
        factory: crate::SmolSplitTcp::default(),
        block_on: smol::block_on,
    }
}
