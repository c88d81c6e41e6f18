//! The subscription index: a trie over topic levels, so matching a topic
//! costs the depth of the topic times the wildcard branches, never a scan of
//! every filter. Pure data structure: no locks, no I/O; the broker wraps it
//! in an `RwLock` and never holds that lock across an await.

use foldhash::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use kumo_mqtt::topic::HashMatch;
use kumo_mqtt::{SubscriptionOptions, TopicFilter};

/// One subscription of one session.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    pub key: u64,
    pub value: T,
    pub options: SubscriptionOptions,
    pub id: Option<u32>,
}

#[derive(Debug)]
struct Group<T> {
    members: Vec<Entry<T>>,
    next: AtomicUsize,
}

#[derive(Debug)]
struct Node<T> {
    children: HashMap<Box<str>, Node<T>>,
    subs: Vec<Entry<T>>,
    groups: HashMap<Box<str>, Group<T>>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            children: HashMap::default(),
            subs: Vec::new(),
            groups: HashMap::default(),
        }
    }
}

impl<T> Node<T> {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.subs.is_empty() && self.groups.is_empty()
    }
}

/// Where a match came from: a plain subscription, or the one member chosen
/// from a shared-subscription group.
pub enum Hit<'a, T> {
    Plain(&'a Entry<T>),
    Shared(&'a Entry<T>),
}

#[derive(Debug)]
pub struct SubIndex<T> {
    root: Node<T>,
    hash: HashMatch,
    len: usize,
}

impl<T> SubIndex<T> {
    pub fn new(hash: HashMatch) -> Self {
        SubIndex {
            root: Node::default(),
            hash,
            len: 0,
        }
    }

    /// Number of subscriptions held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Add or replace `key`'s subscription to `filter`. Returns true when it
    /// did not exist before.
    pub fn insert(&mut self, filter: &TopicFilter, entry: Entry<T>) -> bool {
        let mut node = &mut self.root;
        for level in filter.filter().split('/') {
            node = node.children.entry(level.into()).or_default();
        }
        let list = match filter.share_group() {
            None => &mut node.subs,
            Some(g) => {
                &mut node
                    .groups
                    .entry(g.into())
                    .or_insert_with(|| Group {
                        members: Vec::new(),
                        next: AtomicUsize::new(0),
                    })
                    .members
            }
        };
        if let Some(existing) = list.iter_mut().find(|e| e.key == entry.key) {
            *existing = entry;
            false
        } else {
            list.push(entry);
            self.len += 1;
            true
        }
    }

    /// Remove `key`'s subscription to `filter`; true if there was one.
    pub fn remove(&mut self, filter: &TopicFilter, key: u64) -> bool {
        let levels: Vec<&str> = filter.filter().split('/').collect();
        let removed = remove_at(&mut self.root, &levels, filter.share_group(), key);
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// Call `f` for every subscription matching `topic`. Each shared group
    /// yields one member, chosen round-robin among those `available` says
    /// can take it now (or among all, when none can).
    pub fn for_each_match<'a>(
        &'a self,
        topic: &str,
        available: impl Fn(&T) -> bool,
        mut f: impl FnMut(Hit<'a, T>),
    ) {
        let dollar = topic.starts_with('$');
        self.walk(&self.root, Some(topic), true, dollar, &available, &mut f);
    }

    /// `rest` is what is left of the topic (None once every level is consumed).
    fn walk<'a>(
        &'a self,
        node: &'a Node<T>,
        rest: Option<&str>,
        at_root: bool,
        dollar: bool,
        available: &impl Fn(&T) -> bool,
        f: &mut impl FnMut(Hit<'a, T>),
    ) {
        // [MQTT-4.7.2-1]: a leading wildcard never matches a `$` topic.
        let wildcards_allowed = !(at_root && dollar);
        if wildcards_allowed {
            if let Some(hash) = node.children.get("#") {
                // `#` matches one or more further levels, and (spec) the parent level itself.
                if rest.is_some() || self.hash == HashMatch::IncludesParent && !at_root {
                    emit(hash, available, f);
                }
            }
        }
        let Some(rest) = rest else {
            emit(node, available, f);
            return;
        };
        let (level, next) = match rest.split_once('/') {
            Some((level, next)) => (level, Some(next)),
            None => (rest, None),
        };
        if let Some(child) = node.children.get(level) {
            self.walk(child, next, false, dollar, available, f);
        }
        if wildcards_allowed {
            if let Some(child) = node.children.get("+") {
                self.walk(child, next, false, dollar, available, f);
            }
        }
    }
}

fn emit<'a, T>(node: &'a Node<T>, available: &impl Fn(&T) -> bool, f: &mut impl FnMut(Hit<'a, T>)) {
    for e in &node.subs {
        f(Hit::Plain(e));
    }
    for g in node.groups.values() {
        let n = g.members.len();
        if n == 0 {
            continue;
        }
        let start = g.next.fetch_add(1, Ordering::Relaxed);
        let pick = (0..n)
            .map(|i| &g.members[(start + i) % n])
            .find(|e| available(&e.value))
            .unwrap_or(&g.members[start % n]);
        f(Hit::Shared(pick));
    }
}

fn remove_at<T>(node: &mut Node<T>, levels: &[&str], group: Option<&str>, key: u64) -> bool {
    let Some((first, rest)) = levels.split_first() else {
        return match group {
            None => remove_key(&mut node.subs, key),
            Some(g) => {
                let Some(grp) = node.groups.get_mut(g) else {
                    return false;
                };
                let removed = remove_key(&mut grp.members, key);
                if grp.members.is_empty() {
                    node.groups.remove(g);
                }
                removed
            }
        };
    };
    let Some(child) = node.children.get_mut(*first) else {
        return false;
    };
    let removed = remove_at(child, rest, group, key);
    if child.is_empty() {
        node.children.remove(*first);
    }
    removed
}

fn remove_key<T>(list: &mut Vec<Entry<T>>, key: u64) -> bool {
    match list.iter().position(|e| e.key == key) {
        Some(i) => {
            list.swap_remove(i);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kumo_mqtt::topic::matches;

    fn entry(key: u64) -> Entry<u64> {
        Entry {
            key,
            value: key,
            options: SubscriptionOptions::default(),
            id: None,
        }
    }

    fn matched(ix: &SubIndex<u64>, topic: &str) -> Vec<u64> {
        let mut v = Vec::new();
        ix.for_each_match(
            topic,
            |_| true,
            |h| match h {
                Hit::Plain(e) | Hit::Shared(e) => v.push(e.key),
            },
        );
        v.sort();
        v
    }

    #[test]
    fn agrees_with_matches_on_a_grid() {
        let filters = [
            "#", "+", "a", "a/#", "a/+", "a/b", "+/b", "+/+", "/+", "a//b", "a/+/#", "$SYS/#",
            "$SYS/+", "+/#", "a/b/c", "a/b/#", "", "/", "//",
        ];
        let topics = [
            "a",
            "a/b",
            "a/b/c",
            "a/",
            "/a",
            "b",
            "$SYS",
            "$SYS/x",
            "a//b",
            "/",
            "//",
            "x/b",
            "$aws/things/t/shadow/get",
        ];
        for hash in [HashMatch::IncludesParent, HashMatch::ExcludesParent] {
            let mut ix = SubIndex::new(hash);
            let parsed: Vec<Option<TopicFilter>> =
                filters.iter().map(|f| TopicFilter::new(f).ok()).collect();
            for (i, f) in parsed.iter().enumerate() {
                if let Some(f) = f {
                    ix.insert(f, entry(i as u64));
                }
            }
            for t in topics {
                let expect: Vec<u64> = parsed
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.as_ref().is_some_and(|f| matches(f.filter(), t, hash)))
                    .map(|(i, _)| i as u64)
                    .collect();
                assert_eq!(matched(&ix, t), expect, "topic {t:?} hash {hash:?}");
            }
        }
    }

    #[test]
    fn insert_replace_remove_prunes() {
        let mut ix = SubIndex::new(HashMatch::IncludesParent);
        let f = TopicFilter::new("a/+/c").unwrap();
        assert!(ix.insert(&f, entry(1)));
        assert!(!ix.insert(&f, entry(1)));
        assert_eq!(ix.len(), 1);
        assert_eq!(matched(&ix, "a/b/c"), vec![1]);
        assert!(ix.remove(&f, 1));
        assert!(!ix.remove(&f, 1));
        assert!(ix.root.is_empty());
    }

    #[test]
    fn shared_groups_round_robin_one_member() {
        let mut ix = SubIndex::new(HashMatch::IncludesParent);
        let f = TopicFilter::new("$share/g/t/#").unwrap();
        for k in 1..=3 {
            ix.insert(&f, entry(k));
        }
        let mut counts = [0; 4];
        for _ in 0..30 {
            let got = matched(&ix, "t/x");
            assert_eq!(got.len(), 1);
            counts[got[0] as usize] += 1;
        }
        assert_eq!(&counts[1..], &[10, 10, 10]);
        // Unavailable members are skipped.
        let mut v = Vec::new();
        ix.for_each_match(
            "t/x",
            |k| *k == 2,
            |h| {
                if let Hit::Shared(e) = h {
                    v.push(e.key)
                }
            },
        );
        assert_eq!(v, vec![2]);
    }
}
