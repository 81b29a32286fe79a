"""Expiry on write: stored where each provider keeps it and read back, then the module, lookup and migrate
role behaviour in ONE playbook run on the embedded store.

The per-provider part calls the core in-process (the calls the secret module makes: a write, then
set_expiry) against each contract provider's real server or wire fake: describe() must return the date
from where the provider stored it (Azure ``exp``, GCP ``expire_time``, a tag elsewhere), a new value must
keep it, and a value read returns it where the provider's read carries it. The rules themselves
(parsing, idempotence decisions, on_expired) are unit-tested in tests/unit/.../test_expiry.py.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest
from ansible_run import run_playbook, state_env, write_playbook

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, expiry

CANARY = "CANARY-" + uuid.uuid4().hex[:20]
#: providers whose value read (get) returns the expiry without another request
READS_CARRY_EXPIRY = {"local", "vault", "kubernetes", "azure"}


def test_each_provider_stores_the_expiry_and_returns_it(manager, manager_factory):
    moment = dt.datetime(2099, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    manager.set("expiring", CANARY + "-1", tags={"team": "core"})
    manager.set_expiry("expiring", moment)
    described = manager.describe("expiring")
    assert described.expires_at == moment
    assert expiry.without_tag(described.tags) == {"team": "core"}
    later = dt.datetime(2099, 6, 1, tzinfo=dt.timezone.utc)
    manager.set_expiry("expiring", later)  # a changed date replaces the stored one
    manager.set("expiring", CANARY + "-2")  # a new value keeps the secret's expiry and its tags
    described = manager.describe("expiring")
    assert described.expires_at == later and expiry.without_tag(described.tags) == {"team": "core"}
    read = manager.get("expiring", bypass_cache=True)
    assert read.value == CANARY + "-2"
    expected = later if manager.provider in READS_CARRY_EXPIRY else None
    assert read.metadata.expires_at == expected
    assert CANARY not in repr(described) and CANARY not in repr(read)
    if manager.provider == "vault":  # asked for, Vault also deletes versions at the expiry
        deleting = manager_factory(vault_delete_version_after=True)
        deleting.set("deleting", CANARY, tags={"team": "core"})
        deleting.set_expiry("deleting", later)
        raw = deleting.backend._metadata(deleting.provider_name("deleting"))
        assert raw["delete_version_after"] not in ("0s", "", None)
        deleting.update_metadata("deleting", tags={"team": "ops"})  # new tags keep the expiry
        assert deleting.describe("deleting").expires_at == later
        deleting.set_expiry("deleting", None)  # taken back: Vault keeps the versions again
        raw = deleting.backend._metadata(deleting.provider_name("deleting"))
        assert raw["delete_version_after"] in ("0s", "", None)
        assert deleting.describe("deleting").expires_at is None
        deleting.close()
    if not manager.clears_expiry:  # Key Vault: refused, and the date stays
        with pytest.raises(errors.UnsupportedOperation, match="cannot remove"):
            manager.set_expiry("expiring", None)
        assert manager.describe("expiring").expires_at == later
        return
    manager.set_expiry("expiring", None)  # an expiry set by mistake is taken back
    described = manager.describe("expiring")
    assert described.expires_at is None and described.deleted_at is None
    assert expiry.without_tag(described.tags) == {"team": "core"} and expiry.EXPIRY_TAG not in (described.tags or {})
    assert manager.get("expiring", bypass_cache=True).value == CANARY + "-2"


PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    opts: {provider: local, local_path: "{{ store }}/secrets.db", local_key_file: "{{ store }}/secrets.key"}
  module_defaults:
    group/vibebox.secrets.secrets: "{{ opts }}"
  tasks:
    - name: a past expires_at fails before any write
      vibebox.secrets.secret: {name: bad-past, value: "{{ canary }}", expires_at: "2001-01-01T00:00:00Z"}
      register: bad_past
      ignore_errors: true
    - name: a zero expires_in in one item fails the list before any write
      vibebox.secrets.secret:
        secrets: [{name: bad-list-ok, value: "{{ canary }}"}, {name: bad-zero, value: "{{ canary }}", expires_in: "0"}]
      register: bad_zero
      ignore_errors: true
    - name: both options are refused
      vibebox.secrets.secret: {name: bad-both, value: "{{ canary }}", expires_at: "2099-01-01", expires_in: 90d}
      register: bad_both
      ignore_errors: true
    - name: secret_rotate refuses a bad duration
      vibebox.secrets.secret_rotate: {name: bad-rotate, value: "{{ canary }}", create: true, expires_in: soon}
      register: bad_rotate
      ignore_errors: true
    - name: check mode shows the expiry and writes nothing
      vibebox.secrets.secret: {name: fixed, value: "{{ canary }}", expires_at: "2099-01-01T00:00:00Z", tags: {team: a}}
      check_mode: true
      diff: true
      register: checked
    - name: create with a fixed expiry
      vibebox.secrets.secret: {name: fixed, value: "{{ canary }}", expires_at: "2099-01-01T00:00:00Z", tags: {team: a}}
      register: created
    - name: the same task again
      vibebox.secrets.secret: {name: fixed, value: "{{ canary }}", expires_at: "2099-01-01T00:00:00Z", tags: {team: a}}
      register: again
    - name: a new date in check mode with diff
      vibebox.secrets.secret: {name: fixed, expires_at: "2098-01-01T01:00:00+01:00"}
      check_mode: true
      diff: true
      register: moved_check
    - name: new tags replace the others and keep the expiry
      vibebox.secrets.secret: {name: fixed, tags: {team: b}}
      register: retagged
    - name: an expiry set by mistake, taken back in check mode with diff
      vibebox.secrets.secret: {name: mistaken, value: "{{ canary }}", expires_at: "2099-01-01", tags: {team: c}}
    - name: taken back in check mode with diff
      vibebox.secrets.secret: {name: mistaken, expires_at: never}
      check_mode: true
      diff: true
      register: never_check
    - name: taken back
      vibebox.secrets.secret: {name: mistaken, expires_at: never}
      register: never_done
    - name: taken back again
      vibebox.secrets.secret: {name: mistaken, expires_at: never}
      register: never_again
    - name: secret_rotate does not take the word
      vibebox.secrets.secret_rotate: {name: mistaken, generator: {type: hex, length: 40}, expires_at: never}
      register: never_rotate
      ignore_errors: true
    - name: a relative expiry in a list
      vibebox.secrets.secret:
        secrets: [{name: relative, value: "{{ canary }}", expires_in: 90d}]
      register: relative
    - name: the same relative expiry again (the value is unchanged, so the date stays)
      vibebox.secrets.secret:
        secrets: [{name: relative, value: "{{ canary }}", expires_in: 90d}]
      register: relative_again
    - name: a rotation gives the new version its own expiry
      vibebox.secrets.secret_rotate: {name: relative, generator: {type: hex, length: 40}, expires_in: 30d}
      register: rotated
    - name: an expired secret (the tag written as it was stored by hand)
      vibebox.secrets.secret: {name: expired, value: "{{ canary }}", tags: {vibebox-expires-at: "2020-01-01T00:00:00Z"}}
    - name: a lookup warns by default and returns the value
      ansible.builtin.set_fact:
        warned_length: "{{ lookup('vibebox.secrets.get', 'expired', **opts) | length }}"
    - name: a lookup with on_expired=error fails naming the secret and the time
      ansible.builtin.set_fact:
        refused: "{{ lookup('vibebox.secrets.get', 'expired', on_expired='error', **opts) }}"
      register: refused
      ignore_errors: true
    - name: on_expired=ignore returns it silently through the resolve filter
      ansible.builtin.set_fact:
        ignored_length: "{{ ('${secret:expired}' | vibebox.secrets.resolve(on_expired='ignore', **opts)) | length }}"
    - name: migrate a .env file with an expiry on the secrets it writes
      ansible.builtin.include_role:
        name: vibebox.secrets.migrate
      vars:
        migrate_env_file: "{{ env_file }}"
        migrate_provider_options: "{{ opts }}"
        migrate_backup_dir: "{{ store }}/backups"
        migrate_backup_key_file: "{{ store }}/backup.key"
        migrate_expires_at: "2097-05-06T07:08:09Z"
    - name: what secret_info and the compliance report say
      vibebox.secrets.secret_info: {versions: false, policy: {max_age: 3650d}}
      register: stored
    - name: the outcomes
      ansible.builtin.debug:
        msg:
          outcome: "{{ {'bad_past': [bad_past.failed, bad_past.msg], 'bad_zero': [bad_zero.failed, bad_zero.msg],
                        'bad_both': [bad_both.failed, bad_both.msg], 'bad_rotate': [bad_rotate.failed, bad_rotate.msg],
                        'checked': [checked.changed, checked.changes, checked.diff.after.expires_at | default('')],
                        'created': [created.changed, created.metadata.expires_at, created.metadata.tags],
                        'again': again.changed,
                        'moved_check': [moved_check.changed, moved_check.changes, moved_check.diff.before.expires_at,
                                        moved_check.diff.after.expires_at],
                        'retagged': [retagged.changed, retagged.metadata.expires_at],
                        'never_check': [never_check.changed, never_check.changes, never_check.diff.before.expires_at,
                                        never_check.diff.after.expires_at],
                        'never_done': [never_done.changed, never_done.metadata.expires_at, never_done.metadata.tags],
                        'never_again': never_again.changed,
                        'never_rotate': [never_rotate.failed, never_rotate.msg],
                        'relative': [relative.changed, relative.results[0].metadata.expires_at],
                        'relative_again': relative_again.changed,
                        'rotated': [rotated.rotated, rotated.expires_at],
                        'warned_length': warned_length | int, 'ignored_length': ignored_length | int,
                        'refused': [refused.failed, refused.msg],
                        'stored': stored.secrets | items2dict(key_name='name', value_name='expires_at'),
                        'report': stored.report | default([]) | select('search', 'expired') | list} | to_json }}"
"""


