//! What the tests of flow-tls share: TLS pair factories over memory and
//! over each runtime's loopback TCP, the test certificates, and a tokio
//! `block_on`. The workspace's `tests/` crate includes this module too.

#![allow(dead_code, unused_imports, unreachable_pub)]

pub mod tls;

pub use flow_conformance::sockets::{TempDir, within_limit};

flow_conformance::socket_factories!(TokioTcp, TokioUnix, flow_tokio);
flow_conformance::socket_factories!(SmolTcp, SmolUnix, flow_smol);
flow_conformance::socket_factories!(AsyncStdTcp, AsyncStdUnix, flow_async_std);

/// Runs a future on a fresh current-thread tokio runtime.
///
/// # Panics
///
/// When the runtime cannot start.
pub fn tokio_block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("cannot start a tokio runtime: {err}"),
    }
}
