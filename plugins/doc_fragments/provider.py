# -*- coding: utf-8 -*-
"""Options every vibebox.secrets module and lookup shares.

``DOCUMENTATION`` is the module form. ``LOOKUP`` is the same text with the places a lookup may also
take each option from: an Ansible variable ``vibebox_secrets_<option>``, the environment variables the
option's provider declares, and the ``[vibebox_secrets]`` section of ansible.cfg, in that order after the
task's own option. hacking/render_lookup_fragments.py writes every LOOKUP from DOCUMENTATION and the
registry, so each option is described once.
"""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  provider:
    description:
      - Where the secrets live.
      - When not set, C(SECRET_PROVIDER) is used, then the provider is detected from the environment
        (C(VAULT_ADDR) selects C(vault), C(AWS_SECRET_MANAGER_REGION) C(aws), C(GCP_PROJECT_ID) C(gcp),
        C(AZURE_KEYVAULT_URL) C(azure), C(KUBERNETES_SERVICE_HOST) C(kubernetes)), and finally the embedded
        encrypted C(local) store, which needs no server.
      - A provider chosen that way (detected, or the C(local) fallback) is named once per run in a warning, with the
        variable that chose it.
      - In an AWX/AAP job (extra variable C(awx_job_id) or C(tower_job_id), or C(JOB_ID) with C(AWX_HOST)) the
        C(local) fallback is refused unless O(local_path) is given, since the job's container and the store in it
        are thrown away.
      - C(k8s) is an alias of C(kubernetes).
    type: str
    choices: [aws, gcp, azure, vault, kubernetes, env, local, hashicorp, openbao, k8s, environment]
  prefix:
    description:
      - Prepended to every logical name to make the provider-side name.
      - Defaults to C(vibebox/) for C(aws) and C(vault), C(vibebox-) for C(gcp) and C(azure), and nothing for
        the other providers. The provider-specific variables C(AWS_SECRET_PREFIX), C(GCP_SECRET_PREFIX),
        C(AZURE_SECRET_PREFIX) and C(VAULT_PREFIX) are read when this is not set.
    type: str
  cache_ttl:
    description:
      - Seconds a value read once is reused in this process. C(0) disables the cache.
      - When not set, C(SECRET_CACHE_TTL) (milliseconds, as in the original scripts) is read; the default is 300 seconds.
    type: float
  audit_log:
    description:
      - Path of the JSON-lines audit log, or C(false) to disable it. One line per operation with time,
        operation, provider, name, version, outcome and actor; never a value.
      - Defaults to C($XDG_STATE_HOME/vibebox/audit.log) (C(~/.local/state/vibebox/audit.log)); also C(VIBEBOX_AUDIT_LOG).
    type: str
  fallback:
    description:
      - Where reads go next, in order, when the first provider says the secret is missing or cannot be reached.
      - Each entry is a provider (for example C([env])), C(aws:<region>) (the same AWS options in another region)
        or C(aws_replica_region) (AWS again in each region of O(aws_replica_regions), in turn).
      - Writes never fall back. A warning names both providers.
    type: list
    elements: str
"""

    LOOKUP = r"""
options:
  provider:
    description:
      - Where the secrets live.
      - When not set, C(SECRET_PROVIDER) is used, then the provider is detected from the environment (C(VAULT_ADDR)
        selects C(vault), C(AWS_SECRET_MANAGER_REGION) C(aws), C(GCP_PROJECT_ID) C(gcp), C(AZURE_KEYVAULT_URL) C(azure),
        C(KUBERNETES_SERVICE_HOST) C(kubernetes)), and finally the embedded encrypted C(local) store, which needs
        no server.
      - A provider chosen that way (detected, or the C(local) fallback) is named once per run in a warning, with
        the variable that chose it.
      - In an AWX/AAP job (extra variable C(awx_job_id) or C(tower_job_id), or C(JOB_ID) with C(AWX_HOST)) the C(local)
        fallback is refused unless O(local_path) is given, since the job's container and the store in it are thrown
        away.
      - C(k8s) is an alias of C(kubernetes).
    type: str
    choices:
      - aws
      - gcp
      - azure
      - vault
      - kubernetes
      - env
      - local
      - hashicorp
      - openbao
      - k8s
      - environment
    vars:
      - name: vibebox_secrets_provider
    env:
      - name: SECRET_PROVIDER
    ini:
      - section: vibebox_secrets
        key: provider
  prefix:
    description:
      - Prepended to every logical name to make the provider-side name.
      - Defaults to C(vibebox/) for C(aws) and C(vault), C(vibebox-) for C(gcp) and C(azure), and nothing for the
        other providers. The provider-specific variables C(AWS_SECRET_PREFIX), C(GCP_SECRET_PREFIX), C(AZURE_SECRET_PREFIX)
        and C(VAULT_PREFIX) are read when this is not set.
    type: str
    vars:
      - name: vibebox_secrets_prefix
    ini:
      - section: vibebox_secrets
        key: prefix
  cache_ttl:
    description:
      - Seconds a value read once is reused in this process. C(0) disables the cache.
      - When not set, C(SECRET_CACHE_TTL) (milliseconds, as in the original scripts) is read; the default is 300
        seconds.
    type: float
    vars:
      - name: vibebox_secrets_cache_ttl
    ini:
      - section: vibebox_secrets
        key: cache_ttl
  audit_log:
    description:
      - Path of the JSON-lines audit log, or C(false) to disable it. One line per operation with time, operation,
        provider, name, version, outcome and actor; never a value.
      - Defaults to C($XDG_STATE_HOME/vibebox/audit.log) (C(~/.local/state/vibebox/audit.log)); also C(VIBEBOX_AUDIT_LOG).
    type: str
    vars:
      - name: vibebox_secrets_audit_log
    env:
      - name: VIBEBOX_AUDIT_LOG
    ini:
      - section: vibebox_secrets
        key: audit_log
  fallback:
    description:
      - Where reads go next, in order, when the first provider says the secret is missing or cannot be reached.
      - Each entry is a provider (for example C([env])), C(aws:<region>) (the same AWS options in another region)
        or C(aws_replica_region) (AWS again in each region of O(aws_replica_regions), in turn).
      - Writes never fall back. A warning names both providers.
    type: list
    elements: str
    vars:
      - name: vibebox_secrets_fallback
    ini:
      - section: vibebox_secrets
        key: fallback
"""
