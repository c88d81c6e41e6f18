//! AttachPolicy, DetachPolicy, ListAttachedPolicies, ListTargetsForPolicy,
//! AttachThingPrincipal, DetachThingPrincipal, ListThingPrincipals,
//! ListPrincipalThings.
//!
//! Principals and policy targets are certificate ARNs
//! (`arn:aws:iot:REGION:ACCOUNT:cert/ID`); Kumo has no Cognito identities
//! or thing groups (yet), so other targets are refused with a clear message.

use kumo_model::{Arn, CertificateId, PolicyName, ThingName};
use serde::Serialize;

use crate::error::{RegistryError, Result};
use crate::policies::{ListPoliciesResponse, PolicySummary};
use crate::{page, page_size, Attachment, Change, Planned, Registry, MAX_POLICIES_PER_TARGET};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTargetsForPolicyResponse {
    pub targets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingPrincipalsResponse {
    pub principals: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPrincipalThingsResponse {
    pub things: Vec<ThingName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

impl Registry {
    /// The registered certificate a principal / target ARN names.
    fn cert_principal(&self, arn: &str) -> Result<CertificateId> {
        let Some(id) = Arn::parse_cert(arn) else {
            return Err(RegistryError::InvalidRequest(format!(
                "Kumo supports certificate principals only (arn:aws:iot:{}:{}:cert/<certificateId>); got {arn:?}",
                self.arn.region, self.arn.account
            )));
        };
        if !self.certs.contains_key(&id) {
            return Err(RegistryError::ResourceNotFound(format!(
                "The certificate given in the principal does not exist: {id}"
            )));
        }
        Ok(id)
    }

    /// The canonical ARN of a certificate target (our region and account).
    fn cert_target(&self, target: &str) -> Result<String> {
        let id = self.cert_principal(target)?;
        Ok(self.arn.cert(&id))
    }

    pub fn attach_policy(&self, policy: &PolicyName, target: &str) -> Result<Planned<()>> {
        if !self.policies.contains_key(policy) {
            return Err(Registry::not_found("Policy", policy.as_str()));
        }
        let target = self.cert_target(target)?;
        if self.target_policies.contains(target.as_str(), policy) {
            return Ok(Planned::new((), vec![]));
        }
        if self.target_policies.count(target.as_str()) >= MAX_POLICIES_PER_TARGET {
            return Err(RegistryError::LimitExceeded(format!(
                "{target} already has the maximum number of policies attached ({MAX_POLICIES_PER_TARGET})"
            )));
        }
        let a = Attachment::PolicyTarget {
            policy: policy.clone(),
            target,
        };
        Ok(Planned::new((), vec![Change::Attach(a)]))
    }

    pub fn detach_policy(&self, policy: &PolicyName, target: &str) -> Result<Planned<()>> {
        if !self.policies.contains_key(policy) {
            return Err(Registry::not_found("Policy", policy.as_str()));
        }
        let target = match Arn::parse_cert(target) {
            Some(id) => self.arn.cert(&id),
            None => target.to_owned(),
        };
        if !self.target_policies.contains(target.as_str(), policy) {
            return Ok(Planned::new((), vec![]));
        }
        let a = Attachment::PolicyTarget {
            policy: policy.clone(),
            target,
        };
        Ok(Planned::new((), vec![Change::Detach(a)]))
    }

    pub fn list_attached_policies(
        &self,
        target: &str,
        page_size_req: Option<u32>,
        marker: Option<&str>,
    ) -> Result<ListPoliciesResponse> {
        let size = page_size(page_size_req, 250)?;
        let target = self.cert_target(target)?;
        let items = self.target_policies.get(target.as_str()).map(|p| {
            (
                p.as_str(),
                PolicySummary {
                    policy_name: p.clone(),
                    policy_arn: self.arn.policy(p),
                },
            )
        });
        let (policies, next_marker) = page(items, marker, size, false);
        Ok(ListPoliciesResponse {
            policies,
            next_marker,
        })
    }

    pub fn list_targets_for_policy(
        &self,
        policy: &PolicyName,
        page_size_req: Option<u32>,
        marker: Option<&str>,
    ) -> Result<ListTargetsForPolicyResponse> {
        let size = page_size(page_size_req, 250)?;
        if !self.policies.contains_key(policy) {
            return Err(Registry::not_found("Policy", policy.as_str()));
        }
        let items = self
            .policy_targets
            .get(policy)
            .map(|t| (t.as_str(), t.clone()));
        let (targets, next_marker) = page(items, marker, size, false);
        Ok(ListTargetsForPolicyResponse {
            targets,
            next_marker,
        })
    }

    pub fn attach_thing_principal(
        &self,
        thing: &ThingName,
        principal: &str,
    ) -> Result<Planned<()>> {
        if !self.things.contains_key(thing) {
            return Err(Registry::not_found("Thing", thing.as_str()));
        }
        let cert = self.cert_principal(principal)?;
        if self.thing_principals.contains(thing, &cert) {
            return Ok(Planned::new((), vec![]));
        }
        let a = Attachment::ThingPrincipal {
            thing: thing.clone(),
            cert,
        };
        Ok(Planned::new((), vec![Change::Attach(a)]))
    }

    pub fn detach_thing_principal(
        &self,
        thing: &ThingName,
        principal: &str,
    ) -> Result<Planned<()>> {
        if !self.things.contains_key(thing) {
            return Err(Registry::not_found("Thing", thing.as_str()));
        }
        let Some(cert) = Arn::parse_cert(principal) else {
            return Err(RegistryError::InvalidRequest(format!(
                "not a certificate ARN: {principal:?}"
            )));
        };
        if !self.thing_principals.contains(thing, &cert) {
            return Ok(Planned::new((), vec![]));
        }
        let a = Attachment::ThingPrincipal {
            thing: thing.clone(),
            cert,
        };
        Ok(Planned::new((), vec![Change::Detach(a)]))
    }

    pub fn list_thing_principals(
        &self,
        thing: &ThingName,
        max_results: Option<u32>,
        next_token: Option<&str>,
    ) -> Result<ListThingPrincipalsResponse> {
        let size = page_size(max_results, 250)?;
        if !self.things.contains_key(thing) {
            return Err(Registry::not_found("Thing", thing.as_str()));
        }
        let items = self
            .thing_principals
            .get(thing)
            .map(|c| (c.as_str(), self.arn.cert(c)));
        let (principals, next_token) = page(items, next_token, size, false);
        Ok(ListThingPrincipalsResponse {
            principals,
            next_token,
        })
    }

    pub fn list_principal_things(
        &self,
        principal: &str,
        max_results: Option<u32>,
        next_token: Option<&str>,
    ) -> Result<ListPrincipalThingsResponse> {
        let size = page_size(max_results, 250)?;
        let cert = self.cert_principal(principal)?;
        let items = self
            .principal_things
            .get(&cert)
            .map(|t| (t.as_str(), t.clone()));
        let (things, next_token) = page(items, next_token, size, false);
        Ok(ListPrincipalThingsResponse { things, next_token })
    }
}
