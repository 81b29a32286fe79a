"""No value leaks: every playbook and every module, at -vvvv, normal, --check, --diff, failing.

Every secret value in these runs holds a canary. After each run, the canary must appear nowhere:
not in stdout or stderr, not in the audit log, not in any file the run left behind (migration
backups and the local store are encrypted, so the canary is not in their bytes either), and not in
the messages of exceptions, including those an SDK builds from the request it sent.

The playbooks (playbooks/*.yml) and modules (plugins/modules/*.py) are discovered, and each must
have an entry in the tables below: a new module or playbook without a leak case fails
``test_every_module_and_playbook_has_a_leak_case`` until somebody writes one.

Runs: ``--diff`` (the normal path, with diffs shown) and ``--check --diff`` (check mode); a diff
run prints more than the same run without it, so these two cover the four modes. Failing paths are
tasks that fail on purpose (ignore_errors) inside the module play, and a failing run per playbook.
Everything runs against the embedded local store, except where a failure needs a server (an
unreachable Vault) or the SDK's own error text (moto).
"""
from __future__ import annotations

import concurrent.futures
import http.server
import json
import os
import pathlib
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import pytest

from ansible_run import REPO, PlaybookRun, run_playbook, state_env, write_playbook
import servers

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory, registry

CANARY = "CANARY-leak-" + uuid.uuid4().hex
MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, "plugins", "modules"))
                 if name.endswith(".py") and not name.startswith("_"))
PLAYBOOKS = sorted(name[:-4] for name in os.listdir(os.path.join(REPO, "playbooks")) if name.endswith(".yml"))
VERBOSE = ("-vvvv",)


def _closed_port() -> int:
    return servers.load("fault_proxy").closed_port()


DEAD_VAULT = f"http://127.0.0.1:{_closed_port()}"


class _Hook(http.server.BaseHTTPRequestHandler):
    """A webhook on loopback for the notifications of every run; the bodies are checked for canaries."""

    bodies: List[str] = []

    def do_POST(self):  # noqa: N802 - the name http.server calls
        _Hook.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


_HOOK_SERVER = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
threading.Thread(target=_HOOK_SERVER.serve_forever, daemon=True).start()
#: the webhook's path holds a canary: webhook URLs are credentials and must never be shown
HOOK_URL = f"http://127.0.0.1:{_HOOK_SERVER.server_address[1]}/hooks/{CANARY}-hook"
NOTIFY = {"notify_webhook_url": HOOK_URL, "notify_on": "failure,success", "notify_retry_delay": 0.01}


