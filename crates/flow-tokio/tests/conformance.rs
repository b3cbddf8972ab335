//! The whole conformance suite over loopback TCP and Unix sockets, plainly
//! and under fault injection.

flow_conformance::socket_factories!(TokioTcp, TokioUnix, flow_tokio);

/// A fresh current-thread tokio runtime per clause.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("cannot start a tokio runtime: {err}"),
    }
}

mod tcp {
    flow_conformance::suite! {
        factory: crate::TokioTcp::default(),
        block_on: crate::block_on,
    }
}

#[cfg(unix)]
mod unix {
    flow_conformance::suite! {
        factory: crate::TokioUnix::default(),
        block_on: crate::block_on,
    }
}

flow_conformance::split_factory!(TokioSplitTcp, flow_tokio);

/// The suite over owned halves: each end split with `into_split` and
/// joined again.
mod split_tcp {
    flow_conformance::suite! {
        factory: crate::TokioSplitTcp::default(),
        block_on: crate::block_on,
    }
}
