//! Connectors, acceptors and their configuration.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use flow_api::{Error, ErrorKind, FlowRead, FlowWrite, Timer};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection, SupportedProtocolVersion,
};

use crate::flow::{Handshake, HandshakeTimeout, TlsFlow};

/// The crypto provider flow-tls's builders pass to every configuration.
///
/// - With the `ring` feature (on by default): rustls's *ring* provider,
///   passed explicitly, so no process-wide default is needed and none is
///   consulted.
/// - Without it: the process-default provider
///   ([`CryptoProvider::get_default`]), which you install with
///   [`CryptoProvider::install_default`] before building a connector or an
///   acceptor (for example with aws-lc-rs or another provider crate).
///
/// # Errors
///
/// [`ErrorKind::Unsupported`] when the `ring` feature is off and no
/// process-default provider is installed. Never with the `ring` feature.
pub fn provider() -> Result<Arc<CryptoProvider>, Error> {
    #[cfg(feature = "ring")]
    {
        Ok(Arc::new(rustls::crypto::ring::default_provider()))
    }
    #[cfg(not(feature = "ring"))]
    {
        process_default(CryptoProvider::get_default())
    }
}

/// The process-default provider, or the error [`provider`] returns without
/// one: the whole of [`provider`] without the `ring` feature.
#[cfg(any(not(feature = "ring"), test))]
fn process_default(default: Option<&Arc<CryptoProvider>>) -> Result<Arc<CryptoProvider>, Error> {
    default.cloned().ok_or_else(|| {
        Error::new(ErrorKind::Unsupported).context(
            "no crypto provider: enable flow-tls's `ring` feature or install a process-default rustls CryptoProvider",
        )
    })
}

fn config_error(err: rustls::Error, what: &str) -> Error {
    Error::with_source(ErrorKind::Tls, err).context(what.to_owned())
}

/// Parses a host name or an IP address into the [`ServerName`] that
/// [`TlsConnector::connect`] checks the server's certificate against.
///
/// # Errors
///
/// [`ErrorKind::InvalidData`] when `host` is neither a valid DNS name nor an
/// IP address.
pub fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(host.to_owned())
        .map_err(|err| Error::with_source(ErrorKind::InvalidData, err).context(format!("invalid server name {host:?}")))
}

fn pem_error(err: rustls::pki_types::pem::Error, what: &str) -> Error {
    Error::with_source(ErrorKind::InvalidData, err).context(what.to_owned())
}

/// Every certificate in a PEM document (`-----BEGIN CERTIFICATE-----`
/// sections), in order: a chain, leaf first, or a set of roots.
///
/// # Errors
///
/// [`ErrorKind::InvalidData`] when the PEM is malformed or holds no
/// certificate.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| pem_error(err, "reading PEM certificates"))?;
    if certs.is_empty() {
        return Err(Error::new(ErrorKind::InvalidData).context("no certificate in the PEM document"));
    }
    Ok(certs)
}

/// The first private key in a PEM document (PKCS #8, PKCS #1 or SEC1).
///
/// # Errors
///
/// [`ErrorKind::InvalidData`] when the PEM is malformed or holds no key.
pub fn private_key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|err| pem_error(err, "reading a PEM private key"))
}

/// [`certs_from_pem`] on the contents of a file.
///
/// # Errors
///
/// The file cannot be read, or as [`certs_from_pem`].
pub fn certs_from_pem_file(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem = std::fs::read(path.as_ref())
        .map_err(|err| Error::from(err).context(format!("reading certificates from {}", path.as_ref().display())))?;
    certs_from_pem(&pem)
}

/// [`private_key_from_pem`] on the contents of a file.
///
/// # Errors
///
/// The file cannot be read, or as [`private_key_from_pem`].
pub fn private_key_from_pem_file(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, Error> {
    let pem = std::fs::read(path.as_ref())
        .map_err(|err| Error::from(err).context(format!("reading a private key from {}", path.as_ref().display())))?;
    private_key_from_pem(&pem)
}

/// The platform's trust roots (through `rustls-native-certs`).
///
/// # Errors
///
/// [`ErrorKind::Other`] when no usable root certificate was found.
pub fn native_roots() -> Result<RootCertStore, Error> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(Error::new(ErrorKind::Other).context(format!("no usable platform root certificate: {why}")));
    }
    Ok(roots)
}