# the module table: per module, tasks that succeed and tasks that fail on purpose -------------------------------
MODULE_CASES: Dict[str, str] = {
    "secret": """
    - name: secret - create
      vibebox.secrets.secret: {name: jwt-secret, value: "{{ canary }}-jwt", description: signing key, tags: {team: a}}
    - name: secret - change value and tags
      vibebox.secrets.secret: {name: jwt-secret, value: "{{ canary }}-jwt-2", tags: {team: b}}
    - name: secret - a second secret
      vibebox.secrets.secret: {name: old-key, value: "{{ canary }}-old"}
    - name: secret - remove it
      vibebox.secrets.secret: {name: old-key, state: absent}
    - name: secret - FAILS, a bad name
      vibebox.secrets.secret: {name: "bad name", value: "{{ canary }}-bad"}
      ignore_errors: true
    - name: secret - FAILS, a value the strength policy refuses (the message names the rule)
      vibebox.secrets.secret: {name: weak-key, value: "{{ canary }}-weak", policy: {min_length: 500}}
      ignore_errors: true
    - name: secret - a weak value written in warn mode (the warning names the rule)
      vibebox.secrets.secret:
        secrets: [{name: weak-key, value: "{{ canary }}-weak"}]
        policy: {min_length: 500}
        policy_mode: warn
    - name: secret - FAILS, an unreachable Vault (token and value are canaries)
      vibebox.secrets.secret:
        name: jwt-secret
        value: "{{ canary }}-vault"
        provider: vault
        vault_addr: "{{ dead_vault }}"
        vault_token: "{{ canary }}-token"
      ignore_errors: true
    - name: secret - FAILS, a userpass login to an unreachable Vault (the password is a canary)
      vibebox.secrets.secret:
        name: jwt-secret
        value: "{{ canary }}-vault"
        provider: vault
        vault_addr: "{{ dead_vault }}"
        vault_auth_method: userpass
        vault_username: leak-user
        vault_password: "{{ canary }}-password"
      ignore_errors: true
    - name: secret - FAILS, a JWT login to an unreachable Vault (the JWT is a canary)
      vibebox.secrets.secret:
        name: jwt-secret
        value: "{{ canary }}-vault"
        provider: vault
        vault_addr: "{{ dead_vault }}"
        vault_auth_method: jwt
        vault_role: deploy
        vault_jwt: "{{ canary }}-jwt"
      ignore_errors: true
""",
    "secret_info": """
    - name: secret_info - compliance with the values measured, and the audit tail
      vibebox.secrets.secret_info: {check_values: true, policy: {min_length: 8, classes: [lower]}, audit_entries: 30}
    - name: secret_info - FAILS, violations
      vibebox.secrets.secret_info: {check_values: true, policy: {min_length: 500, classes: [symbols]}, fail_on_violation: true}
      ignore_errors: true
""",
    "secret_rotate": """
    - name: secret_rotate - to a given value, with grace
      vibebox.secrets.secret_rotate: {name: jwt-secret, value: "{{ canary }}-rotated", grace_period: 1h, create: true}
    - name: secret_rotate - a generated value
      vibebox.secrets.secret_rotate: {name: session-key, generator: {type: password, length: 40}, create: true}
    - name: secret_rotate - FAILS, a given value the strength policy refuses
      vibebox.secrets.secret_rotate: {name: jwt-secret, value: "{{ canary }}-weak", policy: {min_entropy_bits: 5000}}
      ignore_errors: true
    - name: secret_rotate - FAILS, roll back to a version that does not exist
      vibebox.secrets.secret_rotate: {name: jwt-secret, rollback_to: "999"}
      ignore_errors: true
    - name: secret_rotate - FAILS, a transit key on an unreachable Vault (the token is a canary)
      vibebox.secrets.secret_rotate:
        name: encryption-key
        kind: encryption-key
        provider: vault
        vault_addr: "{{ dead_vault }}"
        vault_token: "{{ canary }}-token"
        vault_transit_key: app
      ignore_errors: true
""",
    "secret_cleanup": """
    - name: secret_cleanup - old versions of jwt-secret
      vibebox.secrets.secret_cleanup: {names: [jwt-secret], keep: 1}
    - name: secret_cleanup - FAILS, an unreachable Vault
      vibebox.secrets.secret_cleanup:
        names: [jwt-secret]
        provider: vault
        vault_addr: "{{ dead_vault }}"
        vault_token: "{{ canary }}-token"
      ignore_errors: true
""",
    "secret_migrate": """
    - name: secret_migrate - plan
      vibebox.secrets.secret_migrate: {action: plan, env_file: "{{ env_file }}", backup_dir: "{{ backup_dir }}"}
    - name: secret_migrate - backup
      vibebox.secrets.secret_migrate: {action: backup, env_file: "{{ env_file }}", backup_dir: "{{ backup_dir }}"}
      register: leak_backup
    - name: secret_migrate - apply
      vibebox.secrets.secret_migrate:
        action: apply
        env_file: "{{ env_file }}"
        backup_dir: "{{ backup_dir }}"
        backup: "{{ leak_backup.backup | default(omit, true) }}"
    - name: secret_migrate - validate
      vibebox.secrets.secret_migrate: {action: validate, env_file: "{{ env_file }}", backup_dir: "{{ backup_dir }}"}
      when: not ansible_check_mode
    - name: secret_migrate - FAILS, apply to an unreachable Vault
      vibebox.secrets.secret_migrate:
        action: apply
        env_file: "{{ env_file }}"
        backup_dir: "{{ backup_dir }}"
        provider: vault
        vault_addr: "{{ dead_vault }}"
        vault_token: "{{ canary }}-token"
      ignore_errors: true
""",
    "secret_move": """
    - name: secret_move - a source store holding a canary (also in check mode, so there is something to move)
      vibebox.secrets.secret: {name: moved-key, value: "{{ canary }}-moved", local_path: "{{ backup_dir }}/../source/secrets.db"}
      check_mode: false
    - name: secret_move - plan
      vibebox.secrets.secret_move: &leak_move
        action: plan
        source: local
        source_options: {local_path: "{{ backup_dir }}/../source/secrets.db"}
        backup_dir: "{{ backup_dir }}"
    - name: secret_move - back up the target
      vibebox.secrets.secret_move: {<<: *leak_move, action: backup}
      register: leak_move_backup
    - name: secret_move - apply
      vibebox.secrets.secret_move: {<<: *leak_move, action: apply, keys: [moved-key], backup: "{{ leak_move_backup.backup | default(omit, true) }}"}
    - name: secret_move - validate
      vibebox.secrets.secret_move: {<<: *leak_move, action: validate, backup: "{{ leak_move_backup.backup | default(omit, true) }}"}
      when: not ansible_check_mode  # as the role: nothing was written to compare with
    - name: secret_move - finish
      vibebox.secrets.secret_move: {<<: *leak_move, action: finish, backup: "{{ leak_move_backup.backup | default(omit, true) }}"}
      when: not ansible_check_mode  # as the role: nothing was written to compare with
    - name: secret_move - FAILS, from an unreachable Vault (its token is a canary)
      vibebox.secrets.secret_move:
        action: plan
        source: vault
        source_options: {vault_addr: "{{ dead_vault }}", vault_token: "{{ canary }}-token"}
        backup_dir: "{{ backup_dir }}"
      ignore_errors: true
""",
    "backup_rekey": """
    - name: backup_rekey - a backup of the canaries to re-key
      vibebox.secrets.secret_migrate: {action: backup, env_file: "{{ env_file }}", backup_dir: "{{ backup_dir }}"}
    - name: backup_rekey - move the backups to a new key
      vibebox.secrets.backup_rekey: {backup_dir: "{{ backup_dir }}", min_interval: 0}
    - name: backup_rekey - FAILS, a new key that is not a key (a canary)
      vibebox.secrets.backup_rekey: {backup_dir: "{{ backup_dir }}", new_backup_key: "{{ canary }}-not-a-key"}
      ignore_errors: true
""",
    "local_rekey": """
    - name: local_rekey - a store to re-key
      vibebox.secrets.secret: {name: rekeyed, value: "{{ canary }}-rekeyed"}
    - name: local_rekey - move the store to a new key
      vibebox.secrets.local_rekey: {min_interval: 0}
    - name: local_rekey - FAILS, a new key that is not a key (a canary)
      vibebox.secrets.local_rekey: {new_key: "{{ canary }}-not-a-key"}
      ignore_errors: true
""",
    "postgres_rotate": """
    - name: postgres_rotate - FAILS, no database (the admin password is a canary)
      vibebox.secrets.postgres_rotate:
        name: database-password
        role: app
        create: true
        login_host: 127.0.0.1
        login_port: "{{ dead_port }}"
        login_user: admin
        login_password: "{{ canary }}-pg-admin"
        connect_timeout: 2
      ignore_errors: true
""",
    "secret_notify": """
    - name: secret_notify - post a failure (the webhook's path is a canary, like a Slack webhook's token)
      vibebox.secrets.secret_notify:
        webhook_urls: ["{{ hook_url }}"]
        playbook: rotate
        outcome: failure
        names: [jwt-secret]
        versions: {jwt-secret: {before: "1", after: "1"}}
        error_kind: unavailable
        error: the provider did not answer
        retry_delay: 0.01
    - name: secret_notify - FAILS, an outcome it does not know
      vibebox.secrets.secret_notify: {webhook_urls: ["{{ hook_url }}"], playbook: rotate, outcome: maybe}
      ignore_errors: true
""",
    "transit_rewrap": """
    - name: transit_rewrap - FAILS, ciphertexts (canaries) on an unreachable Vault
      vibebox.secrets.transit_rewrap:
        ciphertexts: ["vault:v1:{{ canary | b64encode }}", "{{ canary }}-plaintext"]
        provider: vault
        vault_addr: "{{ dead_vault }}"
        vault_token: "{{ canary }}-token"
        vault_transit_key: app
      ignore_errors: true
    - name: transit_rewrap - FAILS, no transit key named (the ciphertext is a canary)
      vibebox.secrets.transit_rewrap:
        ciphertexts: ["{{ canary }}-ciphertext"]
        provider: vault
        vault_addr: "{{ dead_vault }}"
        vault_token: "{{ canary }}-token"
      ignore_errors: true
""",
    "secret_status": """
    - name: secret_status - describe every secret and the audit tail
      vibebox.secrets.secret_info: {versions: false, audit_entries: 100}
      register: leak_status_info
    - name: secret_status - write the page and its JSON
      vibebox.secrets.secret_status: {path: "{{ backup_dir }}/../status.html", sources: ["{{ leak_status_info }}"]}
    - name: secret_status - FAILS, a rotation period that is no duration
      vibebox.secrets.secret_status:
        path: "{{ backup_dir }}/../status-bad.html"
        sources: ["{{ leak_status_info }}"]
        max_ages: {jwt-secret: soon}
      ignore_errors: true
""",
    "vault_lease": """
    - name: vault_lease - FAILS, revoke a lease at an unreachable Vault (the token is a canary)
      vibebox.secrets.vault_lease:
        lease_id: database/creds/app/leak-case
        vault_addr: "{{ dead_vault }}"
        vault_token: "{{ canary }}-token"
      ignore_errors: true
""",
}
#: modules whose success path needs a server these tests do not start (it is covered elsewhere)
MODULE_SUCCESS_ELSEWHERE = {"postgres_rotate": "tests/integration/test_rotate_database.py (PostgreSQL)",
                            "transit_rewrap": "tests/integration/test_transit.py (OpenBao's transit engine)",
                            "vault_lease": "tests/integration/test_vault_dynamic.py (OpenBao and PostgreSQL)"}


