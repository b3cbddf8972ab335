//! The socket engine, `flow_socket::StreamFlow`, over a scripted byte
//! stream whose every call (read, write, shutdown) does what the next
//! input byte says: a short count, `Pending` (with a wake-up),
//! `Interrupted`, an error, end of file or a zero-length write. An
//! arbitrary operation sequence drives the flow, each result checked
//! against the contract:
//!
//! - bytes read are exactly the stream's bytes, in order, none held back,
//!   lost or duplicated; end of file only after the stream's end (or a
//!   local shutdown or close), and sticky; a read error only after the
//!   stream's, and sticky;
//! - the bytes the stream is handed are exactly the bytes written, in
//!   order; a successful flush, shutdown(Write) or close has handed over
//!   everything taken; nothing is written after the stream's write side
//!   was shut;
//! - after shutdown(Write) or close, writes fail with exactly
//!   `WriteError::Closed`; after a write error, writes keep failing.
//!
//! Input: a flags byte (bit 0: the stream is Unix-like, its broken pipe
//! meaning Closed, so it refuses data after shutdown(Read)), the number of
//! operation bytes, the operation bytes, then the stream's behaviour bytes.
//! No timer is given to the flow, so close has no deadline and no time
//! passes.

#![no_main]

use std::io::{self, IoSlice};
use std::net::Shutdown as NetShutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use flow_api::prelude::*;
use flow_fuzz::{Driver, mismatch, pattern, size, take};
use flow_socket::{ByteStream, BytesMut, StreamFlow};
use libfuzzer_sys::fuzz_target;

/// The stream the engine reads.
const READ_STREAM: u64 = 1;
/// The stream the engine writes.
const WRITE_STREAM: u64 = 2;

#[derive(Debug)]
struct ScriptedStream {
    behaviour: Vec<u8>,
    next: usize,
    unix: bool,
    /// Bytes handed to the engine by reads.
    handed: u64,
    eof_given: bool,
    read_error_given: bool,
    /// Bytes the engine wrote.
    written: u64,
    write_error_given: bool,
    shutdown_error_given: bool,
    write_shut: bool,
    violations: Vec<String>,
}

fn io_error(arg: u8) -> io::Error {
    let kind = match arg % 6 {
        0 => io::ErrorKind::ConnectionReset,
        1 => io::ErrorKind::BrokenPipe,
        2 => io::ErrorKind::ConnectionAborted,
        3 => io::ErrorKind::TimedOut,
        4 => io::ErrorKind::NotConnected,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, "scripted failure")
}

impl ScriptedStream {
    /// The next behaviour byte: `(kind 0..8, argument 0..32)`; `None` once
    /// the script is over.
    fn next(&mut self) -> Option<(u8, u8)> {
        let byte = *self.behaviour.get(self.next)?;
        self.next += 1;
        Some((byte & 7, byte >> 3))
    }

    fn len(arg: u8) -> usize {
        1 + usize::from(arg) * usize::from(arg) * 70
    }
}

impl ByteStream for ScriptedStream {
    fn poll_read_buf(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
        if self.eof_given {
            return Poll::Ready(Ok(0));
        }
        let Some((kind, arg)) = self.next() else {
            self.eof_given = true;
            return Poll::Ready(Ok(0));
        };
        match kind {
            0..=3 => {
                let room = buf.capacity() - buf.len();
                if room == 0 {
                    self.violations.push("a read with no room in the buffer".into());
                    return Poll::Ready(Ok(0));
                }
                let n = Self::len(arg).min(room);
                buf.extend_from_slice(&pattern(READ_STREAM, self.handed, n));
                self.handed += n as u64;
                Poll::Ready(Ok(n))
            }
            4 => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            5 => Poll::Ready(Err(io::ErrorKind::Interrupted.into())),
            6 => {
                self.read_error_given = true;
                Poll::Ready(Err(io_error(arg)))
            }
            _ => {
                self.eof_given = true;
                Poll::Ready(Ok(0))
            }
        }
    }

