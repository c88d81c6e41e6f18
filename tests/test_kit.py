"""Issue 5: the connect kit. `kumo kit raspi2` makes the thing, an ACTIVE
certificate, the least-privilege policy and connect_device_package.zip;
devices connect with nothing but the kit's files: the AWS IoT Device SDK v2
for Python (MQTT 3 and MQTT 5 builders, on the mTLS port and the ALPN
port), paho-mqtt, umqtt.simple 1.3.4 with the DER files (as on a Pico W),
and the kit's own start.sh / pubsub.py."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import paho.mqtt.client as mqtt_paho
import pytest

from helpers import ALPN_MQTT, make_kit, unique

TIMEOUT = 20
FILES = ["raspi2.cert.pem", "raspi2.private.key", "raspi2.public.key", "raspi2.cert.der",
         "raspi2.private.key.der", "raspi2-Policy", "root-CA.crt", "start.sh", "pubsub.py", "main.py", "start-kumo-device.sh", "device.toml",
         "README.md"]


def test_the_kit_holds_what_the_console_kit_holds(kumo):
    d, info = make_kit(kumo)
    assert sorted(info["modes"]) == sorted(FILES)
    assert info["modes"]["raspi2.private.key"] == 0o600
    assert info["modes"]["start.sh"] == 0o755
    assert (d / "raspi2.private.key").read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert (d / "root-CA.crt").read_bytes() == kumo.ca_file.read_bytes()
    # The thing, its certificate and its policy are in the registry, attached.
    cert_id = info["certificateId"]
    principals = json.loads(kumo.cli("api", "ListThingPrincipals", '{"thingName":"raspi2"}',
                                     "--output", "json").stdout)["principals"]
    assert [p.rsplit("/", 1)[1] for p in principals] == [cert_id]
    policy = json.loads((d / "raspi2-Policy").read_text())
    assert policy["Version"] == "2012-10-17"
    # A second kit for the same thing reuses thing and policy, with a new certificate.
    d2 = kumo.workdir / "second.zip"
    kumo.cli("kit", "raspi2", "--out", str(d2), "--port", str(kumo.tls_port))
    principals = json.loads(kumo.cli("api", "ListThingPrincipals", '{"thingName":"raspi2"}',
                                     "--output", "json").stdout)["principals"]
    assert len(principals) == 2
    r = kumo.cli("kit", "raspi2", "--out", str(d2), check=False)
    assert r.returncode == 2 and "refusing to overwrite" in r.stderr


def sdk_roundtrip(kumo, d: Path, port: int, alpn: bool, mqtt5: bool, client_id="basicPubSub"):
    from awscrt import io, mqtt, mqtt5 as m5
    from awsiot import mqtt5_client_builder, mqtt_connection_builder
    cert, key, ca = str(d / "raspi2.cert.pem"), str(d / "raspi2.private.key"), str(d / "root-CA.crt")
    got, cond = [], threading.Condition()

    def keep(payload):
        with cond:
            got.append(bytes(payload))
            cond.notify_all()

    msgs = [json.dumps(f"Hello World! [{i}]").encode() for i in (1, 2, 3)]
    if not mqtt5:
        common = dict(endpoint="localhost", port=port, ca_filepath=ca, client_id=client_id,
                      clean_session=True, keep_alive_secs=30)
        if alpn:
            tls = io.TlsContextOptions.create_client_with_mtls_from_path(cert, key)
            tls.alpn_list = [ALPN_MQTT]
            conn = mqtt_connection_builder._builder(tls, **common)
        else:
            conn = mqtt_connection_builder.mtls_from_path(cert_filepath=cert, pri_key_filepath=key,
                                                          **common)
        conn.connect().result(TIMEOUT)
        try:
            conn.subscribe(topic="sdk/test/python", qos=mqtt.QoS.AT_LEAST_ONCE,
                           callback=lambda topic, payload, **kw: keep(payload))[0].result(TIMEOUT)
            for m in msgs:
                conn.publish(topic="sdk/test/python", payload=m,
                             qos=mqtt.QoS.AT_LEAST_ONCE)[0].result(TIMEOUT)
            with cond:
                assert cond.wait_for(lambda: len(got) >= 3, TIMEOUT), got
        finally:
            conn.disconnect().result(TIMEOUT)
    else:
        import concurrent.futures
        connected, stopped = concurrent.futures.Future(), concurrent.futures.Future()
        common = dict(endpoint="localhost", port=port, ca_filepath=ca, client_id=client_id,
                      on_publish_received=lambda data: keep(data.publish_packet.payload),
                      on_lifecycle_connection_success=lambda data: connected.done() or connected.set_result(1),
                      on_lifecycle_connection_failure=lambda data: connected.done() or connected.set_exception(
                          RuntimeError(repr(data.exception))),
                      on_lifecycle_stopped=lambda data: stopped.set_result(1))
        if alpn:
            tls = io.TlsContextOptions.create_client_with_mtls_from_path(cert, key)
            tls.alpn_list = [ALPN_MQTT]
            client = mqtt5_client_builder._builder(tls, **common)
        else:
            client = mqtt5_client_builder.mtls_from_path(cert_filepath=cert, pri_key_filepath=key,
                                                          **common)
        client.start()
        try:
            connected.result(TIMEOUT)
            client.subscribe(m5.SubscribePacket(subscriptions=[m5.Subscription(
                topic_filter="sdk/test/python", qos=m5.QoS.AT_LEAST_ONCE)])).result(TIMEOUT)
            for m in msgs:
                client.publish(m5.PublishPacket(topic="sdk/test/python", payload=m,
                                                qos=m5.QoS.AT_LEAST_ONCE)).result(TIMEOUT)
            with cond:
                assert cond.wait_for(lambda: len(got) >= 3, TIMEOUT), got
        finally:
            client.stop()
            stopped.result(TIMEOUT)
    assert got == msgs


@pytest.mark.parametrize("transport", ["tls", "alpn"])
@pytest.mark.parametrize("mqtt5", [False, True], ids=["mqtt3", "mqtt5"])
def test_the_aws_iot_device_sdk_connects_with_the_kit(kumo, transport, mqtt5):
    d, _ = make_kit(kumo)
    port = kumo.alpn_port if transport == "alpn" else kumo.tls_port
    sdk_roundtrip(kumo, d, port, transport == "alpn", mqtt5)


def test_paho_connects_with_the_kit_as_the_thing(kumo):
    d, _ = make_kit(kumo)
    import ssl
    ctx = ssl.create_default_context(cafile=str(d / "root-CA.crt"))
    ctx.load_cert_chain(str(d / "raspi2.cert.pem"), str(d / "raspi2.private.key"))
    got, cond = [], threading.Condition()
    c = mqtt_paho.Client(callback_api_version=mqtt_paho.CallbackAPIVersion.VERSION2,
                         client_id="raspi2", protocol=mqtt_paho.MQTTv311)
    c.tls_set_context(ctx)

    def on_message(client, userdata, msg):
        with cond:
            got.append((msg.topic, msg.payload))
            cond.notify_all()

    c.on_message = on_message
    c.connect("localhost", kumo.tls_port)
    c.loop_start()
    try:
        c.subscribe("raspi2/#", 1)
        c.subscribe("$aws/things/raspi2/shadow/update", 1)
        import time
        deadline = time.monotonic() + TIMEOUT
        # Publish until the subscription is in place (SUBACK is asynchronous in paho).
        while not got and time.monotonic() < deadline:
            c.publish("raspi2/temp", b"21.5", qos=1).wait_for_publish(TIMEOUT)
            with cond:
                cond.wait_for(lambda: got, 0.2)
        assert got and got[0] == ("raspi2/temp", b"21.5")
    finally:
        c.loop_stop()
        c.disconnect()


def test_start_sh_runs_the_pubsub_loop(kumo):
    """start.sh as shipped; its venv is the test venv (awsiotsdk already in
    it), so nothing is downloaded."""
    d, _ = make_kit(kumo)
    os.symlink(sys.prefix, d / "venv")
    r = subprocess.run(["bash", "start.sh"], cwd=d, env={**os.environ, "COUNT": "3"},
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 message(s) received." in r.stdout, r.stdout


def test_umqtt_simple_connects_with_the_kit_der_files(kumo):
    """Seed 004's client: unchanged umqtt.simple 1.3.4 (under a CPython shim
    for usocket/ussl), key and certificate in DER as a Pico W loads them,
    from the kit: no OpenSSL step."""
    import umqtt_shim
    simple = umqtt_shim.install()
    d, _ = make_kit(kumo)
    key = (d / "raspi2.private.key.der").read_bytes()
    cert = (d / "raspi2.cert.der").read_bytes()
    got = []
    client = simple.MQTTClient(client_id=b"raspi2", server="127.0.0.1", port=kumo.tls_port,
                               keepalive=60, ssl=True,
                               ssl_params={"key": key, "cert": cert, "server_side": False})
    client.set_callback(lambda topic, msg: got.append((topic, msg)))
    client.connect()
    try:
        client.subscribe(b"raspi2/pico", qos=1)
        client.publish(b"raspi2/pico", b"hello from umqtt", qos=1)
        while not got:
            client.wait_msg()
        assert got == [(b"raspi2/pico", b"hello from umqtt")]
    finally:
        client.disconnect()


def test_main_py_runs_unchanged_on_a_micropython_board(kumo):
    """The kit's main.py as mpremote copies it to a board (main.py, cert/*.der),
    run by umqtt.simple 1.3.4 under the CPython shim: its JSON reaches a
    subscriber on raspi2/hello and a command published to raspi2/commands
    reaches the board."""
    import shutil
    import ssl
    d, _ = make_kit(kumo)
    board = kumo.workdir / "board"
    (board / "cert").mkdir(parents=True)
    for name in ("raspi2.cert.der", "raspi2.private.key.der"):
        shutil.copy(d / name, board / "cert" / name)
    shutil.copy(d / "main.py", board / "main.py")

    watcher_dir, _ = make_kit(kumo, label="watcher")
    ctx = ssl.create_default_context(cafile=str(watcher_dir / "root-CA.crt"))
    ctx.load_cert_chain(str(watcher_dir / "raspi2.cert.pem"), str(watcher_dir / "raspi2.private.key"))
    got, cond = [], threading.Condition()
    c = mqtt_paho.Client(callback_api_version=mqtt_paho.CallbackAPIVersion.VERSION2,
                         client_id="basicPubSub", protocol=mqtt_paho.MQTTv311)
    c.tls_set_context(ctx)

    def on_message(client, userdata, msg):
        with cond:
            got.append(json.loads(msg.payload))
            cond.notify_all()

    c.on_message = on_message
    c.connect("localhost", kumo.tls_port)
    c.loop_start()
    subscribed = c.subscribe("raspi2/hello", 1)
    tests_dir = Path(__file__).resolve().parent
    boot = (f"import sys; sys.path.insert(0, {str(tests_dir)!r}); import umqtt_shim; "
            "umqtt_shim.install(); exec(open('main.py').read())")
    board_proc = subprocess.Popen([sys.executable, "-u", "-c", boot], cwd=board,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, line_cond = [], threading.Condition()

    def read_board():
        for line in board_proc.stdout:
            with line_cond:
                lines.append(line.rstrip())
                line_cond.notify_all()

    threading.Thread(target=read_board, daemon=True).start()
    try:
        assert subscribed[0] == mqtt_paho.MQTT_ERR_SUCCESS
        with cond:
            assert cond.wait_for(lambda: got, TIMEOUT), f"nothing on raspi2/hello; board: {lines}"
        assert got[0]["message"] == "Hello from MicroPython"
        assert got[0]["sequence"] >= 1
        with line_cond:
            assert line_cond.wait_for(lambda: any(l.startswith("connected to") for l in lines), TIMEOUT)
        c.publish("raspi2/commands", b"led on", qos=1).wait_for_publish(TIMEOUT)
        with line_cond:
            assert line_cond.wait_for(lambda: any("led on" in l for l in lines), TIMEOUT), lines
        assert "received b'raspi2/commands' b'led on'" in lines
    finally:
        board_proc.kill()
        board_proc.wait()
        c.loop_stop()
        c.disconnect()
