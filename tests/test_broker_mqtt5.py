"""MQTT 5 features: topic aliases, message expiry, forwarded properties,
subscription identifiers, No Local, Maximum Packet Size, Request Problem
Information."""
import pytest

from helpers import (DISCONNECT, PUBLISH, UNSUBACK, build_publish, paho_client, publish_props,
                     raw_barrier, raw_client, sub_opts, unique, wait_past)


def test_topic_alias_client_to_server(kumo):
    """A client sets Topic Alias 1 with a topic name, then publishes with an
    empty topic name and the alias: subscribers get the full topic name and
    no Topic Alias (their Topic Alias Maximum is 0).

    v5 [MQTT-3.3.2-12] (the Server MUST accept aliases 1..its Topic Alias
    Maximum), §3.3.2.3.4; [MQTT-3.1.2-27] (no aliases to a client that did
    not allow them); [MQTT-3.3.2-7] (mappings are per connection)."""
    sub = raw_client(kumo, 5)
    sub.subscribe("alias/one", "alias/two", qos=1)
    pub = raw_client(kumo, 5)
    assert pub.connack.props.get("topic_alias_maximum", 0) >= 1, pub.connack
    pub.publish("alias/one", b"set", qos=1, props={"topic_alias": 1})
    pub.publish("", b"use", qos=1, props={"topic_alias": 1})
    pub.publish("alias/two", b"remap", qos=1, props={"topic_alias": 1})
    pub.publish("", b"use2", qos=1, props={"topic_alias": 1})
    got = sub.recv_publishes(4)
    assert [(p.topic, p.payload) for p in got] == [
        ("alias/one", b"set"), ("alias/one", b"use"),
        ("alias/two", b"remap"), ("alias/two", b"use2")], got
    assert not any("topic_alias" in p.props for p in got), got

    # a new connection does not inherit the mapping [MQTT-3.3.2-7]
    pub2 = raw_client(kumo, 5)
    pub2.send(build_publish(5, "", b"unknown alias", qos=0, props={"topic_alias": 1}))
    closing = pub2.wait_closed()
    discs = [p for p in closing if p.type == DISCONNECT]
    assert discs and discs[-1].reason in (0x82, 0x94), \
        f"unmapped alias: expected DISCONNECT 0x82 Protocol Error (or 0x94), got {closing}"


def test_topic_alias_above_maximum_v5(kumo):
    """A Topic Alias above the server's Topic Alias Maximum is a protocol
    violation ([MQTT-3.3.2-9]); the server closes the connection
    ([MQTT-4.13.1-1]) with DISCONNECT 0x94 Topic Alias invalid
    (Table 2-6: "...a Topic Alias which is greater than the Maximum Topic
    Alias it sent in the CONNECT or CONNACK packet")."""
    c = raw_client(kumo, 5)
    maximum = c.connack.props.get("topic_alias_maximum", 0)
    c.send(build_publish(5, "alias/x", b"x", props={"topic_alias": maximum + 1}))
    closing = c.wait_closed()
    discs = [p for p in closing if p.type == DISCONNECT]
    assert discs and discs[-1].reason == 0x94, closing


def test_expired_queued_message_not_delivered(kumo):
    """A queued message whose Message Expiry Interval passed while the
    subscriber was away is not delivered; one without expiry is.

    v5 [MQTT-3.3.2-5]: "If the Message Expiry Interval has passed and the
    Server has not managed to start onward delivery to a matching subscriber,
    then it MUST delete the copy of the message for that subscriber"."""
    cid = unique("mexp")
    kw = dict(clean=False, props={"session_expiry_interval": 300})
    a = raw_client(kumo, 5, cid, **kw)
    a.subscribe("mexp/t", qos=1)
    a.disconnect()
    pub = raw_client(kumo, 5)
    pub.publish("mexp/t", b"short-lived", qos=1, props={"message_expiry_interval": 1})
    pub.publish("mexp/t", b"durable", qos=1)
    wait_past(2.5)  # the expiry itself is under test
    b = raw_client(kumo, 5, cid, **kw)
    assert b.connack.session_present
    [p] = b.recv_publishes(1)
    assert p.payload == b"durable", f"expired message delivered: {p!r}"
    before = raw_barrier(pub, b, "mexp/t")
    assert not before, before


