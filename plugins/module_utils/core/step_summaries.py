# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The one-line ``summary`` of a write, a migration step and a move step.

Why here and not in the roles: a sentence that a role composes in Jinja from a module's counts is
written again by every playbook that calls the module, and cannot be tested without running one.
Built here, ``vibebox.secrets.secret``, ``secret_migrate`` and ``secret_move`` return the same line
that the migrate role prints, and a unit test pins it. Rotations have their own lines, made from the
kinds table (``rotation_kinds``); these are the others.

Every line is made of names, counts, versions and paths. A module result never holds a value, so
neither does a summary.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, List, Mapping, Optional, Sequence

#: what happened to one secret of the secret module, in the order a count of them is told
SECRET_OUTCOMES = ("created", "restored", "changed", "unchanged", "deleted", "absent")
#: the same, as the check mode says it
_WOULD = {"created": "would be created", "restored": "would be restored", "changed": "would change",
          "deleted": "would be deleted"}
_CHECK = " (check mode, nothing written)"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def secret_outcome(state: str, changes: Sequence[str], restored: bool = False) -> str:
    """What a secret task did to its secret, in one word of SECRET_OUTCOMES."""
    if state == "absent":
        return "deleted" if changes else "absent"
    if not changes:
        return "unchanged"
    if restored:
        return "restored"
    return "created" if "state" in changes else "changed"


def secret_line(name: str, outcome: str, *, changes: Sequence[str] = (), version: Optional[str] = None,
                check_mode: bool = False, recovery_days: Optional[int] = None, force: bool = False) -> str:
    """One line for one secret of the secret module: what happened (or would), the fields and the version."""
    fields = ", ".join(field for field in changes if field != "state")
    if check_mode and outcome in _WOULD:
        what = f"{_WOULD[outcome]} ({fields})" if outcome == "changed" and fields else _WOULD[outcome]
        return f"{name}: {what}{_CHECK}"
    at = f" (version {version})" if version else ""
    if outcome == "created":
        return f"{name}: created" + (f" as version {version}" if version else "")
    if outcome == "restored":
        return f"{name}: restored from deletion" + (f", {fields} written" if fields else "") + at
    if outcome == "changed":
        return f"{name}: changed {fields}{at}"
    if outcome == "deleted":
        if force or recovery_days == 0:
            return f"{name}: deleted for good"
        return f"{name}: deleted" + (f", recoverable for {recovery_days} days" if recovery_days else "")
    if outcome == "absent":
        return f"{name}: already absent"
    return f"{name}: unchanged{at}"


def secrets_line(outcomes: Iterable[str], *, failed: int = 0, check_mode: bool = False) -> str:
    """One line for a task of many secrets: how many, and how many of each outcome (zero counts left out)."""
    seen: List[str] = list(outcomes)
    total = len(seen) + failed
    parts = [f"{seen.count(word)} {_WOULD.get(word, word) if check_mode else word}"
             for word in SECRET_OUTCOMES if seen.count(word)]
    if failed:
        parts.append(f"{failed} failed")
    return f"{_plural(total, 'secret')}: {', '.join(parts) or 'none given'}" + (_CHECK if check_mode else "")


def counts_line(counts: Mapping[str, int], actions: Sequence[str]) -> str:
    """The plan's count per action, every action named even at 0 (``create: 3, update: 0, ...``)."""
    return ", ".join(f"{action}: {counts.get(action, 0)}" for action in actions)


def place(provider: str, prefix: Optional[str] = None) -> str:
    """A side of a migration or move as the lines name it: the provider, and its prefix when it has one."""
    return f"{provider} (prefix {prefix})" if prefix else provider


def plan_line(origin: str, target: str, total: int, unit: str, counts: Mapping[str, int], actions: Sequence[str],
              *, env_rewrite: bool = False) -> str:
    """The plan in one line: from where to where (see place), how many ``unit`` (keys, secrets), the count per
    action."""
    rewrite = ", .env file rewritten to references" if env_rewrite else ""
    return f"Plan for {origin} -> {target}: {total} {unit}; {counts_line(counts, actions)}{rewrite}"


def stop_line(stopped: Iterable[Mapping[str, Any]], unit: str, verb: str, hint: str) -> str:
    """Why a run stops before any write: how many ``unit`` cannot be ``verb`` (moved, migrated), each with its
    reason, then ``hint``, what to do."""
    rows = list(stopped)
    reasons = "; ".join(f"{row.get('key')}: {row.get('reason') or 'refused'}" for row in rows)
    return f"{len(rows)} {unit} cannot be {verb}: {reasons}. Nothing was written. {hint}"


