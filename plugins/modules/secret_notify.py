#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: secret_notify
author: Vibebox maintainers (@vibebox)
short_description: Tell webhooks how a migration, rotation, cleanup or compliance run ended, never a value
version_added: 0.1.0
description:
  - POSTs a JSON document (or, with O(format=slack), a Slack-compatible message) to each webhook of O(webhook_urls)
    with the playbook, the secret names, the outcome, the versions before and after, the error kind and message, and
    the AWX or Automation Platform job id and URL when the run is a job (the action plugin reads them from the
    C(awx_job_id) or C(tower_job_id) variable or C(JOB_ID), and C(AWX_HOST) or C(TOWER_HOST)).
  - Sent only for the outcomes in O(notify_on) (failures by default). Answers 429 and 5xx, and requests that got no
    answer, are retried with exponential backoff (C(Retry-After) honoured). A notification that still fails is a
    warning, never a failure - it does not change the play's outcome.
  - The playbooks of the collection call it once per run (C(run_once)), from C(notify_webhook_url).
  - Never put a value in O(error) or O(details); the collection's own error messages never hold one.
options:
  webhook_urls:
    description:
      - The webhooks to notify. They are credentials (a Slack webhook URL is enough to post into its channel), so they
        are never shown; results and warnings name a webhook by its position and host.
    type: list
    elements: str
    required: true
  notify_on:
    description: The outcomes that are sent.
    type: list
    elements: str
    choices: [failure, success]
    default: [failure]
  outcome:
    description: How the run ended.
    type: str
    choices: [failure, success]
    required: true
  playbook:
    description: What ran (C(rotate), C(migrate), C(cleanup), C(compliance), ...).
    type: str
    required: true
  names:
    description: The secrets the run was about.
    type: list
    elements: str
    default: []
  versions:
    description: 'Per secret, its versions before and after, for example C({"jwt-secret": {"before": "3", "after": "4"}}).'
    type: dict
    default: {}
  error_kind:
    description: The kind of error (C(unavailable), C(denied), C(violation), ...) when the run failed.
    type: str
  error:
    description: The error message when the run failed.
    type: str
  details:
    description: Anything else worth telling (counts, the backup path); metadata only.
    type: dict
    default: {}
  format:
    description: C(json) sends the document as it is; C(slack) sends Slack's incoming-webhook body (C(text), C(attachments)).
    type: str
    choices: [json, slack]
    default: json
  job_id:
    description: The AWX job id; filled by the action plugin when the run is a job.
    type: str
  job_url:
    description: The AWX job's URL; filled by the action plugin when AWX tells its address.
    type: str
  attempts:
    description: Requests per webhook at most (the first one included).
    type: int
    default: 4
  retry_delay:
    description: Seconds before the first retry; doubled for each further one (at most 30).
    type: float
    default: 1.0
  timeout:
    description: Seconds to wait for each answer.
    type: float
    default: 10.0
  validate_certs:
    description: Check the webhooks' TLS certificates.
    type: bool
    default: true
attributes:
  check_mode:
    description: In check mode nothing is sent; RV(sent) is C(0) and RV(would_send) says whether it would be.
    support: full
  diff_mode:
    description: No diff.
    support: none
"""

EXAMPLES = r"""
- name: Tell the team's channel that the rotation failed
  vibebox.secrets.secret_notify:
    webhook_urls: ["{{ slack_webhook_url }}"]
    format: slack
    playbook: rotate
    outcome: failure
    names: [jwt-secret]
    versions: {jwt-secret: {before: "3", after: "3"}}
    error_kind: unavailable
    error: the provider did not answer
  run_once: true
"""

RETURN = r"""
would_send:
  description: Whether the outcome is one of O(notify_on) (what is sent, or in check mode would be).
  type: bool
  returned: always
sent:
  description: Webhooks that accepted the notification.
  type: int
  returned: always
webhooks:
  description: Per webhook its position, host, whether it accepted, the last HTTP status, the attempts and the error.
  type: list
  elements: dict
  returned: always
  sample: [{"webhook": 1, "host": "hooks.slack.com", "ok": true, "status": 200, "attempts": 1, "error": null}]
payload:
  description: The JSON document (before the Slack formatting, when O(format=slack)).
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.error import HTTPError
from ansible.module_utils.urls import open_url

from ansible_collections.vibebox.secrets.plugins.module_utils.core import notify


def poster(validate_certs):
    def post(url, data, headers, timeout):
        try:
            answer = open_url(url, data=data, headers=headers, method="POST", timeout=timeout,
                              validate_certs=validate_certs, follow_redirects="safe")
            return answer.getcode(), dict(answer.headers or {})
        except HTTPError as exc:  # an HTTP answer, not a transport failure: its status decides a retry
            return exc.code, dict(exc.headers or {})
    return post


def main():
    module = AnsibleModule(
        argument_spec=dict(
            webhook_urls=dict(type="list", elements="str", required=True, no_log=True),
            notify_on=dict(type="list", elements="str", choices=["failure", "success"], default=["failure"]),
            outcome=dict(type="str", choices=["failure", "success"], required=True),
            playbook=dict(type="str", required=True),
            names=dict(type="list", elements="str", default=[]),
            versions=dict(type="dict", default={}),
            error_kind=dict(type="str"),
            error=dict(type="str"),
            details=dict(type="dict", default={}),
            format=dict(type="str", choices=["json", "slack"], default="json"),
            job_id=dict(type="str"),
            job_url=dict(type="str"),
            attempts=dict(type="int", default=4),
            retry_delay=dict(type="float", default=1.0),
            timeout=dict(type="float", default=10.0),
            validate_certs=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    payload = notify.build_payload(params["playbook"], params["outcome"], params["names"], params["versions"],
                                   params["error_kind"], params["error"], params["job_id"], params["job_url"],
                                   params["details"])
    urls = [url for url in params["webhook_urls"] if url and str(url).strip()]
    would_send = params["outcome"] in params["notify_on"] and bool(urls)
    result = dict(changed=False, would_send=would_send, sent=0, webhooks=[], payload=payload)
    if not would_send or module.check_mode:
        module.exit_json(**result)
    body = notify.slack_body(payload) if params["format"] == "slack" else payload
    deliveries = notify.deliver(urls, body, poster(params["validate_certs"]), attempts=params["attempts"],
                                delay=params["retry_delay"], timeout=params["timeout"])
    for item in deliveries:
        if not item.ok:
            module.warn(f"notification to webhook {item.webhook} ({item.host}) failed after {item.attempts} "
                        f"attempt(s): {item.error}; the run's outcome is unchanged")
    result.update(sent=sum(1 for item in deliveries if item.ok), webhooks=[item.to_dict() for item in deliveries])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
