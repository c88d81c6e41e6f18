//! `tls-handshake-bound`: how many full mutual-TLS handshakes per second
//! rustls (aws-lc-rs) achieves on this machine, server and client in one
//! process on loopback, with no MQTT and no broker logic in the way.
//!
//! It is the ceiling for a broker's mTLS connects/s measured with
//! kumo-bench on the same machine: the same certificates (server
//! certificate and key, the CA client certificates chain to, ECDSA P-256
//! client certificates generated per connection exactly as
//! `kumo-bench --gen-certs` does), the same crypto provider, the same
//! protocol versions as Kumo's listener (TLS 1.3, then 1.2), session
//! resumption off on the client so every handshake is full, and a TCP
//! connect per handshake. After the handshake the server writes one byte
//! and the client waits for it, so the server has verified the client's
//! certificate and Finished before a handshake is counted (the
//! counterpart of waiting for CONNACK).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use clap::Parser;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Parser, Debug)]
#[command(
    name = "tls-handshake-bound",
    about = "Full mTLS handshakes/s with bare rustls (server + client in one process on loopback)"
)]
struct Opts {
    /// Server certificate chain (PEM), e.g. KUMO_DATA/ca/server.crt.
    #[arg(long)]
    server_cert: PathBuf,
    /// Server private key (PEM), e.g. KUMO_DATA/ca/server.key.
    #[arg(long)]
    server_key: PathBuf,
    /// CA bundle the client trusts for the server (e.g. KUMO_DATA/ca/root-CA.crt).
    #[arg(long)]
    ca_file: PathBuf,
    /// CA that signs client certificates: the server trusts it, and client
    /// certificates are generated with it (e.g. KUMO_DATA/ca/device-ca.crt).
    #[arg(long)]
    ca_cert: PathBuf,
    /// Private key of --ca-cert.
    #[arg(long)]
    ca_key: PathBuf,
    /// Client certificates to generate (used round-robin, one per connection).
    #[arg(long, default_value_t = 1000)]
    certs: usize,
    /// Server name for SNI and the certificate check.
    #[arg(long, default_value = "localhost")]
    sni: String,
    /// Handshakes in progress at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds measured.
    #[arg(long, short = 'd', default_value_t = 5.0)]
    duration: f64,
    /// Seconds before the measured window.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Tokio worker threads (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print JSON instead of a line of text.
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    let o = Opts::parse();
    let threads = o
        .threads
        .unwrap_or_else(kumo_bench::sys::available_cores)
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    rt.block_on(run(o, threads))
}

fn pem_certs(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", path.display()))
}

async fn run(o: Opts, threads: usize) -> Result<()> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    // Server: like Kumo's tls listener (client certificate required).
    let mut client_roots = RootCertStore::empty();
    for c in pem_certs(&o.ca_cert)? {
        client_roots.add(c)?;
    }
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), provider.clone())
            .build()?;
    let chain = pem_certs(&o.server_cert)?;
    let key = PrivateKeyDer::from_pem_file(&o.server_key)
        .with_context(|| format!("reading {}", o.server_key.display()))?;
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));

    // Clients: one config per generated certificate, resumption off.
    let mut server_roots = RootCertStore::empty();
    for c in pem_certs(&o.ca_file)? {
        server_roots.add(c)?;
    }
    let server_roots = Arc::new(server_roots);
    let t0 = Instant::now();
    let ids = kumo_bench::tls::generate(&o.ca_cert, &o.ca_key, o.certs.max(1), "bound")?;
    let gen_secs = t0.elapsed().as_secs_f64();
    let mut connectors = Vec::with_capacity(ids.len());
    for (chain, key) in ids {
        let mut cfg = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(server_roots.clone())
            .with_client_auth_cert(chain, key)?;
        cfg.resumption = rustls::client::Resumption::disabled();
        connectors.push(tokio_rustls::TlsConnector::from(Arc::new(cfg)));
    }
    let connectors = Arc::new(connectors);
    let name = ServerName::try_from(o.sni.clone()).map_err(|_| anyhow!("bad --sni"))?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server_errors = Arc::new(AtomicU64::new(0));
    {
        let server_errors = server_errors.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let server_errors = server_errors.clone();
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Ok(mut s) => {
                            let _ = s.write_all(&[0x20]).await;
                            let _ = s.flush().await;
                            let mut b = [0u8; 1];
                            let _ = s.read(&mut b).await; // until the client closes
                        }
                        Err(_) => {
                            server_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
    }

    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..o.concurrency.max(1) {
        let (done, errors, stop, next) = (done.clone(), errors.clone(), stop.clone(), next.clone());
        let connectors = connectors.clone();
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let c = &connectors[i % connectors.len()];
                let r: Result<()> = async {
                    let tcp = TcpStream::connect(addr).await?;
                    tcp.set_nodelay(true)?;
                    let mut s = c.connect(name.clone(), tcp).await?;
                    let mut b = [0u8; 1];
                    s.read_exact(&mut b).await?;
                    Ok(())
                }
                .await;
                match r {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs_f64(o.warmup)).await;
    let (d0, c0, w0) = (
        done.load(Ordering::Relaxed),
        kumo_bench::sys::self_cpu(),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs_f64(o.duration)).await;
    let (d1, c1, wall) = (
        done.load(Ordering::Relaxed),
        kumo_bench::sys::self_cpu(),
        w0.elapsed().as_secs_f64(),
    );
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let n = d1 - d0;
    let rate = n as f64 / wall;
    let cpu = (c1 - c0).as_secs_f64();
    let errs = errors.load(Ordering::Relaxed);
    let serrs = server_errors.load(Ordering::Relaxed);
    if o.json {
        let v = serde_json::json!({
            "handshakes": n,
            "window_secs": wall,
            "handshakes_per_sec": rate,
            "cpu_secs": cpu,
            "cpu_pct_all_cores": 100.0 * cpu / wall / threads as f64,
            "cpu_us_per_handshake": if n > 0 { cpu * 1e6 / n as f64 } else { 0.0 },
            "client_errors": errs,
            "server_errors": serrs,
            "threads": threads,
            "concurrency": o.concurrency,
            "client_certs": connectors.len(),
            "cert_generation_secs": gen_secs,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{n} full mTLS handshakes in {wall:.2} s = {rate:.0}/s \
             (process CPU {:.0} % of {threads} threads, {:.0} µs CPU per handshake, \
             client+server; errors: client {errs}, server {serrs})",
            100.0 * cpu / wall / threads as f64,
            if n > 0 { cpu * 1e6 / n as f64 } else { 0.0 },
        );
    }
    // Leave open server connections behind; the process ends here.
    std::process::exit(0);
}
