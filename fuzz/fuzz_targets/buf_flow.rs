//! flow-util's `BufFlow`: line, delimiter, exact and partial reads, plain
//! flow reads and buffered writes, over arbitrary bytes split into
//! arbitrary chunks (`flow_mem::Scripted`, optionally under
//! `flow_mem::Faulty`), each result checked against a reference computed on
//! the concatenated bytes: the records returned must be the reference's,
//! and errors (a line too long, end of file mid-record) only where the
//! reference says, with nothing consumed.
//!
//! Input: a flags byte (bit 0: wrap in `Faulty`, seeded by the next byte),
//! a fault seed byte, 4 chunk-size bytes (see `flow_fuzz::split`), the
//! number of operations, 3 bytes per operation, then the data.

#![no_main]

use flow_api::prelude::*;
use flow_fuzz::{Driver, split, take};
use flow_mem::{FaultConfig, Faulty, Scripted};
use flow_util::{BufFlow, BufFlowError};
use libfuzzer_sys::fuzz_target;

/// The reference reader: the concatenated input and how far it was read.
struct Reference<'a> {
    data: &'a [u8],
    pos: usize,
}

/// What a read should give, computed on the concatenation.
#[derive(Debug, PartialEq)]
enum Expect {
    Record(Vec<u8>, usize),
    End,
    TooLong,
    Truncated,
}

impl Reference<'_> {
    fn rest(&self) -> &[u8] {
        &self.data[self.pos..]
    }

    fn until(&self, delim: u8, max: usize) -> Expect {
        let rest = self.rest();
        let window = &rest[..max.min(rest.len())];
        match window.iter().position(|b| *b == delim) {
            Some(i) => Expect::Record(rest[..=i].to_vec(), i + 1),
            None if rest.len() >= max => Expect::TooLong,
            None if rest.is_empty() => Expect::End,
            None => Expect::Truncated,
        }
    }

    /// A line ends at the first `\n`; its `\r` before that is part of the
    /// ending. Longer than `max` (the ending excluded) is too long; without
    /// `\n` in `max + 2` bytes too (no ending can make it short enough).
    fn line(&self, max: usize) -> Expect {
        let rest = self.rest();
        match rest.iter().position(|b| *b == b'\n') {
            Some(i) => {
                let len = if i > 0 && rest[i - 1] == b'\r' { i - 1 } else { i };
                if len > max {
                    Expect::TooLong
                } else {
                    Expect::Record(rest[..len].to_vec(), i + 1)
                }
            }
            None if rest.len() >= max.saturating_add(2) => Expect::TooLong,
            None if rest.is_empty() => Expect::End,
            None => Expect::Truncated,
        }
    }

    fn exact(&self, n: usize) -> Expect {
        if self.rest().len() >= n {
            Expect::Record(self.rest()[..n].to_vec(), n)
        } else {
            Expect::Truncated
        }
    }
}

type Channel = BufFlow<Box<dyn Flow + Unpin>>;

struct Run<'a> {
    channel: Channel,
    reference: Reference<'a>,
    driver: Driver,
    log: Vec<String>,
    /// What was queued or written, in order.
    written: Vec<u8>,
    recorder: flow_mem::Recorder,
    faulty: bool,
}

