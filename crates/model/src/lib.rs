//! The identities of the AWS IoT model, as types that only exist valid.
//!
//! A [`ThingName`], [`CertificateId`], [`PolicyName`] or [`ClientId`] is
//! parsed once, where it enters Kumo (an API request, a CLI argument, a
//! CONNECT packet, a stored record), and carried as that type from then on,
//! so no code behind the edge re-checks a name or forgets to. The rules are
//! AWS IoT Core's (botocore's `iot` model: patterns and lengths), and a
//! refusal reads like AWS's own validation message, which is what the aws
//! CLI shows for an `InvalidRequestException`.
//!
//! [`Arn`] builds the resource names AWS IoT uses for these identities.
//!
//! No I/O, no clock, no allocation beyond the strings themselves.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A name or id that breaks its rule, with AWS's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {rule}")]
pub struct InvalidName {
    /// The API field it came in (`thingName`, `certificateId`, ...).
    pub field: &'static str,
    pub value: String,
    pub rule: &'static str,
}

fn check(
    field: &'static str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
    rule: &'static str,
) -> Result<(), InvalidName> {
    if value.is_empty() || value.len() > max || !value.chars().all(allowed) {
        return Err(InvalidName {
            field,
            value: value.to_owned(),
            rule,
        });
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidName;
            fn from_str(s: &str) -> Result<Self, InvalidName> {
                $name::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidName;
            fn try_from(s: String) -> Result<Self, InvalidName> {
                $name::new(&s)
            }
        }

        /// Deserializing validates too: a stored or sent value that breaks
        /// the rule is an error, never a bad value in the program.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// A thing's name: 1–128 characters of `[a-zA-Z0-9:_-]`.
    ThingName
);

impl ThingName {
    pub fn new(s: &str) -> Result<ThingName, InvalidName> {
        check(
            "thingName",
            s,
            128,
            |c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-'),
            "Member must satisfy regular expression pattern: [a-zA-Z0-9:_-]+ and have length between 1 and 128",
        )?;
        Ok(ThingName(s.to_owned()))
    }
}

name_type!(
    /// A thing type's name: the same rule as a thing's.
    ThingTypeName
);

impl ThingTypeName {
    pub fn new(s: &str) -> Result<ThingTypeName, InvalidName> {
        check(
            "thingTypeName",
            s,
            128,
            |c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-'),
            "Member must satisfy regular expression pattern: [a-zA-Z0-9:_-]+ and have length between 1 and 128",
        )?;
        Ok(ThingTypeName(s.to_owned()))
    }
}

name_type!(
    /// A certificate's id: the lowercase hex SHA-256 of its DER encoding
    /// (64 characters). Upper-case input is accepted and lowered, as AWS
    /// accepts `[a-fA-F0-9]`.
    CertificateId
);

impl CertificateId {
    pub fn new(s: &str) -> Result<CertificateId, InvalidName> {
        let hex = s.strip_prefix("0x").unwrap_or(s);
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(InvalidName {
                field: "certificateId",
                value: s.to_owned(),
                rule: "Member must satisfy regular expression pattern: (0x)?[a-fA-F0-9]+ and have length 64",
            });
        }
        Ok(CertificateId(hex.to_ascii_lowercase()))
    }

    /// The id of the certificate whose SHA-256 digest this is.
    pub fn from_digest(sha256: &[u8; 32]) -> CertificateId {
        let mut s = String::with_capacity(64);
        for b in sha256 {
            s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        CertificateId(s)
    }
}

name_type!(
    /// A policy's name: 1–128 characters of `[\w+=,.@-]`.
    PolicyName
);

impl PolicyName {
    pub fn new(s: &str) -> Result<PolicyName, InvalidName> {
        check(
            "policyName",
            s,
            128,
            |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-'),
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length between 1 and 128",
        )?;
        Ok(PolicyName(s.to_owned()))
    }
}

name_type!(
    /// An MQTT client id as AWS IoT Core takes it: 1–128 bytes of UTF-8.
    ClientId
);

impl ClientId {
    pub fn new(s: &str) -> Result<ClientId, InvalidName> {
        check(
            "clientId",
            s,
            128,
            |_| true,
            "Member must have length between 1 and 128 bytes",
        )?;
        Ok(ClientId(s.to_owned()))
    }
}

/// Check a thing attribute name (≤ 128 of `[a-zA-Z0-9_.,@/:#-]`).
pub fn check_attribute_name(s: &str) -> Result<(), InvalidName> {
    check(
        "attributes",
        s,
        128,
        |c| c.is_ascii_alphanumeric() || "_.,@/:#-".contains(c),
        "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z0-9_.,@/:#-]+ and have length between 1 and 128]",
    )
}

/// Check a thing attribute value (≤ 800 of `[a-zA-Z0-9_.,@/:#=\[\]-]`,
/// empty allowed).
pub fn check_attribute_value(s: &str) -> Result<(), InvalidName> {
    if s.is_empty() {
        return Ok(());
    }
    check(
        "attributes",
        s,
        800,
        |c| c.is_ascii_alphanumeric() || "_.,@/:#=[]-".contains(c),
        "Map value must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z0-9_.,@/:#=\\[\\]-]* and have length between 0 and 800]",
    )
}

/// Where a deployment's ARNs point: `arn:aws:iot:{region}:{account}:...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arn {
    pub region: String,
    pub account: String,
}

