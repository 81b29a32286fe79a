# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""``${secret:...}`` and ``${env:...}`` references: parse, then resolve every one in a single batch.

Syntax::

    ${secret:NAME}              current value of a secret
    ${secret:NAME#KEY}          one key of a secret that holds a JSON object
    ${secret:NAME@previous}     an older version: ``previous`` (missing once the grace period of the
                                rotation that replaced it has ended, unless ignore_grace) or a provider version id
    ${secret:NAME@VERSION#KEY}  both (the version comes first)
    ${env:VAR}                  an environment variable of the controller
    ${env:VAR:-DEFAULT}         ... or DEFAULT when it is unset or empty (as in a POSIX shell)
    $${                         a literal ``${``

Anything else between ``${`` and ``}`` is an error naming the line and column (and the file when
known), so a typo never reaches a config file as text. ``$NAME`` without braces is plain text.

Parsing and resolving are separate so a caller (the dotenv lookup) can parse a whole file, collect
every secret reference and fetch them in ONE call to the backend (or the run cache), instead of one
call per reference. Messages name references, never values: the default of ``${env:VAR:-...}`` is
shown as ``...`` because people do put development passwords there.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import SecretError
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, is_current
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation_tags import version_for_read

#: (logical name, version) as handed to the fetch callable; version None means current
Item = Tuple[str, Optional[str]]
#: one batch read: items -> {item: Secret | str | SecretError}; may also raise SecretError for all
Fetch = Callable[[List[Item]], Mapping[Item, object]]
Warn = Callable[[str], None]

# A secret name in a reference is a logical name (names.py) without '@', which starts the version.
_NAME = r"[A-Za-z0-9_.+=/-]+"
_VERSION = r"[A-Za-z0-9_.:+=-]+"
_SECRET_BODY = re.compile(rf"secret:(?P<name>{_NAME})(?:@(?P<version>{_VERSION}))?(?:#(?P<key>[^}}]+))?")
#: the same with a trailing ``|FUNC``: the External Secrets Operator's template function applied to the value,
#: which only the external_secrets role's templates allow (``parse(..., pipes=True)``)
_PIPED_SECRET_BODY = re.compile(
    rf"secret:(?P<name>{_NAME})(?:@(?P<version>{_VERSION}))?(?:#(?P<key>[^}}|]+))?(?:\|(?P<pipe>[A-Za-z_][A-Za-z0-9_]*))?")
_ENV_BODY = re.compile(r"env:(?P<var>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class ReferenceSyntaxError(SecretError):
    """A ``${...}`` that is not one of the supported forms; says where, never echoes a value."""

    kind = "invalid"

    def __init__(self, reason: str, *, source: Optional[str], line: int, column: int,
                 hint: Optional[str] = None, masked: Optional[str] = None) -> None:
        super().__init__(reason, hint=hint)
        self.source = source
        self.line = line
        self.column = column
        #: the reason without any text of the ``${...}``: where that text is most likely part of a secret value
        #: (a .env value being migrated), a typo shown back would show part of the value
        self.masked = masked or reason

    def __str__(self) -> str:
        text = f"{_where(self.source, self.line, self.column)}: {self.reason}"
        return f"{text}. {self.hint}" if self.hint else text


class UnresolvedReference(SecretError):
    """One or more references could not be resolved; each failure names reference, provider, reason."""

    kind = "unresolved"

    def __init__(self, failures: Sequence["Failure"]) -> None:
        self.failures = list(failures)
        first = self.failures[0]
        super().__init__(first.reason, provider=first.provider)

    def __str__(self) -> str:
        lines = [failure.describe() for failure in self.failures]
        if len(lines) == 1:
            return lines[0]
        return f"{len(lines)} references could not be resolved: " + "; ".join(lines)


def _where(source: Optional[str], line: int, column: int) -> str:
    place = f"line {line}, column {column}"
    return f"{source}, {place}" if source else place  # the same form as DotenvSyntaxError


@dataclass(frozen=True)
class Reference:
    """One parsed ``${...}``; ``raw`` is the exact source text (kept when strict is false)."""

    kind: str  # "secret" or "env"
    name: str  # secret logical name or environment variable
    raw: str
    version: Optional[str] = None
    json_key: Optional[str] = None
    default: Optional[str] = None
    source: Optional[str] = None
    line: int = 1
    column: int = 1
    #: ``|FUNC`` after a secret reference, where the caller allows it (parse(..., pipes=True))
    pipe: Optional[str] = None

    @property
    def item(self) -> Item:
        version = None if self.version is None or is_current(self.version.lower()) else self.version
        return (self.name, version)

    @property
    def text(self) -> str:
        """The reference as messages show it (an env default is masked: it may be a password)."""
        if self.kind == "env":
            return "${env:%s%s}" % (self.name, ":-..." if self.default is not None else "")
        version = f"@{self.version}" if self.version else ""
        key = f"#{self.json_key}" if self.json_key else ""
        return "${secret:%s%s%s}" % (self.name, version, key)

    @property
    def where(self) -> str:
        return _where(self.source, self.line, self.column)


@dataclass(frozen=True)
class Failure:
    reference: Reference
    provider: str
    reason: str

    def describe(self) -> str:
        return f"{self.reference.text} ({self.reference.where}) could not be resolved by provider '{self.provider}': {self.reason}"


Part = Union[str, Reference]


@dataclass(frozen=True)
class Template:
    """A string cut into literal text and references, ready to render once values are known."""

    parts: Tuple[Part, ...]

    @property
    def references(self) -> List[Reference]:
        return [part for part in self.parts if isinstance(part, Reference)]

    def render(self, replacement: Callable[[Reference], str]) -> str:
        return "".join(part if isinstance(part, str) else replacement(part) for part in self.parts)


def literal(text: str) -> Template:
    """A template with no references (a single-quoted dotenv value is taken as written)."""
    return Template((text,) if text else ())


def _position(text: str, index: int, line: int, column: int) -> Tuple[int, int]:
    """Line and column (1-based) of ``text[index]`` when ``text`` starts at (line, column)."""
    newlines = text.count("\n", 0, index)
    if not newlines:
        return line, column + index
    return line + newlines, index - text.rfind("\n", 0, index)


def _syntax_error(body: str, source: Optional[str], line: int, column: int) -> ReferenceSyntaxError:
    """Explain what is wrong with ``${body}`` without echoing anything that might be a value."""
    hint = "References are ${secret:NAME}, ${secret:NAME#KEY}, ${secret:NAME@VERSION}, ${env:VAR} or ${env:VAR:-DEFAULT}; write $${ for a literal ${"
    kind, sep, rest = body.partition(":")
    if not body:
        return ReferenceSyntaxError("empty reference ${}", source=source, line=line, column=column, hint=hint)
    if not sep:
        if _IDENTIFIER.fullmatch(body):
            return ReferenceSyntaxError(
                f"'${{{body}}}' is not a supported reference", source=source, line=line, column=column,
                hint=f"For the environment variable write ${{env:{body}}}; for a literal text write $${{{body}}}",
                masked="'${NAME}' is not a supported reference (${env:NAME} for an environment variable)",
            )
        return ReferenceSyntaxError("'${...}' is not a supported reference", source=source, line=line,
                                    column=column, hint=hint)
    if kind == "secret":
        if not rest:
            reason = "the secret name is missing in ${secret:...}"
        elif rest.endswith("#") or "#" in rest and not rest.split("#", 1)[1]:
            reason = "the JSON key after '#' is empty in ${secret:...}"
        elif "@" in rest.split("#", 1)[0] and not rest.split("#", 1)[0].split("@", 1)[1]:
            reason = "the version after '@' is empty in ${secret:...}"
        else:
            reason = ("invalid ${secret:...}: a name is letters, digits and _.+=/-, then optionally @VERSION"
                      " (previous or a version id), then optionally #JSON_KEY")
        return ReferenceSyntaxError(reason, source=source, line=line, column=column, hint=hint)
    if kind == "env":
        reason = ("invalid ${env:...}: a variable name is letters, digits and '_' (not starting with a digit),"
                  " optionally followed by :-DEFAULT")
        return ReferenceSyntaxError(reason, source=source, line=line, column=column, hint=hint)
    shown = f"'{kind}:'" if _IDENTIFIER.fullmatch(kind) else "this kind"
    return ReferenceSyntaxError(f"unknown reference kind {shown}: only secret: and env: are supported",
                                source=source, line=line, column=column, hint=hint,
                                masked="unknown reference kind: only secret: and env: are supported")


def parse(text: str, source: Optional[str] = None, line: int = 1, column: int = 1, pipes: bool = False) -> Template:
    """Cut ``text`` into literals and references; raises ReferenceSyntaxError with the position.

    ``line``/``column`` are where ``text`` starts in ``source`` (a dotenv value starts mid-line), so
    positions in errors point into the file the user edits. ``pipes`` allows ``${secret:NAME|FUNC}``
    (a template function of the External Secrets Operator), which the lookups and the filter refuse.
    """
    if not isinstance(text, str):
        raise TypeError(f"references can only be parsed in text, not {type(text).__name__}")
    parts: List[Part] = []
    literal_text: List[str] = []
    index = 0
    length = len(text)
    while index < length:
        dollar = text.find("$", index)
        if dollar < 0:
            literal_text.append(text[index:])
            break
        literal_text.append(text[index:dollar])
        if text.startswith("$${", dollar):
            literal_text.append("${")
            index = dollar + 3
            continue
        if not text.startswith("${", dollar):
            literal_text.append("$")
            index = dollar + 1
            continue
        ref_line, ref_column = _position(text, dollar, line, column)
        end = text.find("}", dollar + 2)
        newline = text.find("\n", dollar + 2)
        if end < 0 or 0 <= newline < end:
            raise ReferenceSyntaxError(
                "'${' is not closed by '}' on the same line", source=source, line=ref_line, column=ref_column,
                hint="Close the reference with '}', or write $${ for a literal ${",
            )
        body = text[dollar + 2:end]
        if "${" in body or "$${" in body:
            raise ReferenceSyntaxError(
                "references cannot be nested", source=source, line=ref_line, column=ref_column,
                hint="A default of ${env:VAR:-DEFAULT} is literal text",
            )
        reference = _reference(body, text[dollar:end + 1], source, ref_line, ref_column, pipes)
        if literal_text:
            parts.append("".join(literal_text))
            literal_text = []
        parts.append(reference)
        index = end + 1
    if literal_text and "".join(literal_text):
        parts.append("".join(literal_text))
    return Template(tuple(part for part in parts if part != ""))


def _reference(body: str, raw: str, source: Optional[str], line: int, column: int, pipes: bool = False) -> Reference:
    match = (_PIPED_SECRET_BODY if pipes else _SECRET_BODY).fullmatch(body)
    if match:
        return Reference("secret", match["name"], raw, version=match["version"], json_key=match["key"],
                         source=source, line=line, column=column, pipe=match["pipe"] if pipes else None)
    match = _ENV_BODY.fullmatch(body)
    if match:
        return Reference("env", match["var"], raw, default=match["default"], source=source, line=line, column=column)
    raise _syntax_error(body, source, line, column)


def has_references(text: str) -> bool:
    """Cheap pre-check: does ``text`` contain anything ``parse`` would treat specially?"""
    return "${" in text


# resolution ---------------------------------------------------------------------------------------

def _select_key(value: Union[str, Dict[str, Any]], key: str) -> str:
    """``#KEY`` of a JSON secret (or of a dynamic secret, already a dict: core/leases.py); messages say
    what is wrong, never what the value is."""
    try:
        data = value if isinstance(value, dict) else json.loads(value)
    except ValueError:
        raise KeyError("the secret is not JSON, so #%s cannot be read" % key) from None
    if not isinstance(data, dict):
        raise KeyError("the secret is JSON but not an object, so #%s cannot be read" % key)
    if key not in data:
        raise KeyError(f"the secret has no key '{key}'")
    selected = data[key]
    if isinstance(selected, str):
        return selected
    return json.dumps(selected, separators=(",", ":"), sort_keys=True)


class Resolver:
    """Resolves many templates with one fetch call; keeps strict/warn policy in one place."""

    def __init__(self, fetch: Fetch, provider: Union[str, Callable[[], str]], *,
                 env: Optional[Mapping[str, str]] = None, strict: bool = True, warn: Optional[Warn] = None,
                 ignore_grace: bool = False) -> None:
        self.fetch = fetch
        self._provider = provider
        self.env = os.environ if env is None else env
        self.strict = strict
        self.warn = warn
        #: ``@previous`` reads the previous version even after its grace period has ended
        self.ignore_grace = ignore_grace

    def _item(self, reference: Reference) -> Item:
        name, version = reference.item
        return name, version_for_read(version, self.ignore_grace)

    @property
    def provider(self) -> str:
        """The provider named in failures; a callable is asked only when something failed."""
        return self._provider() if callable(self._provider) else self._provider

    def _fetch_all(self, templates: Sequence[Template]) -> Dict[Item, object]:
        items = list(dict.fromkeys(self._item(ref) for template in templates for ref in template.references
                                   if ref.kind == "secret"))
        if not items:
            return {}
        try:
            found = dict(self.fetch(items))
        except SecretError as exc:
            return {item: exc for item in items}
        return found

    def _value(self, reference: Reference, outcomes: Mapping[Item, object]) -> Tuple[Optional[str], Optional[Failure]]:
        if reference.kind == "env":
            value = self.env.get(reference.name)
            if reference.default is not None and not value:
                return reference.default, None
            if value is None:
                return None, Failure(reference, "env", f"the environment variable {reference.name} is not set")
            return value, None
        outcome = outcomes.get(self._item(reference))
        if outcome is None:
            outcome = SecretError("the provider returned nothing for this secret")
        if isinstance(outcome, SecretError):
            return None, Failure(reference, outcome.provider or self.provider, str(outcome))
        if isinstance(outcome, BaseException):
            return None, Failure(reference, self.provider, f"unexpected {type(outcome).__name__}")
        value = outcome.value if isinstance(outcome, Secret) else str(outcome)
        if reference.json_key:
            try:
                return _select_key(value, reference.json_key), None
            except KeyError as exc:
                return None, Failure(reference, self.provider, exc.args[0])
        if isinstance(value, dict):  # a dynamic secret without #KEY: its fields as JSON
            return json.dumps(value, separators=(",", ":"), sort_keys=True), None
        return value, None

    def resolve_all(self, templates: Sequence[Template]) -> List[str]:
        """Render every template; one fetch for all of them. Raises UnresolvedReference (strict)."""
        outcomes = self._fetch_all(templates)
        failures: List[Failure] = []
        values: Dict[Reference, str] = {}
        for template in templates:
            for reference in template.references:
                if reference in values:
                    continue
                value, failure = self._value(reference, outcomes)
                if failure is not None:
                    failures.append(failure)
                    values[reference] = reference.raw
                else:
                    values[reference] = value  # type: ignore[assignment]
        if failures:
            if self.strict:
                raise UnresolvedReference(failures)
            if self.warn is not None:
                for failure in failures:
                    self.warn(f"{failure.describe()}; left as written because strict is false")
        return [template.render(values.__getitem__) for template in templates]

    def resolve(self, text: str, source: Optional[str] = None) -> str:
        return self.resolve_all([parse(text, source)])[0]


def resolve(text: str, fetch: Fetch, provider: Union[str, Callable[[], str]], *, source: Optional[str] = None,
            env: Optional[Mapping[str, str]] = None, strict: bool = True, warn: Optional[Warn] = None,
            ignore_grace: bool = False) -> str:
    """Parse and resolve one string (what the ``resolve`` filter does)."""
    return Resolver(fetch, provider, env=env, strict=strict, warn=warn, ignore_grace=ignore_grace).resolve(text, source)
