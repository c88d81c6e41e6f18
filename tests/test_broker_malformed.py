"""Malformed input and protocol errors: the offending connection is closed
(v5: after a DISCONNECT with the right Reason Code), and the broker keeps
serving everyone else.

v5 [MQTT-4.13.1-1]: "When a Server detects a Malformed Packet or Protocol
Error, and a Reason Code is given in the specification, it MUST close the
Network Connection"; §4.13.1: "In the case of an error in any other packet
[than CONNECT] it SHOULD send a DISCONNECT packet containing the reason code
before closing". Kumo implements that SHOULD, so these tests require the
DISCONNECT. v3.1.1 [MQTT-4.8.0-1]: the server MUST close the Network
Connection on a protocol violation (and v3.1.1 has no server DISCONNECT).
"""
import pytest

from helpers import (CONNACK, DISCONNECT, PUBLISH, build_connect, build_publish,
                     build_subscribe, fixed, raw_client, raw_socket, RawClient, u16, unique,
                     utf8, SUBSCRIBE, UNSUBSCRIBE)

BOTH = pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])

MALFORMED, PROTOCOL_ERROR, TOO_LARGE = 0x81, 0x82, 0x95


class Bystander:
    """A subscriber/publisher pair whose traffic must keep flowing."""

    def __init__(self, kumo, version):
        self.topic = unique("bystander") + "/t"
        self.sub = raw_client(kumo, version)
        self.sub.subscribe(self.topic, qos=1)
        self.pub = raw_client(kumo, version)
        self.n = 0
        self.check()

    def check(self):
        self.n += 1
        payload = f"alive-{self.n}".encode()
        self.pub.publish(self.topic, payload, qos=1)
        [p] = self.sub.recv_publishes(1)
        assert p.payload == payload


def _assert_dropped(kumo, victim, version, reason, bystander):
    closing = victim.wait_closed()
    if version == 5:
        discs = [p for p in closing if p.type == DISCONNECT]
        assert discs, f"v5: expected DISCONNECT {reason} before the close, got {closing}"
        allowed = reason if isinstance(reason, tuple) else (reason,)
        assert discs[-1].reason in allowed, \
            f"v5: DISCONNECT reason 0x{discs[-1].reason:02x}, expected {[hex(r) for r in allowed]}"
    else:
        assert not [p for p in closing if p.type == DISCONNECT], closing
    bystander.check()
    assert kumo.alive()


@BOTH
def test_truncated_packet_body(kumo, version):
    """A PUBLISH whose Topic Name length runs past the Remaining Length is a
    Malformed Packet (v5 §1.5.4 / §2.1.4, Reason Code 0x81; v3.1.1
    [MQTT-4.8.0-1])."""
    by = Bystander(kumo, version)
    c = raw_client(kumo, version)
    c.send(fixed(PUBLISH, 0, u16(50) + b"short"))  # says 50 bytes of topic, has 5
    _assert_dropped(kumo, c, version, MALFORMED, by)


@BOTH
def test_truncated_then_eof(kumo, version):
    """A connection that dies in the middle of a packet is just a closed
    connection: the broker and other clients carry on."""
    by = Bystander(kumo, version)
    c = raw_client(kumo, version)
    c.send(build_publish(version, "trunc/t", b"x" * 100, qos=1, packet_id=1)[:20])
    c.close()
    by.check()
    assert kumo.alive()


@BOTH
def test_remaining_length_over_four_bytes(kumo, version):
    """A Remaining Length with a fifth byte is malformed (v5 §1.5.5: at most
    4 bytes; v3.1.1 §2.2.3). The value bits are all zero so no size limit is
    crossed on the way."""
    by = Bystander(kumo, version)
    c = raw_client(kumo, version)
    c.send(bytes([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]) + b"\x00" * 8)
    _assert_dropped(kumo, c, version, MALFORMED, by)


