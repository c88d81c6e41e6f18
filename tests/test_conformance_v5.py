"""MQTT 5 conformance: one test per case of the Eclipse Paho interoperability
suite's ``client_test5.py`` (docs/conformance.md has the table). Each test
checks what that case asserts of the broker, against kumo started with the
configuration the suite needs (``conformance_util.CONFORMANCE_CONFIG``).

Every test gets a fresh broker, so the suite's start-of-run cleanup (clean
sessions for myclientid/myclientid2, delete retained messages) is implicit;
``test_clean_retained`` checks that cleanup procedure itself works.
"""

import time

import pytest

from conformance_util import (
    NOSUBSCRIBE, TOPIC_PREFIX, TOPICS, WILDTOPICS, ConnectFailed, SuiteClient,
    clean_retained, conformance_server, v5_opts, wait_until,
)
from helpers import (
    DISCONNECT, PUBACK, PUBLISH, PUBREC, PUBREL, build_ack, build_connect, raw_client,
)

UP = [("user_property", ("a", "2")), ("user_property", ("c", "3"))]


@pytest.fixture
def srv(kumo_factory):
    return conformance_server(kumo_factory)


def clients(srv):
    return SuiteClient(srv, "myclientid"), SuiteClient(srv, "myclientid2")


def user_props(m):
    return sorted(m.props.get("user_property", []))


def test_clean_retained(srv):
    """setUpClass/cleanRetained: subscribing to "#" returns every retained
    message, and an empty retained PUBLISH deletes it [MQTT-3.3.1-10/11]."""
    a, _ = clients(srv)
    a.connect()
    for t in TOPICS[1:4]:
        a.publish(t, b"r", 1, retain=True)
    a.disconnect()
    clean_retained(srv)
    c = SuiteClient(srv, "check")
    c.connect()
    c.subscribe(["#"], [v5_opts(0)])
    time.sleep(1)
    assert c.messages == []
    c.disconnect()


def test_basic(srv):
    """client_test5 test_basic: CONNACK Success; QoS 0/1/2 to our own
    subscription all come back (3 messages); a second CONNECT on the same
    connection and a wrong protocol name ("hj") both fail."""
    a, _ = clients(srv)
    a.connect()
    a.disconnect()
    ack = a.connect()
    assert ack.reason == 0
    a.subscribe([TOPICS[0]], [v5_opts(2)])
    a.publish(TOPICS[0], b"qos 0")
    a.publish(TOPICS[0], b"qos 1", 1)
    a.publish(TOPICS[0], b"qos 2", 2)
    a.wait_messages(3, 2)
    a.disconnect()
    assert len(a.messages) == 3, a.messages

    # Second CONNECT on the same connection: a Protocol Error [MQTT-3.1.0-2];
    # the server closes (v5 may send DISCONNECT 0x82 first), never a CONNACK.
    r = raw_client(srv, 5, "myclientid")
    r.send(build_connect(5, "myclientid"))
    got = r.wait_closed(timeout=5)
    assert all(p.type == DISCONNECT for p in got), got
    assert not got or got[0].reason == 0x82, got

    # Wrong protocol name: no successful CONNACK [MQTT-3.1.2-1].
    with pytest.raises(ConnectFailed):
        a.connect(protocol_name=b"hj")


def test_retained_message(srv):
    """test_retained_message: retained QoS 0/1/2 messages with user properties
    (a=2, c=3) are delivered on a later "+/+" subscription, all three, with
    both user properties intact (either order) and QoS 0, 1 and 2."""
    a, _ = clients(srv)
    a.connect(clean=True)
    a.publish(TOPICS[1], b"qos 0", 0, retain=True, props=UP)
    a.publish(TOPICS[2], b"qos 1", 1, retain=True, props=UP)
    a.publish(TOPICS[3], b"qos 2", 2, retain=True, props=UP)
    time.sleep(1)
    a.subscribe([WILDTOPICS[5]], [v5_opts(2)])
    a.wait_messages(3, 2)
    time.sleep(0.3)
    a.disconnect()
    assert len(a.messages) == 3, a.messages
    for m in a.messages:
        assert user_props(m) == [("a", "2"), ("c", "3")], m
        assert m.retain
    assert sorted(m.qos for m in a.messages) == [0, 1, 2]
    clean_retained(srv)


