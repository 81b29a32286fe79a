"""The .env parser: every accepted form, positions, errors that never show a value, rewrite/render."""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import dotenv
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import DotenvSyntaxError, SecretError

CANARY = "CANARY-d0t3nv-77"


def one(text: str) -> dotenv.DotenvEntry:
    entries = dotenv.parse(text)
    assert len(entries) == 1, entries
    return entries[0]


# accepted forms ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("A=b", "b"),
    ("A=", ""),
    ("A = b", "b"),
    ("A\t=\tb\t", "b"),
    ("  A=b", "b"),
    ("A=b c  d", "b c  d"),
    ("A=b # comment", "b"),
    ("A=b\t# comment", "b"),
    ("A=b#c", "b#c"),
    ("A=#b", "#b"),
    ("A= # only a comment", ""),
    ("A=http://x/?a=1&b=2", "http://x/?a=1&b=2"),
    ("A=${secret:db-password}", "${secret:db-password}"),
    ("A='lit $x \\n \"q\"'", 'lit $x \\n "q"'),
    ("A='a # not a comment'", "a # not a comment"),
    ("A=''", ""),
    ('A=""', ""),
    ('A="a\\nb"', "a\nb"),
    ('A="tab\\there"', "tab\there"),
    ('A="q\\"uote"', 'q"uote'),
    ('A="back\\\\slash"', "back\\slash"),
    ('A="keep \\$ and \\w"', "keep \\$ and \\w"),
    ('A="x" # comment', "x"),
    ('A="x"   ', "x"),
    ("A='x'#c", "x"),
    ('A="it\'s"', "it's"),
    ("A.b-c_D=1", "1"),
    ("_X=1", "1"),
])
def test_values(text, value):
    assert one(text).value == value


def test_comments_and_blank_lines_are_skipped():
    text = "# heading\n\n   \n\t# indented comment\nA=1\n\n# tail"
    assert [(e.key, e.value) for e in dotenv.parse(text)] == [("A", "1")]


def test_export_prefix():
    entry = one("export  DATABASE_PASSWORD=pw")
    assert (entry.key, entry.value, entry.exported) == ("DATABASE_PASSWORD", "pw", True)
    assert one("A=1").exported is False


def test_a_key_named_export_is_a_key():
    assert one("export=1").key == "export"
    assert one("exporter=1").key == "exporter"


@pytest.mark.parametrize("text, value", [
    ("A='line1\nline2'", "line1\nline2"),
    ('A="line1\nline2\n  line3"', "line1\nline2\n  line3"),
    ('A="-----BEGIN KEY-----\nabc\n-----END KEY-----"\nB=2', "-----BEGIN KEY-----\nabc\n-----END KEY-----"),
])
def test_multi_line_values(text, value):
    entries = dotenv.parse(text)
    assert entries[0].value == value
    if len(entries) > 1:
        assert (entries[1].key, entries[1].line) == ("B", 4)


def test_quote_kind_is_recorded():
    entries = dotenv.parse("A=1\nB='2'\nC=\"3\"")
    assert [e.quote for e in entries] == [None, "'", '"']


def test_positions_point_at_the_value():
    entries = dotenv.parse("# c\nA=1\n  export B = '2'\nC=\"x\ny\"\nD=4")
    assert [(e.key, e.line, e.column, e.key_line) for e in entries] == [
        ("A", 2, 3, 2), ("B", 3, 14, 3), ("C", 4, 3, 4), ("D", 6, 3, 6)]


def test_crlf_and_bom():
    entries = dotenv.parse("\ufeffA=1\r\nB=\"x\r\ny\"\r\nC=3 # c\r\n")
    assert dotenv.values(entries) == {"A": "1", "B": "x\ny", "C": "3"}
    assert entries[2].line == 4


def test_repeated_key_keeps_both_entries_and_values_keeps_the_last():
    entries = dotenv.parse("A=1\nA=2")
    assert len(entries) == 2
    assert dotenv.values(entries) == {"A": "2"}


def test_the_example_file_parses(tmp_path):
    import os
    root = os.path.dirname(os.path.abspath(__file__))
    while not os.path.exists(os.path.join(root, "galaxy.yml")):
        root = os.path.dirname(root)
    with open(os.path.join(root, "examples", "app.env"), encoding="utf-8") as handle:
        parsed = dotenv.values(dotenv.parse(handle.read(), "app.env"))
    assert parsed["DATABASE_PASSWORD"] and parsed["SENTRY_DSN"] == "${env:SENTRY_DSN:-}"


# errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, line, column", [
    (f"A=1\n{CANARY}\n", 2, len(CANARY) + 1),   # a value's continuation without quotes: where '=' was due
    (f"A=1\n  {CANARY} more", 2, len(CANARY) + 4),
    (f"A=1\n  {CANARY}!x=1", 2, len(CANARY) + 3),
    ("=value", 1, 1),
    (f"1A={CANARY}", 1, 1),
    (f"A='{CANARY}", 1, 3),                        # unterminated single quote: points at the quote
    (f'A="{CANARY}\nmore', 1, 3),                  # unterminated double quote
    (f'A="x" {CANARY}', 1, 7),                     # text after the closing quote
    (f"export {CANARY}", 1, 8 + len(CANARY)),      # export of a bare name
    (f"A:{CANARY}", 1, 2),
])
def test_malformed_lines(text, line, column):
    with pytest.raises(DotenvSyntaxError) as info:
        dotenv.parse(text, source="app.env")
    error = info.value
    assert isinstance(error, SecretError)
    assert (error.file, error.line, error.column) == ("app.env", line, column)
    message = str(error)
    assert message.startswith(f"app.env, line {line}, column {column}: ")
    assert CANARY not in message
    assert CANARY not in repr(error)


