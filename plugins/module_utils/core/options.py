# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The provider options shared by every module and lookup, and the one adapter that reads them.

Modules get their argument spec from ``provider_argument_spec()``; lookups declare the same options
in doc fragments. Both hand a plain dict to factory.build_manager(), so provider construction is
written once (the community.hashi_vault habit).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption

PROVIDERS = ("aws", "gcp", "azure", "vault", "kubernetes", "env", "local")
PROVIDER_ALIASES = {"k8s": "kubernetes", "hashicorp": "vault", "openbao": "vault", "environment": "env"}

# option -> (argument spec, environment variables read when the option is not set, in order)
_OPTIONS: Dict[str, tuple] = {
    "provider": (dict(type="str", choices=list(PROVIDERS) + list(PROVIDER_ALIASES)), ("SECRET_PROVIDER",)),
    "prefix": (dict(type="str", no_log=False), ()),
    "cache_ttl": (dict(type="float"), ()),
    "audit_log": (dict(type="str"), ("VIBEBOX_AUDIT_LOG",)),
    "fallback": (dict(type="list", elements="str"), ()),
    # aws
    "aws_region": (dict(type="str"), ("AWS_SECRET_MANAGER_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")),
    "aws_profile": (dict(type="str"), ("AWS_PROFILE",)),
    "aws_endpoint_url": (dict(type="str"), ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL")),
    "aws_access_key_id": (dict(type="str", no_log=True), ()),
    "aws_secret_access_key": (dict(type="str", no_log=True), ()),
    "aws_session_token": (dict(type="str", no_log=True), ()),
    "aws_replica_regions": (dict(type="list", elements="str"), ("AWS_SECRET_REPLICA_REGIONS",)),
    # gcp
    "gcp_project": (dict(type="str"), ("GCP_PROJECT_ID", "GOOGLE_CLOUD_PROJECT")),
    "gcp_credentials": (dict(type="path", no_log=False), ("GOOGLE_APPLICATION_CREDENTIALS",)),
    "gcp_access_token": (dict(type="str", no_log=True), ("GCP_ACCESS_TOKEN",)),
    "gcp_endpoint": (dict(type="str"), ("GCP_SECRET_MANAGER_ENDPOINT",)),
    "gcp_ca_cert": (dict(type="path"), ("GCP_CA_CERT", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH")),
    "gcp_replication": (dict(type="list", elements="str"), ("GCP_SECRET_REPLICATION",)),
    # azure
    "azure_vault_url": (dict(type="str"), ("AZURE_KEYVAULT_URL",)),
    "azure_tenant_id": (dict(type="str"), ("AZURE_TENANT_ID",)),
    "azure_client_id": (dict(type="str"), ("AZURE_CLIENT_ID",)),
    "azure_client_secret": (dict(type="str", no_log=True), ("AZURE_CLIENT_SECRET",)),
    "azure_auth": (dict(type="str", choices=["auto", "service_principal", "managed_identity", "default"]), ("AZURE_AUTH",)),
    "azure_authority_host": (dict(type="str"), ("AZURE_AUTHORITY_HOST",)),
    "azure_ca_cert": (dict(type="path"), ("AZURE_CA_CERT",)),
    "azure_verify_challenge_resource": (dict(type="bool"), ()),
    # vault
    "vault_addr": (dict(type="str"), ("VAULT_ADDR",)),
    "vault_token": (dict(type="str", no_log=True), ("VAULT_TOKEN",)),
    "vault_role_id": (dict(type="str"), ("VAULT_ROLE_ID",)),
    "vault_secret_id": (dict(type="str", no_log=True), ("VAULT_SECRET_ID",)),
    "vault_namespace": (dict(type="str"), ("VAULT_NAMESPACE",)),
    "vault_mount": (dict(type="str"), ("VAULT_PATH",)),
    "vault_kv_version": (dict(type="int", choices=[1, 2]), ("VAULT_KV_VERSION",)),
    "vault_ca_cert": (dict(type="path"), ("VAULT_CACERT",)),
    "vault_timeout": (dict(type="float"), ("VAULT_CLIENT_TIMEOUT",)),
    # kubernetes
    "k8s_namespace": (dict(type="str"), ("K8S_SECRET_NAMESPACE",)),
    "k8s_secret_name": (dict(type="str"), ("K8S_SECRET_NAME",)),
    "kubeconfig": (dict(type="path"), ("KUBECONFIG",)),
    "k8s_context": (dict(type="str"), ("K8S_CONTEXT",)),
    # local
    "local_path": (dict(type="path"), ("VIBEBOX_LOCAL_PATH",)),
    "local_key_file": (dict(type="path"), ("VIBEBOX_LOCAL_KEY_FILE",)),
}

OPTION_NAMES = tuple(_OPTIONS)
LIST_OPTIONS = tuple(name for name, (spec, _env) in _OPTIONS.items() if spec.get("type") == "list")
#: options whose value is a credential; the lookup base hides them and modules mark them no_log
SECRET_OPTIONS = tuple(name for name, (spec, _env) in _OPTIONS.items() if spec.get("no_log"))
#: provider-specific prefix variables of the seed
PREFIX_ENV = {
    "aws": "AWS_SECRET_PREFIX",
    "gcp": "GCP_SECRET_PREFIX",
    "azure": "AZURE_SECRET_PREFIX",
    "vault": "VAULT_PREFIX",
}


def provider_argument_spec() -> Dict[str, Dict[str, Any]]:
    """A fresh copy of the provider options for a module's argument spec."""
    return {name: dict(spec) for name, (spec, _env) in _OPTIONS.items()}


def env_names(option: str) -> tuple:
    return _OPTIONS[option][1]


def from_module(params: Mapping[str, Any]) -> Dict[str, Any]:
    return {name: params.get(name) for name in OPTION_NAMES}


def from_lookup(get_option) -> Dict[str, Any]:
    """``get_option`` of a lookup plugin -> options dict; unknown options read as None."""
    options: Dict[str, Any] = {}
    for name in OPTION_NAMES:
        try:
            options[name] = get_option(name)
        except KeyError:
            options[name] = None
    return options


def _truthy(text: Optional[str]) -> Optional[bool]:
    if text is None or text == "":
        return None
    return str(text).strip().lower() in ("1", "true", "yes", "on")


def with_environment(options: Mapping[str, Any], env: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """Fill every unset option from the seed's environment variables.

    Done here rather than with Ansible's env_fallback so a lookup and a module given the same
    environment build the same provider. SECRET_CACHE_TTL is milliseconds, as in the seed.
    """
    env = os.environ if env is None else env
    resolved: Dict[str, Any] = {name: options.get(name) for name in OPTION_NAMES}
    for name in OPTION_NAMES:
        if resolved[name] not in (None, ""):
            continue
        for variable in env_names(name):
            if env.get(variable):
                resolved[name] = env[variable]
                break
    if resolved["cache_ttl"] in (None, "") and env.get("SECRET_CACHE_TTL"):
        resolved["cache_ttl"] = float(env["SECRET_CACHE_TTL"]) / 1000.0
    if resolved["vault_kv_version"] not in (None, ""):
        resolved["vault_kv_version"] = int(resolved["vault_kv_version"])
    if resolved["vault_timeout"] not in (None, ""):
        resolved["vault_timeout"] = float(resolved["vault_timeout"])
    if isinstance(resolved["azure_verify_challenge_resource"], str):
        resolved["azure_verify_challenge_resource"] = _truthy(resolved["azure_verify_challenge_resource"])
    for name in LIST_OPTIONS:  # an environment variable (or a lookup's ini entry) gives "a, b"
        if isinstance(resolved[name], str):
            resolved[name] = [item.strip() for item in resolved[name].split(",") if item.strip()]
    return resolved


def fallback_steps(options: Mapping[str, Any]) -> List[Tuple[str, Dict[str, Any], str]]:
    """(provider, options, label) for each entry of ``fallback``, in order; bad entries raise InvalidOption.

    An entry is a provider (``env``, ``local``, ...) or a form a provider defines for itself (AWS:
    ``aws:<region>`` and ``aws_replica_region``, see providers/aws.py ``fallback_steps``). Each step's
    options are the caller's own (unresolved, without the chain), so they mean the same wherever they
    are read.
    """
    from ansible_collections.vibebox.secrets.plugins.module_utils.providers import aws as _aws

    resolved = with_environment(options)
    base = dict(options, fallback=None)
    steps: List[Tuple[str, Dict[str, Any], str]] = []
    for entry in resolved["fallback"] or []:
        text = str(entry).strip()
        key = text.lower()
        if key in PROVIDERS or key in PROVIDER_ALIASES:
            steps.append((text, base, text))
            continue
        own = _aws.fallback_steps(text, base, resolved)
        if own is None:
            raise InvalidOption(
                f"fallback entry '{text}' is not a provider; use one of {', '.join(PROVIDERS)}"
                f" or {' or '.join(_aws.FALLBACK_FORMS)}"
            )
        steps.extend(own)
    return steps


def secret_manager_enabled(env: Optional[Mapping[str, str]] = None) -> bool:
    """ENABLE_SECRET_MANAGER=false is the seed's development mode: references come from env only."""
    env = os.environ if env is None else env
    flag = _truthy(env.get("ENABLE_SECRET_MANAGER"))
    return True if flag is None else flag


# choosing the provider ---------------------------------------------------------------------------------

#: environment variable whose presence selects a provider when none is set, in the original scripts' order
DETECTION = (
    ("VAULT_ADDR", "vault"),
    ("AWS_SECRET_MANAGER_REGION", "aws"),
    ("GCP_PROJECT_ID", "gcp"),
    ("AZURE_KEYVAULT_URL", "azure"),
    ("KUBERNETES_SERVICE_HOST", "kubernetes"),
)
#: extra variables AWX and Automation Controller give every job
AUTOMATION_VARS = ("awx_job_id", "tower_job_id")
#: set by the collection's action plugins in a module's environment when the run is automation (modules
#: do not see extra variables); an operator may set it too, for automation other than AWX
AUTOMATION_ENV = "VIBEBOX_AUTOMATION"
_AWX_ENV = ("JOB_ID", "AWX_HOST")


def normalise_provider(name: Optional[str]) -> Optional[str]:
    """``provider`` as typed -> its canonical name, None when unset; InvalidOption for an unknown one."""
    if name in (None, ""):
        return None
    key = str(name).strip().lower()
    key = PROVIDER_ALIASES.get(key, key)
    if key not in PROVIDERS:
        raise InvalidOption(
            f"unknown provider '{name}'",
            hint=f"Use one of {', '.join(PROVIDERS)}",
        )
    return key


def automation_marker(variables: Optional[Mapping[str, Any]] = None,
                      env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """What shows that this run is an AWX/AAP job (or other automation), or None.

    The value is what an action plugin puts in a module's ``VIBEBOX_AUTOMATION``: the extra variable's
    name, ``JOB_ID`` for AWX's job environment, or the operator's own ``VIBEBOX_AUTOMATION``.
    """
    env = os.environ if env is None else env
    for name in AUTOMATION_VARS:
        if variables and variables.get(name) not in (None, ""):
            return name
    if all(env.get(variable) for variable in _AWX_ENV):
        return _AWX_ENV[0]
    own = str(env.get(AUTOMATION_ENV) or "").strip()
    if own and own.lower() not in ("0", "false", "no", "off"):
        return own
    return None


def automation_reason(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The words for why this run counts as automation, from the environment (see automation_marker)."""
    marker = automation_marker(None, env)
    if marker is None:
        return None
    if marker in AUTOMATION_VARS:
        return f"this run is an AWX/AAP job (the extra variable {marker} is set)"
    if marker == _AWX_ENV[0]:
        return f"this run is an AWX/AAP job ({' and '.join(_AWX_ENV)} are set)"
    return f"this run is automation ({AUTOMATION_ENV} is set)"


def automation_environment(variables: Optional[Mapping[str, Any]] = None,
                           env: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """``env`` (default: this process's) with VIBEBOX_AUTOMATION set when ``variables`` show a job."""
    env = dict(os.environ if env is None else env)
    marker = automation_marker(variables, env)
    if marker and not env.get(AUTOMATION_ENV):
        env[AUTOMATION_ENV] = marker
    return env


@dataclass(frozen=True)
class ProviderChoice:
    """The provider a run uses and how it was chosen (never any variable's value)."""

    provider: str
    #: None: set by the provider option or SECRET_PROVIDER; a variable name: detected from it;
    #: "": nothing set and nothing detected, so the embedded store
    detected_from: Optional[str] = None

    @property
    def automatic(self) -> bool:
        return self.detected_from is not None

    @property
    def notice(self) -> str:
        """Said once per run when the choice was automatic, so an exported variable never silently decides."""
        if self.detected_from:
            why = f"provider '{self.provider}' was chosen because {self.detected_from} is set in the environment"
        else:
            why = (f"none of {', '.join(variable for variable, _provider in DETECTION)} is set, so the embedded"
                   " 'local' store was chosen")
        return (f"vibebox.secrets: no provider is set; {why}. Set the provider option (or SECRET_PROVIDER) to"
                " choose it yourself.")


def choose_provider(resolved: Mapping[str, Any], env: Optional[Mapping[str, str]] = None) -> ProviderChoice:
    """provider option (or SECRET_PROVIDER, already merged) > environment detection > local.

    The embedded store is refused when nothing chose it and the run is automation, unless local_path
    is given: in a job's container it would be created, written and thrown away with the container,
    and a later job (a rollback) would find nothing.
    """
    env = os.environ if env is None else env
    chosen = normalise_provider(resolved.get("provider"))
    if chosen:
        return ProviderChoice(chosen)
    for variable, provider in DETECTION:
        if env.get(variable):
            return ProviderChoice(provider, variable)
    reason = automation_reason(env)
    if reason and not resolved.get("local_path"):
        raise InvalidOption(
            f"no provider is set and {reason}: the embedded local store would be created inside the job's"
            " container and lost when the job ends, and a later job (a rollback) would find nothing",
            provider="local",
            hint="Attach a vibebox.secrets credential to the job template (Vault, AWS Secrets Manager, GCP Secret"
                 " Manager, Azure Key Vault or Kubernetes; each sets SECRET_PROVIDER), or set the provider option."
                 " To keep a local store on storage that outlives the job, set local_path (VIBEBOX_LOCAL_PATH,"
                 " or attach the 'vibebox.secrets local store' credential)",
        )
    return ProviderChoice("local", "")
