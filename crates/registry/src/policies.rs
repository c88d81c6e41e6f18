//! CreatePolicy, GetPolicy, ListPolicies, DeletePolicy and the policy
//! versions: CreatePolicyVersion, GetPolicyVersion, ListPolicyVersions,
//! SetDefaultPolicyVersion, DeletePolicyVersion.

use std::collections::BTreeMap;

use kumo_model::PolicyName;
use serde::Serialize;

use crate::error::{RegistryError, Result};
use crate::{page, page_size, secs, Change, Planned, Policy, PolicyVersion, Registry};

/// At most this many versions per policy (AWS quota).
pub const MAX_VERSIONS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePolicyResponse {
    pub policy_name: PolicyName,
    pub policy_arn: String,
    pub policy_document: String,
    pub policy_version_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPolicyResponse {
    pub policy_name: PolicyName,
    pub policy_arn: String,
    pub policy_document: String,
    pub default_version_id: String,
    pub creation_date: f64,
    pub last_modified_date: f64,
    pub generation_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySummary {
    pub policy_name: PolicyName,
    pub policy_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPoliciesResponse {
    pub policies: Vec<PolicySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePolicyVersionResponse {
    pub policy_arn: String,
    pub policy_document: String,
    pub policy_version_id: String,
    pub is_default_version: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPolicyVersionResponse {
    pub policy_arn: String,
    pub policy_name: PolicyName,
    pub policy_document: String,
    pub policy_version_id: String,
    pub is_default_version: bool,
    pub creation_date: f64,
    pub last_modified_date: f64,
    pub generation_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVersionSummary {
    pub version_id: String,
    pub is_default_version: bool,
    pub create_date: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPolicyVersionsResponse {
    pub policy_versions: Vec<PolicyVersionSummary>,
}

/// Check a document with the policy engine; AWS answers a bad one with
/// MalformedPolicyException.
fn validate(document: &str) -> Result<()> {
    kumo_policy::PolicyDocument::parse(document)
        .map(|_| ())
        .map_err(|e| RegistryError::MalformedPolicy(e.aws_message()))
}

fn version_id(v: &str) -> Result<u32> {
    v.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
        RegistryError::InvalidRequest(format!(
            "1 validation error detected: Value '{v}' at 'policyVersionId' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9]+"
        ))
    })
}

impl Registry {
    fn policy_or_404(&self, name: &PolicyName) -> Result<&Policy> {
        self.policies
            .get(name)
            .ok_or_else(|| Registry::not_found("Policy", name.as_str()))
    }

    fn version_or_404<'a>(&self, p: &'a Policy, v: u32) -> Result<&'a PolicyVersion> {
        p.versions.get(&v).ok_or_else(|| {
            RegistryError::ResourceNotFound(format!(
                "Version {v} of policy {} does not exist",
                p.name
            ))
        })
    }

    pub fn create_policy(
        &self,
        name: &PolicyName,
        document: &str,
        now: u64,
    ) -> Result<Planned<CreatePolicyResponse>> {
        if self.policies.contains_key(name) {
            return Err(RegistryError::ResourceAlreadyExists {
                message: format!("Policy cannot be created - name already exists (name={name})"),
                resource_id: name.to_string(),
                resource_arn: self.arn.policy(name),
            });
        }
        validate(document)?;
        let policy = Policy {
            name: name.clone(),
            versions: BTreeMap::from([(
                1,
                PolicyVersion {
                    document: document.to_owned(),
                    created_at: now,
                },
            )]),
            default_version: 1,
            next_version: 2,
            created_at: now,
            updated_at: now,
            generation: 1,
        };
        let out = CreatePolicyResponse {
            policy_name: name.clone(),
            policy_arn: self.arn.policy(name),
            policy_document: document.to_owned(),
            policy_version_id: "1".into(),
        };
        Ok(Planned::new(out, vec![Change::PutPolicy(policy)]))
    }

    pub fn get_policy(&self, name: &PolicyName) -> Result<GetPolicyResponse> {
        let p = self.policy_or_404(name)?;
        Ok(GetPolicyResponse {
            policy_name: p.name.clone(),
            policy_arn: self.arn.policy(&p.name),
            policy_document: p.default_document().to_owned(),
            default_version_id: p.default_version.to_string(),
            creation_date: secs(p.created_at),
            last_modified_date: secs(p.updated_at),
            generation_id: p.generation.to_string(),
        })
    }

    pub fn list_policies(
        &self,
        page_size_req: Option<u32>,
        marker: Option<&str>,
        ascending: bool,
    ) -> Result<ListPoliciesResponse> {
        let size = page_size(page_size_req, 250)?;
        let summary = |p: &Policy| PolicySummary {
            policy_name: p.name.clone(),
            policy_arn: self.arn.policy(&p.name),
        };
        let (policies, next_marker) = if ascending {
            let items = self
                .policies
                .values()
                .map(|p| (p.name.as_str(), summary(p)));
            page(items, marker, size, false)
        } else {
            let items = self
                .policies
                .values()
                .rev()
                .map(|p| (p.name.as_str(), summary(p)));
            page(items, marker, size, true)
        };
        Ok(ListPoliciesResponse {
            policies,
            next_marker,
        })
    }

    /// DeletePolicy: not while it is attached to anything, nor while it
    /// has versions besides the default.
    pub fn delete_policy(&self, name: &PolicyName) -> Result<Planned<()>> {
        let p = self.policy_or_404(name)?;
        if self.policy_targets.count(name) > 0 {
            return Err(RegistryError::DeleteConflict(format!(
                "The policy cannot be deleted as the policy is attached to one or more principals (name={name})"
            )));
        }
        if p.versions.len() > 1 {
            return Err(RegistryError::DeleteConflict(format!(
                "Cannot delete the policy because it has one or more policy versions attached to it (name={name})"
            )));
        }
        Ok(Planned::new((), vec![Change::DeletePolicy(name.clone())]))
    }

    pub fn create_policy_version(
        &self,
        name: &PolicyName,
        document: &str,
        set_as_default: bool,
        now: u64,
    ) -> Result<Planned<CreatePolicyVersionResponse>> {
        let p = self.policy_or_404(name)?;
        if p.versions.len() >= MAX_VERSIONS {
            return Err(RegistryError::VersionsLimitExceeded(format!(
                "The policy {name} already has the maximum number of versions ({MAX_VERSIONS})"
            )));
        }
        validate(document)?;
        let mut next = p.clone();
        let v = next.next_version;
        next.next_version += 1;
        next.versions.insert(
            v,
            PolicyVersion {
                document: document.to_owned(),
                created_at: now,
            },
        );
        if set_as_default {
            next.default_version = v;
        }
        next.updated_at = now;
        next.generation += 1;
        let out = CreatePolicyVersionResponse {
            policy_arn: self.arn.policy(name),
            policy_document: document.to_owned(),
            policy_version_id: v.to_string(),
            is_default_version: set_as_default,
        };
        Ok(Planned::new(out, vec![Change::PutPolicy(next)]))
    }

    pub fn get_policy_version(
        &self,
        name: &PolicyName,
        version: &str,
    ) -> Result<GetPolicyVersionResponse> {
        let p = self.policy_or_404(name)?;
        let v = version_id(version)?;
        let pv = self.version_or_404(p, v)?;
        Ok(GetPolicyVersionResponse {
            policy_arn: self.arn.policy(name),
            policy_name: name.clone(),
            policy_document: pv.document.clone(),
            policy_version_id: v.to_string(),
            is_default_version: p.default_version == v,
            creation_date: secs(pv.created_at),
            last_modified_date: secs(pv.created_at),
            generation_id: p.generation.to_string(),
        })
    }

    pub fn list_policy_versions(&self, name: &PolicyName) -> Result<ListPolicyVersionsResponse> {
        let p = self.policy_or_404(name)?;
        Ok(ListPolicyVersionsResponse {
            policy_versions: p
                .versions
                .iter()
                .rev()
                .map(|(v, pv)| PolicyVersionSummary {
                    version_id: v.to_string(),
                    is_default_version: *v == p.default_version,
                    create_date: secs(pv.created_at),
                })
                .collect(),
        })
    }

    pub fn set_default_policy_version(
        &self,
        name: &PolicyName,
        version: &str,
        now: u64,
    ) -> Result<Planned<()>> {
        let p = self.policy_or_404(name)?;
        let v = version_id(version)?;
        self.version_or_404(p, v)?;
        let mut next = p.clone();
        next.default_version = v;
        next.updated_at = now;
        next.generation += 1;
        Ok(Planned::new((), vec![Change::PutPolicy(next)]))
    }

    pub fn delete_policy_version(
        &self,
        name: &PolicyName,
        version: &str,
        now: u64,
    ) -> Result<Planned<()>> {
        let p = self.policy_or_404(name)?;
        let v = version_id(version)?;
        self.version_or_404(p, v)?;
        if p.default_version == v {
            return Err(RegistryError::DeleteConflict(format!(
                "Cannot delete the default version of a policy (name={name}, version={v})"
            )));
        }
        let mut next = p.clone();
        next.versions.remove(&v);
        next.updated_at = now;
        next.generation += 1;
        Ok(Planned::new((), vec![Change::PutPolicy(next)]))
    }
}
