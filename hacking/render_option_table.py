"""Write plugins/module_utils/core/option_table.py and playbooks/vars/provider_options.yml from every
provider's SPEC.

A module's argument spec must hold every provider's options (their types and which are no_log)
before it knows which provider the task chose. Reading them from the provider files meant importing
all seven in every module run, and AnsiballZ ships no bytecode, so each run compiled about 250 KB of
provider code it did not use. The table is the same facts as plain literals; the provider files stay
the one place they are declared, and this script keeps the copy in step.

    python hacking/render_option_table.py          # rewrite
    python hacking/render_option_table.py --check  # fail if the table is out of date
"""
from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "plugins", "module_utils", "core", "option_table.py")
PLAYBOOK_VARS = os.path.join(ROOT, "playbooks", "vars", "provider_options.yml")

PLAYBOOK_HEADER = """\
---
# Written by hacking/render_option_table.py from the collection's options (core/options.py and each
# provider's SPEC); edit those, then run it. The playbooks take every provider option as an extra var of
# the same name (-e provider=vault -e vault_addr=...); provider_options_given holds the ones that are set,
# for module_defaults of the action group.
provider_option_names:
"""
PLAYBOOK_FOOTER = """\
provider_options_given: >-
  {{ dict(provider_option_names | zip(query('ansible.builtin.vars', *provider_option_names, default='')))
     | dict2items | rejectattr('value', 'equalto', '') | items2dict }}
"""

HEADER = '''\
# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
# Written by hacking/render_option_table.py from each provider's SPEC; edit the provider, then run it.
"""Every provider's options and aliases as literals, so a module's argument spec (which must name
every provider's options and mark the credentials no_log) does not import every provider module:
AnsiballZ ships no bytecode, and compiling the unused provider files cost about 0.2 s per task."""
'''


def render() -> str:
    # the one way the hacking scripts find the collection (ansible-test's copy or the link make builds)
    from render_option_definitions import _collections_path

    if _collections_path() not in sys.path:
        sys.path.insert(0, _collections_path())
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import registry

    options = tuple((item.name, option.name, dict(option.spec), tuple(option.env))
                    for item in registry.specs() for option in item.options)
    aliases = {alias: item.name for item in registry.specs() for alias in item.aliases}
    lines = ["", "#: (provider, option, argument spec, environment variables), in the registry's order", "OPTIONS = ("]
    lines += [f"    {row!r}," for row in options]
    lines += [")", "", "#: other names users may type for a provider -> its name", "ALIASES = {"]
    lines += [f"    {alias!r}: {name!r}," for alias, name in aliases.items()]
    lines += ["}", ""]
    meaning = [(item.name, option) for item in registry.specs() for option, _neutral in item.meaning_options]
    lines += ["#: options that change what a name means, which a read of another provider must refuse (their",
              "#: neutral values are in the provider's SPEC), and the providers that declare them",
              f"MEANING_OPTIONS = {tuple(sorted({option for _name, option in meaning}))!r}",
              f"MEANING_PROVIDERS = {tuple(dict.fromkeys(name for name, _option in meaning))!r}", ""]
    body = "\n".join(lines)
    return HEADER + body


def render_playbook_vars() -> str:
    """The playbooks' list of provider options: the common ones, then each provider's, in registry order."""
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import options, registry

    lines = ["  # core"] + [f"  - {name}" for name in options.COMMON_OPTIONS]
    for item in registry.specs():
        if item.options:
            lines += [f"  # {item.name}"] + [f"  - {option.name}" for option in item.options]
    return PLAYBOOK_HEADER + "\n".join(lines) + "\n" + PLAYBOOK_FOOTER


def main(argv: list) -> int:
    stale = []
    for path, text in ((TABLE, render()), (PLAYBOOK_VARS, render_playbook_vars())):
        current = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
        if current == text:
            continue
        stale.append(os.path.relpath(path, ROOT))
        if "--check" not in argv:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
    if "--check" in argv and stale:
        print(f"out of date: {', '.join(stale)}: run python hacking/render_option_table.py")
        return 1
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
