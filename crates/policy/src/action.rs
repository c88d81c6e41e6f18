//! The data-plane actions a policy can allow or deny, and the `Action`
//! patterns of a statement (`iot:Publish`, `iot:*`, `iot:Get*`, `*`).
//!
//! Action names follow IAM: the service prefix and the action name are
//! matched without regard to case, and the name may use the `*` and `?`
//! wildcards. The job-execution actions are listed in the AWS IoT developer
//! guide both as `iot:DescribeJobExecution` (the action table) and as
//! `iotjobsdata:DescribeJobExecution` (the newer resource table), so a job
//! action answers to either prefix. `greengrass:` actions are accepted in a
//! document (Greengrass core devices need them in their IoT policy) but no
//! [`Action`] here is a Greengrass one, so they never grant anything in Kumo.

use crate::glob::Glob;

/// An AWS IoT data-plane action that the broker or the data-plane HTTP API
/// checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// CONNECT; resource `client/<clientId>`.
    Connect,
    /// PUBLISH from a client (and iot-data Publish); resource `topic/<topic>`.
    Publish,
    /// SUBSCRIBE; resource `topicfilter/<filter>`, the filter as written.
    Subscribe,
    /// Delivery of a message to a client; resource `topic/<topic>`.
    Receive,
    /// PUBLISH with RETAIN set (also needs `Publish`); resource `topic/<topic>`.
    RetainPublish,
    /// iot-data GetRetainedMessage; resource `topic/<topic>`.
    GetRetainedMessage,
    /// iot-data ListRetainedMessages; resource `*`.
    ListRetainedMessages,
    /// Shadow GET over HTTP; resource `thing/<thing>[/<shadowName>]`.
    GetThingShadow,
    /// Shadow UPDATE over HTTP; resource `thing/<thing>[/<shadowName>]`.
    UpdateThingShadow,
    /// Shadow DELETE over HTTP; resource `thing/<thing>[/<shadowName>]`.
    DeleteThingShadow,
    /// ListNamedShadowsForThing over HTTP; resource `thing/<thing>`.
    ListNamedShadowsForThing,
    /// Jobs over HTTP; resource `thing/<thing>`.
    DescribeJobExecution,
    /// Jobs over HTTP; resource `thing/<thing>`.
    GetPendingJobExecutions,
    /// Jobs over HTTP; resource `thing/<thing>`.
    UpdateJobExecution,
    /// Jobs over HTTP; resource `thing/<thing>`.
    StartNextPendingJobExecution,
    /// Credentials provider; resource `rolealias/<alias>`.
    AssumeRoleWithCertificate,
}

/// Number of [`Action`] variants.
pub(crate) const ACTION_COUNT: usize = 16;

impl Action {
    /// Every action, in declaration order.
    pub const ALL: [Action; ACTION_COUNT] = [
        Action::Connect,
        Action::Publish,
        Action::Subscribe,
        Action::Receive,
        Action::RetainPublish,
        Action::GetRetainedMessage,
        Action::ListRetainedMessages,
        Action::GetThingShadow,
        Action::UpdateThingShadow,
        Action::DeleteThingShadow,
        Action::ListNamedShadowsForThing,
        Action::DescribeJobExecution,
        Action::GetPendingJobExecutions,
        Action::UpdateJobExecution,
        Action::StartNextPendingJobExecution,
        Action::AssumeRoleWithCertificate,
    ];