impl Run<'_> {
    fn fail(&self, why: &str) -> ! {
        panic!(
            "BufFlow disagrees with the reference: {why}\n  operations: {}\n  at offset {} of {} bytes",
            self.log.join(" "),
            self.reference.pos,
            self.reference.data.len()
        );
    }

    /// Compares a record read against the reference, and consumes it.
    fn compare(&mut self, what: &str, expect: Expect, got: Result<Option<Bytes>, BufFlowError>) {
        let buffered = self.reference.rest().len();
        match (expect, got) {
            (Expect::Record(record, used), Ok(Some(bytes))) if bytes[..] == record[..] => self.reference.pos += used,
            (Expect::End, Ok(None)) => {}
            (Expect::TooLong, Err(BufFlowError::LineTooLong { .. })) => {}
            (Expect::Truncated, Err(BufFlowError::UnexpectedEof { buffered: left, .. })) if left == buffered => {}
            (expect, got) => self.fail(&format!("{what}: expected {expect:?}, got {got:?}")),
        }
    }

    fn op(&mut self, code: u8, a: u8, b: u8) {
        let max = usize::from(a) * (1 + usize::from(b >> 6) * 16);
        match code % 10 {
            0 => {
                self.log.push(format!("read_line({max})"));
                let expect = self.reference.line(max);
                let got = self.driver.finish("read_line", self.channel.read_line(max));
                self.compare("read_line", expect, got);
            }
            1 => {
                let delim = match b & 3 {
                    0 => b'\n',
                    1 => b';',
                    2 => 0,
                    _ => b,
                };
                self.log.push(format!("read_until({delim}, {max})"));
                let expect = self.reference.until(delim, max);
                let got = self.driver.finish("read_until", self.channel.read_until(delim, max));
                self.compare("read_until", expect, got);
            }
            2 => {
                self.log.push(format!("read_exact({max})"));
                let expect = self.reference.exact(max);
                let got = self.driver.finish("read_exact", self.channel.read_exact(max)).map(Some);
                self.compare("read_exact", expect, got);
            }
            code @ (3 | 4) => {
                let got = if code == 3 {
                    self.log.push(format!("read_some({max})"));
                    self.driver
                        .finish("read_some", self.channel.read_some(max))
                        .map_err(|e| e.to_string())
                } else {
                    self.log.push("read".into());
                    self.driver
                        .finish("read", self.channel.read())
                        .map_err(|e| e.to_string())
                };
                let rest = self.reference.rest();
                match got {
                    Ok(Chunk::Eof) if rest.is_empty() => {}
                    Ok(Chunk::Data(bytes))
                        if !bytes.is_empty()
                            && rest.starts_with(&bytes)
                            && (code == 4 || bytes.len() <= max.max(1)) =>
                    {
                        self.reference.pos += bytes.len();
                    }
                    other => self.fail(&format!(
                        "read: expected a prefix of the {} bytes left (at most {max}), got {other:?}",
                        rest.len()
                    )),
                }
            }
            code @ (5..=7) => {
                let len = usize::from(a) * (1 + usize::from(b % 16));
                let buf: Bytes = (0..len).map(|i| (self.written.len() + i) as u8).collect();
                self.written.extend_from_slice(&buf);
                match code {
                    5 => {
                        self.log.push(format!("queue({len})"));
                        self.channel.queue(buf);
                    }
                    6 => {
                        self.log.push(format!("queue_line({len})"));
                        self.channel.queue_line(buf);
                        self.written.push(b'\n');
                    }
                    _ => {
                        self.log.push(format!("write({len})"));
                        if let Err(err) = self.driver.finish("write", self.channel.write(buf)) {
                            self.fail(&format!("write failed: {err}"));
                        }
                        // A zero-length write succeeds at once, flushing nothing.
                        if len > 0 {
                            self.check_written("write");
                        }
                    }
                }
            }
            8 => {
                self.log.push("flush".into());
                if let Err(err) = self.driver.finish("flush", self.channel.flush()) {
                    self.fail(&format!("flush failed: {err}"));
                }
                self.check_written("flush");
            }
            // Under faults, the wrapper holds pieces of its own until a flush.
            _ if self.faulty => {}
            _ => {
                self.log.push("queued".into());
                let queued = self.channel.queued();
                let handed = self.recorder.written().len();
                if handed + queued != self.written.len() {
                    self.fail(&format!(
                        "{handed} bytes handed over and {queued} queued, but {} written",
                        self.written.len()
                    ));
                }
            }
        }
    }

    fn check_written(&self, what: &str) {
        if self.recorder.written() != self.written {
            self.fail(&format!(
                "after {what}, the flow holds {} bytes, {} were written (or not the same)",
                self.recorder.written().len(),
                self.written.len()
            ));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let flags = take(&mut data, 1).first().copied().unwrap_or(0);
    let fault_seed = take(&mut data, 1).first().copied().unwrap_or(0);
    let sizes = take(&mut data, 4).to_vec();
    let n_ops = take(&mut data, 1).first().copied().unwrap_or(0);
    let ops = take(&mut data, 3 * usize::from(n_ops)).to_vec();
    let (scripted, recorder) = Scripted::new(split(data, &sizes));
    let flow: Box<dyn Flow + Unpin> = if flags & 1 != 0 {
        let config = FaultConfig::new(u64::from(fault_seed)).max_chunk(1 + usize::from(flags >> 1));
        Box::new(Faulty::new(scripted, config))
    } else {
        Box::new(scripted)
    };
    let mut run = Run {
        channel: BufFlow::new(flow),
        reference: Reference { data, pos: 0 },
        driver: Driver::default(),
        log: Vec::new(),
        written: Vec::new(),
        recorder,
        faulty: flags & 1 != 0,
    };
    for op in ops.chunks(3) {
        if let [code, a, b] = *op {
            run.op(code, a, b);
        }
    }
    // What is left reads back whole, then end of file.
    run.log.push("read_to_end".into());
    loop {
        match run.driver.finish("read", run.channel.read()) {
            Ok(Chunk::Data(bytes)) if !bytes.is_empty() && run.reference.rest().starts_with(&bytes) => {
                run.reference.pos += bytes.len()
            }
            Ok(Chunk::Eof) if run.reference.rest().is_empty() => break,
            other => run.fail(&format!("reading what is left: got {other:?}")),
        }
    }
    run.log.push("close".into());
    if let Err(err) = run.driver.finish("close", run.channel.close()) {
        run.fail(&format!("close failed: {err}"));
    }
    run.check_written("close");
});