/// Opens TLS connections over flows, as a client.
///
/// Cheap to clone: the configuration is shared.
///
/// ```
/// use flow_api::prelude::*;
/// use flow_tls::TlsConnector;
///
/// async fn get<F: Flow + Unpin>(flow: F) -> Result<Vec<u8>, flow_api::Error> {
///     let connector = TlsConnector::builder().native_roots()?.alpn_protocols(["http/1.1"]).build()?;
///     let mut tls = connector.connect(flow_tls::server_name("example.com")?, flow).await?;
///     tls.write("GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n").await?;
///     let mut reply = Vec::new();
///     while let Chunk::Data(data) = tls.read().await? {
///         reply.extend_from_slice(&data);
///     }
///     tls.close().await?;
///     Ok(reply)
/// }
/// ```
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    timeout: HandshakeTimeout,
}

impl TlsConnector {
    /// A connector with a rustls configuration of your own. Build it with
    /// [`provider`] (`ClientConfig::builder_with_provider(flow_tls::provider()?)`)
    /// to keep aws-lc-rs out.
    pub fn new(config: Arc<ClientConfig>) -> Self {
        TlsConnector {
            config,
            timeout: HandshakeTimeout::default(),
        }
    }

    /// A builder for the common settings: trust roots, versions, ALPN,
    /// client certificates, SNI.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            roots: RootCertStore::empty(),
            versions: rustls::DEFAULT_VERSIONS.to_vec(),
            alpn: Vec::new(),
            client_auth: None,
            sni: true,
        }
    }

    /// Bounds every handshake: one that has not completed after `timeout`
    /// fails with [`ErrorKind::TimedOut`]. `timer` is the runtime's timer
    /// (`flow_tokio::TokioTimer::shared()`, `flow_smol::SmolTimer::shared()`...).
    /// Without this, handshakes have [`DEFAULT_HANDSHAKE_TIMEOUT`](crate::DEFAULT_HANDSHAKE_TIMEOUT) (10 s),
    /// kept by a timer thread.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration, timer: Arc<dyn Timer>) -> Self {
        self.timeout = HandshakeTimeout::within(timeout, timer);
        self
    }

    /// Lets handshakes take as long as the peer takes, without the
    /// [default deadline](crate::DEFAULT_HANDSHAKE_TIMEOUT): for a caller that
    /// bounds the whole connection itself.
    #[must_use]
    pub fn no_handshake_timeout(mut self) -> Self {
        self.timeout = HandshakeTimeout::none();
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Runs the TLS handshake as a client over `flow`, checking that the
    /// server's certificate is valid for `server_name` (also sent with SNI
    /// unless disabled).
    ///
    /// The returned future resolves to the [`TlsFlow`]. Dropping it drops
    /// `flow` mid-handshake.
    ///
    /// # Errors
    ///
    /// The future fails with [`ErrorKind::Tls`] when the handshake fails (a
    /// certificate not valid for the name, untrusted or expired, an alert
    /// from the server, bytes that are not TLS, end of file mid-handshake),
    /// the rustls error as its source; [`ErrorKind::TimedOut`] at the
    /// [handshake deadline](TlsConnector::handshake_timeout); or the
    /// underlying flow's error.
    pub fn connect<F: FlowRead + FlowWrite + Unpin>(&self, server_name: ServerName<'static>, flow: F) -> Handshake<F> {
        match ClientConnection::new(Arc::clone(&self.config), server_name) {
            Ok(conn) => Handshake::new(TlsFlow::new(flow, Connection::Client(conn)), self.timeout.clone()),
            Err(err) => Handshake::failed(config_error(err, "cannot start a TLS client connection")),
        }
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("alpn_protocols", &self.config.alpn_protocols)
            .field("handshake_timeout", &self.timeout.timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TlsConnector`]: [`TlsConnector::builder`].
#[derive(Debug)]
pub struct ClientBuilder {
    roots: RootCertStore,
    versions: Vec<&'static SupportedProtocolVersion>,
    alpn: Vec<Vec<u8>>,
    client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    sni: bool,
}

impl ClientBuilder {
    /// Trusts the platform's root certificates ([`native_roots`]).
    ///
    /// # Errors
    ///
    /// As [`native_roots`].
    pub fn native_roots(mut self) -> Result<Self, Error> {
        self.roots.roots.extend(native_roots()?.roots);
        Ok(self)
    }

    /// Trusts these roots (added to any already trusted).
    #[must_use]
    pub fn root_certificates(mut self, roots: RootCertStore) -> Self {
        self.roots.roots.extend(roots.roots);
        self
    }

    /// Trusts one more root certificate.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidData`] when it cannot be parsed as a trust anchor.
    pub fn add_root_certificate(mut self, cert: CertificateDer<'static>) -> Result<Self, Error> {
        self.roots
            .add(cert)
            .map_err(|err| Error::with_source(ErrorKind::InvalidData, err).context("invalid root certificate"))?;
        Ok(self)
    }

    /// Trusts every certificate of a PEM document.
    ///
    /// # Errors
    ///
    /// As [`certs_from_pem`] and [`add_root_certificate`](ClientBuilder::add_root_certificate).
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        for cert in certs_from_pem(pem)? {
            self = self.add_root_certificate(cert)?;
        }
        Ok(self)
    }

    /// The TLS versions offered (default: TLS 1.3, and 1.2 with the `tls12`
    /// feature), for example `&[&rustls::version::TLS13]`.
    #[must_use]
    pub fn protocol_versions(mut self, versions: &[&'static SupportedProtocolVersion]) -> Self {
        self.versions = versions.to_vec();
        self
    }

    /// The application protocols offered with ALPN, most preferred first
    /// (for example `["h2", "http/1.1"]`).
    #[must_use]
    pub fn alpn_protocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Presents this certificate chain (leaf first) and key when the server
    /// asks for a client certificate (mutual TLS).
    #[must_use]
    pub fn client_auth_cert(mut self, chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        self.client_auth = Some((chain, key));
        self
    }

    /// Whether to send the server name with SNI (default: yes).
    #[must_use]
    pub fn sni(mut self, enabled: bool) -> Self {
        self.sni = enabled;
        self
    }

    /// The connector.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`] for an inconsistent configuration (no version the
    /// provider supports, a client key that does not match its certificate);
    /// [`ErrorKind::Unsupported`] when there is no crypto provider (see
    /// [`provider`]).
    pub fn build(self) -> Result<TlsConnector, Error> {
        let builder = ClientConfig::builder_with_provider(provider()?)
            .with_protocol_versions(&self.versions)
            .map_err(|err| config_error(err, "invalid TLS versions"))?
            .with_root_certificates(self.roots);
        let mut config = match self.client_auth {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|err| config_error(err, "invalid client certificate or key"))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn;
        config.enable_sni = self.sni;
        Ok(TlsConnector::new(Arc::new(config)))
    }
}

/// Accepts TLS connections over flows, as a server.
///
/// Cheap to clone: the configuration is shared.
///
/// ```
/// use flow_api::prelude::*;
/// use flow_tls::TlsAcceptor;
///
/// async fn serve<F: Flow + Unpin>(cert_pem: &[u8], key_pem: &[u8], flow: F) -> Result<(), flow_api::Error> {
///     let acceptor = TlsAcceptor::from_pem(cert_pem, key_pem)?;
///     let mut tls = acceptor.accept(flow).await?;
///     tls.write("hello over TLS\n").await?;
///     tls.close().await?;
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    timeout: HandshakeTimeout,
}

