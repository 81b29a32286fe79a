"""AWS-specific behaviour, against the session's moto server (tests/integration/fixtures/aws.py).

What only Secrets Manager has: staging labels, ClientRequestToken idempotence, the 7-30 day recovery
window, BatchGetSecretValue, replicas, deprecated versions. The server's request log (moto_server.requests)
shows what the provider actually sent. Throttling and access-denied answers cannot be provoked on moto, so
those tests make the real boto3 client receive a real error answer from a botocore ``before-send`` hook.
"""
from __future__ import annotations

import base64
import json
import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core.retry import RetryPolicy
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import aws

CANARY = "canary-" + uuid.uuid4().hex


@pytest.fixture
def log(moto_server):
    """The moto server's request log, emptied; skips against the real service (it has none)."""
    if moto_server is None:
        pytest.skip("needs the test server's request log")
    moto_server.requests.clear()
    return moto_server.requests


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_kwargs):
        yield self._data


def _answer_with_error(backend, operation: str, code: str, times: int, status: int = 400,
                       message: str = "injected by the test") -> None:
    """The next ``times`` calls of ``operation`` get an AWS error answer instead of going to the server."""
    from botocore.awsrequest import AWSResponse

    left = [times]

    def handler(request, **_kwargs):
        if left[0] <= 0:
            return None
        left[0] -= 1
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}
        return AWSResponse(request.url, status, headers, _Body(body))

    backend._client.meta.events.register(f"before-send.secrets-manager.{operation}", handler)


# stages and versions ---------------------------------------------------------------------------------
def test_stages_current_and_previous(aws_manager):
    manager = aws_manager()
    first = manager.set("staged", CANARY + "-1")
    second = manager.set("staged", CANARY + "-2")
    listed = manager.versions("staged")
    assert [item.stages for item in listed[:2]] == [["current"], ["previous"]]
    assert [item.version for item in listed[:2]] == [second.version, first.version]
    assert manager.get("staged", version="previous", bypass_cache=True).value == CANARY + "-1"
    assert manager.get("staged", version="AWSPREVIOUS", bypass_cache=True).value == CANARY + "-1"
    assert manager.get("staged", version=first.version, bypass_cache=True).metadata.stages == ["previous"]
    third = manager.set("staged", CANARY + "-3")
    assert manager.get("staged", version="previous", bypass_cache=True).metadata.version == second.version
    assert manager.describe("staged").version == third.version


def test_a_repeated_write_is_idempotent(aws_manager, log):
    manager = aws_manager()
    first = manager.set("retried", CANARY)
    again = manager.set("retried", CANARY)  # what a retry after a lost answer sends
    assert again.version == first.version == aws.request_token(manager.provider_name("retried"), CANARY)
    assert len(manager.versions("retried")) == 1
    assert log.count("PutSecretValue") == 1 and log.count("CreateSecret") == 1


def test_going_back_to_an_older_value_makes_it_current_again(aws_manager):
    manager = aws_manager()
    a = manager.set("flip", CANARY + "-a")
    manager.set("flip", CANARY + "-b")
    back = manager.set("flip", CANARY + "-a")
    assert back.version == a.version
    assert manager.get("flip", bypass_cache=True).value == CANARY + "-a"
    assert manager.get("flip", version="previous", bypass_cache=True).value == CANARY + "-b"


def test_delete_version_removes_the_label_and_the_version_is_no_longer_read(aws_manager):
    manager = aws_manager()
    old = manager.set("rotated", CANARY + "-old")
    manager.set("rotated", CANARY + "-new")
    manager.delete_version("rotated", old.version)
    with pytest.raises(errors.VersionNotFound) as caught:
        manager.get("rotated", version=old.version, bypass_cache=True)
    assert "deprecated" in str(caught.value)
    with pytest.raises(errors.VersionNotFound):
        manager.get("rotated", version="previous", bypass_cache=True)
    assert [item.enabled for item in manager.versions("rotated")] == [True, False]
    with pytest.raises(errors.UnsupportedOperation):
        manager.delete_version("rotated", "current")


