#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: secret_rotate
author: Vibebox maintainers (@vibebox)
short_description: Rotate a secret when it is due, with a grace period for the previous version
version_added: 0.1.0
description:
  - Writes a new version of a secret, generated (O(generator)) or given (O(value)), in any supported provider.
  - With O(max_age) the secret is rotated only when its current value is at least that old, so a daily scheduled
    run changes nothing until the secret is due. Without O(max_age) the secret is rotated now.
  - With O(grace_period) the previous version stays readable as C(version=previous) (for example with
    C(lookup('vibebox.secrets.get', 'jwt-secret', version='previous'))) until RV(grace_until). The grace is
    recorded in the secret's tags C(vibebox-grace-until) and C(vibebox-grace-version) (epoch seconds and a version
    id) and C(vibebox-rotated-at), which M(vibebox.secrets.secret_cleanup) honours.
  - With O(keep_previous=false) the rotation is a hard cut; every older version is destroyed so that C(previous)
    finds none.
  - After the write the secret is read back; when that fails the old value is written back as a new version
    (rollback) and the task fails saying so.
  - The write is conditional on the version read before it (check-and-set on every provider that has one). When
    two runs rotate the same secret at the same moment, one rotates and the other reports RV(already_rotated),
    C(changed=false), and the time of the other run's rotation; it does not fail.
  - After RV(grace_until), C(version=previous) answers as a missing secret (C(on_missing) applies) unless the reader
    passes C(ignore_grace=true).
  - With O(rollback_to) a version's value is made current again (what the C(vibebox.secrets.rotate) role does
    when a step after the rotation fails).
