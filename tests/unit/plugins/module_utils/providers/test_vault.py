"""Pure logic of the vault provider, without a server: status -> core error, version arithmetic, value and
metadata shapes; dynamic secrets (engine, paths, the lease dict, what vault_lease decides); logins (bad
input fails before any request and names its option, a refused login names method, mount and role but
never the credential, a token is handed over instead of a second login).

Everything that talks to a server is tested against real OpenBao (and PostgreSQL) in tests/integration
(test_vault_dynamic.py, test_vault_logins.py); here a recording stand-in for the transport checks each
decision (idempotence, check mode, bad input first), so each rule is checked for every case, quickly.
"""
from __future__ import annotations

import datetime as _dt
import json
import subprocess
import sys

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import vault
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import server

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


def test_engine_defaults_to_kv_and_names_the_option_when_unknown():
    assert vault.engine_of({}) == "kv"
    assert vault.engine_of({"engine": "Dynamic"}) == "dynamic"
    with pytest.raises(errors.InvalidOption, match="engine must be one of kv, dynamic"):
        vault.engine_of({"engine": "transit"})


def test_dynamic_paths():
    assert vault.dynamic_path("database/creds/app", None) == "database/creds/app"
    assert vault.dynamic_path("creds/app", "teams/db/") == "teams/db/creds/app"
    with pytest.raises(errors.InvalidOption, match="vault_dynamic_mount"):
        vault.dynamic_path("app", None)


def test_the_lease_dict_and_a_path_without_a_lease():
    value = vault.lease_value({"lease_id": "database/creds/app/x", "lease_duration": 60, "renewable": True,
                               "data": {"username": "u", "password": "p"}}, "database/creds/app")
    assert value == {"username": "u", "password": "p", "lease_id": "database/creds/app/x", "lease_duration": 60,
                     "renewable": True}
    with pytest.raises(errors.InvalidOption, match="not a dynamic secret"):
        vault.lease_value({"lease_id": "", "data": {"value": "p"}}, "secret/data/x")


@pytest.mark.parametrize("lease_id", ["", "nolease", "a//b", "a/../b", "a/./b"])
def test_bad_lease_ids_fail_before_any_request(lease_id):
    with pytest.raises(errors.InvalidOption):
        vault.check_lease_id(lease_id)


class Recorder:
    """Answers sys/leases requests from a dict of live leases and records every request."""

    def __init__(self, live):
        self.live = dict(live)
        self.sent = []

    def _call(self, method, api_path, *, name, capability, body=None, params=None, accept=(), secret_value=None,
              about_secret=True):
        self.sent.append((method, api_path, (body or {}).get("lease_id")))
        if api_path == "sys/leases/lookup":
            info = self.live.get(body["lease_id"])
            if info is None:
                return 400, {"errors": ["invalid lease"]}
            return 200, {"data": dict(info, id=body["lease_id"])}
        if api_path.startswith("sys/leases/lookup/"):
            folder = api_path[len("sys/leases/lookup/"):]
            keys = [lease[len(folder):] for lease in self.live if lease.startswith(folder)]
            return (200, {"data": {"keys": keys}}) if keys else (404, {})
        if api_path == "sys/leases/revoke":
            self.live.pop(body["lease_id"], None)
            return 204, {}
        if api_path == "sys/leases/renew":
            self.live[body["lease_id"]]["ttl"] = body.get("increment", 3600)
            return 200, {"lease_id": body["lease_id"], "lease_duration": body.get("increment", 3600), "renewable": True}
        raise AssertionError(api_path)

    def writes(self):
        return [item for item in self.sent if item[1] in ("sys/leases/revoke", "sys/leases/renew")]


LEASE = "database/creds/app/L1"


def test_revoking_is_idempotent_and_check_mode_only_looks():
    backend = Recorder({LEASE: {"ttl": 100, "renewable": True}})
    assert vault.manage_leases(backend, "revoked", lease_id=LEASE, check_mode=True)["changed"] is True
    assert backend.writes() == [] and LEASE in backend.live
    assert vault.manage_leases(backend, "revoked", lease_id=LEASE)["changed"] is True
    assert LEASE not in backend.live
    again = vault.manage_leases(backend, "revoked", lease_id=LEASE)
    assert again == {"changed": False, "leases": []}
    assert len(backend.writes()) == 1


def test_renewing_a_gone_lease_fails_with_the_reason():
    backend = Recorder({})
    with pytest.raises(errors.SecretNotFound, match="does not exist any more"):
        vault.manage_leases(backend, "renewed", lease_id=LEASE)


def test_renewing_asks_for_the_increment_and_reports_the_new_ttl():
    backend = Recorder({LEASE: {"ttl": 100, "renewable": True}})
    result = vault.manage_leases(backend, "renewed", lease_id=LEASE, increment=1800)
    assert result["changed"] is True and result["leases"][0]["ttl"] == 1800


