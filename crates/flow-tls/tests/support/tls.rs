//! TLS pair factories (flow-tls over memory and over each runtime's TCP),
//! and the test certificates they use.
//!
//! Certificates are generated at run time with rcgen (a CA and leaves
//! signed by it), once per process: no private key is committed.

use std::sync::{Arc, OnceLock};

use flow_api::Error;
use flow_conformance::{Capabilities, Factory, FaultyFactory, MemPairs};
use flow_tls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use flow_tls::rustls::{RootCertStore, SupportedProtocolVersion, version};
use flow_tls::{TlsAcceptor, TlsConnector, TlsFlow};

/// One certificate with its key, in DER and PEM.
#[derive(Debug)]
pub struct Leaf {
    /// The certificate, DER.
    pub cert: CertificateDer<'static>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The PKCS #8 private key, DER.
    pub key_der: Vec<u8>,
    /// The private key, PEM.
    pub key_pem: String,
}

impl Leaf {
    /// The chain to present: this certificate alone (the CA is the trust anchor).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert.clone()]
    }

    /// A fresh copy of the private key.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// A test PKI: a CA and leaves it signed, plus an unrelated CA.
#[derive(Debug)]
pub struct TestPki {
    /// The CA certificate (the trust anchor), DER.
    pub ca: CertificateDer<'static>,
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// A server certificate for `localhost` and `127.0.0.1`.
    pub server: Leaf,
    /// A client certificate (for mutual TLS), subject `flow-tls test client`.
    pub client: Leaf,
    /// A server certificate for `localhost` that expired in 2021.
    pub expired: Leaf,
    /// A server certificate for `localhost` signed by another CA, which no
    /// test trusts.
    pub untrusted: Leaf,
}

impl TestPki {
    /// A root store holding the CA.
    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates([self.ca.clone()]);
        roots
    }
}

fn generate() -> Result<TestPki, rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    fn ca(name: &str) -> Result<(CertificateParams, KeyPair, rcgen::Certificate), rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key)?;
        Ok((params, key, cert))
    }

    fn leaf(
        names: &[&str],
        common_name: &str,
        issuer: &Issuer<'_, &KeyPair>,
        expired: bool,
    ) -> Result<Leaf, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, issuer)?;
        Ok(Leaf {
            cert: cert.der().clone(),
            cert_pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
        })
    }

    let (ca_params, ca_key, ca_cert) = ca("flow-tls test CA")?;
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let (other_params, other_key, _) = ca("flow-tls untrusted CA")?;
    let other = Issuer::from_params(&other_params, &other_key);
    Ok(TestPki {
        ca: ca_cert.der().clone(),
        ca_pem: ca_cert.pem(),
        server: leaf(&["localhost", "127.0.0.1"], "localhost", &issuer, false)?,
        client: leaf(&["flow-tls-client.test"], "flow-tls test client", &issuer, false)?,
        expired: leaf(&["localhost"], "localhost", &issuer, true)?,
        untrusted: leaf(&["localhost"], "localhost", &other, false)?,
    })
}

/// The process's test PKI, generated on first use.
///
/// # Panics
///
/// When rcgen cannot generate it.
pub fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| match generate() {
        Ok(pki) => pki,
        Err(err) => panic!("cannot generate the test certificates: {err}"),
    })
}

