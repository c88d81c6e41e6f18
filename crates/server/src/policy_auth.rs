//! AWS IoT policies, enforced: the broker's [`Authorizer`] built on the
//! registry and `kumo-policy`.
//!
//! On CONNECT of a certificate client (`tls.client_auth = "registry"`) the
//! policies attached to its certificate are compiled against the
//! connection's context — client id, source address, the certificate's
//! subject and issuer, and the thing when the client id is the name of a
//! thing the certificate is attached to (AWS's rule for
//! `iot:Connection.Thing.*`) — and `iot:Connect` on `client/<clientId>` is
//! checked. The compiled set then answers every PUBLISH (`iot:Publish`, and
//! `iot:RetainPublish` for retained ones), SUBSCRIBE (`iot:Subscribe` on
//! `topicfilter/<filter>`) and delivery (`iot:Receive`). When policies or
//! attachments change, a connection recompiles at its next check (the
//! registry's generation moved), as AWS applies changed policies to live
//! connections.
//!
//! Clients of the plain tcp listener (no certificate) get the policy in
//! `listeners.tcp.policy_file`, with `${iot:ClientId}` and `aws:SourceIp`;
//! without one, and with `client_auth = "ca_file"` for certificate
//! clients, nothing is checked.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use kumo_broker::auth::{Authorizer, ConnectRequest, Permissions, Refused};
use kumo_model::{Arn, CertificateId};
use kumo_policy::{
    Action, ArnBuilder, CertificateContext, Context, DnAttribute, PolicyDocument, PolicySet,
    ThingContext,
};
use tracing::warn;

use crate::admin::RegistryService;

pub struct PolicyAuthorizer {
    registry: Arc<RegistryService>,
    arn: Arn,
    /// Certificate clients: their attached policies (client_auth =
    /// "registry"), or no checks ("ca_file").
    check_certificates: bool,
    /// The tcp listener's policy for clients without a certificate.
    anonymous: Option<Vec<PolicyDocument>>,
}

impl PolicyAuthorizer {
    pub fn new(
        registry: Arc<RegistryService>,
        arn: Arn,
        check_certificates: bool,
        anonymous: Option<Vec<PolicyDocument>>,
    ) -> PolicyAuthorizer {
        PolicyAuthorizer {
            registry,
            arn,
            check_certificates,
            anonymous,
        }
    }

    /// A tcp-listener client: the listener's policy, compiled for its
    /// client id and address.
    fn connect_anonymous(
        &self,
        req: &ConnectRequest<'_>,
        docs: &[PolicyDocument],
    ) -> Result<Option<Arc<dyn Permissions>>, Refused> {
        let ctx = Context {
            client_id: Some(req.client_id.to_owned()),
            source_ip: Some(req.remote.ip()),
            ..Context::default()
        };
        let set = PolicySet::compile(docs, &ctx);
        let client = kumo_policy::Arn::client(&self.arn.region, &self.arn.account, req.client_id);
        if !set.is_allowed(Action::Connect, &client) {
            return Err(Refused(format!(
                "the {} listener's policy does not allow iot:Connect on {client}",
                req.listener
            )));
        }
        Ok(Some(Arc::new(PolicyPermissions {
            registry: self.registry.clone(),
            id: None,
            ctx,
            arn: self.arn.clone(),
            compiled: RwLock::new((0, Arc::new(set))),
        })))
    }
}

/// A device's HTTPS request (the iot-data device path, authenticated by
/// its certificate instead of SigV4): whether the certificate's policies
/// allow `action` on `resource` (a full ARN). There is no client id over
/// HTTP, so `iot:ClientId` and `iot:Connection.Thing.*` stay unresolved and
/// statements using them do not apply.
pub fn http_allowed(
    registry: &RegistryService,
    certificate_der: &[u8],
    remote: std::net::IpAddr,
    action: Action,
    resource: &str,
) -> bool {
    let id = kumo_registry::x509::certificate_id(certificate_der);
    let Ok(id) = CertificateId::new(id.as_str()) else {
        return false;
    };
    let ctx = Context {
        source_ip: Some(remote),
        certificate: Some(certificate_context(&id, Some(certificate_der))),
        ..Context::default()
    };
    compile(registry, &id, &ctx).is_allowed(action, resource)
}

