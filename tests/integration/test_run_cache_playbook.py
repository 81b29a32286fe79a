"""The run cache in a real ansible-playbook run against moto.

50 hosts x 10 secrets in one set_fact cost at most 10 backend reads (counted from the moto server's
own request log, not from our code); a write through vibebox.secrets.secret is seen by a later
lookup in the same run; the helper is gone when the run ends; no canary appears at -vvvv.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import uuid

import pytest

from ansible_run import run_playbook, state_env, write_playbook
import servers

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory

CANARY = "CANARY-" + uuid.uuid4().hex
SECRETS = [f"fleet-{index}" for index in range(10)]
READS = ("GetSecretValue", "BatchGetSecretValue")

FLEET_PLAY = """
- hosts: fleet
  gather_facts: false
  vars:
    vibebox_secrets_prefix: FLEET_PREFIX  # an option from a variable: checks the shared option definitions
  tasks:
    - name: read ten secrets on every host
      ansible.builtin.set_fact:
        app_secrets: "{{ query('vibebox.secrets.get', *secret_names) }}"
      no_log: true
    - name: every host got the right values (compared by hash, never shown)
      ansible.builtin.assert:
        that: (app_secrets | map('hash', 'sha256') | list) == expected_hashes
        quiet: true
"""

WRITE_PLAY = """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: read before the write (fills the run cache)
      ansible.builtin.set_fact:
        before: "{{ lookup('vibebox.secrets.get', 'fleet-0') }}"
      no_log: true
- hosts: fleet[0]
  gather_facts: false
  tasks:
    - name: write a new value through the module
      vibebox.secrets.secret:
        name: fleet-0
        value: "{{ new_value }}"
- hosts: fleet
  gather_facts: false
  tasks:
    - name: read after the write
      ansible.builtin.set_fact:
        after: "{{ lookup('vibebox.secrets.get', 'fleet-0') }}"
      no_log: true
    - name: every host saw the old value first and the new one after the write
      ansible.builtin.assert:
        that:
          - before | hash('sha256') == old_hash
          - after | hash('sha256') == new_hash
        quiet: true
