//! Table tests from the AWS IoT Core developer guide's thing and certificate
//! policy variable pages and their examples, and from the IAM user guide's
//! condition-operator page for the operators AWS IoT examples do not show.

mod common;

use common::*;
use kumo_policy::{Context, DnAttribute, ThingContext};

fn thing_with(
    name: &str,
    type_name: Option<&str>,
    attrs: &[(&str, &str)],
    attached: bool,
) -> Context {
    Context {
        thing: Some(ThingContext {
            name: name.to_string(),
            type_name: type_name.map(str::to_string),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            is_attached: attached,
        }),
        ..client(name)
    }
}

// https://docs.aws.amazon.com/iot/latest/developerguide/thing-policy-examples.html
// "allows a device to connect if the certificate ... is attached to the
// thing for which the policy is being evaluated".
#[test]
fn is_attached_bool_condition() {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect"],
        "Resource":[ "*" ],"Condition": {"Bool": {"iot:Connection.Thing.IsAttached": ["true"]}}}]}"#;
    check(policy, &thing("t1"), &[(Connect, "client/t1", Allow)]);
    check(
        policy,
        &thing_with("t1", None, &[], false),
        &[(Connect, "client/t1", ImplicitDeny)],
    );
    // No thing at all: the key is missing, so the condition is false.
    check(
        policy,
        &client("t1"),
        &[(Connect, "client/t1", ImplicitDeny)],
    );
}

// Same page: publish to device/stats if the thing has a given type and
// attribute and is attached (a StringEquals with two keys and a Bool: all
// must hold).
#[test]
fn thing_type_and_attribute_conditions() {
    let policy = r#"{"Version":"2012-10-17","Statement": [{"Effect": "Allow","Action": ["iot:Publish"],
        "Resource": "arn:aws:iot:us-east-1:123456789012:topic/device/stats",
        "Condition": {"StringEquals": {"iot:Connection.Thing.Attributes[attributeName]": "attributeValue",
                                       "iot:Connection.Thing.ThingTypeName": "Thing_Type_Name"},
                      "Bool": {"iot:Connection.Thing.IsAttached": "true"}}}]}"#;
    let ok = thing_with(
        "d",
        Some("Thing_Type_Name"),
        &[("attributeName", "attributeValue")],
        true,
    );
    check(policy, &ok, &[(Publish, "topic/device/stats", Allow)]);
    for ctx in [
        thing_with(
            "d",
            Some("Other_Type"),
            &[("attributeName", "attributeValue")],
            true,
        ),
        thing_with(
            "d",
            Some("Thing_Type_Name"),
            &[("attributeName", "other")],
            true,
        ),
        thing_with("d", Some("Thing_Type_Name"), &[], true),
        thing_with("d", None, &[("attributeName", "attributeValue")], true),
        thing_with(
            "d",
            Some("Thing_Type_Name"),
            &[("attributeName", "attributeValue")],
            false,
        ),
        client("d"),
    ] {
        check(
            policy,
            &ctx,
            &[(Publish, "topic/device/stats", ImplicitDeny)],
        );
    }
}

// Same page: "publish to a topic that starts with an attribute of the
// thing. If the device certificate is not associated with the thing, this
// variable won't be resolved and will result in an access denied error."
#[test]
fn thing_attribute_in_resource() {
    let policy = r#"{"Version":"2012-10-17","Statement": [{"Effect": "Allow","Action": ["iot:Publish"],
        "Resource": "arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.Attributes[attributeName]}/*"}]}"#;
    let ctx = thing_with("d", None, &[("attributeName", "floor3")], true);
    check(
        policy,
        &ctx,
        &[
            (Publish, "topic/floor3/temp", Allow),
            (Publish, "topic/floor4/temp", ImplicitDeny),
        ],
    );
    check(
        policy,
        &thing("d"),
        &[(Publish, "topic/floor3/temp", ImplicitDeny)],
    );
    check(
        policy,
        &client("d"),
        &[(Publish, "topic/floor3/temp", ImplicitDeny)],
    );
}

