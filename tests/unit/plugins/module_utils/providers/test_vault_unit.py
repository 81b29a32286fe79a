"""Pure logic of the vault provider: status -> core error, version arithmetic, value and metadata shapes.

Everything that talks to a server is tested against real OpenBao in tests/integration; here only the
functions that need no server, so each rule is checked for every case, quickly.
"""
from __future__ import annotations

import datetime as _dt
import json
import subprocess
import sys

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import vault

NOW = _dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=_dt.timezone.utc)
PAST = "2026-01-01T00:00:00.123456789Z"
FUTURE = "2027-01-01T00:00:00Z"


def _error(status, messages=None, **extra):
    return vault.translate(status, messages, api_path="secret/data/vibebox/db", capability="read",
                           provider_name="vibebox/db", **extra)


@pytest.mark.parametrize("status, messages, kind, retryable", [
    (403, ["permission denied"], errors.SecretDenied, None),
    (401, ["missing client token"], errors.SecretDenied, None),
    (404, [], errors.SecretNotFound, None),
    (400, ["check-and-set parameter did not match the current version"], errors.SecretConflict, None),
    (400, ["invalid request"], errors.InvalidOption, None),
    (405, ["unsupported operation"], errors.UnsupportedOperation, None),
    (429, ["rate limit quota exceeded"], errors.ProviderThrottled, True),
    (500, ["internal error"], errors.ProviderUnavailable, True),
    (502, [], errors.ProviderUnavailable, True),
    (503, ["Vault is sealed"], errors.ProviderUnavailable, False),
    (503, ["standby"], errors.ProviderUnavailable, True),
    (501, [], errors.ProviderUnavailable, False),
    (412, [], errors.ProviderUnavailable, True),
    (418, [], errors.ProviderUnavailable, False),
])
def test_status_maps_to_one_core_error(status, messages, kind, retryable):
    error = _error(status, messages)
    assert error.__class__ is kind
    if retryable is not None:
        assert error.retryable is retryable
    assert error.provider == "vault"


def test_denied_names_the_path_and_the_capability_a_policy_needs():
    text = str(_error(403, ["permission denied"], namespace="team-a"))
    assert "secret/data/vibebox/db" in text and '["read"]' in text and "team-a" in text


def test_not_found_says_a_denied_path_can_also_answer_404():
    assert "policy" in str(_error(404))


def test_login_refusal_is_denied_and_names_approle():
    error = vault.translate(400, ["invalid role or secret ID"], api_path="auth/approle/login",
                            capability="update", login=True)
    assert isinstance(error, errors.SecretDenied) and "AppRole" in str(error)


def test_server_messages_never_carry_the_value_we_sent():
    error = _error(400, ["bad data: hunter2-secret"], secret_value="hunter2-secret")
    assert "hunter2-secret" not in str(error)


@pytest.mark.parametrize("info, state", [
    ({"deletion_time": "", "destroyed": False}, "live"),
    ({"deletion_time": PAST, "destroyed": False}, "deleted"),
    ({"deletion_time": FUTURE, "destroyed": False}, "live"),  # delete_version_after, not a deletion yet
    ({"deletion_time": PAST, "destroyed": True}, "destroyed"),
    ({"deletion_time": "", "destroyed": True}, "destroyed"),
])
def test_version_state(info, state):
    assert vault.version_state(info, NOW) == state


def test_previous_is_the_newest_older_live_version():
    metadata = {"current_version": 5, "versions": {
        "1": {"deletion_time": ""},
        "2": {"deletion_time": "", "destroyed": True},
        "3": {"deletion_time": ""},
        "4": {"deletion_time": PAST},
        "5": {"deletion_time": ""},
    }}
    assert vault.previous_version(metadata, NOW) == 3
    assert vault.previous_version({"current_version": 1, "versions": {"1": {}}}, NOW) is None
    assert vault.previous_version({}, NOW) is None


def test_parse_time_handles_nanoseconds_and_garbage():
    assert vault.parse_time(PAST) == _dt.datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=_dt.timezone.utc)
    assert vault.parse_time("") is None and vault.parse_time("yesterday") is None


@pytest.mark.parametrize("data, value", [
    ({"value": "s3cret"}, "s3cret"),
    ({"value": "s3cret", vault.DESCRIPTION_KEY: "d", vault.TAGS_FIELD: {"a": "1"}}, "s3cret"),
    ({"value": 42}, "42"),
    ({"user": "app", "password": "pw"}, json.dumps({"password": "pw", "user": "app"}, sort_keys=True)),
    (None, None),
])
def test_value_from_data(data, value):
    assert vault.value_from_data(data) == value


def test_merge_custom_keeps_what_is_not_given():
    current = {vault.DESCRIPTION_KEY: "old", "team": "a"}
    assert vault.merge_custom(current, None, None) == current
    assert vault.merge_custom(current, "new", None) == {vault.DESCRIPTION_KEY: "new", "team": "a"}
    assert vault.merge_custom(current, None, {"tier": "1"}) == {vault.DESCRIPTION_KEY: "old", "tier": "1"}
    assert vault.merge_custom(current, "", {}) == {}
    assert vault.tags_from_custom(current) == {"team": "a"}


@pytest.mark.parametrize("description, tags", [
    (None, {vault.DESCRIPTION_KEY: "x"}),
    (None, {"k" * 129: "v"}),
    (None, {"k": "v" * 513}),
    ("d" * 513, None),
    (None, {f"k{index}": "v" for index in range(64)}),
])
def test_custom_metadata_limits_are_checked_before_any_call(description, tags):
    with pytest.raises(errors.InvalidOption):
        vault.check_custom("vibebox/x", description, tags)


@pytest.mark.parametrize("version", ["0", "-1", "abc", "1.5"])
def test_version_number_rejects_what_is_not_a_kv2_version(version):
    with pytest.raises(errors.VersionNotFound):
        vault.version_number(version, "vibebox/x")


def test_importing_the_provider_does_not_import_hvac():
    code = (
        "import sys\n"
        "from ansible_collections.vibebox.secrets.plugins.module_utils.providers import vault\n"
        "print('hvac' in sys.modules, 'requests' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": _collections_dir()}, check=True)
    assert out.stdout.split() == ["False", "False"]


def _collections_dir() -> str:
    """<dir> holding ansible_collections/vibebox/secrets, as this process imported it."""
    import os

    here = os.path.abspath(vault.__file__)
    marker = os.sep + os.path.join("ansible_collections", "vibebox", "secrets") + os.sep
    return here[: here.index(marker)]
