"""TLS listeners: mutual TLS on the tls (8883-style) and alpn (443-style,
ALPN `x-amzn-mqtt-ca`) ports with certificates from `kumo cert issue`; and
the user's story: the AWS IoT Device SDK v2 for Python pubsub sample
(subscribe `sdk/test/python` QoS 1, publish 3 messages, receive them back),
for its MQTT 3 and MQTT 5 clients.

awscrt reports a failed TLS handshake only after 20-28 s, so the SDK is used
only on paths that must work; refusals are tested with Python's ssl.
"""
import concurrent.futures
import json
import ssl
import threading

import pytest

from helpers import (ALPN_MQTT, Closed, RawClient, build_connect, paho_client, raw_client,
                     raw_socket, unique)

TIMEOUT = 20
TRANSPORTS = pytest.mark.parametrize("transport", ["tls", "alpn"])


@TRANSPORTS
@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_paho_mtls_pubsub(kumo, transport, version):
    """paho-mqtt with a device certificate (and ALPN x-amzn-mqtt-ca on the
    alpn port) connects, verifying the server against root-CA.crt by name,
    and round-trips a QoS 1 message."""
    cert = kumo.issue_cert(unique("raspi"))
    c = paho_client(kumo, version, transport=transport, cert=cert)
    c.subscribe("tls/t", 1)
    c.publish("tls/t", b"over tls", qos=1)
    assert c.messages.wait_for(1)[0].payload == b"over tls"


@TRANSPORTS
def test_raw_mtls_by_ip_without_sni(kumo, transport):
    """Connecting to 127.0.0.1 by IP (Python sends no SNI for an IP; the
    server certificate has an IP SAN for it) works too."""
    c = RawClient(raw_socket(kumo, transport, server_hostname="127.0.0.1"), 4)
    assert c.connect(unique("ip")).reason == 0


def _assert_refused(kumo, transport, cert):
    """The TLS handshake fails, or (TLS 1.3, where the client finishes first)
    the connection is closed before any CONNACK."""
    try:
        sock = raw_socket(kumo, transport, cert=cert)
    except (ssl.SSLError, OSError):
        return
    c = RawClient(sock, 4)
    try:
        c.send(build_connect(4, unique("refused")))
        p = c.recv(timeout=10)
    except (Closed, ssl.SSLError, OSError):
        return
    except TimeoutError:
        raise AssertionError("connection neither refused nor answered within 10 s") from None
    raise AssertionError(f"connected without a valid client certificate: {p!r}")


@TRANSPORTS
def test_refused_without_client_cert(kumo, transport):
    """require_client_cert = true (the default): no certificate, no MQTT."""
    _assert_refused(kumo, transport, cert=False)


@TRANSPORTS
def test_refused_with_foreign_cert(kumo_factory, transport):
    """A certificate issued by another Kumo's device CA is not trusted."""
    kumo = kumo_factory()
    other = kumo_factory(tcp=False, alpn=False)
    foreign = other.issue_cert(unique("foreign"))
    _assert_refused(kumo, transport, cert=foreign)


def test_alpn_port_requires_mqtt_alpn(kumo):
    """The alpn listener serves MQTT only to clients offering x-amzn-mqtt-ca.
    A client offering no ALPN gets HTTPS (the API), as on AWS's 443: MQTT
    bytes sent there are answered by an HTTP error, never a CONNACK."""
    cert = kumo.issue_cert(unique("noalpn"))
    import socket
    from helpers import tls_context
    raw = socket.create_connection((kumo.host, kumo.alpn_port), timeout=10)
    s = tls_context(kumo, cert, None).wrap_socket(raw, server_hostname="localhost")
    try:
        s.sendall(build_connect(4, unique("noalpn")))
        reply = b""
        while b"\r\n" not in reply:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    finally:
        s.close()
    assert reply.startswith(b"HTTP/1.1 400"), f"not an HTTP refusal: {reply!r}"


# --------------------------------------------------------------------------
# AWS IoT Device SDK v2 for Python (awsiotsdk + awscrt): the seed's sample.
# --------------------------------------------------------------------------

def _sdk_ports(kumo, transport):
    return kumo.alpn_port if transport == "alpn" else kumo.tls_port


def _sample_messages():
    # pubsub.py publishes json.dumps("Hello World!  [n]")
    return [json.dumps(f"Hello World!  [{i}]") for i in (1, 2, 3)]


