"""The external_secrets role, run for real with ansible-playbook, checked against the operator's CRDs.

Every rendered manifest is validated against the ``openAPIV3Schema`` of the served ``v1`` version of
the External Secrets Operator's own CRDs (vendored in tests/schemas/external-secrets, with their
source and licence in the README there), made stricter than the API server on one point: unknown
fields are errors here (the server would silently prune them, which is how a typo ships).
``x-kubernetes-validations`` (CEL) rules are not evaluated; the few in these CRDs do not touch the
fields the role writes. Then the values that matter are checked: store kind, provider block, remote
keys with the right prefix, templates.

One play renders every provider at once (one inventory host per variant, in parallel), because each
ansible-playbook run and each module call cost seconds on a small machine; a second run must change nothing; a check-mode run must write
and delete nothing.
"""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from typing import Any, Dict, List

import jsonschema  # comes with ansible-lint (requirements-test.txt)
import pytest
import yaml


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMAS = os.path.join(ROOT, "tests", "schemas", "external-secrets")
CRD_FILES = {
    "SecretStore": "external-secrets.io_secretstores.yaml",
    "ClusterSecretStore": "external-secrets.io_clustersecretstores.yaml",
    "ExternalSecret": "external-secrets.io_externalsecrets.yaml",
}
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

# one inventory host per variant: provider settings given in each of the three ways the role reads them
VARIANTS: Dict[str, Dict[str, Any]] = {
    "aws": {  # the dict the rotate role also takes, IRSA, a previous version by stage
        "external_secrets_provider_options": {"provider": "aws", "aws_region": "eu-west-1"},
        "external_secrets_aws_role": "arn:aws:iam::123456789012:role/eso",
        "external_secrets_groups": ["database", "jwt", "oauth", "app", "grace"],
        "external_secrets_secrets": {
            "database": {"target": "vibebox-database", "data": {"DATABASE_PASSWORD": "database-password"},
                         "template": {"DATABASE_URL": "postgresql://app:${secret:database-password|urlquery}@db:5432/app"}},
            "jwt": {"target": "vibebox-jwt", "data": {"JWT_SECRET": "jwt-secret", "JWT_REFRESH_SECRET": "jwt-refresh-secret"}},
            "oauth": {"target": "vibebox-oauth", "data": {"GITHUB_CLIENT_SECRET": "github-client-secret"}},
            "app": {"target": "vibebox-app", "data": {"ENCRYPTION_KEY": "encryption-key"}, "refresh_interval": "15m"},
            "grace": {"target": "vibebox-jwt-grace", "data": {"JWT_SECRET_PREVIOUS": "jwt-secret@previous"}},
        },
    },
    "gcp": {  # bare option names, as the playbooks pass extra vars; cluster-wide store, key file auth
        "provider": "gcp",
        "gcp_project": "vibebox-prod",
        "prefix": "prod-",
        "k8s_namespace": "apps",
        "external_secrets_store_kind": "ClusterSecretStore",
        "external_secrets_gcp_auth": "secret_ref",
        "external_secrets_credentials_namespace": "external-secrets",
    },
    "azure": {  # role variables, service principal
        "external_secrets_provider": "azure",
        "external_secrets_azure_vault_url": "https://vibebox.vault.azure.net",
        "external_secrets_azure_tenant_id": "00000000-0000-0000-0000-000000000001",
        "external_secrets_azure_auth": "service_principal",
        "external_secrets_refresh_interval": "30m",
    },
    "vault": {  # default provider, KV v1 on another mount, AppRole, a JSON property
        "vault_addr": "https://vault.example:8200",
        "vault_mount": "kv",
        "vault_kv_version": 1,
        "vault_namespace": "team-a",
        "vault_role_id": "role-id-not-secret",
        "external_secrets_vault_auth": "approle",
        "external_secrets_vault_auth_mount": "approle",
        "external_secrets_groups": ["database", "jwt", "oauth", "app"],
    },
    "vault_k8s": {  # the plain defaults: vault with Kubernetes auth, cluster store
        "provider": "vault",
        "vault_addr": "http://vault.vault.svc:8200",
        "external_secrets_store_kind": "ClusterSecretStore",
    },
    "broken": {"provider": "aws"},  # no region: must fail early with a clear message
}
PREFIX = {"aws": "vibebox/", "gcp": "prod-", "azure": "vibebox-", "vault": "vibebox/", "vault_k8s": "vibebox/"}
PROVIDER_BLOCK = {"aws": "aws", "gcp": "gcpsm", "azure": "azurekv", "vault": "vault", "vault_k8s": "vault"}


