//! The soak under faults: many concurrent flows with random traffic on each
//! runtime backend, every byte verified, until the time is up.
//!
//! Lanes: tokio and smol, each over loopback TCP, TLS 1.3 over that TCP,
//! and `flow_mem` pairs; a seeded share of the pairs has
//! `flow_mem::Faulty` in between (short reads and writes, spurious
//! `Pending`). Each lane keeps its share of the flows alive at any time:
//! when a pair finishes its script, a new one takes its slot.
//!
//! Every pair follows a script drawn from its own seed (derived from the
//! run's seed): length-prefixed, sequence-numbered frames of 1 B to 256 KiB
//! (log-uniform) whose bytes are a function of the pair, the direction and
//! the frame, so the receiver checks each byte it gets against the one it
//! expects; pauses; half-closes; aborts (a drop without close: the peer must
//! end with end of file, `Reset` or `Truncated`, never hang); and cancelled
//! reads and writes (the future dropped after a few polls or a tiny timeout,
//! then the stream resumed). A cancelled write is never retried: the next
//! frame's header names the run of frames whose writes were cancelled, and
//! the receiver accepts each of them whole or not at all, which is what
//! the contract promises for a dropped write.
//!
//! It fails on a lost, duplicated or corrupted byte, an unexpected error, a
//! pair past its deadline, resident memory growing over the second half of
//! the run, or descriptors left open after every flow is dropped.
//!
//! Usage: soak [--minutes N] [--flows N] [--quick] [--seed S] [--pair-deadline SECS] [--lane NAME]... [--pair SEED]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use flow_api::prelude::*;
use flow_api::{BoxFlow, Sleep, Timer};
use flow_mem::{FaultConfig, Faulty};
use flow_socket::Runtime;
use flow_tls::{TlsAcceptor, TlsConnector};
use futures_executor::block_on;
use futures_util::FutureExt as _;
use futures_util::future::{Either, RemoteHandle, select};

const USAGE: &str =
    "usage: soak [--minutes N] [--flows N] [--quick] [--seed S] [--pair-deadline SECS] [--lane NAME]... [--pair SEED]";

/// Largest frame payload: 256 KiB.
const MAX_FRAME: usize = 256 * 1024;
/// Frame header: sequence number, payload length, first frame of the run of
/// cancelled writes just before this one, and a check of the three.
const HEADER: usize = 16;
/// Failures printed and reported; the rest are counted.
const KEPT_FAILURES: usize = 20;
/// Descriptors kept free for the runtimes, listeners, ping and stdio.
const SPARE_FDS: u64 = 256;
/// Descriptors that may differ between the start and the end without a leak.
const FD_SLACK: usize = 4;
/// Growth of the resident-memory floor over the second half that fails the run.
const RSS_GROWTH_LIMIT: f64 = 0.05;

// ---------------------------------------------------------------- options

#[derive(Debug, Clone)]
struct Options {
    load: Duration,
    flows: usize,
    /// The lanes to run (all when empty).
    lanes: Vec<String>,
    seed: u64,
    /// Every slot replays this one pair's script (a hang's pair seed).
    pair: Option<u64>,
    pair_deadline: Duration,
    stall: Duration,
    /// The slots start over this long.
    ramp: Duration,
    sample_every: Duration,
}

