"""Start moto's server (an AWS emulator, PyPI ``moto[server]``) on 127.0.0.1 for the tests and ``make servers``.

Secrets Manager in moto is faithful where the collection needs it (stages, tags, recovery window,
BatchGetSecretValue, replication); docs/testing.md lists where it differs from AWS. One difference is
corrected here: a read without a version follows PutSecretValue but not a label move in moto
(``_current_follows_awscurrent``).

The server runs in a thread of the calling process (``ThreadedMotoServer``), with one addition: a
request log, so a test (or the benchmark) can count what was sent, e.g. how many BatchGetSecretValue
calls a lookup made, or that a ``--check`` run sent no write. The log is in ``server.requests`` and,
for another process, at ``GET /_vibebox/requests`` (``DELETE`` clears it).

As a command, ``python tests/servers/moto_server.py [--env-file F]`` prints the environment to use and
runs until interrupted.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import urllib.request
from typing import Any, Callable, Dict, Iterable, List, Optional

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
LOG_PATH = "/_vibebox/requests"

#: X-Amz-Target actions of Secrets Manager that change something
WRITE_ACTIONS = frozenset({
    "CreateSecret", "PutSecretValue", "UpdateSecret", "DeleteSecret", "RestoreSecret", "TagResource",
    "UntagResource", "UpdateSecretVersionStage", "RotateSecret", "CancelRotateSecret", "ReplicateSecretToRegions",
    "RemoveRegionsFromReplication", "PutResourcePolicy", "DeleteResourcePolicy",
})


class RequestLog:
    """Thread-safe list of the requests the server received (method, path, action)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: List[Dict[str, Any]] = []

    def add(self, entry: Dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> List[Dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def actions(self, service: str = "secretsmanager") -> List[str]:
        """Actions in order, e.g. ['CreateSecret', 'GetSecretValue'] (JSON protocol's X-Amz-Target)."""
        found = []
        for entry in self.entries():
            target = entry.get("target") or ""
            if target.lower().startswith(service.lower() + "."):
                found.append(target.split(".", 1)[1])
        return found

    def count(self, action: str) -> int:
        return self.actions().count(action)

    def writes(self) -> List[str]:
        return [action for action in self.actions() if action in WRITE_ACTIONS]


class _Recorder:
    """WSGI middleware in front of moto: records each request and serves the log."""

    def __init__(self, app: Callable, log: RequestLog) -> None:
        self.app = app
        self.log = log

    def __call__(self, environ: Dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == LOG_PATH:
            if environ.get("REQUEST_METHOD") == "DELETE":
                self.log.clear()
            body = json.dumps(self.log.entries()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        self.log.add({
            "time": time.time(),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "target": environ.get("HTTP_X_AMZ_TARGET"),
        })
        return self.app(environ, start_response)


def _current_follows_awscurrent() -> None:
    """Make moto answer a read without a version with the version that carries AWSCURRENT, as AWS does.

    moto serves such a read (GetSecretValue without VersionStage, and every BatchGetSecretValue) from its
    own ``default_version_id``, which PutSecretValue moves but UpdateSecretVersionStage does not: after a
    rotation that moves AWSCURRENT by label (what the collection does so that two rotations at once
    rotate once), moto kept answering with the old value. On AWS the label decides. Applied once, to the
    in-process server only.
    """
    from moto.secretsmanager import models

    original = models.SecretsManagerBackend.update_secret_version_stage
    if getattr(original, "vibebox_follows_awscurrent", False):
        return

    def update_secret_version_stage(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):
        answer = original(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
        if version_stage == "AWSCURRENT" and move_to_version_id:
            self.secrets[secret_id].default_version_id = move_to_version_id
        return answer

    update_secret_version_stage.vibebox_follows_awscurrent = True
    models.SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage


def _versions_keep_their_creation_time() -> None:
    """Make moto list each version with the time it was created, as AWS does.

    moto's ListSecretVersionIds answers the time of the request as every version's CreatedDate, so
    every version looks brand new: the age of a value (what a scheduled rotation decides on, and what
    tells a rotation that another run has already rotated since it started) would always be zero.
    Applied once, to the in-process server only.
    """
    import json as _json

    from moto.secretsmanager import models

    original = models.SecretsManagerBackend.list_secret_version_ids
    if getattr(original, "vibebox_keeps_creation_time", False):
        return

    def list_secret_version_ids(self, secret_id, *args, **kwargs):
        answer = _json.loads(original(self, secret_id, *args, **kwargs))
        versions = self.secrets[secret_id].versions
        for item in answer.get("Versions", []):
            created = (versions.get(item["VersionId"]) or {}).get("createdate")
            if created is not None:
                item["CreatedDate"] = created
        return _json.dumps(answer)

    list_secret_version_ids.vibebox_keeps_creation_time = True
    models.SecretsManagerBackend.list_secret_version_ids = list_secret_version_ids


def _server_class():
    """ThreadedMotoServer with the request log; moto is imported only when a server is wanted."""
    _current_follows_awscurrent()
    _versions_keep_their_creation_time()
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class RecordingMotoServer(ThreadedMotoServer):
        def __init__(self, ip_address: str = "127.0.0.1", port: int = 0) -> None:
            super().__init__(ip_address=ip_address, port=port, verbose=False)
            self.requests = RequestLog()

        def _server_entry(self) -> None:  # same as moto's, with the recorder in front of the app
            app = _Recorder(DomainDispatcherApplication(create_backend_app), self.requests)
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

        @property
        def url(self) -> str:
            host, port = self.get_host_and_port()
            return f"http://{host}:{port}"

        def reset(self) -> None:
            """Forget every resource (moto's own reset endpoint) and the request log."""
            urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10).read()
            self.requests.clear()

        def env(self) -> Dict[str, str]:
            """The environment a client needs (the seed's variable names plus dummy credentials)."""
            return {
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.url,
                "AWS_SECRET_MANAGER_REGION": REGION,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            }

    return RecordingMotoServer


def start(timeout: float = 30.0):
    """Start the server on a free port and wait until it answers; raise RuntimeError if it does not."""
    server = _server_class()(ip_address="127.0.0.1", port=0)
    server.start()
    deadline = time.monotonic() + timeout
    last: Optional[BaseException] = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{server.url}/moto-api/data.json", timeout=5) as answer:
                if answer.status == 200:
                    server.requests.clear()
                    return server
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"the moto server did not answer within {timeout} s: {last}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Run a moto server for vibebox.secrets tests.")
    parser.add_argument("--env-file", help="also write the export lines to this file")
    args = parser.parse_args(argv)
    server = start()
    text = "".join(f"export {key}={value}\n" for key, value in server.env().items())
    text += f"# request log: {server.url}{LOG_PATH}\n"
    sys.stdout.write(text)
    sys.stdout.flush()
    if args.env_file:
        with open(args.env_file, "w", encoding="utf-8") as handle:
            handle.write(text)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
