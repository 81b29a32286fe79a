# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The run cache: one in-memory helper process per ansible-playbook run, shared by every fork.

Why a process: Ansible forks a worker per host and task, so a module-level dict dies with each
worker and 50 hosts x 10 secrets would cost 500 reads. The helper is started by the first lookup of
the run, listens on a Unix socket in a 0700 directory, keeps values in its memory only, fetches each
(options, name, version) once per TTL (one batch call for many names, single-flight for concurrent
asks) and exits when the ansible-playbook process is gone or after an idle timeout. It is the same
idea as ``ansible-connection`` keeping a persistent connection per run. docs/run-cache.md has the
reasoning and the alternatives that were rejected.

This file is the client side, imported by every worker fork (with wire.py, the socket's format).
Every fork loads what it imports afresh (from bytecode.py's cache, or compiled from source by Ansible's
loader), so it is kept small and imports neither the core nor a provider: the helper (server.py) resolves the options and builds the manager,
once per run; starting the helper (start.py) is imported only by the fork that finds none running.

Security: the directory is ours and 0700 (checked, not assumed), the server checks the peer's uid
with SO_PEERCRED and the client checks the server's, the helper refuses core dumps, and nothing the
helper writes to disk (socket, lock, error note) contains a value.

This file must not import ``ansible``: the helper runs with only the collection on sys.path.
"""
from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.vibebox.secrets.plugins.plugin_utils.bytecode import in_ansible_worker
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache.wire import PROTOCOL, Item, peer_ids, recv, send

#: VIBEBOX_RUN_CACHE: unset/auto = on in Ansible worker forks; true = also elsewhere; false = off
ENV_SWITCH = "VIBEBOX_RUN_CACHE"
#: directory that holds the per-run directories (default: $XDG_RUNTIME_DIR/vibebox or /tmp/vibebox-<uid>)
ENV_DIR = "VIBEBOX_RUN_CACHE_DIR"
#: seconds without a request after which the helper exits even if the run is still going
ENV_IDLE = "VIBEBOX_RUN_CACHE_IDLE"
DEFAULT_IDLE = 900.0
START_TIMEOUT = 15.0
REQUEST_TIMEOUT = 600.0
#: how long a fork waits for a helper that is stopped (SIGSTOP, a debugger holding it) before it reads the
#: provider itself; a helper that runs may take up to REQUEST_TIMEOUT (a slow login, a dynamic secret)
STOPPED_LIMIT = 15.0
#: how often a waiting fork looks at the helper's state
_STALL_CHECK = 1.0

_FALSE = ("0", "false", "no", "off", "disabled")
_TRUE = ("1", "true", "yes", "on", "always")
#: environment variables that can change how options resolve (sent with each request, see below)
_RELEVANT_ENV = ("SECRET_", "ENABLE_SECRET_MANAGER", "AWS_", "GCP_", "GOOGLE_", "AZURE_", "VAULT_", "K8S_",
                 "KUBE", "VIBEBOX_", "XDG_", "HOME", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH")


#: how long a fork waits for room in the helper's queue of connections before it reads the backend itself
CONNECT_QUEUE_WAIT = 30.0


def _connect_when_accepted(sock: socket.socket, path: str) -> None:
    """Connect, waiting while the helper's queue of pending connections is full.

    A Unix socket with a timeout is non-blocking underneath, and its connect answers EAGAIN at once when
    the listener's backlog is full (many forks asking while the helper is busy): that is "wait", not
    "no helper", and reading the backend instead would cost a request (or a new lease) the run cache exists
    to save.
    """
    deadline = time.monotonic() + CONNECT_QUEUE_WAIT
    delay = 0.005
    while True:
        try:
            sock.connect(path)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class RunCacheUnavailable(Exception):
    """The helper cannot be used; callers fall back to reading the backend directly. ``helper_pid``: the
    helper that was connected to and did not answer (0: none was reached)."""

    def __init__(self, message: str = "", helper_pid: int = 0) -> None:
        super().__init__(message)
        self.helper_pid = helper_pid


def _stopped(pid: int) -> bool:
    """``pid`` is stopped (state T, or t: held by a debugger); False when it runs, is gone, or cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
        return data[data.rfind(b")") + 2:].split()[0] in (b"T", b"t")
    except (OSError, IndexError):
        return False


def _await_reply(sock: socket.socket, helper: int) -> None:
    """Wait until the reply begins, up to REQUEST_TIMEOUT; give up sooner on a helper that has been stopped for
    STOPPED_LIMIT (it would otherwise hold every fork of the run for the whole timeout, one after another)."""
    import select

    deadline = time.monotonic() + REQUEST_TIMEOUT
    stopped_since: Optional[float] = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        readable, _writable, _failed = select.select([sock], [], [], min(_STALL_CHECK, left))
        if readable:
            return
        if helper and _stopped(helper):
            now = time.monotonic()
            stopped_since = stopped_since if stopped_since is not None else now
            if now - stopped_since >= STOPPED_LIMIT:
                raise RunCacheUnavailable(f"the run cache helper (pid {helper}) is stopped")
        else:
            stopped_since = None


def enabled(env: Optional[Mapping[str, str]] = None, worker: Optional[bool] = None) -> bool:
    """Whether reads go through the helper.

    By default only inside Ansible's worker forks: there the run is ansible-playbook and ends with
    it. Elsewhere (a test calling a lookup, a script) "the run" would be an arbitrary process whose
    environment may change between calls, so the cache is opt-in there (VIBEBOX_RUN_CACHE=true).
    """
    env = os.environ if env is None else env
    if not hasattr(socket, "AF_UNIX"):
        return False
    switch = str(env.get(ENV_SWITCH, "")).strip().lower()
    if switch in _FALSE:
        return False
    if switch in _TRUE:
        return True
    return in_ansible_worker() if worker is None else worker


def relevant_environment(env: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The variables that option resolution and provider detection read.

    The helper resolves options with these (not with its own environment), so a request means the
    same thing whichever fork sent it; they are part of the cache key.
    """
    env = os.environ if env is None else env
    return {key: value for key, value in env.items() if key.startswith(_RELEVANT_ENV)}


# identity of the run ----------------------------------------------------------------------------

def run_pid() -> int:
    """The ansible-playbook process: the parent of a worker fork, or this process when not a worker.

    Ansible's WorkerProcess is a multiprocessing child of the controller, so multiprocessing knows
    the parent without guessing from os.getppid() (which would be wrong in the controller itself).
    """
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid else os.getpid()


def process_start(pid: int) -> str:
    """Start time of ``pid`` in clock ticks (Linux), so a reused pid is not mistaken for the run."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return "0"
    fields = data[data.rfind(b")") + 2:].split()
    return fields[19].decode("ascii") if len(fields) > 19 else "0"


def base_dir(env: Optional[Mapping[str, str]] = None) -> str:
    env = os.environ if env is None else env
    if env.get(ENV_DIR):
        return os.path.abspath(env[ENV_DIR])
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        try:
            if os.stat(runtime).st_uid == os.getuid():
                return os.path.join(runtime, "vibebox")
        except OSError:
            pass
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"vibebox-{os.getuid()}")


def _idle_from_environment() -> float:
    try:
        return float(os.environ.get(ENV_IDLE) or DEFAULT_IDLE)
    except ValueError:
        raise RunCacheUnavailable(f"{ENV_IDLE} is not a number of seconds") from None


# the client (every worker) -------------------------------------------------------------------------

class RunCacheClient:
    """Talks to the helper of one run; starts it when the run has none yet."""

    def __init__(self, owner_pid: Optional[int] = None, directory: Optional[str] = None,
                 idle: Optional[float] = None) -> None:
        self.owner_pid = run_pid() if owner_pid is None else owner_pid
        self.owner_start = process_start(self.owner_pid)
        self.base = directory or base_dir()
        self.folder = os.path.join(self.base, f"run-{self.owner_pid}-{self.owner_start}")
        self.socket_path = os.path.join(self.folder, "s")
        self.idle = idle if idle is not None else _idle_from_environment()

    def start(self, first: Optional[Mapping[str, Any]] = None) -> Optional[Dict[str, Any]]:
        """Start the helper unless another fork just did; raises RunCacheUnavailable.

        ``first``: the request that found no helper. When this process starts the helper, it reads a
        ``get`` itself meanwhile and returns the reply (start.py); otherwise None.
        """
        from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import start

        return start.start(self, first)

    # connection ------------------------------------------------------------------------------
    def _connect(self, timeout: float = REQUEST_TIMEOUT) -> Tuple[socket.socket, int]:
        """The connected socket and the helper's pid (0 where the OS cannot say)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            _connect_when_accepted(sock, self.socket_path)
            ids = peer_ids(sock)
            if ids is not None and ids[1] != os.getuid():
                raise RunCacheUnavailable(f"the run cache socket is served by uid {ids[1]}, not by this user")
        except BaseException:
            sock.close()
            raise
        return sock, ids[0] if ids is not None else 0

    def _exchange(self, message: Mapping[str, Any], start: bool) -> Dict[str, Any]:
        try:
            sock, helper = self._connect()
        except (FileNotFoundError, ConnectionRefusedError):
            if not start:
                raise RunCacheUnavailable("no run cache helper for this run") from None
            answered = self.start(message)
            if answered is not None:
                return answered
            try:
                sock, helper = self._connect()
            except OSError as exc:
                raise RunCacheUnavailable(f"cannot connect to the run cache: {exc.strerror or exc}") from None
        except OSError as exc:
            raise RunCacheUnavailable(f"cannot connect to the run cache: {exc.strerror or exc}") from None
        try:
            send(sock, message)
            _await_reply(sock, helper)
            reply = recv(sock)
        except RunCacheUnavailable as exc:  # stopped for STOPPED_LIMIT
            exc.helper_pid = helper
            self._end_helper(helper)  # else every fork of the run would wait on it in turn
            raise
        except (OSError, ValueError) as exc:
            if isinstance(exc, socket.timeout):  # no answer within REQUEST_TIMEOUT: hung, of no use to the run
                self._end_helper(helper)
            raise RunCacheUnavailable(f"the run cache did not answer: {exc}", helper_pid=helper) from None
        finally:
            sock.close()
        if reply is None:
            raise RunCacheUnavailable("the run cache closed the connection", helper_pid=helper)
        if not reply.get("ok"):
            raise RunCacheUnavailable(str(reply.get("error") or "the run cache refused the request"))
        if reply.get("protocol", PROTOCOL) != PROTOCOL:
            raise RunCacheUnavailable("the run cache helper speaks another protocol version")
        return reply

    def running(self) -> bool:
        try:
            self._exchange({"op": "ping"}, start=False)
            return True
        except RunCacheUnavailable:
            return False

    # operations ------------------------------------------------------------------------------
    def fetch(self, options: Mapping[str, Any], forced: Optional[str], items: Sequence[Item], bypass: bool = False,
              env: Optional[Mapping[str, str]] = None) -> Tuple[str, List[Dict[str, Any]]]:
        """(provider, one answer per item in order) as the helper sent them (wire.py), undecoded.

        ``options`` are the raw lookup options (the helper ignores keys that are not provider options) and
        ``forced`` the provider forced by the caller (dev mode, fallback); the helper resolves them with
        ``env`` (factory.resolve).
        """
        message = {
            "op": "get", "options": dict(options), "forced": forced, "items": list(items), "bypass": bool(bypass),
            "env": relevant_environment(env),
        }
        reply = self._exchange(message, start=True)
        results = reply.get("results") or []
        if len(results) != len(message["items"]):
            raise RunCacheUnavailable("the run cache answered a different number of items")
        return str(reply.get("provider") or ""), results

    def invalidate(self, names: Iterable[str], hold: float = 0.0, everything: bool = False) -> bool:
        """Drop these names from the run's cache; False when the run has no helper (nothing cached).

        ``hold``: the write may still happen for that many seconds (an async job): the helper keeps nothing it
        reads of these names until then. Such an announcement starts the helper when the run has none, since
        one that a lookup started during the job would keep the value from before the write.
        ``everything``: drop every entry (a write whose names are unknown).
        """
        names = [str(name) for name in names if name]
        if not names and not everything:
            return False
        message: Dict[str, Any] = {"op": "invalidate", "names": names}
        if everything:
            message["all"] = True
        if hold > 0:
            message["hold"] = float(hold)
        try:
            self._exchange(message, start=hold > 0)
            return True
        except RunCacheUnavailable as exc:
            if exc.helper_pid:
                self._end_helper(exc.helper_pid)
                return False
        if not os.path.isdir(self.folder):
            return False  # no helper was ever started for this run: nothing holds a copy
        # No helper listens, but one may be starting: the fork that starts it reads the secrets itself and hands
        # what it read over under the start lock, a read that may have come before this write. Wait for that
        # start to end (the start lock), then tell the helper it made.
        from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import start

        try:
            with start._start_lock(self):
                pass
            self._exchange(message, start=False)
            return True
        except RunCacheUnavailable as exc:
            if exc.helper_pid:
                self._end_helper(exc.helper_pid)
            return False

    def _end_helper(self, pid: int) -> None:
        """End the run's helper that is stopped or hung: every fork would wait on it in turn, and were it to
        answer again after a write it could not be told of, it would serve the values from before the write.
        The next lookup starts a new one. Only this run's helper (its arguments name the run's socket and
        owner), never another process."""
        if not pid:
            return
        import signal

        from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache.start import _is_helper_of

        if not _is_helper_of(pid, self):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

    def stats(self) -> Dict[str, Any]:
        reply = self._exchange({"op": "stats"}, start=False)
        return dict(reply["stats"], entries=reply.get("entries"))

    def shutdown(self, wait: float = 5.0) -> None:
        try:
            self._exchange({"op": "shutdown"}, start=False)
        except RunCacheUnavailable:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and os.path.exists(self.socket_path):
            time.sleep(0.02)


_CLIENT: Optional[RunCacheClient] = None
_CLIENT_LOCK = threading.Lock()


def client() -> RunCacheClient:
    """The client of this process's run (one per process; a fork re-reads its run id)."""
    global _CLIENT
    with _CLIENT_LOCK:
        pid = run_pid()
        if _CLIENT is None or _CLIENT.owner_pid != pid or _CLIENT.base != base_dir():
            _CLIENT = RunCacheClient(pid)
        return _CLIENT


def invalidate(names: Iterable[str], hold: float = 0.0, everything: bool = False) -> bool:
    """Used by the action plugins after a write: never starts a helper just to empty it (only to hold the names
    of an async write, see RunCacheClient.invalidate)."""
    if not enabled(worker=True):
        return False
    try:
        return client().invalidate(names, hold, everything)
    except (RunCacheUnavailable, OSError):
        return False