// https://docs.aws.amazon.com/iot/latest/developerguide/certificate-policy-examples.html
// "(12)" and "(13)": publish to a topic named by the certificate ID, or by
// the subject common name.
#[test]
fn certificate_id_and_common_name_in_resource() {
    let policy = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Publish"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:CertificateId}",
                      "arn:aws:iot:us-east-1:123456789012:topic/${iot:Certificate.Subject.CommonName}"]}]}"#;
    let mut ctx = with_subject("client1", &[(DnAttribute::CommonName, &["lamp-7"])]);
    ctx.certificate.as_mut().unwrap().id = Some("0a1b2c".into());
    check(
        policy,
        &ctx,
        &[
            (Publish, "topic/0a1b2c", Allow),
            (Publish, "topic/lamp-7", Allow),
            (Publish, "topic/lamp-8", ImplicitDeny),
        ],
    );
    // No certificate: neither variable resolves.
    check(
        policy,
        &client("client1"),
        &[(Publish, "topic/lamp-7", ImplicitDeny)],
    );
}

// Same page, "(14)" and "(15)": publish under admin/ when the third subject
// common name (`.2`, 0-based) is Administrator, or when any of them is
// (ForAnyValue on `.List`).
#[test]
fn multi_valued_common_name() {
    let third = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Publish"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/admin/*"],
         "Condition": {"StringEquals": {"iot:Certificate.Subject.CommonName.2": "Administrator"}}}]}"#;
    let any = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Publish"],
         "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/admin/${iot:Connection.Thing.ThingName}"],
         "Condition": {"ForAnyValue:StringEquals": {"iot:Certificate.Subject.CommonName.List": "Administrator"}}}]}"#;
    let cn = |values: &[&str]| {
        let mut c = with_subject("dev", &[(DnAttribute::CommonName, values)]);
        c.thing = thing("dev").thing;
        c
    };
    let admin_third = cn(&["dev", "lab", "Administrator"]);
    let admin_first = cn(&["Administrator", "dev"]);
    let none = cn(&["dev", "lab", "guest"]);
    check(third, &admin_third, &[(Publish, "topic/admin/x", Allow)]);
    check(
        third,
        &admin_first,
        &[(Publish, "topic/admin/x", ImplicitDeny)],
    );
    check(
        any,
        &admin_first,
        &[
            (Publish, "topic/admin/dev", Allow),
            (Publish, "topic/admin/x", ImplicitDeny),
        ],
    );
    check(any, &admin_third, &[(Publish, "topic/admin/dev", Allow)]);
    check(any, &none, &[(Publish, "topic/admin/dev", ImplicitDeny)]);
    // Only the first five values count.
    let sixth = cn(&["a", "b", "c", "d", "e", "Administrator"]);
    check(any, &sixth, &[(Publish, "topic/admin/dev", ImplicitDeny)]);
}

// https://docs.aws.amazon.com/iot/latest/developerguide/cert-policy-variables.html
// "Registered Devices (2)": publish only if every subject Organization is
// Example Corp or AnyCompany (ForAllValues on `.List`).
#[test]
fn for_all_values_on_organization_list() {
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["iot:Connect"],
         "Resource":["arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"]},
        {"Effect":"Allow","Action":["iot:Publish"],
         "Resource":["arn:aws:iot:us-east-1:123456789012:topic/my/topic/${iot:Connection.Thing.ThingName}"],
         "Condition":{"ForAllValues:StringEquals":{"iot:Certificate.Subject.Organization.List":["Example Corp","AnyCompany"]}}}]}"#;
    let org = |values: &[&str]| {
        let mut c = with_subject("t1", &[(DnAttribute::Organization, values)]);
        c.thing = thing("t1").thing;
        c
    };
    let r = "topic/my/topic/t1";
    check(
        policy,
        &org(&["Example Corp"]),
        &[(Connect, "client/t1", Allow), (Publish, r, Allow)],
    );
    check(
        policy,
        &org(&["AnyCompany", "Example Corp"]),
        &[(Publish, r, Allow)],
    );
    check(
        policy,
        &org(&["Example Corp", "Evil Inc"]),
        &[(Publish, r, ImplicitDeny)],
    );
    // IAM: ForAllValues is also true when the key has no values at all.
    check(policy, &org(&[]), &[(Publish, r, Allow)]);
}

