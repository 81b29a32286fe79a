# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The state of every secret for the status page: due dates, grace, expiry, compliance, audit events.

Why a module of its own: the page (status_page.py renders it) and its JSON twin must say the same
thing, and what "overdue" or "in grace" means is a decision that belongs next to compliance.py,
not in a template. Everything here is a pure function of secret_info's results (metadata only),
the rotation schedule (a max_age per name) and a clock, so it is unit-tested with a fixed clock.

Only named fields are copied from secret_info's rows: never tags, descriptions or strength, so a
value, digest or fragment of one cannot reach the page even if a future field held one.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, Iterable, List, Mapping, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core.durations import parse_duration
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import iso, parse_iso

#: every state a secret can be in, worst first: the page sorts and colours by this order
STATES = ("expired", "overdue", "failing", "grace", "due", "ok")
STATE_TITLES = {
    "expired": "expired",
    "overdue": "overdue",
    "failing": "failing compliance",
    "grace": "in grace",
    "due": "due soon",
    "ok": "ok",
}
#: the audit fields a row shows for its events (never ``error`` text there: the failed list has it)
EVENT_FIELDS = ("ts", "op", "ok", "actor", "version")
FAILED_FIELDS = ("ts", "op", "provider", "name", "names", "error", "actor")
DAY = 86400.0


def _error_kind(error: Optional[str]) -> Optional[str]:
    """``SecretDenied: message`` -> ``SecretDenied`` (audit entries write ``kind: message``)."""
    if not error:
        return None
    return str(error).split(":", 1)[0].strip() or None


#: reads that answer "not found" are how a plan or a lookup learns a secret is new, not failures
_READS = ("get", "describe", "versions", "list")


def _routine_miss(entry: Mapping[str, Any]) -> bool:
    return entry.get("op") in _READS and _error_kind(entry.get("error")) == "SecretNotFound"


def _pick(entry: Mapping[str, Any], fields: Iterable[str]) -> Dict[str, Any]:
    picked = {key: entry.get(key) for key in fields}
    picked["error_kind"] = _error_kind(entry.get("error"))
    return picked


def _moment(text: Any) -> Optional[_dt.datetime]:
    try:
        return parse_iso(text) if text else None
    except (TypeError, ValueError):
        return None


def _concerns(entry: Mapping[str, Any], provider: str, name: str) -> bool:
    if entry.get("provider") not in (None, provider):
        return False
    return entry.get("name") == name or name in (entry.get("names") or [])


def next_due(row: Mapping[str, Any], max_age: Optional[int]) -> Dict[str, Optional[str]]:
    """When the secret should be rotated next and why: the provider's own schedule wins (it rotates
    whatever this collection does), else last rotation + max_age."""
    rotation = row.get("rotation") or {}
    provider_next = rotation.get("next") or rotation.get("next_rotation")
    if provider_next:
        return {"next_due": str(provider_next), "due_from": f"{rotation.get('by') or 'provider'} schedule"}
    last = _moment(row.get("last_rotation"))
    if max_age is None or last is None:
        return {"next_due": None, "due_from": None}
    due = last + _dt.timedelta(seconds=max_age)
    days = f"{max_age / DAY:g}d"
    return {"next_due": iso(due), "due_from": f"max_age {days}"}


def states_of(row: Mapping[str, Any], now: _dt.datetime, soon_days: float) -> List[str]:
    """Every state that applies, worst first; ``["ok"]`` when none does."""
    found: List[str] = []
    expires = _moment(row.get("expires_at"))
    if expires is not None and expires <= now:
        found.append("expired")
    due = _moment(row.get("next_due"))
    if due is not None and due <= now:
        found.append("overdue")
    if row.get("violations"):
        found.append("failing")
    if (row.get("grace") or {}).get("state") == "until":
        found.append("grace")
    soon = now + _dt.timedelta(days=soon_days)
    if due is not None and now < due <= soon:
        found.append("due")
    if expires is not None and now < expires <= soon and "due" not in found:
        found.append("due")
    return found or ["ok"]


