#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_rotate
author: Vibebox maintainers (@vibebox)
short_description: Rotate the password of a PostgreSQL login role and the secret that holds it
version_added: 0.1.0
description:
  - Rotates the password of the login role the applications connect as (O(role), for example C(app)) and the secret
    that holds it (O(name), C(database-password) by default), keeping the two in step.
  - "The secret holds the password and nothing else, before and after every rotation: the form a C(.env) migration
    writes (C(DATABASE_PASSWORD=${secret:database-password})), the form connection strings use
    (C(postgresql://app:${secret:database-password}@db/app)), the form the C(vibebox.secrets.get) lookup returns
    and the form the External Secrets manifests of the C(vibebox.secrets.external_secrets) role read. The user name,
    host and database are configuration; a rotation does not change them."
  - "A rotation: takes a PostgreSQL advisory lock named after the secret (a second run at the same moment waits,
    then reports RV(already_rotated) and changes nothing), sets a new password on O(role) (hashed with SCRAM on the
    controller side, so the server never sees it in clear), logs in with it and runs O(verify_query), writes the
    secret (conditional on the version read), reads it back and logs in with what it holds."
  - When a step fails before the secret is written, the role gets its old password back and the secret is untouched.
    When a step fails after, the old value is written back as a new version and the role gets its old password back.
  - Every run first logs in as O(role) with the password the secret holds. When the role refuses it, the database and
    the secret disagree (a run stopped between setting the password and writing the secret leaves that). A run that is
    not due then fails and says so, instead of reporting nothing to do while no application can log in; a rotation
    that is due goes on, warns, and gives both one new password. Its rollback gives the role the password the secret
    holds, not the stored hash from before it.
  - When the admin may read C(pg_authid) and the hash stored for O(role) is the password the secret holds, a refused
    login is no disagreement; every run then fails before any change, naming the server's reason (a used-up
    CONNECTION LIMIT, C(pg_hba.conf), CONNECT on the database). A role that does not exist is said as such, unless the
    rotation is due and O(create_role) makes it.
  - Sessions already open keep working (PostgreSQL checks a password only at login). A new connection made with the
    old password fails from the moment the password changes until the application reads the secret again, so
    applications must read the secret again when a login fails (RV(sessions_before) counts the sessions opened with
    the old password that are still open).
options:
  name:
    description: Logical name of the secret.
    type: str
    default: database-password
  role:
    description:
      - The login role whose password is rotated, that is the user name the applications connect as.
    type: str
    required: true
  create:
    description:
      - "Create the secret when it does not exist (the role gets a new password and the secret is created with it).
        Without it a missing secret fails (C(not found; set create: true to create it))."
    type: bool
    default: false
  take_over:
    description:
      - Rotate a secret whose provider rotates it itself (AWS Secrets Manager with C(RotationEnabled)); without it such
        a secret is refused. Turn the provider's rotation off when this module takes over.
    type: bool
    default: false
  create_role:
    description: Create O(role) (with membership in O(member_of)) when it does not exist, instead of failing.
    type: bool
    default: false
  member_of:
    description: Group roles granted to a role created by O(create_role).
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
      - Admin user. It must be able to C(ALTER ROLE) O(role) (superuser, or C(CREATEROLE) with the C(ADMIN OPTION) on
        the role on PostgreSQL 16+). C(PGUSER) when not set.
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
  db_name:
    description: Database the applications use, where O(verify_query) runs as O(role). Defaults to O(login_db).
    type: str
  generator:
    description:
      - How to make the new password (same keys as the generator of M(vibebox.secrets.secret_rotate)). The default is
        32 letters and digits, which need no escaping in a connection string.
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
      - Query run as O(role) with the new password, before and after the secret is written. Make it touch the
        application's tables (for example C(SELECT 1 FROM users LIMIT 1)) to prove the grants, not just the password.
    type: str
    default: SELECT 1
  max_age:
    description: Rotate only when the current password is at least this old (for example C(90d)). When not set it is
      rotated now.
    type: str
extends_documentation_fragment:
  - vibebox.secrets.rotation
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
    details: Reports whether a rotation is due; changes neither the database nor the secret (it only logs in with the
      password the secret holds).
  diff_mode:
    description: No diff is returned.
    support: none
notes:
  - Applications must read the secret again when a login fails; connection pools do when they reconnect.
  - The community.postgresql collection is not needed; the module talks to the server with psycopg directly.
  - The module belongs to the action group C(vibebox.secrets.secrets) for C(module_defaults).
