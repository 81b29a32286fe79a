"""What only the kubernetes provider promises, beyond the contract suite.

Concurrency (no lost update between writers of one Secret), the storage layout users and pods see
(label, companion key, metadata annotation, Secret kept when empty), and the errors an operator
meets: RBAC denial, missing namespace, unreachable cluster. A few tests pin the fake's own wire
behaviour, since the provider's error handling is only as good as the fake's error shapes.
"""
from __future__ import annotations

import base64
import json
import os
import threading
import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import kubernetes as k8s_provider

CANARY = "k8s-canary-" + uuid.uuid4().hex
REAL = os.environ.get("VIBEBOX_TEST_KUBERNETES_REAL") == "1"
needs_fake = pytest.mark.skipif(REAL, reason="uses the fake's token table or internals")


def _stored(core, backend) -> dict:
    """The Secret as the API returns it (raw JSON, so the test does not depend on client models)."""
    response = core.read_namespaced_secret(backend.secret_name, backend.namespace, _preload_content=False)
    return json.loads(response.data)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_concurrent_writers_of_different_keys_lose_nothing(kubernetes_manager):
    """8 writers (as 8 Ansible forks would) race on one Secret; every key and every version survives."""
    writers = [kubernetes_manager() for _index in range(8)]
    rounds = 3
    barrier = threading.Barrier(len(writers))
    failures = []

    def write(index: int, manager) -> None:
        try:
            barrier.wait(timeout=10)
            for step in range(rounds):
                manager.set(f"key-{index}", f"{CANARY}-{index}-{step}")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(i, m)) for i, m in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    reader = kubernetes_manager()
    assert reader.list() == sorted(f"key-{i}" for i in range(len(writers)))
    for index in range(len(writers)):
        secret = reader.get(f"key-{index}", bypass_cache=True)
        assert secret.value == f"{CANARY}-{index}-{rounds - 1}"
        assert secret.metadata.version == str(rounds)
        assert reader.get(f"key-{index}", version="previous", bypass_cache=True).value == f"{CANARY}-{index}-{rounds - 2}"


def test_a_stale_write_is_retried_and_gives_up_with_secret_conflict(kubernetes_manager, monkeypatch):
    manager = kubernetes_manager()
    manager.set("first", CANARY)
    backend = k8s_provider.KubernetesBackend(
        manager.backend.namespace, manager.backend.secret_name, manager.backend.kubeconfig,
        manager.backend.context, write_attempts=3,
    )
    stale = backend._read()
    kubernetes_manager().set("second", CANARY)  # moves the resourceVersion on
    reads = []
    monkeypatch.setattr(backend, "_read", lambda key=None: reads.append(key) or stale)
    with pytest.raises(errors.SecretConflict) as caught:
        backend.set("third", CANARY + "-3")
    assert len(reads) == 3 and "3 attempts" in str(caught.value)
    assert CANARY not in str(caught.value)
    assert set(manager.list()) == {"first", "second"}  # the stale write changed nothing


