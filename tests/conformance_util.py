"""Helpers for the conformance mirror tests (tests/test_conformance_*.py).

These tests mirror, case by case, what the Eclipse Paho interoperability
suite (``client_test.py`` for MQTT 3.1.1, ``client_test5.py`` for MQTT 5)
asks of a broker. See docs/conformance.md for the case list. Nothing here is
taken from that suite: the client below is written against the MQTT spec and
only reproduces the *behaviour* the suite's client has (it acknowledges
everything automatically from a background thread, can be "paused" so that
incoming PUBLISHes are ignored, never sends PINGREQ by itself, ...), because
several cases depend on exactly that behaviour.

``CONFORMANCE_CONFIG`` is the broker configuration the suite needs
(docs/conformance.md, "Config needed"); ``conformance_server`` starts kumo
with it.
"""

from __future__ import annotations

import socket
import threading
import time

import helpers
from helpers import (
    CONNACK, DISCONNECT, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, UNSUBACK,
    build_ack, build_connect, build_disconnect, build_publish, build_subscribe,
    build_unsubscribe, decode, sub_opts,
)

# The configuration the Paho suite needs (docs/conformance.md).
# - max_keep_alive = 60: test_server_keep_alive connects with Keep Alive 120
#   and asserts CONNACK Server Keep Alive == 60.
# - receive_maximum = 10: test_flow_control2 sends (Receive Maximum + 1)
#   QoS 2 PUBLISHes without PUBREL and expects DISCONNECT 0x93; with the
#   default (1024) it would push 1025 packets through an unread socket.
# - deny_subscribe = ["test/nosubscribe"]: test_subscribe_failure expects
#   SUBACK 0x80 for exactly that filter (and only that filter: the suite
#   cleans retained messages through a "#" subscription).
CONFORMANCE_CONFIG = """
[mqtt]
compat = "spec"
max_keep_alive = 60
receive_maximum = 10
deny_subscribe = ["test/nosubscribe"]
"""

TOPICS = ("TopicA", "TopicA/B", "Topic/C", "TopicA/C", "/TopicA")
WILDTOPICS = ("TopicA/+", "+/C", "#", "/#", "/+", "+/+", "TopicA/#")
NOSUBSCRIBE = "test/nosubscribe"
# client_test5.py's shared-subscription case uses this prefix.
TOPIC_PREFIX = "client_test5/"


def conformance_server(kumo_factory):
    """kumo with the suite's configuration, plain TCP listener only."""
    return kumo_factory(CONFORMANCE_CONFIG, tls=False, alpn=False)


