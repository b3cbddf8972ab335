//! Clause 24: seeded random operation sequences on both ends, every result
//! checked against an executable model of the contract.
//!
//! A *case* is a list of steps generated from a seed. Each step acts on one
//! end: it starts an operation (write, feed, writev with empty members,
//! an empty `start_write`, flush, read, a shutdown, close, `close_within`,
//! dropping the end), polls the one in flight once, or cancels it (drops
//! it at whatever poll it reached). Operations are driven at the poll level
//! (`poll_write_ready`, `start_write`, `poll_flush`...), so the model knows
//! exactly which buffers the flow took. After the steps, both ends settle in
//! separate tasks: they flush, shut down, read to the end and close, so that
//! every byte taken is accounted for and nothing may hang.
//!
//! What the model checks at every step: a read returns bytes that are the
//! next ones the peer handed over (nothing lost, duplicated or reordered),
//! or end of file only when the peer has finished (or this end shut reading
//! down), or an error only after the peer was dropped; end of file and
//! errors are sticky; writes are refused with exactly `WriteError::Closed`
//! after a shutdown or close, and fail for good after a write error; close
//! completes only once the peer has finished writing.
//!
//! `FLOW_CONFORMANCE_MODEL_CASES` sets how many cases a run makes (default
//! 24); `FLOW_CONFORMANCE_MODEL_CASE=<case seed>` replays one case, with
//! `FLOW_CONFORMANCE_SEED` set to the failed run's seed (a factory may seed
//! its faults from it). Each case reseeds the factory
//! ([`Factory::reseed`]) with its case seed, so that a factory's own random
//! choices replay with the case and stay put while it is shortened.

use std::fmt::{self, Write as _};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use flow_api::{Bytes, Chunk, Error, ErrorKind, Flow, WriteError};
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;

use crate::clauses::Cx;
use crate::drive::Mode;
use crate::pattern::Pattern;
use crate::support::{Check, Fail, log_uniform, yield_now};
use crate::{Capabilities, Factory};

/// Bytes one direction may carry in a case, so that a case stays quick.
const BUDGET: u64 = 4 * 1024 * 1024;
/// How long one case may take, settling included.
const CASE_LIMIT: Duration = Duration::from_secs(30);

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.trim().parse().ok())
}

/// The number of cases per run.
pub(crate) fn cases() -> u64 {
    env_u64("FLOW_CONFORMANCE_MODEL_CASES").unwrap_or(24).max(1)
}

fn mix(seed: u64, i: u64) -> u64 {
    let mut z = seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Write(usize),
    Feed(usize),
    Writev(Vec<usize>, bool),
    StartEmpty,
    Flush,
    Read,
    ShutdownRead,
    ShutdownWrite,
    ShutdownBoth,
    Close,
    CloseWithin(u64),
    Drop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Start(Op),
    Poll,
    Cancel,
    /// Lets the executor run (I/O, timers) before the next step.
    Yield,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    side: Side,
    action: Action,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = match self.side {
            Side::A => "a",
            Side::B => "b",
        };
        match &self.action {
            Action::Start(op) => write!(f, "{side}.{op:?}"),
            Action::Poll => write!(f, "{side}.poll"),
            Action::Cancel => write!(f, "{side}.cancel"),
            Action::Yield => f.write_str("yield"),
        }
    }
}

fn size(rng: &mut fastrand::Rng) -> usize {
    match rng.u8(0..10) {
        0 => 0,
        1..=6 => log_uniform(rng, 4096),
        7 | 8 => log_uniform(rng, 128 * 1024),
        _ => log_uniform(rng, 1024 * 1024),
    }
}

/// Where a case's random choices come from: a seeded generator for the
/// suite's cases, a fuzzer's bytes for `fuzz_case`. [`step`] turns them into
/// steps, so both draw their operations in the same proportions.
trait Choices {
    /// The side and a roll of 0..100 for the action; `None` when the choices
    /// ran out.
    fn head(&mut self) -> Option<(Side, u8)>;
    /// A roll of 0..100 for the operation started.
    fn roll(&mut self) -> u8;
    fn size(&mut self) -> usize;
    /// A `writev`'s buffer sizes, and whether it flushes.
    fn writev(&mut self) -> (Vec<usize>, bool);
    /// A `close_within` deadline, in milliseconds.
    fn close_millis(&mut self) -> u64;
}

