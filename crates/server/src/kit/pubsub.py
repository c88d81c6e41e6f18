"""Publish to and subscribe from a topic with the AWS IoT Device SDK v2 for
Python, as the SDK's samples/pubsub.py does (the program the AWS IoT
console's connect kit runs), against Kumo.

    python3 pubsub.py --endpoint HOST --port 8883 --ca_file root-CA.crt \\
        --cert DEVICE.cert.pem --key DEVICE.private.key \\
        --client_id basicPubSub --topic sdk/test/python --count 3

With --port 443 the SDK offers ALPN x-amzn-mqtt-ca, as on AWS.
"""

import argparse
import json
import sys
import threading
import time

from awscrt import mqtt
from awsiot import mqtt_connection_builder

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--endpoint", required=True)
parser.add_argument("--port", type=int, default=8883)
parser.add_argument("--ca_file", required=True)
parser.add_argument("--cert", required=True)
parser.add_argument("--key", required=True)
parser.add_argument("--client_id", default="basicPubSub")
parser.add_argument("--topic", default="sdk/test/python")
parser.add_argument("--message", default="Hello World!")
parser.add_argument("--count", type=int, default=10, help="messages to publish; 0 = forever")
args = parser.parse_args()

received = 0
all_received = threading.Event()


def on_message(topic, payload, dup, qos, retain, **kwargs):
    global received
    print(f"Received message from topic '{topic}': {payload.decode(errors='replace')}", flush=True)
    received += 1
    if args.count and received >= args.count:
        all_received.set()


def on_interrupted(connection, error, **kwargs):
    print(f"Connection interrupted. error: {error}", flush=True)


def on_resumed(connection, return_code, session_present, **kwargs):
    print(f"Connection resumed. return_code: {return_code} session_present: {session_present}", flush=True)


connection = mqtt_connection_builder.mtls_from_path(
    endpoint=args.endpoint, port=args.port, cert_filepath=args.cert, pri_key_filepath=args.key,
    ca_filepath=args.ca_file, client_id=args.client_id, clean_session=False, keep_alive_secs=30,
    on_connection_interrupted=on_interrupted, on_connection_resumed=on_resumed)

print(f"Connecting to {args.endpoint}:{args.port} with client ID '{args.client_id}'...", flush=True)
connection.connect().result(30)
print("Connected!", flush=True)

print(f"Subscribing to topic '{args.topic}'...", flush=True)
subscribe_future, _ = connection.subscribe(topic=args.topic, qos=mqtt.QoS.AT_LEAST_ONCE,
                                           callback=on_message)
print(f"Subscribed with {subscribe_future.result(30)['qos']}", flush=True)

n = 1
while args.count == 0 or n <= args.count:
    message = json.dumps(f"{args.message} [{n}]")
    print(f"Publishing message to topic '{args.topic}': {message}", flush=True)
    connection.publish(topic=args.topic, payload=message, qos=mqtt.QoS.AT_LEAST_ONCE)[0].result(30)
    n += 1
    if args.count == 0 or n <= args.count:
        time.sleep(1)

if not all_received.wait(30):
    print(f"Only {received} of {args.count} messages came back", flush=True)
    connection.disconnect().result(30)
    sys.exit(1)
print(f"{received} message(s) received.", flush=True)
print("Disconnecting...", flush=True)
connection.disconnect().result(30)
print("Disconnected!", flush=True)
