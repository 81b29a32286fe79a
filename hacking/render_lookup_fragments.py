"""Keep each doc fragment's LOOKUP text in step with its DOCUMENTATION.

Lookups take every provider option from more places than modules do (a ``vibebox_secrets_<option>``
variable, the environment variables the provider's SPEC declares, ansible.cfg). ansible-test wants doc
fragments to be plain string literals, so the lookup form cannot be computed at import time: this
script writes it out from each option's one description (``DOCUMENTATION``) and the registry, so
neither the description nor the environment variables are written twice.

    python hacking/render_lookup_fragments.py          # rewrite
    python hacking/render_lookup_fragments.py --check  # fail if any fragment is out of date
"""
from __future__ import annotations

import ast
import os
import sys
from typing import Dict, List, Sequence

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAGMENTS = os.path.join(ROOT, "plugins", "doc_fragments")


class _IndentedDumper(yaml.SafeDumper):
    """Indent list items under their key, the layout yamllint and ansible-doc sources use."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):  # noqa: D401
        return super().increase_indent(flow, False)


def lookup_text(documentation: str, env: Dict[str, Sequence[str]]) -> str:
    doc = yaml.safe_load(documentation)
    for name, spec in doc.get("options", {}).items():
        spec["vars"] = [{"name": f"vibebox_secrets_{name}"}]
        if env.get(name):
            spec["env"] = [{"name": variable} for variable in env[name]]
        spec["ini"] = [{"section": "vibebox_secrets", "key": name}]
    return yaml.dump(doc, Dumper=_IndentedDumper, sort_keys=False, width=110, allow_unicode=True)


def _literal(text: str) -> str:
    return 'r"""\n' + text + '"""'


def registry_env() -> Dict[str, List[str]]:
    """option -> the environment variables a lookup reads it from, as the providers' SPECs declare them."""
    # the one way the hacking scripts find the collection (ansible-test's copy or the link make builds)
    from render_option_definitions import _collections_path

    if _collections_path() not in sys.path:
        sys.path.insert(0, _collections_path())
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import options

    return {option.name: list(option.env) for option in options._all_options() if option.env}


def render(path: str, env: Dict[str, List[str]]) -> str:
    source = open(path, encoding="utf-8").read()
    tree = ast.parse(source)
    lookup_node = None
    documentation = None
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.Assign) and isinstance(item.targets[0], ast.Name):
                    if item.targets[0].id == "DOCUMENTATION":
                        documentation = item.value.value
                    if item.targets[0].id == "LOOKUP":
                        lookup_node = item
    if documentation is None or lookup_node is None:
        return source
    lines = source.splitlines(keepends=True)
    new_lookup = "    LOOKUP = " + _literal(lookup_text(documentation, env)) + "\n"
    lines[lookup_node.lineno - 1:lookup_node.end_lineno] = [new_lookup]
    return "".join(lines)


def main(argv: List[str]) -> int:
    check = "--check" in argv
    stale = []
    env = registry_env()
    for name in sorted(os.listdir(FRAGMENTS)):
        if not name.endswith(".py"):
            continue
        path = os.path.join(FRAGMENTS, name)
        current = open(path, encoding="utf-8").read()
        wanted = render(path, env)
        if wanted != current:
            stale.append(name)
            if not check:
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(wanted)
    if check and stale:
        print("doc fragments out of date (run python hacking/render_lookup_fragments.py):", ", ".join(stale))
        return 1
    print(("checked" if check else "rendered"), "doc fragments;", "changed: " + ", ".join(stale) if stale else "all current")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
