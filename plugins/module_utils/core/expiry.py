# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""When a secret stops being valid: the ``expires_at`` / ``expires_in`` options of the writers, the tag
that holds the date where a provider has no expiry of its own, and what a read does with an expired
secret (``on_expired``).

Why one file: the secret module, secret_rotate and the migration accept the same two options and
must refuse the same bad input before any request; every tag-based provider reads the same tag back;
and the lookups must judge "expired" the way secret_info and the compliance report do. So the rules
live here as pure functions, unit-tested without any provider.

Where the date lives: Azure Key Vault (``exp``) and GCP Secret Manager (``expire_time``) keep an
expiry of their own, and their provider files write it there. The other providers keep it as the tag
``vibebox-expires-at`` (AWS tag, Vault KV custom_metadata, the local store's and Kubernetes' metadata),
named like the rotation tags, holding an ISO 8601 UTC time with whole seconds. The tag stays visible in
``tags`` (as the rotation tags do), so that copying a secret's tags (a rotation, a migration) carries
its expiry along; the secret module leaves it out when it compares the tags a task gives.

``expires_at: never`` (the secret module only) removes the expiry a secret has: an expiry set by mistake
is not harmless everywhere (Secret Manager deletes the secret at its ``expire_time``, Vault, when asked to,
deletes versions at it), so the tool that sets one must be able to take it back.
Key Vault's SDK cannot remove a version's ``exp`` (it leaves out what is None), so Azure refuses it before
any request; a later date works there, and an expired Key Vault secret is refused, not deleted.

Dates are kept to the whole second: providers store whole seconds (Key Vault's ``exp`` is epoch
seconds), and comparing fractions would make a second run see a change that is not there.

``expires_in`` is relative, so re-applying it on every run would move the date forward each time: a
secret would never expire and every run would report a change. It is therefore applied only when the
task writes a new value (creation, a changed value, a rotation, a restore) or when the secret has no
expiry yet; an unchanged value keeps the date it has. ``expires_at`` is absolute and is kept in step
on every run.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Mapping, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core.durations import parse_duration
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption, SecretExpired

#: the tag that holds the expiry where the provider has no field for it (see the module docstring)
EXPIRY_TAG = "vibebox-expires-at"
#: the ``expires_at`` word that removes the expiry (the secret module)
NEVER = "never"


class _Clear:
    """What ``to_write`` returns when the stored expiry must be removed (None means: leave it as it is)."""

    def __repr__(self) -> str:
        return "CLEAR"


