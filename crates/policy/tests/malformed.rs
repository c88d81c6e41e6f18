//! Documents `CreatePolicy` must refuse with `MalformedPolicyException`,
//! and the messages that say why.

use kumo_policy::{PolicyDocument, PolicyError, MAX_POLICY_CHARS};

fn stmt(body: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}},{body}]}}"#
    )
}

/// Which error a refused document must give.
type Expect = fn(&PolicyError) -> bool;

#[test]
fn refused_documents() {
    use PolicyError as E;
    let cases: Vec<(String, Expect, &str)> = vec![
        ("".into(), |e| matches!(e, E::NotJson(_)), "not valid JSON"),
        ("{\"Statement\": [".into(), |e| matches!(e, E::NotJson(_)), "not valid JSON"),
        ("[]".into(), |e| matches!(e, E::WrongType { .. }), "expected a JSON object"),
        (r#"{"Version":"2012-10-17"}"#.into(), |e| matches!(e, E::MissingStatement), "at least one statement"),
        (r#"{"Version":"2012-10-17","Statement":[]}"#.into(), |e| matches!(e, E::MissingStatement), "at least one"),
        (r#"{"Version":"2012-10-17","Statement":"x"}"#.into(), |e| matches!(e, E::WrongType { .. }), "Statement: expected"),
        (r#"{"Version":"2011-01-01","Statement":{}}"#.into(), |e| matches!(e, E::InvalidVersion { .. }), "\"2011-01-01\""),
        (r#"{"Version":"2012-10-17","Statment":[]}"#.into(), |e| matches!(e, E::UnknownElement { .. }), "\"Statment\""),
        (stmt(r#"{"Effect":"Permit","Action":"iot:Connect","Resource":"*"}"#), |e| matches!(e, E::InvalidEffect { statement: 1, .. }), "Statement[1].Effect: \"Permit\""),
        (stmt(r#"{"Effect":"allow","Action":"iot:Connect","Resource":"*"}"#), |e| matches!(e, E::InvalidEffect { .. }), "\"allow\""),
        (stmt(r#"{"Action":"iot:Connect","Resource":"*"}"#), |e| matches!(e, E::MissingEffect { statement: 1 }), "Statement[1]: missing Effect"),
        (stmt(r#"{"Effect":"Allow","Resource":"*"}"#), |e| matches!(e, E::MissingAction { statement: 1 }), "missing Action"),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Connect"}"#), |e| matches!(e, E::MissingResource { statement: 1 }), "missing Resource"),
        (stmt(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#), |e| matches!(e, E::EmptyList { .. }), "Statement[1].Action: the list must not be empty"),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Connect","Resource":[]}"#), |e| matches!(e, E::EmptyList { .. }), "Resource"),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Connect","NotAction":"iot:Publish","Resource":"*"}"#), |e| matches!(e, E::Conflicting { .. }), "Action and NotAction"),
        (stmt(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#), |e| matches!(e, E::InvalidAction { .. }), "\"s3:GetObject\" is not a valid action"),
        (stmt(r#"{"Effect":"Allow","Action":"Publish","Resource":"*"}"#), |e| matches!(e, E::InvalidAction { .. }), "\"Publish\""),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Pub-lish","Resource":"*"}"#), |e| matches!(e, E::InvalidAction { .. }), "iot:Pub-lish"),
        (stmt(r#"{"Effect":"Allow","Action":["iot:Connect",7],"Resource":"*"}"#), |e| matches!(e, E::WrongType { .. }), "Statement[1].Action: expected"),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Connect","Resource":"topic/a"}"#), |e| matches!(e, E::InvalidResource { .. }), "\"topic/a\" is not a valid resource"),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:topic/a"}"#), |e| matches!(e, E::InvalidResource { .. }), "not a valid resource"),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Connect","Resource":""}"#), |e| matches!(e, E::InvalidResource { .. }), "\"\""),
        (stmt(r#"{"Effect":"Allow","Principal":"*","Action":"iot:Connect","Resource":"*"}"#), |e| matches!(e, E::UnsupportedElement { .. }), "must not specify Principal"),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Foo":1}"#), |e| matches!(e, E::UnknownElement { .. }), "Statement[1]: unknown element \"Foo\""),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringEqualz":{"iot:ClientId":"a"}}}"#), |e| matches!(e, E::UnknownConditionOperator { statement: 1, .. }), "unknown condition operator \"StringEqualz\""),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}"#), |e| matches!(e, E::UnknownConditionOperator { .. }), "DateLessThan"),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}"#), |e| matches!(e, E::InvalidConditionValue { .. }), "Statement[1].Condition.IpAddress.aws:SourceIp: \"10.0.0.0/33\" is not an IP address or CIDR block"),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"NumericEquals":{"k":"many"}}}"#), |e| matches!(e, E::InvalidConditionValue { .. }), "is not a number"),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"Bool":{"k":"yes"}}}"#), |e| matches!(e, E::InvalidConditionValue { .. }), "is not \"true\" or \"false\""),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringEquals":{"k":null}}}"#), |e| matches!(e, E::WrongType { .. }), "Condition.StringEquals.k: expected"),
        (stmt(r#"{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringEquals":"k"}}"#), |e| matches!(e, E::WrongType { .. }), "Condition.StringEquals: expected"),
    ];
    for (doc, is_expected, fragment) in cases {
        let err = PolicyDocument::parse(&doc).expect_err(&doc);
        assert!(is_expected(&err), "{doc}\n=> {err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(fragment),
            "{doc}\n=> {msg}\n(wanted {fragment:?})"
        );
        assert!(err
            .aws_message()
            .starts_with("Policy document is Malformed: "));
    }
}

// https://docs.aws.amazon.com/iot/latest/apireference/API_CreatePolicy.html
// "policyDocument must have a minimum length of 1, with a maximum length of
// 2048, excluding whitespace."
#[test]
fn size_limit() {
    let doc = |n: usize, pad: &str| {
        let head = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/"#;
        let tail = r#""}}"#;
        let fill = n - (head.len() + tail.len());
        format!("{pad}{head}{}{tail}{pad}", "t".repeat(fill))
    };
    assert!(PolicyDocument::parse(&doc(MAX_POLICY_CHARS, "")).is_ok());
    assert!(PolicyDocument::parse(&doc(MAX_POLICY_CHARS, &" \n\t".repeat(500))).is_ok());
    let err = PolicyDocument::parse(&doc(MAX_POLICY_CHARS + 1, "")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the policy document has 2049 characters excluding whitespace; the maximum is 2048"
    );
}

#[test]
fn accepted_variants() {
    for doc in [
        // Statement as a single object; Action and Resource as strings; Sid; Id.
        r#"{"Version":"2012-10-17","Id":"p","Statement":{"Sid":"1","Effect":"Allow","Action":"iot:*","Resource":"*"}}"#,
        // No Version (IAM treats it as 2008-10-17).
        r#"{"Statement":[{"Effect":"Deny","Action":["iot:Publish","iot:Receive"],"Resource":["*"]}]}"#,
        r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        // NotAction / NotResource (IAM grammar; see the crate docs).
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotAction":"iot:Connect","NotResource":"arn:aws:iot:us-east-1:1:client/x"}}"#,
        // Job actions under both prefixes, Greengrass actions, action wildcards.
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["iotjobsdata:DescribeJobExecution","iot:GetPendingJobExecutions","greengrass:Discover","iot:Get*","iot:?ublish"],"Resource":"*"}}"#,
        // Conditions with set prefixes, IfExists, numbers and booleans, empty lists.
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{
            "ForAnyValue:StringLikeIfExists":{"iot:Certificate.Subject.CommonName.List":["a*"]},
            "ForAllValues:StringEquals":{"iot:ConnectAttributes":[]},
            "NumericGreaterThanEquals":{"k":3},"Bool":{"iot:Connection.Thing.IsAttached":true},
            "Null":{"iot:ClientId":"false"},"ArnLike":{"iot:LastWillTopic":"arn:aws:iot:*:*:topic/*"},
            "IpAddress":{"aws:SourceIp":["10.0.0.0/8","::1"]}}}}"#,
    ] {
        if let Err(e) = PolicyDocument::parse(doc) {
            panic!("{doc}\n=> {e}");
        }
    }
}
