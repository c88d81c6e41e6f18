//! Every registry operation Kumo serves, as one enum named after AWS's
//! operations, with AWS's field names. The admin socket (and, later, the
//! AWS-compatible HTTP API) turn a request into a [`Request`] and call
//! [`Registry::execute`]; what comes back is the JSON AWS would answer.

use kumo_model::{CertificateId, PolicyName, ThingName};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{RegistryError, Result};
use crate::things::{CreateThingRequest, ListThingsRequest, UpdateThingRequest};
use crate::{Issuer, Planned, Registry};

/// Every operation the registry serves, by AWS's name.
pub const OPERATIONS: &[&str] = &[
    "CreateThing",
    "DescribeThing",
    "ListThings",
    "UpdateThing",
    "DeleteThing",
    "CreateKeysAndCertificate",
    "CreateCertificateFromCsr",
    "RegisterCertificateWithoutCA",
    "UpdateCertificate",
    "GetRegistrationCode",
    "RegisterCACertificate",
    "DescribeCACertificate",
    "ListCACertificates",
    "UpdateCACertificate",
    "DeleteCACertificate",
    "RegisterCertificate",
    "DescribeCertificate",
    "ListCertificates",
    "DeleteCertificate",
    "CreatePolicy",
    "GetPolicy",
    "ListPolicies",
    "DeletePolicy",
    "CreatePolicyVersion",
    "GetPolicyVersion",
    "ListPolicyVersions",
    "SetDefaultPolicyVersion",
    "DeletePolicyVersion",
    "AttachPolicy",
    "DetachPolicy",
    "ListAttachedPolicies",
    "ListTargetsForPolicy",
    "AttachThingPrincipal",
    "DetachThingPrincipal",
    "ListThingPrincipals",
    "ListPrincipalThings",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum Request {
    CreateThing {
        thing_name: ThingName,
        #[serde(flatten)]
        body: CreateThingRequest,
    },
    DescribeThing {
        thing_name: ThingName,
    },
    ListThings {
        #[serde(flatten)]
        body: ListThingsRequest,
    },
    UpdateThing {
        thing_name: ThingName,
        #[serde(flatten)]
        body: UpdateThingRequest,
    },
    DeleteThing {
        thing_name: ThingName,
        #[serde(default)]
        expected_version: Option<u64>,
    },
    CreateKeysAndCertificate {
        #[serde(default)]
        set_as_active: bool,
    },
    CreateCertificateFromCsr {
        certificate_signing_request: String,
        #[serde(default)]
        set_as_active: bool,
    },
    #[serde(rename = "RegisterCertificateWithoutCA")]
    RegisterCertificateWithoutCa {
        certificate_pem: String,
        #[serde(default)]
        status: Option<String>,
    },
    UpdateCertificate {
        certificate_id: CertificateId,
        new_status: String,
    },
    GetRegistrationCode {},
    #[serde(rename = "RegisterCACertificate")]
    RegisterCaCertificate {
        ca_certificate: String,
        #[serde(default)]
        verification_certificate: Option<String>,
        #[serde(default)]
        set_as_active: bool,
        #[serde(default)]
        allow_auto_registration: bool,
        #[serde(default)]
        certificate_mode: Option<String>,
    },
    #[serde(rename = "DescribeCACertificate")]
    DescribeCaCertificate {
        certificate_id: CertificateId,
    },
    #[serde(rename = "ListCACertificates")]
    ListCaCertificates {
        #[serde(default)]
        page_size: Option<u32>,
        #[serde(default)]
        marker: Option<String>,
    },
    #[serde(rename = "UpdateCACertificate")]
    UpdateCaCertificate {
        certificate_id: CertificateId,
        #[serde(default)]
        new_status: Option<String>,
        #[serde(default)]
        new_auto_registration_status: Option<String>,
    },
    #[serde(rename = "DeleteCACertificate")]
    DeleteCaCertificate {
        certificate_id: CertificateId,
    },
    RegisterCertificate {
        certificate_pem: String,
        #[serde(default)]
        ca_certificate_pem: Option<String>,
        #[serde(default)]
        status: Option<String>,
        #[serde(default)]
        set_as_active: bool,
    },
    DescribeCertificate {
        certificate_id: CertificateId,
    },
    ListCertificates {
        #[serde(default)]
        page_size: Option<u32>,
        #[serde(default)]
        marker: Option<String>,
        #[serde(default)]
        ascending_order: Option<bool>,
    },
    DeleteCertificate {
        certificate_id: CertificateId,
        #[serde(default)]
        force_delete: bool,
    },
    CreatePolicy {
        policy_name: PolicyName,
        policy_document: String,
    },
    GetPolicy {
        policy_name: PolicyName,
    },
    ListPolicies {
        #[serde(default)]
        page_size: Option<u32>,
        #[serde(default)]
        marker: Option<String>,
        #[serde(default)]
        ascending_order: Option<bool>,
    },
    DeletePolicy {
        policy_name: PolicyName,
    },
    CreatePolicyVersion {
        policy_name: PolicyName,
        policy_document: String,
        #[serde(default)]
        set_as_default: bool,
    },
    GetPolicyVersion {
        policy_name: PolicyName,
        policy_version_id: String,
    },
    ListPolicyVersions {
        policy_name: PolicyName,
    },
    SetDefaultPolicyVersion {
        policy_name: PolicyName,
        policy_version_id: String,
    },
    DeletePolicyVersion {
        policy_name: PolicyName,
        policy_version_id: String,
    },
    AttachPolicy {
        policy_name: PolicyName,
        target: String,
    },
    DetachPolicy {
        policy_name: PolicyName,
        target: String,
    },
    ListAttachedPolicies {
        target: String,
        #[serde(default)]
        page_size: Option<u32>,
        #[serde(default)]
        marker: Option<String>,
    },
    ListTargetsForPolicy {
        policy_name: PolicyName,
        #[serde(default)]
        page_size: Option<u32>,
        #[serde(default)]
        marker: Option<String>,
    },
    AttachThingPrincipal {
        thing_name: ThingName,
        principal: String,
    },
    DetachThingPrincipal {
        thing_name: ThingName,
        principal: String,
    },
    ListThingPrincipals {
        thing_name: ThingName,
        #[serde(default)]
        max_results: Option<u32>,
        #[serde(default)]
        next_token: Option<String>,
    },
    ListPrincipalThings {
        principal: String,
        #[serde(default)]
        max_results: Option<u32>,
        #[serde(default)]
        next_token: Option<String>,
    },
}

impl Request {
    /// Parse `{"op": "CreateThing", "thingName": ..., ...}`. A bad request
    /// is an InvalidRequestException that says what is wrong.
    pub fn from_json(v: Value) -> Result<Request> {
        serde_json::from_value(v).map_err(|e| RegistryError::InvalidRequest(e.to_string()))
    }

    /// Whether `op` is one of the operations the registry serves (AWS's
    /// name, as in [`Request::name`]).
    pub fn knows(op: &str) -> bool {
        OPERATIONS.contains(&op)
    }

    /// The AWS operation name.
    pub fn name(&self) -> &'static str {
        macro_rules! names {
            ($($v:ident),*) => {
                match self { $(Request::$v { .. } => stringify!($v),)* }
            };
        }
        let n = names!(
            CreateThing,
            DescribeThing,
            ListThings,
            UpdateThing,
            DeleteThing,
            CreateKeysAndCertificate,
            CreateCertificateFromCsr,
            RegisterCertificateWithoutCa,
            UpdateCertificate,
            GetRegistrationCode,
            RegisterCaCertificate,
            DescribeCaCertificate,
            ListCaCertificates,
            UpdateCaCertificate,
            DeleteCaCertificate,
            RegisterCertificate,
            DescribeCertificate,
            ListCertificates,
            DeleteCertificate,
            CreatePolicy,
            GetPolicy,
            ListPolicies,
            DeletePolicy,
            CreatePolicyVersion,
            GetPolicyVersion,
            ListPolicyVersions,
            SetDefaultPolicyVersion,
            DeletePolicyVersion,
            AttachPolicy,
            DetachPolicy,
            ListAttachedPolicies,
            ListTargetsForPolicy,
            AttachThingPrincipal,
            DetachThingPrincipal,
            ListThingPrincipals,
            ListPrincipalThings
        );
        match n {
            "RegisterCertificateWithoutCa" => "RegisterCertificateWithoutCA",
            "RegisterCaCertificate" => "RegisterCACertificate",
            "DescribeCaCertificate" => "DescribeCACertificate",
            "ListCaCertificates" => "ListCACertificates",
            "UpdateCaCertificate" => "UpdateCACertificate",
            "DeleteCaCertificate" => "DeleteCACertificate",
            n => n,
        }
    }

    /// True for operations that only read.
    pub fn is_read(&self) -> bool {
        let n = self.name();
        n.starts_with("Describe") || n.starts_with("List") || n.starts_with("Get")
    }
}