fn parse() -> Result<Options, String> {
    use lexopt::prelude::*;
    let mut minutes: Option<f64> = None;
    let mut flows: Option<usize> = None;
    let mut quick = false;
    let mut seed: Option<u64> = None;
    let mut deadline: Option<u64> = None;
    let mut pair: Option<u64> = None;
    let mut lanes = Vec::new();
    let mut args = lexopt::Parser::from_env();
    while let Some(arg) = args.next().map_err(|e| e.to_string())? {
        match arg {
            Long("minutes") => {
                let v = number(&mut args, "--minutes")?;
                minutes = Some(
                    v.parse()
                        .ok()
                        .filter(|m: &f64| *m > 0.0)
                        .ok_or(format!("bad --minutes {v:?}"))?,
                );
            }
            Long("flows") => {
                let v = number(&mut args, "--flows")?;
                flows = Some(
                    v.parse()
                        .ok()
                        .filter(|n| *n >= 6)
                        .ok_or(format!("--flows needs at least 6, not {v:?}"))?,
                );
            }
            Long("seed") => {
                let v = number(&mut args, "--seed")?;
                seed = Some(parse_seed(&v).ok_or(format!("bad --seed {v:?}"))?);
            }
            Long("pair") => {
                let v = number(&mut args, "--pair")?;
                pair = Some(parse_seed(&v).ok_or(format!("bad --pair {v:?}"))?);
            }
            Long("pair-deadline") => {
                let v = number(&mut args, "--pair-deadline")?;
                deadline = Some(
                    v.parse()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or(format!("bad --pair-deadline {v:?}"))?,
                );
            }
            Long("quick") => quick = true,
            Long("lane") => {
                let lane = number(&mut args, "--lane")?;
                if !LANES.iter().any(|(name, _, _)| *name == lane) {
                    return Err(format!(
                        "unknown lane {lane:?}; lanes are {:?}",
                        LANES.iter().map(|l| l.0).collect::<Vec<_>>()
                    ));
                }
                lanes.push(lane);
            }
            Long("help") | Short('h') => return Err(USAGE.to_owned()),
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    let flows = flows.unwrap_or(if quick { 1_000 } else { 10_000 });
    let load = match (minutes, quick) {
        (Some(m), _) => Duration::from_secs_f64(m * 60.0),
        (None, true) => Duration::from_secs(50),
        (None, false) => Duration::from_secs(600),
    };
    let seed = seed.unwrap_or_else(|| fastrand::u64(..));
    // A pair's share of the machine shrinks as the flows grow: its deadline grows with them.
    let pair_deadline = Duration::from_secs(deadline.unwrap_or_else(|| 120.max(flows as u64 / 25)));
    let stall = Duration::from_secs(if quick { 30 } else { 60 }).min(pair_deadline);
    let sample_every = if load < Duration::from_secs(120) {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(3)
    };
    Ok(Options {
        load,
        flows,
        lanes,
        seed,
        pair,
        pair_deadline,
        stall,
        ramp: Duration::from_secs_f64((flows as f64 / 1000.0).clamp(1.0, 10.0)).min(load / 10),
        sample_every,
    })
}

fn number(args: &mut lexopt::Parser, what: &str) -> Result<String, String> {
    args.value()
        .ok()
        .and_then(|v| v.into_string().ok())
        .ok_or_else(|| format!("{what} needs a value"))
}

fn parse_seed(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

// ---------------------------------------------------------------- data

fn mix(mut z: u64) -> u64 {
    // SplitMix64's finaliser.
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The key of one frame's bytes: pair, direction and sequence number.
fn frame_key(stream_key: u64, seq: u32) -> u64 {
    mix(stream_key ^ mix(u64::from(seq)))
}

/// Appends `len` bytes of the frame's pattern, starting at `offset` in the payload.
fn pattern(key: u64, offset: usize, len: usize, out: &mut Vec<u8>) {
    let mut at = offset;
    let end = offset + len;
    while at < end {
        let word = mix(key ^ (at as u64 >> 3)).to_le_bytes();
        let start = at & 7;
        let take = (8 - start).min(end - at);
        out.extend_from_slice(&word[start..start + take]);
        at += take;
    }
}

fn header_check(stream_key: u64, seq: u32, len: u32, skip_from: u32) -> u32 {
    mix(stream_key ^ u64::from(seq) ^ (u64::from(len) << 32) ^ mix(u64::from(skip_from))) as u32
}

/// One frame, header and payload in one buffer, so that a write of it goes
/// out whole or not at all.
fn frame(stream_key: u64, seq: u32, len: usize, skip_from: u32) -> Bytes {
    let mut out = Vec::with_capacity(HEADER + len);
    let len32 = len as u32;
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&len32.to_le_bytes());
    out.extend_from_slice(&skip_from.to_le_bytes());
    out.extend_from_slice(&header_check(stream_key, seq, len32, skip_from).to_le_bytes());
    pattern(frame_key(stream_key, seq), 0, len, &mut out);
    Bytes::from(out)
}

// ---------------------------------------------------------------- the script

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// Both ends write and read at once, then half-close, then close.
    Both,
    /// `first` writes everything and half-closes; the other end reads to
    /// end of file, then writes its part.
    HalfClose { first: usize },
    /// `side` drops its flow without closing after `after` frames.
    Abort { side: usize, after: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Tls,
    Mem,
}

#[derive(Debug, Clone, Copy)]
enum Faults {
    None,
    /// `Faulty` on both ends, below TLS where there is TLS.
    Below(u64, usize, u8),
    /// `Faulty` on both ends, above TLS.
    Above(u64, usize, u8),
}

#[derive(Debug, Clone)]
struct Plan {
    seed: u64,
    scenario: Scenario,
    faults: Faults,
    /// Frame sizes, per direction: `[0]` client to server, `[1]` back.
    frames: [Vec<usize>; 2],
    cancel_read_percent: u8,
    cancel_write_percent: u8,
    pause_percent: u8,
}

/// The mean size of `Faulty`'s pieces with `max_chunk(max)`: a power of two
/// up to `max` drawn uniformly by its exponent, then a size up to it.
fn mean_chunk(max: usize) -> usize {
    let bits = usize::BITS - max.leading_zeros();
    let sum: usize = (0..bits).map(|k| (1usize << k).min(max).div_ceil(2)).sum();
    (sum / bits as usize).max(1)
}

fn log_uniform(rng: &mut fastrand::Rng, max: usize) -> usize {
    let bits = usize::BITS - max.leading_zeros();
    let low = 1usize << rng.u32(0..bits);
    rng.usize(low..=(2 * low - 1).min(max))
}

impl Plan {
    fn new(seed: u64, transport: Transport) -> Plan {
        let mut rng = fastrand::Rng::with_seed(seed);
        let chunk = [256, 1500, 16 * 1024, 64 * 1024][rng.usize(0..4)];
        let pending = [5, 25][rng.usize(0..2)];
        let fault_seed = rng.u64(..);
        let faulty = rng.u8(0..100) < 35;
        // A faulty pair moves a few chunks per poll, and a loaded executor
        // polls each task about once a round (up to seconds with 10,000
        // flows, as the ping shows): its frames stay a few dozen chunks long.
        // Sized by the largest chunk instead, a pair of small chunks needed
        // thousands of rounds and outlived its deadline while still moving.
        let largest = if faulty {
            MAX_FRAME.min(mean_chunk(chunk) * 32)
        } else {
            MAX_FRAME
        };
        let mut frames = [Vec::new(), Vec::new()];
        for dir in &mut frames {
            let n = rng.usize(0..=8);
            dir.extend((0..n).map(|_| log_uniform(&mut rng, largest)));
        }
        let scenario = match rng.u8(0..100) {
            0..55 => Scenario::Both,
            55..78 => Scenario::HalfClose { first: rng.usize(0..2) },
            _ => {
                let side = rng.usize(0..2);
                let after = rng.u32(0..=frames[side].len() as u32);
                Scenario::Abort { side, after }
            }
        };
        let faults = match faulty {
            true if transport == Transport::Tls && rng.bool() => Faults::Above(fault_seed, chunk, pending),
            true => Faults::Below(fault_seed, chunk, pending),
            false => Faults::None,
        };
        let some = |rng: &mut fastrand::Rng| if rng.bool() { 0 } else { rng.u8(5..=30) };
        Plan {
            seed,
            scenario,
            faults,
            frames,
            cancel_read_percent: some(&mut rng),
            cancel_write_percent: some(&mut rng),
            pause_percent: rng.u8(0..=40),
        }
    }

    fn stream_key(&self, dir: usize) -> u64 {
        mix(self.seed ^ (dir as u64).wrapping_mul(0xa076_1d64_78bd_642f))
    }
}

// ---------------------------------------------------------------- what was seen

/// Run-wide counters.
#[derive(Debug, Default)]
struct Stats {
    live: AtomicUsize,
    pairs: AtomicU64,
    sent: AtomicU64,
    verified: AtomicU64,
    cancelled_reads: AtomicU64,
    cancelled_writes_taken: AtomicU64,
    cancelled_writes_dropped: AtomicU64,
    /// Outcomes and errors by kind: `"abort: peer read Reset" -> 12`.
    kinds: Mutex<BTreeMap<String, u64>>,
    failures: Mutex<Vec<String>>,
    failed_count: AtomicU64,
}

impl Stats {
    fn count(&self, what: impl Into<String>) {
        *self
            .kinds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(what.into())
            .or_default() += 1;
    }

    /// Records a failure. The run goes on to its end, to find the others,
    /// and fails then; only the first few are kept for the report.
    fn fail(&self, what: String) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        self.failed_count.fetch_add(1, Relaxed);
        if failures.len() < KEPT_FAILURES {
            eprintln!("soak: FAILURE: {what}");
            failures.push(what);
        }
    }
}

/// What one end is doing, for the report of a pair past its deadline.
#[derive(Debug)]
struct Progress {
    step: Mutex<&'static str>,
    frames_written: AtomicU64,
    bytes_read: AtomicU64,
    /// When this end last moved, in milliseconds since `epoch`.
    moved: AtomicU64,
    epoch: Instant,
}

impl Progress {
    fn new(epoch: Instant) -> Progress {
        Progress {
            step: Mutex::new("connecting"),
            frames_written: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            moved: AtomicU64::new(epoch.elapsed().as_millis() as u64),
            epoch,
        }
    }

    fn at(&self, step: &'static str) {
        *self.step.lock().unwrap_or_else(PoisonError::into_inner) = step;
        self.moved();
    }

    fn moved(&self) {
        self.moved.store(self.epoch.elapsed().as_millis() as u64, Relaxed);
    }

    fn idle(&self) -> Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.moved.load(Relaxed)))
    }

    fn show(&self) -> String {
        format!(
            "{} ({} frames written, {} bytes read, last moved {:.1?} ago)",
            self.step.lock().unwrap_or_else(PoisonError::into_inner),
            self.frames_written.load(Relaxed),
            self.bytes_read.load(Relaxed),
            self.idle()
        )
    }
}

