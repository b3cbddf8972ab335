//! The reference backend's factory.

use flow_api::Error;
use flow_mem::MemFlow;

use crate::{Capabilities, Factory};

/// Makes [`flow_mem::pair_with_capacity`] pairs: the reference backend, and
/// the base that tests wrap in deliberately broken flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemPairs {
    /// The buffer bound of each pair.
    pub capacity: usize,
}

impl Default for MemPairs {
    fn default() -> Self {
        MemPairs {
            capacity: flow_mem::DEFAULT_CAPACITY,
        }
    }
}

impl Factory for MemPairs {
    type Client = MemFlow;
    type Server = MemFlow;

    async fn connect(&self) -> Result<(MemFlow, MemFlow), Error> {
        Ok(flow_mem::pair_with_capacity(self.capacity))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .zero_copy(true)
            .abort_visible(true)
            .bounded(self.capacity != usize::MAX)
    }
}