def build(
    sources: Iterable[Mapping[str, Any]],
    now: _dt.datetime,
    max_ages: Optional[Mapping[str, Any]] = None,
    default_max_age: Any = None,
    soon_days: float = 7,
    events_per_secret: int = 5,
    failed_operations: int = 10,
) -> Dict[str, Any]:
    """The status of every secret of ``sources`` (secret_info results: provider, secrets, audit).

    ``max_ages`` maps a logical name to its rotation period (the rotate role's ``rotate_secrets``);
    ``default_max_age`` applies to the others. Durations are parsed here so a typo fails clearly.
    """
    now = now if now.tzinfo else now.replace(tzinfo=_dt.timezone.utc)
    periods = {str(name): parse_duration(value, f"max_age of {name}") for name, value in (max_ages or {}).items()
               if value not in (None, "")}
    fallback = parse_duration(default_max_age, "status_max_age")
    rows: List[Dict[str, Any]] = []
    audit: List[Dict[str, Any]] = []
    seen_audit = set()
    providers: List[str] = []
    for source in sources:
        provider = str(source.get("provider") or "")
        providers.append(provider)
        entries = [dict(entry) for entry in source.get("audit") or []]
        for entry in entries:
            key = (entry.get("ts"), entry.get("op"), entry.get("provider"), entry.get("name"), entry.get("ok"))
            if key not in seen_audit:
                seen_audit.add(key)
                audit.append(entry)
        for secret in source.get("secrets") or []:
            name = str(secret.get("name") or "")
            grace = secret.get("grace") or {}
            row: Dict[str, Any] = {
                "provider": provider,
                "name": name,
                "version": None if secret.get("version") is None else str(secret.get("version")),
                "age_days": secret.get("age_days"),
                "last_rotation": secret.get("last_rotation"),
                "expires_at": secret.get("expires_at"),
                "deleted_at": secret.get("deleted_at"),
                "grace_state": grace.get("state") or "none",
                "grace_until": grace.get("until"),
                "rotated_by": secret.get("rotated_by") or "none",
                "violations": [str(item) for item in secret.get("violations") or []],
            }
            row.update(next_due({**secret, **row, "rotation": secret.get("rotation")},
                                periods.get(name, fallback)))
            row["states"] = states_of({**row, "grace": grace}, now, soon_days)
            row["state"] = row["states"][0]
            # successful reads are every lookup and this page's own describe: the events that matter are
            # the writes, operations and failures (and leaving reads out keeps a re-run unchanged)
            mine = [entry for entry in entries if _concerns(entry, provider, name)
                    and not (entry.get("op") in _READS and entry.get("ok") is not False) and not _routine_miss(entry)]
            row["events"] = [_pick(entry, EVENT_FIELDS) for entry in mine[-events_per_secret:]][::-1]
            rows.append(row)
    rows.sort(key=lambda row: (STATES.index(row["state"]), row["next_due"] or "9999", row["provider"], row["name"]))
    failed = [entry for entry in audit if entry.get("ok") is False and not _routine_miss(entry)]
    failed.sort(key=lambda entry: str(entry.get("ts") or ""))
    counts = {state: sum(1 for row in rows if state in row["states"]) for state in STATES if state != "ok"}
    counts["total"] = len(rows)
    return {
        "generated_at": iso(now),
        "providers": list(dict.fromkeys(providers)),
        "soon_days": soon_days,
        "counts": counts,
        "secrets": rows,
        "failed_operations": [
            _pick(entry, FAILED_FIELDS) for entry in failed[-failed_operations:]][::-1],
    }


def same_report(old: Optional[Mapping[str, Any]], new: Mapping[str, Any]) -> bool:
    """Whether two reports say the same, apart from when they were made (a re-run changes nothing)."""
    if not isinstance(old, Mapping):
        return False
    strip = ("generated_at",)
    return {k: v for k, v in old.items() if k not in strip} == {k: v for k, v in new.items() if k not in strip}
