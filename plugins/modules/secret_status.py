#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: secret_status
author: Vibebox maintainers (@vibebox)
short_description: Write the status page of the secrets (one self-contained HTML file and its JSON twin)
version_added: 0.1.0
description:
  - Turns the results of M(vibebox.secrets.secret_info) (metadata, compliance, grace and the audit log tail; never a
    value) into a status page - per secret its provider, version, age, last rotation, next due date, grace state,
    expiry, who rotates it, compliance violations and last audit events; at the top the counts of overdue, due soon,
    in grace, expired and failing secrets, and the last failed operations.
  - The page is one HTML file with inline CSS and a few lines of inline JavaScript (sorting by any column, filtering
    by provider and state; the page also works without it). Its Content-Security-Policy forbids every network
    request, so it opens the same from disk, from a mail attachment or as an AWX artifact.
  - A JSON file with the same data is written beside it (O(path) with the extension C(.json)).
  - This module reads no provider itself; C(playbooks/status.yml) runs M(vibebox.secrets.secret_info) for each
    provider and hands the results over.
  - A relative O(path) is taken from the directory C(ansible-playbook) was started from (the action plugin resolves
    it on the controller), not from the playbook's directory or the installed collection.
  - The files are rewritten only when what they say changed (the time they were made aside), so a second run reports
    no change.
options:
  path:
    description: The HTML file to write. The JSON file goes beside it, with the extension C(.json).
    type: path
    required: true
  sources:
    description:
      - Registered results of M(vibebox.secrets.secret_info), one per provider (C(provider), C(secrets) and C(audit)
        are read; other keys are ignored).
    type: list
    elements: dict
    required: true
  max_ages:
    description:
      - Rotation period per logical name (for example the C(max_age) of each entry of the rotate role's
        C(rotate_secrets)), as C(30d), C(12h) or seconds. The next due date is the last rotation plus this period.
    type: dict
    default: {}
  default_max_age:
    description: Rotation period of the secrets O(max_ages) does not name; empty means they have no due date.
    type: str
  soon_days:
    description: A secret due or expiring within this many days counts as C(due soon).
    type: int
    default: 7
  events_shown:
    description: Audit events shown per secret (the newest first).
    type: int
    default: 5
  failed_operations:
    description: Failed operations from the audit log tail listed at the top.
    type: int
    default: 10
  title:
    description: Title of the page.
    type: str
    default: vibebox.secrets status
  mode:
    description: Permissions of the two files.
    type: raw
    default: "0644"
attributes:
  check_mode:
    description: In check mode nothing is written; C(changed) says whether the files would change.
    support: full
  diff_mode:
    description: No diff is shown.
    support: none
seealso:
  - module: vibebox.secrets.secret_info
"""

EXAMPLES = r"""
- name: Describe every secret with its compliance and the audit log tail
  vibebox.secrets.secret_info:
    versions: false
    audit_entries: 200
    policy:
      max_age: 90d
  register: status_info

- name: Write the status page (and vibebox-status.json beside it)
  vibebox.secrets.secret_status:
    path: vibebox-status.html
    sources: ["{{ status_info }}"]
    max_ages:
      jwt-secret: 30d
      database-password: 90d
"""

RETURN = r"""
path:
  description: Absolute path of the HTML file.
  type: str
  returned: always
json_path:
  description: Absolute path of the JSON file.
  type: str
  returned: always
counts:
  description: How many secrets are overdue, due soon, in grace, expired, failing compliance, and in total.
  type: dict
  returned: always
  sample: {"overdue": 1, "due": 0, "grace": 1, "expired": 0, "failing": 1, "total": 4}
secrets:
  description: One row per secret, as in the JSON file (provider, name, version, state, states, next_due, ...).
  type: list
  elements: dict
  returned: always
"""

import datetime
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, status, status_page


def json_path_for(path):
    """The JSON twin of the page: the same path with .json instead of .html/.htm (or added)."""
    root, ext = os.path.splitext(path)
    return (root if ext.lower() in (".html", ".htm") else path) + ".json"


def read_json(path):
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write(module, path, text, mode):
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        os.makedirs(folder, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".vibebox-status-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    module.atomic_move(temp, path)
    module.set_mode_if_different(path, mode, False)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            sources=dict(type="list", elements="dict", required=True),
            max_ages=dict(type="dict", default={}),
            default_max_age=dict(type="str"),
            soon_days=dict(type="int", default=7),
            events_shown=dict(type="int", default=5),
            failed_operations=dict(type="int", default=10),
            title=dict(type="str", default="vibebox.secrets status"),
            mode=dict(type="raw", default="0644"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    path = os.path.abspath(params["path"])
    json_file = json_path_for(path)
    if os.path.isdir(path):
        module.fail_json(msg=f"path {path} is a directory; give the HTML file to write, e.g. {path}/vibebox-status.html")
    try:
        report = status.build(params["sources"], datetime.datetime.now(datetime.timezone.utc),
                              max_ages=params["max_ages"], default_max_age=params["default_max_age"],
                              soon_days=params["soon_days"], events_per_secret=params["events_shown"],
                              failed_operations=params["failed_operations"])
    except errors.SecretError as exc:
        module.fail_json(msg=str(exc), error_kind=getattr(exc, "kind", "error"))
    changed = not (os.path.exists(path) and status.same_report(read_json(json_file), report))
    if changed and not module.check_mode:
        write(module, json_file, json.dumps(report, indent=2, sort_keys=True) + "\n", params["mode"])
        write(module, path, status_page.render(report, params["title"]), params["mode"])
    module.exit_json(changed=changed, path=path, json_path=json_file, counts=report["counts"], secrets=report["secrets"])


if __name__ == "__main__":
    main()
