"""Pure logic of the aws provider: error code -> core error, request tokens, version selectors, windows.

Server behaviour is tested against moto's server in tests/integration; here only what needs no server.
"""
from __future__ import annotations

import datetime as _dt
import os
import subprocess
import sys
import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import aws


def _error(code, message="", status=400, **extra):
    return aws.translate(code, message, status, operation="GetSecretValue", name="vibebox/db",
                         region="eu-west-1", **extra)


@pytest.mark.parametrize("code, status, kind, retryable", [
    ("ThrottlingException", 400, errors.ProviderThrottled, True),
    ("TooManyRequestsException", 429, errors.ProviderThrottled, True),
    ("RequestLimitExceeded", 400, errors.ProviderThrottled, True),
    ("", 429, errors.ProviderThrottled, True),
    ("InternalServiceError", 500, errors.ProviderUnavailable, True),
    ("ServiceUnavailable", 503, errors.ProviderUnavailable, True),
    ("SomethingNew", 502, errors.ProviderUnavailable, True),
    ("ResourceNotFoundException", 400, errors.SecretNotFound, None),
    ("AccessDeniedException", 400, errors.SecretDenied, None),
    ("UnrecognizedClientException", 400, errors.SecretDenied, None),
    ("ExpiredTokenException", 400, errors.SecretDenied, None),
    ("DecryptionFailure", 400, errors.SecretDenied, None),
    ("ResourceExistsException", 400, errors.SecretConflict, None),
    ("InvalidParameterException", 400, errors.InvalidOption, None),
    ("ValidationException", 400, errors.InvalidOption, None),
    ("LimitExceededException", 400, errors.ProviderUnavailable, False),
    ("InvalidRequestException", 400, errors.UnsupportedOperation, None),
    ("SomethingNew", 400, errors.ProviderUnavailable, False),
])
def test_code_maps_to_one_core_error(code, status, kind, retryable):
    error = _error(code, "words", status)
    assert error.__class__ is kind
    if retryable is not None:
        assert error.retryable is retryable
    assert error.provider == "aws"


@pytest.mark.parametrize("message", [
    "You can't perform this operation on the secret because it was marked for deletion.",
    "You tried to perform the operation on a secret that's currently marked deleted.",
])
def test_pending_deletion_is_secret_deleted(message):
    assert isinstance(_error("InvalidRequestException", message), errors.SecretDeleted)


def test_denied_names_the_iam_action_and_the_arn_pattern():
    text = str(_error("AccessDeniedException", "not authorized"))
    assert "secretsmanager:GetSecretValue" in text and "arn:aws:secretsmanager:eu-west-1:<account>:secret:vibebox/db-*" in text


def test_not_found_names_the_region():
    assert "eu-west-1" in str(_error("ResourceNotFoundException"))


def test_error_messages_never_carry_the_value():
    error = _error("InvalidParameterException", "bad SecretString hunter2-value", secret_value="hunter2-value")
    assert "hunter2-value" not in str(error)


def test_request_token_is_stable_distinct_and_a_valid_client_request_token():
    token = aws.request_token("vibebox/db", "value-1")
    assert token == aws.request_token("vibebox/db", "value-1")
    assert token != aws.request_token("vibebox/db", "value-2")
    assert token != aws.request_token("vibebox/other", "value-1")
    assert 32 <= len(token) <= 64 and str(uuid.UUID(token)) == token
    assert "value-1" not in token


@pytest.mark.parametrize("version, selector", [
    (None, {"VersionStage": "AWSCURRENT"}),
    ("current", {"VersionStage": "AWSCURRENT"}),
    ("AWSCURRENT", {"VersionStage": "AWSCURRENT"}),
    ("previous", {"VersionStage": "AWSPREVIOUS"}),
    ("AWSPENDING", {"VersionStage": "AWSPENDING"}),
    ("999999", {"VersionStage": "999999"}),
    ("0a1b2c3d-0000-4000-8000-123456789abc", {"VersionId": "0a1b2c3d-0000-4000-8000-123456789abc"}),
])
def test_version_selector(version, selector):
    assert aws.version_selector(version) == selector


def test_stage_names():
    assert aws.stage_names(["AWSCURRENT", "AWSPREVIOUS", "AWSPENDING"]) == ["current", "previous", "AWSPENDING"]
    assert aws.stage_names(None) == []


