"""Every Vault login method against the real OpenBao: userpass, JWT, Kubernetes and TLS certificates.

Each method is set up on the server the way an operator would (the auth method, a role bound to a
policy that may read one prefix), then:

- ansible-playbook with 5 hosts x 2 lookups reads the secrets with that method and OpenBao's own
  audit log shows exactly one login for the whole run (the run cache shares the backend, and the fork
  that reads while the helper starts hands its token over);
- a bad credential fails the run with the method, the mount and the role named, and neither the
  credential nor a secret value appears in the output at -vvvv.

JWTs are signed here with PyJWT (already in the test environment, as a dependency of msal) under an RSA
key made by the test; OpenBao's jwt method checks them with ``jwt_validation_pubkeys``. The Kubernetes
method is pointed at the project's Kubernetes API fake, whose TokenReview endpoint knows the
service-account token the test registers. The certificate method needs TLS, so those tests run their
own OpenBao with a TLS listener and a client CA made by the test. ``none`` reads through a real
``bao proxy`` that logs in with AppRole itself and adds its token.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import uuid
from typing import Dict, List, Tuple

import pytest

from ansible_run import run_playbook, state_env, write_playbook
import servers

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory

CANARY = "CANARY-" + uuid.uuid4().hex
RUN = uuid.uuid4().hex[:6]
HOSTS = 5
SECRETS = ("login-a", "login-b")

FLEET_PLAY = """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: first lookup
      ansible.builtin.set_fact:
        first: "{{ lookup('vibebox.secrets.get', 'login-a') }}"
      no_log: true
    - name: second lookup
      ansible.builtin.set_fact:
        second: "{{ lookup('vibebox.secrets.get', 'login-b') }}"
      no_log: true
    - name: both values are right (compared by hash, never shown)
      ansible.builtin.assert:
        that:
          - first | hash('sha256') == hash_a
          - second | hash('sha256') == hash_b
        quiet: true
"""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _launcher():
    return servers.load("openbao")


@pytest.fixture
def server(openbao_server):
    if openbao_server is None:
        pytest.skip("configures auth methods on the server: runs only against the test server")
    return openbao_server


@pytest.fixture
def run_dir():
    path = tempfile.mkdtemp(prefix="vbrc-")  # short: Unix socket paths are limited to about 100 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _logins(server, mount: str) -> int:
    """Login requests OpenBao's audit device saw at ``mount`` (userpass puts the user after /login/)."""
    return sum(1 for entry in server.audit_entries()
               if str(entry.get("request", {}).get("path", "")).startswith(f"auth/{mount}/login"))


def _enable_auth(server, mount: str, kind: str) -> None:
    try:
        server.request("POST", f"sys/auth/{mount}", {"type": kind})
    except Exception as exc:  # the session server keeps mounts between tests
        if "already in use" not in str(exc):
            raise


def _reader_policy(server, name: str, prefix: str) -> str:
    """A least-privilege policy: read the secrets under ``prefix`` of the KV v2 mount secret/, nothing else."""
    server.write_policy(name, f'path "secret/data/{prefix}*" {{ capabilities = ["read"] }}\n')
    return name


def _seed(server, prefix: str) -> Dict[str, str]:
    """The two secrets the playbooks read, written as root."""
    manager = factory.build_manager({"provider": "vault", "vault_addr": server.addr, "vault_token": server.token,
                                     "vault_ca_cert": server.ca_cert, "prefix": prefix, "audit_log": "false"}, env={})
    values = {name: f"{CANARY}-{name}" for name in SECRETS}
    for name, value in values.items():
        manager.set(name, value)
    manager.close()
    return values


