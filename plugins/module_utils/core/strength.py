# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The strength rules of a secret value, shared by every writer and by the compliance report.

Why one file: ``secret``, ``secret_rotate`` and the migration refuse a weak value before they write
it, and ``secret_info`` reports the values already stored; if each measured "strong" its own way, a
value the write accepted could show up as a violation in the next report. So the rules live here,
once, as pure functions of (value, policy), unit-tested without any provider.

The value is measured once (``measure``) into a small dict of facts (length, character classes,
estimated entropy, whether it is a known weak value); the rules (``violations``) read only those
facts. A violation text names the rule and the numbers, never the value or the forbidden word it
matched, so it can go into an error, a warning, a report or the audit log.

The entropy is an estimate, on purpose simple and conservative: each character is worth
log2(size of the pool of the classes the value uses), except a character that repeats the one before
it or continues a run (``aaa``, ``abc``, ``321``), which is worth 1 bit. It does not know
dictionaries; the forbidden list catches the common words people type instead of a secret.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption, WeakSecretValue

#: character classes, in the order reports list them (the same names the generators use)
CLASS_NAMES: Tuple[str, ...] = ("lower", "upper", "digits", "symbols")
#: what a class adds to the pool of the entropy estimate (symbols: the 33 printable ASCII non-alphanumerics)
CLASS_SIZES: Mapping[str, int] = {"lower": 26, "upper": 26, "digits": 10, "symbols": 33}
#: singular spellings people type, accepted and stored as the names above
CLASS_ALIASES: Mapping[str, str] = {"digit": "digits", "symbol": "symbols"}
MODES: Tuple[str, ...] = ("enforce", "warn")
DEFAULT_MODE = "enforce"

#: values people put where a secret belongs: defaults of tutorials, placeholders, keyboard walks. Compared
#: without case, and also with trailing digits and symbols removed (``Password123!`` is ``password``).
DEFAULT_FORBIDDEN: Tuple[str, ...] = (
    "changeme", "change-me", "change_me", "changethis", "changeit", "secret", "secrets", "password",
    "passwd", "passw0rd", "p@ssw0rd", "pass", "admin", "administrator", "root", "toor", "default", "test",
    "testing", "example", "sample", "demo", "dev", "development", "guest", "user", "login", "letmein",
    "welcome", "qwerty", "qwertyuiop", "asdfgh", "azerty", "abc", "abcdef", "iloveyou", "master", "token",
    "apikey", "api-key", "api_key", "key", "private", "placeholder", "todo", "fixme", "xxx", "xxxx",
    "none", "null", "empty", "123456", "12345678", "123456789", "1234567890", "000000", "111111",
    "your-secret-key", "your-secret", "your-password", "your-api-key", "mysecret", "mypassword",
    "supersecret", "topsecret", "s3cr3t",
)

#: the rules a policy has, with what each default is on write
DEFAULTS: Mapping[str, Any] = {"min_length": 16, "classes": [], "min_entropy_bits": 64, "forbidden": None}
KEYS: Tuple[str, ...] = tuple(DEFAULTS)
_TRAILING = re.compile(r"[\W\d_]+$")
_LEADING = re.compile(r"^[\W\d_]+")


def class_of(char: str) -> str:
    """The class of one character: any character that is not an ASCII letter or digit is a symbol."""
    if "a" <= char <= "z":
        return "lower"
    if "A" <= char <= "Z":
        return "upper"
    if "0" <= char <= "9":
        return "digits"
    return "symbols"


def classes_of(value: str) -> List[str]:
    """The classes present in ``value``, in CLASS_NAMES order."""
    present = {class_of(char) for char in value}
    return [name for name in CLASS_NAMES if name in present]


def entropy_bits(value: str) -> float:
    """Estimated bits of ``value`` (see the module docstring), rounded to one decimal."""
    if not value:
        return 0.0
    pool = sum(CLASS_SIZES[name] for name in classes_of(value))
    per_char = math.log2(pool) if pool > 1 else 1.0
    bits = per_char
    for before, char in zip(value, value[1:]):
        bits += 1.0 if abs(ord(char) - ord(before)) <= 1 else per_char
    return round(bits, 1)


def _forms(value: str) -> List[str]:
    """The forms of a value compared with the forbidden list: as typed (no case, no surrounding
    spaces), and with leading and trailing digits and symbols removed (``!Admin2024`` -> ``admin``)."""
    text = value.strip().lower()
    bare = _LEADING.sub("", _TRAILING.sub("", text))
    return [form for form in dict.fromkeys((text, bare)) if form]


def is_forbidden(value: str, forbidden: Sequence[str]) -> bool:
    """Whether ``value`` is one of ``forbidden`` (see _forms), or a placeholder such as ``<secret-key>``."""
    text = value.strip()
    if len(text) >= 2 and text.startswith("<") and text.endswith(">"):
        return True
    words = {str(word).strip().lower() for word in forbidden}
    return any(form in words for form in _forms(value))


