"""Fixtures for Kumo's black-box tests: the real `kumo` binary on port 0.

API (other test files build on this; keep it stable)
----------------------------------------------------

``kumo_factory(config: str = "", *, tcp=True, tls=True, alpn=True) -> KumoServer``
    Starts ``$KUMO_BIN`` (default ``<repo>/target/debug/kumo``) as
    ``kumo serve --config FILE --data-dir DIR --ports-file -`` in a fresh
    temporary directory. Every enabled listener binds ``127.0.0.1:0``.
    ``config`` is extra TOML; it is deep-merged over the base config, so it
    may repeat tables the base uses (``[mqtt]``, ``[tls]``, ...). Readiness
    is the line of bound ports kumo prints on stdout once ready (a blocking
    read, no polling); if the process exits first, the test fails at once
    with its output.
    Every server the factory started is stopped at teardown.

``kumo -> KumoServer``
    A default server (``compat = "spec"``, all three listeners).

``KumoServer``
    ``.host``           "127.0.0.1"
    ``.tcp_port``       plain MQTT listener port (None when tcp=False)
    ``.tls_port``       mTLS listener port, the 8883 path (None when tls=False)
    ``.alpn_port``      TLS+ALPN ``x-amzn-mqtt-ca`` listener port, the 443 path
    ``.api_port``       the HTTPS API (SigV4) listener port, the 8443 path
    ``.aws(service)``   a boto3 client ("iot", "iot-data") for the HTTPS API,
                        with Kumo's admin credentials and root CA
    ``.data_dir``       the data dir (``pathlib.Path``)
    ``.ca_file``        ``data_dir/ca/root-CA.crt`` (trust anchor for clients)
    ``.config_text``    the merged TOML the server was started with
    ``.issue_cert(name, register=True) -> (cert_path, key_path)``
                        runs ``kumo cert issue NAME --out DIR --data-dir DIR``
                        and, while the server runs, registers the certificate
                        ACTIVE (``kumo cert register``) with the policy
                        ``test-allow-all`` attached, so that it connects under
                        the default ``tls.client_auth = "registry"``
    ``.allow_all(cert_id)``  attach ``test-allow-all`` (iot:* on *) to a certificate
    ``.cli(*args, check=True) -> subprocess.CompletedProcess``
                        runs ``kumo ARGS --config FILE --data-dir DIR`` (admin commands reach
                        this server's admin socket); text output, stderr kept
    ``.stop(sig=signal.SIGTERM) -> returncode``  (waits, bounded)
    ``.kill()``         SIGKILL, waits
    ``.restart()``      stop (SIGTERM) + start again on the same data dir and
                        config; ports may change (re-read the attributes)
    ``.log() -> str``   everything the process wrote to stderr and stdout so far
    ``.alive() -> bool``

The process's output goes to ``<tmp>/kumo.log`` and is attached to the
pytest report of a failing test (section "kumo log ...").

Environment: ``KUMO_BIN`` picks the binary; ``KUMO_TEST_LOG`` sets the
server's log filter (RUST_LOG), e.g. ``KUMO_TEST_LOG=debug``. Other
``KUMO_*`` variables are removed from the server's environment so a
developer's shell cannot change what the tests see.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helpers  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BIN = REPO / "target" / "debug" / "kumo"
START_DEADLINE = 30.0
STOP_DEADLINE = 15.0


# --------------------------------------------------------------------------
# TOML: merge the extra text over the base and write it back out.
# --------------------------------------------------------------------------

def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic strings
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def _toml_dump(d: dict, prefix: str = "") -> str:
    lines = []
    tables = []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((k, v))
        else:
            lines.append(f"{k} = {_toml_value(v)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in tables:
        name = f"{prefix}.{k}" if prefix else k
        out += f"\n[{name}]\n" + _toml_dump(v, name)
    return out


def build_config(extra: str = "", *, tcp=True, tls=True, alpn=True, api=True) -> str:
    def listener(on: bool) -> dict:
        return {"enabled": True, "bind": "127.0.0.1:0"} if on else {"enabled": False}

    base = {
        "listeners": {"tcp": listener(tcp), "tls": listener(tls), "alpn": listener(alpn),
                      "api": listener(api)},
        "tls": {"endpoint_names": ["localhost", "127.0.0.1"]},
    }
    merged = _deep_merge(base, tomllib.loads(extra)) if extra.strip() else base
    return _toml_dump(merged)


# --------------------------------------------------------------------------
# The server process.
# --------------------------------------------------------------------------

class KumoServer:
    host = "127.0.0.1"

    def __init__(self, binary: Path, workdir: Path, config_text: str, listeners: dict):
        self.binary = Path(binary)
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.cert_dir = workdir / "certs"
        self.config_path = workdir / "kumo.toml"
        self.log_path = workdir / "kumo.log"
        self.config_text = config_text
        self.listeners = listeners
        self.proc: subprocess.Popen | None = None
        self.tcp_port = self.tls_port = self.alpn_port = self.api_port = None
        self._starts = 0
        self.config_path.write_text(config_text)

    # -- lifecycle ---------------------------------------------------------

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}
        env.setdefault("RUST_BACKTRACE", "1")
        if os.environ.get("KUMO_TEST_LOG"):
            env["RUST_LOG"] = os.environ["KUMO_TEST_LOG"]
        return env

    def start(self) -> "KumoServer":
        if not self.binary.exists():
            pytest.fail(f"kumo binary not found at {self.binary} (build it, or set KUMO_BIN)")
        self._starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== kumo start #{self._starts} =====\n".encode())
        log.flush()
        # `--ports-file -`: kumo prints its bound ports on stdout once it is
        # ready; reading that line is the wait (EOF: it exited first).
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--config", str(self.config_path),
             "--data-dir", str(self.data_dir), "--ports-file", "-"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
            cwd=self.workdir, env=self._env(),
        )
        log.close()
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(START_DEADLINE)
            pytest.fail(f"kumo exited with {self.proc.returncode} before it was ready."
                        f"\n--- kumo log ---\n{self.log()}")
        ports = json.loads(line)
        self.ports = ports
        self.tcp_port = ports.get("tcp")
        self.tls_port = ports.get("tls")
        self.alpn_port = ports.get("alpn")
        self.api_port = ports.get("api")
        for name, wanted in self.listeners.items():
            if wanted and not ports.get(name):
                pytest.fail(f"listener {name!r} enabled but missing from ports file {ports}")
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM) -> int | None:
        """Send `sig` and wait (bounded) for the exit; returns the exit code.
        Falls back to SIGKILL (and fails the test) if the process hangs."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"kumo did not exit within {STOP_DEADLINE}s of {sig!r}")
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> "KumoServer":
        self.stop()
        return self.start()

    # -- helpers -----------------------------------------------------------

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "ca" / "root-CA.crt"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def issue_cert(self, name: str, register: bool = True) -> tuple[Path, Path]:
        self.cert_dir.mkdir(exist_ok=True)
        r = subprocess.run(
            [str(self.binary), "cert", "issue", name, "--out", str(self.cert_dir),
             "--data-dir", str(self.data_dir)],
            capture_output=True, text=True, timeout=60, env=self._env(), cwd=self.workdir,
        )
        if r.returncode != 0:
            raise AssertionError(f"kumo cert issue {name} failed ({r.returncode}):\n"
                                 f"{r.stdout}\n{r.stderr}")
        cert = self.cert_dir / f"{name}.cert.pem"
        key = self.cert_dir / f"{name}.private.key"
        assert cert.exists() and key.exists(), f"cert issue wrote {list(self.cert_dir.iterdir())}"
        if register and self.alive():
            out = self.cli("cert", "register", str(cert), "--active", "--output", "json").stdout
            self.allow_all(json.loads(out)["certificateId"])
        return cert, key

    ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})

    def allow_all(self, cert_id: str) -> None:
        """Attach the policy `test-allow-all` (iot:* on *) to a certificate."""
        r = self.cli("policy", "create", "test-allow-all", "--document", "-",
                     input=self.ALLOW_ALL, check=False)
        if r.returncode != 0 and "ResourceAlreadyExistsException" not in r.stderr:
            raise AssertionError(f"cannot create test-allow-all: {r.stderr}")
        self.cli("policy", "attach", "test-allow-all", cert_id)

    def credentials(self) -> tuple[str, str]:
        """Kumo's admin access key pair (``data_dir/credentials``)."""
        kv = dict(line.split(" = ", 1) for line in (self.data_dir / "credentials").read_text()
                  .splitlines() if " = " in line)
        return kv["aws_access_key_id"], kv["aws_secret_access_key"]

    def aws(self, service: str, **kw):
        """A boto3 client for the HTTPS API, as a user would make one."""
        import boto3
        key, secret = self.credentials()
        return boto3.client(service, region_name="us-east-1",
                            endpoint_url=f"https://localhost:{self.api_port}",
                            verify=str(self.ca_file), aws_access_key_id=key,
                            aws_secret_access_key=secret, **kw)

    def cli(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        r = subprocess.run(
            [str(self.binary), *args, "--config", str(self.config_path),
             "--data-dir", str(self.data_dir)],
            capture_output=True, text=True, timeout=60, env=self._env(), cwd=self.workdir,
            input=input,
        )
        if check and r.returncode != 0:
            raise AssertionError(f"kumo {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stdout}\n{r.stderr}")
        return r

    def __repr__(self):
        return (f"KumoServer(tcp={self.tcp_port}, tls={self.tls_port}, "
                f"alpn={self.alpn_port}, data_dir={self.data_dir})")


# --------------------------------------------------------------------------
# Fixtures and report hooks.
# --------------------------------------------------------------------------

@pytest.fixture
def kumo_factory(request):
    servers: list[KumoServer] = []
    request.node._kumo_servers = servers
    tmp = tempfile.TemporaryDirectory(prefix="kumo-test-")
    binary = Path(os.environ.get("KUMO_BIN") or DEFAULT_BIN)

    def factory(config: str = "", *, tcp=True, tls=True, alpn=True, api=True) -> KumoServer:
        workdir = Path(tmp.name) / f"kumo{len(servers)}"
        workdir.mkdir()
        text = build_config(config, tcp=tcp, tls=tls, alpn=alpn, api=api)
        srv = KumoServer(binary, workdir, text,
                         {"tcp": tcp, "tls": tls, "alpn": alpn, "api": api})
        servers.append(srv)
        return srv.start()

    yield factory

    helpers.close_all()
    errors = []
    for srv in servers:
        try:
            srv.stop()
        except AssertionError as e:
            errors.append(str(e))
    # Keep the logs readable for the report hook, which runs before cleanup
    # of the teardown phase only if we keep the text around.
    for srv in servers:
        srv._final_log = srv.log()
    tmp.cleanup()
    if errors:
        pytest.fail("; ".join(errors))


@pytest.fixture
def kumo(kumo_factory) -> KumoServer:
    return kumo_factory()


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    helpers.close_all()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, srv in enumerate(getattr(item, "_kumo_servers", [])):
            text = getattr(srv, "_final_log", None) or srv.log()
            report.sections.append((f"kumo log (server {i}, {report.when})", text[-20000:]))
