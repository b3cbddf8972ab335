//! Helpers shared by the tests: time limits, seeds, executors.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use flow_api::prelude::*;

/// Every concurrent test runs under this limit, so a hang fails.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Runs `future` under [`LIMIT`], under any executor.
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match flow_conformance::timer::timeout(LIMIT, future).await {
        Some(output) => output,
        None => panic!("{what}: hung for {LIMIT:?}"),
    }
}

/// The seed for random choices: `FLOW_UTIL_SEED` if set, else a fixed one.
/// Failures print it; rerun with `FLOW_UTIL_SEED=<seed>`.
pub fn seed() -> u64 {
    std::env::var("FLOW_UTIL_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0x00f1_0e77)
}

/// `len` seeded random bytes.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// Writes `data` in seeded random pieces (1 byte to 64 KiB), then shuts
/// down writing.
pub async fn send_all<W: Flow + Unpin>(flow: &mut W, data: &[u8], seed: u64) -> Result<(), flow_api::Error> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut at = 0;
    while at < data.len() {
        let n = rng.usize(1..=64 * 1024).min(data.len() - at);
        flow.write(Bytes::copy_from_slice(&data[at..at + n])).await?;
        at += n;
    }
    flow.shutdown(Shutdown::Write).await
}

/// Reads everything until end of file.
pub async fn read_all<R: FlowRead + Unpin>(flow: &mut R) -> Result<Vec<u8>, flow_api::Error> {
    let mut all = Vec::new();
    while let Chunk::Data(buf) = flow.read().await? {
        all.extend_from_slice(&buf);
    }
    Ok(all)
}

/// Runs a future on a fresh current-thread tokio runtime.
pub fn tokio_block_on<F: Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("cannot start a tokio runtime: {err}"),
    }
}
