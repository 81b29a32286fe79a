# -*- coding: utf-8 -*-
"""Options of Azure Key Vault (provider C(azure))."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  azure_vault_url:
    description:
      - URL of the Key Vault (provider C(azure)), for example C(https://my-vault.vault.azure.net).
        Secrets are named C(<prefix><name>) with the prefix C(vibebox-) by default.
      - Required for provider C(azure). Also C(AZURE_KEYVAULT_URL).
    type: str
  azure_auth:
    description:
      - How to sign in to Entra ID.
      - C(auto) uses a service principal when O(azure_tenant_id), O(azure_client_id) and O(azure_client_secret)
        are all set, and the host's managed identity otherwise.
      - C(service_principal) requires those three options; C(managed_identity) uses the system-assigned identity,
        or the user-assigned one whose client id is O(azure_client_id).
      - C(default) uses C(DefaultAzureCredential) (environment, workload identity, managed identity, Azure CLI, ...).
        It is used only when asked, because it tries each source in turn and is slow to fail.
      - Defaults to C(auto). Also C(AZURE_AUTH).
    type: str
    choices: [auto, service_principal, managed_identity, default]
  azure_tenant_id:
    description:
      - Directory (tenant) id of the service principal. Also C(AZURE_TENANT_ID).
    type: str
  azure_client_id:
    description:
      - Application (client) id of the service principal, or of a user-assigned managed identity.
        Also C(AZURE_CLIENT_ID).
    type: str
  azure_client_secret:
    description:
      - Client secret of the service principal. Also C(AZURE_CLIENT_SECRET).
    type: str
  azure_authority_host:
    description:
      - Entra ID authority for sovereign clouds (for example C(login.microsoftonline.us),
        C(login.chinacloudapi.cn)), Azure Stack (AD FS) or a test authority.
      - Instance discovery is switched off when the host is not one of Microsoft's public authorities,
        since discovery would ask C(login.microsoftonline.com) about it.
      - Defaults to the public cloud (C(login.microsoftonline.com)). Also C(AZURE_AUTHORITY_HOST).
    type: str
  azure_ca_cert:
    description:
      - PEM file of the certificate authorities trusted for the vault and the authority, for private
        endpoints, Azure Stack or a test server. Also C(AZURE_CA_CERT).
    type: path
  azure_verify_challenge_resource:
    description:
      - Check that the resource in the vault's authentication challenge matches the vault's domain, as the SDK
        does by default. Set to C(false) only for a vault reached through a host name outside
        C(vault.azure.net) (a private endpoint alias or a test server).
      - Defaults to C(true).
    type: bool
notes:
  - "Provider C(azure): the description is stored as the secret's content type (255 characters at most) and tags
    as Key Vault tags (at most 14: the collection keeps one, C(vibebox-previous-version), to know which version
    came before which). A new value keeps the current tags and description unless new ones are given."
  - "Provider C(azure): C(previous) is the newest enabled version before the current one. Cleaning up an old
    version disables it, since Key Vault cannot delete a single version."
  - "Provider C(azure): deleting is the vault's soft delete, restorable for the vault's retention period
    (C(recovery_days) cannot be chosen per secret); a forced delete, or C(recovery_days=0), also purges.
    A deleted but recoverable name cannot be reused until it is recovered or purged."
requirements:
  - azure-keyvault-secrets and azure-identity (provider C(azure) only)
"""

    LOOKUP = r"""
options:
  azure_vault_url:
    description:
      - URL of the Key Vault (provider C(azure)), for example C(https://my-vault.vault.azure.net). Secrets are named
        C(<prefix><name>) with the prefix C(vibebox-) by default.
      - Required for provider C(azure). Also C(AZURE_KEYVAULT_URL).
    type: str
    vars:
      - name: vibebox_secrets_azure_vault_url
    env:
      - name: AZURE_KEYVAULT_URL
    ini:
      - section: vibebox_secrets
        key: azure_vault_url
  azure_auth:
    description:
      - How to sign in to Entra ID.
      - C(auto) uses a service principal when O(azure_tenant_id), O(azure_client_id) and O(azure_client_secret)
        are all set, and the host's managed identity otherwise.
      - C(service_principal) requires those three options; C(managed_identity) uses the system-assigned identity,
        or the user-assigned one whose client id is O(azure_client_id).
      - C(default) uses C(DefaultAzureCredential) (environment, workload identity, managed identity, Azure CLI,
        ...). It is used only when asked, because it tries each source in turn and is slow to fail.
      - Defaults to C(auto). Also C(AZURE_AUTH).
    type: str
    choices:
      - auto
      - service_principal
      - managed_identity
      - default
    vars:
      - name: vibebox_secrets_azure_auth
    env:
      - name: AZURE_AUTH
    ini:
      - section: vibebox_secrets
        key: azure_auth
  azure_tenant_id:
    description:
      - Directory (tenant) id of the service principal. Also C(AZURE_TENANT_ID).
    type: str
    vars:
      - name: vibebox_secrets_azure_tenant_id
    env:
      - name: AZURE_TENANT_ID
    ini:
      - section: vibebox_secrets
        key: azure_tenant_id
  azure_client_id:
    description:
      - Application (client) id of the service principal, or of a user-assigned managed identity. Also C(AZURE_CLIENT_ID).
    type: str
    vars:
      - name: vibebox_secrets_azure_client_id
    env:
      - name: AZURE_CLIENT_ID
    ini:
      - section: vibebox_secrets
        key: azure_client_id
  azure_client_secret:
    description:
      - Client secret of the service principal. Also C(AZURE_CLIENT_SECRET).
    type: str
    vars:
      - name: vibebox_secrets_azure_client_secret
    env:
      - name: AZURE_CLIENT_SECRET
    ini:
      - section: vibebox_secrets
        key: azure_client_secret
  azure_authority_host:
    description:
      - Entra ID authority for sovereign clouds (for example C(login.microsoftonline.us), C(login.chinacloudapi.cn)),
        Azure Stack (AD FS) or a test authority.
      - Instance discovery is switched off when the host is not one of Microsoft's public authorities, since discovery
        would ask C(login.microsoftonline.com) about it.
      - Defaults to the public cloud (C(login.microsoftonline.com)). Also C(AZURE_AUTHORITY_HOST).
    type: str
    vars:
      - name: vibebox_secrets_azure_authority_host
    env:
      - name: AZURE_AUTHORITY_HOST
    ini:
      - section: vibebox_secrets
        key: azure_authority_host
  azure_ca_cert:
    description:
      - PEM file of the certificate authorities trusted for the vault and the authority, for private endpoints,
        Azure Stack or a test server. Also C(AZURE_CA_CERT).
    type: path
    vars:
      - name: vibebox_secrets_azure_ca_cert
    env:
      - name: AZURE_CA_CERT
    ini:
      - section: vibebox_secrets
        key: azure_ca_cert
  azure_verify_challenge_resource:
    description:
      - Check that the resource in the vault's authentication challenge matches the vault's domain, as the SDK does
        by default. Set to C(false) only for a vault reached through a host name outside C(vault.azure.net) (a private
        endpoint alias or a test server).
      - Defaults to C(true).
    type: bool
    vars:
      - name: vibebox_secrets_azure_verify_challenge_resource
    ini:
      - section: vibebox_secrets
        key: azure_verify_challenge_resource
notes:
  - 'Provider C(azure): the description is stored as the secret''s content type (255 characters at most) and tags
    as Key Vault tags (at most 14: the collection keeps one, C(vibebox-previous-version), to know which version
    came before which). A new value keeps the current tags and description unless new ones are given.'
  - 'Provider C(azure): C(previous) is the newest enabled version before the current one. Cleaning up an old version
    disables it, since Key Vault cannot delete a single version.'
  - 'Provider C(azure): deleting is the vault''s soft delete, restorable for the vault''s retention period (C(recovery_days)
    cannot be chosen per secret); a forced delete, or C(recovery_days=0), also purges. A deleted but recoverable
    name cannot be reused until it is recovered or purged.'
requirements:
  - azure-keyvault-secrets and azure-identity (provider C(azure) only)
"""
