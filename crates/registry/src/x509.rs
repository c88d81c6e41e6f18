//! Reading certificates: PEM or DER in, the facts the registry keeps out
//! (id, validity, whether it is a CA, subject and issuer attributes for
//! policy variables).

use kumo_model::CertificateId;
use x509_parser::prelude::*;

use crate::error::{RegistryError, Result};

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A certificate's id: the lowercase hex SHA-256 of its DER (as AWS).
pub fn certificate_id(der: &[u8]) -> CertificateId {
    CertificateId::from_digest(&sha256(der))
}

/// What the registry needs to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub id: CertificateId,
    pub der: Vec<u8>,
    /// The certificate as PEM (normalised: what was given may have had
    /// other text around it).
    pub pem: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub is_ca: bool,
    /// Raw DER of the subject and issuer names (to match a certificate
    /// with the CA that issued it).
    pub subject_der: Vec<u8>,
    pub issuer_der: Vec<u8>,
    /// Subject and issuer attributes by short name (`CN`, `O`, ...), in
    /// certificate order, for `iot:Certificate.*` policy variables.
    pub subject: Vec<(String, String)>,
    pub issuer: Vec<(String, String)>,
    /// Upper-case hex, no separators.
    pub serial: String,
}

fn invalid(msg: impl Into<String>) -> RegistryError {
    RegistryError::CertificateValidation(msg.into())
}

/// Parse the first certificate of a PEM text.
pub fn parse_pem(text: &str) -> Result<CertInfo> {
    let (_, pem) = parse_x509_pem(text.as_bytes())
        .map_err(|e| invalid(format!("The certificate is not a valid PEM: {e}")))?;
    if pem.label != "CERTIFICATE" {
        return Err(invalid(format!(
            "Expected a PEM CERTIFICATE, found {}",
            pem.label
        )));
    }
    parse_der(&pem.contents)
}

fn names(name: &X509Name<'_>) -> Vec<(String, String)> {
    let registry = x509_parser::objects::oid_registry();
    name.iter_attributes()
        .map(|a| {
            let key = x509_parser::objects::oid2abbrev(a.attr_type(), registry)
                .map(str::to_owned)
                .unwrap_or_else(|_| a.attr_type().to_id_string());
            let value = a.as_str().map(str::to_owned).unwrap_or_default();
            (key, value)
        })
        .collect()
}

pub fn parse_der(der: &[u8]) -> Result<CertInfo> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| invalid(format!("The certificate does not parse: {e}")))?;
    if !rest.is_empty() {
        return Err(invalid("Trailing data after the certificate"));
    }
    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|b| b.value.ca);
    let der = der.to_vec();
    Ok(CertInfo {
        id: certificate_id(&der),
        pem: pem_encode("CERTIFICATE", &der),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        is_ca,
        subject_der: cert.subject().as_raw().to_vec(),
        issuer_der: cert.issuer().as_raw().to_vec(),
        subject: names(cert.subject()),
        issuer: names(cert.issuer()),
        serial: cert
            .tbs_certificate
            .raw_serial()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect(),
        der,
    })
}

pub fn pem_encode(label: &str, der: &[u8]) -> String {
    ::pem::encode_config(
        &::pem::Pem::new(label, der.to_vec()),
        ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
    )
}
