//! An echo server and client on async-std, through `anyflow`.
//!
//! ```sh
//! cargo run -p anyflow --features async-std --example async_std_echo -- server 127.0.0.1:7000
//! cargo run -p anyflow --features async-std --example async_std_echo -- client 127.0.0.1:7000 hello
//! cargo run -p anyflow --features async-std --example async_std_echo            # both, in one process
//! ```

#[path = "shared/echo.rs"]
mod echo;

pub(crate) use anyflow::async_std::{TcpFlow, TcpListener};

echo::echo_example!("async_std_echo", async_std::task::block_on);
