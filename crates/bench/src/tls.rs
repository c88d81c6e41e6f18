//! TLS client configurations, made before the run: one shared config, or
//! one per connection when each connection has its own certificate (loaded
//! from a folder of kits or generated with rcgen). aws-lc-rs is the crypto
//! provider, installed explicitly; ring is never linked.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::cli::Opts;

/// Connectors for every connection of a run.
pub struct Tls {
    configs: Vec<Arc<ClientConfig>>,
    pub server_name: ServerName<'static>,
}

impl Tls {
    /// The config for connection number `i` (round-robin over what exists).
    pub fn config(&self, i: usize) -> Arc<ClientConfig> {
        self.configs[i % self.configs.len()].clone()
    }
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// Build the TLS side for `connections` connections, or None without --tls.
pub fn build(opts: &Opts, connections: usize) -> Result<Option<Tls>> {
    let mtls = opts.cert.is_some() || opts.certs_dir.is_some() || opts.gen_certs;
    if !opts.tls {
        if mtls || opts.alpn.is_some() {
            bail!("--cert, --certs-dir, --gen-certs and --alpn need --tls");
        }
        return Ok(None);
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = RootCertStore::empty();
    let ca = opts.ca_file.as_ref().ok_or_else(|| {
        anyhow!("--tls needs --ca-file (the CA that signs the server certificate)")
    })?;
    for c in
        CertificateDer::pem_file_iter(ca).with_context(|| format!("reading {}", ca.display()))?
    {
        roots.add(c.with_context(|| format!("parsing {}", ca.display()))?)?;
    }
    let roots = Arc::new(roots);
    let name = opts.sni.clone().unwrap_or_else(|| opts.host.clone());
    let server_name =
        ServerName::try_from(name.clone()).map_err(|_| anyhow!("bad server name {name:?}"))?;

    let identities: Vec<Option<Identity>> = if let (Some(c), Some(k)) = (&opts.cert, &opts.key) {
        vec![Some(load_pair(c, k)?)]
    } else if let Some(dir) = &opts.certs_dir {
        load_dir(dir)?.into_iter().map(Some).collect()
    } else if opts.gen_certs {
        let (c, k) = (
            opts.ca_cert.as_ref().unwrap(),
            opts.ca_key.as_ref().unwrap(),
        );
        generate(c, k, connections, &prefix_of(opts))?
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None]
    };
    let configs = identities
        .into_iter()
        .map(|id| client_config(&roots, id, opts))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Tls {
        configs,
        server_name,
    }))
}

fn prefix_of(opts: &Opts) -> String {
    opts.prefix
        .clone()
        .unwrap_or_else(|| format!("kb{}", std::process::id()))
}

fn client_config(
    roots: &Arc<RootCertStore>,
    id: Option<Identity>,
    opts: &Opts,
) -> Result<Arc<ClientConfig>> {
    let builder = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots.clone());
    let mut cfg = match id {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    if let Some(a) = &opts.alpn {
        cfg.alpn_protocols = vec![a.as_bytes().to_vec()];
    }
    if !opts.tls_resume {
        cfg.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(cfg))
}

fn load_pair(cert: &Path, key: &Path) -> Result<Identity> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert.display()))?;
    if chain.is_empty() {
        bail!("no certificate in {}", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading key {}", key.display()))?;
    Ok((chain, key))
}

/// Every NAME.cert.pem with a NAME.private.key beside it, sorted by name.
fn load_dir(dir: &Path) -> Result<Vec<Identity>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".cert.pem").map(str::to_owned))
        .filter(|n| dir.join(format!("{n}.private.key")).exists())
        .collect();
    names.sort();
    if names.is_empty() {
        bail!(
            "no NAME.cert.pem + NAME.private.key pairs in {}",
            dir.display()
        );
    }
    names
        .iter()
        .map(|n| {
            load_pair(
                &dir.join(format!("{n}.cert.pem")),
                &dir.join(format!("{n}.private.key")),
            )
        })
        .collect()
}

/// `n` ECDSA P-256 client certificates signed by the given CA, CN = PREFIX-cert-I.
pub fn generate(ca_cert: &Path, ca_key: &Path, n: usize, prefix: &str) -> Result<Vec<Identity>> {
    let ca_pem = std::fs::read_to_string(ca_cert)
        .with_context(|| format!("reading {}", ca_cert.display()))?;
    let key_pem =
        std::fs::read_to_string(ca_key).with_context(|| format!("reading {}", ca_key.display()))?;
    let ca_key = KeyPair::from_pem(&key_pem).map_err(|e| anyhow!("{}: {e}", ca_key.display()))?;
    // The issuer is rebuilt from the CA certificate's subject and its key,
    // so any CA works, not only Kumo's: chains are matched by name.
    let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .map_err(|e| anyhow!("{}: {e}", ca_cert.display()))?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name =
        crate::der::subject(&ca_der).with_context(|| format!("{}", ca_cert.display()))?;
    ca_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let issuer = ca_params.self_signed(&ca_key)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{prefix}-cert-{i}"));
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &issuer, &ca_key)?;
        let key = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| anyhow!("{e}"))?;
        out.push((vec![cert.der().clone()], key));
    }
    Ok(out)
}
