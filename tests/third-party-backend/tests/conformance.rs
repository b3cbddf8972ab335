//! The shared conformance suite on `pipe-flow`, used exactly as the flow
//! README says: a `Factory`, then `flow_conformance::suite!`.

use flow_conformance::flow_api::Error;
use flow_conformance::{Capabilities, Factory};

#[derive(Default)]
struct Pipes;

impl Factory for Pipes {
    type Client = pipe_flow::PipeFlow;
    type Server = pipe_flow::PipeFlow;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), Error> {
        Ok(pipe_flow::pair())
    }

    fn capabilities(&self) -> Capabilities {
        // Bounded, half-close; a dropped end is an abort its peer sees.
        Capabilities::new().abort_visible(true)
    }
}

#[derive(Default)]
struct LocalPipes;

impl Factory for LocalPipes {
    type Client = pipe_flow::LocalFlow;
    type Server = pipe_flow::LocalFlow;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), Error> {
        Ok(pipe_flow::local_pair())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new().abort_visible(true)
    }
}

flow_conformance::suite! {
    name: send_pipes,
    factory: Pipes,
    block_on: futures_executor::block_on,
}

// A backend whose flows are not Send runs every clause but the Send check,
// which reports itself not applicable; its separate tasks share a thread.
flow_conformance::suite! {
    name: local_pipes,
    factory: LocalPipes,
    block_on: |future| futures_executor::LocalPool::new().run_until(future),
}