@dataclass
class PlaybookCase:
    """How to run one playbook: extra vars and environment per path (``None``: that path is not run)."""

    normal: Optional[Callable[["Context"], Tuple[dict, dict]]] = None
    failing: Optional[Callable[["Context"], Tuple[dict, dict]]] = None
    check: bool = True
    prepare: Optional[Callable[["Context"], None]] = None
    why_not_normal: str = ""


@dataclass
class Context:
    root: pathlib.Path  # this run's own folder
    inputs: List[str] = field(default_factory=list)  # files that hold canaries on purpose

    def env_file(self) -> str:
        path = self.root / "app.env"
        path.write_text(f"APP_NAME=leak-test\nDATABASE_PASSWORD={CANARY}-db\nJWT_SECRET={CANARY}-jwt\n"
                        f"API_KEY={CANARY}-api\nSENTRY_DSN=${{env:SENTRY_DSN:-}}\n")
        self.inputs.append(str(path))
        return str(path)

    def local(self) -> dict:
        return {"provider": "local", "local_path": str(self.root / "store" / "secrets.db"),
                "local_key_file": str(self.root / "store" / "secrets.key")}

    def seed(self, **values: str) -> None:
        manager = factory.build_manager({**self.local(), "audit_log": str(self.root / "seed-audit.log")}, env={})
        for name, value in values.items():
            manager.set(name, value)
        manager.close()


