# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Random secret values from the operating system's CSPRNG (``secrets``), never ``random``.

``length`` is always the number of characters of the result, whatever the encoding.
"""
from __future__ import annotations

import base64
import secrets
import string
import uuid
from typing import Any, Dict, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core import strength as _strength
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption

GENERATOR_TYPES = ("hex", "base64", "urlsafe", "password", "uuid")
CLASSES = {
    "lower": string.ascii_lowercase,
    "upper": string.ascii_uppercase,
    "digits": string.digits,
    "symbols": "!#%*+,-.:=?@^_~",
}
DEFAULT_LENGTH = {"hex": 64, "base64": 44, "urlsafe": 43, "password": 32, "uuid": 36}


def _encoded(raw_encoder, length: int) -> str:
    out = ""
    while len(out) < length:
        out += raw_encoder(secrets.token_bytes(max(16, length)))
    return out[:length]


def generate(
    kind: str = "hex",
    length: Optional[int] = None,
    classes: Optional[list] = None,
    min_each: int = 1,
) -> str:
    if kind not in GENERATOR_TYPES:
        raise InvalidOption(f"generator type must be one of {', '.join(GENERATOR_TYPES)} (got '{kind}')")
    if kind == "uuid":
        return str(uuid.uuid4())
    size = DEFAULT_LENGTH[kind] if length is None else int(length)
    if size < 8 or size > 4096:
        raise InvalidOption(f"generator length must be between 8 and 4096 characters (got {size})")
    if kind == "hex":
        return secrets.token_hex((size + 1) // 2)[:size]
    if kind == "base64":
        return _encoded(lambda raw: base64.b64encode(raw).decode("ascii").rstrip("="), size)
    if kind == "urlsafe":
        return _encoded(lambda raw: base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="), size)
    chosen = list(classes or ["lower", "upper", "digits", "symbols"])
    unknown = [c for c in chosen if c not in CLASSES]
    if unknown:
        raise InvalidOption(f"unknown character classes {unknown}; use {', '.join(CLASSES)}")
    if min_each * len(chosen) > size:
        raise InvalidOption(f"length {size} cannot hold {min_each} of each of {len(chosen)} character classes")
    alphabet = "".join(CLASSES[c] for c in chosen)
    picked = [secrets.choice(CLASSES[c]) for c in chosen for _index in range(min_each)]
    picked += [secrets.choice(alphabet) for _index in range(size - len(picked))]
    # shuffle with the CSPRNG so the guaranteed characters are not at the front
    for index in range(len(picked) - 1, 0, -1):
        swap = secrets.randbelow(index + 1)
        picked[index], picked[swap] = picked[swap], picked[index]
    return "".join(picked)


def from_spec(spec: Dict[str, Any]) -> str:
    """A generator as modules take it: ``{type, length, classes, min_each}``."""
    return generate(
        kind=spec.get("type") or "hex",
        length=spec.get("length"),
        classes=spec.get("classes"),
        min_each=int(spec.get("min_each") or 1),
    )


def strength(value: str) -> Dict[str, Any]:
    """Length, character classes and estimated entropy (core/strength.py measures; no value returned)."""
    return _strength.measure(value)