seealso:
  - module: vibebox.secrets.secret_rotate
"""

EXAMPLES = r"""
- name: Rotate the application's database password (quarterly schedule)
  vibebox.secrets.postgres_rotate:
    role: app
    login_host: db.internal
    login_user: postgres
    login_password: "{{ pg_admin_password }}"
    db_name: app
    verify_query: SELECT 1 FROM accounts LIMIT 1
    max_age: 90d
    provider: vault
  register: db_rotation

- name: The application's connection string, built from the secret
  ansible.builtin.set_fact:
    database_url: "{{ 'postgresql://app:${secret:database-password}@db.internal:5432/app' | vibebox.secrets.resolve(provider='vault') }}"
  no_log: true
"""

RETURN = r"""
rotated:
  description: Whether the password and the secret were changed.
  type: bool
  returned: always
due:
  description: Whether a rotation was (or would be) due.
  type: bool
  returned: always
reason:
  description: Why the password was or was not rotated.
  type: str
  returned: always
age:
  description: Age in seconds of the password before the task.
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
next_rotation:
  description: When the password becomes due under O(max_age).
  type: str
  returned: always
rolled_back:
  description: Whether the old value was made current again after a failed step.
  type: bool
  returned: always
already_rotated:
  description: Whether another run rotated it while this one waited (this run changed nothing).
  type: bool
  returned: always
username:
  description: The role whose password the secret holds (O(role)).
  type: str
  returned: always
created_role:
  description: Whether the role was created by O(create_role).
  type: bool
  returned: always
sessions_before:
  description: Sessions of the role opened with the old password and still open after the rotation (they keep working).
  type: int
  returned: when rotated
version_before:
  description: The version of the secret that was current when the task began (none when it did not exist).
  type: str
  returned: success
summary:
  description:
    - One line saying what the task did (the role whose password changed, the sessions still open with the old one),
      made of names, versions and counts only; what the rotate role prints.
  type: str
  returned: success
  sample: >-
    database-password: new password for role app (version 3); 2 session(s) opened with the old password are still open
    and keep working; new connections need the new password, so applications must read the secret again
"""

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, generators, rotation_kinds
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import RotationFailed, RotationPolicy, Rotator
from ansible_collections.vibebox.secrets.plugins.module_utils.module import build_module, fail, manager_for
from ansible_collections.vibebox.secrets.plugins.module_utils.postgres import (
    DEFAULT_PASSWORD,
    PostgresAdmin,
    SingleRole,
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
            role=dict(type="str", required=True),
            create=dict(type="bool", default=False),
            take_over=dict(type="bool", default=False),
            create_role=dict(type="bool", default=False),
            member_of=dict(type="list", elements="str", default=[]),
            login_host=dict(type="str"),
            login_port=dict(type="int"),
            login_user=dict(type="str"),
            login_password=dict(type="str", no_log=True),
            login_db=dict(type="str", default="postgres"),
            ssl_mode=dict(type="str", choices=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]),
            connect_timeout=dict(type="int", default=10),
            db_name=dict(type="str"),
            generator=dict(type="dict", options=PASSWORD_SPEC),
            verify_query=dict(type="str", default="SELECT 1"),
            max_age=dict(type="str"),
            unless_rotated_since=dict(type="str"),
        ),
    )
    params = module.params
    name = params["name"]
    manager = manager_for(module)
    result = dict(changed=False, name=name, provider=manager.provider, rotated=False, due=False, rolled_back=False,
                  username=params["role"])
    admin = None
    try:
        result["provider_name"] = manager.provider_name(name)
        policy = RotationPolicy.from_options(params["max_age"], unless_rotated_since=params["unless_rotated_since"])
        spec = params["generator"] or dict(DEFAULT_PASSWORD)
        if spec.get("type") == "password" and not spec.get("classes"):
            spec = dict(spec, classes=list(DEFAULT_PASSWORD["classes"]))
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
        strategy = SingleRole(
            Rotator(manager),
            admin,
            params["role"],
            params["db_name"] or params["login_db"],
            verify_query=params["verify_query"],
            password_spec=spec,
            create_role=params["create_role"],
            member_of=params["member_of"],
        )
        outcome = strategy.run(name, policy, check_mode=module.check_mode, create=params["create"],
                               take_over=params["take_over"])
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
    result["summary"] = rotation_kinds.summary(result, "database")
    result["changed"] = outcome.rotation.rotated or (module.check_mode and outcome.rotation.due)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
