# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""A ``.env`` parser and rewriter that understands what common dotenv loaders accept.

Why our own: python-dotenv is not an ansible-core dependency, and both the dotenv lookup and the
migration need positions (line and column of every value, for error messages and for rewriting the
file in place), which loaders do not give.

Accepted syntax (the common subset of python-dotenv, motdotla/dotenv and docker compose)::

    # a comment line                 blank lines
    KEY=value                        KEY = value            (whitespace around '=')
    export KEY=value                 KEY=                   (empty value)
    KEY=value # comment              KEY=a#b, KEY=#b        ('#' starts a comment only after whitespace)
    KEY= # comment                   (an empty value)
    KEY='literal $ \\ "'             single quotes: taken as written, may span lines
    KEY="a\\nb \\"q\\" \\\\"              double quotes: \\n \\r \\t \\" \\\\ \\' decoded, may span lines
    KEY="..." # comment              text after a closing quote may only be a comment

Anything else is a DotenvSyntaxError naming file, line and column and never the text of the line.
Keys are ``[A-Za-z_][A-Za-z0-9_.-]*``. A key that appears twice keeps its last value (loaders agree);
``parse`` returns both entries so callers can decide.

``line``/``column`` of an entry are where its value starts (the opening quote when quoted), so the
reference parser can report positions inside the file. ``repr()`` of an entry never shows the value.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import DotenvSyntaxError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_EXPORT = re.compile(r"export[ \t]+")
_BLANK = " \t"
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "'": "'"}
# A value that needs no quotes: what survives an unquoted round trip and is not ambiguous to a reader.
_BARE = re.compile(r"[A-Za-z0-9_./:@%+,=${}-]*")


@dataclass(frozen=True)
class DotenvEntry:
    """One ``KEY=value`` assignment.

    ``line``/``column`` (1-based) locate the first character of the value as written (the opening
    quote when quoted); ``span`` is the offset range of the value as written (quotes included) in the
    file's text after CRLF normalisation, used by ``rewrite``. ``value`` is decoded.
    """

    key: str
    value: str = field(repr=False)
    line: int
    column: int
    quote: Optional[str] = None
    exported: bool = False
    key_line: int = field(default=0, compare=False)
    span: Tuple[int, int] = field(default=(0, 0), repr=False, compare=False)


