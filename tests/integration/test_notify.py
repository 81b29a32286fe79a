"""Webhook notifications: the playbooks post to a receiver this test starts on loopback.

The receiver answers from a script (e.g. 503, 429, then 200) and records every request, so the tests
see the body, how often it was retried, and that one run posts once whatever the number of hosts.
Every value is a canary, and so is the webhook's path (webhook URLs are credentials): neither may
appear in the run's output, and no value may appear in a body.
"""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List, Optional, Tuple

import pytest

from ansible_run import REPO, run_playbook, state_env, write_playbook

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory

CANARY = "CANARY-notify-" + uuid.uuid4().hex
HOOK_TOKEN = "CANARY-hook-" + uuid.uuid4().hex


class Receiver:
    """A webhook on 127.0.0.1: answers ``script`` in order (then the last answer), records each request."""

    def __init__(self, script: Optional[List[Tuple[int, dict]]] = None) -> None:
        self.script = list(script or [(200, {})])
        self.requests: List[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body.decode()})
                status, headers = receiver.script[min(len(receiver.requests), len(receiver.script)) - 1]
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/{HOOK_TOKEN}"

    def bodies(self) -> List[dict]:
        return [json.loads(item["body"]) for item in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: List[Receiver] = []

    def make(script=None) -> Receiver:
        made.append(Receiver(script))
        return made[-1]

    yield make
    for item in made:
        item.close()


def _local(tmp_path) -> dict:
    return {"provider": "local", "local_path": str(tmp_path / "store.db"), "local_key_file": str(tmp_path / "store.key")}


def _seed(tmp_path, *names: str) -> None:
    manager = factory.build_manager({**_local(tmp_path), "audit_log": str(tmp_path / "seed-audit.log")}, env={})
    for name in names:
        manager.set(name, f"{CANARY}-{name}")
    manager.close()


def _no_leak(run, hook: Receiver) -> None:
    assert CANARY not in run.output
    assert HOOK_TOKEN not in run.output, "the webhook URL (a credential) was shown"
    for item in hook.requests:
        assert CANARY not in item["body"]


def test_failed_rotation_posts_once_with_versions_and_error(tmp_path, receiver):
    _seed(tmp_path, "jwt-secret")
    hook = receiver()
    run = run_playbook(os.path.join(REPO, "playbooks", "rotate.yml"), state_env(tmp_path),
                       extra_vars={**_local(tmp_path), "rotate_secret": "jwt-secret", "rotate_after_command": "false",
                                   "notify_webhook_url": hook.url},
                       )
    assert run.rc != 0, "a notification must not turn a failed run into a success"
    assert len(hook.requests) == 1, hook.requests
    body = hook.bodies()[0]
    assert body["playbook"] == "rotate" and body["outcome"] == "failure" and body["names"] == ["jwt-secret"]
    assert body["versions"]["jwt-secret"]["before"] == "1"
    assert body["error"] and "Run the command that follows a rotation" in body["error"]
    assert body["job_id"] is None
    assert hook.requests[0]["headers"]["Content-Type"] == "application/json"
    _no_leak(run, hook)


def test_success_is_sent_only_when_asked(tmp_path, receiver):
    _seed(tmp_path, "jwt-secret")
    quiet, loud = receiver(), receiver()
    env = state_env(tmp_path)
    first = run_playbook(os.path.join(REPO, "playbooks", "rotate.yml"), env,
                         extra_vars={**_local(tmp_path), "rotate_secret": "jwt-secret", "notify_webhook_url": quiet.url})
    assert first.rc == 0, first.output[-3000:]
    assert quiet.requests == []
    second = run_playbook(os.path.join(REPO, "playbooks", "rotate.yml"), env,
                          extra_vars={**_local(tmp_path), "rotate_secret": "jwt-secret",
                                      "notify_webhook_url": [loud.url], "notify_on": "failure,success"})
    assert second.rc == 0, second.output[-3000:]
    [body] = loud.bodies()
    assert body["outcome"] == "success" and body["names"] == ["jwt-secret"]
    assert body["versions"]["jwt-secret"]["before"] == "2" and body["versions"]["jwt-secret"]["after"] == "3"
    assert body["versions"]["jwt-secret"]["grace_until"], "jwt-secret keeps its previous key for the grace period"
    assert body["details"]["counts"] == {"rotated": 1}
    _no_leak(second, loud)


def test_retries_on_5xx_and_429_then_succeeds(tmp_path, receiver):
    hook = receiver([(503, {}), (429, {"Retry-After": "0"}), (200, {})])
    run = _module_play(tmp_path, hook.url, "outcome: failure")
    assert run.rc == 0, run.output[-3000:]
    assert len(hook.requests) == 3
    assert "[WARNING]: notification" not in run.output


def test_a_failing_webhook_warns_and_the_play_goes_on(tmp_path, receiver):
    hook = receiver([(500, {})])
    run = _module_play(tmp_path, hook.url, "outcome: failure", after="- ansible.builtin.debug: {msg: still running}")
    assert run.rc == 0, run.output[-3000:]
    assert len(hook.requests) == 4, "attempts default to 4"
    assert "failed after 4 attempt(s): HTTP 500" in " ".join(run.output.split())
    assert "still running" in run.output
    _no_leak(run, hook)


def test_a_webhook_that_does_not_answer_warns(tmp_path):
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    run = _module_play(tmp_path, f"http://127.0.0.1:{port}/hooks/{HOOK_TOKEN}", "outcome: failure")
    assert run.rc == 0 and "no answer" in run.output and HOOK_TOKEN not in run.output


def test_sent_once_per_run_not_per_host_with_slack_format_and_awx_job(tmp_path, receiver):
    hook = receiver()
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[many]\n" + "\n".join(f"h{i} ansible_connection=local" for i in range(3)) + "\n")
    env = state_env(tmp_path, {"JOB_ID": "4242", "AWX_HOST": "https://awx.example.test"})
    play = write_playbook(tmp_path, f"""
- hosts: many
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - name: Notify
      vibebox.secrets.secret_notify:
        webhook_urls: ["{hook.url}"]
        format: slack
        playbook: rotate
        outcome: failure
        names: [jwt-secret]
        versions: {{jwt-secret: {{before: "3", after: "3"}}}}
        error_kind: unavailable
        error: the provider did not answer
        retry_delay: 0.01
      run_once: true
""")
    run = run_playbook(play, env, inventory=str(inventory))
    assert run.rc == 0, run.output[-3000:]
    [body] = hook.bodies()
    assert set(body) == {"text", "attachments"}
    assert body["text"].startswith("FAILED: vibebox.secrets rotate (jwt-secret)")
    assert "jwt-secret: before 3, after 3" in body["text"]
    assert "Error (unavailable): the provider did not answer" in body["text"]
    assert "<https://awx.example.test/#/jobs/playbook/4242/output|AWX job 4242>" in body["text"]


def test_check_mode_sends_nothing(tmp_path, receiver):
    hook = receiver()
    run = _module_play(tmp_path, hook.url, "outcome: failure", "--check")
    assert run.rc == 0 and hook.requests == []


def _module_play(tmp_path, url: str, options: str, *args: str, after: str = ""):
    play = write_playbook(tmp_path, f"""
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - name: Notify
      vibebox.secrets.secret_notify:
        webhook_urls: ["{url}"]
        playbook: rotate
        names: [jwt-secret]
        retry_delay: 0.01
        {options}
    {after}
""", name=f"notify-{time.monotonic_ns()}.yml")
    return run_playbook(play, state_env(tmp_path), *args)
