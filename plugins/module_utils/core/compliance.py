# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Compliance of secrets against a policy: age, last rotation, expiry and strength, never values.

Why it is separate from secret_info: the rules are decisions (when is a secret too old, what counts
as a character class, how a row of the report reads) that must be the same for the module, the
compliance playbook and any later plugin, and they are pure functions of (metadata, strength,
policy, clock), so they are unit-tested with a fixed clock and no provider.

The strength of a value is measured by the caller with strength.measure() (length, character
classes, estimated entropy, whether it is a known weak value) and handed in as that small dict: the
value itself never reaches this file, so nothing here can put it into a report. The strength rules
are strength.violations(), the same function the writers (secret, secret_rotate, the migration) use
to refuse a weak value, so a value a write accepted never shows up here as too weak. Unlike a write,
the report checks only the strength rules its policy gives (no defaults).

The last rotation is the ``vibebox-rotated-at`` tag written by the rotation layer (epoch seconds)
when the secret has one, because a rollback writes an old value as a new version and the version's
date would then lie about the value's age; otherwise it is the time of the current version.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core.durations import parse_duration
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption
from ansible_collections.vibebox.secrets.plugins.module_utils.core import strength as _strength
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import iso

#: the tag the rotation layer writes (rotation.TAG_ROTATED_AT); repeated here so that reading a
#: report does not import the rotation machinery
TAG_ROTATED_AT = "vibebox-rotated-at"
CLASS_NAMES = _strength.CLASS_NAMES
FIELDS = ("max_age",) + _strength.KEYS
DAY = 86400.0


@dataclass
class Policy:
    """What a compliant secret looks like; every rule is optional."""

    max_age: Optional[int] = None  # seconds
    strength: _strength.StrengthPolicy = field(default_factory=_strength.StrengthPolicy)

    @classmethod
    def from_options(cls, options: Optional[Mapping[str, Any]]) -> "Policy":
        """From the module's ``policy`` option; raises InvalidOption naming the bad field."""
        options = dict(options or {})
        unknown = sorted(set(options) - set(FIELDS))
        if unknown:
            raise InvalidOption(f"policy has unknown fields {unknown}", hint=f"Use {', '.join(FIELDS)}")
        max_age = parse_duration(options.pop("max_age", None), "policy.max_age")
        return cls(max_age=max_age, strength=_strength.StrengthPolicy.from_options(options, defaults=False))

    @property
    def min_length(self) -> int:
        return self.strength.min_length

    @property
    def classes(self) -> List[str]:
        return list(self.strength.classes)

    @property
    def needs_values(self) -> bool:
        """Whether a rule can only be checked by measuring the value (check_values)."""
        return not self.strength.empty

    @property
    def empty(self) -> bool:
        return self.max_age is None and not self.needs_values


