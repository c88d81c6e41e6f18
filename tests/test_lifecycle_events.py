"""Issue 5: AWS IoT lifecycle events on $aws/events/presence/... and
$aws/events/subscriptions/..., with AWS's payload fields."""

from __future__ import annotations

import json

from helpers import RawClient, paho_client, raw_client, raw_socket, unique


def events(watcher, n, client_id=None):
    """The first ``n`` events (about ``client_id`` only, if given)."""
    def about(ms):
        return [(m.topic, json.loads(m.payload)) for m in ms
                if client_id is None or m.topic.endswith("/" + client_id)]
    return about(watcher.messages.wait_until(lambda ms: len(about(ms)) >= n, 10, f"{n} events"))[:n]


def test_connect_subscribe_unsubscribe_disconnect(kumo):
    watcher = paho_client(kumo, 5, transport="tcp")
    watcher.subscribe("$aws/events/#", 1)
    cert = kumo.issue_cert(unique("dev"))
    cid = unique("device")
    dev = raw_client(kumo, 5, cid, transport="tls", cert=cert)
    dev.subscribe("a/b", "c/#", qos=1)
    dev.unsubscribe("a/b")
    dev.disconnect()
    got = events(watcher, 4, cid)
    topics = [t for t, _ in got]
    assert topics == [f"$aws/events/presence/connected/{cid}",
                      f"$aws/events/subscriptions/subscribed/{cid}",
                      f"$aws/events/subscriptions/unsubscribed/{cid}",
                      f"$aws/events/presence/disconnected/{cid}"]
    connected, subscribed, unsubscribed, disconnected = (b for _, b in got)
    assert connected["eventType"] == "connected" and connected["clientId"] == cid
    assert connected["ipAddress"] == "127.0.0.1"
    assert isinstance(connected["timestamp"], int) and isinstance(connected["versionNumber"], int)
    assert len(connected["principalIdentifier"]) == 64  # the certificate id
    assert len(connected["sessionIdentifier"]) == 36
    assert subscribed["eventType"] == "subscribed" and subscribed["topics"] == ["a/b", "c/#"]
    assert unsubscribed["eventType"] == "unsubscribed" and unsubscribed["topics"] == ["a/b"]
    assert disconnected["eventType"] == "disconnected"
    assert disconnected["clientInitiatedDisconnect"] is True
    assert disconnected["disconnectReason"] == "CLIENT_INITIATED_DISCONNECT"
    assert "ipAddress" not in disconnected
    for k in ("sessionIdentifier", "versionNumber", "principalIdentifier"):
        assert disconnected[k] == connected[k], k


def test_disconnect_reasons(kumo):
    watcher = paho_client(kumo, 5, transport="tcp")
    watcher.subscribe("$aws/events/presence/disconnected/+", 1)
    lost = raw_client(kumo, 4, unique("lost"))
    lost.close()
    assert events(watcher, 1, lost.client_id)[0][1]["disconnectReason"] == "CONNECTION_LOST"
    cid = unique("twice")
    first = raw_client(kumo, 5, cid)
    raw_client(kumo, 5, cid)  # takes the session over
    first.wait_closed()
    body = events(watcher, 1, cid)[0][1]
    assert (body["clientId"], body["disconnectReason"], body["clientInitiatedDisconnect"]) == \
        (cid, "DUPLICATE_CLIENTID", False)


def test_no_events_for_client_ids_with_wildcards(kumo):
    watcher = paho_client(kumo, 5, transport="tcp")
    watcher.subscribe("$aws/events/presence/#", 1)
    c = raw_client(kumo, 5, "odd+id")
    c.disconnect()
    marker = raw_client(kumo, 5, unique("marker"))
    events(watcher, 1, marker.client_id)  # the marker's connect came after odd+id's events
    assert not [m for m in watcher.messages.snapshot() if "odd" in m.topic]