# delete, recovery window, restore ---------------------------------------------------------------------
@pytest.mark.parametrize("days", [1, 6, 31, 365, -7])
def test_recovery_window_is_checked_before_any_call(aws_manager, log, days):
    manager = aws_manager()
    with pytest.raises(errors.InvalidOption) as caught:
        manager.delete("whatever", recovery_days=days)
    assert "7-30" in str(caught.value)
    assert log.actions() == []


def test_pending_deletion_says_deleted_with_the_date_and_restore_works(aws_manager):
    manager = aws_manager()
    manager.set("pending", CANARY, tags={"keep": "me"})
    manager.delete("pending", recovery_days=7)
    for call in (lambda: manager.get("pending", bypass_cache=True),
                 lambda: manager.set("pending", CANARY + "-2"),
                 lambda: manager.update_metadata("pending", description="x")):
        with pytest.raises(errors.SecretDeleted) as caught:
            call()
        assert "DeletedDate: 20" in str(caught.value) and CANARY not in str(caught.value)
    meta = manager.describe("pending")
    assert meta.deleted_at is not None
    manager.delete("pending", recovery_days=10)  # already pending: nothing to do, no error
    restored = manager.restore("pending")
    assert restored.deleted_at is None and restored.tags == {"keep": "me"}
    assert manager.get("pending", bypass_cache=True).value == CANARY


def test_force_delete_and_zero_days_delete_at_once(aws_manager):
    manager = aws_manager()
    for name in ("forced", "zero"):
        manager.set(name, CANARY)
    manager.delete("forced", force=True)
    manager.delete("zero", recovery_days=0)
    for name in ("forced", "zero"):
        with pytest.raises(errors.SecretNotFound):
            manager.describe(name)


# batch reads -------------------------------------------------------------------------------------------
def test_get_many_uses_batch_get_secret_value_twenty_names_per_call(aws_manager, log):
    manager = aws_manager()
    names = [f"bulk-{index:02d}" for index in range(43)]
    for name in names:
        manager.backend._client.create_secret(Name=manager.provider_name(name), SecretString=CANARY + name)
    manager.set("bulk-deleted", CANARY)
    manager.delete("bulk-deleted", recovery_days=7)
    log.clear()
    found = manager.get_many(names + ["bulk-missing", "bulk-deleted"], bypass_cache=True)
    assert all(found[name].value == CANARY + name for name in names)
    assert isinstance(found["bulk-missing"], errors.SecretNotFound)
    assert isinstance(found["bulk-deleted"], errors.SecretDeleted) and "DeletedDate" in str(found["bulk-deleted"])
    assert log.count("BatchGetSecretValue") == 3  # 45 names: 20 + 20 + 5
    assert log.count("GetSecretValue") == 0
    assert manager.backend.batch_size == 20


def test_get_many_falls_back_to_single_reads_when_the_batch_api_is_denied(aws_manager, log):
    manager = aws_manager()
    for name in ("fb-a", "fb-b"):
        manager.set(name, CANARY + name)
    _answer_with_error(manager.backend, "BatchGetSecretValue", "AccessDeniedException", times=1)
    log.clear()
    found = manager.get_many(["fb-a", "fb-b"], bypass_cache=True)
    assert found["fb-a"].value == CANARY + "fb-a" and found["fb-b"].value == CANARY + "fb-b"
    assert log.count("GetSecretValue") == 2


# tags and description ----------------------------------------------------------------------------------
def test_tags_and_description_change_without_a_new_version(aws_manager, log):
    manager = aws_manager()
    first = manager.set("meta", CANARY, description="one", tags={"a": "1", "b": "2"})
    log.clear()
    meta = manager.update_metadata("meta", description="two", tags={"a": "1", "c": "3"})
    assert meta.description == "two" and meta.tags == {"a": "1", "c": "3"}
    assert meta.version == first.version
    assert sorted(log.writes()) == ["TagResource", "UntagResource", "UpdateSecret"]
    log.clear()
    manager.update_metadata("meta", description="two", tags={"a": "1", "c": "3"})
    assert log.writes() == []  # nothing differs: nothing sent


