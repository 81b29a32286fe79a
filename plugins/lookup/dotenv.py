# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: dotenv
author: Vibebox maintainers (@vibebox)
short_description: Read a .env file with every secret and environment reference resolved
version_added: 0.1.0
description:
  - Reads a C(.env) file and returns it as a dictionary, with every reference in its values replaced by the value it
    names, so an application can keep C(JWT_SECRET=${secret:jwt-secret}) in its configuration instead of the secret.
  - 'References: C(${secret:NAME}), C(${secret:NAME#JSON_KEY}) (one key of a JSON secret), C(${secret:NAME@previous})
    or C(${secret:NAME@VERSION_ID}) (an older version), C(${env:VAR}) and C(${env:VAR:-DEFAULT}) (the default is used
    when the variable is unset or empty). C($${) is a literal C(${). Anything else between C(${) and C(}) is an error
    naming the file, line and column.'
  - The file is parsed the way common dotenv loaders do it. Comments, C(export KEY=value), single and double quotes and
    multi-line quoted values are understood. Single-quoted values are literal and their references are not resolved.
    A malformed line is an error naming the file, line and column.
  - All secrets of the file are read together, in one batch call where the provider has one, and through the run
    cache that every host of the run shares, so 50 hosts reading the same file cost one read per secret.
  - A reference that cannot be resolved fails with the reference, where it is, the provider and the reason; never a
    value. With O(strict=false) it is left as written and a warning is shown instead.
  - When C(ENABLE_SECRET_MANAGER=false) and no provider is given, C(${secret:jwt-secret}) reads the environment
    variable C(JWT_SECRET), as in development.
options:
  _terms:
    description:
      - Paths of the C(.env) files. Relative paths are searched like the M(ansible.builtin.file) lookup does
        (the role's or play's C(files/) folder, then the play's folder).
      - With several files, one dictionary per file is returned.
    required: true
    type: list
    elements: path
  strict:
    description:
      - When V(true), a reference that cannot be resolved fails the lookup.
      - When V(false), it is left as written and a warning names the reference, the provider and the reason.
    type: bool
    default: true
  bypass_cache:
    description: Read from the provider even when the run cache holds a fresh value.
    type: bool
    default: false
  ignore_grace:
    description:
      - Resolve C(${secret:NAME@previous}) even after the grace period of the rotation that replaced that version has
        ended. Without it such a reference cannot be resolved (the previous version answers as missing).
    type: bool
    default: false
  on_expired:
    # the rest of this option comes from the vibebox.secrets.expiry fragment, written once for the lookups and
    # the resolve filter
    env:
      - name: VIBEBOX_ON_EXPIRED
extends_documentation_fragment:
  - vibebox.secrets.provider.lookup
  - vibebox.secrets.expiry.lookup
  - vibebox.secrets.local.lookup
  - vibebox.secrets.aws.lookup
  - vibebox.secrets.gcp.lookup
  - vibebox.secrets.azure.lookup
  - vibebox.secrets.vault.lookup
  - vibebox.secrets.kubernetes.lookup
notes:
  - Lookups run on the controller, so the provider's SDK must be installed there.
  - The result holds secret values; use C(no_log) on tasks that would print it.
  - A key that appears twice keeps its last value, as dotenv loaders do.
seealso:
  - plugin: vibebox.secrets.get
    plugin_type: lookup
  - plugin: vibebox.secrets.resolve
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Render the application's environment from app.env, secrets from Vault
  ansible.builtin.template:
    src: app.env.j2
    dest: /etc/app/app.env
    mode: "0600"
  vars:
    app_env: "{{ lookup('vibebox.secrets.dotenv', 'app.env', provider='vault') }}"
  no_log: true

- name: Pass the resolved file to a container
  community.docker.docker_container:
    name: app
    image: example/app:1.0
    env: "{{ lookup('vibebox.secrets.dotenv', 'files/app.env') }}"
  no_log: true

- name: Keep references that cannot be resolved (with a warning) instead of failing
  ansible.builtin.set_fact:
    app_env: "{{ lookup('vibebox.secrets.dotenv', 'app.env', strict=false) }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description:
    - One dictionary per file, key to resolved value, in the order of the file.
    - With one file, C(lookup) returns the dictionary itself.
  type: list
  elements: dict
"""

from typing import Dict, List

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.vibebox.secrets.plugins.plugin_utils import bytecode

bytecode.install()  # before the collection's other imports: worker forks load them from __pycache__

from ansible_collections.vibebox.secrets.plugins.module_utils.core import dotenv as _dotenv
from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors as _errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import references as _references
from ansible_collections.vibebox.secrets.plugins.plugin_utils import reading
from ansible_collections.vibebox.secrets.plugins.plugin_utils.lookup import SecretLookupBase, display


def _value_start(entry):
    """Line and column where the characters of ``entry.value`` begin (after an opening quote).

    The parser gives the position of the value as written; inside a double-quoted value an escape
    such as \\n is one character after decoding, so a position after one is approximate.
    """
    return entry.line, entry.column + (1 if entry.quote else 0)


class LookupModule(SecretLookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        strict = self.get_option("strict")
        bypass = self.get_option("bypass_cache")
        files = [self._read(str(term), variables) for term in terms]
        if not files:
            return []
        parsed = []  # (keys, templates) per file
        try:
            for path, text in files:
                keys: List[str] = []
                templates = []
                for entry in _dotenv.parse(text, source=path):
                    keys.append(entry.key)
                    if entry.quote == "'":
                        templates.append(_references.literal(entry.value))
                    else:
                        line, column = _value_start(entry)
                        templates.append(_references.parse(entry.value, source=path, line=line, column=column))
                parsed.append((keys, templates))
        except _errors.SecretError as exc:
            raise self.fail(exc) from None
        seen = {"provider": ""}

        def read(items):
            with self.reporting():  # options that cannot work fail the lookup, whatever strict says
                outcomes = reading.read(self._options, items, bypass, variables=self._variables)
            seen["provider"] = outcomes.provider or seen["provider"]
            return outcomes

        resolver = _references.Resolver(read, lambda: seen["provider"], strict=strict, warn=display.warning,
                                        ignore_grace=self.get_option("ignore_grace"))
        everything = [template for _keys, templates in parsed for template in templates]
        with self.reporting():
            values = iter(resolver.resolve_all(everything))  # one batch for every file
        results = []
        for keys, _templates in parsed:
            result: Dict[str, str] = {}
            for key in keys:
                result[key] = next(values)  # a repeated key keeps its last value, as loaders do
            results.append(result)
        return results

    def _read(self, term: str, variables) -> tuple:
        path = self.find_file_in_search_path(variables, "files", term, ignore_missing=True)
        if not path:
            raise AnsibleLookupError(f"vibebox.secrets.dotenv: could not find the file '{term}'")
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise AnsibleLookupError(f"vibebox.secrets.dotenv: cannot read '{path}': {exc.strerror}") from None
        try:
            text = to_text(data, errors="surrogate_or_strict")
        except UnicodeError:
            raise AnsibleLookupError(f"vibebox.secrets.dotenv: '{path}' is not UTF-8 text") from None
        return path, text
