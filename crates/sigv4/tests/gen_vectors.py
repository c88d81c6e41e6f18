#!/usr/bin/env python3
"""Regenerate tests/data/sdk_vectors.json: requests signed by the real AWS SDKs.

Kumo's SigV4 verifier must accept exactly what the SDKs send, so these vectors
come from the SDKs themselves, not from our own signer:

* botocore (the engine under boto3 and the AWS CLI) signs `iot` and `iot-data`
  requests through its full client pipeline (serializer, endpoint, signer);
  a `before-send` hook captures the request instead of sending it.
* botocore's `generate_presigned_url` gives a presigned `iot` URL.
* awscrt (the engine under the AWS IoT Device SDK v2) presigns the MQTT
  WebSocket handshake exactly as `awsiot.mqtt_connection_builder.
  websockets_with_default_aws_signing` does: service `iotdevicegateway`,
  `HTTP_REQUEST_QUERY_PARAMS`, `omit_session_token=True`.

The clock is pinned by patching botocore's `get_current_datetime` and by
awscrt's `AwsSigningConfig.date`, so the output is deterministic except for
the random `Sec-WebSocket-Key` (which is not signed).

Usage (needs botocore and awscrt; neither is in the project's .venv):
    python3 -m venv /tmp/sigv4-venv
    /tmp/sigv4-venv/bin/pip install botocore awscrt
    /tmp/sigv4-venv/bin/python crates/sigv4/tests/gen_vectors.py > crates/sigv4/tests/data/sdk_vectors.json
"""
import datetime
import json
import logging
import sys
from urllib.parse import urlsplit

import awscrt
import awscrt.auth
import awscrt.websocket
import botocore
import botocore.auth
import botocore.session
from botocore.config import Config

AKID = "AKIAKUMOEXAMPLE00001"
SECRET = "kUmOsEcReT/K7MDENG+bPxRfiCYEXAMPLEKEY0001"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+token/with=chars"
REGION = "us-east-1"
IOT_ENDPOINT = "https://iot.us-east-1.amazonaws.com"
DATA_ENDPOINT = "https://a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com"
WSS_HOST = "a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com"
WHEN = datetime.datetime(2024, 3, 15, 12, 34, 56)  # naive UTC, as botocore uses
WHEN_UNIX = 1710506096
CERT_ID = "5f3c7a1e2d9b8c4a6f0e1d2c3b4a59687766554433221100ffeeddccbbaa9988"

import botocore.crt.auth  # noqa: E402  (present because awscrt is installed)

WHEN_AWARE = WHEN.replace(tzinfo=datetime.timezone.utc)


def _pinned_now(remove_tzinfo=True):
    return WHEN if remove_tzinfo else WHEN_AWARE


botocore.auth.get_current_datetime = _pinned_now
botocore.crt.auth.get_current_datetime = _pinned_now

# With awscrt installed botocore signs through CRT (botocore/auth.py swaps
# AUTH_TYPE_MAPS); without it, through the pure-Python SigV4Auth. Users run
# both, so the vectors cover both.
_CRT_MAPS = dict(botocore.auth.AUTH_TYPE_MAPS)
_PY_MAPS = dict(_CRT_MAPS, **{
    "v4": botocore.auth.SigV4Auth,
    "v4-query": botocore.auth.SigV4QueryAuth,
})


def _use_signer(kind):
    botocore.auth.AUTH_TYPE_MAPS.clear()
    botocore.auth.AUTH_TYPE_MAPS.update(_CRT_MAPS if kind == "crt" else _PY_MAPS)

_creqs = []


class _CaptureCreq(logging.Handler):
    def emit(self, record):
        if record.msg == "CanonicalRequest:\n%s":
            _creqs.append(record.args[0] if isinstance(record.args, tuple) else record.args)


_log = logging.getLogger("botocore.auth")
_log.setLevel(logging.DEBUG)
_log.addHandler(_CaptureCreq())


class _Captured(Exception):
    pass


def _client(service, endpoint, token=None):
    session = botocore.session.get_session()
    return session.create_client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 0}),
    )


def capture(name, service, signing_name, endpoint, op, params, token=None, signer="python"):
    _use_signer(signer)
    client = _client(service, endpoint, token)
    box = {}

    def before_send(request, **kwargs):
        box["req"] = request
        raise _Captured()

    client.meta.events.register("before-send", before_send)
    _creqs.clear()
    try:
        getattr(client, op)(**params)
    except _Captured:
        pass
    req = box["req"]
    parts = urlsplit(req.url)
    body = req.body or b""
    if isinstance(body, str):
        body = body.encode()
    headers = [[k, v.decode() if isinstance(v, bytes) else v] for k, v in req.headers.items()]
    # The HTTP client adds Host on the wire unless the signer already put one
    # in the headers (the CRT signer does); pure botocore signs it from the URL.
    if not any(k.lower() == "host" for k, _ in headers):
        headers.insert(0, ["Host", parts.netloc])
    return {
        "name": name,
        "source": f"botocore {botocore.__version__} ({signer} signer) {service}.{op}",
        "method": req.method,
        "path": parts.path,
        "query": parts.query,
        "headers": headers,
        "body": body.decode(),
        "time_unix": WHEN_UNIX,
        "access_key_id": AKID,
        "secret": SECRET,
        "region": REGION,
        "service": signing_name,
        "presigned": False,
        "security_token": token,
        "canonical_request": _creqs[-1] if _creqs else None,
    }