def test_will_message(srv):
    """test_will_message: a client with Keep Alive 2 that goes silent (never
    PINGs) is dropped after 1.5 x keep-alive and its will (on "Topic/C", with
    user properties a=2, c=3 in that order) reaches a subscriber within the
    suite's ~10 s window."""
    a, b = clients(srv)
    a.connect(clean=True, keepalive=2,
              will=dict(topic=TOPICS[2], payload=b"will message", qos=2,
                        props=[("will_delay_interval", 0)] + UP))
    b.connect(clean=False)
    b.subscribe_wait([TOPICS[2]], [v5_opts(2)])
    msgs = b.wait_messages(1, 10)
    b.disconnect()
    assert len(msgs) == 1, msgs
    assert msgs[0].payload == b"will message"
    # The suite compares the list as-is: order must be preserved [MQTT-3.3.2-18].
    assert msgs[0].props.get("user_property") == [("a", "2"), ("c", "3")], msgs[0]
    assert "will_delay_interval" not in msgs[0].props


def test_zero_length_clientid(srv):
    """test_zero_length_clientid: an empty client id is accepted with Clean
    Start 0 and with Clean Start 1 (v5 allows both [MQTT-3.1.3-6])."""
    c = SuiteClient(srv, "")
    c.connect(clean=False)
    c.disconnect()
    c.connect(clean=True)
    c.disconnect()


def test_assigned_clientid(srv):
    """test_assigned_clientid: CONNECT with an empty client id gets an
    Assigned Client Identifier in CONNACK that is not empty [MQTT-3.2.2-16]."""
    c = SuiteClient(srv, "")
    ack = c.connect(clean=True)
    c.disconnect()
    assert ack.props.get("assigned_client_identifier"), ack


def test_offline_message_queueing(srv):
    """test_offline_message_queueing: a session (expiry 99999) subscribed to
    "+/+" receives, on reconnect, the QoS 1 and 2 messages published while it
    was offline (2 or 3 messages: queueing QoS 0 is optional)."""
    a, b = clients(srv)
    a.connect(clean=True, props={"session_expiry_interval": 99999})
    a.subscribe_wait([WILDTOPICS[5]], [v5_opts(2)])
    a.disconnect()
    b.connect(clean=True)
    b.publish(TOPICS[1], b"qos 0", 0)
    b.publish(TOPICS[2], b"qos 1", 1)
    b.publish(TOPICS[3], b"qos 2", 2)
    time.sleep(1)
    b.disconnect()
    ack = a.connect(clean=False)
    assert ack.session_present
    a.wait_messages(3, 2)
    time.sleep(0.3)
    a.disconnect()
    assert len(a.messages) in (2, 3), a.messages


def test_overlapping_subscriptions(srv):
    """test_overlapping_subscriptions: subscribed to "TopicA/#" (QoS 2) and
    "TopicA/+" (QoS 1), a QoS 2 PUBLISH to "TopicA/C" arrives either once at
    QoS 2 or twice at QoS 2 and QoS 1 [MQTT-3.3.4-2]."""
    a, _ = clients(srv)
    a.connect()
    a.subscribe_wait([WILDTOPICS[6], WILDTOPICS[0]], [v5_opts(2), v5_opts(1)])
    a.publish(TOPICS[3], b"overlapping topic filters", 2)
    a.wait_messages(2, 1)
    time.sleep(0.3)
    a.disconnect()
    qoss = sorted(m.qos for m in a.messages)
    assert qoss in ([2], [1, 2]), a.messages


def test_keepalive(srv):
    """test_keepalive: a client with Keep Alive 5 and a will that sends
    nothing is disconnected and its will published within the suite's 15 s
    window; the subscriber (Keep Alive 0) stays connected meanwhile."""
    a, b = clients(srv)
    a.connect(clean=True, keepalive=5,
              will=dict(topic=TOPICS[4], payload=b"keepalive expiry", qos=2))
    ack = b.connect(clean=True, keepalive=0)
    # Keep Alive 0 may be replaced by a Server Keep Alive, but not below 15 s
    # or the suite's idle subscriber would itself be dropped.
    assert ack.props.get("server_keep_alive", 0) in (0,) or ack.props["server_keep_alive"] >= 15
    b.subscribe_wait([TOPICS[4]], [v5_opts(2)])
    t0 = time.monotonic()
    msgs = b.wait_messages(1, 15)
    assert len(msgs) == 1, msgs
    elapsed = time.monotonic() - t0
    assert elapsed >= 5, f"will after {elapsed:.1f}s: keep-alive is 5 s (x1.5 = 7.5 s)"
    assert not b.closed
    b.disconnect()


