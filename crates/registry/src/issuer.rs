//! Kumo's device-certificate issuer: what CreateKeysAndCertificate (and,
//! later, CreateCertificateFromCsr and fleet provisioning) sign with.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_RSA_SHA256,
};

use crate::error::{RegistryError, Result};
use crate::x509::{self, CertInfo, Csr};

/// Certificates Kumo issues expire when AWS's do: 2049-12-31T23:59:59Z.
const NOT_AFTER_UNIX: i64 = 2_524_607_999;

/// The device CA, ready to sign.
pub struct Issuer {
    ca: rcgen::Certificate,
    key: KeyPair,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").finish_non_exhaustive()
    }
}

/// A certificate and the key pair made for it. The private key is handed
/// to the caller once and never stored.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert: CertInfo,
    /// PKCS#1 (`-----BEGIN RSA PRIVATE KEY-----`), as AWS returns it.
    pub private_key_pem: String,
    /// The same key, DER (PKCS#1), for devices without a PEM parser.
    pub private_key_der: Vec<u8>,
    /// SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
}

fn failed(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Internal(format!("cannot issue a certificate: {e}"))
}

impl Issuer {
    /// `ca` must be the CA certificate as rebuilt from its key (same
    /// subject and key as the file devices trust).
    pub fn new(ca: rcgen::Certificate, key: KeyPair) -> Issuer {
        Issuer { ca, key }
    }

    pub fn ca_der(&self) -> &[u8] {
        self.ca.der()
    }

    /// A new RSA-2048 key pair and a client certificate for it, valid from
    /// `now_secs` (Unix) to the end of 2049 (CreateKeysAndCertificate).
    pub fn create_keys_and_certificate(&self, now_secs: i64) -> Result<Issued> {
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(failed)?;
        let cert = self.sign(&key, now_secs)?;
        let pkcs1 = pkcs8_rsa_to_pkcs1(&key.serialize_der())
            .ok_or_else(|| failed("unexpected PKCS#8 layout"))?;
        Ok(Issued {
            cert,
            private_key_pem: x509::pem_encode("RSA PRIVATE KEY", &pkcs1),
            private_key_der: pkcs1,
            public_key_pem: key.public_key_pem(),
        })
    }

    /// A client certificate for the key of a verified CSR
    /// (CreateCertificateFromCsr), with the subject it asked for (the
    /// attributes rcgen knows; others are left out), or Kumo's default
    /// subject when it asked for none.
    pub fn sign_csr(&self, csr: &Csr, now_secs: i64) -> Result<CertInfo> {
        let mut dn = DistinguishedName::new();
        for (k, v) in &csr.subject {
            let t = match k.as_str() {
                "CN" => DnType::CommonName,
                "O" => DnType::OrganizationName,
                "OU" => DnType::OrganizationalUnitName,
                "C" => DnType::CountryName,
                "ST" => DnType::StateOrProvinceName,
                "L" => DnType::LocalityName,
                _ => continue,
            };
            dn.push(t, v.as_str());
        }
        let key = CsrKey(csr);
        self.sign_with(&key, dn, now_secs)
    }

    fn sign(&self, key: &KeyPair, now_secs: i64) -> Result<CertInfo> {
        self.sign_with(key, DistinguishedName::new(), now_secs)
    }

    fn sign_with(
        &self,
        key: &impl rcgen::PublicKeyData,
        mut dn: DistinguishedName,
        now_secs: i64,
    ) -> Result<CertInfo> {
        let mut params = CertificateParams::default();
        if dn.iter().next().is_none() {
            dn.push(DnType::CommonName, "Kumo IoT Certificate");
        }
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        // A minute of slack for devices whose clock is a little behind.
        params.not_before =
            time::OffsetDateTime::from_unix_timestamp(now_secs - 60).map_err(failed)?;
        params.not_after =
            time::OffsetDateTime::from_unix_timestamp(NOT_AFTER_UNIX).map_err(failed)?;
        // A random serial (RFC 5280: unique per issuer, positive).
        let mut serial = [0u8; 16];
        aws_lc_rs::rand::fill(&mut serial).map_err(|_| failed("no randomness"))?;
        serial[0] &= 0x7f;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let cert = params.signed_by(key, &self.ca, &self.key).map_err(failed)?;
        x509::parse_der(cert.der())
    }
}

/// A CSR's public key, as rcgen wants a key it does not hold.
struct CsrKey<'a>(&'a Csr);

impl rcgen::PublicKeyData for CsrKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.0.public_key
    }

    fn algorithm(&self) -> &rcgen::SignatureAlgorithm {
        self.0.key_algorithm
    }
}

/// PKCS#8 `PrivateKeyInfo` of an RSA key → the PKCS#1 `RSAPrivateKey` it
/// wraps: SEQUENCE { INTEGER 0, AlgorithmIdentifier, OCTET STRING { key } }.
fn pkcs8_rsa_to_pkcs1(der: &[u8]) -> Option<Vec<u8>> {
    fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = b.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |a, &x| (a << 8) | usize::from(x));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        Some((tag, &rest[..len], &rest[len..]))
    }
    let (0x30, body, _) = tlv(der)? else {
        return None;
    };
    let (0x02, _version, rest) = tlv(body)? else {
        return None;
    };
    let (0x30, _alg, rest) = tlv(rest)? else {
        return None;
    };
    let (0x04, key, _) = tlv(rest)? else {
        return None;
    };
    Some(key.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn test_issuer() -> Issuer {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Test Device CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = params.self_signed(&key).unwrap();
        Issuer::new(ca, key)
    }

    #[test]
    fn issues_an_rsa_client_certificate_with_a_pkcs1_key() {
        let issuer = test_issuer();
        let now = 1_800_000_000;
        let issued = issuer.create_keys_and_certificate(now).unwrap();
        assert!(issued
            .private_key_pem
            .starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(issued
            .public_key_pem
            .starts_with("-----BEGIN PUBLIC KEY-----"));
        assert!(issued.cert.pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(issued.cert.not_after, NOT_AFTER_UNIX);
        assert_eq!(issued.cert.not_before, now - 60);
        assert!(!issued.cert.is_ca);
        assert_eq!(
            issued.cert.subject,
            vec![("CN".to_owned(), "Kumo IoT Certificate".to_owned())]
        );
        assert_eq!(
            issued.cert.issuer,
            vec![("CN".to_owned(), "Test Device CA".to_owned())]
        );
        assert_eq!(issued.cert.id, x509::certificate_id(&issued.cert.der));
        // The PKCS#1 key is a SEQUENCE starting with version 0.
        assert_eq!(&issued.private_key_der[..1], &[0x30]);
        // A second one is a different certificate.
        let other = issuer.create_keys_and_certificate(now).unwrap();
        assert_ne!(other.cert.id, issued.cert.id);
    }
}
