//! Certificates from certificate signing requests and from customers' own
//! CAs (CreateCertificateFromCsr, RegisterCACertificate, RegisterCertificate),
//! with the registry harness of `common`.

mod common;

use common::{kind, World, NOW};
use kumo_registry::CertStatus;
use rcgen::{CertificateParams, DnType, IsCa, KeyPair};

fn csr_for(alg: &'static rcgen::SignatureAlgorithm, cn: &str) -> (KeyPair, String) {
    let key = KeyPair::generate_for(alg).unwrap();
    let mut params = CertificateParams::new(vec![]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Example Devices");
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    (key, csr)
}

#[test]
fn create_certificate_from_csr_certifies_the_devices_own_key() {
    let mut w = World::new();
    for alg in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_RSA_SHA256,
    ] {
        let (key, csr) = csr_for(alg, "pico-7");
        let out = w.run(
            w.reg
                .create_certificate_from_csr(&w.issuer, &csr, true, NOW),
        );
        let info = kumo_registry::x509::parse_pem(&out.certificate_pem).unwrap();
        assert_eq!(info.id, out.certificate_id);
        assert_eq!(
            info.subject,
            vec![
                ("CN".to_owned(), "pico-7".to_owned()),
                ("O".to_owned(), "Example Devices".to_owned())
            ]
        );
        assert_eq!(
            info.issuer,
            vec![("CN".to_owned(), "Test Device CA".to_owned())]
        );
        // The certificate holds the device's public key, not one of ours.
        let (_, cert) = x509_parser::parse_x509_certificate(&info.der).unwrap();
        let spki = cert.public_key().subject_public_key.data.to_vec();
        let want = key.public_key_raw().to_vec();
        assert_eq!(spki, want, "{alg:?}");
        let d = w.reg.describe_certificate(&out.certificate_id).unwrap();
        assert_eq!(d.certificate_description.status, CertStatus::Active);
    }
}

#[test]
fn bad_csrs_are_certificate_validation_errors() {
    let w = World::new();
    let (_, csr) = csr_for(&rcgen::PKCS_ECDSA_P256_SHA256, "x");
    // A signature that does not verify: flip a bit near the end of the DER.
    let p = pem::parse(&csr).unwrap();
    let mut der = p.contents().to_vec();
    let n = der.len() - 3;
    der[n] ^= 1;
    let tampered = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
    let e = w
        .reg
        .create_certificate_from_csr(&w.issuer, &tampered, false, NOW)
        .unwrap_err();
    assert_eq!(
        kind(e.clone()),
        ("CertificateValidationException", 400),
        "{e}"
    );
    // Ed25519 is not among AWS's key types.
    let (_, ed) = csr_for(&rcgen::PKCS_ED25519, "x");
    let e = w
        .reg
        .create_certificate_from_csr(&w.issuer, &ed, false, NOW)
        .unwrap_err();
    assert_eq!(kind(e.clone()), ("CertificateValidationException", 400));
    assert!(e.message().contains("Unsupported key"), "{e}");
    for garbage in [
        "",
        "not pem",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    ] {
        let e = w
            .reg
            .create_certificate_from_csr(&w.issuer, garbage, false, NOW)
            .unwrap_err();
        assert_eq!(
            e.aws_type(),
            "CertificateValidationException",
            "{garbage:?}"
        );
    }
    let long = "x".repeat(4097);
    let e = w
        .reg
        .create_certificate_from_csr(&w.issuer, &long, false, NOW)
        .unwrap_err();
    assert_eq!(kind(e), ("InvalidRequestException", 400));
}

/// A customer's own CA (rcgen), for bring-your-own-CA tests.
struct OwnCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl OwnCa {
    fn new(cn: &str) -> OwnCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        OwnCa { cert, key }
    }

    fn issue(&self, cn: &str) -> String {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.signed_by(&key, &self.cert, &self.key).unwrap().pem()
    }
}

