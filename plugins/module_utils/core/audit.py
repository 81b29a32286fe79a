# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Audit log: one JSON line per operation, never a value.

Forks append concurrently: each entry is one write() of one line on an O_APPEND descriptor, which
POSIX keeps whole for lines this short, so no lock is needed.

Two kinds of entries: ``record`` writes one backend operation on one secret (get, set, delete, ...);
``operation`` writes what an operator started (a rotation, its rollback, a migration, its rollback,
a cleanup) over one or more secrets, with the versions before and after, so a review can find "who
rotated what, when" without reassembling it from the reads and writes it was made of (those are
still written as they happen).
"""
from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
from collections import deque
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

_FIELDS = ("ts", "op", "provider", "name", "version", "ok", "error", "actor")
#: fields only operation entries have (read_tail keeps them when present)
_OPERATION_FIELDS = ("names", "versions", "outcome")
#: the operations a person or a schedule starts, each written once per run with ``operation``
OPERATIONS = ("rotate", "rotate_rollback", "migrate", "migrate_rollback", "cleanup")


def default_audit_path() -> str:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "vibebox", "audit.log")


def resolve_audit_path(option: Union[str, bool, None]) -> Optional[str]:
    """``audit_log`` option -> path or None (disabled). Accepts false/'false'/'no'/'off'."""
    if option is None or option is True or (isinstance(option, str) and option.strip().lower() in ("", "true", "yes", "on")):
        return default_audit_path()
    if option is False or (isinstance(option, str) and option.strip().lower() in ("false", "no", "off", "none")):
        return None
    return os.path.expanduser(str(option))


def _actor() -> str:
    explicit = os.environ.get("VIBEBOX_AUDIT_ACTOR")
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover - no passwd entry in some containers
        return str(os.getuid())


class AuditLog:
    def __init__(self, path: Optional[str], provider: str, memory_size: int = 100) -> None:
        self.path = path
        self.provider = provider
        self.actor = _actor()
        self.recent: deque = deque(maxlen=memory_size)

    def record(
        self,
        op: str,
        name: str,
        *,
        ok: bool,
        version: Optional[str] = None,
        error: Optional[BaseException] = None,
        retries: int = 0,
    ) -> Dict[str, Any]:
        entry = {
            "ts": _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z"),
            "op": op,
            "provider": self.provider,
            "name": name,
            "version": version,
            "ok": ok,
            # the error's kind and message: messages are built by errors.py and never carry values
            "error": None if error is None else f"{type(error).__name__}: {error}",
            "actor": self.actor,
        }
        if retries:
            # only when there were any: how often the service throttled or failed this operation
            entry["retries"] = int(retries)
        self.recent.append(entry)
        if self.path:
            self._append(entry)
        return entry

    def operation(
        self,
        op: str,
        names: Iterable[str],
        *,
        ok: bool,
        versions: Optional[Mapping[str, Mapping[str, Any]]] = None,
        error: Optional[BaseException] = None,
        outcome: Optional[str] = None,
    ) -> Dict[str, Any]:
        """One entry for an operation over ``names`` (see OPERATIONS).

        ``versions`` maps each name to what happened to its versions, for example
        ``{"jwt-secret": {"before": "3", "after": "4"}}`` or ``{"jwt-secret": {"destroyed": ["1"]}}``
        (version ids only, never a value). With one name, ``name`` and ``version`` (its ``after``) are
        filled too, so the queries written for single operations find it.
        """
        if op not in OPERATIONS:
            raise ValueError(f"unknown audit operation {op!r}; one of {', '.join(OPERATIONS)}")
        listed = sorted(dict.fromkeys(str(name) for name in names))
        changes = {str(name): {str(key): _version_field(value) for key, value in (detail or {}).items()}
                   for name, detail in (versions or {}).items()}
        single = listed[0] if len(listed) == 1 else None
        entry = {
            "ts": _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z"),
            "op": op,
            "provider": self.provider,
            "name": single,
            "version": (changes.get(single) or {}).get("after") if single else None,
            "ok": ok,
            "error": None if error is None else f"{type(error).__name__}: {error}",
            "actor": self.actor,
            "names": listed,
            "versions": changes,
        }
        if outcome:
            entry["outcome"] = str(outcome)
        self.recent.append(entry)
        if self.path:
            self._append(entry)
        return entry

    def _append(self, entry: Dict[str, Any]) -> None:
        folder = os.path.dirname(self.path) or "."
        os.makedirs(folder, mode=0o700, exist_ok=True)
        line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def _version_field(value: Any) -> Any:
    """Version ids as strings (lists of them for destroyed versions); None stays None."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return str(value)


def read_tail(path: Optional[str], count: int = 20, name: Optional[str] = None) -> List[Dict[str, Any]]:
    """The last ``count`` entries (optionally of one secret), oldest first."""
    if not path or not os.path.exists(path) or count <= 0:
        return []
    kept: deque = deque(maxlen=count)
    with open(path, "r", encoding="utf-8") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if name is None or entry.get("name") == name or name in (entry.get("names") or []):
                row = {key: entry.get(key) for key in _FIELDS}
                if entry.get("retries"):
                    row["retries"] = entry["retries"]
                for key in _OPERATION_FIELDS:
                    if key in entry:
                        row[key] = entry[key]
                kept.append(row)
    return list(kept)
