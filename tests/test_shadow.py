"""Issue 6: the Device Shadow service, driven by the clients devices use.

The AWS IoT Device SDK v2 for Python's shadow clients — ``IotShadowClient``
on an MQTT 3.1.1 connection and ``IotShadowClientV2`` (request-response) on
an MQTT 5 client — play the device and a phone app, each with its own
certificate from ``kumo kit raspi2`` (so the kit's least-privilege policy is
what authorises them). ``umqtt.simple`` publishes seed 004's raw JSON. The
answers asserted are AWS IoT Core's: exact error codes and messages, versions
that keep counting across a delete, the delta on the device's connection.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import uuid

import pytest

from helpers import build_publish, make_kit, raw_client

TIMEOUT = 20
THING = "raspi2"


class Rejected(Exception):
    def __init__(self, code: int, message: str, client_token: str | None):
        super().__init__(f"{code} {message}")
        self.code, self.message, self.client_token = code, message, client_token


class Inbox:
    """Events from a stream (deltas), waited on with a condition."""

    def __init__(self):
        self.items, self.cond = [], threading.Condition()

    def put(self, item):
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait(self, pred, what: str):
        with self.cond:
            assert self.cond.wait_for(lambda: any(pred(i) for i in self.items), TIMEOUT), \
                f"no {what} in {self.items}"
            return next(i for i in self.items if pred(i))


class Mqtt3Shadow:
    """``awsiot.iotshadow.IotShadowClient`` over an MQTT 3.1.1 connection:
    subscribe to the operation's accepted and rejected topics, publish the
    request with a client token, wait for the answer carrying it."""

    def __init__(self, kit, client_id):
        from awscrt import mqtt
        from awsiot import iotshadow, mqtt_connection_builder
        self.s, self.qos = iotshadow, mqtt.QoS.AT_LEAST_ONCE
        self.conn = mqtt_connection_builder.mtls_from_path(
            endpoint="localhost", port=kit.port, cert_filepath=str(kit.cert),
            pri_key_filepath=str(kit.key), ca_filepath=str(kit.ca), client_id=client_id,
            clean_session=True, keep_alive_secs=30)
        self.conn.connect().result(TIMEOUT)
        self.client = iotshadow.IotShadowClient(self.conn)
        self.answers: dict[str, concurrent.futures.Future] = {}
        self.subscribed: set = set()

    def close(self):
        self.conn.disconnect().result(TIMEOUT)

    def _answer(self, ok: bool):
        def deliver(response):
            f = self.answers.get(response.client_token)
            if f is None or f.done():
                return
            if ok:
                f.set_result(response)
            else:
                f.set_exception(Rejected(response.code, response.message, response.client_token))
        return deliver

    def _call(self, op: str, name: str | None, **fields):
        s, c = self.s, self.client
        named = "_named" if name else ""
        key = dict(thing_name=THING, **({"shadow_name": name} if name else {}))
        if (op, name) not in self.subscribed:
            sub = getattr(s, f"{op.capitalize()}{'Named' if name else ''}ShadowSubscriptionRequest")
            for outcome, ok in (("accepted", True), ("rejected", False)):
                fn = getattr(c, f"subscribe_to_{op}{named}_shadow_{outcome}")
                fn(sub(**key), self.qos, self._answer(ok))[0].result(TIMEOUT)
            self.subscribed.add((op, name))
        token = str(uuid.uuid4())
        self.answers[token] = f = concurrent.futures.Future()
        req = getattr(s, f"{op.capitalize()}{'Named' if name else ''}ShadowRequest")
        getattr(c, f"publish_{op}{named}_shadow")(
            req(client_token=token, **key, **fields), self.qos).result(TIMEOUT)
        response = f.result(TIMEOUT)
        assert response.client_token == token
        return response

    def get(self, name=None):
        return self._call("get", name)

    def update(self, name=None, desired=None, reported=None, version=None):
        return self._call("update", name, version=version,
                          state=self.s.ShadowState(desired=desired, reported=reported))

    def delete(self, name=None):
        return self._call("delete", name)

    def deltas(self) -> Inbox:
        inbox = Inbox()
        self.client.subscribe_to_shadow_delta_updated_events(
            self.s.ShadowDeltaUpdatedSubscriptionRequest(thing_name=THING), self.qos,
            inbox.put)[0].result(TIMEOUT)
        return inbox


class Mqtt5Shadow:
    """``awsiot.iotshadow.IotShadowClientV2`` over an MQTT 5 client (the
    SDK's request-response client: wildcard subscriptions such as
    ``.../get/+``, correlation by client token)."""

    def __init__(self, kit, client_id):
        from awscrt import mqtt_request_response
        from awsiot import iotshadow, mqtt5_client_builder
        self.s = iotshadow
        connected, self.stopped = concurrent.futures.Future(), concurrent.futures.Future()
        self.mqtt = mqtt5_client_builder.mtls_from_path(
            endpoint="localhost", port=kit.port, cert_filepath=str(kit.cert),
            pri_key_filepath=str(kit.key), ca_filepath=str(kit.ca), client_id=client_id,
            on_lifecycle_connection_success=lambda d: connected.done() or connected.set_result(1),
            on_lifecycle_connection_failure=lambda d: connected.done() or connected.set_exception(
                RuntimeError(repr(d.exception))),
            on_lifecycle_stopped=lambda d: self.stopped.set_result(1))
        self.mqtt.start()
        connected.result(TIMEOUT)
        self.client = iotshadow.IotShadowClientV2(self.mqtt, mqtt_request_response.ClientOptions(
            max_request_response_subscriptions=4, max_streaming_subscriptions=2,
            operation_timeout_in_seconds=TIMEOUT))
        self.streams = []

    def close(self):
        self.mqtt.stop()
        self.stopped.result(TIMEOUT)

    def _call(self, op: str, name: str | None, **fields):
        import awsiot
        s = self.s
        key = dict(thing_name=THING, **({"shadow_name": name} if name else {}))
        req = getattr(s, f"{op.capitalize()}{'Named' if name else ''}ShadowRequest")(**key, **fields)
        fn = getattr(self.client, f"{op}{'_named' if name else ''}_shadow")
        try:
            return fn(req).result(TIMEOUT)
        except awsiot.V2ServiceException as e:
            err = e.modeled_error
            assert err is not None, f"{e.message}: {e.inner_error!r}"
            raise Rejected(err.code, err.message, err.client_token) from None

    def get(self, name=None):
        return self._call("get", name)

    def update(self, name=None, desired=None, reported=None, version=None):
        return self._call("update", name, version=version,
                          state=self.s.ShadowState(desired=desired, reported=reported))

    def delete(self, name=None):
        return self._call("delete", name)

    def deltas(self) -> Inbox:
        import awsiot
        from awscrt.mqtt_request_response import SubscriptionStatusEventType
        inbox, established = Inbox(), threading.Event()

        def status(event):
            if event.type == SubscriptionStatusEventType.SUBSCRIPTION_ESTABLISHED:
                established.set()

        stream = self.client.create_shadow_delta_updated_stream(
            self.s.ShadowDeltaUpdatedSubscriptionRequest(thing_name=THING),
            awsiot.ServiceStreamOptions(inbox.put, subscription_status_listener=status))
        stream.open()
        self.streams.append(stream)
        assert established.wait(TIMEOUT), "delta stream not subscribed"
        return inbox


class Kit:
    def __init__(self, kumo, label):
        d, _ = make_kit(kumo, THING, label)
        self.cert, self.key, self.ca = d / f"{THING}.cert.pem", d / f"{THING}.private.key", \
            d / "root-CA.crt"
        self.der_cert, self.der_key = d / f"{THING}.cert.der", d / f"{THING}.private.key.der"
        self.port = kumo.tls_port


@pytest.fixture(params=["mqtt3", "mqtt5"])
def device_and_app(kumo, request):
    """The device (client id = thing name) and an app (``basicPubSub``),
    each with its own kit certificate for the thing."""
    cls = Mqtt3Shadow if request.param == "mqtt3" else Mqtt5Shadow
    device = cls(Kit(kumo, "device"), THING)
    app = cls(Kit(kumo, "app"), "basicPubSub")
    yield device, app
    for c in (device, app):
        c.close()


def test_issue_6_the_sdk_shadow_clients_see_what_aws_iot_core_answers(kumo, device_and_app):
    device, app = device_and_app

    # No shadow yet: 404 with AWS's message (the classic shadow is named by its thing).
    with pytest.raises(Rejected) as e:
        device.get()
    assert (e.value.code, e.value.message) == (404, "No shadow exists with name: 'raspi2'")

    # The app asks for a colour; the device's delta stream says so.
    deltas = device.deltas()
    r = app.update(desired={"color": "red", "led": {"on": True, "level": 3}})
    assert r.version == 1 and r.state.desired == {"color": "red", "led": {"on": True, "level": 3}}
    assert r.metadata.desired["led"]["level"]["timestamp"] == r.metadata.desired["color"]["timestamp"]
    delta = deltas.wait(lambda d: d.version == 1, "delta of version 1")
    assert delta.state == {"color": "red", "led": {"on": True, "level": 3}}

    # The device reports part of it: the delta keeps only what still differs.
    r = device.update(reported={"color": "red", "led": {"on": True, "level": 1}})
    assert r.version == 2
    delta = deltas.wait(lambda d: d.version == 2, "delta of version 2")
    assert delta.state == {"led": {"level": 3}}
    got = device.get()
    assert got.version == 2 and got.state.delta == {"led": {"level": 3}}
    assert got.state.reported == {"color": "red", "led": {"on": True, "level": 1}}

    # Reported catches up: no delta left.
    r = device.update(reported={"led": {"level": 3}})
    assert r.version == 3
    got = app.get()
    assert got.state.delta is None and got.version == 3
    assert got.state.desired == got.state.reported

    # Optimistic locking: an update made against version 1 is refused.
    with pytest.raises(Rejected) as e:
        app.update(desired={"color": "blue"}, version=1)
    assert (e.value.code, e.value.message) == (409, "Version conflict")
    assert app.update(desired={"color": "blue"}, version=3).version == 4

    # Named shadows are separate documents with their own versions.
    with pytest.raises(Rejected) as e:
        device.get(name="config")
    assert (e.value.code, e.value.message) == (404, "No shadow exists with name: 'config'")
    assert device.update(name="config", reported={"interval": 60}).version == 1
    named = app.get(name="config")
    assert named.state.reported == {"interval": 60} and named.version == 1
    assert device.get().version == 4

    # Delete, then recreate: the version keeps counting.
    deleted = app.delete()
    assert deleted.version == 4
    with pytest.raises(Rejected) as e:
        device.get()
    assert e.value.code == 404
    with pytest.raises(Rejected) as e:
        app.delete()
    assert (e.value.code, e.value.message) == (404, "No shadow exists with name: 'raspi2'")
    r = device.update(reported={"color": "blue"})
    assert r.version == 5
    got = device.get()
    assert got.state.reported == {"color": "blue"} and got.state.desired is None
    # The named shadow was not touched by the classic shadow's delete.
    assert device.get(name="config").version == 1


def test_issue_6_bad_requests_get_aws_error_documents(kumo):
    device = Mqtt5Shadow(Kit(kumo, "device"), THING)
    try:
        with pytest.raises(Rejected) as e:
            device.update(desired={"a": [1, None]})
        assert e.value.code == 400
        with pytest.raises(Rejected) as e:
            device.update(desired={"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}})
        assert (e.value.code, e.value.message) == (
            400, "JSON contains too many levels of nesting; maximum is 6")
        with pytest.raises(Rejected) as e:
            device.update(reported={"blob": "x" * 9000})
        assert (e.value.code, e.value.message) == (
            413, "The payload exceeds the maximum size allowed")
        # None of it created the shadow.
        with pytest.raises(Rejected) as e:
            device.get()
        assert e.value.code == 404
    finally:
        device.close()


def test_issue_6_seed_004_umqtt_publishes_raw_json_to_the_shadow(kumo):
    """Seed 004's Pico: umqtt.simple with the kit's DER files publishes raw
    JSON to ``$aws/things/{device_id}/shadow/update``; an MQTT test client
    subscribed to that topic (as in the article) sees the message, and the
    shadow answers on ``update/accepted``."""
    import umqtt_shim
    simple = umqtt_shim.install()
    kit = Kit(kumo, "pico")
    watcher = Mqtt3Shadow(Kit(kumo, "watcher"), "basicPubSub")
    seen = Inbox()
    watcher.conn.subscribe(topic=f"$aws/things/{THING}/shadow/update", qos=watcher.qos,
                           callback=lambda topic, payload, **kw: seen.put(bytes(payload)))[0] \
        .result(TIMEOUT)
    got = []
    client = simple.MQTTClient(client_id=THING.encode(), server="127.0.0.1", port=kit.port,
                               keepalive=60, ssl=True,
                               ssl_params={"key": kit.der_key.read_bytes(),
                                           "cert": kit.der_cert.read_bytes(),
                                           "server_side": False})
    client.set_callback(lambda topic, msg: got.append((topic, json.loads(msg))))
    client.connect()
    try:
        base = f"$aws/things/{THING}/shadow".encode()
        client.subscribe(base + b"/update/accepted", qos=1)
        client.subscribe(base + b"/update/rejected", qos=1)
        body = json.dumps({"state": {"reported": {"temperature": 21.5, "humidity": 40}}})
        client.publish(base + b"/update", body.encode(), qos=1)
        while not got:
            client.wait_msg()
        topic, doc = got[0]
        assert topic == base + b"/update/accepted"
        assert doc["state"] == {"reported": {"temperature": 21.5, "humidity": 40}}
        assert doc["version"] == 1 and isinstance(doc["timestamp"], int)
        assert set(doc["metadata"]["reported"]) == {"temperature", "humidity"}
        assert seen.wait(lambda p: p == body.encode(), "the request on the update topic")
        # A payload that is not a shadow document is refused on update/rejected.
        got.clear()
        client.publish(base + b"/update", b'{"temperature": 22}', qos=1)
        while not got:
            client.wait_msg()
        topic, doc = got[0]
        assert topic == base + b"/update/rejected"
        assert (doc["code"], doc["message"]) == (400, "Missing required node: state")
        assert set(doc) <= {"code", "message", "timestamp"}
    finally:
        client.disconnect()
        watcher.close()


def test_issue_6_the_cli_reads_and_writes_shadows(kumo):
    r = kumo.cli("shadow", "get", THING, check=False)
    assert r.returncode != 0 and "No shadow exists with name: 'raspi2'" in r.stderr
    r = kumo.cli("shadow", "update", THING, '{"state":{"desired":{"led":"on"}}}', "-o", "json")
    accepted = json.loads(r.stdout)
    assert accepted["version"] == 1 and accepted["state"] == {"desired": {"led": "on"}}
    r = kumo.cli("shadow", "update", THING, "--name", "config", "-",
                 input='{"state":{"reported":{"interval":60}}}')
    assert json.loads(r.stdout)["state"] == {"reported": {"interval": 60}}
    got = json.loads(kumo.cli("shadow", "get", THING, "-o", "json").stdout)
    assert got["state"] == {"desired": {"led": "on"}, "delta": {"led": "on"}}
    r = kumo.cli("shadow", "update", THING, '{"state":{"desired":{"led":"off"}},"version":7}',
                 check=False)
    assert r.returncode != 0 and "Version conflict" in r.stderr
    assert json.loads(kumo.cli("shadow", "delete", THING, "-o", "json").stdout)["version"] == 1
    # Across a restart: the named shadow is there, the deleted one's version counts on.
    kumo.restart()
    got = json.loads(kumo.cli("shadow", "get", THING, "-n", "config", "-o", "json").stdout)
    assert got["state"] == {"reported": {"interval": 60}} and got["version"] == 1
    r = kumo.cli("shadow", "update", THING, '{"state":{"reported":{"led":"on"}}}', "-o", "json")
    assert json.loads(r.stdout)["version"] == 2


def test_issue_6_ten_requests_in_flight_per_connection_then_429(kumo):
    """30 updates to one shadow in a single write: each waits for the one
    before it to be durable, so the connection soon has 10 in flight and the
    rest are refused with 429 at once. Every request gets exactly one
    answer; the accepted ones are numbered without a gap, in the order sent."""
    c = raw_client(kumo, 5)
    base = "$aws/things/burst/shadow/update"
    c.subscribe(base + "/accepted", base + "/rejected", qos=0)
    n = 30
    c.send(b"".join(
        build_publish(5, base, json.dumps({"state": {"reported": {"i": i}},
                                           "clientToken": f"t{i}"}).encode())
        for i in range(n)))
    answers = [(p.topic, json.loads(p.payload)) for p in c.recv_publishes(n)]
    accepted = [d for t, d in answers if t.endswith("/accepted")]
    rejected = [d for t, d in answers if t.endswith("/rejected")]
    assert sorted(d["clientToken"] for _, d in answers) == sorted(f"t{i}" for i in range(n))
    assert {d["code"] for d in rejected} == {429} and len(rejected) >= 1, rejected
    assert len(accepted) >= 10
    assert [d["version"] for d in accepted] == list(range(1, len(accepted) + 1))
    sent_order = [int(d["clientToken"][1:]) for d in accepted]
    assert sent_order == sorted(sent_order)
    assert [d["state"]["reported"]["i"] for d in accepted] == sent_order


SAMPLE_FLOW = r'''
# What the SDK's shadow sample (samples/service_clients/shadow.py) does, with
# the same client settings: MQTT 5, mutual TLS, no CA file (the system trust
# store), no client id, IotShadowClientV2 with the sample's options.
import concurrent.futures, json, sys
import awsiot
from awscrt import mqtt_request_response
from awsiot import iotshadow, mqtt5_client_builder

port, cert, key, thing = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
connected, stopped = concurrent.futures.Future(), concurrent.futures.Future()
client = mqtt5_client_builder.mtls_from_path(
    endpoint="localhost", port=port, cert_filepath=cert, pri_key_filepath=key,
    clean_session=True, keep_alive_secs=1200,
    on_lifecycle_connection_success=lambda e: connected.set_result(True),
    on_lifecycle_connection_failure=lambda e: connected.done() or connected.set_exception(
        Exception("Failed to connect: %r" % (e.exception,))),
    on_lifecycle_stopped=lambda e: stopped.set_result(True))
client.start()
shadow = iotshadow.IotShadowClientV2(client, mqtt_request_response.ClientOptions(
    max_request_response_subscriptions=2, max_streaming_subscriptions=2,
    operation_timeout_in_seconds=30))
connected.result(30)
deltas = concurrent.futures.Future()
stream = shadow.create_shadow_delta_updated_stream(
    iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing),
    awsiot.ServiceStreamOptions(lambda ev: deltas.done() or deltas.set_result(ev)))
stream.open()
out = {}
try:
    shadow.get_shadow(iotshadow.GetShadowRequest(thing_name=thing)).result(30)
except awsiot.V2ServiceException as e:
    out["get"] = [e.modeled_error.code, e.modeled_error.message]
r = shadow.update_shadow(iotshadow.UpdateShadowRequest(
    thing_name=thing, state=iotshadow.ShadowState(reported={"Color": "green"}))).result(30)
out["reported"] = r.version
r = shadow.update_shadow(iotshadow.UpdateShadowRequest(
    thing_name=thing, state=iotshadow.ShadowState(desired={"Color": "red"}))).result(30)
out["desired"] = r.version
ev = deltas.result(30)
out["delta"] = [ev.version, ev.state]
r = shadow.delete_shadow(iotshadow.DeleteShadowRequest(thing_name=thing)).result(30)
out["deleted"] = r.version
client.stop()
stopped.result(30)
print(json.dumps(out))
'''


def test_issue_6_the_sdk_shadow_sample_trusts_kumo_through_the_system_store(kumo):
    """The shadow sample passes no CA file: it trusts the system's store.
    As README says, Kumo's root CA is added to the system bundle; here in a
    private mount namespace (the machine's own store is left alone), with
    /etc/ssl/certs replaced by a copy holding the system bundle plus
    Kumo's root CA, which is what ``update-ca-certificates`` produces."""
    import os
    import shutil
    import subprocess
    import sys
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    d, _ = make_kit(kumo, THING, "sample")
    certs = kumo.workdir / "system-certs"
    certs.mkdir()
    bundle = open("/etc/ssl/certs/ca-certificates.crt").read() if os.path.exists(
        "/etc/ssl/certs/ca-certificates.crt") else ""
    (certs / "ca-certificates.crt").write_text(bundle + kumo.ca_file.read_text())
    flow = kumo.workdir / "sample_flow.py"
    flow.write_text(SAMPLE_FLOW)
    cmd = (f"mount --bind {certs} /etc/ssl/certs && exec {sys.executable} {flow} "
           f"{kumo.tls_port} {d / 'raspi2.cert.pem'} {d / 'raspi2.private.key'} {THING}")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", cmd],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"get": [404, "No shadow exists with name: 'raspi2'"], "reported": 1,
                   "desired": 2, "delta": [2, {"Color": "red"}], "deleted": 2}


