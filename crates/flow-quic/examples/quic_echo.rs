//! A QUIC echo server and client on loopback, with a certificate made at
//! run time: `cargo run -p flow-quic --example quic_echo`.

use std::net::{Ipv4Addr, SocketAddr};

use flow_api::prelude::*;
use flow_quic::{QuicEndpoint, client_config, server_config};
use flow_tls::{TlsAcceptor, TlsConnector};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));

    let acceptor = TlsAcceptor::builder(
        flow_tls::certs_from_pem(cert_pem.as_bytes())?,
        flow_tls::private_key_from_pem(key_pem.as_bytes())?,
    )
    .alpn_protocols(["echo"])
    .build()?;
    let server = QuicEndpoint::server(any, server_config(&acceptor)?)?;
    let addr = server.local_addr()?;
    let serving = tokio::spawn(async move {
        // One client here; a server that accepts in a loop takes
        // `accept_handshake()` and runs each handshake on a task of its own.
        let connection = server.accept().await?;
        let mut flow = connection.accept().await?; // one stream; accept more in a loop
        while let Chunk::Data(bytes) = flow.read().await? {
            flow.write(bytes).await?;
        }
        flow.close().await?;
        connection.closed().await; // the client closes the connection
        Ok::<_, flow_api::Error>(())
    });

    let connector = TlsConnector::builder()
        .add_root_certificates_pem(cert_pem.as_bytes())?
        .alpn_protocols(["echo"])
        .build()?;
    let client = QuicEndpoint::client(any, client_config(&connector)?)?;
    let connection = client.connect(addr, "localhost").await?;
    let mut flow = connection.open().await?;
    flow.write("hello over QUIC").await?;
    flow.shutdown(Shutdown::Write).await?;
    let mut reply = Vec::new();
    while let Chunk::Data(bytes) = flow.read().await? {
        reply.extend_from_slice(&bytes);
    }
    flow.close().await?;
    println!("echoed: {}", String::from_utf8_lossy(&reply));
    connection.close();
    serving.await??;
    client.wait_idle().await;
    Ok(())
}
