//! Deliberately broken backends: each wraps a correct [`flow_mem`] pair and
//! breaks one clause of the contract, plausibly, as real backends have.
//!
//! The suite must be able to fail, and fail on the defects that real socket,
//! TLS and QUIC backends ship, not only on defects tuned to its own tests. Each
//! [`Defect`] is one such bug, re-created over the reference memory backend
//! ([`flow_mem::MemFlow`]); where it re-creates a public issue,
//! [`Defect::upstream`] names it (`async-std#599`, `tokio#1488`...).
//!
//! - One defect per backend: apart from its defect, a [`BrokenFlow`] behaves
//!   exactly like `MemFlow` (zero-copy included), so a failing clause can be
//!   blamed on that defect.
//! - Deterministic: a defect that strikes "now and then" counts (the 100th
//!   buffer, the 8th `Pending` and every 64th after it, the byte at offset
//!   1,000,000), with fixed constants and no clock or random source, and
//!   strikes early enough to show in short tests.
//! - Both ends of a [`pair`] have the defect. Some defects show only from one
//!   side of an exchange (a drop, a close with unread data); their docs say so.
//!
//! The areas: closing and shutting down (the end of file, half-close, abort),
//! wake-ups (lost, misrouted, early), blocking, stickiness of end of file and
//! errors, data integrity, error kinds, and cancel safety at the poll level.
//! Several defects only show across tasks (a reader in one, a writer in
//! another) or at the poll level; their docs say so too.
//!
//! As a backend, a broken pair claims what the reference backend claims:
//! bounded buffers, half-close and zero-copy, for every defect, even
//! [`Defect::NoBackpressure`], whose lie about bounded buffers is its defect
//! (see [`bounded`]). `docs/contract.md` lists which clause catches each;
//! `crates/flow-conformance/tests/gallery.rs` checks that one does.
//!
//! ```
//! use flow_api::prelude::*;
//! use flow_conformance::gallery::{self, Defect};
//!
//! # fn main() -> Result<(), flow_api::Error> {
//! futures_executor::block_on(async {
//!     let (mut a, mut b) = gallery::pair(Defect::ShutdownIsNoop);
//!     a.write("hello").await?;
//!     a.shutdown(Shutdown::Write).await?; // returns Ok...
//!     a.write("more").await?; // ...but writing still works,
//!     let mut got = Vec::new();
//!     while got.len() < 9 {
//!         match b.read().await? {
//!             Chunk::Data(data) => got.extend_from_slice(&data),
//!             Chunk::Eof => break,
//!         }
//!     }
//!     assert_eq!(got, b"hellomore"); // and no end of file comes between them.
//!     Ok(())
//! })
//! # }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::mem;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker, ready};
use std::thread::{self, Thread};

use flow_api::{Bytes, Chunk, Error, ErrorKind, FlowRead, FlowWrite, WriteError};
use flow_mem::MemFlow;

/// `LostWakeupSometimes` loses the registration of every 64th `Pending`...
const LOST_WAKEUP_EVERY: u64 = 64;
/// ...starting with the 8th.
const LOST_WAKEUP_AT: u64 = 8;
/// `DuplicatesChunk` sends every 100th buffer twice.
const DUPLICATE_EVERY: u64 = 100;
/// `TruncatesLargeWrites` sends at most this much of one buffer.
const TRUNCATE_OVER: usize = 256 * 1024;
/// `CorruptsOneByte` flips a bit of the byte at this offset of each direction.
const CORRUPT_AT: u64 = 1_000_000;

macro_rules! defects {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $name:literal, $upstream:expr, $describe:literal;
    )*) => {
        /// What a deliberately broken backend gets wrong: one clause of the
        /// contract, broken the way a real backend broke it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Defect {
            $($(#[$doc])* $variant,)*
        }

        impl Defect {
            /// Every defect, in a fixed order.
            pub const ALL: &[Defect] = &[$(Defect::$variant),*];

            /// A short kebab-case name for the command line and reports
            /// (`close-sends-no-fin`...).
            pub fn name(self) -> &'static str {
                match self {
                    $(Defect::$variant => $name,)*
                }
            }

            /// One sentence: what the defect gets wrong.
            pub fn describe(self) -> &'static str {
                match self {
                    $(Defect::$variant => $describe,)*
                }
            }

            /// The public issue or pull request the defect re-creates, if any
            /// (`async-std#599`, `n0-computer/irpc#27`...).
            pub fn upstream(self) -> Option<&'static str> {
                match self {
                    $(Defect::$variant => $upstream,)*
                }
            }
        }
    };
}