/// Subject / issuer attributes by the short names x509-parser gives them.
fn dn_attribute(short: &str) -> Option<DnAttribute> {
    Some(match short {
        "CN" => DnAttribute::CommonName,
        "C" => DnAttribute::Country,
        "O" => DnAttribute::Organization,
        "OU" => DnAttribute::OrganizationalUnit,
        "ST" => DnAttribute::State,
        "dnQualifier" => DnAttribute::DistinguishedNameQualifier,
        "serialNumber" => DnAttribute::SerialNumber,
        "title" => DnAttribute::Title,
        "SN" | "surname" => DnAttribute::Surname,
        "GN" | "givenName" => DnAttribute::GivenName,
        "initials" => DnAttribute::Initials,
        "pseudonym" => DnAttribute::Pseudonym,
        "generationQualifier" => DnAttribute::GenerationQualifier,
        _ => return None,
    })
}

fn dn_map(attrs: &[(String, String)]) -> BTreeMap<DnAttribute, Vec<String>> {
    let mut m: BTreeMap<DnAttribute, Vec<String>> = BTreeMap::new();
    for (k, v) in attrs {
        if let Some(a) = dn_attribute(k) {
            m.entry(a).or_default().push(v.clone());
        }
    }
    m
}

fn certificate_context(id: &CertificateId, der: Option<&[u8]>) -> CertificateContext {
    let mut ctx = CertificateContext {
        id: Some(id.to_string()),
        ..CertificateContext::default()
    };
    if let Some(info) = der.and_then(|d| kumo_registry::x509::parse_der(d).ok()) {
        ctx.serial_number = Some(info.serial.clone());
        ctx.subject = dn_map(&info.subject);
        ctx.issuer = dn_map(&info.issuer);
    }
    ctx
}

/// The policies of a certificate, compiled for a context.
fn compile(registry: &RegistryService, id: &CertificateId, ctx: &Context) -> PolicySet {
    let docs: Vec<PolicyDocument> = registry
        .read(|r| r.policy_documents_of_cert(id))
        .into_iter()
        .filter_map(|(name, text)| match PolicyDocument::parse(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                // Validated when stored: only a policy from an older Kumo
                // with other rules could get here.
                warn!(policy = %name, "stored policy does not parse, ignored: {e}");
                None
            }
        })
        .collect();
    PolicySet::compile(&docs, ctx)
}

