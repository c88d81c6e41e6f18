//! Just enough DER to read a CA certificate's subject name, so that
//! `--gen-certs` can sign with any CA (not only Kumo's) without rcgen's
//! `x509-parser` feature, which would link `ring`.

use anyhow::{anyhow, bail, Result};
use rcgen::{DistinguishedName, DnType, DnValue};

/// One TLV: (tag, contents, rest).
fn tlv(b: &[u8]) -> Result<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first().ok_or_else(|| anyhow!("truncated DER"))?;
    let (&l0, mut b) = b.split_first().ok_or_else(|| anyhow!("truncated DER"))?;
    let len = if l0 < 0x80 {
        l0 as usize
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 || b.len() < n {
            bail!("bad DER length");
        }
        let len = b[..n].iter().fold(0usize, |a, &x| a << 8 | x as usize);
        b = &b[n..];
        len
    };
    if b.len() < len {
        bail!("truncated DER");
    }
    Ok((tag, &b[..len], &b[len..]))
}

fn oid(b: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate() {
        v = v << 7 | (x & 0x7f) as u64;
        if x & 0x80 == 0 {
            if out.is_empty() && i < b.len() {
                let first = if v < 80 { v / 40 } else { 2 };
                out.push(first);
                out.push(v - first * 40);
            } else {
                out.push(v);
            }
            v = 0;
        }
    }
    out
}

/// The subject of a DER certificate, with the same attribute order and
/// string types, so a name built from it encodes to the same bytes.
pub fn subject(cert: &[u8]) -> Result<DistinguishedName> {
    let (_, certificate, _) = tlv(cert)?;
    let (_, tbs, _) = tlv(certificate)?;
    let mut rest = tbs;
    let (tag, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r; // explicit version
    }
    for _ in 0..4 {
        // serial, signature, issuer, validity
        rest = tlv(rest)?.2;
    }
    let (_, name, _) = tlv(rest)?;
    let mut dn = DistinguishedName::new();
    let mut rdns = name;
    while !rdns.is_empty() {
        let (_, set, r) = tlv(rdns)?;
        rdns = r;
        let (_, atv, _) = tlv(set)?;
        let (_, o, r) = tlv(atv)?;
        let (stag, val, _) = tlv(r)?;
        let s = String::from_utf8(val.to_vec()).map_err(|_| anyhow!("non-UTF-8 name attribute"))?;
        let value = match stag {
            0x0c => DnValue::Utf8String(s),
            0x13 => DnValue::PrintableString(s.try_into().map_err(|e| anyhow!("{e:?}"))?),
            0x16 => DnValue::Ia5String(s.try_into().map_err(|e| anyhow!("{e:?}"))?),
            t => bail!("unsupported string type 0x{t:02x} in the CA subject"),
        };
        dn.push(DnType::from_oid(&oid(o)), value);
    }
    Ok(dn)
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DnType, KeyPair};

    #[test]
    fn round_trips_an_rcgen_subject() {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::OrganizationName, "Kumo");
        p.distinguished_name
            .push(DnType::CommonName, "Device CA 0123");
        p.distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 5]), "serial");
        let cert = p.clone().self_signed(&key).unwrap();
        let dn = super::subject(cert.der()).unwrap();
        assert_eq!(dn, p.distinguished_name);
    }
}
