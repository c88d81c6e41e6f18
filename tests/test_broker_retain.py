"""Retained messages: store, replace, clear, Retain Handling, Retain As Published."""
import pytest

from helpers import PUBLISH, raw_barrier, raw_client, sub_opts, unique

BOTH = pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])


def _publishes(packets):
    return [p for p in packets if p.type == PUBLISH]


@BOTH
def test_retained_delivered_to_new_subscriber(kumo, version):
    """A retained message is stored and sent to a later subscriber with
    RETAIN = 1, at min(stored QoS, granted QoS).

    v3.1.1 [MQTT-3.3.1-5], [MQTT-3.3.1-6], [MQTT-3.3.1-8]; v5 [MQTT-3.3.1-5],
    [MQTT-3.3.1-9] (Retain Handling 0 sends retained messages), §3.3.1.3
    ("These messages are sent with the RETAIN flag set to 1")."""
    t = unique("ret") + "/a"
    pub = raw_client(kumo, version)
    pub.publish(t, b"kept", qos=1, retain=True)
    sub = raw_client(kumo, version)
    sub.subscribe(t, qos=1)
    [p] = sub.recv_publishes(1)
    assert (p.topic, p.payload, p.retain, p.qos) == (t, b"kept", True, 1), p


@BOTH
def test_retained_on_wildcard_subscription_spec(kumo, version):
    """In the spec profile a wildcard subscription gets every matching
    retained message (v3.1.1 [MQTT-3.3.1-6]: "the last retained message, if
    any, on each matching topic name MUST be sent"; v5 [MQTT-3.3.1-9])."""
    base = unique("retw")
    pub = raw_client(kumo, version)
    pub.publish(f"{base}/x", b"1", qos=1, retain=True)
    pub.publish(f"{base}/y/z", b"2", qos=1, retain=True)
    sub = raw_client(kumo, version)
    sub.subscribe(f"{base}/#", qos=1)
    got = sub.recv_publishes(2)
    assert sorted((p.topic, p.payload, p.retain) for p in got) == \
        [(f"{base}/x", b"1", True), (f"{base}/y/z", b"2", True)]


@BOTH
def test_retained_replaced(kumo, version):
    """A new RETAIN publish replaces the stored message: a later subscriber
    gets only the newest. v3.1.1 [MQTT-3.3.1-5], [MQTT-3.3.1-7];
    v5 [MQTT-3.3.1-5] ("the Server MUST replace any existing retained
    message for this topic")."""
    t = unique("repl") + "/t"
    pub = raw_client(kumo, version)
    pub.publish(t, b"old", qos=1, retain=True)
    pub.publish(t, b"new", qos=1, retain=True)
    sub = raw_client(kumo, version)
    sub.subscribe(t, qos=1)
    before = raw_barrier(pub, sub, t)
    assert [(p.payload, p.retain) for p in _publishes(before)] == [(b"new", True)], before


@BOTH
def test_non_retained_publish_keeps_retained(kumo, version):
    """A RETAIN = 0 publish neither stores nor replaces the retained message.
    v3.1.1 [MQTT-3.3.1-12]; v5 [MQTT-3.3.1-8]."""
    t = unique("keep") + "/t"
    pub = raw_client(kumo, version)
    pub.publish(t, b"retained", qos=1, retain=True)
    pub.publish(t, b"live", qos=1, retain=False)
    sub = raw_client(kumo, version)
    sub.subscribe(t, qos=1)
    before = raw_barrier(pub, sub, t)
    assert [p.payload for p in _publishes(before)] == [b"retained"], before


@BOTH
def test_retained_cleared_by_empty_payload(kumo, version):
    """A RETAIN publish with an empty payload is forwarded to current
    subscribers and removes the retained message; it is not itself stored.

    v3.1.1 [MQTT-3.3.1-10], [MQTT-3.3.1-11]; v5 [MQTT-3.3.1-6],
    [MQTT-3.3.1-7]."""
    t = unique("clear") + "/t"
    pub = raw_client(kumo, version)
    pub.publish(t, b"gone-soon", qos=1, retain=True)
    current = raw_client(kumo, version)
    current.subscribe(t, qos=1)
    assert current.recv_publishes(1)[0].payload == b"gone-soon"
    pub.publish(t, b"", qos=1, retain=True)
    [empty] = current.recv_publishes(1)
    assert empty.payload == b"", "the empty message is processed as normal"

    later = raw_client(kumo, version)
    later.subscribe(t, qos=1)
    before = raw_barrier(pub, later, t)
    assert not _publishes(before), f"retained message not cleared: {before}"


@BOTH
def test_live_copy_has_retain_0(kumo, version):
    """A message forwarded to an established subscription has RETAIN = 0 even
    if published with RETAIN = 1 (v3.1.1 [MQTT-3.3.1-9]; v5 [MQTT-3.3.1-12]
    with the default Retain As Published = 0)."""
    t = unique("live") + "/t"
    sub = raw_client(kumo, version)
    sub.subscribe(t, qos=1)
    pub = raw_client(kumo, version)
    pub.publish(t, b"r", qos=1, retain=True)
    [p] = sub.recv_publishes(1)
    assert p.retain is False, p


@pytest.mark.parametrize("rh", [0, 1, 2])
def test_retain_handling_v5(kumo, rh):
    """Retain Handling on a first subscribe and on re-subscribing to the same
    filter (which replaces the subscription, [MQTT-3.8.4-3]):
    0 = send both times [MQTT-3.3.1-9], [MQTT-3.8.4-4];
    1 = send only if the subscription did not exist [MQTT-3.3.1-10];
    2 = never send at subscribe time [MQTT-3.3.1-11]."""
    t = unique("rh") + "/t"
    pub = raw_client(kumo, 5)
    pub.publish(t, b"stored", qos=1, retain=True)
    sub = raw_client(kumo, 5)
    expected_first = rh in (0, 1)
    expected_second = rh == 0
    for expected in (expected_first, expected_second):
        sub.subscribe((t, sub_opts(1, rh=rh)))
        before = _publishes(raw_barrier(pub, sub, t))
        if expected:
            assert [(p.payload, p.retain) for p in before] == [(b"stored", True)], before
        else:
            assert not before, f"Retain Handling {rh}: retained message sent: {before}"


@pytest.mark.parametrize("rap", [False, True])
def test_retain_as_published_v5(kumo, rap):
    """Retain As Published: 1 forwards the publisher's RETAIN flag on live
    messages [MQTT-3.3.1-13]; 0 clears it [MQTT-3.3.1-12]. A retained copy
    sent at subscribe time has RETAIN = 1 either way (§3.3.1.3)."""
    t = unique("rap") + "/t"
    pub = raw_client(kumo, 5)
    pub.publish(t, b"at-subscribe", qos=1, retain=True)
    sub = raw_client(kumo, 5)
    sub.subscribe((t, sub_opts(1, rap=rap)))
    [first] = sub.recv_publishes(1)
    assert first.retain is True, first
    pub.publish(t, b"live-retained", qos=1, retain=True)
    pub.publish(t, b"live-plain", qos=1, retain=False)
    live = sub.recv_publishes(2)
    assert [(p.payload, p.retain) for p in live] == \
        [(b"live-retained", rap), (b"live-plain", False)], live
