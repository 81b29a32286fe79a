"""core/model.py: what a secret and its metadata show of themselves."""
from __future__ import annotations

from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata


def test_repr_of_a_secret_hides_the_value():
    assert "s3cr3t" not in repr(Secret("s3cr3t", SecretMetadata(name="n"))) + str(Secret("s3cr3t", SecretMetadata(name="n")))
