"""References: every form of the syntax, escapes, errors with line/column, batch resolution, strict."""
from __future__ import annotations

import json

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import references as refs
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import SecretDenied, SecretNotFound
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata

CANARY = "CANARY-9f1c2e"


def secret(value: str, name: str = "x") -> Secret:
    return Secret(value, SecretMetadata(name=name, version="1"))


class Store:
    """A fetch callable that records every batch it is asked for."""

    def __init__(self, values):
        self.values = values
        self.calls = []

    def __call__(self, items):
        self.calls.append(list(items))
        out = {}
        for name, version in items:
            key = name if version is None else f"{name}@{version}"
            if key in self.values:
                out[(name, version)] = secret(self.values[key], name)
            else:
                out[(name, version)] = SecretNotFound("it does not exist", provider="local", name=name)
        return out


# parse: every form ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, kind, name, version, key, default",
    [
        ("${secret:jwt-secret}", "secret", "jwt-secret", None, None, None),
        ("${secret:app/db.password_1}", "secret", "app/db.password_1", None, None, None),
        ("${secret:database#password}", "secret", "database", None, "password", None),
        ("${secret:jwt-secret@previous}", "secret", "jwt-secret", "previous", None, None),
        ("${secret:jwt-secret@3}", "secret", "jwt-secret", "3", None, None),
        ("${secret:k@a1b2c3d4-0000-4000-8000-000000000000}", "secret", "k",
         "a1b2c3d4-0000-4000-8000-000000000000", None, None),
        ("${secret:database@previous#user name}", "secret", "database", "previous", "user name", None),
        ("${env:HOME}", "env", "HOME", None, None, None),
        ("${env:_X1}", "env", "_X1", None, None, None),
        ("${env:PORT:-5432}", "env", "PORT", None, None, "5432"),
        ("${env:EMPTY_DEFAULT:-}", "env", "EMPTY_DEFAULT", None, None, ""),
        ("${env:URL:-http://a:b@c/d?e=f}", "env", "URL", None, None, "http://a:b@c/d?e=f"),
    ],
)
def test_every_form_parses(text, kind, name, version, key, default):
    template = refs.parse(text)
    assert len(template.parts) == 1
    ref = template.parts[0]
    assert (ref.kind, ref.name, ref.version, ref.json_key, ref.default) == (kind, name, version, key, default)
    assert ref.raw == text


@pytest.mark.parametrize(
    "text, literal",
    [
        ("plain text", "plain text"),
        ("", ""),
        ("$${secret:x}", "${secret:x}"),
        ("$${", "${"),
        ("price $5 and $HOME", "price $5 and $HOME"),
        ("$$ stays $$", "$$ stays $$"),
        ("ends with $", "ends with $"),
        ("a }{ b", "a }{ b"),
        ("$$${", "$${"),
    ],
)
def test_literals_and_escapes(text, literal):
    template = refs.parse(text)
    assert template.references == []
    assert template.render(lambda ref: "?") == literal


def test_mixed_text_keeps_order_and_escapes():
    text = "postgres://${env:DB_USER:-app}:${secret:database-password}@db/app?x=$${y}"
    template = refs.parse(text)
    kinds = [part if isinstance(part, str) else part.kind for part in template.parts]
    assert kinds == ["postgres://", "env", ":", "secret", "@db/app?x=${y}"]


def test_positions_count_lines_and_columns_from_the_given_start():
    template = refs.parse("ab ${secret:a}\nxyz ${env:B}", source="app.env", line=4, column=10)
    first, second = template.references
    assert (first.line, first.column) == (4, 13)  # first line is offset by the start column
    assert (second.line, second.column) == (5, 5)  # later lines count from column 1
    assert first.where == "app.env, line 4, column 13"


# parse: errors -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, column, fragment",
    [
        ("${HOME}", 1, "${env:HOME}"),
        ("x=${}", 3, "empty reference"),
        ("${secret:}", 1, "name is missing"),
        ("${secret:a b}", 1, "invalid ${secret:"),
        ("${secret:a@}", 1, "version after '@' is empty"),
        ("${secret:a#}", 1, "JSON key after '#' is empty"),
        ("${secret:a@prev@ious}", 1, "invalid ${secret:"),
        ("${env:1ABC}", 1, "invalid ${env:"),
        ("${env:A-B}", 1, "invalid ${env:"),
        ("${vault:a}", 1, "unknown reference kind 'vault:'"),
        ("abc ${secret:x", 5, "not closed"),
        ("${secret:x\n}", 1, "not closed"),
        ("${env:A:-${env:B}}", 1, "nested"),
    ],
)
def test_errors_name_file_line_and_column(text, column, fragment):
    with pytest.raises(refs.ReferenceSyntaxError) as caught:
        refs.parse(text, source="app.env", line=7)
    message = str(caught.value)
    assert message.startswith(f"app.env, line 7, column {column}:"), message
    assert fragment in message
    assert (caught.value.line, caught.value.column, caught.value.source) == (7, column, "app.env")


def test_error_without_file_names_line_and_column():
    with pytest.raises(refs.ReferenceSyntaxError) as caught:
        refs.parse("ok\n  ${bad thing}")
    assert str(caught.value).startswith("line 2, column 3:")


