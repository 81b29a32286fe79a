"""A small fault-injecting HTTP proxy, put in front of OpenBao or moto by the reliability tests.

Why the project owns one: the reliability claims ("a 50-host run survives 30% throttling", "a
server that dies mid-migration loses nothing", "an unreachable endpoint fails fast") can only be
tested against a service that misbehaves on demand, the same way every time. Real servers do not
throttle on request, and a mock inside the client would test the mock. This proxy sits on the wire,
so the unchanged SDKs (hvac, botocore) see exactly what a throttling or dying service sends.

What it does, per HTTP request it receives on 127.0.0.1:

- ``forward`` (the default): relays the request to the upstream server and the answer back;
- with probability ``fault_rate`` (drawn from ``random.Random(seed)``, so a run is reproducible when
  requests arrive in the same order) it answers itself with the service's real throttling answer
  instead of forwarding: Vault ``429 {"errors":["rate limited"]}``, Secrets Manager (JSON protocol)
  ``400 {"__type":"ThrottlingException","message":"Rate exceeded"}``;
- ``drop``: closes the connection without an answer (a server crashing mid-request);
- ``blackhole``: keeps the connection open and never answers (a hung server, a firewall that drops);
- ``go_down()``: closes the listening socket and every open connection, so new connections are
  refused, as when the process dies; ``come_back()`` listens on the same port again;
- ``down_after(n, predicate)``: goes down by itself just before the (n+1)-th request matching
  ``predicate`` (e.g. the 31st write of a migration), or with ``next_any=True`` just before whatever
  request follows the n-th match (e.g. the read-back after a write), which is how "dies mid-run" is
  made exact.

It counts everything (``stats``): requests received, faults injected, requests forwarded, dropped,
and the writes among them, so a test can report "requests survived" and compare the retries the
client reports with the faults that were injected.

What it does not model: TLS (both servers it fronts speak plain HTTP in the tests), chunked request
bodies (neither hvac nor botocore sends them for these calls), HTTP/2, pipelining.

``Blackhole`` (a listening socket that accepts and never answers) and ``closed_port()`` (a port
nobody listens on) are here too, for the timeout tests. Standard library only; threads only.
"""
from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Set, Tuple

#: Secrets Manager actions (X-Amz-Target) that change something; a copy of moto_server.WRITE_ACTIONS,
#: because this file must run without moto installed
AWS_WRITE_ACTIONS = frozenset({
    "CreateSecret", "PutSecretValue", "UpdateSecret", "DeleteSecret", "RestoreSecret", "TagResource",
    "UntagResource", "UpdateSecretVersionStage", "RotateSecret", "ReplicateSecretToRegions",
    "RemoveRegionsFromReplication", "PutResourcePolicy", "DeleteResourcePolicy",
})
#: headers that describe one hop of the connection, not the message (RFC 9110 7.6.1)
_HOP_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                          "upgrade", "content-length"})
_MAX_HEAD = 64 * 1024


@dataclass
class Request:
    """One request as the proxy saw it; ``action`` is the AWS X-Amz-Target action or ``METHOD /path``."""

    method: str
    path: str
    headers: Dict[str, str]
    body: bytes

    @property
    def target(self) -> str:
        return self.headers.get("x-amz-target", "")

    @property
    def action(self) -> str:
        if self.target:
            return self.target.split(".", 1)[-1]
        return f"{self.method} {urllib.parse.urlsplit(self.path).path}"

    @property
    def identity(self) -> str:
        """What makes a retry "the same request": action and, for AWS, the secret(s) it is about."""
        if not self.target:
            return f"{self.method} {self.path}"
        try:
            body = json.loads(self.body or b"{}")
        except ValueError:
            body = {}
        secret = body.get("SecretId") or body.get("Name") or ",".join(body.get("SecretIdList") or [])
        return f"{self.action} {secret}"

    @property
    def is_write(self) -> bool:
        """A request that changes something on the server (an AWS write action or a Vault write)."""
        if self.target:
            return self.action in AWS_WRITE_ACTIONS
        return self.method in ("POST", "PUT", "DELETE", "PATCH") and self.path.startswith("/v1/") \
            and not self.path.startswith("/v1/auth/")


@dataclass
class Stats:
    """What the proxy did; read it with ``proxy.snapshot()`` (a copy taken under the lock)."""

    requests: int = 0
    faults: int = 0
    forwarded: int = 0
    dropped: int = 0
    blackholed: int = 0
    refused_while_down: int = 0
    writes_forwarded: int = 0
    #: action -> number of injected faults, to see which calls were throttled
    faults_by_action: Dict[str, int] = field(default_factory=dict)
    #: actions forwarded, in order (a test can tell what reached the server before it "died")
    forwarded_actions: List[str] = field(default_factory=list)
    #: the most faults one connection got in a row for the same request: what the client's retry
    #: bound allows, seen from the server (a client that retried forever would push it up)
    longest_fault_streak: int = 0