def test_issue_6_a_device_may_not_touch_another_things_shadow(kumo):
    """The kit's policy, enforced by topic as AWS does: raspi2's certificate
    publishes to its own shadow, not to pico's (MQTT 5: PUBACK 0x87, and no
    shadow is made), and may not subscribe to pico's answers."""
    kit = Kit(kumo, "device")
    c = raw_client(kumo, 5, THING, transport="tls", cert=(kit.cert, kit.key))
    update = json.dumps({"state": {"reported": {"on": True}}}).encode()
    assert c.publish("$aws/things/pico/shadow/update", update, qos=1).reason == 0x87
    assert c.publish("$aws/things/pico/shadow/name/config/update", update, qos=1).reason == 0x87
    assert c.subscribe("$aws/things/pico/shadow/update/accepted", qos=1,
                       expect_success=False).reasons == [0x87]
    assert c.publish(f"$aws/things/{THING}/shadow/name/config/update", update, qos=1).reason == 0
    r = kumo.cli("shadow", "get", "pico", check=False)
    assert r.returncode != 0 and "No shadow exists with name: 'pico'" in r.stderr
    got = json.loads(kumo.cli("shadow", "get", THING, "--name", "config", "-o", "json").stdout)
    assert got["state"] == {"reported": {"on": True}}


