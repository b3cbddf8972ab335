//! Pair factories for every backend, shared by the conformance matrix and
//! the cross-runtime tests.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use flow_api::{Error, ErrorKind};
use flow_conformance::{Capabilities, Factory};

/// Runs a future on a fresh current-thread tokio runtime.
///
/// # Panics
///
/// When the runtime cannot start.
pub fn tokio_block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("cannot start a tokio runtime: {err}"),
    }
}

/// A fresh directory under the system's temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Makes the directory's path (the directory itself is made on first use).
    pub fn new(prefix: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        TempDir(std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )))
    }

    /// A path inside the directory, creating the directory.
    ///
    /// # Errors
    ///
    /// The directory cannot be created.
    pub fn path(&self, name: &str) -> Result<PathBuf, Error> {
        std::fs::create_dir_all(&self.0)?;
        Ok(self.0.join(name))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// flow-tokio over loopback TCP.
#[derive(Debug, Default)]
pub struct TokioTcp {
    listener: OnceLock<flow_tokio::TcpListener>,
}

impl Factory for TokioTcp {
    type Client = flow_tokio::TcpFlow;
    type Server = flow_tokio::TcpFlow;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), Error> {
        if self.listener.get().is_none() {
            let _ = self.listener.set(flow_tokio::TcpListener::bind("127.0.0.1:0").await?);
        }
        let listener = self.listener.get().ok_or(ErrorKind::Other)?;
        let (client, accepted) = tokio::join!(flow_tokio::TcpFlow::connect(listener.local_addr()?), listener.accept());
        Ok((client?, accepted?.0))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }
}

/// flow-tokio over a Unix socket.
#[derive(Debug)]
pub struct TokioUnix {
    dir: TempDir,
    listener: OnceLock<flow_tokio::UnixListener>,
}

impl Default for TokioUnix {
    fn default() -> Self {
        TokioUnix {
            dir: TempDir::new("flow-tests-tokio"),
            listener: OnceLock::new(),
        }
    }
}

impl Factory for TokioUnix {
    type Client = flow_tokio::UnixFlow;
    type Server = flow_tokio::UnixFlow;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), Error> {
        let path = self.dir.path("socket")?;
        if self.listener.get().is_none() {
            let _ = self.listener.set(flow_tokio::UnixListener::bind(&path)?);
        }
        let listener = self.listener.get().ok_or(ErrorKind::Other)?;
        let (client, accepted) = tokio::join!(flow_tokio::UnixFlow::connect(&path), listener.accept());
        Ok((client?, accepted?.0))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }
}
