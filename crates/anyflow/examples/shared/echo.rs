//! The echo protocol of the examples, written once against the flow
//! contract: each runtime's example only accepts and connects.

use anyflow::prelude::*;

/// Echoes what the peer sends until its end of file, then closes.
/// Returns how many bytes it echoed.
pub(crate) async fn echo<F: Flow + Unpin>(mut flow: F) -> Result<u64, anyflow::Error> {
    let mut echoed = 0;
    while let Chunk::Data(bytes) = flow.read().await? {
        echoed += bytes.len() as u64;
        flow.write(bytes).await?; // handed over, not copied
    }
    flow.close().await?;
    Ok(echoed)
}

/// Sends `message`, half-closes, and returns everything echoed back.
pub(crate) async fn ask<F: Flow + Unpin>(mut flow: F, message: &[u8]) -> Result<Vec<u8>, anyflow::Error> {
    flow.write(Bytes::copy_from_slice(message)).await?;
    flow.shutdown(Shutdown::Write).await?;
    let mut echo = Vec::new();
    while let Chunk::Data(bytes) = flow.read().await? {
        echo.extend_from_slice(&bytes);
    }
    flow.close().await?;
    Ok(echo)
}

/// What the command line asks for.
pub(crate) enum Mode {
    /// Serve clients one after another on this address.
    Server(String),
    /// Send a message to this address and print the echo.
    Client(std::net::SocketAddr, String),
    /// Both, in one process, on a free port.
    Demo,
}

impl Mode {
    /// Parses `server ADDR`, `client ADDR MESSAGE` or nothing.
    pub(crate) fn from_args(example: &str) -> Result<Mode, Box<dyn std::error::Error>> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["server", addr] => Ok(Mode::Server((*addr).to_owned())),
            ["client", addr, message] => Ok(Mode::Client(addr.parse()?, (*message).to_owned())),
            [] => Ok(Mode::Demo),
            _ => Err(format!("usage: {example} [server ADDR | client ADDR MESSAGE]").into()),
        }
    }
}

/// Defines `serve_one`, `client` and `main` for a runtime whose module has
/// `TcpFlow` and `TcpListener` (in scope where it expands) and whose
/// `block_on` is given.
macro_rules! echo_example {
    ($name:literal, $block_on:path) => {
        /// Accepts one client and echoes it.
        pub(crate) async fn serve_one(listener: &TcpListener) -> Result<u64, anyflow::Error> {
            let (flow, _peer) = listener.accept().await?;
            echo::echo(flow).await
        }

        /// Connects, sends `message`, and returns the echo.
        pub(crate) async fn client(addr: std::net::SocketAddr, message: &[u8]) -> Result<Vec<u8>, anyflow::Error> {
            echo::ask(TcpFlow::connect(addr).await?, message).await
        }

        #[allow(dead_code)] // The tests include this file for the functions above.
        fn main() -> Result<(), Box<dyn std::error::Error>> {
            $block_on(async {
                match echo::Mode::from_args($name)? {
                    echo::Mode::Server(addr) => {
                        let listener = TcpListener::bind(addr).await?;
                        println!("listening on {}", listener.local_addr()?);
                        loop {
                            println!("echoed {} bytes", serve_one(&listener).await?);
                        }
                    }
                    echo::Mode::Client(addr, message) => {
                        println!(
                            "{}",
                            String::from_utf8_lossy(&client(addr, message.as_bytes()).await?)
                        );
                    }
                    echo::Mode::Demo => {
                        let listener = TcpListener::bind("127.0.0.1:0").await?;
                        let addr = listener.local_addr()?;
                        let (served, echo) =
                            futures_util::future::join(serve_one(&listener), client(addr, b"hello, flow")).await;
                        println!(
                            "server echoed {} bytes; client got {:?}",
                            served?,
                            String::from_utf8_lossy(&echo?)
                        );
                    }
                }
                Ok::<(), Box<dyn std::error::Error>>(())
            })
        }
    };
}
pub(crate) use echo_example;
