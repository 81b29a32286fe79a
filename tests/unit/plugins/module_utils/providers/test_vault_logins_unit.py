"""Vault logins without a server: bad input fails before any request and names its option, a refused
login names method, mount and role but never the credential, and a token is handed over instead of a
second login (what the run cache does between the fork that reads first and its helper).

The logins themselves are tested against the real OpenBao in tests/integration/test_vault_logins.py.
"""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import vault
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import server

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