def test_a_lease_that_cannot_be_renewed_says_so():
    backend = Recorder({LEASE: {"ttl": 100, "renewable": False}})
    with pytest.raises(errors.UnsupportedOperation, match="not renewable"):
        vault.manage_leases(backend, "renewed", lease_id=LEASE)


def test_a_prefix_reaches_every_lease_under_it_and_nothing_else():
    backend = Recorder({LEASE: {"ttl": 1}, "database/creds/app/L2": {"ttl": 1}, "database/creds/other/L3": {"ttl": 1}})
    result = vault.manage_leases(backend, "revoked", lease_prefix="database/creds/app")
    assert sorted(item["lease_id"] for item in result["leases"]) == [LEASE, "database/creds/app/L2"]
    assert list(backend.live) == ["database/creds/other/L3"]
    assert vault.manage_leases(backend, "revoked", lease_prefix="database/creds/app")["changed"] is False


@pytest.mark.parametrize("kwargs, match", [
    (dict(state="gone", lease_id=LEASE), "state must be"),
    (dict(state="revoked"), "exactly one of"),
    (dict(state="revoked", lease_id=LEASE, lease_prefix="database"), "exactly one of"),
    (dict(state="renewed", lease_id=LEASE, increment=-1), "increment"),
    (dict(state="revoked", lease_prefix="../x"), "lease_prefix"),
])
def test_bad_input_fails_before_any_request(kwargs, match):
    backend = Recorder({LEASE: {"ttl": 1}})
    with pytest.raises(errors.InvalidOption, match=match):
        vault.manage_leases(backend, **kwargs)
    assert backend.sent == []


def test_the_dynamic_backend_is_read_only_and_takes_no_prefix():
    backend = vault.VaultBackend.from_options({"vault_addr": "http://127.0.0.1:1", "vault_token": "t",
                                               "engine": "dynamic", "vault_dynamic_mount": "db",
                                               "vault_revoke_leases_at_end": True})
    assert isinstance(backend, vault.VaultDynamicBackend)
    assert backend.uses_prefix is False and backend.read_only and backend.revoke_at_end
    assert backend.dynamic_mount == "db"
    with pytest.raises(errors.ReadOnlyProvider):
        backend.set("creds/app", "x")
    with pytest.raises(errors.VersionNotFound):
        backend.get("creds/app", "previous")
    assert isinstance(vault.VaultBackend.from_options({"vault_addr": "http://127.0.0.1:1", "vault_token": "t"}),
                      vault.VaultKV2Backend)


ADDR = "http://127.0.0.1:8200"


CANARY = "CANARY-credential-4242"


def _build(**options):
    return vault.VaultBackend.from_options({"vault_addr": ADDR, **options})


@pytest.mark.parametrize("options, option", [
    ({"vault_auth_method": "ldap"}, "vault_auth_method"),
    ({"vault_auth_method": "token"}, "vault_token"),
    ({"vault_auth_method": "approle", "vault_role_id": "r"}, "vault_secret_id"),
    ({"vault_auth_method": "userpass", "vault_username": "u"}, "vault_password"),
    ({"vault_auth_method": "userpass", "vault_password": CANARY}, "vault_username"),
    ({"vault_auth_method": "jwt", "vault_jwt": CANARY}, "vault_role"),
    ({"vault_auth_method": "jwt", "vault_role": "ci"}, "vault_jwt"),
    ({"vault_auth_method": "jwt", "vault_role": "ci", "vault_jwt_file": "/nonexistent/ci.jwt"}, "vault_jwt_file"),
    ({"vault_auth_method": "kubernetes", "vault_kubernetes_token_file": "/nonexistent/token"}, "vault_role"),
    ({"vault_auth_method": "kubernetes", "vault_role": "awx", "vault_kubernetes_token_file": "/nonexistent/token"},
     "vault_kubernetes_token_file"),
    ({"vault_auth_method": "cert", "vault_addr": "https://vault:8200"}, "vault_client_cert"),
    ({"vault_auth_method": "cert", "vault_addr": "https://vault:8200", "vault_client_cert": "/nonexistent.pem"},
     "vault_client_cert"),
    ({"vault_auth_method": "cert"}, "vault_addr"),
    ({}, "vault_auth_method"),
])
def test_bad_input_fails_before_any_request_naming_the_option(options, option):
    with pytest.raises(errors.InvalidOption) as caught:
        _build(**options)
    assert option in str(caught.value)
    assert CANARY not in str(caught.value) and CANARY not in str(caught.value.hint)


def test_the_default_kubernetes_token_file_is_the_pods_service_account_token():
    with pytest.raises(errors.InvalidOption) as caught:
        _build(vault_auth_method="kubernetes", vault_role="awx")
    assert vault.KUBERNETES_TOKEN_FILE in str(caught.value)


