"""Faults and load: the collection keeps working, and loses nothing, when the service does not.

A fault-injecting proxy (tests/servers/fault_proxy.py) sits between the collection and the real
servers (OpenBao, moto) and throttles 30% of the requests in the services' own shapes, cuts the
connection at an exact point, or stops answering. What is proved here:

- a 50-host lookup run (forks 10) and a 100-key migration succeed under 30% throttling, and every
  retry is reported in the audit log: the retries reported add up to the faults injected, and none
  goes past the retry policy's bound;
- a server that dies after a rotation wrote its new value leaves either the old value or a failed
  run that says what was changed and how to roll it back; a migration that dies half-way (when
  playbooks/migrate.yml exists) is rolled back or names what it changed and the backup;
- an unreachable endpoint (a closed port, a port that accepts and never answers) fails within a
  bounded time, with a message naming the provider. Times are measured and printed, and only
  checked against a generous bound (the machine running the tests may be busy).

Figures (requests survived, faults, retries, seconds) are printed with ``-s`` and kept in
tests/output/faults.json for docs/faults.md.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from typing import Any, Dict, List, Optional

import pytest

from ansible_run import REPO, run_playbook, state_env, write_playbook
import servers

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core.retry import THROTTLED_ATTEMPTS

RATE = 0.3
SEED = 10
HOSTS = 50
FLEET_SECRETS = [f"fleet-{index}" for index in range(5)]
MIGRATION_KEYS = 100
RUN = uuid.uuid4().hex[:6]
#: in every migrated value, so that a failing or throttled run can also be checked for leaks
CANARY = "CANARY-faults-" + uuid.uuid4().hex
_FIGURES = os.path.join(REPO, "tests", "output", "faults.json")


def _load_proxy_module():
    """tests/servers/fault_proxy.py by path (tests/servers is not a package)."""
    return servers.load("fault_proxy")


fault_proxy = _load_proxy_module()


def _record(key: str, figures: Dict[str, Any]) -> None:
    """Keep the figures of this run for docs/faults.md (and print them for ``pytest -s``)."""
    print(f"\n[faults] {key}: {json.dumps(figures, sort_keys=True)}")
    os.makedirs(os.path.dirname(_FIGURES), exist_ok=True)
    try:
        with open(_FIGURES, "r", encoding="utf-8") as handle:
            known = json.load(handle)
    except (OSError, ValueError):
        known = {}
    known[key] = figures
    with open(_FIGURES, "w", encoding="utf-8") as handle:
        json.dump(known, handle, indent=2, sort_keys=True)


def _audit_entries(path: str) -> List[Dict[str, Any]]:
    if not os.path.exists(path):
        return []
    with open(path, "r", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _retries_in(entries: List[Dict[str, Any]], provider: Optional[str] = None) -> List[int]:
    return [int(entry.get("retries") or 0) for entry in entries if provider in (None, entry.get("provider"))]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# targets: a real server, a proxy in front of it, and managers for both ----------------------------------
class Target:
    """One provider behind a fault proxy: ``direct`` options bypass the proxy (to seed and to check)."""

    def __init__(self, provider: str, direct: Dict[str, Any], proxy: Any, endpoint_option: str) -> None:
        self.provider = provider
        self.direct = direct
        self.proxy = proxy
        self.endpoint_option = endpoint_option

    @property
    def proxied(self) -> Dict[str, Any]:
        return {**self.direct, self.endpoint_option: self.proxy.url}

    def manager(self, through_proxy: bool = False, **extra: Any):
        return factory.build_manager({**(self.proxied if through_proxy else self.direct), **extra}, env={})


@pytest.fixture(scope="module")
def vault_token(openbao_server) -> str:
    """A token of its own, not the dev root token "root": Ansible masks every no_log value wherever it
    appears in a module's result, and "root" is part of paths such as /tmp/pytest-of-root/..."""
    if openbao_server is None:
        pytest.skip("fault injection needs the local OpenBao server, not a real one (VIBEBOX_TEST_VAULT_REAL=1)")
    answer = openbao_server.request("POST", "auth/token/create", {"policies": ["root"], "ttl": "2h"})
    return answer["auth"]["client_token"]