options:
  name:
    description: Logical name of the secret, for example C(jwt-secret). The provider prefix is added.
    type: str
    required: true
  generator:
    description:
      - How to make the new value. Used when neither O(value) nor O(rollback_to) is given; the default is
        C(type=hex) with 64 characters.
    type: dict
    suboptions:
      type:
        description: Kind of value. C(hex), C(base64) and C(urlsafe) encode random bytes; C(password) picks from
          character classes; C(uuid) is a random UUID4.
        type: str
        choices: [hex, base64, urlsafe, password, uuid]
        default: hex
      length:
        description: Number of characters of the result (8 to 4096). Defaults per type (hex 64, base64 44,
          urlsafe 43, password 32); ignored for C(uuid).
        type: int
      classes:
        description: Character classes of a C(password).
        type: list
        elements: str
        choices: [lower, upper, digits, symbols]
      min_each:
        description: Minimum number of characters of each class in a C(password).
        type: int
        default: 1
  value:
    description:
      - The new value, when it is made elsewhere, a string. A value equal to the current one does not rotate.
      - A number or structured data is refused before any request (quote it, or convert it with C(| string) or
        C(| to_json)), as M(vibebox.secrets.secret) does.
    type: raw
  max_age:
    description:
      - Rotate only when the current value is at least this old, for example C(30d), C(12h) or a number of seconds.
      - Age is counted from the tag C(vibebox-rotated-at) written by the last rotation, else from the creation of
        the current version.
      - When not set the secret is rotated now.
    type: str
  grace_period:
    description:
      - How long the previous version must stay readable as C(version=previous), for example C(2h).
      - Recorded in the secret's metadata; cleanup does not destroy the previous version before it ends.
    type: str
  expires_at:
    description:
      - When the new version expires, an ISO 8601 time in the future (V(2027-01-31T12:00:00Z)); without a time zone it is
        UTC. Stored like the M(vibebox.secrets.secret) option of the same name (the provider's own expiry where it has
        one, else the tag C(vibebox-expires-at)). Mutually exclusive with O(expires_in).
      - Without O(expires_at) and O(expires_in) the secret keeps the expiry it has. When that expiry has passed, the
        rotation is refused before any write (also in check mode), since the new value would be expired at once.
      - Applies only when the task rotates; a run that is not due changes nothing.
    type: str
  expires_in:
    description:
      - When the new version expires, as a duration from the rotation (V(90d)); more than zero. A scheduled rotation
        with O(max_age) and O(expires_in) gives each new value its own expiry.
    type: str
  keep_previous:
    description:
      - V(false) makes a hard cut; every version older than the new one is destroyed where the provider allows
        it. Use it when the old value must stop working at once (a refresh-token key, a leaked credential).
      - Defaults to what O(kind) means; V(true) for every kind but C(jwt_refresh), which is a hard cut and refuses
        V(true).
    type: bool
  description:
    description: Description stored with the secret. Left as it is when not given.
    type: str
  rollback_to:
    description:
      - Instead of rotating, make the value of this version (a version id, or C(previous)) current again, as a new
        version. Nothing changes when the current value already is that value.
      - Works after the grace period of that version has ended, as long as the version still exists.
    type: str
  rollback_from:
    description:
      - With O(rollback_to), roll back only while this version is the current one (the version a failed run made,
        as the C(vibebox.secrets.rotate) role passes it), or its value is (another failed run rolled back to it).
        When another value is current, another run changed the secret after it, so nothing is written and the task
        fails with C(error_kind=conflict); a failed run never reverts a rotation that another run made meanwhile.
    type: str
  create:
    description:
      - "Create the secret when it does not exist. Without it, rotating a missing secret fails
        (C(not found; set create: true to create it)), so that a scheduled job pointed at an empty or wrong store
        fails loudly instead of creating a new secret and reporting success."
    type: bool
    default: false
  take_over:
    description:
      - Rotate a secret whose provider rotates it itself (AWS Secrets Manager with C(RotationEnabled), that is a
        rotation Lambda). Without it such a secret is refused, because two rotators would overwrite each other.
      - The provider's own rotation is left as it is; turn it off there (for AWS C(aws secretsmanager
        cancel-rotate-secret)) when this collection takes over.
    type: bool
    default: false
  kind:
    description:
      - What the secret is, which decides what its previous version is still good for and what the result's
        RV(summary) says is left to do. C(secret) (or C(generic)) writes a new version of the secret.
      - C(jwt) is a signing key whose previous version verifies tokens for O(grace_period).
      - C(jwt_refresh) is a refresh-token key rotated as a hard cut (O(keep_previous=false) by default); tokens signed
        with the old key are rejected at once and every user signs in again. O(grace_period) does not apply to it and
        is refused.
      - C(encryption_key) is the same as C(encryption-key).
      - "C(encryption-key) is a key that encrypts data. With the vault provider option O(vault_transit_key) set, the
        Vault or OpenBao transit key it names (on O(vault_transit_mount)) is rotated instead. A new key version
        encrypts from now on, older versions still decrypt, and M(vibebox.secrets.transit_rewrap) re-wraps the
        data to the new version; O(name) is then the name used in the result and the audit log."
      - "For a transit key, O(max_age), O(unless_rotated_since) and check mode work on the key's version creation
        times; O(grace_period) is returned as RV(grace_until) and honoured by M(vibebox.secrets.transit_rewrap)
        with O(vibebox.secrets.transit_rewrap#module:retire=true); O(keep_previous=false) stops older versions from
        decrypting at once; O(create=true) creates a missing key. O(value), O(generator) and O(rollback_to) do not
        apply (Vault makes the key), nor do O(expires_at) and O(expires_in) (a key version has no expiry); each is
        refused before any request."
      - C(encryption-key) without O(vault_transit_key) rotates the secret like C(secret) and warns that the data
        encrypted with the previous version must be re-encrypted before a cleanup removes it.
    type: str
    choices: [secret, generic, jwt, jwt_refresh, encryption-key, encryption_key]
    default: secret
extends_documentation_fragment:
  - vibebox.secrets.rotation
  - vibebox.secrets.policy
  - vibebox.secrets.provider
  - vibebox.secrets.local
  - vibebox.secrets.aws
  - vibebox.secrets.gcp
  - vibebox.secrets.azure
  - vibebox.secrets.vault
  - vibebox.secrets.kubernetes
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing anything.
    support: full
    details: Reports in RV(due) whether a rotation is due and writes nothing.
  diff_mode:
    description: Returns which fields would change; values never appear in the diff.
    support: full
    details: Shows the version and the grace end that change, never a value.
notes:
  - Grace needs a provider that keeps a previous version (local, vault KV v2, aws, gcp, azure). On a provider that
    keeps only the current value the rotation still works, without grace.
  - The module belongs to the action group C(vibebox.secrets.secrets) for C(module_defaults).
seealso:
  - module: vibebox.secrets.secret_cleanup
  - module: vibebox.secrets.postgres_rotate
  - module: vibebox.secrets.secret
  - plugin: vibebox.secrets.get
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Rotate the JWT key now; tokens signed with the old key verify for 2 more hours
  vibebox.secrets.secret_rotate:
    name: jwt-secret
    grace_period: 2h

- name: Scheduled run - rotate only when older than 30 days
  vibebox.secrets.secret_rotate:
    name: jwt-secret
    max_age: 30d
    grace_period: 2h
    generator:
      type: hex
      length: 64

- name: Hard cut of the refresh-token key (every user signs in again)
  vibebox.secrets.secret_rotate:
    name: jwt-refresh-secret
    keep_previous: false

- name: Is a rotation due? (writes nothing)
  vibebox.secrets.secret_rotate:
    name: encryption-key
    max_age: 365d
  check_mode: true
  register: key_state

- name: Undo a rotation
  vibebox.secrets.secret_rotate:
    name: jwt-secret
    rollback_to: "{{ rotation.previous_version }}"

- name: Rotate the Vault transit key 'app' once a year (the data is then re-wrapped with transit_rewrap)
  vibebox.secrets.secret_rotate:
    name: encryption-key
    kind: encryption-key
    max_age: 365d
    grace_period: 30d
    provider: vault
    vault_transit_key: app

- name: First rotation of a new installation creates the key
  vibebox.secrets.secret_rotate:
    name: encryption-key
    create: true
"""

RETURN = r"""
name:
  description: Logical name of the secret.
  type: str
  returned: always
provider:
  description: Provider that holds the secret.
  type: str
  returned: always
provider_name:
  description: Name inside the provider.
  type: str
  returned: always
rotated:
  description: Whether a new version was written (always V(false) in check mode; see RV(due)).
  type: bool
  returned: always
due:
  description: Whether a rotation was (or, in check mode, would be) due.
  type: bool
  returned: always
reason:
  description: Why the secret was or was not rotated.
  type: str
  returned: always
  sample: the current value is 31d old, max_age is 30d
age:
  description: Age in seconds of the current value before the task (none when unknown or the secret is new).
  type: int
  returned: always
max_age:
  description: O(max_age) in seconds.
  type: int
  returned: always
version:
  description: Current version after the task.
  type: str
  returned: always
previous_version:
  description: The version that was current before the rotation (none when nothing was rotated or the secret is new).
  type: str
  returned: always
grace_until:
  description: Until when the previous version stays readable as C(previous) (ISO 8601, UTC); none without grace.
  type: str
  returned: always
  sample: "2024-05-01T14:00:00Z"
expires_at:
  description: When the new version expires (ISO 8601, UTC), with O(expires_at) or O(expires_in); none without them.
  type: str
  returned: always
  sample: "2027-01-31T12:00:00Z"
grace_until_epoch:
  description: RV(grace_until) in epoch seconds, as stored in the tag C(vibebox-grace-until).
  type: int
  returned: always
next_rotation:
  description: When the value becomes due under O(max_age) (ISO 8601, UTC).
  type: str
  returned: always
rolled_back:
  description: Whether the value of an older version was made current again.
  type: bool
  returned: always
already_rotated:
  description: Whether another run rotated the secret while this one was rotating it (this run wrote nothing).
  type: bool
  returned: always
destroyed_versions:
  description: Versions destroyed by a hard cut (O(keep_previous=false)).
  type: list
  elements: str
  returned: always
version_before:
  description:
    - The version that was current when the task began, whatever the task then did (none when the secret or the
      transit key did not exist). For a transit key, the key version before the rotation.
  type: str
  returned: success
summary:
  description:
    - One line saying what the task did and what is left to do (a grace period, a forced sign-in, data to
      re-encrypt or re-wrap), made of names, versions and dates only; what the rotate role prints.
  type: str
  returned: success
  sample: "jwt-secret: rotated to version 4; version 3 stays readable as 'previous' until 2026-12-03T12:00:00Z (grace period)"
"""

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, expiry, factory, generators, options, strength
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import RotationFailed, RotationPolicy, Rotator
from ansible_collections.vibebox.secrets.plugins.module_utils.core import rotation_kinds, transit_rotation
from ansible_collections.vibebox.secrets.plugins.module_utils.core.audit import AuditLog
from ansible_collections.vibebox.secrets.plugins.module_utils.core.transit import TRANSIT_KEY_OPTION, TransitKey
from ansible_collections.vibebox.secrets.plugins.module_utils.module import (
    POLICY_ARGUMENTS, build_module, enforcer_for, fail, manager_for)

GENERATOR_SPEC = dict(
    type=dict(type="str", choices=list(generators.GENERATOR_TYPES), default="hex"),
    length=dict(type="int"),
    classes=dict(type="list", elements="str", choices=list(generators.CLASSES)),
    min_each=dict(type="int", default=1),
)


def main():
    module = build_module(
        dict(
            name=dict(type="str", required=True),
            generator=dict(type="dict", options=GENERATOR_SPEC),
            value=dict(type="raw", no_log=True),  # checked as the secret module does: 123 is refused, not made '123'
            max_age=dict(type="str"),
            unless_rotated_since=dict(type="str"),
            grace_period=dict(type="str"),
            expires_at=dict(type="str"),
            expires_in=dict(type="str"),
            keep_previous=dict(type="bool"),
            description=dict(type="str"),
            rollback_to=dict(type="str"),
            rollback_from=dict(type="str"),
            create=dict(type="bool", default=False),
            take_over=dict(type="bool", default=False),
            kind=dict(type="str", choices=["secret", "generic", "jwt", "jwt_refresh", "encryption-key", "encryption_key"],
                      default="secret"),
            **POLICY_ARGUMENTS,
        ),
        mutually_exclusive=[("generator", "value", "rollback_to"), ("expires_at", "expires_in")],
        required_by={"rollback_from": "rollback_to"},
    )
    params = module.params
    name = params["name"]
    kind = rotation_kinds.kind_of(params["kind"])
    try:
        params["keep_previous"] = keep_previous_for(kind, params["keep_previous"], params["grace_period"])
        wanted_expiry = expiry.wanted(params["expires_at"], params["expires_in"])
    except errors.SecretError as exc:
        fail(module, exc, name=name, rotated=False, due=False)
    if kind.reencrypt:
        rotate_transit_key(module, kind)
    enforcer = enforcer_for(module)
    manager = manager_for(module)
    result = dict(changed=False, name=name, provider=manager.provider, rotated=False, due=False)
    try:
        result["provider_name"] = manager.provider_name(name)
        rotator = Rotator(manager)
        if params["rollback_to"]:
            outcome = rotator.rollback(name, params["rollback_to"], check_mode=module.check_mode,
                                       only_if_current=params["rollback_from"] or None)
        else:
            policy = RotationPolicy.from_options(params["max_age"], params["grace_period"], params["keep_previous"],
                                                 unless_rotated_since=params["unless_rotated_since"])
            spec = params["generator"] or {}
            if params["value"] is not None:
                manager.check_value(name, params["value"])  # a number or a dict is refused before any request
                enforcer.require(name, params["value"], provider=manager.provider)
            elif enforcer.active and enforcer.mode == "enforce":
                # a sample, so that check mode (which generates nothing) refuses a generator too weak for
                # the policy as the real run would
                found = strength.check(generators.from_spec(spec), enforcer.policy)
                if found:
                    raise strength.weak_error(name, [f"the generator makes values that break it ({'; '.join(found)})"],
                                              provider=manager.provider)

            def generate():
                # a generated value passes the default policy; one that breaks a stricter policy (a short
                # generator length) is refused like a given value, before it is written
                value = generators.from_spec(spec)
                enforcer.require(name, value, provider=manager.provider)
                return value
            outcome = rotator.rotate(
                name,
                policy,
                value=params["value"],
                generator=None if params["value"] is not None else generate,
                check_mode=module.check_mode,
                description=params["description"],
                create=params["create"],
                take_over=params["take_over"],
                expires_at=wanted_expiry.moment if wanted_expiry is not None else None,
            )
    except RotationFailed as exc:
        fail(module, exc, rolled_back=exc.rolled_back, version=exc.version, **result)
    except errors.SecretError as exc:
        fail(module, exc, **result)
    if kind.reencrypt and outcome.rotated and outcome.previous_version is not None:
        outcome.warnings.append(
            f"re-encryption required: data encrypted with version {outcome.previous_version} of '{name}' must be"
            " re-encrypted with the new key before a cleanup removes that version")
    for warning in enforcer.warnings + outcome.warnings:
        module.warn(warning)
    result.update(outcome.to_dict())
    result["summary"] = rotation_kinds.summary(result, kind)
    result["changed"] = outcome.rotated or (module.check_mode and outcome.due)
    if module._diff and result["changed"]:
        result["diff"] = dict(
            before=dict(version=outcome.previous_version, value="(hidden)"),
            after=dict(version=outcome.version if outcome.rotated else "(new)", value="(changed)",
                       grace_until=result["grace_until"]),
        )
        if result.get("expires_at"):
            result["diff"]["after"]["expires_at"] = result["expires_at"]
    module.exit_json(**result)


def keep_previous_for(kind, given, grace_period):
    """keep_previous as the kind means it; InvalidOption when the options contradict a hard-cut kind."""
    if kind.keep_previous:
        return True if given is None else given
    if given:
        raise errors.InvalidOption(f"kind {kind.name} is a hard cut: keep_previous: true contradicts it",
                                   hint="Leave keep_previous out, or choose another kind")
    if grace_period:
        raise errors.InvalidOption(f"kind {kind.name} is a hard cut: a grace_period does not apply to it",
                                   hint="Leave grace_period out; tokens signed with the old key stop working at once")
    return False


def rotate_transit_key(module, kind):
    """kind=encryption-key with a transit key named: rotate that key and exit; return when none is named
    (the key is then a secret of the collection, rotated like any other)."""
    params = module.params
    name = params["name"]
    try:
        resolved = factory.resolve(options.from_module(params), forced="vault")
    except errors.SecretError as exc:
        fail(module, exc, name=name, rotated=False, due=False)
    key_options = resolved.provider_options()
    if not key_options.get(TRANSIT_KEY_OPTION):
        return
    result = dict(changed=False, name=name, provider="vault", provider_name=key_options[TRANSIT_KEY_OPTION],
                  rotated=False, due=False)
    key = None
    try:
        for option in ("value", "generator", "rollback_to"):
            if params[option] is not None:
                raise errors.InvalidOption(
                    f"{option} does not apply to a transit key: Vault makes the new key version itself",
                    name=name, hint="Leave it out, or set kind: secret to rotate a secret of the collection")
        for option in ("expires_at", "expires_in"):
            if params[option] not in (None, ""):
                raise errors.InvalidOption(
                    f"{option} does not apply to a transit key: a key version has no expiry to store it in",
                    name=name, hint="Leave it out, and use max_age to rotate the key on a schedule")
        policy = RotationPolicy.from_options(params["max_age"], params["grace_period"], params["keep_previous"],
                                             unless_rotated_since=params["unless_rotated_since"])
        key = TransitKey.from_options(key_options)
        outcome = transit_rotation.rotate(key, name, policy, check_mode=module.check_mode, create=params["create"],
                                          audit=AuditLog(resolved.audit_path, "vault"))
    except errors.SecretError as exc:
        fail(module, exc, **result)
    finally:
        if key is not None:
            key.close()
    result.update(outcome.to_dict())
    result["summary"] = rotation_kinds.summary(result, kind, transit_key=key_options[TRANSIT_KEY_OPTION])
    result["changed"] = outcome.rotated or (module.check_mode and outcome.due)
    if module._diff and result["changed"]:
        result["diff"] = dict(before=dict(version=outcome.previous_version),
                              after=dict(version=outcome.version if outcome.rotated else "(new)",
                                         grace_until=result["grace_until"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
