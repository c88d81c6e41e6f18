//! The resource strings the broker asks about: AWS IoT ARNs of the form
//! `arn:aws:iot:{region}:{account}:{type}/{name}`.
//!
//! [`Arn`] has one constructor per resource type. On the hot path, where a
//! resource is built for every PUBLISH and every delivery, use
//! [`ArnBuilder`]: it keeps the `arn:aws:iot:{region}:{account}:` prefix and
//! one buffer, so building a resource string does not allocate once the
//! buffer has grown to the longest topic seen.

/// Constructors for AWS IoT resource ARNs in the `aws` partition.
#[derive(Debug, Clone, Copy)]
pub struct Arn;

impl Arn {
    /// `arn:aws:iot:{region}:{account}:client/{client_id}` (for `iot:Connect`).
    pub fn client(region: &str, account: &str, client_id: &str) -> String {
        Arn::build(region, account, "client", client_id)
    }

    /// `arn:aws:iot:{region}:{account}:topic/{topic}` (for `iot:Publish`,
    /// `iot:Receive`, `iot:RetainPublish`, `iot:GetRetainedMessage`).
    pub fn topic(region: &str, account: &str, topic: &str) -> String {
        Arn::build(region, account, "topic", topic)
    }

    /// `arn:aws:iot:{region}:{account}:topicfilter/{filter}` (for
    /// `iot:Subscribe`; the filter exactly as the client sent it).
    pub fn topic_filter(region: &str, account: &str, filter: &str) -> String {
        Arn::build(region, account, "topicfilter", filter)
    }

    /// `arn:aws:iot:{region}:{account}:thing/{thing}` (shadow and job actions).
    pub fn thing(region: &str, account: &str, thing: &str) -> String {
        Arn::build(region, account, "thing", thing)
    }

    /// `arn:aws:iot:{region}:{account}:thing/{thing}/{shadow}` (named shadows).
    pub fn named_shadow(region: &str, account: &str, thing: &str, shadow: &str) -> String {
        let mut s = Arn::build(region, account, "thing", thing);
        s.push('/');
        s.push_str(shadow);
        s
    }

    /// `arn:aws:iot:{region}:{account}:rolealias/{alias}`
    /// (for `iot:AssumeRoleWithCertificate`).
    pub fn role_alias(region: &str, account: &str, alias: &str) -> String {
        Arn::build(region, account, "rolealias", alias)
    }

    fn build(region: &str, account: &str, kind: &str, name: &str) -> String {
        let mut s = String::with_capacity(
            "arn:aws:iot:::/".len() + region.len() + account.len() + kind.len() + name.len(),
        );
        s.push_str("arn:aws:iot:");
        s.push_str(region);
        s.push(':');
        s.push_str(account);
        s.push(':');
        s.push_str(kind);
        s.push('/');
        s.push_str(name);
        s
    }
}

/// Builds resource ARNs for one region and account into a reused buffer.
#[derive(Debug, Clone)]
pub struct ArnBuilder {
    prefix_len: usize,
    buf: String,
}

impl ArnBuilder {
    /// A builder for `arn:aws:iot:{region}:{account}:...`.
    pub fn new(region: &str, account: &str) -> ArnBuilder {
        let mut buf = String::with_capacity(64 + region.len() + account.len());
        buf.push_str("arn:aws:iot:");
        buf.push_str(region);
        buf.push(':');
        buf.push_str(account);
        buf.push(':');
        ArnBuilder {
            prefix_len: buf.len(),
            buf,
        }
    }

    /// `...:client/{client_id}`.
    pub fn client(&mut self, client_id: &str) -> &str {
        self.with("client/", client_id)
    }

    /// `...:topic/{topic}`.
    pub fn topic(&mut self, topic: &str) -> &str {
        self.with("topic/", topic)
    }

    /// `...:topicfilter/{filter}`.
    pub fn topic_filter(&mut self, filter: &str) -> &str {
        self.with("topicfilter/", filter)
    }

    /// `...:thing/{thing}`.
    pub fn thing(&mut self, thing: &str) -> &str {
        self.with("thing/", thing)
    }

    fn with(&mut self, kind: &str, name: &str) -> &str {
        self.buf.truncate(self.prefix_len);
        self.buf.push_str(kind);
        self.buf.push_str(name);
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let (r, a) = ("us-east-1", "123456789012");
        assert_eq!(
            Arn::client(r, a, "myClientId"),
            "arn:aws:iot:us-east-1:123456789012:client/myClientId"
        );
        assert_eq!(
            Arn::topic(r, a, "my/topic"),
            "arn:aws:iot:us-east-1:123456789012:topic/my/topic"
        );
        assert_eq!(
            Arn::topic_filter(r, a, "some/+/topic"),
            "arn:aws:iot:us-east-1:123456789012:topicfilter/some/+/topic"
        );
        assert_eq!(
            Arn::thing(r, a, "thingOne"),
            "arn:aws:iot:us-east-1:123456789012:thing/thingOne"
        );
        assert_eq!(
            Arn::named_shadow(r, a, "thingOne", "shadowOne"),
            "arn:aws:iot:us-east-1:123456789012:thing/thingOne/shadowOne"
        );
        assert_eq!(
            Arn::role_alias(r, a, "CredentialProviderRole_alias"),
            "arn:aws:iot:us-east-1:123456789012:rolealias/CredentialProviderRole_alias"
        );
    }

    #[test]
    fn builder_matches_constructors() {
        let mut b = ArnBuilder::new("eu-west-1", "1");
        assert_eq!(
            b.topic("a/very/long/topic/name"),
            Arn::topic("eu-west-1", "1", "a/very/long/topic/name")
        );
        assert_eq!(b.topic("x"), Arn::topic("eu-west-1", "1", "x"));
        assert_eq!(b.client("c"), Arn::client("eu-west-1", "1", "c"));
        assert_eq!(
            b.topic_filter("f/#"),
            Arn::topic_filter("eu-west-1", "1", "f/#")
        );
        assert_eq!(b.thing("t"), Arn::thing("eu-west-1", "1", "t"));
    }
}
