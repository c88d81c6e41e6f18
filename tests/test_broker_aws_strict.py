"""The `aws_strict` profile: AWS IoT Core's documented deviations
(shared/reference/aws-iot-core.md §1.5-1.6, §6.3), selected by
`[mqtt] compat = "aws_strict"`."""
import pytest

from helpers import PUBLISH, raw_barrier, raw_client, unique

BOTH = pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
AWS = '[mqtt]\ncompat = "aws_strict"\n'


@pytest.fixture
def aws(kumo_factory):
    return kumo_factory(AWS)


def test_connack_properties_like_aws(aws):
    """The v5 CONNACK advertises what AWS IoT Core's does (reference §1.5,
    captured CONNACK [verified X]): Maximum QoS 1, Receive Maximum 100,
    Maximum Packet Size 149504, Topic Alias Maximum 8, Subscription
    Identifiers not available; retain / wildcard / shared subscriptions
    available (absent means available, v5 §3.2.2.3.5, .11, .13).
    A server without QoS 2 MUST send Maximum QoS (v5 [MQTT-3.2.2-9])."""
    c = raw_client(aws, 5)
    props = c.connack.props
    assert props.get("maximum_qos") == 1, c.connack
    assert props.get("receive_maximum") == 100, c.connack
    assert props.get("maximum_packet_size") == 149504, c.connack
    assert props.get("topic_alias_maximum") == 8, c.connack
    assert props.get("subscription_identifier_available") == 0, c.connack
    assert props.get("retain_available", 1) == 1
    assert props.get("wildcard_subscription_available", 1) == 1
    assert props.get("shared_subscription_available", 1) == 1


def test_subscribe_qos2_accepted_with_lower_grant_v5(aws):
    """v5 [MQTT-3.2.2-10]: "A Server that does not support QoS 1 or QoS 2
    PUBLISH packets MUST still accept SUBSCRIBE packets containing a Requested
    QoS of 0, 1 or 2"; the SUBACK grants at most the Maximum QoS, 1
    ([MQTT-3.8.4-7]), and delivery is then at QoS <= 1."""
    c = raw_client(aws, 5)
    ack = c.subscribe("awsq/t", qos=2)
    assert ack.reasons in ([0], [1]), ack
    pub = raw_client(aws, 5)
    pub.publish("awsq/t", b"x", qos=1)
    assert c.recv_publishes(1)[0].qos <= 1


@pytest.mark.parametrize("asked,granted", [(5, 30), (2000, 1200), (0, 1200), (300, None)],
                         ids=["5->30", "2000->1200", "0->1200", "300-kept"])
def test_keep_alive_clamped(aws, asked, granted):
    """Keep-alive accepted range 30..1200 s: 1-29 -> 30, >1200 -> 1200,
    0 -> 1200; the v5 CONNACK returns the value as Server Keep Alive
    (reference §1.6). An in-range value is kept (no Server Keep Alive, or the
    same value: v5 [MQTT-3.2.2-22])."""
    c = raw_client(aws, 5, keepalive=asked)
    ska = c.connack.props.get("server_keep_alive")
    if granted is None:
        assert ska in (None, asked), c.connack
    else:
        assert ska == granted, c.connack


@BOTH
def test_retained_only_on_exact_subscription(aws, version):
    """Retained messages are sent on SUBSCRIBE only to a filter that equals
    the topic; wildcard subscriptions get no retained copy but do get later
    live publishes (reference §1.5 "Retained messages are not delivered on
    wildcard subscriptions", §6.3). The exact subscriber's copy has
    RETAIN = 1."""
    base = unique("awsret")
    t = f"{base}/a"
    pub = raw_client(aws, version)
    pub.publish(t, b"kept", qos=1, retain=True)

    wild = raw_client(aws, version)
    wild.subscribe(f"{base}/+", f"{base}/#", qos=1)
    before = raw_barrier(pub, wild, f"{base}/barrier")
    assert not [p for p in before if p.type == PUBLISH], \
        f"retained message delivered on a wildcard subscription: {before}"

    exact = raw_client(aws, version)
    exact.subscribe(t, qos=1)
    [p] = exact.recv_publishes(1)
    assert (p.payload, p.retain) == (b"kept", True), p

    pub.publish(t, b"live", qos=1)
    got = [q.payload for q in wild.recv_publishes(1)]
    assert got == [b"live"], got


@BOTH
def test_hash_does_not_match_parent(aws, version):
    """`a/#` matches `a/`, `a/b`, `a/b/c` but not `a` (reference §1.5:
    "`sensor/#` matches `sensor/`, `sensor/a`, `sensor/a/b`, but not
    `sensor`"). Contrast test_broker_topics.py for the spec profile."""
    base = unique("awshash")
    sub = raw_client(aws, version)
    sub.subscribe(f"{base}/#", qos=1)
    sub.subscribe(f"{base}-barrier", qos=1)
    pub = raw_client(aws, version)
    for t in (base, f"{base}/", f"{base}/b", f"{base}/b/c"):
        pub.publish(t, t.encode(), qos=1)
    before = raw_barrier(pub, sub, f"{base}-barrier")
    assert [p.topic for p in before if p.type == PUBLISH] == [f"{base}/", f"{base}/b", f"{base}/b/c"]
