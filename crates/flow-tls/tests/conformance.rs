//! The whole conformance suite over TLS: on memory pairs, on memory pairs
//! fed byte by byte, and on each runtime's loopback TCP; TLS 1.3 and 1.2;
//! plainly and under fault injection (the `_under_faults` tests wrap the TLS
//! ends in `flow_mem::Faulty`).

mod support;

mod mem13 {
    flow_conformance::suite! {
        factory: crate::support::tls::TlsMem::default(),
        block_on: futures_executor::block_on,
    }
}

mod mem12 {
    flow_conformance::suite! {
        factory: crate::support::tls::TlsMem12::default(),
        block_on: futures_executor::block_on,
    }
}

mod faulty_mem13 {
    flow_conformance::suite! {
        factory: crate::support::tls::TlsOverFaultyMem::default(),
        block_on: futures_executor::block_on,
    }
}

mod faulty_mem12 {
    flow_conformance::suite! {
        factory: crate::support::tls::TlsOverFaultyMem12::default(),
        block_on: futures_executor::block_on,
    }
}

mod tokio13 {
    flow_conformance::suite! {
        factory: crate::support::tls::TlsTokio::default(),
        block_on: crate::support::tokio_block_on,
    }
}

mod tokio12 {
    flow_conformance::suite! {
        factory: crate::support::tls::TlsTokio12::default(),
        block_on: crate::support::tokio_block_on,
    }
}

mod smol13 {
    flow_conformance::suite! {
        factory: crate::support::tls::TlsSmol::default(),
        block_on: smol::block_on,
    }
}

mod async_std13 {
    flow_conformance::suite! {
        factory: crate::support::tls::TlsAsyncStd::default(),
        block_on: async_std::task::block_on,
    }
}
