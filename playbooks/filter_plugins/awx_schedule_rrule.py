# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``awx_schedule_rrule`` for playbooks/awx_configure.yml: the rule that awx.awx.schedule_rrule builds.

Why a filter beside the playbook instead of calling the lookup: awx.awx's ``schedule_rrule`` lookup
(24.x, the version the PyPI ``ansible`` package ships) returns a string, and ansible-core 2.18 and
later refuse that from any lookup ("returned <class 'str'> instead of <class 'list'>"). This calls
the lookup's own rule builder (``LookupModule.get_rrule``), so the rules are exactly AWX's, with the
lookup's option names and checks, on every ansible-core the collection supports. It needs what the
lookup needs on the machine that runs the playbook: awx.awx, python-dateutil and pytz.
"""
from __future__ import annotations

from typing import Any, Dict

from ansible.errors import AnsibleFilterError


def awx_schedule_rrule(frequency: str, **options: Any) -> str:
    """``'month' | awx_schedule_rrule(every=3, month_day_number=1, start_date=..., timezone=...)``."""
    try:
        from ansible_collections.awx.awx.plugins.lookup.schedule_rrule import LookupModule
    except ImportError as exc:
        raise AnsibleFilterError(
            f"awx_schedule_rrule needs the awx.awx collection and its Python requirements (python-dateutil, pytz): {exc}"
        ) from None
    result = LookupModule().get_rrule(str(frequency).lower(), dict(options))
    return result[0] if isinstance(result, list) else str(result)


class FilterModule:
    def filters(self) -> Dict[str, Any]:
        return {"awx_schedule_rrule": awx_schedule_rrule}
