# -*- coding: utf-8 -*-
"""Options of HashiCorp Vault and OpenBao KV secrets (provider C(vault))."""
from __future__ import annotations


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
      - Role id of an AppRole (auth method mounted at O(vault_auth_mount), C(approle/) by default); with
        O(vault_secret_id), the provider logs in once and reuses the token for every operation of the run,
        renewing it while the run goes on.
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
  vault_auth_method:
    description:
      - How the provider gets its Vault token. Every method that logs in does so once per run for all hosts and
        forks (the run cache keeps the token in memory, never on disk) and renews the token with C(renew-self)
        while a long run goes on. docs/providers/vault-logins.md shows each method's Vault set-up and least-privilege
        policy.
      - C(token) uses O(vault_token) as is; the default when a token is given.
      - C(approle) logs in with O(vault_role_id) and O(vault_secret_id); the default when both are set.
      - C(userpass) logs in with O(vault_username) and O(vault_password).
      - C(jwt) logs in with O(vault_role) and a signed JWT from O(vault_jwt) or O(vault_jwt_file) (for example
        a CI job's OIDC token).
      - C(kubernetes) logs in with O(vault_role) and the pod's service-account token from
        O(vault_kubernetes_token_file) (AWX and execution environments running on Kubernetes).
      - C(cert) logs in with the TLS client certificate O(vault_client_cert) and its key O(vault_client_key);
        O(vault_addr) must be C(https://). O(vault_role) optionally names the certificate role.
      - C(none) sends no token; a Vault Agent or proxy at O(vault_addr) adds it.
      - A login that Vault refuses fails with the method, the mount, the role and Vault's answer, never the
        credential. A missing or unreadable input fails before any request and names its option.
      - One of C(token), C(approle), C(userpass), C(jwt), C(kubernetes), C(cert), C(none); empty means the default.
      - Also C(VAULT_AUTH_METHOD).
    type: str
  vault_auth_mount:
    description:
      - Path the auth method is enabled at, without C(auth/). Defaults to the method's name (C(approle),
        C(userpass), C(jwt), C(kubernetes), C(cert)).
      - Also C(VAULT_AUTH_MOUNT).
    type: str
  vault_username:
    description:
      - User name for O(vault_auth_method=userpass).
      - Also C(VAULT_USERNAME).
    type: str
  vault_password:
    description:
      - Password for O(vault_auth_method=userpass). It is never shown in messages or logs.
      - Also C(VAULT_PASSWORD).
    type: str
  vault_role:
    description:
      - Role to log in with for O(vault_auth_method=jwt) and O(vault_auth_method=kubernetes) (required), and the
        certificate role for O(vault_auth_method=cert) (optional; without it Vault tries every role).
      - Also C(VAULT_ROLE).
    type: str
  vault_jwt:
    description:
      - Signed JWT for O(vault_auth_method=jwt). It is never shown in messages or logs. Use O(vault_jwt_file)
        for a token that a platform writes to a file and refreshes.
      - Also C(VAULT_JWT).
    type: str
  vault_jwt_file:
    description:
      - File holding the signed JWT for O(vault_auth_method=jwt), read at each login (so a refreshed token is
        used). Ignored when O(vault_jwt) is set.
      - Also C(VAULT_JWT_FILE).
    type: path
  vault_kubernetes_token_file:
    description:
      - Service-account token for O(vault_auth_method=kubernetes), read at each login (Kubernetes rotates
        projected tokens).
      - Defaults to C(/var/run/secrets/kubernetes.io/serviceaccount/token); also C(VAULT_KUBERNETES_TOKEN_FILE).
    type: path
  vault_client_cert:
    description:
      - PEM file of the TLS client certificate for O(vault_auth_method=cert) (it may hold the private key too).
      - Also C(VAULT_CLIENT_CERT).
    type: path
  vault_client_key:
    description:
      - PEM file of the private key of O(vault_client_cert), when the certificate file does not hold it.
      - Also C(VAULT_CLIENT_KEY).
    type: path
  vault_transit_mount:
    description:
      - Mount of the transit secrets engine that holds O(vault_transit_key). Defaults to C(transit).
      - Used by M(vibebox.secrets.transit_rewrap) and by M(vibebox.secrets.secret_rotate) with
        C(kind=encryption-key); the other plugins ignore it.
      - Also C(VAULT_TRANSIT_MOUNT).
    type: str
  vault_transit_key:
    description:
      - Name of the transit encryption key (a name, not a secret; the key itself never leaves Vault).
      - With it, M(vibebox.secrets.secret_rotate) with C(kind=encryption-key) rotates this key instead of
        writing a new version of a secret, and M(vibebox.secrets.transit_rewrap) re-wraps ciphertexts to its
        newest version.
      - Also C(VAULT_TRANSIT_KEY).
    type: str
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
      - C(dynamic) with any provider other than C(vault) is refused before any request (it would otherwise be ignored
        and the path read as a stored secret); a O(fallback) step may still be another provider.
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
  vault_delete_version_after:
    description:
      - KV version 2 only. When a write gives an expiry (C(expires_at) or C(expires_in)), also set the secret's
        C(delete_version_after) to the time left until it, so Vault deletes each version that long after its creation.
        The expiry is then written in one metadata request of its own. Without it the expiry is only recorded (the
        custom_metadata key C(vibebox-expires-at)). Defaults to false.
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
      - Role id of an AppRole (auth method mounted at O(vault_auth_mount), C(approle/) by default); with O(vault_secret_id),
        the provider logs in once and reuses the token for every operation of the run, renewing it while the run
        goes on.
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
  vault_auth_method:
    description:
      - How the provider gets its Vault token. Every method that logs in does so once per run for all hosts and
        forks (the run cache keeps the token in memory, never on disk) and renews the token with C(renew-self) while
        a long run goes on. docs/providers/vault-logins.md shows each method's Vault set-up and least-privilege
        policy.
      - C(token) uses O(vault_token) as is; the default when a token is given.
      - C(approle) logs in with O(vault_role_id) and O(vault_secret_id); the default when both are set.
      - C(userpass) logs in with O(vault_username) and O(vault_password).
      - C(jwt) logs in with O(vault_role) and a signed JWT from O(vault_jwt) or O(vault_jwt_file) (for example a
        CI job's OIDC token).
      - C(kubernetes) logs in with O(vault_role) and the pod's service-account token from O(vault_kubernetes_token_file)
        (AWX and execution environments running on Kubernetes).
      - C(cert) logs in with the TLS client certificate O(vault_client_cert) and its key O(vault_client_key); O(vault_addr)
        must be C(https://). O(vault_role) optionally names the certificate role.
      - C(none) sends no token; a Vault Agent or proxy at O(vault_addr) adds it.
      - A login that Vault refuses fails with the method, the mount, the role and Vault's answer, never the credential.
        A missing or unreadable input fails before any request and names its option.
      - One of C(token), C(approle), C(userpass), C(jwt), C(kubernetes), C(cert), C(none); empty means the default.
      - Also C(VAULT_AUTH_METHOD).
    type: str
    vars:
      - name: vibebox_secrets_vault_auth_method
    env:
      - name: VAULT_AUTH_METHOD
    ini:
      - section: vibebox_secrets
        key: vault_auth_method
  vault_auth_mount:
    description:
      - Path the auth method is enabled at, without C(auth/). Defaults to the method's name (C(approle), C(userpass),
        C(jwt), C(kubernetes), C(cert)).
      - Also C(VAULT_AUTH_MOUNT).
    type: str
    vars:
      - name: vibebox_secrets_vault_auth_mount
    env:
      - name: VAULT_AUTH_MOUNT
    ini:
      - section: vibebox_secrets
        key: vault_auth_mount
  vault_username:
    description:
      - User name for O(vault_auth_method=userpass).
      - Also C(VAULT_USERNAME).
    type: str
    vars:
      - name: vibebox_secrets_vault_username
    env:
      - name: VAULT_USERNAME
    ini:
      - section: vibebox_secrets
        key: vault_username
  vault_password:
    description:
      - Password for O(vault_auth_method=userpass). It is never shown in messages or logs.
      - Also C(VAULT_PASSWORD).
    type: str
    vars:
      - name: vibebox_secrets_vault_password
    env:
      - name: VAULT_PASSWORD
    ini:
      - section: vibebox_secrets
        key: vault_password
  vault_role:
    description:
      - Role to log in with for O(vault_auth_method=jwt) and O(vault_auth_method=kubernetes) (required), and the
        certificate role for O(vault_auth_method=cert) (optional; without it Vault tries every role).
      - Also C(VAULT_ROLE).
    type: str
    vars:
      - name: vibebox_secrets_vault_role
    env:
      - name: VAULT_ROLE
    ini:
      - section: vibebox_secrets
        key: vault_role
  vault_jwt:
    description:
      - Signed JWT for O(vault_auth_method=jwt). It is never shown in messages or logs. Use O(vault_jwt_file) for
        a token that a platform writes to a file and refreshes.
      - Also C(VAULT_JWT).
    type: str
    vars:
      - name: vibebox_secrets_vault_jwt
    env:
      - name: VAULT_JWT
    ini:
      - section: vibebox_secrets
        key: vault_jwt
  vault_jwt_file:
    description:
      - File holding the signed JWT for O(vault_auth_method=jwt), read at each login (so a refreshed token is used).
        Ignored when O(vault_jwt) is set.
      - Also C(VAULT_JWT_FILE).
    type: path
    vars:
      - name: vibebox_secrets_vault_jwt_file
    env:
      - name: VAULT_JWT_FILE
    ini:
      - section: vibebox_secrets
        key: vault_jwt_file
  vault_kubernetes_token_file:
    description:
      - Service-account token for O(vault_auth_method=kubernetes), read at each login (Kubernetes rotates projected
        tokens).
      - Defaults to C(/var/run/secrets/kubernetes.io/serviceaccount/token); also C(VAULT_KUBERNETES_TOKEN_FILE).
    type: path
    vars:
      - name: vibebox_secrets_vault_kubernetes_token_file
    env:
      - name: VAULT_KUBERNETES_TOKEN_FILE
    ini:
      - section: vibebox_secrets
        key: vault_kubernetes_token_file
  vault_client_cert:
    description:
      - PEM file of the TLS client certificate for O(vault_auth_method=cert) (it may hold the private key too).
      - Also C(VAULT_CLIENT_CERT).
    type: path
    vars:
      - name: vibebox_secrets_vault_client_cert
    env:
      - name: VAULT_CLIENT_CERT
    ini:
      - section: vibebox_secrets
        key: vault_client_cert
  vault_client_key:
    description:
      - PEM file of the private key of O(vault_client_cert), when the certificate file does not hold it.
      - Also C(VAULT_CLIENT_KEY).
    type: path
    vars:
      - name: vibebox_secrets_vault_client_key
    env:
      - name: VAULT_CLIENT_KEY
    ini:
      - section: vibebox_secrets
        key: vault_client_key
  vault_transit_mount:
    description:
      - Mount of the transit secrets engine that holds O(vault_transit_key). Defaults to C(transit).
      - Used by M(vibebox.secrets.transit_rewrap) and by M(vibebox.secrets.secret_rotate) with C(kind=encryption-key);
        the other plugins ignore it.
      - Also C(VAULT_TRANSIT_MOUNT).
    type: str
    vars:
      - name: vibebox_secrets_vault_transit_mount
    env:
      - name: VAULT_TRANSIT_MOUNT
    ini:
      - section: vibebox_secrets
        key: vault_transit_mount
  vault_transit_key:
    description:
      - Name of the transit encryption key (a name, not a secret; the key itself never leaves Vault).
      - With it, M(vibebox.secrets.secret_rotate) with C(kind=encryption-key) rotates this key instead of writing
        a new version of a secret, and M(vibebox.secrets.transit_rewrap) re-wraps ciphertexts to its newest version.
      - Also C(VAULT_TRANSIT_KEY).
    type: str
    vars:
      - name: vibebox_secrets_vault_transit_key
    env:
      - name: VAULT_TRANSIT_KEY
    ini:
      - section: vibebox_secrets
        key: vault_transit_key
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
      - C(dynamic) with any provider other than C(vault) is refused before any request (it would otherwise be ignored
        and the path read as a stored secret); a O(fallback) step may still be another provider.
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
  vault_delete_version_after:
    description:
      - KV version 2 only. When a write gives an expiry (C(expires_at) or C(expires_in)), also set the secret's
        C(delete_version_after) to the time left until it, so Vault deletes each version that long after its creation.
        The expiry is then written in one metadata request of its own. Without it the expiry is only recorded (the
        custom_metadata key C(vibebox-expires-at)). Defaults to false.
    type: bool
    vars:
      - name: vibebox_secrets_vault_delete_version_after
    ini:
      - section: vibebox_secrets
        key: vault_delete_version_after
"""