// ---------------------------------------------------------------- cancellation

/// Drives `future` until it completes, or gives up (`None`, the future
/// dropped) after `polls` pending polls or when `timeout` has passed.
async fn cancel_after<F: Future>(future: F, polls: u32, timeout: Option<Sleep>) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut timeout = timeout;
    let mut left = polls;
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        match &mut timeout {
            Some(sleep) => sleep.as_mut().poll(cx).map(|()| None),
            None => {
                left = left.saturating_sub(1);
                if left == 0 {
                    Poll::Ready(None)
                } else {
                    // Polled again soon even if the operation never wakes us.
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            }
        }
    })
    .await
}

// ---------------------------------------------------------------- one end

/// One end of a pair: what it needs to run its part of the script.
struct End {
    plan: Arc<Plan>,
    side: usize,
    label: Arc<str>,
    stats: Arc<Stats>,
    timer: Arc<dyn Timer>,
    progress: Arc<Progress>,
    rng: fastrand::Rng,
}

/// How the reading of one direction ended.
#[derive(Debug)]
enum ReadEnd {
    /// The trailer and then end of file: everything arrived.
    Complete,
    /// Stopped early (only after an abort): end of file or an error of this kind.
    Early(Option<ErrorKind>),
}

impl End {
    fn peer_aborts(&self) -> bool {
        matches!(self.plan.scenario, Scenario::Abort { side, .. } if side != self.side)
    }

    fn fail(&self, what: String) -> String {
        format!(
            "{} pair seed {:#x} side {}: {what}",
            self.label, self.plan.seed, self.side
        )
    }

    async fn pause(&mut self) {
        if self.rng.u8(0..100) < self.plan.pause_percent {
            let micros = log_uniform(&mut self.rng, 50_000) as u64;
            self.timer.sleep(Duration::from_micros(micros)).await;
        }
    }

    /// Writes this end's frames, then the trailer; `limit` stops it early (an abort).
    async fn write_all<W: FlowWrite + Unpin>(&mut self, writer: &mut W, limit: Option<u32>) -> Result<(), String> {
        let key = self.plan.stream_key(self.side);
        let sizes = self.plan.frames[self.side].clone();
        let count = limit.unwrap_or(sizes.len() as u32);
        let mut skip_from = 0u32;
        for seq in 0..count {
            self.pause().await;
            self.progress.at("writing a frame");
            let data = frame(key, seq, sizes[seq as usize], skip_from);
            let bytes = data.len() as u64;
            let outcome = if self.rng.u8(0..100) < self.plan.cancel_write_percent {
                let timeout = self.cancel_timeout();
                cancel_after(writer.write(data), self.rng.u32(1..=3), timeout).await
            } else {
                Some(writer.write(data).await)
            };
            match outcome {
                Some(Ok(())) => {
                    self.stats.sent.fetch_add(bytes, Relaxed);
                    skip_from = seq + 1;
                }
                Some(Err(err)) => return self.write_failed(err),
                // Taken whole or not at all: the receiver finds out which.
                None => {}
            }
            self.progress.frames_written.fetch_add(1, Relaxed);
            self.progress.moved();
        }
        if limit.is_some() {
            // Frames taken by a cancelled write go out at the next flush.
            self.progress.at("flushing before the abort");
            return match writer.flush().await {
                Ok(()) => Ok(()),
                Err(err) => self.write_failed(err),
            };
        }
        self.progress.at("writing the trailer");
        if let Err(err) = writer.write(frame(key, count, 0, skip_from)).await {
            return self.write_failed(err);
        }
        self.progress.at("shutting down writes");
        match writer.shutdown_write().await {
            Ok(()) => Ok(()),
            Err(err) => self.write_failed(WriteError::from(err)),
        }
    }

    /// A write failed: expected (and counted) only when the peer aborts.
    fn write_failed(&self, err: WriteError) -> Result<(), String> {
        if self.peer_aborts() {
            self.stats
                .count(format!("abort: peer's write failed: {:?}", err.kind()));
            Ok(())
        } else {
            Err(self.fail(format!("write failed: {err}")))
        }
    }

    fn cancel_timeout(&mut self) -> Option<Sleep> {
        if self.rng.bool() {
            Some(self.timer.sleep(Duration::from_micros(self.rng.u64(0..2_000))))
        } else {
            None
        }
    }

    /// Reads the peer's frames, checking every byte, to the end.
    async fn read_all<R: FlowRead + Unpin>(&mut self, reader: &mut R) -> Result<ReadEnd, String> {
        let peer = 1 - self.side;
        let mut check = Checker::new(self.plan.stream_key(peer), self.plan.frames[peer].clone());
        loop {
            self.progress.at("reading");
            let cancel = self.rng.u8(0..100) < self.plan.cancel_read_percent;
            let read = if cancel {
                let timeout = self.cancel_timeout();
                match cancel_after(reader.read(), self.rng.u32(1..=3), timeout).await {
                    Some(read) => read,
                    None => {
                        self.stats.cancelled_reads.fetch_add(1, Relaxed);
                        continue;
                    }
                }
            } else {
                reader.read().await
            };
            match read {
                Ok(Chunk::Data(data)) => {
                    self.progress.bytes_read.fetch_add(data.len() as u64, Relaxed);
                    self.progress.moved();
                    check.feed(&data).map_err(|what| self.fail(what))?;
                    self.stats.verified.fetch_add(data.len() as u64, Relaxed);
                }
                Ok(Chunk::Eof) if check.finished() => {
                    self.stats
                        .cancelled_writes_taken
                        .fetch_add(check.cancelled_taken, Relaxed);
                    self.stats
                        .cancelled_writes_dropped
                        .fetch_add(check.cancelled_dropped, Relaxed);
                    return Ok(ReadEnd::Complete);
                }
                Ok(Chunk::Eof) if self.peer_aborts() => return Ok(ReadEnd::Early(None)),
                Ok(Chunk::Eof) => {
                    return Err(self.fail(format!("end of file before the trailer: {}", check.position())));
                }
                Err(err) if self.peer_aborts() => return Ok(ReadEnd::Early(Some(err.kind()))),
                Err(err) => return Err(self.fail(format!("read failed at {}: {err}", check.position()))),
            }
        }
    }

    /// A second end for the same side: the reader's own random choices.
    fn reader_twin(&mut self) -> End {
        End {
            rng: fastrand::Rng::with_seed(self.rng.u64(..)),
            plan: Arc::clone(&self.plan),
            label: Arc::clone(&self.label),
            stats: Arc::clone(&self.stats),
            timer: Arc::clone(&self.timer),
            progress: Arc::clone(&self.progress),
            side: self.side,
        }
    }

