//! Pair factories for every backend, shared by the conformance matrix and
//! the cross-runtime tests. The socket and TLS factories are flow-tls's
//! test support (which the TLS crate's own tests use), included here.

#![forbid(unsafe_code)]

#[path = "../../crates/flow-tls/tests/support/mod.rs"]
mod support;

pub use support::{
    AsyncStdTcp, AsyncStdUnix, SmolTcp, SmolUnix, TempDir, TokioTcp, TokioUnix, tls, tokio_block_on, within_limit,
};

flow_conformance::cross_factory!(TokioToSmol, flow_tokio, flow_smol);
flow_conformance::cross_factory!(SmolToAsyncStd, flow_smol, flow_async_std);
flow_conformance::cross_factory!(AsyncStdToTokio, flow_async_std, flow_tokio);
