"""Issue 5: only registered, ACTIVE certificates connect (tls.client_auth =
"registry", the default), and a certificate that leaves ACTIVE loses its
live connections while other clients go on.

Refusals are tested with Python's ssl (fast); the paths that must work with
paho-mqtt. Expiry is covered where time can be given, in the verifier's
unit tests (crates/server/src/auth.rs)."""

from __future__ import annotations

import json

import pytest

from helpers import RawClient, build_connect, build_disconnect, paho_client, raw_client, unique
from test_broker_tls import TRANSPORTS, _assert_refused


def create_cert(kumo, active=True) -> tuple[str, tuple]:
    """CreateKeysAndCertificate through the CLI: (certificate id, (cert, key))."""
    out = kumo.workdir / unique("kit")
    name = unique("dev")
    args = ["cert", "create", "--out", str(out), "--prefix", name, "--output", "json"]
    if active:
        args.insert(2, "--active")
    created = json.loads(kumo.cli(*args).stdout)
    kumo.allow_all(created["certificateId"])
    return created["certificateId"], (out / f"{name}.cert.pem", out / f"{name}.private.key")


@TRANSPORTS
def test_a_registered_active_certificate_connects(kumo, transport):
    _, cert = create_cert(kumo)
    c = raw_client(kumo, 4, transport=transport, cert=cert)
    assert c.connack.reason == 0


@TRANSPORTS
def test_an_unregistered_certificate_from_kumos_own_ca_is_refused(kumo, transport):
    """Signed by the device CA (kumo cert issue) but never registered."""
    cert = kumo.issue_cert(unique("stranger"), register=False)
    _assert_refused(kumo, transport, cert)
    assert "not registered" in kumo.log()


@TRANSPORTS
def test_an_inactive_certificate_is_refused(kumo, transport):
    _, cert = create_cert(kumo, active=False)
    _assert_refused(kumo, transport, cert)
    assert "not ACTIVE" in kumo.log()


@TRANSPORTS
def test_a_revoked_certificate_is_refused(kumo, transport):
    cert_id, cert = create_cert(kumo)
    kumo.cli("cert", "update", cert_id, "REVOKED")
    _assert_refused(kumo, transport, cert)
    # Revoked stays revoked.
    r = kumo.cli("cert", "update", cert_id, "ACTIVE", check=False)
    assert r.returncode == 1 and "CertificateStateException" in r.stderr


def test_a_deleted_certificate_is_refused(kumo):
    cert_id, cert = create_cert(kumo)
    kumo.cli("cert", "update", cert_id, "INACTIVE")
    kumo.cli("cert", "delete", cert_id, "--force")  # detaches its policy
    _assert_refused(kumo, "tls", cert)


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_deactivating_a_certificate_drops_its_connections_only(kumo, version):
    doomed_id, doomed_cert = create_cert(kumo)
    _, other_cert = create_cert(kumo)
    doomed = raw_client(kumo, version, transport="tls", cert=doomed_cert)
    watcher = paho_client(kumo, 5, transport="tls", cert=other_cert)
    watcher.subscribe("still/here", 1)

    kumo.cli("cert", "update", doomed_id, "INACTIVE")
    packets = doomed.wait_closed(timeout=10)
    if version == 5:
        assert packets and packets[-1].reason == 0x87, packets  # Not authorized
    # It cannot come back while INACTIVE; the other client is unaffected.
    _assert_refused(kumo, "tls", doomed_cert)
    watcher.publish("still/here", b"yes", qos=1)
    assert watcher.messages.wait_for(1)[0].payload == b"yes"
    # Reactivated, it connects again.
    kumo.cli("cert", "update", doomed_id, "ACTIVE")
    again = raw_client(kumo, version, transport="tls", cert=doomed_cert)
    assert again.connack.reason == 0


def test_registration_survives_a_restart(kumo):
    cert_id, cert = create_cert(kumo)
    kumo.restart()
    assert raw_client(kumo, 4, transport="tls", cert=cert).connack.reason == 0
    kumo.cli("cert", "update", cert_id, "INACTIVE")
    kumo.restart()
    _assert_refused(kumo, "tls", cert)


