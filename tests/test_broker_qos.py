"""QoS 0/1/2 end to end, redelivery after reconnect, Receive Maximum."""
import pytest

from helpers import (PUBLISH, PUBREL, PUBCOMP, build_ack, paho_client, raw_client, unique)

BOTH = pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])


@BOTH
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_qos_end_to_end_paho(kumo, version, qos):
    """paho publishes at QoS q to a QoS q subscription: the publisher's flow
    completes (PUBACK / PUBREC-PUBREL-PUBCOMP) and the subscriber gets the
    message once at QoS q.

    v3.1.1 §4.3 [MQTT-4.3.2-2], [MQTT-4.3.3-2]; v5 [MQTT-3.3.4-1],
    [MQTT-4.3.2-4], [MQTT-4.3.3-8], [MQTT-4.3.3-11]."""
    sub = paho_client(kumo, version)
    pub = paho_client(kumo, version)
    sub.subscribe("qos/e2e", qos)
    pub.publish("qos/e2e", b"payload-%d" % qos, qos=qos)
    [m] = sub.messages.wait_for(1)
    assert (m.topic, m.payload, m.qos, m.retain) == ("qos/e2e", b"payload-%d" % qos, qos, False)


@BOTH
@pytest.mark.parametrize("pub_qos,sub_qos", [(2, 0), (2, 1), (1, 0), (0, 2), (1, 2)])
def test_delivered_qos_is_minimum(kumo, version, pub_qos, sub_qos):
    """Delivered QoS = min(published QoS, granted QoS), and the SUBACK grants
    the requested QoS here. v3.1.1 [MQTT-3.8.4-6]; v5 [MQTT-3.8.4-8];
    DUP=0 on first delivery: [MQTT-3.3.1-2] (QoS 0) / [MQTT-4.3.2-2],
    [MQTT-4.3.3-2] (v5) ."""
    sub = raw_client(kumo, version)
    ack = sub.subscribe("qos/min", qos=sub_qos)
    assert ack.reasons == [sub_qos], ack
    pub = raw_client(kumo, version)
    pub.publish("qos/min", b"m", qos=pub_qos)
    [p] = sub.recv_publishes(1)
    assert p.qos == min(pub_qos, sub_qos), p
    assert not p.dup, p
    assert (p.packet_id is None) == (p.qos == 0)


@BOTH
def test_qos1_redelivered_with_dup_after_reconnect(kumo, version):
    """An unacknowledged QoS 1 PUBLISH is re-sent on reconnect (Clean Session /
    Clean Start 0) with the original Packet Identifier and DUP = 1.

    v3.1.1 [MQTT-4.4.0-1], [MQTT-3.3.1-1]; v5 [MQTT-4.4.0-1], [MQTT-3.3.1-1]."""
    cid = unique("dup")
    kw = dict(clean=False, props={"session_expiry_interval": 300}) if version == 5 else dict(clean=False)
    a = raw_client(kumo, version, cid, **kw)
    a.subscribe("dup/t", qos=1)
    pub = raw_client(kumo, version)
    pub.publish("dup/t", b"unacked", qos=1)
    [first] = a.recv_publishes(1, ack=False)
    assert first.qos == 1 and not first.dup
    a.close()  # no PUBACK, no DISCONNECT

    b = raw_client(kumo, version, cid, **kw)
    assert b.connack.session_present is True
    [again] = b.recv_publishes(1, ack=False)
    assert again.payload == b"unacked"
    assert again.packet_id == first.packet_id, (first, again)
    assert again.dup is True, again
    b.ack(again)


@BOTH
def test_qos2_pubrel_resent_after_reconnect(kumo, version):
    """A QoS 2 delivery that got PUBREC but whose PUBREL was not completed:
    on reconnect the server re-sends PUBREL (same Packet Identifier), not the
    PUBLISH. v3.1.1 [MQTT-4.4.0-1], [MQTT-4.3.3-1] ("MUST NOT re-send the
    PUBLISH once it has sent the corresponding PUBREL"); v5 [MQTT-4.4.0-1],
    [MQTT-4.3.3-6]."""
    cid = unique("rel")
    kw = dict(clean=False, props={"session_expiry_interval": 300}) if version == 5 else dict(clean=False)
    a = raw_client(kumo, version, cid, **kw)
    a.subscribe("rel/t", qos=2)
    pub = raw_client(kumo, version)
    pub.publish("rel/t", b"q2", qos=2)
    [p] = a.recv_publishes(1, ack=False)
    assert p.qos == 2
    a.ack(p)  # PUBREC
    rel = a.expect(PUBREL)
    assert rel.packet_id == p.packet_id and rel.flags == 0x2
    a.close()  # no PUBCOMP

    b = raw_client(kumo, version, cid, **kw)
    assert b.connack.session_present is True
    again = b.recv()
    assert again.type == PUBREL, f"expected the PUBREL to be re-sent, got {again!r}"
    assert again.packet_id == p.packet_id
    b.send(build_ack(PUBCOMP, version, again.packet_id))
    # and nothing else is pending: a fresh message comes through normally
    pub.publish("rel/t", b"next", qos=1)
    [n] = b.recv_publishes(1)
    assert n.payload == b"next"


def test_receive_maximum_v5(kumo):
    """A v5 client with Receive Maximum 2 never has more than 2 unacknowledged
    QoS 1 PUBLISHes outstanding; the rest arrive as it acknowledges, in order.

    v5 [MQTT-3.3.4-9]: "The Server MUST NOT send more than Receive Maximum
    QoS 1 and QoS 2 PUBLISH packets for which it has not received PUBACK,
    PUBCOMP, or PUBREC with a Reason Code of 128 or greater from the Client";
    [MQTT-4.9.0-2]; order [MQTT-4.6.0-5]."""
    n = 6
    sub = raw_client(kumo, 5, props={"receive_maximum": 2})
    sub.subscribe("rm/t", qos=1)
    pub = raw_client(kumo, 5)
    for i in range(n):
        pub.publish("rm/t", f"m{i}".encode(), qos=1)  # waits for each PUBACK

    outstanding = []
    received = []
    first_window_checked = False
    while len(received) < n:
        p = sub.recv()
        assert p.type == PUBLISH, p
        received.append(p)
        outstanding.append(p)
        assert len(outstanding) <= 2, f"{len(outstanding)} unacked QoS 1 PUBLISHes: {outstanding}"
        if len(outstanding) == 2:
            if not first_window_checked:
                # Give a violating third PUBLISH a chance to show up.
                extra = sub.quiet(0.5)
                assert not extra, f"PUBLISH beyond Receive Maximum 2: {extra}"
                first_window_checked = True
            sub.ack(outstanding.pop(0))
    for p in outstanding:
        sub.ack(p)
    assert [p.payload for p in received] == [f"m{i}".encode() for i in range(n)]
