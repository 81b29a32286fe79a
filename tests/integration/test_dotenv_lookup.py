"""The dotenv lookup and the resolve filter in real ansible-playbook runs, on the embedded local store.

Checks every reference form in a .env file (export, comments, quotes, multi-line values, escapes),
errors that name file/line/column and provider without a value, strict=false, development mode
(ENABLE_SECRET_MANAGER=false), one backend read per secret across hosts (counted in the audit log),
and that no canary value reaches the output at -vvvv.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid

import pytest

from ansible_run import run_playbook, state_env, write_playbook

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory

CANARY = "CANARY-" + uuid.uuid4().hex

APP_ENV = """\
# application settings
APP_NAME=vibebox-demo
export JWT_SECRET=${secret:jwt-secret}
JWT_PREVIOUS="${secret:jwt-secret@previous}"
DB_PASSWORD=${secret:database#password}   # one key of a JSON secret
DATABASE_URL="postgres://app:${secret:database#password}@db:5432/app"
LITERAL='${secret:not-resolved} stays'
ESCAPED=cost $${HOME}
HOME_DIR=${env:VB_TEST_HOME}
PORT=${env:VB_TEST_PORT:-8080}
MULTI="first line
key=${secret:api-key}"
EMPTY=
"""

FAILURES = {
    "missing.env": "A=ok\nB=${secret:missing-one}\n",
    "bad_ref.env": "X=1\nY=  ${HOME}\n",
    "bad_line.env": "GOOD=1\nthis is not valid\n",
}

PLAY = """
- hosts: apps
  gather_facts: false
  tasks:
    - name: read the file
      ansible.builtin.set_fact:
        app_env: "{{ lookup('vibebox.secrets.dotenv', 'app.env') }}"
      no_log: true
    - name: every reference resolved, literals kept
      ansible.builtin.assert:
        that: (app_env | to_json | hash('sha256')) == (expected | to_json | hash('sha256'))
        quiet: true
    - name: the filter resolves one string
      ansible.builtin.set_fact:
        database_url: "{{ 'postgres://app:${secret:database#password}@db/app' | vibebox.secrets.resolve }}"
      no_log: true
    - name: the filter result is right
      ansible.builtin.assert:
        that: database_url | hash('sha256') == expected_url_hash
        quiet: true

- hosts: apps[0]
  gather_facts: false
  tasks:
    - name: a missing secret fails, naming reference, place and provider
      ansible.builtin.set_fact:
        broken: "{{ lookup('vibebox.secrets.dotenv', 'missing.env') }}"
      register: missing
      ignore_errors: true
    - name: a bad reference fails with file, line and column
      ansible.builtin.set_fact:
        broken: "{{ lookup('vibebox.secrets.dotenv', 'bad_ref.env') }}"
      register: bad_ref
      ignore_errors: true
    - name: a malformed line fails with file, line and column
      ansible.builtin.set_fact:
        broken: "{{ lookup('vibebox.secrets.dotenv', 'bad_line.env') }}"
      register: bad_line
      ignore_errors: true
    - name: a bad reference in the filter fails too
      ansible.builtin.set_fact:
        broken: "{{ 'x=${vault:nope}' | vibebox.secrets.resolve }}"
      register: bad_filter
      ignore_errors: true
    - name: strict=false keeps the reference and warns
      ansible.builtin.set_fact:
        lenient: "{{ lookup('vibebox.secrets.dotenv', 'missing.env', strict=false) }}"
    - name: report what the failures said (messages never hold values)
      ansible.builtin.debug:
        msg:
          missing: "{{ missing.msg }}"
          bad_ref: "{{ bad_ref.msg }}"
          bad_line: "{{ bad_line.msg }}"
          bad_filter: "{{ bad_filter.msg }}"
          lenient: "{{ lenient }}"
"""

DEV_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: development mode reads JWT_SECRET for ${secret:jwt-secret}
      ansible.builtin.assert:
        that:
          - (lookup('vibebox.secrets.dotenv', 'dev.env').JWT | hash('sha256')) == jwt_hash
          - ('${secret:jwt-secret}' | vibebox.secrets.resolve | hash('sha256')) == jwt_hash
        quiet: true
"""


@pytest.fixture
def run_dir():
    path = tempfile.mkdtemp(prefix="vbrc-")  # short: Unix socket path limit
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def store(tmp_path):
    """The default local store of the playbook runs (XDG_DATA_HOME in tmp_path), with secrets."""
    folder = tmp_path / "data" / "vibebox"
    manager = factory.build_manager({
        "provider": "local", "local_path": str(folder / "secrets.db"), "local_key_file": str(folder / "secrets.key"),
        "audit_log": "false",
    }, env={})
    manager.set("jwt-secret", f"{CANARY}-jwt-old")
    manager.set("jwt-secret", f"{CANARY}-jwt")
    manager.set("database", json.dumps({"user": "app", "password": f"{CANARY}-db"}))
    manager.set("api-key", f"{CANARY}-api")
    return manager


def _expected() -> dict:
    return {
        "APP_NAME": "vibebox-demo",
        "JWT_SECRET": f"{CANARY}-jwt",
        "JWT_PREVIOUS": f"{CANARY}-jwt-old",
        "DB_PASSWORD": f"{CANARY}-db",
        "DATABASE_URL": f"postgres://app:{CANARY}-db@db:5432/app",
        "LITERAL": "${secret:not-resolved} stays",
        "ESCAPED": "cost ${HOME}",
        "HOME_DIR": "/home/vb-test",
        "PORT": "8080",
        "MULTI": f"first line\nkey={CANARY}-api",
        "EMPTY": "",
    }


def _audit_gets(tmp_path) -> list:
    path = tmp_path / "state" / "vibebox" / "audit.log"
    entries = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [(entry["name"], entry["version"]) for entry in entries if entry["op"] == "get"]


def test_dotenv_lookup_and_filter_in_a_playbook(tmp_path, store, run_dir):
    (tmp_path / "app.env").write_text(APP_ENV)
    for name, text in FAILURES.items():
        (tmp_path / name).write_text(text)
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[apps]\n" + "".join(f"app{index}\n" for index in range(6)) + "\n[apps:vars]\nansible_connection=local\n")
    env = state_env(tmp_path, {"VB_TEST_HOME": "/home/vb-test", "VIBEBOX_RUN_CACHE_DIR": run_dir})
    env.pop("VB_TEST_PORT", None)
    expected = _expected()
    play = write_playbook(tmp_path, PLAY)
    result = run_playbook(play, env, "-vvvv", inventory=str(inventory), extra_vars={
        "expected": expected, "expected_url_hash": hashlib.sha256(f"postgres://app:{CANARY}-db@db/app".encode()).hexdigest(),
    })
    assert result.rc == 0, result.output[-5000:]
    assert result.recap("app5")["failed"] == 0
    output = result.output
    assert CANARY not in output

    # ansible-core before 2.19 wraps warnings at 79 columns: compare without whitespace
    output = "".join(output.split())
    for said in ("${secret:missing-one}", "missing.env, line 2, column 3", "could not be resolved by provider 'local'",
                 "bad_ref.env, line 2, column 5", "${env:HOME}", "bad_line.env, line 2, column 6",
                 "unknown reference kind 'vault:'", "left as written because strict is false"):
        assert "".join(said.split()) in output, said

    # six hosts, one lookup and one filter each: every secret was read from the store once
    gets = _audit_gets(tmp_path)
    assert sorted(set(gets), key=str) == sorted(gets, key=str), f"a secret was read twice: {gets}"
    assert {name for name, _version in gets} == {"jwt-secret", "database", "api-key", "missing-one"}


def test_development_mode_reads_references_from_the_environment(tmp_path, run_dir):
    (tmp_path / "dev.env").write_text("JWT=${secret:jwt-secret}\n")
    env = state_env(tmp_path, {"ENABLE_SECRET_MANAGER": "false", "JWT_SECRET": f"{CANARY}-dev",
                               "VIBEBOX_RUN_CACHE_DIR": run_dir})
    play = write_playbook(tmp_path, DEV_PLAY)
    result = run_playbook(play, env, "-vvvv", extra_vars={
        "jwt_hash": hashlib.sha256(f"{CANARY}-dev".encode()).hexdigest(),
    })
    assert result.rc == 0, result.output[-4000:]
    assert CANARY not in result.output
    assert not os.path.exists(tmp_path / "data" / "vibebox" / "secrets.db"), "dev mode never touches the store"


TEMPLATED_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: resolved values kept in facts, as a playbook keeps them before it uses them
      ansible.builtin.set_fact:
        from_filter: "{{ 'url=${secret:templated}' | vibebox.secrets.resolve }}"
        from_filter_dict: "{{ {'URL': 'url=${secret:templated}'} | vibebox.secrets.resolve }}"
        from_get: "{{ lookup('vibebox.secrets.get', 'templated') }}"
        from_dotenv: "{{ lookup('vibebox.secrets.dotenv', 'templated.env') }}"
      no_log: true
    - name: each fact, used, is the secret's text as stored; it never runs as a template on the controller
      ansible.builtin.assert:
        that:
          - from_filter | hash('sha256') == url_hash
          - from_filter_dict.URL | hash('sha256') == url_hash
          - from_get | hash('sha256') == value_hash
          - from_dotenv.URL | hash('sha256') == url_hash
        quiet: true
"""


def test_a_secret_holding_template_syntax_is_never_run_on_the_controller(tmp_path, run_dir):
    """Whoever can write a secret must not be able to run code where the playbook runs: a value holding
    Jinja, read through the filter and kept in a fact, was templated when the fact was used (before
    ansible-core 2.19, which templates a fact's text unless it is marked unsafe, as lookups mark theirs)."""
    marker = tmp_path / "templated-by-ansible"
    value = "{{ lookup('ansible.builtin.pipe', 'touch %s') }}%s-t" % (marker, CANARY)
    folder = tmp_path / "data" / "vibebox"
    factory.build_manager({
        "provider": "local", "local_path": str(folder / "secrets.db"), "local_key_file": str(folder / "secrets.key"),
        "audit_log": "false",
    }, env={}).set("templated", value)
    (tmp_path / "templated.env").write_text("URL=url=${secret:templated}\n")
    env = state_env(tmp_path, {"VIBEBOX_RUN_CACHE_DIR": run_dir})
    result = run_playbook(write_playbook(tmp_path, TEMPLATED_PLAY), env, cwd=str(tmp_path), extra_vars={
        "url_hash": hashlib.sha256(f"url={value}".encode()).hexdigest(),
        "value_hash": hashlib.sha256(value.encode()).hexdigest(),
    })
    assert result.rc == 0, result.output[-4000:]
    assert not marker.exists()
    assert CANARY not in result.output
