"""Issue 5: AWS IoT policies enforced on CONNECT, PUBLISH, SUBSCRIBE and
every delivery, with AWS's answers: MQTT 3.1.1 loses the connection (no
CONNACK for a refused CONNECT), MQTT 5 gets reason code 0x87.

Each device has its own certificate attached to its own thing and shares
one least-privilege policy written with thing policy variables, as AWS's
documentation recommends."""

from __future__ import annotations

import json

import pytest

from helpers import RawClient, build_connect, build_subscribe, raw_socket

ARN = "arn:aws:iot:us-east-1:000000000000"
OWN_TOPICS = json.dumps({
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect",
         "Resource": f"{ARN}:client/${{iot:Connection.Thing.ThingName}}"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
         "Resource": f"{ARN}:topic/${{iot:Connection.Thing.ThingName}}/*"},
        {"Effect": "Allow", "Action": "iot:Subscribe",
         "Resource": f"{ARN}:topicfilter/${{iot:Connection.Thing.ThingName}}/*"},
    ],
})
NOT_AUTHORIZED = 0x87


def ok(ack) -> bool:
    """A success acknowledgement: MQTT 3.1.1 has no reason code; MQTT 5's
    are below 0x80 (0x10: no matching subscribers)."""
    return ack.reason is None or ack.reason < 0x80


def policy(kumo, name: str, document: str) -> None:
    kumo.cli("policy", "create", name, "--document", "-", input=document)


def device(kumo, thing: str, policy_name: str = "own-topics") -> tuple[str, tuple]:
    """A thing with its own ACTIVE certificate attached, and the policy on
    the certificate. Returns (certificate id, (cert, key))."""
    kumo.cli("thing", "create", thing)
    out = kumo.workdir / "kits"
    created = json.loads(kumo.cli("cert", "create", "--active", "--out", str(out),
                                  "--prefix", thing, "--output", "json").stdout)
    cert_id = created["certificateId"]
    kumo.cli("thing", "attach-cert", thing, cert_id)
    kumo.cli("policy", "attach", policy_name, cert_id)
    return cert_id, (out / f"{thing}.cert.pem", out / f"{thing}.private.key")


@pytest.fixture
def fleet(kumo):
    policy(kumo, "own-topics", OWN_TOPICS)
    return {t: device(kumo, t) for t in ("raspi2", "pico")}


def connect_as(kumo, cert, client_id, version=5) -> RawClient:
    c = RawClient(raw_socket(kumo, "tls", cert=cert), version)
    c.connack = c.connect(client_id, expect_success=False)
    return c


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_a_device_uses_its_own_topics(kumo, fleet, version):
    c = connect_as(kumo, fleet["raspi2"][1], "raspi2", version)
    assert c.connack.reason == 0
    c.subscribe("raspi2/#", qos=1)
    assert ok(c.publish("raspi2/temp", b"21.5", qos=1))
    [msg] = c.recv_publishes(1)
    assert (msg.topic, msg.payload) == ("raspi2/temp", b"21.5")


def test_connecting_as_another_thing_is_refused(kumo, fleet):
    cert = fleet["raspi2"][1]
    # MQTT 5: CONNACK 0x87.
    c = connect_as(kumo, cert, "pico", 5)
    assert c.connack.reason == NOT_AUTHORIZED
    c.wait_closed()
    # MQTT 3.1.1: closed without any CONNACK.
    c = RawClient(raw_socket(kumo, "tls", cert=cert), 4)
    c.send(build_connect(4, "pico"))
    assert c.wait_closed() == []
    # A client id that is no attached thing leaves the thing variables
    # unresolved: nothing matches.
    assert connect_as(kumo, cert, "basicPubSub", 5).connack.reason == NOT_AUTHORIZED
    assert "not authorized" in kumo.log()


def test_mqtt5_gets_0x87_for_what_its_policy_does_not_allow(kumo, fleet):
    c = connect_as(kumo, fleet["raspi2"][1], "raspi2", 5)
    assert c.publish("pico/temp", b"x", qos=1).reason == NOT_AUTHORIZED
    ack = c.subscribe("pico/#", "#", "$aws/things/+/shadow/#", "raspi2/ok", qos=1,
                      expect_success=False)
    assert ack.reasons == [NOT_AUTHORIZED, NOT_AUTHORIZED, NOT_AUTHORIZED, 1]
    # Still connected, and its own topics still work.
    c.publish("raspi2/ok", b"fine", qos=1)
    [msg] = c.recv_publishes(1)
    assert msg.payload == b"fine"


