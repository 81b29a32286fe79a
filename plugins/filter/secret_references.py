# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``vibebox.secrets.secret_references``: the ``${secret:...}`` references of a text, parsed by the
collection's own parser (core/references.py), so a role checks references the way the lookups read them
instead of with a regular expression that a different syntax slips past. Reads nothing.

The documentation is in secret_references.yml next to this file.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.vibebox.secrets.plugins.module_utils.core import references as _references


def _texts(data: Any) -> List[str]:
    if isinstance(data, Mapping):
        data = list(data.values())
    if isinstance(data, (str, bytes)):
        data = [data]
    if not isinstance(data, (list, tuple)):
        raise AnsibleFilterError(
            f"vibebox.secrets.secret_references: the input must be a string, a list or a dict, not {type(data).__name__}")
    found = []
    for item in data:
        if not isinstance(item, (str, bytes)):
            raise AnsibleFilterError(
                f"vibebox.secrets.secret_references: every text must be a string, not {type(item).__name__}")
        found.append(to_text(item, errors="surrogate_or_strict"))
    return found


def secret_references(data: Any, pipes: bool = False, bare: bool = False) -> List[Dict[str, Any]]:
    """Every ``${secret:...}`` of the text(s), in order, as dicts (name, version, json_key, pipe, text)."""
    found = []
    for index, text in enumerate(_texts(data)):
        source = f"text {index + 1}"
        try:
            if bare:  # the text is one reference as written after 'secret:' (NAME@VERSION#KEY)
                template = _references.parse("${secret:%s}" % text, source, pipes=pipes)
                if len(template.parts) != 1 or isinstance(template.parts[0], str):
                    raise _references.ReferenceSyntaxError(
                        "a secret is named as NAME, NAME@VERSION or NAME#KEY, with nothing around it",
                        source=source, line=1, column=1)
            else:
                template = _references.parse(text, source, pipes=pipes)
        except _references.ReferenceSyntaxError as exc:
            raise AnsibleFilterError(f"vibebox.secrets.secret_references: {exc}") from None
        found.extend(dict(name=ref.name, version=ref.version, json_key=ref.json_key, pipe=ref.pipe, text=ref.text)
                     for ref in template.references if ref.kind == "secret")
    return found


class FilterModule:
    def filters(self) -> Dict[str, Any]:
        return {"secret_references": secret_references}
