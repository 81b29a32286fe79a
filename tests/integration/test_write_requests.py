"""How many requests a write costs, counted by the servers themselves (OpenBao's audit device, moto's log).

A service that bills and throttles per request makes the request count what users feel, so these
numbers are part of the behaviour: one read before a write and the write alone, that is one request
for an unchanged secret and two for a changed one (a module run in a loop), the same per secret for
a list of secrets in one task.
"""
from __future__ import annotations

import uuid
from typing import Callable, Dict, List, Tuple

import pytest

from ansible_run import run_playbook, state_env, write_playbook

CANARY = "CANARY-" + uuid.uuid4().hex

ONE = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/vibebox.secrets.secrets: "{{ provider_options }}"
  tasks:
    - name: one secret
      vibebox.secrets.secret:
        name: "{{ secret_name }}"
        value: "{{ secret_value }}"
        tags: "{{ secret_tags | default(omit) }}"
"""

MANY = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/vibebox.secrets.secrets: "{{ provider_options }}"
  tasks:
    - name: many secrets in one task
      vibebox.secrets.secret:
        secrets: "{{ items }}"
      register: written
    - name: every item has its own result, without a value
      ansible.builtin.assert:
        that:
          - written.results | length == items | length
          - written.results | map(attribute='name') | list == items | map(attribute='name') | list
        quiet: true
"""


def _vault_requests(server, prefix: str) -> List[Tuple[str, str]]:
    """(operation, path) of every request about a secret under ``prefix`` (logins and sys/ excluded)."""
    return [(entry["request"]["operation"], entry["request"]["path"]) for entry in server.audit_entries("request")
            if prefix.strip("/") in entry["request"].get("path", "")]


@pytest.fixture(params=["vault", "aws"])
def counted(request, tmp_path) -> Tuple[Dict[str, str], Callable[[], List[str]]]:
    """(provider options, a function returning the requests the server saw since the fixture began)."""
    if request.param == "vault":
        server = request.getfixturevalue("openbao_server")
        options = dict(request.getfixturevalue("vault_options"))
        if server is None:
            pytest.skip("real Vault: the audit device is not ours to read")  # only with VIBEBOX_TEST_VAULT_REAL=1
        start = len(_vault_requests(server, options["prefix"]))

        def seen() -> List[str]:
            return [f"{op} {path}" for op, path in _vault_requests(server, options["prefix"])[start:]]
    else:
        server = request.getfixturevalue("moto_server")
        options = dict(request.getfixturevalue("aws_options"))
        if server is None:
            pytest.skip("real AWS: the request log is not ours to read")  # only with VIBEBOX_TEST_AWS_REAL=1
        start = len(server.requests.actions())

        def seen() -> List[str]:
            return server.requests.actions()[start:]
    options["audit_log"] = str(tmp_path / "audit.log")
    return options, seen


def _run(tmp_path, text: str, options, *args: str, rc: int = 0, **extra):
    play = write_playbook(tmp_path, text, name=f"play-{uuid.uuid4().hex[:6]}.yml")
    run = run_playbook(play, state_env(tmp_path), *args, extra_vars={"provider_options": options, **extra})
    assert run.rc == rc, run.output[-3000:]
    assert CANARY not in run.output
    return run


def test_a_module_run_is_two_requests_when_it_writes_and_one_when_nothing_changes(tmp_path, counted):
    options, seen = counted
    name = "app/db-password"
    created = _run(tmp_path, ONE, options, secret_name=name, secret_value=CANARY)
    assert created.changed() == 1
    assert len(seen()) == 2, seen()  # the read that finds nothing, the create
    again = _run(tmp_path, ONE, options, secret_name=name, secret_value=CANARY)
    assert again.changed() == 0
    assert len(seen()) == 3, seen()  # one read
    changed = _run(tmp_path, ONE, options, secret_name=name, secret_value=CANARY + "-2")
    assert changed.changed() == 1
    assert len(seen()) == 5, seen()  # one read, one write
    checked = _run(tmp_path, ONE, options, "--check", "--diff", secret_name=name, secret_value=CANARY + "-3")
    assert "changed: [localhost]" in checked.stdout
    assert len(seen()) == 6, seen()  # check mode: the read only


def test_tags_that_did_not_change_cost_no_more_than_the_read(tmp_path, counted):
    options, seen = counted
    name = "app/api-key"
    tags = {"team": "platform"}
    _run(tmp_path, ONE, options, secret_name=name, secret_value=CANARY, secret_tags=tags)
    first = len(seen())
    assert first <= 3, seen()  # read, write; Vault keeps tags apart from the value (one more write)
    again = _run(tmp_path, ONE, options, secret_name=name, secret_value=CANARY, secret_tags=tags)
    assert again.changed() == 0
    assert len(seen()) == first + 1, seen()


