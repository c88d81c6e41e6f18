//! Kumo's own PKI in `<data_dir>/ca/`: created on first start, checked on
//! every start.
//!
//! | file | what |
//! |---|---|
//! | `root-CA.crt` / `.key` | the server root CA; devices trust `root-CA.crt` |
//! | `server.crt` / `.key` | the TLS server certificate for `tls.endpoint_names` |
//! | `server.meta.json` | the names, expiry and issuer the server cert was made for |
//! | `device-ca.crt` / `.key` | the CA `kumo cert issue` signs device certificates with |
//!
//! Two CAs, not one: the server root is what devices trust, the device CA
//! is what Kumo trusts. Keeping them apart means a leaked device-CA key
//! cannot impersonate the server, and an operator can point
//! `tls.client_ca_file` at their own CAs without touching the server side.
//!
//! Keys are ECDSA P-256, written with mode 0600; a key file readable by
//! group or others stops Kumo (exit 2) rather than being used.
//!
//! An existing CA is used for signing without parsing its certificate (no
//! `x509-parser`): a CA's subject name is derived from its key, so the
//! issuer (name + key + key identifier) can be rebuilt from the key file
//! alone. Whatever is signed is then verified against the certificate *on
//! disk* with webpki, so a CA replaced by hand is caught rather than
//! producing a chain nobody can verify.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Failure, Result};

const SERVER_CERT_DAYS: i64 = 825; // the most Apple platforms accept
const SERVER_RENEW_DAYS: i64 = 30;
const CA_DAYS: i64 = 20 * 365;
const DEVICE_CERT_DAYS: i64 = 10 * 365;

/// File locations under `<data_dir>/ca/`.
#[derive(Debug, Clone)]
pub struct CaDir {
    pub dir: PathBuf,
}

impl CaDir {
    pub fn new(data_dir: &Path) -> Self {
        CaDir {
            dir: data_dir.join("ca"),
        }
    }
    pub fn root_cert(&self) -> PathBuf {
        self.dir.join("root-CA.crt")
    }
    pub fn root_key(&self) -> PathBuf {
        self.dir.join("root-CA.key")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.crt")
    }
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
    fn server_meta(&self) -> PathBuf {
        self.dir.join("server.meta.json")
    }
    pub fn device_cert(&self) -> PathBuf {
        self.dir.join("device-ca.crt")
    }
    pub fn device_key(&self) -> PathBuf {
        self.dir.join("device-ca.key")
    }
    fn key_files(&self) -> [PathBuf; 3] {
        [self.root_key(), self.server_key(), self.device_key()]
    }
}

/// The server's TLS identity, ready for rustls.
pub struct ServerIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// What happened on this start, for the log.
    pub events: Vec<String>,
}

/// A CA usable for signing.
struct Ca {
    cert: Certificate,
    key: KeyPair,
    cert_path: PathBuf,
}

#[derive(Clone, Copy)]
enum CaRole {
    Root,
    Device,
}

impl CaRole {
    fn label(self) -> &'static str {
        match self {
            CaRole::Root => "Kumo Root CA",
            CaRole::Device => "Kumo Device CA",
        }
    }
}

/// Refuse a private key file that group or others can access.
pub fn check_key_permissions(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Failure::config(anyhow!(
            "refusing to use {path}: the private key is accessible by group or others \
             (mode {mode:03o}); it must be 0600. Fix it with: chmod 600 {path}",
            path = path.display()
        )));
    }
    Ok(())
}

/// Check the permissions of the key files that exist, creating nothing
/// (for `kumo check-config`).
pub fn check_existing(data_dir: &Path) -> Result<()> {
    for key in CaDir::new(data_dir).key_files() {
        if key.exists() {
            check_key_permissions(&key)?;
        }
    }
    Ok(())
}

