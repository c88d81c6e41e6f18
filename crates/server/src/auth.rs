//! Client certificates checked against the registry, in the TLS handshake.
//!
//! AWS IoT's rule (`tls.client_auth = "registry"`): a client certificate is
//! accepted when it is registered, ACTIVE, valid now, and — if it was
//! registered with a CA — that CA is registered and ACTIVE too. The
//! certificate is found by its id (SHA-256 of its DER) in the in-memory
//! registry: no query, no chain building per handshake (a chain is checked
//! once, when the certificate is registered). The client still proves it
//! holds the key: the handshake signature is verified as usual.
//!
//! A refusal is a TLS alert (bad_certificate, or certificate_expired /
//! certificate_revoked), logged with the certificate id and why, so an
//! operator can tell "not registered" from "INACTIVE".

use std::fmt;
use std::sync::Arc;

use kumo_registry::{CaStatus, CertStatus};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};
use tracing::info;

use kumo_broker::Broker;

use crate::admin::RegistryService;

pub struct RegistryVerifier {
    registry: Arc<RegistryService>,
    provider: Arc<CryptoProvider>,
    mandatory: bool,
    /// For just-in-time registration events (None in unit tests).
    broker: Option<Broker>,
}

impl fmt::Debug for RegistryVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryVerifier").finish_non_exhaustive()
    }
}

/// Why a certificate was refused, for the log and the handshake error.
#[derive(Debug)]
struct Refused(String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refuse(why: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Refused(why)))))
}

impl RegistryVerifier {
    pub fn new(
        registry: Arc<RegistryService>,
        provider: Arc<CryptoProvider>,
        mandatory: bool,
        broker: Option<Broker>,
    ) -> RegistryVerifier {
        RegistryVerifier {
            registry,
            provider,
            mandatory,
            broker,
        }
    }

