"""Process lifecycle: graceful shutdown on SIGTERM, restart on the same data
dir (the fixture's own contract, exercised)."""
import signal

from helpers import DISCONNECT, raw_client, unique


def test_sigterm_graceful_shutdown(kumo_factory):
    """SIGTERM: wills of live connections are published (a shutdown closes
    them without a DISCONNECT from the client, v5 §3.1.2.5), MQTT 5 clients
    get DISCONNECT 0x8B Server shutting down (Table 2-6; broker::shutdown
    docs), and the process exits 0."""
    kumo = kumo_factory()
    v5 = raw_client(kumo, 5)
    v4 = raw_client(kumo, 4)
    assert kumo.stop(signal.SIGTERM) == 0, kumo.log()[-3000:]
    discs = [p for p in v5.wait_closed() if p.type == DISCONNECT]
    assert discs and discs[-1].reason == 0x8B, discs
    assert not [p for p in v4.wait_closed() if p.type == DISCONNECT]


def test_restart_keeps_ca_and_certificates(kumo_factory):
    """restart() reuses the data dir: the root CA is unchanged and a device
    certificate issued before the restart still connects over mTLS."""
    kumo = kumo_factory()
    ca_before = kumo.ca_file.read_bytes()
    cert = kumo.issue_cert(unique("dev"))
    kumo.restart()
    assert kumo.ca_file.read_bytes() == ca_before
    c = raw_client(kumo, 4, transport="tls", cert=cert)
    assert c.connack.reason == 0
