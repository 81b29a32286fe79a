"""Bad input: every kind is refused with a clear error BEFORE anything is written.

One table per provider that has a ``<provider>_manager`` fixture (tests/integration/fixtures/), run
against its real server or wire fake: names that break the provider's own rules (derived from
core/names.py, so a rule change changes the table), empty, oversized (over the service's limit in
each provider's SPEC.max_value_bytes, in bytes, also with multi-byte text) and non-UTF-8 values, values
of the wrong type, malformed .env lines and .env keys the provider cannot name, unknown reference
syntax, versions that do not exist. For each provider the test takes a snapshot (list + describe
of every secret, and the versions of one) before and after the whole table, and counts the write
requests the server received: both must be unchanged. Messages must name the provider, say what
is wrong, and never contain the value (a canary).

Wrong types in module options (tags as a list, recovery_days as text, ...) are tried through
ansible-playbook, as users meet them, against OpenBao, whose audit device shows that no write
request reached it.
"""
from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from ansible_run import REPO, run_playbook, state_env, write_playbook

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, migration, names, registry
from ansible_collections.vibebox.secrets.plugins.module_utils.core import references

CANARY = "CANARY-badinput-" + uuid.uuid4().hex
_FIXTURES = os.path.join(REPO, "tests", "integration", "fixtures")
PROVIDERS = [provider for provider in ("local", "vault", "aws", "gcp", "azure", "kubernetes")
             if os.path.exists(os.path.join(_FIXTURES, f"{provider}.py"))
             and f"def {provider}_manager(" in open(os.path.join(_FIXTURES, f"{provider}.py"), encoding="utf-8").read()]
_FIGURES = os.path.join(REPO, "tests", "output", "bad_input.json")


@dataclass
class Case:
    """One bad input: ``run(manager, tmp_path)`` must raise ``expected`` whose message has ``words``."""

    id: str
    run: Callable[[Any, Any], Any]
    expected: type = errors.SecretError
    words: Tuple[str, ...] = ()
    names_provider: bool = True
    #: an idempotent operation may succeed as long as nothing changes (checked by the snapshot)
    may_succeed: bool = False


# the tables --------------------------------------------------------------------------------------------
#: '.' and empty path segments: Vault folds 'x/./y' and 'a//b' into 'x/y' and 'a/b', so a read or a delete
#: of one of them would reach another secret; each is tried as a write, a read and a delete
SEGMENT_NAMES = [".", "./x", "a/./b", "x/./y", "a//b", "a/.", "x/"]
COMMON_BAD_NAMES = ["", "has space", "../up", "a/../b", "/lead", "trail/", "tab\there", "new\nline", "quote'd",
                    "semi;colon", "uni-\u00e9", "emoji-\U0001F600", "star*", "q?"] + SEGMENT_NAMES


def _name_cases(provider: str, prefix: str) -> List[Case]:
    """Names the provider's rules refuse: the common ones, plus characters only this provider refuses."""
    rule = names.RULES[provider]
    cases = [Case(f"name {bad!r}", lambda m, _t, bad=bad: m.set(bad, CANARY), errors.InvalidSecretName)
             for bad in COMMON_BAD_NAMES]
    cases.append(Case("name is not a string", lambda m, _t: m.set(12345, CANARY), errors.InvalidSecretName))
    for bad in SEGMENT_NAMES:
        cases.append(Case(f"read of name {bad!r}", lambda m, _t, bad=bad: m.get(bad, bypass_cache=True),
                          errors.InvalidSecretName, ("path segment",)))
        cases.append(Case(f"delete of name {bad!r}", lambda m, _t, bad=bad: m.delete(bad, force=True),
                          errors.InvalidSecretName, ("path segment",)))
    too_long = "x" * (rule.max_length - len(prefix) + 1)
    cases.append(Case(f"name of {len(too_long)} characters ({rule.max_length} with the prefix is the limit)",
                      lambda m, _t: m.set(too_long, CANARY), errors.InvalidSecretName, ("characters",)))
    for char in "._@+=/":  # valid in a logical name; each provider refuses some of them
        candidate = f"a{char}b"
        if not re.fullmatch(rule.pattern, prefix + candidate):
            cases.append(Case(f"name {candidate!r} (not allowed by {provider})",
                              lambda m, _t, bad=candidate: m.set(bad, CANARY), errors.InvalidSecretName,
                              ("may contain only",)))
    return cases