def _inventory(tmp_path, hosts: int) -> str:
    lines = ["[fleet]"] + [f"host{index:02d}" for index in range(hosts)]
    lines += ["", "[fleet:vars]", "ansible_connection=local", "ansible_python_interpreter={{ ansible_playbook_python }}"]
    path = tmp_path / "inventory.ini"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _run(tmp_path, run_dir, server, prefix: str, options: Dict[str, str], values: Dict[str, str], hosts: int = HOSTS):
    env = state_env(tmp_path, {"SECRET_PROVIDER": "vault", "VAULT_ADDR": server.addr, "VAULT_PREFIX": prefix,
                               "VIBEBOX_RUN_CACHE_DIR": run_dir, "ANSIBLE_FORKS": "5", **options})
    env.pop("VAULT_TOKEN", None)
    if server.ca_cert:
        env["VAULT_CACERT"] = server.ca_cert
    play = write_playbook(tmp_path, FLEET_PLAY)
    return run_playbook(play, env, "-vvvv", inventory=_inventory(tmp_path, hosts),
                        extra_vars={"hash_a": _sha(values["login-a"]), "hash_b": _sha(values["login-b"])})


def _assert_one_login_run(result, server, mount: str, before: int, secrets: Tuple[str, ...]) -> None:
    assert result.rc == 0, result.output[-4000:]
    assert result.recap(f"host{HOSTS - 1:02d}")["ok"] == 3
    assert _logins(server, mount) - before == 1, f"{HOSTS} hosts x 2 lookups must log in once"
    for text in (CANARY, *secrets):
        assert text not in result.output


def _assert_refused(result, words: List[str], secrets: Tuple[str, ...]) -> None:
    assert result.rc != 0
    for word in words:
        assert word in result.output, (word, result.output[-3000:])
    for text in (CANARY, *secrets):
        assert text not in result.output


# userpass ---------------------------------------------------------------------------------------------
@pytest.fixture
def userpass(server):
    """A user of the userpass method at its default mount, allowed to read one prefix."""
    prefix = f"vibebox/up-{RUN}/"
    _enable_auth(server, "userpass", "userpass")
    password = "pw-" + uuid.uuid4().hex
    server.request("POST", f"auth/userpass/users/app-{RUN}",
                   {"password": password, "token_policies": [_reader_policy(server, f"up-{RUN}", prefix)]})
    return prefix, f"app-{RUN}", password


def test_userpass_login_reads_through_ansible_playbook_once_per_run(tmp_path, run_dir, server, userpass):
    prefix, user, password = userpass
    values = _seed(server, prefix)
    before = _logins(server, "userpass")
    result = _run(tmp_path, run_dir, server, prefix, {"VAULT_AUTH_METHOD": "userpass", "VAULT_USERNAME": user,
                                                      "VAULT_PASSWORD": password}, values)
    _assert_one_login_run(result, server, "userpass", before, (password,))


def test_userpass_wrong_password_names_method_mount_and_user(tmp_path, run_dir, server, userpass):
    prefix, user, _password = userpass
    wrong = "wrong-" + CANARY
    result = _run(tmp_path, run_dir, server, prefix, {"VAULT_AUTH_METHOD": "userpass", "VAULT_USERNAME": user,
                                                      "VAULT_PASSWORD": wrong}, {n: n for n in SECRETS}, hosts=1)
    _assert_refused(result, ["userpass login at mount 'userpass'", f"user '{user}'", "invalid"], (wrong,))


# JWT -----------------------------------------------------------------------------------------------------
def _rsa_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, public


def _sign(key, claims: Dict[str, object]) -> str:
    import jwt

    now = int(time.time())
    return jwt.encode({"iat": now, "nbf": now - 5, "exp": now + 600, **claims}, key, algorithm="RS256")


