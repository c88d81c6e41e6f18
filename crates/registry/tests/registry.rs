//! The registry's operations with AWS IoT Core's rules, each change made
//! durable through a store backend and the state rebuilt from it at the end
//! of every test (what a restart sees must be what was answered).

mod common;

use common::{kind, World, ALLOW_ALL, NOW};
use kumo_model::{CertificateId, PolicyName, ThingName};
use kumo_registry::things::{
    AttributePayload, CreateThingRequest, ListThingsRequest, UpdateThingRequest,
};
use kumo_registry::{CertStatus, RegistryError};
use rcgen::{CertificateParams, KeyPair};

#[test]
fn things_are_created_idempotently_described_listed_updated_and_deleted() {
    let mut w = World::new();
    let raspi = ThingName::new("raspi2").unwrap();
    let attrs = AttributePayload {
        attributes: [("model".to_owned(), "pi4".to_owned())].into(),
        merge: false,
    };
    let req = CreateThingRequest {
        thing_type_name: None,
        attribute_payload: Some(attrs.clone()),
    };
    let created = w.run(w.reg.create_thing(&raspi, req.clone(), NOW));
    assert_eq!(
        created.thing_arn,
        "arn:aws:iot:us-east-1:123456789012:thing/raspi2"
    );
    assert_eq!(
        created.thing_id.len(),
        36,
        "UUID-shaped: {}",
        created.thing_id
    );

    // The same again: the same answer, nothing changes.
    let again = w.reg.create_thing(&raspi, req, NOW + 1).unwrap();
    assert_eq!(again.output, created);
    assert!(again.changes.is_empty());
    // Different attributes: a conflict.
    let e = w
        .reg
        .create_thing(&raspi, CreateThingRequest::default(), NOW)
        .unwrap_err();
    assert_eq!(kind(e), ("ResourceAlreadyExistsException", 409));

    let d = w.reg.describe_thing(&raspi).unwrap();
    assert_eq!((d.default_client_id.as_str(), d.version), ("raspi2", 1));
    assert_eq!(d.attributes["model"], "pi4");
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["thingName"], "raspi2");
    assert_eq!(json["thingArn"], created.thing_arn);

    for n in ["pico-1", "pico-2", "pico-3"] {
        w.thing(n);
    }
    // Pages of two, in name order.
    let mut req = ListThingsRequest {
        max_results: Some(2),
        ..Default::default()
    };
    let p1 = w.reg.list_things(&req).unwrap();
    assert_eq!(names(&p1.things), ["pico-1", "pico-2"]);
    req.next_token = p1.next_token.clone();
    let p2 = w.reg.list_things(&req).unwrap();
    assert_eq!(names(&p2.things), ["pico-3", "raspi2"]);
    assert_eq!(p2.next_token, None);
    // By attribute.
    let by_attr = w
        .reg
        .list_things(&ListThingsRequest {
            attribute_name: Some("model".into()),
            attribute_value: Some("pi".into()),
            use_prefix_attribute_value: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(names(&by_attr.things), ["raspi2"]);

    // Merge adds and removes (an empty value removes); the version counts.
    let merge = UpdateThingRequest {
        attribute_payload: Some(AttributePayload {
            attributes: [
                ("model".to_owned(), String::new()),
                ("room".to_owned(), "lab".to_owned()),
            ]
            .into(),
            merge: true,
        }),
        expected_version: Some(1),
        ..Default::default()
    };
    w.run(w.reg.update_thing(&raspi, merge.clone()));
    let d = w.reg.describe_thing(&raspi).unwrap();
    assert_eq!(
        (d.attributes.len(), d.attributes["room"].as_str(), d.version),
        (1, "lab", 2)
    );
    // A stale expected version is a conflict.
    assert_eq!(
        kind(w.reg.update_thing(&raspi, merge).unwrap_err()),
        ("VersionConflictException", 409)
    );

    w.run(w.reg.delete_thing(&raspi, Some(2)));
    assert_eq!(
        kind(w.reg.describe_thing(&raspi).unwrap_err()),
        ("ResourceNotFoundException", 404)
    );
    // Deleting what is not there succeeds, as on AWS.
    assert!(w.reg.delete_thing(&raspi, None).unwrap().changes.is_empty());
}

fn names(things: &[kumo_registry::things::ThingSummary]) -> Vec<&str> {
    things.iter().map(|t| t.thing_name.as_str()).collect()
}

#[test]
fn bad_names_and_attributes_are_invalid_requests() {
    let w = World::new();
    assert!(ThingName::new("bad name").is_err());
    let req = CreateThingRequest {
        thing_type_name: None,
        attribute_payload: Some(AttributePayload {
            attributes: [("ok".to_owned(), "not ok!".to_owned())].into(),
            merge: false,
        }),
    };
    let e = w
        .reg
        .create_thing(&ThingName::new("t").unwrap(), req, NOW)
        .unwrap_err();
    assert_eq!(kind(e.clone()), ("InvalidRequestException", 400));
    assert!(e.message().contains("failed to satisfy constraint"), "{e}");
}

#[test]
fn create_keys_and_certificate_answers_like_aws_and_keeps_no_private_key() {
    let mut w = World::new();
    let planned = w
        .reg
        .create_keys_and_certificate(&w.issuer, true, NOW)
        .unwrap();
    let ops = format!("{:?}", planned.ops());
    let resp = planned.output.response();
    let json = serde_json::to_value(&resp).unwrap();
    assert!(json["keyPair"]["PrivateKey"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(json["keyPair"]["PublicKey"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(
        json["certificateArn"],
        format!(
            "arn:aws:iot:us-east-1:123456789012:cert/{}",
            resp.certificate_id
        )
    );
    assert!(
        !ops.contains("PRIVATE KEY"),
        "the private key must never be stored"
    );
    let id = resp.certificate_id.clone();
    w.run(Ok(planned));
    let d = w
        .reg
        .describe_certificate(&id)
        .unwrap()
        .certificate_description;
    assert_eq!(d.status, CertStatus::Active);
    assert_eq!(d.certificate_pem, resp.certificate_pem);
    assert_eq!(d.validity.not_after, 2_524_607_999.0);
}

#[test]
fn registering_a_certificate_without_a_ca() {
    let mut w = World::new();
    // A self-signed device certificate made elsewhere.
    let key = KeyPair::generate().unwrap();
    let pem = CertificateParams::new(vec!["device".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap()
        .pem();
    let r = w.run(w.reg.register_certificate_without_ca(&pem, None, NOW));
    let d = w.reg.describe_certificate(&r.certificate_id).unwrap();
    assert_eq!(
        d.certificate_description.status,
        CertStatus::Inactive,
        "inactive unless asked"
    );
    let e = w
        .reg
        .register_certificate_without_ca(&pem, Some("ACTIVE"), NOW)
        .unwrap_err();
    assert_eq!(kind(e), ("ResourceAlreadyExistsException", 409));
    let e = w
        .reg
        .register_certificate_without_ca("not a certificate", None, NOW)
        .unwrap_err();
    assert_eq!(kind(e), ("CertificateValidationException", 400));
    let e = w
        .reg
        .register_certificate_without_ca(&pem, Some("PENDING_TRANSFER"), NOW)
        .unwrap_err();
    assert_eq!(kind(e), ("InvalidRequestException", 400));
    // Expired: rcgen's default validity ends in 4096, so move "now" past it.
    let far = 4_200_000_000_000_000;
    let other = CertificateParams::new(vec!["old".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap()
        .pem();
    let e = w
        .reg
        .register_certificate_without_ca(&other, None, far)
        .unwrap_err();
    assert_eq!(kind(e.clone()), ("CertificateValidationException", 400));
    assert!(e.message().contains("expired"));
}

#[test]
fn certificate_status_rules() {
    let mut w = World::new();
    let id = w.cert(true);
    for internal in [
        "PENDING_TRANSFER",
        "PENDING_ACTIVATION",
        "REGISTER_INACTIVE",
        "BOGUS",
    ] {
        let e = w.reg.update_certificate(&id, internal, NOW).unwrap_err();
        assert_eq!(kind(e), ("InvalidRequestException", 400), "{internal}");
    }
    let left = w.run(w.reg.update_certificate(&id, "INACTIVE", NOW + 1));
    assert!(
        left.left_active,
        "leaving ACTIVE closes the certificate's connections"
    );
    let again = w.run(w.reg.update_certificate(&id, "ACTIVE", NOW + 2));
    assert!(!again.left_active);
    w.run(w.reg.update_certificate(&id, "REVOKED", NOW + 3));
    let e = w
        .reg
        .update_certificate(&id, "ACTIVE", NOW + 4)
        .unwrap_err();
    assert_eq!(kind(e), ("CertificateStateException", 406));
    let missing = CertificateId::from_digest(&[7; 32]);
    let e = w
        .reg
        .update_certificate(&missing, "ACTIVE", NOW)
        .unwrap_err();
    assert_eq!(kind(e), ("ResourceNotFoundException", 404));
}

#[test]
fn deleting_a_certificate_follows_aws_rules() {
    let mut w = World::new();
    let id = w.cert(true);
    let arn = w.cert_arn(&id);
    let thing = w.thing("raspi2");
    let policy = w.policy("raspi2-Policy");
    w.run(w.reg.attach_thing_principal(&thing, &arn));
    w.run(w.reg.attach_policy(&policy, &arn));

    let e = w.reg.delete_certificate(&id, false).unwrap_err();
    assert_eq!(kind(e), ("CertificateStateException", 406), "ACTIVE first");
    w.run(w.reg.update_certificate(&id, "INACTIVE", NOW));
    let e = w.reg.delete_certificate(&id, true).unwrap_err();
    assert_eq!(
        kind(e),
        ("DeleteConflictException", 409),
        "attached to a thing"
    );
    w.run(w.reg.detach_thing_principal(&thing, &arn));
    let e = w.reg.delete_certificate(&id, false).unwrap_err();
    assert_eq!(kind(e), ("DeleteConflictException", 409), "policy attached");
    // forceDelete detaches the policy.
    w.run(w.reg.delete_certificate(&id, true));
    assert!(w.reg.certificate(&id).is_none());
    assert_eq!(w.reg.targets_of(&policy).count(), 0);
    // And now the policy can go.
    w.run(w.reg.delete_policy(&policy));
}

#[test]
fn certificates_list_in_creation_order_both_ways() {
    let mut w = World::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        let issued = w.run(w.reg.create_keys_and_certificate(&w.issuer, false, NOW + i));
        ids.push(issued.issued.cert.id);
    }
    let p1 = w.reg.list_certificates(Some(2), None, true).unwrap();
    assert_eq!(
        p1.certificates
            .iter()
            .map(|c| &c.certificate_id)
            .collect::<Vec<_>>(),
        [&ids[0], &ids[1]]
    );
    let p2 = w
        .reg
        .list_certificates(Some(2), p1.next_marker.as_deref(), true)
        .unwrap();
    assert_eq!(
        p2.certificates
            .iter()
            .map(|c| &c.certificate_id)
            .collect::<Vec<_>>(),
        [&ids[2]]
    );
    assert!(p2.next_marker.is_none());
    let d1 = w.reg.list_certificates(Some(2), None, false).unwrap();
    assert_eq!(
        d1.certificates
            .iter()
            .map(|c| &c.certificate_id)
            .collect::<Vec<_>>(),
        [&ids[2], &ids[1]]
    );
    let d2 = w
        .reg
        .list_certificates(Some(2), d1.next_marker.as_deref(), false)
        .unwrap();
    assert_eq!(
        d2.certificates
            .iter()
            .map(|c| &c.certificate_id)
            .collect::<Vec<_>>(),
        [&ids[0]]
    );
    let e = w.reg.list_certificates(Some(0), None, true).unwrap_err();
    assert_eq!(kind(e), ("InvalidRequestException", 400));
}

#[test]
fn policies_and_their_versions() {
    let mut w = World::new();
    let name = PolicyName::new("raspi2-Policy").unwrap();
    let created = w.run(w.reg.create_policy(&name, ALLOW_ALL, NOW));
    assert_eq!(created.policy_version_id, "1");
    assert_eq!(
        kind(w.reg.create_policy(&name, ALLOW_ALL, NOW).unwrap_err()),
        ("ResourceAlreadyExistsException", 409)
    );
    let e = w
        .reg
        .create_policy(&PolicyName::new("bad").unwrap(), "{not json", NOW)
        .unwrap_err();
    assert_eq!(kind(e), ("MalformedPolicyException", 400));

    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:*","Resource":"*"}]}"#;
    for v in 2..=5 {
        let out = w.run(w.reg.create_policy_version(&name, deny, v == 3, NOW + v));
        assert_eq!(out.policy_version_id, v.to_string());
    }
    let e = w
        .reg
        .create_policy_version(&name, deny, false, NOW)
        .unwrap_err();
    assert_eq!(kind(e.clone()), ("VersionsLimitExceededException", 409));
    assert!(e.message().contains("maximum number of versions (5)"));

    let p = w.reg.get_policy(&name).unwrap();
    assert_eq!(
        (p.default_version_id.as_str(), p.policy_document.as_str()),
        ("3", deny)
    );
    let versions = w.reg.list_policy_versions(&name).unwrap().policy_versions;
    assert_eq!(versions.len(), 5);
    assert!(versions
        .iter()
        .any(|v| v.version_id == "3" && v.is_default_version));

    let e = w.reg.delete_policy_version(&name, "3", NOW).unwrap_err();
    assert_eq!(
        kind(e),
        ("DeleteConflictException", 409),
        "not the default version"
    );
    w.run(w.reg.set_default_policy_version(&name, "1", NOW));
    assert_eq!(w.reg.get_policy(&name).unwrap().policy_document, ALLOW_ALL);
    let e = w.reg.delete_policy(&name).unwrap_err();
    assert_eq!(kind(e), ("DeleteConflictException", 409), "versions left");
    for v in 2..=5 {
        w.run(w.reg.delete_policy_version(&name, &v.to_string(), NOW));
    }
    assert_eq!(
        kind(w.reg.get_policy_version(&name, "2").unwrap_err()),
        ("ResourceNotFoundException", 404)
    );
    // A new version after deletions gets a new id; ids are never reused.
    let out = w.run(w.reg.create_policy_version(&name, deny, false, NOW));
    assert_eq!(out.policy_version_id, "6");
    w.run(w.reg.delete_policy_version(&name, "6", NOW));
    w.run(w.reg.delete_policy(&name));
    assert!(w.reg.policy("raspi2-Policy").is_none());
}

#[test]
fn attachments_link_policies_and_things_to_certificates() {
    let mut w = World::new();
    let id = w.cert(true);
    let arn = w.cert_arn(&id);
    let thing = w.thing("raspi2");
    let policies: Vec<PolicyName> = (0..10).map(|i| w.policy(&format!("p{i}"))).collect();
    for p in &policies {
        w.run(w.reg.attach_policy(p, &arn));
    }
    // Attaching twice changes nothing.
    assert!(w
        .reg
        .attach_policy(&policies[0], &arn)
        .unwrap()
        .changes
        .is_empty());
    let extra = w.policy("p10");
    let e = w.reg.attach_policy(&extra, &arn).unwrap_err();
    assert_eq!(kind(e), ("LimitExceededException", 410));
    let e = w.reg.delete_policy(&policies[0]).unwrap_err();
    assert_eq!(kind(e), ("DeleteConflictException", 409), "attached");

    let attached = w.reg.list_attached_policies(&arn, None, None).unwrap();
    assert_eq!(attached.policies.len(), 10);
    assert_eq!(w.reg.policy_documents_of_cert(&id).len(), 10);
    let targets = w
        .reg
        .list_targets_for_policy(&policies[3], None, None)
        .unwrap();
    assert_eq!(targets.targets, vec![arn.clone()]);

    w.run(w.reg.attach_thing_principal(&thing, &arn));
    assert_eq!(
        w.reg
            .list_thing_principals(&thing, None, None)
            .unwrap()
            .principals,
        vec![arn.clone()]
    );
    assert_eq!(
        w.reg
            .list_principal_things(&arn, None, None)
            .unwrap()
            .things,
        vec![thing.clone()]
    );
    assert_eq!(w.reg.things_of(&id).collect::<Vec<_>>(), [&thing]);
    let e = w.reg.delete_thing(&thing, None).unwrap_err();
    assert_eq!(
        kind(e),
        ("InvalidRequestException", 400),
        "principals attached"
    );

    // Unknown certificates and non-certificate principals.
    let ghost = w.cert_arn(&CertificateId::from_digest(&[9; 32]));
    assert_eq!(
        kind(w.reg.attach_thing_principal(&thing, &ghost).unwrap_err()),
        ("ResourceNotFoundException", 404)
    );
    assert_eq!(
        kind(
            w.reg
                .attach_policy(&extra, "us-east-1:cognito-identity")
                .unwrap_err()
        ),
        ("InvalidRequestException", 400)
    );

    for p in &policies {
        w.run(w.reg.detach_policy(p, &arn));
    }
    w.run(w.reg.detach_thing_principal(&thing, &arn));
    assert!(w.reg.policy_documents_of_cert(&id).is_empty());
    assert_eq!(w.reg.things_of(&id).count(), 0);
}

#[test]
fn requests_in_aws_json_are_executed_by_name() {
    use kumo_registry::api::Request;
    use serde_json::json;
    let mut w = World::new();
    let exec = |w: &mut World, v: serde_json::Value| {
        let req = Request::from_json(v)?;
        let (planned, effects) = w.reg.execute(req, &w.issuer, NOW)?;
        let out = planned.output.clone();
        w.run(Ok(planned));
        Ok::<_, RegistryError>((out, effects))
    };
    let (out, _) = exec(
        &mut w,
        json!({"op": "CreateThing", "thingName": "raspi2",
               "attributePayload": {"attributes": {"model": "pi4"}}}),
    )
    .unwrap();
    assert_eq!(
        out["thingArn"],
        "arn:aws:iot:us-east-1:123456789012:thing/raspi2"
    );
    let (cert, _) = exec(
        &mut w,
        json!({"op": "CreateKeysAndCertificate", "setAsActive": true}),
    )
    .unwrap();
    let arn = cert["certificateArn"].as_str().unwrap().to_owned();
    let id = cert["certificateId"].as_str().unwrap().to_owned();
    exec(
        &mut w,
        json!({"op": "CreatePolicy", "policyName": "raspi2-Policy", "policyDocument": ALLOW_ALL}),
    )
    .unwrap();
    let (_, effects) = exec(
        &mut w,
        json!({"op": "AttachPolicy", "policyName": "raspi2-Policy", "target": arn}),
    )
    .unwrap();
    assert!(effects.policies_changed);
    exec(
        &mut w,
        json!({"op": "AttachThingPrincipal", "thingName": "raspi2", "principal": arn}),
    )
    .unwrap();
    let (listed, _) = exec(
        &mut w,
        json!({"op": "ListThingPrincipals", "thingName": "raspi2"}),
    )
    .unwrap();
    assert_eq!(listed["principals"], json!([arn]));
    let (_, effects) = exec(
        &mut w,
        json!({"op": "UpdateCertificate", "certificateId": id, "newStatus": "INACTIVE"}),
    )
    .unwrap();
    assert_eq!(effects.deactivated.len(), 1, "its connections must close");
    let (d, _) = exec(
        &mut w,
        json!({"op": "DescribeCertificate", "certificateId": id}),
    )
    .unwrap();
    assert_eq!(d["certificateDescription"]["status"], "INACTIVE");

    for (bad, why) in [
        (json!({"op": "Nope"}), "unknown variant"),
        (json!({"op": "DescribeThing"}), "missing field `thingName`"),
        (
            json!({"op": "DescribeThing", "thingName": "a b"}),
            "failed to satisfy constraint",
        ),
        (
            json!({"op": "DescribeThing", "thingName": "x", "extra": 1}),
            "unknown field",
        ),
    ] {
        let e = exec(&mut w, bad).unwrap_err();
        assert_eq!(e.aws_type(), "InvalidRequestException");
        assert!(e.message().contains(why), "{e} should say {why}");
    }
    let e = exec(&mut w, json!({"op": "DescribeThing", "thingName": "ghost"})).unwrap_err();
    assert_eq!(kind(e), ("ResourceNotFoundException", 404));
}
