"""Topic filters: + and #, $-topics, shared subscriptions."""
import time

import pytest

from helpers import barrier, paho_client, raw_client, unique

BOTH = pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])


def _deliveries(kumo, version, filt, topics, barrier_topic):
    """Subscribe ``filt`` (and ``barrier_topic``), publish to each topic in
    order, then a barrier; return the topics that were delivered."""
    sub = paho_client(kumo, version)
    sub.subscribe(filt, 1)
    sub.subscribe(barrier_topic, 1)
    pub = paho_client(kumo, version)
    for t in topics:
        pub.publish(t, t.encode(), qos=1)
    return [m.topic for m in barrier(pub, sub.messages, barrier_topic)]


@BOTH
def test_single_level_wildcard(kumo, version):
    """`+` matches exactly one level, including an empty one.
    v3.1.1 §4.7.1.3, [MQTT-4.7.1-3]; v5 §4.7.1.2, [MQTT-4.7.1-2]
    (spec examples: "sport/tennis/+" matches "sport/tennis/player1" but not
    "sport/tennis/player1/ranking"; "sport/+" does not match "sport")."""
    got = _deliveries(kumo, version, "sport/+/player1",
                      ["sport/tennis/player1", "sport/tennis/x/player1", "sport/player1",
                       "sport//player1", "sport/tennis/player1/x"], "wc/barrier1")
    assert got == ["sport/tennis/player1", "sport//player1"]


@BOTH
def test_multi_level_wildcard_matches_parent(kumo, version):
    """`a/#` matches `a` itself, `a/`, and everything below.
    v3.1.1 §4.7.1.2 / v5 §4.7.1.1: "sport/tennis/player1/#" receives
    "sport/tennis/player1", ".../ranking" and ".../score/wimbledon"; "sport/#"
    also matches the singular "sport", since # includes the parent level."""
    got = _deliveries(kumo, version, "sport/tennis/#",
                      ["sport/tennis", "sport/tennis/", "sport/tennis/p1",
                       "sport/tennis/p1/ranking", "sport/tennisx", "sport"], "wc/barrier2")
    assert got == ["sport/tennis", "sport/tennis/", "sport/tennis/p1", "sport/tennis/p1/ranking"]


@BOTH
def test_hash_alone_matches_everything_not_dollar(kumo, version):
    """`#` alone receives every non-$ topic (v3.1.1 §4.7.1.2 / v5 §4.7.1.1)."""
    sub = paho_client(kumo, version)
    sub.subscribe("#", 1)
    pub = paho_client(kumo, version)
    pub.publish("x", b"1", qos=1)
    pub.publish("x/y/z", b"2", qos=1)
    pub.publish("/lead", b"3", qos=1)
    msgs = sub.messages.wait_for(3)
    assert sorted(m.topic for m in msgs[:3]) == ["/lead", "x", "x/y/z"]


@BOTH
@pytest.mark.parametrize("dollar_topic", ["$SYS/kumo-test/t", "$aws/kumo-test/t", "$kumo-test/t"])
def test_dollar_topics_not_matched_by_leading_wildcards(kumo, version, dollar_topic):
    """Filters starting with # or + do not match topic names starting with $.

    v3.1.1 / v5 [MQTT-4.7.2-1]: "The Server MUST NOT match Topic Filters
    starting with a wildcard character (# or +) with Topic Names beginning
    with a $ character"; §4.7.2 example: "$SYS/#" does receive "$SYS/...".

    The spec also says the Server SHOULD prevent clients from exchanging
    messages on $-topics (§4.7.2), so if Kumo does not route a client's
    publish to the explicit `<prefix>/#` subscriber there is nothing to check
    and the test skips rather than guess."""
    prefix = dollar_topic.split("/")[0]
    wild = paho_client(kumo, version)
    wild.subscribe("#", 1)
    wild.subscribe("+/kumo-test/t", 1)
    explicit = paho_client(kumo, version)
    explicit.subscribe(prefix + "/#", 1)
    explicit.subscribe("dollar/barrier", 1)
    pub = raw_client(kumo, version)
    try:
        pub.publish(dollar_topic, b"dollar", qos=1)
        routed = barrier(pub, explicit.messages, "dollar/barrier")
    except AssertionError as e:
        pytest.skip(f"Kumo refuses client publishes to {prefix}: {e}")
    if not any(m.payload == b"dollar" for m in routed):
        pytest.skip(f"Kumo does not route client publishes on {prefix} (allowed by §4.7.2)")
    before = barrier(pub, wild.messages, "dollar/barrier")
    assert not [m for m in before if m.topic.startswith("$")], \
        f"$-topic matched a leading-wildcard filter: {[(m.topic, m.payload) for m in before]}"


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_shared_subscription_load_balanced(kumo, version):
    """`$share/g/filter`: each message goes to exactly one member of the
    group, while an ordinary subscription to the filter gets every message.

    v5 §4.8.2 (Shared Subscriptions: "each message ... is sent to only one of
    the Clients" of the group), [MQTT-4.8.2-1], [MQTT-4.8.2-2]. MQTT 3.1.1
    has no shared subscriptions; AWS IoT Core supports `$share` for MQTT 3
    clients too (reference §1.5), and so does Kumo."""
    n = 12
    members = [paho_client(kumo, version) for _ in range(3)]
    for m in members:
        m.subscribe("$share/g1/shared/t", 1)
    plain = paho_client(kumo, version)
    plain.subscribe("shared/t", 1)
    pub = paho_client(kumo, version)
    payloads = [f"s{i}".encode() for i in range(n)] + [b"end"]
    for p in payloads:
        pub.publish("shared/t", p, qos=1)

    assert [m.payload for m in plain.messages.wait_for(n + 1)] == payloads

    def group_msgs():
        return [msg for m in members for msg in m.messages.snapshot()]

    # wait until every payload reached some member (one Condition per
    # collector, so poll the union with a deadline)
    deadline = time.monotonic() + 10
    while {m.payload for m in group_msgs()} != set(payloads):
        assert time.monotonic() < deadline, \
            f"group got {sorted(m.payload for m in group_msgs())}, want {payloads}"
        time.sleep(0.02)  # polling interval
    got = sorted(m.payload for m in group_msgs())
    assert got == sorted(payloads), f"duplicates across the group: {got}"
    for m in group_msgs():
        assert m.topic == "shared/t", m
