//! An echo server and client on tokio, through `anyflow`.
//!
//! ```sh
//! cargo run -p anyflow --example tokio_echo -- server 127.0.0.1:7000
//! cargo run -p anyflow --example tokio_echo -- client 127.0.0.1:7000 hello
//! cargo run -p anyflow --example tokio_echo            # both, in one process
//! ```

use anyflow::prelude::*;
use anyflow::tokio::{TcpFlow, TcpListener};

/// Echoes what one client sends until its end of file, then closes.
pub(crate) async fn serve_one(listener: &TcpListener) -> Result<u64, anyflow::Error> {
    let (mut flow, _peer) = listener.accept().await?;
    let mut echoed = 0;
    while let Chunk::Data(bytes) = flow.read().await? {
        echoed += bytes.len() as u64;
        flow.write(bytes).await?;
    }
    flow.close().await?;
    Ok(echoed)
}

/// Sends `message`, half-closes, and returns everything echoed back.
pub(crate) async fn client(addr: std::net::SocketAddr, message: &[u8]) -> Result<Vec<u8>, anyflow::Error> {
    let mut flow = TcpFlow::connect(addr).await?;
    flow.write(Bytes::copy_from_slice(message)).await?;
    flow.shutdown(Shutdown::Write).await?;
    let mut echo = Vec::new();
    while let Chunk::Data(bytes) = flow.read().await? {
        echo.extend_from_slice(&bytes);
    }
    flow.close().await?;
    Ok(echo)
}

#[allow(dead_code)] // The tests include this file for the functions above.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["server", addr] => {
            let listener = TcpListener::bind(*addr).await?;
            println!("listening on {}", listener.local_addr()?);
            loop {
                let echoed = serve_one(&listener).await?;
                println!("echoed {echoed} bytes");
            }
        }
        ["client", addr, message] => {
            let echo = client(addr.parse()?, message.as_bytes()).await?;
            println!("{}", String::from_utf8_lossy(&echo));
        }
        [] => {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let (served, echo) = tokio::join!(serve_one(&listener), client(addr, b"hello, flow"));
            println!(
                "server echoed {} bytes; client got {:?}",
                served?,
                String::from_utf8_lossy(&echo?)
            );
        }
        _ => return Err("usage: tokio_echo [server ADDR | client ADDR MESSAGE]".into()),
    }
    Ok(())
}
