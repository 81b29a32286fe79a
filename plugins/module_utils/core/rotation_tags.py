# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The three tags a rotation records on a secret, read in one place.

Why a module of its own: the rotation writes them (rotation.py), and the read path needs them too,
because a grace period that ends must make ``version='previous'`` answer "missing"
(manager.py), and the manager cannot import the rotation layer that is built on it.

Tags are the one piece of metadata every provider stores (AWS tags, GCP labels, Azure tags, Vault
custom_metadata, Kubernetes annotation, local tags). Values are epoch seconds, digits only, so
GCP's label rules accept them:

- ``vibebox-rotated-at``: when the current value was made (the age max_age is measured from);
- ``vibebox-grace-until``: until when the previous version stays readable as ``previous``;
- ``vibebox-grace-version``: the version id that grace protects (the one current before the rotation).

A tag somebody edited into something unreadable (or a date no calendar holds) must never block a
rotation, a cleanup or a read: it is treated as absent and reported as a warning.
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional

TAG_ROTATED_AT = "vibebox-rotated-at"
TAG_GRACE_UNTIL = "vibebox-grace-until"
TAG_GRACE_VERSION = "vibebox-grace-version"
ROTATION_TAGS = (TAG_ROTATED_AT, TAG_GRACE_UNTIL, TAG_GRACE_VERSION)
#: versions whose value failed a rotation's follow-up check, comma-separated, newest last: a rollback never
#: makes them current again. Kept across rotations (not among ROTATION_TAGS, which a rotation replaces).
TAG_FAILED_VERSIONS = "vibebox-failed-versions"
#: how many failed versions the tag remembers (tag values are short on some providers)
FAILED_KEPT = 8
#: what the rotation records for itself: a task's own ``tags`` (vibebox.secrets.secret) neither compare with them nor
#: replace them, or a re-run of the playbook that tagged a secret would end the grace of its previous version (a
#: cleanup then destroys it) and forget which versions failed
BOOKKEEPING_TAGS = ROTATION_TAGS + (TAG_FAILED_VERSIONS,)


def bookkeeping(tags: Optional[Mapping[str, str]], given: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The rotation's own tags in ``tags``, except those the task's ``given`` tags name (the task's word wins)."""
    named = given or {}
    return {str(key): str(value) for key, value in (tags or {}).items() if key in BOOKKEEPING_TAGS and key not in named}


def failed_versions(tags: Optional[Mapping[str, str]]) -> List[str]:
    raw = str((tags or {}).get(TAG_FAILED_VERSIONS) or "")
    return [item for item in (part.strip() for part in raw.split(",")) if item]


#: the version word for "the previous version, whatever its grace says": what ``ignore_grace: true``
#: asks for (plugins send it as the version, so caches keep the two answers apart), and what a
#: rollback reads. Kept here, in a module without imports, so the lookups can name it cheaply.
PREVIOUS_IGNORING_GRACE = "previous-ignoring-grace"

#: the largest epoch second datetime can show (9999-12-31T23:59:59Z); anything above is unreadable
MAX_EPOCH = 253402300799


def to_moment(epoch: Optional[float]) -> Optional[str]:
    """ISO 8601 (UTC) for an epoch, for results users read."""
    if epoch is None:
        return None
    moment = _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class RotationTags:
    """The rotation tags of one secret, parsed; ``problems`` says which ones were unreadable."""

    rotated_at: Optional[float] = None
    grace_until: Optional[float] = None
    grace_version: Optional[str] = None
    problems: List[str] = field(default_factory=list)


def _epoch(tags: Mapping[str, str], key: str, problems: List[str]) -> Optional[float]:
    raw = tags.get(key)
    if raw in (None, ""):
        return None
    try:
        value = float(str(raw))
    except (TypeError, ValueError):
        value = math.nan
    if math.isnan(value) or value < 0 or value > MAX_EPOCH:
        shown = str(raw)[:40]
        problems.append(f"the tag {key} holds '{shown}', which is not a date in epoch seconds; it is treated as"
                        " absent (rotate again to rewrite it)")
        return None
    return value


def read_tags(tags: Optional[Mapping[str, str]]) -> RotationTags:
    """Parse the rotation tags of a secret; unreadable ones become None with a problem noted."""
    tags = tags or {}
    problems: List[str] = []
    rotated_at = _epoch(tags, TAG_ROTATED_AT, problems)
    grace_until = _epoch(tags, TAG_GRACE_UNTIL, problems)
    version = tags.get(TAG_GRACE_VERSION)
    return RotationTags(rotated_at, grace_until, str(version) if version not in (None, "") else None, problems)


def grace_state(tags: Optional[Mapping[str, str]], now: float) -> Dict[str, Optional[str]]:
    """``{"state": none|until|ended, "until": ISO time or None, "version": protected version}``,
    what secret_info shows for each secret."""
    parsed = read_tags(tags)
    if parsed.grace_until is None:
        return {"state": "none", "until": None, "version": None}
    return {
        "state": "until" if parsed.grace_until > now else "ended",
        "until": to_moment(parsed.grace_until),
        "version": parsed.grace_version,
    }


def version_for_read(version: Optional[str], ignore_grace: bool) -> Optional[str]:
    """The version a plugin asks for: ``previous`` with ``ignore_grace`` becomes PREVIOUS_IGNORING_GRACE."""
    if ignore_grace and str(version or "").strip().lower() == "previous":
        return PREVIOUS_IGNORING_GRACE
    return version


def grace_for(tags: Optional[Mapping[str, str]], version: Optional[str]) -> Optional[float]:
    """The end of the grace that governs ``version`` (the version 'previous' resolved to), or None.

    A grace recorded for another version (the tags were rewritten by a plain write after the
    rotation, or 'previous' now points elsewhere) does not govern this one: only the version a
    rotation handed over is limited by its grace.
    """
    parsed = read_tags(tags)
    if parsed.grace_until is None:
        return None
    if parsed.grace_version is not None and version is not None and parsed.grace_version != str(version):
        return None
    return parsed.grace_until


def grace_ended(tags: Optional[Mapping[str, str]], version: Optional[str], now: float) -> Optional[float]:
    """When the grace that governs ``version`` ended, or None while it runs or when none applies."""
    until = grace_for(tags, version)
    return until if until is not None and until <= now else None
