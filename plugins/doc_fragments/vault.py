# -*- coding: utf-8 -*-
"""Options of HashiCorp Vault and OpenBao KV secrets (provider C(vault))."""
from __future__ import annotations


# option -> environment variables a lookup reads it from (rendered into LOOKUP)
LOOKUP_ENV = {
    "vault_addr": ["VAULT_ADDR"],
    "vault_token": ["VAULT_TOKEN"],
    "vault_role_id": ["VAULT_ROLE_ID"],
    "vault_secret_id": ["VAULT_SECRET_ID"],
    "vault_namespace": ["VAULT_NAMESPACE"],
    "vault_mount": ["VAULT_PATH"],
    "vault_kv_version": ["VAULT_KV_VERSION"],
    "vault_ca_cert": ["VAULT_CACERT"],
    "vault_timeout": ["VAULT_CLIENT_TIMEOUT"],
}


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  vault_addr:
    description:
      - URL of the Vault or OpenBao server (provider C(vault)), for example C(https://vault.example.com:8200).
      - Required for provider C(vault); setting C(VAULT_ADDR) also selects the provider when none is given.
      - Also C(VAULT_ADDR).
    type: str
  vault_token:
    description:
      - Vault token used as is. Ignored when O(vault_role_id) and O(vault_secret_id) are both set.
      - Also C(VAULT_TOKEN).
    type: str
  vault_role_id:
    description:
      - Role id of an AppRole (auth method mounted at C(approle/)); with O(vault_secret_id), the provider
        logs in once and reuses the token for every operation of the run, renewing it by a new login only
        shortly before its TTL ends.
      - Also C(VAULT_ROLE_ID).
    type: str
  vault_secret_id:
    description:
      - Secret id of the AppRole named by O(vault_role_id). It is never shown in messages or logs.
      - Also C(VAULT_SECRET_ID).
    type: str
  vault_namespace:
    description:
      - Namespace sent as C(X-Vault-Namespace) with every request (Vault Enterprise, HCP Vault, OpenBao).
        Mounts, policies and the AppRole login are then relative to it.
      - Also C(VAULT_NAMESPACE).
    type: str
  vault_mount:
    description:
      - Path of the KV secrets engine. A secret C(jwt-secret) lives at C(<vault_mount>/<prefix>jwt-secret)
        (prefix C(vibebox/) by default), stored as the field C(value).
      - Defaults to C(secret); also C(VAULT_PATH).
    type: str
  vault_kv_version:
    description:
      - Version of the KV engine at O(vault_mount).
      - C(2) (the default) keeps versions (C(version=previous) is the newest older version that is not
        deleted), writes with check-and-set so a concurrent change is refused instead of lost, keeps
        description and tags in the secret's custom metadata, deletes softly (every version is
        soft-deleted, restore undeletes them) and deletes for good with C(force). Vault never purges
        soft-deleted versions itself, so C(recovery_days) has no effect (C(0) means force).
      - C(1) keeps only the current value (asking for another version is an error), deletes for good and
        cannot restore; description and tags are kept as extra fields of the secret.
      - Also C(VAULT_KV_VERSION).
    type: int
    choices: [1, 2]
  vault_ca_cert:
    description:
      - PEM file of the certificate authority that signed the server's TLS certificate, when it is not
        trusted by the system.
      - Also C(VAULT_CACERT).
    type: path
  vault_timeout:
    description:
      - Seconds to wait for each answer of the server. Defaults to 30.
      - Also C(VAULT_CLIENT_TIMEOUT).
    type: float
  engine:
    description:
      - What the secret's name is read from (provider C(vault)). C(kv) (the default) reads static secrets from the KV
        engine at O(vault_mount).
      - C(dynamic) reads a dynamic secret, one that Vault makes on each read and gives with a lease, such as database
        credentials. The name is then the API path, for example C(database/creds/app) (no prefix is added), and the
        get lookup returns a dict of the secret's fields (C(username), C(password) for database credentials) with
        C(lease_id), C(lease_duration) (seconds) and C(renewable); C(json_key) picks one field.
      - Every host and fork of a run gets the same lease; the run cache reads the path once and hands the answer out
        for nine tenths of the lease, whatever O(cache_ttl) says (O(cache_ttl=0) or C(bypass_cache) read a new lease).
        Without the run cache (C(VIBEBOX_RUN_CACHE=false)) each fork makes its own lease.
      - Dynamic secrets are read-only; renew or revoke their leases with M(vibebox.secrets.vault_lease).
    type: str
    choices: [kv, dynamic]
  vault_dynamic_mount:
    description:
      - With O(engine=dynamic), the mount of the secrets engine when it is not the first segment of the path. The name
        is then read under it, so C(creds/app) with C(vault_dynamic_mount=teams/db) reads C(teams/db/creds/app).
    type: str
  vault_revoke_leases_at_end:
    description:
      - With O(engine=dynamic), revoke the leases the run cache handed out when the run ends (when
        C(ansible-playbook) exits), so the database users they created are dropped at once instead of at the end of
        their TTL.
      - Only for lookups through the run cache. Leave it off when the credentials must outlive the run (a service
        configured with them); revoke a lease yourself with M(vibebox.secrets.vault_lease) instead. Defaults to false.
    type: bool
