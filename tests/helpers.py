"""Client-side helpers for Kumo's black-box tests.

* ``paho_client(server, version=5, ...)`` -> ``PahoClient``: a connected
  paho-mqtt client (CONNACK awaited on a ``threading.Event``), with a
  ``Collector`` of received messages.
* ``Collector``: records messages; ``wait_for(n, timeout)`` waits on a
  ``threading.Condition``.
* ``raw_socket(server, transport="tcp")``: a connected socket (TCP, or TLS on
  the tls/alpn listener) for hand-made packets.
* ``RawClient(sock, version)`` / ``raw_client(server, version, ...)``: a tiny
  byte-level MQTT 3.1.1 / 5.0 client: build CONNECT, PUBLISH, SUBSCRIBE, ...
  (also deliberately broken ones) and read back packets (fixed header +
  Remaining Length varint + body, decoded into a ``Packet``).
* ``make_kit(kumo, thing, label)``: ``kumo kit THING`` unpacked, for clients
  that connect as a device would.

Nothing here sleeps to synchronise: every wait is on an event, a condition or
a socket read, each with a deadline.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import ssl
import struct
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

DEFAULT_TIMEOUT = 10.0
ALPN_MQTT = "x-amzn-mqtt-ca"

_open_lock = threading.Lock()
_open: list = []  # every client/socket made here; closed by close_all()


def _track(obj):
    with _open_lock:
        _open.append(obj)
    return obj


def close_all() -> None:
    """Close every client and socket the helpers created (fixture teardown)."""
    with _open_lock:
        objs = list(_open)
        _open.clear()
    for o in objs:
        try:
            o.close()
        except Exception:
            pass


def make_kit(kumo, thing="raspi2", label: str | None = None) -> tuple[Path, dict]:
    """``kumo kit THING`` (endpoint localhost, the server's TLS port),
    unpacked into ``workdir/LABEL`` (default ``THING-kit``) with the zip's
    file modes; returns the directory and the kit's JSON summary (plus
    ``modes``). Each call makes a new certificate for the thing."""
    label = label or f"{thing}-kit"
    z = kumo.workdir / f"{label}.zip"
    out = kumo.cli("kit", thing, "--out", str(z), "--endpoint", "localhost", "--port",
                   str(kumo.tls_port), "--output", "json")
    info = json.loads(out.stdout)
    d = kumo.workdir / label
    with zipfile.ZipFile(z) as zf:
        zf.extractall(d)
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
    for name, mode in modes.items():
        os.chmod(d / name, mode)
    info["modes"] = modes
    return d, info


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ==========================================================================
# Transport
# ==========================================================================

def tls_context(server, cert=None, alpn: list[str] | None = None) -> ssl.SSLContext:
    """Client TLS context trusting Kumo's root CA. ``cert`` is a
    ``(cert_path, key_path)`` pair or None (no client certificate)."""
    ctx = ssl.create_default_context(cafile=str(server.ca_file))
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def _port(server, transport: str) -> int:
    port = {"tcp": server.tcp_port, "tls": server.tls_port, "alpn": server.alpn_port}[transport]
    assert port, f"server has no {transport} listener"
    return port


def raw_socket(server, transport: str = "tcp", cert=None, server_hostname: str = "localhost",
               timeout: float = DEFAULT_TIMEOUT) -> socket.socket:
    """A connected socket to ``server``. For "tls"/"alpn" a client certificate
    is issued automatically unless ``cert`` is given (pass ``cert=False`` for
    none). TLS connects to 127.0.0.1 but sends SNI ``server_hostname``."""
    sock = socket.create_connection((server.host, _port(server, transport)), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if transport in ("tls", "alpn"):
        if cert is None:
            cert = server.issue_cert(unique("dev"))
        ctx = tls_context(server, cert or None, [ALPN_MQTT] if transport == "alpn" else None)
        try:
            sock = ctx.wrap_socket(sock, server_hostname=server_hostname)
        except Exception:
            sock.close()
            raise
    return _track(sock)


# ==========================================================================
# Byte-level MQTT
# ==========================================================================

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = range(8, 16)
PACKET_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC",
                6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE",
                11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}

# MQTT 5 properties (§2.2.2.2): name -> (identifier, type)
PROPS = {
    "payload_format_indicator": (0x01, "byte"),
    "message_expiry_interval": (0x02, "u32"),
    "content_type": (0x03, "utf8"),
    "response_topic": (0x08, "utf8"),
    "correlation_data": (0x09, "bin"),
    "subscription_identifier": (0x0B, "varint"),
    "session_expiry_interval": (0x11, "u32"),
    "assigned_client_identifier": (0x12, "utf8"),
    "server_keep_alive": (0x13, "u16"),
    "authentication_method": (0x15, "utf8"),
    "authentication_data": (0x16, "bin"),
    "request_problem_information": (0x17, "byte"),
    "will_delay_interval": (0x18, "u32"),
    "request_response_information": (0x19, "byte"),
    "response_information": (0x1A, "utf8"),
    "server_reference": (0x1C, "utf8"),
    "reason_string": (0x1F, "utf8"),
    "receive_maximum": (0x21, "u16"),
    "topic_alias_maximum": (0x22, "u16"),
    "topic_alias": (0x23, "u16"),
    "maximum_qos": (0x24, "byte"),
    "retain_available": (0x25, "byte"),
    "user_property": (0x26, "pair"),
    "maximum_packet_size": (0x27, "u32"),
    "wildcard_subscription_available": (0x28, "byte"),
    "subscription_identifier_available": (0x29, "byte"),
    "shared_subscription_available": (0x2A, "byte"),
}
PROP_BY_ID = {pid: (name, typ) for name, (pid, typ) in PROPS.items()}
# Properties that may appear more than once: decoded as lists.
MULTI = {"user_property", "subscription_identifier"}


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def u16(n: int) -> bytes:
    return struct.pack(">H", n)


def u32(n: int) -> bytes:
    return struct.pack(">I", n)


def utf8(s) -> bytes:
    """Length-prefixed string. ``bytes`` are sent as given (for malformed input)."""
    b = s if isinstance(s, (bytes, bytearray)) else s.encode("utf-8")
    return u16(len(b)) + bytes(b)


def binary(b: bytes) -> bytes:
    return u16(len(b)) + bytes(b)


def encode_props(props) -> bytes:
    """``props``: dict name -> value (lists for repeatable ones) or a list of
    (name, value) pairs (keeps order; a name may repeat). ``user_property``
    values are (key, value) pairs."""
    if props is None:
        items = []
    elif isinstance(props, dict):
        items = []
        for name, value in props.items():
            if name in MULTI and isinstance(value, list):
                items.extend((name, v) for v in value)
            else:
                items.append((name, value))
    else:
        items = list(props)
    body = bytearray()
    for name, value in items:
        pid, typ = PROPS[name]
        body += varint(pid)
        if typ == "byte":
            body.append(value)
        elif typ == "u16":
            body += u16(value)
        elif typ == "u32":
            body += u32(value)
        elif typ == "varint":
            body += varint(value)
        elif typ == "utf8":
            body += utf8(value)
        elif typ == "bin":
            body += binary(value)
        elif typ == "pair":
            body += utf8(value[0]) + utf8(value[1])
    return varint(len(body)) + bytes(body)


def fixed(ptype: int, flags: int, body: bytes) -> bytes:
    return bytes([(ptype << 4) | (flags & 0x0F)]) + varint(len(body)) + body


def sub_opts(qos: int = 0, no_local: bool = False, rap: bool = False, rh: int = 0) -> int:
    """MQTT 5 Subscription Options byte (§3.8.3.1)."""
    return qos | (0x04 if no_local else 0) | (0x08 if rap else 0) | (rh << 4)


def build_connect(version: int, client_id="", *, clean=True, keepalive=60, props=None,
                  will: dict | None = None, username=None, password=None,
                  reserved_flag=False, protocol_level: int | None = None,
                  protocol_name=b"MQTT") -> bytes:
    """CONNECT. ``will`` = dict(topic, payload, qos=0, retain=False, props=None (v5))."""
    flags = 0
    if clean:
        flags |= 0x02
    if will is not None:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
    if password is not None:
        flags |= 0x40
    if username is not None:
        flags |= 0x80
    if reserved_flag:
        flags |= 0x01
    vh = utf8(protocol_name) + bytes([protocol_level or version, flags]) + u16(keepalive)
    if version == 5:
        vh += encode_props(props)
    payload = utf8(client_id)
    if will is not None:
        if version == 5:
            payload += encode_props(will.get("props"))
        payload += utf8(will["topic"]) + binary(_b(will.get("payload", b"")))
    if username is not None:
        payload += utf8(username)
    if password is not None:
        payload += binary(_b(password))
    return fixed(CONNECT, 0, vh + payload)


def _b(x) -> bytes:
    return x.encode() if isinstance(x, str) else bytes(x)


def build_publish(version: int, topic, payload=b"", *, qos=0, retain=False, dup=False,
                  packet_id: int | None = None, props=None, flags: int | None = None) -> bytes:
    if flags is None:
        flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = utf8(topic)
    if qos > 0 or (flags >> 1) & 3:
        body += u16(packet_id if packet_id is not None else 1)
    if version == 5:
        body += encode_props(props)
    return fixed(PUBLISH, flags, body + _b(payload))


def build_subscribe(version: int, packet_id: int, filters, *, props=None, flags=0x02) -> bytes:
    """``filters``: list of (filter, options byte) — for v4 the byte is the QoS."""
    body = u16(packet_id)
    if version == 5:
        body += encode_props(props)
    for f, opts in filters:
        body += utf8(f) + bytes([opts])
    return fixed(SUBSCRIBE, flags, body)


def build_unsubscribe(version: int, packet_id: int, filters, *, props=None) -> bytes:
    body = u16(packet_id)
    if version == 5:
        body += encode_props(props)
    for f in filters:
        body += utf8(f)
    return fixed(UNSUBSCRIBE, 0x02, body)


def build_ack(ptype: int, version: int, packet_id: int, reason: int | None = None,
              props=None) -> bytes:
    """PUBACK / PUBREC / PUBREL / PUBCOMP."""
    body = u16(packet_id)
    if version == 5 and (reason is not None or props):
        body += bytes([reason or 0])
        if props:
            body += encode_props(props)
    return fixed(ptype, 0x02 if ptype == PUBREL else 0, body)


def build_disconnect(version: int, reason: int | None = None, props=None) -> bytes:
    body = b""
    if version == 5 and (reason is not None or props):
        body = bytes([reason or 0]) + (encode_props(props) if props else b"")
    return fixed(DISCONNECT, 0, body)


PINGREQ_BYTES = fixed(PINGREQ, 0, b"")


# -- decoding ----------------------------------------------------------------

class Reader:
    def __init__(self, data: bytes):
        self.d = data
        self.i = 0

    def left(self) -> int:
        return len(self.d) - self.i

    def byte(self) -> int:
        v = self.d[self.i]
        self.i += 1
        return v

    def u16(self) -> int:
        v = struct.unpack_from(">H", self.d, self.i)[0]
        self.i += 2
        return v

    def u32(self) -> int:
        v = struct.unpack_from(">I", self.d, self.i)[0]
        self.i += 4
        return v

    def varint(self) -> int:
        mult, val = 1, 0
        for _ in range(4):
            b = self.byte()
            val += (b & 0x7F) * mult
            if not b & 0x80:
                return val
            mult *= 128
        raise ValueError("varint longer than 4 bytes")

    def bin(self) -> bytes:
        n = self.u16()
        v = self.d[self.i:self.i + n]
        if len(v) != n:
            raise ValueError("truncated")
        self.i += n
        return bytes(v)

    def utf8(self) -> str:
        return self.bin().decode("utf-8")

    def rest(self) -> bytes:
        v = self.d[self.i:]
        self.i = len(self.d)
        return bytes(v)

    def props(self) -> dict:
        n = self.varint()
        end = self.i + n
        out: dict = {}
        while self.i < end:
            pid = self.varint()
            name, typ = PROP_BY_ID[pid]
            if typ == "byte":
                v = self.byte()
            elif typ == "u16":
                v = self.u16()
            elif typ == "u32":
                v = self.u32()
            elif typ == "varint":
                v = self.varint()
            elif typ == "utf8":
                v = self.utf8()
            elif typ == "bin":
                v = self.bin()
            else:
                v = (self.utf8(), self.utf8())
            if name in MULTI:
                out.setdefault(name, []).append(v)
            else:
                out[name] = v
        return out


@dataclass
class Packet:
    type: int
    flags: int
    body: bytes
    version: int
    # decoded fields (those that apply to the type)
    packet_id: int | None = None
    reason: int | None = None          # v5 reason code / v4 CONNACK return code
    reasons: list = field(default_factory=list)  # SUBACK / UNSUBACK
    session_present: bool | None = None
    topic: str | None = None
    payload: bytes | None = None
    props: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return PACKET_NAMES.get(self.type, f"type{self.type}")

    @property
    def qos(self) -> int:
        return (self.flags >> 1) & 3

    @property
    def retain(self) -> bool:
        return bool(self.flags & 1)

    @property
    def dup(self) -> bool:
        return bool(self.flags & 8)

    def __repr__(self):
        bits = [self.name]
        if self.type == PUBLISH:
            bits.append(f"topic={self.topic!r} qos={self.qos} retain={int(self.retain)} "
                        f"dup={int(self.dup)} payload={self.payload[:60]!r}")
        if self.packet_id is not None:
            bits.append(f"id={self.packet_id}")
        if self.reason is not None:
            bits.append(f"reason=0x{self.reason:02x}")
        if self.reasons:
            bits.append(f"reasons={[hex(r) for r in self.reasons]}")
        if self.session_present is not None:
            bits.append(f"session_present={int(self.session_present)}")
        if self.props:
            bits.append(f"props={self.props}")
        return "<" + " ".join(bits) + ">"


def decode(ptype: int, flags: int, body: bytes, version: int) -> Packet:
    p = Packet(ptype, flags, body, version)
    r = Reader(body)
    if ptype == CONNACK:
        p.session_present = bool(r.byte() & 1)
        p.reason = r.byte()
        if version == 5 and r.left():
            p.props = r.props()
    elif ptype == PUBLISH:
        p.topic = r.utf8()
        if p.qos > 0:
            p.packet_id = r.u16()
        if version == 5:
            p.props = r.props()
        p.payload = r.rest()
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        p.packet_id = r.u16()
        if version == 5:
            p.reason = r.byte() if r.left() else 0
            if r.left():
                p.props = r.props()
    elif ptype in (SUBACK, UNSUBACK):
        p.packet_id = r.u16()
        if version == 5:
            p.props = r.props()
        p.reasons = list(r.rest())
    elif ptype in (DISCONNECT, AUTH):
        if version == 5:
            p.reason = r.byte() if r.left() else 0
            if r.left():
                p.props = r.props()
    return p


class Closed(Exception):
    """The peer closed the connection (EOF or reset)."""


class RawClient:
    """Byte-level MQTT client over a connected socket. Never acknowledges
    anything by itself: the test decides what to send."""

    def __init__(self, sock: socket.socket, version: int = 5):
        self.sock = sock
        self.version = version
        self.buf = bytearray()
        self.eof = False
        self.pending: list[Packet] = []  # PUBLISH/PUBREL read while expecting an ack
        self._ids = itertools.count(1)
        _track(self)

    # -- I/O ---------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data before the deadline")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data before the deadline") from None
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, ssl.SSLEOFError) as e:
            self.eof = True
            raise Closed(repr(e)) from None
        if not chunk:
            self.eof = True
            raise Closed("EOF")
        self.buf += chunk

    def _try_parse(self) -> Packet | None:
        if len(self.buf) < 2:
            return None
        mult, length, i = 1, 0, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
            if i > 4:
                raise ValueError(f"server sent a malformed Remaining Length: {bytes(self.buf[:8])!r}")
        if len(self.buf) < i + length:
            return None
        first = self.buf[0]
        body = bytes(self.buf[i:i + length])
        del self.buf[:i + length]
        return decode(first >> 4, first & 0x0F, body, self.version)

    def recv(self, timeout: float = DEFAULT_TIMEOUT) -> Packet:
        """Next packet. Raises TimeoutError, or Closed if the peer closed first."""
        if self.pending:
            return self.pending.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            p = self._try_parse()
            if p is not None:
                return p
            if self.eof:
                raise Closed("EOF")
            self._fill(deadline)

    def expect(self, ptype: int, timeout: float = DEFAULT_TIMEOUT, skip=(PINGRESP,)) -> Packet:
        """Next packet of type ``ptype``. PINGRESP is skipped; PUBLISH / PUBREL
        packets that arrive first are kept for the next ``recv`` (a server may
        deliver a message before it acknowledges ours)."""
        deadline = time.monotonic() + timeout
        stash = []
        try:
            return self._expect(ptype, deadline, timeout, skip, stash)
        finally:
            self.pending[:0] = stash

    def _expect(self, ptype, deadline, timeout, skip, stash) -> Packet:
        while True:
            try:
                p = self.recv(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise AssertionError(f"no {PACKET_NAMES[ptype]} within {timeout}s") from None
            except Closed:
                raise AssertionError(f"connection closed while waiting for {PACKET_NAMES[ptype]}") from None
            if p.type in skip and p.type != ptype:
                continue
            if p.type in (PUBLISH, PUBREL) and ptype not in (PUBLISH, PUBREL):
                stash.append(p)
                continue
            assert p.type == ptype, f"expected {PACKET_NAMES[ptype]}, got {p!r}"
            return p

    def recv_publishes(self, n: int, timeout: float = DEFAULT_TIMEOUT, ack=True) -> list[Packet]:
        """Read until ``n`` PUBLISHes arrived (acking QoS 1/2 if ``ack``)."""
        deadline = time.monotonic() + timeout
        got = []
        while len(got) < n:
            try:
                p = self.recv(max(0.0, deadline - time.monotonic()))
            except (TimeoutError, Closed) as e:
                raise AssertionError(f"got {len(got)} of {n} PUBLISHes: {got} ({e!r})") from None
            if p.type == PUBLISH:
                got.append(p)
                if ack:
                    self.ack(p)
            elif p.type == PUBREL and ack:
                self.send(build_ack(PUBCOMP, self.version, p.packet_id))
        return got

    def quiet(self, window: float) -> list[Packet]:
        """Packets that arrive within ``window`` seconds (nothing acked).
        Only for asserting that something does *not* happen where no barrier
        is possible; the window bounds the check, it is not synchronisation."""
        deadline = time.monotonic() + window
        got = []
        while True:
            try:
                got.append(self.recv(max(0.0, deadline - time.monotonic())))
            except (TimeoutError, Closed):
                return got

    def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> list[Packet]:
        """Wait until the peer closes; returns the packets that came first.
        Fails if the connection is still open at the deadline."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            try:
                got.append(self.recv(max(0.0, deadline - time.monotonic())))
            except Closed:
                return got
            except TimeoutError:
                raise AssertionError(f"connection still open after {timeout}s; "
                                     f"received {got}") from None
            except ValueError as e:  # garbage from the server
                raise AssertionError(str(e)) from None

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # -- packet conveniences -------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids) % 65535 + 1

    def connect(self, client_id: str = "", *, expect_success=True, timeout=DEFAULT_TIMEOUT,
                **kw) -> Packet:
        """Send CONNECT (see ``build_connect``) and return the CONNACK."""
        self.send(build_connect(self.version, client_id, **kw))
        ack = self.expect(CONNACK, timeout)
        if expect_success:
            assert ack.reason == 0, f"CONNECT refused: {ack!r}"
        return ack

    def subscribe(self, *filters, qos: int = 0, props=None, packet_id=None,
                  expect_success=True) -> Packet:
        """``subscribe("a/b", ("c/#", sub_opts(1, no_local=True)), qos=1)``:
        bare strings use ``qos``. Returns the SUBACK."""
        pid = packet_id or self.next_id()
        pairs = [(f, qos) if isinstance(f, str) else f for f in filters]
        self.send(build_subscribe(self.version, pid, pairs, props=props))
        ack = self.expect(SUBACK)
        assert ack.packet_id == pid, f"SUBACK id {ack.packet_id} != {pid} [MQTT-3.8.4-2]"
        if expect_success:
            assert all(r < 0x80 for r in ack.reasons), f"subscription refused: {ack!r}"
        return ack

    def unsubscribe(self, *filters, props=None) -> Packet:
        pid = self.next_id()
        self.send(build_unsubscribe(self.version, pid, list(filters), props=props))
        ack = self.expect(UNSUBACK)
        assert ack.packet_id == pid
        return ack

    def publish(self, topic, payload=b"", *, qos=0, retain=False, props=None,
                packet_id=None, wait=True) -> Packet | None:
        """PUBLISH; for QoS 1 waits for PUBACK, for QoS 2 runs PUBREC/PUBREL/PUBCOMP
        (unless ``wait=False``). Returns the last ack (or None for QoS 0)."""
        pid = packet_id or (self.next_id() if qos else None)
        self.send(build_publish(self.version, topic, payload, qos=qos, retain=retain,
                                packet_id=pid, props=props))
        if qos == 0 or not wait:
            return None
        if qos == 1:
            ack = self.expect(PUBACK)
            assert ack.packet_id == pid
            return ack
        rec = self.expect(PUBREC)
        assert rec.packet_id == pid
        if self.version == 5 and rec.reason >= 0x80:
            return rec
        self.send(build_ack(PUBREL, self.version, pid))
        comp = self.expect(PUBCOMP)
        assert comp.packet_id == pid
        return comp

    def ack(self, p: Packet) -> None:
        """Acknowledge a received PUBLISH (PUBACK for QoS 1, PUBREC for QoS 2)."""
        if p.qos == 1:
            self.send(build_ack(PUBACK, self.version, p.packet_id))
        elif p.qos == 2:
            self.send(build_ack(PUBREC, self.version, p.packet_id))

    def ping(self) -> None:
        self.send(PINGREQ_BYTES)
        self.expect(PINGRESP)

    def disconnect(self, reason: int | None = None, props=None, wait: float = 5.0) -> None:
        """Send DISCONNECT, half-close, and wait (up to ``wait`` s) for the
        server to close its side, which it SHOULD do (v3.1.1 / v5 §3.14.4).
        Once it has, the server has processed the DISCONNECT, so a following
        connection with the same Client Identifier is not a takeover of a
        still-open connection (which would legitimately publish a will or
        report Session Present = 1)."""
        self.send(build_disconnect(self.version, reason, props))
        try:
            # Half-close plain TCP only: SSLSocket.shutdown() drops the TLS
            # layer, after which recv() returns raw TLS records (the
            # server's close_notify), which do not parse as MQTT.
            if not isinstance(self.sock, ssl.SSLSocket):
                self.sock.shutdown(socket.SHUT_WR)
            self.quiet_until_closed(wait)
        except OSError:
            pass
        self.close()

    def quiet_until_closed(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.recv(max(0.0, deadline - time.monotonic()))
            except (TimeoutError, Closed, ValueError):
                return


def raw_client(server, version: int = 5, client_id: str | None = None, *, transport="tcp",
               connect=True, cert=None, **connect_kw) -> RawClient:
    """A ``RawClient`` on a fresh socket, CONNECTed (CONNACK checked) unless
    ``connect=False``. The CONNACK is kept as ``.connack``."""
    c = RawClient(raw_socket(server, transport, cert=cert), version)
    c.client_id = client_id if client_id is not None else unique("raw")
    c.connack = None
    if connect:
        c.connack = c.connect(c.client_id, **connect_kw)
    return c


# ==========================================================================
# paho-mqtt
# ==========================================================================

@dataclass
class Msg:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    props: dict
    received_at: float


def paho_props_to_dict(props) -> dict:
    if props is None:
        return {}
    out = {}
    for name in ("PayloadFormatIndicator", "MessageExpiryInterval", "ContentType",
                 "ResponseTopic", "CorrelationData", "SubscriptionIdentifier", "UserProperty",
                 "TopicAlias"):
        if hasattr(props, name):
            out[name] = getattr(props, name)
    return out


class Collector:
    """Thread-safe record of received messages."""

    def __init__(self):
        self.messages: list[Msg] = []
        self.cond = threading.Condition()

    def add(self, msg: Msg) -> None:
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def on_message(self, client, userdata, m) -> None:
        self.add(Msg(m.topic, bytes(m.payload), m.qos, bool(m.retain), bool(m.dup),
                     paho_props_to_dict(getattr(m, "properties", None)), time.monotonic()))

    def wait_until(self, predicate, timeout: float = DEFAULT_TIMEOUT, what="condition") -> list[Msg]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                         f"received {self.summary()}")
                self.cond.wait(remaining)
            return list(self.messages)

    def wait_for(self, n: int, timeout: float = DEFAULT_TIMEOUT) -> list[Msg]:
        """Wait until at least ``n`` messages arrived; returns all so far."""
        return self.wait_until(lambda ms: len(ms) >= n, timeout, f"{n} messages")

    def wait_payload(self, payload: bytes, timeout: float = DEFAULT_TIMEOUT) -> list[Msg]:
        """Wait until a message with ``payload`` arrived; returns all so far."""
        return self.wait_until(lambda ms: any(m.payload == payload for m in ms), timeout,
                               f"payload {payload!r}")

    def snapshot(self) -> list[Msg]:
        with self.cond:
            return list(self.messages)

    def payloads(self) -> list[bytes]:
        return [m.payload for m in self.snapshot()]

    def summary(self) -> str:
        ms = self.messages
        head = f"{len(ms)} messages" + (", last 20: " if len(ms) > 20 else ": ")
        return head + repr([(m.topic, m.payload[:40], m.qos, int(m.retain)) for m in ms[-20:]])