def test_message_expiry_remaining_interval_forwarded(kumo):
    """The forwarded Message Expiry Interval is the received value minus the
    time the message waited in the server (v5 [MQTT-3.3.2-6]).

    Waits 2.2 s, so whatever the rounding the remaining value is at most 59
    of 60 (and clearly positive)."""
    cid = unique("mrem")
    kw = dict(clean=False, props={"session_expiry_interval": 300})
    a = raw_client(kumo, 5, cid, **kw)
    a.subscribe("mrem/t", qos=1)
    live = raw_client(kumo, 5)
    live.subscribe("mrem/t", qos=1)
    a.disconnect()
    pub = raw_client(kumo, 5)
    pub.publish("mrem/t", b"m", qos=1, props={"message_expiry_interval": 60})
    [now] = live.recv_publishes(1)
    assert 0 < now.props.get("message_expiry_interval", -1) <= 60, now
    wait_past(2.2)
    b = raw_client(kumo, 5, cid, **kw)
    [p] = b.recv_publishes(1)
    remaining = p.props.get("message_expiry_interval")
    assert remaining is not None, f"Message Expiry Interval not forwarded: {p!r}"
    assert 50 <= remaining <= 59, f"remaining interval {remaining} after waiting ~2.2 s of 60"


def test_properties_forwarded_unaltered(kumo):
    """User Properties (in order, duplicates kept), Payload Format Indicator,
    Content Type, Response Topic and Correlation Data reach the subscriber
    unaltered.

    v5 [MQTT-3.3.2-4], [MQTT-3.3.2-15], [MQTT-3.3.2-16], [MQTT-3.3.2-17],
    [MQTT-3.3.2-18], [MQTT-3.3.2-20]."""
    sub = raw_client(kumo, 5)
    sub.subscribe("props/t", qos=1)
    pub = raw_client(kumo, 5)
    props = [("payload_format_indicator", 1), ("content_type", "application/json"),
             ("response_topic", "props/reply"), ("correlation_data", b"\x00\x01corr\xff"),
             ("user_property", ("b", "2")), ("user_property", ("a", "1")),
             ("user_property", ("b", "3"))]
    pub.publish("props/t", b'{"x":1}', qos=1, props=props)
    [p] = sub.recv_publishes(1)
    assert p.props.get("payload_format_indicator") == 1, p
    assert p.props.get("content_type") == "application/json", p
    assert p.props.get("response_topic") == "props/reply", p
    assert p.props.get("correlation_data") == b"\x00\x01corr\xff", p
    assert p.props.get("user_property") == [("b", "2"), ("a", "1"), ("b", "3")], p


def test_properties_forwarded_paho(kumo):
    """The same through paho-mqtt on both ends (a real client's encoding)."""
    sub = paho_client(kumo, 5)
    sub.subscribe("props/paho", 1)
    pub = paho_client(kumo, 5)
    pp = publish_props(ContentType="text/plain", ResponseTopic="r/t", CorrelationData=b"cd",
                       PayloadFormatIndicator=1, UserProperty=[("k", "v"), ("k", "w")])
    pub.publish("props/paho", b"hi", qos=1, props=pp)
    [m] = sub.messages.wait_for(1)
    assert m.props["ContentType"] == "text/plain"
    assert m.props["ResponseTopic"] == "r/t"
    assert m.props["CorrelationData"] == b"cd"
    assert m.props["PayloadFormatIndicator"] == 1
    assert m.props["UserProperty"] == [("k", "v"), ("k", "w")]


def test_subscription_identifiers(kumo):
    """Subscription Identifiers are returned with matching messages; with two
    overlapping subscriptions either one PUBLISH carries both identifiers or
    each copy carries its own; a subscription without one adds none.

    v5 [MQTT-3.3.4-3], [MQTT-3.3.4-4], [MQTT-3.3.4-5]."""
    sub = raw_client(kumo, 5)
    assert sub.connack.props.get("subscription_identifier_available", 1) == 1
    sub.subscribe("sid/+", qos=1, props={"subscription_identifier": 7})
    sub.subscribe("sid/#", qos=1, props={"subscription_identifier": 9})
    sub.subscribe("sid/x", qos=1)  # no identifier
    pub = raw_client(kumo, 5)
    pub.publish("sid/x", b"m", qos=1)
    copies = []
    seen = []
    while not (7 in seen and 9 in seen):
        try:
            [p] = sub.recv_publishes(1)
        except AssertionError as e:
            raise AssertionError(f"identifiers 7 and 9 not both delivered; copies {copies}") from e
        copies.append(p)
        seen += p.props.get("subscription_identifier", [])
    assert all(p.payload == b"m" and p.topic == "sid/x" for p in copies), copies
    assert sorted(seen) == [7, 9], f"each identifier once: {copies}"