"""

    LOOKUP = r"""
options:
  vault_addr:
    description:
      - URL of the Vault or OpenBao server (provider C(vault)), for example C(https://vault.example.com:8200).
      - Required for provider C(vault); setting C(VAULT_ADDR) also selects the provider when none is given.
      - Also C(VAULT_ADDR).
    type: str
    vars:
      - name: vibebox_secrets_vault_addr
    env:
      - name: VAULT_ADDR
    ini:
      - section: vibebox_secrets
        key: vault_addr
  vault_token:
    description:
      - Vault token used as is. Ignored when O(vault_role_id) and O(vault_secret_id) are both set.
      - Also C(VAULT_TOKEN).
    type: str
    vars:
      - name: vibebox_secrets_vault_token
    env:
      - name: VAULT_TOKEN
    ini:
      - section: vibebox_secrets
        key: vault_token
  vault_role_id:
    description:
      - Role id of an AppRole (auth method mounted at C(approle/)); with O(vault_secret_id), the provider logs in
        once and reuses the token for every operation of the run, renewing it by a new login only shortly before
        its TTL ends.
      - Also C(VAULT_ROLE_ID).
    type: str
    vars:
      - name: vibebox_secrets_vault_role_id
    env:
      - name: VAULT_ROLE_ID
    ini:
      - section: vibebox_secrets
        key: vault_role_id
  vault_secret_id:
    description:
      - Secret id of the AppRole named by O(vault_role_id). It is never shown in messages or logs.
      - Also C(VAULT_SECRET_ID).
    type: str
    vars:
      - name: vibebox_secrets_vault_secret_id
    env:
      - name: VAULT_SECRET_ID
    ini:
      - section: vibebox_secrets
        key: vault_secret_id
  vault_namespace:
    description:
      - Namespace sent as C(X-Vault-Namespace) with every request (Vault Enterprise, HCP Vault, OpenBao). Mounts,
        policies and the AppRole login are then relative to it.
      - Also C(VAULT_NAMESPACE).
    type: str
    vars:
      - name: vibebox_secrets_vault_namespace
    env:
      - name: VAULT_NAMESPACE
    ini:
      - section: vibebox_secrets
        key: vault_namespace
  vault_mount:
    description:
      - Path of the KV secrets engine. A secret C(jwt-secret) lives at C(<vault_mount>/<prefix>jwt-secret) (prefix
        C(vibebox/) by default), stored as the field C(value).
      - Defaults to C(secret); also C(VAULT_PATH).
    type: str
    vars:
      - name: vibebox_secrets_vault_mount
    env:
      - name: VAULT_PATH
    ini:
      - section: vibebox_secrets
        key: vault_mount
  vault_kv_version:
    description:
      - Version of the KV engine at O(vault_mount).
      - C(2) (the default) keeps versions (C(version=previous) is the newest older version that is not deleted),
        writes with check-and-set so a concurrent change is refused instead of lost, keeps description and tags
        in the secret's custom metadata, deletes softly (every version is soft-deleted, restore undeletes them)
        and deletes for good with C(force). Vault never purges soft-deleted versions itself, so C(recovery_days)
        has no effect (C(0) means force).
      - C(1) keeps only the current value (asking for another version is an error), deletes for good and cannot
        restore; description and tags are kept as extra fields of the secret.
      - Also C(VAULT_KV_VERSION).
    type: int
    choices:
      - 1
      - 2
    vars:
      - name: vibebox_secrets_vault_kv_version
    env:
      - name: VAULT_KV_VERSION
    ini:
      - section: vibebox_secrets
        key: vault_kv_version
  vault_ca_cert:
    description:
      - PEM file of the certificate authority that signed the server's TLS certificate, when it is not trusted by
        the system.
      - Also C(VAULT_CACERT).
    type: path
    vars:
      - name: vibebox_secrets_vault_ca_cert
    env:
      - name: VAULT_CACERT
    ini:
      - section: vibebox_secrets
        key: vault_ca_cert
  vault_timeout:
    description:
      - Seconds to wait for each answer of the server. Defaults to 30.
      - Also C(VAULT_CLIENT_TIMEOUT).
    type: float
    vars:
      - name: vibebox_secrets_vault_timeout
    env:
      - name: VAULT_CLIENT_TIMEOUT
    ini:
      - section: vibebox_secrets
        key: vault_timeout
  engine:
    description:
      - What the secret's name is read from (provider C(vault)). C(kv) (the default) reads static secrets from the
        KV engine at O(vault_mount).
      - C(dynamic) reads a dynamic secret, one that Vault makes on each read and gives with a lease, such as database
        credentials. The name is then the API path, for example C(database/creds/app) (no prefix is added), and
        the get lookup returns a dict of the secret's fields (C(username), C(password) for database credentials)
        with C(lease_id), C(lease_duration) (seconds) and C(renewable); C(json_key) picks one field.
      - Every host and fork of a run gets the same lease; the run cache reads the path once and hands the answer
        out for nine tenths of the lease, whatever O(cache_ttl) says (O(cache_ttl=0) or C(bypass_cache) read a new
        lease). Without the run cache (C(VIBEBOX_RUN_CACHE=false)) each fork makes its own lease.
      - Dynamic secrets are read-only; renew or revoke their leases with M(vibebox.secrets.vault_lease).
    type: str
    choices:
      - kv
      - dynamic
    vars:
      - name: vibebox_secrets_engine
    ini:
      - section: vibebox_secrets
        key: engine
  vault_dynamic_mount:
    description:
      - With O(engine=dynamic), the mount of the secrets engine when it is not the first segment of the path. The
        name is then read under it, so C(creds/app) with C(vault_dynamic_mount=teams/db) reads C(teams/db/creds/app).
    type: str
    vars:
      - name: vibebox_secrets_vault_dynamic_mount
    ini:
      - section: vibebox_secrets
        key: vault_dynamic_mount
  vault_revoke_leases_at_end:
    description:
      - With O(engine=dynamic), revoke the leases the run cache handed out when the run ends (when C(ansible-playbook)
        exits), so the database users they created are dropped at once instead of at the end of their TTL.
      - Only for lookups through the run cache. Leave it off when the credentials must outlive the run (a service
        configured with them); revoke a lease yourself with M(vibebox.secrets.vault_lease) instead. Defaults to
        false.
    type: bool
    vars:
      - name: vibebox_secrets_vault_revoke_leases_at_end
    ini:
      - section: vibebox_secrets
        key: vault_revoke_leases_at_end
"""
