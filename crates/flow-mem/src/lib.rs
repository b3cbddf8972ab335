//! The in-memory reference backend of the flow contract, and test tools for
//! any flow.
//!
//! - [`pair`] and [`pair_with_capacity`]: two connected [`MemFlow`]s. Zero-copy
//!   for buffers of [`ZERO_COPY_MIN`] bytes or more: the reader gets the very
//!   [`Bytes`](flow_api::Bytes) the writer handed over. Smaller writes are
//!   copied into a shared chunk that one read takes whole. A buffer bound
//!   gives backpressure.
//! - [`Scripted`]: a one-way test flow, like mirage's `F`: reads come from a
//!   fixed list of chunks and writes are recorded, for unit-testing protocol
//!   code.
//! - [`Faulty`]: wraps any flow and splits its reads and writes into seeded
//!   random chunk sizes (down to one byte), interleaves `Pending`, and injects
//!   an error after N bytes: what real networks do to data.
//!
//! No executor or timer is needed: it runs under any runtime.
//!
//! ```
//! use flow_api::prelude::*;
//!
//! # fn main() -> Result<(), flow_api::Error> {
//! futures_executor::block_on(async {
//!     let (mut client, mut server) = flow_mem::pair();
//!     client.write("hello").await?;
//!     client.shutdown(Shutdown::Write).await?;
//!     assert_eq!(server.read().await?, Chunk::Data(Bytes::from("hello")));
//!     assert_eq!(server.read().await?, Chunk::Eof);
//!     Ok(())
//! })
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod faulty;
mod pair;
mod scripted;
mod sync;

pub use crate::faulty::{FaultConfig, Faulty};
pub use crate::pair::{DEFAULT_CAPACITY, MemFlow, ZERO_COPY_MIN, pair, pair_with_capacity};
pub use crate::scripted::{Recorder, Scripted};
