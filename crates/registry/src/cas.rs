//! Bring-your-own CA: GetRegistrationCode, RegisterCACertificate,
//! DescribeCACertificate, ListCACertificates, UpdateCACertificate,
//! DeleteCACertificate, and RegisterCertificate (a device certificate signed
//! by a registered CA).
//!
//! As on AWS IoT (DEFAULT mode), registering a CA proves possession of its
//! key: a verification certificate whose common name is the account's
//! registration code, signed by the CA. A certificate registered with a CA
//! keeps authenticating only while that CA is ACTIVE (`auth.rs`).

use kumo_model::CertificateId;
use serde::Serialize;

use crate::error::{RegistryError, Result};
use crate::x509;
use crate::{
    check_validity, page, page_size, registration_status, secs, CaCertificate, CaStatus,
    CertStatus, CertificateMode, Change, Planned, Registry,
};

const REGISTRATION_CODE: &str = "registration-code";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationCodeResponse {
    pub registration_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterCaResponse {
    pub certificate_arn: String,
    pub certificate_id: CertificateId,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaDescription {
    pub certificate_arn: String,
    pub certificate_id: CertificateId,
    pub status: CaStatus,
    pub certificate_pem: String,
    pub owned_by: String,
    pub creation_date: f64,
    pub auto_registration_status: &'static str,
    pub last_modified_date: f64,
    pub customer_version: u32,
    pub generation_id: String,
    pub validity: crate::certs::Validity,
    pub certificate_mode: CertificateMode,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeCaResponse {
    pub certificate_description: CaDescription,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaSummary {
    pub certificate_arn: String,
    pub certificate_id: CertificateId,
    pub status: CaStatus,
    pub creation_date: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListCasResponse {
    pub certificates: Vec<CaSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

/// The input of RegisterCACertificate.
#[derive(Debug, Clone, Default)]
pub struct RegisterCa<'a> {
    pub ca_pem: &'a str,
    pub verification_pem: Option<&'a str>,
    pub set_as_active: bool,
    pub allow_auto_registration: bool,
    /// `DEFAULT` (verification certificate required) or `SNI_ONLY`.
    pub mode: Option<&'a str>,
}

impl Registry {
    fn ca_or_404(&self, id: &CertificateId) -> Result<&CaCertificate> {
        self.cas
            .get(id)
            .ok_or_else(|| Registry::not_found("CA certificate", id.as_str()))
    }

    /// The account's registration code (made on first use, then stable).
    pub fn get_registration_code(&self) -> Result<Planned<RegistrationCodeResponse>> {
        if let Some(code) = self.meta.get(REGISTRATION_CODE) {
            return Ok(Planned::new(
                RegistrationCodeResponse {
                    registration_code: code.clone(),
                },
                vec![],
            ));
        }
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| RegistryError::Internal("no randomness".into()))?;
        let code: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Planned::new(
            RegistrationCodeResponse {
                registration_code: code.clone(),
            },
            vec![Change::PutMeta {
                key: REGISTRATION_CODE.into(),
                value: code,
            }],
        ))
    }

    pub fn register_ca_certificate(
        &self,
        req: RegisterCa<'_>,
        now: u64,
    ) -> Result<Planned<RegisterCaResponse>> {
        let mode = match req.mode.unwrap_or("DEFAULT") {
            "DEFAULT" => CertificateMode::Default,
            "SNI_ONLY" => CertificateMode::SniOnly,
            other => {
                return Err(RegistryError::InvalidRequest(format!(
                    "certificateMode must be DEFAULT or SNI_ONLY, not {other}"
                )))
            }
        };
        let ca = x509::parse_pem(req.ca_pem)?;
        if !ca.is_ca {
            return Err(RegistryError::CertificateValidation(
                "The certificate is not a CA certificate (basicConstraints CA:TRUE)".into(),
            ));
        }
        check_validity(&ca, now, "CA certificate")?;
        if mode == CertificateMode::Default {
            let Some(v) = req.verification_pem else {
                return Err(RegistryError::InvalidRequest(
                    "A verification certificate is required (its common name is the registration code, GetRegistrationCode)".into(),
                ));
            };
            let v = x509::parse_pem(v)?;
            let code = self.meta.get(REGISTRATION_CODE);
            let cn = v.subject.iter().find(|(k, _)| k == "CN").map(|(_, v)| v);
            if code.is_none() || cn != code {
                return Err(RegistryError::RegistrationCodeValidation(
                    "The verification certificate's common name is not the registration code (GetRegistrationCode)".into(),
                ));
            }
            x509::signed_by(&v.der, &ca.der).map_err(|_| {
                RegistryError::CertificateValidation(
                    "The verification certificate is not signed by the CA certificate".into(),
                )
            })?;
        }
        if self.cas.contains_key(&ca.id) {
            return Err(RegistryError::ResourceAlreadyExists {
                message: "The CA certificate is already registered".into(),
                resource_id: ca.id.to_string(),
                resource_arn: self.arn.cacert(&ca.id),
            });
        }
        let record = CaCertificate {
            id: ca.id.clone(),
            pem: ca.pem.clone(),
            status: if req.set_as_active {
                CaStatus::Active
            } else {
                CaStatus::Inactive
            },
            auto_registration: req.allow_auto_registration,
            mode,
            not_before: ca.not_before,
            not_after: ca.not_after,
            created_at: now,
            updated_at: now,
            generation: 1,
        };
        let out = RegisterCaResponse {
            certificate_arn: self.arn.cacert(&ca.id),
            certificate_id: ca.id,
        };
        Ok(Planned::new(out, vec![Change::PutCa(record)]))
    }

    pub fn describe_ca_certificate(&self, id: &CertificateId) -> Result<DescribeCaResponse> {
        let c = self.ca_or_404(id)?;
        Ok(DescribeCaResponse {
            certificate_description: CaDescription {
                certificate_arn: self.arn.cacert(&c.id),
                certificate_id: c.id.clone(),
                status: c.status,
                certificate_pem: c.pem.clone(),
                owned_by: self.arn.account.clone(),
                creation_date: secs(c.created_at),
                auto_registration_status: if c.auto_registration {
                    "ENABLE"
                } else {
                    "DISABLE"
                },
                last_modified_date: secs(c.updated_at),
                customer_version: 1,
                generation_id: c.generation.to_string(),
                validity: crate::certs::Validity {
                    not_before: c.not_before as f64,
                    not_after: c.not_after as f64,
                },
                certificate_mode: c.mode,
            },
        })
    }

    pub fn list_ca_certificates(
        &self,
        page_size_req: Option<u32>,
        marker: Option<&str>,
    ) -> Result<ListCasResponse> {
        let size = page_size(page_size_req, 250)?;
        let items = self.cas.values().map(|c| {
            (
                c.id.as_str(),
                CaSummary {
                    certificate_arn: self.arn.cacert(&c.id),
                    certificate_id: c.id.clone(),
                    status: c.status,
                    creation_date: secs(c.created_at),
                },
            )
        });
        let (certificates, next_marker) = page(items, marker, size, false);
        Ok(ListCasResponse {
            certificates,
            next_marker,
        })
    }

    /// UpdateCACertificate. Returns the certificates that stop
    /// authenticating (the CA left ACTIVE): their connections close.
    pub fn update_ca_certificate(
        &self,
        id: &CertificateId,
        new_status: Option<&str>,
        new_auto_registration: Option<&str>,
        now: u64,
    ) -> Result<Planned<Vec<CertificateId>>> {
        let c = self.ca_or_404(id)?;
        let mut next = c.clone();
        if let Some(s) = new_status {
            next.status = match s {
                "ACTIVE" => CaStatus::Active,
                "INACTIVE" => CaStatus::Inactive,
                other => {
                    return Err(RegistryError::InvalidRequest(format!(
                        "newStatus must be ACTIVE or INACTIVE, not {other}"
                    )))
                }
            };
        }
        if let Some(a) = new_auto_registration {
            next.auto_registration = match a {
                "ENABLE" => true,
                "DISABLE" => false,
                other => {
                    return Err(RegistryError::InvalidRequest(format!(
                        "newAutoRegistrationStatus must be ENABLE or DISABLE, not {other}"
                    )))
                }
            };
        }
        next.updated_at = now;
        next.generation += 1;
        let left = c.status == CaStatus::Active && next.status != CaStatus::Active;
        let affected = if left {
            self.certs
                .values()
                .filter(|cert| cert.ca_id.as_ref() == Some(id) && cert.status == CertStatus::Active)
                .map(|cert| cert.id.clone())
                .collect()
        } else {
            vec![]
        };
        Ok(Planned::new(affected, vec![Change::PutCa(next)]))
    }

    /// DeleteCACertificate: only an INACTIVE CA with no certificate
    /// registered under it.
    pub fn delete_ca_certificate(&self, id: &CertificateId) -> Result<Planned<()>> {
        let c = self.ca_or_404(id)?;
        if c.status == CaStatus::Active {
            return Err(RegistryError::CertificateState(format!(
                "CA certificate {id} is ACTIVE: deactivate it first (UpdateCACertificate)"
            )));
        }
        if self
            .certs
            .values()
            .any(|cert| cert.ca_id.as_ref() == Some(id))
        {
            return Err(RegistryError::CertificateState(format!(
                "CA certificate {id} has certificates registered with it: delete them first"
            )));
        }
        Ok(Planned::new((), vec![Change::DeleteCa(id.clone())]))
    }

    /// Just-in-time registration: the ACTIVE registered CA with
    /// auto-registration enabled that issued and signed `der`, if any.
    pub fn auto_registration_ca_for(&self, der: &[u8]) -> Option<CertificateId> {
        self.cas
            .values()
            .filter(|ca| ca.auto_registration && ca.status == CaStatus::Active)
            .find(|ca| x509::parse_pem(&ca.pem).is_ok_and(|c| x509::signed_by(der, &c.der).is_ok()))
            .map(|ca| ca.id.clone())
    }

    /// Just-in-time registration of an unknown certificate from an
    /// auto-registration CA: registered PENDING_ACTIVATION (it does not
    /// connect until someone makes it ACTIVE).
    pub fn register_pending(
        &self,
        der: &[u8],
        ca_id: &CertificateId,
        now: u64,
    ) -> Result<Planned<CertificateId>> {
        let info = x509::parse_der(der)?;
        x509::check_device_certificate(&info)?;
        self.check_new_certificate(&info.id)?;
        let cert = Registry::new_cert(
            &info,
            CertStatus::PendingActivation,
            Some(ca_id.clone()),
            now,
        );
        Ok(Planned::new(cert.id.clone(), vec![Change::PutCert(cert)]))
    }

    /// RegisterCertificate: a device certificate signed by a registered CA
    /// (the one given as `ca_pem`, or found by the certificate's issuer).
    /// INACTIVE unless `status` says ACTIVE.
    pub fn register_certificate(
        &self,
        pem: &str,
        ca_pem: Option<&str>,
        status: Option<&str>,
        now: u64,
    ) -> Result<Planned<crate::certs::RegisterCertificateResponse>> {
        let status = registration_status(status)?;
        let info = x509::parse_pem(pem)?;
        x509::check_device_certificate(&info)?;
        check_validity(&info, now, "certificate")?;
        let ca = match ca_pem {
            Some(ca_pem) => {
                let ca = x509::parse_pem(ca_pem)?;
                let Some(reg) = self.cas.get(&ca.id) else {
                    return Err(RegistryError::CertificateValidation(
                        "The CA certificate is not registered (RegisterCACertificate)".into(),
                    ));
                };
                x509::signed_by(&info.der, &ca.der)?;
                reg
            }
            None => self
                .cas
                .values()
                .find(|ca| {
                    x509::parse_pem(&ca.pem)
                        .is_ok_and(|c| x509::signed_by(&info.der, &c.der).is_ok())
                })
                .ok_or_else(|| {
                    RegistryError::CertificateValidation(
                        "The certificate is not signed by a registered CA".into(),
                    )
                })?,
        };
        self.check_new_certificate(&info.id)?;
        let cert = Registry::new_cert(&info, status, Some(ca.id.clone()), now);
        let out = crate::certs::RegisterCertificateResponse {
            certificate_arn: self.arn.cert(&cert.id),
            certificate_id: cert.id.clone(),
        };
        Ok(Planned::new(out, vec![Change::PutCert(cert)]))
    }
}
