//! The registry: things, certificates, CA certificates, policies and the
//! attachments between them, with AWS IoT Core's rules for each operation.
//!
//! State lives in memory ([`Registry`]); the TLS verifier and the policy
//! check read it there and never wait on storage. An operation is planned
//! against the current state and returns [`Planned`]: the answer for the
//! caller and the [`Change`]s it makes. The caller (the server) makes the
//! changes durable with the store ([`Planned::ops`]), waits for the commit,
//! and only then applies them ([`Registry::apply`]) and answers, so an
//! answer never promises what a crash could take back. Operations that
//! change the registry must be planned and applied one at a time (the
//! server holds a lock across plan → commit → apply); reads can run at any
//! time.
//!
//! Errors ([`RegistryError`]) carry AWS's exception name and HTTP status.
//!
//! What it never does: talk to the network, read the clock (callers pass
//! `now`, Unix milliseconds), or touch files.

pub mod api;
pub mod attach;
pub mod cas;
pub mod certs;
pub mod error;
mod issuer;
pub mod policies;
pub mod records;
pub mod things;
pub mod x509;

use std::collections::{BTreeMap, BTreeSet};

use kumo_model::{Arn, CertificateId, PolicyName, ThingName};
use kumo_store::Op;

pub use error::{RegistryError, Result};
pub use issuer::{Issued, Issuer};
pub use records::{
    Attachment, CaCertificate, CaStatus, CertStatus, Certificate, CertificateMode, Change, Policy,
    PolicyVersion, Thing,
};

/// At most this many policies per certificate (AWS quota).
pub const MAX_POLICIES_PER_TARGET: usize = 10;

/// The outcome of a planned operation: what to answer and what changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned<T> {
    pub output: T,
    pub changes: Vec<Change>,
}

impl<T> Planned<T> {
    fn new(output: T, changes: Vec<Change>) -> Self {
        Planned { output, changes }
    }

    /// The store ops that make the changes durable.
    pub fn ops(&self) -> Vec<Op> {
        self.changes.iter().map(Change::to_op).collect()
    }
}

/// What [`Registry::counts`] answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub things: usize,
    pub certificates: usize,
    pub active_certificates: usize,
    pub ca_certificates: usize,
    pub policies: usize,
}

#[derive(Debug, Clone)]
pub struct Registry {
    arn: Arn,
    things: BTreeMap<ThingName, Thing>,
    certs: BTreeMap<CertificateId, Certificate>,
    cas: BTreeMap<CertificateId, CaCertificate>,
    policies: BTreeMap<PolicyName, Policy>,
    thing_principals: Links<ThingName, CertificateId>,
    principal_things: Links<CertificateId, ThingName>,
    policy_targets: Links<PolicyName, String>,
    target_policies: Links<String, PolicyName>,
    meta: BTreeMap<String, String>,
}

impl Registry {
    /// An empty registry whose ARNs name `arn`'s region and account.
    pub fn new(arn: Arn) -> Registry {
        Registry {
            arn,
            things: BTreeMap::new(),
            certs: BTreeMap::new(),
            cas: BTreeMap::new(),
            policies: BTreeMap::new(),
            thing_principals: Links::default(),
            principal_things: Links::default(),
            policy_targets: Links::default(),
            target_policies: Links::default(),
            meta: BTreeMap::new(),
        }
    }

    /// Rebuild the registry from the store's records (at start).
    pub fn load(arn: Arn, records: &[kumo_store::Record]) -> Result<Registry> {
        let mut r = Registry::new(arn);
        for rec in records {
            r.apply(Change::from_record(rec)?);
        }
        Ok(r)
    }

    pub fn arn(&self) -> &Arn {
        &self.arn
    }

