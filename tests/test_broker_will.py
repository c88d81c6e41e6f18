"""Will messages: abnormal close, DISCONNECT 0x00 / 0x04, Will Delay."""
import time

import pytest

from helpers import (paho_client, raw_barrier, raw_client, unique,
                     wait_past)

BOTH = pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])


def _watch(kumo, version, topic):
    w = raw_client(kumo, version)
    w.subscribe(topic, qos=1)
    return w


def _will(topic, payload=b"last words", qos=1, retain=False, props=None):
    return dict(topic=topic, payload=payload, qos=qos, retain=retain, props=props)


@BOTH
def test_will_sent_on_abnormal_close(kumo, version):
    """Closing the socket without DISCONNECT publishes the Will Message with
    its topic, payload and QoS.

    v3.1.1 [MQTT-3.1.2-8]; v5 [MQTT-3.1.2-8] (Will Delay absent = 0,
    §3.1.3.2.2), [MQTT-3.1.2-14] (non-retained)."""
    topic = unique("will") + "/t"
    w = _watch(kumo, version, topic)
    c = raw_client(kumo, version, will=_will(topic))
    c.close()
    [p] = w.recv_publishes(1)
    assert (p.topic, p.payload, p.qos, p.retain) == (topic, b"last words", 1, False), p


@BOTH
def test_no_will_after_normal_disconnect(kumo, version):
    """DISCONNECT (v5: Reason Code 0x00) discards the Will Message.
    v3.1.1 [MQTT-3.14.4-3], [MQTT-3.1.2-10]; v5 [MQTT-3.14.4-3],
    [MQTT-3.1.2-10]."""
    topic = unique("nowill") + "/t"
    w = _watch(kumo, version, topic)
    c = raw_client(kumo, version, will=_will(topic))
    # DISCONNECT, then wait for the server to close (it SHOULD); after that
    # it has processed the DISCONNECT and any will would be on its way, so
    # the barrier below comes after it. (No reconnect with the same Client
    # Identifier here: racing a takeover of the still-open connection would
    # legitimately publish the will.)
    c.disconnect(0x00 if version == 5 else None)
    pub = raw_client(kumo, version)
    before = raw_barrier(pub, w, topic)
    assert not before, f"will published after a normal DISCONNECT: {before}"


def test_will_sent_on_disconnect_0x04_v5(kumo):
    """v5 DISCONNECT with Reason Code 0x04 (Disconnect with Will Message):
    the will is not discarded ([MQTT-3.14.4-3] discards only on 0x00) and is
    published ([MQTT-3.1.2-8]; Table 3-10: "The Client wishes to disconnect
    but requires that the Server also publishes its Will Message")."""
    topic = unique("will04") + "/t"
    w = _watch(kumo, 5, topic)
    c = raw_client(kumo, 5, will=_will(topic, b"by request"))
    c.disconnect(0x04)
    [p] = w.recv_publishes(1)
    assert p.payload == b"by request"


@BOTH
def test_will_retain(kumo, version):
    """Will Retain = 1 publishes the will as a retained message.
    v3.1.1 [MQTT-3.1.2-17]; v5 [MQTT-3.1.2-15]."""
    topic = unique("willret") + "/t"
    w = _watch(kumo, version, topic)
    c = raw_client(kumo, version, will=_will(topic, b"retained will", retain=True))
    c.close()
    assert w.recv_publishes(1)[0].payload == b"retained will"
    later = raw_client(kumo, version)
    later.subscribe(topic, qos=1)
    [p] = later.recv_publishes(1)
    assert (p.payload, p.retain) == (b"retained will", True), p


def test_will_properties_forwarded_v5(kumo):
    """v5 Will Properties become the published message's properties;
    user properties keep their order ([MQTT-3.1.3-10])."""
    topic = unique("willprops") + "/t"
    w = _watch(kumo, 5, topic)
    props = [("content_type", "text/plain"), ("user_property", ("k", "1")),
             ("user_property", ("k", "2")), ("response_topic", "reply/here")]
    c = raw_client(kumo, 5, will=_will(topic, b"p", props=props))
    c.close()
    [p] = w.recv_publishes(1)
    assert p.props.get("content_type") == "text/plain", p
    assert p.props.get("response_topic") == "reply/here", p
    assert p.props.get("user_property") == [("k", "1"), ("k", "2")], p


def test_will_delay_v5(kumo):
    """With Will Delay Interval 2 s (and a longer session) the will is
    published after the delay, not at the close.

    v5 §3.1.3.2.2: "The Server delays publishing the Client's Will Message
    until the Will Delay Interval has passed or the Session ends, whichever
    happens first"; [MQTT-3.1.2-8]."""
    delay = 2
    topic = unique("willdelay") + "/t"
    w = _watch(kumo, 5, topic)
    c = raw_client(kumo, 5, clean=True, props={"session_expiry_interval": 60},
                   will=_will(topic, props={"will_delay_interval": delay}))
    closed_at = time.monotonic()
    c.close()
    [p] = w.recv_publishes(1, timeout=delay + 10)
    elapsed = time.monotonic() - closed_at
    assert p.payload == b"last words"
    assert elapsed >= delay - 0.05, f"will published {elapsed:.2f}s after close, delay is {delay}s"


def test_will_not_sent_if_reconnected_within_delay_v5(kumo):
    """v5 [MQTT-3.1.3-9]: "If a new Network Connection to this Session is made
    before the Will Delay Interval has passed, the Server MUST NOT send the
    Will Message"."""
    delay = 2
    topic = unique("willback") + "/t"
    w = _watch(kumo, 5, topic)
    cid = unique("willback")
    c = raw_client(kumo, 5, cid, clean=True, props={"session_expiry_interval": 60},
                   will=_will(topic, props={"will_delay_interval": delay}))
    c.close()
    back = raw_client(kumo, 5, cid, clean=False, props={"session_expiry_interval": 60})
    assert back.connack.session_present is True
    wait_past(delay + 1.5)  # the delay passing is what is under test
    pub = raw_client(kumo, 5)
    before = raw_barrier(pub, w, topic)
    assert not before, f"will published although the session reconnected: {before}"


def test_paho_will(kumo):
    """Will set through a third-party client (paho, MQTT 5) arrives when the
    client's socket dies."""
    topic = unique("pahowill") + "/t"
    w = paho_client(kumo, 5)
    w.subscribe(topic, 1)
    c = paho_client(kumo, 5, will=dict(topic=topic, payload=b"paho died", qos=1))
    c.client.socket().close()  # simulate a network failure
    assert w.messages.wait_for(1)[0].payload == b"paho died"
    c.client.loop_stop()
