"""Keep Alive: idle clients are dropped after 1.5 x keep-alive; PINGREQ keeps
them; Server Keep Alive when the config lowers the value."""
import time

import pytest

from helpers import DISCONNECT, raw_client, unique

BOTH = pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])


@BOTH
def test_idle_client_disconnected(kumo, version):
    """A client with Keep Alive 1 s that sends nothing is disconnected (the
    bound here is generous: 10 s), and, since that counts as a network
    failure, its will is published.

    v3.1.1 [MQTT-3.1.2-24]; v5 [MQTT-3.1.2-22]: "If the Keep Alive value is
    non-zero and the Server does not receive an MQTT Control Packet from the
    Client within one and a half times the Keep Alive time period, it MUST
    close the Network Connection to the Client as if the network had failed".
    v5 may send DISCONNECT 0x8D (Keep Alive timeout) first."""
    topic = unique("ka") + "/will"
    watcher = raw_client(kumo, version, keepalive=0)
    watcher.subscribe(topic, qos=1)
    idle = raw_client(kumo, version, keepalive=1,
                      will=dict(topic=topic, payload=b"timed out", qos=1))
    got = idle.wait_closed(timeout=10)
    for p in got:
        assert version == 5 and p.type == DISCONNECT and p.reason == 0x8D, \
            f"unexpected packet before the keep-alive close: {p!r}"
    assert watcher.recv_publishes(1)[0].payload == b"timed out"


@BOTH
def test_pingreq_keeps_connection(kumo, version):
    """A client that sends PINGREQ every half keep-alive stays connected and
    gets a PINGRESP each time (v3.1.1 / v5 [MQTT-3.12.4-1])."""
    c = raw_client(kumo, version, keepalive=1)
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        c.ping()  # asserts the PINGRESP
        time.sleep(0.4)  # client pacing (the behaviour under test), not synchronisation
    c.ping()


def test_server_keep_alive_v5(kumo_factory):
    """With `max_keep_alive = 2` a v5 client asking for 60 s gets Server Keep
    Alive 2 in the CONNACK and is then held to it: idle, it is dropped.

    v5 §3.2.2.3.14, [MQTT-3.2.2-21] (the client must use the Server Keep
    Alive), [MQTT-3.1.2-22]; Kumo config: "Kumo answers with Server Keep
    Alive when it lowers the value"."""
    kumo = kumo_factory("[mqtt]\nmax_keep_alive = 2\n")
    c = raw_client(kumo, 5, keepalive=60)
    assert c.connack.props.get("server_keep_alive") == 2, c.connack
    c.wait_closed(timeout=15)


def test_no_server_keep_alive_when_not_lowered_v5(kumo_factory):
    """A keep-alive within the limit is not changed: no Server Keep Alive, or
    one equal to the request (v5 [MQTT-3.2.2-22])."""
    kumo = kumo_factory("[mqtt]\nmax_keep_alive = 100\n")
    c = raw_client(kumo, 5, keepalive=30)
    assert c.connack.props.get("server_keep_alive", 30) == 30, c.connack
