//! Loom models of flow-tls's waker fan-out (`crates/flow-tls/src/wakers.rs`),
//! in `tests/loom_tls.rs`; nothing to use here.
//!
//! They live in a crate of their own because a loom build sets `--cfg loom`
//! for every crate of the build, and some of flow-tls's dev-dependencies
//! (async-io, under smol and async-std) do not build with it. This crate
//! depends on no runtime. The models of the in-memory pair and of the split
//! socket halves stay beside their code (`crates/flow-mem/tests/loom_pair.rs`,
//! `crates/flow-socket/tests/loom_split.rs`).
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p flow-loom --release`, or
//! `cargo xtask loom`.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
