//! The lock that hands wakers between the tasks using a TLS flow and the
//! underlying flow's wake-ups: std's, or loom's under `--cfg loom`, so that
//! the loom models check the very code the flow runs. (The fan-out waker
//! stays in a std `Arc`: a `Waker` is made from one.)

#[cfg(loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(not(loom))]
pub(crate) use std::sync::Mutex;
