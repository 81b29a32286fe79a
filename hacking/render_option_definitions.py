"""Write the lookups' option definitions, as Ansible parses them, to plugin_utils/option_definitions.json.

Why: before a worker fork can call a lookup, Ansible parses the plugin's DOCUMENTATION and every doc
fragment it extends with its YAML loader, in every fork (the parse is not inherited). Our lookups take
~50 provider options from fragments, so that parse costs more CPU than the lookup itself. The lookups
register these definitions before Ansible looks (plugin_utils/lookup.py, ``register_option_definitions``),
when the digest of their documentation still matches and the running ansible-core is one of the
releases listed in the file (the version matrix, tests/matrix/versions.txt, on each of which ``make
test`` checks that these definitions equal Ansible's own parse); otherwise Ansible parses as usual.

The definitions are produced by the same calls ``PluginLoader._load_config_defs`` makes (Ansible's
YAML loader, then ``add_fragments``), so they are what Ansible would have registered.

    python hacking/render_option_definitions.py          # rewrite
    python hacking/render_option_definitions.py --check  # fail if the file is out of date
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Mapping, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "plugins", "plugin_utils", "option_definitions.json")
#: the version matrix: the lookups register the definitions only on the ansible-core releases listed there
MATRIX = os.path.join(ROOT, "tests", "matrix", "versions.txt")
LOOKUPS = ("get", "dotenv")
FRAGMENT_PREFIX = "vibebox.secrets."


def _collections_path() -> str:
    """The directory holding ``ansible_collections/vibebox/secrets``: the checkout's parent when it is
    laid out that way (ansible-test's copy), else the link the Makefile builds in .build/."""
    parts = ROOT.split(os.sep)
    if parts[-3:] == ["ansible_collections", "vibebox", "secrets"]:
        return os.sep.join(parts[:-3]) or os.sep
    base = os.path.join(ROOT, ".build", "collections")
    link = os.path.join(base, "ansible_collections", "vibebox", "secrets")
    if not os.path.lexists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    return base


def tested_releases() -> List[str]:
    """The ansible-core releases of the version matrix (first column of tests/matrix/versions.txt)."""
    with open(MATRIX, encoding="utf-8") as handle:
        rows = [line.split() for line in handle if line.strip() and not line.lstrip().startswith("#")]
    return [row[0] for row in rows]


def fragment_files(doc: Mapping[str, Any]) -> Optional[List[str]]:
    """Files (relative to the collection) of the doc fragments ``doc`` extends; None if one is not ours."""
    names = doc.get("extends_documentation_fragment") or []
    if isinstance(names, str):
        names = names.split(",")
    files = []
    for name in names:
        name = str(name).strip()
        if not name.startswith(FRAGMENT_PREFIX):
            return None
        files.append(os.path.join("plugins", "doc_fragments", name[len(FRAGMENT_PREFIX):].split(".", maxsplit=1)[0] + ".py"))
    return sorted(set(files))


def parse_documentation(documentation: str, path: str) -> Any:
    """DOCUMENTATION parsed the way this ansible-core's ``PluginLoader._load_config_defs`` parses it.

    ansible-core 2.19 tags the source as trusted and loads it with PyYAML and Ansible's loader;
    2.17 and 2.18 have no tags and use ``AnsibleLoader(...).get_single_data()``. Both give the
    same definitions once written as JSON, so the file is the same whichever version renders it
    (the version matrix runs ``--check`` on every supported ansible-core).
    """
    from ansible.parsing.yaml.loader import AnsibleLoader

    try:
        from ansible._internal._datatag import _tags  # ansible-core >= 2.19
    except ImportError:
        return AnsibleLoader(documentation, file_name=path).get_single_data()
    import yaml

    source = _tags.TrustedAsTemplate().tag(documentation)
    return yaml.load(_tags.Origin(path=path).tag(source), Loader=AnsibleLoader)


def render() -> str:
    os.environ["ANSIBLE_COLLECTIONS_PATH"] = _collections_path()
    from ansible.plugins.loader import fragment_loader, init_plugin_loader
    from ansible.utils.plugin_docs import add_fragments
    import importlib

    init_plugin_loader()
    sys.path.insert(0, os.environ["ANSIBLE_COLLECTIONS_PATH"])
    from ansible_collections.vibebox.secrets.plugins.plugin_utils import lookup as lookup_utils

    plugins: Dict[str, Any] = {}
    for name in LOOKUPS:
        module_name = f"ansible_collections.vibebox.secrets.plugins.lookup.{name}"
        module = importlib.import_module(module_name)
        doc = parse_documentation(module.DOCUMENTATION, module.__file__)
        fragments = fragment_files(doc)
        if fragments is None:
            raise SystemExit(f"{name}: extends a doc fragment of another collection; its definitions cannot be shipped")
        add_fragments(doc, module.__file__, fragment_loader=fragment_loader, is_module=False)
        options = doc["options"]
        for option, spec in options.items():
            default = spec.get("default")
            if isinstance(default, str) and "{{" in default:
                raise SystemExit(f"{name}: option {option} has a templated default; shipped definitions would"
                                 " lose the trust Ansible gives documentation, so they cannot be used")
        plugins[module_name] = {
            "digest": lookup_utils.documentation_digest(module.DOCUMENTATION, fragments),
            "fragments": fragments,
            "options": options,
        }
    data = {"generated_by": "hacking/render_option_definitions.py", "ansible_core": tested_releases(), "plugins": plugins}
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def main(argv: List[str]) -> int:
    check = "--check" in argv
    wanted = render()
    current = open(TARGET, encoding="utf-8").read() if os.path.exists(TARGET) else ""
    if wanted == current:
        print("option definitions current")
        return 0
    if check:
        print("plugins/plugin_utils/option_definitions.json is out of date"
              " (run python hacking/render_option_definitions.py)")
        return 1
    with open(TARGET, "w", encoding="utf-8") as handle:
        handle.write(wanted)
    print("rendered plugins/plugin_utils/option_definitions.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