    /// This end's whole part of the script.
    async fn run(mut self, flow: BoxFlow<'static>) -> Result<(), String> {
        let (mut reader, mut writer) = flow_api::split(flow);
        if let Scenario::Abort { side, after } = self.plan.scenario {
            if side == self.side {
                let mut twin = self.reader_twin();
                {
                    // Read meanwhile, until the writes are done; then drop both halves.
                    let reading = pin!(twin.read_all(&mut reader));
                    let writing = pin!(self.write_all(&mut writer, Some(after)));
                    match select(writing, reading).await {
                        Either::Left((written, _)) => written?,
                        Either::Right((read, writing)) => {
                            read?;
                            writing.await?;
                        }
                    }
                }
                self.progress.at("aborting");
                self.stats.count("abort: flow dropped without close");
                return Ok(());
            }
        }
        let read_end = if matches!(self.plan.scenario, Scenario::HalfClose { first } if first != self.side) {
            let read = self.read_all(&mut reader).await?;
            self.write_all(&mut writer, None).await?;
            read
        } else {
            let mut twin = self.reader_twin();
            let (read, written) =
                futures_util::future::join(twin.read_all(&mut reader), self.write_all(&mut writer, None)).await;
            written?;
            read?
        };
        if let ReadEnd::Early(how) = read_end {
            let how = how.map_or_else(|| "end of file".to_owned(), |kind| format!("{kind:?}"));
            self.stats.count(format!("abort: peer read {how}"));
        }
        self.progress.at("closing");
        // The read half saw the end (or the error): close need not wait for the peer.
        drop(reader);
        match writer.close_within(self.timer.sleep(Duration::from_secs(30))).await {
            Ok(()) => Ok(()),
            Err(err) if self.peer_aborts() => {
                self.stats
                    .count(format!("abort: peer's close failed: {:?}", err.kind()));
                Ok(())
            }
            Err(err) => Err(self.fail(format!("close failed: {err}"))),
        }
    }
}

/// Checks one direction's stream as it arrives.
struct Checker {
    stream_key: u64,
    sizes: Vec<usize>,
    /// The next frame the writer may have sent.
    expect: u32,
    header: Vec<u8>,
    /// The frame being read: sequence number, length, offset in its payload.
    payload: Option<(u32, usize, usize)>,
    trailer_seen: bool,
    offset: u64,
    scratch: Vec<u8>,
    cancelled_taken: u64,
    cancelled_dropped: u64,
    /// Every frame before this one is known to have arrived or not.
    resolved: u32,
}

impl Checker {
    fn new(stream_key: u64, sizes: Vec<usize>) -> Checker {
        Checker {
            stream_key,
            sizes,
            expect: 0,
            header: Vec::with_capacity(HEADER),
            payload: None,
            trailer_seen: false,
            offset: 0,
            scratch: Vec::new(),
            cancelled_taken: 0,
            cancelled_dropped: 0,
            resolved: 0,
        }
    }

    fn finished(&self) -> bool {
        self.trailer_seen && self.payload.is_none() && self.header.is_empty()
    }

    fn position(&self) -> String {
        match self.payload {
            Some((seq, len, at)) => format!("stream offset {}, frame {seq} ({len} B) at {at}", self.offset),
            None => format!(
                "stream offset {}, header of frame {} ({} of {HEADER} B)",
                self.offset,
                self.expect,
                self.header.len()
            ),
        }
    }

