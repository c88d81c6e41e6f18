//! SHA-256, the HMAC key chain and the constant-time comparison, all from
//! aws-lc-rs (already linked through rustls; no second crypto library).

use aws_lc_rs::{constant_time, digest, hmac};

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX_LOWER[usize::from(b >> 4)] as char);
        out.push(HEX_LOWER[usize::from(b & 0x0f)] as char);
    }
    out
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hmac_bytes(key: &[u8], msg: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
/// Derived per request; deriving it costs four HMACs, far less than the TLS
/// handshake in front of it, so there is no cache.
pub(crate) fn signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> hmac::Key {
    let mut k_secret = Vec::with_capacity(secret.len() + 4);
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret);
    let k_date = hmac_bytes(&k_secret, date.as_bytes());
    let k_region = hmac_bytes(k_date.as_ref(), region.as_bytes());
    let k_service = hmac_bytes(k_region.as_ref(), service.as_bytes());
    let k_signing = hmac_bytes(k_service.as_ref(), b"aws4_request");
    hmac::Key::new(hmac::HMAC_SHA256, k_signing.as_ref())
}

/// The signature of a string to sign, lowercase hex.
pub(crate) fn signature_hex(key: &hmac::Key, string_to_sign: &str) -> String {
    hex(hmac::sign(key, string_to_sign.as_bytes()).as_ref())
}

/// Compare the computed signature with the one received without leaking,
/// through timing, how many leading characters agree.
pub(crate) fn signatures_match(computed: &str, received: &str) -> bool {
    constant_time::verify_slices_are_equal(computed.as_bytes(), received.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// AWS's documented example: secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
    /// 20150830/us-east-1/iam, signing key
    /// c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9.
    #[test]
    fn documented_signing_key() {
        let key = signing_key(
            b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        // The key itself is opaque in aws-lc-rs; HMAC of "" under it is
        // checked against Python's hmac over the documented key bytes.
        assert_eq!(
            signature_hex(&key, ""),
            "cd0837e0dd1f37527bc25773d86d7252734a8ef3894fe5aaf5ae7a9b3c4c394a"
        );
    }

    #[test]
    fn comparison() {
        assert!(signatures_match("abc", "abc"));
        assert!(!signatures_match("abc", "abd"));
        assert!(!signatures_match("abc", "ab"));
    }
}