    /// Just-in-time registration (AWS JITR): an unknown certificate signed
    /// by an ACTIVE registered CA with auto-registration is registered
    /// PENDING_ACTIVATION, in the background, and
    /// `$aws/events/certificates/registered/{caCertificateId}` is published
    /// (a rule, a Lambda or an operator then activates it). This connection
    /// is refused either way.
    fn auto_register(&self, der: &[u8], id: &kumo_model::CertificateId) -> bool {
        let Some(ca_id) = self.registry.read(|r| r.auto_registration_ca_for(der)) else {
            return false;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        info!(certificate_id = %id, ca_certificate_id = %ca_id,
            "unknown client certificate from an auto-registration CA: registering it PENDING_ACTIVATION");
        let registry = self.registry.clone();
        let broker = self.broker.clone();
        let der = der.to_vec();
        rt.spawn(async move {
            let ca = ca_id.clone();
            let registered = registry
                .apply("RegisterCertificate (just-in-time)", false, move |r| {
                    let now = crate::admin::now_ms();
                    r.register_pending(&der, &ca, now)
                        .map(|p| (p, (now, r.arn().account.clone())))
                })
                .await;
            match registered {
                Ok((cert_id, (now, account))) => {
                    let event = serde_json::json!({
                        "certificateId": cert_id.as_str(),
                        "caCertificateId": ca_id.as_str(),
                        "timestamp": now,
                        "certificateStatus": "PENDING_ACTIVATION",
                        "awsAccountId": account,
                        "certificateRegistrationTimestamp": now,
                    });
                    if let Some(b) = broker {
                        b.publish_event(
                            &format!("$aws/events/certificates/registered/{ca_id}"),
                            serde_json::to_vec(&event).unwrap_or_default(),
                        );
                    }
                }
                // Registered meanwhile by another handshake: nothing to do.
                Err(kumo_registry::RegistryError::ResourceAlreadyExists { .. }) => {}
                Err(e) => tracing::warn!("just-in-time registration failed: {e}"),
            }
        });
        true
    }

    /// The registry's verdict on a certificate at `now` (Unix seconds).
    fn check(&self, der: &[u8], now: i64) -> Result<(), rustls::Error> {
        let id = kumo_registry::x509::certificate_id(der);
        if !self.registry.read(|r| r.certificate(&id).is_some()) {
            if self.auto_register(der, &id) {
                return Err(refuse(format!(
                    "certificate {id} was not registered; it is now PENDING_ACTIVATION (just-in-time registration)"
                )));
            }
            info!(certificate_id = %id, "client certificate refused: not registered");
            return Err(refuse(format!("certificate {id} is not registered")));
        }
        self.registry.read(|r| {
            let Some(cert) = r.certificate(&id) else {
                return Err(refuse(format!("certificate {id} is not registered")));
            };
            match cert.status {
                CertStatus::Active => {}
                CertStatus::Revoked => {
                    info!(certificate_id = %id, "client certificate refused: REVOKED");
                    return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
                }
                other => {
                    info!(certificate_id = %id, status = other.as_str(), "client certificate refused: not ACTIVE");
                    return Err(refuse(format!(
                        "certificate {id} is {}, not ACTIVE",
                        other.as_str()
                    )));
                }
            }
            if now < cert.not_before {
                info!(certificate_id = %id, "client certificate refused: not yet valid");
                return Err(rustls::Error::InvalidCertificate(CertificateError::NotValidYet));
            }
            if now > cert.not_after {
                info!(certificate_id = %id, "client certificate refused: expired");
                return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
            }
            if let Some(ca_id) = &cert.ca_id {
                let ca_active = r
                    .ca_certificate(ca_id)
                    .is_some_and(|ca| ca.status == CaStatus::Active);
                if !ca_active {
                    info!(certificate_id = %id, ca_certificate_id = %ca_id, "client certificate refused: its CA is not ACTIVE");
                    return Err(refuse(format!(
                        "the CA {ca_id} of certificate {id} is not registered and ACTIVE"
                    )));
                }
            }
            Ok(())
        })
    }
}

impl ClientCertVerifier for RegistryVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    /// No CA names: a client sends its certificate whoever issued it (a
    /// certificate registered without a CA has no CA Kumo could name).
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, now.as_secs() as i64)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kumo_model::Arn;
    use kumo_registry::api::Request;
    use kumo_registry::{Issuer, Registry};
    use kumo_store::memory::MemoryBackend;
    use kumo_store::{Durability, Store};
    use rcgen::{CertificateParams, IsCa, KeyPair};
    use serde_json::json;

    fn service() -> Arc<RegistryService> {
        let (store, _) = Store::open(MemoryBackend::new(), Durability::Sync, 0).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![]).unwrap();
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        Arc::new(RegistryService::new(
            Registry::new(Arn::new("us-east-1", "123456789012")),
            store,
            Issuer::new(ca, key),
        ))
    }

    async fn run(s: &Arc<RegistryService>, v: serde_json::Value) -> serde_json::Value {
        s.execute(Request::from_json(v).unwrap()).await.unwrap().0
    }

    fn der(pem: &str) -> Vec<u8> {
        ::pem::parse(pem).unwrap().into_contents()
    }

    fn is(e: &Result<(), rustls::Error>, want: CertificateError) -> bool {
        matches!(e, Err(rustls::Error::InvalidCertificate(c)) if *c == want)
    }

    #[tokio::test]
    async fn the_registry_decides_which_certificates_connect() {
        let s = service();
        let v = RegistryVerifier::new(
            s.clone(),
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            true,
            None,
        );
        let created = run(
            &s,
            json!({"op": "CreateKeysAndCertificate", "setAsActive": true}),
        )
        .await;
        let cert = der(created["certificatePem"].as_str().unwrap());
        let id = created["certificateId"].as_str().unwrap();
        let d = run(
            &s,
            json!({"op": "DescribeCertificate", "certificateId": id}),
        )
        .await;
        let not_before = d["certificateDescription"]["validity"]["notBefore"]
            .as_f64()
            .unwrap() as i64;
        let not_after = d["certificateDescription"]["validity"]["notAfter"]
            .as_f64()
            .unwrap() as i64;

        assert!(v.check(&cert, not_before + 10).is_ok());
        assert!(is(
            &v.check(&cert, not_before - 1),
            CertificateError::NotValidYet
        ));
        assert!(is(
            &v.check(&cert, not_after + 1),
            CertificateError::Expired
        ));

        run(
            &s,
            json!({"op": "UpdateCertificate", "certificateId": id, "newStatus": "INACTIVE"}),
        )
        .await;
        let e = v.check(&cert, not_before + 10).unwrap_err();
        assert!(e.to_string().contains("INACTIVE"), "{e}");
        run(
            &s,
            json!({"op": "UpdateCertificate", "certificateId": id, "newStatus": "REVOKED"}),
        )
        .await;
        assert!(is(
            &v.check(&cert, not_before + 10),
            CertificateError::Revoked
        ));

        // Never registered.
        let other = run(&s, json!({"op": "CreateKeysAndCertificate"})).await;
        let mut unknown = der(other["certificatePem"].as_str().unwrap());
        let last = unknown.len() - 1;
        unknown[last] ^= 1;
        let e = v.check(&unknown, not_before + 10).unwrap_err();
        assert!(e.to_string().contains("not registered"), "{e}");
    }
}