    fn poll_write_vectored(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        if self.write_shut {
            self.violations
                .push("a write after the stream's write side was shut".into());
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let behaviour = self.next();
        match behaviour {
            None | Some((0..=3, _)) => {
                let n = behaviour.map_or(total, |(_, arg)| Self::len(arg).min(total));
                let mut left = n;
                for buf in bufs {
                    let part = &buf[..left.min(buf.len())];
                    if let Some(at) = mismatch(WRITE_STREAM, self.written, part) {
                        self.violations.push(format!(
                            "the stream was handed a wrong byte at offset {at} (lost, duplicated or reordered)"
                        ));
                    }
                    self.written += part.len() as u64;
                    left -= part.len();
                    if left == 0 {
                        break;
                    }
                }
                Poll::Ready(Ok(n))
            }
            Some((4, _)) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some((5, _)) => Poll::Ready(Err(io::ErrorKind::Interrupted.into())),
            Some((6, arg)) => {
                self.write_error_given = true;
                Poll::Ready(Err(io_error(arg)))
            }
            Some(_) => {
                // The engine reports WriteZero: a failure of the write side.
                self.write_error_given = true;
                Poll::Ready(Ok(0))
            }
        }
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>, how: NetShutdown) -> Poll<io::Result<()>> {
        let result = match self.next() {
            None | Some((0..=4, _)) => Ok(()),
            Some((5, _)) => {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Some((6, arg)) => Err(io_error(arg)),
            Some(_) => Err(io::ErrorKind::NotConnected.into()),
        };
        match &result {
            Ok(()) => {
                if how != NetShutdown::Read {
                    self.write_shut = true;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::NotConnected => {
                if how != NetShutdown::Read {
                    self.write_shut = true;
                }
            }
            Err(_) => self.shutdown_error_given = true,
        }
        Poll::Ready(result)
    }

    fn broken_pipe_kind(&self) -> ErrorKind {
        if self.unix { ErrorKind::Closed } else { ErrorKind::Reset }
    }
}

/// What the contract lets the flow do next.
#[derive(Debug, Default)]
struct Model {
    received: u64,
    eof: bool,
    read_error: bool,
    read_shut: bool,
    /// Bytes the flow took (`start_write` returned `Ok`).
    taken: u64,
    write_shut: bool,
    write_failed: bool,
    closed: bool,
}

struct Run {
    flow: StreamFlow<ScriptedStream>,
    model: Model,
    driver: Driver,
    log: Vec<String>,
}

impl Run {
    fn stream(&self) -> &ScriptedStream {
        self.flow.get_ref()
    }

    fn fail(&self, why: &str) -> ! {
        panic!(
            "contract violation: {why}\n  operations: {}\n  flow: {:?}",
            self.log.join(" "),
            self.flow
        );
    }

    fn check_stream(&self) {
        if let Some(why) = self.stream().violations.first() {
            self.fail(why);
        }
        if self.stream().written > self.model.taken {
            self.fail("the stream was handed more bytes than the flow took");
        }
    }

    fn any_write_error_given(&self) -> bool {
        let s = self.stream();
        s.write_error_given || s.shutdown_error_given
    }

    fn check_read(&mut self, result: Result<Chunk, Error>) {
        let m = &self.model;
        let local_end = m.read_shut || m.closed;
        match result {
            Ok(Chunk::Data(data)) => {
                if data.is_empty() {
                    self.fail("read returned an empty buffer");
                }
                if local_end {
                    self.fail("read returned data after shutdown(Read) or close");
                }
                if m.eof || m.read_error {
                    self.fail("read returned data after end of file or an error");
                }
                if mismatch(READ_STREAM, m.received, &data).is_some() {
                    self.fail("read returned bytes that are not the stream's next ones");
                }
                let received = m.received + data.len() as u64;
                if received != self.stream().handed {
                    self.fail(&format!(
                        "read returned up to offset {received}, the stream had handed out {}",
                        self.stream().handed
                    ));
                }
                self.model.received = received;
            }
            Ok(Chunk::Eof) => {
                if local_end {
                    return;
                }
                if m.read_error {
                    self.fail("end of file after a read error");
                }
                if !self.stream().eof_given {
                    self.fail("end of file before the stream's end");
                }
                if m.received != self.stream().handed {
                    self.fail("end of file with bytes read from the stream not returned");
                }
                self.model.eof = true;
            }
            // Errors are sticky, after a local end too.
            Err(_) if m.read_error => {}
            Err(err) => {
                if local_end {
                    self.fail(&format!("read failed after shutdown(Read) or close: {err}"));
                }
                if m.eof {
                    self.fail(&format!("read failed after end of file: {err}"));
                }
                if !self.stream().read_error_given {
                    self.fail(&format!("read failed though the stream never did: {err}"));
                }
                self.model.read_error = true;
            }
        }
    }

    /// A write-side result (readiness, start_write, flush): `Ok` only while
    /// writes are possible; `Closed` exactly after shutdown(Write) or
    /// close (a flush then succeeds too); another error only after the
    /// stream failed.
    fn check_write<T>(&mut self, what: &str, result: &Result<T, WriteError>) {
        let m = &self.model;
        match result {
            // Everything was sent before the write side was shut.
            Ok(_) if what == "flush" && (m.write_shut || m.closed) => {}
            Ok(_) if m.write_shut || m.closed => {
                self.fail(&format!("{what} succeeded after shutdown(Write) or close"));
            }
            Ok(_) if m.write_failed => self.fail(&format!("{what} succeeded after a write error")),
            Ok(_) => {}
            Err(WriteError::Closed) if m.write_shut || m.closed => {}
            Err(err) if m.write_shut || m.closed => {
                self.fail(&format!(
                    "{what} after shutdown(Write) or close: expected Closed, got {err}"
                ));
            }
            Err(_) if m.write_failed => {}
            Err(_) if self.any_write_error_given() => self.model.write_failed = true,
            Err(err) => self.fail(&format!("{what} failed though the stream never did: {err}")),
        }
    }

    fn all_handed(&self, what: &str) {
        if self.stream().written != self.model.taken {
            self.fail(&format!(
                "{what} succeeded with {} of {} bytes handed to the stream",
                self.stream().written,
                self.model.taken
            ));
        }
    }

    fn read(&mut self, once: bool) {
        let result = if once {
            let flow = &mut self.flow;
            match self.driver.once(flow.read()) {
                Some(result) => result,
                None => return,
            }
        } else {
            let flow = &mut self.flow;
            self.driver.finish("read", flow.read())
        };
        self.check_read(result);
    }

    fn ready(&mut self) -> bool {
        let flow = &mut self.flow;
        let result = self.driver.finish(
            "poll_write_ready",
            std::future::poll_fn(|cx| Pin::new(&mut *flow).poll_write_ready(cx)),
        );
        let ok = result.is_ok();
        self.check_write("poll_write_ready", &result);
        ok
    }

    fn start_write(&mut self, buf: Bytes) -> bool {
        let len = buf.len() as u64;
        let result = Pin::new(&mut self.flow).start_write(buf);
        self.check_write("start_write", &result);
        if result.is_ok() {
            self.model.taken += len;
        }
        result.is_ok()
    }

    fn next_buf(&self, len: usize) -> Bytes {
        pattern(WRITE_STREAM, self.model.taken, len)
    }

    fn flush(&mut self, once: bool) {
        let flow = &mut self.flow;
        let future = std::future::poll_fn(|cx| Pin::new(&mut *flow).poll_flush(cx));
        let result = if once {
            match self.driver.once(future) {
                Some(result) => result,
                None => return,
            }
        } else {
            self.driver.finish("flush", future)
        };
        self.check_write("flush", &result);
        // After close, a flush succeeds whatever close managed to send.
        if result.is_ok() && !self.model.closed {
            self.all_handed("flush");
        }
    }

    fn shutdown_write(&mut self) {
        let flow = &mut self.flow;
        let result = self.driver.finish("shutdown(Write)", flow.shutdown(Shutdown::Write));
        match result {
            // A no-op after close, whatever close said.
            Ok(()) if self.model.closed => {}
            Ok(()) => {
                if self.model.write_failed {
                    self.fail("shutdown(Write) succeeded after a write error");
                }
                self.all_handed("shutdown(Write)");
                if !self.stream().write_shut {
                    self.fail("shutdown(Write) succeeded without shutting the stream's write side");
                }
                self.model.write_shut = true;
            }
            Err(_) if self.model.write_failed => {}
            Err(_) if self.any_write_error_given() => self.model.write_failed = true,
            Err(err) => self.fail(&format!("shutdown(Write) failed though the stream never did: {err}")),
        }
    }

    fn shutdown_read(&mut self) {
        let flow = &mut self.flow;
        match self.driver.finish("shutdown(Read)", flow.shutdown(Shutdown::Read)) {
            Ok(()) => self.model.read_shut = true,
            // Reads end all the same.
            Err(_) if self.stream().shutdown_error_given => self.model.read_shut = true,
            Err(err) => self.fail(&format!("shutdown(Read) failed though the stream never did: {err}")),
        }
    }

    fn close(&mut self) {
        let flow = &mut self.flow;
        let result = self.driver.finish("close", flow.close());
        let was_closed = self.model.closed;
        self.model.closed = true;
        match result {
            Ok(()) if was_closed => {}
            Ok(()) => {
                if self.model.write_failed {
                    self.fail("close succeeded after a write error");
                }
                self.all_handed("close");
                if !self.stream().eof_given && !self.model.read_shut {
                    self.fail("close completed before the stream's end of file");
                }
            }
            Err(err) if was_closed => self.fail(&format!("close again after a close: {err}")),
            Err(_) if self.model.write_failed || self.any_write_error_given() || self.stream().read_error_given => {}
            Err(err) => self.fail(&format!("close failed though the stream never did: {err}")),
        }
    }

    fn op(&mut self, ops: &mut &[u8]) -> bool {
        let Some((&code, rest)) = ops.split_first() else {
            return false;
        };
        *ops = rest;
        let mut arg = || take(ops, 1).first().copied().unwrap_or(0);
        match code % 13 {
            0 => {
                self.log.push("read".into());
                self.read(false);
            }
            1 => {
                self.log.push("read_once".into());
                self.read(true);
            }
            code @ (2 | 3) => {
                let len = size(arg(), 512 * 1024);
                self.log
                    .push(format!("{}({len})", if code == 2 { "write" } else { "feed" }));
                if self.ready() && self.start_write(self.next_buf(len)) && code == 2 {
                    self.flush(false);
                }
            }
            4 => {
                let n = arg() % 5;
                let lens: Vec<usize> = (0..n).map(|_| size(arg(), 64 * 1024)).collect();
                self.log.push(format!("writev({lens:?})"));
                if self.ready() {
                    for len in lens {
                        if !self.start_write(self.next_buf(len)) {
                            break;
                        }
                    }
                    self.flush(false);
                }
            }
            5 => {
                self.log.push("start_write(empty)".into());
                self.start_write(Bytes::new());
            }
            6 => {
                self.log.push("flush".into());
                self.flush(false);
            }
            7 => {
                self.log.push("flush_once".into());
                self.flush(true);
            }
            8 => {
                self.log.push("shutdown(Read)".into());
                self.shutdown_read();
            }
            9 => {
                self.log.push("shutdown(Write)".into());
                self.shutdown_write();
            }
            10 => {
                self.log.push("shutdown(Both)".into());
                self.shutdown_write();
                self.shutdown_read();
            }
            11 => {
                self.log.push("close".into());
                self.close();
            }
            _ => {
                self.log.push("write_ready".into());
                self.ready();
            }
        }
        self.check_stream();
        true
    }
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let flags = take(&mut data, 1).first().copied().unwrap_or(0);
    let op_len = take(&mut data, 1).first().copied().unwrap_or(0);
    let mut ops = take(&mut data, usize::from(op_len));
    let stream = ScriptedStream {
        behaviour: data.to_vec(),
        next: 0,
        unix: flags & 1 != 0,
        handed: 0,
        eof_given: false,
        read_error_given: false,
        written: 0,
        write_error_given: false,
        shutdown_error_given: false,
        write_shut: false,
        violations: Vec::new(),
    };
    let mut run = Run {
        flow: StreamFlow::new(stream),
        model: Model::default(),
        driver: Driver::default(),
        log: Vec::new(),
    };
    while run.op(&mut ops) {}
    // The end of every connection: close, which must complete.
    run.log.push("close (final)".into());
    run.close();
    run.check_stream();
});
