//! An echo server and client on tokio, through `anyflow`.
//!
//! ```sh
//! cargo run -p anyflow --features tokio --example tokio_echo -- server 127.0.0.1:7000
//! cargo run -p anyflow --features tokio --example tokio_echo -- client 127.0.0.1:7000 hello
//! cargo run -p anyflow --features tokio --example tokio_echo            # both, in one process
//! ```

#[path = "shared/echo.rs"]
mod echo;

pub(crate) use anyflow::tokio::{TcpFlow, TcpListener};

echo::echo_example!("tokio_echo", tokio_block_on);

/// A current-thread tokio runtime for the example.
fn tokio_block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("cannot start tokio: {err}"),
    }
}
