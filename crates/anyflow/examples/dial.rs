//! An echo server and client whose transport is picked at run time, from
//! an address on the command line: `tcp://host:port`, `unix:/path`, and
//! with the features, `tls://host:port` and `quic://host:port` (client: the
//! platform's trust roots; QUIC's ALPN is `flow`) and `mem:NAME` (in one
//! process).
//!
//! ```sh
//! cargo run -p anyflow --example dial -- server tcp://127.0.0.1:7000
//! cargo run -p anyflow --example dial -- client tcp://127.0.0.1:7000 hello
//! cargo run -p anyflow --example dial -- server unix:/tmp/echo.sock
//! cargo run -p anyflow --example dial -- client unix:/tmp/echo.sock hello
//! cargo run -p anyflow --example dial                  # both, in one process
//! ```

#[path = "shared/echo.rs"]
#[allow(dead_code, unused_imports, unused_macros)] // The runtimes' examples use the rest.
mod echo;

use anyflow::dial::{self, Listener};

/// Accepts one client and echoes what it sends until its end of file.
/// Returns how many bytes it echoed.
pub(crate) async fn serve_one(listener: &Listener) -> Result<u64, anyflow::Error> {
    let (flow, peer) = listener.accept().await?;
    let echoed = echo::echo(flow).await?;
    eprintln!("echoed {echoed} bytes to {peer}");
    Ok(echoed)
}

/// Dials `addr`, sends `message`, half-closes, and returns the echo.
pub(crate) async fn client(addr: &str, message: &[u8]) -> Result<Vec<u8>, anyflow::Error> {
    echo::ask(dial::dial(addr).await?, message).await
}

#[allow(dead_code)] // The tests include this file for the functions above.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}"); // "error: dialling tcp://127.0.0.1:1: ...: connection refused"
            std::process::ExitCode::FAILURE
        }
    }
}

/// Does what the command line asks.
#[allow(dead_code)]
fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["server", addr] => {
                let listener = dial::listen(*addr).await?;
                println!("listening on {}", listener.local_addr());
                loop {
                    serve_one(&listener).await?;
                }
            }
            ["client", addr, message] => {
                let echo = client(addr, message.as_bytes()).await?;
                println!("{}", String::from_utf8_lossy(&echo));
            }
            [] => {
                let listener = dial::listen("tcp://127.0.0.1:0").await?;
                let addr = listener.local_addr().to_string();
                let (served, echo) = futures_util::future::join(serve_one(&listener), client(&addr, b"hello")).await;
                println!(
                    "over {addr}: server echoed {} bytes; client got {:?}",
                    served?,
                    String::from_utf8_lossy(&echo?)
                );
            }
            _ => return Err("usage: dial [server ADDRESS | client ADDRESS MESSAGE]".into()),
        }
        Ok(())
    })
}
