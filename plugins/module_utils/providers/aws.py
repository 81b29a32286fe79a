# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""AWS Secrets Manager through boto3.

Why it is written this way:

- The SDK is imported only when a backend is built, so importing this file (or a lookup that may use
  another provider) never needs it, and a host without it gets ProviderNotInstalled naming the package
  (boto3). Only botocore is imported: boto3's own import adds s3transfer and resources, which a
  Secrets Manager client does not use and which cost ~0.17 s before the first read.
- botocore's own retries are switched off (not its ``adaptive`` mode either): each request is retried
  by SecretBackend.request with jittered backoff bounded in time, like every other provider's, and
  two retry layers would multiply the attempts and hide retries from the audit log. Adaptive mode's
  client-side rate limiter learns within one client; an Ansible run makes a client per fork and
  process and reads a host's secrets in one batch request, so it would rarely learn anything.
- Every write carries a ClientRequestToken derived from the name and the value, so a write repeated after
  a lost answer is recognised by AWS and adds no second version. The token becomes the version id, which
  anyone allowed to list versions can see, so it is a slow salted hash (PBKDF2), not a plain digest of a
  possibly short value. Setting a value that an older version already holds makes that version current
  again (AWS ignores the repeated token, so the label is moved explicitly).
- AWS cannot delete one version. ``delete_version`` removes every staging label from it, which makes it
  *deprecated*; AWS removes deprecated versions in the background. Until then this provider refuses to
  read a version that carries no label, so a cleaned-up version is gone for every user of the collection.
- Secrets Manager has no expiry date: it is the tag ``vibebox-expires-at`` (core/expiry.py), which
  DescribeSecret returns as ``expires_at``. GetSecretValue carries no tags, so a lookup cannot judge
  an expiry on AWS without one more request per secret, and does not.
- Reading many names uses BatchGetSecretValue, 20 names per call; when the caller may not use that API
  it falls back to one GetSecretValue per name.
- ``delete`` takes a recovery window of 7-30 days (checked before any call; 0 means force). A primary
  secret with replicas cannot be deleted by AWS, so its replicas are removed first; restore brings back
  the primary only.
