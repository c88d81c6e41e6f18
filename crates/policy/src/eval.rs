//! Compiling documents against one connection, and the per-packet decision.
//!
//! [`PolicySet::compile`] does everything that depends only on the
//! connection: it substitutes the policy variables, decides the conditions
//! (every AWS IoT condition key describes the connection), drops statements
//! whose condition fails, expands action patterns into the actions they
//! cover and compiles the resource patterns. What is left is, for each
//! [`Action`], the Deny patterns and the Allow patterns, so
//! [`PolicySet::evaluate`] is a lookup by action and a few pattern matches:
//! it never allocates.
//!
//! Decision, as in IAM: a matching Deny wins; otherwise a matching Allow
//! permits; otherwise the request is implicitly denied.

use crate::action::{Action, ACTION_COUNT};
use crate::context::Context;
use crate::document::{Effect, PolicyDocument, Statement};
use crate::glob::Glob;

/// The outcome of an authorization check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// A statement allows it and none denies it.
    Allow,
    /// A statement denies it.
    ExplicitDeny,
    /// No statement mentions it: denied by default.
    ImplicitDeny,
}

impl Decision {
    /// `true` only for [`Decision::Allow`].
    #[inline]
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// The patterns of one effect for one action.
#[derive(Debug, Clone, Default)]
struct Rules {
    /// Some statement covers every resource (`"Resource": "*"`).
    everything: bool,
    /// `Resource` entries of all statements: any match applies.
    patterns: Vec<Glob>,
    /// `NotResource` statements: one applies when the resource matches none
    /// of its entries.
    not: Vec<Box<[Glob]>>,
}

impl Rules {
    #[inline]
    fn applies(&self, resource: &str) -> bool {
        self.everything
            || self.patterns.iter().any(|g| g.is_match(resource))
            || self
                .not
                .iter()
                .any(|globs| !globs.iter().any(|g| g.is_match(resource)))
    }

    fn add(&mut self, statement: &Statement, ctx: &Context) {
        if self.everything {
            return;
        }
        // Entries whose variables do not resolve match nothing: AWS leaves
        // the `${...}` text in place, which no real resource equals.
        let globs = statement.resources.iter().filter_map(|t| t.to_glob(ctx));
        if statement.not_resource {
            let globs: Vec<Glob> = globs.collect();
            if globs.is_empty() {
                self.everything = true;
            } else if !globs.iter().any(Glob::matches_everything) {
                self.not.push(globs.into_boxed_slice());
            }
            // `NotResource: "*"` excludes every resource: it adds nothing.
        } else {
            for g in globs {
                if g.matches_everything() {
                    self.everything = true;
                    return;
                }
                if !self.patterns.contains(&g) {
                    self.patterns.push(g);
                }
            }
        }
    }

    fn finish(&mut self) {
        if self.everything {
            self.patterns = Vec::new();
            self.not = Vec::new();
        } else {
            self.patterns.shrink_to_fit();
            self.not.shrink_to_fit();
        }
    }

    fn is_empty(&self) -> bool {
        !self.everything && self.patterns.is_empty() && self.not.is_empty()
    }
}

/// The policies that apply to one connection, compiled for fast checks.
///
/// Build it when the connection is authenticated, and again whenever its
/// policies, the policy versions, the thing attachment or anything else in
/// its [`Context`] changes. It is immutable and `Send + Sync`: share it
/// behind an `Arc` and swap it to apply a change.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    deny: [Rules; ACTION_COUNT],
    allow: [Rules; ACTION_COUNT],
}

impl PolicySet {
    /// A set with no statements: everything is implicitly denied.
    pub fn empty() -> PolicySet {
        PolicySet::default()
    }

