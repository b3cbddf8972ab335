//! An echo server and client on smol, through `anyflow`.
//!
//! ```sh
//! cargo run -p anyflow --features smol --example smol_echo -- server 127.0.0.1:7000
//! cargo run -p anyflow --features smol --example smol_echo -- client 127.0.0.1:7000 hello
//! cargo run -p anyflow --features smol --example smol_echo            # both, in one process
//! ```

#[path = "shared/echo.rs"]
mod echo;

pub(crate) use anyflow::smol::{TcpFlow, TcpListener};

echo::echo_example!("smol_echo", smol::block_on);