// Same page: "`iot:Certificate.Subject.Country.1` is replaced by the second
// country name ... If you specify an index value that does not exist ... no
// substitution is made and authorization fails." And "X.509 Certificate
// Policy Variable Limitations": wildcard characters or more than 1024
// characters leave the variable unsubstituted.
#[test]
fn certificate_variable_indexes_and_limits() {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish",
        "Resource":["arn:aws:iot:us-east-1:123456789012:topic/country/${iot:Certificate.Subject.Country.1}",
                    "arn:aws:iot:us-east-1:123456789012:topic/ou/${iot:Certificate.Subject.OrganizationalUnit}"]}]}"#;
    let two = with_subject("c", &[(DnAttribute::Country, &["US", "CA"])]);
    check(
        policy,
        &two,
        &[
            (Publish, "topic/country/CA", Allow),
            (Publish, "topic/country/US", ImplicitDeny),
        ],
    );
    let one = with_subject("c", &[(DnAttribute::Country, &["US"])]);
    check(policy, &one, &[(Publish, "topic/country/US", ImplicitDeny)]);
    for bad in ["a*", "a?", "a+", "a#", "a$"] {
        let ctx = with_subject("c", &[(DnAttribute::OrganizationalUnit, &[bad])]);
        check(
            policy,
            &ctx,
            &[(Publish, &format!("topic/ou/{bad}"), ImplicitDeny)],
        );
    }
    let long = "x".repeat(1025);
    let ctx = with_subject("c", &[(DnAttribute::OrganizationalUnit, &[long.as_str()])]);
    check(
        policy,
        &ctx,
        &[(Publish, &format!("topic/ou/{long}"), ImplicitDeny)],
    );
    let ok = with_subject("c", &[(DnAttribute::OrganizationalUnit, &["LightBulb"])]);
    check(policy, &ok, &[(Publish, "topic/ou/LightBulb", Allow)]);
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
// IpAddress / NotIpAddress on aws:SourceIp (CIDR, IPv4 and IPv6), StringLike
// on iot:ClientId, and ...IfExists (true when the key is missing).
#[test]
fn source_ip_client_id_like_and_if_exists() {
    let ip = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
        "Condition":{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:DB8:1234:5678::/64"]}}},
        {"Effect":"Deny","Action":"iot:Connect","Resource":"*",
         "Condition":{"NotIpAddress":{"aws:SourceIp":["203.0.113.0/25","2001:db8:1234:5678::/64"]}}}]}"#;
    let from = |addr: &str| Context {
        source_ip: Some(addr.parse().unwrap()),
        ..client("c")
    };
    check(ip, &from("203.0.113.7"), &[(Connect, "client/c", Allow)]);
    check(
        ip,
        &from("203.0.113.200"),
        &[(Connect, "client/c", ExplicitDeny)],
    );
    check(
        ip,
        &from("198.51.100.1"),
        &[(Connect, "client/c", ExplicitDeny)],
    );
    check(
        ip,
        &from("2001:db8:1234:5678::9"),
        &[(Connect, "client/c", Allow)],
    );
    // No address known: IpAddress is false, NotIpAddress true.
    check(ip, &client("c"), &[(Connect, "client/c", ExplicitDeny)]);

    let like = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect",
        "Resource":"arn:aws:iot:us-east-1:123456789012:client/*",
        "Condition":{"StringLike":{"iot:ClientId":["sensor-*","gw-??"]}}}]}"#;
    check(
        like,
        &client("sensor-17"),
        &[(Connect, "client/sensor-17", Allow)],
    );
    check(like, &client("gw-01"), &[(Connect, "client/gw-01", Allow)]);
    check(
        like,
        &client("gw-001"),
        &[(Connect, "client/gw-001", ImplicitDeny)],
    );
    check(
        like,
        &client("Sensor-1"),
        &[(Connect, "client/Sensor-1", ImplicitDeny)],
    );

    let if_exists = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"*",
        "Condition":{"StringEqualsIfExists":{"iot:Connection.Thing.ThingTypeName":"sensor"}}}]}"#;
    check(if_exists, &client("c"), &[(Publish, "topic/a", Allow)]);
    check(
        if_exists,
        &thing_with("c", Some("sensor"), &[], true),
        &[(Publish, "topic/a", Allow)],
    );
    check(
        if_exists,
        &thing_with("c", Some("camera"), &[], true),
        &[(Publish, "topic/a", ImplicitDeny)],
    );
    check(
        if_exists,
        &thing_with("c", None, &[], true),
        &[(Publish, "topic/a", Allow)],
    );
}