def test_redelivery_on_reconnect(srv):
    """test_redelivery_on_reconnect: a paused subscriber (session expiry
    99999) leaves a QoS 1 and a QoS 2 delivery unacknowledged; after
    reconnecting (Clean Start 0) both are re-sent [MQTT-4.4.0-1] and arrive."""
    _, b = clients(srv)
    b.connect(clean=False, props={"session_expiry_interval": 99999})
    b.subscribe_wait([WILDTOPICS[6]], [v5_opts(2)])
    b.pause()
    b.publish(TOPICS[1], b"", 1)
    b.publish(TOPICS[3], b"", 2)
    time.sleep(1)
    b.disconnect()
    assert len(b.messages) == 0
    b.resume()
    ack = b.connect(clean=False, props={"session_expiry_interval": 99999})
    assert ack.session_present
    b.wait_messages(2, 3)
    assert len(b.messages) == 2, b.messages
    assert all(m.dup for m in b.messages), b.messages
    b.disconnect()


def test_subscribe_failure(srv):
    """test_subscribe_failure: SUBSCRIBE to "test/nosubscribe" is refused
    with SUBACK reason code exactly 0x80 (needs the deny_subscribe config)."""
    a, _ = clients(srv)
    a.connect()
    reasons = a.subscribe_wait([NOSUBSCRIBE], [v5_opts(2)])
    assert reasons == [0x80], reasons
    # Exact-filter denial: "#" (used by the suite's retained cleanup) still works.
    assert a.subscribe_wait(["#"], [v5_opts(0)]) == [0]
    a.disconnect()


def test_dollar_topics(srv):
    """test_dollar_topics: a PUBLISH to "$TopicA/B" is not delivered to a
    "+/+" subscription: wildcards at the first level do not match topics
    starting with "$" [MQTT-4.7.2-1]. The publish itself must not kill the
    connection (the suite then disconnects normally)."""
    _, b = clients(srv)
    b.connect(clean=True, keepalive=0)
    b.subscribe_wait([WILDTOPICS[5]], [v5_opts(2)])
    time.sleep(0.5)
    b.clear()
    b.publish("$" + TOPICS[1], b"", 1)
    time.sleep(0.5)
    assert b.messages == []
    assert not b.closed and not b.disconnects
    b.disconnect()


def test_unsubscribe(srv):
    """test_unsubscribe: after unsubscribing from "TopicA", of three QoS 1
    publishes (TopicA, TopicA/B, Topic/C) exactly the 2 others arrive."""
    a, b = clients(srv)
    b.connect(clean=True)
    b.subscribe([TOPICS[0]], [v5_opts(2)])
    b.subscribe([TOPICS[1]], [v5_opts(2)])
    b.subscribe([TOPICS[2]], [v5_opts(2)])
    assert wait_until(lambda: len(b.subacks) == 3, 2)
    b.unsubscribe([TOPICS[0]])
    assert wait_until(lambda: len(b.unsubacks) == 1, 2)
    b.clear()
    a.connect(clean=True)
    a.publish(TOPICS[0], b"topic 0 - unsubscribed", 1)
    a.publish(TOPICS[1], b"topic 1", 1)
    a.publish(TOPICS[2], b"topic 2", 1)
    b.wait_messages(3, 2)
    b.disconnect()
    a.disconnect()
    assert sorted(m.topic for m in b.messages) == sorted(TOPICS[1:3]), b.messages


