# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Rotation policy on top of SecretManager: when a secret is due, grace for the previous version,
hard cuts, rollback and cleanup of old versions.

Why a separate layer: the manager knows how to write a version; deciding *whether* to write one
(max_age), what the previous version is still good for (grace) and how to undo a rotation are
policy, and must be the same for every provider and every plugin (secret_rotate, secret_cleanup,
postgres_rotate). Everything here goes through the SecretBackend contract only (describe, versions,
get, set, delete_version), so it works on any provider that keeps versions, and the decisions are
pure functions of (metadata, versions, clock) so they are tested without a provider.

Rotations run unattended (AWX schedules, cron), and two jobs can fire at once. The write of a
rotation is conditional on the version the rotation read (``expect_version``: each provider's
check-and-set), so when two runs rotate the same secret at the same moment exactly one writes and
the other reports "already rotated by another run". The age of a secret is read so that a run that
looks while another run is half-way (new version written, tags not yet) sees the new version as
new (``current_version_born``), so a scheduled run never rotates twice in one due period.

The grace of the previous version, and the age, are recorded in the secret's tags (rotation_tags.py).
"""
from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry as _expiry
from ansible_collections.vibebox.secrets.plugins.module_utils.core.durations import parse_duration
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    InvalidOption,
    SecretConflict,
    SecretDeleted,
    SecretError,
    SecretNotFound,
    UnsupportedOperation,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import (
    Secret,
    SecretMetadata,
    VersionInfo,
    fingerprint,
    iso,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation_tags import (  # noqa: F401 (re-exported)
    FAILED_KEPT,
    ROTATION_TAGS,
    TAG_FAILED_VERSIONS,
    TAG_GRACE_UNTIL,
    TAG_GRACE_VERSION,
    TAG_ROTATED_AT,
    failed_versions,
    read_tags,
    to_moment,
)

Clock = Callable[[], float]
#: the expect_version of a write that creates the secret: it must not exist yet
NEW_SECRET = ""
#: how long tags that name the current version as the one being replaced mean "another run is
#: writing the next version now" (a provider that writes tags before the value, or a run that died
#: between the two); after this they are taken as the leftovers of a run that failed
IN_FLIGHT_SECONDS = 600


class RotationFailed(SecretError):
    """A step after the new version was written failed; ``rolled_back`` says whether the secret
    points at the old value again."""

    kind = "rotation_failed"

    def __init__(self, reason: str, *, rolled_back: bool = False, version: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(reason, **kwargs)
        self.rolled_back = rolled_back
        self.version = version


# --- pure policy ---------------------------------------------------------------------------------
@dataclass
class RotationPolicy:
    """What a rotation must respect; durations in seconds, None meaning 'not set'."""

    max_age: Optional[int] = None
    grace_period: Optional[int] = None
    keep_previous: bool = True
    # a value made at or after this moment (epoch seconds) was made by another run started with this one
    unless_rotated_since: Optional[float] = None

    @classmethod
    def from_options(cls, max_age: Any = None, grace_period: Any = None, keep_previous: bool = True,
                     unless_rotated_since: Any = None) -> "RotationPolicy":
        policy = cls(
            max_age=parse_duration(max_age, "max_age"),
            grace_period=parse_duration(grace_period, "grace_period"),
            keep_previous=bool(keep_previous),
            unless_rotated_since=parse_moment(unless_rotated_since, "unless_rotated_since"),
        )
        if policy.grace_period and not policy.keep_previous:
            raise InvalidOption(
                "grace_period keeps the previous version readable, keep_previous: false destroys it",
                hint="Use one or the other: a grace period for a soft switch, keep_previous: false for a hard cut",
            )
        return policy


@dataclass
class Due:
    """Whether a rotation is due now, and why (said in the module's result)."""

    due: bool
    reason: str
    exists: bool
    version: Optional[str] = None
    age: Optional[int] = None
    next_due: Optional[float] = None
    already_rotated: bool = False


def parse_moment(text: Any, option: str) -> Optional[float]:
    """A moment given as epoch seconds or ISO 8601 (no zone means UTC), as epoch seconds.

    Refused when unreadable or in the future: a moment ahead of the clock would make every rotation
    look already done, and a scheduled run would silently never rotate.
    """
    if text is None or str(text).strip() == "":
        return None
    raw = str(text).strip()
    try:
        moment = float(raw)
    except ValueError:
        try:
            parsed = _dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T", 1))
        except ValueError:
            raise InvalidOption(
                f"{option} must be a moment (ISO 8601 such as 2026-12-03T04:00:00Z, or epoch seconds), got '{raw}'",
                hint="The rotate role sets it to the moment the run started",
            ) from None
        moment = _epoch(parsed) or 0.0
    if moment > time.time() + 300:
        raise InvalidOption(
            f"{option} is in the future ({to_moment(moment)}); every rotation would look already done",
            hint="Give the moment the run started; check the controller's clock",
        )
    return moment


def _epoch(moment: Optional[_dt.datetime]) -> Optional[float]:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.timestamp()


def human(seconds: Optional[float]) -> str:
    """'30d', '2h30m', '45s': durations in reasons as users typed them."""
    if seconds is None:
        return "unknown"
    left = int(seconds)
    if left == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])


