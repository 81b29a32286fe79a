"""plugins/modules/secret_notify.py: when it would send, and that check mode sends nothing."""
from __future__ import annotations

HOOK = "https://hooks.example/CANARY-webhook-token"


def test_a_success_is_not_sent_unless_asked(run_module):
    result = run_module("secret_notify", webhook_urls=[HOOK], outcome="success", playbook="rotate.yml")
    assert result["failed"] is False and result["would_send"] is False and result["sent"] == 0
    assert result["payload"]["outcome"] == "success"


def test_check_mode_sends_nothing_and_an_empty_url_is_ignored(run_module):
    result = run_module("secret_notify", check_mode=True, webhook_urls=[HOOK, " "], outcome="failure",
                        playbook="rotate.yml", names=["jwt"], job_id="42")
    assert result["would_send"] is True and result["sent"] == 0 and result["webhooks"] == []
    assert result["payload"]["names"] == ["jwt"]
    assert "CANARY-webhook-token" not in repr(result["payload"])
