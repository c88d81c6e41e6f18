//! The `Condition` block of a statement: parsing and IAM evaluation.
//!
//! Semantics (IAM user guide, "Condition operators" and "Multivalued
//! context keys"), which AWS IoT follows:
//!
//! - Several operators, and several keys under one operator, are ANDed.
//!   Several values for one key are ORed (for a negated operator such as
//!   `StringNotEquals`, the key must equal none of them).
//! - A key missing from the context makes the condition false, except for
//!   negated operators (`StringNotEquals`, `NotIpAddress`, `ArnNotLike`...),
//!   where it makes it true; `...IfExists` makes it true; `Null` tests for
//!   exactly that.
//! - `ForAnyValue:` is true if some value of the (multivalued) key satisfies
//!   the operator, false if the key is missing or empty. `ForAllValues:` is
//!   true if every value does, and also true if the key is missing or empty.
//!   Without a set prefix a key with several values behaves like
//!   `ForAnyValue`, and a negated operator is the negation of that.
//! - `ArnEquals` and `ArnLike` are the same test: each of the six
//!   `:`-separated ARN components is matched separately, with wildcards.
//!
//! Every condition key AWS IoT defines describes the connection, not the
//! request, so conditions are decided once, when a [`PolicySet`] is
//! compiled; evaluating a packet never looks at them.
//!
//! [`PolicySet`]: crate::PolicySet

use std::borrow::Cow;
use std::net::IpAddr;

use crate::context::Context;
use crate::glob::Glob;
use crate::variables::{glob_of, Key, Template};

/// The comparison an operator makes, before `Not`, set prefixes and
/// `IfExists` are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(NumCmp),
    Bool,
    IpAddress,
    Arn,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumCmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

/// A parsed condition operator such as `ForAnyValue:StringLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    test: Test,
    negated: bool,
    set: SetQualifier,
    if_exists: bool,
}

impl Operator {
    fn parse(text: &str) -> Option<Operator> {
        let (set, rest) = if let Some(r) = text.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, r)
        } else if let Some(r) = text.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, r)
        } else {
            (SetQualifier::None, text)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        let (test, negated) = match base {
            "StringEquals" => (Test::StringEquals, false),
            "StringNotEquals" => (Test::StringEquals, true),
            "StringEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase, true),
            "StringLike" => (Test::StringLike, false),
            "StringNotLike" => (Test::StringLike, true),
            "NumericEquals" => (Test::Numeric(NumCmp::Eq), false),
            "NumericNotEquals" => (Test::Numeric(NumCmp::Eq), true),
            "NumericLessThan" => (Test::Numeric(NumCmp::Lt), false),
            "NumericLessThanEquals" => (Test::Numeric(NumCmp::Le), false),
            "NumericGreaterThan" => (Test::Numeric(NumCmp::Gt), false),
            "NumericGreaterThanEquals" => (Test::Numeric(NumCmp::Ge), false),
            "Bool" => (Test::Bool, false),
            "IpAddress" => (Test::IpAddress, false),
            "NotIpAddress" => (Test::IpAddress, true),
            "ArnEquals" | "ArnLike" => (Test::Arn, false),
            "ArnNotEquals" | "ArnNotLike" => (Test::Arn, true),
            "Null" => (Test::Null, false),
            _ => return None,
        };
        // `Null` is its own existence test: it takes no prefix or suffix.
        if test == Test::Null && (if_exists || set != SetQualifier::None) {
            return None;
        }
        Some(Operator {
            test,
            negated,
            set,
            if_exists,
        })
    }
}

/// One `operator: { key: values }` entry.
#[derive(Debug, Clone, PartialEq)]
struct Clause {
    op: Operator,
    key: Key,
    values: Vec<Template>,
}

/// A statement's whole `Condition` block.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Condition {
    clauses: Vec<Clause>,
}

/// Why a condition could not be parsed; the caller adds the statement index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConditionError {
    UnknownOperator(String),
    BadValue {
        operator: String,
        key: String,
        value: String,
        reason: &'static str,
    },
}

