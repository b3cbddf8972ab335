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
//! | `util` | `util` | copy, proxy, a buffered channel, metering; with `tokio`, adapters to and from tokio's IO traits; with `smol` or `async-std`, to and from futures-io |
//! | `mem` | `mem` | in-memory pairs, scripted test flows, fault injection |
//!
//! Features are additive: any combination builds, all of them included.
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
