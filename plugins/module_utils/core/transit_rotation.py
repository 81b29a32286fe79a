# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Rotation policy for a transit key: when it is due, what the grace period means, and the cleanup
that stops old key versions from decrypting.

Why the same policy as secrets (rotation.py): a scheduled ``encryption-key`` rotation must behave the
same whether the key is a secret of the collection or a transit key: ``max_age`` makes a schedule
idempotent, ``unless_rotated_since`` makes two runs started together rotate once, check mode writes
nothing. The key's own version creation times are its age, so nothing has to be recorded beside it.

The grace period is measured from the creation of the newest key version: until it has passed, the
cleanup leaves ``min_decryption_version`` alone, so data not yet re-wrapped still decrypts. After it,
the cleanup raises ``min_decryption_version`` to the newest version (what ``keep_previous: false``
does at once), and a ciphertext of an older version no longer decrypts.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, Mapping, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import SecretMetadata, VersionInfo
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import (
    RotationPolicy,
    RotationResult,
    check_due,
    human,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation_tags import to_moment
from ansible_collections.vibebox.secrets.plugins.module_utils.core.transit import KeyState, TransitKey

Clock = Callable[[], float]


def as_metadata(state: KeyState) -> "tuple[SecretMetadata, list]":
    """The key's versions in the shape the secrets' rotation policy reads (newest first)."""
    latest = str(state.latest_version)
    versions = [VersionInfo(version=str(number), created_at=state.created_at(number),
                            stages=["current"] if number == state.latest_version else [])
                for number in sorted(state.created, reverse=True)]
    meta = SecretMetadata(name=state.name, version=latest, created_at=state.created_at(state.latest_version),
                          updated_at=state.created_at(state.latest_version))
    return meta, versions


def rotate(key: TransitKey, name: str, policy: RotationPolicy, *, check_mode: bool = False, create: bool = False,
           audit: Any = None, clock: Clock = time.time) -> RotationResult:
    """Rotate the transit key when due (a new key version; older versions keep decrypting).

    ``name`` is the logical name the result and the audit entry use (``encryption-key``). With
    ``keep_previous: false`` older versions stop decrypting at once (a hard cut, for a leaked key).
    """
    now = clock()
    state = key.state(missing_ok=True)
    if state is None:
        result = RotationResult(name=name, due=True, reason="the transit key does not exist yet: it is created")
        if not create:
            key.state()  # raises the "does not exist; set create: true" error
        if not check_mode:
            state = key.create()
            result.rotated = True
            result.version = str(state.latest_version)
            result.age = 0
            _audit(audit, name, ok=True, before=None, after=result.version, outcome="created")
        result.next_due = None if policy.max_age is None else now + policy.max_age
        return result
    meta, versions = as_metadata(state)
    due = check_due(meta, versions, policy, now)
    result = RotationResult(name=name, due=due.due, reason=due.reason, age=due.age, max_age=policy.max_age,
                            version=meta.version, version_before=meta.version, next_due=due.next_due,
                            already_rotated=due.already_rotated)
    if not due.due:
        return result
    result.previous_version = meta.version
    if policy.grace_period:
        result.grace_until = float(int(now) + policy.grace_period)
    if check_mode:
        result.next_due = None if policy.max_age is None else now + policy.max_age
        return result
    after = key.rotate()
    result.rotated = True
    result.version = str(after.latest_version)
    result.age = 0
    result.next_due = None if policy.max_age is None else now + policy.max_age
    _audit(audit, name, ok=True, before=result.previous_version, after=result.version, outcome="rotated")
    if not policy.keep_previous:
        result.destroyed_versions = [str(number) for number in range(after.min_decryption_version, after.latest_version)]
        key.raise_min_decryption_version(after.latest_version)
    return result


def retire(key: TransitKey, name: str, grace_period: Any = None, *, check_mode: bool = False, audit: Any = None,
           clock: Clock = time.time) -> Dict[str, Any]:
    """The cleanup of a transit key: once the newest version is older than ``grace_period``, raise
    ``min_decryption_version`` to it, so ciphertexts of older versions no longer decrypt.

    Returns a report shaped like a secret's cleanup (``destroyed`` lists the versions that stop
    decrypting, ``kept`` says why the others stay), so the cleanup summary reads the same.
    """
    policy = RotationPolicy.from_options(grace_period=grace_period)
    state = key.state()
    now = clock()
    latest = state.latest_version
    report: Dict[str, Any] = dict(name=name, destroyed=[], kept=[dict(version=str(latest), reason="current")],
                                  skipped=None, grace_until=None, warnings=[],
                                  min_decryption_version=state.min_decryption_version)
    old = list(range(state.min_decryption_version, latest))
    if not old:
        return report
    born = state.created.get(latest)
    if policy.grace_period:
        if born is None:
            raise InvalidOption(f"the creation time of version {latest} of the {key.label} is unknown, so its grace"
                                " period cannot be measured; nothing was changed", provider="vault", name=name)
        ends = born + policy.grace_period
        if ends > now:
            report["grace_until"] = to_moment(ends)
            report["kept"].extend(dict(version=str(number), reason=f"in grace until {to_moment(ends)}"
                                       f" ({human(ends - now)} left)") for number in reversed(old))
            return report
    report["destroyed"] = [str(number) for number in reversed(old)]
    report["min_decryption_version"] = latest
    if not check_mode:
        key.raise_min_decryption_version(latest)
        _audit(audit, name, ok=True, before=str(state.min_decryption_version), after=str(latest),
               outcome=f"versions below {latest} no longer decrypt", destroyed=report["destroyed"])
    return report


def summary(result: Mapping[str, Any], label: Optional[str] = None) -> str:
    """One line for a transit_rewrap result: what was retired (with ``retire``) or re-wrapped, by key and version;
    ``label`` (what the caller calls the key, such as the rotate role's item name) comes first when given."""
    return (f"{label}: " if label else "") + _summary(result)


def _summary(result: Mapping[str, Any]) -> str:
    key = result.get("key") or {}
    retired = result.get("retired")
    if retired is None:
        return (f"transit key {key.get('name')}: re-wrapped {result.get('rewrapped', 0)} of {result.get('total', 0)}"
                f" ciphertext(s) to version {key.get('latest_version')} ({result.get('already_current', 0)} already on it)")
    versions = retired.get("destroyed") or []
    what = f"versions {', '.join(map(str, versions))} no longer decrypt" if versions else "nothing retired"
    grace = f"; grace until {retired['grace_until']}" if retired.get("grace_until") else ""
    rewrapped = f"; re-wrapped {result['rewrapped']} secret(s)" if result.get("rewrapped") else ""
    return f"transit key {key.get('name')}: {what}; version {key.get('latest_version')} is current{grace}{rewrapped}"


def _audit(audit: Any, name: str, *, ok: bool, before: Optional[str], after: Optional[str], outcome: str,
           destroyed: Optional[list] = None) -> None:
    if audit is None:
        return
    if destroyed is not None:
        audit.operation("cleanup", [name], ok=ok, versions={name: {"destroyed": destroyed, "current": after}},
                        outcome=outcome)
    else:
        audit.operation("rotate", [name], ok=ok, versions={name: {"before": before, "after": after}}, outcome=outcome)