def _demo_normal(ctx: Context) -> Tuple[dict, dict]:
    return {"demo_env_file": ctx.env_file()}, {}


def _demo_failing(ctx: Context) -> Tuple[dict, dict]:
    # a key that is not a valid AES-256 key fails the first write; the "key" itself is a canary
    return {"demo_env_file": ctx.env_file()}, {"VIBEBOX_LOCAL_KEY": f"{CANARY}-not-a-key"}


def _migrate_normal(ctx: Context) -> Tuple[dict, dict]:
    return {**NOTIFY, "env_file": ctx.env_file(), **ctx.local(), "migrate_backup_dir": str(ctx.root / "backups")}, {}


def _migrate_failing(ctx: Context) -> Tuple[dict, dict]:
    return {**NOTIFY, "env_file": ctx.env_file(), "provider": "vault", "vault_addr": DEAD_VAULT,
            "vault_token": f"{CANARY}-token", "migrate_backup_dir": str(ctx.root / "backups")}, {}


def _rotate_prepare(ctx: Context) -> None:
    ctx.seed(**{"jwt-secret": f"{CANARY}-jwt-old"})


def _rotate_normal(ctx: Context) -> Tuple[dict, dict]:
    return {**NOTIFY, "rotate_secret": "jwt-secret", "grace_period": "1h", **ctx.local()}, {}


