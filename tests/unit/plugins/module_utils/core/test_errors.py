"""core/errors.py: messages name provider, secret and next step, and never hold a value a service echoed back."""
from __future__ import annotations

import json

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors


def test_error_messages_name_provider_secret_and_next_step():
    exc = errors.SecretNotFound("it does not exist", provider_name="vibebox/x", hint="Create it").with_context(provider="aws", name="x")
    assert str(exc) == "[aws] secret 'x' (vibebox/x): it does not exist. Create it"


def test_missing_sdk_names_the_pip_package():
    exc = errors.ProviderNotInstalled("aws", "boto3")
    assert "pip install boto3" in str(exc)


@pytest.mark.parametrize("value", [
    "v" * 8 + "-long-" + "x" * 400,              # longer than the message is cut to
    'quote"and\\backslash-' + "y" * 300,          # echoed JSON-escaped
    "line-one\nline-two-" + "z" * 20,            # echoed with its newline escaped
])
def test_scrub_hides_a_long_or_escaped_echo_before_cutting(value):
    """A service that echoes the rejected value back must not leave any stretch of it in the message."""
    for echoed in (value, json.dumps(value)[1:-1], repr(value)[1:-1]):
        message = errors.scrub(f"ValidationException: Value '{echoed}' at 'secretString' failed", value)
        assert "<hidden>" in message
        assert len(message) <= 300
        for start in range(0, len(value) - 12):
            assert value[start:start + 12] not in message
