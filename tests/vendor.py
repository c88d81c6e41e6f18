"""Fetch the test dependencies pip cannot install: umqtt.simple 1.3.4 (the
MicroPython MQTT client of seed 004). Its PyPI package
(micropython-umqtt.simple) is a bare source archive without setup.py, so
the archive is downloaded, checked against its pinned SHA-256, and its
umqtt/simple.py put into .venv/vendor/, where tests/umqtt_shim.py imports
it under a CPython shim. Run by scripts/test; does nothing when present."""

import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

URL = ("https://files.pythonhosted.org/packages/bd/cf/697e3418b2f44222b3e848078b1e33ee76aedca9"
       "b6c2430ca1b1aec1ce1d/micropython-umqtt.simple-1.3.4.tar.gz")
SHA256 = "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f"
MEMBER = "micropython-umqtt.simple-1.3.4/umqtt/simple.py"


def main(vendor: Path) -> None:
    target = vendor / "umqtt" / "simple.py"
    if target.exists():
        return
    data = urllib.request.urlopen(URL, timeout=120).read()
    got = hashlib.sha256(data).hexdigest()
    if got != SHA256:
        sys.exit(f"umqtt.simple archive: SHA-256 {got}, expected {SHA256}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        source = tar.extractfile(MEMBER).read()
    target.parent.mkdir(parents=True, exist_ok=True)
    (target.parent / "__init__.py").write_text("")
    target.write_bytes(source)
    print(f"umqtt.simple 1.3.4 -> {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
