//! In-memory pairs: `flow-mem` against `tokio::io::duplex` and smol's
//! `piper::pipe`, all three with 64 KiB of buffer, interleaved in one run.
//! Writer and reader share one task, so the row measures the pipe, not the
//! scheduler.

use crate::Scale;
use crate::rows::workloads::{fio, flow, tokio_raw};
use crate::rows::{MIB, Run, Tokio, interleave_all};
use crate::stats::{Table, Unit};

const BUFFER: usize = 64 * 1024;

/// The rows at 64 B, 4 KiB and 64 KiB messages.
pub(crate) fn rows(scale: &Scale, table: &mut Table) {
    let runtime = Tokio::multi_thread();
    for (size, total) in [
        (64usize, scale.bytes(16 * MIB, 2 * MIB)),
        (4096, scale.bytes(256 * MIB, 32 * MIB)),
        (65536, scale.bytes(1024 * MIB, 128 * MIB)),
    ] {
        let duplex = move || -> Run<'static> {
            Box::pin(async move {
                let (a, b) = tokio::io::duplex(BUFFER);
                tokio_raw::local_stream(a, b, total, size).await
            })
        };
        let piper = move || -> Run<'static> {
            Box::pin(async move {
                let (reader, writer) = piper::pipe(BUFFER);
                fio::local_stream(writer, reader, total, size).await
            })
        };
        let ours = move || -> Run<'static> {
            Box::pin(async move { flow::local_stream(flow_mem::pair_with_capacity(BUFFER), total, size).await })
        };
        let samples = interleave_all(scale, &runtime, &[&duplex, &piper, &ours]);
        let [duplex, piper, ours] = &samples[..] else {
            unreachable!("three sides give three sample sets")
        };
        // Small messages are copied into shared chunks and must keep up
        // with a ring copy; large ones are handed over and must stay far
        // ahead of it.
        let target = match size {
            64 => Some(1.0),
            65536 => Some(20.0),
            _ => None,
        };
        let what = format!("in-memory pair, {size} B messages");
        table.compare(
            &what,
            "flow-mem",
            ours,
            "tokio::io::duplex",
            duplex,
            Unit::Throughput(total),
            target,
        );
        table.compare(
            &what,
            "flow-mem",
            ours,
            "piper::pipe",
            piper,
            Unit::Throughput(total),
            None,
        );
    }
}