"""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _inventory(tmp_path, hosts: int) -> str:
    lines = ["[fleet]"] + [f"host{index:02d}" for index in range(hosts)]
    lines += ["", "[fleet:vars]", "ansible_connection=local", "ansible_python_interpreter={{ ansible_playbook_python }}"]
    path = tmp_path / "inventory.ini"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def run_dir():
    # short: Unix socket paths are limited to about 100 bytes
    path = tempfile.mkdtemp(prefix="vbrc-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fleet(tmp_path, moto_server, aws_options, run_dir):
    """Ten secrets in moto under a prefix of this test, and the environment to reach them."""
    if moto_server is None:
        pytest.skip("counts requests in the moto server's log; not meaningful against the real service")
    manager = factory.build_manager(dict(aws_options, audit_log="false"), env={})
    values = {name: f"{CANARY}-{name}" for name in SECRETS}
    for name, value in values.items():
        manager.set(name, value)
    env = state_env(tmp_path, {
        **moto_server.env(),
        "AWS_SECRET_PREFIX": aws_options["prefix"],
        "VIBEBOX_RUN_CACHE_DIR": run_dir,
        "ANSIBLE_FORKS": "10",
    })
    moto_server.requests.clear()
    return env, values


def _reads(moto_server):
    return [action for action in moto_server.requests.actions() if action in READS]


def _helper_gone(run_dir: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [name for name in os.listdir(run_dir) if name.startswith("run-")]:
            return True
        time.sleep(0.05)
    return False


def test_fifty_hosts_ten_secrets_cost_at_most_ten_backend_reads(tmp_path, fleet, moto_server, aws_options, run_dir):
    env, values = fleet
    env.pop("AWS_SECRET_PREFIX")
    play = write_playbook(tmp_path, FLEET_PLAY.replace("FLEET_PREFIX", aws_options["prefix"]))
    result = run_playbook(play, env, "-vvvv", inventory=_inventory(tmp_path, 50), extra_vars={
        "secret_names": SECRETS, "expected_hashes": [_sha(values[name]) for name in SECRETS],
    })
    assert result.rc == 0, result.output[-4000:]
    assert result.recap("host49")["ok"] == 2
    reads = _reads(moto_server)
    assert len(reads) <= len(SECRETS), reads
    assert reads == ["BatchGetSecretValue"], "one batch call serves the whole fleet"
    assert CANARY not in result.output
    assert _helper_gone(run_dir), "the helper exits with the run and removes its directory"


def test_a_write_in_the_same_run_is_seen_by_later_lookups(tmp_path, fleet, moto_server, run_dir):
    env, values = fleet
    new_value = f"{CANARY}-rotated"
    play = write_playbook(tmp_path, WRITE_PLAY)
    result = run_playbook(play, env, "-vvvv", inventory=_inventory(tmp_path, 6), extra_vars={
        "new_value": new_value, "old_hash": _sha(values["fleet-0"]), "new_hash": _sha(new_value),
    })
    assert result.rc == 0, result.output[-4000:]
    assert result.recap("host05")["failed"] == 0
    assert "PutSecretValue" in moto_server.requests.actions()
    assert CANARY not in result.output
    assert _helper_gone(run_dir)


def test_without_the_run_cache_every_fork_reads_for_itself(tmp_path, fleet, moto_server):
    env, values = fleet
    env["VIBEBOX_RUN_CACHE"] = "false"
    play = write_playbook(tmp_path, FLEET_PLAY.replace("FLEET_PREFIX", env["AWS_SECRET_PREFIX"]))
    result = run_playbook(play, env, inventory=_inventory(tmp_path, 3), extra_vars={
        "secret_names": SECRETS, "expected_hashes": [_sha(values[name]) for name in SECRETS],
    })
    assert result.rc == 0, result.output[-4000:]
    assert _reads(moto_server) == ["BatchGetSecretValue"] * 3  # the switch works: one batch per host


def test_the_run_cache_callback_starts_the_helper_with_the_playbook(tmp_path, fleet, moto_server, aws_options, run_dir):
    """vibebox.secrets.run_cache (opt-in) prepares the run in the controller; what is read, and with how
    many requests, stays the same, and nothing secret is printed."""
    env, values = fleet
    env["ANSIBLE_CALLBACKS_ENABLED"] = "vibebox.secrets.run_cache"
    play = write_playbook(tmp_path, FLEET_PLAY.replace("FLEET_PREFIX", env["AWS_SECRET_PREFIX"]))
    result = run_playbook(play, env, "-vvvv", inventory=_inventory(tmp_path, 20), extra_vars={
        "secret_names": SECRETS, "expected_hashes": [_sha(values[name]) for name in SECRETS],
    })
    assert result.rc == 0, result.output[-4000:]
    assert result.recap("host19")["ok"] == 2
    assert "the run cache helper started with the playbook" in result.output
    assert "vibebox.secrets.run_cache:" not in result.output.replace(
        "vibebox.secrets.run_cache: the run cache helper started with the playbook", ""), "no warning"
    assert _reads(moto_server) == ["BatchGetSecretValue"], "one batch call serves the whole fleet"
    assert CANARY not in result.output
    assert _helper_gone(run_dir), "the helper exits with the run and removes its directory"


def test_the_run_cache_callback_starts_nothing_when_the_run_cache_is_off(tmp_path, fleet, moto_server, run_dir):
    env, values = fleet
    env.update(ANSIBLE_CALLBACKS_ENABLED="vibebox.secrets.run_cache", VIBEBOX_RUN_CACHE="false")
    play = write_playbook(tmp_path, FLEET_PLAY.replace("FLEET_PREFIX", env["AWS_SECRET_PREFIX"]))
    result = run_playbook(play, env, "-vvv", inventory=_inventory(tmp_path, 3), extra_vars={
        "secret_names": SECRETS, "expected_hashes": [_sha(values[name]) for name in SECRETS],
    })
    assert result.rc == 0, result.output[-4000:]
    assert "started with the playbook" not in result.output
    assert _reads(moto_server) == ["BatchGetSecretValue"] * 3
    assert os.listdir(run_dir) == [], "no helper directory: nothing was started"


ANNOUNCED_PLAY = """
- hosts: fleet
  gather_facts: false
  module_defaults:
    group/vibebox.secrets.secrets: "{{ store }}"
  tasks:
    - name: read before the writes (fills the run cache), one secret under a prefix
      ansible.builtin.set_fact:
        before: "{{ [lookup('vibebox.secrets.get', 'listed', **store), lookup('vibebox.secrets.get', 'db', prefix='team/', **store)] }}"
      no_log: true
