//! Sockets to broker: bind every configured listener, accept, do the TLS
//! handshake, hand the stream to [`Broker::serve`].
//!
//! The path of one connection, top to bottom:
//!
//! 1. [`bind_all`] binds every enabled listener before anything is served,
//!    so a port in use fails the start (exit 1) instead of half-starting,
//!    and the ports file can list every port at once.
//! 2. [`accept_loop`] accepts, sets `TCP_NODELAY` and spawns one task per
//!    connection. It never does TLS itself: a slow or hostile client must
//!    not hold up the accept loop.
//! 3. [`connection`] runs the TLS handshake under `tls.handshake_timeout_secs`,
//!    reads what TLS learned (SNI, client certificate, ALPN) into
//!    [`ConnectionInfo`], and awaits `broker.serve`. A failed handshake is
//!    a log line about that client, never an error for the server.
//!
//! On the `alpn` listener ALPN picks the protocol: `x-amzn-mqtt-ca` is
//! MQTT; `x-amzn-http-ca`, `http/1.1` and "no ALPN" are closed with a log
//! line until the HTTPS API and WebSockets exist.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use kumo_broker::{Broker, ConnectionInfo};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::api::Api;
use crate::config::Config;
use crate::error::{Failure, Result};
use crate::tls::{TlsConfigs, ALPN_MQTT};

/// Which listener, which also decides how a connection is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Plain MQTT.
    Tcp,
    /// MQTT over TLS.
    Tls,
    /// TLS, protocol chosen by ALPN.
    Alpn,
    /// The AWS-compatible HTTPS API.
    Api,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Tcp => "tcp",
            Kind::Tls => "tls",
            Kind::Alpn => "alpn",
            Kind::Api => "api",
        }
    }
}

/// A bound, not yet accepting, listener.
pub struct Bound {
    pub kind: Kind,
    pub addr: SocketAddr,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    /// The alpn listener: the configuration for clients asking for HTTP
    /// (client certificate optional), chosen from the ClientHello.
    http: Option<Arc<rustls::ServerConfig>>,
}

/// Bind every enabled listener. Fails on the first address that cannot be
/// bound, naming it.
pub async fn bind_all(config: &Config, tls_configs: &TlsConfigs) -> Result<Vec<Bound>> {
    let tls = tls_configs;
    let l = &config.listeners;
    let wanted = [
        (Kind::Tcp, &l.tcp, None),
        (Kind::Tls, &l.tls, Some(tls.tls.clone())),
        (Kind::Alpn, &l.alpn, Some(tls.alpn.clone())),
        (Kind::Api, &l.api, Some(tls.api.clone())),
    ];
    let mut bound = Vec::new();
    for (kind, listener, tls) in wanted {
        if !listener.enabled {
            continue;
        }
        let socket = listen(listener.bind).map_err(|e| bind_error(kind, listener.bind, e))?;
        let addr = socket.local_addr()?;
        bound.push(Bound {
            kind,
            addr,
            listener: socket,
            tls: tls.map(TlsAcceptor::from),
            http: (kind == Kind::Alpn).then(|| tls_configs.api.clone()),
        });
    }
    Ok(bound)
}

/// Pending connections the kernel may hold before we accept them. Tokio's
/// default (1024) overflowed in connection storms, where the accept loop
/// shares the cores with TLS handshakes: dropped SYNs cost a client a 1 s
/// retransmit. The kernel caps it at net.core.somaxconn.
const LISTEN_BACKLOG: u32 = 8192;

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

fn bind_error(kind: Kind, addr: SocketAddr, e: io::Error) -> Failure {
    let hint = match e.kind() {
        io::ErrorKind::AddrInUse => " (another process is listening there; change or disable the listener)",
        io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
            " (ports below 1024 need root or CAP_NET_BIND_SERVICE; change listeners.{}.bind or set enabled = false)"
        }
        io::ErrorKind::AddrNotAvailable => " (that IP address is not on this machine)",
        _ => "",
    };
    let hint = hint.replace("{}", kind.name());
    Failure::runtime(anyhow!(
        "cannot listen on {addr} for the {} listener: {e}{hint}",
        kind.name()
    ))
}

