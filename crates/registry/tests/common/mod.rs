//! The harness of the registry tests: a registry whose every change goes
//! through a store backend, and a check on drop that the registry reloaded
//! from that store is the same (what a restart sees is what was answered).

#![allow(dead_code)]

use kumo_model::{Arn, CertificateId, PolicyName, ThingName};
use kumo_registry::things::CreateThingRequest;
use kumo_registry::{Issuer, Planned, Registry, RegistryError, Result};
use kumo_store::memory::MemoryBackend;
use kumo_store::Backend;
use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose};

pub const NOW: u64 = 1_800_000_000_000;

pub struct World {
    pub reg: Registry,
    pub backend: MemoryBackend,
    pub issuer: Issuer,
}

impl World {
    pub fn new() -> World {
        World {
            reg: Registry::new(arn()),
            backend: MemoryBackend::new(),
            issuer: issuer(),
        }
    }

    /// Make a planned operation durable, then apply it (as the server does).
    pub fn run<T>(&mut self, planned: Result<Planned<T>>) -> T {
        let p = planned.expect("operation");
        self.backend.apply(&p.ops()).expect("store");
        self.reg.apply_all(p.changes);
        p.output
    }

    pub fn thing(&mut self, name: &str) -> ThingName {
        let n = ThingName::new(name).unwrap();
        self.run(
            self.reg
                .create_thing(&n, CreateThingRequest::default(), NOW),
        );
        n
    }

    pub fn cert(&mut self, active: bool) -> CertificateId {
        let issued = self.run(
            self.reg
                .create_keys_and_certificate(&self.issuer, active, NOW),
        );
        issued.issued.cert.id
    }

    pub fn policy(&mut self, name: &str) -> PolicyName {
        let n = PolicyName::new(name).unwrap();
        self.run(self.reg.create_policy(&n, ALLOW_ALL, NOW));
        n
    }

    pub fn cert_arn(&self, id: &CertificateId) -> String {
        self.reg.arn().cert(id)
    }
}

impl Drop for World {
    /// Whatever a test did, a registry reloaded from the store is the same.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let snapshot = self.backend.load(NOW).unwrap();
        let reloaded = Registry::load(arn(), &snapshot.records).unwrap();
        assert_eq!(
            format!("{reloaded:?}"),
            format!("{:?}", self.reg),
            "reloaded registry differs"
        );
    }
}

pub fn arn() -> Arn {
    Arn::new("us-east-1", "123456789012")
}

pub fn issuer() -> Issuer {
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

pub const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;

pub fn kind(e: RegistryError) -> (&'static str, u16) {
    (e.aws_type(), e.http_status())
}