@pytest.mark.parametrize("days, force, expected", [
    (None, False, 30), (7, False, 7), (30, False, 30), ("14", False, 14), (0, False, None), (5, True, None),
])
def test_recovery_window(days, force, expected):
    assert aws.recovery_window(days, force) == expected


@pytest.mark.parametrize("days", [1, 6, 31, -1, "soon"])
def test_recovery_window_outside_7_30_is_refused(days):
    with pytest.raises(errors.InvalidOption) as caught:
        aws.recovery_window(days, False)
    assert "7-30" in str(caught.value)


def test_chunks_of_twenty():
    sizes = [len(chunk) for chunk in aws.chunks([str(index) for index in range(45)], aws.BATCH_SIZE)]
    assert sizes == [20, 20, 5]


def test_utc_normalises_dates():
    local = _dt.datetime(2026, 1, 1, 12, tzinfo=_dt.timezone(_dt.timedelta(hours=2)))
    assert aws.utc(local) == _dt.datetime(2026, 1, 1, 10, tzinfo=_dt.timezone.utc)
    assert aws.utc(0) == _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
    assert aws.utc(None) is None


def test_importing_the_provider_does_not_import_boto3():
    here = os.path.abspath(aws.__file__)
    marker = os.sep + os.path.join("ansible_collections", "vibebox", "secrets") + os.sep
    code = (
        "import sys\n"
        "from ansible_collections.vibebox.secrets.plugins.module_utils.providers import aws\n"
        "print('boto3' in sys.modules, 'botocore' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": here[: here.index(marker)]}, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_building_a_backend_imports_botocore_only():
    """boto3's import adds s3transfer and resources (~0.17 s) that a Secrets Manager client never uses."""
    here = os.path.abspath(aws.__file__)
    marker = os.sep + os.path.join("ansible_collections", "vibebox", "secrets") + os.sep
    code = (
        "import sys\n"
        "from ansible_collections.vibebox.secrets.plugins.module_utils.providers import aws\n"
        "backend = aws.AwsBackend(region='eu-west-1', access_key_id='AKIDEXAMPLE', secret_access_key='example')\n"
        "print(backend.region, 'botocore' in sys.modules, 'boto3' in sys.modules, 's3transfer' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": here[: here.index(marker)]}, check=True)
    assert out.stdout.split() == ["eu-west-1", "True", "False", "False"]


# settings: replica regions and AWS's own rotation (decided before any write) ----------------------------
@pytest.mark.parametrize("current, wanted, purge, add, remove", [
    ([], None, True, [], []),                                       # not managed: nothing, even with purge
    ([], ["eu-west-1"], False, ["eu-west-1"], []),
    (["eu-west-1"], ["eu-west-1"], True, [], []),                   # in step
    (["eu-west-1", "us-west-2"], ["eu-west-1"], False, [], []),     # unlisted replica kept without purge
    (["eu-west-1", "us-west-2"], ["eu-west-1"], True, [], ["us-west-2"]),
    (["eu-west-1"], ["us-west-2"], True, ["us-west-2"], ["eu-west-1"]),
    (["eu-west-1", "us-west-2"], [], True, [], ["eu-west-1", "us-west-2"]),  # [] + purge: every replica goes
    (["eu-west-1"], [], False, [], []),
])
def test_replica_plan(current, wanted, purge, add, remove):
    assert aws.replica_plan(current, wanted, purge) == (add, remove)


def test_replica_regions_option_checks_names_and_drops_repeats():
    assert aws.replica_regions_option(None) is None
    assert aws.replica_regions_option([]) == []
    assert aws.replica_regions_option("eu-west-1, us-gov-west-1,eu-west-1") == ["eu-west-1", "us-gov-west-1"]
    assert aws.replica_regions_option(["cn-north-1", "us-isob-east-1"]) == ["cn-north-1", "us-isob-east-1"]
    for bad in (["Europe"], ["eu-west"], ["eu_west_1"], ["EU-WEST-1"]):
        with pytest.raises(errors.InvalidOption, match="aws_replica_regions has .* not an AWS region") as caught:
            aws.replica_regions_option(bad)
        assert caught.value.provider == "aws" and caught.value.hint


