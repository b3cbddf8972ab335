//! The whole conformance suite over QUIC bidirectional streams (one
//! connection per clause, one stream per pair), plainly and under fault
//! injection, on tokio and on smol (quinn's async-io runtime).

mod support;

mod tokio_streams {
    flow_conformance::suite! {
        factory: crate::support::QuicPairs::default(),
        block_on: crate::support::tokio_block_on,
    }
}

#[cfg(feature = "smol")]
mod smol_streams {
    flow_conformance::suite! {
        factory: crate::support::QuicPairs::default(),
        block_on: smol::block_on,
    }
}