def _version_born(meta: SecretMetadata, versions: Sequence[VersionInfo]) -> Optional[float]:
    for item in versions:
        if (item.version == meta.version or "current" in item.stages) and item.created_at is not None:
            return _epoch(item.created_at)
    return _epoch(meta.updated_at) or _epoch(meta.created_at)


def _predecessor(meta: SecretMetadata, versions: Sequence[VersionInfo]) -> Optional[str]:
    """The version the current one replaced: the one marked previous, else the first older one listed
    (providers list newest first; a destroyed version still counts, it was still the one replaced)."""
    others = [item for item in versions if item.version != meta.version and "current" not in item.stages]
    for item in others:
        if "previous" in item.stages:
            return item.version
    return others[0].version if others else None


def current_version_born(meta: SecretMetadata, versions: Sequence[VersionInfo], now: Optional[float] = None,
                         notes: Optional[List[str]] = None) -> Optional[float]:
    """When the current value was made.

    The rotation tag wins when the tags describe the current version, because a rollback writes an
    old value as a new version: the version is young but the value is not, and a schedule must still
    rotate it on time. The tags describe the current version when the version they say was handed
    over (``vibebox-grace-version``) is the one the current version replaced. Otherwise the current
    version was written by something that did not rewrite the tags (a plain write, or a rotation of
    another run caught between writing the value and writing the tags), and its own creation time is
    the honest age. Tags that name the current version itself were written ahead of the value by a
    run that is still writing it: the secret counts as rotated at the tag's time for
    IN_FLIGHT_SECONDS. ``notes`` collects warnings about unreadable tags.
    """
    tags = read_tags(meta.tags)
    if notes is not None:
        notes.extend(problem for problem in tags.problems if problem not in notes)
    version_born = _version_born(meta, versions)
    if tags.rotated_at is None:
        return version_born
    if not versions or version_born is None or meta.version is None:
        return tags.rotated_at
    if tags.grace_version is not None and tags.grace_version == str(meta.version):
        if now is not None and now - tags.rotated_at >= IN_FLIGHT_SECONDS:
            return version_born
        return tags.rotated_at
    if tags.grace_version == _predecessor(meta, versions):
        return tags.rotated_at
    return version_born


def check_due(
    meta: Optional[SecretMetadata], versions: Sequence[VersionInfo], policy: RotationPolicy, now: float,
    notes: Optional[List[str]] = None,
) -> Due:
    """Due when the secret is missing, when no max_age is given (a named rotation rotates now) or when
    the current value is at least max_age old. A scheduled run is idempotent because of the last rule."""
    if meta is None:
        return Due(True, "the secret does not exist yet: it is created", exists=False)
    born = current_version_born(meta, versions, now, notes)
    age = None if born is None else max(0, int(now - born))
    if policy.unless_rotated_since is not None and born is not None and born >= policy.unless_rotated_since:
        return Due(False, f"already rotated at {to_moment(born)} by another run (this run started at"
                          f" {to_moment(policy.unless_rotated_since)}); version {meta.version} is current",
                   exists=True, version=meta.version, age=age,
                   next_due=None if policy.max_age is None else born + policy.max_age, already_rotated=True)
    if policy.max_age is None:
        return Due(True, "no max_age: rotated now", exists=True, version=meta.version, age=age)
    if born is None:
        return Due(True, "the age of the current version is unknown: rotated to be safe", exists=True,
                   version=meta.version)
    next_due = born + policy.max_age
    if age >= policy.max_age:
        return Due(True, f"the current value is {human(age)} old, max_age is {human(policy.max_age)}", exists=True,
                   version=meta.version, age=age, next_due=next_due)
    return Due(False, f"the current value is {human(age)} old, below max_age {human(policy.max_age)}", exists=True,
               version=meta.version, age=age, next_due=next_due)


