//! The synchronisation primitives that coordinate the two ends of a pair:
//! std's, or loom's under `--cfg loom`, so that the loom models
//! (`tests/loom_pair.rs`) check the very code the pair runs.

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
