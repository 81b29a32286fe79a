# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Webhook notifications of a run's outcome (JSON, or Slack's message body), never a value.

Why here and not in the module: what a notification says (fields, Slack's wording) and how it is
delivered (retried on 429 and 5xx with backoff, bounded) are decisions the tests pin with a fake
clock and a fake ``post``; the module only hands in Ansible's HTTP client and turns failures into
warnings. A notification must never change a play's outcome, so ``deliver`` never raises.

Webhook URLs are credentials (a Slack webhook URL is all it takes to post into the channel), so
results and warnings name a webhook by its position and host only, never by its URL.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit

#: what ``post`` returns: HTTP status and headers; it raises OSError (or a subclass) when no answer came
Post = Callable[[str, bytes, Dict[str, str], float], Tuple[int, Mapping[str, str]]]
RETRY_STATUS = (429, 500, 502, 503, 504)
OUTCOMES = ("success", "failure")
MAX_DELAY = 30.0


def build_payload(
    playbook: str,
    outcome: str,
    names: Sequence[str] = (),
    versions: Optional[Mapping[str, Mapping[str, Any]]] = None,
    error_kind: Optional[str] = None,
    error: Optional[str] = None,
    job_id: Optional[str] = None,
    job_url: Optional[str] = None,
    details: Optional[Mapping[str, Any]] = None,
    now: Optional[float] = None,
) -> Dict[str, Any]:
    """The JSON body: what ran, on which secrets, how it ended, the versions before/after, the AWX job."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)} (got {outcome!r})")
    moment = time.gmtime(time.time() if now is None else now)
    return {
        "source": "vibebox.secrets",
        "playbook": playbook,
        "outcome": outcome,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", moment),
        "names": [str(name) for name in names],
        "versions": {str(name): {str(k): (None if v is None else str(v)) for k, v in (detail or {}).items()}
                     for name, detail in (versions or {}).items()},
        "error_kind": error_kind or None,
        "error": error or None,
        "job_id": job_id or None,
        "job_url": job_url or None,
        "details": dict(details or {}),
    }


def slack_body(payload: Mapping[str, Any]) -> Dict[str, Any]:
    """Slack's incoming-webhook body (also accepted by Mattermost and Rocket.Chat): a text line and fields."""
    failed = payload["outcome"] == "failure"
    names = ", ".join(payload.get("names") or []) or "no secret"
    headline = f"{'FAILED' if failed else 'OK'}: vibebox.secrets {payload['playbook']} ({names})"
    lines = [headline]
    for name, detail in (payload.get("versions") or {}).items():
        if detail:
            lines.append(f"{name}: " + ", ".join(f"{key} {value}" for key, value in detail.items()))
    if failed:
        lines.append(f"Error ({payload.get('error_kind') or 'error'}): {payload.get('error') or 'see the job output'}")
    if payload.get("job_url"):
        lines.append(f"<{payload['job_url']}|AWX job {payload.get('job_id') or ''}>".replace(" >", ">"))
    elif payload.get("job_id"):
        lines.append(f"AWX job {payload['job_id']}")
    return {
        "text": "\n".join(lines),
        "attachments": [{"color": "#c62828" if failed else "#2e7d32", "fallback": headline,
                         "fields": [{"title": "outcome", "value": payload["outcome"], "short": True},
                                    {"title": "playbook", "value": payload["playbook"], "short": True}]}],
    }


@dataclass
class Delivery:
    """How one webhook fared: position (1-based) and host name only, never the URL."""

    webhook: int
    host: str
    ok: bool
    status: Optional[int]
    attempts: int
    error: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _retry_after(headers: Mapping[str, str]) -> Optional[float]:
    for key, value in (headers or {}).items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def deliver(
    urls: Sequence[str],
    body: Mapping[str, Any],
    post: Post,
    attempts: int = 4,
    delay: float = 1.0,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> List[Delivery]:
    """POST ``body`` to each URL; retry 429/5xx and unanswered requests with exponential backoff
    (``delay``, 2x each time, Retry-After honoured, at most MAX_DELAY). Never raises."""
    data = json.dumps(body, sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "vibebox.secrets"}
    results: List[Delivery] = []
    for position, url in enumerate(urls, start=1):
        host = urlsplit(str(url)).hostname or "?"
        status: Optional[int] = None
        error: Optional[str] = None
        tries = 0
        wait = max(0.0, float(delay))
        for tries in range(1, max(1, int(attempts)) + 1):
            answer_headers: Mapping[str, str] = {}
            try:
                status, answer_headers = post(str(url), data, headers, timeout)
                error = None if 200 <= status < 300 else f"HTTP {status}"
            except Exception as exc:  # any transport failure: a notification must never fail the play
                status, error = None, f"no answer ({type(exc).__name__})"
            if error is None or (status is not None and status not in RETRY_STATUS) or tries >= attempts:
                break
            sleep(min(MAX_DELAY, _retry_after(answer_headers) if status == 429 and _retry_after(answer_headers) is not None else wait))
            wait *= 2
        results.append(Delivery(position, host, error is None, status, tries, error))
    return results


def job_of(variables: Mapping[str, Any], environ: Mapping[str, str]) -> Tuple[Optional[str], Optional[str]]:
    """The AWX/AAP job id and its URL, when the run is a job: AWX passes ``awx_job_id`` (and the older
    ``tower_job_id``) as extra variables and JOB_ID, AWX_HOST (older TOWER_HOST) in the environment."""
    job_id = variables.get("awx_job_id") or variables.get("tower_job_id") or environ.get("JOB_ID")
    host = environ.get("AWX_HOST") or environ.get("TOWER_HOST")
    if not job_id:
        return None, None
    url = f"{str(host).rstrip('/')}/#/jobs/playbook/{job_id}/output" if host else None
    return str(job_id), url