def test_session_expiry(srv):
    """test_session_expiry: Session Expiry 0 -> no session after DISCONNECT;
    5 -> still present after 2 s, gone after 8 s; CONNECT 1 but DISCONNECT
    sets 5 -> present after 3 s; DISCONNECT with 0 -> gone at once
    [MQTT-3.1.2-23], [MQTT-3.14.2-2 (only 0 -> non-zero is an error)]."""
    a, _ = clients(srv)
    p0 = {"session_expiry_interval": 0}
    ack = a.connect(clean=True, props=p0)
    assert (ack.reason, ack.session_present) == (0, False)
    a.subscribe([TOPICS[0]], [v5_opts(2)])
    a.disconnect()
    ack = a.connect(clean=False, props=p0)
    assert (ack.reason, ack.session_present) == (0, False)
    a.disconnect()

    p5 = {"session_expiry_interval": 5}
    ack = a.connect(clean=True, props=p5)
    assert (ack.reason, ack.session_present) == (0, False)
    a.subscribe([TOPICS[0]], [v5_opts(2)])
    a.disconnect()
    time.sleep(2)
    ack = a.connect(clean=False, props=p5)
    assert (ack.reason, ack.session_present) == (0, True)
    a.disconnect()
    time.sleep(6)
    ack = a.connect(clean=False, props=p5)
    assert (ack.reason, ack.session_present) == (0, False)
    a.disconnect()

    p1 = {"session_expiry_interval": 1}
    ack = a.connect(clean=True, props=p1)
    assert (ack.reason, ack.session_present) == (0, False)
    a.subscribe([TOPICS[0]], [v5_opts(2)])
    a.disconnect(props={"session_expiry_interval": 5})
    time.sleep(3)
    ack = a.connect(clean=False, props=p1)
    assert (ack.reason, ack.session_present) == (0, True)
    a.disconnect(props={"session_expiry_interval": 0})
    ack = a.connect(clean=False, props=p1)
    assert (ack.reason, ack.session_present) == (0, False)
    a.disconnect()


def test_user_properties(srv):
    """test_user_properties: user properties (a=2, c=3) on QoS 0/1/2
    PUBLISHes are forwarded unchanged [MQTT-3.3.2-17/18]."""
    a, _ = clients(srv)
    a.connect(clean=True)
    a.subscribe([TOPICS[0]], [v5_opts(2)])
    for q in range(3):
        a.publish(TOPICS[0], b"", q, props=UP)
    a.wait_messages(3, 5)
    a.disconnect()
    assert len(a.messages) == 3
    for m in a.messages:
        assert user_props(m) == [("a", "2"), ("c", "3")], m
    assert sorted(m.qos for m in a.messages) == [0, 1, 2]


def test_payload_format(srv):
    """test_payload_format: Payload Format Indicator 1 and Content Type
    "My name" are forwarded on QoS 0/1/2 [MQTT-3.3.2-4], [MQTT-3.3.2-20]."""
    a, _ = clients(srv)
    a.connect(clean=True)
    a.subscribe([TOPICS[0]], [v5_opts(2)])
    props = {"payload_format_indicator": 1, "content_type": "My name"}
    for q in range(3):
        a.publish(TOPICS[0], b"", q, props=props)
    a.wait_messages(3, 5)
    a.disconnect()
    assert len(a.messages) == 3
    for m in a.messages:
        assert m.props.get("content_type") == "My name", m
        assert m.props.get("payload_format_indicator") == 1, m
    assert sorted(m.qos for m in a.messages) == [0, 1, 2]


def test_publication_expiry(srv):
    """test_publication_expiry: for an offline session, messages with
    Message Expiry 1 s are dropped after 3 s [MQTT-3.3.2-5]; those with 6 s
    are delivered with the remaining time, i.e. < 6 [MQTT-3.3.2-6]. The
    DISCONNECT raises the session expiry 99999 -> 999999999."""
    a, b = clients(srv)
    b.connect(clean=True, props={"session_expiry_interval": 99999})
    b.subscribe_wait([TOPICS[0]], [v5_opts(2)])
    b.disconnect(props={"session_expiry_interval": 999999999})
    a.connect(clean=True)
    e1 = {"message_expiry_interval": 1}
    e6 = {"message_expiry_interval": 6}
    a.publish(TOPICS[0], b"qos 1 - expire", 1, props=e1)
    a.publish(TOPICS[0], b"qos 2 - expire", 2, props=e1)
    a.publish(TOPICS[0], b"qos 1 - don't expire", 1, props=e6)
    a.publish(TOPICS[0], b"qos 2 - don't expire", 2, props=e6)
    time.sleep(3)
    ack = b.connect(clean=False)
    assert ack.session_present
    b.wait_messages(2, 3)
    time.sleep(1)
    assert len(b.messages) == 2, b.messages
    for m in b.messages:
        assert m.props["message_expiry_interval"] < 6, m
    a.disconnect()
    b.disconnect()