    /// The name as written in a policy, e.g. `"iot:Publish"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Connect => "iot:Connect",
            Action::Publish => "iot:Publish",
            Action::Subscribe => "iot:Subscribe",
            Action::Receive => "iot:Receive",
            Action::RetainPublish => "iot:RetainPublish",
            Action::GetRetainedMessage => "iot:GetRetainedMessage",
            Action::ListRetainedMessages => "iot:ListRetainedMessages",
            Action::GetThingShadow => "iot:GetThingShadow",
            Action::UpdateThingShadow => "iot:UpdateThingShadow",
            Action::DeleteThingShadow => "iot:DeleteThingShadow",
            Action::ListNamedShadowsForThing => "iot:ListNamedShadowsForThing",
            Action::DescribeJobExecution => "iot:DescribeJobExecution",
            Action::GetPendingJobExecutions => "iot:GetPendingJobExecutions",
            Action::UpdateJobExecution => "iot:UpdateJobExecution",
            Action::StartNextPendingJobExecution => "iot:StartNextPendingJobExecution",
            Action::AssumeRoleWithCertificate => "iot:AssumeRoleWithCertificate",
        }
    }

    /// The action name without its service prefix, e.g. `"Publish"`.
    pub fn name(self) -> &'static str {
        &self.as_str()[4..]
    }

    /// Look an action up by its policy name (`iot:Publish`, any case; the job
    /// actions also as `iotjobsdata:...`).
    pub fn from_name(name: &str) -> Option<Action> {
        let (service, rest) = name.split_once(':')?;
        Action::ALL.into_iter().find(|a| {
            a.services().iter().any(|s| s.eq_ignore_ascii_case(service))
                && a.name().eq_ignore_ascii_case(rest)
        })
    }

    /// Position in [`Action::ALL`].
    #[inline]
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    fn is_job_action(self) -> bool {
        matches!(
            self,
            Action::DescribeJobExecution
                | Action::GetPendingJobExecutions
                | Action::UpdateJobExecution
                | Action::StartNextPendingJobExecution
        )
    }

    /// Service prefixes this action answers to, lower case.
    fn services(self) -> &'static [&'static str] {
        if self.is_job_action() {
            &["iot", "iotjobsdata"]
        } else {
            &["iot"]
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Service prefixes an AWS IoT policy may name.
const SERVICES: [&str; 3] = ["iot", "iotjobsdata", "greengrass"];

/// One entry of a statement's `Action` (or `NotAction`) list, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ActionPattern {
    /// `*`: every action of every service.
    All,
    /// `service:name-pattern`, service lower-cased, name pattern lower-cased.
    Service { service: &'static str, name: Glob },
}

impl ActionPattern {
    /// Validate and compile one action string; `None` if it is not of the
    /// form `*` or `service:Name` with a known service and a name made of
    /// letters, digits, `*` and `?`.
    pub(crate) fn parse(text: &str) -> Option<ActionPattern> {
        if text == "*" {
            return Some(ActionPattern::All);
        }
        let (service, name) = text.split_once(':')?;
        let service = SERVICES
            .into_iter()
            .find(|s| s.eq_ignore_ascii_case(service))?;
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?');
        if !valid_name {
            return None;
        }
        Some(ActionPattern::Service {
            service,
            name: Glob::new(&name.to_ascii_lowercase()),
        })
    }

    /// Does this pattern cover `action`?
    pub(crate) fn matches(&self, action: Action) -> bool {
        match self {
            ActionPattern::All => true,
            ActionPattern::Service { service, name } => {
                action.services().contains(service)
                    && name.is_match(&action.name().to_ascii_lowercase())
            }
        }
    }
}

/// A set of actions as a bit mask over [`Action::index`].
pub(crate) type ActionMask = u32;

/// The actions covered by any of `patterns`.
pub(crate) fn mask_of(patterns: &[ActionPattern]) -> ActionMask {
    let mut mask = 0;
    for a in Action::ALL {
        if patterns.iter().any(|p| p.matches(a)) {
            mask |= 1 << a.index();
        }
    }
    mask
}

/// Every action.
pub(crate) const ALL_ACTIONS: ActionMask = (1 << ACTION_COUNT) - 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (i, a) in Action::ALL.into_iter().enumerate() {
            assert_eq!(a.index(), i);
            assert_eq!(Action::from_name(a.as_str()), Some(a));
            assert_eq!(Action::from_name(&a.as_str().to_uppercase()), Some(a));
        }
        assert_eq!(
            Action::from_name("iotjobsdata:DescribeJobExecution"),
            Some(Action::DescribeJobExecution)
        );
        assert_eq!(Action::from_name("iotjobsdata:Publish"), None);
        assert_eq!(Action::from_name("iot:Nope"), None);
        assert_eq!(Action::Publish.name(), "Publish");
    }

    #[test]
    fn patterns() {
        let m = |p: &str| mask_of(&[ActionPattern::parse(p).unwrap()]);
        let bit = |a: Action| 1u32 << a.index();
        assert_eq!(m("*"), ALL_ACTIONS);
        assert_eq!(m("iot:*"), ALL_ACTIONS);
        assert_eq!(m("iot:Publish"), bit(Action::Publish));
        assert_eq!(m("IOT:publish"), bit(Action::Publish));
        assert_eq!(
            m("iot:Get*"),
            bit(Action::GetRetainedMessage)
                | bit(Action::GetThingShadow)
                | bit(Action::GetPendingJobExecutions)
        );
        assert_eq!(m("iot:?eceive"), bit(Action::Receive));
        assert_eq!(
            m("iotjobsdata:*"),
            bit(Action::DescribeJobExecution)
                | bit(Action::GetPendingJobExecutions)
                | bit(Action::UpdateJobExecution)
                | bit(Action::StartNextPendingJobExecution)
        );
        assert_eq!(m("greengrass:Discover"), 0);
        assert_eq!(m("iot:CreateThing"), 0);
    }

    #[test]
    fn invalid_patterns() {
        for bad in [
            "",
            "iot",
            "iot:",
            "Publish",
            "s3:GetObject",
            "iot:Pub lish",
            "iot:a:b",
            "**",
            "iot:Pub/lish",
        ] {
            assert_eq!(ActionPattern::parse(bad), None, "{bad:?}");
        }
    }
}