#[test]
fn a_ca_is_registered_with_proof_of_its_key_and_its_certificates_follow_it() {
    use kumo_registry::cas::RegisterCa;
    let mut w = World::new();
    let code = w.run(w.reg.get_registration_code()).registration_code;
    assert_eq!(code.len(), 64);
    let again = w.reg.get_registration_code().unwrap();
    assert_eq!(again.output.registration_code, code, "stable");
    assert!(again.changes.is_empty());

    let ca = OwnCa::new("Acme Device CA");
    let other = OwnCa::new("Someone Else");
    let register = |w: &World, verification: Option<&str>| {
        w.reg.register_ca_certificate(
            RegisterCa {
                ca_pem: &ca.cert.pem(),
                verification_pem: verification,
                set_as_active: true,
                ..Default::default()
            },
            NOW,
        )
    };
    // Proof of possession: CN = the registration code, signed by the CA.
    let e = register(&w, Some(&ca.issue("not-the-code"))).unwrap_err();
    assert_eq!(kind(e), ("RegistrationCodeValidationException", 400));
    let e = register(&w, Some(&other.issue(&code))).unwrap_err();
    assert_eq!(kind(e), ("CertificateValidationException", 400));
    let e = register(&w, None).unwrap_err();
    assert_eq!(kind(e), ("InvalidRequestException", 400));
    let not_a_ca = ca.issue("leaf");
    let e = w
        .reg
        .register_ca_certificate(
            RegisterCa {
                ca_pem: &not_a_ca,
                mode: Some("SNI_ONLY"),
                ..Default::default()
            },
            NOW,
        )
        .unwrap_err();
    assert_eq!(kind(e), ("CertificateValidationException", 400));
    let ca_id = w.run(register(&w, Some(&ca.issue(&code)))).certificate_id;
    let e = register(&w, Some(&ca.issue(&code))).unwrap_err();
    assert_eq!(kind(e), ("ResourceAlreadyExistsException", 409));
    let d = w
        .reg
        .describe_ca_certificate(&ca_id)
        .unwrap()
        .certificate_description;
    assert_eq!(
        (d.status, d.auto_registration_status),
        (kumo_registry::CaStatus::Active, "DISABLE")
    );
    assert_eq!(
        w.reg
            .list_ca_certificates(None, None)
            .unwrap()
            .certificates
            .len(),
        1
    );

    // A device certificate from that CA registers (its CA found by issuer);
    // one from an unregistered CA does not.
    let device = ca.issue("pico-9");
    let r = w.run(
        w.reg
            .register_certificate(&device, None, Some("ACTIVE"), NOW),
    );
    let cert = w.reg.certificate(&r.certificate_id).unwrap();
    assert_eq!(
        (cert.ca_id.as_ref(), cert.status),
        (Some(&ca_id), CertStatus::Active)
    );
    let e = w
        .reg
        .register_certificate(&other.issue("stranger"), None, None, NOW)
        .unwrap_err();
    assert_eq!(kind(e), ("CertificateValidationException", 400));
    let e = w
        .reg
        .register_certificate(&ca.issue("x"), Some(&other.cert.pem()), None, NOW)
        .unwrap_err();
    assert_eq!(
        kind(e),
        ("CertificateValidationException", 400),
        "that CA is not registered"
    );

    // Deactivating the CA takes its certificates' connections down.
    let affected =
        w.run(
            w.reg
                .update_ca_certificate(&ca_id, Some("INACTIVE"), Some("ENABLE"), NOW),
        );
    assert_eq!(affected, vec![r.certificate_id.clone()]);
    let d = w
        .reg
        .describe_ca_certificate(&ca_id)
        .unwrap()
        .certificate_description;
    assert_eq!(d.auto_registration_status, "ENABLE");
    // It cannot go while certificates are registered with it.
    let e = w.reg.delete_ca_certificate(&ca_id).unwrap_err();
    assert_eq!(kind(e), ("CertificateStateException", 406));
    w.run(w.reg.update_certificate(&r.certificate_id, "INACTIVE", NOW));
    w.run(w.reg.delete_certificate(&r.certificate_id, false));
    w.run(w.reg.delete_ca_certificate(&ca_id));
    assert!(w.reg.ca_certificate(&ca_id).is_none());
}