ARN = "arn:aws:lambda:us-east-1:123456789012:function:rotate-db"


@pytest.mark.parametrize("enabled, arn, days, expected", [
    (None, None, None, None),                                           # not managed
    (None, ARN, 30, aws.RotationWanted(True, ARN, 30)),
    (True, None, 7, aws.RotationWanted(True, None, 7)),
    (False, None, None, aws.RotationWanted(False)),
    (None, "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:live", None,
     aws.RotationWanted(True, "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:live", None)),
])
def test_rotation_option(enabled, arn, days, expected):
    assert aws.rotation_option(enabled, arn, days) == expected


@pytest.mark.parametrize("enabled, arn, days, words", [
    (None, None, 0, "aws_rotation_days must be 1-1000"),
    (None, None, -3, "aws_rotation_days must be 1-1000"),
    (None, None, 1001, "aws_rotation_days must be 1-1000"),
    (None, "rotate-db", None, "aws_rotation_lambda_arn 'rotate-db' is not the ARN of a Lambda"),
    (None, "arn:aws:iam::123456789012:role/x", None, "is not the ARN of a Lambda"),
    (False, ARN, None, "aws_rotation_enabled is false but"),
    (False, None, 30, "aws_rotation_enabled is false but"),
])
def test_bad_rotation_options_are_refused_naming_the_option(enabled, arn, days, words):
    with pytest.raises(errors.InvalidOption, match=words) as caught:
        aws.rotation_option(enabled, arn, days)
    assert caught.value.provider == "aws" and caught.value.hint


OFF = {"enabled": False, "lambda_arn": None, "days": None}
ON = {"enabled": True, "lambda_arn": ARN, "days": 30}


@pytest.mark.parametrize("current, wanted, target", [
    (OFF, None, None),
    (OFF, aws.RotationWanted(True, ARN, 30), ON),
    (ON, aws.RotationWanted(True, ARN, 30), None),                      # in step: no write
    (ON, aws.RotationWanted(True, None, 30), None),                     # the Lambda kept when not given
    (ON, aws.RotationWanted(True, None, 7), dict(ON, days=7)),
    (ON, aws.RotationWanted(True, ARN + "-v2", None), dict(ON, lambda_arn=ARN + "-v2")),
    (ON, aws.RotationWanted(False), dict(ON, enabled=False)),
    (OFF, aws.RotationWanted(False), None),                             # already off
    (dict(ON, enabled=False), aws.RotationWanted(True), ON),            # cancelled earlier: back on as it was
])
def test_rotation_plan(current, wanted, target):
    assert aws.rotation_plan(current, wanted) == target


@pytest.mark.parametrize("wanted, words", [
    (aws.RotationWanted(True, None, 30), "needs a Lambda function"),
    (aws.RotationWanted(True, ARN, None), "needs a schedule"),
])
def test_rotation_plan_refuses_to_turn_on_without_lambda_or_schedule(wanted, words):
    with pytest.raises(errors.InvalidOption, match=words):
        aws.rotation_plan(OFF, wanted)


def test_rotation_view_reads_describe_secret():
    described = {"RotationEnabled": True, "RotationLambdaARN": ARN, "RotationRules": {"AutomaticallyAfterDays": 30}}
    assert aws.rotation_view(described) == ON
    assert aws.rotation_view({}) == OFF


def test_bad_settings_fail_when_the_backend_is_built_before_any_client(monkeypatch):
    monkeypatch.setattr(aws, "_sdk", lambda: pytest.fail("the SDK was loaded before the options were checked"))
    with pytest.raises(errors.InvalidOption, match="aws_rotation_days"):
        aws.AwsBackend(region="us-east-1", rotation_days=0)
    with pytest.raises(errors.InvalidOption, match="aws_replica_regions"):
        aws.AwsBackend(region="us-east-1", replica_regions=["nowhere"])


def test_settings_options_are_left_out_of_the_run_cache_key():
    keys = aws.SPEC.cache_key_options
    assert "aws_replica_regions" in keys and "aws_region" in keys
    assert not {"aws_replica_purge", "aws_rotation_lambda_arn", "aws_rotation_days", "aws_rotation_enabled"} & set(keys)
