//! Runs the examples' own code: each echo server against its client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Every example runs under this limit, so a hang fails.
#[allow(dead_code)] // Unused when no runtime feature is on.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

#[cfg(feature = "tokio")]
#[path = "../examples/tokio_echo.rs"]
mod tokio_echo;

#[cfg(feature = "tokio")]
#[test]
fn tokio_echo_server_and_client() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = anyflow::tokio::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let message: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (served, echo) = tokio::time::timeout(LIMIT, async {
            tokio::join!(tokio_echo::serve_one(&listener), tokio_echo::client(addr, &message))
        })
        .await
        .expect("the echo hung");
        assert_eq!(served.unwrap(), message.len() as u64);
        assert_eq!(echo.unwrap(), message);
    });
}

#[cfg(feature = "mem")]
#[test]
fn mem_pairs_through_the_facade() {
    use anyflow::prelude::*;
    futures_executor::block_on(async {
        let (mut a, mut b) = anyflow::mem::pair();
        a.write("through the facade").await.unwrap();
        a.shutdown(Shutdown::Write).await.unwrap();
        assert_eq!(b.read().await.unwrap(), Chunk::Data(Bytes::from("through the facade")));
        assert_eq!(b.read().await.unwrap(), Chunk::Eof);
    });
}