- hosts: fleet[0]
  gather_facts: false
  module_defaults:
    group/vibebox.secrets.secrets: "{{ store }}"
  tasks:
    - name: write one with the list form of the module
      vibebox.secrets.secret:
        secrets: [{name: listed, value: "{{ new_value }}-listed"}]
      no_log: true
    - name: write the other by its full name, without the prefix the lookups used
      vibebox.secrets.secret: {name: team/db, value: "{{ new_value }}-db"}
      no_log: true
- hosts: fleet
  gather_facts: false
  tasks:
    - name: read after the writes
      ansible.builtin.set_fact:
        after: "{{ [lookup('vibebox.secrets.get', 'listed', **store), lookup('vibebox.secrets.get', 'db', prefix='team/', **store)] }}"
      no_log: true
    - name: every host saw the new values after the writes
      ansible.builtin.assert:
        that:
          - (before | map('hash', 'sha256') | list) == old_hashes
          - (after | map('hash', 'sha256') | list) == new_hashes
        quiet: true
"""


def test_a_write_of_a_list_or_under_another_name_is_seen_by_later_lookups(tmp_path, run_dir):
    """The run cache is told of every secret a task wrote: each item of ``secrets:``, and the stored name, so a
    copy read as 'db' under prefix 'team/' goes when a task writes 'team/db'."""
    store = {"provider": "local", "local_path": str(tmp_path / "store" / "secrets.db"),
             "local_key_file": str(tmp_path / "store" / "secrets.key"), "cache_ttl": 300}
    manager = factory.build_manager(dict(store, audit_log="false", cache_ttl=0), env={})
    manager.set("listed", f"{CANARY}-old-listed")
    manager.set("team/db", f"{CANARY}-old-db")
    manager.close()
    new_value = f"{CANARY}-new"
    env = state_env(tmp_path, {"VIBEBOX_RUN_CACHE_DIR": run_dir, "ANSIBLE_FORKS": "3"})
    play = write_playbook(tmp_path, ANNOUNCED_PLAY)
    result = run_playbook(play, env, "-vvvv", inventory=_inventory(tmp_path, 3), extra_vars={
        "store": store, "new_value": new_value,
        "old_hashes": [_sha(f"{CANARY}-old-listed"), _sha(f"{CANARY}-old-db")],
        "new_hashes": [_sha(f"{new_value}-listed"), _sha(f"{new_value}-db")],
    })
    assert result.rc == 0, result.output[-4000:]
    assert result.recap("host02")["failed"] == 0
    assert CANARY not in result.output


# holds the local store's write lock (a write transaction) until the file named by its third argument exists, as
# a busy store would, so the async write below is still waiting while the other hosts read; bounded in any case
HOLD_WRITES = """
import os, sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
deadline = time.monotonic() + 120
while not os.path.exists(sys.argv[3]) and time.monotonic() < deadline:
    time.sleep(0.05)
connection.execute("ROLLBACK")
"""

ASYNC_PLAY = """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: read before the write (fills the run cache)
      ansible.builtin.set_fact:
        before: "{{ lookup('vibebox.secrets.get', 'async-written', **store) }}"
      no_log: true
- hosts: fleet[0]
  gather_facts: false
  tasks:
    - name: the store is busy with another writer
      ansible.builtin.shell: >-
        nohup {{ ansible_playbook_python }} {{ holder }} {{ store.local_path }} {{ flag }}.held {{ flag }}.go
        >/dev/null 2>&1 &
    - ansible.builtin.wait_for: {path: "{{ flag }}.held"}
    - name: write in the background; the job waits for the store
      vibebox.secrets.secret: "{{ store | combine({'name': 'async-written', 'value': new_value}) }}"
      async: 120
      poll: 0
      register: job
      no_log: true