def _outcome(run) -> dict:
    match = re.search(r'"outcome": "(.*)"\n', run.stdout)
    assert match, run.output[-4000:]
    return json.loads(json.loads(f'"{match.group(1)}"'))


def _days_from_now(text: str) -> float:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - dt.datetime.now(dt.timezone.utc)).total_seconds() / 86400


def test_expiry_through_modules_lookups_and_the_migrate_role(tmp_path):
    env = state_env(tmp_path)
    env_file = tmp_path / "app.env"
    env_file.write_text(f"PARTNER_TOKEN={CANARY}{CANARY}\n")
    (tmp_path / "store").mkdir()
    play = write_playbook(tmp_path, PLAY)
    done = run_playbook(play, env, "--diff", extra_vars={"canary": CANARY, "store": str(tmp_path / "store"),
                                                         "env_file": str(env_file)})
    assert done.rc == 0, done.output[-4000:]
    assert CANARY not in done.output
    seen = _outcome(done)
    assert seen["bad_past"][0] and "'expires_at' is not in the future" in seen["bad_past"][1]
    assert seen["bad_zero"][0] and "'expires_in' must be longer than zero" in seen["bad_zero"][1]
    assert "bad-zero" in seen["bad_zero"][1]
    assert seen["bad_both"][0] and "mutually exclusive" in seen["bad_both"][1]
    assert seen["bad_rotate"][0] and "'expires_in' must be a duration" in seen["bad_rotate"][1]
    assert seen["checked"] == [True, ["state", "value", "tags", "expires_at"], "2099-01-01T00:00:00Z"]
    changed, stored_at, tags = seen["created"]
    assert changed and stored_at == "2099-01-01T00:00:00Z" and tags["team"] == "a"
    assert seen["again"] is False
    assert seen["moved_check"] == [True, ["expires_at"], "2099-01-01T00:00:00Z", "2098-01-01T00:00:00Z"]
    assert seen["retagged"] == [True, "2099-01-01T00:00:00Z"]  # the check run above wrote nothing
    assert seen["never_check"] == [True, ["expires_at"], "2099-01-01T00:00:00Z", None]
    assert seen["never_done"] == [True, None, {"team": "c"}]
    assert seen["never_again"] is False
    assert seen["never_rotate"][0] and "cannot be 'never' here" in seen["never_rotate"][1]
    changed, relative_at = seen["relative"]
    assert changed and 89.9 < _days_from_now(relative_at) <= 90
    assert seen["relative_again"] is False
    rotated, rotated_at = seen["rotated"]
    assert rotated and 29.9 < _days_from_now(rotated_at) <= 30
    assert seen["warned_length"] == len(CANARY) and seen["ignored_length"] == len(CANARY)
    assert "secret 'expired' expired at 2020-01-01T00:00:00Z" in done.output  # the default warn
    failed, message = seen["refused"]
    assert failed and "'expired'" in message and "expired at 2020-01-01T00:00:00Z" in message
    # nothing refused was written; secret_info shows each expiry, the migrated secret has the role's
    stored = seen["stored"]
    assert not {"bad-past", "bad-list-ok", "bad-zero", "bad-both", "bad-rotate"} & set(stored)
    assert stored["fixed"] == "2099-01-01T00:00:00Z" and stored["expired"] == "2020-01-01T00:00:00Z"
    assert stored["mistaken"] is None  # the check run wrote nothing, the real one took it back
    assert stored["relative"] == rotated_at and stored["partner-token"] == "2097-05-06T07:08:09Z"
    assert any("expired" in line for line in seen["report"])