impl Choices for fastrand::Rng {
    fn head(&mut self) -> Option<(Side, u8)> {
        let side = if self.bool() { Side::A } else { Side::B };
        Some((side, self.u8(0..100)))
    }
    fn roll(&mut self) -> u8 {
        self.u8(0..100)
    }
    fn size(&mut self) -> usize {
        size(self)
    }
    fn writev(&mut self) -> (Vec<usize>, bool) {
        let sizes = (0..self.usize(0..5)).map(|_| size(self)).collect();
        (sizes, self.bool())
    }
    fn close_millis(&mut self) -> u64 {
        self.u64(1..30)
    }
}

/// The next step, in the suite's proportions of operations.
fn step(choices: &mut impl Choices, caps: Capabilities) -> Option<Step> {
    let (side, action) = choices.head()?;
    let action = match action {
        0..=39 => Action::Poll,
        40..=46 => Action::Cancel,
        47..=54 => Action::Yield,
        _ => Action::Start(match choices.roll() {
            0..=29 => Op::Read,
            30..=44 => Op::Write(choices.size()),
            45..=54 => Op::Feed(choices.size()),
            55..=62 => {
                let (sizes, flush) = choices.writev();
                Op::Writev(sizes, flush)
            }
            63..=66 => Op::StartEmpty,
            67..=74 => Op::Flush,
            75..=78 if caps.half_close => Op::ShutdownWrite,
            79..=81 => Op::ShutdownRead,
            82..=83 if caps.half_close => Op::ShutdownBoth,
            84..=89 => Op::Close,
            90..=94 => Op::CloseWithin(choices.close_millis()),
            95..=96 => Op::Drop,
            _ => Op::Read,
        }),
    };
    Some(Step { side, action })
}

fn generate(seed: u64, caps: Capabilities) -> Vec<Step> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let len = rng.usize(20..160);
    (0..len).filter_map(|_| step(&mut rng, caps)).collect()
}

/// What the model knows about one end.
#[derive(Debug, Default, Clone)]
struct Model {
    /// Bytes the flow took (`start_write` returned `Ok`), in pattern order.
    taken: u64,
    /// Bytes covered by a completed flush, shutdown or close.
    flushed: u64,
    write_end_started: bool,
    write_ended: bool,
    write_failed: bool,
    /// Bytes this end read, all checked.
    received: u64,
    read_shut_started: bool,
    read_shut: bool,
    eof: bool,
    read_error: Option<ErrorKind>,
    closing: bool,
    closed: bool,
    dropped: bool,
    /// At the drop: what was flushed.
    flushed_at_drop: u64,
}

/// An operation in flight, driven at the poll level.
enum InFlight {
    Write {
        buf: Bytes,
        taken: bool,
        flush: bool,
    },
    /// `unready`: room is awaited for the first buffer only; the rest are
    /// handed over at once, as a vectored write does.
    Writev {
        bufs: Vec<Bytes>,
        next: usize,
        unready: bool,
    },
    Flush,
    Read,
    ShutdownRead,
    ShutdownWrite {
        then_read: bool,
    },
    ShutdownReadAfterWrite,
    Close,
    CloseWithin(crate::timer::Sleep),
}

struct World<'p, A, B> {
    a: Option<A>,
    b: Option<B>,
    models: [Model; 2],
    inflight: [Option<InFlight>; 2],
    patterns: [Pattern; 2],
    caps: Capabilities,
    _p: std::marker::PhantomData<&'p ()>,
}

type StepResult = Result<(), String>;

fn kind_name(kind: ErrorKind) -> String {
    format!("{kind:?}")
}

