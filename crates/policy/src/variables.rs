//! Policy variables (`${iot:ClientId}` in a Resource or a condition value)
//! and condition keys (`"iot:ClientId"` in a Condition), and how both are
//! looked up in a [`Context`].
//!
//! A name is parsed once, when the document is parsed, into a [`Key`]; names
//! are matched without regard to case, as IAM does, except the attribute
//! name inside `Attributes[...]`, which is data.
//!
//! Substitution rules (AWS IoT developer guide, "X.509 certificate policy
//! variable limitations"): a variable that has no value, an index past the
//! values there are, and a certificate value that contains a wildcard-like
//! character (`* $ + ? #`) or is longer than 1,024 characters all leave the
//! variable unresolved. AWS then leaves the `${...}` text in place; the
//! effect is that the resource entry (or condition value) does not match,
//! and that is what this engine does directly. A substituted value is always
//! literal text: a `*` that reaches a pattern through a variable is a star,
//! not a wildcard. Multi-valued attributes are capped at five values.

use std::borrow::Cow;

use crate::context::{AltNameType, CertificateContext, Context, DnAttribute};
use crate::glob::Glob;

/// Values AWS looks at in a multi-valued certificate attribute.
const MAX_VALUES: usize = 5;
/// Longest certificate value that is substituted.
const MAX_CERT_VALUE_CHARS: usize = 1024;

/// Which value(s) of a multi-valued attribute a name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Selector {
    /// The plain name: the first value.
    First,
    /// `.N`: the value at 0-based index N.
    Index(usize),
    /// `.List`: all values (condition keys only).
    List,
}

/// A certificate field with one or more values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CertField {
    Subject(DnAttribute),
    Issuer(DnAttribute),
    SubjectAltName(AltNameType),
    IssuerAltName(AltNameType),
    AvailableKeys,
}

/// A parsed variable / condition-key name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    ClientId,
    SourceIp,
    ThingName,
    ThingTypeName,
    ThingAttribute(String),
    ThingIsAttached,
    CertificateId,
    CertificateSerialNumber,
    Cert(CertField, Selector),
    ConnectAttributes,
    /// Anything else, lower-cased; looked up in [`Context::extra`].
    Other(String),
}

/// `rest` without the ASCII-case-insensitive `prefix`.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// Split a trailing `.List` / `.N` selector off a multi-valued name.
fn split_selector(s: &str) -> (&str, Selector) {
    if let Some((head, tail)) = s.rsplit_once('.') {
        if tail.eq_ignore_ascii_case("list") {
            return (head, Selector::List);
        }
        if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            // An absurd index is simply out of range.
            let n = tail.parse().unwrap_or(usize::MAX);
            return (head, Selector::Index(n));
        }
    }
    (s, Selector::First)
}

impl Key {
    /// Parse a variable or condition-key name. Never fails: a name this
    /// engine does not know is an [`Key::Other`] key.
    pub(crate) fn parse(name: &str) -> Key {
        let other = || Key::Other(name.to_ascii_lowercase());
        let simple = [
            ("iot:ClientId", Key::ClientId),
            ("aws:SourceIp", Key::SourceIp),
            ("iot:CertificateId", Key::CertificateId),
            ("iot:ConnectAttributes", Key::ConnectAttributes),
            ("iot:Connection.Thing.ThingName", Key::ThingName),
            ("iot:Connection.Thing.ThingTypeName", Key::ThingTypeName),
            ("iot:Connection.Thing.IsAttached", Key::ThingIsAttached),
            ("iot:Certificate.SerialNumber", Key::CertificateSerialNumber),
        ];
        for (n, k) in simple {
            if n.eq_ignore_ascii_case(name) {
                return k;
            }
        }
        if let Some(rest) = strip_prefix_ci(name, "iot:Connection.Thing.Attributes[") {
            return match rest.strip_suffix(']') {
                Some(attr) if !attr.is_empty() && !attr.contains(']') => {
                    Key::ThingAttribute(attr.to_string())
                }
                _ => other(),
            };
        }
        let Some(rest) = strip_prefix_ci(name, "iot:Certificate.") else {
            return other();
        };
        let (field, selector) = split_selector(rest);
        let field = if field.eq_ignore_ascii_case("AvailableKeys") {
            Some(CertField::AvailableKeys)
        } else if let Some(f) = strip_prefix_ci(field, "Subject.") {
            cert_field(f, CertField::Subject, CertField::SubjectAltName)
        } else if let Some(f) = strip_prefix_ci(field, "Issuer.") {
            cert_field(f, CertField::Issuer, CertField::IssuerAltName)
        } else {
            None
        };
        match field {
            Some(f) => Key::Cert(f, selector),
            None => other(),
        }
    }