def _rotate_failing(ctx: Context) -> Tuple[dict, dict]:
    # the command after the rotation fails, so the role rolls the canary value back
    return {**NOTIFY, "rotate_secret": "jwt-secret", **ctx.local(), "rotate_after_command": "false"}, {}


def _cleanup_prepare(ctx: Context) -> None:
    ctx.seed(**{"jwt-secret": f"{CANARY}-v1"})
    ctx.seed(**{"jwt-secret": f"{CANARY}-v2"})
    ctx.seed(**{"jwt-secret": f"{CANARY}-v3"})


def _cleanup_normal(ctx: Context) -> Tuple[dict, dict]:
    return {**NOTIFY, **ctx.local(), "names": ["jwt-secret"], "keep": 1}, {}


def _cleanup_failing(ctx: Context) -> Tuple[dict, dict]:
    return {**NOTIFY, "provider": "vault", "vault_addr": DEAD_VAULT, "vault_token": f"{CANARY}-token", "names": ["jwt-secret"]}, {}


def _compliance_prepare(ctx: Context) -> None:
    ctx.seed(**{"jwt-secret": f"{CANARY}-weak", "api-key": f"{CANARY}-Strong-1!"})


def _compliance_normal(ctx: Context) -> Tuple[dict, dict]:
    return {**NOTIFY, **ctx.local(), "check_values": True, "min_length": 8, "classes": "lower,digits",
            "report_file": str(ctx.root / "compliance.json")}, {}


def _compliance_failing(ctx: Context) -> Tuple[dict, dict]:
    return {**NOTIFY, **ctx.local(), "check_values": True, "min_length": 500, "classes": "symbols", "fail_on_violation": True,
            "report_file": str(ctx.root / "compliance.json")}, {}


def _rekey_prepare(ctx: Context) -> None:
    ctx.seed(**{"jwt-secret": f"{CANARY}-jwt", "api-key": f"{CANARY}-api"})


def _rekey_normal(ctx: Context) -> Tuple[dict, dict]:
    return {**ctx.local(), "rekey_min_interval": 0, "migrate_backup_dir": str(ctx.root / "backups")}, {}


def _rekey_failing(ctx: Context) -> Tuple[dict, dict]:
    return {**ctx.local(), "new_local_key": f"{CANARY}-not-a-key"}, {}


def _status_prepare(ctx: Context) -> None:
    ctx.seed(**{"jwt-secret": f"{CANARY}-jwt", "api-key": f"{CANARY}-api"})


def _status_normal(ctx: Context) -> Tuple[dict, dict]:
    return {**ctx.local(), "max_age": "1d", "status_file": str(ctx.root / "status.html")}, {}


def _status_failing(ctx: Context) -> Tuple[dict, dict]:
    return {"provider": "vault", "vault_addr": DEAD_VAULT, "vault_token": f"{CANARY}-token",
            "status_file": str(ctx.root / "status.html")}, {}


def _awx_failing(ctx: Context) -> Tuple[dict, dict]:
    # no AWX here: the controller is a closed port, its password a canary
    return {"awx_ee_image": "registry.invalid/ee:0", "awx_project_url": "https://git.invalid/x.git"}, {
        "CONTROLLER_HOST": f"https://127.0.0.1:{_closed_port()}", "CONTROLLER_USERNAME": "admin",
        "CONTROLLER_PASSWORD": f"{CANARY}-awx", "CONTROLLER_VERIFY_SSL": "false"}