/// First-start bootstrap and every-start check: make sure both CAs and a
/// server certificate for `endpoint_names` exist, and return the latter.
pub fn ensure_server_identity(
    data_dir: &Path,
    endpoint_names: &[String],
) -> Result<ServerIdentity> {
    let dir = CaDir::new(data_dir);
    let mut events = Vec::new();
    let root = ensure_ca(&dir, CaRole::Root, &mut events)?;
    ensure_ca(&dir, CaRole::Device, &mut events)?;

    let root_key_id = hex(&root.cert.key_identifier());
    let wanted = ServerMeta {
        names: endpoint_names.to_vec(),
        not_after: 0,
        issuer_key_id: root_key_id,
    };
    let renew_by = OffsetDateTime::now_utc() + time::Duration::days(SERVER_RENEW_DAYS);
    let current: Option<ServerMeta> = fs::read(dir.server_meta())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let reason = match &current {
        _ if !dir.server_cert().exists() || !dir.server_key().exists() => Some("created"),
        None => Some("regenerated (no record of its names)"),
        Some(m) if m.names != wanted.names => Some("regenerated: tls.endpoint_names changed"),
        Some(m) if m.issuer_key_id != wanted.issuer_key_id => {
            Some("regenerated: the root CA changed")
        }
        Some(m) if m.not_after < renew_by.unix_timestamp() => Some("renewed: it expires soon"),
        Some(_) => None,
    };
    if let Some(reason) = reason {
        let (cert_pem, key_pem, not_after) = make_server_cert(&root, endpoint_names)?;
        write_file(&dir.server_key(), key_pem.as_bytes(), 0o600)?;
        write_file(&dir.server_cert(), cert_pem.as_bytes(), 0o644)?;
        let meta = ServerMeta {
            not_after,
            ..wanted
        };
        write_file(
            &dir.server_meta(),
            &serde_json::to_vec_pretty(&meta)?,
            0o644,
        )?;
        events.push(format!(
            "server certificate {reason}: {}",
            dir.server_cert().display()
        ));
    } else {
        check_key_permissions(&dir.server_key())?;
    }

    let chain = read_certs(&dir.server_cert())?;
    let key = PrivateKeyDer::from_pem_file(dir.server_key())
        .map_err(|e| anyhow!("cannot read {}: {e}", dir.server_key().display()))?;
    verify_server_chain(&dir.root_cert(), &chain, endpoint_names)?;
    Ok(ServerIdentity { chain, key, events })
}

/// Make sure both CAs exist (for `kumo cert issue`). Returns what was created.
pub fn ensure_cas(data_dir: &Path) -> Result<Vec<String>> {
    let dir = CaDir::new(data_dir);
    let mut events = Vec::new();
    ensure_ca(&dir, CaRole::Root, &mut events)?;
    ensure_ca(&dir, CaRole::Device, &mut events)?;
    Ok(events)
}

/// The files `kumo cert issue` wrote.
#[derive(Debug)]
pub struct IssuedDevice {
    pub cert: PathBuf,
    pub private_key: PathBuf,
    pub public_key: PathBuf,
}

/// Issue a device client certificate signed by the device CA and write the
/// connect-kit files `NAME.cert.pem`, `NAME.private.key`, `NAME.public.key`.
pub fn issue_device_cert(data_dir: &Path, name: &str, out_dir: &Path) -> Result<IssuedDevice> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-:".contains(&b))
    {
        return Err(Failure::config(anyhow!(
            "invalid name {name:?}: use 1 to 128 characters from a-z A-Z 0-9 _ - : (like an AWS IoT thing name)"
        )));
    }
    let out = IssuedDevice {
        cert: out_dir.join(format!("{name}.cert.pem")),
        private_key: out_dir.join(format!("{name}.private.key")),
        public_key: out_dir.join(format!("{name}.public.key")),
    };
    for p in [&out.cert, &out.private_key, &out.public_key] {
        if p.exists() {
            return Err(Failure::config(anyhow!(
                "{} already exists; refusing to overwrite it (remove it or choose another --out)",
                p.display()
            )));
        }
    }
    let dir = CaDir::new(data_dir);
    let mut events = Vec::new();
    let ca = ensure_ca(&dir, CaRole::Device, &mut events)?;

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, DEVICE_CERT_DAYS);
    let cert = params.signed_by(&key, &ca.cert, &ca.key)?;
    verify_client_chain(&ca.cert_path, cert.der())?;

    fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    write_file(&out.private_key, key.serialize_pem().as_bytes(), 0o600)?;
    write_file(&out.public_key, key.public_key_pem().as_bytes(), 0o644)?;
    write_file(&out.cert, cert.pem().as_bytes(), 0o644)?;
    Ok(out)
}

/// Kumo's device CA as the registry's certificate issuer
/// (CreateKeysAndCertificate), creating the CA if it does not exist yet.
pub fn device_issuer(data_dir: &Path) -> Result<kumo_registry::Issuer> {
    let ca = ensure_ca(&CaDir::new(data_dir), CaRole::Device, &mut Vec::new())?;
    Ok(kumo_registry::Issuer::new(ca.cert, ca.key))
}

