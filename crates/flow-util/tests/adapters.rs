//! The adapters keep the whole contract: the conformance suite over
//! - a memory pair seen as tokio IO, made a flow again (`FlowIo` + `from_tokio`);
//! - `tokio::io::duplex` as a flow;
//! - a memory pair seen as futures-io IO, made a flow again;
//! - `tokio::io::duplex` through tokio-util's compat layer, as a futures-io stream;
//! - a `Metered` memory pair (the wrapper passes everything through).
//!
//! Adapters copy between the flow's buffers and the caller's slices, so
//! zero-copy (clause 20) is reported not applicable for them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use flow_api::Error;
use flow_conformance::{Capabilities, Factory};
use flow_util::{FlowIo, Metered};

/// Memory pairs through `FlowIo` (tokio traits) and back with `from_tokio`.
#[derive(Debug, Default)]
struct MemAsTokio;

impl Factory for MemAsTokio {
    type Client = flow_util::TokioStreamFlow<FlowIo<flow_mem::MemFlow>>;
    type Server = flow_util::TokioStreamFlow<FlowIo<flow_mem::MemFlow>>;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), Error> {
        let (a, b) = flow_mem::pair();
        Ok((
            flow_util::from_tokio(FlowIo::new(a)),
            flow_util::from_tokio(FlowIo::new(b)),
        ))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new().zero_copy(false)
    }
}

/// `tokio::io::duplex` ends as flows.
#[derive(Debug, Default)]
struct TokioDuplex;

impl Factory for TokioDuplex {
    type Client = flow_util::TokioStreamFlow<tokio::io::DuplexStream>;
    type Server = flow_util::TokioStreamFlow<tokio::io::DuplexStream>;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), Error> {
        let (a, b) = tokio::io::duplex(64 * 1024);
        Ok((flow_util::from_tokio(a), flow_util::from_tokio(b)))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }
}

/// Memory pairs through `FlowIo` (futures-io traits) and back with `from_futures_io`.
#[derive(Debug, Default)]
struct MemAsFuturesIo;

impl Factory for MemAsFuturesIo {
    type Client = flow_util::FuturesIoStreamFlow<FlowIo<flow_mem::MemFlow>>;
    type Server = flow_util::FuturesIoStreamFlow<FlowIo<flow_mem::MemFlow>>;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), Error> {
        let (a, b) = flow_mem::pair();
        Ok((
            flow_util::from_futures_io(FlowIo::new(a)),
            flow_util::from_futures_io(FlowIo::new(b)),
        ))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new().zero_copy(false)
    }
}

type CompatDuplex = tokio_util::compat::Compat<tokio::io::DuplexStream>;

/// A third-party futures-io stream: tokio's duplex through tokio-util's compat.
#[derive(Debug, Default)]
struct FuturesIoDuplex;

impl Factory for FuturesIoDuplex {
    type Client = flow_util::FuturesIoStreamFlow<CompatDuplex>;
    type Server = flow_util::FuturesIoStreamFlow<CompatDuplex>;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), Error> {
        use tokio_util::compat::TokioAsyncReadCompatExt;
        let (a, b) = tokio::io::duplex(64 * 1024);
        Ok((
            flow_util::from_futures_io(a.compat()),
            flow_util::from_futures_io(b.compat()),
        ))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }
}

/// `Metered` over memory pairs: buffers pass through, so zero-copy holds.
#[derive(Debug, Default)]
struct MeteredMem;

impl Factory for MeteredMem {
    type Client = Metered<flow_mem::MemFlow>;
    type Server = Metered<flow_mem::MemFlow>;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), Error> {
        let (a, b) = flow_mem::pair();
        Ok((Metered::with_label(a, "a"), Metered::with_label(b, "b")))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new().zero_copy(true)
    }
}

mod mem_as_tokio_on_tokio {
    use super::*;
    flow_conformance::suite! { factory: MemAsTokio, block_on: common::tokio_block_on }
}

mod mem_as_tokio_on_futures_executor {
    use super::*;
    flow_conformance::suite! { factory: MemAsTokio, block_on: futures_executor::block_on }
}

mod tokio_duplex {
    use super::*;
    flow_conformance::suite! { factory: TokioDuplex, block_on: common::tokio_block_on }
}

mod mem_as_futures_io {
    use super::*;
    flow_conformance::suite! { factory: MemAsFuturesIo, block_on: futures_executor::block_on }
}

mod futures_io_duplex {
    use super::*;
    flow_conformance::suite! { factory: FuturesIoDuplex, block_on: common::tokio_block_on }
}

mod metered_mem {
    use super::*;
    flow_conformance::suite! { factory: MeteredMem, block_on: futures_executor::block_on }
}

/// A flow made from a bare stream, with no runtime timer given, still keeps
/// a close deadline (on a timer thread), here on an executor that has no
/// timer at all: a peer that never closes cannot hold close for ever.
#[test]
fn a_bare_stream_flow_keeps_its_close_deadline_without_a_runtime_timer() {
    use flow_api::prelude::*;
    futures_executor::block_on(common::within("close against a silent peer", async {
        for futures_io in [false, true] {
            let (a, _silent) = tokio::io::duplex(1024);
            let deadline = std::time::Duration::from_millis(300);
            let started = std::time::Instant::now();
            let err = if futures_io {
                let mut flow = flow_util::from_futures_io(tokio_util::compat::TokioAsyncReadCompatExt::compat(a));
                assert_eq!(flow.close_timeout(), Some(flow_socket::DEFAULT_CLOSE_TIMEOUT));
                flow.set_close_timeout(Some(deadline));
                flow.close().await.unwrap_err()
            } else {
                let mut flow = flow_util::from_tokio(a);
                assert_eq!(flow.close_timeout(), Some(flow_socket::DEFAULT_CLOSE_TIMEOUT));
                flow.set_close_timeout(Some(deadline));
                flow.close().await.unwrap_err()
            };
            assert_eq!(err.kind(), flow_api::ErrorKind::TimedOut, "{err}");
            assert!(started.elapsed() >= deadline, "gave up after {:?}", started.elapsed());
        }
    }));
}
