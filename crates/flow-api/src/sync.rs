//! The lock the halves of a [`split`](crate::split) flow share: std's, or
//! loom's under `--cfg loom`, so that the loom models
//! (`tests/loom_split.rs`) check the very code the halves run.

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
