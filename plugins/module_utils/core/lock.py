# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""One writer per target, and a run that stops writing when its ansible-playbook is gone.

A migration is many module runs (plan, backup, one per batch, validate, ...) of one ansible-playbook,
so a lock that dies with each module process (a plain flock) would let another run slip in between
two batches. The lock is therefore a small record file naming its *owner*, the ansible-playbook
process of the run (host, boot id, pid and start time, handed to every step by the action plugin),
and the *writer*, the module process working right now. The record is read and changed under
flock, so two runs never both take it.

A lock is live while its lease has not expired and, on this machine, its owner or its writer
process still exists (the start time tells a reused pid from the original one). Otherwise it is
stale and the next run takes it over with a warning. A lock held by another machine (a shared
folder) can only expire.

Where it lives: beside the local store for the local provider (one store, one lock, whatever
backup folder each run uses), and in the backup folder for remote providers (``locks/<hash of the
target>.lock``), where every run that keeps its backups there finds it.

The same module also gives the check that runs before every request of a step (``Guard``): is the
ansible-playbook process still there, and is the lock still ours? A SIGKILL of ansible-playbook
leaves its worker fork and the module running (nothing forwards the signal); without this check
they go on writing after the operator has stopped the run.
"""
from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, TypeVar

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import SecretError
from ansible_collections.vibebox.secrets.plugins.module_utils.core.retry import RetryPolicy

T = TypeVar("T")

#: seconds a lock stays live without renewal; every step renews it, and long steps do between requests
LEASE_SECONDS = 120.0
_BOOT_ID = "/proc/sys/kernel/random/boot_id"


class LockHeld(SecretError):
    """Another live run holds the target's lock; names its owner, never a value."""

    kind = "locked"


class RunStopped(SecretError):
    """The run must stop writing: its ansible-playbook is gone, or its lock was taken over."""

    kind = "stopped"


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "r", encoding="ascii") as handle:
            return handle.read()
    except (OSError, UnicodeError):
        return None


def boot_id() -> str:
    return (_read(_BOOT_ID) or "").strip()


def _stat(pid: int) -> Optional[list]:
    """Fields of /proc/PID/stat after the command name (which may hold spaces and parentheses)."""
    text = _read(f"/proc/{pid}/stat")
    if not text or ")" not in text:
        return None
    return text[text.rindex(")") + 2:].split()


def start_time(pid: int) -> Optional[str]:
    fields = _stat(pid)
    return fields[19] if fields and len(fields) > 19 else None  # field 22 of stat: start time in ticks


@dataclass(frozen=True)
class Process:
    """A process that can be told alive or gone later, also when its pid has been reused."""

    pid: int
    start: str
    boot_id: str
    host: str
    user: str = ""

    @classmethod
    def of(cls, pid: int) -> Optional["Process"]:
        start = start_time(pid)
        if start is None:
            return None
        try:
            user = getpass.getuser()
        except Exception:  # pragma: no cover - no passwd entry in some containers
            user = str(os.getuid())
        return cls(pid, start, boot_id(), socket.gethostname(), user)

    @classmethod
    def current(cls) -> "Process":
        return cls.of(os.getpid()) or cls(os.getpid(), "", boot_id(), socket.gethostname())

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]]) -> Optional["Process"]:
        if not data or not data.get("pid"):
            return None
        try:
            return cls(int(data["pid"]), str(data.get("start") or ""), str(data.get("boot_id") or ""),
                       str(data.get("host") or ""), str(data.get("user") or ""))
        except (TypeError, ValueError):
            return None

    def to_dict(self) -> Dict[str, Any]:
        return {"pid": self.pid, "start": self.start, "boot_id": self.boot_id, "host": self.host, "user": self.user}

    @property
    def token(self) -> str:
        return f"{self.boot_id}/{self.pid}/{self.start}"

    @property
    def here(self) -> bool:
        """Whether this process runs on this machine since its last boot (so /proc can tell)."""
        return bool(self.boot_id) and self.boot_id == boot_id()

    def alive(self) -> Optional[bool]:
        """True or False on this machine; None when the process runs elsewhere (nothing to ask)."""
        if not self.here:
            return None
        fields = _stat(self.pid)
        if fields is None:
            return False
        if fields[0] in ("Z", "X"):  # a killed process waiting for its parent to reap it is gone
            return False
        return not self.start or (len(fields) > 19 and fields[19] == self.start)

    def describe(self) -> str:
        who = f" of user {self.user}" if self.user else ""
        return f"pid {self.pid} on {self.host or 'an unknown host'}{who}"