@pytest.fixture
def vault_target(openbao_server, vault_token):
    with fault_proxy.FaultProxy(openbao_server.addr, seed=SEED) as proxy:
        yield Target("vault", {"provider": "vault", "vault_addr": openbao_server.addr, "vault_token": vault_token,
                               "prefix": f"faults-{RUN}-{uuid.uuid4().hex[:6]}/", "audit_log": "false"}, proxy, "vault_addr")


@pytest.fixture
def aws_target(moto_server):
    if moto_server is None:
        pytest.skip("fault injection needs the local moto server, not the real AWS (VIBEBOX_TEST_AWS_REAL=1)")
    env = moto_server.env()
    with fault_proxy.FaultProxy(moto_server.url, seed=SEED + 1) as proxy:
        yield Target("aws", {"provider": "aws", "aws_endpoint_url": moto_server.url, "aws_region": env["AWS_SECRET_MANAGER_REGION"],
                             "aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
                             "prefix": f"vibebox/faults-{RUN}-{uuid.uuid4().hex[:6]}/", "audit_log": "false"}, proxy,
                     "aws_endpoint_url")


@pytest.fixture
def run_dir():
    path = tempfile.mkdtemp(prefix="vbft-")  # short: Unix socket paths are limited to about 100 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


# the proxy itself -------------------------------------------------------------------------------------------
def test_the_proxy_throttles_in_each_services_shape_and_counts(vault_target, aws_target):
    """Without this, a proxy that forwarded everything would make every test below pass for nothing."""
    import urllib.error
    import urllib.request

    vault_target.proxy.set_fault_rate(1.0)
    request = urllib.request.Request(f"{vault_target.proxy.url}/v1/secret/data/x", headers={"X-Vault-Token": "root"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 429 and json.loads(caught.value.read()) == {"errors": ["rate limited"]}

    aws_target.proxy.set_fault_rate(1.0)
    request = urllib.request.Request(aws_target.proxy.url + "/", data=b"{}", method="POST", headers={
        "X-Amz-Target": "secretsmanager.GetSecretValue", "Content-Type": "application/x-amz-json-1.1"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert json.loads(caught.value.read()) == {"__type": "ThrottlingException", "message": "Rate exceeded"}
    for target in (vault_target, aws_target):
        stats = target.proxy.snapshot()
        assert (stats.requests, stats.faults, stats.forwarded) == (1, 1, 0)

    # at 0% everything is relayed, and the SDKs read the real answers through it
    aws_target.proxy.set_fault_rate(0.0)
    manager = aws_target.manager(through_proxy=True)
    manager.set("through", "relayed")
    assert aws_target.manager().get("through").value == "relayed"
    assert aws_target.proxy.snapshot().writes_forwarded == 1


# throttling ------------------------------------------------------------------------------------------------
FLEET_PLAY = """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: read the secrets from Vault and from Secrets Manager, both throttled
      ansible.builtin.set_fact:
        from_vault: >-
          {{ query('vibebox.secrets.get', *names, provider='vault', vault_addr=vault_addr, vault_token=vault_token,
                   prefix=vault_prefix, bypass_cache=true) }}
        from_aws: >-
          {{ query('vibebox.secrets.get', *names, provider='aws', aws_endpoint_url=aws_endpoint_url, aws_region=aws_region,
                   aws_access_key_id=aws_key, aws_secret_access_key=aws_secret, prefix=aws_prefix, bypass_cache=true) }}
      no_log: true
    - name: every host got every value
      ansible.builtin.assert:
        that:
          - from_vault | map('hash', 'sha256') | list == expected
          - from_aws | map('hash', 'sha256') | list == expected
        quiet: true
      no_log: true
"""


def _inventory(tmp_path, hosts: int) -> str:
    lines = ["[fleet]"] + [f"host{index:02d}" for index in range(hosts)]
    lines += ["", "[fleet:vars]", "ansible_connection=local", "ansible_python_interpreter={{ ansible_playbook_python }}"]
    path = tmp_path / "inventory.ini"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_fifty_hosts_read_through_thirty_percent_throttling(tmp_path, vault_target, aws_target, run_dir):
    values = {name: f"fleet-value-{uuid.uuid4().hex}" for name in FLEET_SECRETS}
    for target in (vault_target, aws_target):
        seeding = target.manager()
        for name, value in values.items():
            seeding.set(name, value)
        target.proxy.set_fault_rate(RATE)
    env = state_env(tmp_path, {"VIBEBOX_RUN_CACHE_DIR": run_dir})
    play = write_playbook(tmp_path, FLEET_PLAY)
    aws = aws_target.proxied
    started = time.monotonic()
    result = run_playbook(play, env, "-f", "10", inventory=_inventory(tmp_path, HOSTS), extra_vars={
        "names": FLEET_SECRETS, "expected": [_sha(values[name]) for name in FLEET_SECRETS],
        "vault_addr": vault_target.proxy.url, "vault_token": vault_target.direct["vault_token"],
        "vault_prefix": vault_target.direct["prefix"], "aws_endpoint_url": aws["aws_endpoint_url"],
        "aws_region": aws["aws_region"], "aws_key": aws["aws_access_key_id"], "aws_secret": aws["aws_secret_access_key"],
        "aws_prefix": aws["prefix"],
    })
    seconds = round(time.monotonic() - started, 1)
    assert result.rc == 0, result.output[-4000:]
    assert result.recap(f"host{HOSTS - 1:02d}")["ok"] == 2 and "failed=1" not in result.stdout

    audit = _audit_entries(str(tmp_path / "state" / "vibebox" / "audit.log"))
    figures: Dict[str, Any] = {"hosts": HOSTS, "forks": 10, "secrets_per_provider": len(FLEET_SECRETS),
                               "fault_rate": RATE, "seconds": seconds}
    for target in (vault_target, aws_target):
        stats = target.proxy.snapshot()
        retries = _retries_in([entry for entry in audit if entry["op"] == "get"], target.provider)
        figures[target.provider] = {"requests": stats.requests, "faults": stats.faults, "forwarded": stats.forwarded,
                                    "retries_reported": sum(retries), "longest_fault_streak": stats.longest_fault_streak}
        assert stats.faults > 0, f"{target.provider}: nothing was throttled, so nothing was proved"
        # every injected fault was answered by exactly one retry, and the audit log says so
        assert sum(retries) == stats.faults, (target.provider, sum(retries), stats.faults)
        assert stats.longest_fault_streak < THROTTLED_ATTEMPTS, "a request was retried past the bound"
        assert not [entry for entry in audit if entry.get("provider") == target.provider and not entry["ok"]]
    _record("fleet_lookups", figures)


def _migrate_with_the_module_logic(manager, plan: Dict[str, str], writers: int = 4) -> Dict[str, str]:
    """What vibebox.secrets.secret does per key (describe, compare, write), for each key of a .env.

    Used when playbooks/migrate.yml is not there: 100 module runs cost minutes on a busy 2-core
    machine, while this is the same core path (SecretManager) that the module and the role call.
    ``writers`` keys are migrated at once (as with forks), because under throttling most of the
    time is backoff, and a test that sleeps for a minute is a test nobody runs.
    """

    def one(name: str) -> str:
        value = plan[name]
        try:
            manager.describe(name)
            current = manager.get(name, bypass_cache=True).value
            action = "unchanged" if current == value else "update"
        except errors.SecretNotFound:
            action = "create"
        if action != "unchanged":
            manager.set(name, value, description="migrated from app.env", tags={"source": "migration"})
        return action

    with concurrent.futures.ThreadPoolExecutor(max_workers=writers) as pool:
        return dict(zip(plan, pool.map(one, plan)))


def _migration_plan(keys: int) -> Dict[str, str]:
    return {f"key-{index:03d}": f"{CANARY}-{index:03d}-{uuid.uuid4().hex[:12]}" for index in range(keys)}


def _env_file(path, plan: Dict[str, str]) -> str:
    lines = [f"{name.upper().replace('-', '_')}={value}" for name, value in plan.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _provider_vars(target: Target, proxied: bool = True) -> Dict[str, Any]:
    options = target.proxied if proxied else target.direct
    return {key: value for key, value in options.items() if key != "audit_log"}


def test_a_hundred_key_migration_survives_thirty_percent_throttling(tmp_path, vault_target, aws_target):
    plan = _migration_plan(MIGRATION_KEYS)
    figures: Dict[str, Any] = {"keys": MIGRATION_KEYS, "fault_rate": RATE}
    migrate = os.path.join(REPO, "playbooks", "migrate.yml")

    def run(target: Target) -> Dict[str, Any]:
        audit = tmp_path / f"{target.provider}-audit.log"
        target.proxy.set_fault_rate(RATE)
        started = time.monotonic()
        if os.path.exists(migrate):
            env = state_env(tmp_path / target.provider, {"VIBEBOX_AUDIT_LOG": str(audit)})
            result = run_playbook(migrate, env, extra_vars={
                "env_file": _env_file(tmp_path / f"{target.provider}.env", plan), **_provider_vars(target),
                "migrate_backup_dir": str(tmp_path / f"{target.provider}-backups"),
            })
            assert result.rc == 0, result.output[-4000:]
            assert CANARY not in result.output
            how = "playbooks/migrate.yml"
        else:
            manager = target.manager(through_proxy=True, audit_log=str(audit))
            actions = _migrate_with_the_module_logic(manager, plan)
            assert set(actions.values()) == {"create"}
            how = "SecretManager, the secret module's steps, 4 writers"
        seconds = round(time.monotonic() - started, 1)
        stats = target.proxy.snapshot()
        target.proxy.set_fault_rate(0.0)
        retries = _retries_in(_audit_entries(str(audit)))
        return {"how": how, "seconds": seconds, "requests": stats.requests, "faults": stats.faults,
                "writes_forwarded": stats.writes_forwarded, "retries_reported": sum(retries),
                "longest_fault_streak": stats.longest_fault_streak}

    # both migrations at once: most of their time is spent waiting for backoff, not computing
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = dict(zip(("vault", "aws"), pool.map(run, (vault_target, aws_target))))
    for target in (vault_target, aws_target):
        got = outcomes[target.provider]
        figures[target.provider] = got
        assert got["faults"] > 0
        assert got["retries_reported"] == got["faults"], got
        assert got["longest_fault_streak"] < THROTTLED_ATTEMPTS
        checking = target.manager()
        found = checking.get_many(list(plan), bypass_cache=True)
        wrong = [name for name, outcome in found.items() if getattr(outcome, "value", None) != plan[name]]
        assert not wrong, f"{target.provider}: {len(wrong)} keys not migrated: {wrong[:5]}"
    _record("migration", figures)


# a server that dies half-way ------------------------------------------------------------------------------
ROTATE_PLAY_ARGS = ("-e", "rotate_secret=jwt-secret")


def test_a_server_dying_after_a_rotation_wrote_leaves_no_unreported_change(tmp_path, vault_target):
    """Vault goes away right after the rotation's new value was written (its tags never are).

    Whatever the run then says must be true: either the old value is current again, or the failure
    says that the secret was changed and how to roll it back.
    """
    seeding = vault_target.manager()
    old_value = f"{CANARY}-jwt-before"
    before = seeding.set("jwt-secret", old_value)
    proxy = vault_target.proxy
    # the rotation writes the value (one POST .../data/...), then its tags; the tags write is cut
    proxy.down_after(1, lambda request: request.is_write and "/data/" in request.path, next_any=True)
    env = state_env(tmp_path)
    result = run_playbook(os.path.join(REPO, "playbooks", "rotate.yml"), env, *ROTATE_PLAY_ARGS,
                          extra_vars=_provider_vars(vault_target))
    proxy.come_back()
    assert result.rc != 0, "the run cannot succeed: the server died in the middle"
    assert CANARY not in result.output
    after = seeding.get("jwt-secret", bypass_cache=True)
    changed = after.value != old_value
    _record("rotation_server_died", {"changed_on_server": changed, "version_before": before.version,
                                     "version_after": after.metadata.version})
    if not changed:
        return  # rolled back (or never written): nothing to report
    # the server is gone, so the run cannot know the new version; it must not claim that nothing
    # changed, and it must say how to go back
    text = " ".join(result.output.split())
    assert "The secret was not changed" not in text, "the run says nothing changed, but the value did"
    assert "jwt-secret" in text and "may have been changed" in text, text[-2000:]
    assert f"rollback_to: '{before.version}'" in text, "the failure does not say how to roll back"
    # the advice works once the server is back
    from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import Rotator

    Rotator(seeding).rollback("jwt-secret", before.version)
    assert seeding.get("jwt-secret", bypass_cache=True).value == old_value


def test_a_server_dying_mid_migration_is_rolled_back_or_reported(tmp_path, vault_target):
    migrate = os.path.join(REPO, "playbooks", "migrate.yml")
    seeding = vault_target.manager()
    plan = _migration_plan(40)
    existing = dict(list(plan.items())[:10])
    before = {name: f"{CANARY}-old-{name}" for name in existing}
    for name, value in before.items():
        seeding.set(name, value)
    vault_target.proxy.down_after(25)  # 25 writes reach the server, then it is gone
    backups = tmp_path / "backups"
    env_file = _env_file(tmp_path / "app.env", plan)
    env_text = (tmp_path / "app.env").read_text()
    env = state_env(tmp_path)
    result = run_playbook(migrate, env, extra_vars={"env_file": env_file, **_provider_vars(vault_target),
                                                    "migrate_backup_dir": str(backups)})
    vault_target.proxy.come_back()
    assert result.rc != 0
    assert CANARY not in result.output
    assert (tmp_path / "app.env").read_text() == env_text, "the .env changed"
    for backup in (path for path in backups.rglob("*") if path.is_file()):  # backups, journals, undo files, locks
        assert CANARY.encode() not in backup.read_bytes(), f"{backup.name} holds a value in clear text"
    now = seeding.get_many(list(plan), bypass_cache=True)
    changed = sorted(name for name in plan if getattr(now[name], "value", None) != before.get(name))
    changed = [name for name in changed if not (name not in before and isinstance(now[name], errors.SecretNotFound))]
    _record("migration_server_died", {"keys": len(plan), "writes_before_death": 25, "left_changed": len(changed)})
    if changed:
        text = result.output
        missing = [name for name in changed if name not in text]
        assert not missing, f"changed but not listed in the failure: {missing}"
        backup_files = [str(path) for path in backups.glob("*.backup")]
        assert backup_files and any(path in text for path in backup_files), "the failure does not name the backup"
        assert "migrate_action=rollback" in text
        # through the proxy again: the backup records the address the migration used, and a rollback refuses
        # another address of the same server unless forced
        rollback = run_playbook(migrate, env, extra_vars={"migrate_action": "rollback", "backup": backup_files[0],
                                                          "env_file": env_file, **_provider_vars(vault_target),
                                                          "migrate_backup_dir": str(backups)})
        assert rollback.rc == 0, rollback.output[-4000:]
    final = seeding.get_many(list(plan), bypass_cache=True)
    for name in plan:
        if name in before:
            assert final[name].value == before[name], name
        else:
            assert isinstance(final[name], errors.SecretNotFound), f"{name} was created and not removed"


# timeouts ------------------------------------------------------------------------------------------------
BOUND = 60.0


def _unreachable_cases(endpoint: str, tmp_path) -> Dict[str, Dict[str, Any]]:
    """Provider options pointing every remote provider at ``endpoint`` (http://127.0.0.1:PORT)."""
    port = endpoint.rsplit(":", 1)[1]
    kubeconfig = tmp_path / f"kubeconfig-{port}"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": f"https://127.0.0.1:{port}", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "default"}}],
    }))
    return {
        "vault": {"provider": "vault", "vault_addr": endpoint, "vault_token": "root"},
        "aws": {"provider": "aws", "aws_endpoint_url": endpoint, "aws_region": "us-east-1",
                "aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
        "gcp": {"provider": "gcp", "gcp_project": "p", "gcp_endpoint": f"127.0.0.1:{port}", "gcp_access_token": "t"},
        "azure": {"provider": "azure", "azure_vault_url": f"https://127.0.0.1:{port}", "azure_auth": "service_principal",
                  "azure_tenant_id": "00000000-0000-0000-0000-000000000000", "azure_client_id": "c",
                  "azure_client_secret": "s", "azure_authority_host": f"https://127.0.0.1:{port}",
                  "azure_verify_challenge_resource": False},
        "kubernetes": {"provider": "kubernetes", "kubeconfig": str(kubeconfig), "k8s_namespace": "default"},
    }


def _attempt(options: Dict[str, Any]) -> Dict[str, Any]:
    started = time.monotonic()
    try:
        manager = factory.build_manager({**options, "audit_log": "false"}, env={})
        manager.get("jwt-secret")
        outcome: Any = "answered"
    except errors.SecretError as exc:
        outcome = exc
    except Exception as exc:  # an SDK error that escaped its provider is a finding too
        outcome = exc
    return {"seconds": round(time.monotonic() - started, 1), "outcome": outcome}


@pytest.fixture(scope="module", autouse=True)
def unreachable_attempts(tmp_path_factory):
    """Start every unreachable-endpoint attempt when this file starts, in the background.

    Each attempt mostly waits for its timeout; started first, they wait while the other tests of this
    file run, and the test below (the last one) only collects the results. Times are measured per
    attempt, so running in the background does not change what is measured.
    """
    folder = tmp_path_factory.mktemp("unreachable")
    closed = f"http://127.0.0.1:{fault_proxy.closed_port()}"
    hole = fault_proxy.Blackhole().start()
    cases = {}
    for kind, endpoint in (("closed_port", closed), ("blackhole", hole.url)):
        for provider, options in _unreachable_cases(endpoint, folder).items():
            cases[(kind, provider)] = options
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(cases))
    futures = {key: pool.submit(_attempt, options) for key, options in cases.items()}
    yield futures
    hole.stop()  # attempts still waiting (the test was not selected) now fail at once
    pool.shutdown(wait=True)


def test_unreachable_endpoints_fail_in_bounded_time_naming_the_provider(unreachable_attempts):
    done = {key: future.result(timeout=300) for key, future in unreachable_attempts.items()}
    figures: Dict[str, Any] = {}
    problems = []
    for (kind, provider), got in sorted(done.items()):
        outcome = got["outcome"]
        figures[f"{kind}/{provider}"] = {"seconds": got["seconds"], "error": type(outcome).__name__,
                                         "message": str(outcome)[:200]}
        if not isinstance(outcome, errors.SecretError):
            problems.append(f"{kind}/{provider}: not a core error: {type(outcome).__name__}: {outcome}")
        elif f"[{provider}]" not in str(outcome):
            problems.append(f"{kind}/{provider}: the message does not name the provider: {outcome}")
        elif not isinstance(outcome, errors.ProviderUnavailable):
            problems.append(f"{kind}/{provider}: {type(outcome).__name__} instead of ProviderUnavailable: {outcome}")
        if got["seconds"] > BOUND:
            problems.append(f"{kind}/{provider}: took {got['seconds']} s (bound {BOUND:g} s)")
    _record("unreachable", figures)
    assert not problems, "\n".join(problems)