def test_subscribe_options(srv):
    """test_subscribe_options: No Local [MQTT-3.8.3-3]; Retain As Published
    (retain flag kept as sent) [MQTT-3.3.1-12]; Retain Handling 1 (retained
    only on a new subscription), 2 (never), 0 (on every SUBSCRIBE)
    [MQTT-3.3.1-9/10/11]."""
    a, b = clients(srv)
    # noLocal
    a.connect(clean=True)
    b.connect(clean=True)
    a.subscribe_wait([TOPICS[0]], [v5_opts(2, no_local=True)])
    b.subscribe_wait([TOPICS[0]], [v5_opts(2, no_local=True)])
    a.publish(TOPICS[0], b"noLocal test", 1)
    b.wait_messages(1, 3)
    time.sleep(0.5)
    assert a.messages == []
    assert len(b.messages) == 1
    a.disconnect()
    b.disconnect()
    a.clear()

    # retainAsPublished
    a.connect(clean=True)
    a.subscribe_wait([TOPICS[0]], [v5_opts(2, rap=True)])
    a.publish(TOPICS[0], b"retain as published false", 1)
    a.publish(TOPICS[0], b"retain as published true", 1, retain=True)
    a.wait_messages(2, 3)
    time.sleep(0.5)
    a.disconnect()
    assert [m.retain for m in a.messages] == [False, True], a.messages

    # retainHandling 1
    a.clear()
    a.connect(clean=True)
    a.publish(TOPICS[1], b"qos 0", 0, retain=True)
    a.publish(TOPICS[2], b"qos 1", 1, retain=True)
    a.publish(TOPICS[3], b"qos 2", 2, retain=True)
    time.sleep(1)
    a.subscribe([WILDTOPICS[5]], [v5_opts(2, rh=1)])
    time.sleep(1)
    assert len(a.messages) == 3, a.messages
    assert sorted(m.qos for m in a.messages) == [0, 1, 2]
    a.clear()
    a.subscribe([WILDTOPICS[5]], [v5_opts(2, rh=1)])
    time.sleep(1)
    assert len(a.messages) == 0, a.messages
    a.disconnect()

    # retainHandling 2
    a.clear()
    a.connect(clean=True)
    a.subscribe([WILDTOPICS[5]], [v5_opts(2, rh=2)])
    time.sleep(1)
    assert len(a.messages) == 0
    a.subscribe([WILDTOPICS[5]], [v5_opts(2, rh=2)])
    time.sleep(1)
    assert len(a.messages) == 0
    a.disconnect()

    # retainHandling 0
    a.clear()
    a.connect(clean=True)
    a.subscribe([WILDTOPICS[5]], [v5_opts(2, rh=0)])
    time.sleep(1)
    assert len(a.messages) == 3, a.messages
    assert sorted(m.qos for m in a.messages) == [0, 1, 2]
    a.clear()
    a.subscribe([WILDTOPICS[5]], [v5_opts(2, rh=0)])
    time.sleep(1)
    assert len(a.messages) == 3, a.messages
    assert sorted(m.qos for m in a.messages) == [0, 1, 2]
    a.disconnect()
    clean_retained(srv)


