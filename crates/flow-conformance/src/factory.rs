//! What a backend gives the suite: connected pairs and its capabilities.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use flow_api::{Error, Flow};
use flow_mem::{FaultConfig, Faulty};

/// Makes connected pairs of flows for the suite.
///
/// The two ends may be of different types and even different backends (a
/// TLS client and a TLS server, a tokio client and a smol server). Data
/// written on one end must be read on the other. The ends need not be
/// `Send`: a backend whose flows are not runs every clause but the `Send`
/// check.
pub trait Factory {
    /// The connecting end.
    type Client: Flow + Unpin + 'static;
    /// The accepting end.
    type Server: Flow + Unpin + 'static;

    /// Makes a fresh connected pair.
    ///
    /// # Errors
    ///
    /// Whatever prevents connecting; the clause then fails with it.
    fn connect(&self) -> impl Future<Output = Result<(Self::Client, Self::Server), Error>>;

    /// What the backend can do; clauses that need a capability it lacks are
    /// reported not applicable, with the reason.
    fn capabilities(&self) -> Capabilities;

    /// Called by the suite before each clause with the clause's seed, so
    /// that a factory with random choices of its own (like [`FaultyFactory`])
    /// makes the same choices whenever that clause is replayed, whatever ran
    /// before it. The default does nothing.
    fn reseed(&self, seed: u64) {
        let _ = seed;
    }
}

/// What a backend can do, for the clauses that depend on it.
///
/// Start from [`Capabilities::new`] (everything a socket can do) and turn off
/// what the backend lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub(crate) bounded: bool,
    pub(crate) half_close: bool,
    pub(crate) zero_copy: bool,
    pub(crate) abort_visible: bool,
}

impl Capabilities {
    /// Bounded buffers and half-close, no zero-copy: what a socket does.
    pub const fn new() -> Self {
        Capabilities {
            bounded: true,
            half_close: true,
            zero_copy: false,
            abort_visible: false,
        }
    }

    /// Whether dropping an end without closing it is visible to the peer as
    /// an abort (an error of kind `Reset` or `Truncated`), not as a clean end
    /// of file (clause 26). Memory, TLS and QUIC can tell the two apart; a
    /// plain TCP socket dropped with nothing left to read sends a FIN, so
    /// it cannot.
    #[must_use]
    pub const fn abort_visible(mut self, yes: bool) -> Self {
        self.abort_visible = yes;
        self
    }

    /// Whether a writer to a peer that does not read eventually waits
    /// (clause 10).
    #[must_use]
    pub const fn bounded(mut self, yes: bool) -> Self {
        self.bounded = yes;
        self
    }

    /// Whether a side that shut down writing can still read the peer's reply
    /// (clause 4). TLS 1.2 cannot.
    #[must_use]
    pub const fn half_close(mut self, yes: bool) -> Self {
        self.half_close = yes;
        self
    }

    /// Whether the reader gets the writer's very allocation (clause 20).
    #[must_use]
    pub const fn zero_copy(mut self, yes: bool) -> Self {
        self.zero_copy = yes;
        self
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::new()
    }
}

/// Wraps another factory's ends in [`Faulty`]: seeded random chunking down to
/// single bytes and interleaved `Pending`, what real networks do to data.
///
/// The fault seed of each pair derives from the seed of the clause being
/// run (see [`Factory::reseed`]) and the pair's number within the clause, so
/// a failure under faults replays from the clause and the base seed alone.
#[derive(Debug)]
pub struct FaultyFactory<F> {
    inner: F,
    seed: AtomicU64,
    next: AtomicU64,
    max_chunk: usize,
}

impl<F> FaultyFactory<F> {
    /// Wraps `inner`; fault seeds derive from `seed`.
    pub fn new(inner: F, seed: u64) -> Self {
        FaultyFactory {
            inner,
            seed: AtomicU64::new(seed),
            next: AtomicU64::new(0),
            max_chunk: 64 * 1024,
        }
    }

    /// Largest chunk passed through (default 64 KiB, log-uniform from 1 byte).
    #[must_use]
    pub fn max_chunk(mut self, max_chunk: usize) -> Self {
        self.max_chunk = max_chunk;
        self
    }

    /// The seed fault seeds derive from.
    pub fn seed(&self) -> u64 {
        self.seed.load(Ordering::Relaxed)
    }

    fn config(&self) -> FaultConfig {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        FaultConfig::new(self.seed().wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15))).max_chunk(self.max_chunk)
    }
}

impl<F: Factory> Factory for FaultyFactory<F> {
    type Client = Faulty<F::Client>;
    type Server = Faulty<F::Server>;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), Error> {
        let (client, server) = self.inner.connect().await?;
        Ok((Faulty::new(client, self.config()), Faulty::new(server, self.config())))
    }

    fn capabilities(&self) -> Capabilities {
        // Splitting buffers makes zero-copy unobservable; the rest carries over.
        self.inner.capabilities().zero_copy(false)
    }

    fn reseed(&self, seed: u64) {
        self.seed.store(seed, Ordering::Relaxed);
        self.next.store(0, Ordering::Relaxed);
        self.inner.reseed(seed);
    }
}

impl<F: Factory> Factory for &F {
    type Client = F::Client;
    type Server = F::Server;

    fn connect(&self) -> impl Future<Output = Result<(Self::Client, Self::Server), Error>> {
        (**self).connect()
    }

    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }

    fn reseed(&self, seed: u64) {
        (**self).reseed(seed);
    }
}
