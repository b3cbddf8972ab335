//! The gallery as a [`Factory`]: pairs of deliberately broken flows.

use flow_api::Error;

use crate::gallery::{self, BrokenFlow, Defect};
use crate::{Capabilities, Factory, MemPairs};

/// Pairs of [`BrokenFlow`]s with one [`Defect`]: the suite must fail on
/// every one of them. Each claims what the reference backend (`flow-mem`)
/// claims, so that a clause cannot excuse itself with a missing capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GalleryPairs(pub Defect);

impl Factory for GalleryPairs {
    type Client = BrokenFlow;
    type Server = BrokenFlow;

    async fn connect(&self) -> Result<(BrokenFlow, BrokenFlow), Error> {
        Ok(gallery::pair(self.0))
    }

    fn capabilities(&self) -> Capabilities {
        let _ = gallery::bounded(self.0);
        MemPairs::default().capabilities()
    }
}