    /// Compile `docs` (all the policies attached to the connection's
    /// principal and thing groups) against `ctx`.
    pub fn compile<'a>(
        docs: impl IntoIterator<Item = &'a PolicyDocument>,
        ctx: &Context,
    ) -> PolicySet {
        let mut set = PolicySet::default();
        for doc in docs {
            for st in doc.statements() {
                if st.actions == 0 {
                    continue;
                }
                if let Some(cond) = &st.condition {
                    if !cond.holds(ctx) {
                        continue;
                    }
                }
                let rules = match st.effect {
                    Effect::Allow => &mut set.allow,
                    Effect::Deny => &mut set.deny,
                };
                for a in Action::ALL {
                    if st.actions & (1 << a.index()) != 0 {
                        rules[a.index()].add(st, ctx);
                    }
                }
            }
        }
        for r in set.allow.iter_mut().chain(set.deny.iter_mut()) {
            r.finish();
        }
        set
    }

    /// Decide whether `action` on `resource` (a full ARN such as
    /// `arn:aws:iot:us-east-1:123456789012:topic/a/b`, or `*` for
    /// `iot:ListRetainedMessages`) is allowed. Does not allocate.
    #[inline]
    pub fn evaluate(&self, action: Action, resource: &str) -> Decision {
        let i = action.index();
        if self.deny[i].applies(resource) {
            Decision::ExplicitDeny
        } else if self.allow[i].applies(resource) {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }

    /// `evaluate(action, resource).is_allowed()`.
    #[inline]
    pub fn is_allowed(&self, action: Action, resource: &str) -> bool {
        self.evaluate(action, resource).is_allowed()
    }

    /// True if no resource at all can be allowed for `action` (no Allow
    /// statement survived compilation). Lets the broker skip building
    /// resource strings, e.g. refuse a CONNECT without looking further.
    pub fn never_allows(&self, action: Action) -> bool {
        self.allow[action.index()].is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(json: &str, ctx: &Context) -> PolicySet {
        PolicySet::compile([&PolicyDocument::parse(json).unwrap()], ctx)
    }

    const T: &str = "arn:aws:iot:us-east-1:123456789012:topic/";

    #[test]
    fn default_deny_and_deny_wins() {
        let ctx = Context::with_client_id("c1");
        let s = set(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/a/*"},
                {"Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/a/secret"}]}"#,
            &ctx,
        );
        assert_eq!(
            s.evaluate(Action::Publish, &format!("{T}a/b")),
            Decision::Allow
        );
        assert_eq!(
            s.evaluate(Action::Publish, &format!("{T}a/secret")),
            Decision::ExplicitDeny
        );
        assert_eq!(
            s.evaluate(Action::Publish, &format!("{T}b")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            s.evaluate(Action::Receive, &format!("{T}a/b")),
            Decision::ImplicitDeny
        );
        assert!(s.never_allows(Action::Connect));
        assert!(!s.never_allows(Action::Publish));
        assert_eq!(
            PolicySet::empty().evaluate(Action::Connect, "*"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn not_resource() {
        let ctx = Context::default();
        let s = set(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"iot:Publish","NotResource":["arn:aws:iot:us-east-1:123456789012:topic/admin/*"]},
                {"Effect":"Deny","Action":"iot:Receive","NotResource":"*"}]}"#,
            &ctx,
        );
        assert!(s.is_allowed(Action::Publish, &format!("{T}x")));
        assert!(!s.is_allowed(Action::Publish, &format!("{T}admin/x")));
        assert_eq!(
            s.evaluate(Action::Receive, &format!("{T}x")),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn unresolved_not_resource_entry_matches_nothing() {
        // The entry never matches, so the NotResource statement applies to
        // every resource, as AWS's unsubstituted text would.
        let s = set(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Deny","Action":"iot:Publish","NotResource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.ThingName}/*"},
                {"Effect":"Allow","Action":"iot:Publish","Resource":"*"}]}"#,
            &Context::with_client_id("c"),
        );
        assert_eq!(
            s.evaluate(Action::Publish, &format!("{T}c/x")),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn several_documents_are_one_set() {
        let a = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:*","Resource":"*"}}"#,
        )
        .unwrap();
        let b = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iot:Subscribe","Resource":"*"}}"#,
        )
        .unwrap();
        let docs = vec![a, b];
        let s = PolicySet::compile(&docs, &Context::default());
        assert!(s.is_allowed(Action::Publish, &format!("{T}x")));
        assert_eq!(
            s.evaluate(Action::Subscribe, "anything"),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<PolicySet>();
        check::<PolicyDocument>();
    }
}
