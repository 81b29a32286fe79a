#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_rotate
author: Vibebox maintainers (@vibebox)
short_description: Rotate a PostgreSQL password with no downtime (alternating users)
version_added: 0.1.0
description:
  - Rotates the database credentials held in a secret with the alternating-users strategy. Two login roles
    (O(roles), for example C(app_blue) and C(app_green)) take turns; applications use the one the secret names.
  - "A rotation: sets a new password on the role not in use (hashed with SCRAM on the controller side, so the
    server never sees it in clear), logs in with it and runs O(verify_query), switches the secret to that role,
    reads the secret back and logs in with what it holds, then drains the old role: waits up to O(drain_timeout)
    for its sessions in C(pg_stat_activity) to end and terminates the ones left, reporting how many."
  - The old role keeps its password until the next rotation, so connections opened with the previous secret
    keep working while applications move over, and a rollback is always safe.
  - "The secret is one JSON document, so user, password and URL change together in one version:
    C({engine, host, port, dbname, username, password, url}) where C(url) is the DATABASE_URL
    (C(postgresql://user:password@host:port/dbname)). Applications read
    C(${secret:database-password#url}) or C(#username) and C(#password)."
  - When a step fails before the secret is switched, the role gets its old password back (when the admin may read
    C(pg_authid)) and the secret is untouched. When a step fails after the switch, the old value is written back
    as a new version; the old role was never changed, so it keeps working.
options:
  name:
    description: Logical name of the secret.
    type: str
    default: database-password
  roles:
    description:
      - The two login roles that take turns. Both should be members of the group role that owns the application's
        objects so either one can do the work.
    type: list
    elements: str
    required: true
  active_role:
    description:
      - The role the current secret belongs to. Needed only once, when the secret still holds a bare password
        (for example after a migration from a C(.env) file) rather than the JSON document.
    type: str
  create_roles:
    description: Create a missing login role (with membership in O(member_of)) instead of failing.
    type: bool
    default: false
  member_of:
    description: Group roles granted to a role created by O(create_roles).
    type: list
    elements: str
    default: []
  login_host:
    description: Host (or Unix socket folder) of the admin connection. libpq's C(PGHOST) applies when not set.
    type: str
  login_port:
    description: Port of the admin connection (C(PGPORT) when not set).
    type: int
  login_user:
    description:
      - Admin user. It must be able to C(ALTER ROLE) the two roles and to terminate their sessions (superuser, or
        C(CREATEROLE) plus membership in C(pg_signal_backend)). C(PGUSER) when not set.
    type: str
  login_password:
    description: Password of the admin user (C(PGPASSWORD) or C(~/.pgpass) when not set).
    type: str
  login_db:
    description: Database of the admin connection.
    type: str
    default: postgres
  ssl_mode:
    description: libpq C(sslmode) of every connection the module opens.
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  connect_timeout:
    description: Seconds to wait for a connection.
    type: int
    default: 10
  db_host:
    description: Host applications connect to, written into the secret. Defaults to O(login_host), then C(PGHOST)
      (unless it is a socket folder), then C(localhost).
    type: str
  db_port:
    description: Port written into the secret. Defaults to O(login_port), then C(PGPORT), then 5432.
    type: int
  db_name:
    description: Database applications use, written into the secret and used by O(verify_query). Defaults to O(login_db).
    type: str
  url_params:
    description: "Query parameters of the URL in the secret, for example C({sslmode: require})."
    type: dict
    default: {}
  generator:
    description: How to make the new password (same keys as the generator of M(vibebox.secrets.secret_rotate)).
      The default is 32 letters and digits.
    type: dict
    suboptions:
      type:
        description: Kind of value.
        type: str
        choices: [hex, base64, urlsafe, password, uuid]
        default: password
      length:
        description: Number of characters.
        type: int
        default: 32
      classes:
        description: Character classes of a C(password).
        type: list
        elements: str
        choices: [lower, upper, digits, symbols]
      min_each:
        description: Minimum number of characters of each class.
        type: int
        default: 1
  verify_query:
    description:
      - Query run as the new role before and after the switch. Make it touch the application's tables (for example
        C(SELECT 1 FROM users LIMIT 1)) to prove the grants, not just the password.
    type: str
    default: SELECT 1
  max_age:
    description: Rotate only when the current credentials are at least this old (for example C(90d)). When not set
      they are rotated now.
    type: str
  grace_period:
    description: How long the previous version of the secret stays readable as C(previous) (see M(vibebox.secrets.secret_rotate)).
    type: str
  drain_timeout:
    description: How long to wait for the old role's sessions to end before terminating them (for example C(60s), C(5m)).
    type: str
    default: 60s
extends_documentation_fragment:
  - vibebox.secrets.provider
  - vibebox.secrets.local
  - vibebox.secrets.aws
  - vibebox.secrets.gcp
  - vibebox.secrets.azure
  - vibebox.secrets.vault
  - vibebox.secrets.kubernetes
requirements:
  - psycopg (C(pip install psycopg[binary])) on the host that runs the module
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing anything.
    support: full
    details: Reports whether a rotation is due and which role would become active; touches neither the database
      nor the secret.
  diff_mode:
    description: No diff is returned.
    support: none
notes:
  - Applications must read the secret again when they (re)connect; the drain moves connection pools over.
  - The community.postgresql collection is not needed; the module talks to the server with psycopg directly.
  - The module belongs to the action group C(vibebox.secrets.secrets) for C(module_defaults).
seealso:
  - module: vibebox.secrets.secret_rotate
"""

EXAMPLES = r"""
- name: Rotate the application's database credentials (quarterly schedule)
  vibebox.secrets.postgres_rotate:
    roles: [app_blue, app_green]
    login_host: db.internal
    login_user: postgres
    login_password: "{{ pg_admin_password }}"
    db_name: app
    verify_query: SELECT 1 FROM accounts LIMIT 1
    max_age: 90d
    drain_timeout: 5m
    provider: vault
  register: db_rotation

- name: Report the drain
  ansible.builtin.debug:
    msg: "{{ db_rotation.username }} is active; {{ db_rotation.drain.terminated }} old sessions were terminated"
  when: db_rotation.rotated
"""

RETURN = r"""
rotated:
  description: Whether the secret was switched to the other role.
  type: bool
  returned: always
due:
  description: Whether a rotation was (or would be) due.
  type: bool
  returned: always
reason:
  description: Why the credentials were or were not rotated.
  type: str
  returned: always
age:
  description: Age in seconds of the credentials before the task.
  type: int
  returned: always
version:
  description: Current version of the secret after the task.
  type: str
  returned: always
previous_version:
  description: The version current before the rotation.
  type: str
  returned: always
grace_until:
  description: Until when the previous version stays readable as C(previous) (ISO 8601), if O(grace_period) was given.
  type: str
  returned: always
next_rotation:
  description: When the credentials become due under O(max_age).
  type: str
  returned: always
rolled_back:
  description: Whether the old value was made current again after a failed step.
  type: bool
  returned: always
username:
  description: The role the secret names after the task (in check mode, the role it would name).
  type: str
  returned: always
previous_username:
  description: The role applications used before the rotation.
  type: str
  returned: when rotated
created_role:
  description: Whether the new role was created by O(create_roles).
  type: bool
  returned: always
drain:
  description: What happened to the old role's sessions.
  type: dict
  returned: when rotated and there was an old role
  contains:
    role:
      description: The drained role.
      type: str
    sessions_at_switch:
      description: Its sessions when the secret was switched.
      type: int
    drained:
      description: Whether every session ended by itself within O(drain_timeout).
      type: bool
    waited:
      description: Seconds waited.
      type: float
    terminated:
      description: Sessions terminated after the timeout.
      type: int
    remaining:
      description: Sessions still there at the end (0 unless termination was refused).
      type: int
"""

import os

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, generators
from ansible_collections.vibebox.secrets.plugins.module_utils.core.durations import parse_duration
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import RotationFailed, RotationPolicy, Rotator
from ansible_collections.vibebox.secrets.plugins.module_utils.module import build_module, fail, manager_for
from ansible_collections.vibebox.secrets.plugins.module_utils.postgres import (
    AlternatingUsers,
    DatabaseTarget,
    PostgresAdmin,
)

PASSWORD_SPEC = dict(
    type=dict(type="str", choices=list(generators.GENERATOR_TYPES), default="password"),
    length=dict(type="int", default=32),
    classes=dict(type="list", elements="str", choices=list(generators.CLASSES)),
    min_each=dict(type="int", default=1),
)


def main():
    module = build_module(
        dict(
            name=dict(type="str", default="database-password"),
            roles=dict(type="list", elements="str", required=True),
            active_role=dict(type="str"),
            create_roles=dict(type="bool", default=False),
            member_of=dict(type="list", elements="str", default=[]),
            login_host=dict(type="str"),
            login_port=dict(type="int"),
            login_user=dict(type="str"),
            login_password=dict(type="str", no_log=True),
            login_db=dict(type="str", default="postgres"),
            ssl_mode=dict(type="str", choices=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]),
            connect_timeout=dict(type="int", default=10),
            db_host=dict(type="str"),
            db_port=dict(type="int"),
            db_name=dict(type="str"),
            url_params=dict(type="dict", default={}),
            generator=dict(type="dict", options=PASSWORD_SPEC),
            verify_query=dict(type="str", default="SELECT 1"),
            max_age=dict(type="str"),
            grace_period=dict(type="str"),
            drain_timeout=dict(type="str", default="60s"),
        ),
    )
    params = module.params
    name = params["name"]
    manager = manager_for(module)
    result = dict(changed=False, name=name, provider=manager.provider, rotated=False, due=False, rolled_back=False)
    admin = None
    try:
        result["provider_name"] = manager.provider_name(name)
        policy = RotationPolicy.from_options(params["max_age"], params["grace_period"])
        spec = params["generator"] or {"type": "password", "length": 32, "classes": ["lower", "upper", "digits"]}
        if spec.get("type") == "password" and not spec.get("classes"):
            spec = dict(spec, classes=["lower", "upper", "digits"])
        admin = PostgresAdmin(
            dict(
                host=params["login_host"],
                port=params["login_port"],
                user=params["login_user"],
                password=params["login_password"],
                dbname=params["login_db"],
                sslmode=params["ssl_mode"],
                connect_timeout=params["connect_timeout"],
            )
        )
        env_host = os.environ.get("PGHOST", "")
        target = DatabaseTarget(
            host=params["db_host"] or params["login_host"] or (env_host if env_host and not env_host.startswith("/") else "localhost"),
            port=params["db_port"] or params["login_port"] or int(os.environ.get("PGPORT") or 5432),
            dbname=params["db_name"] or params["login_db"],
            params={str(k): str(v) for k, v in (params["url_params"] or {}).items()},
        )
        strategy = AlternatingUsers(
            Rotator(manager),
            admin,
            params["roles"],
            target,
            verify_query=params["verify_query"],
            password_spec=spec,
            drain_timeout=parse_duration(params["drain_timeout"], "drain_timeout") or 0,
            create_roles=params["create_roles"],
            member_of=params["member_of"],
            active_role=params["active_role"],
        )
        outcome = strategy.run(name, policy, check_mode=module.check_mode)
    except RotationFailed as exc:
        fail(module, exc, **{**result, "rolled_back": exc.rolled_back, "version": exc.version})
    except errors.SecretError as exc:
        fail(module, exc, **result)
    finally:
        if admin is not None:
            admin.close()
    for warning in outcome.rotation.warnings:
        module.warn(warning)
    result.update(outcome.to_dict())
    result["changed"] = outcome.rotation.rotated or (module.check_mode and outcome.rotation.due)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
