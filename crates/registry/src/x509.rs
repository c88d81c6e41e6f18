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
    /// X.509 version 3 (TLS stacks refuse older client certificates).
    pub v3: bool,
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
        v3: cert.version() == X509Version::V3,
        der,
    })
}

/// Refuse what a TLS handshake would refuse anyway, with a clear message.
pub fn check_device_certificate(info: &CertInfo) -> Result<()> {
    if !info.v3 {
        return Err(invalid(
            "Only X.509 version 3 certificates can be registered (this one is v1: sign it with extensions, e.g. openssl x509 -req -extfile)",
        ));
    }
    if info.is_ca {
        return Err(invalid(
            "A CA certificate cannot be registered as a device certificate (RegisterCACertificate)",
        ));
    }
    Ok(())
}

pub fn pem_encode(label: &str, der: &[u8]) -> String {
    ::pem::encode_config(
        &::pem::Pem::new(label, der.to_vec()),
        ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
    )
}

/// A certificate signing request whose signature checked out: the key to
/// certify and the subject asked for.
#[derive(Debug, Clone)]
pub struct Csr {
    /// The subjectPublicKey bits (RSAPublicKey DER, or the EC point).
    pub public_key: Vec<u8>,
    /// How rcgen writes that key's SubjectPublicKeyInfo.
    pub key_algorithm: &'static rcgen::SignatureAlgorithm,
    pub subject: Vec<(String, String)>,
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";

/// The kind of a public key, as AWS IoT accepts them: how rcgen writes it,
/// and the EC curve size (0 for RSA).
fn key_kind(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> Result<(&'static rcgen::SignatureAlgorithm, usize)> {
    use x509_parser::public_key::PublicKey;
    let key_oid = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    Ok(match (key_oid.as_str(), curve.as_deref()) {
        (OID_RSA, _) => {
            let bits = match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => rsa.key_size(),
                _ => return Err(invalid("The RSA key does not parse")),
            };
            if bits < 2048 {
                return Err(invalid(format!(
                    "RSA keys of {bits} bits are not accepted; use 2048 bits or more"
                )));
            }
            (&rcgen::PKCS_RSA_SHA256, 0)
        }
        (OID_EC, Some(OID_P256)) => (&rcgen::PKCS_ECDSA_P256_SHA256, 256),
        (OID_EC, Some(OID_P384)) => (&rcgen::PKCS_ECDSA_P384_SHA384, 384),
        (OID_EC, Some(OID_P521)) => (&rcgen::PKCS_ECDSA_P521_SHA512, 521),
        _ => {
            return Err(invalid(
                "Unsupported key: use RSA (2048 bits or more) or EC P-256, P-384 or P-521",
            ))
        }
    })
}

/// Check `signature` (algorithm `sig_oid`) over `message` with the key in
/// `spki`.
fn verify_signature(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
    sig_oid: &str,
    signature: &[u8],
    message: &[u8],
) -> Result<()> {
    use aws_lc_rs::signature::{self, VerificationAlgorithm};
    let (_, curve_bits) = key_kind(spki)?;
    let verify: &dyn VerificationAlgorithm = match (sig_oid, curve_bits) {
        ("1.2.840.113549.1.1.11", 0) => &signature::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.12", 0) => &signature::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.13", 0) => &signature::RSA_PKCS1_2048_8192_SHA512,
        ("1.2.840.10045.4.3.2", 256) => &signature::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", 256) => &signature::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.10045.4.3.2", 384) => &signature::ECDSA_P384_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", 384) => &signature::ECDSA_P384_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", 521) => &signature::ECDSA_P521_SHA512_ASN1,
        _ => {
            return Err(invalid(format!(
                "Unsupported signature algorithm {sig_oid}: use SHA256/384/512 with RSA or ECDSA"
            )))
        }
    };
    verify
        .verify_sig(&spki.subject_public_key.data, message, signature)
        .map_err(|_| invalid("The signature does not verify"))
}

/// Whether `cert` (DER) was issued and signed by `issuer` (DER).
pub fn signed_by(cert: &[u8], issuer: &[u8]) -> Result<()> {
    let (_, c) = X509Certificate::from_der(cert)
        .map_err(|e| invalid(format!("The certificate does not parse: {e}")))?;
    let (_, i) = X509Certificate::from_der(issuer)
        .map_err(|e| invalid(format!("The CA certificate does not parse: {e}")))?;
    if c.issuer().as_raw() != i.subject().as_raw() {
        return Err(invalid("The certificate was not issued by this CA"));
    }
    verify_signature(
        i.public_key(),
        &c.signature_algorithm.algorithm.to_id_string(),
        &c.signature_value.data,
        c.tbs_certificate.as_ref(),
    )
    .map_err(|_| invalid("The certificate's signature does not verify with the CA's key"))
}

/// Parse and verify a PEM certificate signing request. Keys AWS IoT
/// accepts: RSA of 2048 bits or more, EC P-256, P-384 and P-521, signed
/// with SHA-256/384/512.
pub fn parse_csr(text: &str) -> Result<Csr> {
    use x509_parser::certification_request::X509CertificationRequest;

    let (_, pem) = parse_x509_pem(text.as_bytes()).map_err(|e| {
        invalid(format!(
            "The certificate signing request is not valid PEM: {e}"
        ))
    })?;
    if !pem.label.ends_with("CERTIFICATE REQUEST") {
        return Err(invalid(format!(
            "Expected a PEM CERTIFICATE REQUEST, found {}",
            pem.label
        )));
    }
    let (_, csr) = X509CertificationRequest::from_der(&pem.contents).map_err(|e| {
        invalid(format!(
            "The certificate signing request does not parse: {e}"
        ))
    })?;
    let info = &csr.certification_request_info;
    let spki = &info.subject_pki;
    let (key_algorithm, _) = key_kind(spki)?;
    verify_signature(
        spki,
        &csr.signature_algorithm.algorithm.to_id_string(),
        &csr.signature_value.data,
        info.raw,
    )
    .map_err(|e| match e {
        RegistryError::CertificateValidation(m) if m == "The signature does not verify" => {
            invalid("The certificate signing request's signature does not verify")
        }
        e => e,
    })?;
    Ok(Csr {
        public_key: spki.subject_public_key.data.to_vec(),
        key_algorithm,
        subject: names(&info.subject),
    })
}
