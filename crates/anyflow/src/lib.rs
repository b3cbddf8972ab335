//! Runtime-agnostic async byte streams (*flows*), after MirageOS's
//! `Mirage_flow`: write protocol code once against [`Flow`], run it over any
//! transport. This crate re-exports the contract ([`flow_api`]) at its root
//! and each backend under its own module, behind a feature of the same name:
//!
//! | feature | module | what |
//! |---|---|---|
//! | `tokio` (default) | `tokio` | TCP and Unix socket flows on tokio |
//! | `smol` | `smol` | TCP and Unix socket flows on smol (async-io) |
//! | `async-std` | `async_std` | TCP and Unix socket flows on async-std (discontinued upstream: prefer `smol`) |
//! | `compio` | `compio` | TCP and Unix socket flows on compio: completion-based I/O (io_uring), no copies; not `Send`, Unix only, Rust 1.95 |
//! | `tls` | `tls` | TLS over any flow, with rustls and the ring provider |
//! | `quic` | `quic` | QUIC bidirectional streams as flows, on quinn with tokio (turns `tls` on too, for its settings) |
//! | `util` | `util` | copy, proxy, a buffered channel, metering; with `tokio`, adapters to and from tokio's IO traits; with `smol` or `async-std`, to and from futures-io |
//! | `splice` | `util` | with `util`: `copy(..).splice()` and `proxy(..).splice()`, the kernel relay between plain sockets (Linux `splice(2)`) |
//! | `mem` | `mem` | in-memory pairs, scripted test flows, fault injection |
//!
//! Features are additive: any combination builds, all of them included.
//!
//! # Picking the transport at run time
//!
//! [`dial`](mod@dial) connects to an address, and listens on one, whatever
//! the transport it names: `tcp://host:port`, `tls://host:port`,
//! `quic://host:port` (one QUIC stream per dial), `unix:/path`, or
//! `mem:NAME` (an in-process listener, for tests). The flows are
//! [`BoxFlow`]s, so the code around them is the same for each. The module
//! exists with any runtime feature, `mem` or `quic`; an address whose
//! transport is not compiled in fails with a message naming the feature to
//! enable.
//!
//! ```no_run
//! # #[cfg(any(feature = "tokio", feature = "smol", feature = "async-std", feature = "mem"))]
//! # async fn run() -> Result<(), anyflow::Error> {
//! use anyflow::prelude::*;
//!
//! let addr = std::env::args().nth(1).unwrap_or_else(|| "tcp://127.0.0.1:7000".into());
//! let mut flow = anyflow::dial::dial(&addr).await?; // "dialling tcp://...: connection refused"
//! flow.write("hello").await?;
//! flow.close().await
//! # }
//! ```
//!
//! ```
//! use anyflow::prelude::*;
//!
//! /// Protocol code: knows nothing of the transport.
//! async fn greet<F: Flow + Unpin>(flow: &mut F) -> Result<(), anyflow::Error> {
//!     flow.write("hello\n").await?;
//!     flow.shutdown(Shutdown::Write).await
//! }
//! ```
//!
//! The contract, clause by clause, is in `docs/contract.md` of the repository.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub use flow_api::*;

// The README's examples are compiled and run as doctests.
#[cfg(all(doctest, feature = "tokio", feature = "tls"))]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

#[cfg(any(
    feature = "tokio",
    feature = "smol",
    feature = "async-std",
    feature = "mem",
    feature = "quic"
))]
pub mod dial;

/// The tokio backend: TCP and Unix socket flows (`flow-tokio`).
#[cfg(feature = "tokio")]
pub mod tokio {
    pub use flow_tokio::*;
}

/// The smol backend: TCP and Unix socket flows on async-io (`flow-smol`).
#[cfg(feature = "smol")]
pub mod smol {
    pub use flow_smol::*;
}

/// The async-std backend: TCP and Unix socket flows (`flow-async-std`).
/// async-std is discontinued upstream; prefer the `smol` feature.
#[cfg(feature = "async-std")]
pub mod async_std {
    pub use flow_async_std::*;
}

/// The compio backend: TCP and Unix socket flows on completion-based I/O
/// (io_uring), thread-per-core and not `Send` (`flow-compio`).
#[cfg(feature = "compio")]
pub mod compio {
    pub use flow_compio::*;
}

/// TLS over any flow, with rustls (`flow-tls`).
#[cfg(feature = "tls")]
pub mod tls {
    pub use flow_tls::*;
}

/// QUIC bidirectional streams as flows, on quinn with rustls
/// (`flow-quic`, on tokio).
#[cfg(feature = "quic")]
pub mod quic {
    pub use flow_quic::*;
}

/// Combinators and adapters: copy, proxy, a buffered channel, metering,
/// tokio and futures-io adapters (`flow-util`).
#[cfg(feature = "util")]
pub mod util {
    pub use flow_util::*;
}

/// The in-memory backend and test tools (`flow-mem`).
#[cfg(feature = "mem")]
pub mod mem {
    pub use flow_mem::*;
}