impl Condition {
    /// Add `operator: { key: values }`, where the values are the JSON
    /// scalars already turned into text.
    pub(crate) fn push(
        &mut self,
        operator: &str,
        key: &str,
        values: &[String],
        variables: bool,
    ) -> Result<(), ConditionError> {
        let op = Operator::parse(operator)
            .ok_or_else(|| ConditionError::UnknownOperator(operator.to_string()))?;
        let mut templates = Vec::with_capacity(values.len());
        for v in values {
            let t = Template::parse(v, variables);
            if t.is_constant() {
                let text = t.to_text(&Context::default()).unwrap_or_default();
                if let Err(reason) = check_value(op.test, &text) {
                    return Err(ConditionError::BadValue {
                        operator: operator.to_string(),
                        key: key.to_string(),
                        value: v.clone(),
                        reason,
                    });
                }
            }
            templates.push(t);
        }
        self.clauses.push(Clause {
            op,
            key: Key::parse(key),
            values: templates,
        });
        Ok(())
    }

    /// Is the whole block satisfied by `ctx`? An empty block is.
    pub(crate) fn holds(&self, ctx: &Context) -> bool {
        self.clauses.iter().all(|c| c.holds(ctx))
    }
}

/// Reject a constant value that can never work with `test`.
fn check_value(test: Test, v: &str) -> Result<(), &'static str> {
    match test {
        Test::Numeric(_) if parse_number(v).is_none() => Err("is not a number"),
        Test::Bool if parse_bool(v).is_none() => Err("is not \"true\" or \"false\""),
        Test::Null if parse_bool(v).is_none() => Err("is not \"true\" or \"false\""),
        Test::IpAddress if Cidr::parse(v).is_none() => Err("is not an IP address or CIDR block"),
        _ => Ok(()),
    }
}