impl Arn {
    pub fn new(region: impl Into<String>, account: impl Into<String>) -> Arn {
        Arn {
            region: region.into(),
            account: account.into(),
        }
    }

    fn make(&self, kind: &str, name: &str) -> String {
        format!("arn:aws:iot:{}:{}:{kind}/{name}", self.region, self.account)
    }

    pub fn thing(&self, name: &ThingName) -> String {
        self.make("thing", name.as_str())
    }

    pub fn thing_type(&self, name: &ThingTypeName) -> String {
        self.make("thingtype", name.as_str())
    }

    pub fn cert(&self, id: &CertificateId) -> String {
        self.make("cert", id.as_str())
    }

    pub fn cacert(&self, id: &CertificateId) -> String {
        self.make("cacert", id.as_str())
    }

    pub fn policy(&self, name: &PolicyName) -> String {
        self.make("policy", name.as_str())
    }

    /// The certificate id in a `...:cert/<id>` ARN of this deployment (or
    /// of any region and account: AWS accepts its own ARNs only, but a
    /// principal is unambiguous by id).
    pub fn parse_cert(arn: &str) -> Option<CertificateId> {
        let rest = arn.strip_prefix("arn:aws:iot:")?;
        let (_, id) = rest.split_once(":cert/")?;
        CertificateId::new(id).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thing_names_follow_aws_rules() {
        for ok in ["raspi2", "a", "my_thing:1-x", &"x".repeat(128)] {
            assert!(ThingName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "has space", "slash/no", "ü", &"x".repeat(129)] {
            let e = ThingName::new(bad).unwrap_err();
            assert_eq!(e.field, "thingName");
            assert!(e
                .to_string()
                .starts_with("1 validation error detected: Value '"));
        }
    }

    #[test]
    fn certificate_ids_are_lowercase_hex_sha256() {
        let upper = "AB".repeat(32);
        assert_eq!(
            CertificateId::new(&upper).unwrap().as_str(),
            "ab".repeat(32)
        );
        assert_eq!(
            CertificateId::new(&format!("0x{}", "0".repeat(64)))
                .unwrap()
                .as_str(),
            "0".repeat(64)
        );
        assert!(CertificateId::new(&"g".repeat(64)).is_err());
        assert!(CertificateId::new(&"a".repeat(63)).is_err());
        let id = CertificateId::from_digest(&[0xA5; 32]);
        assert_eq!(id.as_str(), "a5".repeat(32));
    }

    #[test]
    fn policy_names_and_client_ids() {
        assert!(PolicyName::new("raspi2-Policy").is_ok());
        assert!(PolicyName::new("a+b=c,d.e@f_g").is_ok());
        assert!(PolicyName::new("no/slash").is_err());
        assert!(ClientId::new("basicPubSub").is_ok());
        assert!(ClientId::new("").is_err());
        assert!(ClientId::new(&"é".repeat(65)).is_err(), "130 bytes");
    }

    #[test]
    fn attributes() {
        assert!(check_attribute_name("serial#/a:b").is_ok());
        assert!(check_attribute_name("").is_err());
        assert!(check_attribute_value("").is_ok());
        assert!(check_attribute_value("v=[1]").is_ok());
        assert!(check_attribute_value("a b").is_err());
    }

    #[test]
    fn arns() {
        let arn = Arn::new("us-east-1", "123456789012");
        let t = ThingName::new("raspi2").unwrap();
        assert_eq!(
            arn.thing(&t),
            "arn:aws:iot:us-east-1:123456789012:thing/raspi2"
        );
        let id = CertificateId::from_digest(&[1; 32]);
        assert_eq!(Arn::parse_cert(&arn.cert(&id)), Some(id));
        assert_eq!(Arn::parse_cert("arn:aws:iot:r:a:thing/x"), None);
    }

    #[test]
    fn deserializing_validates() {
        let t: ThingName = serde_json::from_str("\"raspi2\"").unwrap();
        assert_eq!(t.as_str(), "raspi2");
        assert!(serde_json::from_str::<ThingName>("\"a b\"").is_err());
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"raspi2\"");
    }
}
