"""Pure logic of the kubernetes provider: metadata encoding, version choice, error mapping, and the
exact bodies it sends (with the transport stubbed), so the wire contract is pinned without a server."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import kubernetes as k8s

CANARY = "unit-canary-value"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class StubbedBackend(k8s.KubernetesBackend):
    """Answers from a dict instead of a cluster and records what would have been sent."""

    def __init__(self, stored=None, answers=None):
        super().__init__("team", "app-secrets", kubeconfig="/nonexistent", in_cluster=False)
        self.stored = stored
        self.sent = []
        self.answers = list(answers or [])

    def _send(self, op, body):
        self.sent.append((op, body))
        if self.answers:
            status, answer = self.answers.pop(0)
            return status, json.dumps(answer).encode()
        if op == "read":
            if self.stored is None:
                return 404, json.dumps({"kind": "Status", "reason": "NotFound", "details": {"kind": "secrets"}}).encode()
            return 200, json.dumps(self.stored).encode()
        return (201 if op == "create" else 200), b"{}"


def _secret(data, entries=None, rv="7"):
    annotations = {k8s.METADATA_ANNOTATION: k8s.encode_metadata(entries)} if entries else {}
    return {"metadata": {"name": "app-secrets", "resourceVersion": rv, "annotations": annotations}, "data": data}


def test_entry_round_trips_and_tolerates_junk():
    entry = k8s.Entry(3, "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z", "db", {"team": "core"}, 2, "2025-01-15T00:00:00Z")
    assert k8s.Entry.from_dict(entry.to_dict()) == entry
    assert k8s.Entry.from_dict({"version": "x", "previous_version": "y", "tags": "no"}) == k8s.Entry()
    assert k8s.Entry.from_dict("not a dict") == k8s.Entry()


def test_metadata_annotation_is_sorted_compact_json_and_broken_text_reads_empty():
    text = k8s.encode_metadata({"b": k8s.Entry(), "a": k8s.Entry(version=2)})
    assert text.index('"a"') < text.index('"b"') and " " not in text
    assert k8s.decode_metadata({k8s.METADATA_ANNOTATION: text})["a"].version == 2
    assert k8s.encode_metadata({}) is None
    assert k8s.decode_metadata({k8s.METADATA_ANNOTATION: "{broken"}) == {}
    assert k8s.decode_metadata(None) == {}


def test_companion_keys():
    assert k8s.previous_key("jwt") == "jwt.previous"
    assert k8s.is_companion("jwt.previous") and not k8s.is_companion("jwt.prev")


def test_first_write_creates_the_secret_with_label_and_metadata():
    backend = StubbedBackend(stored=None)
    meta = backend.set("db-password", CANARY, description="db", tags={"a": "1"})
    assert meta.version == "1"
    op, body = backend.sent[-1]
    assert op == "create"
    assert body["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "vibebox.secrets"}
    assert body["metadata"]["namespace"] == "team" and body["metadata"]["name"] == "app-secrets"
    assert body["data"] == {"db-password": _b64(CANARY)}
    entry = json.loads(body["metadata"]["annotations"][k8s.METADATA_ANNOTATION])["db-password"]
    assert entry["version"] == 1 and entry["description"] == "db" and entry["tags"] == {"a": "1"}
    assert CANARY not in json.dumps(body["metadata"])


def test_a_new_value_is_a_merge_patch_guarded_by_resource_version_keeping_the_previous():
    stored = _secret({"jwt": _b64("old"), "other": _b64("x")},
                     {"jwt": k8s.Entry(version=4, description="d"), "other": k8s.Entry()})
    backend = StubbedBackend(stored=stored)
    meta = backend.set("jwt", CANARY)
    assert meta.version == "5"
    op, body = backend.sent[-1]
    assert op == "patch"
    assert body["metadata"]["resourceVersion"] == "7"
    assert body["data"] == {"jwt": _b64(CANARY), "jwt.previous": _b64("old")}  # "other" is not touched
    entries = json.loads(body["metadata"]["annotations"][k8s.METADATA_ANNOTATION])
    assert entries["jwt"]["version"] == 5 and entries["jwt"]["previous_version"] == 4
    assert entries["jwt"]["description"] == "d" and "other" in entries


def test_a_conflict_is_retried_from_a_fresh_read():
    stored = _secret({"a": _b64("1")})
    conflict = {"kind": "Status", "reason": "Conflict", "code": 409}
    backend = StubbedBackend(stored=stored, answers=[(200, stored), (409, conflict)])
    backend.set("b", CANARY)
    assert [op for op, _body in backend.sent] == ["read", "patch", "read", "patch"]


def test_delete_removes_key_companion_and_metadata_entry_but_not_the_secret():
    stored = _secret({"a": _b64("1"), "a.previous": _b64("0"), "b": _b64("2")},
                     {"a": k8s.Entry(version=2, previous_version=1), "b": k8s.Entry()})
    backend = StubbedBackend(stored=stored)
    backend.delete("a")
    op, body = backend.sent[-1]
    assert op == "patch" and body["data"] == {"a": None, "a.previous": None}
    assert set(json.loads(body["metadata"]["annotations"][k8s.METADATA_ANNOTATION])) == {"b"}
    only = StubbedBackend(stored=_secret({"a": _b64("1")}, {"a": k8s.Entry()}))
    only.delete("a")
    assert only.sent[-1][1]["metadata"]["annotations"] == {k8s.METADATA_ANNOTATION: None}
    assert all(op != "delete" for op, _body in only.sent)


def test_versions_current_previous_and_numbers():
    stored = _secret({"a": _b64("new"), "a.previous": _b64("old")}, {"a": k8s.Entry(version=9, previous_version=8)})
    backend = StubbedBackend(stored=stored)
    assert backend.get("a").value == "new"
    assert backend.get("a", "9").value == "new"
    assert backend.get("a", "previous").value == "old"
    assert backend.get("a", "8").value == "old"
    with pytest.raises(errors.VersionNotFound) as caught:
        backend.get("a", "7")
    assert "current (9) and previous (8)" in str(caught.value)
    single = StubbedBackend(stored=_secret({"a": _b64("v")}))
    with pytest.raises(errors.VersionNotFound):
        single.get("a", "previous")
    assert single.list() == ["a"]
    assert backend.list() == ["a"] and backend.list("x") == []


def test_binary_values_written_elsewhere_are_a_clear_error():
    backend = StubbedBackend(stored=_secret({"bin": base64.b64encode(b"\xff\xfe").decode()}))
    with pytest.raises(errors.InvalidSecretValue):
        backend.get("bin")


@pytest.mark.parametrize(
    "status,body,kind,words",
    [
        (401, {"reason": "Unauthorized"}, errors.SecretDenied, ["401"]),
        (403, {"message": 'secrets "s" is forbidden: User "u" cannot patch resource "secrets"'}, errors.SecretDenied,
         ["patch", "secrets", "'team'", "RoleBinding"]),
        (404, {"details": {"kind": "namespaces", "name": "team"}}, errors.SecretNotFound,
         ["namespace 'team' does not exist", "kubectl create namespace team"]),
        (404, {"details": {"kind": "secrets"}}, errors.SecretNotFound, ["app-secrets"]),
        (409, {"reason": "Conflict"}, errors.SecretConflict, ["another writer"]),
        (429, {}, errors.ProviderThrottled, ["429"]),
        (503, {"reason": "ServiceUnavailable"}, errors.ProviderUnavailable, ["503"]),
    ],
)
def test_api_errors_map_to_core_errors(status, body, kind, words):
    error = StubbedBackend().translate(status, body, "patch", "key")
    assert isinstance(error, kind)
    for word in words:
        assert word in str(error)


def test_a_422_never_repeats_the_servers_message_which_may_echo_values():
    body = {"reason": "Invalid", "message": f'patch: Invalid value: "{CANARY}"',
            "details": {"causes": [{"field": "patch", "message": CANARY}]}}
    error = StubbedBackend().translate(422, body, "patch", "key")
    assert isinstance(error, errors.InvalidSecretValue)
    assert CANARY not in str(error) and "patch" in str(error)


def test_retry_is_only_for_server_side_trouble():
    backend = StubbedBackend()
    assert backend.translate(503, {}, "get", None).retryable
    assert not backend.translate(400, {}, "get", None).retryable


def test_invalid_location_is_rejected_at_construction():
    with pytest.raises(errors.InvalidOption):
        k8s.KubernetesBackend("Bad_NS", "ok", kubeconfig="/x")
    with pytest.raises(errors.InvalidOption):
        k8s.KubernetesBackend("ok", "-bad-", kubeconfig="/x")


def test_in_cluster_only_without_explicit_kubeconfig(monkeypatch):
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert k8s.KubernetesBackend().in_cluster
    assert not k8s.KubernetesBackend(kubeconfig="/some/config").in_cluster
    assert not k8s.KubernetesBackend(context="dev").in_cluster
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    assert not k8s.KubernetesBackend().in_cluster


def test_a_missing_sdk_names_the_pip_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "kubernetes", None)
    backend = k8s.KubernetesBackend(kubeconfig="/x")
    with pytest.raises(errors.ProviderNotInstalled) as caught:
        backend.get("a")
    assert "pip install kubernetes" in str(caught.value)


def test_importing_the_provider_does_not_import_the_sdk():
    marker = os.sep + "ansible_collections" + os.sep
    collections_dir = k8s.__file__.split(marker, maxsplit=1)[0]
    code = (
        "import sys\n"
        "from ansible_collections.vibebox.secrets.plugins.module_utils.providers import kubernetes\n"
        "print('kubernetes' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=collections_dir)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