PLAYBOOK_CASES: Dict[str, PlaybookCase] = {
    "demo": PlaybookCase(_demo_normal, _demo_failing),
    "migrate": PlaybookCase(_migrate_normal, _migrate_failing),
    "rotate": PlaybookCase(_rotate_normal, _rotate_failing, prepare=_rotate_prepare),
    "cleanup": PlaybookCase(_cleanup_normal, _cleanup_failing, prepare=_cleanup_prepare),
    "compliance": PlaybookCase(_compliance_normal, _compliance_failing, prepare=_compliance_prepare),
    "rekey": PlaybookCase(_rekey_normal, _rekey_failing, prepare=_rekey_prepare),
    "status": PlaybookCase(_status_normal, _status_failing, prepare=_status_prepare),
    "awx_configure": PlaybookCase(None, _awx_failing, check=False,
                                  why_not_normal="needs a running AWX; only its failing path runs here"),
}


#: runs known to fail for a reason outside these tests (never a leak: leaks are always failures); when one
#: stops failing, the test says so, so that the entry is removed
KNOWN_FAILURES: Dict[str, str] = {}


# checks -------------------------------------------------------------------------------------------------
def _leaks_in_files(root: str, inputs: List[str]) -> List[str]:
    """Every file under ``root`` (except the inputs that hold canaries on purpose) that holds a canary."""
    found = []
    needle = CANARY.encode()
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if path in inputs or os.path.islink(path):
                continue
            try:
                with open(path, "rb") as handle:
                    if needle in handle.read():
                        found.append(os.path.relpath(path, root))
            except OSError:
                continue
    return found


def _leaks_in_run(label: str, run: PlaybookRun, root: str, inputs: List[str]) -> List[str]:
    problems = []
    for stream, text in (("stdout", run.stdout), ("stderr", run.stderr)):
        if CANARY in text:
            at = text.index(CANARY)
            problems.append(f"{label}: {stream}: ...{text[max(0, at - 300):at + 80]!r}")
    problems += [f"{label}: file {path}" for path in _leaks_in_files(root, inputs)]
    return problems


def test_every_module_and_playbook_has_a_leak_case():
    assert MODULES and PLAYBOOKS
    missing_modules = [name for name in MODULES if name not in MODULE_CASES]
    missing_playbooks = [name for name in PLAYBOOKS if name not in PLAYBOOK_CASES]
    assert not missing_modules, f"modules without a leak case in MODULE_CASES: {missing_modules}"
    assert not missing_playbooks, f"playbooks without a leak case in PLAYBOOK_CASES: {missing_playbooks}"
    for name in MODULES:
        assert "FAILS" in MODULE_CASES[name], f"{name}: no failing path"
        assert MODULE_CASES[name].count("- name:") > 1 or name in MODULE_SUCCESS_ELSEWHERE, f"{name}: no success path"


def _module_play() -> str:
    tasks = "".join(MODULE_CASES[name] for name in MODULES if name in MODULE_CASES)
    return f"""
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
{tasks}"""


def _run_modules(mode: Tuple[str, ...]) -> Tuple[PlaybookRun, str, List[str]]:
    root = tempfile.mkdtemp(prefix="vbleak-")
    base = pathlib.Path(root)
    ctx = Context(base)
    play = write_playbook(base, _module_play(), name="modules.yml")
    extra = {"canary": CANARY, "dead_vault": DEAD_VAULT, "dead_port": _closed_port(), "env_file": ctx.env_file(),
             "backup_dir": str(base / "backups"), "hook_url": HOOK_URL}
    # the diff run has the modules run in the controller's worker (the default on localhost), the check run
    # has them run as a new Python (the path a remote host gets): both ways are swept at no extra run
    in_process = "false" if "--check" in mode else "true"
    env = state_env(base, {"VIBEBOX_RUN_CACHE_DIR": str(base / "rc"), "VIBEBOX_SECRETS_IN_PROCESS": in_process})
    # one play with every module case (about 60 module runs at -vvvv, two modes at once): a hang guard, not a limit
    run = run_playbook(play, env, *VERBOSE, *mode, extra_vars=extra, timeout=1200)
    return run, root, ctx.inputs