@BOTH
@pytest.mark.parametrize("ptype,flags", [(SUBSCRIBE, 0x0), (UNSUBSCRIBE, 0x0), (SUBSCRIBE, 0x3)],
                         ids=["subscribe-0", "unsubscribe-0", "subscribe-3"])
def test_wrong_fixed_header_flags(kumo, version, ptype, flags):
    """SUBSCRIBE / UNSUBSCRIBE must have fixed-header flags 0010.
    v3.1.1 [MQTT-3.8.1-1], [MQTT-3.10.1-1], [MQTT-2.2.2-2]; v5 [MQTT-3.8.1-1],
    [MQTT-3.10.1-1]: "The Server MUST treat any other value as malformed and
    close the Network Connection"."""
    by = Bystander(kumo, version)
    c = raw_client(kumo, version)
    body = u16(1) + (b"\x00" if version == 5 else b"") + utf8("flags/t")
    if ptype == SUBSCRIBE:
        body += b"\x00"
    c.send(fixed(ptype, flags, body))
    _assert_dropped(kumo, c, version, MALFORMED, by)


@BOTH
@pytest.mark.parametrize("topic", [b"bad/\xff\xfe", b"bad/\xed\xa0\x80", b"bad/\x00nul"],
                         ids=["invalid-utf8", "surrogate", "nul"])
def test_invalid_topic_encoding(kumo, version, topic):
    """Ill-formed UTF-8 (incl. an encoded surrogate) or U+0000 in a Topic Name
    is a Malformed Packet. v3.1.1 [MQTT-1.5.3-1], [MQTT-1.5.3-2]
    ("...it MUST close the Network Connection"); v5 [MQTT-1.5.4-1],
    [MQTT-1.5.4-2], [MQTT-4.7.3-2]."""
    by = Bystander(kumo, version)
    c = raw_client(kumo, version)
    c.send(build_publish(version, topic, b"x", qos=0))
    _assert_dropped(kumo, c, version, MALFORMED, by)


@BOTH
def test_publish_qos_3(kumo, version):
    """A PUBLISH with both QoS bits set. v3.1.1 [MQTT-3.3.1-4]: "If a Server
    or Client receives a PUBLISH Packet which has both QoS bits set to 1 it
    MUST close the Network Connection"; v5 [MQTT-3.3.1-4] (a Malformed
    Packet, 0x81)."""
    by = Bystander(kumo, version)
    c = raw_client(kumo, version)
    c.send(build_publish(version, "qos3/t", b"x", flags=0x06, packet_id=1))
    _assert_dropped(kumo, c, version, MALFORMED, by)


@BOTH
def test_wildcard_in_topic_name(kumo, version):
    """A Topic Name with a wildcard character: v3.1.1 [MQTT-3.3.2-2] (protocol
    violation, [MQTT-4.8.0-1]); v5 [MQTT-3.3.2-2]. The v5 spec names no
    single code for this case, so 0x90 Topic Name invalid (Table 2-6),
    0x81 Malformed Packet and 0x82 Protocol Error are all accepted."""
    by = Bystander(kumo, version)
    c = raw_client(kumo, version)
    c.send(build_publish(version, "wild/+/t", b"x", qos=0))
    _assert_dropped(kumo, c, version, (0x90, MALFORMED, PROTOCOL_ERROR), by)


@BOTH
def test_second_connect(kumo, version):
    """A second CONNECT on the same connection. v3.1.1 [MQTT-3.1.0-2] ("MUST
    process a second CONNECT Packet ... as a protocol violation and disconnect
    the Client"); v5 [MQTT-3.1.0-2] (Protocol Error, 0x82)."""
    by = Bystander(kumo, version)
    c = raw_client(kumo, version)
    c.send(build_connect(version, c.client_id))
    _assert_dropped(kumo, c, version, PROTOCOL_ERROR, by)


