//! flow-mem pairs, plainly and under the fault injector
//! (`flow_mem::Faulty`), driven by arbitrary operation sequences on both
//! ends and checked step by step against clause 24's executable model of
//! the contract (`flow-conformance`'s `model.rs`): the fuzzer writes the
//! case's steps instead of a seed. A model violation panics with the case.
//!
//! Input: a flags byte (bit 0: under faults; bits 1-3: the pair's buffer
//! bound), 8 bytes of seed (data patterns, fault choices), then the steps.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// Buffer bounds to pick from: tiny ones reach backpressure at once.
const CAPACITIES: [usize; 8] = [64 * 1024, 1, 7, 100, 1024, 4096, 16 * 1024, 256 * 1024];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let capacity = CAPACITIES[usize::from((flags >> 1) & 7)];
    let case = flow_conformance::__private::model_case(rest, capacity, flags & 1 != 0);
    if let Err(why) = futures_executor::block_on(case) {
        panic!("clause 24's model found a violation: {why}");
    }
});
