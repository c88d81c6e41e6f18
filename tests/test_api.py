"""Issue 7: the AWS-compatible HTTPS API, driven by boto3 and the aws CLI,
unchanged, with ``--endpoint-url`` and Kumo's root CA: the console's
"connect one device" flow done by API and then used by an AWS IoT Device
SDK device, shadows and Publish through iot-data seen over MQTT, AWS's
exception classes, and SigV4 refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from helpers import paho_client

TIMEOUT = 20

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect",
         "Resource": "arn:aws:iot:us-east-1:000000000000:client/${iot:Connection.Thing.ThingName}"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
         "Resource": ["arn:aws:iot:us-east-1:000000000000:topic/sdk/test/*",
                      "arn:aws:iot:us-east-1:000000000000:topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"]},
        {"Effect": "Allow", "Action": "iot:Subscribe",
         "Resource": ["arn:aws:iot:us-east-1:000000000000:topicfilter/sdk/test/*",
                      "arn:aws:iot:us-east-1:000000000000:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"]},
    ],
}


def connect_one_device(kumo, thing: str):
    """The console's "connect one device", by API: returns the files and the
    endpoint a device needs."""
    iot = kumo.aws("iot")
    made = iot.create_thing(thingName=thing)
    assert made["thingName"] == thing and made["thingArn"].endswith(f":thing/{thing}")
    keys = iot.create_keys_and_certificate(setAsActive=True)
    cert_arn = keys["certificateArn"]
    iot.create_policy(policyName=f"{thing}-Policy", policyDocument=json.dumps(POLICY))
    iot.attach_policy(policyName=f"{thing}-Policy", target=cert_arn)
    iot.attach_thing_principal(thingName=thing, principal=cert_arn)
    endpoint = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    d = kumo.workdir / thing
    d.mkdir()
    (d / "cert.pem").write_text(keys["certificatePem"])
    (d / "private.key").write_text(keys["keyPair"]["PrivateKey"])
    os.chmod(d / "private.key", 0o600)
    return d, endpoint, keys


class Device:
    """An AWS IoT Device SDK (MQTT 5) device with the API-made credentials."""

    def __init__(self, kumo, d, endpoint, client_id):
        import concurrent.futures

        from awsiot import mqtt5_client_builder
        self.got, self.cond = [], threading.Condition()
        connected, self.stopped = concurrent.futures.Future(), concurrent.futures.Future()
        self.client = mqtt5_client_builder.mtls_from_path(
            endpoint=endpoint, port=kumo.tls_port, cert_filepath=str(d / "cert.pem"),
            pri_key_filepath=str(d / "private.key"), ca_filepath=str(kumo.ca_file),
            client_id=client_id,
            on_publish_received=self._received,
            on_lifecycle_connection_success=lambda e: connected.done() or connected.set_result(1),
            on_lifecycle_connection_failure=lambda e: connected.done() or connected.set_exception(
                RuntimeError(repr(e.exception))),
            on_lifecycle_stopped=lambda e: self.stopped.set_result(1))
        self.client.start()
        connected.result(TIMEOUT)

    def _received(self, data):
        p = data.publish_packet
        with self.cond:
            self.got.append((p.topic, bytes(p.payload)))
            self.cond.notify_all()

    def subscribe(self, topic):
        from awscrt import mqtt5
        r = self.client.subscribe(mqtt5.SubscribePacket(subscriptions=[mqtt5.Subscription(
            topic_filter=topic, qos=mqtt5.QoS.AT_LEAST_ONCE)])).result(TIMEOUT)
        assert r.reason_codes[0].value < 0x80, r

    def publish(self, topic, payload: bytes):
        from awscrt import mqtt5
        self.client.publish(mqtt5.PublishPacket(topic=topic, payload=payload,
                                                qos=mqtt5.QoS.AT_LEAST_ONCE)).result(TIMEOUT)

    def wait(self, pred, what):
        with self.cond:
            assert self.cond.wait_for(lambda: any(pred(t, p) for t, p in self.got), TIMEOUT), \
                f"no {what} in {self.got}"
            return next((t, p) for t, p in self.got if pred(t, p))

    def close(self):
        self.client.stop()
        self.stopped.result(TIMEOUT)


def test_issue_7_connect_one_device_by_api_then_the_sdk_connects(kumo):
    d, endpoint, keys = connect_one_device(kumo, "raspi2")
    assert endpoint == "localhost"
    iot = kumo.aws("iot")
    assert iot.describe_thing(thingName="raspi2")["thingName"] == "raspi2"
    assert [t["thingName"] for t in iot.list_things()["things"]] == ["raspi2"]
    assert iot.list_thing_principals(thingName="raspi2")["principals"] == [keys["certificateArn"]]
    cert = iot.describe_certificate(certificateId=keys["certificateId"])["certificateDescription"]
    assert cert["status"] == "ACTIVE"
    device = Device(kumo, d, endpoint, "raspi2")
    try:
        device.subscribe("sdk/test/python")
        device.publish("sdk/test/python", b"hello from the API-made device")
        device.wait(lambda t, p: p == b"hello from the API-made device", "echo")
    finally:
        device.close()


def test_issue_7_shadows_through_iot_data_and_mqtt_see_each_other(kumo):
    d, endpoint, _ = connect_one_device(kumo, "raspi2")
    data = kumo.aws("iot-data")
    device = Device(kumo, d, endpoint, "raspi2")
    try:
        device.subscribe("$aws/things/raspi2/shadow/update/delta")
        device.subscribe("$aws/things/raspi2/shadow/update/accepted")
        # The app, over HTTPS: desired.
        r = data.update_thing_shadow(thingName="raspi2",
                                     payload=json.dumps({"state": {"desired": {"led": "on"}}}))
        accepted = json.loads(r["payload"].read())
        assert accepted["version"] == 1 and accepted["state"] == {"desired": {"led": "on"}}
        # The device, over MQTT: the delta.
        _, delta = device.wait(lambda t, p: t.endswith("/update/delta"), "delta")
        assert json.loads(delta)["state"] == {"led": "on"}
        # The device reports over MQTT; the app reads it over HTTPS.
        device.publish("$aws/things/raspi2/shadow/update",
                       json.dumps({"state": {"reported": {"led": "on"}}}).encode())
        device.wait(lambda t, p: t.endswith("/update/accepted") and json.loads(p)["version"] == 2,
                    "the device's accepted update")
        doc = json.loads(data.get_thing_shadow(thingName="raspi2")["payload"].read())
        assert doc["version"] == 2 and doc["state"]["reported"] == {"led": "on"}
        assert "delta" not in doc["state"]
        # Named shadows, listed.
        data.update_thing_shadow(thingName="raspi2", shadowName="config",
                                 payload=b'{"state":{"reported":{"interval":60}}}')
        data.update_thing_shadow(thingName="raspi2", shadowName="alarm",
                                 payload=b'{"state":{"reported":{"armed":false}}}')
        listed = data.list_named_shadows_for_thing(thingName="raspi2")
        assert listed["results"] == ["alarm", "config"]
        page = data.list_named_shadows_for_thing(thingName="raspi2", pageSize=1)
        assert page["results"] == ["alarm"]
        page2 = data.list_named_shadows_for_thing(thingName="raspi2", pageSize=1,
                                                  nextToken=page["nextToken"])
        assert page2["results"] == ["config"] and "nextToken" not in page2
        deleted = json.loads(data.delete_thing_shadow(thingName="raspi2")["payload"].read())
        assert deleted["version"] == 2
        with pytest.raises(data.exceptions.ResourceNotFoundException) as e:
            data.get_thing_shadow(thingName="raspi2")
        assert e.value.response["Error"]["Message"] == "No shadow exists with name: 'raspi2'"
        with pytest.raises(data.exceptions.ConflictException):
            data.update_thing_shadow(thingName="raspi2", shadowName="config",
                                     payload=b'{"state":{"reported":{"interval":5}},"version":9}')
    finally:
        device.close()


def test_issue_7_iot_data_publish_reaches_mqtt_subscribers_with_its_properties(kumo):
    import base64
    sub = paho_client(kumo, 5)
    sub.subscribe("api/#", qos=1)
    data = kumo.aws("iot-data")
    data.publish(topic="api/hello", qos=1, payload=b"\x00binary\xff",
                 contentType="application/octet-stream", responseTopic="api/reply",
                 correlationData=base64.b64encode(b"corr-1").decode(),
                 userProperties=[{"k1": "v1"}, {"k2": "v2"}],
                 messageExpiry=60)
    (m,) = sub.messages.wait_for(1)
    assert (m.topic, m.payload, m.qos) == ("api/hello", b"\x00binary\xff", 1)
    assert m.props["ContentType"] == "application/octet-stream"
    assert m.props["ResponseTopic"] == "api/reply"
    assert m.props["CorrelationData"] == b"corr-1"
    assert m.props["UserProperty"] == [("k1", "v1"), ("k2", "v2")]
    assert 55 <= m.props["MessageExpiryInterval"] <= 60
    # Retained, then read back by a new subscriber.
    data.publish(topic="api/state", qos=1, retain=True, payload=b"kept")
    late = paho_client(kumo, 5)
    late.subscribe("api/state", qos=1)
    late.messages.wait_payload(b"kept")


def test_issue_7_errors_are_the_exception_classes_boto3_knows(kumo):
    iot = kumo.aws("iot")
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_thing(thingName="ghost")
    keys = iot.create_keys_and_certificate(setAsActive=True)
    with pytest.raises(iot.exceptions.CertificateStateException) as e:
        iot.delete_certificate(certificateId=keys["certificateId"])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 406
    iot.create_policy(policyName="p", policyDocument=json.dumps(POLICY))
    iot.attach_policy(policyName="p", target=keys["certificateArn"])
    with pytest.raises(iot.exceptions.DeleteConflictException) as e:
        iot.delete_policy(policyName="p")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.create_thing(thingName="bad name!")
    # The legacy form of AttachPolicy, with the x-amzn-iot-principal header.
    iot.create_policy(policyName="legacy", policyDocument=json.dumps(POLICY))
    iot.attach_principal_policy(policyName="legacy", principal=keys["certificateArn"])
    attached = iot.list_attached_policies(target=keys["certificateArn"])["policies"]
    assert sorted(p["policyName"] for p in attached) == ["legacy", "p"]
    # An AWS IoT operation Kumo does not serve yet: a typed error, not a 404 page.
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as e:
        iot.list_jobs()
    assert e.value.response["Error"]["Code"] == "NotImplementedException"


def test_issue_7_bad_signatures_are_refused(kumo):
    import boto3
    from botocore.exceptions import ClientError
    key, secret = kumo.credentials()

    def client(**kw):
        return boto3.client("iot", region_name="us-east-1",
                            endpoint_url=f"https://localhost:{kumo.api_port}",
                            verify=str(kumo.ca_file), **kw)

    with pytest.raises(ClientError) as e:
        client(aws_access_key_id=key, aws_secret_access_key=secret[:-1] + "x").list_things()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as e:
        client(aws_access_key_id="AKIAUNKNOWNUNKNOWN00",
               aws_secret_access_key=secret).list_things()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    # Unsigned: refused too.
    from botocore import UNSIGNED
    from botocore.config import Config
    with pytest.raises(ClientError) as e:
        client(config=Config(signature_version=UNSIGNED)).list_things()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_issue_7_the_aws_cli_works_with_the_credentials_file(kumo):
    env = {**os.environ, "AWS_SHARED_CREDENTIALS_FILE": str(kumo.data_dir / "credentials"),
           "AWS_PROFILE": "kumo", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_CONFIG_FILE": os.devnull}
    base = [sys.executable, "-m", "awscli", "--endpoint-url", f"https://localhost:{kumo.api_port}",
            "--ca-bundle", str(kumo.ca_file), "--output", "json"]
    r = subprocess.run(base + ["iot", "create-thing", "--thing-name", "cli-thing"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["thingName"] == "cli-thing"
    r = subprocess.run(base + ["iot", "list-things"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert [t["thingName"] for t in json.loads(r.stdout)["things"]] == ["cli-thing"]
    r = subprocess.run(base + ["iot", "describe-thing", "--thing-name", "nope"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0 and "ResourceNotFoundException" in r.stderr


def test_issue_7_the_api_is_also_on_443_with_alpn_http(kumo):
    """Port 443 (the alpn listener) serves the API to clients offering ALPN
    http/1.1, as AWS's endpoints do, next to MQTT for x-amzn-mqtt-ca."""
    import boto3
    key, secret = kumo.credentials()
    iot = boto3.client("iot", region_name="us-east-1",
                       endpoint_url=f"https://localhost:{kumo.alpn_port}",
                       verify=str(kumo.ca_file), aws_access_key_id=key,
                       aws_secret_access_key=secret)
    iot.create_thing(thingName="via-443")
    assert kumo.aws("iot").describe_thing(thingName="via-443")["thingName"] == "via-443"