/// A client trusting the test CA, offering `versions`.
///
/// # Panics
///
/// When the configuration is invalid (a bug).
pub fn connector(versions: &[&'static SupportedProtocolVersion]) -> TlsConnector {
    match TlsConnector::builder()
        .root_certificates(pki().roots())
        .protocol_versions(versions)
        .build()
    {
        Ok(connector) => connector,
        Err(err) => panic!("test client configuration: {err}"),
    }
}

/// A server presenting the test `localhost` certificate, accepting `versions`.
///
/// # Panics
///
/// When the configuration is invalid (a bug).
pub fn acceptor(versions: &[&'static SupportedProtocolVersion]) -> TlsAcceptor {
    match TlsAcceptor::builder(pki().server.chain(), pki().server.key())
        .protocol_versions(versions)
        .build()
    {
        Ok(acceptor) => acceptor,
        Err(err) => panic!("test server configuration: {err}"),
    }
}

/// TLS over the pairs of any other factory: the client connects to
/// `localhost` with the test CA as its root.
#[derive(Debug)]
pub struct TlsPairs<F> {
    inner: F,
    connector: TlsConnector,
    acceptor: TlsAcceptor,
    tls12: bool,
}

impl<F> TlsPairs<F> {
    /// TLS 1.3 over `inner`'s pairs.
    pub fn tls13(inner: F) -> Self {
        TlsPairs::with_versions(inner, &[&version::TLS13])
    }

    /// TLS 1.2 over `inner`'s pairs.
    pub fn tls12(inner: F) -> Self {
        TlsPairs::with_versions(inner, &[&version::TLS12])
    }

    fn with_versions(inner: F, versions: &[&'static SupportedProtocolVersion]) -> Self {
        TlsPairs {
            inner,
            connector: connector(versions),
            acceptor: acceptor(versions),
            tls12: !versions.iter().any(|v| **v == version::TLS13),
        }
    }
}

impl<F: Factory> Factory for TlsPairs<F> {
    type Client = TlsFlow<F::Client>;
    type Server = TlsFlow<F::Server>;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), Error> {
        let (client, server) = self.inner.connect().await?;
        let name = flow_tls::server_name("localhost")?;
        futures_util::future::try_join(self.connector.connect(name, client), self.acceptor.accept(server)).await
    }

    fn capabilities(&self) -> Capabilities {
        // Records are decrypted into fresh buffers: never zero-copy. TLS 1.2
        // lets a peer discard what arrives after it sent close_notify
        // (RFC 5246, 7.2.1; OpenSSL does), so half-close is not promised.
        // A dropped TLS end sends no close_notify: the peer reads Truncated.
        self.inner
            .capabilities()
            .zero_copy(false)
            .half_close(!self.tls12)
            .abort_visible(true)
    }

    // The faults below TLS replay with the clause (or model case).
    fn reseed(&self, seed: u64) {
        self.inner.reseed(seed);
    }
}

macro_rules! tls_factory {
    ($(#[$doc:meta])* $name:ident = $inner:ty, $make:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name(Arc<TlsPairs<$inner>>);

        impl Default for $name {
            fn default() -> Self {
                $name(Arc::new($make))
            }
        }

        impl Factory for $name {
            type Client = TlsFlow<<$inner as Factory>::Client>;
            type Server = TlsFlow<<$inner as Factory>::Server>;

            fn connect(&self) -> impl std::future::Future<Output = Result<(Self::Client, Self::Server), Error>> {
                self.0.connect()
            }

            fn capabilities(&self) -> Capabilities {
                self.0.capabilities()
            }

            fn reseed(&self, seed: u64) {
                self.0.reseed(seed);
            }
        }
    };
}

tls_factory!(
    /// TLS 1.3 over [`flow_mem::pair`].
    TlsMem = MemPairs, TlsPairs::tls13(MemPairs::default())
);
tls_factory!(
    /// TLS 1.2 over [`flow_mem::pair`].
    TlsMem12 = MemPairs, TlsPairs::tls12(MemPairs::default())
);
tls_factory!(
    /// TLS 1.3 over memory pairs whose ends are wrapped in
    /// [`flow_mem::Faulty`] with chunks of 1 byte and interleaved `Pending`:
    /// every TLS record arrives byte by byte.
    TlsOverFaultyMem = FaultyFactory<MemPairs>,
    TlsPairs::tls13(FaultyFactory::new(MemPairs::default(), flow_conformance::base_seed() ^ 0x7715).max_chunk(1))
);
tls_factory!(
    /// TLS 1.2 over byte-by-byte [`flow_mem::Faulty`] memory pairs.
    TlsOverFaultyMem12 = FaultyFactory<MemPairs>,
    TlsPairs::tls12(FaultyFactory::new(MemPairs::default(), flow_conformance::base_seed() ^ 0x7712).max_chunk(1))
);
tls_factory!(
    /// TLS 1.3 over `flow_tokio` loopback TCP.
    TlsTokio = super::TokioTcp, TlsPairs::tls13(super::TokioTcp::default())
);
tls_factory!(
    /// TLS 1.2 over `flow_tokio` loopback TCP.
    TlsTokio12 = super::TokioTcp, TlsPairs::tls12(super::TokioTcp::default())
);
tls_factory!(
    /// TLS 1.3 over `flow_smol` loopback TCP.
    TlsSmol = super::SmolTcp, TlsPairs::tls13(super::SmolTcp::default())
);
tls_factory!(
    /// TLS 1.3 over `flow_async_std` loopback TCP.
    TlsAsyncStd = super::AsyncStdTcp, TlsPairs::tls13(super::AsyncStdTcp::default())
);
