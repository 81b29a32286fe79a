"""core/notify.py: the payload, Slack's body, retries with a fake clock and a fake post, AWX job links."""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import notify


def _payload(**extra):
    fields = dict(playbook="rotate", outcome="failure", names=["jwt-secret"],
                  versions={"jwt-secret": {"before": 3, "after": 3}}, error_kind="unavailable", error="timed out")
    fields.update(extra)
    return notify.build_payload(now=0, **fields)


def test_payload_fields():
    body = _payload(job_id="7", job_url="https://awx/#/jobs/playbook/7/output", details={"counts": {"failed": 1}})
    assert body["time"] == "1970-01-01T00:00:00Z"
    assert body["versions"] == {"jwt-secret": {"before": "3", "after": "3"}}
    assert (body["playbook"], body["outcome"], body["job_id"]) == ("rotate", "failure", "7")
    with pytest.raises(ValueError):
        _payload(outcome="maybe")


def test_slack_body():
    text = notify.slack_body(_payload(job_id="7", job_url="https://awx/x"))["text"]
    assert text.splitlines() == ["FAILED: vibebox.secrets rotate (jwt-secret)", "jwt-secret: before 3, after 3",
                                 "Error (unavailable): timed out", "<https://awx/x|AWX job 7>"]
    assert notify.slack_body(_payload(outcome="success"))["text"].startswith("OK: ")


class Script:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, url, data, headers, timeout):
        self.calls.append(url)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_retries_with_backoff_and_retry_after():
    slept = []
    post = Script((503, {}), (429, {"Retry-After": "7"}), (500, {}), (200, {}))
    [result] = notify.deliver(["https://hooks.example/T/secret"], {"a": 1}, post, attempts=4, delay=1, sleep=slept.append)
    assert result.ok and result.attempts == 4 and slept == [1, 7, 4]
    assert result.host == "hooks.example" and "secret" not in repr(result)


def test_gives_up_without_raising_and_does_not_retry_4xx():
    slept = []
    [gone] = notify.deliver(["http://a"], {}, Script(OSError("refused")), attempts=3, delay=0.5, sleep=slept.append)
    assert (gone.ok, gone.attempts, gone.error) == (False, 3, "no answer (OSError)") and slept == [0.5, 1.0]
    [denied] = notify.deliver(["http://b"], {}, Script((403, {})), attempts=3, sleep=slept.append)
    assert (denied.ok, denied.attempts, denied.status) == (False, 1, 403)


def test_awx_job_from_variables_and_environment():
    assert notify.job_of({}, {}) == (None, None)
    assert notify.job_of({"awx_job_id": 12}, {"AWX_HOST": "https://awx.example/"}) == (
        "12", "https://awx.example/#/jobs/playbook/12/output")
    assert notify.job_of({}, {"JOB_ID": "5"}) == ("5", None)
    assert notify.job_of({"tower_job_id": 3}, {"TOWER_HOST": "https://t"})[1] == "https://t/#/jobs/playbook/3/output"
