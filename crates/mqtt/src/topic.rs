//! Topic names and topic filters (§4.7): validation, shared-subscription
//! syntax and wildcard matching. A [`TopicName`] or [`TopicFilter`] that
//! exists is valid.

use std::fmt;

/// Longest topic, in bytes (a UTF-8 string's length is a u16).
pub const MAX_TOPIC_LEN: usize = 65_535;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("topic is empty")]
    Empty,
    #[error("topic is longer than 65535 bytes")]
    TooLong,
    #[error("topic contains U+0000")]
    Nul,
    #[error("topic name contains a wildcard")]
    WildcardInName,
    #[error("'#' must be the last level and alone in it")]
    BadMultiLevelWildcard,
    #[error("'+' must be alone in its level")]
    BadSingleLevelWildcard,
    #[error("malformed shared subscription ($share/<group>/<filter>)")]
    BadShare,
}

fn check_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    if s.contains('\0') {
        return Err(TopicError::Nul);
    }
    Ok(())
}

/// A topic a message is published to: no wildcards, not empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(String);

impl TopicName {
    pub fn new(s: impl Into<String>) -> Result<TopicName, TopicError> {
        let s = s.into();
        validate_name(&s)?;
        Ok(TopicName(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Check a topic name without building one.
pub fn validate_name(s: &str) -> Result<(), TopicError> {
    check_common(s)?;
    if s.contains(['+', '#']) {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A subscription's topic filter. Shared subscriptions
/// (`$share/<group>/<filter>`) keep their group apart from the filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicFilter {
    filter: String,
    share_group: Option<String>,
}

impl TopicFilter {
    pub fn new(s: &str) -> Result<TopicFilter, TopicError> {
        check_common(s)?;
        if let Some(rest) = s.strip_prefix("$share/") {
            let (group, filter) = rest.split_once('/').ok_or(TopicError::BadShare)?;
            if group.is_empty() || group.contains(['+', '#']) || filter.is_empty() {
                return Err(TopicError::BadShare);
            }
            validate_filter(filter)?;
            return Ok(TopicFilter {
                filter: filter.to_owned(),
                share_group: Some(group.to_owned()),
            });
        }
        validate_filter(s)?;
        Ok(TopicFilter {
            filter: s.to_owned(),
            share_group: None,
        })
    }

    /// The filter to match topics against (without any `$share/<group>/`).
    pub fn filter(&self) -> &str {
        &self.filter
    }

    pub fn share_group(&self) -> Option<&str> {
        self.share_group.as_deref()
    }

    pub fn has_wildcards(&self) -> bool {
        self.filter.contains(['+', '#'])
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.share_group {
            Some(g) => write!(f, "$share/{g}/{}", self.filter),
            None => f.write_str(&self.filter),
        }
    }
}

fn validate_filter(s: &str) -> Result<(), TopicError> {
    let mut levels = s.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(TopicError::BadMultiLevelWildcard);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::BadSingleLevelWildcard);
        }
    }
    Ok(())
}

/// How `#` treats the level it follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashMatch {
    /// Spec (§4.7.1.2): `sport/#` also matches `sport`.
    #[default]
    IncludesParent,
    /// AWS IoT Core: `sport/#` does not match `sport`.
    ExcludesParent,
}

/// Whether a (valid, non-shared) filter matches a (valid) topic name.
/// Topics starting with `$` are not matched by a filter starting with a
/// wildcard (§4.7.2).
pub fn matches(filter: &str, topic: &str, hash: HashMatch) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), Some(_)) => return true,
            (Some("#"), None) => return hash == HashMatch::IncludesParent,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples_4_7_1() {
        let m = |f, t| matches(f, t, HashMatch::IncludesParent);
        assert!(m("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(m("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
        assert!(m(
            "sport/tennis/player1/#",
            "sport/tennis/player1/score/wimbledon"
        ));
        assert!(m("sport/#", "sport"));
        assert!(m("#", "sport/tennis"));
        assert!(m("sport/tennis/+", "sport/tennis/player1"));
        assert!(!m("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(m("sport/+", "sport/"));
        assert!(!m("sport/+", "sport"));
        assert!(m("+/+", "/finance"));
        assert!(m("/+", "/finance"));
        assert!(!m("+", "/finance"));
        assert!(m("+", "a"));
        assert!(m("a//b", "a//b"));
        assert!(m("a/+/b", "a//b"));
    }

    #[test]
    fn dollar_topics_4_7_2() {
        let m = |f, t| matches(f, t, HashMatch::IncludesParent);
        assert!(!m("#", "$SYS/x"));
        assert!(!m("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(m("$SYS/#", "$SYS/monitor/Clients"));
        assert!(m("$SYS/monitor/+", "$SYS/monitor/Clients"));
        assert!(m(
            "$aws/things/+/shadow/get/+",
            "$aws/things/t1/shadow/get/accepted"
        ));
    }

    #[test]
    fn aws_hash_excludes_parent() {
        assert!(!matches("sensor/#", "sensor", HashMatch::ExcludesParent));
        assert!(matches("sensor/#", "sensor/", HashMatch::ExcludesParent));
        assert!(matches("sensor/#", "sensor/a/b", HashMatch::ExcludesParent));
        assert!(matches("#", "sensor", HashMatch::ExcludesParent));
    }

    #[test]
    fn filter_validation() {
        for ok in [
            "#",
            "+",
            "a/#",
            "+/+",
            "/",
            "a/+/b",
            "$share/g/a/#",
            "$share/g/#",
        ] {
            assert!(TopicFilter::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a#",
            "a/#/b",
            "a+",
            "a/b+/c",
            "$share/g",
            "$share//a",
            "$share/g+/a",
            "a\0b",
        ] {
            assert!(TopicFilter::new(bad).is_err(), "{bad:?}");
        }
        let f = TopicFilter::new("$share/grp/a/+/c").unwrap();
        assert_eq!(f.share_group(), Some("grp"));
        assert_eq!(f.filter(), "a/+/c");
        assert_eq!(f.to_string(), "$share/grp/a/+/c");
    }

    #[test]
    fn name_validation() {
        assert!(TopicName::new("a/b").is_ok());
        assert!(TopicName::new("/").is_ok());
        assert_eq!(TopicName::new("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::new("a/#"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::new(""), Err(TopicError::Empty));
    }
}