def _value_cases(provider: str) -> List[Case]:
    limit = registry.max_value_bytes(provider)
    return [
        Case("empty value", lambda m, _t: m.set("fresh", ""), errors.InvalidSecretValue, ("empty",)),
        Case(f"value of {limit + 1} bytes (limit {limit})",
             lambda m, _t: m.set("fresh", CANARY + "v" * (limit + 1 - len(CANARY))), errors.InvalidSecretValue,
             (f"at most {limit}",)),
        Case(f"value of {limit // 2 + 1} two-byte characters ({limit + 2} bytes)",
             lambda m, _t: m.set("fresh", "\u00e9" * (limit // 2 + 1)), errors.InvalidSecretValue, (f"at most {limit}",)),
        Case("value with a lone surrogate (not UTF-8)", lambda m, _t: m.set("fresh", CANARY + "\udc80"),
             errors.InvalidSecretValue, ("UTF-8",)),
        Case("value as bytes", lambda m, _t: m.set("fresh", CANARY.encode()), errors.InvalidSecretValue, ("string",)),
        Case("value as a number", lambda m, _t: m.set("fresh", 12345), errors.InvalidSecretValue, ("string",)),
        Case("value as a dict", lambda m, _t: m.set("fresh", {"password": CANARY}), errors.InvalidSecretValue,
             ("string",)),
        Case("value None", lambda m, _t: m.set("fresh", None), errors.InvalidSecretValue, ("string",)),
    ]


def _version_cases() -> List[Case]:
    return [
        Case("version 999 of a secret with one version", lambda m, _t: m.get("sentinel", version="999", bypass_cache=True),
             errors.SecretNotFound),
        Case("version 'previous' of a secret with one version",
             lambda m, _t: m.get("sentinel", version="previous", bypass_cache=True), errors.SecretNotFound),
        Case("version 'not-a-version'", lambda m, _t: m.get("sentinel", version="not-a-version", bypass_cache=True)),
        Case("a secret that does not exist", lambda m, _t: m.get("no-such-secret", bypass_cache=True),
             errors.SecretNotFound),
        # destroying a version that is not there is a no-op for some providers (cleanup is idempotent), an
        # error for others; either way nothing may change
        Case("deleting version 999", lambda m, _t: m.delete_version("sentinel", "999"), may_succeed=True),
    ]


BAD_REFERENCES = ["${secret:}", "${foo:bar}", "${secret:name#}", "${env:1BAD}", "${secret:bad name}",
                  "${secret:x", "${}", "${secret:a@}", "${SECRET:x}"]


def _reference_cases() -> List[Case]:
    def resolve(manager, text):
        fetched = []

        def fetch(items):
            fetched.append(items)
            return {item: manager.get(item[0], version=item[1]) for item in items}

        try:
            return references.resolve(f"URL=x\nDSN=postgres://{CANARY}@{text}/db", fetch, manager.provider,
                                      source="app.env")
        finally:
            assert not fetched, "a reference was fetched before the whole text was parsed"

    return [Case(f"reference {text}", lambda m, _t, text=text: resolve(m, text), errors.SecretError,
                 ("app.env", "line 2"), names_provider=False) for text in BAD_REFERENCES]


BAD_DOTENV_LINES = ["NOVALUE", "=nokey", "1BAD=x", "KEY WITH SPACE=x", 'QUOTED="never closed', "SINGLE='never closed",
                    'AFTER="x" trailing', "export", "A:b", "AT@KEY=x"]


def _dotenv_cases(provider: str) -> List[Case]:
    def plan(manager, tmp_path, text):
        path = tmp_path / f"bad-{uuid.uuid4().hex[:6]}.env"
        path.write_text(f"GOOD={CANARY}\n{text}\n")
        return migration.make_plan(manager, migration.Settings(env_file=str(path)))

    cases = [Case(f".env line {text!r}", lambda m, t, text=text: plan(m, t, text), errors.SecretError,
                  ("line 2",), names_provider=False) for text in BAD_DOTENV_LINES]

    def blocked(manager, tmp_path):
        """Keys whose secret names this provider cannot hold are blocked in the plan, which stops the role
        before its first write: an over-long name, and each character only this provider refuses."""
        rule = names.RULES[provider]
        prefix = manager.prefix or ""
        name_map = {"MAPPED_LONG": "x" * (rule.max_length - len(prefix) + 1)}
        for index, char in enumerate("._@+=/"):
            if not re.fullmatch(rule.pattern, f"{prefix}a{char}b"):
                name_map[f"MAPPED_{index}"] = f"a{char}b"
        path = tmp_path / "names.env"
        path.write_text("".join(f"{key}={CANARY}\n" for key in name_map) + f"GOOD={CANARY}\n")
        found = migration.make_plan(manager, migration.Settings(env_file=str(path), name_map=name_map))
        refused = sorted(row.key for row in found.rows if row.action == "blocked")
        if refused == sorted(name_map):
            raise errors.InvalidSecretName(f"blocked: {', '.join(refused)}", provider=manager.provider)
        return refused  # not all of them blocked: reported as "accepted"

    cases.append(Case(".env keys whose names the provider refuses are blocked in the plan", blocked,
                      errors.InvalidSecretName))
    return cases


def cases_for(provider: str, prefix: str) -> List[Case]:
    return (_name_cases(provider, prefix) + _value_cases(provider) + _version_cases() + _reference_cases()
            + _dotenv_cases(provider))


# what the server saw -------------------------------------------------------------------------------------
def _write_counter(provider: str, request, manager) -> Optional[Callable[[], int]]:
    """A function counting the write requests the provider's server has received, or None (no log)."""
    if provider == "local":
        return None
    if provider == "vault":
        server = request.getfixturevalue("openbao_server")
        if server is None:
            return None
        return lambda: sum(1 for entry in server.audit_entries()
                           if entry["request"].get("operation") in ("create", "update", "delete")
                           and (manager.prefix or "") in (entry["request"].get("path") or ""))
    if provider == "aws":
        server = request.getfixturevalue("moto_server")
        return None if server is None else (lambda: len(server.requests.writes()))
    if provider == "gcp":
        fake = request.getfixturevalue("gcp_server").fake
        return None if fake is None else (
            lambda: sum(1 for method in list(fake.calls) if not method.startswith(("Get", "List", "Access"))))
    if provider == "azure":
        fake = request.getfixturevalue("azure_server").fake
        return None if fake is None else (
            lambda: sum(1 for method, target, _who in list(fake.calls)
                        if method in ("PUT", "PATCH", "DELETE") or (method == "POST" and "/secrets" in target)))
    if provider == "kubernetes":
        fake = request.getfixturevalue("k8s_fake")
        return None if fake is None else (
            lambda: sum(1 for method, _path, _who in list(fake.requests) if method in ("POST", "PUT", "PATCH", "DELETE")))
    return None


def _snapshot(manager) -> Dict[str, Any]:
    """Everything a bad input could have changed, without values: names, metadata, versions."""
    listed = manager.list()
    described = {}
    for name in listed:
        meta = manager.describe(name).to_dict()
        described[name] = {key: meta[key] for key in ("version", "tags", "description", "deleted_at", "versions_count")}
    try:
        # not created_at: moto's ListSecretVersionIds answers "now" for it on every call
        versions = [(item.version, sorted(item.stages), item.enabled, item.destroyed)
                    for item in manager.versions("sentinel")]
    except errors.UnsupportedOperation:
        versions = []
    return {"list": listed, "describe": described, "versions": versions,
            "sentinel": manager.get("sentinel", bypass_cache=True).value == "sentinel-value"}


def _record(provider: str, figures: Dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(_FIGURES), exist_ok=True)
    try:
        with open(_FIGURES, "r", encoding="utf-8") as handle:
            known = json.load(handle)
    except (OSError, ValueError):
        known = {}
    known[provider] = figures
    with open(_FIGURES, "w", encoding="utf-8") as handle:
        json.dump(known, handle, indent=2, sort_keys=True)
    print(f"\n[bad input] {provider}: {json.dumps(figures, sort_keys=True)}")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_bad_input_is_refused_before_any_write(provider, request, tmp_path):
    manager = request.getfixturevalue(f"{provider}_manager")()
    manager.set("sentinel", "sentinel-value", description="kept as it is", tags={"team": "platform"})
    count_writes = _write_counter(provider, request, manager)
    before = _snapshot(manager)
    writes_before = count_writes() if count_writes else None
    problems: List[str] = []
    table = cases_for(provider, manager.prefix or "")
    for case in table:
        try:
            case.run(manager, tmp_path)
        except Exception as exc:  # noqa: BLE001 - what kind of error is the point of the test
            message = str(exc)
            if not isinstance(exc, case.expected):
                problems.append(f"{case.id}: {type(exc).__name__} instead of {case.expected.__name__}: {message[:300]}")
            elif case.names_provider and f"[{provider}]" not in message:
                problems.append(f"{case.id}: the message does not name the provider: {message[:300]}")
            missing = [word for word in case.words if word not in message]
            if missing:
                problems.append(f"{case.id}: the message lacks {missing}: {message[:300]}")
            if CANARY in message or CANARY in repr(exc):
                problems.append(f"{case.id}: the message contains the value")
        else:
            if not case.may_succeed:
                problems.append(f"{case.id}: accepted")
    after = _snapshot(manager)
    writes_after = count_writes() if count_writes else None
    _record(provider, {"bad_inputs_tried": len(table), "refused_as_expected": len(table) - len(problems),
                       "server_writes_during_table": None if writes_before is None else writes_after - writes_before})
    assert not problems, f"{provider}:\n" + "\n".join(problems)
    assert after == before, "the backend changed"
    assert writes_after == writes_before, f"{writes_after - writes_before} write requests reached the server"


# wrong types in module options, through ansible-playbook ------------------------------------------------------
BAD_OPTIONS = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  module_defaults:
    group/vibebox.secrets.secrets:
      provider: vault
      vault_addr: "{{ vault_addr }}"
      vault_token: "{{ vault_token }}"
      prefix: "{{ prefix }}"
  tasks:
    - name: tags given as a list
      vibebox.secrets.secret: {name: jwt-secret, value: "{{ canary }}", tags: [team, platform]}
      register: tags_list
      ignore_errors: true
    - name: recovery_days given as text
      vibebox.secrets.secret: {name: jwt-secret, state: absent, recovery_days: soon}
      register: days_text
      ignore_errors: true
    - name: recovery_days below zero
      vibebox.secrets.secret: {name: jwt-secret, state: absent, recovery_days: -1}
      register: days_negative
      ignore_errors: true
    - name: overwrite given as text that is not a boolean
      vibebox.secrets.secret: {name: jwt-secret, value: "{{ canary }}", overwrite: perhaps}
      register: overwrite_text
      ignore_errors: true
    - name: a generator length given as text
      vibebox.secrets.secret_rotate: {name: jwt-secret, generator: {type: hex, length: long}}
      register: length_text
      ignore_errors: true
    - name: max_age that is not a duration
      vibebox.secrets.secret_rotate: {name: jwt-secret, max_age: soonish, generator: {type: hex}}
      register: max_age_text
      ignore_errors: true
    - name: a number as the new value of a rotation
      vibebox.secrets.secret_rotate: {name: jwt-secret, value: 123456789012345678}
      register: rotate_number
      ignore_errors: true
    - name: a policy with an unknown character class
      vibebox.secrets.secret_info: {policy: {classes: [emoji]}}
      register: class_unknown
      ignore_errors: true
    - name: a policy whose min_length is text
      vibebox.secrets.secret_info: {policy: {min_length: long}}
      register: length_policy
      ignore_errors: true
    - name: keep the messages for the test
      ansible.builtin.copy:
        dest: "{{ out }}"
        mode: "0600"
        content: >-
          {{ dict(['tags_list', 'days_text', 'days_negative', 'overwrite_text', 'length_text',
                   'max_age_text', 'rotate_number', 'class_unknown', 'length_policy']
                  | zip([tags_list, days_text, days_negative, overwrite_text, length_text,
                         max_age_text, rotate_number, class_unknown, length_policy]
                        | map(attribute='msg', default='(no failure)'))) | to_json }}
"""

EXPECTED_OPTION_ERRORS = {
    "tags_list": ("tags", "dict"),
    "days_text": ("recovery_days", "int"),
    "days_negative": ("recovery_days", "0 or more"),
    "overwrite_text": ("overwrite", "bool"),
    "length_text": ("length", "int"),
    "max_age_text": ("max_age", "duration"),
    "rotate_number": ("must be a string (got int)", "jwt-secret"),
    "class_unknown": ("classes", "emoji"),
    "length_policy": ("min_length", "int"),
}


def test_wrong_option_types_fail_before_any_write(tmp_path, openbao_server, vault_manager):
    if openbao_server is None:
        pytest.skip("counts write requests in the local OpenBao server's audit log")
    manager = vault_manager()
    manager.set("jwt-secret", "sentinel-value", tags={"team": "platform"})
    before = _snapshot_named(manager, "jwt-secret")
    token = openbao_server.request("POST", "auth/token/create", {"policies": ["root"], "ttl": "1h"})["auth"]["client_token"]
    writes = _write_counter("vault", _FakeRequest(openbao_server), manager)
    writes_before = writes()
    out = tmp_path / "messages.json"
    result = run_playbook(write_playbook(tmp_path, BAD_OPTIONS), state_env(tmp_path), extra_vars={
        "vault_addr": openbao_server.addr, "vault_token": token, "prefix": manager.prefix, "canary": CANARY,
        "out": str(out)})
    assert result.rc == 0, result.output[-4000:]
    assert result.recap()["ignored"] == len(EXPECTED_OPTION_ERRORS), result.output[-4000:]
    messages = json.loads(out.read_text())
    problems = [f"{task}: {messages[task]!r} lacks {words}" for task, words in EXPECTED_OPTION_ERRORS.items()
                if not all(word in messages[task] for word in words)]
    _record("module_options", {"bad_inputs_tried": len(EXPECTED_OPTION_ERRORS),
                               "refused_as_expected": len(EXPECTED_OPTION_ERRORS) - len(problems),
                               "server_writes_during_run": writes() - writes_before})
    assert not problems, "\n".join(problems)
    assert CANARY not in result.output
    assert _snapshot_named(manager, "jwt-secret") == before
    assert writes() == writes_before, "a write reached Vault"


class _FakeRequest:
    """Stands in for pytest's ``request`` where _write_counter only needs the OpenBao server."""

    def __init__(self, server) -> None:
        self.server = server

    def getfixturevalue(self, _name: str):
        return self.server


def _snapshot_named(manager, name: str) -> Dict[str, Any]:
    meta = manager.describe(name).to_dict()
    return {"list": manager.list(), "version": meta["version"], "tags": meta["tags"],
            "value_kept": manager.get(name, bypass_cache=True).value == "sentinel-value"}


DICT_VALUE = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: a structured value instead of text
      vibebox.secrets.secret:
        name: jwt-secret
        value: {password: "{{ canary }}"}
        provider: vault
        vault_addr: "{{ vault_addr }}"
        vault_token: "{{ vault_token }}"
        prefix: "{{ prefix }}"
"""


def test_a_structured_value_is_refused_not_stored_as_its_python_repr(tmp_path, openbao_server, vault_manager):
    if openbao_server is None:
        pytest.skip("counts write requests in the local OpenBao server's audit log")
    manager = vault_manager()
    token = openbao_server.request("POST", "auth/token/create", {"policies": ["root"], "ttl": "1h"})["auth"]["client_token"]
    writes = _write_counter("vault", _FakeRequest(openbao_server), manager)
    writes_before = writes()
    result = run_playbook(write_playbook(tmp_path, DICT_VALUE), state_env(tmp_path), extra_vars={
        "vault_addr": openbao_server.addr, "vault_token": token, "prefix": manager.prefix, "canary": CANARY})
    assert CANARY not in result.output
    assert writes() == writes_before, "the Python repr of the dict was written as the secret's value"
    assert result.rc != 0 and "value" in result.output