def test_no_local(kumo):
    """No Local = 1: the subscriber's own publishes are not sent back to it;
    another client's are. Without No Local the own message comes back.

    v5 [MQTT-3.8.3-3]."""
    me = raw_client(kumo, 5)
    me.subscribe(("nolocal/t", sub_opts(1, no_local=True)), ("nolocal/own", sub_opts(1)))
    me.publish("nolocal/t", b"mine", qos=1)
    me.publish("nolocal/own", b"mine-too", qos=1)
    other = raw_client(kumo, 5)
    before = raw_barrier(other, me, "nolocal/t")
    payloads = [p.payload for p in before if p.type == PUBLISH]
    assert b"mine" not in payloads, before
    assert b"mine-too" in payloads, before


def test_maximum_packet_size_respected(kumo):
    """The server never sends a packet larger than the client's Maximum Packet
    Size; it drops that message for this client and carries on.

    v5 [MQTT-3.1.2-24], [MQTT-3.1.2-25]."""
    limit = 256
    small = raw_client(kumo, 5, props={"maximum_packet_size": limit})
    small.subscribe("mps/t", qos=1)
    big = raw_client(kumo, 5)
    big.subscribe("mps/t", qos=1)
    pub = raw_client(kumo, 5)
    pub.publish("mps/t", b"x" * 1000, qos=1)
    pub.publish("mps/t", b"fits", qos=1)
    assert [p.payload for p in big.recv_publishes(2)] == [b"x" * 1000, b"fits"]
    before = raw_barrier(pub, small, "mps/t")
    assert [p.payload for p in before if p.type == PUBLISH] == [b"fits"], before


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_oversize_packet_from_client(kumo_factory, version):
    """A packet larger than the server's Maximum Packet Size closes the
    connection; for v5 with DISCONNECT 0x95 Packet too large (§3.2.2.3.6:
    "If a Server receives a packet whose size exceeds this limit, this is a
    Protocol Error, the Server uses DISCONNECT with Reason Code 0x95",
    [MQTT-4.13.1-1]). The limit is advertised in the v5 CONNACK.
    Other clients are unaffected."""
    kumo = kumo_factory("[mqtt]\nmax_packet_size = 4096\n")
    bystander = raw_client(kumo, version)
    bystander.subscribe("big/ok", qos=1)
    c = raw_client(kumo, version)
    if version == 5:
        assert c.connack.props.get("maximum_packet_size") == 4096, c.connack
    c.send(build_publish(version, "big/t", b"x" * 5000, qos=0))
    closing = c.wait_closed()
    if version == 5:
        discs = [p for p in closing if p.type == DISCONNECT]
        assert discs and discs[-1].reason == 0x95, closing
    else:
        assert not closing, closing
    raw_client(kumo, version).publish("big/ok", b"still here", qos=1)
    assert bystander.recv_publishes(1)[0].payload == b"still here"


def test_request_problem_information_0(kumo):
    """With Request Problem Information = 0 the server sends no Reason String
    and no User Property on any packet but PUBLISH, CONNACK and DISCONNECT
    (v5 [MQTT-3.1.2-29]): exercised on SUBACK, PUBACK (no subscribers),
    PUBREC/PUBCOMP and UNSUBACK (no such subscription)."""
    c = raw_client(kumo, 5, props={"request_problem_information": 0})
    acks = [c.subscribe("rpi/t", qos=1)]
    acks.append(c.publish(unique("rpi-nosub"), b"x", qos=1))
    acks.append(c.publish(unique("rpi-nosub"), b"x", qos=2))
    acks.append(c.unsubscribe("rpi/never-subscribed"))
    for a in acks:
        assert a is not None
        assert "reason_string" not in a.props and "user_property" not in a.props, a