def test_issue_7_kumo_admin_keys_rotates_the_credentials_at_once(kumo):
    from botocore.exceptions import ClientError
    old = kumo.aws("iot")
    old.list_things()
    out = json.loads(kumo.cli("admin", "keys", "--output", "json").stdout)
    assert out["accessKeyId"].startswith("AKIA") and len(out["secretAccessKey"]) == 40
    assert kumo.credentials() == (out["accessKeyId"], out["secretAccessKey"])
    with pytest.raises(ClientError) as e:
        old.list_things()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert kumo.aws("iot").list_things()["things"] == []
    # Still the new ones after a restart.
    kumo.restart()
    assert kumo.aws("iot").list_things()["things"] == []


def _signed_call(kumo, *, service="iot", when=None, presign_expires=None, secret=None):
    """GET /things signed by botocore's own signer (SigV4Auth or, with
    presign_expires, SigV4QueryAuth) as of ``when``; returns (status,
    x-amzn-ErrorType, message)."""
    import datetime
    import ssl
    import urllib.error
    import urllib.request
    from unittest import mock

    from botocore.auth import SigV4Auth, SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key, real_secret = kumo.credentials()
    creds = Credentials(key, secret or real_secret)
    req = AWSRequest(method="GET", url=f"https://localhost:{kumo.api_port}/things")
    when = when or datetime.datetime.now(datetime.timezone.utc)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        if presign_expires is None:
            SigV4Auth(creds, service, "us-east-1").add_auth(req)
        else:
            SigV4QueryAuth(creds, service, "us-east-1", expires=presign_expires).add_auth(req)
    prepared = req.prepare()
    ctx = ssl.create_default_context(cafile=str(kumo.ca_file))
    r = urllib.request.Request(prepared.url, headers=dict(prepared.headers), method="GET")
    try:
        with urllib.request.urlopen(r, context=ctx, timeout=TIMEOUT) as resp:
            return resp.status, None, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("x-amzn-ErrorType"), json.loads(e.read())["message"]


