//! An echo server and client on compio (io_uring), through `anyflow`: the
//! same echo protocol as the other runtimes' examples, over flows whose
//! reads and writes hand owned buffers to the kernel.
//!
//! ```sh
//! cargo run -p anyflow --features compio --example compio_echo -- server 127.0.0.1:7000
//! cargo run -p anyflow --features compio --example compio_echo -- client 127.0.0.1:7000 hello
//! cargo run -p anyflow --features compio --example compio_echo            # both, in one process
//! ```

#[path = "shared/echo.rs"]
mod echo;

pub(crate) use anyflow::compio::{TcpFlow, TcpListener};

/// Runs `future` on a fresh compio runtime (one per thread, io_uring on Linux).
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match compio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("cannot start a compio runtime: {err}"),
    }
}

echo::echo_example!("compio_echo", block_on);
