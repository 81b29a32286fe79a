# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
# Written by hacking/render_option_table.py from each provider's SPEC; edit the provider, then run it.
"""Every provider's options and aliases as literals, so a module's argument spec (which must name
every provider's options and mark the credentials no_log) does not import every provider module:
AnsiballZ ships no bytecode, and compiling the unused provider files cost about 0.2 s per task."""

#: (provider, option, argument spec, environment variables), in the registry's order
OPTIONS = (
    ('aws', 'aws_region', {'type': 'str'}, ('AWS_SECRET_MANAGER_REGION', 'AWS_REGION', 'AWS_DEFAULT_REGION')),
    ('aws', 'aws_profile', {'type': 'str'}, ('AWS_PROFILE',)),
    ('aws', 'aws_endpoint_url', {'type': 'str'}, ('AWS_ENDPOINT_URL_SECRETS_MANAGER', 'AWS_ENDPOINT_URL')),
    ('aws', 'aws_access_key_id', {'type': 'str', 'no_log': True}, ()),
    ('aws', 'aws_secret_access_key', {'type': 'str', 'no_log': True}, ()),
    ('aws', 'aws_session_token', {'type': 'str', 'no_log': True}, ()),
    ('aws', 'aws_replica_regions', {'type': 'list', 'elements': 'str'}, ('AWS_SECRET_REPLICA_REGIONS',)),
    ('aws', 'aws_replica_purge', {'type': 'bool'}, ()),
    ('aws', 'aws_rotation_lambda_arn', {'type': 'str'}, ()),
    ('aws', 'aws_rotation_days', {'type': 'int'}, ()),
    ('aws', 'aws_rotation_enabled', {'type': 'bool'}, ()),
    ('gcp', 'gcp_project', {'type': 'str'}, ('GCP_PROJECT_ID', 'GOOGLE_CLOUD_PROJECT')),
    ('gcp', 'gcp_credentials', {'type': 'path', 'no_log': False}, ('GOOGLE_APPLICATION_CREDENTIALS',)),
    ('gcp', 'gcp_access_token', {'type': 'str', 'no_log': True}, ('GCP_ACCESS_TOKEN',)),
    ('gcp', 'gcp_endpoint', {'type': 'str'}, ('GCP_SECRET_MANAGER_ENDPOINT',)),
    ('gcp', 'gcp_ca_cert', {'type': 'path'}, ('GCP_CA_CERT', 'GRPC_DEFAULT_SSL_ROOTS_FILE_PATH')),
    ('gcp', 'gcp_replication', {'type': 'list', 'elements': 'str'}, ('GCP_SECRET_REPLICATION',)),
    ('azure', 'azure_vault_url', {'type': 'str'}, ('AZURE_KEYVAULT_URL',)),
    ('azure', 'azure_tenant_id', {'type': 'str'}, ('AZURE_TENANT_ID',)),
    ('azure', 'azure_client_id', {'type': 'str'}, ('AZURE_CLIENT_ID',)),
    ('azure', 'azure_client_secret', {'type': 'str', 'no_log': True}, ('AZURE_CLIENT_SECRET',)),
    ('azure', 'azure_auth', {'type': 'str', 'choices': ['auto', 'service_principal', 'managed_identity', 'default']}, ('AZURE_AUTH',)),
    ('azure', 'azure_authority_host', {'type': 'str'}, ('AZURE_AUTHORITY_HOST',)),
    ('azure', 'azure_ca_cert', {'type': 'path'}, ('AZURE_CA_CERT',)),
    ('azure', 'azure_verify_challenge_resource', {'type': 'bool'}, ()),
    ('vault', 'vault_addr', {'type': 'str'}, ('VAULT_ADDR',)),
    ('vault', 'vault_token', {'type': 'str', 'no_log': True}, ('VAULT_TOKEN',)),
    ('vault', 'vault_role_id', {'type': 'str'}, ('VAULT_ROLE_ID',)),
    ('vault', 'vault_secret_id', {'type': 'str', 'no_log': True}, ('VAULT_SECRET_ID',)),
    ('vault', 'vault_namespace', {'type': 'str'}, ('VAULT_NAMESPACE',)),
    ('vault', 'vault_mount', {'type': 'str'}, ('VAULT_PATH',)),
    ('vault', 'vault_kv_version', {'type': 'int', 'choices': [1, 2]}, ('VAULT_KV_VERSION',)),
    ('vault', 'vault_ca_cert', {'type': 'path'}, ('VAULT_CACERT',)),
    ('vault', 'vault_timeout', {'type': 'float'}, ('VAULT_CLIENT_TIMEOUT',)),
    ('vault', 'vault_auth_method', {'type': 'str'}, ('VAULT_AUTH_METHOD',)),
    ('vault', 'vault_auth_mount', {'type': 'str'}, ('VAULT_AUTH_MOUNT',)),
    ('vault', 'vault_username', {'type': 'str'}, ('VAULT_USERNAME',)),
    ('vault', 'vault_password', {'type': 'str', 'no_log': True}, ('VAULT_PASSWORD',)),
    ('vault', 'vault_role', {'type': 'str'}, ('VAULT_ROLE',)),
    ('vault', 'vault_jwt', {'type': 'str', 'no_log': True}, ('VAULT_JWT',)),
    ('vault', 'vault_jwt_file', {'type': 'path'}, ('VAULT_JWT_FILE',)),
    ('vault', 'vault_kubernetes_token_file', {'type': 'path'}, ('VAULT_KUBERNETES_TOKEN_FILE',)),
    ('vault', 'vault_client_cert', {'type': 'path'}, ('VAULT_CLIENT_CERT',)),
    ('vault', 'vault_client_key', {'type': 'path'}, ('VAULT_CLIENT_KEY',)),
    ('vault', 'vault_transit_mount', {'type': 'str'}, ('VAULT_TRANSIT_MOUNT',)),
    ('vault', 'vault_transit_key', {'type': 'str', 'no_log': False}, ('VAULT_TRANSIT_KEY',)),
    ('vault', 'engine', {'type': 'str', 'choices': ['kv', 'dynamic']}, ()),
    ('vault', 'vault_dynamic_mount', {'type': 'str'}, ()),
    ('vault', 'vault_revoke_leases_at_end', {'type': 'bool'}, ()),
    ('vault', 'vault_delete_version_after', {'type': 'bool'}, ()),
    ('kubernetes', 'k8s_namespace', {'type': 'str'}, ('K8S_SECRET_NAMESPACE',)),
    ('kubernetes', 'k8s_secret_name', {'type': 'str'}, ('K8S_SECRET_NAME',)),
    ('kubernetes', 'kubeconfig', {'type': 'path'}, ('KUBECONFIG',)),
    ('kubernetes', 'k8s_context', {'type': 'str'}, ('K8S_CONTEXT',)),
    ('local', 'local_path', {'type': 'path'}, ('VIBEBOX_LOCAL_PATH',)),
    ('local', 'local_key_file', {'type': 'path'}, ('VIBEBOX_LOCAL_KEY_FILE',)),
)

#: other names users may type for a provider -> its name
ALIASES = {
    'hashicorp': 'vault',
    'openbao': 'vault',
    'k8s': 'kubernetes',
    'environment': 'env',
}

#: options that change what a name means, which a read of another provider must refuse (their
#: neutral values are in the provider's SPEC), and the providers that declare them
MEANING_OPTIONS = ('engine',)
MEANING_PROVIDERS = ('vault',)