def rotation_tags(
    existing: Optional[Dict[str, str]], now: float, policy: RotationPolicy, previous_version: Optional[str]
) -> Dict[str, str]:
    """The tags of the secret after a rotation: the user's tags kept, ours replaced.

    With a grace period the previous version is readable as 'previous' until it ends; with a hard cut
    grace ends at the moment of rotation; with neither no end is recorded, so the previous version
    stays readable until a cleanup removes it (what an encryption key needs to decrypt old data).
    """
    tags = {key: value for key, value in (existing or {}).items() if key not in ROTATION_TAGS}
    stamp = int(now)
    tags[TAG_ROTATED_AT] = str(stamp)
    if previous_version is not None:
        tags[TAG_GRACE_VERSION] = str(previous_version)
        if not policy.keep_previous:
            tags[TAG_GRACE_UNTIL] = str(stamp)
        elif policy.grace_period:
            tags[TAG_GRACE_UNTIL] = str(stamp + int(policy.grace_period))
    return tags


def grace_of(tags: Optional[Dict[str, str]]) -> Tuple[Optional[float], Optional[str]]:
    """(grace_until, protected version) recorded on a secret, or (None, None)."""
    parsed = read_tags(tags)
    return parsed.grace_until, parsed.grace_version


@dataclass
class CleanupPlan:
    destroy: List[str] = field(default_factory=list)
    #: (version, why it stays)
    keep: List[Tuple[str, str]] = field(default_factory=list)