/// What an executed operation means for live connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Certificates that stopped being ACTIVE: close their connections.
    pub deactivated: Vec<CertificateId>,
    /// Policies or attachments changed: recompile the policies of live
    /// connections.
    pub policies_changed: bool,
}

fn json<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).expect("responses always serialize")
}

fn empty() -> Value {
    Value::Object(Default::default())
}

fn done<T: serde::Serialize>(p: Planned<T>) -> Planned<Value> {
    Planned {
        output: json(p.output),
        changes: p.changes,
    }
}

fn read(v: Value) -> Planned<Value> {
    Planned {
        output: v,
        changes: vec![],
    }
}

impl Registry {
    /// Plan one operation (`now`: Unix ms). Reads come back with no
    /// changes. See the crate docs for what the caller does next.
    pub fn execute(
        &self,
        req: Request,
        issuer: &Issuer,
        now: u64,
    ) -> Result<(Planned<Value>, Effects)> {
        use Request::*;
        let mut effects = Effects::default();
        let planned = match req {
            CreateThing { thing_name, body } => done(self.create_thing(&thing_name, body, now)?),
            DescribeThing { thing_name } => read(json(self.describe_thing(&thing_name)?)),
            ListThings { body } => read(json(self.list_things(&body)?)),
            UpdateThing { thing_name, body } => {
                let p = self.update_thing(&thing_name, body)?;
                Planned {
                    output: empty(),
                    changes: p.changes,
                }
            }
            DeleteThing {
                thing_name,
                expected_version,
            } => unit(self.delete_thing(&thing_name, expected_version)?),
            CreateKeysAndCertificate { set_as_active } => {
                let p = self.create_keys_and_certificate(issuer, set_as_active, now)?;
                Planned {
                    output: json(p.output.response()),
                    changes: p.changes,
                }
            }
            CreateCertificateFromCsr {
                certificate_signing_request,
                set_as_active,
            } => done(self.create_certificate_from_csr(
                issuer,
                &certificate_signing_request,
                set_as_active,
                now,
            )?),
            RegisterCertificateWithoutCa {
                certificate_pem,
                status,
            } => done(self.register_certificate_without_ca(
                &certificate_pem,
                status.as_deref(),
                now,
            )?),
            UpdateCertificate {
                certificate_id,
                new_status,
            } => {
                let p = self.update_certificate(&certificate_id, &new_status, now)?;
                if p.output.left_active {
                    effects.deactivated.push(certificate_id);
                }
                unit(p)
            }
            GetRegistrationCode {} => done(self.get_registration_code()?),
            RegisterCaCertificate {
                ca_certificate,
                verification_certificate,
                set_as_active,
                allow_auto_registration,
                certificate_mode,
            } => done(self.register_ca_certificate(
                crate::cas::RegisterCa {
                    ca_pem: &ca_certificate,
                    verification_pem: verification_certificate.as_deref(),
                    set_as_active,
                    allow_auto_registration,
                    mode: certificate_mode.as_deref(),
                },
                now,
            )?),
            DescribeCaCertificate { certificate_id } => {
                read(json(self.describe_ca_certificate(&certificate_id)?))
            }
            ListCaCertificates { page_size, marker } => read(json(
                self.list_ca_certificates(page_size, marker.as_deref())?,
            )),
            UpdateCaCertificate {
                certificate_id,
                new_status,
                new_auto_registration_status,
            } => {
                let p = self.update_ca_certificate(
                    &certificate_id,
                    new_status.as_deref(),
                    new_auto_registration_status.as_deref(),
                    now,
                )?;
                effects.deactivated.extend(p.output.iter().cloned());
                unit(p)
            }
            DeleteCaCertificate { certificate_id } => {
                unit(self.delete_ca_certificate(&certificate_id)?)
            }
            RegisterCertificate {
                certificate_pem,
                ca_certificate_pem,
                status,
                set_as_active,
            } => {
                let status = if set_as_active {
                    Some("ACTIVE")
                } else {
                    status.as_deref()
                };
                done(self.register_certificate(
                    &certificate_pem,
                    ca_certificate_pem.as_deref(),
                    status,
                    now,
                )?)
            }
            DescribeCertificate { certificate_id } => {
                read(json(self.describe_certificate(&certificate_id)?))
            }
            ListCertificates {
                page_size,
                marker,
                ascending_order,
            } => read(json(self.list_certificates(
                page_size,
                marker.as_deref(),
                ascending_order.unwrap_or(false),
            )?)),
            DeleteCertificate {
                certificate_id,
                force_delete,
            } => {
                effects.policies_changed = true;
                unit(self.delete_certificate(&certificate_id, force_delete)?)
            }
            CreatePolicy {
                policy_name,
                policy_document,
            } => done(self.create_policy(&policy_name, &policy_document, now)?),
            GetPolicy { policy_name } => read(json(self.get_policy(&policy_name)?)),
            ListPolicies {
                page_size,
                marker,
                ascending_order,
            } => read(json(self.list_policies(
                page_size,
                marker.as_deref(),
                ascending_order.unwrap_or(true),
            )?)),
            DeletePolicy { policy_name } => unit(self.delete_policy(&policy_name)?),
            CreatePolicyVersion {
                policy_name,
                policy_document,
                set_as_default,
            } => {
                effects.policies_changed = set_as_default;
                done(self.create_policy_version(
                    &policy_name,
                    &policy_document,
                    set_as_default,
                    now,
                )?)
            }
            GetPolicyVersion {
                policy_name,
                policy_version_id,
            } => read(json(
                self.get_policy_version(&policy_name, &policy_version_id)?,
            )),
            ListPolicyVersions { policy_name } => {
                read(json(self.list_policy_versions(&policy_name)?))
            }
            SetDefaultPolicyVersion {
                policy_name,
                policy_version_id,
            } => {
                effects.policies_changed = true;
                unit(self.set_default_policy_version(&policy_name, &policy_version_id, now)?)
            }
            DeletePolicyVersion {
                policy_name,
                policy_version_id,
            } => unit(self.delete_policy_version(&policy_name, &policy_version_id, now)?),
            AttachPolicy {
                policy_name,
                target,
            } => {
                effects.policies_changed = true;
                unit(self.attach_policy(&policy_name, &target)?)
            }
            DetachPolicy {
                policy_name,
                target,
            } => {
                effects.policies_changed = true;
                unit(self.detach_policy(&policy_name, &target)?)
            }
            ListAttachedPolicies {
                target,
                page_size,
                marker,
            } => read(json(self.list_attached_policies(
                &target,
                page_size,
                marker.as_deref(),
            )?)),
            ListTargetsForPolicy {
                policy_name,
                page_size,
                marker,
            } => read(json(self.list_targets_for_policy(
                &policy_name,
                page_size,
                marker.as_deref(),
            )?)),
            AttachThingPrincipal {
                thing_name,
                principal,
            } => {
                effects.policies_changed = true;
                unit(self.attach_thing_principal(&thing_name, &principal)?)
            }
            DetachThingPrincipal {
                thing_name,
                principal,
            } => {
                effects.policies_changed = true;
                unit(self.detach_thing_principal(&thing_name, &principal)?)
            }
            ListThingPrincipals {
                thing_name,
                max_results,
                next_token,
            } => read(json(self.list_thing_principals(
                &thing_name,
                max_results,
                next_token.as_deref(),
            )?)),
            ListPrincipalThings {
                principal,
                max_results,
                next_token,
            } => read(json(self.list_principal_things(
                &principal,
                max_results,
                next_token.as_deref(),
            )?)),
        };
        if planned.changes.is_empty() {
            effects = Effects::default();
        }
        Ok((planned, effects))
    }
}

fn unit(p: Planned<impl Sized>) -> Planned<Value> {
    Planned {
        output: empty(),
        changes: p.changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_lists_exactly_the_variants() {
        for op in OPERATIONS {
            let e = Request::from_json(serde_json::json!({ "op": op })).err();
            let unknown = e.is_some_and(|e| e.to_string().contains("unknown variant"));
            assert!(!unknown, "{op} is not a Request variant");
            assert!(Request::knows(op));
        }
        let e = Request::from_json(serde_json::json!({ "op": "CreateJob" })).unwrap_err();
        assert!(e.to_string().contains("unknown variant"), "{e}");
        assert!(!Request::knows("CreateJob"));
        // Every variant is listed: name() of a parsed request is in OPERATIONS.
        let r = Request::from_json(serde_json::json!({"op": "GetRegistrationCode"})).unwrap();
        assert!(OPERATIONS.contains(&r.name()));
    }
}
