# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters ``rotation_plan``, ``rotation_summary`` and ``rotation_failure``: the rotate role's decisions.

Why filters: what a kind of secret means for its rotation, and how a rotation or its failure is reported,
are rules that belong in Python where they are unit-tested (core/rotation_kinds.py); the role only runs
the steps in order. The documentation is in the .yml files next to this one (the form ansible-doc reads).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from ansible.errors import AnsibleFilterError

from ansible_collections.vibebox.secrets.plugins.module_utils.core import rotation_kinds
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import SecretError


def rotation_plan(item: Mapping[str, Any], secret: str = "all", force: bool = False, if_older_than: str = "",
                  grace_period: str = "") -> Dict[str, Any]:
    """How the rotate role rotates one entry of rotate_secrets in this run."""
    if not isinstance(item, Mapping):
        raise AnsibleFilterError(f"vibebox.secrets.rotation_plan: the input must be a dict, not {type(item).__name__}")
    try:
        return rotation_kinds.plan(item, secret=str(secret), force=bool(force), if_older_than=str(if_older_than or ""),
                                   grace_period=str(grace_period or ""))
    except SecretError as exc:
        raise AnsibleFilterError(f"vibebox.secrets.rotation_plan: {item.get('name')}: {exc}") from None


def rotation_summary(outcome: Mapping[str, Any], kind: Any = None, transit_key: Optional[str] = None,
                     rewrap: Optional[Mapping[str, Any]] = None, reencrypt_command_ran: Optional[bool] = None) -> str:
    """One line of the rotation report for a secret_rotate or postgres_rotate result."""
    try:
        return rotation_kinds.summary(outcome, kind, transit_key=transit_key or None,
                                      rewrap=None if rewrap is None else dict(rewrap),
                                      reencrypt_command_ran=reencrypt_command_ran)
    except SecretError as exc:
        raise AnsibleFilterError(f"vibebox.secrets.rotation_summary: {exc}") from None


def rotation_failure(name: str, step: str = "", error: str = "", before: Optional[str] = None,
                     after: Optional[str] = None, read_back: bool = True, read_back_error: str = "",
                     outcome: Optional[Mapping[str, Any]] = None, failed: Optional[Mapping[str, Any]] = None,
                     rollback: Optional[Mapping[str, Any]] = None, transit_key: Optional[str] = None) -> str:
    """The failure report of one rotation: the failed step and the state the secret is in."""
    return rotation_kinds.failure(str(name), str(step or ""), str(error or ""),
                                  before=None if before is None else str(before),
                                  after=None if after is None else str(after), read_back=bool(read_back),
                                  read_back_error=str(read_back_error or ""), outcome=outcome, failed=failed,
                                  rollback=rollback, transit_key=transit_key or None)


class FilterModule:
    def filters(self) -> Dict[str, Any]:
        return {"rotation_plan": rotation_plan, "rotation_summary": rotation_summary,
                "rotation_failure": rotation_failure}