    /// The values of this condition key, or `None` if the key is missing.
    /// Certificate values are given as they are (no wildcard or length
    /// filtering: a condition compares them as data).
    pub(crate) fn values<'c>(&self, ctx: &'c Context) -> Option<Vec<Cow<'c, str>>> {
        let one = |v: Option<&'c str>| v.map(|v| vec![Cow::Borrowed(v)]);
        let thing = ctx.thing.as_ref();
        let cert = ctx.certificate.as_ref();
        match self {
            Key::ClientId => one(ctx.client_id.as_deref()),
            // An IPv4 client on a dual-stack socket is reported as IPv4.
            Key::SourceIp => ctx
                .source_ip
                .map(|ip| vec![Cow::Owned(ip.to_canonical().to_string())]),
            Key::ThingName => one(thing.map(|t| t.name.as_str())),
            Key::ThingTypeName => one(thing.and_then(|t| t.type_name.as_deref())),
            Key::ThingAttribute(a) => {
                one(thing.and_then(|t| t.attributes.get(a)).map(|s| s.as_str()))
            }
            Key::ThingIsAttached => {
                thing.map(|t| vec![Cow::Borrowed(if t.is_attached { "true" } else { "false" })])
            }
            Key::CertificateId => one(cert.and_then(|c| c.id.as_deref())),
            Key::CertificateSerialNumber => one(cert.and_then(|c| c.serial_number.as_deref())),
            Key::Cert(field, selector) => {
                let all = cert_values(cert?, *field);
                let all = &all[..all.len().min(MAX_VALUES)];
                match selector {
                    Selector::First => all.first().map(|v| vec![v.clone()]),
                    Selector::Index(i) => all.get(*i).map(|v| vec![v.clone()]),
                    Selector::List if all.is_empty() => None,
                    Selector::List => Some(all.to_vec()),
                }
            }
            Key::ConnectAttributes => Some(
                ctx.connect_attributes
                    .iter()
                    .map(|s| Cow::Borrowed(s.as_str()))
                    .collect(),
            ),
            Key::Other(name) => ctx
                .extra
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.iter().map(|s| Cow::Borrowed(s.as_str())).collect()),
        }
    }

    /// The value `${name}` is replaced by, or `None` if the variable stays
    /// unresolved.
    pub(crate) fn substitute<'c>(&self, ctx: &'c Context) -> Option<Cow<'c, str>> {
        if matches!(self, Key::Cert(_, Selector::List) | Key::ConnectAttributes) {
            return None; // a list is not a string
        }
        let value = self.values(ctx)?.into_iter().next()?;
        let is_cert = matches!(
            self,
            Key::Cert(..) | Key::CertificateId | Key::CertificateSerialNumber
        );
        if is_cert
            && (value.contains(['*', '$', '+', '?', '#'])
                || value.chars().count() > MAX_CERT_VALUE_CHARS)
        {
            return None;
        }
        Some(value)
    }
}

fn cert_field(
    rest: &str,
    dn: fn(DnAttribute) -> CertField,
    alt: fn(AltNameType) -> CertField,
) -> Option<CertField> {
    if let Some(t) = strip_prefix_ci(rest, "AlternativeName.") {
        AltNameType::from_name(t).map(alt)
    } else {
        DnAttribute::from_name(rest).map(dn)
    }
}

fn cert_values(cert: &CertificateContext, field: CertField) -> Vec<Cow<'_, str>> {
    fn borrow(v: Option<&Vec<String>>) -> Vec<Cow<'_, str>> {
        v.map(|v| v.iter().map(|s| Cow::Borrowed(s.as_str())).collect())
            .unwrap_or_default()
    }
    match field {
        CertField::Subject(a) => borrow(cert.subject.get(&a)),
        CertField::Issuer(a) => borrow(cert.issuer.get(&a)),
        CertField::SubjectAltName(t) => borrow(cert.subject_alt_names.get(&t)),
        CertField::IssuerAltName(t) => borrow(cert.issuer_alt_names.get(&t)),
        CertField::AvailableKeys => cert.available_keys().into_iter().map(Cow::Owned).collect(),
    }
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Policy text; in pattern contexts `*` and `?` in it are wildcards.
    Text(String),
    /// `${*}`, `${?}`, `${$}`: the character, literally.
    Escape(char),
    /// `${name}`.
    Var(Key),
}

