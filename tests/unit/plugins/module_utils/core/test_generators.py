"""core/generators.py: generated values have exactly the length asked and honour the character classes."""
from __future__ import annotations

import string

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, generators


@pytest.mark.parametrize("kind,length", [("hex", 64), ("base64", 44), ("urlsafe", 43), ("password", 32), ("hex", 17), ("password", 12)])
def test_generators_give_exactly_length_characters(kind, length):
    values = {generators.generate(kind, length) for _index in range(20)}
    assert len(values) == 20 and all(len(v) == length for v in values)


def test_password_has_a_minimum_of_each_class():
    for _round in range(50):
        value = generators.generate("password", 12, ["lower", "upper", "digits", "symbols"], min_each=2)
        assert sum(c in string.ascii_lowercase for c in value) >= 2
        assert sum(c in string.ascii_uppercase for c in value) >= 2
        assert sum(c in string.digits for c in value) >= 2
        assert sum(c in generators.CLASSES["symbols"] for c in value) >= 2


def test_generator_rejects_impossible_requests():
    with pytest.raises(errors.InvalidOption):
        generators.generate("password", 8, ["lower", "upper", "digits", "symbols"], min_each=3)
    with pytest.raises(errors.InvalidOption):
        generators.generate("rot13")
    assert len(generators.generate("uuid")) == 36
