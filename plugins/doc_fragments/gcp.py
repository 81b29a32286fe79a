# -*- coding: utf-8 -*-
"""Options of Google Cloud Secret Manager (provider C(gcp))."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  gcp_project:
    description:
      - Google Cloud project id that holds the secrets (provider C(gcp)); secrets live at
        C(projects/<gcp_project>/secrets/<prefix><name>) with the prefix C(vibebox-) by default.
      - Required for provider C(gcp). Also C(GCP_PROJECT_ID), then C(GOOGLE_CLOUD_PROJECT).
    type: str
  gcp_credentials:
    description:
      - Path of a service-account key file (or another Google credentials JSON file, such as an
        external-account file for workload identity federation).
      - When neither this nor O(gcp_access_token) is set, Application Default Credentials are used
        (C(gcloud auth application-default login), the metadata server, GKE Workload Identity).
      - Also C(GOOGLE_APPLICATION_CREDENTIALS).
    type: path
  gcp_access_token:
    description:
      - An OAuth 2.0 access token used as is, like C(auth_kind=accesstoken) of the google.cloud collection.
        It is not refreshed, so it suits short runs (for example C(gcloud auth print-access-token)).
      - Also C(GCP_ACCESS_TOKEN).
    type: str
  gcp_endpoint:
    description:
      - C(host:port) of the Secret Manager gRPC endpoint, for a private endpoint (Private Service Connect),
        a regional endpoint or a test server. Defaults to C(secretmanager.googleapis.com:443).
      - When it is a loopback address (C(127.0.0.1), C(localhost), C(::1)) and no credentials are given,
        anonymous credentials are used, as emulators expect.
      - Also C(GCP_SECRET_MANAGER_ENDPOINT).
    type: str
  gcp_ca_cert:
    description:
      - PEM file of the certificate authorities trusted for O(gcp_endpoint), for a private endpoint whose
        certificate is not signed by a public CA.
      - Also C(GCP_CA_CERT), then the gRPC standard C(GRPC_DEFAULT_SSL_ROOTS_FILE_PATH).
    type: path
  gcp_replication:
    description:
      - Replication of secrets this collection creates; existing secrets are never changed.
      - C(automatic) (the default) lets Google choose; a list of locations (for example
        C([europe-west1, europe-west4])) creates user-managed replicas there, for data residency.
      - Also C(GCP_SECRET_REPLICATION) (comma-separated).
    type: list
    elements: str
notes:
  - "Provider C(gcp): tags are stored as labels, so tag names and values must follow the label rules
    (lower-case letters, digits, C(_) and C(-); names start with a letter; at most 63 characters and
    64 labels); they are checked before anything is written. The description is stored as the
    annotation C(vibebox-description)."
  - "Provider C(gcp): C(current) is Secret Manager's C(latest) version; C(previous) is the newest enabled
    version before it. Secret Manager has no soft delete: deleting removes the secret and all its
    versions at once and C(recovery_days) is ignored. Cleaning up an old version disables, then destroys it."
requirements:
  - google-cloud-secret-manager (provider C(gcp) only)
"""

    LOOKUP = r"""
options:
  gcp_project:
    description:
      - Google Cloud project id that holds the secrets (provider C(gcp)); secrets live at C(projects/<gcp_project>/secrets/<prefix><name>)
        with the prefix C(vibebox-) by default.
      - Required for provider C(gcp). Also C(GCP_PROJECT_ID), then C(GOOGLE_CLOUD_PROJECT).
    type: str
    vars:
      - name: vibebox_secrets_gcp_project
    env:
      - name: GCP_PROJECT_ID
      - name: GOOGLE_CLOUD_PROJECT
    ini:
      - section: vibebox_secrets
        key: gcp_project
  gcp_credentials:
    description:
      - Path of a service-account key file (or another Google credentials JSON file, such as an external-account
        file for workload identity federation).
      - When neither this nor O(gcp_access_token) is set, Application Default Credentials are used (C(gcloud auth
        application-default login), the metadata server, GKE Workload Identity).
      - Also C(GOOGLE_APPLICATION_CREDENTIALS).
    type: path
    vars:
      - name: vibebox_secrets_gcp_credentials
    env:
      - name: GOOGLE_APPLICATION_CREDENTIALS
    ini:
      - section: vibebox_secrets
        key: gcp_credentials
  gcp_access_token:
    description:
      - An OAuth 2.0 access token used as is, like C(auth_kind=accesstoken) of the google.cloud collection. It is
        not refreshed, so it suits short runs (for example C(gcloud auth print-access-token)).
      - Also C(GCP_ACCESS_TOKEN).
    type: str
    vars:
      - name: vibebox_secrets_gcp_access_token
    env:
      - name: GCP_ACCESS_TOKEN
    ini:
      - section: vibebox_secrets
        key: gcp_access_token
  gcp_endpoint:
    description:
      - C(host:port) of the Secret Manager gRPC endpoint, for a private endpoint (Private Service Connect), a regional
        endpoint or a test server. Defaults to C(secretmanager.googleapis.com:443).
      - When it is a loopback address (C(127.0.0.1), C(localhost), C(::1)) and no credentials are given, anonymous
        credentials are used, as emulators expect.
      - Also C(GCP_SECRET_MANAGER_ENDPOINT).
    type: str
    vars:
      - name: vibebox_secrets_gcp_endpoint
    env:
      - name: GCP_SECRET_MANAGER_ENDPOINT
    ini:
      - section: vibebox_secrets
        key: gcp_endpoint
  gcp_ca_cert:
    description:
      - PEM file of the certificate authorities trusted for O(gcp_endpoint), for a private endpoint whose certificate
        is not signed by a public CA.
      - Also C(GCP_CA_CERT), then the gRPC standard C(GRPC_DEFAULT_SSL_ROOTS_FILE_PATH).
    type: path
    vars:
      - name: vibebox_secrets_gcp_ca_cert
    env:
      - name: GCP_CA_CERT
      - name: GRPC_DEFAULT_SSL_ROOTS_FILE_PATH
    ini:
      - section: vibebox_secrets
        key: gcp_ca_cert
  gcp_replication:
    description:
      - Replication of secrets this collection creates; existing secrets are never changed.
      - C(automatic) (the default) lets Google choose; a list of locations (for example C([europe-west1, europe-west4]))
        creates user-managed replicas there, for data residency.
      - Also C(GCP_SECRET_REPLICATION) (comma-separated).
    type: list
    elements: str
    vars:
      - name: vibebox_secrets_gcp_replication
    env:
      - name: GCP_SECRET_REPLICATION
    ini:
      - section: vibebox_secrets
        key: gcp_replication
notes:
  - 'Provider C(gcp): tags are stored as labels, so tag names and values must follow the label rules (lower-case
    letters, digits, C(_) and C(-); names start with a letter; at most 63 characters and 64 labels); they are checked
    before anything is written. The description is stored as the annotation C(vibebox-description).'
  - 'Provider C(gcp): C(current) is Secret Manager''s C(latest) version; C(previous) is the newest enabled version
    before it. Secret Manager has no soft delete: deleting removes the secret and all its versions at once and C(recovery_days)
    is ignored. Cleaning up an old version disables, then destroys it.'
requirements:
  - google-cloud-secret-manager (provider C(gcp) only)
"""
