//! The whole conformance suite over loopback TCP and Unix sockets, plainly
//! and under fault injection (the `_under_faults` tests wrap both ends in
//! `flow_mem::Faulty`). The flows are not `Send`: clause 18 is reported not
//! applicable, and the separate-task variants share the clause's thread.

flow_conformance::socket_factories!(CompioTcp, CompioUnix, flow_compio);

/// A fresh compio runtime (io_uring) per clause.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match compio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("cannot start a compio runtime: {err}"),
    }
}

mod tcp {
    flow_conformance::suite! {
        factory: crate::CompioTcp::default(),
        block_on: crate::block_on,
    }
}

mod unix {
    flow_conformance::suite! {
        factory: crate::CompioUnix::default(),
        block_on: crate::block_on,
    }
}

flow_conformance::split_factory!(CompioSplitTcp, flow_compio);

/// The suite over owned halves: each end split with `into_split` and
/// joined again.
mod split_tcp {
    flow_conformance::suite! {
        factory: crate::CompioSplitTcp::default(),
        block_on: crate::block_on,
    }
}
