//! Pair factories for every backend, shared by the conformance matrix and
//! the cross-runtime tests. The socket and TLS factories are flow-tls's
//! test support (which the TLS crate's own tests use), included here.

#![forbid(unsafe_code)]

#[path = "../../crates/flow-tls/tests/support/mod.rs"]
mod support;

pub use support::{
    AsyncStdTcp, AsyncStdUnix, SmolTcp, SmolUnix, TempDir, TokioTcp, TokioUnix, tls, tokio_block_on, within_limit,
};

#[path = "../../crates/flow-quic/tests/support/mod.rs"]
mod quic_support;

/// QUIC: flow-quic's own test support (its conformance factory, all
/// streams of one connection), included here as flow-tls's is.
pub mod quic {
    pub use super::quic_support::{QuicPairs, tokio_block_on};
}

flow_conformance::cross_factory!(TokioToSmol, flow_tokio, flow_smol);
flow_conformance::cross_factory!(SmolToAsyncStd, flow_smol, flow_async_std);
flow_conformance::cross_factory!(AsyncStdToTokio, flow_async_std, flow_tokio);
// async-io drives smol's sockets from its own thread, so a compio runtime
// can host both ends: completion I/O against readiness I/O, each way.
flow_conformance::cross_factory!(CompioToSmol, flow_compio, flow_smol);
flow_conformance::socket_factories!(CompioTcp, CompioUnix, flow_compio);
flow_conformance::split_factory!(TokioSplitTcp, flow_tokio);
flow_conformance::split_factory!(SmolSplitTcp, flow_smol);
flow_conformance::split_factory!(AsyncStdSplitTcp, flow_async_std);
flow_conformance::cross_factory!(SmolToCompio, flow_smol, flow_compio);

/// A fresh compio runtime (io_uring) for one clause or test.
///
/// # Panics
///
/// When the runtime cannot start.
pub fn compio_block_on<F: std::future::Future>(future: F) -> F::Output {
    match compio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("cannot start a compio runtime: {err}"),
    }
}