def test_a_directory_is_not_a_readable_jwt_file(tmp_path):
    with pytest.raises(errors.InvalidOption) as caught:
        _build(vault_auth_method="jwt", vault_role="ci", vault_jwt_file=str(tmp_path))
    assert "vault_jwt_file" in str(caught.value)


def test_the_method_defaults_to_approle_when_both_ids_are_set_else_to_the_token():
    assert _build(vault_token="t").login.method == "token"
    assert _build(vault_token="t", vault_role_id="r", vault_secret_id="s").login.method == "approle"
    assert _build(vault_auth_method="none").login.logs_in is False


def test_each_mount_defaults_to_the_methods_name_and_can_be_changed(tmp_path):
    token = tmp_path / "token"
    token.write_text("header.claims.signature\n")
    login = vault.VaultLogin.from_options({"vault_auth_method": "kubernetes", "vault_role": "awx",
                                           "vault_kubernetes_token_file": str(token)})
    assert login.mount == "kubernetes" and login.credential() == "header.claims.signature"
    moved = vault.VaultLogin.from_options({"vault_auth_method": "jwt", "vault_role": "ci", "vault_jwt": "x.y.z",
                                           "vault_auth_mount": "/gitlab/"})
    assert moved.mount == "gitlab"


def test_a_refused_login_names_method_mount_and_role_never_the_credential():
    login = vault.VaultLogin.from_options({"vault_auth_method": "jwt", "vault_role": "deploy", "vault_jwt": CANARY,
                                           "vault_auth_mount": "ci"})
    error = login.refused(400, [f"error validating token {CANARY}"], "team")
    assert isinstance(error, errors.SecretDenied)
    text = f"{error} {error.hint}"
    assert "JWT login at mount 'ci' with role 'deploy'" in text and "namespace 'team'" in text
    assert CANARY not in text and CANARY not in repr(login)
    missing = login.refused(404, ["no handler for route"], None)
    assert isinstance(missing, errors.InvalidOption) and "vault_auth_mount" in missing.hint
    busy = login.refused(503, ["Vault is sealed"], None)
    assert isinstance(busy, errors.ProviderUnavailable)


def test_hvac_exceptions_map_to_their_status():
    import hvac
    assert vault.hvac_status(hvac.exceptions.InvalidRequest("x")) == 400
    assert vault.hvac_status(hvac.exceptions.Forbidden("x")) == 403
    assert vault.hvac_status(hvac.exceptions.UnexpectedError("x")) == 0
    assert vault.hvac_status(ValueError("x")) is None


def test_an_adopted_session_is_used_instead_of_a_login():
    first = _build(vault_auth_method="userpass", vault_username="u", vault_password=CANARY)
    assert first.export_session() is None  # not logged in yet: nothing to hand over
    first._client.token = "s.handed-over"
    first._have_token, first._token_ttl, first._token_renewable = True, 60.0, True
    first._set_deadlines(60.0)
    session = first.export_session()
    assert session["token"] == "s.handed-over" and 39 < session["renew_in"] <= 40

    second = _build(vault_auth_method="userpass", vault_username="u", vault_password=CANARY)

    def no_login(_client):
        raise AssertionError("an adopted token must not be replaced by a login")

    second.login.perform = no_login
    assert second.adopt_session(session)
    second._ensure_token()
    assert second._client.token == "s.handed-over" and second.logins == 0
    other_method = _build(vault_auth_method="approle", vault_role_id="r", vault_secret_id="s")
    assert not other_method.adopt_session(session)
    assert not second.adopt_session({**session, "renew_in": 0})  # due for renewal: log in instead


class _Backend:
    def __init__(self, session=None):
        self.session = session
        self.adopted = None

    def export_session(self):
        return self.session

    def adopt_session(self, session):
        self.adopted = session
        return True


class _Manager:
    def __init__(self, backend):
        self.backend = backend

    def close(self):
        pass


class _Resolved:
    def __init__(self, key):
        self.key = key


def test_the_run_cache_hands_a_login_to_the_backend_it_builds_later():
    reader = server.CacheState(build=lambda resolved: _Manager(_Backend({"token": "t", "method": "jwt"})))
    reader._manager(_Resolved("k1"))
    handed = reader.sessions()
    assert handed == {"k1": {"token": "t", "method": "jwt"}}

    helper = server.CacheState(build=lambda resolved: _Manager(_Backend()))
    helper.adopt_sessions(handed)
    built = helper._manager(_Resolved("k1"))
    assert built.backend.adopted == {"token": "t", "method": "jwt"}
    assert helper._manager(_Resolved("k2")).backend.adopted is None  # another backend logs in itself
    assert helper.sessions() == {}  # nothing kept once adopted
