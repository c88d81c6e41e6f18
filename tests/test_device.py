"""Issue 9: `kumo-device`, the device side in Rust, against a real `kumo
serve` with a connect kit, and against Mosquitto configured for mutual TLS
(a broker that is not Kumo): the AWS pubsub sample's flags and output,
publish/subscribe for scripts, PEM/DER conversion, and one clear line for
each bad input."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from helpers import make_kit

DEVICE = Path(os.environ.get("KUMO_DEVICE_BIN") or
              Path(os.environ.get("KUMO_BIN") or
                   Path(__file__).resolve().parent.parent / "target" / "debug" / "kumo").parent
              / "kumo-device")
TIMEOUT = 30


def device(*args: str, input: bytes | None = None, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([str(DEVICE), *args], input=input, capture_output=True, timeout=timeout)


def connect_args(d: Path, port: int, thing="raspi2", endpoint="localhost", client_id="basicPubSub"):
    return ["--endpoint", endpoint, "--port", str(port), "--ca_file", str(d / "root-CA.crt"),
            "--cert", str(d / f"{thing}.cert.pem"), "--key", str(d / f"{thing}.private.key"),
            "--client_id", client_id]


def test_issue_9_pubsub_speaks_like_the_sdk_sample(kumo):
    """Seed 000's start.sh line with kumo-device in place of pubsub.py: the
    same flags, the same lines."""
    d, _ = make_kit(kumo)
    r = device("pubsub", *connect_args(d, kumo.tls_port), "--topic", "sdk/test/python",
               "--count", "2", "--message", "I am RaspberryPi")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().splitlines() == [
        "Connecting to localhost with client ID 'basicPubSub'...",
        "Connected!",
        "Subscribing to topic 'sdk/test/python'...",
        "Subscribed with QoS.AT_LEAST_ONCE",
        "Sending 2 message(s)",
        "Publishing message to topic 'sdk/test/python': I am RaspberryPi [1]",
        "Received message from topic 'sdk/test/python': b'\"I am RaspberryPi [1]\"'",
        "Publishing message to topic 'sdk/test/python': I am RaspberryPi [2]",
        "Received message from topic 'sdk/test/python': b'\"I am RaspberryPi [2]\"'",
        "2 message(s) received.",
        "Disconnecting...",
        "Disconnected!",
    ]


def test_issue_9_alpn_on_the_port_that_needs_it(kumo):
    """Kumo's 443-style listener answers MQTT only with ALPN x-amzn-mqtt-ca:
    --alpn offers it (on 443 it is always offered)."""
    d, _ = make_kit(kumo)
    r = device("pubsub", *connect_args(d, kumo.alpn_port), "--alpn", "--topic", "sdk/test/python",
               "--count", "1")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().splitlines()[-1] == "Disconnected!"


def test_issue_9_publish_and_subscribe_for_scripts(kumo):
    """subscribe --json prints one object per message; publish takes the
    payload from --message, a file or stdin; DER credentials work too."""
    d, _ = make_kit(kumo)
    sub = subprocess.Popen([str(DEVICE), "subscribe", *connect_args(d, kumo.tls_port, client_id="raspi2"),
                            "--topic", "raspi2/#", "--count", "3", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Ready once it says so on stderr.
        line = sub.stderr.readline().decode()
        assert line.startswith("Subscribed to raspi2/#"), line
        der = ["--endpoint", "localhost", "--port", str(kumo.tls_port), "--ca_file", str(d / "root-CA.crt"),
               "--cert", str(d / "raspi2.cert.der"), "--key", str(d / "raspi2.private.key.der"),
               "--client_id", "basicPubSub"]
        r = device("publish", *der, "--topic", "raspi2/a", "--message", '{"t": 21.5}', "--json")
        assert r.returncode == 0, r.stderr.decode()
        assert json.loads(r.stdout) == {"topic": "raspi2/a", "qos": 1, "retain": False, "bytes": 11,
                                        "acknowledged": True}
        payload = d / "payload.bin"
        payload.write_bytes(b"from a file")
        assert device("publish", *der, "--topic", "raspi2/b", "--file", str(payload)).returncode == 0
        assert device("publish", *der, "--topic", "raspi2/c", "--qos", "0",
                      input=b"from stdin").returncode == 0
        out, err = sub.communicate(timeout=TIMEOUT)
        assert sub.returncode == 0, err.decode()
        got = [json.loads(line) for line in out.decode().splitlines()]
        assert got == [
            {"topic": "raspi2/a", "payload": '{"t": 21.5}', "qos": 1, "retain": False},
            {"topic": "raspi2/b", "payload": "from a file", "qos": 1, "retain": False},
            {"topic": "raspi2/c", "payload": "from stdin", "qos": 0, "retain": False},
        ]
    finally:
        sub.kill()
        sub.wait()


def test_issue_9_convert_replaces_the_openssl_step(kumo, tmp_path):
    """Seed 004 converts with `openssl x509 -outform der` and `openssl rsa
    -outform DER`: kumo-device convert gives the same bytes, and back."""
    d, _ = make_kit(kumo)
    r = device("convert", str(d / "raspi2.cert.pem"), str(tmp_path / "cert.der"))
    assert r.returncode == 0, r.stderr.decode()
    assert "CERTIFICATE, DER" in r.stdout.decode()
    assert (tmp_path / "cert.der").read_bytes() == (d / "raspi2.cert.der").read_bytes()
    openssl = subprocess.run(["openssl", "rsa", "-inform", "pem", "-in", str(d / "raspi2.private.key"),
                              "-outform", "DER", "-traditional"], capture_output=True)
    assert device("convert", str(d / "raspi2.private.key"), str(tmp_path / "key.der")).returncode == 0
    assert (tmp_path / "key.der").read_bytes() == openssl.stdout == (d / "raspi2.private.key.der").read_bytes()
    assert (tmp_path / "key.der").stat().st_mode & 0o077 == 0
    assert device("convert", str(d / "raspi2.cert.der"), str(tmp_path / "cert.pem")).returncode == 0
    assert (tmp_path / "cert.pem").read_text() == (d / "raspi2.cert.pem").read_text()
    again = device("convert", str(d / "raspi2.cert.pem"), str(tmp_path / "cert.der"))
    assert again.returncode == 1
    assert again.stderr.decode().strip() == \
        f"kumo-device: {tmp_path / 'cert.der'} already exists; remove it or choose another output"


def test_issue_9_every_bad_input_is_one_line_that_says_what_to_fix(kumo, tmp_path):
    d, info = make_kit(kumo)
    other, _ = make_kit(kumo, "pico")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(tmp_path / "stranger.key"), "-out", str(tmp_path / "stranger.crt"),
                    "-subj", "/CN=stranger", "-days", "1"], check=True, capture_output=True)

    def error(*args):
        r = device("pubsub", "--topic", "sdk/test/python", "--count", "1", *args)
        assert r.returncode == 1
        lines = r.stderr.decode().strip().splitlines()
        assert len(lines) == 1, lines
        return lines[0]

    ca, cert, key = str(d / "root-CA.crt"), str(d / "raspi2.cert.pem"), str(d / "raspi2.private.key")
    port = str(kumo.tls_port)
    base = ["--endpoint", "localhost", "--port", port, "--client_id", "basicPubSub"]
    assert error(*base, "--ca_file", "missing.crt", "--cert", cert, "--key", key) == \
        "kumo-device: cannot read the CA file (--ca_file) missing.crt: no such file"
    assert error(*base, "--ca_file", ca, "--cert", cert, "--key", key + ".nope") == \
        f"kumo-device: cannot read the private key (--key) {key}.nope: no such file"
    assert error(*base, "--ca_file", key, "--cert", cert, "--key", key) == \
        f"kumo-device: the CA file (--ca_file) {key} holds no certificate (expected -----BEGIN CERTIFICATE-----)"
    # A key that is not the certificate's.
    assert error(*base, "--ca_file", ca, "--cert", cert, "--key", str(other / "pico.private.key")) == \
        (f"kumo-device: the private key {other / 'pico.private.key'} does not belong to the certificate "
         f"{cert}: use the key that was made with this certificate (the kit's NAME.private.key)")
    # A CA that does not verify the server.
    assert error(*base, "--ca_file", str(tmp_path / "stranger.crt"), "--cert", cert, "--key", key) == \
        (f"kumo-device: the server at localhost:{port} has a certificate the CA file {tmp_path / 'stranger.crt'} "
         "does not vouch for: use the root CA of this server (the kit's root-CA.crt; AmazonRootCA1.pem for "
         "AWS IoT Core)")
    # A certificate the server does not know.
    msg = error(*base, "--ca_file", ca, "--cert", str(tmp_path / "stranger.crt"),
                "--key", str(tmp_path / "stranger.key"))
    assert msg.startswith(f"kumo-device: the server at localhost:{port} refused this device's certificate ("), msg
    assert msg.endswith("is it registered and ACTIVE, and is --cert the certificate of --key?"), msg
    # A client ID the policy does not allow.
    assert error("--endpoint", "localhost", "--port", port, "--client_id", "intruder", "--ca_file", ca,
                 "--cert", cert, "--key", key) == (
        f"kumo-device: the server at localhost:{port} closed the connection: with AWS IoT Core and Kumo "
        "this usually means the certificate's policy does not allow iot:Connect for client ID intruder "
        "(or another device took over this client ID)")
    # An endpoint that does not answer, or does not resolve, or a name not in the certificate.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    assert error("--endpoint", "localhost", "--port", str(closed_port), "--ca_file", ca, "--cert", cert,
                 "--key", key) == (
        f"kumo-device: nothing answers at localhost:{closed_port} (connection refused): is the broker "
        "running, and is the port right (8883, or 443)?")
    assert error("--endpoint", "nosuchhost.invalid", "--port", port, "--ca_file", ca, "--cert", cert,
                 "--key", key) == \
        "kumo-device: cannot resolve the endpoint nosuchhost.invalid: check its spelling and the device's DNS"


# ---------------------------------------------------------------------------
# Mosquitto with mutual TLS: a broker that is not Kumo.
# ---------------------------------------------------------------------------

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def mosquitto(tmp_path):
    """Mosquitto on a free port, requiring client certificates signed by its own CA."""
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (scripts/test installs it as root)")
    d = tmp_path / "mosq"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-subj", "/CN=Test CA", "-days", "2", cwd=d)
    for name, ext in (("server", "subjectAltName=DNS:localhost"), ("device", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (d / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\n"
        f"cafile {d / 'ca.crt'}\ncertfile {d / 'server.crt'}\nkeyfile {d / 'server.key'}\n"
        "require_certificate true\nallow_anonymous true\npersistence false\nlog_dest stderr\n"
        # Run as root, mosquitto would switch to user mosquitto and lose the files.
        f"user {pwd.getpwuid(os.geteuid()).pw_name}\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(d / "mosquitto.conf")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    # Ready once it says so ("mosquitto version 2.x running").
    seen = []
    for line in proc.stdout:
        seen.append(line.decode())
        if b" running" in line:
            break
    else:
        raise AssertionError(f"mosquitto did not start: {''.join(seen)}")
    yield d, port
    proc.terminate()
    proc.wait(10)


def test_issue_9_the_same_pubsub_works_against_mosquitto_with_mtls(mosquitto):
    d, port = mosquitto
    r = device("pubsub", "--endpoint", "localhost", "--port", str(port), "--ca_file", str(d / "ca.crt"),
               "--cert", str(d / "device.crt"), "--key", str(d / "device.key"),
               "--client_id", "basicPubSub", "--topic", "sdk/test/python", "--count", "2")
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode().splitlines()
    assert "Received message from topic 'sdk/test/python': b'\"Hello World! [2]\"'" in out
    assert out[-3:] == ["2 message(s) received.", "Disconnecting...", "Disconnected!"]


def test_issue_9_the_kit_runs_kumo_device_in_place_of_python(kumo):
    """The kit's start-kumo-device.sh: start.sh's loop with kumo-device, and
    a clear message when kumo-device is not installed."""
    d, _ = make_kit(kumo)
    script = d / "start-kumo-device.sh"
    env = dict(os.environ, COUNT="2", KUMO_DEVICE=str(DEVICE))
    r = subprocess.run([str(script)], env=env, capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode().splitlines()
    assert out[:3] == ["", "Running pub/sub sample application...",
                       "Connecting to localhost with client ID 'basicPubSub'..."]
    assert out[-3:] == ["2 message(s) received.", "Disconnecting...", "Disconnected!"]
    env = dict(os.environ, KUMO_DEVICE="no-such-kumo-device")
    r = subprocess.run([str(script)], env=env, capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 1
    assert "cargo install --path crates/device" in r.stdout.decode()


# ---------------------------------------------------------------------------
# The agent: kumo-device run.
# ---------------------------------------------------------------------------

def pin_tls_port(kumo):
    """From now on kumo restarts on the mutual-TLS port it has (an agent's
    configuration names its port, as a device's would)."""
    text = kumo.config_path.read_text()
    pinned = text.replace('[listeners.tls]\nenabled = true\nbind = "127.0.0.1:0"',
                          f'[listeners.tls]\nenabled = true\nbind = "127.0.0.1:{kumo.tls_port}"')
    assert pinned != text
    kumo.config_path.write_text(pinned)


class Agent:
    """kumo-device run, its log lines collected as they come."""

    def __init__(self, config: Path):
        import threading
        self.proc = subprocess.Popen([str(DEVICE), "run", "--config", str(config)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, KUMO_DEVICE_LOG="debug"))
        self.lines: list[str] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.decode().rstrip())
                self.cond.notify_all()

    def wait_for(self, predicate, what: str, timeout: float = TIMEOUT):
        with self.cond:
            assert self.cond.wait_for(lambda: predicate(self.lines), timeout), \
                f"agent: no {what} within {timeout}s; log: {self.lines}"

    def count(self, needle: str) -> int:
        with self.cond:
            return sum(needle in line for line in self.lines)


