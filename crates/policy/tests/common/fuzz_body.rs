//! The body of the `policy_parse` fuzz target, shared with a plain `#[test]`
//! that runs it over fixed odd inputs and pseudo-random mutations (the fuzz
//! target includes this file with `#[path]`). Depends only on `kumo_policy`.

use std::collections::BTreeMap;

use kumo_policy::{
    Action, AltNameType, CertificateContext, Context, DnAttribute, Glob, PolicyDocument, PolicySet,
    ThingContext,
};

/// Resources to ask about: ordinary ones and awkward ones.
const RESOURCES: [&str; 8] = [
    "*",
    "",
    "arn:aws:iot:us-east-1:123456789012:client/fuzz-client",
    "arn:aws:iot:us-east-1:123456789012:topic/fuzz-client/a/b",
    "arn:aws:iot:us-east-1:123456789012:topicfilter/some/+/topic/#",
    "arn:aws:iot:us-east-1:123456789012:thing/fuzz-client/shadow*?",
    "arn:aws:iot:us-east-1:123456789012:topic/é/ü/\u{1F600}",
    "arn:aws:iot:us-east-1:123456789012:rolealias/a:b:c",
];

/// A context with every kind of value set, some of them hostile.
fn context() -> Context {
    let mut cert = CertificateContext {
        id: Some("abc123".into()),
        serial_number: Some("01:02".into()),
        ..CertificateContext::default()
    };
    cert.subject.insert(
        DnAttribute::CommonName,
        ["fuzz-client", "x*y", "", "é", "5", "6"]
            .map(String::from)
            .to_vec(),
    );
    cert.issuer
        .insert(DnAttribute::Organization, vec!["Example Corp".into()]);
    cert.subject_alt_names
        .insert(AltNameType::IpAddress, vec!["10.0.0.1".into()]);
    Context {
        client_id: Some("fuzz-client".into()),
        source_ip: Some("10.1.2.3".parse().unwrap()),
        thing: Some(ThingContext {
            name: "fuzz-client".into(),
            type_name: Some("sensor".into()),
            attributes: BTreeMap::from([("floor".into(), "3".into())]),
            is_attached: true,
        }),
        certificate: Some(cert),
        connect_attributes: vec!["PersistentConnect".into()],
        extra: BTreeMap::from([(
            "iot:LastWillTopic".into(),
            vec!["arn:aws:iot:r:1:topic/w".into()],
        )]),
    }
}

/// Parse `data` as a policy document; when it parses, compile it against a
/// fixed context and evaluate every action on a few resources. Must never
/// panic. Also use the text as a wildcard pattern and as a resource.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let glob = Glob::new(text);
    for r in RESOURCES {
        let _ = glob.is_match(r);
    }
    let _ = glob.is_match(text);
    let Ok(doc) = PolicyDocument::parse(text) else {
        return;
    };
    for ctx in [context(), Context::default()] {
        let set = PolicySet::compile([&doc], &ctx);
        for action in Action::ALL {
            for r in RESOURCES {
                let d = set.evaluate(action, r);
                assert_eq!(d.is_allowed(), set.is_allowed(action, r));
            }
            let _ = set.evaluate(action, text);
        }
    }
}