def test_issue_6_a_full_store_refuses_the_update_and_keeps_every_accepted_one(kumo_factory):
    """With a store that fills up (store.max_size_mb, which fails as a full
    disk does), the update that cannot be kept is answered 500 "Internal
    service failure" and leaves no shadow behind; Kumo keeps serving, and
    every accepted update is there after a restart."""
    server = kumo_factory("[store]\nmax_size_mb = 1\n")
    c = raw_client(server, 5)
    c.subscribe("$aws/things/+/shadow/update/accepted", "$aws/things/+/shadow/update/rejected",
                qos=0)
    blob = "x" * 7000
    accepted, refusal = [], None
    for i in range(400):
        body = json.dumps({"state": {"reported": {"blob": blob, "i": i}}, "clientToken": f"t{i}"})
        c.publish(f"$aws/things/full-{i}/shadow/update", body.encode(), qos=0)
        (answer,) = c.recv_publishes(1)
        doc = json.loads(answer.payload)
        assert doc["clientToken"] == f"t{i}"
        if answer.topic.endswith("/rejected"):
            refusal = (i, doc)
            break
        assert doc["version"] == 1
        accepted.append(i)
    assert refusal is not None, "the store never filled up"
    i, doc = refusal
    assert (doc["code"], doc["message"]) == (500, "Internal service failure")
    assert len(accepted) > 50
    r = server.cli("shadow", "get", f"full-{i}", check=False)
    assert r.returncode != 0 and f"No shadow exists with name: 'full-{i}'" in r.stderr
    assert server.alive()
    assert server.stop() == 0
    server.start()
    for k in (accepted[0], accepted[-1]):
        got = json.loads(server.cli("shadow", "get", f"full-{k}", "-o", "json").stdout)
        assert got["state"]["reported"] == {"blob": blob, "i": k} and got["version"] == 1