def agent_config(d: Path, port: int) -> Path:
    config = d / "device.toml"
    config.write_text(
        f'endpoint = "localhost"\nport = {port}\nca_file = "root-CA.crt"\n'
        'cert = "raspi2.cert.pem"\nkey = "raspi2.private.key"\nclient_id = "raspi2"\n'
        '[queue]\ndir = "queue"\n'
        '[publish]\nsocket = "publish.sock"\ntopic = "raspi2/telemetry"\n'
        '[heartbeat]\ntopic = "raspi2/heartbeat"\ninterval_secs = 1\n')
    return config


def send_lines(sock_path: Path, lines: list[str]):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(sock_path))
        s.sendall("".join(f"{line}\n" for line in lines).encode())


def test_issue_9_the_agent_queues_on_disk_while_the_broker_is_down_and_survives_restarts(kumo):
    """Lines written to the agent's socket while Kumo is stopped wait in the
    queue directory and reach the subscriber after it comes back, none
    lost, in order; twice; then SIGTERM stops the agent cleanly."""
    import signal as sig

    from helpers import paho_client
    pin_tls_port(kumo)
    d, _ = make_kit(kumo)
    agent_config(d, kumo.tls_port)
    agent = Agent(d / "device.toml")
    watcher_id = "watcher-raspi2"
    try:
        agent.wait_for(lambda ls: any("connected (session present" in l for l in ls), "connection")
        sock = d / "publish.sock"

        def watcher():
            w = paho_client(kumo, 5, watcher_id, clean=False,
                            properties=__import__("helpers").connect_props(SessionExpiryInterval=3600))
            w.subscribe("raspi2/telemetry", qos=1)
            return w

        w = watcher()
        send_lines(sock, ["t=20.0"])
        w.messages.wait_until(lambda ms: [m.payload for m in ms] == [b"t=20.0"], what="the first line")
        w.disconnect()
        sent = ["t=20.0"]
        for round_ in (1, 2):
            kumo.stop()
            agent.wait_for(lambda ls: agent.count("connection lost") >= round_, "notice of the loss")
            batch = [f"round{round_}-{i}" for i in range(5)]
            send_lines(sock, batch)
            sent += batch
            agent.wait_for(lambda ls: agent.count("(5 waiting)") >= round_,
                           "five lines queued")
            assert len(list((d / "queue").glob("*.msg"))) == 5
            kumo.start()
            w = watcher()
            got = w.messages.wait_until(lambda ms: len(ms) >= 5, what=f"round {round_}'s queued lines")
            assert [m.payload.decode() for m in got] == batch
            w.disconnect()
            agent.wait_for(lambda ls: agent.count("connected (session present") >= round_ + 1, "reconnect")
            assert agent.proc.poll() is None
        # Heartbeats while connected; the queue empties once the broker acknowledged.
        hb = paho_client(kumo, 5, "watcher-hb")
        hb.subscribe("raspi2/heartbeat", qos=0)
        hb.messages.wait_until(lambda ms: any(json.loads(m.payload)["queued"] == 0 for m in ms),
                               timeout=TIMEOUT, what="a heartbeat with an empty queue")
        hb.disconnect()
        assert list((d / "queue").glob("*.msg")) == []
        agent.proc.send_signal(sig.SIGTERM)
        assert agent.proc.wait(TIMEOUT) == 0
        agent.wait_for(lambda ls: any("stopped; 0 message(s) stay queued" in l for l in ls), "the stop")
        assert not sock.exists()
        # A reboot: lines queued while Kumo is down, the agent stopped, both
        # started again: the queue on disk is sent.
        kumo.stop()
        agent = Agent(d / "device.toml")
        agent.wait_for(lambda ls: any("cannot connect" in l for l in ls), "a failed attempt")
        send_lines(sock, ["after-reboot-1", "after-reboot-2"])
        agent.wait_for(lambda ls: any("(2 waiting)" in l for l in ls), "two lines queued")
        agent.proc.send_signal(sig.SIGTERM)
        assert agent.proc.wait(TIMEOUT) == 0
        agent.wait_for(lambda ls: any("stopped; 2 message(s) stay queued" in l for l in ls), "the stop")
        kumo.start()
        w = watcher()
        agent = Agent(d / "device.toml")
        agent.wait_for(lambda ls: any("2 message(s) queued" in l and "starting" in l for l in ls), "the start")
        got = w.messages.wait_until(lambda ms: len(ms) >= 2, what="the lines queued before the reboot")
        assert [m.payload for m in got] == [b"after-reboot-1", b"after-reboot-2"]
        w.disconnect()
    finally:
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait()


