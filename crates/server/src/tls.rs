//! rustls server configurations for the `tls`, `alpn` and `api` listeners.
//!
//! Both offer TLS 1.3 and 1.2 with the aws-lc-rs provider, verify client
//! certificates against the registry (`auth.rs`; or, with
//! `tls.client_auth = "ca_file"`, against `tls.client_ca_file` with
//! webpki), and present the
//! server certificate only to clients whose SNI is one of
//! `tls.endpoint_names` (or that send no SNI, as clients connecting to an
//! IP address do). The `alpn` configuration additionally advertises the
//! AWS IoT ALPN protocol names; which protocol is then served is decided
//! per connection in [`crate::listeners`].

use std::sync::Arc;

use anyhow::anyhow;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use crate::admin::RegistryService;
use crate::auth::RegistryVerifier;
use crate::config::{ClientAuth, TlsConfig};
use crate::error::{Failure, Result};
use crate::pki::{self, ServerIdentity};

/// MQTT over TLS on 443, as the AWS IoT SDKs ask for it.
pub const ALPN_MQTT: &[u8] = b"x-amzn-mqtt-ca";
/// HTTPS on 443, the device data path (served by the HTTPS API; client
/// certificate authentication of API requests is not served yet).
pub const ALPN_HTTP_CA: &[u8] = b"x-amzn-http-ca";
/// Plain HTTPS on 443: the HTTPS API (MQTT over WebSocket not served yet).
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The server configurations.
pub struct TlsConfigs {
    pub tls: Arc<ServerConfig>,
    pub alpn: Arc<ServerConfig>,
    /// The HTTPS API: a client certificate is optional (SigV4 clients send
    /// none; a device on the HTTP data path authenticates with one).
    pub api: Arc<ServerConfig>,
}

pub fn build(
    identity: ServerIdentity,
    cfg: &TlsConfig,
    registry: &Arc<RegistryService>,
    broker: &kumo_broker::Broker,
) -> Result<TlsConfigs> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());

    let verifier_for = |require: bool| -> Result<Arc<dyn ClientCertVerifier>> {
        Ok(match cfg.client_auth {
            ClientAuth::Registry => Arc::new(RegistryVerifier::new(
                registry.clone(),
                provider.clone(),
                require,
                Some(broker.clone()),
            )),
            ClientAuth::CaFile => {
                let roots = pki::root_store(&cfg.client_ca_file)
                    .map_err(|f| Failure::config(anyhow!("tls.client_ca_file: {:#}", f.error)))?;
                let mut verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
                if !require {
                    verifier = verifier.allow_unauthenticated();
                }
                verifier
                    .build()
                    .map_err(|e| Failure::config(anyhow!("tls.client_ca_file: {e}")))?
            }
        })
    };
    let verifier = verifier_for(cfg.require_client_cert)?;

    let signing_key = provider
        .key_provider
        .load_private_key(identity.key)
        .map_err(|e| anyhow!("cannot use the server key: {e}"))?;
    let resolver = Arc::new(EndpointResolver {
        key: Arc::new(CertifiedKey::new(identity.chain, signing_key)),
        names: cfg
            .endpoint_names
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect(),
    });

    let api_verifier = verifier_for(false)?;
    let mut api = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(api_verifier)
        .with_cert_resolver(resolver.clone());
    api.alpn_protocols = vec![ALPN_HTTP11.to_vec(), ALPN_HTTP_CA.to_vec()];
    let tls = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);
    let mut alpn = tls.clone();
    alpn.alpn_protocols = vec![
        ALPN_MQTT.to_vec(),
        ALPN_HTTP_CA.to_vec(),
        ALPN_HTTP11.to_vec(),
    ];
    Ok(TlsConfigs {
        tls: Arc::new(tls),
        alpn: Arc::new(alpn),
        api: Arc::new(api),
    })
}

/// Presents the server certificate when the SNI is an endpoint name or absent.
#[derive(Debug)]
struct EndpointResolver {
    key: Arc<CertifiedKey>,
    /// Lower-cased endpoint names; `*.` prefixes match one label.
    names: Vec<String>,
}

impl ResolvesServerCert for EndpointResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match hello.server_name() {
            None => Some(self.key.clone()),
            Some(sni) if sni_matches(&self.names, sni) => Some(self.key.clone()),
            Some(sni) => {
                tracing::info!(
                    sni,
                    "refusing TLS handshake: the requested server name is not in tls.endpoint_names"
                );
                None
            }
        }
    }
}

/// Whether `sni` is one of `names` (already lower-case), honouring `*.` wildcards.
pub fn sni_matches(names: &[String], sni: &str) -> bool {
    let sni = sni.trim_end_matches('.').to_ascii_lowercase();
    names.iter().any(|n| match n.strip_prefix("*.") {
        Some(suffix) => sni
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => *n == sni,
    })
}

#[cfg(test)]
mod tests {
    use super::sni_matches;

    #[test]
    fn sni_matching() {
        let names: Vec<String> = ["localhost", "*.iot.example"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(sni_matches(&names, "localhost"));
        assert!(sni_matches(&names, "LocalHost."));
        assert!(sni_matches(&names, "abc-ats.iot.example"));
        assert!(!sni_matches(&names, "iot.example"));
        assert!(!sni_matches(&names, "a.b.iot.example"));
        assert!(!sni_matches(&names, "other"));
    }
}
