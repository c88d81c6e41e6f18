//! Table tests from the AWS IoT Core developer guide's policy examples:
//! basic policy variables, publish/subscribe and connect policies. Each
//! table cites the page its policy comes from; the resources and expected
//! decisions follow what the page says the policy allows.

mod common;

use common::*;
use kumo_policy::Context;

// https://docs.aws.amazon.com/iot/latest/developerguide/basic-policy-variables.html
// ("Basic AWS IoT Core policy variables"; the example uses account 123451234510).
#[test]
fn basic_client_id_variable() {
    let policy = r#"{
        "Version": "2012-10-17",
        "Statement": [
          {"Effect": "Allow", "Action": ["iot:Connect"],
           "Resource": ["arn:aws:iot:us-east-1:123451234510:client/${iot:ClientId}"]},
          {"Effect": "Allow", "Action": ["iot:Publish"],
           "Resource": ["arn:aws:iot:us-east-1:123451234510:topic/my/topic/${iot:ClientId}"]}
        ]}"#;
    let acct = |s: &str| format!("arn:aws:iot:us-east-1:123451234510:{s}");
    let doc = kumo_policy::PolicyDocument::parse(policy).unwrap();
    let set = kumo_policy::PolicySet::compile([&doc], &client("100-234-3456"));
    let table = [
        (Connect, "client/100-234-3456", Allow),
        (Connect, "client/100-234-3457", ImplicitDeny),
        (Publish, "topic/my/topic/100-234-3456", Allow),
        (Publish, "topic/my/topic/100-234-3456/x", ImplicitDeny),
        (Publish, "topic/my/topic/other", ImplicitDeny),
        (Subscribe, "topicfilter/my/topic/100-234-3456", ImplicitDeny),
    ];
    for (action, r, want) in table {
        assert_eq!(set.evaluate(action, &acct(r)), want, "{action} {r}");
    }
}

// Same page: a client that connects with `+` as its client ID turns
// `topicfilter/my/${iot:ClientId}/topic` into a policy for the literal
// filter `my/+/topic`: the substituted `+` is a literal character, and
// (policy wildcards being `*` and `?`) it does not match other filters.
// The page's fix, allowing iot:Connect only for `clientid1`, is the second
// policy.
#[test]
fn client_id_plus_is_literal() {
    let policy = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Subscribe"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/my/${iot:ClientId}/topic"]}]}"#;
    check(
        policy,
        &client("+"),
        &[
            (Subscribe, "topicfilter/my/+/topic", Allow),
            (Subscribe, "topicfilter/my/a/topic", ImplicitDeny),
            (Subscribe, "topicfilter/my/#", ImplicitDeny),
        ],
    );
    // A `*` in a client ID is a literal star too, never a wildcard.
    check(
        policy,
        &client("*"),
        &[
            (Subscribe, "topicfilter/my/*/topic", Allow),
            (Subscribe, "topicfilter/my/a/topic", ImplicitDeny),
        ],
    );
    let connect_only_clientid1 = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:client/clientid1"]}]}"#;
    check(
        connect_only_clientid1,
        &client("+"),
        &[
            (Connect, "client/+", ImplicitDeny),
            (Connect, "client/clientid1", Allow),
        ],
    );
}

