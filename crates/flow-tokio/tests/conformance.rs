//! The whole conformance suite over loopback TCP and Unix sockets, plainly
//! and under fault injection.

use std::sync::OnceLock;

use flow_api::Error;
use flow_conformance::{Capabilities, Factory};
use flow_tokio::{TcpFlow, TcpListener};

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("cannot start a tokio runtime: {err}"),
    }
}

/// Connected pairs over loopback TCP, through one listener per test.
#[derive(Default)]
struct TcpPairs {
    listener: OnceLock<TcpListener>,
}

impl Factory for TcpPairs {
    type Client = TcpFlow;
    type Server = TcpFlow;

    async fn connect(&self) -> Result<(TcpFlow, TcpFlow), Error> {
        if self.listener.get().is_none() {
            let _ = self.listener.set(TcpListener::bind("127.0.0.1:0").await?);
        }
        let listener = self.listener.get().ok_or(flow_api::ErrorKind::Other)?;
        let (client, accepted) = tokio::join!(TcpFlow::connect(listener.local_addr()?), listener.accept());
        Ok((client?, accepted?.0))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }
}

mod tcp {
    use super::*;

    flow_conformance::suite! {
        factory: TcpPairs::default(),
        block_on: block_on,
    }
}

#[cfg(unix)]
mod unix {
    use super::*;
    use flow_tokio::{UnixFlow, UnixListener};

    /// Connected pairs over a Unix listener in a fresh temporary directory.
    struct UnixPairs {
        dir: std::path::PathBuf,
        listener: OnceLock<UnixListener>,
    }

    impl Default for UnixPairs {
        fn default() -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "flow-tokio-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            UnixPairs {
                dir,
                listener: OnceLock::new(),
            }
        }
    }

    impl Drop for UnixPairs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    impl Factory for UnixPairs {
        type Client = UnixFlow;
        type Server = UnixFlow;

        async fn connect(&self) -> Result<(UnixFlow, UnixFlow), Error> {
            let path = self.dir.join("socket");
            if self.listener.get().is_none() {
                std::fs::create_dir_all(&self.dir)?;
                let _ = self.listener.set(UnixListener::bind(&path)?);
            }
            let listener = self.listener.get().ok_or(flow_api::ErrorKind::Other)?;
            let (client, accepted) = tokio::join!(UnixFlow::connect(&path), listener.accept());
            Ok((client?, accepted?.0))
        }

        fn capabilities(&self) -> Capabilities {
            Capabilities::new()
        }
    }

    flow_conformance::suite! {
        factory: UnixPairs::default(),
        block_on: block_on,
    }
}