# ---------------------------------------------------------------------------
# Shadows: kumo-device shadow get|update|delete|watch|sync.
# ---------------------------------------------------------------------------

def test_issue_9_shadow_commands(kumo):
    d, _ = make_kit(kumo)
    args = connect_args(d, kumo.tls_port, client_id="raspi2")
    args = [a for a in args]
    r = device("shadow", "get", *args, "--thing", "raspi2")
    assert r.returncode == 1
    assert r.stderr.decode().strip() == "kumo-device: raspi2 has no shadow"
    r = device("shadow", "update", *args, "--thing", "raspi2",
               "--payload", '{"state": {"reported": {"led": "off"}}}')
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout)["version"] == 1
    r = device("shadow", "update", *args, "--thing", "raspi2", "--name", "config",
               input=b'{"state": {"desired": {"rate": 5}}}')
    assert r.returncode == 0, r.stderr.decode()
    doc = json.loads(device("shadow", "get", *args, "--thing", "raspi2").stdout)
    assert doc["state"] == {"reported": {"led": "off"}} and doc["version"] == 1
    named = json.loads(device("shadow", "get", *args, "--thing", "raspi2", "--name", "config").stdout)
    assert named["state"] == {"desired": {"rate": 5}, "delta": {"rate": 5}}
    # A version conflict is the service's answer, in one line.
    r = device("shadow", "update", *args, "--thing", "raspi2",
               "--payload", '{"state": {"reported": {"led": "on"}}, "version": 7}')
    assert r.returncode == 1
    assert r.stderr.decode().strip() == \
        'kumo-device: the shadow "raspi2" refused the request: 409 Version conflict'
    assert device("shadow", "delete", *args, "--thing", "raspi2").returncode == 0
    assert device("shadow", "get", *args, "--thing", "raspi2").returncode == 1