def test_syntax_errors_do_not_echo_what_might_be_a_value():
    with pytest.raises(refs.ReferenceSyntaxError) as caught:
        refs.parse("PASSWORD=pa${" + CANARY + " x}")
    assert CANARY not in str(caught.value)
    with pytest.raises(refs.ReferenceSyntaxError) as caught:
        refs.parse("${s3cr:" + CANARY + "}")
    assert CANARY not in str(caught.value)


# resolution ----------------------------------------------------------------------------------

def test_every_secret_of_many_templates_is_fetched_in_one_batch():
    store = Store({"a": "A", "b": "B", "c@previous": "C0", "d": json.dumps({"user": "u", "port": 5432})})
    templates = [refs.parse(t) for t in ("${secret:a}-${secret:b}", "${secret:a}", "${secret:c@previous}",
                                         "${secret:d#user}:${secret:d#port}", "${secret:a@current}")]
    values = refs.Resolver(store, "local", env={}).resolve_all(templates)
    assert values == ["A-B", "A", "C0", "u:5432", "A"]
    assert len(store.calls) == 1
    assert sorted(store.calls[0], key=str) == sorted([("a", None), ("b", None), ("c", "previous"), ("d", None)], key=str)


def test_a_dynamic_secret_is_a_dict_whose_fields_references_pick():
    lease = {"username": "v-app", "password": CANARY, "lease_id": "database/creds/app/L1", "lease_duration": 60}
    store = Store({"database/creds/app": lease})
    templates = [refs.parse(t) for t in ("${secret:database/creds/app#username}", "${secret:database/creds/app}")]
    user, whole = refs.Resolver(store, "vault", env={}).resolve_all(templates)
    assert user == "v-app"
    assert json.loads(whole) == lease


def test_no_fetch_when_there_is_no_secret_reference():
    store = Store({})
    assert refs.resolve("${env:A}/${env:B:-b}", store, "local", env={"A": "a"}) == "a/b"
    assert store.calls == []


@pytest.mark.parametrize(
    "text, env, expected",
    [
        ("${env:A}", {"A": "1"}, "1"),
        ("${env:A}", {"A": ""}, ""),
        ("${env:A:-d}", {"A": ""}, "d"),  # as in a shell, :- also covers an empty variable
        ("${env:A:-d}", {}, "d"),
        ("${env:A:-d}", {"A": "set"}, "set"),
        ("x$${env:A}y", {}, "x${env:A}y"),
    ],
)
def test_env_references(text, env, expected):
    assert refs.resolve(text, Store({}), "local", env=env) == expected


def test_unresolved_reference_names_reference_provider_and_reason_never_the_value():
    store = Store({"present": CANARY})
    with pytest.raises(refs.UnresolvedReference) as caught:
        refs.resolve("${secret:present} ${secret:missing}", store, "vault", source="app.env")
    message = str(caught.value)
    assert "${secret:missing}" in message
    assert "app.env, line 1, column 19" in message
    assert "provider 'local'" in message  # the error's own provider wins over the default
    assert "does not exist" in message
    assert CANARY not in message


def test_all_failures_are_reported_at_once():
    with pytest.raises(refs.UnresolvedReference) as caught:
        refs.resolve("${secret:a} ${env:NOPE} ${secret:b#k}", Store({"b": "not json " + CANARY}), "aws", env={})
    message = str(caught.value)
    assert message.startswith("3 references could not be resolved")
    assert "${env:NOPE}" in message and "environment variable NOPE is not set" in message
    assert "provider 'env'" in message
    assert "${secret:b#k}" in message and "not JSON" in message
    assert CANARY not in message


@pytest.mark.parametrize(
    "stored, key, reason",
    [
        ('{"a": 1}', "b", "has no key 'b'"),
        ('["a"]', "a", "not an object"),
        ("plain", "a", "not JSON"),
    ],
)
def test_json_key_failures(stored, key, reason):
    with pytest.raises(refs.UnresolvedReference) as caught:
        refs.resolve("${secret:s#%s}" % key, Store({"s": stored}), "local")
    assert reason in str(caught.value)


def test_strict_false_leaves_the_reference_as_written_and_warns():
    warnings = []
    text = "a=${secret:missing@previous#k} b=${secret:ok} c=${env:NOPE}"
    out = refs.resolve(text, Store({"ok": "fine"}), "local", env={}, strict=False, warn=warnings.append)
    assert out == "a=${secret:missing@previous#k} b=fine c=${env:NOPE}"
    assert len(warnings) == 2
    assert "${secret:missing@previous#k}" in warnings[0] and "strict is false" in warnings[0]


def test_a_failed_batch_fails_every_secret_reference_with_its_reason():
    def broken(items):
        raise SecretDenied("access denied", provider="aws")

    with pytest.raises(refs.UnresolvedReference) as caught:
        refs.resolve("${secret:a}${secret:b}${env:X:-ok}", broken, "aws", env={})
    assert "2 references" in str(caught.value) and "access denied" in str(caught.value)


def test_env_default_is_masked_in_messages():
    ref = refs.parse("${env:DB_PASSWORD:-" + CANARY + "}").references[0]
    assert CANARY not in ref.text
    assert ref.text == "${env:DB_PASSWORD:-...}"


def test_plain_string_outcomes_are_accepted():
    assert refs.resolve("<${secret:a}>", lambda items: {item: "v" for item in items}, "x") == "<v>"