- hosts: fleet
  gather_facts: false
  tasks:
    - name: read while the job has not written yet
      ansible.builtin.set_fact:
        during: "{{ lookup('vibebox.secrets.get', 'async-written', **store) }}"
      no_log: true
- hosts: fleet[0]
  gather_facts: false
  tasks:
    - name: the other writer is done
      ansible.builtin.file: {path: "{{ flag }}.go", state: touch}
    - name: wait for the job
      ansible.builtin.async_status: {jid: "{{ job.ansible_job_id }}"}
      register: finished
      until: finished.finished
      retries: 120
      delay: 1
- hosts: fleet
  gather_facts: false
  tasks:
    - name: read after the job wrote
      ansible.builtin.set_fact:
        after: "{{ lookup('vibebox.secrets.get', 'async-written', **store) }}"
      no_log: true
    - name: every host read the old value before the job wrote and the new one after
      ansible.builtin.assert:
        that:
          - before | hash('sha256') == old_hash
          - during | hash('sha256') == old_hash
          - after | hash('sha256') == new_hash
        quiet: true
"""


def test_an_async_write_is_seen_by_lookups_after_its_job_ended(tmp_path, run_dir):
    """An async task is announced when its job starts, and the job writes later: a lookup made in between reads
    the value from before the write, which the run cache must not serve once the job has written."""
    store = {"provider": "local", "local_path": str(tmp_path / "store" / "secrets.db"),
             "local_key_file": str(tmp_path / "store" / "secrets.key"), "cache_ttl": 300}
    manager = factory.build_manager(dict(store, audit_log="false", cache_ttl=0), env={})
    manager.set("async-written", f"{CANARY}-old")
    manager.close()
    holder = tmp_path / "hold_writes.py"
    holder.write_text(HOLD_WRITES)
    new_value = f"{CANARY}-new"
    env = state_env(tmp_path, {"VIBEBOX_RUN_CACHE_DIR": run_dir, "ANSIBLE_FORKS": "3"})
    play = write_playbook(tmp_path, ASYNC_PLAY)
    result = run_playbook(play, env, inventory=_inventory(tmp_path, 3), extra_vars={
        "store": store, "new_value": new_value, "holder": str(holder), "flag": str(tmp_path / "flag"),
        "old_hash": _sha(f"{CANARY}-old"), "new_hash": _sha(new_value),
    })
    assert result.rc == 0, result.output[-4000:]
    assert result.recap("host02")["failed"] == 0
    assert CANARY not in result.output
    assert _helper_gone(run_dir)


def landed_write_play(writer: str) -> str:
    """Every host reads db-pass, ``writer`` (one task, on the first host) writes it and fails or ends midway, then
    every host reads it again through the run cache and directly: both must give the value that landed."""
    return f"""
- hosts: fleet
  gather_facts: false
  tasks:
    - name: read before the write (fills the run cache)
      ansible.builtin.set_fact:
        before: "{{{{ lookup('vibebox.secrets.get', 'db-pass', **store) }}}}"
      no_log: true
- hosts: fleet[0]
  gather_facts: false
  tasks:
{writer}
- hosts: fleet
  gather_facts: false
  tasks:
    - name: read after the write, through the run cache and directly
      ansible.builtin.set_fact:
        after: "{{{{ lookup('vibebox.secrets.get', 'db-pass', **store) }}}}"
        direct: "{{{{ lookup('vibebox.secrets.get', 'db-pass', **(store | combine({{'cache_ttl': 0}}))) }}}}"
      no_log: true
    - name: the write landed, and every host reads it
      ansible.builtin.assert:
        that:
          - before | hash('sha256') == old_hash
          - direct | hash('sha256') == new_hash
          - after | hash('sha256') == new_hash
        quiet: true