def test_issue_7_expired_foreign_and_replayed_signatures_are_refused(kumo):
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    # Signed now, by botocore: accepted (header and presigned forms).
    assert _signed_call(kumo)[0] == 200
    assert _signed_call(kumo, presign_expires=60)[0] == 200
    # Signed 20 minutes ago: outside the 5-minute window.
    status, kind, message = _signed_call(kumo, when=now - datetime.timedelta(minutes=20))
    assert (status, kind) == (403, "InvalidSignatureException")
    assert message.startswith("Signature expired: ") and "(" in message
    # Signed for another service.
    status, kind, message = _signed_call(kumo, service="s3")
    assert (status, kind) == (403, "InvalidSignatureException")
    assert "Credential should be scoped to correct service" in message
    # A presigned URL replayed after it expired.
    status, kind, message = _signed_call(kumo, presign_expires=60,
                                         when=now - datetime.timedelta(minutes=3))
    assert status == 403 and message == "Request has expired"
    # A wrong secret.
    status, kind, _ = _signed_call(kumo, secret="x" * 40)
    assert (status, kind) == (403, "InvalidSignatureException")


def test_issue_7_a_device_uses_the_data_path_with_its_certificate(kumo):
    """The device HTTPS path: no signature, the client certificate (from
    `kumo kit`) authenticates, and its policies authorise by AWS's actions:
    iot:Publish on the topic, iot:GetThingShadow / UpdateThingShadow on
    thing/<thing>."""
    import ssl
    import urllib.error
    import urllib.request

    from helpers import make_kit
    d, info = make_kit(kumo, "raspi2")
    ctx = ssl.create_default_context(cafile=str(kumo.ca_file))
    ctx.load_cert_chain(str(d / "raspi2.cert.pem"), str(d / "raspi2.private.key"))
    ctx.set_alpn_protocols(["x-amzn-http-ca"])

    def call(method, path, body=None, port=None):
        r = urllib.request.Request(f"https://localhost:{port or kumo.api_port}{path}",
                                   data=body, method=method)
        try:
            with urllib.request.urlopen(r, context=ctx, timeout=TIMEOUT) as resp:
                return resp.status, resp.headers.get("x-amzn-ErrorType"), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("x-amzn-ErrorType"), e.read()

    sub = paho_client(kumo, 5)
    sub.subscribe("raspi2/#", qos=1)
    # The kit's policy lets raspi2 publish to raspi2/*, over HTTPS too (443 path as well).
    assert call("POST", "/topics/raspi2%2Ftemp?qos=1", b"21.5")[0] == 200
    sub.messages.wait_payload(b"21.5")
    assert call("POST", "/topics/raspi2%2Ftemp?qos=1", b"22.0", port=kumo.alpn_port)[0] == 200
    sub.messages.wait_payload(b"22.0")
    # ... not to another thing's topic.
    status, kind, _ = call("POST", "/topics/pico%2Ftemp", b"x")
    assert (status, kind) == (403, "ForbiddenException")
    # Shadows over HTTPS need iot:*ThingShadow on thing/raspi2, which the kit does not give.
    status, kind, _ = call("POST", "/things/raspi2/shadow", b'{"state":{"reported":{"t":1}}}')
    assert (status, kind) == (403, "ForbiddenException")
    iot = kumo.aws("iot")
    iot.create_policy(policyName="raspi2-http-shadow", policyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["iot:GetThingShadow", "iot:UpdateThingShadow"],
            "Resource": "arn:aws:iot:us-east-1:000000000000:thing/raspi2"}]}))
    iot.attach_policy(policyName="raspi2-http-shadow", target=info["certificateArn"])
    status, _, body = call("POST", "/things/raspi2/shadow", b'{"state":{"reported":{"t":1}}}')
    assert status == 200 and json.loads(body)["version"] == 1
    status, _, body = call("GET", "/things/raspi2/shadow")
    assert status == 200 and json.loads(body)["state"]["reported"] == {"t": 1}
    assert call("GET", "/things/pico/shadow")[:2] == (403, "ForbiddenException")
    assert call("DELETE", "/things/raspi2/shadow")[:2] == (403, "ForbiddenException")
    # The control plane is not on the device path: a certificate alone
    # reaches only iot-data's operations.
    assert call("GET", "/things")[:2] == (404, "UnknownOperationException")


