"""The registry through the admin CLI (`kumo thing|cert|policy|api`) of a
running server: AWS's answers and errors, private keys handed out once,
and everything still there after a restart (issue 5, first increment)."""

from __future__ import annotations

import hashlib
import json
import shutil
import ssl
import stat
import subprocess

ALLOW_CONNECT = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iot:Connect",
                   "Resource": "arn:aws:iot:us-east-1:000000000000:client/${iot:Connection.Thing.ThingName}"}],
})


def api(kumo, op: str, body: dict | None = None) -> dict:
    r = kumo.cli("api", op, json.dumps(body or {}), "--output", "json")
    return json.loads(r.stdout)


def test_a_thing_its_certificate_and_policy_survive_a_restart(kumo):
    r = kumo.cli("thing", "create", "raspi2", "--attribute", "model=pi4")
    assert "thingArn: arn:aws:iot:us-east-1:000000000000:thing/raspi2" in r.stdout

    kit = kumo.workdir / "kit"
    created = json.loads(kumo.cli("cert", "create", "--active", "--out", str(kit),
                                  "--prefix", "raspi2", "--output", "json").stdout)
    cert_pem = (kit / "raspi2.cert.pem").read_text()
    key = kit / "raspi2.private.key"
    assert cert_pem == created["certificatePem"]
    assert key.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (kit / "raspi2.public.key").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    # The id is the SHA-256 of the DER, as on AWS.
    cert_id = created["certificateId"]
    assert cert_id == hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert_pem)).hexdigest()
    if shutil.which("openssl"):
        v = subprocess.run(["openssl", "verify", "-CAfile", str(kumo.data_dir / "ca" / "device-ca.crt"),
                            str(kit / "raspi2.cert.pem")], capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr

    doc = kumo.workdir / "policy.json"
    doc.write_text(ALLOW_CONNECT)
    kumo.cli("policy", "create", "raspi2-Policy", "--document", str(doc))
    kumo.cli("policy", "attach", "raspi2-Policy", cert_id)
    kumo.cli("thing", "attach-cert", "raspi2", cert_id)

    def state():
        arn = f"arn:aws:iot:us-east-1:000000000000:cert/{cert_id}"
        return (
            api(kumo, "DescribeThing", {"thingName": "raspi2"}),
            api(kumo, "DescribeCertificate", {"certificateId": cert_id})["certificateDescription"]["status"],
            api(kumo, "GetPolicy", {"policyName": "raspi2-Policy"})["policyDocument"],
            api(kumo, "ListAttachedPolicies", {"target": arn})["policies"],
            api(kumo, "ListThingPrincipals", {"thingName": "raspi2"})["principals"],
        )

    before = state()
    assert before[0]["attributes"] == {"model": "pi4"}
    assert before[1] == "ACTIVE"
    assert before[2] == ALLOW_CONNECT
    assert [p["policyName"] for p in before[3]] == ["raspi2-Policy"]
    kumo.restart()
    assert state() == before
    # The private key was never stored: it is nowhere in the data directory.
    secret = key.read_text().splitlines()[1]
    for f in kumo.data_dir.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f"private key found in {f}"


def test_errors_are_aws_exceptions_with_a_non_zero_exit(kumo):
    kumo.cli("thing", "create", "raspi2")
    r = kumo.cli("thing", "create", "raspi2", "--attribute", "a=b", check=False)
    assert r.returncode == 1
    assert "ResourceAlreadyExistsException" in r.stderr

    r = kumo.cli("thing", "describe", "ghost", check=False)
    assert r.returncode == 1 and "ResourceNotFoundException: Thing ghost does not exist" in r.stderr

    r = kumo.cli("thing", "create", "bad name", check=False)
    assert r.returncode == 1 and "InvalidRequestException" in r.stderr
    assert "failed to satisfy constraint" in r.stderr

    cert_id = json.loads(kumo.cli("cert", "create", "--active", "--output", "json").stdout)["certificateId"]
    r = kumo.cli("cert", "delete", cert_id, check=False)
    assert r.returncode == 1 and "CertificateStateException" in r.stderr
    kumo.cli("cert", "update", cert_id, "inactive")
    kumo.cli("cert", "delete", cert_id)

    r = kumo.cli("policy", "create", "p", "--document", "-", input="{not json", check=False)
    assert r.returncode == 1 and "MalformedPolicyException" in r.stderr

    r = kumo.cli("api", "NoSuchOperation", check=False)
    assert r.returncode == 1 and "InvalidRequestException" in r.stderr


def test_the_admin_socket_is_for_the_owner_only_and_gone_after_stop(kumo):
    sock = kumo.data_dir / "admin.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    kumo.stop()
    assert not sock.exists()
    r = kumo.cli("thing", "list", check=False)
    assert r.returncode == 1 and "cannot reach the Kumo server" in r.stderr
