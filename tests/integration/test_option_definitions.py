"""The lookups' shipped option definitions, on the ansible-core that runs this test (every row of the matrix).

Before a fork can call a lookup, Ansible parses its documentation; the lookups spare that parse by
registering definitions shipped with the collection, through ansible-core's config manager, which is
not a public API. On every supported release this must be invisible: the registered definitions
are exactly what Ansible's own parse gives, and when the API is not what the collection expects
(renamed, or taking other arguments, as a future release may do) the lookups fall back to Ansible's
parse with no error and no warning, and every option source (task keyword, variable, environment,
ansible.cfg, default) still works.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from ansible_run import BIN, run_playbook, state_env, write_playbook

#: set by tests/conftest.py: the folder holding ansible_collections/vibebox/secrets
COLLECTIONS_DIR = os.environ["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep)[0]

LOOKUPS = ("vibebox.secrets.get", "vibebox.secrets.dotenv")

# Loads each lookup through Ansible's plugin loader and reports who registered its option
# definitions (the collection, or Ansible's own parse) and what they are.
PROBE = textwrap.dedent(r"""
    import json, sys
    collections, mode = sys.argv[1], sys.argv[2]
    from ansible.plugins.loader import init_plugin_loader, lookup_loader
    init_plugin_loader([collections])
    from ansible import constants as C
    from ansible.config.manager import ConfigManager
    original = ConfigManager.initialize_plugin_configuration_definitions
    registered = {}
    def spy(self, plugin_type, name, defs):
        registered[name] = sys._getframe(1).f_code.co_name
        return original(self, plugin_type, name, defs)
    ConfigManager.initialize_plugin_configuration_definitions = spy
    if mode == "ansible-parses":
        from ansible_collections.vibebox.secrets.plugins.plugin_utils import lookup as base
        base.register_option_definitions = lambda module_name: False
    def plain(value):
        if isinstance(value, dict):
            return {str(key): plain(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        if isinstance(value, bool) or value is None:
            return value
        for kind in (str, int, float):
            if isinstance(value, kind):
                return kind(value)
        return repr(value)
    found = {}
    for fqcn in sys.argv[3:]:
        plugin = lookup_loader.get(fqcn)
        assert plugin is not None, fqcn
        module_name = type(plugin).__module__
        found[fqcn] = {"by": registered.get(module_name),
                       "options": plain(C.config.get_configuration_definitions("lookup", module_name))}
    print(json.dumps(found, sort_keys=True))
""")


def probe(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, COLLECTIONS_DIR, mode, *LOOKUPS],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def core_release() -> str:
    from ansible.release import __version__

    return ".".join(__version__.split(".")[:2])


def test_registered_definitions_are_what_ansible_parses_on_this_release():
    shipped = probe("shipped")
    parsed = probe("ansible-parses")
    for fqcn in LOOKUPS:
        assert parsed[fqcn]["by"] == "_load_config_defs", parsed[fqcn]["by"]
        assert shipped[fqcn]["options"] == parsed[fqcn]["options"], (
            f"{fqcn}: the shipped definitions differ from what ansible-core {core_release()} parses;"
            " run python hacking/render_option_definitions.py")
        # on the releases of the matrix the parse is really spared; if a new release changes how
        # Ansible looks definitions up, this says so (the lookups still work, only slower)
        assert shipped[fqcn]["by"] == "register_option_definitions", (
            f"{fqcn}: ansible-core {core_release()} parsed the documentation although the definitions were"
            f" shipped (registered by {shipped[fqcn]['by']})")


# Simulates an ansible-core whose config manager is not what the collection expects, for the
# collection's calls only (Ansible's own calls keep working), and records that it happened.
SITECUSTOMIZE = textwrap.dedent(r"""
    import importlib.abc, importlib.util, os, sys

    _MODE, _LOG = os.environ["VB_TEST_CONFIG_API"], os.environ["VB_TEST_CONFIG_LOG"]

    def _note(what):
        with open(_LOG, "a") as handle:
            handle.write(what + "\n")

    def _from_collection():
        return sys._getframe(2).f_globals.get("__name__", "").endswith("plugin_utils.lookup")

    def _patch(manager):
        has, initialize = manager.has_configuration_definition, manager.initialize_plugin_configuration_definitions

        def has_configuration_definition(self, *args, **kwargs):
            if _MODE == "renamed" and _from_collection():
                _note("collection: has_configuration_definition missing")
                raise AttributeError("'ConfigManager' object has no attribute 'has_configuration_definition'")
            return has(self, *args, **kwargs)

        def initialize_plugin_configuration_definitions(self, plugin_type, name, defs, *args, **kwargs):
            if _from_collection():
                if _MODE == "new-signature":
                    _note("collection: initialize_plugin_configuration_definitions refused")
                    raise TypeError("initialize_plugin_configuration_definitions() missing 1 required argument")
                _note("collection registered " + name)
            elif name.startswith("ansible_collections.vibebox.secrets."):
                _note("ansible parsed " + name)
            return initialize(self, plugin_type, name, defs, *args, **kwargs)

        manager.has_configuration_definition = has_configuration_definition
        manager.initialize_plugin_configuration_definitions = initialize_plugin_configuration_definitions

    class _PatchOnImport(importlib.abc.MetaPathFinder):
        # only processes that import Ansible's config manager are touched (not module runs)
        def find_spec(self, name, path=None, target=None):
            if name != "ansible.config.manager":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                _patch(module.ConfigManager)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _PatchOnImport())
""")

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    vibebox_secrets_local_path: "{{ state }}/store.db"
  tasks:
    - name: store two secrets
      vibebox.secrets.secret:
        name: "{{ item }}"
        value: "value-of-{{ item }}"
        local_path: "{{ state }}/store.db"
      loop: [jwt-secret, api-key]
      no_log: true
    - name: every option source, read by both lookups
      ansible.builtin.assert:
        that:
          # local_path from a variable, provider from the environment (SECRET_PROVIDER), audit_log from ansible.cfg
          - lookup('vibebox.secrets.get', 'jwt-secret') == 'value-of-jwt-secret'
          # task keywords: choices, a raw default, a list
          - lookup('vibebox.secrets.get', 'no-such-secret', default='fallback') == 'fallback'
          - query('vibebox.secrets.get', 'api-key', 'no-such-secret', on_missing='skip') == ['value-of-api-key']
          - lookup('vibebox.secrets.dotenv', app_env)['TOKEN'] == 'value-of-api-key'
        quiet: true
      no_log: true
    - name: a bad choice is still refused by Ansible's own option checks
      ansible.builtin.set_fact:
        refused: "{{ lookup('vibebox.secrets.get', 'jwt-secret', on_missing='explode') }}"
      ignore_errors: true
      register: bad_choice
    - name: the refusal names the option
      ansible.builtin.assert:
        that:
          - bad_choice is failed
          - "'on_missing' in bad_choice.msg"
"""


@pytest.mark.parametrize("api", ["as-expected", "renamed", "new-signature"])
def test_lookups_work_whatever_the_config_manager_looks_like(tmp_path, api):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "config-api.log"
    log.write_text("")
    (tmp_path / "app.env").write_text("TOKEN=${secret:api-key}\nPLAIN=text\n")
    (tmp_path / "ansible.cfg").write_text(f"[vibebox_secrets]\naudit_log = {tmp_path / 'audit.log'}\n")
    env = state_env(tmp_path, {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH", "")])),
        "VB_TEST_CONFIG_API": api, "VB_TEST_CONFIG_LOG": str(log), "SECRET_PROVIDER": "local",
        "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
    })
    play = write_playbook(tmp_path, PLAY)
    result = run_playbook(play, env, extra_vars={"state": str(tmp_path / "state-store"),
                                                 "app_env": str(tmp_path / "app.env")})
    assert result.rc == 0, result.output[-4000:]
    assert result.recap()["failed"] == 0
    for noise in ("[WARNING]", "[DEPRECATION WARNING]", "Traceback"):
        assert noise not in result.output, result.output[-4000:]
    failures = [line for line in result.output.splitlines() if "[ERROR]" in line or "fatal:" in line]
    assert failures and all("explode" in line for line in failures), failures  # only the refused choice
    assert (tmp_path / "audit.log").is_file(), "the ansible.cfg source was not read"
    events = set(log.read_text().splitlines())
    get_module = "ansible_collections.vibebox.secrets.plugins.lookup.get"
    if api == "as-expected":
        assert f"collection registered {get_module}" in events, events
        assert f"ansible parsed {get_module}" not in events, events
    else:
        # the simulated API really refused the collection, and Ansible parsed the documentation instead
        assert any(event.startswith("collection: ") for event in events), events
        assert f"collection registered {get_module}" not in events, events
        assert f"ansible parsed {get_module}" in events, events


def test_the_probe_runs_this_venvs_ansible():
    """The matrix runs this file with each version's own venv: the ansible-playbook used is that one."""
    done = subprocess.run([os.path.join(BIN, "ansible-playbook"), "--version"], capture_output=True, text=True,
                          timeout=60, check=True)
    assert f"core {core_release()}." in done.stdout.splitlines()[0]