def test_subscribe_identifiers(srv):
    """test_subscribe_identifiers: a message matching one subscription
    carries its Subscription Identifier (456789); a client with two matching
    subscriptions ("TopicA" id 2, "TopicA/#" id 3) receives ONE copy carrying
    both identifiers {2, 3} [MQTT-3.3.4-3/4/5]."""
    a, b = clients(srv)
    a.connect(clean=True)
    a.subscribe_wait([TOPICS[0]], [v5_opts(2)], props={"subscription_identifier": [456789]})
    b.connect(clean=True)
    b.subscribe([TOPICS[0]], [v5_opts(2)], props={"subscription_identifier": [2]})
    b.subscribe([TOPICS[0] + "/#"], [v5_opts(2)], props={"subscription_identifier": [3]})
    assert wait_until(lambda: len(b.subacks) == 2, 2)
    b.publish(TOPICS[0], b"sub identifier test", 1)
    a.wait_messages(1, 3)
    assert len(a.messages) == 1
    assert a.messages[0].props["subscription_identifier"] == [456789]
    a.disconnect()
    b.wait_messages(1, 3)
    time.sleep(0.3)  # a second copy, if any, would be here by now
    assert len(b.messages) == 1, b.messages
    assert set(b.messages[0].props["subscription_identifier"]) == {2, 3}, b.messages
    b.disconnect()


def test_request_response(srv):
    """test_request_response: Response Topic and Correlation Data are
    forwarded to the responder [MQTT-3.3.2-15/16], and the response (sent
    back with those same properties) reaches the requester."""
    a, b = clients(srv)
    a.connect(clean=True)
    b.connect(clean=True)
    a.subscribe_wait([TOPICS[0]], [v5_opts(2, no_local=True)])
    b.subscribe_wait([TOPICS[0]], [v5_opts(2, no_local=True)])
    a.publish(TOPICS[0], b"request", 1,
              props={"response_topic": TOPICS[0], "correlation_data": b"334"})
    b.wait_messages(1, 3)
    assert len(b.messages) == 1
    req = b.messages[0]
    assert req.props.get("response_topic") == TOPICS[0]
    assert req.props.get("correlation_data") == b"334"
    b.publish(req.props["response_topic"], b"response", 1,
              props={"response_topic": TOPICS[0], "correlation_data": b"334"})
    a.wait_messages(1, 3)
    assert len(a.messages) == 1
    a.disconnect()
    b.disconnect()


def test_client_topic_alias(srv):
    """test_client_topic_alias: Topic Alias 0 -> server DISCONNECT (0x82 or
    0x94, [MQTT-3.3.2-8]). With CONNACK Topic Alias Maximum > 0:
    alias 1 set with a topic then used with an empty topic both deliver;
    after reconnecting, aliases are gone [MQTT-3.3.2-7], so using alias 1
    with an empty topic gets a DISCONNECT (0x82 Protocol Error)."""
    a, _ = clients(srv)
    a.connect(clean=True)
    a.publish(TOPICS[0], b"topic alias 0", 1, props={"topic_alias": 0})
    assert wait_until(lambda: a.disconnects, 2), "no DISCONNECT for Topic Alias 0"
    # The suite accepts any DISCONNECT. 0 is never a valid alias [MQTT-3.3.2-8]:
    # Protocol Error (0x82) or Topic Alias invalid (0x94) both fit.
    assert a.disconnects[0] in (0x82, 0x94), a.disconnects

    ack = a.connect(clean=True, props={"topic_alias_maximum": 0, "session_expiry_interval": 99999})
    assert ack.props.get("topic_alias_maximum", 0) > 0, ack  # else the suite skips the rest
    a.subscribe_wait([TOPICS[0]], [v5_opts(2)])
    a.publish(TOPICS[0], b"topic alias 1", 1, props={"topic_alias": 1})
    a.wait_messages(1, 3)
    assert len(a.messages) == 1
    a.publish("", b"topic alias 2", 1, props={"topic_alias": 1})
    a.wait_messages(2, 3)
    assert len(a.messages) == 2
    assert [m.topic for m in a.messages] == [TOPICS[0]] * 2
    a.disconnect()

    a.clear()
    ack = a.connect(clean=False)
    assert ack.session_present
    a.publish(TOPICS[0], b"topic alias 3", 1)
    a.wait_messages(1, 3)
    assert len(a.messages) == 1
    a.publish("", b"topic alias 4", 1, props={"topic_alias": 1})
    assert wait_until(lambda: a.disconnects, 2), "no DISCONNECT for an unknown alias"
    assert a.disconnects[0] in (0x82, 0x94), a.disconnects


