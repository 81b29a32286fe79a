"""providers/env.py: the read-only provider over environment variables: the current value only, a clear error
for what is missing, versioned or written, and names derived from the logical name."""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, names
from ansible_collections.vibebox.secrets.plugins.module_utils.providers.env import SPEC, EnvBackend

CANARY = "CANARY-env-19c4"


def test_the_current_value_is_read_and_listed():
    backend = EnvBackend({"JWT_SECRET": CANARY, "JWT_OTHER": "x", "PATH": "/bin"})
    secret = backend.get("JWT_SECRET")
    assert secret.value == CANARY and secret.metadata.version == "current"
    assert backend.get("JWT_SECRET", "latest").value == CANARY
    assert backend.list("JWT_") == ["JWT_OTHER", "JWT_SECRET"]


def test_missing_and_versioned_reads_say_what_to_do():
    backend = EnvBackend({"JWT_SECRET": CANARY})
    with pytest.raises(errors.SecretNotFound, match="MISSING is not set"):
        backend.get("MISSING")
    with pytest.raises(errors.VersionNotFound) as caught:
        backend.get("JWT_SECRET", "previous")
    assert CANARY not in str(caught.value)


@pytest.mark.parametrize("write", [lambda b: b.set("JWT_SECRET", CANARY), lambda b: b.delete("JWT_SECRET"),
                                   lambda b: b.update_metadata("JWT_SECRET", tags={"a": "b"}),
                                   lambda b: b.restore("JWT_SECRET")])
def test_every_write_is_refused(write):
    with pytest.raises(errors.SecretError) as caught:
        write(EnvBackend({}))
    assert CANARY not in str(caught.value)


def test_names_are_derived_never_prefixed():
    assert SPEC.name == "env" and "environment" in SPEC.aliases
    assert names.to_provider_name("env", "jwt-secret") == "JWT_SECRET"
    with pytest.raises(errors.InvalidSecretName):
        names.to_provider_name("env", "9lives")