@pytest.fixture
def jwt_login(server):
    """OpenBao's jwt method at a mount of its own, trusting a key made here, with a role for one CI job."""
    prefix = f"vibebox/jwt-{RUN}/"
    mount = f"jwt-{RUN}"
    key, public = _rsa_key()
    _enable_auth(server, mount, "jwt")
    server.request("POST", f"auth/{mount}/config", {"jwt_validation_pubkeys": [public],
                                                    "bound_issuer": "https://ci.example.test"})
    server.request("POST", f"auth/{mount}/role/deploy", {
        "role_type": "jwt", "bound_audiences": ["vibebox"], "user_claim": "sub",
        "bound_subject": "project:app:ref:main", "token_policies": [_reader_policy(server, f"jwt-{RUN}", prefix)],
        "token_ttl": "10m",
    })
    token = _sign(key, {"iss": "https://ci.example.test", "aud": "vibebox", "sub": "project:app:ref:main",
                        "canary": CANARY})
    return prefix, mount, key, token


def test_jwt_login_from_a_file_reads_through_ansible_playbook_once_per_run(tmp_path, run_dir, server, jwt_login):
    prefix, mount, _key, token = jwt_login
    values = _seed(server, prefix)
    token_file = tmp_path / "ci.jwt"
    token_file.write_text(token + "\n")
    before = _logins(server, mount)
    result = _run(tmp_path, run_dir, server, prefix, {"VAULT_AUTH_METHOD": "jwt", "VAULT_AUTH_MOUNT": mount,
                                                      "VAULT_ROLE": "deploy", "VAULT_JWT_FILE": str(token_file)},
                  values)
    _assert_one_login_run(result, server, mount, before, (token,))


def test_jwt_signed_by_another_key_names_method_mount_and_role(tmp_path, run_dir, server, jwt_login):
    prefix, mount, _key, _token = jwt_login
    stranger, _public = _rsa_key()
    forged = _sign(stranger, {"iss": "https://ci.example.test", "aud": "vibebox", "sub": "project:app:ref:main"})
    result = _run(tmp_path, run_dir, server, prefix, {"VAULT_AUTH_METHOD": "jwt", "VAULT_AUTH_MOUNT": mount,
                                                      "VAULT_ROLE": "deploy", "VAULT_JWT": forged},
                  {n: n for n in SECRETS}, hosts=1)
    _assert_refused(result, [f"JWT login at mount '{mount}' with role 'deploy' was refused"], (forged,))


def test_jwt_for_another_subject_is_refused_by_the_role(server, jwt_login):
    prefix, mount, key, _token = jwt_login
    other = _sign(key, {"iss": "https://ci.example.test", "aud": "vibebox", "sub": "project:app:ref:feature"})
    manager = factory.build_manager({"provider": "vault", "vault_addr": server.addr, "vault_auth_method": "jwt",
                                     "vault_auth_mount": mount, "vault_role": "deploy", "vault_jwt": other,
                                     "prefix": prefix, "audit_log": "false"}, env={})
    with pytest.raises(errors.SecretDenied) as caught:
        manager.get("login-a", bypass_cache=True)
    assert f"mount '{mount}'" in str(caught.value) and "'deploy'" in str(caught.value)
    assert other not in str(caught.value) and other not in str(caught.value.hint)


# Kubernetes ------------------------------------------------------------------------------------------------
@pytest.fixture
def kubernetes_login(server, k8s_fake, tmp_path):
    """OpenBao's kubernetes method pointed at the Kubernetes API fake, a role for one service account, and
    that account's token (a JWT with the service-account claims, registered with the fake's TokenReview)."""
    if k8s_fake is None:
        pytest.skip("registers a service-account token with the Kubernetes API fake")
    prefix = f"vibebox/k8s-{RUN}/"
    mount = f"kubernetes-{RUN}"
    namespace, account = "awx", f"awx-runner-{RUN}"
    key, _public = _rsa_key()
    uid = str(uuid.uuid4())
    claims = {"iss": "kubernetes/serviceaccount", "sub": f"system:serviceaccount:{namespace}:{account}",
              "kubernetes.io/serviceaccount/namespace": namespace,
              "kubernetes.io/serviceaccount/service-account.name": account,
              "kubernetes.io/serviceaccount/service-account.uid": uid,
              "kubernetes.io/serviceaccount/secret.name": f"{account}-token"}
    token = _sign(key, claims)
    k8s_fake.add_service_account_token(token, namespace, account, uid=uid)
    with open(k8s_fake.ca_file, encoding="utf-8") as handle:
        ca_pem = handle.read()
    _enable_auth(server, mount, "kubernetes")
    server.request("POST", f"auth/{mount}/config", {"kubernetes_host": k8s_fake.url, "kubernetes_ca_cert": ca_pem,
                                                    "disable_local_ca_jwt": True})
    server.request("POST", f"auth/{mount}/role/awx", {
        "bound_service_account_names": [account], "bound_service_account_namespaces": [namespace],
        "token_policies": [_reader_policy(server, f"k8s-{RUN}", prefix)], "token_ttl": "10m",
    })
    token_file = tmp_path / "sa-token"
    token_file.write_text(token)
    return prefix, mount, token, str(token_file), key