class _Scanner:
    """Walks the text once, tracking line and column for messages."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.pos = 0
        self.line = 1
        self.line_start = 0

    @property
    def column(self) -> int:
        return self.pos - self.line_start + 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def advance(self, count: int = 1) -> None:
        for _index in range(count):
            if self.text[self.pos] == "\n":
                self.line += 1
                self.line_start = self.pos + 1
            self.pos += 1

    def skip_blanks(self) -> None:
        while self.peek() and self.peek() in _BLANK:
            self.pos += 1

    def skip_to_line_end(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end

    def end_line(self) -> None:
        """Consume the newline ending the current line (if any)."""
        if self.peek() == "\n":
            self.advance()

    def error(self, reason: str, line: Optional[int] = None, column: Optional[int] = None,
              hint: Optional[str] = None) -> DotenvSyntaxError:
        return DotenvSyntaxError(reason, file=self.source, line=line or self.line,
                                 column=column or self.column, hint=hint)


def _normalise(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n")


def parse(text: str, source: str = "<string>") -> List[DotenvEntry]:
    """Every assignment of ``text`` in file order; raises DotenvSyntaxError on a malformed line."""
    if not isinstance(text, str):
        raise TypeError("dotenv.parse() takes text (str); decode the file first")
    scanner = _Scanner(_normalise(text), source)
    entries: List[DotenvEntry] = []
    while not scanner.at_end():
        scanner.skip_blanks()
        char = scanner.peek()
        if char in ("\n", ""):
            scanner.end_line()
            continue
        if char == "#":
            scanner.skip_to_line_end()
            scanner.end_line()
            continue
        entries.append(_assignment(scanner))
    return entries


def _assignment(scanner: _Scanner) -> DotenvEntry:
    text = scanner.text
    exported = False
    export = _EXPORT.match(text, scanner.pos)
    if export and _KEY.match(text, export.end()):
        exported = True
        scanner.pos = export.end()
    key_line = scanner.line
    key_match = _KEY.match(text, scanner.pos)
    if not key_match:
        raise scanner.error(
            "expected KEY=VALUE (a key starts with a letter or '_' and has letters, digits, '_', '.' or '-')",
            hint="Quote a value that spans several lines; start a comment with '#'",
        )
    key = key_match.group(0)
    scanner.pos = key_match.end()
    scanner.skip_blanks()
    if scanner.peek() != "=":
        raise scanner.error(
            "expected '=' after the key", line=key_line, column=scanner.column,
            hint="Write KEY=VALUE (KEY= for an empty value); quote a value that spans several lines",
        )
    scanner.pos += 1
    before_blanks = scanner.pos
    scanner.skip_blanks()
    line, column, start = scanner.line, scanner.column, scanner.pos
    quote = scanner.peek()
    if quote == "'":
        value = _single_quoted(scanner)
    elif quote == '"':
        value = _double_quoted(scanner)
    else:
        quote = ""
        # KEY= # comment: the blank before '#' makes it a comment, as after a value
        value = "" if scanner.peek() == "#" and scanner.pos > before_blanks else _unquoted(scanner)
    end = scanner.pos if quote else start + len(value)
    if quote:
        _after_quote(scanner)
    else:
        scanner.skip_to_line_end()
    scanner.end_line()
    return DotenvEntry(key=key, value=value, line=line, column=column, quote=quote or None,
                       exported=exported, key_line=key_line, span=(start, end))


def _single_quoted(scanner: _Scanner) -> str:
    line, column = scanner.line, scanner.column
    text = scanner.text
    close = text.find("'", scanner.pos + 1)
    if close < 0:
        raise scanner.error("the single-quoted value is not closed", line=line, column=column,
                            hint="Add the closing ' (a single-quoted value cannot contain ')")
    value = text[scanner.pos + 1:close]
    scanner.advance(close + 1 - scanner.pos)
    return value


def _double_quoted(scanner: _Scanner) -> str:
    line, column = scanner.line, scanner.column
    text = scanner.text
    scanner.advance()
    out: List[str] = []
    while True:
        char = scanner.peek()
        if not char:
            raise scanner.error("the double-quoted value is not closed", line=line, column=column,
                                hint='Add the closing " (write \\" for a quote inside the value)')
        if char == '"':
            scanner.advance()
            return "".join(out)
        if char == "\\" and scanner.pos + 1 < len(text):
            following = text[scanner.pos + 1]
            if following in _ESCAPES:
                out.append(_ESCAPES[following])
                scanner.advance(2)
                continue
            # unknown escapes (\$, \w ...) are kept as written, like python-dotenv does
        out.append(char)
        scanner.advance()


def _unquoted(scanner: _Scanner) -> str:
    text = scanner.text
    end = text.find("\n", scanner.pos)
    end = len(text) if end < 0 else end
    raw = text[scanner.pos:end]
    comment = re.search(r"[ \t]#", raw)
    if comment:
        raw = raw[:comment.start()]
    return raw.rstrip(_BLANK)


def _after_quote(scanner: _Scanner) -> None:
    scanner.skip_blanks()
    char = scanner.peek()
    if char in ("\n", ""):
        return
    if char == "#":
        scanner.skip_to_line_end()
        return
    raise scanner.error("unexpected text after the closing quote",
                        hint="Only a comment ('# ...') may follow a quoted value; quote the whole value")


def values(entries: Iterable[DotenvEntry]) -> dict:
    """KEY -> value, a repeated key keeping its last value (what loaders do)."""
    return {entry.key: entry.value for entry in entries}


def quote(value: str, literal: bool = False) -> str:
    """``value`` as it should be written after ``KEY=`` so that ``parse`` gives it back.

    ``literal`` says the value must not be read as ``${...}`` references by the dotenv lookup: then
    single quotes are preferred (dotenv never interprets them). Otherwise a plain value stays bare
    and anything else is double-quoted with escapes.
    """
    if literal and "${" in value:
        if "'" not in value:
            return f"'{value}'"
        value = value.replace("${", "$${")  # the reference escape: the lookup reads it as a literal ${
    if not literal and value and _BARE.fullmatch(value):
        return value
    if literal and value and _BARE.fullmatch(value) and "$" not in value:
        return value
    if not value:
        return ""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def render(entries: Iterable[DotenvEntry]) -> str:
    """A fresh file with one line per entry (no comments: use ``rewrite`` to keep a file's layout)."""
    lines = []
    for entry in entries:
        prefix = "export " if entry.exported else ""
        lines.append(f"{prefix}{entry.key}={quote(entry.value, literal=entry.quote == chr(39))}")
    return "".join(line + "\n" for line in lines)


def rewrite(text: str, replacements: Mapping[str, str], source: str = "<string>") -> str:
    """``text`` with the values of ``replacements``' keys replaced, everything else kept byte for byte.

    Comments, blank lines, order, ``export``, trailing comments and line endings (even mixed) stay.
    Every occurrence of a repeated key is replaced: the earlier ones are dead for loaders but still
    hold a secret. Values are written so references in them are resolved by the lookup (bare or
    double-quoted).
    """
    return _splice(text, {key: quote(value) for key, value in replacements.items()}, source)


def _splice(text: str, written: Mapping[str, str], source: str) -> str:
    """``text`` with the value of each key of ``written`` replaced by that text as written, the rest byte for
    byte (every occurrence of a repeated key)."""
    original = _original_offsets(text)
    pieces: List[str] = []
    cursor = 0
    for entry in parse(text, source):
        if entry.key not in written:
            continue
        start, end = original(entry.span[0]), original(entry.span[1])
        pieces.append(text[cursor:start])
        pieces.append(written[entry.key])
        if text.startswith("#", end) and not written[entry.key].endswith(" "):  # KEY='x'#c: keep '#' a comment
            pieces.append(" ")
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def restore_values(text: str, copy: str, keys: Sequence[str], source: str = "<string>") -> str:
    """``text`` with the values of ``keys`` put back as ``copy`` writes them, byte for byte (quotes and escapes
    as they were), everything else of ``text`` kept: undoing a rewrite to references in a file edited since."""
    wanted = set(keys)
    copy_original = _original_offsets(copy)
    written: Dict[str, str] = {}
    for entry in parse(copy, source):
        if entry.key in wanted:
            written[entry.key] = copy[copy_original(entry.span[0]):copy_original(entry.span[1])]
    return _splice(text, written, source)


def _original_offsets(text: str):
    """Maps an offset in ``_normalise(text)`` back to ``text`` (undoing the BOM and CR removals)."""
    shift = 1 if text.startswith("\ufeff") else 0
    removed: List[int] = []  # normalised offsets at which a '\r' was dropped
    body = text[shift:]
    index = body.find("\r\n")
    while index >= 0:
        removed.append(index - len(removed))
        index = body.find("\r\n", index + 2)

    def original(offset: int) -> int:
        return offset + shift + bisect.bisect_right(removed, offset - 1) if removed else offset + shift

    return original