def test_a_list_of_secrets_in_one_task_costs_per_secret_what_a_module_run_does(tmp_path, counted):
    options, seen = counted
    items = [{"name": f"bulk/s{index}", "value": f"{CANARY}-{index}", "description": "bulk"} for index in range(3)]
    first = _run(tmp_path, MANY, options, "-vvvv", "--diff", items=items)  # -vvvv: no value in any output
    assert first.changed() == 1
    writes_first = len(seen())
    assert writes_first <= 2 * len(items) + (len(items) if options["provider"] == "vault" else 0), seen()
    again = _run(tmp_path, MANY, options, items=items)
    assert again.changed() == 0
    assert len(seen()) - writes_first <= len(items), seen()
    items[1]["value"] = CANARY + "-new"
    # AWS: with a description to compare, the read is DescribeSecret, which tells an equal value by its
    # version id only; a changed value is read once more to be sure it changed
    value_read = 1 if options["provider"] == "aws" else 0
    before = len(seen())
    checked = _run(tmp_path, MANY, options, "--check", "--diff", items=items)
    assert checked.changed() == 1
    assert "(changed)" in checked.stdout
    assert len(seen()) - before == len(items) + value_read, seen()  # reads only
    middle = len(seen())
    changed = _run(tmp_path, MANY, options, items=items)
    assert changed.changed() == 1
    assert len(seen()) - middle == len(items) + value_read + 1, seen()  # the reads, one write


def test_a_bad_item_in_the_list_fails_the_task_before_any_request(tmp_path, counted):
    options, seen = counted
    items = [{"name": "bulk/good", "value": CANARY}, {"name": "bulk/empty", "value": ""}]
    bad = _run(tmp_path, MANY, options, rc=2, items=items)
    assert "bulk/empty" in bad.stdout and "the value is empty" in bad.stdout
    twice = _run(tmp_path, MANY, options, rc=2, items=[items[0], items[0]])
    assert "given twice" in twice.stdout
    assert seen() == []


def test_a_first_migration_costs_at_most_two_requests_per_secret_and_an_unchanged_rerun_one(tmp_path, counted):
    options, seen = counted
    count = 4
    env_file = tmp_path / "app.env"
    env_file.write_text("".join(f"KEY_{index}={CANARY}-{index}\n" for index in range(count)))
    extra = {"env_file": str(env_file), "migrate_backup_dir": str(tmp_path / "backups"),
             "migrate_backup_key_file": str(tmp_path / "backup.key"), **options}
    env = state_env(tmp_path)
    playbook = __import__("ansible_run").REPO + "/playbooks/migrate.yml"
    first = run_playbook(playbook, env, extra_vars=extra)
    assert first.rc == 0, first.output[-3000:]
    assert CANARY not in first.output
    assert "Validated: 4 of 4 secrets match the .env file" in first.stdout
    made = seen()
    if options["provider"] == "vault":
        # no read before a create (the LIST said the names are free), one write each and one metadata write
        # (the description); no read back: the validation takes what the check-and-set writes answered
        assert [entry for entry in made if "/data/" in entry] == [entry for entry in made if entry.startswith("create")]
        assert len([entry for entry in made if entry.startswith("create") and "/data/" in entry]) == count, made
        assert len([entry for entry in made if entry.startswith("update") and "/metadata/" in entry]) == count, made
        assert not [entry for entry in made if entry.startswith("read")], made
        # + one LIST per step that plans: plan, backup, one batch of apply
        assert len(made) <= 2 * count + 3, made
    else:
        assert made.count("CreateSecret") == count, made
        assert not {"GetSecretValue", "DescribeSecret", "PutSecretValue"} & set(made), made
        # one batch read per step that plans (plan, backup, one batch of apply), none to validate
        assert len(made) <= count + 3, made
    before = len(made)
    again = run_playbook(playbook, env, extra_vars=extra)
    assert again.rc == 0 and again.changed() == 0, again.output[-3000:]
    assert "Backup: none needed" in again.stdout and "Validated: 4 of 4 secrets match the .env file" in again.stdout
    rerun = seen()[before:]
    if options["provider"] == "vault":
        assert len([entry for entry in rerun if "/data/" in entry]) == count, rerun  # one read each, no write
        assert len(rerun) == count + 1, rerun  # and one LIST
    else:
        assert rerun == ["BatchGetSecretValue"], rerun