def test_kubernetes_login_reads_through_ansible_playbook_once_per_run(tmp_path, run_dir, server, kubernetes_login):
    prefix, mount, token, token_file, _key = kubernetes_login
    values = _seed(server, prefix)
    before = _logins(server, mount)
    result = _run(tmp_path, run_dir, server, prefix, {
        "VAULT_AUTH_METHOD": "kubernetes", "VAULT_AUTH_MOUNT": mount, "VAULT_ROLE": "awx",
        "VAULT_KUBERNETES_TOKEN_FILE": token_file}, values)
    _assert_one_login_run(result, server, mount, before, (token,))


def test_kubernetes_token_unknown_to_the_cluster_names_method_mount_and_role(
        tmp_path, run_dir, server, kubernetes_login):
    prefix, mount, _token, _file, key = kubernetes_login
    stranger = _sign(key, {"iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:awx:intruder",
                           "kubernetes.io/serviceaccount/namespace": "awx",
                           "kubernetes.io/serviceaccount/service-account.name": "intruder",
                           "kubernetes.io/serviceaccount/service-account.uid": str(uuid.uuid4())})
    stranger_file = tmp_path / "stranger-token"
    stranger_file.write_text(stranger)
    result = _run(tmp_path, run_dir, server, prefix, {
        "VAULT_AUTH_METHOD": "kubernetes", "VAULT_AUTH_MOUNT": mount, "VAULT_ROLE": "awx",
        "VAULT_KUBERNETES_TOKEN_FILE": str(stranger_file)}, {n: n for n in SECRETS}, hosts=1)
    _assert_refused(result, [f"Kubernetes login at mount '{mount}' with role 'awx' was refused"], (stranger,))


# TLS certificates -------------------------------------------------------------------------------------------
def _client_ca(folder: str, name: str) -> Tuple[str, str, str]:
    """A CA made here and a client certificate it signed (clientAuth); returns (ca, cert, key) paths."""
    return servers.load("certificates").issue_client(folder, name)


@pytest.fixture(scope="module")
def tls_server(openbao_server):
    """An OpenBao of this module with a TLS listener and the cert method trusting a client CA made here."""
    if openbao_server is None:
        pytest.skip("starts its own server: runs only with the local test servers")
    folder = tempfile.mkdtemp(prefix="vibebox-cert-")
    started = _launcher().start(tls=True, audit=True, configure=False)
    try:
        ca, cert, key = _client_ca(folder, "trusted")
        _other_ca, other_cert, other_key = _client_ca(folder, "stranger")
        prefix = f"vibebox/cert-{RUN}/"
        _enable_auth(started, "cert", "cert")
        with open(ca, encoding="utf-8") as handle:
            started.request("POST", "auth/cert/certs/ansible", {
                "certificate": handle.read(), "token_policies": [_reader_policy(started, "cert-reader", prefix)],
                "token_ttl": "10m"})
        yield started, prefix, (cert, key), (other_cert, other_key)
    finally:
        started.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_cert_login_reads_through_ansible_playbook_once_per_run(tmp_path, run_dir, tls_server):
    server, prefix, (cert, key), _other = tls_server
    values = _seed(server, prefix)
    before = _logins(server, "cert")
    result = _run(tmp_path, run_dir, server, prefix, {"VAULT_AUTH_METHOD": "cert", "VAULT_ROLE": "ansible",
                                                      "VAULT_CLIENT_CERT": cert, "VAULT_CLIENT_KEY": key}, values)
    _assert_one_login_run(result, server, "cert", before, ())