def test_the_secret_is_created_with_the_managed_by_label(kubernetes_manager, k8s_raw):
    manager = kubernetes_manager()
    manager.set("labelled", CANARY)
    stored = _stored(k8s_raw(), manager.backend)
    assert stored["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "vibebox.secrets"
    assert stored["type"] == "Opaque"


def test_deleting_the_last_key_keeps_the_secret(kubernetes_manager, k8s_raw):
    manager = kubernetes_manager()
    manager.set("only", CANARY)
    manager.set("only", CANARY + "-2")
    manager.delete("only")
    stored = _stored(k8s_raw(), manager.backend)  # still there: no 404
    assert not stored.get("data")
    assert k8s_provider.METADATA_ANNOTATION not in (stored["metadata"].get("annotations") or {})
    assert manager.list() == []
    with pytest.raises(errors.SecretNotFound):
        manager.get("only", bypass_cache=True)


def test_previous_copy_is_a_hidden_companion_key_and_metadata_holds_no_value(kubernetes_manager, k8s_raw):
    manager = kubernetes_manager()
    manager.set("jwt-secret", CANARY + "-old", description="signing key", tags={"team": "auth"})
    manager.set("jwt-secret", CANARY + "-new")
    stored = _stored(k8s_raw(), manager.backend)
    assert stored["data"]["jwt-secret"] == _b64(CANARY + "-new")
    assert stored["data"]["jwt-secret.previous"] == _b64(CANARY + "-old")
    annotation = stored["metadata"]["annotations"][k8s_provider.METADATA_ANNOTATION]
    entry = json.loads(annotation)["jwt-secret"]
    assert entry["version"] == 2 and entry["previous_version"] == 1
    assert entry["description"] == "signing key" and entry["tags"] == {"team": "auth"}
    assert CANARY not in json.dumps(stored["metadata"])
    assert manager.list() == ["jwt-secret"]
    assert [v.version for v in manager.versions("jwt-secret")] == ["2", "1"]
    assert manager.get("jwt-secret", version="1", bypass_cache=True).value == CANARY + "-old"

    manager.delete_version("jwt-secret", "previous")  # end of the grace period
    stored = _stored(k8s_raw(), manager.backend)
    assert "jwt-secret.previous" not in stored["data"]
    with pytest.raises(errors.VersionNotFound):
        manager.get("jwt-secret", version="previous", bypass_cache=True)
    with pytest.raises(errors.UnsupportedOperation):
        manager.delete_version("jwt-secret", "current")


def test_the_previous_suffix_is_reserved(kubernetes_manager):
    manager = kubernetes_manager()
    with pytest.raises(errors.InvalidSecretName) as caught:
        manager.set("token.previous", CANARY)
    assert "reserved" in str(caught.value)
    with pytest.raises(errors.InvalidSecretName):
        manager.set("n" * 250, CANARY)  # its companion would exceed 253 characters


def test_get_many_reads_the_secret_once(kubernetes_manager, k8s_fake):
    manager = kubernetes_manager()
    for name in ("a", "b", "c"):
        manager.set(name, CANARY + name)
    before = len(k8s_fake.requests) if k8s_fake else 0
    found = manager.get_many(["a", "b", "c", "missing"], bypass_cache=True)
    assert [found[n].value for n in "abc"] == [CANARY + n for n in "abc"]
    assert isinstance(found["missing"], errors.SecretNotFound)
    if k8s_fake:
        assert len(k8s_fake.requests) - before == 1


def test_a_key_written_by_another_tool_reads_as_version_one(kubernetes_manager, k8s_raw):
    manager = kubernetes_manager()
    manager.set("ours", CANARY)
    core = k8s_raw()
    core.patch_namespaced_secret(
        manager.backend.secret_name, manager.backend.namespace, {"stringData": {"theirs": CANARY + "-t"}},
        _content_type="application/merge-patch+json", _preload_content=False,
    )
    assert manager.get("theirs", bypass_cache=True).value == CANARY + "-t"
    assert manager.describe("theirs").version == "1"
    manager.set("theirs", CANARY + "-2")
    assert manager.get("theirs", version="previous", bypass_cache=True).value == CANARY + "-t"


@needs_fake
def test_rbac_denial_names_the_verb_resource_and_namespace(kubernetes_manager, k8s_fake, tmp_path):
    owner = kubernetes_manager()
    owner.set("guarded", CANARY)
    k8s_fake.add_token("reader-" + uuid.uuid4().hex, user="reader", verbs=("get",), resources=("secrets",),
                       namespaces=("default",))
    reader_token = list(k8s_fake.tokens)[-1]
    kubeconfig = k8s_fake.write_kubeconfig(str(tmp_path / "kubeconfig"), contexts={"reader": reader_token})
    reader = kubernetes_manager(kubeconfig=kubeconfig, k8s_context="reader")
    assert reader.get("guarded").value == CANARY
    with pytest.raises(errors.SecretDenied) as caught:
        reader.set("guarded", CANARY + "-2")
    text = str(caught.value)
    assert "patch" in text and "secrets" in text and "'default'" in text and "403" in text
    assert "Role" in text  # says what to do next
    assert CANARY not in text
    elsewhere = kubernetes_manager(kubeconfig=kubeconfig, k8s_context="reader", k8s_namespace="kube-system")
    with pytest.raises(errors.SecretDenied) as caught:
        elsewhere.get("guarded")
    assert "get" in str(caught.value) and "'kube-system'" in str(caught.value)


@needs_fake
def test_an_unknown_token_is_denied_with_401(kubernetes_manager, k8s_fake, tmp_path):
    kubeconfig = k8s_fake.write_kubeconfig(str(tmp_path / "kubeconfig"), contexts={"stranger": "not-a-token"})
    manager = kubernetes_manager(kubeconfig=kubeconfig, k8s_context="stranger")
    with pytest.raises(errors.SecretDenied) as caught:
        manager.get("anything")
    assert "401" in str(caught.value)


def test_a_missing_namespace_is_named_clearly(kubernetes_manager):
    manager = kubernetes_manager(k8s_namespace="no-such-ns-" + uuid.uuid4().hex[:8])
    with pytest.raises(errors.SecretNotFound) as caught:
        manager.set("anything", CANARY)
    text = str(caught.value)
    assert f"namespace '{manager.backend.namespace}' does not exist" in text and "kubectl create namespace" in text
    with pytest.raises(errors.SecretNotFound):
        manager.get("anything")
    assert manager.list() == []


@needs_fake
def test_a_new_namespace_works_once_created(kubernetes_manager, k8s_fake):
    namespace = "team-" + uuid.uuid4().hex[:8]
    k8s_fake.create_namespace(namespace)
    manager = kubernetes_manager(k8s_namespace=namespace)
    manager.set("scoped", CANARY)
    assert kubernetes_manager(k8s_namespace=namespace).get("scoped").value == CANARY
    with pytest.raises(errors.SecretNotFound):
        kubernetes_manager().get("scoped", bypass_cache=True)


@needs_fake
def test_an_unreachable_cluster_is_provider_unavailable(k8s_fake, tmp_path):
    path = k8s_fake.write_kubeconfig(str(tmp_path / "kubeconfig"))
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"  # discard port: nothing listens
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    backend = k8s_provider.KubernetesBackend(kubeconfig=path)
    backend.request_timeout = (2.0, 2.0)
    with pytest.raises(errors.ProviderUnavailable) as caught:
        backend.get("anything")
    assert caught.value.retryable and "cannot reach" in str(caught.value)


def test_a_missing_kubeconfig_says_how_to_configure(tmp_path):
    manager = factory.build_manager(
        {"provider": "kubernetes", "kubeconfig": str(tmp_path / "nope"), "audit_log": "false"}, env={}
    )
    with pytest.raises(errors.ProviderUnavailable) as caught:
        manager.get("anything")
    assert not caught.value.retryable and "kubeconfig" in str(caught.value)


def test_invalid_namespace_or_secret_name_fails_before_any_call():
    with pytest.raises(errors.InvalidOption):
        factory.build_manager({"provider": "kubernetes", "k8s_namespace": "Not_Valid", "audit_log": "false"}, env={})
    with pytest.raises(errors.InvalidOption):
        factory.build_manager({"provider": "kubernetes", "k8s_secret_name": "UPPER", "audit_log": "false"}, env={})


# -- the fake's wire behaviour ---------------------------------------------------------------------


@needs_fake
class TestFakeApiServer:
    """Shapes the provider relies on; each mirrors the real API server."""

    def test_status_objects_for_401_404_409(self, k8s_fake, k8s_raw):
        from kubernetes import client

        core = k8s_raw()
        name = "fake-" + uuid.uuid4().hex[:8]
        with pytest.raises(client.ApiException) as caught:
            core.read_namespaced_secret(name, "default", _preload_content=False)
        status = json.loads(caught.value.body)
        assert (caught.value.status, status["kind"], status["reason"]) == (404, "Status", "NotFound")
        assert status["details"] == {"name": name, "kind": "secrets"}
        created = json.loads(core.create_namespaced_secret(
            "default", {"metadata": {"name": name}, "stringData": {"a": "b"}}, _preload_content=False).data)
        assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
        assert created["data"] == {"a": _b64("b")} and "stringData" not in created
        with pytest.raises(client.ApiException) as caught:
            core.create_namespaced_secret("default", {"metadata": {"name": name}}, _preload_content=False)
        assert json.loads(caught.value.body)["reason"] == "AlreadyExists"
        core.patch_namespaced_secret(name, "default", {"data": {"c": _b64("d")}},
                                     _content_type="application/merge-patch+json", _preload_content=False)
        with pytest.raises(client.ApiException) as caught:
            core.patch_namespaced_secret(
                name, "default", {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"e": ""}},
                _content_type="application/merge-patch+json", _preload_content=False)
        assert caught.value.status == 409 and json.loads(caught.value.body)["reason"] == "Conflict"
        with pytest.raises(Exception) as caught:  # handle() raises the fake's ApiError, served as a Status
            k8s_fake.handle("GET", "/api/v1/namespaces/default/secrets", {}, b"")
        assert caught.value.code == 401 and caught.value.status()["reason"] == "Unauthorized"

    def test_bad_base64_is_400_on_create_and_422_on_patch(self, k8s_raw):
        from kubernetes import client

        core = k8s_raw()
        name = "fake-" + uuid.uuid4().hex[:8]
        with pytest.raises(client.ApiException) as caught:
            core.create_namespaced_secret("default", {"metadata": {"name": name}, "data": {"k": "not base64!"}},
                                          _preload_content=False)
        assert caught.value.status == 400 and "cannot be handled as a Secret" in json.loads(caught.value.body)["message"]
        core.create_namespaced_secret("default", {"metadata": {"name": name}}, _preload_content=False)
        with pytest.raises(client.ApiException) as caught:
            core.patch_namespaced_secret(name, "default", {"data": {"k": "not base64!"}},
                                         _content_type="application/merge-patch+json", _preload_content=False)
        assert caught.value.status == 422 and json.loads(caught.value.body)["reason"] == "Invalid"
        with pytest.raises(client.ApiException) as caught:
            core.patch_namespaced_secret(name, "default", {"data": {"bad key": _b64("x")}},
                                         _content_type="application/merge-patch+json", _preload_content=False)
        assert caught.value.status == 422
        assert json.loads(caught.value.body)["details"]["causes"][0]["field"] == "data[bad key]"

    def test_label_selectors(self, k8s_raw):
        core = k8s_raw()
        tag = uuid.uuid4().hex[:8]
        for name, labels in (("s1", {"tier": "db", "run": tag}), ("s2", {"tier": "web", "run": tag}),
                             ("s3", {"run": tag})):
            core.create_namespaced_secret("default", {"metadata": {"name": f"{name}-{tag}", "labels": labels}},
                                          _preload_content=False)

        def names(selector: str):
            found = json.loads(core.list_namespaced_secret("default", label_selector=selector, _preload_content=False).data)
            return sorted(item["metadata"]["name"].split("-")[0] for item in found["items"])

        assert names(f"run={tag},tier=db") == ["s1"]
        assert names(f"run=={tag},tier!=db") == ["s2", "s3"]
        assert names(f"run={tag},tier in (db,web)") == ["s1", "s2"]
        assert names(f"run={tag},tier notin (db)") == ["s2", "s3"]
        assert names(f"run={tag},!tier") == ["s3"]
        assert names(f"run={tag},tier") == ["s1", "s2"]

    def test_discovery_and_version(self, k8s_fake, k8s_raw):
        from kubernetes import client

        core = k8s_raw()
        version = client.VersionApi(core.api_client).get_code(_preload_content=False)
        assert json.loads(version.data)["major"] == "1"
        code, body = k8s_fake.handle("GET", "/api/v1", {"Authorization": f"Bearer {k8s_fake.admin_token}"}, b"")
        assert code == 200 and {r["name"] for r in body["resources"]} == {"namespaces", "secrets"}
