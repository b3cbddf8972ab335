//! The whole suite with the two ends on different runtimes: a tokio client
//! against a smol server, a smol client against an async-std server, an
//! async-std client against a tokio server. async-io (under smol and
//! async-std) drives its sockets from its own thread, so tokio's runtime
//! hosts the pairs that involve tokio.

mod tokio_client_smol_server {
    flow_conformance::suite! {
        factory: flow_tests::TokioToSmol::default(),
        block_on: flow_tests::tokio_block_on,
    }
}

mod smol_client_async_std_server {
    flow_conformance::suite! {
        factory: flow_tests::SmolToAsyncStd::default(),
        block_on: smol::block_on,
    }
}

mod async_std_client_tokio_server {
    flow_conformance::suite! {
        factory: flow_tests::AsyncStdToTokio::default(),
        block_on: flow_tests::tokio_block_on,
    }
}
