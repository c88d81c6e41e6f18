"""umqtt.simple 1.3.4 (MicroPython) on CPython: the MicroPython modules it
imports (usocket, ustruct, ubinascii, ussl) mapped onto CPython's, so the
unchanged client talks to Kumo as a Pico W would.

``ussl.wrap_socket(sock, key=DER, cert=DER, server_side=False)`` takes the
key and certificate as DER bytes, as MicroPython does (seed 004 converts
them with OpenSSL; Kumo's kit ships them). Like MicroPython's default, the
server certificate is not verified. Reads on a socket that would block
return None, as MicroPython's do (umqtt's check_msg relies on it)."""

from __future__ import annotations

import base64
import binascii
import os
import socket as _socket
import ssl as _ssl
import struct
import sys
import tempfile
import types
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / ".venv" / "vendor"


class _Stream:
    """A MicroPython-style stream over a CPython (SSL) socket."""

    def __init__(self, sock):
        self._s = sock

    def read(self, n):
        try:
            return self._s.recv(n)
        except (_ssl.SSLWantReadError, BlockingIOError):
            return None

    def write(self, data, length=None):
        """MicroPython's write(buf[, len]): umqtt sends premsg[:i+2] as
        write(premsg, i + 2)."""
        if length is not None:
            data = memoryview(data)[:length]
        self._s.sendall(data)
        return len(data)

    def setblocking(self, flag):
        self._s.setblocking(flag)

    def close(self):
        self._s.close()


def _pem(label: str, der: bytes) -> str:
    b64 = base64.encodebytes(der).decode().replace("\n", "")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def wrap_socket(sock, key=None, cert=None, server_side=False, server_hostname=None, **_):
    ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = _ssl.CERT_NONE
    if cert is not None:
        with tempfile.TemporaryDirectory() as d:
            c, k = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
            Path(c).write_text(_pem("CERTIFICATE", cert))
            Path(k).write_text(_pem("RSA PRIVATE KEY", key))
            ctx.load_cert_chain(c, k)
    return _Stream(ctx.wrap_socket(sock, server_side=server_side,
                                   server_hostname=server_hostname))


class _Socket(_socket.socket):
    """usocket.socket: a CPython socket with a 20 s timeout (tests must not hang)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.settimeout(20)


def install() -> types.ModuleType:
    """Register the shims and return the unchanged umqtt.simple module."""
    usocket = types.ModuleType("usocket")
    usocket.socket = _Socket
    usocket.getaddrinfo = _socket.getaddrinfo
    ussl = types.ModuleType("ussl")
    ussl.wrap_socket = wrap_socket
    sys.modules.update({"usocket": usocket, "ustruct": struct, "ubinascii": binascii,
                        "ussl": ussl})
    if not (VENDOR / "umqtt" / "simple.py").exists():
        raise RuntimeError(f"umqtt.simple is not in {VENDOR} (scripts/test fetches it: tests/vendor.py)")
    if str(VENDOR) not in sys.path:
        sys.path.insert(0, str(VENDOR))
    import umqtt.simple
    return umqtt.simple
