//! Certificates and certificate signing requests as the registry reads them
//! (RegisterCertificateWithoutCA, CreateCertificateFromCsr, the TLS
//! verifier's policy variables): any input must be refused cleanly, never
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kumo_registry::x509::parse_der(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = kumo_registry::x509::parse_pem(text);
        let _ = kumo_registry::x509::parse_csr(text);
    }
    // The same bytes as the body of a PEM block.
    let b64 = base64_encode(data);
    for label in ["CERTIFICATE", "CERTIFICATE REQUEST"] {
        let pem = format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n");
        let _ = kumo_registry::x509::parse_pem(&pem);
        let _ = kumo_registry::x509::parse_csr(&pem);
    }
});

fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
