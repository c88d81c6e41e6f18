//! What the engine knows about a connection: the values behind the policy
//! variables and condition keys.
//!
//! The caller fills a [`Context`] once per connection (from the CONNECT
//! packet, the TLS peer certificate and the registry) and hands it to
//! [`PolicySet::compile`](crate::PolicySet::compile). Everything is plain
//! data; nothing here looks anything up.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// The per-connection facts policies can refer to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// `iot:ClientId`: the MQTT client identifier. `None` where there is none
    /// (an HTTP request), which leaves `${iot:ClientId}` unresolved.
    pub client_id: Option<String>,
    /// `aws:SourceIp`: the peer address.
    pub source_ip: Option<IpAddr>,
    /// The `iot:Connection.Thing.*` variables. The broker sets this only when
    /// the client ID names a thing the certificate is attached to; when it is
    /// `None` every thing variable is unresolved and every thing condition
    /// key is missing.
    pub thing: Option<ThingContext>,
    /// The `iot:Certificate.*` variables and `iot:CertificateId`; `None` for
    /// connections not authenticated by an X.509 certificate.
    pub certificate: Option<CertificateContext>,
    /// `iot:ConnectAttributes`: the features the CONNECT used, such as
    /// `PersistentConnect` (clean session off / session expiry set) and
    /// `LastWill`. An empty list is a plain connect.
    pub connect_attributes: Vec<String>,
    /// Any other condition key, by name (e.g. `iot:LastWillTopic` holding the
    /// will topic's ARN). Names are matched without regard to case; a key
    /// with several values is a multivalued key (use `ForAnyValue` /
    /// `ForAllValues` on it). These keys can also be used as `${name}`
    /// variables, which take their first value.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl Context {
    /// A context for an MQTT client with this client ID and nothing else.
    pub fn with_client_id(client_id: impl Into<String>) -> Context {
        Context {
            client_id: Some(client_id.into()),
            ..Context::default()
        }
    }
}

/// The registry thing a connection is bound to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThingContext {
    /// `iot:Connection.Thing.ThingName`.
    pub name: String,
    /// `iot:Connection.Thing.ThingTypeName`, if the thing has a type.
    pub type_name: Option<String>,
    /// `iot:Connection.Thing.Attributes[name]`.
    pub attributes: BTreeMap<String, String>,
    /// `iot:Connection.Thing.IsAttached` (`"true"` / `"false"`): whether the
    /// connecting principal is attached to the thing.
    pub is_attached: bool,
}

/// A distinguished-name attribute that has a policy variable, as in
/// `iot:Certificate.Subject.CommonName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DnAttribute {
    /// `dnQualifier`
    DistinguishedNameQualifier,
    /// `C`
    Country,
    /// `O`
    Organization,
    /// `OU`
    OrganizationalUnit,
    /// `ST`
    State,
    /// `CN`
    CommonName,
    /// `serialNumber` (the DN attribute, not the certificate serial)
    SerialNumber,
    /// `title`
    Title,
    /// `SN`
    Surname,
    /// `GN`
    GivenName,
    /// `initials`
    Initials,
    /// `pseudonym`
    Pseudonym,
    /// `generationQualifier`
    GenerationQualifier,
}

impl DnAttribute {
    /// All thirteen, in the order of the AWS documentation.
    pub const ALL: [DnAttribute; 13] = [
        DnAttribute::DistinguishedNameQualifier,
        DnAttribute::Country,
        DnAttribute::Organization,
        DnAttribute::OrganizationalUnit,
        DnAttribute::State,
        DnAttribute::CommonName,
        DnAttribute::SerialNumber,
        DnAttribute::Title,
        DnAttribute::Surname,
        DnAttribute::GivenName,
        DnAttribute::Initials,
        DnAttribute::Pseudonym,
        DnAttribute::GenerationQualifier,
    ];

    /// The name used in policy variables, e.g. `"CommonName"`.
    pub fn name(self) -> &'static str {
        match self {
            DnAttribute::DistinguishedNameQualifier => "DistinguishedNameQualifier",
            DnAttribute::Country => "Country",
            DnAttribute::Organization => "Organization",
            DnAttribute::OrganizationalUnit => "OrganizationalUnit",
            DnAttribute::State => "State",
            DnAttribute::CommonName => "CommonName",
            DnAttribute::SerialNumber => "SerialNumber",
            DnAttribute::Title => "Title",
            DnAttribute::Surname => "Surname",
            DnAttribute::GivenName => "GivenName",
            DnAttribute::Initials => "Initials",
            DnAttribute::Pseudonym => "Pseudonym",
            DnAttribute::GenerationQualifier => "GenerationQualifier",
        }
    }

    /// Look up by policy name, ignoring case.
    pub fn from_name(name: &str) -> Option<DnAttribute> {
        DnAttribute::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

/// A subject/issuer alternative-name type that has a policy variable, as in
/// `iot:Certificate.Subject.AlternativeName.DNSName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AltNameType {
    /// e-mail addresses
    Rfc822Name,
    /// DNS names
    DnsName,
    /// directory names
    DirectoryName,
    /// URIs
    UniformResourceIdentifier,
    /// IP addresses
    IpAddress,
}