CLEAR = _Clear()
#: what a read does with an expired secret
ON_EXPIRED = ("error", "warn", "ignore")
DEFAULT_ON_EXPIRED = "warn"


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def whole_seconds(moment: _dt.datetime) -> _dt.datetime:
    """``moment`` in UTC, without a fraction of a second (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc).replace(microsecond=0)


def show(moment: Any) -> Optional[str]:
    """ISO 8601 UTC with whole seconds and a ``Z`` (the tag's form, and what results show); None for no
    expiry (also CLEAR)."""
    if not isinstance(moment, _dt.datetime):
        return None
    return whole_seconds(moment).isoformat().replace("+00:00", "Z")


def parse_moment(text: Any, option: str = "expires_at") -> _dt.datetime:
    """A timestamp as users type it: ISO 8601 (``2027-01-31T12:00:00Z``, ``2027-01-31T13:00:00+01:00``,
    ``2027-01-31``); without a time zone it is UTC. InvalidOption naming ``option`` otherwise."""
    if isinstance(text, _dt.datetime):
        return whole_seconds(text)
    if isinstance(text, _dt.date):
        return whole_seconds(_dt.datetime(text.year, text.month, text.day))
    raw = str(text or "").strip()
    if not raw or isinstance(text, bool):
        raise InvalidOption(f"option '{option}' must be an ISO 8601 time such as 2027-01-31T12:00:00Z (got '{text}')")
    try:
        moment = _dt.datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw)
    except ValueError:
        raise InvalidOption(f"option '{option}' must be an ISO 8601 time such as 2027-01-31T12:00:00Z (got '{raw}')",
                            hint="A time without a time zone is taken as UTC") from None
    return whole_seconds(moment)


class Wanted:
    """The expiry a task asks for: ``moment`` (UTC, whole seconds; None for ``expires_at: never``, no expiry)
    and whether it came from ``expires_in``."""

    def __init__(self, moment: Optional[_dt.datetime], relative: bool) -> None:
        self.moment = moment
        self.relative = relative

    @property
    def clears(self) -> bool:
        return self.moment is None

    def __repr__(self) -> str:
        return f"Wanted({show(self.moment) or NEVER}, relative={self.relative})"


def wanted(expires_at: Any, expires_in: Any, now: Optional[_dt.datetime] = None, where: str = "",
           allow_never: bool = False) -> Optional[Wanted]:
    """The expiry asked for by the two options (None: neither given), checked before any request.

    ``where`` prefixes the option names in errors (``secrets[2].`` for an item, ``migrate_`` for the role).
    Both given, a time that is not in the future, a duration that is not one, zero or negative: InvalidOption
    naming the option. ``allow_never``: ``expires_at: never`` removes the expiry (the secret module); elsewhere
    it is refused, so a rotation or a migration never drops an expiry by a word meant for one secret.
    """
    now = whole_seconds(now or utcnow())
    given_at = expires_at not in (None, "")
    given_in = expires_in not in (None, "")
    if given_at and given_in:
        raise InvalidOption(f"options '{where}expires_at' and '{where}expires_in' are mutually exclusive",
                            hint="Give a time (expires_at) or a duration from now (expires_in), not both")
    if given_at and isinstance(expires_at, str) and expires_at.strip().lower() == NEVER:
        if not allow_never:
            raise InvalidOption(f"option '{where}expires_at' cannot be '{NEVER}' here",
                                hint="Remove an expiry with vibebox.secrets.secret (expires_at: never)")
        return Wanted(None, relative=False)
    if given_at:
        moment = parse_moment(expires_at, f"{where}expires_at")
        if moment <= now:
            raise InvalidOption(f"option '{where}expires_at' is not in the future ({show(moment)}; now {show(now)})",
                                hint="Give a later time, or use expires_in for a duration from now")
        return Wanted(moment, relative=False)
    if given_in:
        seconds = parse_duration(expires_in, f"{where}expires_in")
        if not seconds:
            raise InvalidOption(f"option '{where}expires_in' must be longer than zero (got '{expires_in}')",
                                hint="Give a duration such as 90d")
        return Wanted(now + _dt.timedelta(seconds=seconds), relative=True)
    return None


def to_write(asked: Optional[Wanted], current: Optional[_dt.datetime], new_value: bool) -> Any:
    """The expiry a write must store, CLEAR when the stored one must be removed, or None when the stored one
    stays (see the module docstring).

    ``current`` is the stored expiry (None: none, or the secret does not exist); ``new_value`` says whether
    the task writes a new value (creation, changed value, rotation, restore).
    """
    if asked is None:
        return None
    stored = whole_seconds(current) if current is not None else None
    if asked.moment is None:
        return CLEAR if stored is not None else None
    if asked.relative and stored is not None and not new_value:
        return None
    return None if stored == asked.moment else asked.moment


def from_tags(tags: Optional[Mapping[str, str]]) -> Optional[_dt.datetime]:
    """The expiry a tag-based provider keeps in its tags; an unreadable tag counts as none (it must never
    block a read or a write)."""
    raw = (tags or {}).get(EXPIRY_TAG)
    if not raw:
        return None
    try:
        return parse_moment(raw, EXPIRY_TAG)
    except InvalidOption:
        return None


def with_tag(tags: Optional[Mapping[str, str]], moment: Any) -> dict:
    """``tags`` with the expiry tag set to ``moment`` (None: as it is; CLEAR: removed)."""
    merged = {str(key): str(item) for key, item in (tags or {}).items()}
    if moment is CLEAR:
        merged.pop(EXPIRY_TAG, None)
    elif moment is not None:
        merged[EXPIRY_TAG] = show(moment) or ""
    return merged


def without_tag(tags: Optional[Mapping[str, str]]) -> dict:
    """``tags`` without the expiry tag: what a task's ``tags`` are compared with."""
    return {str(key): str(item) for key, item in (tags or {}).items() if key != EXPIRY_TAG}


def is_expired(expires_at: Optional[_dt.datetime], now: Optional[_dt.datetime] = None) -> bool:
    return expires_at is not None and whole_seconds(expires_at) <= whole_seconds(now or utcnow())


def on_expired_option(value: Any) -> str:
    """The ``on_expired`` option, checked (None: the default)."""
    choice = str(value if value not in (None, "") else DEFAULT_ON_EXPIRED).strip().lower()
    if choice not in ON_EXPIRED:
        raise InvalidOption(f"option 'on_expired' must be one of {', '.join(ON_EXPIRED)} (got '{value}')")
    return choice


def judge_read(name: str, expires_at: Optional[_dt.datetime], on_expired: str, provider: Optional[str] = None,
               now: Optional[_dt.datetime] = None) -> Optional[str]:
    """What a read of a secret expiring at ``expires_at`` says: raise SecretExpired with ``error``, a warning text with ``warn``,
    nothing with ``ignore`` or a secret that has not expired. The texts name the secret and the time, never
    the value."""
    if not is_expired(expires_at, now):
        return None
    when = show(expires_at)
    if on_expired == "error":
        raise SecretExpired(f"it expired at {when}", provider=provider, name=name,
                            hint="Rotate it with a new expiry (secret_rotate with expires_in) or rewrite it (secret"
                                 " with a new value and expiry), or read it anyway with on_expired: warn or ignore")
    if on_expired == "warn":
        return f"vibebox.secrets: secret '{name}' expired at {when}; rotate it with a new expiry or set one"
    return None