    /// Apply a change that the store has made durable.
    pub fn apply(&mut self, change: Change) {
        match change {
            Change::PutThing(t) => {
                self.things.insert(t.name.clone(), t);
            }
            Change::DeleteThing(n) => {
                self.things.remove(&n);
            }
            Change::PutCert(c) => {
                self.certs.insert(c.id.clone(), c);
            }
            Change::DeleteCert(id) => {
                self.certs.remove(&id);
            }
            Change::PutCa(c) => {
                self.cas.insert(c.id.clone(), c);
            }
            Change::DeleteCa(id) => {
                self.cas.remove(&id);
            }
            Change::PutPolicy(p) => {
                self.policies.insert(p.name.clone(), p);
            }
            Change::DeletePolicy(n) => {
                self.policies.remove(&n);
            }
            Change::Attach(Attachment::ThingPrincipal { thing, cert }) => {
                self.principal_things.insert(cert.clone(), thing.clone());
                self.thing_principals.insert(thing, cert);
            }
            Change::Detach(Attachment::ThingPrincipal { thing, cert }) => {
                self.principal_things.remove(&cert, &thing);
                self.thing_principals.remove(&thing, &cert);
            }
            Change::Attach(Attachment::PolicyTarget { policy, target }) => {
                self.target_policies.insert(target.clone(), policy.clone());
                self.policy_targets.insert(policy, target);
            }
            Change::Detach(Attachment::PolicyTarget { policy, target }) => {
                self.target_policies.remove(&target, &policy);
                self.policy_targets.remove(&policy, &target);
            }
            Change::PutMeta { key, value } => {
                self.meta.insert(key, value);
            }
        }
    }

    pub fn apply_all(&mut self, changes: impl IntoIterator<Item = Change>) {
        for c in changes {
            self.apply(c);
        }
    }

    // ---- reads for the data plane -------------------------------------

    /// How many of each there are, for overviews.
    pub fn counts(&self) -> Counts {
        Counts {
            things: self.things.len(),
            certificates: self.certs.len(),
            active_certificates: self
                .certs
                .values()
                .filter(|c| c.status == records::CertStatus::Active)
                .count(),
            ca_certificates: self.cas.len(),
            policies: self.policies.len(),
        }
    }

    /// Every thing, by name.
    pub fn things(&self) -> impl Iterator<Item = &Thing> {
        self.things.values()
    }

    pub fn thing(&self, name: &str) -> Option<&Thing> {
        self.things.get(name)
    }

    /// Every policy, by name.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.policies.values()
    }

    /// Every device certificate, by id.
    pub fn certificates(&self) -> impl Iterator<Item = &Certificate> {
        self.certs.values()
    }

    pub fn certificate(&self, id: &CertificateId) -> Option<&Certificate> {
        self.certs.get(id)
    }

    pub fn ca_certificate(&self, id: &CertificateId) -> Option<&CaCertificate> {
        self.cas.get(id)
    }

    pub fn ca_certificates(&self) -> impl Iterator<Item = &CaCertificate> {
        self.cas.values()
    }

    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.get(name)
    }

    /// Things the certificate is attached to.
    pub fn things_of(&self, cert: &CertificateId) -> impl Iterator<Item = &ThingName> {
        self.principal_things.get(cert)
    }

    /// Certificates attached to the thing.
    pub fn principals_of(&self, thing: &ThingName) -> impl Iterator<Item = &CertificateId> {
        self.thing_principals.get(thing)
    }

    /// Policies attached to a target ARN.
    pub fn policies_of(&self, target: &str) -> impl Iterator<Item = &Policy> {
        self.target_policies
            .get(target)
            .filter_map(|p| self.policies.get(p))
    }

    /// Targets (ARNs) a policy is attached to.
    pub fn targets_of(&self, policy: &PolicyName) -> impl Iterator<Item = &String> {
        self.policy_targets.get(policy)
    }

    /// The default documents of the policies attached to a certificate:
    /// what a connection with it may do.
    pub fn policy_documents_of_cert(&self, cert: &CertificateId) -> Vec<(PolicyName, String)> {
        let target = self.arn.cert(cert);
        self.policies_of(&target)
            .map(|p| (p.name.clone(), p.default_document().to_owned()))
            .collect()
    }

    fn not_found(what: &str, name: &str) -> RegistryError {
        RegistryError::ResourceNotFound(format!("{what} {name} does not exist"))
    }
}