/// Write `{"tcp": port, "tls": port, "alpn": port}` (bound listeners only)
/// to `path` atomically, for tests and supervisors that start Kumo on port 0.
pub fn write_ports_file(path: &Path, bound: &[(&str, u16)]) -> Result<()> {
    let ports: BTreeMap<&str, u16> = bound.iter().copied().collect();
    let json = serde_json::to_vec(&ports)?;
    // `-`: one line on standard output, which a supervisor can block on.
    if path == Path::new("-") {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(&json)?;
        out.write_all(b"\n")?;
        out.flush()?;
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    crate::pki::write_file(path, &json, 0o644)
}

/// Start accepting on every listener until `shutdown` turns true. The
/// returned tasks end (dropping their sockets) once it has.
pub fn start(
    bound: Vec<Bound>,
    broker: &Broker,
    api: &Arc<Api>,
    handshake_timeout: Duration,
    shutdown: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    bound
        .into_iter()
        .map(|b| {
            info!(listener = %b.kind.name(), addr = %b.addr, "listening");
            tokio::spawn(accept_loop(
                b,
                broker.clone(),
                api.clone(),
                handshake_timeout,
                shutdown.clone(),
            ))
        })
        .collect()
}

async fn accept_loop(
    b: Bound,
    broker: Broker,
    api: Arc<Api>,
    handshake_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let listener_name = b.kind.name();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            accepted = b.listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                if let Err(e) = stream.set_nodelay(true) {
                    debug!(listener = %listener_name, %remote, "cannot set TCP_NODELAY: {e}");
                }
                let conn = Conn {
                    kind: b.kind,
                    remote,
                    tls: b.tls.clone(),
                    http: b.http.clone(),
                    handshake_timeout,
                };
                tokio::spawn(connection(conn, stream, broker.clone(), api.clone()));
            }
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                warn!(listener = %listener_name, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    debug!(listener = %listener_name, "stopped accepting");
}

struct Conn {
    kind: Kind,
    remote: SocketAddr,
    tls: Option<TlsAcceptor>,
    http: Option<Arc<rustls::ServerConfig>>,
    handshake_timeout: Duration,
}

async fn connection(conn: Conn, stream: TcpStream, broker: Broker, api: Arc<Api>) {
    let listener = conn.kind.name();
    let remote = conn.remote;
    let Some(acceptor) = conn.tls else {
        let info = ConnectionInfo {
            remote,
            listener,
            client_cert: None,
            server_name: None,
            principal: None,
            admin: false,
            publisher_ids: false,
        };
        debug!(%listener, %remote, "connection accepted");
        return broker.serve(stream, info).await;
    };

    let handshake = async {
        match &conn.http {
            None => acceptor.accept(stream).await,
            // 443: the ClientHello's ALPN picks the configuration, as on
            // AWS: x-amzn-mqtt-ca is MQTT, with its mandatory client
            // certificate; anything else (http/1.1, x-amzn-http-ca, no
            // ALPN) is HTTPS — the API and MQTT over WebSocket — where
            // SigV4 clients send no certificate.
            Some(http) => {
                let start = tokio_rustls::LazyConfigAcceptor::new(
                    rustls::server::Acceptor::default(),
                    stream,
                )
                .await?;
                let wants_mqtt = start
                    .client_hello()
                    .alpn()
                    .is_some_and(|mut offered| offered.any(|p| p == ALPN_MQTT));
                let config = if wants_mqtt {
                    acceptor.config().clone()
                } else {
                    http.clone()
                };
                start.into_stream(config).await
            }
        }
    };
    let tls = match tokio::time::timeout(conn.handshake_timeout, handshake).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return info!(%listener, %remote, "TLS handshake failed: {e}"),
        Err(_) => {
            return info!(%listener, %remote, "TLS handshake timed out after {:?}", conn.handshake_timeout)
        }
    };
    let (_, session) = tls.get_ref();
    let server_name = session.server_name().map(str::to_owned);
    let client_cert = session
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec());
    let alpn = session
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());

    // The HTTPS API: its own listener, or 443 unless the client asked for MQTT.
    let mqtt_alpn = alpn.as_deref().map(str::as_bytes) == Some(ALPN_MQTT);
    if conn.kind == Kind::Api || (conn.kind == Kind::Alpn && !mqtt_alpn) {
        debug!(%listener, %remote, sni = server_name.as_deref(), alpn = alpn.as_deref(),
            "HTTPS connection accepted");
        let peer = crate::api::Peer {
            remote,
            certificate: client_cert.map(Arc::from),
        };
        return crate::api::serve_connection(api, tls, peer).await;
    }

    debug!(
        %listener, %remote, sni = server_name.as_deref(), alpn = alpn.as_deref(),
        client_cert = client_cert.is_some(), "TLS connection accepted"
    );
    let principal = client_cert
        .as_deref()
        .map(|der| Arc::from(kumo_registry::x509::certificate_id(der).as_str()));
    let info = ConnectionInfo {
        remote,
        listener,
        client_cert,
        server_name,
        principal,
        admin: false,
        publisher_ids: false,
    };
    broker.serve(tls, info).await
}

/// Wait for the accept loops to end (after `shutdown` turned true).
pub async fn stop(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_ports_file_holds_every_bound_port() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("ports.json");
        super::write_ports_file(&path, &[("tls", 8883), ("api", 8443)]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, r#"{"api":8443,"tls":8883}"#);
    }
}
