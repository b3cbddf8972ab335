//! Helpers shared by the tests: time limits, seeds, executors.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use flow_api::prelude::*;

/// Every concurrent test runs under this limit, so a hang fails.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Runs `future` under [`LIMIT`], under any executor.
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match flow_conformance::timer::timeout(LIMIT, future).await {
        Some(output) => output,
        None => panic!("{what}: hung for {LIMIT:?}"),
    }
}

/// The seed for random choices: `FLOW_UTIL_SEED` if set, else a fixed one.
/// Failures print it; rerun with `FLOW_UTIL_SEED=<seed>`.
pub fn seed() -> u64 {
    std::env::var("FLOW_UTIL_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0x00f1_0e77)
}

/// `len` seeded random bytes.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// Writes `data` in seeded random pieces (1 byte to 64 KiB), then shuts
/// down writing.
pub async fn send_all<W: Flow + Unpin>(flow: &mut W, data: &[u8], seed: u64) -> Result<(), flow_api::Error> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut at = 0;
    while at < data.len() {
        let n = rng.usize(1..=64 * 1024).min(data.len() - at);
        flow.write(Bytes::copy_from_slice(&data[at..at + n])).await?;
        at += n;
    }
    flow.shutdown(Shutdown::Write).await
}

/// Reads everything until end of file.
pub async fn read_all<R: FlowRead + Unpin>(flow: &mut R) -> Result<Vec<u8>, flow_api::Error> {
    let mut all = Vec::new();
    while let Chunk::Data(buf) = flow.read().await? {
        all.extend_from_slice(&buf);
    }
    Ok(all)
}

/// Runs a future on a fresh current-thread tokio runtime.
pub fn tokio_block_on<F: Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("cannot start a tokio runtime: {err}"),
    }
}

/// The Python interpreter with the pinned test peers: `FLOW_PYTHON`, which
/// the test step of `cargo xtask ci` sets. Fails the test clearly without it.
pub fn python() -> std::path::PathBuf {
    match std::env::var_os("FLOW_PYTHON") {
        Some(path) if !path.is_empty() => path.into(),
        _ => panic!(
            "FLOW_PYTHON is not set: this test runs a Python peer. Run `cargo xtask peers` \
             (it installs tests/peers/requirements.txt into target/peers/venv and prints the \
             interpreter), then `export FLOW_PYTHON=target/peers/venv/bin/python`"
        ),
    }
}

/// A Python peer from `tests/peers/`, killed when dropped (so a failing or
/// timed-out test leaves no process behind). Its stdout is read line by
/// line; its stderr goes to a file, shown when the peer fails.
pub struct Peer {
    name: String,
    child: tokio::process::Child,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    stderr: TempFile,
}

impl Peer {
    /// Starts `tests/peers/<script>` with `args`.
    pub fn spawn(script: &str, args: &[&str]) -> Peer {
        use tokio::io::AsyncBufReadExt;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/peers")
            .join(script);
        let stderr = TempFile::with(b"");
        let stderr_file = std::fs::File::create(&stderr.0).unwrap_or_else(|err| panic!("stderr file: {err}"));
        let python = python();
        let mut child = tokio::process::Command::new(&python)
            .arg(&path)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(stderr_file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run {} (FLOW_PYTHON): {err}", python.display()));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        Peer {
            name: format!("{script} {}", args.join(" ")),
            child,
            stdout: tokio::io::BufReader::new(stdout).lines(),
            stderr,
        }
    }

    /// What the peer wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.stderr.0).unwrap_or_default()).into_owned()
    }

    /// The next line on stdout; fails the test if the peer ended.
    pub async fn line(&mut self) -> String {
        match self.stdout.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("{} ended early; stderr:\n{}", self.name, self.stderr()),
            Err(err) => panic!("{}: reading stdout: {err}", self.name),
        }
    }

    /// The port from the peer's ready line, `port N`.
    pub async fn port(&mut self) -> u16 {
        let line = self.line().await;
        match line.strip_prefix("port ").and_then(|p| p.trim().parse().ok()) {
            Some(port) => port,
            None => panic!("{}: expected `port N`, got {line:?}", self.name),
        }
    }

    /// The rest of stdout, once the peer exited successfully.
    pub async fn finish(mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            match self.stdout.next_line().await {
                Ok(Some(line)) => lines.push(line),
                Ok(None) => break,
                Err(err) => panic!("{}: reading stdout: {err}", self.name),
            }
        }
        let status = self
            .child
            .wait()
            .await
            .unwrap_or_else(|err| panic!("{}: {err}", self.name));
        assert!(
            status.success(),
            "{} failed with {status}; stdout: {lines:?}; stderr:\n{}",
            self.name,
            self.stderr()
        );
        lines
    }
}

/// A temporary file, removed on drop.
pub struct TempFile(pub std::path::PathBuf);

impl TempFile {
    /// A fresh file holding `contents`.
    pub fn with(contents: &[u8]) -> TempFile {
        let path = temp_path("file");
        std::fs::write(&path, contents).unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
        TempFile(path)
    }

    /// The path, as text.
    pub fn path(&self) -> &str {
        self.0
            .to_str()
            .unwrap_or_else(|| panic!("a temporary path that is not UTF-8"))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A temporary directory, removed with what it holds on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// A fresh empty directory.
    pub fn new() -> TempDir {
        let path = temp_path("dir");
        std::fs::create_dir_all(&path).unwrap_or_else(|err| panic!("creating {}: {err}", path.display()));
        TempDir(path)
    }

    /// Writes `contents` to `name` in the directory; returns its path as text.
    pub fn write(&self, name: &str, contents: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
        path.to_string_lossy().into_owned()
    }

    /// The path, as text.
    pub fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_path(what: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("flow-util-{what}-{}-{n}", std::process::id()))
}

/// A test CA and a server certificate it signed, for `localhost` and
/// `127.0.0.1`, made fresh for each test.
pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn test_pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
        result.unwrap_or_else(|err| panic!("making the test PKI: {err}"))
    }
    let mut ca = ok(CertificateParams::new(Vec::<String>::new()));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "flow-util test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = ok(KeyPair::generate());
    let ca_cert = ok(ca.self_signed(&ca_key));
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = ok(CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
    ]));
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages.push(KeyUsagePurpose::DigitalSignature);
    leaf.extended_key_usages.push(ExtendedKeyUsagePurpose::ServerAuth);
    let leaf_key = ok(KeyPair::generate());
    let leaf_cert = ok(leaf.signed_by(&leaf_key, &issuer));
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf_cert.pem(),
        key_pem: leaf_key.serialize_pem(),
    }
}

impl Pki {
    /// A server configuration with this certificate.
    pub fn acceptor(&self) -> flow_tls::TlsAcceptor {
        flow_tls::TlsAcceptor::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
            .unwrap_or_else(|err| panic!("acceptor: {err}"))
    }

    /// A client configuration trusting the test CA, offering `alpn`.
    pub fn connector_with_alpn(&self, alpn: &[&str]) -> flow_tls::TlsConnector {
        flow_tls::TlsConnector::builder()
            .add_root_certificates_pem(self.ca_pem.as_bytes())
            .and_then(|b| b.alpn_protocols(alpn.iter().copied()).build())
            .unwrap_or_else(|err| panic!("connector: {err}"))
    }

    /// A client configuration trusting the test CA.
    pub fn connector(&self) -> flow_tls::TlsConnector {
        self.connector_with_alpn(&[])
    }
}