/// Load the CA for `role`, creating it if neither file exists.
fn ensure_ca(dir: &CaDir, role: CaRole, events: &mut Vec<String>) -> Result<Ca> {
    let (cert_path, key_path) = match role {
        CaRole::Root => (dir.root_cert(), dir.root_key()),
        CaRole::Device => (dir.device_cert(), dir.device_key()),
    };
    match (cert_path.exists(), key_path.exists()) {
        (_, true) => {
            check_key_permissions(&key_path)?;
            let pem = fs::read_to_string(&key_path)
                .with_context(|| format!("cannot read {}", key_path.display()))?;
            let key = KeyPair::from_pem(&pem)
                .map_err(|e| anyhow!("{} is not a usable private key: {e}", key_path.display()))?;
            let cert = ca_params(role, &key)?.self_signed(&key)?;
            if !cert_path.exists() {
                // Same subject and key: certificates it signed stay valid.
                write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
                events.push(format!(
                    "{} certificate re-created from its key: {}",
                    role.label(),
                    cert_path.display()
                ));
            }
            Ok(Ca {
                cert,
                key,
                cert_path,
            })
        }
        (true, false) => Err(Failure::runtime(anyhow!(
            "{} exists but its key {} is missing; restore the key, or remove the certificate \
             to generate a new CA (every certificate it issued then stops working)",
            cert_path.display(),
            key_path.display()
        ))),
        (false, false) => {
            create_dir(&dir.dir)?;
            let key = KeyPair::generate()?;
            let cert = ca_params(role, &key)?.self_signed(&key)?;
            write_file(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
            write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
            events.push(format!("{} created: {}", role.label(), cert_path.display()));
            Ok(Ca {
                cert,
                key,
                cert_path,
            })
        }
    }
}

/// A CA's parameters, a pure function of its role and key, so that an
/// existing CA can be rebuilt as an issuer from its key file.
fn ca_params(role: CaRole, key: &KeyPair) -> Result<CertificateParams> {
    // The key identifier (truncated SHA-256 of the public key) makes the
    // subject unique per installation.
    let key_id = CertificateParams::default()
        .self_signed(key)?
        .key_identifier();
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(&format!("{} {}", role.label(), &hex(&key_id)[..16]));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, CA_DAYS);
    Ok(params)
}

fn make_server_cert(root: &Ca, names: &[String]) -> Result<(String, String, i64)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let cn = names
        .iter()
        .find(|n| n.parse::<std::net::IpAddr>().is_err())
        .map(String::as_str)
        .unwrap_or("Kumo server");
    params.distinguished_name = dn(cn);
    params.subject_alt_names = names
        .iter()
        .map(|n| match n.parse() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => Ok(SanType::DnsName(n.clone().try_into()?)),
        })
        .collect::<Result<_, rcgen::Error>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, SERVER_CERT_DAYS);
    let not_after = params.not_after.unix_timestamp();
    let cert = params.signed_by(&key, &root.cert, &root.key)?;
    Ok((cert.pem(), key.serialize_pem(), not_after))
}

/// What the current server certificate was made for.
#[derive(Debug, Serialize, Deserialize)]
struct ServerMeta {
    names: Vec<String>,
    not_after: i64,
    issuer_key_id: String,
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Kumo");
    dn.push(DnType::CommonName, cn);
    dn
}

fn set_validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1); // tolerate clock skew
    params.not_after = now + time::Duration::days(days);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(anyhow!("{} contains no PEM certificate", path.display()).into());
    }
    Ok(certs)
}

/// A trust store from a PEM bundle (also used for `tls.client_ca_file`).
pub fn root_store(path: &Path) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(path)? {
        roots.add(cert).map_err(|e| {
            anyhow!(
                "{} holds a certificate rustls cannot use as a CA: {e}",
                path.display()
            )
        })?;
    }
    Ok(roots)
}

/// Check the server chain verifies against `root-CA.crt` for every
/// non-wildcard endpoint name, as a device would.
fn verify_server_chain(
    root: &Path,
    chain: &[CertificateDer<'static>],
    names: &[String],
) -> Result<()> {
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(root_store(root)?),
        provider(),
    )
    .build()?;
    for name in names.iter().filter(|n| !n.starts_with("*.")) {
        let server_name = ServerName::try_from(name.as_str())?;
        verifier
            .verify_server_cert(&chain[0], &chain[1..], &server_name, &[], UnixTime::now())
            .map_err(|e| {
                anyhow!(
                    "the server certificate does not verify against {} for {name}: {e}. \
                     If the root CA was replaced, remove ca/server.* to re-issue it",
                    root.display()
                )
            })?;
    }
    Ok(())
}

fn verify_client_chain(ca: &Path, cert: &CertificateDer<'_>) -> Result<()> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(root_store(ca)?),
        provider(),
    )
    .build()?;
    verifier
        .verify_client_cert(cert, &[], UnixTime::now())
        .map_err(|e| {
            anyhow!(
                "the new device certificate does not verify against {}: {e}",
                ca.display()
            )
        })?;
    Ok(())
}

fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(())
}

/// Write `path` atomically (temp file + rename) with `mode`.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests;
