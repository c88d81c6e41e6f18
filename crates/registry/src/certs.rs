//! CreateKeysAndCertificate, RegisterCertificateWithoutCA,
//! UpdateCertificate, DescribeCertificate, ListCertificates,
//! DeleteCertificate.

use kumo_model::CertificateId;
use serde::Serialize;

use crate::error::{RegistryError, Result};
use crate::x509::CertInfo;
use crate::{
    check_validity, page, page_size, registration_status, secs, Attachment, CertStatus,
    Certificate, CertificateMode, Change, Issued, Issuer, Planned, Registry,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyPairOut {
    pub public_key: String,
    pub private_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateKeysAndCertificateResponse {
    pub certificate_arn: String,
    pub certificate_id: CertificateId,
    pub certificate_pem: String,
    /// `PublicKey` / `PrivateKey`: capitalised, as AWS sends them.
    pub key_pair: KeyPairOut,
}

/// A certificate Kumo made, with the key that only this answer carries.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub arn: String,
    pub issued: Issued,
}

impl IssuedCertificate {
    pub fn response(&self) -> CreateKeysAndCertificateResponse {
        CreateKeysAndCertificateResponse {
            certificate_arn: self.arn.clone(),
            certificate_id: self.issued.cert.id.clone(),
            certificate_pem: self.issued.cert.pem.clone(),
            key_pair: KeyPairOut {
                public_key: self.issued.public_key_pem.clone(),
                private_key: self.issued.private_key_pem.clone(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCertificateFromCsrResponse {
    pub certificate_arn: String,
    pub certificate_id: CertificateId,
    pub certificate_pem: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterCertificateResponse {
    pub certificate_arn: String,
    pub certificate_id: CertificateId,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Validity {
    pub not_before: f64,
    pub not_after: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateDescription {
    pub certificate_arn: String,
    pub certificate_id: CertificateId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificate_id: Option<CertificateId>,
    pub status: CertStatus,
    pub certificate_pem: String,
    pub owned_by: String,
    pub creation_date: f64,
    pub last_modified_date: f64,
    pub customer_version: u32,
    pub generation_id: String,
    pub validity: Validity,
    pub certificate_mode: CertificateMode,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeCertificateResponse {
    pub certificate_description: CertificateDescription,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSummary {
    pub certificate_arn: String,
    pub certificate_id: CertificateId,
    pub status: CertStatus,
    pub certificate_mode: CertificateMode,
    pub creation_date: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListCertificatesResponse {
    pub certificates: Vec<CertificateSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

/// What an UpdateCertificate did that the data plane must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    /// The certificate was ACTIVE and no longer is: close its connections.
    pub left_active: bool,
}

impl Registry {
    fn cert_or_404(&self, id: &CertificateId) -> Result<&Certificate> {
        self.certs
            .get(id)
            .ok_or_else(|| Registry::not_found("Certificate", id.as_str()))
    }

    pub(crate) fn new_cert(
        info: &CertInfo,
        status: CertStatus,
        ca_id: Option<CertificateId>,
        now: u64,
    ) -> Certificate {
        Certificate {
            id: info.id.clone(),
            pem: info.pem.clone(),
            status,
            ca_id,
            mode: CertificateMode::Default,
            not_before: info.not_before,
            not_after: info.not_after,
            created_at: now,
            updated_at: now,
            generation: 1,
        }
    }

    /// CreateKeysAndCertificate: a key pair made here, a certificate signed
    /// by Kumo's device CA, INACTIVE unless `set_as_active`.
    pub fn create_keys_and_certificate(
        &self,
        issuer: &Issuer,
        set_as_active: bool,
        now: u64,
    ) -> Result<Planned<IssuedCertificate>> {
        let issued = issuer.create_keys_and_certificate((now / 1000) as i64)?;
        let status = if set_as_active {
            CertStatus::Active
        } else {
            CertStatus::Inactive
        };
        let cert = Registry::new_cert(&issued.cert, status, None, now);
        let out = IssuedCertificate {
            arn: self.arn.cert(&cert.id),
            issued,
        };
        Ok(Planned::new(out, vec![Change::PutCert(cert)]))
    }

    /// CreateCertificateFromCsr: a certificate signed by Kumo's device CA
    /// for the key of the request (which must verify), INACTIVE unless
    /// `set_as_active`. The private key never leaves the device.
    pub fn create_certificate_from_csr(
        &self,
        issuer: &Issuer,
        csr_pem: &str,
        set_as_active: bool,
        now: u64,
    ) -> Result<Planned<CreateCertificateFromCsrResponse>> {
        if csr_pem.len() > 4096 {
            return Err(RegistryError::InvalidRequest(
                "1 validation error detected: Value at 'certificateSigningRequest' failed to satisfy constraint: Member must have length less than or equal to 4096".into(),
            ));
        }
        let csr = crate::x509::parse_csr(csr_pem)?;
        let info = issuer.sign_csr(&csr, (now / 1000) as i64)?;
        let status = if set_as_active {
            CertStatus::Active
        } else {
            CertStatus::Inactive
        };
        let cert = Registry::new_cert(&info, status, None, now);
        let out = CreateCertificateFromCsrResponse {
            certificate_arn: self.arn.cert(&cert.id),
            certificate_id: cert.id.clone(),
            certificate_pem: cert.pem.clone(),
        };
        Ok(Planned::new(out, vec![Change::PutCert(cert)]))
    }

    /// RegisterCertificateWithoutCA: any certificate (self-signed, or from
    /// a CA Kumo does not know), INACTIVE unless `status` says ACTIVE.
    pub fn register_certificate_without_ca(
        &self,
        pem: &str,
        status: Option<&str>,
        now: u64,
    ) -> Result<Planned<RegisterCertificateResponse>> {
        let status = registration_status(status)?;
        let info = crate::x509::parse_pem(pem)?;
        crate::x509::check_device_certificate(&info)?;
        check_validity(&info, now, "certificate")?;
        self.check_new_certificate(&info.id)?;
        let cert = Registry::new_cert(&info, status, None, now);
        let out = RegisterCertificateResponse {
            certificate_arn: self.arn.cert(&cert.id),
            certificate_id: cert.id.clone(),
        };
        Ok(Planned::new(out, vec![Change::PutCert(cert)]))
    }

    /// UpdateCertificate. PENDING_TRANSFER, PENDING_ACTIVATION and
    /// REGISTER_INACTIVE are states AWS sets itself; asking for them is an
    /// error. A REVOKED certificate stays revoked (Kumo's choice: AWS does
    /// not document reactivation).
    pub fn update_certificate(
        &self,
        id: &CertificateId,
        new_status: &str,
        now: u64,
    ) -> Result<Planned<StatusChange>> {
        let status = CertStatus::parse(new_status)?;
        if matches!(
            status,
            CertStatus::PendingTransfer
                | CertStatus::PendingActivation
                | CertStatus::RegisterInactive
        ) {
            return Err(RegistryError::InvalidRequest(format!(
                "The certificate status cannot be set to {}",
                status.as_str()
            )));
        }
        let c = self.cert_or_404(id)?;
        if c.status == CertStatus::Revoked && status != CertStatus::Revoked {
            return Err(RegistryError::CertificateState(format!(
                "Certificate {id} is REVOKED and cannot change status"
            )));
        }
        let mut next = c.clone();
        next.status = status;
        next.updated_at = now;
        next.generation += 1;
        let out = StatusChange {
            left_active: c.status == CertStatus::Active && status != CertStatus::Active,
        };
        Ok(Planned::new(out, vec![Change::PutCert(next)]))
    }

    pub fn describe_certificate(&self, id: &CertificateId) -> Result<DescribeCertificateResponse> {
        let c = self.cert_or_404(id)?;
        Ok(DescribeCertificateResponse {
            certificate_description: CertificateDescription {
                certificate_arn: self.arn.cert(&c.id),
                certificate_id: c.id.clone(),
                ca_certificate_id: c.ca_id.clone(),
                status: c.status,
                certificate_pem: c.pem.clone(),
                owned_by: self.arn.account.clone(),
                creation_date: secs(c.created_at),
                last_modified_date: secs(c.updated_at),
                customer_version: 1,
                generation_id: c.generation.to_string(),
                validity: Validity {
                    not_before: c.not_before as f64,
                    not_after: c.not_after as f64,
                },
                certificate_mode: c.mode,
            },
        })
    }

    /// ListCertificates, oldest first (or newest first when not
    /// `ascending`); the marker is opaque to callers.
    pub fn list_certificates(
        &self,
        page_size_req: Option<u32>,
        marker: Option<&str>,
        ascending: bool,
    ) -> Result<ListCertificatesResponse> {
        let size = page_size(page_size_req, 250)?;
        let mut all: Vec<(String, &Certificate)> = self
            .certs
            .values()
            .map(|c| (format!("{:020}.{}", c.created_at, c.id), c))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        if !ascending {
            all.reverse();
        }
        let items = all.iter().map(|(k, c)| {
            (
                k.as_str(),
                CertificateSummary {
                    certificate_arn: self.arn.cert(&c.id),
                    certificate_id: c.id.clone(),
                    status: c.status,
                    certificate_mode: c.mode,
                    creation_date: secs(c.created_at),
                },
            )
        });
        let (certificates, next_marker) = page(items, marker, size, !ascending);
        Ok(ListCertificatesResponse {
            certificates,
            next_marker,
        })
    }

    /// DeleteCertificate: it must not be ACTIVE (CertificateStateException)
    /// nor attached to a thing (DeleteConflictException); attached policies
    /// are a conflict too unless `force`, which detaches them.
    pub fn delete_certificate(&self, id: &CertificateId, force: bool) -> Result<Planned<()>> {
        let c = self.cert_or_404(id)?;
        if c.status == CertStatus::Active {
            return Err(RegistryError::CertificateState(format!(
                "Certificate {id} is ACTIVE: deactivate it (UpdateCertificate to INACTIVE) before deleting it"
            )));
        }
        if self.principal_things.count(id) > 0 {
            return Err(RegistryError::DeleteConflict(format!(
                "Certificate {id} is attached to one or more things: detach it first (DetachThingPrincipal)"
            )));
        }
        let target = self.arn.cert(id);
        let policies: Vec<_> = self.target_policies.get(target.as_str()).cloned().collect();
        if !policies.is_empty() && !force {
            return Err(RegistryError::DeleteConflict(format!(
                "Certificate {id} has policies attached: detach them first (DetachPolicy) or delete with forceDelete"
            )));
        }
        let mut changes: Vec<Change> = policies
            .into_iter()
            .map(|policy| {
                Change::Detach(Attachment::PolicyTarget {
                    policy,
                    target: target.clone(),
                })
            })
            .collect();
        changes.push(Change::DeleteCert(id.clone()));
        Ok(Planned::new((), changes))
    }
}