    fn feed(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            if self.trailer_seen {
                return Err(format!("{} bytes after the trailer at {}", data.len(), self.position()));
            }
            match self.payload {
                None => {
                    let take = (HEADER - self.header.len()).min(data.len());
                    self.header.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    self.offset += take as u64;
                    if self.header.len() == HEADER {
                        self.header_done()?;
                    }
                }
                Some((seq, len, at)) => {
                    let take = (len - at).min(data.len());
                    self.scratch.clear();
                    pattern(frame_key(self.stream_key, seq), at, take, &mut self.scratch);
                    if self.scratch[..] != data[..take] {
                        let bad = self.scratch.iter().zip(data).position(|(e, d)| e != d).unwrap_or(0);
                        return Err(format!(
                            "corrupted byte at stream offset {}: frame {seq} ({len} B) offset {}: expected {:#04x}, got {:#04x}",
                            self.offset + bad as u64,
                            at + bad,
                            self.scratch[bad],
                            data[bad]
                        ));
                    }
                    data = &data[take..];
                    self.offset += take as u64;
                    self.payload = (at + take < len).then_some((seq, len, at + take));
                    if self.payload.is_none() {
                        self.expect = seq + 1;
                    }
                }
            }
        }
        Ok(())
    }

    fn header_done(&mut self) -> Result<(), String> {
        let word = |i: usize| {
            u32::from_le_bytes([
                self.header[i],
                self.header[i + 1],
                self.header[i + 2],
                self.header[i + 3],
            ])
        };
        let (seq, len, skip_from, check) = (word(0), word(4), word(8), word(12));
        let at = self.offset - HEADER as u64;
        if check != header_check(self.stream_key, seq, len, skip_from) {
            return Err(format!(
                "corrupted header at stream offset {at} (expected frame {}): {:02x?}",
                self.expect, self.header
            ));
        }
        // Frames `skip_from..seq` were cancelled writes: each arrived whole or not at all.
        if !(skip_from <= self.expect && self.expect <= seq) {
            return Err(format!(
                "frame {seq} at stream offset {at}, expected frame {} (cancelled writes from {skip_from}): bytes lost or duplicated",
                self.expect
            ));
        }
        self.cancelled_dropped += u64::from(seq - self.expect);
        self.cancelled_taken += u64::from(self.expect.saturating_sub(skip_from.max(self.resolved)));
        self.resolved = seq;
        let count = self.sizes.len() as u32;
        let want = match seq {
            s if s < count => self.sizes[s as usize],
            s if s == count => 0,
            _ => {
                return Err(format!(
                    "frame {seq} at stream offset {at}: the script has only {count}"
                ));
            }
        };
        if len as usize != want {
            return Err(format!(
                "frame {seq} at stream offset {at} says {len} B, the script {want} B"
            ));
        }
        self.header.clear();
        if seq == count {
            self.trailer_seen = true;
            self.expect = seq + 1;
        } else if len == 0 {
            self.expect = seq + 1;
        } else {
            self.payload = Some((seq, len as usize, 0));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- runtimes

/// A runtime the pairs run on: where tasks are spawned, and its timer.
#[derive(Clone)]
enum Exec {
    Tokio(tokio::runtime::Handle),
    Smol(Arc<smol::Executor<'static>>),
}

impl Exec {
    fn spawn<T: Send + 'static>(&self, future: impl Future<Output = T> + Send + 'static) -> RemoteHandle<T> {
        let (remote, handle) = future.remote_handle();
        match self {
            Exec::Tokio(runtime) => drop(runtime.spawn(remote)),
            Exec::Smol(executor) => executor.spawn(remote).detach(),
        }
        handle
    }

    fn timer(&self) -> Arc<dyn Timer> {
        match self {
            Exec::Tokio(_) => flow_tokio::TokioTimer::shared(),
            Exec::Smol(_) => flow_smol::SmolTimer::shared(),
        }
    }
}

/// A TCP listener of one runtime whose accepted flows are matched to their
/// clients by the client's port, so that many pairs connect at once.
struct TcpHub<R: Runtime> {
    addr: std::net::SocketAddr,
    waiting: Mutex<BTreeMap<u16, Arrival<R>>>,
}

enum Arrival<R: Runtime> {
    Flow(flow_socket::TcpFlow<R>),
    Waiting(Waker),
}

impl<R: Runtime> TcpHub<R>
where
    flow_socket::TcpFlow<R>: Flow + Send + Unpin,
{
    async fn bind() -> Result<(Arc<TcpHub<R>>, flow_socket::TcpListener<R>), Error> {
        // A deep accept queue (the kernel clamps it to somaxconn): when it
        // overflows under SYN cookies, the client believes it is connected
        // and the server never hears of it, so thousands of pairs that
        // connect at once would wait for each other for ever.
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        socket.listen(65_535)?;
        socket.set_nonblocking(true)?;
        let listener = flow_socket::TcpListener::<R>::from_listener(R::tcp_listener(socket.into())?);
        let hub = Arc::new(TcpHub {
            addr: listener.local_addr()?,
            waiting: Mutex::new(BTreeMap::new()),
        });
        Ok((hub, listener))
    }

    async fn accept_loop(self: Arc<Self>, listener: flow_socket::TcpListener<R>, stats: Arc<Stats>) {
        loop {
            match listener.accept().await {
                Ok((flow, peer)) => {
                    let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(Arrival::Waiting(waker)) = waiting.insert(peer.port(), Arrival::Flow(flow)) {
                        waker.wake();
                    }
                }
                Err(err) => {
                    stats.count(format!("accept failed: {:?}", err.kind()));
                    stats.fail(format!("accepting on {}: {err}", self.addr));
                    return;
                }
            }
        }
    }

    async fn connect(&self) -> Result<(BoxFlow<'static>, BoxFlow<'static>), Error> {
        let client = flow_socket::TcpFlow::<R>::connect(self.addr).await?;
        let port = client.local_addr()?.port();
        let server = std::future::poll_fn(|cx| {
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            match waiting.remove(&port) {
                Some(Arrival::Flow(flow)) => Poll::Ready(flow),
                _ => {
                    waiting.insert(port, Arrival::Waiting(cx.waker().clone()));
                    Poll::Pending
                }
            }
        })
        .await;
        Ok((Box::pin(client), Box::pin(server)))
    }
}

enum Hub {
    Tokio(Arc<TcpHub<flow_tokio::Tokio>>),
    Smol(Arc<TcpHub<flow_smol::Smol>>),
}

impl Hub {
    async fn connect(&self) -> Result<(BoxFlow<'static>, BoxFlow<'static>), Error> {
        match self {
            Hub::Tokio(hub) => hub.connect().await,
            Hub::Smol(hub) => hub.connect().await,
        }
    }
}

/// One runtime and transport, with its share of the flows.
struct Lane {
    name: Arc<str>,
    exec: Exec,
    transport: Transport,
    hub: Option<Hub>,
    tls: Option<(TlsConnector, TlsAcceptor)>,
}

/// The transport under everything else (`Faulty`, TLS), noting each
/// byte that moves: TLS delivers nothing until a whole record is in, and a
/// faulty transport under a loaded executor brings a record in a few bytes
/// a round, so progress counted above TLS alone would take a slow pair for
/// a hung one.
struct Moved {
    inner: BoxFlow<'static>,
    progress: Arc<Progress>,
}

impl FlowRead for Moved {
    fn poll_read(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Result<Chunk, Error>> {
        let read = self.inner.as_mut().poll_read(cx);
        if let Poll::Ready(Ok(Chunk::Data(_))) = &read {
            self.progress.moved();
        }
        read
    }

    fn poll_shutdown_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Result<(), Error>> {
        self.inner.as_mut().poll_shutdown_read(cx)
    }
}

impl FlowWrite for Moved {
    fn poll_write_ready(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Result<(), WriteError>> {
        self.inner.as_mut().poll_write_ready(cx)
    }

    fn start_write(mut self: std::pin::Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        self.progress.moved();
        self.inner.as_mut().start_write(buf)
    }

    fn poll_flush(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Result<(), WriteError>> {
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_shutdown_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Result<(), Error>> {
        self.inner.as_mut().poll_shutdown_write(cx)
    }

    fn poll_close(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.as_mut().poll_close(cx)
    }
}

fn moved(inner: BoxFlow<'static>, progress: &Arc<Progress>) -> BoxFlow<'static> {
    Box::pin(Moved {
        inner,
        progress: Arc::clone(progress),
    })
}

fn faulty(flow: BoxFlow<'static>, seed: u64, chunk: usize, pending: u8) -> BoxFlow<'static> {
    Box::pin(Faulty::new(
        flow,
        FaultConfig::new(seed).max_chunk(chunk).pending_percent(pending),
    ))
}

impl Lane {
    async fn connect(
        &self,
        plan: &Plan,
        progress: &[Arc<Progress>; 2],
    ) -> Result<(BoxFlow<'static>, BoxFlow<'static>), Error> {
        let (client, server) = match &self.hub {
            Some(hub) => hub.connect().await?,
            None => {
                let (a, b) = flow_mem::pair();
                (Box::pin(a) as BoxFlow<'static>, Box::pin(b) as BoxFlow<'static>)
            }
        };
        let (mut client, mut server) = (moved(client, &progress[0]), moved(server, &progress[1]));
        if let Faults::Below(seed, chunk, pending) = plan.faults {
            // Progress is counted on both sides of `Faulty`: it hands a chunk
            // read from the transport on in small pieces, over many polls.
            client = moved(faulty(client, seed, chunk, pending), &progress[0]);
            server = moved(faulty(server, mix(seed), chunk, pending), &progress[1]);
        }
        if let Some((connector, acceptor)) = &self.tls {
            let name = flow_tls::server_name("localhost")?;
            let (c, s) =
                futures_util::future::try_join(connector.connect(name, client), acceptor.accept(server)).await?;
            client = Box::pin(c);
            server = Box::pin(s);
            if let Faults::Above(seed, chunk, pending) = plan.faults {
                client = faulty(client, seed, chunk, pending);
                server = faulty(server, mix(seed), chunk, pending);
            }
        }
        Ok((client, server))
    }

    /// One pair: connect, both ends in tasks of their own, within the deadline.
    async fn pair(self: Arc<Self>, seed: u64, stats: Arc<Stats>, limits: Limits) {
        let plan = Arc::new(Plan::new(seed, self.transport));
        let timer = self.exec.timer();
        let started = Instant::now();
        let progress = [Arc::new(Progress::new(started)), Arc::new(Progress::new(started))];
        let work = {
            let (plan, stats, progress, lane) = (
                Arc::clone(&plan),
                Arc::clone(&stats),
                progress.clone(),
                Arc::clone(&self),
            );
            async move {
                let (client, server) = lane
                    .connect(&plan, &progress)
                    .await
                    .map_err(|err| format!("{} pair seed {:#x}: connecting: {err}", lane.name, plan.seed))?;
                let ends: Vec<RemoteHandle<Result<(), String>>> = [client, server]
                    .into_iter()
                    .enumerate()
                    .map(|(side, flow)| {
                        let end = End {
                            rng: fastrand::Rng::with_seed(mix(plan.seed ^ (side as u64 + 1))),
                            plan: Arc::clone(&plan),
                            side,
                            label: Arc::clone(&lane.name),
                            stats: Arc::clone(&stats),
                            timer: lane.exec.timer(),
                            progress: Arc::clone(&progress[side]),
                        };
                        lane.exec.spawn(end.run(flow))
                    })
                    .collect();
                for result in futures_util::future::join_all(ends).await {
                    result?;
                }
                Ok::<(), String>(())
            }
        };
        // The watchdog: a pair that stops moving for `stall`, or runs past
        // `deadline` altogether, hangs.
        let watchdog = {
            let (progress, timer) = (progress.clone(), Arc::clone(&timer));
            async move {
                loop {
                    timer.sleep(Duration::from_secs(1)).await;
                    let idle = progress[0].idle().min(progress[1].idle());
                    if idle >= limits.stall {
                        return format!("made no progress for {idle:?}");
                    }
                    if started.elapsed() >= limits.deadline {
                        return format!("passed its {:?} deadline", limits.deadline);
                    }
                }
            }
        };
        stats.live.fetch_add(1, Relaxed);
        match select(pin!(work), pin!(watchdog)).await {
            Either::Left((Ok(()), _)) => {
                stats.pairs.fetch_add(1, Relaxed);
            }
            Either::Left((Err(what), _)) => stats.fail(what),
            Either::Right((why, _)) => stats.fail(format!(
                "{} pair seed {:#x} ({:?}, {:?}) {why}: client {}; server {}",
                self.name,
                plan.seed,
                plan.scenario,
                plan.faults,
                progress[0].show(),
                progress[1].show()
            )),
        }
        stats.live.fetch_sub(1, Relaxed);
    }
}

/// When a pair counts as hung.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Neither end moved (a byte read, a frame written, a step) for this long.
    stall: Duration,
    /// The whole script, connection included, took this long.
    deadline: Duration,
}

// ---------------------------------------------------------------- the ping

/// Round trips of 16 bytes on a connection of its own, every 10 ms.
async fn ping(hub: Arc<TcpHub<flow_tokio::Tokio>>, stop: Arc<AtomicBool>) -> Result<Vec<Duration>, String> {
    let (mut client, server) = hub.connect().await.map_err(|e| format!("ping: connecting: {e}"))?;
    let echo = tokio::spawn(async move {
        let mut server = server;
        while let Ok(Chunk::Data(data)) = server.read().await {
            if server.write(data).await.is_err() {
                break;
            }
        }
        let _ = server.close_within(tokio::time::sleep(Duration::from_secs(5))).await;
    });
    let mut rtts = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while !stop.load(Relaxed) {
        tick.tick().await;
        let started = Instant::now();
        client
            .write(Bytes::from_static(b"ping, flow soak!"))
            .await
            .map_err(|e| format!("ping: {e}"))?;
        let mut got = 0;
        while got < 16 {
            match client.read().await {
                Ok(Chunk::Data(data)) => got += data.len(),
                Ok(Chunk::Eof) => return Err("ping: end of file".into()),
                Err(err) => return Err(format!("ping: {err}")),
            }
        }
        rtts.push(started.elapsed());
    }
    client
        .shutdown(Shutdown::Write)
        .await
        .map_err(|e| format!("ping: {e}"))?;
    while let Ok(Chunk::Data(_)) = client.read().await {}
    drop(client);
    let _ = echo.await;
    Ok(rtts)
}

// ---------------------------------------------------------------- measurements

fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .unwrap_or(0);
    pages * rustix::param::page_size() as u64
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Raises the soft descriptor limit toward `wanted`, up to the hard limit;
/// returns the limit in force.
fn raise_fd_limit(wanted: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= wanted {
        return current;
    }
    let target = limit.maximum.map_or(wanted, |max| max.min(wanted));
    match setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        },
    ) {
        Ok(()) => target,
        Err(_) => current,
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    rss: u64,
    live: usize,
}

/// The resident-memory verdict over the load phase's samples.
struct MemoryVerdict {
    warm: u64,
    mid: u64,
    end: u64,
    slope_mib_per_min: f64,
    growth: f64,
}

/// Floors, not single samples: RSS goes up and down with the data in
/// flight, and a leak shows as a floor that keeps rising. `mid` is the
/// lowest sample in a window around the middle of the load, `end` the
/// lowest of the last samples of the same width; both only from samples
/// taken with the flows at their steady count.
fn memory_verdict(samples: &[Sample], load: Duration, flows: usize) -> Option<MemoryVerdict> {
    let steady: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.at >= load / 5 && s.live * 10 >= flows * 9)
        .collect();
    if steady.len() < 6 {
        return None;
    }
    let width = (steady.len() / 10).max(3);
    let floor = |window: &[Sample]| window.iter().map(|s| s.rss).min().unwrap_or(0);
    let warm = floor(&steady[..width]);
    let mid_at = steady.iter().position(|s| s.at >= load / 2).unwrap_or(steady.len() / 2);
    let start = mid_at.saturating_sub(width / 2).min(steady.len() - width);
    let mid = floor(&steady[start..start + width]);
    let end = floor(&steady[steady.len() - width..]);
    let half: Vec<&Sample> = steady.iter().filter(|s| s.at >= load / 2).collect();
    let slope_mib_per_min = if half.len() >= 2 {
        let n = half.len() as f64;
        let mean_t = half.iter().map(|s| s.at.as_secs_f64()).sum::<f64>() / n;
        let mean_r = half.iter().map(|s| mib(s.rss)).sum::<f64>() / n;
        let cov: f64 = half
            .iter()
            .map(|s| (s.at.as_secs_f64() - mean_t) * (mib(s.rss) - mean_r))
            .sum();
        let var: f64 = half.iter().map(|s| (s.at.as_secs_f64() - mean_t).powi(2)).sum();
        if var > 0.0 { cov / var * 60.0 } else { 0.0 }
    } else {
        0.0
    };
    // A leak raises every floor after it starts. A middle floor below the
    // warm-up's is a dip (a quiet moment, memory handed back), not where
    // growth starts: the higher of the two is the baseline.
    let base = warm.max(mid);
    let growth = if base > 0 { end as f64 / base as f64 - 1.0 } else { 0.0 };
    Some(MemoryVerdict {
        warm,
        mid,
        end,
        slope_mib_per_min,
        growth,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

// ---------------------------------------------------------------- main

fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("soak: {err}");
            return ExitCode::FAILURE;
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("soak: FAILED: {err}");
            eprintln!(
                "soak: seed {:#x}; replay the scripts with --seed {:#x}",
                options.seed, options.seed
            );
            ExitCode::FAILURE
        }
    }
}

const LANES: &[(&str, usize, Transport)] = &[
    ("tokio-tcp", 0, Transport::Tcp),
    ("tokio-tls", 0, Transport::Tls),
    ("tokio-mem", 0, Transport::Mem),
    ("smol-tcp", 1, Transport::Tcp),
    ("smol-tls", 1, Transport::Tls),
    ("smol-mem", 1, Transport::Mem),
];

fn run(options: &Options) -> Result<(), String> {
    let started = Instant::now();
    let chosen: Vec<(&str, usize, Transport)> = LANES
        .iter()
        .copied()
        .filter(|(name, _, _)| options.lanes.is_empty() || options.lanes.iter().any(|l| l == name))
        .collect();
    println!(
        "soak: seed {:#x}; {} flows for {:.1} min; a pair hangs after {:?} without progress or {:?} in all",
        options.seed,
        options.flows,
        options.load.as_secs_f64() / 60.0,
        options.stall,
        options.pair_deadline
    );
    // Two descriptors per socket pair (both ends are in this process).
    let socket_lanes = chosen.iter().filter(|(_, _, t)| *t != Transport::Mem).count().max(1);
    let per_lane = options.flows / chosen.len();
    let wanted = (per_lane * socket_lanes * 2) as u64 + SPARE_FDS;
    let limit = raise_fd_limit(wanted);
    let per_lane = if limit < wanted {
        let capped = ((limit.saturating_sub(SPARE_FDS)) / (socket_lanes as u64 * 2)) as usize;
        println!(
            "soak: the descriptor limit is {limit} (hard), {wanted} wanted: {} flows per lane, not {per_lane}",
            capped
        );
        capped
    } else {
        per_lane
    };
    let flows = per_lane * chosen.len();
    println!(
        "soak: descriptor limit {limit}; {per_lane} flows per lane on {} lanes = {flows}",
        chosen.len()
    );

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start tokio: {e}"))?;
    let smol_executor = Arc::new(smol::Executor::new());
    let (smol_stop, smol_stopped) = smol::channel::unbounded::<()>();
    let smol_threads: Vec<_> = (0..2)
        .map(|i| {
            let executor = Arc::clone(&smol_executor);
            let stopped = smol_stopped.clone();
            std::thread::Builder::new()
                .name(format!("soak-smol-{i}"))
                .spawn(move || smol::block_on(executor.run(stopped.recv())))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot start smol threads: {e}"))?;
    let execs = [
        Exec::Tokio(tokio.handle().clone()),
        Exec::Smol(Arc::clone(&smol_executor)),
    ];

    let stats = Arc::new(Stats::default());
    let pki = flow_tests::tls::pki();
    let versions = [&flow_tls::rustls::version::TLS13];
    let connector = flow_tls::TlsConnector::builder()
        .root_certificates(pki.roots())
        .protocol_versions(&versions)
        .build()
        .map_err(|e| format!("TLS client: {e}"))?
        .no_handshake_timeout();
    let acceptor = TlsAcceptor::builder(pki.server.chain(), pki.server.key())
        .protocol_versions(&versions)
        .build()
        .map_err(|e| format!("TLS server: {e}"))?
        .no_handshake_timeout();

    let mut acceptors = Vec::new();
    let mut lanes = Vec::new();
    for (name, runtime, transport) in &chosen {
        let exec = execs[*runtime].clone();
        let hub = match (transport, &exec) {
            (Transport::Mem, _) => None,
            (_, Exec::Tokio(_)) => {
                let (hub, listener) = block_on(exec.spawn(TcpHub::<flow_tokio::Tokio>::bind()))
                    .map_err(|e| format!("{name}: binding: {e}"))?;
                acceptors.push(exec.spawn(Arc::clone(&hub).accept_loop(listener, Arc::clone(&stats))));
                Some(Hub::Tokio(hub))
            }
            (_, Exec::Smol(_)) => {
                let (hub, listener) = block_on(exec.spawn(TcpHub::<flow_smol::Smol>::bind()))
                    .map_err(|e| format!("{name}: binding: {e}"))?;
                acceptors.push(exec.spawn(Arc::clone(&hub).accept_loop(listener, Arc::clone(&stats))));
                Some(Hub::Smol(hub))
            }
        };
        let tls = (*transport == Transport::Tls).then(|| (connector.clone(), acceptor.clone()));
        lanes.push(Arc::new(Lane {
            name: Arc::from(*name),
            exec,
            transport: *transport,
            hub,
            tls,
        }));
    }
    let (ping_hub, ping_listener) =
        block_on(execs[0].spawn(TcpHub::<flow_tokio::Tokio>::bind())).map_err(|e| format!("ping: binding: {e}"))?;
    acceptors.push(execs[0].spawn(Arc::clone(&ping_hub).accept_loop(ping_listener, Arc::clone(&stats))));

    let fds_start = open_fds();
    let rss_start = rss_bytes();
    println!(
        "soak: {fds_start} descriptors open, RSS {:.1} MiB before the flows",
        mib(rss_start)
    );

    // The slots: each keeps one pair alive until the time is up.
    let stop = Arc::new(AtomicBool::new(false));
    let load_started = Instant::now();
    let mut slots = Vec::new();
    for (lane_index, lane) in lanes.iter().enumerate() {
        for slot in 0..per_lane {
            let (lane, stats, stop) = (Arc::clone(lane), Arc::clone(&stats), Arc::clone(&stop));
            let (seed, replay) = (options.seed, options.pair);
            let limits = Limits {
                stall: options.stall,
                deadline: options.pair_deadline,
            };
            // The slots start over the ramp, not all at once: a burst of
            // thousands of connects overflows the accept queues.
            let delay = options.ramp.mul_f64(slot as f64 / per_lane as f64);
            let timer = lane.exec.timer();
            slots.push(lane.exec.clone().spawn(async move {
                timer.sleep(delay).await;
                for round in 0u64.. {
                    if stop.load(Relaxed) {
                        break;
                    }
                    let pair_seed = replay
                        .unwrap_or_else(|| mix(seed ^ ((lane_index as u64) << 56) ^ ((slot as u64) << 28) ^ round));
                    Arc::clone(&lane).pair(pair_seed, Arc::clone(&stats), limits).await;
                }
            }));
        }
    }
    let pinger = execs[0].spawn(ping(ping_hub, Arc::clone(&stop)));

    let mut samples = Vec::new();
    let mut next_sample = Duration::ZERO;
    let mut next_report = Duration::from_secs(10);
    let mut peak_fds = fds_start;
    while load_started.elapsed() < options.load {
        std::thread::sleep(Duration::from_millis(100));
        let at = load_started.elapsed();
        if at >= next_sample {
            next_sample += options.sample_every;
            samples.push(Sample {
                at,
                rss: rss_bytes(),
                live: stats.live.load(Relaxed),
            });
            peak_fds = peak_fds.max(open_fds());
        }
        if at >= next_report {
            next_report += Duration::from_secs(10);
            println!(
                "soak: {:>5.0} s: {} pairs live, {} done, {:.1} MiB verified, RSS {:.1} MiB, {} descriptors",
                at.as_secs_f64(),
                stats.live.load(Relaxed),
                stats.pairs.load(Relaxed),
                mib(stats.verified.load(Relaxed)),
                mib(rss_bytes()),
                open_fds()
            );
        }
    }
    let load = load_started.elapsed();
    let rss_load_end = rss_bytes();
    stop.store(true, Relaxed);
    println!("soak: time is up after {:.1} s; draining", load.as_secs_f64());

    // Drain: every slot finishes its pair (each within its own deadline).
    let drain_started = Instant::now();
    let drain_limit = options.pair_deadline + Duration::from_secs(30);
    let drained = block_on(select(
        futures_util::future::join_all(slots),
        smol::Timer::after(drain_limit),
    ));
    if let Either::Right(_) = drained {
        stats.fail(format!(
            "the slots did not drain within {drain_limit:?}; {} pairs still live",
            stats.live.load(Relaxed)
        ));
    }
    let rtts = match block_on(pinger) {
        Ok(rtts) => rtts,
        Err(err) => {
            stats.fail(err);
            Vec::new()
        }
    };
    let drain = drain_started.elapsed();

    // Settle: sockets closed by tasks on other threads may take a moment to go.
    let settle_started = Instant::now();
    let mut fds_end = open_fds();
    while fds_end > fds_start + FD_SLACK && settle_started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        fds_end = open_fds();
    }
    let rss_end = rss_bytes();

    // Report.
    let mut sorted = rtts;
    sorted.sort();
    let verdict = memory_verdict(&samples, options.load, flows);
    let mut report = String::new();
    let _ = writeln!(report, "soak: report (seed {:#x})", options.seed);
    let _ = writeln!(
        report,
        "  load {:.1} min, drain {:.1} s, total {:.1} s; {flows} flows ({per_lane} per lane: {})",
        load.as_secs_f64() / 60.0,
        drain.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        chosen.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ")
    );
    let _ = writeln!(report, "  pairs completed: {}", stats.pairs.load(Relaxed));
    let _ = writeln!(
        report,
        "  bytes sent (writes completed): {} ({:.1} MiB); bytes received and verified: {} ({:.1} MiB)",
        stats.sent.load(Relaxed),
        mib(stats.sent.load(Relaxed)),
        stats.verified.load(Relaxed),
        mib(stats.verified.load(Relaxed))
    );
    let _ = writeln!(
        report,
        "  cancelled: {} reads; {} writes taken whole, {} writes not taken",
        stats.cancelled_reads.load(Relaxed),
        stats.cancelled_writes_taken.load(Relaxed),
        stats.cancelled_writes_dropped.load(Relaxed)
    );
    let _ = writeln!(report, "  outcomes and errors by kind:");
    for (what, n) in stats.kinds.lock().unwrap_or_else(PoisonError::into_inner).iter() {
        let _ = writeln!(report, "    {what}: {n}");
    }
    match &verdict {
        Some(v) => {
            let _ = writeln!(
                report,
                "  RSS floors (MiB): warm-up {:.1}, mid {:.1}, end {:.1}: {:+.1} % over the second half; slope {:+.2} MiB/min; at the end of the load {:.1}, after the drain {:.1}",
                mib(v.warm),
                mib(v.mid),
                mib(v.end),
                v.growth * 100.0,
                v.slope_mib_per_min,
                mib(rss_load_end),
                mib(rss_end)
            );
        }
        None => {
            let _ = writeln!(
                report,
                "  RSS: too few steady samples for a verdict ({})",
                samples.len()
            );
        }
    }
    let _ = writeln!(
        report,
        "  descriptors: {fds_start} at the start, {peak_fds} at the peak, {fds_end} at the end"
    );
    let _ = writeln!(
        report,
        "  ping: {} round trips, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        sorted.len(),
        percentile(&sorted, 0.5).as_secs_f64() * 1e3,
        percentile(&sorted, 0.99).as_secs_f64() * 1e3,
        sorted.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    print!("{report}");

    // Tear down the runtimes (after the descriptor count, which they are part of).
    drop(acceptors);
    drop(smol_stop);
    for thread in smol_threads {
        let _ = thread.join();
    }
    tokio.shutdown_timeout(Duration::from_secs(5));

    let mut problems: Vec<String> = stats.failures.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let failed = stats.failed_count.load(Relaxed);
    if failed > KEPT_FAILURES as u64 {
        problems.push(format!("... {} failures in all", failed));
    }
    if let Some(v) = &verdict {
        if v.growth > RSS_GROWTH_LIMIT {
            problems.push(format!(
                "resident memory grew {:.1} % over the second half (floor {:.1} -> {:.1} MiB), more than {:.0} %",
                v.growth * 100.0,
                mib(v.warm.max(v.mid)),
                mib(v.end),
                RSS_GROWTH_LIMIT * 100.0
            ));
        }
    }
    if fds_end > fds_start + FD_SLACK {
        problems.push(format!(
            "{} descriptors leaked ({fds_start} at the start, {fds_end} at the end)",
            fds_end - fds_start
        ));
    }
    if stats.pairs.load(Relaxed) == 0 {
        problems.push("no pair completed".into());
    }
    if problems.is_empty() {
        println!("soak: passed");
        Ok(())
    } else {
        Err(format!("{} problems:\n  {}", problems.len(), problems.join("\n  ")))
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn samples(rss_mib: &[u64]) -> Vec<Sample> {
        rss_mib
            .iter()
            .enumerate()
            .map(|(i, rss)| Sample {
                at: Duration::from_secs(i as u64),
                rss: rss * 1024 * 1024,
                live: 100,
            })
            .collect()
    }

    #[test]
    fn a_rising_floor_is_growth_and_a_dip_in_the_middle_is_not() {
        let load = Duration::from_secs(50);
        // A leak: the floor rises steadily, 100 to 120 MiB.
        let leak: Vec<u64> = (0..50).map(|i| 100 + i * 20 / 49).collect();
        let verdict = memory_verdict(&samples(&leak), load, 100).expect("enough samples");
        assert!(verdict.growth > RSS_GROWTH_LIMIT, "{}", verdict.growth);
        // Flat at 132 MiB with a dip to 128 in the middle, ending at 135:
        // +2.3 % over the warm-up floor, not +5.5 % over the dip.
        let mut dip = vec![132u64; 50];
        dip[23..28].fill(128);
        dip[45..].fill(135);
        let verdict = memory_verdict(&samples(&dip), load, 100).expect("enough samples");
        assert!(verdict.growth < RSS_GROWTH_LIMIT, "{}", verdict.growth);
        assert!(verdict.growth > 0.02, "{}", verdict.growth);
    }
}