impl AltNameType {
    /// All five.
    pub const ALL: [AltNameType; 5] = [
        AltNameType::Rfc822Name,
        AltNameType::DnsName,
        AltNameType::DirectoryName,
        AltNameType::UniformResourceIdentifier,
        AltNameType::IpAddress,
    ];

    /// The name used in policy variables, e.g. `"DNSName"`.
    pub fn name(self) -> &'static str {
        match self {
            AltNameType::Rfc822Name => "RFC822Name",
            AltNameType::DnsName => "DNSName",
            AltNameType::DirectoryName => "DirectoryName",
            AltNameType::UniformResourceIdentifier => "UniformResourceIdentifier",
            AltNameType::IpAddress => "IPAddress",
        }
    }

    /// Look up by policy name, ignoring case.
    pub fn from_name(name: &str) -> Option<AltNameType> {
        AltNameType::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

/// The client certificate, reduced to what policies can see. Attribute
/// values are in certificate order; AWS looks at the first five values of a
/// multi-valued attribute and ignores the rest, and so does this engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateContext {
    /// `iot:CertificateId`: the certificate ID (SHA-256 of the DER, hex).
    pub id: Option<String>,
    /// `iot:Certificate.SerialNumber`, as the caller chooses to render it.
    pub serial_number: Option<String>,
    /// `iot:Certificate.Subject.*`.
    pub subject: BTreeMap<DnAttribute, Vec<String>>,
    /// `iot:Certificate.Issuer.*`.
    pub issuer: BTreeMap<DnAttribute, Vec<String>>,
    /// `iot:Certificate.Subject.AlternativeName.*`.
    pub subject_alt_names: BTreeMap<AltNameType, Vec<String>>,
    /// `iot:Certificate.Issuer.AlternativeName.*`.
    pub issuer_alt_names: BTreeMap<AltNameType, Vec<String>>,
}

impl CertificateContext {
    /// `iot:Certificate.AvailableKeys`: the full names of the certificate
    /// variables that have a value here, e.g.
    /// `iot:Certificate.Subject.CommonName`.
    pub fn available_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let dn = |keys: &mut Vec<String>, part: &str, map: &BTreeMap<DnAttribute, Vec<String>>| {
            for (attr, values) in map {
                if !values.is_empty() {
                    keys.push(format!("iot:Certificate.{part}.{}", attr.name()));
                }
            }
        };
        let alt = |keys: &mut Vec<String>, part: &str, map: &BTreeMap<AltNameType, Vec<String>>| {
            for (ty, values) in map {
                if !values.is_empty() {
                    keys.push(format!(
                        "iot:Certificate.{part}.AlternativeName.{}",
                        ty.name()
                    ));
                }
            }
        };
        dn(&mut keys, "Subject", &self.subject);
        dn(&mut keys, "Issuer", &self.issuer);
        alt(&mut keys, "Subject", &self.subject_alt_names);
        alt(&mut keys, "Issuer", &self.issuer_alt_names);
        if self.serial_number.is_some() {
            keys.push("iot:Certificate.SerialNumber".to_string());
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for a in DnAttribute::ALL {
            assert_eq!(DnAttribute::from_name(a.name()), Some(a));
        }
        for t in AltNameType::ALL {
            assert_eq!(AltNameType::from_name(&t.name().to_lowercase()), Some(t));
        }
        assert_eq!(DnAttribute::from_name("Nope"), None);
    }

    #[test]
    fn available_keys() {
        let mut c = CertificateContext::default();
        c.subject.insert(DnAttribute::CommonName, vec!["a".into()]);
        c.subject.insert(DnAttribute::Country, vec![]);
        c.issuer_alt_names
            .insert(AltNameType::DnsName, vec!["ca.example".into()]);
        c.serial_number = Some("0a".into());
        assert_eq!(
            c.available_keys(),
            [
                "iot:Certificate.Subject.CommonName",
                "iot:Certificate.Issuer.AlternativeName.DNSName",
                "iot:Certificate.SerialNumber"
            ]
        );
    }
}