@dataclass(frozen=True)
class StrengthPolicy:
    """The rules a value must pass. A rule set to 0 (or an empty list) is not checked."""

    min_length: int = 0
    classes: Tuple[str, ...] = ()
    min_entropy_bits: float = 0
    forbidden: Tuple[str, ...] = ()

    @classmethod
    def from_options(cls, options: Any, option: str = "policy", defaults: bool = True) -> "StrengthPolicy":
        """The policy a task, variable, environment variable or ini entry gives; InvalidOption naming
        ``option`` and the bad field, before anything is read or written.

        With ``defaults`` (the writers) a rule not given takes its default (DEFAULTS, the forbidden
        list DEFAULT_FORBIDDEN); without it (the compliance report) a rule not given is not checked.
        ``options`` may be a dict or its JSON text (an environment variable or ini entry).
        """
        if isinstance(options, str):
            options = parse_text(options, option)
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise InvalidOption(f"{option} must be a dict of {', '.join(KEYS)} (got {type(options).__name__})")
        unknown = sorted(str(key) for key in options if key not in KEYS)
        if unknown:
            raise InvalidOption(f"{option} has unknown keys {unknown}", hint=f"Use {', '.join(KEYS)}")
        given = {key: value for key, value in options.items() if value is not None}
        min_length = _whole(given.get("min_length", DEFAULTS["min_length"] if defaults else 0), f"{option}.min_length")
        bits = _number(given.get("min_entropy_bits", DEFAULTS["min_entropy_bits"] if defaults else 0),
                       f"{option}.min_entropy_bits")
        classes = _classes(given.get("classes", []), f"{option}.classes")
        if "forbidden" in given:
            forbidden = _words(given["forbidden"], f"{option}.forbidden")
        else:
            forbidden = DEFAULT_FORBIDDEN if defaults else ()
        return cls(min_length=min_length, classes=classes, min_entropy_bits=bits, forbidden=forbidden)

    @property
    def empty(self) -> bool:
        return not (self.min_length or self.classes or self.min_entropy_bits or self.forbidden)

    def describe(self) -> List[str]:
        """The rules, for a report's summary line (never the forbidden words themselves)."""
        rules = []
        if self.min_length:
            rules.append(f"min_length {self.min_length}")
        if self.classes:
            rules.append(f"classes {','.join(self.classes)}")
        if self.min_entropy_bits:
            rules.append(f"min_entropy_bits {_bits(self.min_entropy_bits)}")
        if self.forbidden:
            rules.append(f"{len(self.forbidden)} forbidden values")
        return rules


