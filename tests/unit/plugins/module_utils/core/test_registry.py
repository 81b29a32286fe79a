"""The provider registry: a provider is one file, and nothing else in plugins/ knows its details.

Two properties are checked from the outside: a lookup with ``provider: local`` imports no other
provider's module (so a run of one provider never pays for the others), and no file in plugins/
outside the providers, their doc fragments and the registry names a provider's option or SDK.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import names, options, registry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))))
PLUGINS = os.path.join(ROOT, "plugins")
#: <dir>/ansible_collections/vibebox/secrets -> <dir>, where the collection is importable from
COLLECTIONS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    sys.modules["ansible_collections.vibebox.secrets"].__path__[0] + os.sep))))
PROVIDER_MODULE = "ansible_collections.vibebox.secrets.plugins.module_utils.providers."

#: files of plugins/ that may name a provider option, and why (paths relative to plugins/)
ALLOWED = {
    # the one module whose whole job is the local store: its options are that provider's
    "modules/local_rekey.py": "re-keys the embedded local store: local_path and local_key_file are its subject",
    # a migration of the local store writes the undo file's options for the same store
    "modules/secret_migrate.py": "the undo file names the local store's path as the option a rollback must pass",
    # messages that tell the user which option to set: text, not logic
    "module_utils/core/migration.py": "a hint naming the local store's options a rollback must point at",
    "module_utils/core/rotation.py": "a hint naming the option that may point at an empty local store",
    "module_utils/core/keyfile.py": "a hint naming the option that holds a bad path",
    # a generated copy of the providers' option declarations, so a module run imports only its provider
    "module_utils/core/option_table.py": "written by hacking/render_option_table.py from the providers' SPECs",
    # validate-modules wants a dict option's sub-options in the module's own DOCUMENTATION (a doc fragment
    # reaches top-level options only); the argument spec is the registry's and a unit test keeps them equal
    "modules/secret_move.py": "documents source_options' sub-options: every provider option, for the source",
    "filter/resolve.py": "the message for an unknown option lists two provider options as examples",
    "plugin_utils/reading.py": "a docstring about the local store in automation (the read path is reshaped apart)",
    # transit is Vault's engine but not a secret store (no backend): it connects through the vault
    # provider (VaultBackend.from_options, vault.client_call) and reads the key's name and mount itself
    "module_utils/core/transit.py": "reads vault_transit_key and vault_transit_mount, names them in messages",
    # the names of the options that change what a name means (declared in the providers' SPECs, a unit test keeps
    # the list equal), so that a read of another provider is checked for them without importing any provider
    "modules/transit_rewrap.py": "its documentation says which provider options name the transit key",
    "modules/secret_rotate.py": "its documentation says which provider option makes kind=encryption-key rotate a transit key",
}
#: the provider SDKs, as imported
SDK_IMPORT = re.compile(r"^\s*(import|from)\s+(boto3|botocore|hvac|google\.cloud|google\.auth|azure|kubernetes)\b",
                        re.MULTILINE)


def _provider_option_names() -> list:
    return sorted({name for item in registry.specs() for name in registry.option_names(item.name)} | {"kubeconfig"})


def _plugin_files():
    for folder, _dirs, files in os.walk(PLUGINS):
        for file_name in files:
            if not file_name.endswith(".py"):
                continue
            path = os.path.join(folder, file_name)
            relative = os.path.relpath(path, PLUGINS).replace(os.sep, "/")
            if relative.startswith(("module_utils/providers/", "doc_fragments/")) or relative == "module_utils/core/registry.py":
                continue
            yield relative, path


def test_every_provider_declares_itself_in_its_own_file():
    seen_options = {}
    for name in registry.PROVIDERS:
        item = registry.spec(name)
        assert item.name == name
        assert item.backend.name == name, "the backend class and the declaration name the same provider"
        for option in item.options:
            assert option.name not in seen_options, f"{option.name} is declared by {seen_options.get(option.name)} too"
            seen_options[option.name] = name
            assert option.name not in options.COMMON_OPTIONS
    assert registry.canonical("K8S") == "kubernetes" and registry.canonical("openbao") == "vault"
    assert registry.canonical("nothing") is None
    assert set(names.RULES) == set(registry.PROVIDERS)
    assert dict(options.PREFIX_ENV) == {"aws": "AWS_SECRET_PREFIX", "gcp": "GCP_SECRET_PREFIX",
                                        "azure": "AZURE_SECRET_PREFIX", "vault": "VAULT_PREFIX"}
    assert list(options.DETECTION) == [("VAULT_ADDR", "vault"), ("AWS_SECRET_MANAGER_REGION", "aws"),
                                       ("GCP_PROJECT_ID", "gcp"), ("AZURE_KEYVAULT_URL", "azure"),
                                       ("KUBERNETES_SERVICE_HOST", "kubernetes")]


def test_the_argument_spec_has_every_option_once_in_a_stable_order():
    spec = options.provider_argument_spec()
    assert list(spec)[:len(options.COMMON_OPTIONS)] == list(options.COMMON_OPTIONS)
    assert list(spec) == list(options.OPTION_NAMES)
    assert set(spec["provider"]["choices"]) == set(registry.PROVIDERS) | {"k8s", "hashicorp", "openbao", "environment"}
    assert {name for name, item in spec.items() if item.get("no_log")} == set(options.SECRET_OPTIONS)
    assert "vault_token" in options.SECRET_OPTIONS and "aws_region" not in options.SECRET_OPTIONS


def test_options_of_the_chosen_provider_are_filled_from_the_environment():
    env = {"VAULT_ADDR": "http://v:8200", "VAULT_KV_VERSION": "1", "AWS_REGION": "eu-west-1",
           "AZURE_AUTH": "default", "SECRET_CACHE_TTL": "60000"}
    resolved = options.with_environment({"provider": "vault"}, env)
    assert resolved["vault_addr"] == "http://v:8200" and resolved["vault_kv_version"] == 1
    assert resolved["cache_ttl"] == 60.0
    assert resolved.get("aws_region") is None, "a provider that cannot be reached reads none of its options"
    detected = options.with_environment({}, env)
    assert detected["aws_region"] == "eu-west-1" and detected["azure_auth"] == "default"
    chained = options.with_environment({"provider": "vault", "fallback": ["aws:us-east-1"]}, env)
    assert chained["aws_region"] == "eu-west-1", "a fallback entry's provider is reachable too"


def test_a_fallback_entry_is_routed_to_the_provider_it_names():
    steps = options.fallback_steps({"provider": "vault", "fallback": ["env", "aws:eu-west-1"]})
    assert [(provider, label) for provider, _opts, label in steps] == [("env", "env"), ("aws", "aws (eu-west-1)")]
    with pytest.raises(Exception) as caught:
        options.fallback_steps({"provider": "vault", "fallback": ["elsewhere"]})
    assert "'aws:<region>'" in str(caught.value)


def _run_isolated(code: str, tmp_path) -> dict:
    # no PYTHONPATH: ansible-test runs module_utils tests with a stripped-down ansible on it, and the
    # lookup needs the whole of ansible-core (the collection itself is found through sys.argv[1])
    env = {key: value for key, value in os.environ.items()
           if key not in ("VAULT_ADDR", "AWS_SECRET_MANAGER_REGION", "GCP_PROJECT_ID", "AZURE_KEYVAULT_URL",
                          "KUBERNETES_SERVICE_HOST", "SECRET_PROVIDER", "PYTHONPATH")}
    env["HOME"] = str(tmp_path)
    store = tmp_path / "store"
    store.mkdir(mode=0o700)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), COLLECTIONS, str(store / "secrets.db")],
                          env=env, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_lookup_with_provider_local_imports_no_other_provider(tmp_path):
    found = _run_isolated(f"""
        import json, sys
        from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
        _AnsibleCollectionFinder(paths=[sys.argv[1]])._install()
        from ansible.parsing.dataloader import DataLoader
        from ansible.plugins.loader import lookup_loader
        from ansible.template import Templar
        loader = DataLoader()
        lookup = lookup_loader.get("vibebox.secrets.get", loader=loader, templar=Templar(loader=loader))
        result = lookup.run(["not-there"], variables={{}}, provider="local", local_path=sys.argv[2],
                            on_missing="skip", audit_log="false")
        prefix = {PROVIDER_MODULE!r}
        print(json.dumps({{"result": result, "providers": sorted(m[len(prefix):] for m in sys.modules
                                                              if m.startswith(prefix))}}))
    """, tmp_path)
    assert found == {"result": [], "providers": ["local"]}


def test_building_a_local_manager_with_a_fallback_imports_only_what_it_names(tmp_path):
    found = _run_isolated(f"""
        import json, sys
        sys.path.insert(0, sys.argv[1])
        from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory, options
        raw = {{"provider": "local", "local_path": sys.argv[2], "fallback": ["env"], "audit_log": "false"}}
        steps = options.fallback_steps(raw)
        manager = factory.build_manager(raw)
        prefix = {PROVIDER_MODULE!r}
        print(json.dumps({{"steps": [step[0] for step in steps], "backend": manager.backend.name,
                          "providers": sorted(m[len(prefix):] for m in sys.modules if m.startswith(prefix))}}))
    """, tmp_path)
    assert found == {"steps": ["env"], "backend": "local", "providers": ["env", "local"]}, "the AWS provider is not imported"


def test_the_option_table_is_the_providers_own_declarations():
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import option_table

    declared = [(item.name, option.name, option.spec, option.env) for item in registry.specs() for option in item.options]
    assert [(p, n, s, tuple(e)) for p, n, s, e in option_table.OPTIONS] == declared, \
        "run python hacking/render_option_table.py"
    assert option_table.ALIASES == {alias: item.name for item in registry.specs() for alias in item.aliases}


def test_a_module_argument_spec_and_a_local_manager_import_only_the_local_provider(tmp_path):
    found = _run_isolated(f"""
        import json, sys
        sys.path.insert(0, sys.argv[1])
        from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory, options
        spec = options.provider_argument_spec()
        raw = {{name: None for name in spec}}
        raw.update(provider="local", local_path=sys.argv[2], audit_log="false")
        manager = factory.build_manager(factory.resolve(raw))
        prefix = {PROVIDER_MODULE!r}
        print(json.dumps({{"no_log": sorted(n for n, s in spec.items() if s.get("no_log")),
                          "providers": sorted(m[len(prefix):] for m in sys.modules if m.startswith(prefix))}}))
    """, tmp_path)
    assert found["providers"] == ["local"]
    assert "vault_token" in found["no_log"] and "aws_secret_access_key" in found["no_log"]


def test_no_plugin_file_outside_the_providers_names_a_provider_option_or_sdk():
    option = re.compile(r"\b(" + "|".join(map(re.escape, _provider_option_names())) + r")\b")
    offenders = {}
    for relative, path in _plugin_files():
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        hits = sorted(set(option.findall(text))) + [match.group(2) for match in SDK_IMPORT.finditer(text)]
        if hits and relative not in ALLOWED:
            offenders[relative] = hits
    assert not offenders, f"provider details outside providers/ (declare them in the provider's SPEC): {offenders}"
    for relative in ALLOWED:
        assert os.path.exists(os.path.join(PLUGINS, relative)), f"stale exception: {relative}"
