"""module_utils/module.py: what every module does the same way: the argument spec (every provider's options,
credentials no_log), the manager for the task's options (with the detection notice, and the refusal of a
throwaway store in automation), the strength policy, and failures that carry the error's kind."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from ansible.module_utils import basic

from ansible_collections.vibebox.secrets.plugins.module_utils import module as common
from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors


class Failed(Exception):
    pass


def fake_module(**params):
    """The part of AnsibleModule the helpers use: params, warn, fail_json (which ends the module)."""
    warnings = []

    def fail_json(**result):
        raise Failed(result)

    return SimpleNamespace(params=params, warn=warnings.append, fail_json=fail_json, warnings=warnings)


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("VAULT_ADDR", "SECRET_PROVIDER", "VIBEBOX_AUTOMATION", "JOB_ID", "KUBERNETES_SERVICE_HOST",
                 "AWS_SECRET_MANAGER_REGION", "VIBEBOX_LOCAL_PATH"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_argument_spec_holds_every_provider_option_and_the_modules_own(monkeypatch):
    args = {"name": "jwt", "vault_token": "CANARY-token-spec", "_ansible_check_mode": True}
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core before 2.19 reads the buffer alone
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
        built = common.build_module(dict(name=dict(type="str", required=True)))
    else:
        with patch_module_args(args):
            built = common.build_module(dict(name=dict(type="str", required=True)))
    assert built.params["name"] == "jwt" and built.check_mode is True
    assert built.params["vault_token"] == "CANARY-token-spec" and "CANARY-token-spec" in built.no_log_values
    assert {"provider", "prefix", "local_path", "aws_region", "vault_addr"} <= set(built.params)


def test_fail_carries_the_message_and_kind_of_the_error():
    with pytest.raises(Failed) as caught:
        common.fail(fake_module(), errors.SecretNotFound("gone", provider="local", name="jwt"), changed=False)
    result = caught.value.args[0]
    assert result["error_kind"] == "missing" and "gone" in result["msg"] and result["changed"] is False
    with pytest.raises(Failed) as other:
        common.fail(fake_module(), ValueError("x"), msg="said otherwise")
    assert other.value.args[0] == {"msg": "said otherwise", "error_kind": "error"}


def test_a_detected_provider_is_said_once_and_a_chosen_one_is_not(clean_env, tmp_path):
    clean_env.setenv("VAULT_ADDR", "http://127.0.0.1:9")
    detected = fake_module(vault_token="t", audit_log="false")
    common.manager_for(detected).close()
    assert len(detected.warnings) == 1 and "VAULT_ADDR" in detected.warnings[0]
    chosen = fake_module(provider="local", local_path=str(tmp_path / "s.db"), local_key_file=str(tmp_path / "s.key"),
                         audit_log="false")
    manager = common.manager_for(chosen)
    assert manager.provider == "local" and chosen.warnings == []
    manager.close()


def test_the_throwaway_store_of_a_job_is_refused_before_any_write(clean_env, tmp_path):
    clean_env.setenv("VIBEBOX_AUTOMATION", "awx_job_id")
    for name in ("HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        clean_env.setenv(name, str(tmp_path))
    with pytest.raises(Failed) as caught:
        common.manager_for(fake_module())
    assert "awx_job_id" in caught.value.args[0]["msg"] and caught.value.args[0]["error_kind"] == "invalid"
    assert not any(tmp_path.iterdir())


def test_a_bad_policy_fails_naming_the_field_and_unchanged():
    assert common.enforcer_for(fake_module(policy=None, policy_mode="enforce")) is not None
    with pytest.raises(Failed) as caught:
        common.enforcer_for(fake_module(policy={"min_length": "long"}, policy_mode="enforce"))
    assert "min_length" in caught.value.args[0]["msg"] and caught.value.args[0]["changed"] is False
