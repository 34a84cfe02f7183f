//! The listener: bound before serving so tests can ask for port 0 and learn the port,
//! and stopped gracefully (stop accepting, let in-flight requests finish for up to 10 s).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::Endpoint;

/// How long in-flight requests may run on after the stop signal (Cloud Run's grace).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A bound listener, ready to serve an app.
pub struct Server {
    acceptor: TcpAcceptor,
    addr: SocketAddr,
}

impl Server {
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let acceptor = TcpListener::bind(addr).into_acceptor().await?;
        let addr = acceptor.local_addr().first().and_then(|a| a.as_socket_addr().copied()).unwrap_or(addr);
        Ok(Self { acceptor, addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Serves `app` until `stop` completes, then drains in-flight requests.
    pub async fn run_until_stopped<E>(self, app: E, stop: impl Future<Output = ()> + Send) -> std::io::Result<()>
    where
        E: Endpoint + 'static,
    {
        poem::Server::new_with_acceptor(self.acceptor).run_with_graceful_shutdown(app, stop, Some(SHUTDOWN_GRACE)).await
    }
}

/// Completes on SIGTERM (Cloud Run stopping the instance) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("stop signal received; draining in-flight requests");
}