def test_issue_9_shadow_sync_both_ways_with_the_sdk_on_the_other_side(kumo, tmp_path):
    """kumo-device keeps state.json as the reported state; an app with the
    AWS IoT Device SDK sets desired; the hook sees each delta; a local edit
    of the file is reported; a refused delta stays a delta."""
    import threading

    from test_shadow import Kit, Mqtt3Shadow
    d, _ = make_kit(kumo)
    state = tmp_path / "state.json"
    state.write_text('{"led": "off", "temp": 20}')
    hook_log = tmp_path / "hook.log"
    hook = f'd=$(cat); echo "$d" >> {hook_log}; case "$d" in *forbidden*) exit 3;; esac'
    proc = subprocess.Popen([str(DEVICE), "shadow", "sync", str(state), *connect_args(d, kumo.tls_port,
                             client_id="raspi2"), "--thing", "raspi2", "--hook", hook],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, cond = [], threading.Condition()

    def read():
        for line in proc.stdout:
            with cond:
                out.append(json.loads(line))
                cond.notify_all()

    threading.Thread(target=read, daemon=True).start()

    def wait_out(pred, what):
        with cond:
            assert cond.wait_for(lambda: any(pred(o) for o in out), TIMEOUT), f"no {what}: {out}"

    app = Mqtt3Shadow(Kit(kumo, "app"), "test-app")
    try:
        wait_out(lambda o: o == {"event": "reported", "state": {"led": "off", "temp": 20}}, "first report")
        assert app.get().state.reported == {"led": "off", "temp": 20}
        # Cloud → device: desired led on.
        app.update(desired={"led": "on"})
        wait_out(lambda o: o.get("event") == "reported" and o["state"].get("led") == "on", "the delta applied")
        assert json.loads(state.read_text()) == {"led": "on", "temp": 20}
        assert json.loads(hook_log.read_text().splitlines()[0]) == {"led": "on"}
        got = app.get()
        assert got.state.reported == {"led": "on", "temp": 20} and got.state.delta is None
        # Device → cloud: the file changes.
        state.write_text('{"led": "on", "temp": 25.5}')
        wait_out(lambda o: o.get("event") == "reported" and o["state"].get("temp") == 25.5, "the local edit")
        assert app.get().state.reported == {"led": "on", "temp": 25.5}
        # A delta the hook refuses is not applied and stays a delta.
        app.update(desired={"mode": "forbidden"})
        wait_out(lambda o: o.get("event") == "delta" and o["state"] == {"mode": "forbidden"}, "the refused delta")
        got = app.get()
        assert got.state.delta == {"mode": "forbidden"}
        assert json.loads(state.read_text()) == {"led": "on", "temp": 25.5}
        assert proc.poll() is None
    finally:
        app.close()
        proc.terminate()
        proc.wait(TIMEOUT)


def test_issue_9_mqtt5_pubsub_and_the_brokers_refusals(kumo, mosquitto):
    """--mqtt5: the same sample over MQTT 5, against Kumo and Mosquitto; a
    publish or subscribe the policy forbids is refused by reason code, said
    in one line."""
    d, _ = make_kit(kumo)
    r = device("pubsub", *connect_args(d, kumo.tls_port), "--mqtt5", "--topic", "sdk/test/python",
               "--count", "2")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().splitlines()[-3:] == ["2 message(s) received.", "Disconnecting...",
                                                   "Disconnected!"]
    mdir, mport = mosquitto
    r = device("pubsub", "--endpoint", "localhost", "--port", str(mport), "--ca_file", str(mdir / "ca.crt"),
               "--cert", str(mdir / "device.crt"), "--key", str(mdir / "device.key"), "--mqtt5",
               "--topic", "t/1", "--count", "1")
    assert r.returncode == 0, r.stderr.decode()
    assert "Received message from topic 't/1': b'\"Hello World! [1]\"'" in r.stdout.decode()
    r = device("publish", *connect_args(d, kumo.tls_port), "--mqtt5", "--topic", "pico/secret",
               "--message", "x")
    assert r.returncode == 1
    assert r.stderr.decode().strip() == ("kumo-device: the broker refused the publish to pico/secret "
                                         "(NotAuthorized): does the policy allow iot:Publish on it?")
    r = device("subscribe", *connect_args(d, kumo.tls_port), "--mqtt5", "--topic", "pico/#")
    assert r.returncode == 1
    assert r.stderr.decode().strip() == ("kumo-device: the broker refused the subscription to pico/#: "
                                         "does the policy allow iot:Subscribe on it?")


def test_issue_9_a_kit_directory_is_enough(kumo):
    """--kit DIR takes endpoint, port, files and client ID from the kit's
    device.toml, the agent's configuration."""
    d, _ = make_kit(kumo)
    r = device("pubsub", "--kit", str(d), "--topic", "raspi2/hello", "--count", "1")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().splitlines()[0] == "Connecting to localhost with client ID 'raspi2'..."


def test_issue_9_the_kits_device_toml_runs_the_agent_with_shadow_sync(kumo):
    """`kumo-device run --config device.toml` straight from the kit: the
    socket publishes, and shadow.json follows the desired state an app sets
    with the AWS IoT Device SDK (and is reported back)."""
    import signal as sig

    from helpers import paho_client
    from test_shadow import Kit, Mqtt3Shadow
    d, _ = make_kit(kumo)
    agent = Agent(d / "device.toml")
    app = None
    try:
        agent.wait_for(lambda ls: any("connected (session present" in l for l in ls), "connection")
        agent.wait_for(lambda ls: any("shadow in sync (version 0)" in l for l in ls), "the first shadow exchange")
        w = paho_client(kumo, 5, "watcher")
        w.subscribe("raspi2/telemetry", qos=1)
        send_lines(d / "publish.sock", ['{"t": 1}'])
        assert w.messages.wait_for(1)[0].payload == b'{"t": 1}'
        app = Mqtt3Shadow(Kit(kumo, "app"), "test-app")
        app.update(desired={"led": "on"})
        agent.wait_for(lambda ls: any('shadow reported: {"led":"on"}' in l for l in ls), "the delta applied")
        assert json.loads((d / "shadow.json").read_text()) == {"led": "on"}
        got = app.get()
        assert got.state.reported == {"led": "on"} and got.state.delta is None
        agent.proc.send_signal(sig.SIGTERM)
        assert agent.proc.wait(TIMEOUT) == 0
    finally:
        if app:
            app.close()
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait()