@TRANSPORTS
def test_awsiot_sdk_mqtt3_pubsub(kumo, transport):
    """awsiot.mqtt_connection_builder.mtls_from_path, as in the pubsub sample:
    `--endpoint 127.0.0.1 --ca_file root-CA.crt --cert raspi2.cert.pem --key
    raspi2.private.key --topic sdk/test/python`.

    The SDK sets ALPN x-amzn-mqtt-ca only when port == 443
    (mqtt_connection_builder._builder); on the alpn test port the test builds
    the same TLS options with alpn_list set and calls the same builder."""
    from awscrt import io, mqtt
    from awsiot import mqtt_connection_builder

    cert, key = kumo.issue_cert("raspi2")
    common = dict(endpoint=kumo.host, port=_sdk_ports(kumo, transport),
                  ca_filepath=str(kumo.ca_file), client_id=unique("basicPubSub"),
                  clean_session=False, keep_alive_secs=30)
    if transport == "alpn":
        tls = io.TlsContextOptions.create_client_with_mtls_from_path(str(cert), str(key))
        tls.alpn_list = [ALPN_MQTT]
        conn = mqtt_connection_builder._builder(tls, **common)
    else:
        conn = mqtt_connection_builder.mtls_from_path(
            cert_filepath=str(cert), pri_key_filepath=str(key), **common)

    received = []
    cond = threading.Condition()

    def on_message(topic, payload, dup, qos, retain, **kwargs):
        with cond:
            received.append((topic, payload, qos))
            cond.notify_all()

    conn.connect().result(TIMEOUT)
    try:
        sub_future, _ = conn.subscribe(topic="sdk/test/python", qos=mqtt.QoS.AT_LEAST_ONCE,
                                       callback=on_message)
        result = sub_future.result(TIMEOUT)
        assert result["qos"] == mqtt.QoS.AT_LEAST_ONCE, result
        for msg in _sample_messages():
            pub_future, _ = conn.publish(topic="sdk/test/python", payload=msg,
                                         qos=mqtt.QoS.AT_LEAST_ONCE)
            pub_future.result(TIMEOUT)
        with cond:
            assert cond.wait_for(lambda: len(received) >= 3, TIMEOUT), received
        assert [p for (_, p, _) in received] == [m.encode() for m in _sample_messages()]
        assert all(t == "sdk/test/python" for (t, _, _) in received)
    finally:
        conn.disconnect().result(TIMEOUT)


@TRANSPORTS
def test_awsiot_sdk_mqtt5_pubsub(kumo, transport):
    """awsiot.mqtt5_client_builder.mtls_from_path (the mqtt5_pubsub sample):
    connect, subscribe sdk/test/python QoS 1, publish 3, receive 3. On the
    alpn port ALPN x-amzn-mqtt-ca is set explicitly (see the MQTT 3 test)."""
    from awscrt import io, mqtt5
    from awsiot import mqtt5_client_builder

    cert, key = kumo.issue_cert("raspi2")
    received = []
    cond = threading.Condition()
    connected = concurrent.futures.Future()
    stopped = concurrent.futures.Future()

    def on_publish(data):
        p = data.publish_packet
        with cond:
            received.append((p.topic, bytes(p.payload), p.qos))
            cond.notify_all()

    def on_success(data):
        if not connected.done():
            connected.set_result(data)

    def on_failure(data):
        if not connected.done():
            connected.set_exception(RuntimeError(f"connection failure: {data.exception!r}"))

    common = dict(endpoint=kumo.host, port=_sdk_ports(kumo, transport),
                  ca_filepath=str(kumo.ca_file), client_id=unique("mqtt5PubSub"),
                  on_publish_received=on_publish, on_lifecycle_connection_success=on_success,
                  on_lifecycle_connection_failure=on_failure,
                  on_lifecycle_stopped=lambda data: stopped.set_result(True))
    if transport == "alpn":
        tls = io.TlsContextOptions.create_client_with_mtls_from_path(str(cert), str(key))
        tls.alpn_list = [ALPN_MQTT]
        client = mqtt5_client_builder._builder(tls, **common)
    else:
        client = mqtt5_client_builder.mtls_from_path(
            cert_filepath=str(cert), pri_key_filepath=str(key), **common)

    client.start()
    try:
        connected.result(TIMEOUT)
        suback = client.subscribe(subscribe_packet=mqtt5.SubscribePacket(
            subscriptions=[mqtt5.Subscription(topic_filter="sdk/test/python",
                                              qos=mqtt5.QoS.AT_LEAST_ONCE)])).result(TIMEOUT)
        assert suback.reason_codes == [mqtt5.SubackReasonCode.GRANTED_QOS_1], suback
        for msg in _sample_messages():
            client.publish(mqtt5.PublishPacket(topic="sdk/test/python", payload=msg,
                                               qos=mqtt5.QoS.AT_LEAST_ONCE)).result(TIMEOUT)
        with cond:
            assert cond.wait_for(lambda: len(received) >= 3, TIMEOUT), received
        assert [p for (_, p, _) in received] == [m.encode() for m in _sample_messages()]
    finally:
        client.stop()
        stopped.result(TIMEOUT)


def test_tls_and_tcp_clients_share_one_broker(kumo):
    """A device on mTLS and a tool on the dev TCP listener see each other's
    messages (one broker behind all listeners)."""
    dev = paho_client(kumo, 5, transport="tls")
    tool = raw_client(kumo, 4)
    dev.subscribe("shared/broker", 1)
    tool.subscribe("shared/broker", qos=1)
    tool.publish("shared/broker", b"from tcp", qos=1)
    assert dev.messages.wait_for(1)[0].payload == b"from tcp"
    dev.publish("shared/broker", b"from tls", qos=1)
    got = [p.payload for p in tool.recv_publishes(2)]
    assert got == [b"from tcp", b"from tls"]