// https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-variables.html
// "predefined policy variables with fixed values to represent characters
// that otherwise have special meaning": ${*}, ${?}, ${$} are literal.
#[test]
fn escape_variables() {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Subscribe",
        "Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/odd/${*}/${?}/${$}aws"}]}"#;
    check(
        policy,
        &client("c"),
        &[
            (Subscribe, "topicfilter/odd/*/?/$aws", Allow),
            (Subscribe, "topicfilter/odd/x/y/$aws", ImplicitDeny),
        ],
    );
    // Under the 2008-10-17 language there are no variables: `${...}` is text
    // (and its `*` a wildcard), so `${iot:ClientId}` is not the client ID.
    let old = r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish",
        "Resource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}"}]}"#;
    check(
        old,
        &client("c"),
        &[
            (Publish, "topic/c", ImplicitDeny),
            (Publish, "topic/${iot:ClientId}", Allow),
        ],
    );
}

// https://docs.aws.amazon.com/iot/latest/developerguide/iot-action-resources.html
// Shadow, retained-message and credential-provider actions with their
// resources; `iot:*` and `iot:Get*` action wildcards.
#[test]
fn other_actions_and_action_wildcards() {
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iot:Get*","Resource":["arn:aws:iot:us-east-1:123456789012:thing/${iot:ClientId}",
            "arn:aws:iot:us-east-1:123456789012:thing/${iot:ClientId}/*",
            "arn:aws:iot:us-east-1:123456789012:topic/retained/*"]},
        {"Effect":"Allow","Action":["iot:ListRetainedMessages","iot:AssumeRoleWithCertificate"],
         "Resource":["*","arn:aws:iot:us-east-1:123456789012:rolealias/CredentialProviderRole_alias"]},
        {"Effect":"Deny","Action":"iot:*ThingShadow","Resource":"arn:aws:iot:us-east-1:123456789012:thing/${iot:ClientId}/secret"}]}"#;
    check(
        policy,
        &client("thingOne"),
        &[
            (GetThingShadow, "thing/thingOne", Allow),
            (GetThingShadow, "thing/thingOne/shadowOne", Allow),
            (GetThingShadow, "thing/thingOne/secret", ExplicitDeny),
            (UpdateThingShadow, "thing/thingOne", ImplicitDeny),
            (GetRetainedMessage, "topic/retained/a", Allow),
            (GetPendingJobExecutions, "thing/thingOne", Allow),
            (ListRetainedMessages, "*", Allow),
            (
                AssumeRoleWithCertificate,
                "rolealias/CredentialProviderRole_alias",
                Allow,
            ),
        ],
    );
}
