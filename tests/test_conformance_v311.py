"""MQTT 3.1.1 conformance: one test per case of the Eclipse Paho
interoperability suite's ``client_test.py`` (docs/conformance.md has the
table), against kumo started with the configuration the suite needs
(``conformance_util.CONFORMANCE_CONFIG``). Each test gets a fresh broker.
"""

import time

import pytest

from conformance_util import (
    NOSUBSCRIBE, TOPICS, WILDTOPICS, ConnectFailed, SuiteClient, clean_retained,
    conformance_server, wait_until,
)
from helpers import build_connect, raw_client


@pytest.fixture
def srv(kumo_factory):
    return conformance_server(kumo_factory)


def clients(srv):
    return SuiteClient(srv, "myclientid", 4), SuiteClient(srv, "myclientid2", 4)


def test_clean_retained(srv):
    """setUpClass cleanup: "#" returns retained messages (retain flag set),
    and an empty retained PUBLISH deletes each [MQTT-3.3.1-10/11]."""
    a, _ = clients(srv)
    a.connect()
    a.publish(TOPICS[1], b"r", 1, retain=True)
    a.disconnect()
    clean_retained(srv, 4)
    c = SuiteClient(srv, "check", 4)
    c.connect()
    c.subscribe(["#"], [0])
    time.sleep(1)
    assert c.messages == []
    c.disconnect()


def test_basic(srv):
    """client_test testBasic: CONNACK flags 0x00 (no session present) for a
    clean session; QoS 0/1/2 to our own subscription come back (3 messages);
    a second CONNECT on the connection [MQTT-3.1.0-2] and protocol name "hj"
    [MQTT-3.1.2-1] both fail."""
    a, _ = clients(srv)
    a.connect()
    a.disconnect()
    ack = a.connect()
    assert ack.session_present is False and ack.reason == 0
    a.subscribe([TOPICS[0]], [2])
    a.publish(TOPICS[0], b"qos 0")
    a.publish(TOPICS[0], b"qos 1", 1)
    a.publish(TOPICS[0], b"qos 2", 2)
    a.wait_messages(3, 2)
    a.disconnect()
    assert len(a.messages) == 3, a.messages

    r = raw_client(srv, 4, "myclientid")
    r.send(build_connect(4, "myclientid"))
    assert r.wait_closed(timeout=5) == []  # v3.1.1: just close, no CONNACK

    with pytest.raises(ConnectFailed):
        a.connect(protocol_name=b"hj")


def test_retained_messages(srv):
    """test_retained_messages: retained QoS 0/1/2 messages arrive on a later
    "+/+" subscription (3); after empty retained PUBLISHes clear them, a new
    subscription gets nothing (0)."""
    a, _ = clients(srv)
    ack = a.connect(clean=True)
    assert ack.session_present is False
    a.publish(TOPICS[1], b"qos 0", 0, retain=True)
    a.publish(TOPICS[2], b"qos 1", 1, retain=True)
    a.publish(TOPICS[3], b"qos 2", 2, retain=True)
    time.sleep(1)
    a.subscribe([WILDTOPICS[5]], [2])
    a.wait_messages(3, 1)
    time.sleep(0.3)
    a.disconnect()
    assert len(a.messages) == 3, a.messages
    assert all(m.retain for m in a.messages)

    a.clear()
    ack = a.connect(clean=True)
    assert ack.session_present is False
    a.publish(TOPICS[1], b"", 0, retain=True)
    a.publish(TOPICS[2], b"", 1, retain=True)
    a.publish(TOPICS[3], b"", 2, retain=True)
    time.sleep(1)
    a.subscribe([WILDTOPICS[5]], [2])
    time.sleep(1)
    a.disconnect()
    assert a.messages == []


def test_will_message(srv):
    """will_message_test (present in client_test.py but NOT run: its name does
    not start with "test"): a client that drops its connection has its will
    published to a subscriber within 5 s [MQTT-3.1.2-8]."""
    a, b = clients(srv)
    a.connect(clean=True, keepalive=2,
              will=dict(topic=TOPICS[2], payload=b"client not disconnected", qos=2))
    b.connect(clean=False)
    b.subscribe_wait([TOPICS[2]], [2])
    a.terminate()
    b.wait_messages(1, 5)
    b.disconnect()
    assert len(b.messages) == 1, b.messages


def test_zero_length_clientid(srv):
    """test_zero_length_clientid: an empty client id with CleanSession 0 is
    rejected (CONNACK 0x02 [MQTT-3.1.3-8]); with CleanSession 1 accepted."""
    c = SuiteClient(srv, "", 4)
    with pytest.raises(ConnectFailed):
        c.connect(clean=False)
    assert c.connack.reason == 0x02
    c.connect(clean=True)
    c.disconnect()


