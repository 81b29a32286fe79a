"""A host without hvac or boto3 gets ProviderNotInstalled naming the pip package, not a traceback.

Each case runs the factory in a fresh interpreter where importing the SDK fails (``sys.modules[name] =
None`` makes ``import name`` raise ImportError, as an uninstalled package would).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory

_SCRIPT = """
import json, sys
for blocked in {blocked!r}:
    sys.modules[blocked] = None
from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory
try:
    factory.build_manager({options!r}, env={{}})
except errors.SecretError as exc:
    print(json.dumps({{"kind": type(exc).__name__, "message": str(exc), "package": getattr(exc, "package", None)}}))
else:
    print(json.dumps({{"kind": None}}))
"""


def _collections_dir() -> str:
    here = os.path.abspath(factory.__file__)
    marker = os.sep + os.path.join("ansible_collections", "vibebox", "secrets") + os.sep
    return here[: here.index(marker)]


@pytest.mark.parametrize("blocked, options, package", [
    (["hvac"], {"provider": "vault", "vault_addr": "http://127.0.0.1:8200", "vault_token": "t"}, "hvac"),
    # pip install boto3 brings botocore, which is all the provider imports: without it, boto3 is named
    (["boto3", "botocore"], {"provider": "aws", "aws_region": "us-east-1"}, "boto3"),
    (["botocore"], {"provider": "aws", "aws_region": "us-east-1"}, "boto3"),
])
def test_missing_sdk_names_the_pip_package(blocked, options, package):
    script = _SCRIPT.format(blocked=blocked, options={**options, "audit_log": "false"})
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": _collections_dir()})
    assert "Traceback" not in done.stderr, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["kind"] == "ProviderNotInstalled"
    assert outcome["package"] == package
    assert f"pip install {package}" in outcome["message"]


def test_the_aws_provider_needs_only_botocore():
    """boto3's own import (s3transfer, resources) is not needed for a Secrets Manager client."""
    options = {"provider": "aws", "aws_region": "us-east-1", "audit_log": "false"}
    script = _SCRIPT.format(blocked=["boto3", "s3transfer"], options=options)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": _collections_dir()})
    assert "Traceback" not in done.stderr, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"kind": None}