defects! {
    // ----- Re-creations of public issues -----

    /// `close` only flushes and returns at once: no end of writes is signalled,
    /// so the peer never reads end of file (async-std's `TcpStream::poll_close`
    /// was a no-op).
    CloseSendsNoFin = "close-sends-no-fin", Some("async-std#599"),
        "close only flushes and returns at once, so no end of writes is signalled and the peer never reads end of file.";
    /// `shutdown(Write)` is a no-op that returns `Ok`: the peer reads no end of
    /// file and later local writes still succeed (tokio's
    /// `TcpStream::poll_shutdown` did nothing). `close` still works.
    ShutdownIsNoop = "shutdown-is-noop", Some("tokio#1488"),
        "shutdown(Write) returns Ok but does nothing: no end of file reaches the peer and later writes still succeed.";
    /// `shutdown(Write)` is treated as a full close: local reads then return
    /// end of file and what the peer sends (its reply) is discarded (moonpool's
    /// simulated TCP closed the whole endpoint).
    ShutdownWriteClosesRead = "shutdown-write-closes-read", Some("moonpool#226"),
        "shutdown(Write) also shuts down reading, so local reads return end of file and the peer's reply is lost.";
    /// A dropped end signals a clean end of writes, as `quinn` finishing a
    /// stream on drop: the peer reads end of file, not `Reset`, so a truncated
    /// message looks complete. Only the end that is dropped matters.
    DropIsCleanEof = "drop-is-clean-eof", Some("n0-computer/irpc#27"),
        "dropping an end without close makes the peer read a clean end of file instead of an error of kind Reset.";
    /// `shutdown(Write)` works, but `close` never signals the end of writes and
    /// still waits for the peer's end, so two ends that close at once both wait
    /// forever (compio's `PollFd` close).
    CloseWaitsWithoutFin = "close-waits-without-fin", Some("compio#994"),
        "close waits for the peer's end of writes without ever signalling its own, so two ends closing at once wait forever.";

    // ----- The old gallery of tests/src/broken.rs -----

    /// Every second `poll_read` returns an empty buffer.
    EmptyReads = "empty-reads", None,
        "every second read returns an empty buffer instead of data or end of file.";
    /// Holds back the last buffer written, even across a flush, and drops it on
    /// `shutdown(Write)` or close.
    LosesLastChunkOnClose = "loses-last-chunk-on-close", None,
        "holds back the last buffer written, even across a flush, and drops it on shutdown or close.";
    /// `shutdown(Write)` and close refuse later local writes, as they should,
    /// but never tell the peer: it reads no end of file.
    NoEofOnShutdown = "no-eof-on-shutdown", None,
        "shutdown(Write) and close refuse later writes but never signal end of file to the peer.";
    /// The buffers handed over before a flush go out in reverse order.
    ReordersWritev = "reorders-writev", None,
        "sends the buffers handed over before a flush in reverse order.";
    /// Every third `poll_read` takes a chunk, then answers `Pending` as if the
    /// read were still in progress: the chunk is gone.
    LosesDataOnCancel = "loses-data-on-cancel", None,
        "every third read takes a chunk and then answers Pending, so the chunk is lost.";
    /// Claims room for every write, whatever the peer reads; its pair is
    /// unbounded ([`bounded`] is false), yet it claims bounded buffers.
    NoBackpressure = "no-backpressure", None,
        "never makes a writer wait, so a peer that does not read lets memory grow without bound.";
    /// Reads after close fail with an error of kind `Closed` instead of
    /// returning end of file.
    ReadErrorAfterClose = "read-error-after-close", None,
        "reads after close fail with an error of kind Closed instead of returning end of file.";

    // ----- Wake-ups -----

    /// One waker slot for reads and writes (and close): the last task to
    /// register wins, so a reader in one task and a writer in another lose
    /// wake-ups (tokio-websockets' reader replaced its writer's waker).
    SharedWakerSlot = "shared-waker-slot", Some("Gelbpunkt/tokio-websockets#92"),
        "keeps one waker slot for reads and writes, so a reader and a writer in different tasks steal each other's wake-ups.";
    /// The 8th `Pending` answer, and every 64th after it, does not register
    /// the waker, as a readiness race in a reactor does. Shows when nothing
    /// else wakes the task, or across tasks: today only clause 16 under
    /// faults meets it.
    LostWakeupSometimes = "lost-wakeup-sometimes", None,
        "one Pending answer in 64 (the 8th, then every 64th) does not register the waker, so that wait never ends.";
    /// Keeps the first waker ever registered and ignores later ones, so a
    /// flow that moves to another task is never woken there. No clause moves
    /// a flow between tasks.
    FirstWakerOnly = "first-waker-only", None,
        "keeps the first waker it was given and ignores later ones, so a flow moved to another task is never woken.";
    /// Buffers writes until the flush, but wakes the reader when a buffer is
    /// handed over, before the data is there; the flush that makes it readable
    /// wakes nobody. A reader polled in between parks with data waiting.
    WakesBeforeUpdate = "wakes-before-update", None,
        "wakes the reader when a buffer is handed over but makes the data readable only at the flush, which wakes nobody.";
    /// `poll_write_ready` returns `Pending` under backpressure without storing
    /// the waker, so the writer is never woken when the peer reads.
    WriteReadyNoWaker = "write-ready-no-waker", None,
        "poll_write_ready returns Pending under backpressure without storing the waker, so the writer is never woken.";
    /// Only data wakes a parked reader: the peer's end of writes
    /// (`shutdown(Write)` or close) does not, nor does it wake a close that
    /// waits for it. Clauses 6, 7, 21 and 22 hang on it (two closes at
    /// once), but the time limit's own wake-up re-polls the stuck clause,
    /// which then passes late: today only clause 16 under faults fails.
    EofWakesNoReader = "eof-wakes-no-reader", None,
        "the peer's end of writes does not wake a parked reader or a waiting close: only data does.";
    /// A reader, writer or close already waiting when the peer aborts is never
    /// woken: only data and room wake them. No clause waits across an abort.
    AbortWakesNoReader = "abort-wakes-no-reader", None,
        "a read, write or close already waiting when the peer aborts is never woken.";

    // ----- Blocking -----

    /// `poll_read` blocks its thread (parks it) until data arrives instead of
    /// returning `Pending`, as a blocking socket read inside an async backend
    /// does. Only the path where a correct flow returns `Pending` blocks.
    BlockingRead = "blocking-read", None,
        "poll_read blocks its thread until data arrives instead of returning Pending.";
    /// `poll_write_ready` blocks its thread under backpressure until the peer
    /// reads, instead of returning `Pending`.
    BlockingWrite = "blocking-write", None,
        "poll_write_ready blocks its thread under backpressure instead of returning Pending.";

    // ----- Close, abort and shutdown edges -----

    /// close shuts both directions down and completes at once, without waiting
    /// for the peer's end of writes.
    CloseDoesNotWait = "close-does-not-wait", None,
        "close completes at once, without waiting for the peer to finish its writes.";
    /// Writes are buffered until the flush, and close drops what was fed but
    /// not flushed (a TLS socket that closes without flushing its records).
    /// No clause closes with data still unflushed.
    CloseDropsUnflushed = "close-drops-unflushed", Some("ktakashi/sagittarius-scheme#394"),
        "close drops the buffers fed but not yet flushed instead of sending them first.";
    /// A dropped end loses what it had already flushed: the peer gets `Reset`
    /// without the bytes in flight, as when a TCP reset purges the receive
    /// queue. No clause writes from an end before dropping it.
    DropLosesFlushed = "drop-loses-flushed", None,
        "after the peer is dropped, the data it had flushed is discarded and reads fail with Reset at once.";
    /// Writes are buffered until the flush, and close first sends them as
    /// the peer makes room, reading nothing meanwhile, before the wrapped
    /// flow's close (which discards what arrives) begins. Two ends that close
    /// at once with full buffers wait for each other for ever (flow-mem's
    /// `Faulty` and flow-util's `BufFlow` did this, and flow-tls over them
    /// hung).
    CloseWaitsForRoom = "close-waits-for-room", None,
        "close sends its queued buffers as the peer makes room, discarding nothing meanwhile, so two ends closing at once with full buffers wait for ever.";
    /// close signals the end of writes, then reads and drops what the peer
    /// sends until its end, and shuts reading down only once that came: a
    /// close whose future is dropped while it waits leaves reads returning
    /// what the peer sends after the close started (flow-socket's engine
    /// did this).
    ReadsAfterDroppedClose = "reads-after-dropped-close", None,
        "a close whose future was dropped while it waited leaves reads open, returning what the peer sends after the close started.";
    /// A second close fails with an error of kind `Closed` instead of
    /// succeeding at once.
    SecondCloseFails = "second-close-fails", None,
        "a second close fails with an error of kind Closed instead of succeeding at once.";
    /// close after the peer aborted (or that is waiting when it aborts)
    /// never completes: it waits for an end of writes that will not come.
    /// No clause closes after an abort.
    CloseHangsAfterAbort = "close-hangs-after-abort", None,
        "close after a peer abort waits forever instead of failing with Reset.";
    /// `shutdown(Read)` returns `Ok` and does nothing: reads go on returning
    /// the peer's data.
    ShutdownReadNoop = "shutdown-read-noop", None,
        "shutdown(Read) does nothing, so reads go on returning the peer's data.";
    /// After `shutdown(Read)`, reads still return the data that had already
    /// arrived, then end of file, as Linux does for `SHUT_RD`.
    ShutdownReadKeepsBuffered = "shutdown-read-keeps-buffered", None,
        "after shutdown(Read), reads still return the data that had already arrived before end of file.";
    /// `shutdown(Read)` makes local reads return end of file but does not
    /// discard what the peer sends: it piles up, and the peer blocks on
    /// backpressure once the buffer is full. No clause writes more than a
    /// buffer after a `shutdown(Read)`.
    ShutdownReadNotDiscarding = "shutdown-read-not-discarding", None,
        "shutdown(Read) ends local reads but keeps the peer's later data, so the peer blocks once the buffer is full.";
    /// One shut-down flag for both directions: the second direction's shutdown
    /// is a no-op, so `shutdown(Both)` shuts down writing only, and a
    /// `shutdown(Write)` after a `shutdown(Read)` does nothing.
    ShutdownBothOnlyWrite = "shutdown-both-only-write", None,
        "keeps one shut-down flag for both directions, so shutdown(Both) shuts down writing only.";
    /// Reads after close return the data that was in flight when the close
    /// began (a read buffer that close does not clear), then end of file.
    /// No clause reads after a close with data in flight.
    ReadsAfterCloseReturnData = "reads-after-close-return-data", None,
        "reads after close return the data that was in flight when the close began instead of end of file.";
    /// close with unread data, or data that arrives during the close, resets
    /// the connection (a close(2) that does not drain first): the peer's reads
    /// and writes fail with `Reset` instead of reading end of file and having
    /// its writes discarded.
    CloseWithUnreadResets = "close-with-unread-resets", None,
        "close with unread data resets the connection, so the peer gets Reset instead of end of file.";
    /// After `shutdown(Write)` or close, writes succeed and the data is
    /// silently discarded instead of failing with `WriteError::Closed`.
    WritesAcceptedAfterShutdown = "writes-accepted-after-shutdown", None,
        "after shutdown(Write) or close, writes succeed and are silently discarded instead of failing with Closed.";
    /// Reading the peer's end of file shuts down local writing too (a backend
    /// without half-close, closing on input shutdown): the reply cannot be
    /// sent.
    EofClosesWrite = "eof-closes-write", None,
        "reading the peer's end of file also shuts down local writing, so no reply can be sent.";
    /// close after `shutdown(Write)` fails with `Closed`: it flushes first, and
    /// flushing a shut-down direction fails.
    CloseAfterShutdownFails = "close-after-shutdown-fails", None,
        "close after shutdown(Write) fails with Closed because it flushes a direction already shut down.";
    /// `shutdown(Write)` or close fails ("not connected", kind `Closed`) once
    /// the peer has already finished writing, as OpenSSL's shutdown did after
    /// the client's FIN.
    ShutdownFailsAfterPeerFin = "shutdown-fails-after-peer-fin", Some("tokio-openssl#27"),
        "shutdown(Write) or close fails with \"not connected\" once the peer has already finished writing.";
    /// Writes are buffered until the flush, and `shutdown(Write)` signals the
    /// end without flushing them: the peer reads end of file without the
    /// last data. No clause shuts down with data still unflushed.
    ShutdownSkipsFlush = "shutdown-skips-flush", Some("webrtc-rs/webrtc#340"),
        "shutdown(Write) signals the end without flushing the buffers fed before it, which are lost.";
    /// `shutdown(Write)` waits until the peer has read everything sent, but
    /// returns `Pending` without storing the waker, so the end of writes goes
    /// out only if something else polls it again.
    ShutdownNeverWoken = "shutdown-never-woken", Some("narrowlink/ipstack#89"),
        "shutdown(Write) waits for the peer to read what was sent but never registers a waker, so it may never finish.";

    // ----- Stickiness -----

    /// End of file is not sticky: the read after it returns `Pending` forever.
    EofNotSticky = "eof-not-sticky", None,
        "end of file is returned once; the next read waits forever.";
    /// A read error is not sticky: after `Reset`, the next read returns end
    /// of file, so a truncated stream looks complete (as a socket whose error
    /// was reported once). No clause reads twice after an error.
    ReadErrorNotSticky = "read-error-not-sticky", None,
        "a read error is reported once; the next read returns a clean end of file.";
    /// A write error is not sticky: after a failed write, the next writes
    /// succeed and their data is silently lost. Local `Closed` stays sticky.
    /// No clause writes twice after a transport error.
    WriteErrorNotSticky = "write-error-not-sticky", None,
        "a write error is reported once; later writes succeed and their data is silently lost.";

    // ----- Data -----

    /// Every 100th buffer handed over is sent twice, as a resend after a
    /// misread partial write.
    DuplicatesChunk = "duplicates-chunk", None,
        "sends every 100th buffer twice.";
    /// Writes are buffered until the flush, and a flush of two or more buffers
    /// drops the last one (a vectored write that mis-advances its slices at a
    /// buffer boundary).
    DropsLastOfFlush = "drops-last-of-flush", Some("tokio#8158"),
        "a flush of several buffers drops the last of them.";
    /// A buffer over 256 KiB is cut to its first 256 KiB and the rest is
    /// silently dropped, as a single `write` whose short count is ignored.
    TruncatesLargeWrites = "truncates-large-writes", None,
        "silently sends only the first 256 KiB of a larger buffer.";
    /// An empty buffer handed over (`start_write` of zero bytes) is taken as
    /// an end-of-file marker: the peer reads end of file there, and what
    /// follows is lost. Only at the poll level: the async methods skip empty
    /// buffers, so no clause calls `start_write` with one.
    EmptyWriteIsEof = "empty-write-is-eof", None,
        "an empty buffer handed over to start_write signals end of file to the peer.";
    /// Flips a bit of the byte at offset 1,000,000 of each direction, as a
    /// reused buffer overwritten before it was sent.
    CorruptsOneByte = "corrupts-one-byte", None,
        "flips a bit of the byte at offset 1,000,000 of each direction.";
    /// Once it has received data, a read that finds nothing available returns
    /// end of file instead of `Pending` (rustls returning 0 on a partial
    /// record).
    EofWhenEmpty = "eof-when-empty", Some("rustls#159"),
        "mid-stream, a read that finds no data available returns end of file instead of Pending.";

    // ----- Errors -----

    /// A write to a closed direction fails with `WriteError::Flow` of kind
    /// `Closed` (an I/O error passed through as it is) instead of exactly
    /// `WriteError::Closed`.
    ClosedAsFlowError = "closed-as-flow-error", None,
        "writes to a closed direction fail with WriteError::Flow of kind Closed instead of exactly WriteError::Closed.";
    /// A write to a closed direction fails with kind `Other` (a broken pipe
    /// wrapped as an unknown error) instead of `WriteError::Closed`.
    ClosedAsOther = "closed-as-other", None,
        "writes to a closed direction fail with an error of kind Other instead of WriteError::Closed.";
    /// A peer abort is reported as kind `Other` (with the reset as its source)
    /// instead of `Reset`, on reads, writes and close.
    AbortAsOther = "abort-as-other", None,
        "a peer abort is reported as an error of kind Other instead of Reset.";
    /// Every error is re-created from its kind alone, so its context message
    /// and source, what actually happened, are lost. No clause checks that a
    /// backend's errors carry their detail.
    ErrorSourceLost = "error-source-lost", None,
        "errors are re-created from their kind alone, losing their context message and source.";

    // ----- Cancel safety at the poll level -----

    /// Writes are buffered until the flush, and a flush that returns `Pending`
    /// (backpressure) forgets the buffers it had not sent yet.
    FlushForgetsOnPending = "flush-forgets-on-pending", None,
        "a flush that returns Pending forgets the buffers it had not sent yet.";
    /// Writes are buffered until the flush, and a close that returns
    /// `Pending` while sending them restarts from the first buffer when
    /// called again, sending it twice. No clause closes with data unflushed.
    CloseRestarts = "close-restarts", None,
        "a close called again after Pending restarts from scratch and sends the buffers it had sent again.";
    /// `start_write` without room (not preceded by a ready
    /// `poll_write_ready`) fails with "would block" instead of taking the
    /// buffer whole. Only at the poll level: the async methods always wait
    /// for room first.
    StartWriteRefusesWhenFull = "start-write-refuses-when-full", None,
        "start_write fails with \"would block\" when the buffer is full instead of taking the buffer whole.";
    /// Writes to an aborted peer succeed and are silently discarded, forever,
    /// instead of failing with `Reset` or `Closed`.
    WritesToAbortedPeerSucceed = "writes-to-aborted-peer-succeed", Some("moonpool#204"),
        "writes to a peer that aborted succeed and are silently discarded instead of failing.";
}