def throttle_answer(request: Request) -> Tuple[int, Dict[str, str], bytes]:
    """The throttling answer of the service behind the proxy, in its real shape."""
    if request.target:  # the AWS JSON protocol (Secrets Manager)
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": "ThrottlingException",
                   "x-amzn-RequestId": "00000000-0000-0000-0000-fa0170000000"}
        return 400, headers, body
    body = json.dumps({"errors": ["rate limited"]}).encode()
    return 429, {"Content-Type": "application/json", "Retry-After": "0"}, body


def _never_faulted(request: Request) -> bool:
    """Health checks, moto's own API and the request log are not the service: never throttle them."""
    path = urllib.parse.urlsplit(request.path).path
    return path in ("/v1/sys/health",) or path.startswith(("/moto-api", "/_vibebox"))


class FaultProxy:
    """See the module docstring. Use as ``with FaultProxy(upstream_url, fault_rate=0.3) as proxy:``."""

    def __init__(
        self,
        upstream: str,
        *,
        fault_rate: float = 0.0,
        seed: int = 10,
        host: str = "127.0.0.1",
        port: int = 0,
        upstream_timeout: float = 60.0,
        answer: Callable[[Request], Tuple[int, Dict[str, str], bytes]] = throttle_answer,
        exempt: Callable[[Request], bool] = _never_faulted,
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"the fault proxy relays plain http:// only (got {upstream!r})")
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self.host = host
        self.port = port
        self.fault_rate = float(fault_rate)
        self.mode = "forward"
        self.upstream_timeout = upstream_timeout
        self.answer = answer
        self.exempt = exempt
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stats = Stats()
        self._listener: Optional[socket.socket] = None
        self._clients: Set[socket.socket] = set()
        self._stopping = threading.Event()
        self._down = False
        self._trip: Optional[Tuple[int, Callable[[Request], bool], bool]] = None
        self._trip_seen = 0
        self._threads: List[threading.Thread] = []

    # life cycle --------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "FaultProxy":
        self._listen()
        return self

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(128)
        listener.settimeout(0.2)  # so the accept loop notices stop() and go_down()
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._down = False
        thread = threading.Thread(target=self._accept_loop, args=(listener,), name=f"fault-proxy-{self.port}",
                                  daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        self._close_everything()
        for thread in self._threads:
            thread.join(timeout=5)

    def go_down(self) -> None:
        """Behave like a dead server from now on: refuse connections, cut the open ones."""
        with self._lock:
            self._down = True
        self._close_everything()

    def come_back(self) -> None:
        """Listen again on the same port (the server was restarted)."""
        with self._lock:
            self._trip = None
        if self._listener is None:
            self._listen()
        else:
            self._down = False

    def down_after(self, count: int, predicate: Callable[[Request], bool] = lambda request: request.is_write,
                   next_any: bool = False) -> None:
        """Go down once ``count`` requests matching ``predicate`` were served: just before the next
        matching one, or (``next_any``) just before the next request of any kind. That one is cut."""
        with self._lock:
            self._trip = (int(count), predicate, bool(next_any))
            self._trip_seen = 0

    def set_fault_rate(self, rate: float) -> None:
        with self._lock:
            self.fault_rate = float(rate)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = Stats()

    def snapshot(self) -> Stats:
        with self._lock:
            copy = Stats(**vars(self._stats))
            copy.faults_by_action = dict(self._stats.faults_by_action)
            copy.forwarded_actions = list(self._stats.forwarded_actions)
            return copy

    def _close_everything(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.close()
            except OSError:
                pass
        with self._lock:
            clients = list(self._clients)
            self._clients.clear()
        for client in clients:
            _hard_close(client)

    # connections -------------------------------------------------------------------------------------
    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set() and self._listener is listener:
            try:
                client, _address = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return  # closed by go_down() or stop()
            with self._lock:
                if self._down:
                    self._stats.refused_while_down += 1
                    _hard_close(client)
                    continue
                self._clients.add(client)
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(None)
        reader = client.makefile("rb")
        upstream: Optional[http.client.HTTPConnection] = None
        streak: Tuple[str, int] = ("", 0)
        try:
            while not self._stopping.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                decision = self._decide(request)
                if decision == "fault":
                    same = streak[0] == request.identity
                    streak = (request.identity, streak[1] + 1 if same else 1)
                    with self._lock:
                        self._stats.longest_fault_streak = max(self._stats.longest_fault_streak, streak[1])
                else:
                    streak = ("", 0)
                if decision == "drop":
                    return
                if decision == "blackhole":
                    self._stopping.wait()  # hold the connection open, never answer
                    return
                if decision == "fault":
                    status, headers, body = self.answer(request)
                    _write_response(client, status, headers, body, keep_alive=True)
                    continue
                if upstream is None:
                    upstream = http.client.HTTPConnection(self.upstream_host, self.upstream_port,
                                                          timeout=self.upstream_timeout)
                status, reason, headers, body = _relay(upstream, request)
                with self._lock:
                    if self._down:  # went down while the upstream worked: the client gets nothing
                        return
                _write_response(client, status, headers, body, keep_alive=request.headers.get("connection", "").lower()
                                != "close", reason=reason)
                if request.headers.get("connection", "").lower() == "close":
                    return
        except (OSError, http.client.HTTPException, ValueError):
            return
        finally:
            if upstream is not None:
                upstream.close()
            with self._lock:
                self._clients.discard(client)
            try:
                reader.close()
            except OSError:
                pass
            _hard_close(client)

    def _decide(self, request: Request) -> str:
        with self._lock:
            stats = self._stats
            stats.requests += 1
            matches = False
            if self._trip is not None and not self._down:
                count, predicate, next_any = self._trip
                matches = predicate(request)
                if self._trip_seen >= count and (matches or next_any):
                    self._down = True
                    threading.Thread(target=self._close_everything, daemon=True).start()
            if self._down:
                stats.dropped += 1
                return "drop"
            if self.mode == "drop":
                stats.dropped += 1
                return "drop"
            if self.mode == "blackhole":
                stats.blackholed += 1
                return "blackhole"
            if self.fault_rate > 0 and not self.exempt(request) and self._random.random() < self.fault_rate:
                stats.faults += 1
                stats.faults_by_action[request.action] = stats.faults_by_action.get(request.action, 0) + 1
                return "fault"
            stats.forwarded += 1
            if matches:
                self._trip_seen += 1
            stats.forwarded_actions.append(request.action)
            if request.is_write:
                stats.writes_forwarded += 1
            return "forward"


# HTTP/1.1 on a socket, just enough for hvac and botocore ---------------------------------------------------
def _read_request(reader) -> Optional[Request]:
    line = reader.readline(_MAX_HEAD)
    while line in (b"\r\n", b"\n"):  # tolerate stray blank lines between requests
        line = reader.readline(_MAX_HEAD)
    if not line:
        return None
    try:
        method, target, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    except ValueError:
        return None
    headers: Dict[str, str] = {}
    while True:
        raw = reader.readline(_MAX_HEAD)
        if raw in (b"\r\n", b"\n", b""):
            break
        key, _colon, value = raw.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    body = reader.read(length) if length else b""
    if length and len(body) < length:
        return None
    return Request(method, target, headers, body)


def _relay(upstream: http.client.HTTPConnection, request: Request) -> Tuple[int, str, List[Tuple[str, str]], bytes]:
    headers = {key: value for key, value in request.headers.items() if key not in _HOP_HEADERS}
    headers["host"] = f"{upstream.host}:{upstream.port}"
    for attempt in (1, 2):  # an idle keep-alive connection to upstream may have been closed by it
        try:
            upstream.request(request.method, request.path, body=request.body or None, headers=headers)
            answer = upstream.getresponse()
            body = answer.read()
            kept = [(key, value) for key, value in answer.getheaders() if key.lower() not in _HOP_HEADERS]
            return answer.status, answer.reason, kept, body
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            upstream.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _write_response(client: socket.socket, status: int, headers, body: bytes, *, keep_alive: bool,
                    reason: Optional[str] = None) -> None:
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    phrase = reason or http.client.responses.get(status, "Unknown")
    lines = [f"HTTP/1.1 {status} {phrase}"]
    lines += [f"{key}: {value}" for key, value in items]
    lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    client.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def _hard_close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


# endpoints that do not work, for the timeout tests ------------------------------------------------------------
def closed_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that nobody listens on (bound, then released: connecting is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class Blackhole:
    """A listening socket that accepts connections and never sends a byte (a hung server)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((host, 0))
        self._listener.listen(128)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.accepted = 0
        self._held: List[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "Blackhole":
        self._thread.start()
        return self

    def __enter__(self) -> "Blackhole":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _address = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self._held.append(client)  # kept open and never read from or written to

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        for client in self._held:
            _hard_close(client)
        _hard_close(self._listener)


def main() -> int:
    """``python tests/servers/fault_proxy.py UPSTREAM_URL [RATE]``: run a proxy until interrupted."""
    import sys

    upstream = sys.argv[1]
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
    proxy = FaultProxy(upstream, fault_rate=rate).start()
    print(f"fault proxy {proxy.url} -> {upstream} (fault rate {rate})", flush=True)
    try:
        while True:
            time.sleep(5)
            stats = proxy.snapshot()
            print(f"requests={stats.requests} faults={stats.faults} forwarded={stats.forwarded}", flush=True)
    except KeyboardInterrupt:
        proxy.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
