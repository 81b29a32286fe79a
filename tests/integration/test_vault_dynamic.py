"""Dynamic database credentials: OpenBao's database secrets engine (postgresql-database-plugin) against the
real PostgreSQL of the rotation tests, read by a real ansible-playbook run.

A dynamic secret is made on each read (a new database user per lease), so the run cache must read it once
for the whole run: 50 hosts x 1 lookup make exactly one new role, counted in pg_roles. The credentials log in,
vibebox.secrets.vault_lease revokes the lease (which drops the role) idempotently and in check mode, and the
password appears nowhere in the output at -vvvv.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid

import pytest

from ansible_run import run_playbook, state_env, write_playbook

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import vault

ROLE = "app"

READ_PLAY = """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: read database credentials on every host
      ansible.builtin.set_fact:
        creds: "{{ lookup('vibebox.secrets.get', dyn_path, provider='vault', engine='dynamic',
                   vault_revoke_leases_at_end=revoke_at_end) }}"
        user_only: "{{ lookup('vibebox.secrets.get', dyn_path, provider='vault', engine='dynamic', json_key='username',
                       vault_revoke_leases_at_end=revoke_at_end) }}"
      no_log: true
    - name: a reference in a template reads the same lease
      ansible.builtin.set_fact:
        db_url: "{{ url_template | vibebox.secrets.resolve(provider='vault', engine='dynamic',
                    vault_revoke_leases_at_end=revoke_at_end) }}"
      no_log: true
    - name: every host got the same lease and the same user, with every field
      ansible.builtin.assert:
        that:
          - ansible_play_hosts | map('extract', hostvars, ['creds', 'lease_id']) | unique | length == 1
          - ansible_play_hosts | map('extract', hostvars, 'user_only') | unique | length == 1
          - creds.username == user_only
          - creds.lease_id.startswith(dyn_path ~ '/')
          - creds.lease_duration > 0
          - creds.renewable
          - creds.password | length > 0
        quiet: true
      run_once: true
    - name: on every host the template got the lookup's lease
      ansible.builtin.assert:
        that: db_url == 'postgresql://' ~ creds.username ~ ':' ~ creds.password ~ '@db/app'
        quiet: true
    - name: hand the credentials to the test (which logs in with them and looks for the password in the output)
      ansible.builtin.copy:
        content: "{{ creds | to_json }}"
        dest: "{{ creds_file }}"
        mode: "0600"
      no_log: true
      run_once: true
"""

PER_HOST_PLAY = """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: read database credentials on every host (twice, from the same fork)
      ansible.builtin.set_fact:
        creds: "{{ lookup('vibebox.secrets.get', dyn_path, provider='vault', engine='dynamic') }}"
        user_only: "{{ lookup('vibebox.secrets.get', dyn_path, provider='vault', engine='dynamic', json_key='username') }}"
      no_log: true
    - name: hand one host's credentials to the test
      ansible.builtin.copy:
        content: "{{ creds | to_json }}"
        dest: "{{ creds_file }}"
        mode: "0600"
      no_log: true
      run_once: true
"""

LEASE_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: revoke or renew the run's lease
      vibebox.secrets.vault_lease:
        lease_id: "{{ lease_id | default(omit) }}"
        lease_prefix: "{{ lease_prefix | default(omit) }}"
        state: "{{ lease_state | default(omit) }}"
        increment: "{{ increment | default(omit) }}"
      register: lease_result
    - name: show what the module returned
      ansible.builtin.debug:
        var: lease_result
"""


@pytest.fixture
def server(openbao_server):
    if openbao_server is None:
        pytest.skip("configures a database secrets engine as root: runs only against the test server")
    return openbao_server


@pytest.fixture
def database_engine(server, postgres_server):
    """A database secrets engine at a mount of this test, connected to PostgreSQL, with the role ``app``."""
    mount = f"db{uuid.uuid4().hex[:8]}"
    server.request("POST", f"sys/mounts/{mount}", {"type": "database"})
    server.request("POST", f"{mount}/config/pg", {
        "plugin_name": "postgresql-database-plugin",
        "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{postgres_server.host}:{postgres_server.port}"
                          "/postgres?sslmode=disable",
        "username": postgres_server.user, "password": postgres_server.password, "allowed_roles": [ROLE],
    })
    server.request("POST", f"{mount}/roles/{ROLE}", {
        "db_name": "pg",
        "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"],
        "default_ttl": "1h", "max_ttl": "2h",
    })
    yield mount
    server.request("PUT", f"sys/leases/revoke-prefix/{mount}")
    server.request("DELETE", f"sys/mounts/{mount}")


