//! Helpers for the table tests.

#![allow(dead_code)]

use kumo_policy::{
    Action, CertificateContext, Context, Decision, DnAttribute, PolicyDocument, PolicySet,
    ThingContext,
};

pub use kumo_policy::Action::*;
pub use kumo_policy::Decision::{Allow, ExplicitDeny, ImplicitDeny};

/// The region and account of the AWS examples.
pub const PREFIX: &str = "arn:aws:iot:us-east-1:123456789012:";

/// A full resource ARN from `type/name`, e.g. `topic/my/topic`.
pub fn res(short: &str) -> String {
    if short == "*" {
        "*".to_string()
    } else {
        format!("{PREFIX}{short}")
    }
}

/// Compile `policy` against `ctx` and check every `(action, resource, want)`.
#[track_caller]
pub fn check(policy: &str, ctx: &Context, cases: &[(Action, &str, Decision)]) {
    let doc = PolicyDocument::parse(policy).unwrap_or_else(|e| panic!("{e}\n{policy}"));
    let set = PolicySet::compile([&doc], ctx);
    for &(action, short, want) in cases {
        let got = set.evaluate(action, &res(short));
        assert_eq!(got, want, "{action} on {short} with {ctx:?}");
    }
}

/// A client with this ID and no thing.
pub fn client(id: &str) -> Context {
    Context::with_client_id(id)
}

/// A client whose ID names a thing attached to its certificate.
pub fn thing(id: &str) -> Context {
    Context {
        thing: Some(ThingContext {
            name: id.to_string(),
            is_attached: true,
            ..ThingContext::default()
        }),
        ..Context::with_client_id(id)
    }
}

/// A client with these subject attributes in its certificate.
pub fn with_subject(id: &str, attrs: &[(DnAttribute, &[&str])]) -> Context {
    let mut cert = CertificateContext::default();
    for (a, values) in attrs {
        cert.subject
            .insert(*a, values.iter().map(|v| v.to_string()).collect());
    }
    Context {
        certificate: Some(cert),
        ..Context::with_client_id(id)
    }
}