def test_cert_from_an_untrusted_ca_names_method_mount_and_role(tmp_path, run_dir, tls_server):
    server, prefix, _trusted, (cert, key) = tls_server
    result = _run(tmp_path, run_dir, server, prefix, {"VAULT_AUTH_METHOD": "cert", "VAULT_ROLE": "ansible",
                                                      "VAULT_CLIENT_CERT": cert, "VAULT_CLIENT_KEY": key},
                  {n: n for n in SECRETS}, hosts=1)
    with open(key, encoding="utf-8") as handle:
        key_text = handle.read().strip().splitlines()[1]
    _assert_refused(result, ["TLS certificate login at mount 'cert' with role 'ansible' was refused"], (key_text,))


# AppRole at a mount of its own, renewal -----------------------------------------------------------------------
def test_approle_at_another_mount(server, vault_options):
    mount = f"approle-{RUN}"
    _enable_auth(server, mount, "approle")
    prefix = vault_options["prefix"]
    server.request("POST", f"auth/{mount}/role/app", {"token_policies": [_reader_policy(server, f"ar-{RUN}", prefix)]})
    role_id = server.request("GET", f"auth/{mount}/role/app/role-id")["data"]["role_id"]
    secret_id = server.request("POST", f"auth/{mount}/role/app/secret-id", {})["data"]["secret_id"]
    values = _seed(server, prefix)
    manager = factory.build_manager({"provider": "vault", "vault_addr": server.addr, "vault_auth_method": "approle",
                                     "vault_auth_mount": mount, "vault_role_id": role_id,
                                     "vault_secret_id": secret_id, "prefix": prefix, "audit_log": "false"}, env={})
    assert manager.get("login-a", bypass_cache=True).value == values["login-a"]
    assert manager.backend.logins == 1 and _logins(server, mount) == 1


def test_a_short_lived_token_is_renewed_then_replaced_by_a_new_login(server, vault_options):
    """A 4-second token: renewed with renew-self once two thirds of it are gone, and replaced by a new
    login once it has expired (a run that was idle longer than the token lives)."""
    prefix = vault_options["prefix"]
    user, password = f"short-{RUN}", "pw-" + uuid.uuid4().hex
    _enable_auth(server, "userpass", "userpass")
    server.request("POST", f"auth/userpass/users/{user}", {
        "password": password, "token_policies": [_reader_policy(server, f"short-{RUN}", prefix)],
        "token_ttl": "4s", "token_max_ttl": "1h"})
    values = _seed(server, prefix)
    manager = factory.build_manager({"provider": "vault", "vault_addr": server.addr, "vault_auth_method": "userpass",
                                     "vault_username": user, "vault_password": password, "prefix": prefix,
                                     "audit_log": "false"}, env={})
    backend = manager.backend
    renewals_before = sum(1 for entry in server.audit_entries()
                          if entry.get("request", {}).get("path") == "auth/token/renew-self")
    assert manager.get("login-a", bypass_cache=True).value == values["login-a"]
    assert (backend.logins, backend.renewals) == (1, 0)
    while backend._clock() < backend._token_deadline:  # wait until the renewal is due (token still valid)
        time.sleep(0.1)
    assert manager.get("login-b", bypass_cache=True).value == values["login-b"]
    assert (backend.logins, backend.renewals) == (1, 1)
    renewals = sum(1 for entry in server.audit_entries() if entry.get("request", {}).get("path") == "auth/token/renew-self")
    assert renewals - renewals_before == 1
    while backend._clock() < backend._token_expires + 0.5:  # let the token expire
        time.sleep(0.1)
    assert manager.get("login-a", bypass_cache=True).value == values["login-a"]
    assert backend.logins == 2


