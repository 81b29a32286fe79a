# -*- coding: utf-8 -*-
"""Options of AWS Secrets Manager (provider C(aws))."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  aws_region:
    description:
      - AWS region of the secrets (provider C(aws)). A secret C(jwt-secret) is the Secrets Manager secret
        C(<prefix>jwt-secret), prefix C(vibebox/) by default (C(AWS_SECRET_PREFIX)).
      - Also C(AWS_SECRET_MANAGER_REGION) (which also selects the provider when none is given), then
        C(AWS_REGION) and C(AWS_DEFAULT_REGION), then the region of the profile.
    type: str
  aws_profile:
    description:
      - Profile of the AWS shared config and credentials files. When neither this nor the keys are set,
        boto3's default chain is used (environment, web identity, SSO, container or instance role).
      - Also C(AWS_PROFILE).
    type: str
  aws_endpoint_url:
    description:
      - URL of the Secrets Manager endpoint, for a VPC endpoint, a FIPS endpoint or a test server.
      - Also C(AWS_ENDPOINT_URL_SECRETS_MANAGER), then C(AWS_ENDPOINT_URL).
    type: str
  aws_access_key_id:
    description:
      - Access key id, with O(aws_secret_access_key); both or neither. The standard C(AWS_ACCESS_KEY_ID)
        is read by boto3's default chain when this is not set.
    type: str
  aws_secret_access_key:
    description:
      - Secret access key of O(aws_access_key_id). C(AWS_SECRET_ACCESS_KEY) is read by boto3's default chain
        when this is not set.
    type: str
  aws_session_token:
    description:
      - Session token of temporary credentials (with the two keys). C(AWS_SESSION_TOKEN) is read by boto3's
        default chain when this is not set.
    type: str
  aws_replica_regions:
    description:
      - Regions the secret is replicated to (AWS cross-region replication). A new secret is created with them;
        M(vibebox.secrets.secret) also adds the missing ones to an existing secret on every run
        (C(ReplicateSecretToRegions)), in check mode and diff too. Other modules apply them only when they create
        a secret. Also C(AWS_SECRET_REPLICA_REGIONS) (comma-separated).
      - Replicas in regions that are not listed are kept unless O(aws_replica_purge=true).
      - Reads with C(fallback=[aws_replica_region]) try these regions in turn.
    type: list
    elements: str
  aws_replica_purge:
    description:
      - With M(vibebox.secrets.secret), remove the replicas in regions that O(aws_replica_regions) does not list
        (C(RemoveRegionsFromReplication)); V(true) with O(aws_replica_regions=[]) removes every replica.
      - Off by default, so a replica added outside this collection (for disaster recovery, say) survives a task
        that does not name it.
    type: bool
  aws_rotation_lambda_arn:
    description:
      - With M(vibebox.secrets.secret), the ARN of the Lambda function that rotates the secret with AWS's own
        rotation (C(RotateSecret)); with O(aws_rotation_days) it turns that rotation on or changes it.
      - Configuring it does not rotate at once (C(RotateImmediately=false)), so the value the task writes stays
        current until the first scheduled rotation; AWS runs the function's C(testSecret) step only.
      - Once a Lambda rotates the secret, set O(vibebox.secrets.secret#module:overwrite=false) or leave out the
        value, or every run would write the old value back.
    type: str
  aws_rotation_days:
    description:
      - With M(vibebox.secrets.secret), days between rotations by O(aws_rotation_lambda_arn) (1-1000,
        C(RotationRules.AutomaticallyAfterDays)). Needed when the secret has no schedule yet.
    type: int
  aws_rotation_enabled:
    description:
      - With M(vibebox.secrets.secret), V(false) turns AWS's own rotation off (C(CancelRotateSecret)); give no
        Lambda or days with it. V(true) or unset with O(aws_rotation_lambda_arn) or O(aws_rotation_days) turns it
        on. When none of the three is given, the rotation is left as it is.
    type: bool
notes:
  - Provider C(aws) reads many names with one C(BatchGetSecretValue) call per 20 names (falling back to one
    C(GetSecretValue) per name when the caller may not use it), retries throttling with backoff, and
    writes with a C(ClientRequestToken) derived from the name and the value, so a repeated write adds no
    version. C(version=previous) is the C(AWSPREVIOUS) stage; version ids and staging labels are accepted too.
  - Deleting with provider C(aws) needs C(recovery_days) between 7 and 30 (default 30), or C(force).
    Cleaning up an old version removes its staging labels, which marks it deprecated; AWS removes it
    later, and the collection no longer reads it.
"""

    LOOKUP = r"""
options:
  aws_region:
    description:
      - AWS region of the secrets (provider C(aws)). A secret C(jwt-secret) is the Secrets Manager secret C(<prefix>jwt-secret),
        prefix C(vibebox/) by default (C(AWS_SECRET_PREFIX)).
      - Also C(AWS_SECRET_MANAGER_REGION) (which also selects the provider when none is given), then C(AWS_REGION)
        and C(AWS_DEFAULT_REGION), then the region of the profile.
    type: str
    vars:
      - name: vibebox_secrets_aws_region
    env:
      - name: AWS_SECRET_MANAGER_REGION
      - name: AWS_REGION
      - name: AWS_DEFAULT_REGION
    ini:
      - section: vibebox_secrets
        key: aws_region
  aws_profile:
    description:
      - Profile of the AWS shared config and credentials files. When neither this nor the keys are set, boto3's
        default chain is used (environment, web identity, SSO, container or instance role).
      - Also C(AWS_PROFILE).
    type: str
    vars:
      - name: vibebox_secrets_aws_profile
    env:
      - name: AWS_PROFILE
    ini:
      - section: vibebox_secrets
        key: aws_profile
  aws_endpoint_url:
    description:
      - URL of the Secrets Manager endpoint, for a VPC endpoint, a FIPS endpoint or a test server.
      - Also C(AWS_ENDPOINT_URL_SECRETS_MANAGER), then C(AWS_ENDPOINT_URL).
    type: str
    vars:
      - name: vibebox_secrets_aws_endpoint_url
    env:
      - name: AWS_ENDPOINT_URL_SECRETS_MANAGER
      - name: AWS_ENDPOINT_URL
    ini:
      - section: vibebox_secrets
        key: aws_endpoint_url
  aws_access_key_id:
    description:
      - Access key id, with O(aws_secret_access_key); both or neither. The standard C(AWS_ACCESS_KEY_ID) is read
        by boto3's default chain when this is not set.
    type: str
    vars:
      - name: vibebox_secrets_aws_access_key_id
    ini:
      - section: vibebox_secrets
        key: aws_access_key_id
  aws_secret_access_key:
    description:
      - Secret access key of O(aws_access_key_id). C(AWS_SECRET_ACCESS_KEY) is read by boto3's default chain when
        this is not set.
    type: str
    vars:
      - name: vibebox_secrets_aws_secret_access_key
    ini:
      - section: vibebox_secrets
        key: aws_secret_access_key
  aws_session_token:
    description:
      - Session token of temporary credentials (with the two keys). C(AWS_SESSION_TOKEN) is read by boto3's default
        chain when this is not set.
    type: str
    vars:
      - name: vibebox_secrets_aws_session_token
    ini:
      - section: vibebox_secrets
        key: aws_session_token
  aws_replica_regions:
    description:
      - Regions the secret is replicated to (AWS cross-region replication). A new secret is created with them; M(vibebox.secrets.secret)
        also adds the missing ones to an existing secret on every run (C(ReplicateSecretToRegions)), in check mode
        and diff too. Other modules apply them only when they create a secret. Also C(AWS_SECRET_REPLICA_REGIONS)
        (comma-separated).
      - Replicas in regions that are not listed are kept unless O(aws_replica_purge=true).
      - Reads with C(fallback=[aws_replica_region]) try these regions in turn.
    type: list
    elements: str
    vars:
      - name: vibebox_secrets_aws_replica_regions
    env:
      - name: AWS_SECRET_REPLICA_REGIONS
    ini:
      - section: vibebox_secrets
        key: aws_replica_regions
  aws_replica_purge:
    description:
      - With M(vibebox.secrets.secret), remove the replicas in regions that O(aws_replica_regions) does not list
        (C(RemoveRegionsFromReplication)); V(true) with O(aws_replica_regions=[]) removes every replica.
      - Off by default, so a replica added outside this collection (for disaster recovery, say) survives a task
        that does not name it.
    type: bool
    vars:
      - name: vibebox_secrets_aws_replica_purge
    ini:
      - section: vibebox_secrets
        key: aws_replica_purge
  aws_rotation_lambda_arn:
    description:
      - With M(vibebox.secrets.secret), the ARN of the Lambda function that rotates the secret with AWS's own rotation
        (C(RotateSecret)); with O(aws_rotation_days) it turns that rotation on or changes it.
      - Configuring it does not rotate at once (C(RotateImmediately=false)), so the value the task writes stays
        current until the first scheduled rotation; AWS runs the function's C(testSecret) step only.
      - Once a Lambda rotates the secret, set O(vibebox.secrets.secret#module:overwrite=false) or leave out the
        value, or every run would write the old value back.
    type: str
    vars:
      - name: vibebox_secrets_aws_rotation_lambda_arn
    ini:
      - section: vibebox_secrets
        key: aws_rotation_lambda_arn
  aws_rotation_days:
    description:
      - With M(vibebox.secrets.secret), days between rotations by O(aws_rotation_lambda_arn) (1-1000, C(RotationRules.AutomaticallyAfterDays)).
        Needed when the secret has no schedule yet.
    type: int
    vars:
      - name: vibebox_secrets_aws_rotation_days
    ini:
      - section: vibebox_secrets
        key: aws_rotation_days
  aws_rotation_enabled:
    description:
      - With M(vibebox.secrets.secret), V(false) turns AWS's own rotation off (C(CancelRotateSecret)); give no Lambda
        or days with it. V(true) or unset with O(aws_rotation_lambda_arn) or O(aws_rotation_days) turns it on. When
        none of the three is given, the rotation is left as it is.
    type: bool
    vars:
      - name: vibebox_secrets_aws_rotation_enabled
    ini:
      - section: vibebox_secrets
        key: aws_rotation_enabled
notes:
  - Provider C(aws) reads many names with one C(BatchGetSecretValue) call per 20 names (falling back to one C(GetSecretValue)
    per name when the caller may not use it), retries throttling with backoff, and writes with a C(ClientRequestToken)
    derived from the name and the value, so a repeated write adds no version. C(version=previous) is the C(AWSPREVIOUS)
    stage; version ids and staging labels are accepted too.
  - Deleting with provider C(aws) needs C(recovery_days) between 7 and 30 (default 30), or C(force). Cleaning up
    an old version removes its staging labels, which marks it deprecated; AWS removes it later, and the collection
    no longer reads it.
"""