class PahoClient:
    """A connected paho client plus its ``Collector`` (``.messages``)."""

    def __init__(self, client: mqtt.Client, version: int, client_id: str):
        self.client = client
        self.version = version
        self.client_id = client_id
        self.messages = Collector()
        self.connack = None       # (session_present, reason_code, properties)
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.disconnect_reason = None
        self._acks: dict[int, threading.Event] = {}
        self._ack_results: dict[int, tuple] = {}
        self._lock = threading.Lock()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self.messages.on_message
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_subscribe
        _track(self)

    # callbacks (paho CallbackAPIVersion.VERSION2)
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack = (bool(flags.session_present), reason_code, properties)
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.disconnect_reason = reason_code
        self.disconnected.set()

    def _event(self, mid: int) -> threading.Event:
        with self._lock:
            return self._acks.setdefault(mid, threading.Event())

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self._ack_results[mid] = (reason_codes, properties)
        self._event(mid).set()

    # operations
    @property
    def session_present(self) -> bool:
        return self.connack[0]

    @property
    def connack_properties(self):
        return self.connack[2]

    def subscribe(self, topic: str, qos: int = 0, *, options: SubscribeOptions | None = None,
                  props: Properties | None = None, timeout=DEFAULT_TIMEOUT, expect_success=True):
        """Subscribe and wait for SUBACK; returns the list of reason codes."""
        if self.version == 5:
            opts = options or SubscribeOptions(qos=qos)
            rc, mid = self.client.subscribe(topic, options=opts, properties=props)
        else:
            rc, mid = self.client.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"subscribe not sent: {rc}"
        if not self._event(mid).wait(timeout):
            raise AssertionError(f"no SUBACK for {topic!r} within {timeout}s")
        codes = self._ack_results[mid][0]
        values = [c.value if hasattr(c, "value") else int(c) for c in codes]
        if expect_success:
            assert all(v < 0x80 for v in values), f"subscribe {topic!r} refused: {codes}"
        return values

    def unsubscribe(self, topic: str, timeout=DEFAULT_TIMEOUT):
        rc, mid = self.client.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        if not self._event(mid).wait(timeout):
            raise AssertionError(f"no UNSUBACK for {topic!r} within {timeout}s")

    def publish(self, topic: str, payload=b"", qos: int = 0, retain=False,
                props: Properties | None = None, wait=True, timeout=DEFAULT_TIMEOUT):
        """Publish; with ``wait`` blocks until the QoS flow completed (PUBACK /
        PUBCOMP, or the write for QoS 0)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish not sent: {info.rc}"
        if wait:
            info.wait_for_publish(timeout)
            assert info.is_published(), f"publish to {topic!r} not acknowledged in {timeout}s"
        return info

    def disconnect(self, timeout=DEFAULT_TIMEOUT, reason=None, props=None):
        """Clean DISCONNECT, waiting until paho reports the connection closed."""
        if self.client.is_connected():
            if reason is not None:
                from paho.mqtt.reasoncodes import ReasonCode
                self.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=reason),
                                       properties=props)
            else:
                self.client.disconnect(properties=props)
            self.disconnected.wait(timeout)
        self.client.loop_stop()

    def close(self):
        try:
            if self.client.is_connected():
                self.client.disconnect()
                self.disconnected.wait(2)
        finally:
            self.client.loop_stop()


def paho_client(server, version: int = 5, client_id: str | None = None, *, clean: bool = True,
                transport: str = "tcp", keepalive: int = 60, cert=None,
                properties: Properties | None = None, will: dict | None = None,
                expect_success: bool = True, timeout: float = DEFAULT_TIMEOUT,
                server_hostname: str = "localhost") -> PahoClient:
    """A connected paho client (CONNACK awaited).

    ``version`` 5 or 4 (3.1.1). ``clean`` is Clean Start (v5) / Clean Session
    (v4). ``transport`` "tcp", "tls" or "alpn" (ALPN x-amzn-mqtt-ca); for the
    TLS ones a client certificate is issued unless ``cert`` is given.
    ``properties`` are v5 CONNECT properties. ``will`` = dict(topic, payload,
    qos=0, retain=False, props=None). TLS connects by ``server_hostname``
    (SNI + verification), which resolves to the listener's loopback address.
    """
    client_id = client_id if client_id is not None else unique("paho")
    proto = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
    kwargs = dict(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                  protocol=proto, reconnect_on_failure=False)
    if version != 5:
        kwargs["clean_session"] = clean
    c = mqtt.Client(**kwargs)
    pc = PahoClient(c, version, client_id)
    host = server.host
    if transport in ("tls", "alpn"):
        if cert is None:
            cert = server.issue_cert(unique("dev"))
        ctx = tls_context(server, cert or None, [ALPN_MQTT] if transport == "alpn" else None)
        c.tls_set_context(ctx)
        host = server_hostname
    if will is not None:
        c.will_set(will["topic"], will.get("payload", b""), will.get("qos", 0),
                   will.get("retain", False), properties=will.get("props"))
    connect_kw = dict(keepalive=keepalive)
    if version == 5:
        connect_kw["clean_start"] = clean
        connect_kw["properties"] = properties
    c.connect(host, _port(server, transport), **connect_kw)
    c.loop_start()
    if not pc.connected.wait(timeout):
        raise AssertionError(f"no CONNACK within {timeout}s ({client_id})")
    if expect_success:
        rc = pc.connack[1]
        assert not rc.is_failure, f"CONNECT refused: {rc} ({client_id})"
    return pc


def connect_props(**kw) -> Properties:
    """paho CONNECT properties: ``connect_props(SessionExpiryInterval=60)``."""
    p = Properties(PacketTypes.CONNECT)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def publish_props(**kw) -> Properties:
    p = Properties(PacketTypes.PUBLISH)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def barrier(publisher, collector: Collector, topic: str, timeout: float = DEFAULT_TIMEOUT) -> list[Msg]:
    """Publish a unique QoS 1 marker on ``topic`` and wait until ``collector``
    got it. Returns the messages received *before* the marker.

    Used to assert that something was NOT delivered: the marker travels the
    same path after it, so once the marker is in, an earlier message would
    have been too. A broker that reordered could only make such a check pass
    wrongly, never fail wrongly."""
    marker = f"barrier-{uuid.uuid4().hex}".encode()
    publisher.publish(topic, marker, qos=1)
    msgs = collector.wait_payload(marker, timeout)
    idx = next(i for i, m in enumerate(msgs) if m.payload == marker)
    return msgs[:idx]


def raw_barrier(publisher, sub: RawClient, topic: str, timeout: float = DEFAULT_TIMEOUT,
                ack=True) -> list[Packet]:
    """``barrier`` for a RawClient subscriber: returns the packets read before
    the marker PUBLISH (acking QoS 1/2 PUBLISHes if ``ack``)."""
    marker = f"barrier-{uuid.uuid4().hex}".encode()
    publisher.publish(topic, marker, qos=1)
    deadline = time.monotonic() + timeout
    before = []
    while True:
        try:
            p = sub.recv(max(0.0, deadline - time.monotonic()))
        except (TimeoutError, Closed) as e:
            raise AssertionError(f"barrier {marker!r} not received ({e!r}); got {before}") from None
        if p.type == PUBLISH:
            if ack:
                sub.ack(p)
            if p.payload == marker:
                return before
        elif p.type == PUBREL and ack:
            sub.send(build_ack(PUBCOMP, sub.version, p.packet_id))
        before.append(p)


def wait_past(seconds: float) -> None:
    """Let wall-clock time pass: for expiry / delay tests, where the passage
    of time is the thing under test (nothing can be polled instead)."""
    time.sleep(seconds)