def _utc(moment: Optional[_dt.datetime]) -> Optional[_dt.datetime]:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def last_rotation(tags: Optional[Mapping[str, Any]], updated_at: Optional[_dt.datetime]) -> Optional[_dt.datetime]:
    """The rotation tag (epoch seconds) when it is there and readable, else the current version's time."""
    text = str((tags or {}).get(TAG_ROTATED_AT) or "").strip()
    if text:
        try:
            return _dt.datetime.fromtimestamp(float(text), _dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            pass  # a tag someone else wrote: fall back to the version time
    return _utc(updated_at)


def rotated_by(tags: Optional[Mapping[str, Any]], rotation: Optional[Mapping[str, Any]]) -> str:
    """Who rotates a secret: the provider's own rotation wins (it runs whatever this collection does),
    then this collection when its rotation tag is there, else nobody."""
    if rotation:
        return str(rotation.get("by") or "provider")
    if str((tags or {}).get(TAG_ROTATED_AT) or "").strip():
        return "vibebox.secrets"
    return "none"


def _days(seconds: float) -> str:
    return f"{seconds / DAY:.1f}".rstrip("0").rstrip(".") or "0"


def assess(
    tags: Optional[Mapping[str, Any]],
    updated_at: Optional[_dt.datetime],
    expires_at: Optional[_dt.datetime],
    policy: Policy,
    now: _dt.datetime,
    strength: Optional[Mapping[str, Any]] = None,
    strength_error: Optional[str] = None,
    rotation: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    """Compliance of one secret: age_days, last_rotation, expires_at, strength, who rotates it and
    violations.

    ``strength`` is strength.measure() of the value (length, classes, entropy_bits, forbidden) or None when values were
    not checked; ``strength_error`` says why a value could not be measured; ``rotation`` is the
    provider's own rotation (SecretMetadata.rotation) when it has one.
    """
    now = _utc(now)
    rotated = last_rotation(tags, updated_at)
    expires = _utc(expires_at)
    age = None if rotated is None else max(0.0, (now - rotated).total_seconds())
    violations: List[str] = []
    if policy.max_age is not None:
        if age is None:
            violations.append("age unknown: the provider gives no rotation tag or version time")
        elif age > policy.max_age:
            violations.append(f"too old: last rotated {_days(age)} days ago, max_age is {_days(policy.max_age)} days")
    if expires is not None and expires <= now:
        violations.append(f"expired on {iso(expires)}")
    if strength is not None:
        violations.extend(_strength.violations(strength, policy.strength))
    elif strength_error and policy.needs_values:
        violations.append(f"strength not checked: {strength_error}")
    result: Dict[str, Any] = {
        "age_days": None if age is None else round(age / DAY, 2),
        "last_rotation": iso(rotated),
        "expires_at": iso(expires),
        "rotated_by": rotated_by(tags, rotation),
        "rotation": dict(rotation) if rotation else None,
        "violations": violations,
    }
    if strength is not None:
        result["strength"] = {"length": int(strength.get("length") or 0),
                              "classes": sorted(strength.get("classes") or [])}
        if strength.get("entropy_bits") is not None:
            result["strength"]["entropy_bits"] = strength["entropy_bits"]
    return result


_COLUMNS = (("name", "NAME"), ("age", "AGE (d)"), ("rotated", "LAST ROTATION"), ("by", "ROTATED BY"),
            ("expires", "EXPIRES"), ("length", "LENGTH"), ("classes", "CLASSES"), ("status", "STATUS"))


def _cells(row: Mapping[str, Any]) -> Dict[str, str]:
    strength = row.get("strength") or {}
    violations = row.get("violations") or []
    age = row.get("age_days")
    return {
        "name": str(row.get("name") or ""),
        "age": "-" if age is None else f"{age:.1f}",
        "rotated": (row.get("last_rotation") or "-")[:19].replace("T", " "),
        "by": str(row.get("rotated_by") or "-"),
        "expires": (row.get("expires_at") or "-")[:10],
        "length": str(strength["length"]) if "length" in strength else "-",
        "classes": ",".join(strength.get("classes") or []) or "-",
        "status": "ok" if not violations else "; ".join(violations),
    }


def report_lines(rows: Iterable[Mapping[str, Any]], policy: Optional[Policy] = None) -> List[str]:
    """The report for humans: a header, one aligned line per secret, and a summary line."""
    rows = list(rows)
    cells = [_cells(row) for row in rows]
    widths = {key: max([len(title)] + [len(cell[key]) for cell in cells]) for key, title in _COLUMNS}
    last = _COLUMNS[-1][0]

    def line(values: Mapping[str, str]) -> str:
        return "  ".join(values[key] if key == last else values[key].ljust(widths[key]) for key, _title in _COLUMNS)

    lines = [line(dict(_COLUMNS))]
    lines.append("  ".join("-" * widths[key] for key, _title in _COLUMNS))
    lines += [line(cell) for cell in cells]
    failing = sum(1 for row in rows if row.get("violations"))
    summary = f"{len(rows)} secrets, {failing} with violations"
    if policy is not None and not policy.empty:
        rules = []
        if policy.max_age is not None:
            rules.append(f"max_age {_days(policy.max_age)}d")
        rules.extend(policy.strength.describe())
        summary += f" (policy: {', '.join(rules)})"
    lines.append(summary)
    return lines


def violation_summary(rows: Iterable[Mapping[str, Any]]) -> str:
    """One sentence for fail_on_violation: every failing secret and why."""
    failing = [f"{row.get('name')}: {'; '.join(row['violations'])}" for row in rows if row.get("violations")]
    return f"{len(failing)} secrets violate the policy: " + " | ".join(failing)