def rename_hint(rename_map: Mapping[str, str]) -> str:
    """How to fix a move's refused names: the name map that makes every one acceptable, ready to paste, when the
    plan could make one."""
    if rename_map:
        return f"Rename them with -e '{json.dumps({'migrate_name_map': dict(rename_map)})}'"
    return "Rename them with migrate_name_map or leave them out with migrate_exclude."


def backup_line(path: Optional[str], count: int, *, check_mode: bool, env_file: bool = False) -> str:
    """What the backup step did: where the previous values of ``count`` secrets went (and the .env file's copy)."""
    what = _plural(count, "secret") + (" and the .env file" if env_file else "")
    if not count and not env_file:
        return "Backup: none needed, nothing will change"
    if check_mode or not path:
        return f"Backup of {what}: not written in check mode"
    return f"Backup of {what} written to {path}"


def written_line(written: Sequence[Mapping[str, Any]], target: str, *, check_mode: bool) -> str:
    """What an apply step wrote: how many secrets into ``target``, each with its new version."""
    if not written:
        return f"Nothing to write into {target}"
    names = ", ".join(f"{item.get('name')}" + (f" (version {item['version']})" if item.get("version") else "")
                      for item in written)
    if check_mode:
        return f"Would write {_plural(len(written), 'secret')} into {target}: {names}{_CHECK}"
    return f"Wrote {_plural(len(written), 'secret')} into {target}: {names}"


def validation_line(origin: str, target: str, checks: Sequence[Mapping[str, Any]], against: str) -> str:
    """How a validation went: how many of the secrets compared match ``against`` (the .env file, the source), and
    the ones that do not, by name and status."""
    bad = [item for item in checks if item.get("status") != "ok"]
    line = f"Validation of {origin} against {target}: {len(checks) - len(bad)} of {len(checks)} secrets match {against}"
    if bad:
        line += "; " + ", ".join(f"{item.get('name') or item.get('key')} {item.get('status')}" for item in bad)
    return line


def rollback_line(backup: Optional[str], rows: Sequence[Mapping[str, Any]], env_state: str, *, runs: int = 1,
                  check_mode: bool = False, kept: Sequence[str] = ()) -> str:
    """What a rollback did: from which backup, how many secrets it deleted or restored, how many it left alone
    (changed since), and what became of the .env file."""
    acted = [row for row in rows if row.get("action") in ("deleted", "restored")]
    left = [row for row in rows if row.get("action") == "conflict"]
    mode = "(CHECK MODE, nothing was written) " if check_mode else ""
    several = f" ({runs} runs)" if runs > 1 else ""
    alone = f", {_plural(len(left), 'secret')} left alone (changed since)" if left else ""
    never = [row for row in rows if row.get("action") == "not-written"]
    if never:
        alone += f", {_plural(len(never), 'secret')} the run never wrote left as {'it is' if len(never) == 1 else 'they are'}"
    keeps = (f" except {', '.join(kept)}, kept as {'a reference' if len(kept) == 1 else 'references'} (the"
             f" secret{'' if len(kept) == 1 else 's'} changed since and {'was' if len(kept) == 1 else 'were'} left as"
             f" {'it is' if len(kept) == 1 else 'they are'})") if kept else ""
    return (f"Rollback {mode}from {backup or '?'}{several}: {_plural(len(acted), 'secret')} rolled back"
            f"{alone}, .env file {env_state}{keeps}")


def finish_line(what: str, path: Optional[str]) -> str:
    """The last step of a run: ``what`` (migration, move) is complete, and the backup to keep until it is accepted."""
    return f"The {what} is complete" + (f"; keep its backup {path} until it is accepted" if path else "")


def rewrite_line(env_file: str, changed: bool, *, check_mode: bool) -> str:
    """What the rewrite step did to the .env file."""
    if not changed:
        return f".env file {env_file}: unchanged (it already holds the references)"
    return f".env file {env_file}: " + ("would be rewritten to references" if check_mode else "rewritten to references")


def deleted_line(source: str, deleted: Sequence[Mapping[str, Any]], source_backup: Optional[str], *,
                 check_mode: bool) -> str:
    """What deleting the moved secrets from the source did, and where the source's backup is."""
    count = _plural(len(deleted), "secret")
    if check_mode:
        return f"Would delete {count} from the source {source}{_CHECK}"
    return f"Deleted {count} from the source {source}" + (f"; its backup is {source_backup}" if source_backup else "")
