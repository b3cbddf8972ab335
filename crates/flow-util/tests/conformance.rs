//! The whole conformance suite over `BufFlow`: a buffering wrapper must keep
//! the contract of the flow it wraps (its own queue included: close sends
//! it, and two ends closing at once with full buffers do not deadlock).

use flow_api::Error;
use flow_conformance::{Capabilities, Factory, FaultyFactory, MemPairs};
use flow_util::BufFlow;

/// Both ends of `F`'s pairs, each wrapped in a [`BufFlow`].
#[derive(Debug, Default)]
struct Buffered<F>(F);

impl<F: Factory> Factory for Buffered<F> {
    type Client = BufFlow<F::Client>;
    type Server = BufFlow<F::Server>;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), Error> {
        let (client, server) = self.0.connect().await?;
        Ok((BufFlow::new(client), BufFlow::new(server)))
    }

    fn capabilities(&self) -> Capabilities {
        // Reads hand out the wrapped flow's buffers, but the suite cannot
        // tell them from copies once they went through a queue.
        self.0.capabilities().zero_copy(false)
    }

    fn reseed(&self, seed: u64) {
        self.0.reseed(seed);
    }
}

flow_conformance::suite! {
    name: buf_flow_over_mem,
    factory: Buffered(MemPairs::default()),
    block_on: futures_executor::block_on,
}

// BufFlow between the fault injector and the suite: short reads and writes,
// spurious `Pending`s, from below.
flow_conformance::suite! {
    name: buf_flow_over_faulty_mem,
    factory: Buffered(FaultyFactory::new(MemPairs::default(), flow_conformance::base_seed() ^ 0xbf)),
    block_on: futures_executor::block_on,
}