@pytest.mark.parametrize("action", ["publish", "subscribe"])
def test_mqtt311_loses_the_connection(kumo, fleet, action):
    c = connect_as(kumo, fleet["raspi2"][1], "raspi2", 4)
    assert c.connack.reason == 0
    if action == "publish":
        c.publish("pico/temp", b"x", qos=1, wait=False)
    else:
        c.send(build_subscribe(4, 1, [("pico/#", 1)]))
    c.wait_closed()
    # The other device is unaffected.
    other = connect_as(kumo, fleet["pico"][1], "pico", 4)
    assert other.connack.reason == 0


def test_receive_is_checked_on_every_delivery(kumo, fleet):
    """Subscribe may be broad; only what iot:Receive allows arrives."""
    policy(kumo, "listen-wide", json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ARN}:client/listener"},
            {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{ARN}:topicfilter/*"},
            {"Effect": "Allow", "Action": "iot:Receive", "Resource": f"{ARN}:topic/pico/*"},
        ],
    }))
    listener_cert = device(kumo, "listener", "listen-wide")[1]
    listener = connect_as(kumo, listener_cert, "listener", 5)
    listener.subscribe("#", qos=1)
    raspi = connect_as(kumo, fleet["raspi2"][1], "raspi2", 5)
    pico = connect_as(kumo, fleet["pico"][1], "pico", 5)
    raspi.publish("raspi2/secret", b"no", qos=1)
    pico.publish("pico/open", b"yes", qos=1)
    [msg] = listener.recv_publishes(1)
    assert (msg.topic, msg.payload) == ("pico/open", b"yes")
    assert listener.quiet(0.3) == []


def test_a_policy_change_applies_to_live_connections(kumo, fleet):
    cert_id, cert = fleet["raspi2"]
    c = connect_as(kumo, cert, "raspi2", 5)
    assert ok(c.publish("raspi2/a", b"1", qos=1))
    policy(kumo, "deny-raspi2-a", json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "iot:Publish", "Resource": f"{ARN}:topic/raspi2/a"}],
    }))
    kumo.cli("policy", "attach", "deny-raspi2-a", cert_id)
    # Explicit deny wins over the allow, from the next PUBLISH on.
    assert c.publish("raspi2/a", b"2", qos=1).reason == NOT_AUTHORIZED
    assert ok(c.publish("raspi2/b", b"3", qos=1))
    kumo.cli("policy", "detach", "deny-raspi2-a", cert_id)
    assert ok(c.publish("raspi2/a", b"4", qos=1))


def test_a_certificate_without_policies_cannot_connect(kumo):
    kumo.cli("thing", "create", "bare")
    kumo.cli("cert", "create", "--active", "--out", str(kumo.workdir / "bare"), "--prefix", "bare")
    cert = (kumo.workdir / "bare" / "bare.cert.pem", kumo.workdir / "bare" / "bare.private.key")
    assert connect_as(kumo, cert, "bare", 5).connack.reason == NOT_AUTHORIZED


def test_the_development_listener_takes_a_policy(kumo_factory, tmp_path):
    """listeners.tcp.policy_file: the same grammar for clients without a
    certificate, e.g. everything but subscribing to test/nosubscribe."""
    doc = tmp_path / "dev-policy.json"
    doc.write_text(json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ARN}:client/dev-*"},
            {"Effect": "Allow", "Action": ["iot:Publish", "iot:Subscribe", "iot:Receive"],
             "Resource": "*"},
            {"Effect": "Deny", "Action": "iot:Subscribe",
             "Resource": f"{ARN}:topicfilter/test/nosubscribe"},
        ],
    }))
    kumo = kumo_factory(f'[listeners.tcp]\npolicy_file = "{doc}"\n')
    c = RawClient(raw_socket(kumo, "tcp"), 5)
    assert c.connect("dev-1").reason == 0
    ack = c.subscribe("test/nosubscribe", "test/other", qos=1, expect_success=False)
    assert ack.reasons == [NOT_AUTHORIZED, 1]
    assert ok(c.publish("test/other", b"x", qos=1))
    other = RawClient(raw_socket(kumo, "tcp"), 5)
    assert other.connect("intruder", expect_success=False).reason == NOT_AUTHORIZED


def test_a_malformed_listener_policy_stops_kumo_at_start(kumo_factory, tmp_path):
    doc = tmp_path / "bad.json"
    doc.write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "Permit"}]}')
    with pytest.raises(BaseException) as e:
        kumo_factory(f'[listeners.tcp]\npolicy_file = "{doc}"\n')
    assert "policy_file" in str(e.value) and "Malformed" in str(e.value), str(e.value)
