"""CONNECT / CONNACK, sessions, session expiry, takeover, client identifiers.

Statement ids: "v3.1.1" = MQTT Version 3.1.1 (OASIS Standard), "v5" = MQTT
Version 5.0 (OASIS Standard), each with its own numbering.
"""
import pytest

from helpers import (CONNACK, DISCONNECT, PUBLISH, build_connect, paho_client, raw_barrier,
                     raw_client, unique, wait_past)

BOTH = pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])


def persistent(version, expiry=300):
    """CONNECT arguments for a session that outlives the connection."""
    if version == 5:
        return dict(clean=False, props={"session_expiry_interval": expiry})
    return dict(clean=False)


@BOTH
def test_connack_success_clean_session(kumo, version):
    """A valid CONNECT with Clean Session / Clean Start = 1 gets a CONNACK with
    a success code and Session Present = 0, as the first packet.

    v3.1.1 [MQTT-3.2.0-1] (first packet is CONNACK), [MQTT-3.2.2-1],
    [MQTT-3.1.4-4]; v5 [MQTT-3.2.0-1], [MQTT-3.2.2-1] (reserved ack flags 0),
    [MQTT-3.2.2-2]."""
    c = raw_client(kumo, version, connect=False)
    c.send(build_connect(version, unique("c"), clean=True))
    p = c.recv()
    assert p.type == CONNACK, p
    assert p.reason == 0, p
    assert p.session_present is False, p
    assert p.body[0] & 0xFE == 0, "reserved Connect Acknowledge Flags bits must be 0"
    if version == 4:
        assert len(p.body) == 2, "v3.1.1 CONNACK has Remaining Length 2"


@BOTH
def test_session_present_and_subscription_resumed(kumo, version):
    """Clean Session / Clean Start = 0: the first connection gets Session
    Present 0, a reconnect gets Session Present 1 and its subscription back.

    v3.1.1 [MQTT-3.1.2-4], [MQTT-3.2.2-2], [MQTT-3.2.2-3];
    v5 [MQTT-3.1.2-5], [MQTT-3.1.2-6], [MQTT-3.1.2-23], [MQTT-3.2.2-3]."""
    cid = unique("persist")
    a = raw_client(kumo, version, cid, **persistent(version))
    assert a.connack.session_present is False, "no session existed yet"
    a.subscribe("persist/t", qos=1)
    a.disconnect()

    b = raw_client(kumo, version, cid, **persistent(version))
    assert b.connack.session_present is True, b.connack
    pub = raw_client(kumo, version)
    pub.publish("persist/t", b"hello", qos=1)
    [p] = b.recv_publishes(1)
    assert (p.topic, p.payload, p.qos) == ("persist/t", b"hello", 1)


@BOTH
def test_clean_start_discards_session(kumo, version):
    """Reconnecting with Clean Session / Clean Start = 1 discards the stored
    session: Session Present 0 and the old subscription is gone.

    v3.1.1 [MQTT-3.1.2-6], [MQTT-3.2.2-1]; v5 [MQTT-3.1.2-4], [MQTT-3.2.2-2]."""
    cid = unique("clean")
    a = raw_client(kumo, version, cid, **persistent(version))
    a.subscribe("clean/old", qos=1)
    a.disconnect()

    b = raw_client(kumo, version, cid, clean=True)
    assert b.connack.session_present is False, b.connack
    b.subscribe("clean/barrier", qos=1)
    pub = raw_client(kumo, version)
    pub.publish("clean/old", b"must-not-arrive", qos=1)
    before = raw_barrier(pub, b, "clean/barrier")
    assert not [p for p in before if p.type == PUBLISH], before


def test_session_expiry_v5(kumo):
    """A v5 session with Session Expiry Interval 1 s is gone 3 s after the
    connection closed: Session Present 0 and no old subscription.

    v5 [MQTT-4.1.0-2] (the Server MUST discard the Session State when the
    Network Connection is closed and the Session Expiry Interval has passed),
    [MQTT-3.2.2-3]."""
    cid = unique("expiry")
    a = raw_client(kumo, 5, cid, clean=True, props={"session_expiry_interval": 1})
    a.subscribe("expiry/old", qos=1)
    a.disconnect()
    wait_past(3.0)  # the expiry itself is under test

    b = raw_client(kumo, 5, cid, clean=False, props={"session_expiry_interval": 60})
    assert b.connack.session_present is False, b.connack
    b.subscribe("expiry/barrier", qos=1)
    pub = raw_client(kumo, 5)
    pub.publish("expiry/old", b"must-not-arrive", qos=1)
    before = raw_barrier(pub, b, "expiry/barrier")
    assert not [p for p in before if p.type == PUBLISH], before


def test_session_expiry_absent_means_zero_v5(kumo):
    """v5 §3.1.2.11.2: "If the Session Expiry Interval is absent the value 0 is
    used ... the Session ends when the Network Connection is closed", so a
    reconnect with Clean Start 0 finds no session ([MQTT-3.2.2-3])."""
    cid = unique("noexp")
    a = raw_client(kumo, 5, cid, clean=False)  # no Session Expiry Interval
    a.subscribe("noexp/t", qos=1)
    a.disconnect()
    b = raw_client(kumo, 5, cid, clean=False)
    assert b.connack.session_present is False, b.connack