impl Authorizer for PolicyAuthorizer {
    fn connect(&self, req: &ConnectRequest<'_>) -> Result<Option<Arc<dyn Permissions>>, Refused> {
        // Kumo's admin credentials (a signed WebSocket, the console's test
        // client) may do anything, as AWS's root credentials may.
        if req.admin {
            return Ok(None);
        }
        let Some(principal) = req.principal else {
            return match &self.anonymous {
                Some(docs) if req.listener == "tcp" => self.connect_anonymous(req, docs),
                _ => Ok(None),
            };
        };
        if !self.check_certificates {
            return Ok(None);
        }
        let id = CertificateId::new(principal).map_err(|e| Refused(e.to_string()))?;
        let thing = self.registry.read(|r| {
            let attached = r.things_of(&id).any(|t| t.as_str() == req.client_id);
            attached
                .then(|| r.thing(req.client_id))
                .flatten()
                .map(|t| ThingContext {
                    name: t.name.to_string(),
                    type_name: t.type_name.as_ref().map(ToString::to_string),
                    attributes: t.attributes.clone(),
                    is_attached: true,
                })
        });
        let mut connect_attributes = Vec::new();
        if req.persistent {
            connect_attributes.push("PersistentConnect".to_owned());
        }
        let mut extra = BTreeMap::new();
        if let Some(topic) = req.will_topic {
            connect_attributes.push("LastWill".to_owned());
            extra.insert(
                "iot:LastWillTopic".to_owned(),
                vec![kumo_policy::Arn::topic(
                    &self.arn.region,
                    &self.arn.account,
                    topic,
                )],
            );
        }
        let ctx = Context {
            client_id: Some(req.client_id.to_owned()),
            source_ip: Some(req.remote.ip()),
            thing,
            certificate: Some(certificate_context(&id, req.client_cert)),
            connect_attributes,
            extra,
        };
        let generation = self.registry.generation();
        let set = compile(&self.registry, &id, &ctx);
        let client = kumo_policy::Arn::client(&self.arn.region, &self.arn.account, req.client_id);
        if !set.is_allowed(Action::Connect, &client) {
            return Err(Refused(format!(
                "no policy of certificate {id} allows iot:Connect on {client}"
            )));
        }
        Ok(Some(Arc::new(PolicyPermissions {
            registry: self.registry.clone(),
            id: Some(id),
            ctx,
            arn: self.arn.clone(),
            compiled: RwLock::new((generation, Arc::new(set))),
        })))
    }
}

/// One connection's compiled policies.
struct PolicyPermissions {
    registry: Arc<RegistryService>,
    /// The certificate whose policies these are; None for a listener's
    /// fixed policy (never recompiled).
    id: Option<CertificateId>,
    ctx: Context,
    arn: Arn,
    /// (registry generation compiled at, the set).
    compiled: RwLock<(u64, Arc<PolicySet>)>,
}

thread_local! {
    /// ARN buffers, one per thread: checks run on many threads, and none
    /// should allocate.
    static ARNS: RefCell<Option<(String, String, ArnBuilder)>> = const { RefCell::new(None) };
}

impl PolicyPermissions {
    /// The current set, recompiled if the registry changed since.
    fn set(&self) -> Arc<PolicySet> {
        let Some(id) = &self.id else {
            return self
                .compiled
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .1
                .clone();
        };
        let generation = self.registry.generation();
        {
            let c = self.compiled.read().unwrap_or_else(|e| e.into_inner());
            if c.0 == generation {
                return c.1.clone();
            }
        }
        let set = Arc::new(compile(&self.registry, id, &self.ctx));
        *self.compiled.write().unwrap_or_else(|e| e.into_inner()) = (generation, set.clone());
        set
    }

    fn check(&self, action: Action, kind: Resource, name: &str) -> bool {
        let set = self.set();
        // The builder is per thread and per deployment (region, account).
        ARNS.with(|cell| {
            let mut cell = cell.borrow_mut();
            let fresh = !matches!(&*cell, Some((r, a, _)) if *r == self.arn.region && *a == self.arn.account);
            if fresh {
                *cell = Some((
                    self.arn.region.clone(),
                    self.arn.account.clone(),
                    ArnBuilder::new(&self.arn.region, &self.arn.account),
                ));
            }
            let (_, _, builder) = cell.as_mut().expect("just set");
            let resource = match kind {
                Resource::Topic => builder.topic(name),
                Resource::TopicFilter => builder.topic_filter(name),
            };
            set.is_allowed(action, resource)
        })
    }
}

#[derive(Clone, Copy)]
enum Resource {
    Topic,
    TopicFilter,
}

impl Permissions for PolicyPermissions {
    fn may_publish(&self, topic: &str, retain: bool) -> bool {
        self.check(Action::Publish, Resource::Topic, topic)
            && (!retain || self.check(Action::RetainPublish, Resource::Topic, topic))
    }

    fn may_subscribe(&self, filter: &str) -> bool {
        self.check(Action::Subscribe, Resource::TopicFilter, filter)
    }

    fn may_receive(&self, topic: &str) -> bool {
        self.check(Action::Receive, Resource::Topic, topic)
    }
}