def test_ca_file_mode_accepts_any_certificate_of_the_ca(kumo_factory):
    """tls.client_auth = "ca_file": the registry is not consulted."""
    kumo = kumo_factory('[tls]\nclient_auth = "ca_file"\n')
    cert = kumo.issue_cert(unique("plain"), register=False)
    assert raw_client(kumo, 4, transport="tls", cert=cert).connack.reason == 0


@pytest.mark.skipif(not __import__("shutil").which("openssl"), reason="needs the openssl CLI")
def test_a_certificate_from_the_devices_own_csr_connects(kumo):
    """CreateCertificateFromCsr: the key is made on the device (openssl
    here) and never leaves it; Kumo certifies it."""
    import subprocess
    d = kumo.workdir / unique("csr")
    d.mkdir()
    key, csr = d / "device.key", d / "device.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=pico-7"],
                   check=True, capture_output=True)
    out = json.loads(kumo.cli("cert", "from-csr", str(csr), "--active", "--output", "json").stdout)
    cert = d / "device.cert.pem"
    cert.write_text(out["certificatePem"])
    kumo.allow_all(out["certificateId"])
    assert raw_client(kumo, 5, transport="tls", cert=(cert, key)).connack.reason == 0
    # A request that was altered after signing is refused.
    lines = csr.read_text().splitlines()
    body = lines[2]  # a base64 line inside the signed part
    lines[2] = body[:10] + ("B" if body[10] != "B" else "C") + body[11:]
    r = kumo.cli("cert", "from-csr", "-", input="\n".join(lines) + "\n", check=False)
    assert r.returncode == 1 and "CertificateValidationException" in r.stderr, r.stderr


class OwnCa:
    """A customer's CA made with the openssl CLI, registered with Kumo."""

    def __init__(self, kumo, auto_registration=False):
        self.kumo = kumo
        self.d = kumo.workdir / unique("ownca")
        self.d.mkdir()
        self._ec_key("ca.key")
        self._ossl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=Acme Device CA",
                   "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
                   "-addext", "keyUsage=critical,keyCertSign", "-out", "ca.pem")
        code = self.api("GetRegistrationCode", {})["registrationCode"]
        self.id = self.api("RegisterCACertificate", {
            "caCertificate": (self.d / "ca.pem").read_text(),
            "verificationCertificate": self.issue("verification", code)[0].read_text(),
            "setAsActive": True, "allowAutoRegistration": auto_registration,
        })["certificateId"]

    def _ossl(self, *args):
        import subprocess
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=self.d)

    def _ec_key(self, name):
        self._ossl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name)

    def issue(self, name, cn):
        """A v3 client certificate from this CA: (cert path, key path)."""
        self._ec_key(f"{name}.key")
        self._ossl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr")
        (self.d / "v3.ext").write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                                       "extendedKeyUsage=clientAuth\n")
        self._ossl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                   "-CAcreateserial", "-days", "30", "-extfile", "v3.ext", "-out", f"{name}.pem")
        return self.d / f"{name}.pem", self.d / f"{name}.key"

    def api(self, op, body):
        return json.loads(self.kumo.cli("api", op, "-", "--output", "json",
                                        input=json.dumps(body)).stdout)


NEEDS_OPENSSL = pytest.mark.skipif(not __import__("shutil").which("openssl"),
                                   reason="needs the openssl CLI")


@NEEDS_OPENSSL
def test_bring_your_own_ca(kumo):
    """RegisterCACertificate with a verification certificate (CN = the
    registration code), RegisterCertificate for a device certificate from
    that CA; the device connects while its CA is ACTIVE, and loses its
    connection and cannot come back when the CA is deactivated."""
    ca = OwnCa(kumo)
    cert = ca.issue("device", "pico-9")
    device = ca.api("RegisterCertificate", {"certificatePem": cert[0].read_text(),
                                            "setAsActive": True})
    kumo.allow_all(device["certificateId"])
    c = raw_client(kumo, 5, transport="tls", cert=cert)
    assert c.connack.reason == 0

    ca.api("UpdateCACertificate", {"certificateId": ca.id, "newStatus": "INACTIVE"})
    c.wait_closed(timeout=10)
    _assert_refused(kumo, "tls", cert)
    assert "not registered and ACTIVE" in kumo.log()