def _strict(node: Any) -> Any:
    """Unknown fields become errors wherever the CRD lists the known ones."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _strict(value) for key, value in node.items()}
    if (
        node.get("type") == "object"
        and isinstance(node.get("properties"), dict)
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    return node


@pytest.fixture(scope="module")
def validators() -> Dict[str, Any]:
    assert os.path.isdir(SCHEMAS), f"the operator's CRDs are expected at {SCHEMAS}"
    found = {}
    for kind, filename in CRD_FILES.items():
        with open(os.path.join(SCHEMAS, filename), encoding="utf-8") as handle:
            crd = yaml.safe_load(handle)
        assert crd["spec"]["names"]["kind"] == kind
        served = [v for v in crd["spec"]["versions"] if v["name"] == "v1" and v["served"]]
        assert served, f"{filename} serves no v1"
        schema = _strict(copy.deepcopy(served[0]["schema"]["openAPIV3Schema"]))
        found[kind] = (crd["spec"]["group"], crd["spec"]["scope"], jsonschema.Draft7Validator(schema))
    return found


def _ansible(args: List[str], cwd: str) -> subprocess.Popen:
    """Start ansible-playbook; runs that touch different folders go side by side to save wall time."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_PIPELINING="1",
        ANSIBLE_LOCAL_TEMP=os.path.join(cwd, ".ansible-tmp"),
        ANSIBLE_HOST_KEY_CHECKING="0",
    )
    assert env.get("ANSIBLE_COLLECTIONS_PATH"), "tests/conftest.py exports the collection path"
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return subprocess.Popen([playbook, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    try:
        stdout, stderr = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _recap(output: str) -> Dict[str, Dict[str, int]]:
    found = {}
    for host, stats in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        found[host] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", stats)}
    return found


def _inventory(path: str, hosts: Dict[str, Dict[str, Any]]) -> str:
    data = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                    "hosts": hosts}}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Dict[str, Any]:
    """Run the role for every variant (twice, then in check mode); hand back outputs and folders."""
    work = str(tmp_path_factory.mktemp("external-secrets"))
    playbook = os.path.join(work, "render.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        handle.write(
            "- name: Render External Secrets manifests\n"
            "  hosts: all\n"
            "  gather_facts: false\n"
            "  roles:\n"
            "    - vibebox.secrets.external_secrets\n"
        )
    hosts = {name: {**variables, "external_secrets_output_dir": os.path.join(work, "out", name)}
             for name, variables in VARIANTS.items()}
    inventory = _inventory(os.path.join(work, "inventory.yml"), hosts)
    first = _finish(_ansible(["-i", inventory, "-f", "6", playbook], work))
    # then, side by side (neither writes what the other reads): the second run, and a check-mode run
    # of aws into a folder that does not exist and of vault over gcp's folder (both files would change)
    check_hosts = {
        "aws": {**hosts["aws"], "external_secrets_output_dir": os.path.join(work, "never-created")},
        "vault": {**hosts["vault"], "external_secrets_output_dir": hosts["gcp"]["external_secrets_output_dir"]},
    }
    before = _snapshot(hosts["gcp"]["external_secrets_output_dir"])
    second_run = _ansible(["-i", inventory, "-f", "6", "--limit", "!broken", playbook], work)
    check_run = _ansible(["-i", _inventory(os.path.join(work, "check.yml"), check_hosts), "--check", playbook], work)
    second, check = _finish(second_run), _finish(check_run)
    return {"work": work, "hosts": hosts, "first": first, "second": second, "check": check,
            "gcp_before_check": before}