def presigned(name, service, signing_name, endpoint, op, params, expires, token=None, signer="python"):
    _use_signer(signer)
    client = _client(service, endpoint, token)
    _creqs.clear()
    url = client.generate_presigned_url(op, Params=params, ExpiresIn=expires)
    parts = urlsplit(url)
    return {
        "name": name,
        "source": f"botocore {botocore.__version__} ({signer} signer) generate_presigned_url({op})",
        "method": "GET",
        "path": parts.path,
        "query": parts.query,
        "headers": [["Host", parts.netloc]],
        "body": "",
        "time_unix": WHEN_UNIX,
        "access_key_id": AKID,
        "secret": SECRET,
        "region": REGION,
        "service": signing_name,
        "presigned": True,
        "security_token": token,
        "expires": expires,
        "canonical_request": _creqs[-1] if _creqs else None,
    }


def crt_websocket(name, token=None):
    creds = awscrt.auth.AwsCredentialsProvider.new_static(AKID, SECRET, token)
    req = awscrt.websocket.create_handshake_request(host=WSS_HOST, path="/mqtt")
    # aws-c-mqtt adds this before the transform runs (source/shared.c).
    req.headers.add("Sec-WebSocket-Protocol", "mqtt")
    cfg = awscrt.auth.AwsSigningConfig(
        algorithm=awscrt.auth.AwsSigningAlgorithm.V4,
        signature_type=awscrt.auth.AwsSignatureType.HTTP_REQUEST_QUERY_PARAMS,
        credentials_provider=creds,
        region=REGION,
        service="iotdevicegateway",
        omit_session_token=True,  # as awsiot/mqtt_connection_builder.py does
        date=WHEN.replace(tzinfo=datetime.timezone.utc),
    )
    awscrt.auth.aws_sign_request(req, cfg).result()
    path, _, query = req.path.partition("?")
    return {
        "name": name,
        "source": f"awscrt {awscrt.__version__} aws_sign_request (awsiotsdk websocket handshake)",
        "method": req.method,
        "path": path,
        "query": query,
        "headers": [[k, v] for k, v in req.headers],
        "body": "",
        "time_unix": WHEN_UNIX,
        "access_key_id": AKID,
        "secret": SECRET,
        "region": REGION,
        "service": "iotdevicegateway",
        "presigned": True,
        "security_token": token,
        "canonical_request": None,
    }


def main():
    v = []
    v.append(capture("iot-list-things", "iot", "iot", IOT_ENDPOINT, "list_things", {"maxResults": 10}))
    v.append(capture("iot-create-thing", "iot", "iot", IOT_ENDPOINT, "create_thing",
                     {"thingName": "raspi2", "attributePayload": {"attributes": {"floor": "3", "room": "lab"}}}))
    v.append(capture("iot-delete-certificate", "iot", "iot", IOT_ENDPOINT, "delete_certificate",
                     {"certificateId": CERT_ID, "forceDelete": True}))
    v.append(capture("iot-list-things-session-token", "iot", "iot", IOT_ENDPOINT, "list_things",
                     {"maxResults": 10, "thingTypeName": "sensor type/ä+1"}, token=TOKEN))
    v.append(capture("iotdata-publish-shadow-update", "iot-data", "iotdata", DATA_ENDPOINT, "publish",
                     {"topic": "$aws/things/x/shadow/update", "qos": 1,
                      "payload": b'{"state":{"reported":{"temp":21.5}}}'}))
    v.append(capture("iotdata-get-named-shadow", "iot-data", "iotdata", DATA_ENDPOINT, "get_thing_shadow",
                     {"thingName": "x", "shadowName": "config"}))
    v.append(presigned("iot-presigned-list-things", "iot", "iot", IOT_ENDPOINT, "list_things",
                       {"maxResults": 10}, 900))
    v.append(presigned("iot-presigned-list-things-session-token", "iot", "iot", IOT_ENDPOINT, "list_things",
                       {"maxResults": 10}, 3600, token=TOKEN))
    v.append(capture("crt-iot-create-thing", "iot", "iot", IOT_ENDPOINT, "create_thing",
                     {"thingName": "raspi2", "attributePayload": {"attributes": {"floor": "3"}}}, signer="crt"))
    v.append(capture("crt-iot-delete-certificate", "iot", "iot", IOT_ENDPOINT, "delete_certificate",
                     {"certificateId": CERT_ID, "forceDelete": True}, signer="crt"))
    v.append(capture("crt-iotdata-publish-shadow-update", "iot-data", "iotdata", DATA_ENDPOINT, "publish",
                     {"topic": "$aws/things/x/shadow/update", "qos": 1,
                      "payload": b'{"state":{"desired":{"on":true}}}'}, token=TOKEN, signer="crt"))
    v.append(presigned("crt-iot-presigned-list-things", "iot", "iot", IOT_ENDPOINT, "list_things",
                       {"maxResults": 10}, 900, signer="crt"))
    v.append(crt_websocket("iotdevicegateway-wss"))
    v.append(crt_websocket("iotdevicegateway-wss-session-token", token=TOKEN))
    json.dump({
        "generated_by": "crates/sigv4/tests/gen_vectors.py",
        "vectors": v,
    }, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