def test_default_source_name():
    with pytest.raises(DotenvSyntaxError, match=r"^<string>, line 1, column 2: "):
        dotenv.parse("A")


def test_bytes_are_refused():
    with pytest.raises(TypeError):
        dotenv.parse(b"A=1")


def test_repr_never_shows_the_value():
    entry = one(f"A={CANARY}")
    assert CANARY not in repr(entry)
    assert CANARY not in repr(dotenv.parse(f"A={CANARY}\nB='{CANARY}'"))


# quote / render / rewrite --------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "", "plain", "with space", " lead", "trail ", "a#b", "a #b", "#start", "q'uote", 'q"uote', "back\\slash",
    "multi\nline", "cr\rlf", "${secret:x}", "tab\there", "é ünïcode", "a=b", "'both\" quotes'",
])
@pytest.mark.parametrize("literal", [False, True])
def test_quote_round_trips(value, literal):
    written = dotenv.quote(value, literal=literal)
    assert one(f"K={written}").value == value or (literal and "${" in value and "'" in value)


def test_quote_keeps_references_resolvable_and_literals_literal():
    assert dotenv.quote("${secret:database-password}") == "${secret:database-password}"
    assert dotenv.quote("${secret:a} b") == '"${secret:a} b"'
    assert dotenv.quote("x${y}", literal=True) == "'x${y}'"
    assert dotenv.quote("it's ${y}", literal=True) == '"it\'s $${y}"'


def test_render_round_trips():
    text = "export A=1\nB='lit ${x}'\nC=\"two\nlines\"\nD=\n"
    entries = dotenv.parse(text)
    again = dotenv.parse(dotenv.render(entries))
    assert [(e.key, e.value, e.exported) for e in again] == [(e.key, e.value, e.exported) for e in entries]


def test_rewrite_keeps_everything_but_the_replaced_values():
    text = (
        "# app settings\n"
        "APP_NAME=demo\n"
        "\n"
        "export DATABASE_PASSWORD = 'pw one'  # the db\n"
        'JWT_SECRET="multi\nline"\n'
        "EMPTY=\n"
        "TRAIL=x # note\n"
        "HASH='x'#c\n"
        "BLANKCOMMENT= # c\n"
    )
    new = dotenv.rewrite(text, {
        "DATABASE_PASSWORD": "${secret:database-password}",
        "JWT_SECRET": "${secret:jwt-secret}",
        "EMPTY": "${secret:empty}",
        "TRAIL": "${secret:trail}",
        "HASH": "h",
        "BLANKCOMMENT": "b",
    })
    assert new == (
        "# app settings\n"
        "APP_NAME=demo\n"
        "\n"
        "export DATABASE_PASSWORD = ${secret:database-password}  # the db\n"
        "JWT_SECRET=${secret:jwt-secret}\n"
        "EMPTY=${secret:empty}\n"
        "TRAIL=${secret:trail} # note\n"
        "HASH=h #c\n"
        "BLANKCOMMENT= b # c\n"
    )
    assert dotenv.values(dotenv.parse(new))["HASH"] == "h"
    assert dotenv.values(dotenv.parse(new))["TRAIL"] == "${secret:trail}"


def test_rewrite_replaces_every_occurrence_and_keeps_crlf_and_bom():
    text = "\ufeffA=old1\r\nB=keep\r\nA=\"old2\"\r\n"
    assert dotenv.rewrite(text, {"A": "${secret:a}"}) == "\ufeffA=${secret:a}\r\nB=keep\r\nA=${secret:a}\r\n"


@pytest.mark.parametrize("text, expected", [
    ("# c\nZ=1 # x\r\n", "# c\nZ=1 # x\r\n"),
    ("A=1\r\nB=2\nA=3\r\n", "A=v\r\nB=2\nA=v\r\n"),
    ("\ufeffA=\"x\r\ny\"\r\nB=2", "\ufeffA=v\r\nB=2"),
    ("X=1\r\n\r\nA='q' # c\r\n", "X=1\r\n\r\nA=v # c\r\n"),
])
def test_rewrite_keeps_mixed_line_endings(text, expected):
    assert dotenv.rewrite(text, {"A": "v"}) == expected


def test_restore_values_puts_back_the_copys_values_byte_for_byte_and_keeps_the_rest():
    copy = "\ufeffexport A='x $y' # note\r\nB=\"q\\\"z\"\r\nC=plain\r\n"
    now = "\ufeffexport A=${secret:a} # note\r\nB=${secret:b}\r\nC=edited\r\nD=new\r\n"
    merged = dotenv.restore_values(now, copy, ["A", "B"])
    assert merged == "\ufeffexport A='x $y' # note\r\nB=\"q\\\"z\"\r\nC=edited\r\nD=new\r\n"
