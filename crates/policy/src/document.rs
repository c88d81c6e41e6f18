//! Parsing and validating a policy document.
//!
//! The document is read into a `serde_json::Value` and walked by hand rather
//! than deserialized with derives: that way every refusal can say which
//! element of which statement is wrong, in words, as AWS's
//! `MalformedPolicyException` does.

use serde_json::{Map, Value};

use crate::action::{mask_of, ActionMask, ActionPattern};
use crate::condition::{Condition, ConditionError};
use crate::error::{PolicyError, MAX_POLICY_CHARS};
use crate::variables::Template;

/// The policy language version named by `Version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `2012-10-17`: the current language, with policy variables.
    V2012_10_17,
    /// `2008-10-17`, also what a document without `Version` gets (as in
    /// IAM): `${...}` is plain text, not a variable.
    V2008_10_17,
}

impl Version {
    /// The version string.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2012_10_17 => "2012-10-17",
            Version::V2008_10_17 => "2008-10-17",
        }
    }

    fn has_variables(self) -> bool {
        self == Version::V2012_10_17
    }
}

/// `Effect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The statement grants.
    Allow,
    /// The statement forbids, overriding every grant.
    Deny,
}

/// One validated statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    /// The actions the statement covers (`NotAction` already inverted).
    pub(crate) actions: ActionMask,
    /// `Resource` entries, or `NotResource` entries when `not_resource`.
    pub(crate) resources: Vec<Template>,
    pub(crate) not_resource: bool,
    pub(crate) condition: Option<Condition>,
}

impl Statement {
    /// `Sid`, if the statement has one.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// `Effect`.
    pub fn effect(&self) -> Effect {
        self.effect
    }
}

/// A validated AWS IoT policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    version: Version,
    statements: Vec<Statement>,
}

/// Characters AWS counts toward the size limit.
fn counted_chars(json: &str) -> usize {
    json.chars().filter(|c| !c.is_whitespace()).count()
}

impl PolicyDocument {
    /// Parse and validate a policy document as `CreatePolicy` receives it.
    pub fn parse(json: &str) -> Result<PolicyDocument, PolicyError> {
        let chars = counted_chars(json);
        if chars > MAX_POLICY_CHARS {
            return Err(PolicyError::TooLong {
                chars,
                max: MAX_POLICY_CHARS,
            });
        }
        let value: Value =
            serde_json::from_str(json).map_err(|e| PolicyError::NotJson(e.to_string()))?;
        let Value::Object(top) = value else {
            return Err(wrong_type("(document)", "a JSON object"));
        };
        let mut version = Version::V2008_10_17;
        let mut statement = None;
        for (name, v) in &top {
            match name.as_str() {
                "Version" => {
                    version = match v.as_str() {
                        Some("2012-10-17") => Version::V2012_10_17,
                        Some("2008-10-17") => Version::V2008_10_17,
                        Some(other) => {
                            return Err(PolicyError::InvalidVersion {
                                found: other.to_string(),
                            })
                        }
                        None => return Err(wrong_type("Version", "a string")),
                    }
                }
                "Statement" => statement = Some(v),
                "Id" if v.is_string() => {}
                "Id" => return Err(wrong_type("Id", "a string")),
                _ => {
                    return Err(PolicyError::UnknownElement {
                        path: "(document)".into(),
                        name: name.clone(),
                    })
                }
            }
        }
        let raw: Vec<&Map<String, Value>> = match statement {
            None => return Err(PolicyError::MissingStatement),
            Some(Value::Object(o)) => vec![o],
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::Object(o) => out.push(o),
                        _ => return Err(wrong_type(&format!("Statement[{i}]"), "an object")),
                    }
                }
                out
            }
            Some(_) => return Err(wrong_type("Statement", "an object or an array of objects")),
        };
        if raw.is_empty() {
            return Err(PolicyError::MissingStatement);
        }
        let statements = raw
            .into_iter()
            .enumerate()
            .map(|(i, s)| parse_statement(i, s, version.has_variables()))
            .collect::<Result<_, _>>()?;
        Ok(PolicyDocument {
            version,
            statements,
        })
    }

    /// The language version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

fn wrong_type(path: &str, expected: &'static str) -> PolicyError {
    PolicyError::WrongType {
        path: path.to_string(),
        expected,
    }
}