impl<A: Flow + Unpin, B: Flow + Unpin> World<'_, A, B> {
    fn end(&mut self, side: Side) -> Option<Pin<&mut dyn Flow>> {
        match side {
            Side::A => self.a.as_mut().map(|a| Pin::new(a) as Pin<&mut dyn Flow>),
            Side::B => self.b.as_mut().map(|b| Pin::new(b) as Pin<&mut dyn Flow>),
        }
    }

    fn peer(&self, side: Side) -> &Model {
        &self.models[1 - side.index()]
    }

    /// Whether the peer of `side` can no longer take what `side` writes.
    fn peer_gone(&self, side: Side) -> bool {
        let peer = self.peer(side);
        peer.dropped || peer.read_shut_started || peer.closing
    }

    fn step(&mut self, cx: &mut Context<'_>, step: &Step) -> StepResult {
        let i = step.side.index();
        if self.models[i].dropped {
            return Ok(());
        }
        match &step.action {
            Action::Yield => Ok(()),
            Action::Cancel => {
                self.inflight[i] = None;
                Ok(())
            }
            Action::Poll => self.poll(cx, step.side),
            Action::Start(op) if self.inflight[i].is_some() => {
                let _ = op;
                self.poll(cx, step.side)
            }
            Action::Start(op) => self.start(cx, step.side, op),
        }
    }

    fn next_buf(&mut self, side: Side, len: usize, extra: usize) -> Bytes {
        let i = side.index();
        let len = if self.models[i].taken + (len + extra) as u64 > BUDGET {
            len.min(16)
        } else {
            len
        };
        let offset = self.models[i].taken + extra as u64;
        self.patterns[i].chunk(offset, len)
    }

    fn start(&mut self, cx: &mut Context<'_>, side: Side, op: &Op) -> StepResult {
        let i = side.index();
        match op {
            Op::Write(len) | Op::Feed(len) => {
                let buf = self.next_buf(side, *len, 0);
                self.inflight[i] = Some(InFlight::Write {
                    buf,
                    taken: false,
                    flush: matches!(op, Op::Write(_)),
                });
            }
            Op::Writev(lens, unready) => {
                let mut bufs = Vec::new();
                let mut extra = 0;
                for len in lens {
                    let buf = self.next_buf(side, *len, extra);
                    extra += buf.len();
                    bufs.push(buf);
                }
                self.inflight[i] = Some(InFlight::Writev {
                    bufs,
                    next: 0,
                    unready: *unready,
                });
            }
            Op::StartEmpty => {
                let result = match self.end(side) {
                    Some(end) => end.start_write(Bytes::new()),
                    None => return Ok(()),
                };
                return self.check_write(side, "start_write of an empty buffer", result.map(|()| 0));
            }
            Op::Flush => self.inflight[i] = Some(InFlight::Flush),
            Op::Read => self.inflight[i] = Some(InFlight::Read),
            Op::ShutdownRead => self.inflight[i] = Some(InFlight::ShutdownRead),
            Op::ShutdownWrite => self.inflight[i] = Some(InFlight::ShutdownWrite { then_read: false }),
            Op::ShutdownBoth => self.inflight[i] = Some(InFlight::ShutdownWrite { then_read: true }),
            Op::Close => self.inflight[i] = Some(InFlight::Close),
            Op::CloseWithin(ms) => {
                self.inflight[i] = Some(InFlight::CloseWithin(crate::timer::sleep(Duration::from_millis(*ms))));
            }
            Op::Drop => {
                self.inflight[i] = None;
                let model = &mut self.models[i];
                model.dropped = true;
                model.flushed_at_drop = model.flushed;
                match side {
                    Side::A => self.a = None,
                    Side::B => self.b = None,
                }
                return Ok(());
            }
        }
        self.poll(cx, side)
    }

    fn poll(&mut self, cx: &mut Context<'_>, side: Side) -> StepResult {
        let i = side.index();
        let Some(op) = self.inflight[i].take() else {
            return Ok(());
        };
        if self.models[i].dropped {
            return Ok(());
        }
        let (keep, result) = self.advance(cx, side, op);
        self.inflight[i] = keep;
        result
    }

    /// Polls `op` once; returns it back if it is still in flight.
    fn advance(&mut self, cx: &mut Context<'_>, side: Side, op: InFlight) -> (Option<InFlight>, StepResult) {
        let i = side.index();
        macro_rules! end {
            () => {
                match self.end(side) {
                    Some(end) => end,
                    None => return (None, Ok(())),
                }
            };
        }
        match op {
            InFlight::Write {
                buf,
                taken: false,
                flush,
            } => match end!().poll_write_ready(cx) {
                Poll::Pending => (
                    Some(InFlight::Write {
                        buf,
                        taken: false,
                        flush,
                    }),
                    Ok(()),
                ),
                Poll::Ready(Err(err)) => (None, self.check_write(side, "poll_write_ready", Err(err))),
                Poll::Ready(Ok(())) => {
                    if let Err(why) = self.check_write(side, "poll_write_ready", Ok(0)) {
                        return (None, Err(why));
                    }
                    let len = buf.len() as u64;
                    let result = end!().start_write(buf);
                    let ok = result.is_ok();
                    if let Err(why) = self.check_write(side, "start_write", result.map(|()| len)) {
                        return (None, Err(why));
                    }
                    if ok && flush {
                        self.advance(cx, side, InFlight::Flush)
                    } else {
                        (None, Ok(()))
                    }
                }
            },
            InFlight::Write { .. } => (None, Ok(())),
            InFlight::Writev { bufs, next, unready } => {
                if next == bufs.len() {
                    return self.advance(cx, side, InFlight::Flush);
                }
                let ready = if unready && next > 0 {
                    Poll::Ready(Ok(()))
                } else {
                    end!().poll_write_ready(cx)
                };
                match ready {
                    Poll::Pending => (Some(InFlight::Writev { bufs, next, unready }), Ok(())),
                    Poll::Ready(Err(err)) => (None, self.check_write(side, "poll_write_ready", Err(err))),
                    Poll::Ready(Ok(())) => {
                        let buf = bufs[next].clone();
                        let len = buf.len() as u64;
                        let result = end!().start_write(buf);
                        let ok = result.is_ok();
                        if let Err(why) = self.check_write(side, "start_write of a writev member", result.map(|()| len))
                        {
                            return (None, Err(why));
                        }
                        if ok {
                            self.advance(
                                cx,
                                side,
                                InFlight::Writev {
                                    bufs,
                                    next: next + 1,
                                    unready,
                                },
                            )
                        } else {
                            (None, Ok(()))
                        }
                    }
                }
            }
            InFlight::Flush => match end!().poll_flush(cx) {
                Poll::Pending => (Some(InFlight::Flush), Ok(())),
                Poll::Ready(result) => (None, self.check_flush(side, result)),
            },
            InFlight::Read => match end!().poll_read(cx) {
                Poll::Pending => (Some(InFlight::Read), Ok(())),
                Poll::Ready(result) => (None, self.check_read(side, result)),
            },
            InFlight::ShutdownRead | InFlight::ShutdownReadAfterWrite => {
                self.models[i].read_shut_started = true;
                match end!().poll_shutdown_read(cx) {
                    Poll::Pending => (Some(InFlight::ShutdownRead), Ok(())),
                    Poll::Ready(Ok(())) => {
                        self.models[i].read_shut = true;
                        (None, Ok(()))
                    }
                    Poll::Ready(Err(err)) => (None, self.allowed_when_peer_gone(side, "shutdown(Read)", &err)),
                }
            }
            InFlight::ShutdownWrite { then_read } => {
                self.models[i].write_end_started = true;
                match end!().poll_shutdown_write(cx) {
                    Poll::Pending => (Some(InFlight::ShutdownWrite { then_read }), Ok(())),
                    Poll::Ready(result) => {
                        let checked = match result {
                            Ok(()) => {
                                let m = &mut self.models[i];
                                m.write_ended = true;
                                m.flushed = m.taken;
                                Ok(())
                            }
                            Err(err) => {
                                self.models[i].write_failed = true;
                                self.allowed_when_peer_gone(side, "shutdown(Write)", &err)
                            }
                        };
                        if checked.is_ok() && then_read {
                            self.advance(cx, side, InFlight::ShutdownReadAfterWrite)
                        } else {
                            (None, checked)
                        }
                    }
                }
            }
            InFlight::Close => {
                self.mark_closing(side);
                match end!().poll_close(cx) {
                    Poll::Pending => (Some(InFlight::Close), Ok(())),
                    Poll::Ready(result) => (None, self.check_close(side, "close", result)),
                }
            }
            InFlight::CloseWithin(mut deadline) => {
                self.mark_closing(side);
                match end!().poll_close(cx) {
                    Poll::Ready(result) => (None, self.check_close(side, "close_within", result)),
                    Poll::Pending => match Pin::new(&mut deadline).poll(cx) {
                        Poll::Ready(()) => (None, Ok(())),
                        Poll::Pending => (Some(InFlight::CloseWithin(deadline)), Ok(())),
                    },
                }
            }
        }
    }

    fn mark_closing(&mut self, side: Side) {
        let m = &mut self.models[side.index()];
        m.closing = true;
        m.write_end_started = true;
        m.read_shut_started = true;
    }

    fn allowed_when_peer_gone(&self, side: Side, what: &str, err: &Error) -> StepResult {
        if self.peer_gone(side) && matches!(err.kind(), ErrorKind::Reset | ErrorKind::Closed | ErrorKind::Truncated) {
            Ok(())
        } else {
            Err(format!("{what}: unexpected error {err} (kind {:?})", err.kind()))
        }
    }

    /// A write step's result: `Ok(n)` took `n` bytes.
    fn check_write(&mut self, side: Side, what: &str, result: Result<u64, WriteError>) -> StepResult {
        let i = side.index();
        let peer_gone = self.peer_gone(side);
        let m = &mut self.models[i];
        match result {
            Ok(taken) => {
                if m.write_ended || m.closed {
                    return Err(format!("{what} succeeded after the write side was shut down or closed"));
                }
                if m.write_failed {
                    return Err(format!(
                        "{what} succeeded after a write error: what is written now is silently lost"
                    ));
                }
                m.taken += taken;
                Ok(())
            }
            Err(err) => {
                if m.write_ended || m.closed {
                    return match err {
                        WriteError::Closed => Ok(()),
                        other => Err(format!(
                            "{what} after shutdown(Write) or close: expected exactly WriteError::Closed, got {other:?}"
                        )),
                    };
                }
                let allowed = m.write_failed
                    || (m.write_end_started && matches!(err, WriteError::Closed))
                    || (peer_gone && matches!(err.kind(), ErrorKind::Closed | ErrorKind::Reset | ErrorKind::Truncated));
                if allowed {
                    m.write_failed = true;
                    Ok(())
                } else {
                    Err(format!("{what}: unexpected {err} (kind {:?})", err.kind()))
                }
            }
        }
    }

    fn check_flush(&mut self, side: Side, result: Result<(), WriteError>) -> StepResult {
        let i = side.index();
        let peer_gone = self.peer_gone(side);
        let m = &mut self.models[i];
        match result {
            Ok(()) => {
                m.flushed = m.taken;
                Ok(())
            }
            Err(_) if m.write_failed || m.write_ended || m.closed || m.write_end_started => {
                m.write_failed |= !(m.write_ended || m.closed);
                Ok(())
            }
            Err(err)
                if peer_gone && matches!(err.kind(), ErrorKind::Closed | ErrorKind::Reset | ErrorKind::Truncated) =>
            {
                m.write_failed = true;
                Ok(())
            }
            Err(err) => Err(format!("flush: unexpected {err} (kind {:?})", err.kind())),
        }
    }

    fn check_close(&mut self, side: Side, what: &str, result: Result<(), Error>) -> StepResult {
        let i = side.index();
        let peer = self.peer(side).clone();
        let peer_gone = self.peer_gone(side);
        let was_closed = self.models[i].closed;
        // After a completed shutdown(Read), a transport may no longer see the
        // peer's end (a Unix socket refuses the peer's writes instead), so
        // close need not wait for it.
        let read_was_shut = self.models[i].read_shut;
        let m = &mut self.models[i];
        m.closed = true;
        m.write_ended = true;
        m.read_shut = true;
        m.flushed = m.taken;
        match result {
            Ok(()) if was_closed => Ok(()),
            Ok(()) if peer.write_end_started || peer.dropped || read_was_shut => Ok(()),
            Ok(()) => Err(format!(
                "{what} completed before the peer finished writing (it must wait for the peer's end)"
            )),
            Err(err) if was_closed => Err(format!("{what} again after a close: expected success, got {err}")),
            Err(err) if peer.dropped && matches!(err.kind(), ErrorKind::Reset | ErrorKind::Truncated) => Ok(()),
            // Flushing to a peer that stopped reading: a Unix socket says Closed.
            Err(err) if peer_gone && matches!(err.kind(), ErrorKind::Reset | ErrorKind::Closed) => Ok(()),
            Err(err) => Err(format!("{what}: unexpected error {err} (kind {:?})", err.kind())),
        }
    }

    fn check_read(&mut self, side: Side, result: Result<Chunk, Error>) -> StepResult {
        let i = side.index();
        let peer = self.peer(side).clone();
        let pattern = self.patterns[1 - i];
        let visible = self.caps.abort_visible;
        let m = &mut self.models[i];
        let maybe_shut = m.read_shut_started || m.closing;
        match result {
            Ok(Chunk::Data(data)) => {
                if data.is_empty() {
                    return Err("read returned an empty buffer".into());
                }
                if m.read_shut || m.closed {
                    return Err(format!(
                        "read returned {} bytes after shutdown(Read) or close",
                        data.len()
                    ));
                }
                if m.eof {
                    return Err(format!("read returned {} bytes after end of file", data.len()));
                }
                if let Some(kind) = m.read_error {
                    return Err(format!(
                        "read returned {} bytes after an error of kind {kind:?}",
                        data.len()
                    ));
                }
                if m.received + data.len() as u64 > peer.taken {
                    return Err(format!(
                        "read {} bytes at offset {}, but the peer handed over only {} (data duplicated or invented)",
                        data.len(),
                        m.received,
                        peer.taken
                    ));
                }
                match pattern.mismatch(m.received, &data) {
                    None => {}
                    // A close or shutdown(Read) that started (and was
                    // cancelled) discards what arrives meanwhile: later
                    // reads may resume further on, never earlier.
                    Some(_) if maybe_shut => match find_later(pattern, m.received, peer.taken, &data) {
                        Some(at) => m.received = at,
                        None => return Err("data that the peer never sent at any later offset".into()),
                    },
                    Some(at) => {
                        return Err(format!(
                            "data lost, duplicated or reordered: first wrong byte at offset {at}"
                        ));
                    }
                }
                m.received += data.len() as u64;
                Ok(())
            }
            Ok(Chunk::Eof) => {
                if m.closed || m.read_shut || maybe_shut {
                    // After a local shutdown(Read) or close, reads end.
                    m.eof = true;
                    return Ok(());
                }
                if let Some(kind) = m.read_error {
                    return Err(format!("read returned end of file after an error of kind {kind:?}"));
                }
                let first = !m.eof;
                m.eof = true;
                if !first || maybe_shut || m.closed {
                    return Ok(());
                }
                // A peer dropped before its shutdown or close completed
                // aborted: what it had not flushed is fair to lose.
                if peer.dropped && !peer.write_ended {
                    if visible && !peer.write_end_started {
                        return Err("a peer dropped without closing looks like a clean end of file \
                                    (capability abort_visible)"
                            .into());
                    }
                    return lost_before_end(m.received, m.taken, &peer, "end of file");
                }
                if peer.write_end_started && m.received == peer.taken {
                    return Ok(());
                }
                if peer.write_end_started || peer.dropped {
                    return Err(format!(
                        "end of file after {} bytes, but the peer handed over {}: {} bytes lost",
                        m.received,
                        peer.taken,
                        peer.taken - m.received
                    ));
                }
                Err("end of file, though the peer neither shut down writing nor closed nor went away".into())
            }
            Err(err) => {
                let kind = err.kind();
                if m.eof && !maybe_shut {
                    return Err(format!(
                        "read failed with {err} after end of file (end of file is sticky)"
                    ));
                }
                if m.read_error.is_some() {
                    return Ok(());
                }
                if peer.dropped && matches!(kind, ErrorKind::Reset | ErrorKind::Truncated) {
                    m.read_error = Some(kind);
                    if maybe_shut {
                        // What arrived after close or shutdown(Read)
                        // started was fair to discard.
                        return Ok(());
                    }
                    return lost_before_end(m.received, m.taken, &peer, &kind_name(kind));
                }
                Err(format!("read: unexpected error {err} (kind {kind:?})"))
            }
        }
    }
}