@BOTH
def test_subscribe_without_filters(kumo, version):
    """A SUBSCRIBE with no Topic Filter. v3.1.1 [MQTT-3.8.3-3] ("A SUBSCRIBE
    packet with no payload is a protocol violation"); v5 [MQTT-3.8.3-2]
    (§3.8.3: "A SUBSCRIBE packet with no Payload is a Protocol Error")."""
    by = Bystander(kumo, version)
    c = raw_client(kumo, version)
    c.send(build_subscribe(version, 1, []))
    _assert_dropped(kumo, c, version, PROTOCOL_ERROR, by)


@BOTH
def test_subscribe_reserved_option_bits(kumo, version):
    """Reserved bits in the subscription options byte / requested QoS 3.
    v3.1.1 [MQTT-3-8.3-4]; v5 [MQTT-3.8.3-5] (malformed, 0x81)."""
    by = Bystander(kumo, version)
    c = raw_client(kumo, version)
    c.send(build_subscribe(version, 1, [("opts/t", 0xC1)]))
    _assert_dropped(kumo, c, version, MALFORMED, by)


@BOTH
def test_oversized_packet(kumo_factory, version):
    """Above the configured max_packet_size (4096): v5 DISCONNECT 0x95
    (§3.2.2.3.6), v3.1.1 closed.

    Kumo-specific on top of the spec: the limit is enforced from the fixed
    header alone (design guide, habit 4 "Limits in the codec"), so the body is
    never sent here, yet the server must answer. (For the spec-only version
    that sends the whole packet see test_broker_mqtt5.py.)"""
    kumo = kumo_factory("[mqtt]\nmax_packet_size = 4096\n")
    by = Bystander(kumo, version)
    c = raw_client(kumo, version)
    # fixed header announcing a 1 MiB PUBLISH, and only the first bytes of it
    c.send(bytes([0x30]) + bytes([0x80, 0x80, 0x40]) + utf8("big/t"))
    _assert_dropped(kumo, c, version, TOO_LARGE, by)


def test_first_packet_not_connect(kumo):
    """[MQTT-3.1.0-1] (both versions): the first packet MUST be CONNECT; the
    server closes the connection and sends no CONNACK."""
    by = Bystander(kumo, 5)
    c = RawClient(raw_socket(kumo), 5)
    c.send(build_publish(4, "early/t", b"x", qos=0))
    closing = c.wait_closed()
    assert not [p for p in closing if p.type == CONNACK], closing
    by.check()


@BOTH
def test_connect_reserved_flag(kumo, version):
    """CONNECT with the reserved flag set. v3.1.1 [MQTT-3.1.2-3]: the Server
    MUST disconnect the Client; v5 [MQTT-3.1.2-3]: a Malformed Packet; the
    server MAY send CONNACK 0x81 first ([MQTT-3.1.4-1], §4.13.1)."""
    by = Bystander(kumo, version)
    c = RawClient(raw_socket(kumo), version)
    c.send(build_connect(version, unique("rsv"), reserved_flag=True))
    closing = c.wait_closed()
    for p in closing:
        assert version == 5 and p.type == CONNACK and p.reason == MALFORMED, closing
    by.check()


def test_unsupported_protocol_level(kumo):
    """CONNECT with Protocol Level 6. v3.1.1 [MQTT-3.1.2-2]: CONNACK 0x01
    (unacceptable protocol level) then close; v5 [MQTT-3.1.2-2]: MAY send
    CONNACK 0x84 then MUST close. Either CONNACK form is accepted; the
    connection must close."""
    by = Bystander(kumo, 4)
    c = RawClient(raw_socket(kumo), 4)
    c.send(build_connect(4, unique("lvl"), protocol_level=6))
    try:
        first = c.recv()
    except Exception:
        first = None  # closed without a CONNACK: allowed by v5
    if first is not None:
        assert first.type == CONNACK, first
        assert first.body[1] in (0x01, 0x84), first.body
        c.wait_closed()
    by.check()