/// A string or a list of strings, as `Action` and `Resource` take.
fn string_list<'v>(
    i: usize,
    element: &'static str,
    v: &'v Value,
) -> Result<Vec<&'v str>, PolicyError> {
    let path = || format!("Statement[{i}].{element}");
    let list = match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items
            .iter()
            .map(|x| {
                x.as_str()
                    .ok_or_else(|| wrong_type(&path(), "a string or a list of strings"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(wrong_type(&path(), "a string or a list of strings")),
    };
    if list.is_empty() {
        return Err(PolicyError::EmptyList {
            statement: i,
            element,
        });
    }
    Ok(list)
}

/// A resource entry AWS would accept: `*` or an ARN with its six parts.
fn valid_resource(r: &str) -> bool {
    r == "*" || (r.starts_with("arn:") && r.splitn(6, ':').count() == 6)
}

fn parse_statement(
    i: usize,
    s: &Map<String, Value>,
    variables: bool,
) -> Result<Statement, PolicyError> {
    let mut sid = None;
    let mut effect = None;
    let mut action: Option<(&'static str, &Value)> = None;
    let mut resource: Option<(&'static str, &Value)> = None;
    let mut condition = None;
    for (name, v) in s {
        match name.as_str() {
            "Sid" => match v.as_str() {
                Some(x) => sid = Some(x.to_string()),
                None => return Err(wrong_type(&format!("Statement[{i}].Sid"), "a string")),
            },
            "Effect" => effect = Some(v),
            "Action" | "NotAction" => {
                if action.is_some() {
                    return Err(PolicyError::Conflicting {
                        statement: i,
                        element: "Action",
                    });
                }
                action = Some((
                    if name == "Action" {
                        "Action"
                    } else {
                        "NotAction"
                    },
                    v,
                ));
            }
            "Resource" | "NotResource" => {
                if resource.is_some() {
                    return Err(PolicyError::Conflicting {
                        statement: i,
                        element: "Resource",
                    });
                }
                resource = Some((
                    if name == "Resource" {
                        "Resource"
                    } else {
                        "NotResource"
                    },
                    v,
                ));
            }
            "Condition" => condition = Some(v),
            "Principal" => {
                return Err(PolicyError::UnsupportedElement {
                    statement: i,
                    name: "Principal",
                })
            }
            "NotPrincipal" => {
                return Err(PolicyError::UnsupportedElement {
                    statement: i,
                    name: "NotPrincipal",
                })
            }
            _ => {
                return Err(PolicyError::UnknownElement {
                    path: format!("Statement[{i}]"),
                    name: name.clone(),
                })
            }
        }
    }

    let effect = match effect {
        None => return Err(PolicyError::MissingEffect { statement: i }),
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => {
            return Err(PolicyError::InvalidEffect {
                statement: i,
                found: other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_string),
            })
        }
    };

    let (action_element, action_value) =
        action.ok_or(PolicyError::MissingAction { statement: i })?;
    let mut patterns = Vec::new();
    for a in string_list(i, action_element, action_value)? {
        patterns.push(
            ActionPattern::parse(a).ok_or_else(|| PolicyError::InvalidAction {
                statement: i,
                element: action_element,
                action: a.to_string(),
            })?,
        );
    }
    let mut actions = mask_of(&patterns);
    if action_element == "NotAction" {
        actions = crate::action::ALL_ACTIONS & !actions;
    }

    let (resource_element, resource_value) =
        resource.ok_or(PolicyError::MissingResource { statement: i })?;
    let mut resources = Vec::new();
    for r in string_list(i, resource_element, resource_value)? {
        if !valid_resource(r) {
            return Err(PolicyError::InvalidResource {
                statement: i,
                element: resource_element,
                resource: r.to_string(),
            });
        }
        resources.push(Template::parse(r, variables));
    }

    let condition = match condition {
        None => None,
        Some(v) => Some(parse_condition(i, v, variables)?),
    };

    Ok(Statement {
        sid,
        effect,
        actions,
        resources,
        not_resource: resource_element == "NotResource",
        condition,
    })
}

/// A condition value as text: strings as they are, numbers and booleans
/// as JSON writes them.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_condition(i: usize, v: &Value, variables: bool) -> Result<Condition, PolicyError> {
    let Value::Object(ops) = v else {
        return Err(wrong_type(
            &format!("Statement[{i}].Condition"),
            "an object",
        ));
    };
    let mut condition = Condition::default();
    for (operator, keys) in ops {
        let Value::Object(keys) = keys else {
            return Err(wrong_type(
                &format!("Statement[{i}].Condition.{operator}"),
                "an object of condition keys",
            ));
        };
        for (key, values) in keys {
            let path = || format!("Statement[{i}].Condition.{operator}.{key}");
            let expected = "a string, number or boolean, or a list of them";
            let values: Vec<String> = match values {
                Value::Array(items) => items
                    .iter()
                    .map(|x| scalar_text(x).ok_or_else(|| wrong_type(&path(), expected)))
                    .collect::<Result<_, _>>()?,
                other => vec![scalar_text(other).ok_or_else(|| wrong_type(&path(), expected))?],
            };
            condition
                .push(operator, key, &values, variables)
                .map_err(|e| match e {
                    ConditionError::UnknownOperator(operator) => {
                        PolicyError::UnknownConditionOperator {
                            statement: i,
                            operator,
                        }
                    }
                    ConditionError::BadValue {
                        operator,
                        key,
                        value,
                        reason,
                    } => PolicyError::InvalidConditionValue {
                        statement: i,
                        operator,
                        key,
                        value,
                        reason,
                    },
                })?;
        }
    }
    Ok(condition)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Action;

    #[test]
    fn single_statement_object_and_strings() {
        let d = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":{"Sid":"s","Effect":"Deny","Action":"iot:Publish","Resource":"*"}}"#,
        )
        .unwrap();
        assert_eq!(d.version(), Version::V2012_10_17);
        let s = &d.statements()[0];
        assert_eq!(s.sid(), Some("s"));
        assert_eq!(s.effect(), Effect::Deny);
        assert_eq!(s.actions, 1 << Action::Publish.index());
    }

    #[test]
    fn not_action_inverts() {
        let d = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iot:Publish","NotResource":"arn:aws:iot:r:1:topic/x"}]}"#,
        )
        .unwrap();
        let s = &d.statements()[0];
        assert_eq!(s.actions & (1 << Action::Publish.index()), 0);
        assert_ne!(s.actions & (1 << Action::Connect.index()), 0);
        assert!(s.not_resource);
    }

    #[test]
    fn version_handling() {
        let body = r#""Statement":{"Effect":"Allow","Action":"iot:*","Resource":"*"}"#;
        let p = |v: &str| PolicyDocument::parse(&format!("{{{v}{body}}}"));
        assert_eq!(p("").unwrap().version(), Version::V2008_10_17);
        assert_eq!(
            p(r#""Version":"2008-10-17","#).unwrap().version(),
            Version::V2008_10_17
        );
        assert!(matches!(
            p(r#""Version":"2012-10-18","#),
            Err(PolicyError::InvalidVersion { .. })
        ));
        assert!(matches!(
            p(r#""Version":2012,"#),
            Err(PolicyError::WrongType { .. })
        ));
    }

    #[test]
    fn size_limit_ignores_whitespace() {
        // Exactly at the limit with padding in strings and whitespace around.
        let head = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:r:1:client/"#;
        let tail = r#""}}"#;
        let fill = MAX_POLICY_CHARS - counted_chars(head) - counted_chars(tail);
        let at_limit = format!("{head}{}{tail}", "a".repeat(fill));
        assert!(PolicyDocument::parse(&at_limit).is_ok());
        let spaced = at_limit.replace(',', " ,\n\t ");
        assert!(PolicyDocument::parse(&spaced).is_ok());
        let over = format!("{head}{}{tail}", "a".repeat(fill + 1));
        assert_eq!(
            PolicyDocument::parse(&over),
            Err(PolicyError::TooLong {
                chars: MAX_POLICY_CHARS + 1,
                max: MAX_POLICY_CHARS
            })
        );
    }

    #[test]
    fn condition_values_of_all_scalar_kinds() {
        let d = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:*","Resource":"*",
                "Condition":{"Bool":{"iot:Connection.Thing.IsAttached":true},"NumericLessThan":{"k":[1,2.5]},
                "ForAllValues:StringEquals":{"iot:ConnectAttributes":[]}}}}"#,
        );
        assert!(d.is_ok(), "{d:?}");
    }
}