"""


MIGRATE_PLAY = landed_write_play("""\
    - name: migrate through a service that goes away right after the value is written
      vibebox.secrets.secret_migrate: "{{ store | combine(migration) }}"
      ignore_errors: true
      no_log: true""")

TIMEOUT_PLAY = landed_write_play("""\
    - name: write through a service that stops answering right after the value is written
      vibebox.secrets.secret: "{{ store | combine(write) }}"
      timeout: 5
      ignore_errors: true
      no_log: true""")


def seeded_aws_store(aws_options) -> dict:
    """The AWS store options of a landed-write test, with db-pass holding the old value."""
    store = dict(aws_options, cache_ttl=300)
    manager = factory.build_manager(dict(store, audit_log="false", cache_ttl=0), env={})
    manager.set("db-pass", f"{CANARY}-old")
    manager.close()
    return store


def landed_hashes() -> dict:
    return {"old_hash": _sha(f"{CANARY}-old"), "new_hash": _sha(f"{CANARY}-new")}


def test_a_failed_migration_whose_write_landed_is_seen_by_later_lookups(tmp_path, moto_server, aws_options, run_dir):
    """The migration writes the value, then the service goes away before the expiry is set: the task fails and
    its ``written`` is empty, yet the value was written; the run cache must not keep serving the old one."""
    if moto_server is None:
        pytest.skip("takes the service away through a proxy in front of the local moto server")
    fault_proxy = servers.load("fault_proxy")
    store = seeded_aws_store(aws_options)
    env_file = tmp_path / "app.env"
    env_file.write_text(f"DB_PASS={CANARY}-new\n")
    env = state_env(tmp_path, {"VIBEBOX_RUN_CACHE_DIR": run_dir, "ANSIBLE_FORKS": "3"})
    play = write_playbook(tmp_path, MIGRATE_PLAY)
    with fault_proxy.FaultProxy(moto_server.url, seed=7) as proxy:
        # the value's write is answered; the next request (the expiry's tags) finds the service gone
        proxy.down_after(1, lambda request: request.action == "PutSecretValue", next_any=True)
        migration = {"action": "apply", "env_file": str(env_file), "backup_dir": str(tmp_path / "backups"),
                     "expires_in": "30d", "overwrite": "always", "aws_endpoint_url": proxy.url}
        result = run_playbook(play, env, inventory=_inventory(tmp_path, 3),
                              extra_vars={"store": store, "migration": migration, **landed_hashes()})
    assert result.rc == 0, result.output[-4000:]
    assert result.recap("host00")["ignored"] == 1, "the migration failed"
    assert result.recap("host02")["failed"] == 0
    assert CANARY not in result.output


def test_a_timed_out_write_that_landed_is_seen_by_later_lookups(tmp_path, moto_server, aws_options, run_dir):
    """The task's ``timeout`` ends it inside the module, after the value was written and before its result: no
    result says what was written, yet the run cache must not keep serving the old value."""
    if moto_server is None:
        pytest.skip("stops the service through a proxy in front of the local moto server")
    fault_proxy = servers.load("fault_proxy")
    store = seeded_aws_store(aws_options)
    env = state_env(tmp_path, {"VIBEBOX_RUN_CACHE_DIR": run_dir, "ANSIBLE_FORKS": "3"})
    play = write_playbook(tmp_path, TIMEOUT_PLAY)
    written = []
    with fault_proxy.FaultProxy(moto_server.url, seed=11) as proxy:
        def unanswered_after_the_write(request) -> bool:
            if written:
                proxy.mode = "blackhole"  # every request after the value's write waits for good
            if request.action == "PutSecretValue":
                written.append(request.action)
            return False

        proxy.down_after(1, unanswered_after_the_write)  # the predicate sees every request; it never trips
        result = run_playbook(play, env, inventory=_inventory(tmp_path, 3), extra_vars={
            "store": store, "write": {"name": "db-pass", "value": f"{CANARY}-new", "expires_in": "30d",
                                      "aws_endpoint_url": proxy.url},
            **landed_hashes(),
        })
        assert proxy.snapshot().blackholed >= 1, "the module waited on the service after its write"
    assert written == ["PutSecretValue"]
    assert result.rc == 0, result.output[-4000:]
    assert result.recap("host00")["ignored"] == 1, "the write task timed out"
    assert result.recap("host02")["failed"] == 0
    assert CANARY not in result.output