fn parse_number(v: &str) -> Option<f64> {
    v.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(v: &str) -> Option<bool> {
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A policy value resolved against the context, ready to compare.
enum Want {
    Text(String),
    Lower(String),
    Pattern(Glob),
    Number(f64),
    Bool(bool),
    Cidr(Cidr),
    Arn(Vec<Glob>),
}

impl Want {
    fn resolve(test: Test, t: &Template, ctx: &Context) -> Option<Want> {
        Some(match test {
            Test::StringEquals => Want::Text(t.to_text(ctx)?),
            Test::StringEqualsIgnoreCase => Want::Lower(t.to_text(ctx)?.to_lowercase()),
            Test::StringLike => Want::Pattern(t.to_glob(ctx)?),
            Test::Numeric(_) => Want::Number(parse_number(&t.to_text(ctx)?)?),
            Test::Bool | Test::Null => Want::Bool(parse_bool(&t.to_text(ctx)?)?),
            Test::IpAddress => Want::Cidr(Cidr::parse(&t.to_text(ctx)?)?),
            Test::Arn => Want::Arn(arn_component_globs(&t.resolve(ctx)?)),
        })
    }

    /// Does the context value `v` satisfy this policy value (before `Not`)?
    fn accepts(&self, test: Test, v: &str) -> bool {
        match self {
            Want::Text(w) => w == v,
            Want::Lower(w) => *w == v.to_lowercase(),
            Want::Pattern(g) => g.is_match(v),
            Want::Number(w) => match (parse_number(v), test) {
                (Some(n), Test::Numeric(cmp)) => match cmp {
                    NumCmp::Eq => n == *w,
                    NumCmp::Lt => n < *w,
                    NumCmp::Le => n <= *w,
                    NumCmp::Gt => n > *w,
                    NumCmp::Ge => n >= *w,
                },
                _ => false,
            },
            Want::Bool(w) => parse_bool(v) == Some(*w),
            Want::Cidr(c) => v.parse::<IpAddr>().is_ok_and(|ip| c.contains(ip)),
            Want::Arn(parts) => {
                let mut got = v.splitn(6, ':');
                parts.len() == 6
                    && parts
                        .iter()
                        .all(|g| got.next().is_some_and(|c| g.is_match(c)))
            }
        }
    }
}

/// Split resolved ARN pieces into six component patterns at the first five
/// `:`; fewer than six components gives a shorter list, which never matches.
fn arn_component_globs(pieces: &[(Cow<'_, str>, bool)]) -> Vec<Glob> {
    let mut globs = Vec::with_capacity(6);
    let mut current: Vec<(Cow<'_, str>, bool)> = Vec::new();
    for (text, wild) in pieces {
        let mut rest: &str = text;
        while globs.len() < 5 {
            let Some(i) = rest.find(':') else { break };
            current.push((Cow::Owned(rest[..i].to_string()), *wild));
            globs.push(glob_of(&current));
            current.clear();
            rest = &rest[i + 1..];
        }
        current.push((Cow::Owned(rest.to_string()), *wild));
    }
    globs.push(glob_of(&current));
    globs
}

impl Clause {
    fn holds(&self, ctx: &Context) -> bool {
        let op = self.op;
        let present = self.key.values(ctx).filter(|v| !v.is_empty());
        // Unresolvable policy values are dropped: they match nothing.
        let wants: Vec<Want> = self
            .values
            .iter()
            .filter_map(|t| Want::resolve(op.test, t, ctx))
            .collect();
        if op.test == Test::Null {
            let is_null = present.is_none();
            return wants
                .iter()
                .any(|w| matches!(w, Want::Bool(b) if *b == is_null));
        }
        let Some(got) = present else {
            return match op.set {
                SetQualifier::ForAllValues => true,
                SetQualifier::ForAnyValue => op.if_exists,
                SetQualifier::None => op.if_exists || op.negated,
            };
        };
        let matches = |v: &str| wants.iter().any(|w| w.accepts(op.test, v));
        match op.set {
            SetQualifier::None => got.iter().any(|v| matches(v)) != op.negated,
            SetQualifier::ForAnyValue => got.iter().any(|v| matches(v) != op.negated),
            SetQualifier::ForAllValues => got.iter().all(|v| matches(v) != op.negated),
        }
    }
}

/// An IPv4 or IPv6 network, `addr/len`; a bare address is a host network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    pub(crate) fn parse(text: &str) -> Option<Cidr> {
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) if !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()) => {
                l.parse::<u8>().ok().filter(|&n| n <= max)?
            }
            Some(_) => return None,
        };
        Some(Cidr { addr, len })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        let mut c = Condition::default();
        let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        c.push(op, key, &values, true).unwrap();
        c
    }

    #[test]
    fn operators_parse() {
        assert!(Operator::parse("StringEquals").is_some());
        assert!(Operator::parse("ForAnyValue:StringLikeIfExists").is_some());
        assert!(Operator::parse("ForAllValues:StringNotEquals").is_some());
        assert!(Operator::parse("NumericGreaterThanEqualsIfExists").is_some());
        for bad in [
            "",
            "StringEqual",
            "stringequals",
            "NullIfExists",
            "ForAnyValue:Null",
            "DateEquals",
            "BinaryEquals",
            "ForSomeValues:StringEquals",
            "IfExists",
        ] {
            assert!(Operator::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn missing_keys() {
        let c = Context::default();
        let k = "iot:ClientId";
        assert!(!cond("StringEquals", k, &["a"]).holds(&c));
        assert!(cond("StringNotEquals", k, &["a"]).holds(&c));
        assert!(cond("StringEqualsIfExists", k, &["a"]).holds(&c));
        assert!(!cond("ForAnyValue:StringEquals", k, &["a"]).holds(&c));
        assert!(cond("ForAllValues:StringEquals", k, &["a"]).holds(&c));
        assert!(cond("Null", k, &["true"]).holds(&c));
        assert!(!cond("Null", k, &["false"]).holds(&c));
        assert!(!cond("Null", k, &["true"]).holds(&Context::with_client_id("x")));
    }

    #[test]
    fn string_and_numeric() {
        let c = Context {
            extra: [("n".to_string(), vec!["42".to_string()])].into(),
            ..Context::with_client_id("Dev-7")
        };
        assert!(cond("StringEquals", "iot:ClientId", &["x", "Dev-7"]).holds(&c));
        assert!(!cond("StringNotEquals", "iot:ClientId", &["x", "Dev-7"]).holds(&c));
        assert!(cond("StringEqualsIgnoreCase", "iot:ClientId", &["dev-7"]).holds(&c));
        assert!(!cond("StringNotEqualsIgnoreCase", "iot:ClientId", &["DEV-7"]).holds(&c));
        assert!(cond("StringLike", "iot:ClientId", &["Dev-?"]).holds(&c));
        assert!(cond("StringNotLike", "iot:ClientId", &["dev-*"]).holds(&c));
        assert!(cond("StringEquals", "IOT:CLIENTID", &["Dev-7"]).holds(&c));
        assert!(cond("NumericEquals", "n", &["42.0"]).holds(&c));
        assert!(cond("NumericLessThan", "N", &["43"]).holds(&c));
        assert!(!cond("NumericGreaterThan", "n", &["42"]).holds(&c));
        assert!(cond("NumericGreaterThanEquals", "n", &["42"]).holds(&c));
        assert!(cond("NumericNotEquals", "n", &["41"]).holds(&c));
        // Non-numeric context value: no numeric test matches.
        assert!(!cond("NumericEquals", "iot:ClientId", &["1"]).holds(&c));
    }

    #[test]
    fn variables_in_values() {
        let c = Context {
            extra: [
                ("literal".to_string(), vec!["a*b".to_string()]),
                ("other".to_string(), vec!["axb".to_string()]),
            ]
            .into(),
            ..Context::with_client_id("a*b")
        };
        // The `*` substituted from the client ID is a literal star.
        assert!(cond("StringLike", "literal", &["${iot:ClientId}"]).holds(&c));
        assert!(!cond("StringLike", "other", &["${iot:ClientId}"]).holds(&c));
        // The policy's own `*` is a wildcard.
        assert!(cond("StringLike", "other", &["a*b"]).holds(&c));
        // Unresolved variable: the value matches nothing.
        let thing = "${iot:Connection.Thing.ThingName}";
        assert!(!cond("StringEquals", "iot:ClientId", &[thing]).holds(&c));
        assert!(cond("StringNotEquals", "iot:ClientId", &[thing]).holds(&c));
    }

    #[test]
    fn arn_operators() {
        let c = Context {
            extra: [(
                "iot:LastWillTopic".to_string(),
                vec!["arn:aws:iot:us-east-1:123456789012:topic/my/lastwill/topicName".to_string()],
            )]
            .into(),
            ..Context::default()
        };
        let k = "iot:LastWillTopic";
        assert!(cond(
            "ArnEquals",
            k,
            &["arn:aws:iot:*:*:topic/my/lastwill/topicName"]
        )
        .holds(&c));
        assert!(cond("ArnLike", k, &["arn:aws:iot:us-east-?:*:topic/my/*"]).holds(&c));
        // `*` does not cross a component boundary.
        assert!(!cond("ArnLike", k, &["arn:aws:*:topic/my/lastwill/topicName"]).holds(&c));
        assert!(cond("ArnNotLike", k, &["arn:aws:iot:*:*:topic/other"]).holds(&c));
        // The resource component keeps its colons.
        let c2 = Context {
            extra: [(
                "k".to_string(),
                vec!["arn:aws:iot:r:1:topic/a:b".to_string()],
            )]
            .into(),
            ..Context::default()
        };
        assert!(cond("ArnEquals", "k", &["arn:aws:iot:r:1:topic/a:b"]).holds(&c2));
        assert!(!cond("ArnEquals", "k", &["arn:aws:iot:r:1:topic/a"]).holds(&c2));
    }

    #[test]
    fn cidr() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let n = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(n.contains(ip("203.0.113.200")));
        assert!(!n.contains(ip("203.0.114.1")));
        assert!(n.contains(ip("::ffff:203.0.113.9")), "v4-mapped v6 peer");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("10.1.2.3").unwrap().contains(ip("10.1.2.3")));
        assert!(!Cidr::parse("10.1.2.3").unwrap().contains(ip("10.1.2.4")));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0/8",
            "::/129",
            "x/1",
            "10.0.0.0/+8",
            "1.2.3.4/08x",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn bad_constant_values_are_rejected() {
        let mut c = Condition::default();
        let v = |s: &str| vec![s.to_string()];
        assert!(c.push("NumericEquals", "k", &v("ten"), true).is_err());
        assert!(c.push("Bool", "k", &v("yes"), true).is_err());
        assert!(c
            .push("IpAddress", "aws:SourceIp", &v("1.2.3.4/40"), true)
            .is_err());
        assert!(c.push("Null", "k", &v("maybe"), true).is_err());
        assert!(c.push("Nope", "k", &v("x"), true).is_err());
        // With a variable the value can only be checked once resolved.
        assert!(c
            .push("NumericEquals", "k", &v("${iot:ClientId}"), true)
            .is_ok());
    }
}