def _snapshot(folder: str) -> Dict[str, bytes]:
    if not os.path.isdir(folder):
        return {}
    found = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as handle:
            found[name] = handle.read()
    return found


def _documents(folder: str) -> Dict[str, List[Dict[str, Any]]]:
    found = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            found[name] = [doc for doc in yaml.safe_load_all(handle) if doc is not None]
    return found


def test_every_variant_renders_and_a_broken_one_fails_clearly(rendered):
    first = rendered["first"]
    recap = _recap(first.stdout)
    assert set(recap) == set(VARIANTS), first.stdout[-3000:] + first.stderr[-3000:]
    for host in VARIANTS:
        expected_failed = 1 if host == "broken" else 0
        assert recap[host]["failed"] == expected_failed, (host, first.stdout[-4000:])
    assert "aws_region" in first.stdout and "needs its location" in first.stdout
    assert not os.path.exists(rendered["hosts"]["broken"]["external_secrets_output_dir"])


def test_a_second_run_changes_nothing(rendered):
    second = rendered["second"]
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    recap = _recap(second.stdout)
    assert set(recap) == set(VARIANTS) - {"broken"}
    assert all(stats["changed"] == 0 for stats in recap.values()), second.stdout[-4000:]


def test_check_mode_writes_and_deletes_nothing(rendered):
    check = rendered["check"]
    assert check.returncode == 0, check.stdout[-4000:] + check.stderr[-2000:]
    recap = _recap(check.stdout)
    assert recap["aws"]["changed"] > 0 and recap["vault"]["changed"] > 0  # it reports what it would do
    assert not os.path.exists(os.path.join(rendered["work"], "never-created"))
    gcp_folder = rendered["hosts"]["gcp"]["external_secrets_output_dir"]
    assert _snapshot(gcp_folder) == rendered["gcp_before_check"]
    assert recap["vault"]["changed"] >= 2  # both of gcp's files would be rewritten for vault


@pytest.mark.parametrize("variant", [name for name in VARIANTS if name != "broken"])
def test_every_manifest_matches_the_operator_crd(rendered, validators, variant):
    folder = rendered["hosts"][variant]["external_secrets_output_dir"]
    documents = _documents(folder)
    assert documents, f"nothing rendered in {folder}"
    for filename, docs in documents.items():
        for doc in docs:
            group, scope, validator = validators[doc["kind"]]
            assert doc["apiVersion"] == f"{group}/v1", filename
            errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
            assert not errors, f"{filename}: " + "; ".join(
                f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
            )
            meta = doc["metadata"]
            assert DNS_SUBDOMAIN.fullmatch(meta["name"]) and len(meta["name"]) <= 253
            if scope == "Namespaced":
                assert DNS_LABEL.fullmatch(meta["namespace"]), filename
            else:
                assert "namespace" not in meta, filename
            assert all(isinstance(v, str) for v in meta.get("labels", {}).values())