@pytest.mark.parametrize("port_name", ["api_port", "alpn_port"])
def test_issue_7_the_sdk_connects_over_websocket_with_sigv4(kumo, port_name):
    """awsiotsdk's websockets_with_default_aws_signing, unchanged: a
    presigned wss://.../mqtt URL (service iotdevicegateway), MQTT inside."""
    from awscrt import auth, mqtt
    from awsiot import mqtt_connection_builder
    key, secret = kumo.credentials()
    got, cond = [], threading.Condition()

    def on_message(topic, payload, **kw):
        with cond:
            got.append((topic, bytes(payload)))
            cond.notify_all()

    conn = mqtt_connection_builder.websockets_with_default_aws_signing(
        region="us-east-1", credentials_provider=auth.AwsCredentialsProvider.new_static(key, secret),
        endpoint="localhost", port=getattr(kumo, port_name), ca_filepath=str(kumo.ca_file),
        client_id="ws-app", clean_session=True, keep_alive_secs=30)
    conn.connect().result(TIMEOUT)
    try:
        conn.subscribe(topic="ws/test", qos=mqtt.QoS.AT_LEAST_ONCE,
                       callback=on_message)[0].result(TIMEOUT)
        # A device on plain TCP publishes; the WebSocket client receives, and back.
        dev = paho_client(kumo, 5)
        dev.subscribe("ws/back", qos=1)
        dev.publish("ws/test", b"to the browser", qos=1)
        with cond:
            assert cond.wait_for(lambda: got, TIMEOUT), "nothing over the WebSocket"
        assert got == [("ws/test", b"to the browser")]
        conn.publish(topic="ws/back", payload=b"from the browser",
                     qos=mqtt.QoS.AT_LEAST_ONCE)[0].result(TIMEOUT)
        dev.messages.wait_payload(b"from the browser")
    finally:
        conn.disconnect().result(TIMEOUT)