@NEEDS_OPENSSL
def test_just_in_time_registration(kumo):
    """An unknown certificate from an auto-registration CA: the first
    connection is refused, the certificate lands in PENDING_ACTIVATION and
    $aws/events/certificates/registered/{caCertificateId} is published; once
    activated (and given a policy) it connects."""
    import hashlib
    import ssl
    ca = OwnCa(kumo, auto_registration=True)
    watcher = paho_client(kumo, 5, transport="tcp")
    watcher.subscribe("$aws/events/certificates/registered/+", 1)
    cert = ca.issue("device", "pico-jitr")
    cert_id = hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert[0].read_text())).hexdigest()

    _assert_refused(kumo, "tls", cert)
    [msg] = watcher.messages.wait_for(1)
    assert msg.topic == f"$aws/events/certificates/registered/{ca.id}"
    event = json.loads(msg.payload)
    assert event["certificateId"] == cert_id and event["caCertificateId"] == ca.id
    assert event["certificateStatus"] == "PENDING_ACTIVATION"
    assert event["awsAccountId"] == "000000000000"
    assert isinstance(event["timestamp"], int)
    d = ca.api("DescribeCertificate", {"certificateId": cert_id})["certificateDescription"]
    assert (d["status"], d["caCertificateId"]) == ("PENDING_ACTIVATION", ca.id)
    _assert_refused(kumo, "tls", cert)  # still pending

    kumo.cli("cert", "update", cert_id, "ACTIVE")
    kumo.allow_all(cert_id)
    assert raw_client(kumo, 5, transport="tls", cert=cert).connack.reason == 0


@NEEDS_OPENSSL
def test_an_expired_certificate_is_refused(kumo):
    """A registered, ACTIVE certificate stops connecting when it expires
    (here: valid for a few seconds, issued with `openssl ca -enddate`)."""
    import datetime
    import time
    ca = OwnCa(kumo)
    d = ca.d
    (d / "index.txt").write_text("")
    (d / "ca.cnf").write_text(f"""
[ca]
default_ca = own
[own]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}
serial = {d}/serial.txt
certificate = {d}/ca.pem
private_key = {d}/ca.key
default_md = sha256
policy = anything
x509_extensions = v3
unique_subject = no
[anything]
commonName = supplied
[v3]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
""")
    (d / "serial.txt").write_text("01\n")
    ca._ec_key("short.key")
    ca._ossl("req", "-new", "-key", "short.key", "-subj", "/CN=short-lived", "-out", "short.csr")
    now = datetime.datetime.now(datetime.timezone.utc)
    fmt = "%Y%m%d%H%M%SZ"
    start = (now - datetime.timedelta(minutes=1)).strftime(fmt)
    end = (now + datetime.timedelta(seconds=4)).strftime(fmt)
    ca._ossl("ca", "-batch", "-config", "ca.cnf", "-in", "short.csr", "-out", "short.pem",
             "-startdate", start, "-enddate", end, "-notext")
    cert = (d / "short.pem", d / "short.key")
    reg = ca.api("RegisterCertificate", {"certificatePem": cert[0].read_text(), "setAsActive": True})
    kumo.allow_all(reg["certificateId"])
    assert raw_client(kumo, 5, transport="tls", cert=cert).connack.reason == 0
    # Not synchronisation: the condition under test is the wall clock passing notAfter.
    time.sleep(max(0.0, (now + datetime.timedelta(seconds=5) - datetime.datetime.now(datetime.timezone.utc)).total_seconds()))
    _assert_refused(kumo, "tls", cert)
    assert "expired" in kumo.log()
