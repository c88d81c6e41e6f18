//! The device's TLS: the server verified against a CA file, the device
//! authenticated with its certificate and key (PEM or DER, as a kit holds
//! them), ALPN `x-amzn-mqtt-ca` on port 443 as AWS IoT Core requires there.
//! rustls with aws-lc-rs, chosen explicitly.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};
use rustls::ClientConfig;

use crate::DeviceError;

/// ALPN protocol AWS IoT Core expects for MQTT with a client certificate on 443.
pub const ALPN_MQTT: &[u8] = b"x-amzn-mqtt-ca";

/// Where the device's credentials are.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub ca_file: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, DeviceError> {
    std::fs::read(path).map_err(|e| DeviceError::unreadable(what, path, e))
}

fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// The certificates of a PEM (or single DER) file.
pub fn load_certificates(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, DeviceError> {
    let bytes = read(what, path)?;
    let bad = |problem: String| DeviceError::BadFile {
        what,
        path: path.to_owned(),
        problem,
    };
    if !is_pem(&bytes) {
        if bytes.first() == Some(&0x30) {
            return Ok(vec![CertificateDer::from(bytes)]);
        }
        return Err(bad(
            "is neither PEM (-----BEGIN CERTIFICATE-----) nor DER".into()
        ));
    }
    let certs: Vec<_> = rustls_pemfile::certs(&mut bytes.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad(
            "holds no certificate (expected -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(certs)
}

/// A private key: PEM (PKCS#1, PKCS#8 or SEC1) or DER (PKCS#8 or PKCS#1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, DeviceError> {
    const WHAT: &str = "private key (--key)";
    let bytes = read(WHAT, path)?;
    let bad = |problem: &str| DeviceError::BadFile {
        what: WHAT,
        path: path.to_owned(),
        problem: problem.to_owned(),
    };
    if is_pem(&bytes) {
        return rustls_pemfile::private_key(&mut bytes.as_slice())
            .map_err(|_| bad("is not valid PEM"))?
            .ok_or_else(|| {
                bad("holds no private key (expected -----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----)")
            });
    }
    if bytes.first() != Some(&0x30) {
        return Err(bad("is neither PEM nor DER"));
    }
    // DER: PKCS#8 carries an algorithm identifier; PKCS#1 is an RSA key.
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let pkcs8 = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(bytes.clone()));
    if provider
        .key_provider
        .load_private_key(pkcs8.clone_key())
        .is_ok()
    {
        return Ok(pkcs8);
    }
    Ok(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(bytes)))
}

/// The rustls configuration for these credentials; `alpn` offers
/// `x-amzn-mqtt-ca` (port 443).
pub fn client_config(c: &Credentials, alpn: bool) -> Result<ClientConfig, DeviceError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in load_certificates("CA file (--ca_file)", &c.ca_file)? {
        roots.add(ca).map_err(|e| DeviceError::BadFile {
            what: "CA file (--ca_file)",
            path: c.ca_file.clone(),
            problem: format!("holds a certificate that cannot be a trust anchor: {e}"),
        })?;
    }
    let certs = load_certificates("certificate (--cert)", &c.cert)?;
    let key = load_key(&c.key)?;
    let signing = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| DeviceError::BadFile {
            what: "private key (--key)",
            path: c.key.clone(),
            problem: format!("cannot be used: {e}"),
        })?;
    let certified = rustls::sign::CertifiedKey::new(certs.clone(), signing);
    if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
        certified.keys_match()
    {
        return Err(DeviceError::KeyMismatch {
            key: c.key.clone(),
            cert: c.cert.clone(),
        });
    }
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DeviceError::Invalid(format!("TLS set-up failed: {e}")))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| DeviceError::BadFile {
            what: "certificate (--cert)",
            path: c.cert.clone(),
            problem: format!("cannot be used with its key: {e}"),
        })?;
    if alpn {
        config.alpn_protocols = vec![ALPN_MQTT.to_vec()];
    }
    Ok(config)
}