def test_offline_message_queueing(srv):
    """test_offline_message_queueing: a persistent session subscribed to
    "+/+" reconnects with CONNACK flags 0x01 (session present) and receives
    the QoS 1 and 2 (optionally also QoS 0) messages sent meanwhile."""
    a, b = clients(srv)
    a.connect(clean=False)
    a.subscribe_wait([WILDTOPICS[5]], [2])
    a.disconnect()
    ack = b.connect(clean=True)
    assert ack.session_present is False
    b.publish(TOPICS[1], b"qos 0", 0)
    b.publish(TOPICS[2], b"qos 1", 1)
    b.publish(TOPICS[3], b"qos 2", 2)
    time.sleep(1)
    b.disconnect()
    ack = a.connect(clean=False)
    assert ack.session_present is True
    a.wait_messages(3, 2)
    time.sleep(0.3)
    a.disconnect()
    assert len(a.messages) in (2, 3), a.messages


def test_overlapping_subscriptions(srv):
    """test_overlapping_subscriptions: "TopicA/#" QoS 2 + "TopicA/+" QoS 1;
    a QoS 2 PUBLISH to "TopicA/C" arrives once at QoS 2, or twice at QoS 2
    and 1."""
    a, _ = clients(srv)
    a.connect()
    a.subscribe_wait([WILDTOPICS[6], WILDTOPICS[0]], [2, 1])
    a.publish(TOPICS[3], b"overlapping topic filters", 2)
    a.wait_messages(2, 1)
    time.sleep(0.3)
    a.disconnect()
    assert sorted(m.qos for m in a.messages) in ([2], [1, 2]), a.messages


def test_keepalive(srv):
    """test_keepalive: Keep Alive 5, silent -> closed after 1.5 x 5 s and the
    will published [MQTT-3.1.2-24]; within the suite's 15 s. The Keep Alive 0
    subscriber is not disconnected meanwhile."""
    a, b = clients(srv)
    a.connect(clean=True, keepalive=5,
              will=dict(topic=TOPICS[4], payload=b"keepalive expiry", qos=2))
    b.connect(clean=True, keepalive=0)
    b.subscribe_wait([TOPICS[4]], [2])
    t0 = time.monotonic()
    msgs = b.wait_messages(1, 15)
    assert len(msgs) == 1, msgs
    assert time.monotonic() - t0 >= 5
    assert not b.closed
    b.disconnect()


def test_redelivery_on_reconnect(srv):
    """test_redelivery_on_reconnect: a persistent-session subscriber that
    ignores a QoS 1 and a QoS 2 delivery gets both again (DUP set) after
    reconnecting [MQTT-4.4.0-1]."""
    _, b = clients(srv)
    b.connect(clean=False)
    b.subscribe_wait([WILDTOPICS[6]], [2])
    b.pause()
    b.publish(TOPICS[1], b"", 1)
    b.publish(TOPICS[3], b"", 2)
    time.sleep(1)
    b.disconnect()
    assert b.messages == []
    b.resume()
    ack = b.connect(clean=False)
    assert ack.session_present
    b.wait_messages(2, 3)
    assert len(b.messages) == 2, b.messages
    assert all(m.dup for m in b.messages)
    b.disconnect()


def test_subscribe_failure(srv):
    """test_subscribe_failure: SUBSCRIBE to "test/nosubscribe" gets SUBACK
    return code 0x80 (Failure) [MQTT-3.9.3-2]; needs deny_subscribe."""
    a, _ = clients(srv)
    a.connect()
    assert a.subscribe_wait([NOSUBSCRIBE], [2]) == [0x80]
    assert a.subscribe_wait(["#"], [0]) == [0]
    a.disconnect()


def test_dollar_topics(srv):
    """test_dollar_topics: "+/+" does not match "$TopicA/B" [MQTT-4.7.2-1]."""
    _, b = clients(srv)
    b.connect(clean=True, keepalive=0)
    b.subscribe_wait([WILDTOPICS[5]], [2])
    time.sleep(0.5)
    b.clear()
    b.publish("$" + TOPICS[1], b"", 1)
    time.sleep(0.5)
    assert b.messages == []
    assert not b.closed
    b.disconnect()


def test_unsubscribe(srv):
    """test_unsubscribe: after UNSUBSCRIBE "TopicA", only the other two of
    three QoS 1 publishes arrive."""
    a, b = clients(srv)
    b.connect(clean=True)
    for t in TOPICS[:3]:
        b.subscribe([t], [2])
    assert wait_until(lambda: len(b.subacks) == 3, 2)
    b.unsubscribe([TOPICS[0]])
    assert wait_until(lambda: len(b.unsubacks) == 1, 2)
    a.connect(clean=True)
    for t in TOPICS[:3]:
        a.publish(t, b"", 1)
    b.wait_messages(3, 2)
    b.disconnect()
    a.disconnect()
    assert sorted(m.topic for m in b.messages) == sorted(TOPICS[1:3]), b.messages