@BOTH
@pytest.mark.parametrize("qos", [1, 2])
def test_queued_messages_delivered_on_reconnect(kumo, version, qos):
    """QoS 1 and 2 messages matching a disconnected persistent session's
    subscriptions are stored and delivered, in order, when it reconnects.

    v3.1.1 [MQTT-3.1.2-5]; v5 [MQTT-4.5.0-1] (the Server MUST add an incoming
    message to the Session State of clients with matching subscriptions),
    [MQTT-3.1.2-23]; order: [MQTT-4.6.0-6] (v3.1.1) / [MQTT-4.6.0-5] (v5);
    delivered QoS = min(published, granted): v3.1.1 [MQTT-3.8.4-6],
    v5 [MQTT-3.8.4-8]."""
    cid = unique("queue")
    a = raw_client(kumo, version, cid, **persistent(version))
    a.subscribe("queue/t", qos=2)
    a.disconnect()

    pub = raw_client(kumo, version)
    for i in range(3):
        pub.publish("queue/t", f"m{i}".encode(), qos=qos)

    b = raw_client(kumo, version, cid, **persistent(version))
    assert b.connack.session_present is True
    got = b.recv_publishes(3)
    assert [p.payload for p in got] == [b"m0", b"m1", b"m2"], got
    assert all(p.qos == qos for p in got), got


@BOTH
def test_session_takeover(kumo, version):
    """A second connection with the same Client Identifier takes over: the old
    one is closed (v5: after a DISCONNECT with Reason Code 0x8E Session taken
    over) and the new one is accepted.

    v3.1.1 [MQTT-3.1.4-2]: "If the ClientId represents a Client already
    connected to the Server then the Server MUST disconnect the existing
    Client". v5 [MQTT-3.1.4-3]: "the Server sends a DISCONNECT packet to the
    existing Client with Reason Code of 0x8E (Session taken over) ... and MUST
    close the Network Connection of the existing Client"."""
    cid = unique("takeover")
    old = raw_client(kumo, version, cid)
    new = raw_client(kumo, version, cid)
    assert new.connack.reason == 0
    before_close = old.wait_closed(timeout=10)
    if version == 5:
        disconnects = [p for p in before_close if p.type == DISCONNECT]
        assert disconnects and disconnects[-1].reason == 0x8E, before_close
    else:
        assert not [p for p in before_close if p.type == DISCONNECT], \
            "a v3.1.1 server never sends DISCONNECT"
    # the new connection works
    new.subscribe("takeover/t", qos=1)
    pub = raw_client(kumo, version)
    pub.publish("takeover/t", b"x", qos=1)
    assert new.recv_publishes(1)[0].payload == b"x"


def test_assigned_client_identifier_v5(kumo):
    """A v5 CONNECT with a zero-length Client Identifier gets an Assigned
    Client Identifier in the CONNACK, unique per session.

    v5 [MQTT-3.1.3-6], [MQTT-3.1.3-7], [MQTT-3.2.2-16]."""
    a = raw_client(kumo, 5, "", clean=True)
    b = raw_client(kumo, 5, "", clean=True)
    ida = a.connack.props.get("assigned_client_identifier")
    idb = b.connack.props.get("assigned_client_identifier")
    assert ida and idb, (a.connack, b.connack)
    assert ida != idb
    # both are live (neither took the other over)
    a.ping()
    b.ping()


def test_empty_client_id_v311_clean_session(kumo):
    """v3.1.1: a zero-byte ClientId with CleanSession 1 is accepted and given a
    unique id [MQTT-3.1.3-6]: two such clients coexist and both receive."""
    a = raw_client(kumo, 4, "", clean=True)
    b = raw_client(kumo, 4, "", clean=True)
    assert a.connack.reason == 0 and b.connack.reason == 0
    a.subscribe("emptyid/t", qos=1)
    b.subscribe("emptyid/t", qos=1)
    pub = raw_client(kumo, 4)
    pub.publish("emptyid/t", b"both", qos=1)
    assert a.recv_publishes(1)[0].payload == b"both"
    assert b.recv_publishes(1)[0].payload == b"both"


def test_empty_client_id_v311_persistent_rejected(kumo):
    """v3.1.1 [MQTT-3.1.3-8]: "If the Client supplies a zero-byte ClientId with
    CleanSession set to 0, the Server MUST respond to the CONNECT Packet with a
    CONNACK return code 0x02 (Identifier rejected) and then close the Network
    Connection"; Session Present is 0 [MQTT-3.2.2-4]."""
    c = raw_client(kumo, 4, connect=False)
    ack = c.connect("", clean=False, expect_success=False)
    assert ack.reason == 0x02, ack
    assert ack.session_present is False
    c.wait_closed()


def test_paho_connect_both_versions(kumo):
    """A third-party client (paho-mqtt) connects with 3.1.1 and 5 and
    round-trips a message across versions (AWS reference §1.5: cross-version
    delivery works; MQTT v5 Appendix: a server may serve both)."""
    v4 = paho_client(kumo, version=4)
    v5 = paho_client(kumo, version=5)
    v4.subscribe("cross/t", qos=1)
    v5.subscribe("cross/t", qos=1)
    v5.publish("cross/t", b"from5", qos=1)
    v4.publish("cross/t", b"from4", qos=1)
    for c in (v4, v5):
        msgs = c.messages.wait_for(2)
        assert sorted(m.payload for m in msgs) == [b"from4", b"from5"]