# a server that echoes the login request ------------------------------------------------------------------
def _echo_login(request):
    """A 400 that quotes the request body, as some proxies and API gateways in front of Vault do."""
    import json

    body = request.body.decode("utf-8", "replace")
    return 400, {"Content-Type": "application/json"}, json.dumps({"errors": [f"invalid request: {body}"]}).encode()


@pytest.mark.parametrize("method", ["userpass", "jwt", "approle"])
def test_a_refusal_that_echoes_the_request_never_shows_the_credential(server, method, tmp_path):
    proxies = servers.load("fault_proxy")
    credential = f"{CANARY}-" + "x" * 600  # longer than the 300 characters a message keeps
    options = {"userpass": {"vault_username": "someone", "vault_password": credential},
               "jwt": {"vault_role": "deploy", "vault_jwt": credential},
               "approle": {"vault_role_id": "role-" + RUN, "vault_secret_id": credential}}[method]
    with proxies.FaultProxy(server.addr, fault_rate=1.0, answer=_echo_login,
                            exempt=lambda seen: "/login" not in seen.path) as proxy:
        manager = factory.build_manager({"provider": "vault", "vault_addr": proxy.url, "vault_auth_method": method,
                                         "audit_log": str(tmp_path / "audit.log"), **options}, env={})
        with pytest.raises(errors.SecretDenied) as caught:
            manager.get("anything", bypass_cache=True)
        assert proxy.snapshot().faults >= 1
    text = f"{caught.value} {caught.value.hint} {caught.value!r}"
    assert "invalid request" in text and f"login at mount '{method}'" in text
    assert CANARY not in text and "xxxxxxxxxx" not in text
    assert CANARY not in (tmp_path / "audit.log").read_text()