def test_modules_do_not_leak_in_any_mode():
    modes = {"diff": ("--diff",), "check+diff": ("--check", "--diff")}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(modes)) as pool:
        done = dict(zip(modes, pool.map(_run_modules, modes.values())))
    problems = []
    try:
        for label, (run, root, inputs) in done.items():
            failed = run.recap().get("failed", 0)
            if run.rc != 0 or failed:
                problems.append(f"{label}: a task that should succeed failed (rc {run.rc}):\n{run.output[-3000:]}")
            ignored = run.recap().get("ignored", 0)
            expected = sum(MODULE_CASES[name].count("FAILS") for name in MODULES)
            if label == "diff" and ignored != expected:  # in check mode some of them have nothing to fail on
                problems.append(f"{label}: {ignored} tasks failed on purpose, expected {expected}")
            problems += _leaks_in_run(f"modules {label}", run, root, inputs)
            if label == "diff":
                problems += _leaks_in_notifications()
            if label == "diff" and not os.path.exists(os.path.join(root, "status.html")):
                problems.append(f"{label}: the status page was not written, so it was not checked")
            audit = os.path.join(root, "state", "vibebox", "audit.log")
            if not os.path.exists(audit) and label == "diff":
                problems.append(f"{label}: no audit log was written, so it was not checked")
    finally:
        for _run, root, _inputs in done.values():
            shutil.rmtree(root, ignore_errors=True)
    assert not problems, "\n".join(problems)


def _run_playbook_case(job: Tuple[str, str]) -> Tuple[str, Optional[PlaybookRun], List[str]]:
    name, path = job
    case = PLAYBOOK_CASES[name]
    root = pathlib.Path(tempfile.mkdtemp(prefix=f"vbleak-{name}-"))
    ctx = Context(root)
    if case.prepare:
        case.prepare(ctx)
    maker = case.failing if path == "failing" else case.normal
    extra, env_extra = maker(ctx)
    args = list(VERBOSE) + ["--diff"] + (["--check"] if path == "check" else [])
    env = state_env(root, {"VIBEBOX_RUN_CACHE_DIR": str(root / "rc"), **env_extra})
    run = run_playbook(os.path.join(REPO, "playbooks", f"{name}.yml"), env, *args, extra_vars=extra, timeout=600)
    label = f"playbooks/{name}.yml {path}"
    problems = _leaks_in_run(label, run, str(root), ctx.inputs)
    if path == "failing" and run.rc == 0:
        problems.append(f"{label}: the failing path did not fail:\n{run.output[-2000:]}")
    if path != "failing" and run.rc != 0 and label not in KNOWN_FAILURES:
        problems.append(f"{label}: failed (rc {run.rc}):\n{run.output[-3000:]}")
    if label in KNOWN_FAILURES and run.rc == 0:
        problems.append(f"{label}: passes now; remove it from KNOWN_FAILURES")
    if name == "migrate" and path == "normal":
        backups = list((root / "backups").glob("*")) if (root / "backups").exists() else []
        if not backups:
            problems.append(f"{label}: no backup was written, so its encryption was not checked")
    shutil.rmtree(root, ignore_errors=True)
    return label, run, problems