// https://docs.aws.amazon.com/iot/latest/developerguide/pub-sub-policy.html
// "Registered devices (5)" / "Unregistered devices (5)": connect with the
// thing name (or client1..3) and publish to any topic prefixed by it. `*`
// crosses topic levels.
#[test]
fn publish_under_own_prefix() {
    let registered = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"]},
        {"Effect": "Allow", "Action": ["iot:Publish"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.ThingName}/*"]}]}"#;
    check(
        registered,
        &thing("thing1"),
        &[
            (Connect, "client/thing1", Allow),
            (Publish, "topic/thing1/a", Allow),
            (Publish, "topic/thing1/a/b/c", Allow),
            (Publish, "topic/thing1/", Allow),
            (Publish, "topic/thing1", ImplicitDeny),
            (Publish, "topic/thing10/a", ImplicitDeny),
            (Publish, "topic/Thing1/a", ImplicitDeny),
        ],
    );
    // Not bound to a thing: the thing variables do not resolve, nothing is
    // allowed.
    check(
        registered,
        &client("thing1"),
        &[
            (Connect, "client/thing1", ImplicitDeny),
            (Publish, "topic/thing1/a", ImplicitDeny),
        ],
    );
    let unregistered = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:client/client1",
                      "arn:aws:iot:us-east-1:123456789012:client/client2",
                      "arn:aws:iot:us-east-1:123456789012:client/client3"]},
        {"Effect": "Allow", "Action": ["iot:Publish"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/*"]}]}"#;
    check(
        unregistered,
        &client("client2"),
        &[
            (Connect, "client/client2", Allow),
            (Connect, "client/client4", ImplicitDeny),
            (Publish, "topic/client2/x/y", Allow),
            (Publish, "topic/client1/x", ImplicitDeny),
        ],
    );
}

// Same page, "(6)": subscribe to `<name>/room*` filters and receive on
// `<name>/room*` topics.
#[test]
fn room_prefix_subscribe_and_receive() {
    let policy = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:client/client1",
                      "arn:aws:iot:us-east-1:123456789012:client/client2",
                      "arn:aws:iot:us-east-1:123456789012:client/client3"]},
        {"Effect": "Allow", "Action": ["iot:Subscribe"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/${iot:ClientId}/room*"]},
        {"Effect": "Allow", "Action": ["iot:Receive"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/room*"]}]}"#;
    check(
        policy,
        &client("client1"),
        &[
            (Subscribe, "topicfilter/client1/room1", Allow),
            (Subscribe, "topicfilter/client1/room2", Allow),
            // `*` also covers MQTT wildcards written after the prefix.
            (Subscribe, "topicfilter/client1/room/#", Allow),
            (Subscribe, "topicfilter/client1/#", ImplicitDeny),
            (Receive, "topic/client1/room1", Allow),
            (Receive, "topic/client2/room1", ImplicitDeny),
            (Publish, "topic/client1/room1", ImplicitDeny),
        ],
    );
}

// Same page, "(4)" and the note under it: in a policy `+` and `#` are
// literal, so `topicfilter/some/+/topic` allows only the filter
// `some/+/topic`. The wildcard table on the same page ("Using wildcard
// characters in MQTT and AWS IoT Core policies") shows
// `topicfilter/some/*/topic` for "any filter of that shape" and suggests
// `?` to stay within one level.
#[test]
fn mqtt_wildcards_are_literal_in_policies() {
    let plus = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Subscribe"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/some/+/topic"]}]}"#;
    check(
        plus,
        &client("client1"),
        &[
            (Subscribe, "topicfilter/some/+/topic", Allow),
            (Subscribe, "topicfilter/some/a/topic", ImplicitDeny),
            (Subscribe, "topicfilter/some/#", ImplicitDeny),
        ],
    );
    let hash = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Subscribe"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/some/#"]}]}"#;
    check(
        hash,
        &client("c"),
        &[
            (Subscribe, "topicfilter/some/#", Allow),
            (Subscribe, "topicfilter/some/a", ImplicitDeny),
        ],
    );
    let star = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Subscribe"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/some/*/topic",
                      "arn:aws:iot:us-east-1:123456789012:topicfilter/dev/????/temp"]}]}"#;
    check(
        star,
        &client("c"),
        &[
            (Subscribe, "topicfilter/some/+/topic", Allow),
            (Subscribe, "topicfilter/some/a/topic", Allow),
            (Subscribe, "topicfilter/some/a/b/topic", Allow),
            (Subscribe, "topicfilter/some/topic", ImplicitDeny),
            (Subscribe, "topicfilter/dev/0042/temp", Allow),
            (Subscribe, "topicfilter/dev/042/temp", ImplicitDeny),
            (Subscribe, "topicfilter/dev/00/2/temp", Allow), // `?` is any character, `/` too
            (Subscribe, "topicfilter/dev/00421/temp", ImplicitDeny),
        ],
    );
}

// Same page, "(7)" and "(11)": exact topics and filters.
#[test]
fn exact_topics() {
    let policy = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:client/client1"]},
        {"Effect": "Allow", "Action": ["iot:Subscribe"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/my/topic",
                      "arn:aws:iot:us-east-1:123456789012:topicfilter/my/othertopic"]},
        {"Effect": "Allow", "Action": ["iot:Receive"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/my/topic"]}]}"#;
    check(
        policy,
        &client("client1"),
        &[
            (Subscribe, "topicfilter/my/topic", Allow),
            (Subscribe, "topicfilter/my/othertopic", Allow),
            (Subscribe, "topicfilter/my/Topic", ImplicitDeny),
            (Subscribe, "topicfilter/my/topic/", ImplicitDeny),
            (Subscribe, "topicfilter/my/+", ImplicitDeny),
            (Receive, "topic/my/topic", Allow),
            (Receive, "topic/my/othertopic", ImplicitDeny),
            // A topic resource is not a topicfilter resource.
            (Subscribe, "topic/my/topic", ImplicitDeny),
        ],
    );
}

// Same page, "Unregistered devices (9)": publish anywhere under the client
// ID except `<clientId>/bar`; the explicit Deny overrides the Allow.
#[test]
fn explicit_deny_overrides_allow() {
    let policy = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:client/client1",
                      "arn:aws:iot:us-east-1:123456789012:client/client2"]},
        {"Effect": "Allow", "Action": ["iot:Publish"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/*"]},
        {"Effect": "Deny", "Action": ["iot:Publish"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/bar"]}]}"#;
    check(
        policy,
        &client("client1"),
        &[
            (Publish, "topic/client1/foo", Allow),
            (Publish, "topic/client1/bar", ExplicitDeny),
            (Publish, "topic/client1/bar/baz", Allow),
            (Publish, "topic/client2/foo", ImplicitDeny),
        ],
    );
}

// https://docs.aws.amazon.com/iot/latest/developerguide/connect-policy.html
// Deny client1 and client2, allow any client ID that is the name of a thing
// attached to the certificate.
#[test]
fn connect_deny_list_and_thing_names() {
    let policy = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": ["iot:Connect"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:client/client1",
                      "arn:aws:iot:us-east-1:123456789012:client/client2"]},
        {"Effect": "Allow", "Action": ["iot:Connect"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"]}]}"#;
    check(
        policy,
        &thing("sensor-9"),
        &[(Connect, "client/sensor-9", Allow)],
    );
    check(
        policy,
        &thing("client1"),
        &[(Connect, "client/client1", ExplicitDeny)],
    );
    check(
        policy,
        &client("sensor-9"),
        &[(Connect, "client/sensor-9", ImplicitDeny)],
    );
}

fn attrs(list: &[&str]) -> Context {
    Context {
        connect_attributes: list.iter().map(|s| s.to_string()).collect(),
        ..client("c")
    }
}

// Same page, "MQTT persistent sessions policy examples": conditions on
// iot:ConnectAttributes with ForAllValues / ForAnyValue.
#[test]
fn connect_attributes() {
    let allow_if = |op: &str, values: &str| {
        format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
                "Action": ["iot:Connect"], "Resource": "*",
                "Condition": {{"{op}": {{"iot:ConnectAttributes": {values}}}}}}}]}}"#
        )
    };
    let c = |set: &[&str]| attrs(set);
    let p = "PersistentConnect";
    let w = "LastWill";
    // "allows connect with PersistentConnect feature"
    let only_persistent = allow_if("ForAllValues:StringEquals", r#"["PersistentConnect"]"#);
    for (ctx, want) in [
        (c(&[]), Allow),
        (c(&[p]), Allow),
        (c(&[w]), ImplicitDeny),
        (c(&[p, w]), ImplicitDeny),
    ] {
        check(&only_persistent, &ctx, &[(Connect, "*", want)]);
    }
    // "disallows PersistentConnect, other features are allowed"
    let no_persistent = allow_if("ForAllValues:StringNotEquals", r#"["PersistentConnect"]"#);
    for (ctx, want) in [
        (c(&[]), Allow),
        (c(&[w]), Allow),
        (c(&[p]), ImplicitDeny),
        (c(&[w, p]), ImplicitDeny),
    ] {
        check(&no_persistent, &ctx, &[(Connect, "*", want)]);
    }
    // "only allows connect using default features"
    let defaults = allow_if("ForAllValues:StringEquals", "[]");
    for (ctx, want) in [(c(&[]), Allow), (c(&[w]), ImplicitDeny)] {
        check(&defaults, &ctx, &[(Connect, "*", want)]);
    }
    // "allows connect only with PersistentConnect, any new feature is allowed
    // as long as the connection uses PersistentConnect"
    let needs_persistent = allow_if("ForAnyValue:StringEquals", r#"["PersistentConnect"]"#);
    for (ctx, want) in [
        (c(&[]), ImplicitDeny),
        (c(&[w]), ImplicitDeny),
        (c(&[w, p]), Allow),
    ] {
        check(&needs_persistent, &ctx, &[(Connect, "*", want)]);
    }
    // "expressed using StringEquals": allow everything, deny PersistentConnect.
    let deny_persistent = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": "*"},
        {"Effect": "Deny", "Action": ["iot:Connect"], "Resource": "*",
         "Condition": {"ForAnyValue:StringEquals": {"iot:ConnectAttributes": ["PersistentConnect"]}}}]}"#;
    for (ctx, want) in [(c(&[]), Allow), (c(&[w]), Allow), (c(&[p]), ExplicitDeny)] {
        check(deny_persistent, &ctx, &[(Connect, "*", want)]);
    }
    // "the connect must have both PersistentConnect and LastWill usage"
    let both = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": "*",
         "Condition": {"ForAllValues:StringEquals": {"iot:ConnectAttributes": ["PersistentConnect", "LastWill"]}}},
        {"Effect": "Deny", "Action": ["iot:Connect"], "Resource": "*",
         "Condition": {"ForAllValues:StringEquals": {"iot:ConnectAttributes": ["PersistentConnect"]}}},
        {"Effect": "Deny", "Action": ["iot:Connect"], "Resource": "*",
         "Condition": {"ForAllValues:StringEquals": {"iot:ConnectAttributes": ["LastWill"]}}},
        {"Effect": "Deny", "Action": ["iot:Connect"], "Resource": "*",
         "Condition": {"ForAllValues:StringEquals": {"iot:ConnectAttributes": []}}}]}"#;
    for (ctx, want) in [
        (c(&[p, w]), Allow),
        (c(&[p]), ExplicitDeny),
        (c(&[w]), ExplicitDeny),
        (c(&[]), ExplicitDeny),
    ] {
        check(both, &ctx, &[(Connect, "*", want)]);
    }
}

// Same page: "allows connect only by clients that have a LastWill with topic
// my/lastwill/topicName", an ArnEquals condition on iot:LastWillTopic (the
// page shows region and account as placeholders; here they are wildcards).
// The broker passes the will topic's ARN in Context::extra.
#[test]
fn last_will_topic_arn_condition() {
    let policy = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": "*",
         "Condition": {"ArnEquals": {"iot:LastWillTopic": "arn:aws:iot:*:*:topic/my/lastwill/topicName"}}}]}"#;
    let will = |topic: &str| Context {
        extra: [(
            "iot:LastWillTopic".to_string(),
            vec![res(&format!("topic/{topic}"))],
        )]
        .into(),
        ..client("c")
    };
    check(
        policy,
        &will("my/lastwill/topicName"),
        &[(Connect, "*", Allow)],
    );
    check(
        policy,
        &will("my/lastwill/other"),
        &[(Connect, "*", ImplicitDeny)],
    );
    check(policy, &client("c"), &[(Connect, "*", ImplicitDeny)]);
}