@pytest.mark.parametrize("variant", [name for name in VARIANTS if name != "broken"])
def test_the_values_that_matter(rendered, variant):
    settings = VARIANTS[variant]
    folder = rendered["hosts"][variant]["external_secrets_output_dir"]
    documents = _documents(folder)
    kind = settings.get("external_secrets_store_kind", "SecretStore")
    provider = PROVIDER_BLOCK[variant]
    assert sorted(documents) == ["external-secrets.yaml", "secret-store.yaml"]
    (store,) = documents["secret-store.yaml"]
    assert store["kind"] == kind
    assert list(store["spec"]["provider"]) == [provider]
    block = store["spec"]["provider"][provider]
    namespace = settings.get("k8s_namespace", "default")
    if kind == "SecretStore":
        assert store["metadata"]["namespace"] == namespace
    if variant == "aws":
        assert block["service"] == "SecretsManager" and block["region"] == "eu-west-1"
        assert block["role"] == settings["external_secrets_aws_role"]
        assert block["auth"]["jwt"]["serviceAccountRef"] == {"name": "vibebox-external-secrets"}
    elif variant == "gcp":
        assert block["projectID"] == "vibebox-prod"
        ref = block["auth"]["secretRef"]["secretAccessKeySecretRef"]
        assert ref == {"name": "vibebox-external-secrets-credentials", "key": "service-account.json",
                       "namespace": "external-secrets"}
    elif variant == "azure":
        assert block["vaultUrl"] == "https://vibebox.vault.azure.net"
        assert block["authType"] == "ServicePrincipal" and block["tenantId"].endswith("0001")
        assert block["authSecretRef"]["clientSecret"]["key"] == "client-secret"
        assert "namespace" not in block["authSecretRef"]["clientSecret"]
    elif variant == "vault":
        assert (block["server"], block["path"], block["version"], block["namespace"]) == (
            "https://vault.example:8200", "kv", "v1", "team-a")
        assert block["auth"]["appRole"]["path"] == "approle"
        assert block["auth"]["appRole"]["roleId"] == "role-id-not-secret"
        assert block["auth"]["appRole"]["secretRef"]["key"] == "secret-id"
    elif variant == "vault_k8s":
        assert block["version"] == "v2" and block["path"] == "secret"
        assert block["auth"]["kubernetes"]["role"] == "vibebox-external-secrets"
        assert block["auth"]["kubernetes"]["serviceAccountRef"]["namespace"] == "default"

    externals = documents["external-secrets.yaml"]
    groups = settings.get("external_secrets_groups", ["database", "jwt", "oauth", "app"])
    assert [doc["metadata"]["labels"]["vibebox.secrets/group"] for doc in externals] == groups
    interval = settings.get("external_secrets_refresh_interval", "1h")
    for doc in externals:
        spec = doc["spec"]
        assert doc["metadata"]["namespace"] == namespace
        assert spec["secretStoreRef"] == {"kind": kind, "name": store["metadata"]["name"]}
        assert spec["target"]["name"] == doc["metadata"]["name"]
        group = doc["metadata"]["labels"]["vibebox.secrets/group"]
        assert spec["refreshInterval"] == ("15m" if variant == "aws" and group == "app" else interval)
        for item in spec["data"]:
            key = item["remoteRef"]["key"]
            assert key.startswith(PREFIX[variant]), (variant, key)
            assert re.fullmatch(r"[a-z0-9-]+", key[len(PREFIX[variant]):]), key
            if provider == "vault":
                assert item["remoteRef"]["property"] == "value"  # the collection stores {"value": ...}
            else:
                assert "property" not in item["remoteRef"]
    by_target = {doc["spec"]["target"]["name"]: doc["spec"] for doc in externals}
    database = by_target["vibebox-database"]
    assert database["data"] == [{"secretKey": "DATABASE_PASSWORD",
                                 "remoteRef": {"key": PREFIX[variant] + "database-password",
                                               **({"property": "value"} if provider == "vault" else {})}}]
    template = database["target"]["template"]
    assert template["engineVersion"] == "v2" and template["mergePolicy"] == "Merge"
    assert '{{ index . "DATABASE_PASSWORD" | urlquery }}' in template["data"]["DATABASE_URL"]
    assert "${secret:" not in json.dumps(template)
    assert {d["secretKey"]: d["remoteRef"]["key"] for d in by_target["vibebox-jwt"]["data"]} == {
        "JWT_SECRET": PREFIX[variant] + "jwt-secret", "JWT_REFRESH_SECRET": PREFIX[variant] + "jwt-refresh-secret"}
    if variant == "aws":
        (previous,) = by_target["vibebox-jwt-grace"]["data"]
        assert previous["remoteRef"] == {"key": "vibebox/jwt-secret", "version": "AWSPREVIOUS"}