def test_issue_7_a_websocket_with_a_bad_signature_is_refused(kumo):
    import datetime
    import ssl
    import urllib.error
    import urllib.request
    from unittest import mock

    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    key, secret = kumo.credentials()
    ctx = ssl.create_default_context(cafile=str(kumo.ca_file))

    def upgrade(signing_secret, service="iotdevicegateway"):
        req = AWSRequest(method="GET", url=f"https://localhost:{kumo.api_port}/mqtt")
        with mock.patch("botocore.auth.get_current_datetime",
                        return_value=datetime.datetime.now(datetime.timezone.utc)):
            SigV4QueryAuth(Credentials(key, signing_secret), service, "us-east-1",
                           expires=60).add_auth(req)
        r = urllib.request.Request(req.prepare().url, method="GET", headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "mqtt"})
        try:
            with urllib.request.urlopen(r, context=ctx, timeout=TIMEOUT) as resp:
                return resp.status, None
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("x-amzn-ErrorType")

    assert upgrade("x" * 40) == (403, "InvalidSignatureException")
    assert upgrade(secret, service="iot") == (403, "InvalidSignatureException")


def test_issue_7_retained_messages_are_read_through_iot_data(kumo):
    import time
    data = kumo.aws("iot-data")
    before = int(time.time() * 1000)
    data.publish(topic="state/a", qos=1, retain=True, payload=b"\x01on",
                 userProperties=[{"unit": "C"}])
    # An MQTT client retains one too.
    paho_client(kumo, 5).publish("state/b", b"off", qos=1, retain=True)
    data.publish(topic="state/c", qos=0, retain=True, payload=b"c")
    got = data.get_retained_message(topic="state/a")
    assert (got["topic"], got["payload"], got["qos"]) == ("state/a", b"\x01on", 1)
    assert before <= got["lastModifiedTime"] <= int(time.time() * 1000)
    assert json.loads(got["userProperties"]) == [{"unit": "C"}]
    listed = data.list_retained_messages()["retainedTopics"]
    assert [(t["topic"], t["payloadSize"], t["qos"]) for t in listed] == [
        ("state/a", 3, 1), ("state/b", 3, 1), ("state/c", 1, 0)]
    page = data.list_retained_messages(maxResults=2)
    assert [t["topic"] for t in page["retainedTopics"]] == ["state/a", "state/b"]
    rest = data.list_retained_messages(maxResults=2, nextToken=page["nextToken"])
    assert [t["topic"] for t in rest["retainedTopics"]] == ["state/c"] and "nextToken" not in rest
    # Cleared by an empty retained publish.
    data.publish(topic="state/a", qos=1, retain=True, payload=b"")
    with pytest.raises(data.exceptions.ResourceNotFoundException):
        data.get_retained_message(topic="state/a")