def plan_cleanup(
    versions: Sequence[VersionInfo], current: Optional[str], tags: Optional[Dict[str, str]], now: float, keep: int
) -> CleanupPlan:
    """Which old versions to destroy: everything but the newest ``keep`` (current included) and the
    version whose grace has not passed yet. Pure, so the rule is tested with a fake clock."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise InvalidOption(f"keep must be 1 or more: the current version is always kept (got {keep})")
    grace_until, grace_version = grace_of(tags)
    plan = CleanupPlan()
    alive = [item for item in versions if not item.destroyed]
    old = [item for item in alive if item.version != current and "current" not in item.stages]
    if current is not None:
        plan.keep.append((str(current), "current"))
    # newest first; providers list newest first already, created_at makes it certain when known
    indexed = list(enumerate(old))
    indexed.sort(key=lambda pair: (-(_epoch(pair[1].created_at) or 0.0), pair[0]))
    if grace_version is None and indexed:
        # a grace recorded without a version protects the newest old one (what 'previous' reads)
        grace_version = indexed[0][1].version
    for position, (_index, item) in enumerate(indexed):
        if position < keep - 1:
            plan.keep.append((item.version, f"one of the newest {keep}"))
        elif item.version == grace_version and grace_until is not None and grace_until > now:
            plan.keep.append((item.version, f"in grace until {to_moment(grace_until)}"))
        else:
            plan.destroy.append(item.version)
    return plan


# --- results -------------------------------------------------------------------------------------
@dataclass
class RotationResult:
    name: str
    rotated: bool = False
    due: bool = False
    reason: str = ""
    age: Optional[int] = None
    max_age: Optional[int] = None
    version: Optional[str] = None
    previous_version: Optional[str] = None
    #: the version that was current when the task began (None: the secret or key did not exist), whatever
    #: the task then did: what a report's "before" says, also when nothing was rotated
    version_before: Optional[str] = None
    grace_until: Optional[float] = None
    next_due: Optional[float] = None
    rolled_back: bool = False
    already_rotated: bool = False
    destroyed_versions: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    #: the expiry the new version was given (or would be, in check mode); None when the task asked for none
    expires_at: Optional[_dt.datetime] = None

    def to_dict(self) -> Dict[str, Any]:
        """Module result fields; holds no value by construction."""
        return dict(
            name=self.name,
            rotated=self.rotated,
            due=self.due,
            reason=self.reason,
            age=self.age,
            max_age=self.max_age,
            version=self.version,
            previous_version=self.previous_version,
            version_before=self.version_before,
            grace_until=to_moment(self.grace_until),
            grace_until_epoch=None if self.grace_until is None else int(self.grace_until),
            next_rotation=to_moment(self.next_due),
            rolled_back=self.rolled_back,
            already_rotated=self.already_rotated,
            destroyed_versions=list(self.destroyed_versions),
            expires_at=_expiry.show(self.expires_at),
        )


def missing_error(manager: SecretManager, name: str) -> SecretNotFound:
    return SecretNotFound(
        "not found; set create: true to create it",
        provider=manager.provider, name=name, provider_name=manager.provider_name(name),
        hint="A rotation changes an existing secret; a job pointed at an empty or wrong store (provider, prefix,"
             " local_path) would otherwise create a new secret and report success. Check where it points, or set"
             " create: true (rotate_create: true in the rotate role) to create it",
    )


# --- the operations ------------------------------------------------------------------------------
class Rotator:
    """Rotation, rollback and cleanup of secrets held by one SecretManager.

    ``clock`` is injectable so the grace and max_age rules are tested without waiting. Each rotation,
    rollback and cleanup is written to the audit log as its own operation (``rotate``,
    ``rotate_rollback``, ``cleanup``), besides the reads and writes it made.
    """

    def __init__(self, manager: SecretManager, clock: Clock = time.time) -> None:
        self.manager = manager
        self.clock = clock

    def _audit(self, op: str, name: str, *, ok: bool, before: Optional[str] = None, after: Optional[str] = None,
               error: Optional[BaseException] = None, outcome: Optional[str] = None,
               destroyed: Optional[List[str]] = None) -> None:
        versions: Dict[str, Any] = {"before": before, "after": after}
        if destroyed is not None:
            versions = {"destroyed": list(destroyed), "current": after}
        self.manager.audit.operation(op, [name], ok=ok, versions={name: versions}, error=error, outcome=outcome)

    # reads ----------------------------------------------------------------------------------------
    def state(self, name: str) -> Tuple[Optional[SecretMetadata], List[VersionInfo]]:
        """Metadata and versions of ``name`` (None, [] when it does not exist)."""
        try:
            meta = self.manager.describe(name)
        except SecretNotFound:
            return None, []
        if meta.deleted_at is not None:
            raise SecretDeleted(
                f"it was deleted on {iso(meta.deleted_at)} and cannot be rotated",
                provider=self.manager.provider,
                name=name,
                provider_name=self.manager.provider_name(name),
                hint="Restore it first (vibebox.secrets.secret with state: present), then rotate",
            )
        try:
            versions = self.manager.versions(name)
        except UnsupportedOperation:
            versions = []
        return meta, versions

    def inspect(self, name: str, policy: RotationPolicy,
                notes: Optional[List[str]] = None) -> Tuple[Optional[SecretMetadata], List[VersionInfo], Due]:
        meta, versions = self.state(name)
        return meta, versions, check_due(meta, versions, policy, self.clock(), notes)

    def check_owner(self, name: str, meta: Optional[SecretMetadata], take_over: bool,
                    warnings: Optional[List[str]] = None) -> None:
        """Refuse a secret the provider rotates itself, unless the caller takes the rotation over.

        Two rotators of one secret overwrite each other's values, and the provider's (an AWS rotation
        Lambda) also changes the database or service the value opens; the second one would break it.
        """
        rotation = getattr(meta, "rotation", None) if meta is not None else None
        if not rotation:
            return
        who = rotation.get("lambda") or rotation.get("by") or "the provider"
        if not take_over:
            raise InvalidOption(
                f"provider '{self.manager.provider}' rotates it itself ({who}"
                f"{', next on ' + rotation['next'] if rotation.get('next') else ''}); it is not rotated here as well",
                provider=self.manager.provider, name=name, provider_name=self.manager.provider_name(name),
                hint="Leave it to the provider, or set take_over: true (rotate_take_over: true in the rotate role) to"
                     " rotate it with this collection, and turn the provider's rotation off"
                     " (aws secretsmanager cancel-rotate-secret)",
            )
        if warnings is not None:
            warnings.append(f"'{name}' is also rotated by {who}; turn that rotation off, or the two will overwrite"
                            " each other (aws secretsmanager cancel-rotate-secret)")

    def lost_race(self, name: str, result: RotationResult, expected: Optional[str]) -> RotationResult:
        """The conditional write found another version than the one read: another run rotated it.

        Nothing was written by this run; the result says when the other run did it and which
        version is current now, and reports no change (the schedule fired twice, it did not fail).
        """
        try:
            meta, versions = self.state(name)
        except SecretError:
            meta, versions = None, []
        when = current_version_born(meta, versions, self.clock()) if meta is not None else None
        current = meta.version if meta is not None else None
        result.rotated = False
        result.due = False
        result.already_rotated = True
        result.previous_version = None
        result.grace_until = None
        result.version = current
        result.age = None if when is None else max(0, int(self.clock() - when))
        result.reason = (
            f"already rotated at {to_moment(when) or 'an unknown time'} by another run"
            f" (version {current or 'unknown'} replaced version {expected or 'none'} while this run was rotating it)"
        )
        self._audit("rotate", name, ok=True, before=expected, after=current, outcome="already_rotated")
        return result

    def refuse_past_expiry(self, name: str, meta: Optional[SecretMetadata], now: float,
                           own_expiry: bool = True) -> None:
        """Refuse a rotation that would keep an expiry already past: the new value would be expired the moment
        it is written (readers that refuse expired secrets refuse it) while the rotation reports success.

        A caller that changes something else first (postgres_rotate sets the role's password before it
        writes the secret) asks here before that change. ``own_expiry``: the caller takes expires_at and
        expires_in, so the hint may name them.
        """
        if meta is None or not _expiry.is_expired(meta.expires_at, _dt.datetime.fromtimestamp(now, _dt.timezone.utc)):
            return
        own = "Give the new value its own expiry (expires_in: 90d, or expires_at), or set" if own_expiry else "Set"
        raise InvalidOption(
            f"it expired at {_expiry.show(meta.expires_at)}, and a rotation keeps the expiry a secret has, so the"
            " new value would be expired at once",
            provider=self.manager.provider, name=name, provider_name=self.manager.provider_name(name),
            hint=f"{own} a new expiry (or none, expires_at: never) with vibebox.secrets.secret first, then rotate",
        )

    # rotate ---------------------------------------------------------------------------------------
    def rotate(
        self,
        name: str,
        policy: RotationPolicy,
        value: Optional[str] = None,
        generator: Optional[Callable[[], str]] = None,
        check_mode: bool = False,
        description: Optional[str] = None,
        verify: Optional[Callable[[Secret], None]] = None,
        create: bool = False,
        take_over: bool = False,
        expires_at: Optional[_dt.datetime] = None,
    ) -> RotationResult:
        """Write a new version when due; roll back when a step after the write fails.

        ``expires_at``: when the new value expires (written with the rotation tags where the provider keeps it
        as a tag, else in the provider's own field right after the write). Without it the secret keeps the
        expiry it has, as it keeps its other tags.

        The old value is read before the write and kept in memory only, so the rollback works even
        when the provider keeps no previous version (and even with keep_previous: false, whose
        destruction of old versions is deliberately the very last step). The write is conditional on
        the version read first, so of two runs at the same moment only one rotates.
        """
        if (value is None) == (generator is None):
            raise InvalidOption("give exactly one of value or generator", name=name)
        notes: List[str] = []
        meta, versions, due = self.inspect(name, policy, notes)
        now = self.clock()
        result = RotationResult(
            name=name, due=due.due, reason=due.reason, age=due.age, max_age=policy.max_age,
            version=due.version, version_before=due.version, next_due=due.next_due, warnings=list(notes),
            already_rotated=due.already_rotated,
        )
        if meta is None and not create:
            raise missing_error(self.manager, name)
        self.check_owner(name, meta, take_over, result.warnings)
        old: Optional[Secret] = None
        if due.due and meta is not None and (value is not None or not check_mode):
            old = self.manager.get(name, bypass_cache=True)
            if value is not None and old is not None and old.value == value:
                result.due = False
                result.reason = "the current value is already the given value"
                return result
        if not due.due:
            if due.already_rotated:
                self._audit("rotate", name, ok=True, before=due.version, after=due.version, outcome="already_rotated")
            return result
        if expires_at is None:
            self.refuse_past_expiry(name, meta, now)
        if meta is not None:
            grace_until, grace_version = grace_of(meta.tags)
            if grace_until is not None and grace_until > now and grace_version and grace_version != meta.version:
                result.warnings.append(
                    f"the grace of version {grace_version} of '{name}' runs until {to_moment(grace_until)}; after this"
                    f" rotation it is no longer readable as 'previous' (only version {meta.version} is)"
                )
        if policy.grace_period and meta is not None:
            result.grace_until = float(int(now) + policy.grace_period)
        result.previous_version = meta.version if meta is not None else None
        result.expires_at = expires_at
        if check_mode:
            result.next_due = None if policy.max_age is None else now + policy.max_age
            return result

        new_value = value if value is not None else generator()  # type: ignore[misc]
        self.manager.check_value(name, new_value)
        tags = rotation_tags(meta.tags if meta else None, now, policy, result.previous_version)
        if expires_at is not None and not self.manager.native_expiry:
            tags = _expiry.with_tag(tags, expires_at)
        expected = NEW_SECRET if meta is None else meta.version
        try:
            written = self.manager.set(name, new_value, description, tags, expect_version=expected)
        except SecretConflict:
            return self.lost_race(name, result, expected or None)
        except SecretError as exc:
            # a write that failed part-way (value stored, tags not; or the answer lost) may have changed
            # the secret: never report "not changed" without knowing, say how to go back instead
            self._audit("rotate", name, ok=False, before=result.previous_version, error=exc)
            self._report_uncertain_write(name, meta, exc)
        result.rotated = True
        result.version = written.version
        result.age = 0
        result.next_due = None if policy.max_age is None else now + policy.max_age
        result.reason = due.reason
        self._audit("rotate", name, ok=True, before=result.previous_version, after=written.version,
                    outcome="created" if meta is None else "rotated")
        try:
            readback = self.manager.get(name, bypass_cache=True)
            if readback.value != new_value:
                raise RotationFailed(
                    f"reading the secret back returned a different value (fingerprint {fingerprint(readback.value)},"
                    f" expected {fingerprint(new_value)})",
                    hint="The provider did not serve the new version as current",
                )
            if verify is not None:
                verify(readback)
            if expires_at is not None and self.manager.native_expiry:
                self.manager.set_expiry(name, expires_at)
        except Exception as exc:  # any failing step after the write must leave the old value in place
            self._undo(name, old, meta, written, result, exc)
        if not policy.keep_previous and meta is not None:
            self._hard_cut(name, written.version, result)
        return result

    def _report_uncertain_write(self, name: str, meta: Optional[SecretMetadata], cause: SecretError) -> None:
        try:
            current = self.manager.describe(name)
        except SecretError:
            current = None
        if meta is not None and current is not None and current.version == meta.version:
            raise cause  # the provider still serves the old version: nothing changed
        if meta is None:
            raise RotationFailed(
                f"writing the first version failed ({cause}); the secret may or may not exist now",
                rolled_back=False, provider=self.manager.provider, name=name,
                hint="Check it with vibebox.secrets.secret_info and rotate again",
            ) from cause
        now_version = current.version if current is not None else "unknown (the provider did not answer)"
        raise RotationFailed(
            f"writing the new value failed part-way ({cause}); the secret may now be at version {now_version}"
            f" instead of version {meta.version}",
            rolled_back=False, version=None if current is None else current.version,
            provider=self.manager.provider, name=name,
            hint=f"When the provider answers again, put the old value back with vibebox.secrets.secret_rotate"
                 f" (name: {name}, rollback_to: '{meta.version}'), or rotate again",
        ) from cause

    def _undo(
        self,
        name: str,
        old: Optional[Secret],
        meta: Optional[SecretMetadata],
        written: SecretMetadata,
        result: RotationResult,
        cause: BaseException,
    ) -> None:
        reason = str(cause) or type(cause).__name__
        if old is None or meta is None:
            raise RotationFailed(
                f"a step after the first version {written.version} was written failed ({reason}); there was no"
                " earlier value to return to, so the new secret stays",
                rolled_back=False, version=written.version, provider=self.manager.provider, name=name,
                hint="Fix the cause and rotate again",
            ) from cause
        try:
            restored = self.manager.set(name, old.value, None, dict(meta.tags or {}), expect_version=written.version)
        except SecretError as again:
            self._audit("rotate_rollback", name, ok=False, before=written.version, error=again)
            raise RotationFailed(
                f"a step after version {written.version} was written failed ({reason}) and writing the old value"
                f" back failed too ({again})",
                rolled_back=False, version=written.version, provider=self.manager.provider, name=name,
                hint=f"Roll back by hand: secret_rotate with rollback_to: '{meta.version}'",
            ) from cause
        result.rolled_back = True
        self._audit("rotate_rollback", name, ok=True, before=written.version, after=restored.version,
                    outcome=f"value of version {meta.version} restored")
        raise RotationFailed(
            f"a step after version {written.version} was written failed ({reason}); rolled back: the value of"
            f" version {meta.version} is current again as version {restored.version}",
            rolled_back=True, version=restored.version, provider=self.manager.provider, name=name,
            hint="Fix the cause and rotate again",
        ) from cause

    def _hard_cut(self, name: str, current: Optional[str], result: RotationResult) -> None:
        """Destroy every older version so that 'previous' finds none (not even an older one)."""
        try:
            versions = self.manager.versions(name)
        except UnsupportedOperation:
            return
        for item in versions:
            if item.destroyed or item.version == current or "current" in item.stages:
                continue
            try:
                self.manager.delete_version(name, item.version)
            except UnsupportedOperation as exc:
                result.warnings.append(
                    f"keep_previous: false could not destroy version {item.version} of '{name}': {exc.reason}"
                )
                return
            result.destroyed_versions.append(item.version)

    # rollback -------------------------------------------------------------------------------------
    def rollback(self, name: str, to_version: str, check_mode: bool = False,
                 only_if_current: Optional[str] = None) -> RotationResult:
        """Make the value of ``to_version`` current again, as a new version.

        Writing it back (instead of moving a stage label) is the one way that works on every
        provider. The rotation tag gets the creation time of the restored version, so max_age
        still counts from when that value was really made. A grace period that ended does not stop a
        rollback: going back is always allowed while the version exists.

        ``only_if_current``: undo only that version (the one a failed run made). When another version is
        current, another run changed the secret after it, and writing ``to_version`` back would revert that
        run's change: SecretConflict, nothing written.
        """
        meta, versions = self.state(name)
        if meta is None:
            raise SecretNotFound("there is nothing to roll back", provider=self.manager.provider, name=name,
                                 provider_name=self.manager.provider_name(name))
        if only_if_current is not None and str(meta.version) != str(only_if_current) and not self._holds_value_of(
                name, only_if_current):
            # not ours to undo; but our value failed its check, so no other run's rollback may make it current again
            # (not in check mode: the mark is a write, and later rollbacks act on it)
            if not check_mode:
                self._mark_failed(name, meta, str(only_if_current))
            if not check_mode and self._holds_value_of(name, only_if_current):  # another run's rollback put it back
                meta, versions = self.state(name)
                return self._rollback_to(name, to_version, meta, versions, check_mode)
            self._audit("rotate_rollback", name, ok=False, before=meta.version,
                        error=SecretConflict("another run changed the secret after the version to undo"))
            raise SecretConflict(
                f"version {meta.version} is current, not version {only_if_current} that this rollback was to undo:"
                " another run changed the secret since, and rolling back would revert that change; nothing was"
                " rolled back",
                provider=self.manager.provider, name=name, provider_name=self.manager.provider_name(name),
                hint="Look at the versions with vibebox.secrets.secret_info; roll back by hand only if the newer"
                     " version must go",
            )
        return self._rollback_to(name, to_version, meta, versions, check_mode)

    def _rollback_to(self, name: str, to_version: str, meta: SecretMetadata, versions: List[VersionInfo],
                     check_mode: bool) -> RotationResult:
        target = self.manager.get(name, version=self.manager.any_version(to_version), bypass_cache=True)
        failed = failed_versions(meta.tags)
        skipped = None
        if str(target.metadata.version) in failed:
            older = self._before_failed(versions, str(target.metadata.version), failed)
            if older is not None:
                skipped = str(target.metadata.version)
                target = self.manager.get(name, version=older, bypass_cache=True)
        current = self.manager.get(name, bypass_cache=True)
        result = RotationResult(name=name, version=meta.version, version_before=meta.version,
                                reason=f"rollback to version {target.metadata.version}"
                                + (f" (version {skipped} failed another run's check)" if skipped else ""))
        if current.value == target.value:
            result.reason = f"the current value is already the value of version {target.metadata.version}"
            return result
        result.due = True
        result.previous_version = meta.version
        if check_mode:
            return result
        born = None
        for item in versions:
            if item.version == target.metadata.version and item.created_at is not None:
                born = _epoch(item.created_at)
        now = self.clock()
        tags = {key: value for key, value in (meta.tags or {}).items() if key not in ROTATION_TAGS}
        tags[TAG_ROTATED_AT] = str(int(born if born is not None else now))
        # the version rolled away from stays readable as 'previous' (data a new key encrypted in the
        # meantime can still be read) until a cleanup removes it
        tags[TAG_GRACE_VERSION] = str(meta.version)
        try:
            written = self.manager.set(name, target.value, None, tags, expect_version=meta.version)
        except SecretConflict:
            self._audit("rotate_rollback", name, ok=False, before=meta.version,
                        error=SecretConflict("another run changed the secret while it was rolled back"))
            raise SecretConflict(
                f"another run wrote a new version after version {meta.version} while this rollback ran; nothing"
                " was rolled back",
                provider=self.manager.provider, name=name, provider_name=self.manager.provider_name(name),
                hint="Look at the versions with vibebox.secrets.secret_info and roll back again if still needed",
            ) from None
        except SecretError as exc:
            self._audit("rotate_rollback", name, ok=False, before=meta.version, error=exc)
            raise
        result.rotated = True
        result.rolled_back = True
        result.version = written.version
        self._audit("rotate_rollback", name, ok=True, before=meta.version, after=written.version,
                    outcome=f"value of version {target.metadata.version} restored")
        return result

    def _mark_failed(self, name: str, meta: SecretMetadata, version: str) -> None:
        """Remember in the secret's tags that ``version``'s value failed a check (best effort: a provider that
        refuses the tag write leaves the rollback as it was)."""
        failed = [item for item in failed_versions(meta.tags) if item != version] + [version]
        tags = dict(meta.tags or {})
        tags[TAG_FAILED_VERSIONS] = ",".join(failed[-FAILED_KEPT:])
        try:
            self.manager.update_metadata(name, None, tags)
        except SecretError:
            pass

    @staticmethod
    def _before_failed(versions: List[VersionInfo], version: str, failed: List[str]) -> Optional[str]:
        """The newest readable version older than ``version`` whose value failed no check (None: there is none)."""
        def order(info: VersionInfo) -> Tuple[float, int, str]:
            moment = info.created_at.timestamp() if isinstance(info.created_at, _dt.datetime) else 0.0
            return (moment, int(info.version) if str(info.version).isdigit() else 0, str(info.version))

        ordered = sorted(versions, key=order)
        ids = [str(info.version) for info in ordered]
        if version not in ids:
            return None
        for info in reversed(ordered[:ids.index(version)]):
            if str(info.version) not in failed and info.enabled and not info.destroyed:
                return str(info.version)
        return None

    def _holds_value_of(self, name: str, version: str) -> bool:
        """The current value is the value of ``version``, written again as a newer version: another run that
        failed too rolled back to it (it could not know that value had failed a check), so it is still the
        value a rollback of ``version`` must undo."""
        try:
            earlier = self.manager.get(name, version=self.manager.any_version(version), bypass_cache=True)
            current = self.manager.get(name, bypass_cache=True)
        except SecretError:
            return False
        return current.value == earlier.value

    # cleanup --------------------------------------------------------------------------------------
    def cleanup(self, name: str, keep: int = 1, check_mode: bool = False) -> Dict[str, Any]:
        """Destroy old versions of one secret per plan_cleanup; providers that keep no versions are
        reported as skipped, not failed, so cleanup.yml can run over a mixed prefix."""
        report: Dict[str, Any] = dict(name=name, destroyed=[], kept=[], skipped=None, grace_until=None, warnings=[])
        meta, versions = self.state(name)
        if meta is None:
            report["skipped"] = "the secret does not exist"
            return report
        parsed = read_tags(meta.tags)
        report["warnings"].extend(parsed.problems)
        now = self.clock()
        if parsed.grace_until is not None and parsed.grace_until > now:
            report["grace_until"] = to_moment(parsed.grace_until)
        if not versions or not self.manager.backend.supports_versions:
            report["skipped"] = f"provider '{self.manager.provider}' keeps no old versions"
            return report
        plan = plan_cleanup(versions, meta.version, meta.tags, now, keep)
        report["kept"] = [dict(version=version, reason=why) for version, why in plan.keep]
        error: Optional[SecretError] = None
        for version in plan.destroy:
            if not check_mode:
                try:
                    self.manager.delete_version(name, version)
                except UnsupportedOperation as exc:
                    report["skipped"] = exc.reason
                    break
                except SecretError as exc:
                    error = exc
                    break
            report["destroyed"].append(version)
        if not check_mode and (report["destroyed"] or error is not None):
            self._audit("cleanup", name, ok=error is None, after=meta.version, destroyed=report["destroyed"],
                        error=error)
        if error is not None:
            raise error
        return report