def test_set_with_unchanged_metadata_sends_only_the_value(aws_manager, log):
    manager = aws_manager()
    manager.set("quiet", CANARY + "-1", description="d", tags={"t": "1"})
    log.clear()
    manager.set("quiet", CANARY + "-2", description="d", tags={"t": "1"})
    assert log.writes() == ["PutSecretValue"]


# errors ------------------------------------------------------------------------------------------------
def test_throttling_is_retried_with_backoff(aws_manager):
    manager = aws_manager()
    manager.set("hot", CANARY)
    manager.retry = RetryPolicy(sleep=lambda _seconds: None)
    _answer_with_error(manager.backend, "GetSecretValue", "ThrottlingException", times=2)
    _answer_with_error(manager.backend, "DescribeSecret", "TooManyRequestsException", times=1, status=429)
    assert manager.get("hot", bypass_cache=True).value == CANARY
    assert manager.describe("hot").version
    assert manager.retry.retries == 3


def test_access_denied_names_the_action(aws_manager):
    manager = aws_manager()
    manager.set("guarded", CANARY)
    _answer_with_error(manager.backend, "GetSecretValue", "AccessDeniedException", times=1,
                       message="User: arn:aws:iam::123456789012:user/app is not authorized to perform:"
                               " secretsmanager:GetSecretValue")
    with pytest.raises(errors.SecretDenied) as caught:
        manager.get("guarded", bypass_cache=True)
    text = str(caught.value)
    assert "secretsmanager:GetSecretValue" in text and manager.provider_name("guarded") in text


def test_unreachable_endpoint_is_retryable_unavailable():
    backend = aws.AwsBackend(region="us-east-1", endpoint_url="http://127.0.0.1:9", access_key_id="x",
                             secret_access_key="y", connect_timeout=1, read_timeout=1)
    with pytest.raises(errors.ProviderUnavailable) as caught:
        backend.get("vibebox/x")
    assert caught.value.retryable


def test_no_region_and_half_credentials_are_invalid_options(monkeypatch, tmp_path):
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(errors.InvalidOption) as caught:
        factory.build_manager({"provider": "aws", "audit_log": "false"}, env={})
    assert "aws_region" in str(caught.value)
    with pytest.raises(errors.InvalidOption):
        aws.AwsBackend(region="us-east-1", access_key_id="only-half")
    with pytest.raises(errors.InvalidOption):
        aws.AwsBackend(region="us-east-1", profile="no-such-profile-" + uuid.uuid4().hex)


# other -------------------------------------------------------------------------------------------------
def test_replica_regions_are_added_on_create_and_removed_before_delete(aws_options, moto_server):
    if moto_server is None:
        pytest.skip("creates replicas: runs only against the test server")
    backend = aws.AwsBackend(
        region=aws_options["aws_region"], endpoint_url=aws_options["aws_endpoint_url"],
        access_key_id="testing", secret_access_key="testing", replica_regions=["eu-west-1"],
    )
    name = aws_options["prefix"] + "replicated"
    backend.set(name, CANARY)
    described = backend._client.describe_secret(SecretId=name)
    assert [item["Region"] for item in described["ReplicationStatus"]] == ["eu-west-1"]
    backend.delete(name, recovery_days=7)
    with pytest.raises(errors.SecretDeleted):
        backend.get(name)


def test_binary_secret_reads_as_base64(aws_manager):
    manager = aws_manager()
    manager.backend._client.create_secret(Name=manager.provider_name("blob"), SecretBinary=b"\x00\x01binary")
    assert base64.b64decode(manager.get("blob", bypass_cache=True).value) == b"\x00\x01binary"


def test_list_sees_only_the_prefix_and_not_pending_deletions(aws_manager):
    manager, other = aws_manager(), aws_manager(prefix=aws_manager().prefix + "sub-")
    manager.set("visible", CANARY)
    manager.set("going", CANARY)
    other.set("nested", CANARY)
    manager.delete("going", recovery_days=7)
    assert manager.list() == ["sub-nested", "visible"]
    assert other.list() == ["nested"]