def _openssl(cwd, *args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=cwd)


@pytest.mark.skipif(not __import__("shutil").which("openssl"), reason="needs the openssl CLI")
def test_issue_7_certificates_cas_and_policies_through_boto3(kumo):
    """The registry's operations as boto3 calls them: pagination by
    marker/nextMarker, CSR, bring-your-own CA with a registration code,
    registration with and without CA, status changes, policy versions, and
    the exceptions of each refusal."""
    iot = kumo.aws("iot")
    d = kumo.workdir / "byo"
    d.mkdir()
    # Certificates, paged three at a time by marker.
    ids = [iot.create_keys_and_certificate(setAsActive=False)["certificateId"] for _ in range(4)]
    first = iot.list_certificates(pageSize=3)
    assert len(first["certificates"]) == 3 and first["nextMarker"]
    second = iot.list_certificates(pageSize=3, marker=first["nextMarker"])
    seen = [c["certificateId"] for c in first["certificates"] + second["certificates"]]
    assert sorted(seen) == sorted(ids) and "nextMarker" not in second
    assert isinstance(first["certificates"][0]["creationDate"].year, int)  # epoch seconds, parsed
    iot.update_certificate(certificateId=ids[0], newStatus="ACTIVE")
    assert iot.describe_certificate(certificateId=ids[0])["certificateDescription"]["status"] == "ACTIVE"
    iot.update_certificate(certificateId=ids[0], newStatus="INACTIVE")
    iot.delete_certificate(certificateId=ids[0])
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_certificate(certificateId=ids[0])
    # A CSR: the device keeps its key.
    _openssl(d, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "dev.key")
    _openssl(d, "req", "-new", "-key", "dev.key", "-subj", "/CN=dev", "-out", "dev.csr")
    made = iot.create_certificate_from_csr(certificateSigningRequest=(d / "dev.csr").read_text(),
                                           setAsActive=True)
    assert made["certificatePem"].startswith("-----BEGIN CERTIFICATE-----")
    with pytest.raises(iot.exceptions.CertificateValidationException):
        iot.create_certificate_from_csr(certificateSigningRequest="not a csr")
    # Bring your own CA: registration code, verification certificate, then a device certificate.
    code = iot.get_registration_code()["registrationCode"]
    _openssl(d, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key")
    _openssl(d, "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=Acme CA", "-days", "30",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
             "-out", "ca.pem")

    def issue(name, cn):
        _openssl(d, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{name}.key")
        _openssl(d, "req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr")
        (d / "v3.ext").write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                                  "extendedKeyUsage=clientAuth\n")
        _openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "30", "-extfile", "v3.ext", "-out", f"{name}.pem")
        return (d / f"{name}.pem").read_text()

    ca = iot.register_ca_certificate(caCertificate=(d / "ca.pem").read_text(),
                                     verificationCertificate=issue("verify", code),
                                     setAsActive=True)
    assert iot.describe_ca_certificate(certificateId=ca["certificateId"])[
        "certificateDescription"]["status"] == "ACTIVE"
    with pytest.raises(iot.exceptions.ResourceAlreadyExistsException):
        iot.register_ca_certificate(caCertificate=(d / "ca.pem").read_text(),
                                    verificationCertificate=issue("verify2", code))
    reg = iot.register_certificate(certificatePem=issue("device", "device-1"), status="ACTIVE")
    desc = iot.describe_certificate(certificateId=reg["certificateId"])["certificateDescription"]
    assert desc["caCertificateId"] == ca["certificateId"] and desc["status"] == "ACTIVE"
    # A CA with certificates cannot go.
    iot.update_ca_certificate(certificateId=ca["certificateId"], newStatus="INACTIVE")
    with pytest.raises(iot.exceptions.CertificateStateException):
        iot.delete_ca_certificate(certificateId=ca["certificateId"])
    # Without a CA: any certificate, e.g. a self-signed one.
    _openssl(d, "req", "-x509", "-new", "-key", "dev.key", "-subj", "/CN=selfsigned", "-days", "30",
             "-addext", "basicConstraints=critical,CA:FALSE", "-out", "self.pem")
    without = iot.register_certificate_without_ca(certificatePem=(d / "self.pem").read_text(),
                                                  status="ACTIVE")
    assert without["certificateArn"].endswith(without["certificateId"])
    # Policy versions: five at most, the default cannot be deleted.
    iot.create_policy(policyName="v", policyDocument=json.dumps(POLICY))
    for _ in range(4):
        iot.create_policy_version(policyName="v", policyDocument=json.dumps(POLICY))
    with pytest.raises(iot.exceptions.VersionsLimitExceededException):
        iot.create_policy_version(policyName="v", policyDocument=json.dumps(POLICY))
    iot.set_default_policy_version(policyName="v", policyVersionId="3")
    assert iot.get_policy(policyName="v")["defaultVersionId"] == "3"
    with pytest.raises(iot.exceptions.DeleteConflictException):
        iot.delete_policy_version(policyName="v", policyVersionId="3")
    iot.delete_policy_version(policyName="v", policyVersionId="1")
    versions = sorted(v["versionId"] for v in iot.list_policy_versions(policyName="v")["policyVersions"])
    assert versions == ["2", "3", "4", "5"]
    with pytest.raises(iot.exceptions.MalformedPolicyException):
        iot.create_policy(policyName="bad", policyDocument='{"Version": "2012-10-17"}')
    # Things: update, version check on delete, principals both ways.
    iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "1"}})
    iot.update_thing(thingName="t1", attributePayload={"attributes": {"b": "2"}, "merge": True})
    assert iot.describe_thing(thingName="t1")["attributes"] == {"a": "1", "b": "2"}
    iot.attach_thing_principal(thingName="t1", principal=made["certificateArn"])
    assert iot.list_principal_things(principal=made["certificateArn"])["things"] == ["t1"]
    with pytest.raises(iot.exceptions.VersionConflictException):
        iot.delete_thing(thingName="t1", expectedVersion=1)
    iot.detach_thing_principal(thingName="t1", principal=made["certificateArn"])
    iot.delete_thing(thingName="t1")