/// Where `data` stands in the peer's stream at or after `from`, if anywhere.
fn find_later(pattern: Pattern, from: u64, taken: u64, data: &[u8]) -> Option<u64> {
    let len = data.len() as u64;
    if from + len > taken {
        return None;
    }
    let stream = pattern.chunk(from, usize::try_from(taken - from).ok()?);
    stream
        .windows(data.len())
        .position(|window| window == data)
        .map(|at| from + at as u64)
}

/// Whether the flushed bytes of a dropped peer arrived before its end.
/// `taken` is what this end handed over: more than the peer read before it
/// went away reaches a closed socket, which answers with a reset that may
/// cut what was in flight towards this end (TCP discards it).
fn lost_before_end(received: u64, taken: u64, peer: &Model, end: &str) -> StepResult {
    if taken > peer.received || received >= peer.flushed_at_drop {
        Ok(())
    } else {
        Err(format!(
            "{end} after {received} bytes, but the dropped peer had flushed {}: data in flight was lost",
            peer.flushed_at_drop
        ))
    }
}

/// Settles one end: finishes its close, or flushes, shuts down writing and
/// reads to the end; then closes.
async fn settle_end<A: Flow + Unpin, B: Flow + Unpin>(
    world: &std::cell::RefCell<World<'_, A, B>>,
    side: Side,
) -> StepResult {
    let i = side.index();
    {
        let mut w = world.borrow_mut();
        w.inflight[i] = None;
        if w.models[i].dropped {
            return Ok(());
        }
        if w.models[i].closed {
            // Closed flows are done; dropping it frees the peer's writes.
            w.models[i].dropped = true;
            w.models[i].flushed_at_drop = w.models[i].flushed;
            match side {
                Side::A => w.a = None,
                Side::B => w.b = None,
            }
            return Ok(());
        }
        let m = &w.models[i];
        let half_close = w.caps.half_close;
        if !m.closing && !m.write_failed && !m.write_ended {
            w.inflight[i] = Some(if half_close {
                InFlight::ShutdownWrite { then_read: false }
            } else {
                InFlight::Flush
            });
        }
    }
    // Writing side first (each poll also reads, so neither waits on the other).
    let reading = |w: &World<'_, A, B>| {
        let m = &w.models[i];
        w.caps.half_close && !m.closing && !m.read_shut_started && !m.eof && m.read_error.is_none()
    };
    std::future::poll_fn(|cx| {
        let mut w = world.borrow_mut();
        if let Some(op) = w.inflight[i].take() {
            let (keep, result) = w.advance(cx, side, op);
            if let Err(why) = result {
                return Poll::Ready(Err(why));
            }
            w.inflight[i] = keep;
        }
        while reading(&w) {
            let (keep, result) = w.advance(cx, side, InFlight::Read);
            if let Err(why) = result {
                return Poll::Ready(Err(why));
            }
            if keep.is_some() {
                break;
            }
        }
        if w.inflight[i].is_none() && !reading(&w) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await?;
    // Then close, which must complete once the peer has finished too.
    std::future::poll_fn(|cx| {
        let mut w = world.borrow_mut();
        let (keep, result) = w.advance(cx, side, InFlight::Close);
        match (keep, result) {
            (_, Err(why)) => Poll::Ready(Err(why)),
            (Some(_), Ok(())) => Poll::Pending,
            (None, Ok(())) => Poll::Ready(Ok(())),
        }
    })
    .await
}

/// Runs one case on a fresh pair; `Err` says which step failed and why.
async fn run_case<F: Factory>(cx: &Cx<'_, F>, case: u64, steps: &[Step]) -> Result<(), (usize, String)> {
    // The factory's own choices (its faults) replay with the case, and stay
    // the same while the case is shortened.
    cx.reseed(case);
    let (a, b) = cx.connect().await.map_err(|fail| (0, fail_text(fail)))?;
    let world = std::cell::RefCell::new(World {
        a: Some(a),
        b: Some(b),
        models: [Model::default(), Model::default()],
        inflight: [None, None],
        patterns: [Pattern::new(case), Pattern::new(case ^ 0x5555)],
        caps: cx.caps(),
        _p: std::marker::PhantomData,
    });
    // Which step runs: a panic in the backend is reported at its step.
    let current = std::cell::Cell::new(0);
    let body = async {
        for (n, step) in steps.iter().enumerate() {
            current.set(n);
            if step.action == Action::Yield {
                yield_now().await;
                continue;
            }
            std::future::poll_fn(|task| Poll::Ready(world.borrow_mut().step(task, step)))
                .await
                .map_err(|why| (n, why))?;
        }
        let settle: Vec<LocalBoxFuture<'_, Check>> = [Side::A, Side::B]
            .into_iter()
            .map(|side| {
                let world = &world;
                Box::pin(async move { settle_end(world, side).await.map_err(Fail::Failed) })
                    as LocalBoxFuture<'_, Check>
            })
            .collect();
        current.set(steps.len());
        Mode::Tasks
            .all(settle)
            .await
            .map_err(|fail| (steps.len(), format!("while settling: {}", fail_text(fail))))
    };
    let body = std::panic::AssertUnwindSafe(body).catch_unwind();
    let limit = CASE_LIMIT.min(cx.limit / 3);
    match crate::timer::timeout(limit, body).await {
        Some(Ok(result)) => result,
        Some(Err(panic)) => Err((
            current.get(),
            format!("the backend panicked: {}", crate::panic_message(&*panic)),
        )),
        None => Err((
            steps.len(),
            format!("the case hung for {limit:?} (a lost wake-up, or an operation that never completes)"),
        )),
    }
}

fn fail_text(fail: Fail) -> String {
    match fail {
        Fail::Failed(why) | Fail::NotApplicable(why) => why,
    }
}

/// Removes steps while the case still fails, to show a short list.
/// What kind of failure a message reports: its words before the first colon.
fn class(why: &str) -> &str {
    why.split(':').next().unwrap_or(why)
}

async fn shrink<F: Factory>(cx: &Cx<'_, F>, case: u64, mut steps: Vec<Step>, original: &str) -> (Vec<Step>, String) {
    let mut why = original.to_owned();
    let started = std::time::Instant::now();
    let mut chunk = steps.len() / 2;
    let mut attempts = 0;
    while chunk > 0 && attempts < 200 && started.elapsed() < Duration::from_secs(20) {
        let mut at = 0;
        let mut removed = false;
        while at < steps.len() && attempts < 200 {
            let mut candidate = steps.clone();
            let end = (at + chunk).min(candidate.len());
            candidate.drain(at..end);
            attempts += 1;
            // Only the same kind of failure counts, so that the short list
            // shows the defect that was found, not another one.
            let same = match run_case(cx, case, &candidate).await {
                Err((at, reason)) if class(&reason) == class(original) => Some(format!("at step {at}: {reason}")),
                _ => None,
            };
            if let Some(reason) = same {
                steps = candidate;
                why = reason;
                removed = true;
            } else {
                at += chunk;
            }
        }
        if !removed {
            chunk /= 2;
        }
    }
    (steps, why)
}

pub(crate) async fn run<F: Factory>(cx: &Cx<'_, F>) -> Check {
    let caps = cx.caps();
    let only = env_u64("FLOW_CONFORMANCE_MODEL_CASE");
    let cases: Vec<u64> = match only {
        Some(case) => vec![case],
        None => (0..cases()).map(|i| mix(cx.seed, i)).collect(),
    };
    for (n, &case) in cases.iter().enumerate() {
        let steps = generate(case, caps);
        if let Err((at, why)) = run_case(cx, case, &steps).await {
            let (shortened, short_why) = shrink(cx, case, steps.clone(), &why).await;
            let mut list = String::new();
            for step in shortened.iter().take(60) {
                let _ = write!(list, "{step} ");
            }
            if shortened.len() > 60 {
                let _ = write!(list, "... ({} more)", shortened.len() - 60);
            }
            return Err(Fail::Failed(format!(
                "model case {n} failed at step {at} of {}: {why}\n  replay this case alone with \
                 FLOW_CONFORMANCE_SEED={} FLOW_CONFORMANCE_MODEL_CASE={case} (the run's seed also seeds \
                 the factory's faults); shortened to {} steps, which fail {short_why}: {}",
                steps.len(),
                crate::base_seed(),
                shortened.len(),
                list.trim_end()
            )));
        }
    }
    Ok(())
}

/// A size from one fuzzer byte: `0`, or log-uniform-ish up to 128 KiB (the
/// high nibble picks the power of two, the low one a step within it).
fn fuzz_size(byte: u8) -> usize {
    if byte == 0 {
        return 0;
    }
    let power = 1usize << (byte >> 4).min(16);
    (power + (power * usize::from(byte & 15)) / 16).min(128 * 1024)
}

/// Fuzzer bytes as [`Choices`]: one byte picks the side and the action, a
/// start takes one more for the operation and one per size; missing bytes
/// read as 0.
struct FuzzBytes<'a>(std::iter::Copied<std::slice::Iter<'a, u8>>);

