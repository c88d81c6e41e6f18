"""Issue 4: SIGKILL in the middle of a QoS 1 stream loses nothing that was
acknowledged.

Each iteration: an offline persistent session (MQTT 5, expiry 1 h)
subscribes to two topics; a paho publisher queues N QoS 1 messages
alternating between them, every 10th one also published as a retained
message on a third topic; once half of them are acknowledged, Kumo is
killed with SIGKILL. After a restart on the same data directory the session
must get every acknowledged message (at least once, in publish order per
topic), the retained topic must hold the last acknowledged value or a later
one, and SQLite must find the store intact.

The judged run is 20 iterations x 5,000 messages:
    KUMO_CRASH_ITERATIONS=20 KUMO_CRASH_MESSAGES=5000 scripts/test -k crash
The default (2 x 5,000) keeps the suite fast.
"""

import os
import sqlite3
import time

import paho.mqtt.client as mqtt
import pytest

from helpers import connect_props, paho_client, unique

ITERATIONS = int(os.environ.get("KUMO_CRASH_ITERATIONS", "2"))
MESSAGES = int(os.environ.get("KUMO_CRASH_MESSAGES", "5000"))


def _session(server, client_id, clean):
    return paho_client(server, 5, client_id, clean=clean,
                       properties=connect_props(SessionExpiryInterval=3600))


def _seq(payload: bytes) -> int:
    return int(payload.split(b":")[1])


def test_sigkill_mid_stream_loses_no_acknowledged_message(kumo_factory):
    server = kumo_factory()
    totals = dict(acked=0, delivered=0, duplicates=0)
    for iteration in range(ITERATIONS):
        client_id = unique("crash")
        topics = [f"crash/{iteration}/{unique('a')}", f"crash/{iteration}/{unique('b')}"]
        retained_topic = f"crash/{iteration}/{unique('r')}"
        sub = _session(server, client_id, clean=True)
        for t in topics:
            sub.subscribe(t, qos=1)
        sub.disconnect()

        pub = paho_client(server, 5)
        sent = []      # (topic, seq, MQTTMessageInfo)
        retained = []  # (seq, MQTTMessageInfo)
        for seq in range(MESSAGES):
            topic = topics[seq % 2]
            info = pub.client.publish(topic, f"{topic}:{seq}".encode(), qos=1)
            assert info.rc == mqtt.MQTT_ERR_SUCCESS
            sent.append((topic, seq, info))
            if seq % 10 == 0:
                r = pub.client.publish(retained_topic, f"r:{seq}".encode(), qos=1, retain=True)
                retained.append((seq, r))
        # Kill once half the stream is acknowledged (polling the acks, not a sleep).
        deadline = time.monotonic() + 120
        while sum(1 for _, _, i in sent if i.is_published()) < MESSAGES // 2:
            assert time.monotonic() < deadline, "publisher stalled before the kill"
            time.sleep(0.005)
        server.kill()
        pub.client.loop_stop()
        acked = {(t, s) for t, s, i in sent if i.is_published()}
        acked_retained = [s for s, i in retained if i.is_published()]
        assert len(acked) < MESSAGES, "the kill came after the whole stream; nothing tested"

        server.start()
        resumed = _session(server, client_id, clean=False)
        assert resumed.session_present
        got = resumed.messages.wait_until(
            lambda ms: acked <= {(m.topic, _seq(m.payload)) for m in ms},
            timeout=60, what=f"all {len(acked)} acknowledged messages")
        for t in topics:
            seqs = [_seq(m.payload) for m in got if m.topic == t]
            firsts = list(dict.fromkeys(seqs))
            assert firsts == sorted(firsts), f"{t}: out of order"
            totals["duplicates"] += len(seqs) - len(firsts)
        totals["acked"] += len(acked)
        totals["delivered"] += len({(m.topic, _seq(m.payload)) for m in got})

        if acked_retained:
            watcher = paho_client(server, 5)
            watcher.subscribe(retained_topic, qos=1)
            value = watcher.messages.wait_for(1)[0]
            assert value.retain and _seq(value.payload) >= acked_retained[-1]
            watcher.disconnect()
        resumed.disconnect()

    assert server.stop() == 0
    db = sqlite3.connect(server.data_dir / "kumo.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    print(f"\n{ITERATIONS} iterations x {MESSAGES} messages: acknowledged {totals['acked']}, "
          f"lost 0, redelivered duplicates {totals['duplicates']}")