impl TlsAcceptor {
    /// An acceptor with a rustls configuration of your own. Build it with
    /// [`provider`] (`ServerConfig::builder_with_provider(flow_tls::provider()?)`)
    /// to keep aws-lc-rs out.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        TlsAcceptor {
            config,
            timeout: HandshakeTimeout::default(),
        }
    }

    /// A builder for a server presenting `chain` (leaf first) with `key`.
    pub fn builder(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> ServerBuilder {
        ServerBuilder {
            chain,
            key,
            versions: rustls::DEFAULT_VERSIONS.to_vec(),
            alpn: Vec::new(),
            client_auth: None,
        }
    }

    /// A server with the certificate chain and key of two PEM documents and
    /// the default settings.
    ///
    /// # Errors
    ///
    /// As [`certs_from_pem`], [`private_key_from_pem`] and [`ServerBuilder::build`].
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, Error> {
        TlsAcceptor::builder(certs_from_pem(chain_pem)?, private_key_from_pem(key_pem)?).build()
    }

    /// Bounds every handshake: one that has not completed after `timeout`
    /// fails with [`ErrorKind::TimedOut`]. `timer` is the runtime's timer.
    /// Without this, handshakes have [`DEFAULT_HANDSHAKE_TIMEOUT`](crate::DEFAULT_HANDSHAKE_TIMEOUT) (10 s),
    /// kept by a timer thread.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration, timer: Arc<dyn Timer>) -> Self {
        self.timeout = HandshakeTimeout::within(timeout, timer);
        self
    }

    /// Lets handshakes take as long as the client takes, without the
    /// [default deadline](crate::DEFAULT_HANDSHAKE_TIMEOUT). A server should keep
    /// a deadline: a client that connects and stays silent holds its task.
    #[must_use]
    pub fn no_handshake_timeout(mut self) -> Self {
        self.timeout = HandshakeTimeout::none();
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Runs the TLS handshake as a server over `flow`.
    ///
    /// The returned future resolves to the [`TlsFlow`]. Dropping it drops
    /// `flow` mid-handshake.
    ///
    /// # Errors
    ///
    /// The future fails with [`ErrorKind::Tls`] when the handshake fails (no
    /// common version or cipher suite, a client certificate that is
    /// required and missing or untrusted, an alert from the client, bytes
    /// that are not TLS, end of file mid-handshake), the rustls error as its
    /// source; [`ErrorKind::TimedOut`] at the
    /// [handshake deadline](TlsAcceptor::handshake_timeout); or the
    /// underlying flow's error.
    pub fn accept<F: FlowRead + FlowWrite + Unpin>(&self, flow: F) -> Handshake<F> {
        match ServerConnection::new(Arc::clone(&self.config)) {
            Ok(conn) => Handshake::new(TlsFlow::new(flow, Connection::Server(conn)), self.timeout.clone()),
            Err(err) => Handshake::failed(config_error(err, "cannot start a TLS server connection")),
        }
    }
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("alpn_protocols", &self.config.alpn_protocols)
            .field("handshake_timeout", &self.timeout.timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TlsAcceptor`]: [`TlsAcceptor::builder`].
#[derive(Debug)]
pub struct ServerBuilder {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    versions: Vec<&'static SupportedProtocolVersion>,
    alpn: Vec<Vec<u8>>,
    client_auth: Option<(RootCertStore, bool)>,
}

impl ServerBuilder {
    /// The TLS versions accepted (default: TLS 1.3, and 1.2 with the `tls12`
    /// feature).
    #[must_use]
    pub fn protocol_versions(mut self, versions: &[&'static SupportedProtocolVersion]) -> Self {
        self.versions = versions.to_vec();
        self
    }

    /// The application protocols the server speaks, most preferred first;
    /// ALPN picks the first one the client also offers. A client offering
    /// none of them fails the handshake.
    #[must_use]
    pub fn alpn_protocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Requires a client certificate issued by one of `roots` (mutual TLS).
    #[must_use]
    pub fn require_client_auth(mut self, roots: RootCertStore) -> Self {
        self.client_auth = Some((roots, true));
        self
    }

    /// Asks for a client certificate issued by one of `roots`, and accepts
    /// clients without one too ([`TlsFlow::peer_certificates`] tells).
    #[must_use]
    pub fn optional_client_auth(mut self, roots: RootCertStore) -> Self {
        self.client_auth = Some((roots, false));
        self
    }

    /// The acceptor.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`] for an inconsistent configuration (a key that does
    /// not match the certificate, no usable version, empty client roots);
    /// [`ErrorKind::Unsupported`] when there is no crypto provider (see
    /// [`provider`]).
    pub fn build(self) -> Result<TlsAcceptor, Error> {
        let provider = provider()?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&self.versions)
            .map_err(|err| config_error(err, "invalid TLS versions"))?;
        let builder = match self.client_auth {
            Some((roots, required)) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if required {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                let verifier = verifier.build().map_err(|err| {
                    Error::with_source(ErrorKind::Tls, err).context("invalid client certificate roots")
                })?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(self.chain, self.key)
            .map_err(|err| config_error(err, "invalid server certificate or key"))?;
        config.alpn_protocols = self.alpn;
        Ok(TlsAcceptor::new(Arc::new(config)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// What builds without the `ring` feature get with no process default:
    /// a typed error naming both ways out, not a panic.
    #[test]
    fn no_process_default_is_an_unsupported_error() {
        let err = process_default(None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        let message = err.to_string();
        assert!(message.contains("no crypto provider"), "{message}");
        assert!(message.contains("`ring` feature"), "{message}");
        assert!(message.contains("process-default rustls CryptoProvider"), "{message}");
    }

    /// Without the `ring` feature, the process default is used as it is.
    #[cfg(feature = "ring")]
    #[test]
    fn the_process_default_is_used_as_it_is() {
        let installed = Arc::new(rustls::crypto::ring::default_provider());
        let got = process_default(Some(&installed)).unwrap();
        assert!(Arc::ptr_eq(&got, &installed));
    }

    /// With the `ring` feature, `provider()` needs no process default (none
    /// is installed in this test binary) and gives ring's cipher suites.
    #[cfg(feature = "ring")]
    #[test]
    fn the_ring_feature_needs_no_process_default() {
        // Nothing in this test binary installs one.
        assert!(CryptoProvider::get_default().is_none());
        let got = provider().unwrap();
        let ring = rustls::crypto::ring::default_provider();
        assert_eq!(
            got.cipher_suites.iter().map(|s| s.suite()).collect::<Vec<_>>(),
            ring.cipher_suites.iter().map(|s| s.suite()).collect::<Vec<_>>()
        );
    }
}