impl Defect {
    /// The defect with this [name](Defect::name).
    pub fn find(name: &str) -> Option<Defect> {
        Defect::ALL.iter().copied().find(|defect| defect.name() == name)
    }

    /// Whether writes are buffered locally until the flush. A correct flow
    /// may buffer like this; these defects do, to break what comes after.
    fn stages(self) -> bool {
        matches!(
            self,
            Defect::ReordersWritev
                | Defect::DropsLastOfFlush
                | Defect::CloseDropsUnflushed
                | Defect::ShutdownSkipsFlush
                | Defect::FlushForgetsOnPending
                | Defect::CloseRestarts
                | Defect::CloseWaitsForRoom
                | Defect::WakesBeforeUpdate
        )
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether the pair of this defect really has bounded buffers. False only for
/// [`Defect::NoBackpressure`], whose pair is deliberately unbounded: that is
/// its defect. This function tells what the pair really is, so that a test of
/// the gallery itself can tell the claim from the truth.
pub fn bounded(defect: Defect) -> bool {
    defect != Defect::NoBackpressure
}

/// Two connected [`BrokenFlow`]s, both with `defect`, over a
/// [`flow_mem::pair_with_capacity`] of the default capacity (unbounded where
/// [`bounded`] says so).
pub fn pair(defect: Defect) -> (BrokenFlow, BrokenFlow) {
    let capacity = if bounded(defect) {
        flow_mem::DEFAULT_CAPACITY
    } else {
        usize::MAX
    };
    let (a, b) = flow_mem::pair_with_capacity(capacity);
    let link = Arc::new(Link::default());
    (
        BrokenFlow::new(a, 0, defect, Arc::clone(&link)),
        BrokenFlow::new(b, 1, defect, link),
    )
}

/// One end of a broken pair: a [`MemFlow`] with one [`Defect`].
///
/// A [`Flow`](flow_api::Flow) that is `Send` and `Unpin`; apart from its
/// defect, it behaves like `MemFlow`.
pub struct BrokenFlow {
    inner: MemFlow,
    defect: Defect,
    me: usize,
    link: Arc<Link>,
    /// Wakers of `link.read_relays[me]` and `link.write_relays[me]`.
    read_relay: Waker,
    write_relay: Waker,
    /// `poll_read` calls.
    polls: u64,
    /// `Pending` answers counted by `LostWakeupSometimes`.
    pendings: u64,
    /// Non-empty buffers handed over, counted by `DuplicatesChunk`.
    writes: u64,
    /// Bytes handed to the inner flow, and read from it.
    out_bytes: u64,
    in_bytes: u64,
    /// The local write buffer of the defects that buffer until the flush.
    staged: VecDeque<Bytes>,
    staged_bytes: usize,
    /// `DropsLastOfFlush` already dropped the last buffer of this flush.
    trimmed: bool,
    /// The buffer `LosesLastChunkOnClose` holds back.
    held: Option<Bytes>,
    /// Data kept back to be read after `shutdown(Read)` or close.
    kept: VecDeque<Bytes>,
    first_waker: Option<Waker>,
    write_shut: bool,
    read_shut: bool,
    close_started: bool,
    closed: bool,
    /// `ShutdownBothOnlyWrite`'s one flag for both directions.
    shut: bool,
    eof_returned: bool,
    read_failed: bool,
    write_failed: bool,
    close_hung: bool,
}

/// What the two ends of a pair share.
#[derive(Default)]
struct Link {
    state: Mutex<Shared>,
    /// Wakers handed to the inner flows in place of the task's, so that one
    /// end can mute or fire the other's.
    read_relays: [Arc<Relay>; 2],
    write_relays: [Arc<Relay>; 2],
}

#[derive(Default)]
struct Shared {
    dropped: [bool; 2],
    /// The end's close completed.
    closed: [bool; 2],
    /// The end signalled the end of its writes.
    finished: [bool; 2],
    /// The end shut down reading: what it is sent is discarded.
    discarding: [bool; 2],
    /// `CloseWithUnreadResets`: the end began closing; it reset the connection.
    closing: [bool; 2],
    reset_by: [bool; 2],
    /// `EmptyWriteIsEof`: the offset of the end's first empty buffer.
    eof_at: [Option<u64>; 2],
    /// `ShutdownNeverWoken`: bytes the end sent, and read.
    written: [u64; 2],
    read: [u64; 2],
}

/// A waker that forwards to the task's waker registered last, unless muted.
#[derive(Default)]
struct Relay {
    slot: Mutex<Option<Waker>>,
    muted: AtomicBool,
}

impl Relay {
    fn register(&self, waker: &Waker) {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    fn fire(&self) {
        let waker = self.slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn mute(&self, muted: bool) {
        self.muted.store(muted, Ordering::SeqCst);
    }
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.muted.load(Ordering::SeqCst) {
            self.fire();
        }
    }
}

/// Unparks the thread of a blocking poll.
struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Read,
    Write,
}

fn noop() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

fn reset_error() -> Error {
    Error::with_source(
        ErrorKind::Reset,
        io::Error::new(
            io::ErrorKind::ConnectionReset,
            "connection reset: the peer closed with unread data",
        ),
    )
}

fn not_connected(what: &str) -> Error {
    Error::from(io::Error::new(
        io::ErrorKind::NotConnected,
        "transport endpoint is not connected",
    ))
    .context(format!("{what}: the peer had already finished writing"))
}

impl BrokenFlow {
    fn new(inner: MemFlow, me: usize, defect: Defect, link: Arc<Link>) -> Self {
        BrokenFlow {
            read_relay: Waker::from(Arc::clone(&link.read_relays[me])),
            write_relay: Waker::from(Arc::clone(&link.write_relays[me])),
            inner,
            defect,
            me,
            link,
            polls: 0,
            pendings: 0,
            writes: 0,
            out_bytes: 0,
            in_bytes: 0,
            staged: VecDeque::new(),
            staged_bytes: 0,
            trimmed: false,
            held: None,
            kept: VecDeque::new(),
            first_waker: None,
            write_shut: false,
            read_shut: false,
            close_started: false,
            closed: false,
            shut: false,
            eof_returned: false,
            read_failed: false,
            write_failed: false,
            close_hung: false,
        }
    }

    /// The defect of this end.
    pub fn defect(&self) -> Defect {
        self.defect
    }

    fn peer(&self) -> usize {
        1 - self.me
    }

    fn inner(&mut self) -> Pin<&mut MemFlow> {
        Pin::new(&mut self.inner)
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.link.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `op` on the inner flow with the waker this defect hands it: a
    /// relay, the first waker, sometimes none, or the task's.
    fn route<T>(
        &mut self,
        cx: &mut Context<'_>,
        dir: Dir,
        mut op: impl FnMut(Pin<&mut MemFlow>, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let relay = match (self.defect, dir) {
            // One slot for both directions: the read relay serves writes too.
            (Defect::SharedWakerSlot, _) => Some(Dir::Read),
            (Defect::AbortWakesNoReader, dir) => Some(dir),
            (Defect::WakesBeforeUpdate | Defect::EofWakesNoReader | Defect::EmptyWriteIsEof, Dir::Read) => {
                Some(Dir::Read)
            }
            _ => None,
        };
        if let Some(dir) = relay {
            let (relay, waker) = match dir {
                Dir::Read => (&self.link.read_relays[self.me], &self.read_relay),
                Dir::Write => (&self.link.write_relays[self.me], &self.write_relay),
            };
            relay.register(cx.waker());
            return op(Pin::new(&mut self.inner), &mut Context::from_waker(waker));
        }
        match self.defect {
            Defect::FirstWakerOnly => {
                let waker = self.first_waker.get_or_insert_with(|| cx.waker().clone()).clone();
                op(Pin::new(&mut self.inner), &mut Context::from_waker(&waker))
            }
            Defect::LostWakeupSometimes => {
                let result = op(Pin::new(&mut self.inner), cx);
                if result.is_pending() {
                    self.pendings += 1;
                    if self.pendings % LOST_WAKEUP_EVERY == LOST_WAKEUP_AT {
                        // Registers nothing: the inner flow keeps a waker that wakes no one.
                        return op(Pin::new(&mut self.inner), &mut noop());
                    }
                }
                result
            }
            _ => op(Pin::new(&mut self.inner), cx),
        }
    }

    /// Runs `op` with the peer's read relay muted: whatever it signals to the
    /// peer's reader is lost.
    fn muting_peer<T>(&mut self, op: impl FnOnce(&mut Self) -> T) -> T {
        let relay = Arc::clone(&self.link.read_relays[self.peer()]);
        relay.mute(true);
        let result = op(self);
        relay.mute(false);
        result
    }

    fn after_read(&mut self, result: Poll<Result<Chunk, Error>>) -> Poll<Result<Chunk, Error>> {
        let Poll::Ready(result) = result else {
            if self.defect == Defect::EofWhenEmpty && self.in_bytes > 0 {
                return Poll::Ready(Ok(Chunk::Eof));
            }
            return Poll::Pending;
        };
        match result {
            Ok(Chunk::Data(buf)) => {
                self.in_bytes += buf.len() as u64;
                if self.defect == Defect::ShutdownNeverWoken {
                    self.shared().read[self.me] += buf.len() as u64;
                }
                Poll::Ready(Ok(Chunk::Data(buf)))
            }
            Ok(Chunk::Eof) => {
                match self.defect {
                    Defect::EofNotSticky => self.eof_returned = true,
                    Defect::EofClosesWrite if !self.write_shut => {
                        let _ = self.inner().poll_shutdown_write(&mut noop());
                        self.write_shut = true;
                    }
                    Defect::CloseWithUnreadResets if self.shared().reset_by[self.peer()] => {
                        return Poll::Ready(Err(reset_error()));
                    }
                    _ => {}
                }
                Poll::Ready(Ok(Chunk::Eof))
            }
            Err(err) => {
                if self.defect == Defect::ReadErrorNotSticky {
                    self.read_failed = true;
                }
                Poll::Ready(Err(self.map_err(err)))
            }
        }
    }

    fn map_err(&self, err: Error) -> Error {
        match self.defect {
            Defect::AbortAsOther if err.kind() == ErrorKind::Reset => Error::with_source(ErrorKind::Other, err),
            Defect::ErrorSourceLost => Error::new(err.kind()),
            _ => err,
        }
    }

    fn map_write_err(&self, err: WriteError) -> WriteError {
        match (self.defect, err) {
            (Defect::ClosedAsFlowError, WriteError::Closed) => WriteError::Flow(Error::new(ErrorKind::Closed)),
            (Defect::ClosedAsOther, WriteError::Closed) => WriteError::Flow(Error::with_source(
                ErrorKind::Other,
                io::Error::new(io::ErrorKind::BrokenPipe, "broken pipe"),
            )),
            (Defect::AbortAsOther | Defect::ErrorSourceLost, WriteError::Flow(err)) => {
                WriteError::from(self.map_err(err))
            }
            (_, err) => err,
        }
    }

    /// What every write-side result goes through.
    fn after_write(&mut self, result: Result<(), WriteError>) -> Result<(), WriteError> {
        let Err(err) = result else {
            return Ok(());
        };
        match self.defect {
            Defect::WritesToAbortedPeerSucceed if err.kind() == ErrorKind::Reset => Ok(()),
            Defect::WriteErrorNotSticky if !self.write_shut => {
                self.write_failed = true;
                Err(err)
            }
            _ => Err(self.map_write_err(err)),
        }
    }

    /// Polls `op` on the inner flow, parking the thread until it is ready.
    fn block_on_inner<T>(&mut self, mut op: impl FnMut(Pin<&mut MemFlow>, &mut Context<'_>) -> Poll<T>) -> T {
        let waker = Waker::from(Arc::new(Unparker(thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(result) = op(Pin::new(&mut self.inner), &mut cx) {
                return result;
            }
            thread::park();
        }
    }

    /// Moves what has already arrived into `kept`.
    fn keep_incoming(&mut self) {
        while let Poll::Ready(Ok(Chunk::Data(buf))) = self.inner().poll_read(&mut noop()) {
            self.kept.push_back(buf);
        }
    }

    /// Discards what has already arrived; whether there was any.
    fn discard_incoming(&mut self) -> bool {
        let mut any = false;
        while let Poll::Ready(Ok(Chunk::Data(_))) = self.inner().poll_read(&mut noop()) {
            any = true;
        }
        any
    }

    /// Hands `buf` to the inner flow.
    fn inner_start(&mut self, buf: Bytes) -> Result<(), WriteError> {
        let len = buf.len() as u64;
        let result = if self.defect == Defect::WakesBeforeUpdate {
            // The reader was woken when the buffer was handed over; making it
            // readable now wakes nobody.
            self.muting_peer(|this| this.inner().start_write(buf))
        } else {
            self.inner().start_write(buf)
        };
        if result.is_ok() {
            self.out_bytes += len;
            if self.defect == Defect::ShutdownNeverWoken {
                self.shared().written[self.me] += len;
            }
        }
        result
    }

    fn corrupt(&self, buf: Bytes) -> Bytes {
        let start = self.out_bytes;
        if !(start..start + buf.len() as u64).contains(&CORRUPT_AT) {
            return buf;
        }
        let mut bytes = buf.to_vec();
        if let Some(byte) = usize::try_from(CORRUPT_AT - start)
            .ok()
            .and_then(|at| bytes.get_mut(at))
        {
            *byte ^= 0x20;
        }
        Bytes::from(bytes)
    }

    /// `start_write` of the defects that buffer until the flush.
    fn stage(&mut self, buf: Bytes) -> Result<(), WriteError> {
        if self.write_shut {
            return Err(WriteError::Closed);
        }
        if buf.is_empty() {
            return Ok(());
        }
        if self.defect == Defect::WakesBeforeUpdate {
            self.link.read_relays[self.peer()].fire();
        }
        self.staged_bytes += buf.len();
        self.staged.push_back(buf);
        Ok(())
    }

    /// `poll_write_ready` of the defects that buffer until the flush: room
    /// while the local buffer is under the bound, then flush it.
    fn staged_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        if self.write_shut {
            return Poll::Ready(Err(WriteError::Closed));
        }
        if self.staged_bytes >= self.inner.capacity() {
            ready!(self.commit(cx))?;
        }
        if self.staged.is_empty() {
            return self.route(cx, Dir::Write, |f, cx| f.poll_write_ready(cx));
        }
        Poll::Ready(Ok(()))
    }

    /// Pushes the local write buffer to the inner flow, waiting for room.
    fn commit(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        match self.defect {
            Defect::ReordersWritev => {
                let batch: Vec<Bytes> = self.staged.drain(..).collect();
                self.staged_bytes = 0;
                for buf in batch.into_iter().rev() {
                    self.inner_start(buf)?;
                }
                return Poll::Ready(Ok(()));
            }
            Defect::FlushForgetsOnPending => {
                // The batch lives in this call: returning Pending drops what is left of it.
                let mut batch = mem::take(&mut self.staged);
                self.staged_bytes = 0;
                while let Some(buf) = batch.pop_front() {
                    ready!(self.route(cx, Dir::Write, |f, cx| f.poll_write_ready(cx)))?;
                    self.inner_start(buf)?;
                }
                return Poll::Ready(Ok(()));
            }
            Defect::DropsLastOfFlush if self.staged.len() > 1 && !self.trimmed => {
                if let Some(last) = self.staged.pop_back() {
                    self.staged_bytes -= last.len();
                }
                self.trimmed = true;
            }
            _ => {}
        }
        while !self.staged.is_empty() {
            ready!(self.route(cx, Dir::Write, |f, cx| f.poll_write_ready(cx)))?;
            if let Some(buf) = self.staged.pop_front() {
                self.staged_bytes -= buf.len();
                self.inner_start(buf)?;
            }
        }
        self.trimmed = false;
        Poll::Ready(Ok(()))
    }

    /// `CloseRestarts`: sends the local write buffer from its first buffer on
    /// every call, and forgets it only once all of it went out.
    fn resend_staged(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        for at in 0..self.staged.len() {
            ready!(self.route(cx, Dir::Write, |f, cx| f.poll_write_ready(cx)))?;
            if let Some(buf) = self.staged.get(at).cloned() {
                self.inner_start(buf)?;
            }
        }
        self.staged.clear();
        self.staged_bytes = 0;
        Poll::Ready(Ok(()))
    }

    /// `ReadsAfterDroppedClose`: signals the end of writes, then discards
    /// through the ordinary read path until the peer's end; the inner
    /// close (which shuts reading down) comes only then.
    fn close_reading_until_eof(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.closed {
            ready!(self.inner().poll_shutdown_write(cx))?;
            // Until the end of file, or an abort (the inner close reports it).
            while let Ok(Chunk::Data(_)) = ready!(self.inner().poll_read(cx)) {}
        }
        self.inner().poll_close(cx)
    }

    /// `CloseWaitsWithoutFin`: waits for the peer's end of writes, discarding
    /// its data, without signalling ours; then closes.
    fn close_without_fin(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.closed {
            loop {
                match ready!(self.inner().poll_read(cx)) {
                    Ok(Chunk::Data(_)) => {}
                    Ok(Chunk::Eof) => break,
                    Err(err) => return Poll::Ready(Err(err)),
                }
            }
        }
        self.inner().poll_close(cx)
    }

    fn write_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        match self.defect {
            Defect::NoEofOnShutdown if self.write_shut => return Poll::Ready(Err(WriteError::Closed)),
            Defect::WritesAcceptedAfterShutdown if self.write_shut => return Poll::Ready(Ok(())),
            Defect::WriteErrorNotSticky if self.write_failed => return Poll::Ready(Ok(())),
            Defect::CloseWithUnreadResets if self.shared().reset_by[self.peer()] => {
                return Poll::Ready(Err(WriteError::Flow(reset_error())));
            }
            Defect::NoBackpressure => {
                // Room is always claimed, whatever the bound says.
                return match self.inner().poll_write_ready(cx) {
                    Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
                    _ => Poll::Ready(Ok(())),
                };
            }
            Defect::WriteReadyNoWaker => return self.inner().poll_write_ready(&mut noop()),
            Defect::BlockingWrite => {
                if let Poll::Ready(result) = self.inner().poll_write_ready(cx) {
                    return Poll::Ready(result);
                }
                return Poll::Ready(self.block_on_inner(|f, cx| f.poll_write_ready(cx)));
            }
            defect if defect.stages() => return self.staged_ready(cx),
            _ => {}
        }
        self.route(cx, Dir::Write, |f, cx| f.poll_write_ready(cx))
    }

    fn start(&mut self, mut buf: Bytes) -> Result<(), WriteError> {
        let peer = self.peer();
        let full = self.defect == Defect::StartWriteRefusesWhenFull
            && !buf.is_empty()
            && self.inner().poll_write_ready(&mut noop()).is_pending();
        match self.defect {
            Defect::NoEofOnShutdown if self.write_shut => return Err(WriteError::Closed),
            Defect::WritesAcceptedAfterShutdown if self.write_shut => return Ok(()),
            Defect::WriteErrorNotSticky if self.write_failed => return Ok(()),
            Defect::CloseWithUnreadResets => {
                let mut shared = self.shared();
                if shared.reset_by[peer] {
                    return Err(WriteError::Flow(reset_error()));
                }
                if shared.closing[peer] && !buf.is_empty() {
                    // Data for a closed socket: it answers with a reset.
                    shared.reset_by[peer] = true;
                }
            }
            Defect::StartWriteRefusesWhenFull if full => {
                return Err(WriteError::Flow(
                    Error::with_source(ErrorKind::Other, io::Error::from(io::ErrorKind::WouldBlock))
                        .context("start_write: the send buffer is full"),
                ));
            }
            Defect::LosesLastChunkOnClose => {
                if buf.is_empty() {
                    return Ok(());
                }
                if let Some(held) = self.held.take() {
                    self.inner_start(held)?;
                }
                self.held = Some(buf);
                return Ok(());
            }
            defect if defect.stages() => return self.stage(buf),
            Defect::TruncatesLargeWrites if buf.len() > TRUNCATE_OVER => buf.truncate(TRUNCATE_OVER),
            Defect::CorruptsOneByte => buf = self.corrupt(buf),
            Defect::EmptyWriteIsEof if buf.is_empty() => {
                let offset = self.out_bytes;
                self.shared().eof_at[self.me].get_or_insert(offset);
                self.link.read_relays[peer].fire();
                return Ok(());
            }
            Defect::DuplicatesChunk if !buf.is_empty() => {
                self.writes += 1;
                if self.writes % DUPLICATE_EVERY == 0 {
                    self.inner_start(buf.clone())?;
                }
            }
            _ => {}
        }
        self.inner_start(buf)
    }
}

impl FlowRead for BrokenFlow {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let this = self.get_mut();
        this.polls += 1;
        let peer = this.peer();
        match this.defect {
            Defect::EmptyReads if this.polls % 2 == 0 => return Poll::Ready(Ok(Chunk::Data(Bytes::new()))),
            Defect::LosesDataOnCancel if this.polls % 3 == 0 => {
                // Takes a chunk (if any), then claims nothing was ready.
                if this.inner().poll_read(cx).is_ready() {
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
            Defect::ReadErrorAfterClose if this.closed => {
                return Poll::Ready(Err(Error::new(ErrorKind::Closed).context("read after close")));
            }
            Defect::EofNotSticky if this.eof_returned => return Poll::Pending,
            Defect::ReadErrorNotSticky if this.read_failed => return Poll::Ready(Ok(Chunk::Eof)),
            Defect::ShutdownReadNotDiscarding if this.read_shut => return Poll::Ready(Ok(Chunk::Eof)),
            Defect::ShutdownReadKeepsBuffered | Defect::ReadsAfterCloseReturnData => {
                if let Some(buf) = this.kept.pop_front() {
                    return Poll::Ready(Ok(Chunk::Data(buf)));
                }
            }
            Defect::EmptyWriteIsEof => {
                let eof_at = this.shared().eof_at[peer];
                if eof_at.is_some_and(|at| this.in_bytes >= at) {
                    return Poll::Ready(Ok(Chunk::Eof));
                }
            }
            Defect::DropLosesFlushed => {
                let aborted = {
                    let shared = this.shared();
                    shared.dropped[peer] && !shared.closed[peer]
                };
                if aborted {
                    // The reset purges what had arrived.
                    loop {
                        match this.inner().poll_read(cx) {
                            Poll::Ready(Ok(Chunk::Data(_))) => {}
                            other => return other,
                        }
                    }
                }
            }
            Defect::BlockingRead => {
                if let Poll::Ready(result) = this.inner().poll_read(cx) {
                    return Poll::Ready(result);
                }
                // A blocking socket read: the thread waits for data.
                return Poll::Ready(this.block_on_inner(|f, cx| f.poll_read(cx)));
            }
            _ => {}
        }
        let result = this.route(cx, Dir::Read, |f, cx| f.poll_read(cx));
        this.after_read(result)
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let result = match this.defect {
            Defect::ShutdownReadNoop => return Poll::Ready(Ok(())),
            Defect::ShutdownReadNotDiscarding => {
                this.read_shut = true;
                return Poll::Ready(Ok(()));
            }
            Defect::ShutdownBothOnlyWrite if this.shut => return Poll::Ready(Ok(())),
            Defect::ShutdownBothOnlyWrite => {
                this.shut = true;
                this.inner().poll_shutdown_read(cx)
            }
            Defect::ShutdownReadKeepsBuffered if !this.read_shut => {
                this.keep_incoming();
                this.inner().poll_shutdown_read(cx)
            }
            _ => this.inner().poll_shutdown_read(cx),
        };
        if let Poll::Ready(Ok(())) = result {
            this.read_shut = true;
            this.shared().discarding[this.me] = true;
        }
        result.map(|r| r.map_err(|err| this.map_err(err)))
    }
}

impl FlowWrite for BrokenFlow {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        let result = this.write_ready(cx);
        result.map(|r| this.after_write(r))
    }

    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        let this = self.get_mut();
        let result = this.start(buf);
        this.after_write(result)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        let result = match this.defect {
            Defect::WriteErrorNotSticky if this.write_failed => Poll::Ready(Ok(())),
            defect if defect.stages() => match this.commit(cx) {
                Poll::Ready(Ok(())) => this.inner().poll_flush(cx),
                other => other,
            },
            _ => this.inner().poll_flush(cx),
        };
        result.map(|r| this.after_write(r))
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let (me, peer) = (this.me, this.peer());
        let result = match this.defect {
            Defect::ShutdownIsNoop => return this.inner().poll_flush(cx).map(|r| r.map_err(Error::from)),
            Defect::NoEofOnShutdown => {
                // Refuses later writes, as it should, but never tells the peer.
                this.write_shut = true;
                return Poll::Ready(Ok(()));
            }
            Defect::ShutdownWriteClosesRead => {
                ready!(this.inner().poll_shutdown_write(cx))?;
                this.read_shut = true;
                this.shared().discarding[me] = true;
                this.inner().poll_shutdown_read(cx)
            }
            Defect::ShutdownBothOnlyWrite if this.shut => return Poll::Ready(Ok(())),
            Defect::ShutdownBothOnlyWrite => {
                this.shut = true;
                this.inner().poll_shutdown_write(cx)
            }
            Defect::ShutdownFailsAfterPeerFin if !this.write_shut && this.shared().finished[peer] => {
                return Poll::Ready(Err(not_connected("shutdown(Write)")));
            }
            Defect::ShutdownNeverWoken if !this.write_shut => {
                let unread = {
                    let shared = this.shared();
                    shared.written[me] > shared.read[peer] && !shared.discarding[peer] && !shared.dropped[peer]
                };
                if unread {
                    // Waits for the peer to read everything, and registers no waker for it.
                    return Poll::Pending;
                }
                this.inner().poll_shutdown_write(cx)
            }
            Defect::LosesLastChunkOnClose => {
                this.held = None;
                this.inner().poll_shutdown_write(cx)
            }
            Defect::ShutdownSkipsFlush => {
                this.staged.clear();
                this.staged_bytes = 0;
                this.inner().poll_shutdown_write(cx)
            }
            defect if defect.stages() => {
                ready!(this.commit(cx))?;
                this.inner().poll_shutdown_write(cx)
            }
            Defect::EofWakesNoReader => this.muting_peer(|this| this.inner().poll_shutdown_write(cx)),
            _ => this.inner().poll_shutdown_write(cx),
        };
        if let Poll::Ready(Ok(())) = result {
            this.write_shut = true;
            this.shared().finished[me] = true;
        }
        result.map(|r| r.map_err(|err| this.map_err(err)))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let (me, peer) = (this.me, this.peer());
        let result = match this.defect {
            Defect::CloseSendsNoFin => return this.inner().poll_flush(cx).map(|r| r.map_err(Error::from)),
            Defect::NoEofOnShutdown => {
                this.write_shut = true;
                return Poll::Ready(Ok(()));
            }
            Defect::SecondCloseFails if this.closed => {
                return Poll::Ready(Err(
                    Error::new(ErrorKind::Closed).context("close: the flow is already closed")
                ));
            }
            Defect::CloseAfterShutdownFails if this.write_shut && !this.close_started => {
                // The close begins with a flush, which fails on a shut-down direction.
                return Poll::Ready(Err(Error::from(WriteError::Closed)));
            }
            Defect::ShutdownFailsAfterPeerFin
                if !this.write_shut && !this.close_started && this.shared().finished[peer] =>
            {
                return Poll::Ready(Err(not_connected("close")));
            }
            Defect::CloseWaitsWithoutFin => this.close_without_fin(cx),
            Defect::ReadsAfterDroppedClose => this.close_reading_until_eof(cx),
            Defect::CloseDoesNotWait => {
                if !this.closed {
                    ready!(this.inner().poll_shutdown_write(cx))?;
                    ready!(this.inner().poll_shutdown_read(cx))?;
                }
                Poll::Ready(Ok(()))
            }
            Defect::CloseHangsAfterAbort => {
                if this.close_hung {
                    return Poll::Pending;
                }
                match this.inner().poll_close(cx) {
                    Poll::Ready(Err(err)) if err.kind() == ErrorKind::Reset => {
                        // Still waiting for an end of writes that will never come.
                        this.close_hung = true;
                        return Poll::Pending;
                    }
                    other => other,
                }
            }
            Defect::ReadsAfterCloseReturnData => {
                if !this.close_started {
                    this.close_started = true;
                    this.keep_incoming();
                }
                this.inner().poll_close(cx)
            }
            Defect::CloseWithUnreadResets => {
                if !this.close_started {
                    this.close_started = true;
                    let unread = this.discard_incoming();
                    let mut shared = this.shared();
                    shared.closing[me] = true;
                    shared.reset_by[me] |= unread;
                }
                match this.inner().poll_close(cx) {
                    Poll::Ready(Ok(())) if this.shared().reset_by[peer] => Poll::Ready(Err(reset_error())),
                    other => other,
                }
            }
            Defect::LosesLastChunkOnClose => {
                this.held = None;
                this.inner().poll_close(cx)
            }
            Defect::CloseDropsUnflushed => {
                this.staged.clear();
                this.staged_bytes = 0;
                this.inner().poll_close(cx)
            }
            Defect::CloseRestarts => {
                ready!(this.resend_staged(cx))?;
                this.inner().poll_close(cx)
            }
            defect if defect.stages() => {
                ready!(this.commit(cx))?;
                this.route(cx, Dir::Read, |f, cx| f.poll_close(cx))
            }
            Defect::EofWakesNoReader => this.muting_peer(|this| this.route(cx, Dir::Read, |f, cx| f.poll_close(cx))),
            _ => this.route(cx, Dir::Read, |f, cx| f.poll_close(cx)),
        };
        this.close_started = true;
        this.write_shut = true;
        // A close signals the end of writes at once, except the one that waits without doing so.
        let signalled = this.defect != Defect::CloseWaitsWithoutFin || result.is_ready();
        let mut shared = this.shared();
        shared.finished[me] |= signalled;
        if let Poll::Ready(Ok(())) = result {
            shared.closed[me] = true;
            shared.discarding[me] = true;
            drop(shared);
            this.closed = true;
            this.read_shut = true;
        }
        result.map(|r| r.map_err(|err| this.map_err(err)))
    }
}

impl Drop for BrokenFlow {
    fn drop(&mut self) {
        let (me, peer) = (self.me, self.peer());
        match self.defect {
            Defect::DropIsCleanEof if !self.closed => {
                // Finishes the stream on drop, as if the writer were done.
                let _ = self.inner().poll_shutdown_write(&mut noop());
            }
            Defect::AbortWakesNoReader => {
                // The inner flow's drop wakes the peer; those wake-ups are lost.
                self.link.read_relays[peer].mute(true);
                self.link.write_relays[peer].mute(true);
            }
            _ => {}
        }
        self.shared().dropped[me] = true;
    }
}

impl fmt::Debug for BrokenFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokenFlow")
            .field("defect", &self.defect.name())
            .field("end", &self.me)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}