def lock_path(identity: Mapping[str, str], prefix: str, backup_dir: str) -> str:
    """Beside the local store; in ``backup_dir``/locks for remote providers (one file per target)."""
    if identity.get("provider") == "local" and identity.get("path"):
        return str(identity["path"]) + ".migrate-lock"
    label = json.dumps({"target": dict(identity), "prefix": prefix}, sort_keys=True)
    digest = hashlib.sha256(label.encode("utf-8")).hexdigest()[:20]
    return os.path.join(os.path.abspath(os.path.expanduser(backup_dir)), "locks", f"{digest}.lock")


def describe_target(identity: Mapping[str, str], prefix: str) -> str:
    facts = ", ".join(f"{key} {value}" for key, value in sorted(identity.items()) if key != "provider" and value)
    where = f" ({facts})" if facts else ""
    return f"provider '{identity.get('provider')}'{where}, prefix '{prefix}'"


class TargetLock:
    """The lock record of one target, taken by ``owner`` (the run) while ``writer`` (this step) works."""

    def __init__(self, path: str, target: str, owner: Process, writer: Optional[Process] = None,
                 lease: float = LEASE_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.target = target
        self.owner = owner
        self.writer = writer
        self.lease = lease
        self.clock = clock
        self._renewed = 0.0

    # the record ----------------------------------------------------------------------------------
    def _open(self) -> int:
        folder = os.path.dirname(self.path)
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise LockHeld(f"cannot open the lock {self.path} of {self.target}: {exc.strerror}",
                           hint="The folder must be writable by the user who runs the migration") from None

    @staticmethod
    def _load(fd: int) -> Optional[Dict[str, Any]]:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = b""
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            raw += chunk
        if not raw.strip():
            return None
        try:
            record = json.loads(raw.decode("utf-8"))
        except ValueError:
            return None  # a torn or foreign file holds nobody's lock
        return record if isinstance(record, dict) and record.get("owner") else None

    @staticmethod
    def _store(fd: int, record: Optional[Dict[str, Any]]) -> None:
        data = b"" if record is None else (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)
        os.fsync(fd)

    def _locked(self, exclusive: bool):
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        except OSError:
            os.close(fd)
            raise
        return fd

    def read(self) -> Optional[Dict[str, Any]]:
        """The current record (None when free); reading never creates the file."""
        if not os.path.exists(self.path):
            return None
        fd = self._locked(exclusive=False)
        try:
            return self._load(fd)
        finally:
            os.close(fd)

    # judging a record ----------------------------------------------------------------------------
    def _ours(self, record: Optional[Mapping[str, Any]]) -> bool:
        owner = Process.from_dict((record or {}).get("owner"))
        return owner is not None and owner.token == self.owner.token

    def stale_reason(self, record: Mapping[str, Any]) -> Optional[str]:
        """Why ``record`` no longer protects anything, or None when its run may still write."""
        expires = float(record.get("expires_at") or 0)
        if expires <= self.clock():
            return f"its lease ended at {_iso(expires)}"
        owner = Process.from_dict(record.get("owner"))
        writer = Process.from_dict(record.get("writer"))
        owner_alive = owner.alive() if owner else False
        writer_alive = writer.alive() if writer else False
        if owner_alive is False and writer_alive is False:
            return f"its ansible-playbook ({owner.describe() if owner else 'unknown'}) is gone"
        return None

    def holder(self, record: Mapping[str, Any]) -> str:
        owner = Process.from_dict(record.get("owner"))
        writer = Process.from_dict(record.get("writer"))
        text = f"a {record.get('action') or 'migration'} run by ansible-playbook {owner.describe() if owner else '(unknown)'}"
        if writer is not None:
            text += f", module {writer.describe()}"
        return text + f", since {record.get('since') or '?'}, lease until {_iso(float(record.get('expires_at') or 0))}"

    # taking, keeping and giving back ---------------------------------------------------------------
    def _record(self, action: str, since: Optional[str]) -> Dict[str, Any]:
        now = self.clock()
        self._renewed = now
        return {"version": 1, "target": self.target, "action": action, "since": since or _iso(now),
                "owner": self.owner.to_dict(), "writer": self.writer.to_dict() if self.writer else None,
                "renewed_at": _iso(now), "expires_at": now + self.lease}

    def acquire(self, action: str) -> Optional[str]:
        """Take or renew the lock for this run; returns a warning when a stale lock was taken over."""
        fd = self._locked(exclusive=True)
        try:
            current = self._load(fd)
            warning = None
            if current is not None and not self._ours(current):
                why = self.stale_reason(current)
                if why is None:
                    raise LockHeld(
                        f"{self.target} is locked by {self.holder(current)}",
                        hint=f"Wait for that run to finish; if it is really gone, the lock {self.path} is taken"
                        " over once its lease ends (nothing is written meanwhile)",
                    )
                warning = (f"took over the stale lock of {self.target} ({why}): it was held by {self.holder(current)};"
                           " if that run was killed mid-way, its backup is unfinished (migrate_action=rollback says which)")
            since = current.get("since") if current is not None and self._ours(current) else None
            self._store(fd, self._record(action, since))
            return warning
        finally:
            os.close(fd)

    def confirm(self) -> None:
        """Between requests: stop unless the lock is still ours; renew it when half the lease is gone."""
        record = self.read()
        if not self._ours(record):
            who = self.holder(record) if record else "nobody (it was released)"
            raise RunStopped(f"stopped before the next write: the lock of {self.target} is now held by {who}",
                             hint="Another run took over this target; check what it did before running again")
        if self.clock() - self._renewed >= self.lease / 2:
            self.acquire(str(record.get("action") or "migrate"))

    def release(self, keep: bool = False) -> None:
        """Give the lock back (``keep``: keep it for the run's next step, without this writer)."""
        if not os.path.exists(self.path):
            return
        fd = self._locked(exclusive=True)
        try:
            current = self._load(fd)
            if not self._ours(current):
                return
            if keep:
                record = dict(current, writer=None)
                self._store(fd, record)
            else:
                self._store(fd, None)  # never unlinked: a waiter holding the old inode would lock a ghost
        finally:
            os.close(fd)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class Guard:
    """What runs before every request of a writing step (and before each retry of one)."""

    def __init__(self, controller: Optional[Process], lock: Optional[TargetLock]) -> None:
        self.controller = controller
        self.lock = lock

    def controller_gone(self) -> bool:
        return self.controller is not None and self.controller.alive() is False

    def __call__(self) -> None:
        if self.controller_gone():
            raise RunStopped(
                f"stopped before the next write: the ansible-playbook process of this run ({self.controller.describe()})"
                " is gone (killed or crashed)",
                hint="Nothing more is written. Undo what was written with migrate_action=rollback (it names this run's"
                " backup as unfinished), or run the migration again",
            )
        if self.lock is not None:
            self.lock.confirm()


class GuardedPolicy(RetryPolicy):
    """The manager's retry policy with the guard before every attempt of every request."""

    guard: Optional[Callable[[], None]] = None

    def attempt(self, request: Callable[[], T]) -> T:
        if self.guard is not None:
            self.guard()
        return request()


def guarded(policy: RetryPolicy, guard: Callable[[], None]) -> GuardedPolicy:
    made = GuardedPolicy(attempts=policy.attempts, throttled_attempts=policy.throttled_attempts,
                         base_delay=policy.base_delay, max_delay=policy.max_delay, deadline=policy.deadline,
                         sleep=policy.sleep, clock=policy.clock)
    made.guard = guard
    return made
