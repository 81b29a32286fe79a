"""Keep each doc fragment's LOOKUP text in step with its DOCUMENTATION.

Lookups take every provider option from more places than modules do (a ``vibebox_secrets_<option>``
variable, the seed's environment variable, ansible.cfg). ansible-test wants doc fragments to be plain
string literals, so the lookup form cannot be computed at import time: this script writes it out.
Each fragment keeps a module-level ``LOOKUP_ENV`` dict (option -> environment variables).

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


def render(path: str) -> str:
    source = open(path, encoding="utf-8").read()
    tree = ast.parse(source)
    env_node = None
    lookup_node = None
    documentation = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "LOOKUP_ENV" for t in node.targets):
            env_node = node
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
    if isinstance(lookup_node.value, ast.Call):  # LOOKUP = lookup_form(DOCUMENTATION, {...})
        env_source = ast.get_source_segment(source, lookup_node.value.args[1])
        env = ast.literal_eval(env_source)
    else:
        if env_node is None:
            raise SystemExit(f"{path}: LOOKUP is a literal but there is no module-level LOOKUP_ENV")
        env = ast.literal_eval(env_node.value)
        env_source = None
    new_lookup = "    LOOKUP = " + _literal(lookup_text(documentation, env)) + "\n"
    start, end = lookup_node.lineno - 1, lookup_node.end_lineno
    lines[start:end] = [new_lookup]
    text = "".join(lines)
    if env_source is not None:
        class_at = text.index("\nclass ModuleDocFragment")
        header = "\n\n# option -> environment variables a lookup reads it from (rendered into LOOKUP)\nLOOKUP_ENV = "
        text = text[:class_at] + header + env_source + "\n\n" + text[class_at:]
        text = text.replace(
            "from ansible_collections.vibebox.secrets.plugins.doc_fragments.provider import lookup_form\n", ""
        )
    while "\n\n\n\n" in text:
        text = text.replace("\n\n\n\n", "\n\n\n")
    return text


def main(argv: List[str]) -> int:
    check = "--check" in argv
    stale = []
    for name in sorted(os.listdir(FRAGMENTS)):
        if not name.endswith(".py"):
            continue
        path = os.path.join(FRAGMENTS, name)
        current = open(path, encoding="utf-8").read()
        wanted = render(path)
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