# none: an OpenBao proxy adds the token ---------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def bao_proxy(server, tmp_path):
    """``bao proxy`` in front of the session server, logging in with AppRole itself (auto_auth) and adding
    its token to every request that comes without one (use_auto_auth_token)."""
    import subprocess
    import urllib.error
    import urllib.request

    prefix = f"vibebox/proxy-{RUN}/"
    role = f"proxy-{RUN}"
    role_id, secret_id = server.approle(role, [_reader_policy(server, role, prefix)])
    (tmp_path / "role_id").write_text(role_id)
    (tmp_path / "secret_id").write_text(secret_id)
    port = _free_port()
    config = tmp_path / "proxy.hcl"
    config.write_text(f"""
vault {{
  address = "{server.addr}"
}}
auto_auth {{
  method "approle" {{
    mount_path = "auth/approle"
    config = {{
      role_id_file_path = "{tmp_path / 'role_id'}"
      secret_id_file_path = "{tmp_path / 'secret_id'}"
      remove_secret_id_file_after_reading = false
    }}
  }}
}}
api_proxy {{
  use_auto_auth_token = true
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  tls_disable = true
}}
""")
    env = {key: item for key, item in os.environ.items() if not key.startswith(("VAULT_", "BAO_"))}
    log = open(tmp_path / "proxy.log", "wb")
    process = subprocess.Popen([_launcher().find_bao(), "proxy", f"-config={config}"], stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=str(tmp_path))
    values = _seed(server, prefix)
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # ready once auto_auth has its token: a read without one then succeeds
            try:
                with urllib.request.urlopen(f"{address}/v1/secret/data/{prefix}login-a", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("bao proxy did not serve: " + (tmp_path / "proxy.log").read_text()[-2000:])
                time.sleep(0.1)
        yield address, prefix, values
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_none_reads_through_an_openbao_proxy_that_adds_the_token(tmp_path, run_dir, server, bao_proxy):
    address, prefix, values = bao_proxy
    proxied = type(server)(address, "", server.process, server.workdir, server.log_path, _owns_workdir=False)
    result = _run(tmp_path, run_dir, proxied, prefix, {"VAULT_AUTH_METHOD": "none"}, values)
    assert result.rc == 0, result.output[-4000:]
    assert result.recap(f"host{HOSTS - 1:02d}")["ok"] == 3
    assert CANARY not in result.output
    # without the proxy, the same options send no token and Vault refuses
    manager = factory.build_manager({"provider": "vault", "vault_addr": server.addr, "vault_auth_method": "none",
                                     "vault_token": server.token, "prefix": prefix, "audit_log": "false"}, env={})
    with pytest.raises(errors.SecretDenied):
        manager.get("login-a", bypass_cache=True)


# bad input through ansible-playbook ----------------------------------------------------------------------------
@pytest.mark.parametrize("options, option", [
    ({"VAULT_AUTH_METHOD": "kerberos"}, "vault_auth_method"),
    ({"VAULT_AUTH_METHOD": "jwt", "VAULT_JWT": CANARY}, "vault_role"),
    ({"VAULT_AUTH_METHOD": "jwt", "VAULT_ROLE": "deploy", "VAULT_JWT_FILE": "/nonexistent/ci.jwt"}, "vault_jwt_file"),
    ({"VAULT_AUTH_METHOD": "kubernetes", "VAULT_ROLE": "awx", "VAULT_KUBERNETES_TOKEN_FILE": "/nonexistent/token"},
     "vault_kubernetes_token_file"),
    ({"VAULT_AUTH_METHOD": "cert", "VAULT_ROLE": "ansible"}, "vault_addr"),
])
def test_bad_input_fails_the_run_before_any_request_naming_the_option(tmp_path, run_dir, server, options, option):
    before = len(server.audit_entries())
    result = _run(tmp_path, run_dir, server, "vibebox/bad-input/", {"VAULT_PASSWORD": CANARY, **options},
                  {n: n for n in SECRETS}, hosts=1)
    assert result.rc != 0
    assert option in result.output, result.output[-3000:]
    assert CANARY not in result.output
    assert len(server.audit_entries()) == before, "nothing may reach Vault"


def test_empty_login_variables_as_awx_injects_them_keep_the_token_default(tmp_path, run_dir, server):
    """The AWX credential type injects every field, the unset ones as empty variables."""
    prefix = f"vibebox/awx-empty-{RUN}/"
    values = _seed(server, prefix)
    empty = {variable: "" for variable in ("VAULT_AUTH_METHOD", "VAULT_AUTH_MOUNT", "VAULT_USERNAME", "VAULT_PASSWORD",
                                           "VAULT_ROLE", "VAULT_JWT", "VAULT_KUBERNETES_TOKEN_FILE", "VAULT_CLIENT_CERT",
                                           "VAULT_CLIENT_KEY", "VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_JWT_FILE")}
    result = _run(tmp_path, run_dir, server, prefix, empty, values, hosts=1)
    assert result.rc != 0 and "vault_auth_method" in result.output  # no token either: nothing to log in with
    env = state_env(tmp_path, {"SECRET_PROVIDER": "vault", "VAULT_ADDR": server.addr, "VAULT_PREFIX": prefix,
                               "VIBEBOX_RUN_CACHE_DIR": run_dir, **empty, "VAULT_TOKEN": server.token})
    play = write_playbook(tmp_path, FLEET_PLAY, name="token.yml")
    result = run_playbook(play, env, inventory=_inventory(tmp_path, 1),
                          extra_vars={"hash_a": _sha(values["login-a"]), "hash_b": _sha(values["login-b"])})
    assert result.rc == 0, result.output[-3000:]
