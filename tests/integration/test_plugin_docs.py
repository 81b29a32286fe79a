"""What validate-modules checks, checked again by the project on every plugin (also lookups/filters).

ansible-doc renders each plugin with its doc fragments merged; each module's argument spec is captured
by running its main() against a stand-in AnsibleModule. Documented options must equal the spec, with
the same types, choices and defaults, and every option that can hold a secret must be no_log.
"""
from __future__ import annotations

import importlib
import json
import os
import re
import subprocess

import pytest
import yaml

from ansible_run import BIN, REPO

MODULES = sorted(p[:-3] for p in os.listdir(os.path.join(REPO, "plugins", "modules")) if p.endswith(".py"))
LOOKUPS = sorted(p[:-3] for p in os.listdir(os.path.join(REPO, "plugins", "lookup")) if p.endswith(".py"))
SECRET_NAME = re.compile(r"(token|secret|password|passphrase|(^|_)value$|(^|_)key$)")
# vault_client_key is the path of the key file, like the *_file options; vault_transit_key names a transit key
# (the key itself never leaves Vault)
# secrets (the secret module's list) holds names too; the value of each item is a no_log sub-option
NOT_SECRET = {"vault_secret_id": False, "k8s_secret_name": True, "rotate_secret": True,
              "vault_client_key": True, "vault_transit_key": True, "secrets": True}


def ansible_doc(kind: str, name: str) -> dict:
    done = subprocess.run([os.path.join(BIN, "ansible-doc"), "-t", kind, "--json", f"vibebox.secrets.{name}"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "[WARNING]" not in done.stderr, done.stderr
    return json.loads(done.stdout)[f"vibebox.secrets.{name}"]


class _Captured(Exception):
    pass


def capture_spec(name: str) -> dict:
    module = importlib.import_module(f"ansible_collections.vibebox.secrets.plugins.modules.{name}")
    holder = {}

    class FakeModule:
        def __init__(self, argument_spec, **kwargs):
            holder.update(argument_spec)
            raise _Captured()

    utils = importlib.import_module("ansible_collections.vibebox.secrets.plugins.module_utils.module")
    original = utils.AnsibleModule
    utils.AnsibleModule = FakeModule
    own = getattr(module, "AnsibleModule", None)  # a module may also build AnsibleModule itself
    if own is not None:
        module.AnsibleModule = FakeModule
    try:
        with pytest.raises(_Captured):
            module.main()
    finally:
        utils.AnsibleModule = original
        if own is not None:
            module.AnsibleModule = own
    return holder


@pytest.mark.parametrize("name", MODULES)
def test_module_docs_match_argument_spec(name):
    doc = ansible_doc("module", name)
    assert doc["doc"].get("description") and doc["examples"] and doc.get("return") is not None
    yaml.safe_load(doc["examples"])
    documented = doc["doc"]["options"]
    spec = capture_spec(name)
    assert set(documented) == set(spec), f"documented only: {set(documented) - set(spec)}; spec only: {set(spec) - set(documented)}"
    for option, rules in spec.items():
        shown = documented[option]
        assert shown.get("type", "str") == rules.get("type", "str"), option
        assert (shown.get("choices") or None) == (rules.get("choices") or None), option
        assert shown.get("default") == rules.get("default"), option
        assert bool(shown.get("required")) == bool(rules.get("required")), option
        if rules.get("type") == "list":
            assert shown.get("elements") == rules.get("elements"), option
        if SECRET_NAME.search(option) and not option.endswith("_file") and NOT_SECRET.get(option) is not True:
            assert rules.get("no_log") is True, f"{name}: option {option} can hold a secret but is not no_log"
        for sub, sub_rules in (rules.get("options") or {}).items():  # a list of items: each value is no_log too
            if SECRET_NAME.search(sub) and not sub.endswith("_file") and NOT_SECRET.get(sub) is not True:
                assert sub_rules.get("no_log") is True, f"{name}: {option}.{sub} can hold a secret but is not no_log"


@pytest.mark.parametrize("name", LOOKUPS)
def test_lookup_docs_render_with_every_provider_option(name):
    doc = ansible_doc("lookup", name)
    from ansible_collections.vibebox.secrets.plugins.module_utils.core.options import OPTION_NAMES

    assert set(OPTION_NAMES) <= set(doc["doc"]["options"])
    for option in OPTION_NAMES:
        sources = doc["doc"]["options"][option]
        assert {"name": f"vibebox_secrets_{option}"} in sources.get("vars", []), option
        assert {"section": "vibebox_secrets", "key": option} in sources.get("ini", []), option
    yaml.safe_load(doc["examples"])


#: modules that talk to no provider (they write a page, post to webhooks), so they take no provider option and
#: stay out of the action group: module_defaults for the group would hand them options they refuse
NO_PROVIDER = {"secret_status", "secret_notify"}


def test_action_group_lists_every_module():
    runtime = yaml.safe_load(open(os.path.join(REPO, "meta", "runtime.yml")))
    assert set(runtime["action_groups"]["secrets"]) == set(MODULES) - NO_PROVIDER
    from ansible_collections.vibebox.secrets.plugins.module_utils.core.options import OPTION_NAMES

    for name in NO_PROVIDER:
        assert not set(capture_spec(name)) & set(OPTION_NAMES), f"{name} takes provider options: put it in the group"


def test_callback_docs_render_and_say_how_to_enable_it():
    doc = ansible_doc("callback", "run_cache")["doc"]
    assert doc["type"] == "aggregate"
    assert "callbacks_enabled = vibebox.secrets.run_cache" in " ".join(doc["requirements"])
    plugin = importlib.import_module("ansible_collections.vibebox.secrets.plugins.callback.run_cache")
    assert plugin.CallbackModule.CALLBACK_NEEDS_ENABLED, "an opt-in: never on without the user asking"
    assert plugin.CallbackModule.CALLBACK_NAME == "vibebox.secrets.run_cache"