/// A Resource entry or condition value, with its `${...}` variables parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

/// The pieces of a resolved template: text and whether `*`/`?` in it are
/// wildcards.
pub(crate) type Pieces<'a> = Vec<(Cow<'a, str>, bool)>;

impl Template {
    /// Parse `text`. With `variables` off (policy language `2008-10-17`),
    /// `${...}` is ordinary text, as in IAM.
    pub(crate) fn parse(text: &str, variables: bool) -> Template {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut lit = String::new();
        // A `${` without a closing `}` (and everything after it) is text.
        let next_var = |rest: &str| {
            let start = rest.find("${")?;
            let len = rest[start + 2..].find('}')?;
            Some((start, len))
        };
        while let Some((start, len)) = variables.then(|| next_var(rest)).flatten() {
            lit.push_str(&rest[..start]);
            let inner = &rest[start + 2..start + 2 + len];
            rest = &rest[start + 2 + len + 1..];
            if !lit.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut lit)));
            }
            parts.push(match inner {
                "*" => Part::Escape('*'),
                "?" => Part::Escape('?'),
                "$" => Part::Escape('$'),
                name => Part::Var(Key::parse(name)),
            });
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        Template { parts }
    }

    /// True if the template uses no variable (so its text is final).
    pub(crate) fn is_constant(&self) -> bool {
        !self.parts.iter().any(|p| matches!(p, Part::Var(_)))
    }

    /// Resolve the variables; `None` if one of them is unresolved.
    pub(crate) fn resolve<'s>(&'s self, ctx: &'s Context) -> Option<Pieces<'s>> {
        let mut out = Vec::with_capacity(self.parts.len());
        for p in &self.parts {
            out.push(match p {
                Part::Text(t) => (Cow::Borrowed(t.as_str()), true),
                Part::Escape('*') => (Cow::Borrowed("*"), false),
                Part::Escape('?') => (Cow::Borrowed("?"), false),
                Part::Escape(_) => (Cow::Borrowed("$"), false),
                Part::Var(k) => (k.substitute(ctx)?, false),
            });
        }
        Some(out)
    }

    /// The resolved text, for comparisons where wildcards mean nothing.
    pub(crate) fn to_text(&self, ctx: &Context) -> Option<String> {
        Some(self.resolve(ctx)?.iter().map(|(s, _)| &**s).collect())
    }

    /// The resolved pattern, with only the template's own `*`/`?` wild.
    pub(crate) fn to_glob(&self, ctx: &Context) -> Option<Glob> {
        Some(glob_of(&self.resolve(ctx)?))
    }
}

