# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""What each kind of secret means for its rotation, and the one-line account of a rotation.

Why a table: a JWT signing key, a refresh-token key, a database password and an encryption key are
all "a new value, written as a new version", but they differ in what the previous version is still
good for (a grace period, nothing at all, decrypting old data), in what users notice (a forced
sign-in) and in what must follow (re-encrypting data). Written as ``when:`` branches in the rotate
role, those rules were spread over three files and could not be tested without running a playbook.
Here they are one row per kind, read by the role (through the ``rotation_plan`` filter) and by the
modules (``secret_rotate``'s ``kind``), and the sentences that report a rotation are made from the
same row, so the role prints what the modules say instead of composing it in Jinja.

Every text here is made from versions, dates, counts and names; a module result never holds a
value, so neither does a summary.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Mapping, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption
from ansible_collections.vibebox.secrets.plugins.module_utils.core.transit import TRANSIT_KEY_OPTION


@dataclass(frozen=True)
class Kind:
    """One kind of secret and what a rotation of it means."""

    name: str
    #: the previous version stays readable as 'previous' for a grace period (False: no grace applies,
    #: and a role-wide grace period is not applied to this kind)
    grace: bool = True
    #: False: a hard cut, every older version is destroyed so 'previous' finds none
    keep_previous: bool = True
    #: whoever holds a token signed with the old value must sign in again
    reauth: bool = False
    #: data encrypted with the previous version must be re-encrypted (or re-wrapped) before a cleanup
    reencrypt: bool = False
    #: the module that rotates it: secret_rotate writes a new version; postgres_rotate also changes the
    #: password of the database login the secret holds
    module: str = "secret_rotate"


#: the kinds, by the names the rotate role's rotate_secrets use
KINDS: Dict[str, Kind] = {
    "generic": Kind("generic"),
    "jwt": Kind("jwt"),
    "jwt_refresh": Kind("jwt_refresh", grace=False, keep_previous=False, reauth=True),
    "database": Kind("database", grace=False, module="postgres_rotate"),
    "encryption_key": Kind("encryption_key", reencrypt=True),
}
#: other spellings: secret_rotate's own kind names, and '-' for '_'
ALIASES = {"secret": "generic", "encryption-key": "encryption_key", "jwt-refresh": "jwt_refresh"}


def kind_of(name: Any) -> Kind:
    """The Kind called ``name`` (``generic`` when empty); InvalidOption naming the kinds otherwise."""
    if isinstance(name, Kind):
        return name
    text = str(name or "generic").strip().lower()
    found = KINDS.get(ALIASES.get(text, text))
    if found is None:
        raise InvalidOption(f"kind must be one of {', '.join(KINDS)} (got '{name}')",
                            hint="Use generic for a secret that needs nothing special")
    return found


def plan(item: Mapping[str, Any], *, secret: str = "all", force: bool = False, if_older_than: str = "",
         grace_period: str = "") -> Dict[str, Any]:
    """How the rotate role rotates one entry of rotate_secrets (``item``) in this run.

    ``max_age``: a named rotation honours ``if_older_than`` only; a run of ``all`` honours the item's own
    max_age unless ``force``. ``grace_period``: the role-wide one wins over the item's, and neither
    applies to a kind without grace. Empty strings mean "not set", as the role's defaults are.
    """
    kind = kind_of(item.get("kind"))
    if secret != "all":
        max_age = if_older_than or ""
    else:
        max_age = "" if force else str(item.get("max_age") or "")
    grace = (grace_period or str(item.get("grace_period") or "")) if kind.grace else ""
    transit = kind.reencrypt and bool(item.get(TRANSIT_KEY_OPTION))
    return dict(asdict(kind), kind=kind.name, max_age=max_age, grace_period=grace, transit=transit,
                module_kind="encryption-key" if transit else kind.name)


def _name(outcome: Mapping[str, Any]) -> str:
    return str(outcome.get("name") or "?")


def summary(outcome: Mapping[str, Any], kind: Any = None, *, transit_key: Optional[str] = None,
            rewrap: Optional[Mapping[str, Any]] = None, reencrypt_command_ran: Optional[bool] = None) -> str:
    """One line saying what a rotation did (a secret_rotate or postgres_rotate result) and what is left to do.

    ``transit_key`` names the transit key that was rotated; ``rewrap`` is the transit_rewrap result of the
    data re-wrapped after it; ``reencrypt_command_ran`` says whether a re-encryption command ran (None: the
    caller runs none). Without them the line says the re-wrap or re-encryption is still required; the rotate
    role passes an empty ``rewrap`` and ``reencrypt_command_ran=False`` when it ran neither, and the line then
    names the role's option that automates it.
    """
    rule = kind_of(kind)
    name = _name(outcome)
    username = outcome.get("username")
    if outcome.get("rolled_back") and outcome.get("rotated"):
        return (f"{name}: rolled back ({outcome.get('reason') or ''}): version {outcome.get('version')} is current,"
                f" replacing version {outcome.get('previous_version')}")
    if outcome.get("already_rotated"):
        return f"{name}: not rotated by this run: {outcome.get('reason') or ''}"
    if not outcome.get("due"):
        line = f"{name}: not due ({outcome.get('reason') or ''})"
        return line + (f"; next rotation {outcome['next_rotation']}" if outcome.get("next_rotation") else "")
    if not outcome.get("rotated"):
        role = f", the password of role {username}" if rule.module == "postgres_rotate" else ""
        return f"{name}: would be rotated ({outcome.get('reason') or ''}){role}; check mode, nothing written"
    version, previous = outcome.get("version"), outcome.get("previous_version")
    if not previous:
        role = f" with a new password for role {username}" if rule.module == "postgres_rotate" else ""
        return f"{name}: created as version {version}{role}"
    if rule.reauth:
        destroyed = outcome.get("destroyed_versions") or []
        return (f"{name}: rotated to version {version} with no grace period; refresh tokens signed with the old key are"
                " rejected from now on, so every user must sign in again (re-authentication forced)"
                + (f"; destroyed versions {', '.join(map(str, destroyed))}" if destroyed else ""))
    if rule.reencrypt and transit_key:
        until = (f" until the first cleanup after {outcome['grace_until']}" if outcome.get("grace_until")
                 else " until a cleanup")
        if rewrap and rewrap.get("rewrapped") is not None:
            then = f"Re-wrapped {rewrap['rewrapped']} of {rewrap.get('total')} ciphertext(s) to version {version}"
        else:
            how = " (rewrap_names automates it for secrets)" if rewrap is not None else ""
            then = f"RE-WRAP REQUIRED: re-wrap the data with vibebox.secrets.transit_rewrap{how} before the cleanup"
        return f"{name}: transit key {transit_key} rotated to version {version}; version {previous} still decrypts{until}. {then}"
    if rule.reencrypt:
        how = " (rotate_reencrypt_command automates it)" if reencrypt_command_ran is not None else ""
        then = ("the re-encryption command ran" if reencrypt_command_ran else
                f"re-encrypt the data with the new key{how}, then run cleanup")
        return (f"{name}: new key version {version}; version {previous} is kept, readable as 'previous', to decrypt"
                f" existing data. RE-ENCRYPTION REQUIRED: {then}")
    if rule.module == "postgres_rotate":
        return (f"{name}: new password for role {username} (version {version}); {outcome.get('sessions_before') or 0}"
                " session(s) opened with the old password are still open and keep working; new connections need the"
                " new password, so applications must read the secret again")
    grace = (f"until {outcome['grace_until']} (grace period)" if outcome.get("grace_until")
             else "with no grace period (cleanup may remove it)")
    return f"{name}: rotated to version {version}; version {previous} stays readable as 'previous' {grace}"


def failure(name: str, step: str, error: str, *, before: Optional[str], after: Optional[str], read_back: bool,
            read_back_error: str = "", outcome: Optional[Mapping[str, Any]] = None,
            failed: Optional[Mapping[str, Any]] = None, rollback: Optional[Mapping[str, Any]] = None,
            transit_key: Optional[str] = None) -> str:
    """The account of a failed rotation: which step failed and why, then the state the secret is in.

    ``before`` is the version read before the rotation, ``after`` the one read back after the failure
    (``read_back`` False when that read failed, with ``read_back_error``); ``outcome`` is the rotation's
    result when the rotation itself succeeded, ``failed`` the failed task's result, ``rollback`` the
    rollback task's result when one ran; ``transit_key`` names the transit key of a transit rotation.
    Whoever reads this at 3 a.m. must know whether the secret changed and how to go back, so each case
    says it outright.
    """
    outcome, failed, rollback = outcome or {}, failed or {}, rollback or {}
    head = f"{name}: the step '{step}' failed: {error or 'see above'}."
    if transit_key:
        if outcome.get("rotated"):
            return (f"{head} The transit key {transit_key} was rotated from version {outcome.get('previous_version')} to"
                    f" version {outcome.get('version')}; version {outcome.get('previous_version')} still decrypts, so no"
                    " data is lost. Re-wrap the data with vibebox.secrets.transit_rewrap before the cleanup retires the"
                    " old version.")
        return f"{head} The transit key {transit_key} was not rotated."
    was = before or "none (it did not exist)"
    if not read_back:
        return (f"{head} Reading the secret back failed ({read_back_error or 'no answer'}), so it is not known whether"
                f" it changed: the secret may have been changed (it was at version {was} before). Check it with"
                " vibebox.secrets.secret_info before running again.")
    if before == after:
        return f"{head} The secret was not changed: it is at version {after or 'none (it does not exist)'}, as before."
    state = f"{head} The secret changed: version before {was}, version after {after or 'none (it no longer exists)'}."
    if rollback.get("rolled_back"):
        return (f"{state} Rolled back: the value of version {outcome.get('previous_version')} is current again"
                f" (as version {rollback.get('version')}).")
    if failed.get("rolled_back"):
        return f"{state} The module rolled back: the old value is current again (as version {failed.get('version')})."
    if rollback.get("error_kind") == "conflict":
        made = outcome.get("version")
        return (f"{head} Another run changed the secret after this run's rotation (this run made version {made};"
                f" version {after or 'none'} is current now), so this run's change was NOT rolled back: that would"
                " undo the other run's change. Check the versions with vibebox.secrets.secret_info before anything else.")
    if before is None:
        return f"{state} The secret was created by this run and stays (there is no older value to return to)."
    again = f" The rollback failed too: {rollback['msg']}." if rollback.get("msg") else ""
    return (f"{state}{again} It was NOT rolled back: put the old value back with vibebox.secrets.secret_rotate"
            f" (name: {name}, rollback_to: '{before}'), or rotate again.")


def cleanup_line(report: Mapping[str, Any]) -> str:
    """One line for one secret of a cleanup (a Rotator.cleanup report): what was destroyed, what was kept."""
    name = _name(report)
    if report.get("skipped"):
        return f"{name}: skipped, {report['skipped']}"
    destroyed = ", ".join(map(str, report.get("destroyed") or [])) or "nothing"
    kept = ", ".join(str(item.get("version")) for item in report.get("kept") or [])
    grace = f"; grace until {report['grace_until']}" if report.get("grace_until") else ""
    return f"{name}: destroyed {destroyed}; kept {kept}{grace}"


def cleanup_summary(destroyed_count: int, check_mode: bool) -> str:
    """The first line of a cleanup's report."""
    return f"destroyed {destroyed_count} old version(s)" + (" (check mode: nothing destroyed)" if check_mode else "")