- Replica regions and AWS's own rotation (a Lambda) are *settings* of a secret: the secret module keeps
  them in step on every run, after the value. The decision (which regions to add or remove, whether the
  rotation schedule differs) is pure and made before any write, so bad input fails first. Regions not
  listed are left alone unless ``aws_replica_purge`` is true: a replica someone added by hand for
  disaster recovery must not vanish because a task did not name it. Rotation is configured with
  RotateImmediately false, so configuring it never changes the value the same task just wrote (AWS only
  runs the Lambda's testSecret step).
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import re
import uuid
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry
from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    scrub,
    InvalidOption,
    ProviderNotInstalled,
    ProviderThrottled,
    ProviderUnavailable,
    SecretConflict,
    SecretDeleted,
    SecretDenied,
    SecretError,
    SecretNotFound,
    UnsupportedOperation,
    VersionNotFound,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.names import NameRule
from ansible_collections.vibebox.secrets.plugins.module_utils.core.registry import Option, ProviderSpec
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import (
    PREVIOUS,
    Observed,
    Secret,
    SecretMetadata,
    SettingChange,
    VersionInfo,
    is_current,
    iso,
)

PROVIDER = "aws"
PACKAGE = "boto3"
BATCH_SIZE = 20
MIN_RECOVERY_DAYS = 7
MAX_RECOVERY_DAYS = 30
DEFAULT_RECOVERY_DAYS = 30
TOKEN_ITERATIONS = 30_000
CURRENT_STAGE = "AWSCURRENT"
PREVIOUS_STAGE = "AWSPREVIOUS"
#: the staging label a conditional write puts on its new version until it is made current (not
#: AWSPENDING, which belongs to rotation Lambdas)
PENDING_STAGE = "VIBEBOX_PENDING"

_STAGE_NAMES = {CURRENT_STAGE: "current", PREVIOUS_STAGE: "previous"}
_VERSION_ID = re.compile(r"[A-Za-z0-9-]{32,64}")
_THROTTLED = frozenset({
    "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "Throttling",
    "ThrottledException", "RequestThrottled", "RequestThrottledException", "SlowDown", "PriorRequestNotComplete",
})
_TRANSIENT = frozenset({
    "InternalServiceError", "InternalServiceErrorException", "InternalFailure", "InternalServerError",
    "ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException",
})
_BAD_CREDENTIALS = frozenset({
    "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException", "SignatureDoesNotMatch",
    "ExpiredTokenException", "ExpiredToken", "IncompleteSignature", "MissingAuthenticationToken", "AuthFailure",
})
_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
_INVALID = frozenset({
    "InvalidParameterException", "ValidationException", "InvalidParameterValue", "InvalidNextTokenException",
    "MalformedPolicyDocumentException",
})
#: an AWS region name: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, us-isob-east-1
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")
#: a Lambda function ARN (any partition), optionally with a version or alias
_LAMBDA_ARN = re.compile(r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,140}(?::[A-Za-z0-9_$-]{1,128})?")
#: the bounds AWS puts on RotationRules.AutomaticallyAfterDays
MIN_ROTATION_DAYS = 1
MAX_ROTATION_DAYS = 1000
#: the setting names in a module's ``changes`` and diff (named after the options that ask for them)
REPLICAS_SETTING = "aws_replica_regions"
ROTATION_SETTING = "aws_rotation"
_DELETED_WORDS = ("marked for deletion", "marked deleted", "scheduled for deletion", "currently marked deleted")


# pure helpers (unit-tested without a server) -------------------------------------------------------
def request_token(name: str, value: str) -> str:
    """The ClientRequestToken of writing ``value`` to ``name``: same inputs, same token (idempotent writes).

    PBKDF2 with the name as salt: the token is visible as a version id, so it must not be a cheap
    way to test guesses of the value.
    """
    digest = hashlib.pbkdf2_hmac(
        "sha256", value.encode("utf-8"), b"vibebox.secrets/aws/" + name.encode("utf-8"), TOKEN_ITERATIONS, dklen=16
    )
    return str(uuid.UUID(bytes=digest))


def version_selector(version: Optional[str]) -> Dict[str, str]:
    """GetSecretValue arguments for a version: current, previous, a version id or a staging label."""
    if is_current(version) or version == CURRENT_STAGE:
        # explicit, not implied: some emulators keep a "default version" that a label move does not update
        return {"VersionStage": CURRENT_STAGE}
    if version == PREVIOUS:
        return {"VersionStage": PREVIOUS_STAGE}
    text = str(version)
    if _VERSION_ID.fullmatch(text):
        return {"VersionId": text}
    return {"VersionStage": text}


def stage_names(labels: Optional[Iterable[str]]) -> List[str]:
    """AWSCURRENT/AWSPREVIOUS as the collection's 'current'/'previous'; other labels as they are."""
    return [_STAGE_NAMES.get(label, label) for label in (labels or [])]


def recovery_window(recovery_days: Optional[int], force: bool) -> Optional[int]:
    """Days for RecoveryWindowInDays, or None for a forced delete; checked before any call."""
    if force or recovery_days == 0:
        return None
    if recovery_days is None:
        return DEFAULT_RECOVERY_DAYS
    try:
        days = int(recovery_days)
    except (TypeError, ValueError):
        days = -1
    if not MIN_RECOVERY_DAYS <= days <= MAX_RECOVERY_DAYS:
        raise InvalidOption(
            f"recovery_days must be {MIN_RECOVERY_DAYS}-{MAX_RECOVERY_DAYS} for AWS Secrets Manager (got {recovery_days})",
            provider=PROVIDER,
            hint="Use a window of 7 to 30 days, or 0 / force to delete at once without recovery",
        )
    return days


def replica_regions_option(regions: Any) -> Optional[List[str]]:
    """``aws_replica_regions`` checked before any call: region names, each once.

    None stays None (replicas not managed); an empty list means "no replicas" (with aws_replica_purge).
    """
    if regions is None:
        return None
    if isinstance(regions, str):
        regions = regions.split(",")
    found: List[str] = []
    for item in regions:
        region = str(item).strip()
        if not region:
            continue
        if not _REGION.fullmatch(region):
            raise InvalidOption(
                f"aws_replica_regions has '{region}', which is not an AWS region name",
                provider=PROVIDER, hint="Write regions as AWS names them, for example [eu-west-1, us-west-2]",
            )
        if region not in found:
            found.append(region)
    return found


def replica_plan(current: Sequence[str], wanted: Optional[Sequence[str]], purge: bool) -> Tuple[List[str], List[str]]:
    """(regions to add, regions to remove) to go from ``current`` replicas to ``wanted``.

    ``wanted`` None: replicas are not managed. Regions not in ``wanted`` are removed only with ``purge``,
    so a replica added outside this collection survives a task that does not name it.
    """
    if wanted is None:
        return [], []
    add = [region for region in wanted if region not in current]
    remove = [region for region in current if region not in wanted] if purge else []
    return add, remove


@dataclass(frozen=True)
class RotationWanted:
    """What the rotation options ask for: ``enabled`` False turns AWS's rotation off; otherwise on with
    ``lambda_arn`` and ``days`` (either may be None: keep what the secret has)."""

    enabled: bool
    lambda_arn: Optional[str] = None
    days: Optional[int] = None


def rotation_option(enabled: Optional[bool], lambda_arn: Optional[str], days: Any) -> Optional[RotationWanted]:
    """The rotation options checked before any call; None when none is given (rotation not managed)."""
    arn = str(lambda_arn).strip() if lambda_arn not in (None, "") else None
    if days in (None, ""):
        count = None
    else:
        try:
            count = int(days)
        except (TypeError, ValueError):
            count = 0
        if not MIN_ROTATION_DAYS <= count <= MAX_ROTATION_DAYS:
            raise InvalidOption(
                f"aws_rotation_days must be {MIN_ROTATION_DAYS}-{MAX_ROTATION_DAYS} (got {days})", provider=PROVIDER,
                hint="Give the number of days between rotations AWS accepts, or aws_rotation_enabled: false to"
                " turn AWS's rotation off",
            )
    if arn is not None and not _LAMBDA_ARN.fullmatch(arn):
        raise InvalidOption(
            f"aws_rotation_lambda_arn '{arn}' is not the ARN of a Lambda function", provider=PROVIDER,
            hint="Give the whole ARN, arn:aws:lambda:<region>:<account>:function:<name>",
        )
    if enabled is False:
        if arn is not None or count is not None:
            raise InvalidOption(
                "aws_rotation_enabled is false but aws_rotation_lambda_arn or aws_rotation_days is given",
                provider=PROVIDER, hint="Leave out the Lambda and the days to turn rotation off, or enable it",
            )
        return RotationWanted(False)
    if enabled is None and arn is None and count is None:
        return None
    return RotationWanted(True, arn, count)


def rotation_view(described: Mapping[str, Any]) -> Dict[str, Any]:
    """AWS's rotation of a secret as the diff shows it (no value in it)."""
    rules = described.get("RotationRules") or {}
    days = rules.get("AutomaticallyAfterDays")
    return {
        "enabled": bool(described.get("RotationEnabled")),
        "lambda_arn": described.get("RotationLambdaARN") or None,
        "days": int(days) if days else None,
    }


def rotation_plan(current: Mapping[str, Any], wanted: Optional[RotationWanted]) -> Optional[Dict[str, Any]]:
    """The rotation view to reach from ``current`` (rotation_view), or None when nothing changes.

    Raises before any write when rotation is to be turned on without a Lambda or a schedule to use.
    """
    if wanted is None:
        return None
    if not wanted.enabled:
        return dict(current, enabled=False) if current.get("enabled") else None
    target = {
        "enabled": True,
        "lambda_arn": wanted.lambda_arn or current.get("lambda_arn"),
        "days": wanted.days or current.get("days"),
    }
    if not target["lambda_arn"]:
        raise InvalidOption(
            "AWS rotation needs a Lambda function and the secret has none yet", provider=PROVIDER,
            hint="Give aws_rotation_lambda_arn (the function that rotates this secret)",
        )
    if not target["days"]:
        raise InvalidOption(
            "AWS rotation needs a schedule and the secret has none yet", provider=PROVIDER,
            hint="Give aws_rotation_days (days between rotations)",
        )
    return None if target == dict(current) else target


def chunks(items: Sequence[str], size: int) -> Iterator[List[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def utc(moment: Any) -> Optional[_dt.datetime]:
    """boto3 gives local-zone datetimes (moto sometimes epoch numbers): always UTC datetimes here."""
    if moment in (None, ""):
        return None
    if isinstance(moment, (int, float)):
        return _dt.datetime.fromtimestamp(moment, _dt.timezone.utc)
    if isinstance(moment, _dt.datetime):
        if moment.tzinfo is None:
            return moment.replace(tzinfo=_dt.timezone.utc)
        return moment.astimezone(_dt.timezone.utc)
    return None


def translate(
    code: Optional[str],
    message: Optional[str],
    status: Optional[int],
    *,
    operation: str,
    name: Optional[str] = None,
    region: Optional[str] = None,
    secret_value: Optional[str] = None,
) -> SecretError:
    """One core error for one AWS error answer; messages name the IAM action and say what to do."""
    code = code or ""
    status = int(status or 0)
    said = scrub(message or code or f"HTTP {status}", secret_value)
    context = dict(provider=PROVIDER, provider_name=name)
    action = f"secretsmanager:{operation}"
    if code in _THROTTLED or status == 429:
        return ProviderThrottled(f"AWS throttled {operation} ({code or status})", **context)
    if code == "ResourceNotFoundException":
        where = f" in region {region}" if region else ""
        return SecretNotFound(
            f"Secrets Manager has no such secret{where}",
            hint="Check the name, the prefix (AWS_SECRET_PREFIX), aws_region and the account of the credentials",
            **context,
        )
    if code in _DENIED:
        target = f"arn:aws:secretsmanager:{region or '<region>'}:<account>:secret:{name}-*" if name else "the secret"
        return SecretDenied(
            f"AWS denied {action} ({said})",
            hint=f"Allow {action} on {target} in the IAM policy of the caller (and in the secret's resource policy, if it has one)",
            **context,
        )
    if code in _BAD_CREDENTIALS:
        return SecretDenied(
            f"AWS rejected the credentials ({code})",
            hint="Check aws_profile or aws_access_key_id/aws_secret_access_key/aws_session_token; session"
            " credentials expire and must be refreshed",
            **context,
        )
    if code in ("DecryptionFailure", "EncryptionFailure"):
        return SecretDenied(
            f"KMS refused the key operation for {operation} ({said})",
            hint="The caller needs kms:Decrypt (reads) or kms:GenerateDataKey (writes) on the secret's KMS key",
            **context,
        )
    if code == "InvalidRequestException" and any(word in said.lower() for word in _DELETED_WORDS):
        return SecretDeleted(
            "it is scheduled for deletion",
            hint="Restore it within the recovery window (vibebox.secrets.secret with state: present restores and"
            " sets it), or delete it with force to free the name",
            **context,
        )
    if code in ("ResourceExistsException", "PreconditionNotMetException"):
        return SecretConflict(f"AWS refused {operation}: {said}", hint="Read the secret again and repeat the change",
                              **context)
    if code in _TRANSIENT or status >= 500:
        return ProviderUnavailable(f"AWS failed {operation} ({code or status})", retryable=True, **context)
    if code in _INVALID:
        return InvalidOption(f"AWS rejected {operation}: {said}", **context)
    if code == "LimitExceededException":
        return ProviderUnavailable(f"a Secrets Manager quota is exhausted ({said})", retryable=False,
                                   hint="Delete unused secrets or versions, or ask AWS for a higher quota", **context)
    if code == "InvalidRequestException":
        return UnsupportedOperation(f"AWS refused {operation} in the secret's current state: {said}", **context)
    return ProviderUnavailable(f"unexpected AWS error {code or status} from {operation}: {said}", retryable=False,
                               **context)


def _sdk():
    """botocore, the part of boto3 this provider uses.

    boto3's own import pulls in s3transfer and its resource layer (~0.17 s here) and gives nothing a
    Secrets Manager client needs; a missing boto3 is still reported as the package to install.
    """
    try:
        import botocore.config
        import botocore.exceptions
        import botocore.session
    except ImportError as exc:
        raise ProviderNotInstalled(PROVIDER, PACKAGE, exc)
    return botocore


#: botocore's loader of service definitions (static JSON), shared by every backend of this process:
#: loading the Secrets Manager model again for each backend costs ~0.1 s, and a run builds many
_LOADER: List[Any] = []


def _botocore_session(botocore: Any, profile: Optional[str]) -> Any:
    """A new botocore session (credentials, region: per backend) over the shared, read-only loader."""
    import botocore.loaders

    if not _LOADER:
        _LOADER.append(botocore.loaders.create_loader())
    session = botocore.session.Session(profile=profile or None)
    session.register_component("data_loader", _LOADER[0])
    return session


# fallback entries of its own ----------------------------------------------------------------------------
#: ``fallback`` entry meaning "AWS again, in each region of aws_replica_regions"
REPLICA_FALLBACK = "aws_replica_region"
#: how the two forms are written, for error messages
FALLBACK_FORMS = ("'aws:<region>'", f"'{REPLICA_FALLBACK}'")


def fallback_steps(entry: str, base: Mapping[str, Any],
                   resolved: Mapping[str, Any]) -> Optional[List[tuple]]:
    """The (provider, options, label) steps an AWS ``fallback`` entry stands for; None if it is not one.

    ``aws:<region>`` reads with the same options in another region; ``aws_replica_region`` tries each
    region of ``aws_replica_regions`` in turn, so a region outage can be ridden out on the replicas
    AWS keeps in step. ``base`` are the caller's unresolved options (the steps keep them).
    """
    text = entry.strip()
    key = text.lower()
    if key == REPLICA_FALLBACK:
        regions = resolved.get("aws_replica_regions") or []
        if not regions:
            raise InvalidOption(
                f"fallback '{text}' reads from the AWS replica regions, but none are set: give"
                " aws_replica_regions (or AWS_SECRET_REPLICA_REGIONS), or name one with 'aws:<region>'",
                provider=PROVIDER,
            )
        return [(PROVIDER, dict(base, aws_region=region), f"aws ({region})") for region in regions]
    if key.startswith("aws:"):
        region = text[4:].strip()
        if not region:
            raise InvalidOption(f"fallback '{text}' names no region: write it as 'aws:<region>', e.g. 'aws:eu-west-1'",
                                provider=PROVIDER)
        return [(PROVIDER, dict(base, aws_region=region), f"aws ({region})")]
    return None


# the backend --------------------------------------------------------------------------------------------
class AwsBackend(SecretBackend):
    name = PROVIDER
    batch_size = BATCH_SIZE

    def is_current(self, version: Optional[str]) -> bool:
        return is_current(version) or version == CURRENT_STAGE

    def __init__(
        self,
        region: Optional[str] = None,
        profile: Optional[str] = None,
        endpoint_url: Optional[str] = None,
        access_key_id: Optional[str] = None,
        secret_access_key: Optional[str] = None,
        session_token: Optional[str] = None,
        replica_regions: Optional[Sequence[str]] = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        replica_purge: bool = False,
        rotation_enabled: Optional[bool] = None,
        rotation_lambda_arn: Optional[str] = None,
        rotation_days: Optional[int] = None,
    ) -> None:
        if bool(access_key_id) != bool(secret_access_key):
            raise InvalidOption(
                "aws_access_key_id and aws_secret_access_key must be given together",
                provider=PROVIDER,
                hint="Give both, or neither to use the profile, environment or instance role",
            )
        # settings are checked before the SDK is even loaded: bad input fails before any call
        self.rotation = rotation_option(rotation_enabled, rotation_lambda_arn, rotation_days)
        self.replica_purge = bool(replica_purge)
        wanted = replica_regions_option(replica_regions)
        botocore = _sdk()
        self._errors = botocore.exceptions
        try:
            session = _botocore_session(botocore, profile)
            if access_key_id:
                session.set_credentials(access_key_id, secret_access_key, session_token or None)
            config = botocore.config.Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                user_agent_extra="vibebox.secrets",
            )
            self._client = session.create_client("secretsmanager", region_name=region or None,
                                                 endpoint_url=endpoint_url or None, config=config)
        except self._errors.ProfileNotFound:
            raise InvalidOption(f"the AWS profile '{profile}' does not exist", provider=PROVIDER,
                                hint="Check aws_profile (AWS_PROFILE) and ~/.aws/config") from None
        except self._errors.NoRegionError:
            raise InvalidOption("no AWS region is set", provider=PROVIDER,
                                hint="Set aws_region or AWS_SECRET_MANAGER_REGION (or a region in the profile)") from None
        except ValueError as exc:  # e.g. a malformed endpoint URL
            raise InvalidOption(f"cannot build the AWS client: {exc}", provider=PROVIDER) from None
        self.region = self._client.meta.region_name
        #: the replica regions asked for (None: not managed); a new secret is created with them
        self.replicas_wanted = wanted
        self.replica_regions = list(self.replicas_wanted or [])

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "AwsBackend":
        return cls(
            region=options.get("aws_region"),
            profile=options.get("aws_profile"),
            endpoint_url=options.get("aws_endpoint_url"),
            access_key_id=options.get("aws_access_key_id"),
            secret_access_key=options.get("aws_secret_access_key"),
            session_token=options.get("aws_session_token"),
            replica_regions=options.get("aws_replica_regions"),
            replica_purge=bool(options.get("aws_replica_purge")),
            rotation_enabled=options.get("aws_rotation_enabled"),
            rotation_lambda_arn=options.get("aws_rotation_lambda_arn"),
            rotation_days=options.get("aws_rotation_days"),
        )

    # transport -------------------------------------------------------------------------------------
    def _call(self, operation: str, name: Optional[str], secret_value: Optional[str] = None,
              count_as: Optional[str] = None, **params: Any) -> Dict:
        """One API call, retried alone (SecretBackend.request) when the service throttles: a write is
        several calls (describe, create or put, tag), and starting the whole write over for one
        throttled call multiplies the odds of giving up. Its retries count for ``count_as`` or ``name``."""
        return self.request(lambda: self._call_once(operation, name, secret_value, **params), count_as or name)

    def _call_once(self, operation: str, name: Optional[str], secret_value: Optional[str] = None, **params: Any) -> Dict:
        """One API call; every botocore failure becomes a core error here."""
        errors = self._errors
        api = "".join(part.capitalize() for part in operation.split("_"))
        try:
            return getattr(self._client, operation)(**params)
        except errors.ClientError as exc:
            error = exc.response.get("Error") or {}
            status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            raise translate(error.get("Code"), error.get("Message"), status, operation=api, name=name,
                            region=self.region, secret_value=secret_value) from None
        except (errors.ConnectionError, errors.HTTPClientError) as exc:
            raise self._unreachable(exc, name) from None
        except (errors.NoCredentialsError, errors.PartialCredentialsError, errors.CredentialRetrievalError) as exc:
            raise ProviderUnavailable(
                f"no usable AWS credentials ({type(exc).__name__})", retryable=False, provider=PROVIDER, provider_name=name,
                hint="Set aws_profile, or aws_access_key_id and aws_secret_access_key, or run with an instance role",
            ) from None
        except errors.ParamValidationError as exc:
            raise InvalidOption(f"invalid request for {api}: {scrub(str(exc), secret_value)}", provider=PROVIDER,
                                provider_name=name) from None
        except errors.BotoCoreError as exc:
            raise ProviderUnavailable(f"the AWS request {api} failed ({type(exc).__name__})", retryable=False,
                                      provider=PROVIDER, provider_name=name) from None

    def _unreachable(self, exc: BaseException, name: Optional[str]) -> ProviderUnavailable:
        """No answer from AWS: the endpoint botocore tried (scheme, host, port) and refused/timed out/TLS/DNS."""
        from ansible_collections.vibebox.secrets.plugins.module_utils.core import network  # only once a request failed

        errors = self._errors
        failure = None
        service, address = "Secrets Manager", "aws_endpoint_url and aws_region"
        if isinstance(exc, errors.ProxyConnectionError):
            service, address = "the HTTP proxy on the way to Secrets Manager", "HTTPS_PROXY / HTTP_PROXY"
        elif isinstance(exc, errors.SSLError):
            failure = network.TLS
        elif isinstance(exc, (errors.ConnectTimeoutError, errors.ReadTimeoutError)):
            failure = network.TIMED_OUT
        elif isinstance(exc, errors.ConnectionClosedError):
            failure = network.CLOSED
        endpoint = network.tried_endpoint(exc, getattr(self._client.meta, "endpoint_url", None))
        return network.unreachable(service, endpoint, exc, failure=failure, provider=PROVIDER, provider_name=name,
                                   address=address, ca="the CA bundle (AWS_CA_BUNDLE)")

    # helpers ---------------------------------------------------------------------------------------
    def _describe_raw(self, name: str, missing_ok: bool = False) -> Optional[Dict[str, Any]]:
        try:
            return self._call("describe_secret", name, SecretId=name)
        except SecretNotFound:
            if missing_ok:
                return None
            raise

    def _deleted(self, name: str, described: Optional[Mapping[str, Any]] = None) -> SecretDeleted:
        """SecretDeleted with the date AWS reports, read with one describe when not known yet."""
        if described is None:
            try:
                described = self._describe_raw(name)
            except SecretError:
                described = {}
        when = utc((described or {}).get("DeletedDate"))
        date = f" (AWS DeletedDate: {when.isoformat()})" if when else ""
        return SecretDeleted(
            f"it is scheduled for deletion{date} and cannot be read or changed until it is restored",
            provider=PROVIDER,
            provider_name=name,
            hint="Restore it within the recovery window (vibebox.secrets.secret with state: present restores and sets"
            " it), or delete it with force to free the name",
        )

    @staticmethod
    def _current_id(described: Mapping[str, Any]) -> Optional[str]:
        for version_id, labels in (described.get("VersionIdsToStages") or {}).items():
            if CURRENT_STAGE in (labels or []):
                return version_id
        return None

    @staticmethod
    def _tags(described: Mapping[str, Any]) -> Dict[str, str]:
        return {item["Key"]: item.get("Value", "") for item in described.get("Tags") or [] if "Key" in item}

    def _meta_from_described(self, name: str, described: Mapping[str, Any]) -> SecretMetadata:
        mapping = described.get("VersionIdsToStages") or {}
        current = self._current_id(described)
        return SecretMetadata(
            name=name,
            version=current,
            created_at=utc(described.get("CreatedDate")),
            updated_at=utc(described.get("LastChangedDate")),
            tags=self._tags(described),
            description=described.get("Description") or None,
            stages=["current"] if current else [],
            provider_name=described.get("Name") or name,
            deleted_at=utc(described.get("DeletedDate")),
            versions_count=len([labels for labels in mapping.values() if labels]),
            rotation=self._rotation(described),
        )

    @staticmethod
    def _rotation(described: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
        """AWS's own rotation (a Lambda) when RotationEnabled: who rotates the secret, and when next."""
        if not described.get("RotationEnabled"):
            return None
        arn = described.get("RotationLambdaARN") or ""
        rules = described.get("RotationRules") or {}
        every = rules.get("AutomaticallyAfterDays")
        return {
            "by": "aws-lambda",
            "lambda": arn,
            "schedule": rules.get("ScheduleExpression") or (f"every {every} days" if every else None),
            "last": iso(utc(described.get("LastRotatedDate"))),
            "next": iso(utc(described.get("NextRotationDate"))),
        }

    @staticmethod
    def _value(answer: Mapping[str, Any]) -> str:
        if answer.get("SecretString") is not None:
            return answer["SecretString"]
        binary = answer.get("SecretBinary")
        if binary is not None:  # binary secrets come back base64-encoded, as text
            return base64.b64encode(binary if isinstance(binary, bytes) else str(binary).encode()).decode("ascii")
        return ""

    def _secret(self, name: str, answer: Mapping[str, Any]) -> Secret:
        stages = stage_names(answer.get("VersionStages"))
        return Secret(
            self._value(answer),
            SecretMetadata(
                name=name,
                version=answer.get("VersionId"),
                updated_at=utc(answer.get("CreatedDate")),
                stages=stages,
                provider_name=answer.get("Name") or name,
            ),
        )

    def _apply_metadata(self, name: str, described: Mapping[str, Any], description: Optional[str],
                        tags: Optional[Mapping[str, str]]) -> None:
        """Change only what differs: description with UpdateSecret (no new version), tags with (Un)TagResource."""
        if description is not None and description != (described.get("Description") or ""):
            self._call("update_secret", name, SecretId=name, Description=description)
        if tags is None:
            return
        current = self._tags(described)
        wanted = {str(key): str(item) for key, item in tags.items()}
        removed = [key for key in current if key not in wanted]
        changed = [{"Key": key, "Value": item} for key, item in wanted.items() if current.get(key) != item]
        if removed:
            self._call("untag_resource", name, SecretId=name, TagKeys=removed)
        if changed:
            self._call("tag_resource", name, SecretId=name, Tags=changed)

    def _remove_replicas(self, name: str, described: Mapping[str, Any]) -> None:
        regions = [item.get("Region") for item in described.get("ReplicationStatus") or [] if item.get("Region")]
        if regions:
            self._call("remove_regions_from_replication", name, SecretId=name, RemoveReplicaRegions=regions)

    # SecretBackend ---------------------------------------------------------------------------------
    def get(self, name: str, version: Optional[str] = None) -> Secret:
        selector = version_selector(version)
        try:
            answer = self._call("get_secret_value", name, SecretId=name, **selector)
        except SecretDeleted:
            raise self._deleted(name) from None
        except SecretNotFound:
            if selector.get("VersionStage") == CURRENT_STAGE:
                raise
            described = self._describe_raw(name)  # raises SecretNotFound when the secret itself is missing
            if described.get("DeletedDate"):
                raise self._deleted(name, described) from None
            if version == PREVIOUS:
                raise VersionNotFound(
                    "it has no previous version (no version carries AWSPREVIOUS)", provider=PROVIDER, provider_name=name,
                    hint="A previous version exists only after the secret has been changed or rotated",
                ) from None
            raise VersionNotFound(
                f"version '{version}' does not exist", provider=PROVIDER, provider_name=name,
                hint="Use current, previous, a version id or a staging label from vibebox.secrets.secret_info",
            ) from None
        if selector.get("VersionId") and not answer.get("VersionStages"):
            raise VersionNotFound(
                f"version '{version}' carries no staging label any more: it is deprecated (cleaned up after a"
                " rotation) and AWS removes it in the background",
                provider=PROVIDER, provider_name=name,
                hint="Read current or previous, or a version that still has a staging label",
            )
        return self._secret(name, answer)

    def get_many(self, names: Iterable[str]) -> Dict[str, object]:
        unique = list(dict.fromkeys(names))
        results: Dict[str, object] = {}
        for chunk in chunks(unique, BATCH_SIZE):
            try:
                self._batch(chunk, results)
            except SecretDenied:
                # the caller may lack secretsmanager:BatchGetSecretValue but still read each secret
                results.update(super().get_many(chunk))
        # a name the batch answered with a transient error (its own throttling) is read again alone,
        # under the retry of that single request; the batch request itself succeeded
        again = [key for key, outcome in results.items() if isinstance(outcome, ProviderUnavailable) and outcome.retryable]
        for key in again:
            self._count_retry(key)
        results.update(super().get_many(again))
        return results

    def _batch(self, chunk: List[str], results: Dict[str, object]) -> None:
        found: Dict[str, object] = {}
        token: Optional[str] = None
        while True:
            params: Dict[str, Any] = {"SecretIdList": chunk}
            if token:
                params["NextToken"] = token
            answer = self._call("batch_get_secret_value", None, count_as=chunk[0], **params)
            for item in answer.get("SecretValues") or []:
                key = item.get("Name") if item.get("Name") in chunk else item.get("ARN")
                if key:
                    found[key] = self._secret(key, item)
            for problem in answer.get("Errors") or []:
                key = problem.get("SecretId")
                if not key:
                    continue
                error = translate(problem.get("ErrorCode"), problem.get("Message"), 400,
                                  operation="BatchGetSecretValue", name=key, region=self.region)
                found[key] = self._deleted(key) if isinstance(error, SecretDeleted) else error
            token = answer.get("NextToken")
            if not token:
                break
        for key in chunk:
            results[key] = found.get(key) or SecretNotFound(
                "Secrets Manager returned neither a value nor an error for it", provider=PROVIDER, provider_name=key,
                hint="Check the name, the prefix and aws_region",
            )

    def set(self, name: str, value: str, description: Optional[str] = None,
            tags: Optional[Dict[str, str]] = None, expect_version: Optional[str] = None) -> SecretMetadata:
        if expect_version is not None:
            return self._set_if(name, value, description, tags, expect_version)
        return self._set(name, value, description, tags, again=True)

    def _conflict(self, name: str, why: str) -> SecretConflict:
        return SecretConflict(
            f"another writer changed it first ({why}); nothing was made current",
            provider=PROVIDER, provider_name=name,
            hint="Read the secret again and repeat the change if it is still needed",
        )

    def _set_if(self, name: str, value: str, description: Optional[str], tags: Optional[Dict[str, str]],
                expected: str) -> SecretMetadata:
        """A write that happens only while ``expected`` is the current version (``""``: no secret yet).

        Secrets Manager has no check-and-set on PutSecretValue, but its staging labels give one: the
        new version is stored under a label of our own (ClientRequestToken: its id), then AWSCURRENT
        is moved to it with RemoveFromVersionId=<the version read>, which AWS refuses when AWSCURRENT
        has moved since. Of two writers that read the same version, exactly one moves the label; the
        other's version is left with no label (deprecated, never current, removed by AWS).
        """
        described = self._describe_raw(name, missing_ok=True)
        if expected == "":
            if described is not None:
                raise self._conflict(name, "it exists already")
            params: Dict[str, Any] = {"Name": name, "SecretString": value, "ClientRequestToken": request_token(name, value)}
            if description:
                params["Description"] = description
            if tags:
                params["Tags"] = [{"Key": str(key), "Value": str(item)} for key, item in tags.items()]
            if self.replica_regions:
                params["AddReplicaRegions"] = [{"Region": region} for region in self.replica_regions]
            try:
                answer = self._call("create_secret", name, secret_value=value, **params)
            except SecretConflict:
                raise self._conflict(name, "another writer created it first") from None
            return SecretMetadata(
                name=name, version=answer.get("VersionId") or params["ClientRequestToken"], tags=dict(tags or {}),
                description=description or None, stages=["current"],
                provider_name=name, versions_count=1,
            )
        if described is None:
            raise self._conflict(name, "it no longer exists")
        if described.get("DeletedDate"):
            raise self._deleted(name, described)
        current = self._current_id(described)
        if current != expected:
            raise self._conflict(name, f"its current version is {current}, not {expected}")
        answer = self._call("put_secret_value", name, secret_value=value, SecretId=name, SecretString=value,
                            ClientRequestToken=request_token(name, value), VersionStages=[PENDING_STAGE])
        version_id = answer.get("VersionId") or request_token(name, value)
        if version_id != expected:
            try:
                self._call("update_secret_version_stage", name, SecretId=name, VersionStage=CURRENT_STAGE,
                           MoveToVersionId=version_id, RemoveFromVersionId=expected)
            except (InvalidOption, UnsupportedOperation):
                moved = self._current_id(self._describe_raw(name, missing_ok=True) or {})
                self._unlabel(name, version_id)
                if moved != expected:
                    raise self._conflict(name, f"AWSCURRENT moved to version {moved} first") from None
                raise
            self._unlabel(name, version_id)
        self._apply_metadata(name, described, description, tags)
        return SecretMetadata(
            name=name,
            version=version_id,
            created_at=utc(described.get("CreatedDate")),
            tags=dict(tags) if tags is not None else self._tags(described),
            description=description if description is not None else (described.get("Description") or None),
            stages=["current"],
            provider_name=described.get("Name") or name,
        )

    def _unlabel(self, name: str, version_id: str) -> None:
        """Take our pending label off a version (best effort: it moves to the next write anyway)."""
        try:
            self._call("update_secret_version_stage", name, SecretId=name, VersionStage=PENDING_STAGE,
                       RemoveFromVersionId=version_id)
        except SecretError:
            pass

    def _set(self, name: str, value: str, description: Optional[str], tags: Optional[Dict[str, str]],
             again: bool, seen: Optional[Tuple[Optional[Dict[str, Any]]]] = None) -> SecretMetadata:
        """``seen``: (DescribeSecret's answer or None when absent), when the caller has just read it."""
        token = request_token(name, value)
        described = seen[0] if seen is not None else self._describe_raw(name, missing_ok=True)
        if described is None:
            params: Dict[str, Any] = {"Name": name, "SecretString": value, "ClientRequestToken": token}
            if description:
                params["Description"] = description
            if tags:
                params["Tags"] = [{"Key": str(key), "Value": str(item)} for key, item in tags.items()]
            if self.replica_regions:
                params["AddReplicaRegions"] = [{"Region": region} for region in self.replica_regions]
            try:
                answer = self._call("create_secret", name, secret_value=value, **params)
            except SecretConflict:
                if not again:
                    raise
                return self._set(name, value, description, tags, again=False)  # created by someone else just now
            except SecretDeleted:
                raise ProviderUnavailable(
                    "AWS is still removing a force-deleted secret with this name", provider=PROVIDER, provider_name=name,
                    hint="Try again in a few seconds",
                ) from None
            return SecretMetadata(
                name=name, version=answer.get("VersionId") or token, tags=dict(tags or {}),
                description=description or None, stages=["current"],
                provider_name=name, versions_count=1,
            )
        if described.get("DeletedDate"):
            raise self._deleted(name, described)
        answer = self._call("put_secret_value", name, secret_value=value, SecretId=name, SecretString=value,
                            ClientRequestToken=token)
        version_id = answer.get("VersionId") or token
        if CURRENT_STAGE not in (answer.get("VersionStages") or [CURRENT_STAGE]):
            # an older version already holds this value (same token): AWS ignored the write, so make it current
            current = self._current_id(self._describe_raw(name))
            if current != version_id:
                params = {"SecretId": name, "VersionStage": CURRENT_STAGE, "MoveToVersionId": version_id}
                if current:
                    params["RemoveFromVersionId"] = current
                self._call("update_secret_version_stage", name, **params)
        self._apply_metadata(name, described, description, tags)
        return SecretMetadata(
            name=name,
            version=version_id,
            created_at=utc(described.get("CreatedDate")),
            tags=dict(tags) if tags is not None else self._tags(described),
            description=description if description is not None else (described.get("Description") or None),
            stages=["current"],
            provider_name=described.get("Name") or name,
        )

    # lean writes: one read before a write, then the write alone ----------------------------------------
    def observe(self, name: str, value: Optional[str] = None, need_metadata: bool = True) -> Optional[Observed]:
        """One request. Without description or tags to compare, GetSecretValue (value and version; a
        missing secret answers ResourceNotFound). With them, DescribeSecret: it has description, tags and
        the current version id, and a version this collection wrote has the id request_token(name,
        value), so an equal value is known without reading it (another writer's version is read)."""
        if need_metadata or value is None:
            described = self._describe_raw(name, missing_ok=True)
            if described is None:
                return None
            observed = Observed(self._meta_from_described(name, described), raw=described)
            if value is not None and not described.get("DeletedDate"):
                observed.same_value = self._current_id(described) == request_token(name, value) or None
            return observed
        try:
            answer = self._call("get_secret_value", name, SecretId=name, VersionStage=CURRENT_STAGE)
        except SecretNotFound:
            return None
        except SecretDeleted:
            described = self._describe_raw(name, missing_ok=True)
            return None if described is None else Observed(self._meta_from_described(name, described), raw=described)
        secret = self._secret(name, answer)
        secret.metadata.stages = ["current"]
        return Observed(secret.metadata, value=secret.value, metadata_known=False)

    def write_observed(self, name: str, value: Optional[str], description: Optional[str],
                       tags: Optional[Dict[str, str]], observed: Optional[Observed]) -> SecretMetadata:
        """CreateSecret (with description and tags) or PutSecretValue, with what observe() saw instead of
        a DescribeSecret of its own; tags and description are changed only where they differ."""
        if observed is not None and observed.deleted:
            return super().write_observed(name, value, description, tags, observed)
        described = observed.raw if observed is not None and isinstance(observed.raw, dict) else None
        if observed is not None and described is None:
            if description is not None or tags is not None:
                described = self._describe_raw(name)
            else:
                described = {"Name": name}  # nothing to compare: value only
        if value is None:
            return self.update_metadata(name, description, tags) if described is None else self._update_known(
                name, described, description, tags)
        return self._set(name, value, description, tags, again=True, seen=(described,))

    def _update_known(self, name: str, described: Dict[str, Any], description: Optional[str],
                      tags: Optional[Dict[str, str]]) -> SecretMetadata:
        self._apply_metadata(name, described, description, tags)
        meta = self._meta_from_described(name, described)
        if description is not None:
            meta.description = description or None
        if tags is not None:
            meta.tags = dict(tags)
            meta.expires_at = expiry.from_tags(tags)
        return meta

    def update_metadata(self, name: str, description: Optional[str] = None,
                        tags: Optional[Dict[str, str]] = None) -> SecretMetadata:
        described = self._describe_raw(name)
        if described.get("DeletedDate"):
            raise self._deleted(name, described)
        self._apply_metadata(name, described, description, tags)
        return self.describe(name)

    # settings: replica regions and AWS's own rotation ------------------------------------------------
    @property
    def manages_settings(self) -> bool:
        return self.replicas_wanted is not None or self.rotation is not None

    def settings_changes(self, name: str, observed: Optional[Observed], creating: bool) -> List[SettingChange]:
        """Replica regions and rotation that differ from the options, from the module's DescribeSecret
        (one more DescribeSecret only when its read did not carry one). A new secret gets its replicas
        from CreateSecret; they are listed here so the diff and check mode say so."""
        if creating:
            described: Mapping[str, Any] = {}
        elif observed is not None and isinstance(observed.raw, dict) and "ARN" in observed.raw:
            described = observed.raw
        else:
            described = self._describe_raw(name)
        if self.region and self.region in (self.replicas_wanted or []):
            # not refused when the backend is built: a fallback read in a replica region keeps the list
            raise InvalidOption(
                f"aws_replica_regions has '{self.region}', the secret's own region (aws_region): a secret cannot be"
                " replicated to the region it lives in",
                provider=PROVIDER, provider_name=name, hint="List only the other regions the secret should be copied to",
            )
        changes: List[SettingChange] = []
        statuses = {item.get("Region"): item for item in described.get("ReplicationStatus") or [] if item.get("Region")}
        current = sorted(statuses)
        add, remove = replica_plan(current, self.replicas_wanted, self.replica_purge)
        failed = [region for region in self.replicas_wanted or [] if (statuses.get(region) or {}).get("Status") == "Failed"]
        if failed:
            why = scrub(str(statuses[failed[0]].get("StatusMessage") or "no reason given"), None)
            raise UnsupportedOperation(
                f"its replica in {', '.join(failed)} failed ({why})", provider=PROVIDER, provider_name=name,
                hint="A secret of the same name in that region usually causes it: delete that one, or remove"
                " the region with aws_replica_purge: true and leave it out of aws_replica_regions",
            )
        if add or remove:
            after = sorted([region for region in current if region not in remove] + add)
            changes.append(SettingChange(REPLICAS_SETTING, current, after))
        before = rotation_view(described)
        target = rotation_plan(before, self.rotation)
        if target is not None:
            changes.append(SettingChange(ROTATION_SETTING, before, target))
        return changes

    def apply_settings(self, name: str, changes: Sequence[SettingChange], creating: bool) -> None:
        for change in changes:
            if change.field == REPLICAS_SETTING and not creating:  # CreateSecret already added them
                self._apply_replicas(name, list(change.before), list(change.after))
            elif change.field == ROTATION_SETTING:
                self._apply_rotation(name, change.after)

    def _apply_replicas(self, name: str, before: List[str], after: List[str]) -> None:
        add = [region for region in after if region not in before]
        remove = [region for region in before if region not in after]
        if remove:
            self._call("remove_regions_from_replication", name, SecretId=name, RemoveReplicaRegions=remove)
        if add:
            answer = self._call("replicate_secret_to_regions", name, SecretId=name,
                                AddReplicaRegions=[{"Region": region} for region in add],
                                ForceOverwriteReplicaSecret=False)
            failed = [item for item in answer.get("ReplicationStatus") or []
                      if item.get("Region") in add and item.get("Status") == "Failed"]
            if failed:
                raise UnsupportedOperation(
                    f"AWS could not replicate it to {failed[0].get('Region')} ({failed[0].get('StatusMessage')})",
                    provider=PROVIDER, provider_name=name,
                    hint="A secret of the same name in that region usually causes it: delete that one, then run again",
                )

    def _apply_rotation(self, name: str, target: Mapping[str, Any]) -> None:
        if not target.get("enabled"):
            self._call("cancel_rotate_secret", name, SecretId=name)
            return
        # RotateImmediately false: configuring rotation must not replace the value this run just wrote
        self._call("rotate_secret", name, SecretId=name, RotationLambdaARN=target["lambda_arn"],
                   RotationRules={"AutomaticallyAfterDays": int(target["days"])}, RotateImmediately=False)

    def delete(self, name: str, recovery_days: Optional[int] = None, force: bool = False) -> None:
        days = recovery_window(recovery_days, force)  # before any call
        # AWS answers success to a forced delete of a name that does not exist: look first, to say so
        described = self._describe_raw(name)
        if days is not None and described.get("DeletedDate"):
            return  # already scheduled for deletion
        self._remove_replicas(name, described)
        if days is None:
            self._call("delete_secret", name, SecretId=name, ForceDeleteWithoutRecovery=True)
        else:
            self._call("delete_secret", name, SecretId=name, RecoveryWindowInDays=days)

    def restore(self, name: str) -> SecretMetadata:
        self._call("restore_secret", name, SecretId=name)
        return self.describe(name)

    def describe(self, name: str) -> SecretMetadata:
        return self._meta_from_described(name, self._describe_raw(name))

    def versions(self, name: str) -> List[VersionInfo]:
        found: List[VersionInfo] = []
        token: Optional[str] = None
        while True:
            params: Dict[str, Any] = {"SecretId": name, "IncludeDeprecated": True, "MaxResults": 100}
            if token:
                params["NextToken"] = token
            try:
                answer = self._call("list_secret_version_ids", name, **params)
            except SecretDeleted:
                raise self._deleted(name) from None
            for item in answer.get("Versions") or []:
                labels = item.get("VersionStages") or []
                # a version with no staging label is deprecated: AWS removes it and the collection no longer
                # reads it, so cleanup must count it as gone (or every run would "destroy" it again)
                found.append(VersionInfo(item["VersionId"], utc(item.get("CreatedDate")), stage_names(labels),
                                         enabled=bool(labels), destroyed=not labels))
            token = answer.get("NextToken")
            if not token:
                break
        order = {"current": 0, "previous": 1}

        def key(item: VersionInfo):
            rank = min([order.get(stage, 2) for stage in item.stages] or [3])
            stamp = item.created_at.timestamp() if item.created_at else 0.0
            return (rank, -stamp)

        return sorted(found, key=key)

    def delete_version(self, name: str, version: str) -> None:
        described = self._describe_raw(name)
        if described.get("DeletedDate"):
            raise self._deleted(name, described)
        mapping = described.get("VersionIdsToStages") or {}
        if is_current(version) or version == CURRENT_STAGE:
            target = self._current_id(described)
        elif version in (PREVIOUS, PREVIOUS_STAGE):
            target = next((vid for vid, labels in mapping.items() if PREVIOUS_STAGE in (labels or [])), None)
        else:
            target = str(version)
        labels = list(mapping.get(target) or []) if target else []
        if CURRENT_STAGE in labels:
            raise UnsupportedOperation(
                "the current version cannot be removed", provider=PROVIDER, provider_name=name,
                hint="Rotate first, then clean up the old version",
            )
        # AWS cannot delete a version: removing its last label deprecates it and AWS removes it later
        for label in labels:
            self._call("update_secret_version_stage", name, SecretId=name, VersionStage=label,
                       RemoveFromVersionId=target)

    def list(self, prefix: str = "") -> List[str]:
        names: List[str] = []
        token: Optional[str] = None
        while True:
            params: Dict[str, Any] = {"MaxResults": 100}
            if prefix:
                params["Filters"] = [{"Key": "name", "Values": [prefix]}]
            if token:
                params["NextToken"] = token
            answer = self._call("list_secrets", None, **params)
            for item in answer.get("SecretList") or []:
                # the service's name filter is a loose prefix match: check it exactly here
                if item.get("Name", "").startswith(prefix) and not item.get("DeletedDate"):
                    names.append(item["Name"])
            token = answer.get("NextToken")
            if not token:
                break
        return sorted(set(names))

    def identity(self) -> Dict[str, str]:
        """Account and region, so a rollback cannot write into another account than its migration.

        The account comes from STS GetCallerIdentity (any identity may call it unless a policy denies
        it), asked with the client's own credentials and at its endpoint when that is not AWS's (a
        test server, a local emulator). When STS denies it or cannot be reached at all (a private
        network without an STS endpoint), the endpoint stands in for the account; a throttled or
        failing STS is retried, and raises rather than recording another identity than the last run.
        The endpoint is recorded too: two emulators share one fake account.
        """
        endpoint = str(self._client.meta.endpoint_url or "").rstrip("/")
        host = endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
        custom = not (host.endswith(".amazonaws.com") or host.endswith(".amazonaws.com.cn"))
        found = {"provider": PROVIDER, "region": str(self.region or "")}
        credentials = self._client._get_credentials()  # the credentials Secrets Manager is called with
        account = None
        if credentials is not None:
            try:
                account = self.request(lambda: self._caller_account(credentials, endpoint if custom else None))
            except SecretDenied:
                account = None
            except ProviderUnavailable as exc:
                if exc.retryable:
                    raise
        if account:
            found["account"] = account
        found["endpoint"] = endpoint
        return found

    def _caller_account(self, credentials: Any, endpoint: Optional[str]) -> Optional[str]:
        botocore = _sdk()
        frozen = credentials.get_frozen_credentials()
        sts = _botocore_session(botocore, None).create_client(
            "sts", region_name=self.region or None, endpoint_url=endpoint, aws_access_key_id=frozen.access_key,
            aws_secret_access_key=frozen.secret_key, aws_session_token=frozen.token,
            config=botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1},
                                          connect_timeout=5, read_timeout=10),
        )
        errors = self._errors
        try:
            return str(sts.get_caller_identity().get("Account") or "") or None
        except errors.ClientError as exc:
            error = exc.response.get("Error") or {}
            status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            raise translate(error.get("Code"), error.get("Message"), status, operation="GetCallerIdentity",
                            region=self.region) from None
        except (errors.EndpointConnectionError, errors.ConnectTimeoutError):
            return None  # no STS from here: the endpoint stands in for the account
        except Exception as exc:  # BotoCoreError, or an answer botocore cannot parse (a proxy's own error page)
            raise ProviderUnavailable(f"STS GetCallerIdentity failed ({type(exc).__name__})", provider=PROVIDER) from None
        finally:
            sts.close()

    def close(self) -> None:
        closer = getattr(self._client, "close", None)
        if closer:
            try:
                closer()
            except Exception:  # closing must never fail a run
                pass


# what the rest of the collection knows about this provider (core/registry.py) -----------------------
SPEC = ProviderSpec(
    name=PROVIDER,
    backend=AwsBackend,
    options=(
        Option("aws_region", dict(type="str"), ("AWS_SECRET_MANAGER_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")),
        Option("aws_profile", dict(type="str"), ("AWS_PROFILE",)),
        Option("aws_endpoint_url", dict(type="str"), ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL")),
        Option("aws_access_key_id", dict(type="str", no_log=True)),
        Option("aws_secret_access_key", dict(type="str", no_log=True)),
        Option("aws_session_token", dict(type="str", no_log=True)),
        Option("aws_replica_regions", dict(type="list", elements="str"), ("AWS_SECRET_REPLICA_REGIONS",)),
        Option("aws_replica_purge", dict(type="bool")),
        Option("aws_rotation_lambda_arn", dict(type="str")),
        Option("aws_rotation_days", dict(type="int")),
        Option("aws_rotation_enabled", dict(type="bool")),
    ),
    # the settings options change writes only: a read with or without them returns the same answer
    cache_key_options=("aws_region", "aws_profile", "aws_endpoint_url", "aws_access_key_id", "aws_secret_access_key",
                       "aws_session_token", "aws_replica_regions"),
    name_rule=NameRule(r"[A-Za-z0-9/_+=.@-]+", 512, "letters, digits and /_+=.@-", "vibebox/"),
    max_value_bytes=65536,
    detected_by="AWS_SECRET_MANAGER_REGION",
    prefix_env="AWS_SECRET_PREFIX",
    fallback=fallback_steps,
    fallback_forms=FALLBACK_FORMS,
    package=PACKAGE,
)
