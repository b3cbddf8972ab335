//! The TLS targets' configurations (certificates generated once per
//! process with rcgen, as flow-tls's tests do) and what they do with a
//! TLS flow once the handshake is over.

use std::sync::{Arc, OnceLock};

use flow_api::prelude::*;
use flow_tls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use flow_tls::rustls::{RootCertStore, SupportedProtocolVersion, version};
use flow_tls::{TlsAcceptor, TlsConnector, TlsFlow};

use crate::Driver;

struct Pki {
    ca: CertificateDer<'static>,
    server: (CertificateDer<'static>, Vec<u8>),
    client: (CertificateDer<'static>, Vec<u8>),
}

fn generate() -> Result<Pki, rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(DnType::CommonName, "flow-fuzz CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let leaf = |name: &str| -> Result<(CertificateDer<'static>, Vec<u8>), rcgen::Error> {
        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(vec![name.to_owned()])?.signed_by(&key, &issuer)?;
        Ok((cert.der().clone(), key.serialize_der()))
    };
    Ok(Pki {
        ca: ca.der().clone(),
        server: leaf("localhost")?,
        client: leaf("flow-fuzz-client.test")?,
    })
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| match generate() {
        Ok(pki) => pki,
        Err(err) => panic!("cannot generate the fuzz certificates: {err}"),
    })
}

fn roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates([pki().ca.clone()]);
    roots
}

fn key(der: &[u8]) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.to_vec()))
}

/// The protocol versions of configuration `variant` (0 to 3): both, TLS 1.3
/// alone, TLS 1.2 alone, both again (with ALPN and client certificates).
fn versions(variant: u8) -> &'static [&'static SupportedProtocolVersion] {
    static BOTH: [&SupportedProtocolVersion; 2] = [&version::TLS13, &version::TLS12];
    static TLS13: [&SupportedProtocolVersion; 1] = [&version::TLS13];
    static TLS12: [&SupportedProtocolVersion; 1] = [&version::TLS12];
    match variant % 4 {
        1 => &TLS13,
        2 => &TLS12,
        _ => &BOTH,
    }
}

/// A client configuration trusting the fuzz CA: one of 4 variants.
///
/// # Panics
///
/// When the configuration cannot be built (a bug of this crate).
pub fn connector(variant: u8) -> Arc<TlsConnector> {
    static CONNECTORS: OnceLock<Vec<Arc<TlsConnector>>> = OnceLock::new();
    let all = CONNECTORS.get_or_init(|| {
        (0..4)
            .map(|v| {
                let mut builder = TlsConnector::builder()
                    .root_certificates(roots())
                    .protocol_versions(versions(v));
                if v == 3 {
                    let (cert, der) = &pki().client;
                    builder = builder
                        .alpn_protocols(["h2", "http/1.1"])
                        .client_auth_cert(vec![cert.clone()], key(der));
                }
                match builder.build() {
                    Ok(connector) => Arc::new(connector),
                    Err(err) => panic!("cannot build the fuzz client configuration: {err}"),
                }
            })
            .collect()
    });
    Arc::clone(&all[usize::from(variant % 4)])
}

/// A server configuration for `localhost`: one of 4 variants (the last
/// requires a client certificate and offers ALPN).
///
/// # Panics
///
/// When the configuration cannot be built (a bug of this crate).
pub fn acceptor(variant: u8) -> Arc<TlsAcceptor> {
    static ACCEPTORS: OnceLock<Vec<Arc<TlsAcceptor>>> = OnceLock::new();
    let all = ACCEPTORS.get_or_init(|| {
        (0..4)
            .map(|v| {
                let (cert, der) = &pki().server;
                let mut builder = TlsAcceptor::builder(vec![cert.clone()], key(der)).protocol_versions(versions(v));
                if v == 3 {
                    builder = builder.alpn_protocols(["h2"]).require_client_auth(roots());
                }
                match builder.build() {
                    Ok(acceptor) => Arc::new(acceptor),
                    Err(err) => panic!("cannot build the fuzz server configuration: {err}"),
                }
            })
            .collect()
    });
    Arc::clone(&all[usize::from(variant % 4)])
}

/// Whether a TLS failure is one of the kinds a peer's bytes may cause.
pub fn peer_caused(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Tls | ErrorKind::Truncated | ErrorKind::InvalidData | ErrorKind::Closed | ErrorKind::Reset
    )
}

/// Checks a handshake's outcome and, when it completed, reads to the end,
/// writes and closes, each bounded.
///
/// # Panics
///
/// When something stalls, or fails with an error no peer could cause.
pub fn exercise<F: Flow + Unpin>(driver: &Driver, handshake: Result<TlsFlow<F>, Error>) {
    let mut tls = match handshake {
        Ok(tls) => tls,
        Err(err) if peer_caused(err.kind()) => {
            assert!(!err.to_string().is_empty(), "an error without a message");
            return;
        }
        Err(err) => panic!("handshake failed with an unexpected kind {:?}: {err}", err.kind()),
    };
    for _ in 0..64 {
        match driver.finish("read", tls.read()) {
            Ok(Chunk::Data(data)) => assert!(!data.is_empty(), "read returned an empty buffer"),
            Ok(Chunk::Eof) => break,
            Err(err) if peer_caused(err.kind()) => break,
            Err(err) => panic!("read failed with an unexpected kind {:?}: {err}", err.kind()),
        }
    }
    match driver.finish("write", tls.write("ping")) {
        Ok(()) | Err(WriteError::Closed) => {}
        Err(err) if peer_caused(err.kind()) => {}
        Err(err) => panic!("write failed with an unexpected kind {:?}: {err}", err.kind()),
    }
    match driver.finish("close", tls.close()) {
        Ok(()) => {}
        Err(err) if peer_caused(err.kind()) => {}
        Err(err) => panic!("close failed with an unexpected kind {:?}: {err}", err.kind()),
    }
}