/// One direction of a many-to-many link.
#[derive(Debug, Clone)]
struct Links<K, V>(BTreeMap<K, BTreeSet<V>>);

impl<K, V> Default for Links<K, V> {
    fn default() -> Self {
        Links(BTreeMap::new())
    }
}

impl<K: Ord, V: Ord> Links<K, V> {
    fn insert(&mut self, k: K, v: V) {
        self.0.entry(k).or_default().insert(v);
    }

    fn remove<Q>(&mut self, k: &Q, v: &V)
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        if let Some(set) = self.0.get_mut(k) {
            set.remove(v);
            if set.is_empty() {
                self.0.remove(k);
            }
        }
    }

    fn get<Q>(&self, k: &Q) -> impl Iterator<Item = &V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.get(k).into_iter().flatten()
    }

    fn contains<Q>(&self, k: &Q, v: &V) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.get(k).is_some_and(|s| s.contains(v))
    }

    fn count<Q>(&self, k: &Q) -> usize
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.get(k).map_or(0, BTreeSet::len)
    }
}

/// A page of a listing sorted by key (descending if `descending`), AWS
/// style: at most `page_size` items after `marker` (exclusive), and the
/// marker of the next page if there is one. A marker whose item has gone
/// since still works: it is a position in the order, not an item.
fn page<'a, T: 'a>(
    items: impl Iterator<Item = (&'a str, T)>,
    marker: Option<&str>,
    page_size: usize,
    descending: bool,
) -> (Vec<T>, Option<String>) {
    let mut out = Vec::new();
    let mut last = None;
    let mut more = false;
    for (key, item) in items {
        if marker.is_some_and(|m| if descending { key >= m } else { key <= m }) {
            continue;
        }
        if out.len() == page_size {
            more = true;
            break;
        }
        last = Some(key.to_owned());
        out.push(item);
    }
    (out, if more { last } else { None })
}

/// Epoch seconds, as AWS's JSON timestamps, from Unix milliseconds.
fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// The status a certificate is registered with: INACTIVE unless asked for
/// ACTIVE; nothing else may be asked for.
fn registration_status(status: Option<&str>) -> Result<CertStatus> {
    match status.map(CertStatus::parse).transpose()? {
        None => Ok(CertStatus::Inactive),
        Some(s @ (CertStatus::Active | CertStatus::Inactive)) => Ok(s),
        Some(other) => Err(RegistryError::InvalidRequest(format!(
            "A certificate cannot be registered with status {}",
            other.as_str()
        ))),
    }
}

/// Refuse a certificate outside its validity period at `now` (Unix ms).
fn check_validity(info: &x509::CertInfo, now: u64, what: &str) -> Result<()> {
    let now = (now / 1000) as i64;
    if info.not_after < now {
        return Err(RegistryError::CertificateValidation(format!(
            "The {what} has expired"
        )));
    }
    if info.not_before > now {
        return Err(RegistryError::CertificateValidation(format!(
            "The {what} is not yet valid"
        )));
    }
    Ok(())
}

impl Registry {
    /// ResourceAlreadyExists if a certificate with this id is registered.
    fn check_new_certificate(&self, id: &CertificateId) -> Result<()> {
        if self.certs.contains_key(id) {
            return Err(RegistryError::ResourceAlreadyExists {
                message: "The certificate is already provisioned or registered".into(),
                resource_id: id.to_string(),
                resource_arn: self.arn.cert(id),
            });
        }
        Ok(())
    }
}

/// Clamp an AWS page size (`maxResults` / `pageSize`) to 1..=max.
fn page_size(requested: Option<u32>, max: u32) -> Result<usize> {
    match requested {
        None => Ok(max as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(RegistryError::InvalidRequest(format!(
            "1 validation error detected: Value '{n}' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and {max}"
        ))),
    }
}