def test_playbooks_do_not_leak_in_any_mode():
    jobs = []
    for name in PLAYBOOKS:
        case = PLAYBOOK_CASES.get(name)
        if case is None:
            continue  # reported by test_every_module_and_playbook_has_a_leak_case
        if case.normal:
            jobs.append((name, "normal"))
            if case.check:
                jobs.append((name, "check"))
        if case.failing:
            jobs.append((name, "failing"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(_run_playbook_case, jobs))
    problems = [problem for _label, _run, found in outcomes for problem in found]
    print(f"\n[leaks] {len(outcomes)} playbook runs at -vvvv: {', '.join(label for label, _r, _p in outcomes)}")
    for label, reason in KNOWN_FAILURES.items():
        print(f"[leaks] known failure, not a leak: {label}: {reason}")
    problems += _leaks_in_notifications()
    assert not problems, "\n".join(problems)


def _leaks_in_notifications() -> List[str]:
    """The bodies the webhook received (the playbooks notify on failure and success here)."""
    if not _Hook.bodies:
        return ["no notification reached the webhook, so none was checked"]
    return [f"notification: ...{body[max(0, body.index(CANARY) - 300):body.index(CANARY) + 80]!r}"
            for body in _Hook.bodies if CANARY in body]


# exceptions, including the SDK's own -------------------------------------------------------------------------
def _chain(exc: BaseException) -> List[BaseException]:
    """The exception and every cause or context a traceback would print."""
    seen: List[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return seen


def _text_of(exc: BaseException) -> str:
    import traceback

    return "\n".join(str(item) + repr(item) for item in _chain(exc)) + "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__))


def _echoing_answer(request) -> Tuple[int, Dict[str, str], bytes]:
    """A validation error that quotes the request body, as AWS ValidationException and many APIs do."""
    body = request.body.decode("utf-8", "replace")
    if request.target:
        message = f"1 validation error detected: Value '{body}' at 'secretString' failed to satisfy constraint"
        return 400, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(
            {"__type": "ValidationException", "message": message}).encode()
    return 400, {"Content-Type": "application/json"}, json.dumps({"errors": [f"invalid request: {body}"]}).encode()


@pytest.mark.parametrize("provider", ["aws", "vault"])
def test_sdk_errors_that_echo_the_request_body_do_not_reach_messages(provider, request, tmp_path):
    """The service answers every write with a validation error quoting the body (the value included);
    what the collection raises, audits and would print in a traceback must not hold the value."""
    server = request.getfixturevalue("moto_server" if provider == "aws" else "openbao_server")
    if server is None:
        pytest.skip("needs the local server behind the echoing proxy")
    upstream = server.url if provider == "aws" else server.addr
    proxy_module = servers.load("fault_proxy")
    with proxy_module.FaultProxy(upstream, fault_rate=1.0, answer=_echoing_answer,
                                 exempt=lambda seen: not seen.is_write) as proxy:
        endpoint = {"aws": "aws_endpoint_url", "vault": "vault_addr"}[provider]
        make = request.getfixturevalue(f"{provider}_manager")
        manager = make(**{endpoint: proxy.url}, audit_log=str(tmp_path / "audit.log"))
        with pytest.raises(errors.SecretError) as caught:
            manager.set("echo", f"{CANARY}-value")
        stats = proxy.snapshot()
    assert stats.faults >= 1, "no write reached the echoing proxy, so nothing was tested"
    text = _text_of(caught.value)
    assert "rejected" in text or "invalid" in text.lower(), text[:500]
    print(f"\n[leaks] {provider} echo: {str(caught.value)[:300]}")
    assert CANARY not in text, f"the value is in the error: {str(caught.value)[:400]}"
    assert CANARY not in (tmp_path / "audit.log").read_text()


@pytest.mark.parametrize("provider", ["local", "vault", "aws", "gcp", "azure", "kubernetes"])
def test_provider_errors_never_hold_the_value(provider, request, tmp_path):
    """Writes each provider's service refuses, with the canary in the value: no message may show it."""
    fixture = f"{provider}_manager"
    manager = request.getfixturevalue(fixture)(audit_log=str(tmp_path / "audit.log"))
    backend = manager.backend
    name = manager.provider_name("echo")
    limit = registry.max_value_bytes(provider)
    attempts = {
        "far over the limit, past core's check": lambda: backend.set(name, f"{CANARY}-" + "z" * (limit * 4)),
        "through the manager": lambda: manager.set("echo", f"{CANARY}-" + "z" * (limit + 1)),
    }
    problems = []
    accepted = []
    for label, attempt in attempts.items():
        try:
            attempt()
            accepted.append(label)
        except Exception as exc:  # noqa: BLE001
            if CANARY in _text_of(exc):
                problems.append(f"{label}: {type(exc).__name__}: the canary is in the message or its chain")
    audit = (tmp_path / "audit.log").read_text() if (tmp_path / "audit.log").exists() else ""
    if CANARY in audit:
        problems.append("the audit log holds the value")
    print(f"\n[leaks] {provider}: accepted by the service: {accepted or 'none'}")
    assert not problems, "\n".join(problems)