/// Compile resolved pieces.
pub(crate) fn glob_of(pieces: &[(Cow<'_, str>, bool)]) -> Glob {
    Glob::from_pieces(pieces.iter().map(|(s, w)| (&**s, *w)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ThingContext;

    #[test]
    fn parse_names() {
        assert_eq!(Key::parse("iot:ClientId"), Key::ClientId);
        assert_eq!(Key::parse("IOT:clientid"), Key::ClientId);
        assert_eq!(Key::parse("aws:SourceIp"), Key::SourceIp);
        assert_eq!(
            Key::parse("iot:Connection.Thing.Attributes[Floor]"),
            Key::ThingAttribute("Floor".into())
        );
        assert_eq!(
            Key::parse("iot:Certificate.Subject.CommonName"),
            Key::Cert(CertField::Subject(DnAttribute::CommonName), Selector::First)
        );
        assert_eq!(
            Key::parse("iot:Certificate.Subject.Organization.List"),
            Key::Cert(
                CertField::Subject(DnAttribute::Organization),
                Selector::List
            )
        );
        assert_eq!(
            Key::parse("iot:Certificate.Issuer.AlternativeName.DNSName.1"),
            Key::Cert(
                CertField::IssuerAltName(AltNameType::DnsName),
                Selector::Index(1)
            )
        );
        assert_eq!(
            Key::parse("iot:Certificate.AvailableKeys.List"),
            Key::Cert(CertField::AvailableKeys, Selector::List)
        );
        assert_eq!(
            Key::parse("iot:Certificate.SerialNumber"),
            Key::CertificateSerialNumber
        );
        assert_eq!(
            Key::parse("iot:Certificate.Subject.SerialNumber"),
            Key::Cert(
                CertField::Subject(DnAttribute::SerialNumber),
                Selector::First
            )
        );
        assert_eq!(
            Key::parse("iot:LastWillTopic"),
            Key::Other("iot:lastwilltopic".into())
        );
        assert_eq!(
            Key::parse("iot:Certificate.Nope"),
            Key::Other("iot:certificate.nope".into())
        );
        assert_eq!(
            Key::parse("iot:Connection.Thing.Attributes[]"),
            Key::Other("iot:connection.thing.attributes[]".into())
        );
    }

    fn ctx() -> Context {
        let mut c = Context::with_client_id("dev-1");
        c.thing = Some(ThingContext {
            name: "dev-1".into(),
            attributes: [("floor".to_string(), "3".to_string())].into(),
            is_attached: true,
            ..ThingContext::default()
        });
        let mut cert = CertificateContext::default();
        cert.subject.insert(
            DnAttribute::CommonName,
            ["a", "b*", "c", "d", "e", "f"].map(String::from).to_vec(),
        );
        c.certificate = Some(cert);
        c
    }

    #[test]
    fn substitution_rules() {
        let c = ctx();
        let sub = |n: &str| Key::parse(n).substitute(&c).map(|v| v.into_owned());
        assert_eq!(sub("iot:ClientId").as_deref(), Some("dev-1"));
        assert_eq!(
            sub("iot:Connection.Thing.Attributes[floor]").as_deref(),
            Some("3")
        );
        assert_eq!(sub("iot:Connection.Thing.Attributes[Floor]"), None);
        assert_eq!(
            sub("iot:Connection.Thing.IsAttached").as_deref(),
            Some("true")
        );
        assert_eq!(
            sub("iot:Certificate.Subject.CommonName").as_deref(),
            Some("a")
        );
        assert_eq!(
            sub("iot:Certificate.Subject.CommonName.0").as_deref(),
            Some("a")
        );
        assert_eq!(
            sub("iot:Certificate.Subject.CommonName.1"),
            None,
            "wildcard in value"
        );
        assert_eq!(
            sub("iot:Certificate.Subject.CommonName.4").as_deref(),
            Some("e")
        );
        assert_eq!(
            sub("iot:Certificate.Subject.CommonName.5"),
            None,
            "past the 5-value cap"
        );
        assert_eq!(sub("iot:Certificate.Subject.CommonName.List"), None);
        assert_eq!(sub("iot:Certificate.Subject.Country"), None);
        assert_eq!(sub("aws:SourceIp"), None);
        let mapped = Context {
            source_ip: Some("::ffff:203.0.113.9".parse().unwrap()),
            ..Context::default()
        };
        assert_eq!(
            Key::SourceIp.substitute(&mapped).as_deref(),
            Some("203.0.113.9")
        );
        let list = Key::parse("iot:Certificate.Subject.CommonName.List")
            .values(&c)
            .unwrap();
        assert_eq!(list, ["a", "b*", "c", "d", "e"]);
    }

    #[test]
    fn templates() {
        let c = ctx();
        let t = Template::parse("topic/${iot:ClientId}/${*}/${?}/${$}/*", true);
        assert_eq!(t.to_text(&c).as_deref(), Some("topic/dev-1/*/?/$/*"));
        let g = t.to_glob(&c).unwrap();
        assert!(g.is_match("topic/dev-1/*/?/$/anything"));
        assert!(!g.is_match("topic/dev-1/x/?/$/anything"));
        assert!(!t.is_constant());
        assert_eq!(Template::parse("a/${iot:Nope}", true).to_text(&c), None);
        // Unterminated: plain text.
        assert_eq!(
            Template::parse("a/${iot:ClientId", true)
                .to_text(&c)
                .as_deref(),
            Some("a/${iot:ClientId")
        );
        // 2008-10-17: no variables.
        let old = Template::parse("a/${iot:ClientId}", false);
        assert!(old.is_constant());
        assert_eq!(old.to_text(&c).as_deref(), Some("a/${iot:ClientId}"));
    }

    #[test]
    fn long_certificate_values_are_not_substituted() {
        let mut c = ctx();
        let cert = c.certificate.as_mut().unwrap();
        cert.subject
            .insert(DnAttribute::Title, vec!["x".repeat(1025)]);
        cert.subject
            .insert(DnAttribute::Surname, vec!["y".repeat(1024)]);
        assert!(Key::parse("iot:Certificate.Subject.Title")
            .substitute(&c)
            .is_none());
        assert!(Key::parse("iot:Certificate.Subject.Surname")
            .substitute(&c)
            .is_some());
    }
}