@pytest.fixture
def run_dir():
    path = tempfile.mkdtemp(prefix="vbdyn-")  # short: Unix socket paths are limited to about 100 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _roles(postgres_server) -> set:
    import psycopg

    with psycopg.connect(**postgres_server.admin(), autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT rolname FROM pg_roles").fetchall()}


def _leases(server, mount: str) -> list:
    try:
        answer = server.request("LIST", f"sys/leases/lookup/{mount}/creds/{ROLE}/")
    except Exception as exc:  # 404: no lease at all
        if getattr(exc, "status", None) == 404:
            return []
        raise
    return list((answer or {}).get("data", {}).get("keys") or [])


def _inventory(tmp_path, hosts: int) -> str:
    lines = ["[fleet]"] + [f"host{index:02d}" for index in range(hosts)]
    lines += ["", "[fleet:vars]", "ansible_connection=local", "ansible_python_interpreter={{ ansible_playbook_python }}"]
    path = tmp_path / "inventory.ini"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _env(tmp_path, server, run_dir, **extra) -> dict:
    return state_env(tmp_path, {"VAULT_ADDR": server.addr, "VAULT_TOKEN": server.token, "VIBEBOX_RUN_CACHE_DIR": run_dir,
                                "ANSIBLE_FORKS": "10", **extra})


def _helper_gone(run_dir: str, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [name for name in os.listdir(run_dir) if name.startswith("run-")]:
            return True
        time.sleep(0.05)
    return False


def _read_fleet(tmp_path, server, mount, run_dir, hosts, revoke_at_end=False, play_text=READ_PLAY, **env):
    creds_file = tmp_path / "creds.json"
    play = write_playbook(tmp_path, play_text)
    result = run_playbook(play, _env(tmp_path, server, run_dir, **env), "-vvvv", inventory=_inventory(tmp_path, hosts),
                          extra_vars={"dyn_path": f"{mount}/creds/{ROLE}", "creds_file": str(creds_file), "revoke_at_end": revoke_at_end,
                                      "url_template": f"postgresql://${{secret:{mount}/creds/{ROLE}#username}}:"
                                                      f"${{secret:{mount}/creds/{ROLE}#password}}@db/app"})
    assert result.rc == 0, result.output[-4000:]
    import json

    return result, json.loads(creds_file.read_text())


def _lease(tmp_path, server, run_dir, *args, **lease_args):
    play = write_playbook(tmp_path, LEASE_PLAY, name="lease.yml")
    return run_playbook(play, _env(tmp_path, server, run_dir), "-vvvv", *args, extra_vars=lease_args)


def test_fifty_hosts_share_one_lease_that_logs_in_and_vault_lease_revokes(
        tmp_path, server, database_engine, postgres_server, run_dir):
    import psycopg

    before = _roles(postgres_server)
    result, creds = _read_fleet(tmp_path, server, database_engine, run_dir, 50)
    assert result.recap("host49")["failed"] == 0
    made = _roles(postgres_server) - before
    assert made == {creds["username"]}, ("50 hosts x 1 lookup made exactly one database role",
                                         _leases(server, database_engine), result.output[-3000:])
    assert _leases(server, database_engine) == [creds["lease_id"].rsplit("/", 1)[1]], "and exactly one lease"
    assert creds["password"] not in result.output, "the password appears nowhere at -vvvv"
    assert _helper_gone(run_dir), "the run cache helper ends with the run"
    assert not os.listdir(run_dir), "and leaves nothing on disk"

    with psycopg.connect(host=postgres_server.host, port=postgres_server.port, user=creds["username"],
                         password=creds["password"], dbname="postgres", connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == creds["username"]

    checked = _lease(tmp_path, server, run_dir, "--check", lease_id=creds["lease_id"], lease_state="revoked")
    assert checked.rc == 0, checked.output[-3000:]
    assert checked.changed() == 1, "check mode says the lease would be revoked"
    assert creds["username"] in _roles(postgres_server), "check mode revoked nothing"

    renewed = _lease(tmp_path, server, run_dir, lease_id=creds["lease_id"], lease_state="renewed", increment="30m")
    assert renewed.rc == 0, renewed.output[-3000:]
    assert renewed.changed() == 1

    revoked = _lease(tmp_path, server, run_dir, lease_id=creds["lease_id"], lease_state="revoked")
    assert revoked.rc == 0, revoked.output[-3000:]
    assert revoked.changed() == 1
    assert _roles(postgres_server) == before, "revoking the lease dropped the database role"
    assert _leases(server, database_engine) == []

    again = _lease(tmp_path, server, run_dir, lease_id=creds["lease_id"], lease_state="revoked")
    assert again.rc == 0, again.output[-3000:]
    assert again.changed() == 0, "revoking a lease that is gone changes nothing"

    gone = _lease(tmp_path, server, run_dir, lease_id=creds["lease_id"], lease_state="renewed")
    assert gone.rc != 0 and "does not exist any more" in gone.output
    for run in (checked, renewed, revoked, again, gone):
        assert creds["password"] not in run.output


def test_revoke_leases_at_end_drops_the_role_when_the_run_ends(
        tmp_path, server, database_engine, postgres_server, run_dir):
    before = _roles(postgres_server)
    result, creds = _read_fleet(tmp_path, server, database_engine, run_dir, 5,
                                revoke_at_end=True)
    assert _helper_gone(run_dir), "the helper ends with the run, revoking first"
    assert _roles(postgres_server) == before, "the run's role is gone once the run has ended"
    assert _leases(server, database_engine) == []
    assert creds["password"] not in result.output


def test_without_the_run_cache_every_host_makes_its_own_database_user(tmp_path, server, database_engine,
                                                                      postgres_server, run_dir):
    """What the run cache saves (and what a lookup that reads per host, like community.hashi_vault's, costs)."""
    before = _roles(postgres_server)
    result, creds = _read_fleet(tmp_path, server, database_engine, run_dir, 5, play_text=PER_HOST_PLAY,
                                VIBEBOX_RUN_CACHE="false")
    # the two lookups of one host share the fork's own cache; the hosts share nothing
    assert len(_roles(postgres_server) - before) == 5, "one database user per host"
    assert len(_leases(server, database_engine)) == 5
    assert creds["password"] not in result.output


def test_revoking_a_prefix_reaches_every_lease_under_it(tmp_path, server, database_engine, postgres_server, run_dir):
    options = dict(provider="vault", vault_addr=server.addr, vault_token=server.token, engine="dynamic", audit_log="false")
    manager = factory.build_manager(options, env={})
    try:
        before = _roles(postgres_server)
        first = manager.get(f"{database_engine}/creds/{ROLE}", bypass_cache=True).value
        second = manager.get(f"{database_engine}/creds/{ROLE}", bypass_cache=True).value
        assert first["lease_id"] != second["lease_id"], "without the run cache each read is a new lease"
        assert len(_roles(postgres_server) - before) == 2
    finally:
        manager.close()
    result = _lease(tmp_path, server, run_dir, "--check", lease_prefix=f"{database_engine}/creds/{ROLE}")
    assert result.rc == 0 and result.changed() == 1, result.output[-3000:]
    assert len(_roles(postgres_server) - before) == 2
    result = _lease(tmp_path, server, run_dir, lease_prefix=f"{database_engine}/creds/{ROLE}")
    assert result.rc == 0 and result.changed() == 1, result.output[-3000:]
    assert _roles(postgres_server) == before
    result = _lease(tmp_path, server, run_dir, lease_prefix=f"{database_engine}/creds/{ROLE}")
    assert result.rc == 0 and result.changed() == 0, result.output[-3000:]


def test_the_dynamic_mount_option_and_bad_paths(server, database_engine):
    options = dict(provider="vault", vault_addr=server.addr, vault_token=server.token, engine="dynamic", audit_log="false")
    manager = factory.build_manager(dict(options, vault_dynamic_mount=database_engine), env={})
    try:
        value = manager.get(f"creds/{ROLE}").value
        assert value["lease_id"].startswith(f"{database_engine}/creds/{ROLE}/")
        vault.revoke_lease(manager.backend, value["lease_id"])
    finally:
        manager.close()
    manager = factory.build_manager(options, env={})
    try:
        with pytest.raises(errors.InvalidOption, match="has no mount"):
            manager.get("app")
        with pytest.raises(errors.InvalidOption, match="unknown role"):
            manager.get(f"{database_engine}/creds/nobody")
        with pytest.raises(errors.ReadOnlyProvider):
            manager.set(f"{database_engine}/creds/{ROLE}", "x")
    finally:
        manager.close()
    with pytest.raises(errors.InvalidOption, match="engine must be one of"):
        factory.build_manager(dict(options, engine="transit"), env={})


def _documented_policy(mount: str) -> str:
    """The least-privilege policy of docs/providers/vault.md, for this test's mount."""
    from ansible_run import REPO

    text = open(os.path.join(REPO, "docs", "providers", "vault.md"), encoding="utf-8").read()
    section = text.split("### Least-privilege policy", 1)[1]
    hcl = section.split("```hcl", 1)[1].split("```", 1)[0]
    assert 'path "database/creds/app"' in hcl
    return hcl.replace('"database/', f'"{mount}/').replace("lookup/database/", f"lookup/{mount}/")


def test_the_documented_policy_is_enough_for_reading_renewing_and_revoking(server, database_engine, postgres_server):
    policy = f"dyn-{database_engine}"
    server.write_policy(policy, _documented_policy(database_engine))
    token = server.request("POST", "auth/token/create", {"policies": [policy], "ttl": "10m"})["auth"]["client_token"]
    options = dict(provider="vault", vault_addr=server.addr, vault_token=token, engine="dynamic", audit_log="false")
    before = _roles(postgres_server)
    manager = factory.build_manager(options, env={})
    try:
        value = manager.get(f"{database_engine}/creds/{ROLE}").value
        assert vault.manage_leases(manager.backend, "renewed", lease_id=value["lease_id"], increment=600)["changed"]
        assert vault.manage_leases(manager.backend, "revoked", lease_prefix=f"{database_engine}/creds/{ROLE}",
                                   check_mode=True)["changed"]
        assert vault.manage_leases(manager.backend, "revoked", lease_id=value["lease_id"])["changed"]
        assert _roles(postgres_server) == before
        with pytest.raises(errors.SecretDenied, match="sys/leases/lookup"):
            vault.manage_leases(manager.backend, "revoked", lease_prefix=f"{database_engine}/creds/other")
        with pytest.raises(errors.SecretDenied):
            manager.get(f"{database_engine}/roles/{ROLE}")  # the policy reads credentials, nothing else
    finally:
        manager.close()