def test_server_topic_alias(srv):
    """test_server_topic_alias: with the client's Topic Alias Maximum 1 the
    server uses an alias towards it: the first PUBLISH carries topic + alias
    (> 0), the next ones an empty topic and the same alias. With Topic Alias
    Maximum absent or 0, no PUBLISH carries an alias [MQTT-3.3.2-9]."""
    a, _ = clients(srv)
    a.connect(clean=True, props={"topic_alias_maximum": 1})
    a.subscribe_wait([TOPICS[0]], [v5_opts(2)])
    for q in range(3):
        a.publish(TOPICS[0], b"topic alias 1", q)
    a.wait_messages(3, 3)
    a.disconnect()
    assert len(a.messages) == 3
    m0, m1, m2 = a.messages
    alias = m0.props.get("topic_alias")
    assert alias and alias > 0, m0
    assert m0.topic == TOPICS[0]
    assert (m1.props.get("topic_alias"), m1.topic) == (alias, ""), m1
    assert (m2.props.get("topic_alias"), m2.topic) == (alias, ""), m2

    for props in (None, {"topic_alias_maximum": 0}):
        a.clear()
        a.connect(clean=True, props=props)
        a.subscribe_wait([TOPICS[0]], [v5_opts(2)])
        for q in range(3):
            a.publish(TOPICS[0], b"topic alias 1", q)
        a.wait_messages(3, 3)
        a.disconnect()
        assert len(a.messages) == 3
        for m in a.messages:
            assert "topic_alias" not in m.props and m.topic == TOPICS[0], m


def test_maximum_packet_size(srv):
    """test_maximum_packet_size: (1) if CONNACK Maximum Packet Size < 65535,
    a PUBLISH of that many payload bytes gets DISCONNECT 0x95; (2) with the
    client's Maximum Packet Size 64, a 32-byte message is delivered and a
    64-byte one is silently not sent [MQTT-3.1.2-25] (and the session lives)."""
    a, _ = clients(srv)
    ack = a.connect(clean=True)
    server_max = ack.props.get("maximum_packet_size", 2**28 - 1)
    if server_max < 65535:
        a.publish(TOPICS[0], b"." * server_max, 0)
        assert wait_until(lambda: a.disconnects, 2)
        assert a.disconnects == [0x95]
    else:
        a.disconnect()
    a.connect(clean=True, props={"maximum_packet_size": 64})
    a.subscribe_wait([TOPICS[0]], [v5_opts(2)])
    a.publish(TOPICS[0], b"." * 32, 0)
    a.wait_messages(1, 3)
    assert len(a.messages) == 1
    a.publish(TOPICS[0], b"." * 64, 1)
    a.wait_messages(2, 3)
    assert len(a.messages) == 1, a.messages
    assert not a.disconnects and not a.closed
    a.disconnect()


def test_server_keep_alive(srv):
    """test_server_keep_alive: CONNECT with Keep Alive 120 -> CONNACK has
    Server Keep Alive == 60 (needs max_keep_alive = 60) [MQTT-3.2.2-21]."""
    a, _ = clients(srv)
    ack = a.connect(keepalive=120, clean=True)
    assert ack.props.get("server_keep_alive") == 60, ack
    a.disconnect()


def test_flow_control1(srv):
    """test_flow_control1: with the client's Receive Maximum 2, three QoS 1
    messages to its own subscription: exactly two PUBLISHes arrive (plus the
    three PUBACKs), then nothing for 0.5 s; after PUBACKing the first, the
    third arrives [MQTT-3.3.4-7/9]."""
    r = raw_client(srv, 5, "myclientid", clean=True, keepalive=0,
                   props={"receive_maximum": 2, "session_expiry_interval": 0})
    r.subscribe(TOPICS[0], qos=2)
    for i in range(1, 4):
        r.publish(TOPICS[0], f"message {i}", qos=1, wait=False)
    pubs, acks = [], 0
    while len(pubs) < 2 or acks < 3:
        p = r.recv(timeout=5)
        if p.type == PUBLISH:
            assert p.qos == 1
            pubs.append(p)
        else:
            assert p.type == PUBACK, p
            acks += 1
    assert len(pubs) == 2
    with pytest.raises(TimeoutError):
        r.recv(timeout=0.5)
    r.send(build_ack(PUBACK, 5, pubs[0].packet_id))
    p3 = r.recv(timeout=5)
    assert p3.type == PUBLISH and p3.qos == 1
    r.send(build_ack(PUBACK, 5, pubs[1].packet_id))
    r.send(build_ack(PUBACK, 5, p3.packet_id))