def wait_until(pred, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``pred`` until true or ``timeout``; returns the last value.
    Used where the suite itself waits a fixed time for something to arrive."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return bool(v)
        time.sleep(interval)


class Received:
    """One PUBLISH delivered to a SuiteClient."""

    def __init__(self, p):
        self.topic = p.topic
        self.payload = p.payload
        self.qos = p.qos
        self.retain = p.retain
        self.dup = p.dup
        self.packet_id = p.packet_id
        self.props = p.props
        self.at = time.monotonic()

    def __repr__(self):
        return (f"<msg {self.topic!r} {self.payload[:40]!r} qos={self.qos} "
                f"retain={int(self.retain)} props={self.props}>")


class SuiteClient:
    """A small threaded MQTT client that behaves like the suite's test client.

    * ``connect()`` opens a new socket, sends CONNECT, waits for CONNACK
      (raising ``ConnectFailed`` if refused or closed) and starts a reader
      thread.
    * The reader acknowledges: QoS 1 PUBLISH -> PUBACK; QoS 2 PUBLISH ->
      PUBREC, then PUBREL -> PUBCOMP (the message is recorded on PUBREL, as
      the suite's client does); PUBREC for our own QoS 2 -> PUBREL.
    * ``pause()``: incoming PUBLISHes are dropped without any acknowledgement.
    * Records ``messages``, ``subacks`` (list of reason-code lists),
      ``unsubacks``, ``disconnects`` (reason codes of server DISCONNECTs),
      ``puback_reasons`` and whether the connection was closed.
    """

    def __init__(self, server, client_id: str, version: int = 5):
        self.server = server
        self.client_id = client_id
        self.version = version
        self.sock: socket.socket | None = None
        self.lock = threading.Lock()
        self.paused = False
        self.messages: list[Received] = []
        self.subacks: list[list[int]] = []
        self.unsubacks: list[list[int]] = []
        self.disconnects: list[int] = []
        self.disconnect_props: list[dict] = []
        self.acks: list = []
        self.closed = False
        self._qos2_in: dict[int, object] = {}
        self._out: dict[int, int] = {}   # packet id -> qos of our unacknowledged PUBLISHes
        self._next = 0
        self._thread: threading.Thread | None = None
        self.connack = None
        helpers._track(self)

    # -- connection ------------------------------------------------------

    def connect(self, *, clean=True, keepalive=0, props=None, will=None,
                protocol_name=b"MQTT", reader=True, timeout=5.0):
        self._close_socket()
        self.sock = socket.create_connection((self.server.host, self.server.tcp_port), timeout=timeout)
        self.closed = False
        self._buf = bytearray()
        self.sock.sendall(build_connect(self.version, self.client_id, clean=clean,
                                        keepalive=keepalive, props=props, will=will,
                                        protocol_name=protocol_name))
        p = self._read_packet(timeout)
        if p is None:
            raise ConnectFailed("connection closed, no CONNACK")
        if p.type != CONNACK:
            raise ConnectFailed(f"expected CONNACK, got {p!r}")
        self.connack = p
        if p.reason != 0:
            raise ConnectFailed(f"CONNACK refused: {p!r}")
        if clean or self.version == 5:
            self._out.clear()
        if reader:
            self._thread = threading.Thread(target=self._run, args=(self.sock,), daemon=True)
            self._thread.start()
        return p

    def _read_packet(self, timeout: float, sock=None):
        """One packet from the socket (blocking up to ``timeout``); None on EOF."""
        sock = sock or self.sock
        deadline = time.monotonic() + timeout
        while True:
            p = self._parse()
            if p is not None:
                return p
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no packet")
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no packet") from None
            except OSError:
                return None
            if not chunk:
                return None
            self._buf += chunk

    def _parse(self):
        buf = self._buf
        if len(buf) < 2:
            return None
        mult, length, i = 1, 0, 1
        while True:
            if i >= len(buf):
                return None
            b = buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
        if len(buf) < i + length:
            return None
        first = buf[0]
        body = bytes(buf[i:i + length])
        del buf[:i + length]
        return decode(first >> 4, first & 0x0F, body, self.version)

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def _run(self, sock) -> None:
        while True:
            try:
                p = self._read_packet(3600, sock)
            except (TimeoutError, OSError):
                p = None
            if p is None or sock is not self.sock:
                if sock is self.sock:
                    self.closed = True
                return
            self._handle(p)

    def _handle(self, p) -> None:
        v = self.version
        with self.lock:
            if p.type == PUBLISH:
                if self.paused:
                    return
                if p.qos == 0:
                    self.messages.append(Received(p))
                elif p.qos == 1:
                    self.messages.append(Received(p))
                    self._send(build_ack(PUBACK, v, p.packet_id))
                else:
                    self._qos2_in[p.packet_id] = Received(p)
                    self._send(build_ack(PUBREC, v, p.packet_id))
            elif p.type == PUBREL:
                m = self._qos2_in.pop(p.packet_id, None)
                if m is not None:
                    self.messages.append(m)
                self._send(build_ack(PUBCOMP, v, p.packet_id))
            elif p.type == PUBACK:
                self._out.pop(p.packet_id, None)
                self.acks.append(p)
            elif p.type == PUBREC:
                self.acks.append(p)
                if v == 5 and (p.reason or 0) >= 0x80:
                    self._out.pop(p.packet_id, None)
                else:
                    self._send(build_ack(PUBREL, v, p.packet_id))
            elif p.type == PUBCOMP:
                self._out.pop(p.packet_id, None)
                self.acks.append(p)
            elif p.type == SUBACK:
                self.subacks.append(p.reasons)
            elif p.type == UNSUBACK:
                self.unsubacks.append(p.reasons)
            elif p.type == DISCONNECT:
                self.disconnects.append(p.reason or 0)
                self.disconnect_props.append(p.props)

    # -- operations --------------------------------------------------------

    def _id(self) -> int:
        while True:
            self._next = self._next % 65535 + 1
            if self._next not in self._out:
                return self._next

    def subscribe(self, filters, options, props=None) -> int:
        """``filters``: list of filters; ``options``: list of option bytes
        (v5, see ``sub_opts``) or QoS values (v3.1.1)."""
        pid = self._id()
        self._send(build_subscribe(self.version, pid, list(zip(filters, options)), props=props))
        return pid

    def subscribe_wait(self, filters, options, props=None, timeout=5.0) -> list[int]:
        n = len(self.subacks)
        self.subscribe(filters, options, props)
        assert wait_until(lambda: len(self.subacks) > n, timeout), "no SUBACK"
        return self.subacks[n]

    def unsubscribe(self, filters) -> int:
        pid = self._id()
        self._send(build_unsubscribe(self.version, pid, list(filters)))
        return pid

    def publish(self, topic, payload=b"", qos=0, retain=False, props=None) -> int | None:
        pid = None
        if qos:
            pid = self._id()
            self._out[pid] = qos
        self._send(build_publish(self.version, topic, payload, qos=qos, retain=retain,
                                 packet_id=pid, props=props))
        return pid

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def wait_messages(self, n: int, timeout: float) -> list[Received]:
        wait_until(lambda: len(self.messages) >= n, timeout)
        return list(self.messages)

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.subacks.clear()
            self.unsubacks.clear()
            self.disconnects.clear()
            self.disconnect_props.clear()
            self.acks.clear()

    def disconnect(self, props=None, settle=5.0) -> None:
        """Like the suite: wait (bounded) for our QoS flows to finish unless
        paused, assert they did, then send DISCONNECT and close."""
        if not self.paused:
            ok = wait_until(lambda: not self._out and not self._qos2_in, settle)
            assert ok, f"QoS flows still open at DISCONNECT: out={self._out} in={list(self._qos2_in)}"
        self._send(build_disconnect(self.version, None, props))
        # Give the server the DISCONNECT before the FIN (the suite sleeps here).
        time.sleep(0.2)
        self._close_socket()

    def terminate(self) -> None:
        """Drop the connection without DISCONNECT (a network failure)."""
        s = self.sock
        self.sock = None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _close_socket(self) -> None:
        s = self.sock
        self.sock = None
        if s is not None:
            try:
                s.close()
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def close(self) -> None:
        self._close_socket()


class ConnectFailed(Exception):
    pass


def clean_retained(server, version: int = 5) -> None:
    """What the suite does before (and after) its runs: subscribe to "#",
    collect the retained messages, and delete each with an empty retained
    PUBLISH."""
    c = SuiteClient(server, "clean retained", version)
    c.connect(clean=True)
    c.subscribe(["#"], [0])
    time.sleep(1.0)
    for m in list(c.messages):
        if m.retain:
            c.publish(m.topic, b"", 0, retain=True)
    c.disconnect()


def v5_opts(qos: int, **kw) -> int:
    return sub_opts(qos, **kw)
