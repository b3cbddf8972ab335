//! flow-tls's client fed arbitrary server bytes: the peer is a
//! `flow_mem::Scripted` flow whose reads are the input, split into
//! arbitrary chunks (optionally under `flow_mem::Faulty`, which splits
//! further and interleaves `Pending`). The handshake, then a read to the
//! end, a write and a close, each with a poll budget: no panic, no hang,
//! every outcome a peer-caused error kind or a clean end.
//!
//! Input: a flags byte (bits 0-1: the configuration; bit 2: under faults),
//! a fault seed byte, 4 chunk-size bytes (see `flow_fuzz::split`), then
//! the server's bytes.

#![no_main]

use flow_fuzz::{Driver, split, take, tls};
use flow_mem::{FaultConfig, Faulty, Scripted};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let flags = take(&mut data, 1).first().copied().unwrap_or(0);
    let seed = take(&mut data, 1).first().copied().unwrap_or(0);
    let sizes = take(&mut data, 4).to_vec();
    let (peer, _recorder) = Scripted::new(split(data, &sizes));
    let connector = tls::connector(flags & 3);
    let driver = Driver::default();
    let Ok(name) = flow_tls::server_name("localhost") else {
        panic!("localhost is a server name");
    };
    if flags & 4 != 0 {
        let peer = Faulty::new(
            peer,
            FaultConfig::new(u64::from(seed)).max_chunk(1 + usize::from(flags >> 3)),
        );
        tls::exercise(&driver, driver.finish("handshake", connector.connect(name, peer)));
    } else {
        tls::exercise(&driver, driver.finish("handshake", connector.connect(name, peer)));
    }
});