def test_flow_control2(srv):
    """test_flow_control2: sending (server Receive Maximum + 1) QoS 2
    PUBLISHes without PUBREL gets DISCONNECT 0x93 (Receive Maximum exceeded)
    [MQTT-3.3.4-9]. The suite answers the PUBRECs that arrive before the
    DISCONNECT with PUBRELs *after* the server decided to disconnect, and
    then must still be able to read that DISCONNECT."""
    r = raw_client(srv, 5, "myclientid", clean=True, keepalive=0)
    recv_max = r.connack.props.get("receive_maximum", 65535)
    assert recv_max <= 100, "the suite sends receive_maximum + 1 messages; keep it small"
    for i in range(1, recv_max + 2):
        r.publish(TOPICS[0], f"message {i}", qos=2, wait=False)
    time.sleep(0.3)  # the suite's client starts reading only after sending everything
    disconnect = None
    while disconnect is None:
        p = r.recv(timeout=5)  # Closed here = the DISCONNECT was lost (reset)
        if p.type == PUBREC:
            r.send(build_ack(PUBREL, 5, p.packet_id))
        elif p.type == DISCONNECT:
            disconnect = p
    assert disconnect.reason == 0x93


def test_will_delay(srv):
    """test_will_delay: the will is published at min(Will Delay, Session
    Expiry) after the connection drops [MQTT-3.1.3-9]: delay 3/expiry 5 ->
    ~3-5 s; delay 5/expiry 0 -> at once (0-2 s); delay 5/expiry 2 -> 2-4 s."""
    for delay, expiry, lo, hi in ((3, 5, 3, 5), (5, 0, 0, 2), (5, 2, 2, 4)):
        a, b = clients(srv)
        a.connect(clean=True, props={"session_expiry_interval": expiry},
                  will=dict(topic=TOPICS[0], payload=b"test_will_delay will message", qos=2,
                            props={"will_delay_interval": delay}))
        b.connect(clean=True)
        b.subscribe_wait([TOPICS[0]], [v5_opts(2)])
        # Start the clock before closing: the broker may see the close (and
        # start its will-delay timer) before terminate() returns.
        start = time.monotonic()
        a.terminate()
        assert wait_until(lambda: b.messages, hi + 2, 0.02), f"no will (delay {delay}, expiry {expiry})"
        took = b.messages[0].at - start
        assert lo <= took <= hi, f"will delay {delay}, expiry {expiry}: will after {took:.2f}s"
        assert b.messages[0].topic == TOPICS[0]
        assert b.messages[0].payload == b"test_will_delay will message"
        b.disconnect()


def test_shared_subscriptions(srv):
    """test_shared_subscriptions: two clients each subscribe (one SUBSCRIBE)
    to "$share/sharename/client_test5/x" and "TopicA": a message to TopicA
    reaches both; one to "client_test5/x" reaches exactly one of them
    [MQTT-4.8.2]."""
    a, b = clients(srv)
    shared = "$share/sharename/" + TOPIC_PREFIX + "x"
    for c in (a, b):
        ack = c.connect(clean=True)
        assert (ack.reason, ack.session_present) == (0, False)
        assert c.subscribe_wait([shared, TOPICS[0]], [v5_opts(2)] * 2) == [2, 2]
    a.clear()
    b.clear()
    b.publish(TOPICS[0], "message 0", 0)
    wait_until(lambda: len(a.messages) + len(b.messages) >= 2, 2)
    time.sleep(0.5)
    assert (len(a.messages), len(b.messages)) == (1, 1)
    a.clear()
    b.clear()
    b.publish(TOPIC_PREFIX + "x", "message 0", 0)
    wait_until(lambda: len(a.messages) + len(b.messages) >= 1, 2)
    time.sleep(0.5)
    assert len(a.messages) + len(b.messages) == 1
    a.disconnect()
    b.disconnect()
