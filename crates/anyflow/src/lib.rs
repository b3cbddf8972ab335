//! Runtime-agnostic async byte streams (*flows*), after MirageOS's
//! `Mirage_flow`: write protocol code once against [`Flow`], run it over any
//! transport. This crate re-exports the contract ([`flow_api`]) at its root
//! and each backend under its own module, behind a feature of the same name:
//!
//! | feature | module | what |
//! |---|---|---|
//! | `tokio` (default) | [`tokio`] | TCP and Unix socket flows on tokio |
//! | `mem` | [`mem`] | in-memory pairs, scripted test flows, fault injection |
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

/// The tokio backend: TCP and Unix socket flows (`flow-tokio`).
#[cfg(feature = "tokio")]
pub mod tokio {
    pub use flow_tokio::*;
}

/// The in-memory backend and test tools (`flow-mem`).
#[cfg(feature = "mem")]
pub mod mem {
    pub use flow_mem::*;
}