impl FuzzBytes<'_> {
    fn next(&mut self) -> u8 {
        self.0.next().unwrap_or(0)
    }
}

impl Choices for FuzzBytes<'_> {
    fn head(&mut self) -> Option<(Side, u8)> {
        let first = self.0.next()?;
        let side = if first & 1 == 0 { Side::A } else { Side::B };
        Some((side, (first >> 1) % 100))
    }
    fn roll(&mut self) -> u8 {
        self.next() % 100
    }
    fn size(&mut self) -> usize {
        fuzz_size(self.next())
    }
    fn writev(&mut self) -> (Vec<usize>, bool) {
        let n = self.next();
        ((0..n % 5).map(|_| fuzz_size(self.next())).collect(), n & 0x80 != 0)
    }
    fn close_millis(&mut self) -> u64 {
        1 + u64::from(self.next() % 4)
    }
}

/// Decodes a case's steps from fuzzer bytes (see [`FuzzBytes`]). At most
/// 256 steps.
fn decode(bytes: &[u8], caps: Capabilities) -> Vec<Step> {
    let mut choices = FuzzBytes(bytes.iter().copied());
    std::iter::from_fn(|| step(&mut choices, caps)).take(256).collect()
}

/// One case decoded from fuzzer bytes, over `factory`: the first 8 bytes
/// seed the data patterns, the rest are the steps (see [`decode`]). No
/// shrinking: the fuzzer minimises. `Err` describes the case.
pub(crate) async fn fuzz_case<F: Factory>(factory: &F, bytes: &[u8]) -> Result<(), String> {
    let (seed, rest) = bytes.split_at(bytes.len().min(8));
    let mut seed_bytes = [0u8; 8];
    seed_bytes[..seed.len()].copy_from_slice(seed);
    let case = u64::from_le_bytes(seed_bytes);
    factory.reseed(case);
    let steps = decode(rest, factory.capabilities());
    // The case's own limit is a third of this: 10 s for an in-memory case.
    let cx = Cx::new(factory, case, crate::drive::Drive::OneTask, Duration::from_secs(30));
    run_case(&cx, case, &steps).await.map_err(|(at, why)| {
        let mut list = String::new();
        for step in &steps {
            let _ = write!(list, "{step} ");
        }
        format!(
            "model case {case} failed at step {at} of {}: {why}\n  steps: {}",
            steps.len(),
            list.trim_end()
        )
    })
}