def _whole(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidOption(f"{where} must be a whole number, 0 or more (got a {type(value).__name__})")
    if value < 0:
        raise InvalidOption(f"{where} must be a whole number, 0 or more (got {value})")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        raise InvalidOption(f"{where} must be a number of bits, 0 or more")
    return float(value)


def _classes(value: Any, where: str) -> Tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise InvalidOption(f"{where} must be a list of {', '.join(CLASS_NAMES)}")
    names = [CLASS_ALIASES.get(str(item), str(item)) for item in value]
    wrong = [item for item in names if item not in CLASS_NAMES]
    if wrong:
        raise InvalidOption(f"{where} has unknown character classes {wrong}", hint=f"Use {', '.join(CLASS_NAMES)}")
    return tuple(dict.fromkeys(names))


def _words(value: Any, where: str) -> Tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise InvalidOption(f"{where} must be a list of strings")
    return tuple(item.strip().lower() for item in value if item.strip())


def _bits(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def parse_text(text: str, option: str) -> Any:
    """A policy given as text (environment variable, ini entry): JSON, for example ``{"min_length": 20}``."""
    try:
        return json.loads(text) if text.strip() else None
    except ValueError as exc:
        raise InvalidOption(f"{option} is not valid JSON ({exc.msg} at character {exc.pos})",
                            hint='Write it as JSON, for example {"min_length": 20, "classes": ["upper", "digits"]}'
                            ) from None


def parse_mode(value: Any, option: str = "policy_mode") -> str:
    """``enforce`` or ``warn`` (default enforce); InvalidOption naming ``option`` otherwise."""
    if value in (None, ""):
        return DEFAULT_MODE
    mode = str(value).strip().lower()
    if mode not in MODES:
        raise InvalidOption(f"{option} must be one of {', '.join(MODES)} (got '{value}')")
    return mode


def measure(value: str, forbidden: Sequence[str] = ()) -> Dict[str, Any]:
    """The facts every rule reads: length, classes, estimated entropy and whether the value is a known
    weak one. Nothing returned can give the value back."""
    return {
        "length": len(value),
        "classes": classes_of(value),
        "entropy_bits": entropy_bits(value),
        "forbidden": is_forbidden(value, forbidden),
    }


def violations(measured: Mapping[str, Any], policy: StrengthPolicy) -> List[str]:
    """The rules ``measured`` (from measure()) breaks, each naming the rule and never the value."""
    found: List[str] = []
    if measured.get("forbidden"):
        found.append("forbidden: a known weak or placeholder value (policy.forbidden)")
    length = int(measured.get("length") or 0)
    if policy.min_length and length < policy.min_length:
        found.append(f"too short: {length} characters, min_length is {policy.min_length}")
    present = set(measured.get("classes") or [])
    missing = [name for name in policy.classes if name not in present]
    if missing:
        found.append(f"missing character classes: {', '.join(missing)}")
    bits = measured.get("entropy_bits")
    if policy.min_entropy_bits and bits is not None and float(bits) < policy.min_entropy_bits:
        found.append(f"too little entropy: about {_bits(float(bits))} bits, min_entropy_bits is "
                     f"{_bits(policy.min_entropy_bits)}")
    return found


def check(value: str, policy: StrengthPolicy) -> List[str]:
    """The rules ``value`` breaks under ``policy`` (empty: it passes)."""
    return violations(measure(value, policy.forbidden), policy)


@dataclass
class Enforcer:
    """A policy and its mode as one writer applies them: refuse a weak value (enforce) or let it through
    with a warning (warn). ``warnings`` collects what warn mode lets through, for module.warn()."""

    policy: Optional[StrengthPolicy]
    mode: str = DEFAULT_MODE
    warnings: List[str] = field(default_factory=list)

    @classmethod
    def from_options(cls, policy: Any, mode: Any) -> "Enforcer":
        """No policy (None) checks nothing; ``{}`` is the default policy."""
        chosen = parse_mode(mode)
        if policy is None or (isinstance(policy, str) and not policy.strip()):
            return cls(None, chosen)
        return cls(StrengthPolicy.from_options(policy), chosen)

    @property
    def active(self) -> bool:
        return self.policy is not None

    def breaks(self, name: str, value: str) -> List[str]:
        """The rules the value of secret ``name`` breaks; in warn mode they are also recorded as a warning."""
        if self.policy is None:
            return []
        found = check(value, self.policy)
        if found and self.mode == "warn":
            self.warnings.append(warning_text(name, found))
        return found

    def require(self, name: str, value: str, *, provider: Optional[str] = None) -> None:
        """Raise WeakSecretValue when the value breaks the policy in enforce mode (before any write)."""
        found = self.breaks(name, value)
        if found and self.mode == "enforce":
            raise weak_error(name, found, provider=provider)


def warning_text(name: str, found: Sequence[str]) -> str:
    return (f"secret '{name}' breaks the strength policy ({'; '.join(found)}); policy_mode is warn, so it is"
            " written anyway")


def weak_error(name: str, found: Sequence[str], *, provider: Optional[str] = None) -> WeakSecretValue:
    return WeakSecretValue(
        f"the value breaks the strength policy: {'; '.join(found)}; nothing was written",
        provider=provider, name=name,
        hint="Give a stronger value (or generate one with vibebox.secrets.secret_rotate), or relax the policy;"
             " policy_mode: warn writes it with a warning",
    )


# collection-wide policy ----------------------------------------------------------------------------------

#: where a policy given once for every call comes from, after the task's own option, in this order
VARIABLE = "vibebox_secrets_policy"
MODE_VARIABLE = "vibebox_secrets_policy_mode"
ENV = "VIBEBOX_SECRETS_POLICY"
MODE_ENV = "VIBEBOX_SECRETS_POLICY_MODE"
INI_SECTION = "vibebox_secrets"
INI_KEY = "policy"
MODE_INI_KEY = "policy_mode"


def _first(candidates: Sequence[Tuple[str, Any]]) -> Tuple[Optional[str], Any]:
    for source, value in candidates:
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return source, value
    return None, None


def collection_policy(task_args: Mapping[str, Any], variables: Mapping[str, Any], env: Mapping[str, str],
                      ini: Mapping[str, str]) -> Dict[str, Any]:
    """The ``policy`` and ``policy_mode`` arguments a writing module gets: the task's own, else the
    ``vibebox_secrets_policy`` variable, else VIBEBOX_SECRETS_POLICY, else ansible.cfg's
    ``[vibebox_secrets] policy`` (the same order as every collection-wide option), each one checked here
    so that a bad one fails naming where it came from, before the module runs.

    Returns only the arguments to add (nothing when the task gives them or nothing is set).
    """
    added: Dict[str, Any] = {}
    if task_args.get("policy") is None:
        source, value = _first(((VARIABLE, variables.get(VARIABLE)), (ENV, env.get(ENV)),
                                (f"[{INI_SECTION}] {INI_KEY} in ansible.cfg", ini.get(INI_KEY))))
        if source is not None:
            if isinstance(value, str):
                value = parse_text(value, source)
            StrengthPolicy.from_options(value, option=source)
            added["policy"] = dict(value or {})
    if task_args.get("policy_mode") in (None, ""):
        source, value = _first(((MODE_VARIABLE, variables.get(MODE_VARIABLE)), (MODE_ENV, env.get(MODE_ENV)),
                                (f"[{INI_SECTION}] {MODE_INI_KEY} in ansible.cfg", ini.get(MODE_INI_KEY))))
        if source is not None:
            added["policy_mode"] = parse_mode(value, source)
    return added
