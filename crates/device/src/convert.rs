//! PEM ⇄ DER for certificates and private keys: what a MicroPython board
//! needs (`ssl.wrap_socket(key=DER, cert=DER)`), without OpenSSL.

use std::path::Path;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};

use crate::DeviceError;

/// What a conversion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The PEM label of the object (`CERTIFICATE`, `RSA PRIVATE KEY`, ...).
    pub label: String,
    pub to_der: bool,
}

/// Convert `input` (PEM or DER) to the other form in `output`. Refuses to
/// overwrite `output`.
pub fn convert(input: &Path, output: &Path) -> Result<Converted, DeviceError> {
    let bytes = std::fs::read(input).map_err(|e| DeviceError::unreadable("input", input, e))?;
    let (out, converted) = convert_bytes(&bytes).map_err(|problem| DeviceError::BadFile {
        what: "input",
        path: input.to_owned(),
        problem,
    })?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(output)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                DeviceError::Invalid(format!(
                    "{} already exists; remove it or choose another output",
                    output.display()
                ))
            } else {
                DeviceError::unreadable("output", output, e)
            }
        })?;
    // Keys stay private.
    #[cfg(unix)]
    if converted.label.contains("PRIVATE KEY") {
        use std::os::unix::fs::PermissionsExt;
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    std::io::Write::write_all(&mut file, &out)
        .map_err(|e| DeviceError::unreadable("output", output, e))?;
    Ok(converted)
}

/// The converted bytes, or what is wrong with the input.
pub fn convert_bytes(bytes: &[u8]) -> Result<(Vec<u8>, Converted), String> {
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let p = pem::parse(bytes).map_err(|e| format!("is not valid PEM: {e}"))?;
        let label = p.tag().to_owned();
        if !matches!(
            label.as_str(),
            "CERTIFICATE" | "RSA PRIVATE KEY" | "PRIVATE KEY" | "EC PRIVATE KEY"
        ) {
            return Err(format!("holds a {label}, not a certificate or private key"));
        }
        return Ok((
            p.into_contents(),
            Converted {
                label,
                to_der: true,
            },
        ));
    }
    if bytes.first() != Some(&0x30) {
        return Err("is neither PEM nor DER".into());
    }
    let label = der_label(bytes).ok_or("is DER but neither a certificate nor a private key")?;
    let text = pem::encode_config(
        &pem::Pem::new(label, bytes.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    );
    Ok((
        text.into_bytes(),
        Converted {
            label: label.to_owned(),
            to_der: false,
        },
    ))
}

/// What a DER object is: a private key rustls can load, else a certificate
/// if it parses as one.
fn der_label(der: &[u8]) -> Option<&'static str> {
    let keys = rustls::crypto::aws_lc_rs::default_provider().key_provider;
    let pkcs8 = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.to_vec()));
    if keys.load_private_key(pkcs8).is_ok() {
        return Some("PRIVATE KEY");
    }
    let pkcs1 = PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der.to_vec()));
    if keys.load_private_key(pkcs1).is_ok() {
        return Some("RSA PRIVATE KEY");
    }
    let cert = rustls::pki_types::CertificateDer::from(der);
    webpki::EndEntityCert::try_from(&cert)
        .is_ok()
        .then_some("CERTIFICATE")
}
