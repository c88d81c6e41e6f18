//! The AWS IoT policy engine, written for Kumo.
//!
//! This crate decides whether a connection may do something: connect with a
//! client ID, publish to a topic, subscribe to a filter, receive a message,
//! read a shadow over HTTP. It parses policy documents the way AWS IoT's
//! `CreatePolicy` does, and evaluates them the way the AWS IoT message broker
//! does, with policy variables, conditions, wildcards and IAM's
//! deny-overrides-allow logic.
//!
//! It never does I/O, never reads a clock, never looks anything up and
//! never allocates while evaluating a packet. Values in, values out: the
//! caller supplies the documents and a [`Context`] describing the connection.
//!
//! # How the broker uses it
//!
//! 1. When a policy (version) is created: [`PolicyDocument::parse`]. A
//!    [`PolicyError`] is the `MalformedPolicyException` to return; its
//!    [`aws_message`](PolicyError::aws_message) is the `message`.
//! 2. When a connection is authenticated, and again whenever its policies,
//!    their default versions or its thing attachment change: fill a
//!    [`Context`] (client ID, peer address, the thing when the client ID
//!    names a thing attached to the certificate, the certificate's subject
//!    and issuer, the CONNECT's attributes) and call [`PolicySet::compile`]
//!    with every document that applies. This resolves the variables, decides
//!    the conditions and compiles the patterns, once.
//! 3. For each CONNECT, PUBLISH, SUBSCRIBE, delivery or HTTP data-plane call:
//!    build the resource ARN ([`Arn`], or [`ArnBuilder`] to reuse a buffer)
//!    and call [`PolicySet::evaluate`] / [`PolicySet::is_allowed`]. AWS's
//!    dependent permissions are the caller's to check: `iot:Publish` and
//!    `iot:Subscribe` need `iot:Connect` too, `iot:RetainPublish` needs
//!    `iot:Publish` too.
//!
//! ```
//! use kumo_policy::{Action, Arn, Context, Decision, PolicyDocument, PolicySet};
//!
//! let doc = PolicyDocument::parse(r#"{
//!   "Version": "2012-10-17",
//!   "Statement": [
//!     {"Effect": "Allow", "Action": "iot:Connect",
//!      "Resource": "arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}"},
//!     {"Effect": "Allow", "Action": "iot:Publish",
//!      "Resource": "arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/*"}
//!   ]}"#)?;
//! let set = PolicySet::compile([&doc], &Context::with_client_id("sensor-1"));
//! let topic = Arn::topic("us-east-1", "123456789012", "sensor-1/temp");
//! assert_eq!(set.evaluate(Action::Publish, &topic), Decision::Allow);
//! let other = Arn::topic("us-east-1", "123456789012", "sensor-2/temp");
//! assert_eq!(set.evaluate(Action::Publish, &other), Decision::ImplicitDeny);
//! # Ok::<(), kumo_policy::PolicyError>(())
//! ```
//!
//! # The grammar
//!
//! - `Version`: `"2012-10-17"`, or `"2008-10-17"` (also assumed when
//!   `Version` is absent, as IAM does), under which `${...}` is plain text.
//!   `Id` is allowed and ignored.
//! - `Statement`: one statement object or a non-empty array of them, each
//!   with an optional `Sid`, `Effect` (`Allow` | `Deny`), `Action` or
//!   `NotAction`, `Resource` or `NotResource`, and an optional `Condition`.
//!   `Principal` is refused: IoT policies are attached to identities.
//!   (AWS IoT's documentation never shows `NotAction` or `NotResource`; they
//!   are accepted here with their IAM meaning: every action / resource
//!   except those listed.)
//! - Actions: `*`, or `iot:Name` (also `iotjobsdata:` and `greengrass:`),
//!   case-insensitive, with `*` and `?` wildcards in the name.
//! - Resources: `*` or an ARN, with `*` (any run of characters, `/`
//!   included) and `?` (one character) as wildcards; MQTT's `+` and `#` are
//!   literal; matching is case-sensitive.
//! - Policy variables in resources and condition values: `${iot:ClientId}`,
//!   `${aws:SourceIp}`, `${iot:Connection.Thing.ThingName}`,
//!   `...ThingTypeName`, `...Attributes[name]`, `...IsAttached`,
//!   `${iot:CertificateId}`, `${iot:Certificate.SerialNumber}`, the thirteen
//!   `iot:Certificate.Subject.*` / `iot:Certificate.Issuer.*` attributes,
//!   their `AlternativeName.*` forms, `iot:Certificate.AvailableKeys`, with
//!   `.N` to pick a value of a multi-valued attribute; and the escapes
//!   `${*}`, `${?}`, `${$}`. A substituted value is literal text. A variable
//!   that cannot be resolved makes its resource entry (or condition value)
//!   match nothing.
//! - Conditions: `String(Not)Equals(IgnoreCase)`, `String(Not)Like`,
//!   `Numeric*`, `Bool`, `(Not)IpAddress` (IPv4 and IPv6 CIDR),
//!   `Arn(Not)Equals`, `Arn(Not)Like`, `Null`, the `ForAnyValue:` and
//!   `ForAllValues:` prefixes and the `IfExists` suffix, on the keys above
//!   (`.List` for all values of a certificate attribute),
//!   `iot:ConnectAttributes`, and any key the caller puts in
//!   [`Context::extra`]. Date and binary operators are refused.
//! - At most 2,048 characters, not counting whitespace.

mod action;
mod arn;
mod condition;
mod context;
mod document;
mod error;
mod eval;
mod glob;
mod variables;

pub use action::Action;
pub use arn::{Arn, ArnBuilder};
pub use context::{AltNameType, CertificateContext, Context, DnAttribute, ThingContext};
pub use document::{Effect, PolicyDocument, Statement, Version};
pub use error::{PolicyError, MAX_POLICY_CHARS};
pub use eval::{Decision, PolicySet};
pub use glob::Glob;
