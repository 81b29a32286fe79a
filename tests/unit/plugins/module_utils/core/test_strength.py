"""core/strength.py: every rule, the policy's own validation, the collection-wide sources, and that
generated values pass the default policy; no message ever holds the value."""
from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.vibebox.secrets.plugins.module_utils.core import compliance, generators, strength
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption, WeakSecretValue

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 5))
DEFAULT = strength.StrengthPolicy.from_options({})
CANARY = "CANARY-strength-0451"


def _only(**rules) -> strength.StrengthPolicy:
    """A policy with only the rules given (the others off)."""
    return strength.StrengthPolicy.from_options(rules, defaults=False)


def test_classes_any_non_alphanumeric_is_a_symbol():
    assert strength.classes_of("aB3") == ["lower", "upper", "digits"]
    assert strength.classes_of("$ é") == ["symbols"]
    assert strength.classes_of("") == []
    # the generators' names are the same, so a generator's classes are a policy's classes
    assert tuple(generators.CLASSES) == strength.CLASS_NAMES


def test_entropy_estimate_counts_the_pool_and_penalises_runs_and_repeats():
    assert strength.entropy_bits("") == 0.0
    assert strength.entropy_bits("qz") == pytest.approx(2 * 4.7, abs=0.1)  # lower only: log2(26) each
    assert strength.entropy_bits("aaaaaaaaaaaaaaaaaaaa") == pytest.approx(4.7 + 19, abs=0.1)
    assert strength.entropy_bits("abcdefghijklmnopqrst") == pytest.approx(4.7 + 19, abs=0.1)
    assert strength.entropy_bits("9876543210") == pytest.approx(3.3 + 9, abs=0.1)
    assert strength.entropy_bits("x8#Kd93mZq!pL0vB") > 100  # 16 characters from 95


@pytest.mark.parametrize("value", ["changeme", "CHANGEME", " secret ", "Password123!", "!!Admin2024", "123456",
                                   "<secret-key>", "<your token here>"])
def test_forbidden_values_ignore_case_and_decoration(value):
    assert strength.is_forbidden(value, strength.DEFAULT_FORBIDDEN)
    assert strength.violations(strength.measure(value, strength.DEFAULT_FORBIDDEN), _only())[0].startswith("forbidden")


@pytest.mark.parametrize("value", ["changemenow", "password-manager-entry", "s3cr3t-but-long-9Q", ""])
def test_values_that_only_contain_a_weak_word_are_not_forbidden(value):
    assert not strength.is_forbidden(value, strength.DEFAULT_FORBIDDEN)


def test_each_rule_names_itself_and_never_the_value():
    value = CANARY
    policy = _only(min_length=40, classes=["upper", "digits"], min_entropy_bits=500, forbidden=[value.lower()])
    found = strength.check(value, policy)
    assert [text.split(":")[0] for text in found] == ["forbidden", "too short", "too little entropy"]
    assert found[1] == f"too short: {len(value)} characters, min_length is 40"
    assert "min_entropy_bits is 500" in found[2]
    assert not any(value in text or value.lower() in text for text in found)
    missing = strength.check("lowercaseonlylongvaluexx", _only(classes=["upper", "digit", "symbol"]))
    assert missing == ["missing character classes: upper, digits, symbols"]


def test_a_rule_at_zero_is_off_and_the_defaults_apply_on_write():
    assert strength.check("ab", _only()) == []
    assert strength.check("ab", _only(min_length=0, min_entropy_bits=0, forbidden=[])) == []
    assert DEFAULT.min_length == 16 and DEFAULT.min_entropy_bits == 64 and DEFAULT.classes == ()
    assert "changeme" in DEFAULT.forbidden
    # a key given replaces only its own default
    mixed = strength.StrengthPolicy.from_options({"min_length": 8})
    assert (mixed.min_length, mixed.min_entropy_bits, mixed.forbidden) == (8, 64, DEFAULT.forbidden)
    assert strength.StrengthPolicy.from_options({"forbidden": ["Hunter2"]}).forbidden == ("hunter2",)


@pytest.mark.parametrize("options, words", [
    ({"min_length": -1}, "policy.min_length must be a whole number, 0 or more (got -1)"),
    ({"min_length": "16"}, "policy.min_length"),
    ({"min_length": True}, "policy.min_length"),
    ({"min_entropy_bits": -3}, "policy.min_entropy_bits"),
    ({"min_entropy_bits": "many"}, "policy.min_entropy_bits"),
    ({"classes": "upper"}, "policy.classes must be a list"),
    ({"classes": ["upper", "emoji"]}, "emoji"),
    ({"forbidden": "changeme"}, "policy.forbidden must be a list of strings"),
    ({"forbidden": [1, 2]}, "policy.forbidden"),
    ({"max_length": 3, "mode": "x"}, "policy has unknown keys ['max_length', 'mode']"),
    (["min_length"], "policy must be a dict"),
    ("{not json", "policy is not valid JSON"),
])
def test_bad_policies_fail_naming_the_option(options, words):
    with pytest.raises(InvalidOption) as caught:
        strength.StrengthPolicy.from_options(options)
    assert words in str(caught.value)


def test_policy_as_json_text_and_the_mode():
    assert strength.StrengthPolicy.from_options('{"min_length": 30}').min_length == 30
    assert strength.parse_mode(None) == "enforce" and strength.parse_mode(" WARN ") == "warn"
    with pytest.raises(InvalidOption, match="policy_mode must be one of enforce, warn"):
        strength.parse_mode("strict")


def test_enforcer_refuses_in_enforce_and_records_in_warn():
    assert not strength.Enforcer.from_options(None, None).active
    assert strength.Enforcer.from_options(None, None).breaks("a", "x") == []
    enforce = strength.Enforcer.from_options({}, "enforce")
    with pytest.raises(WeakSecretValue) as caught:
        enforce.require("api-key", "CANARY-weak", provider="local")
    text = str(caught.value)
    assert "[local] secret 'api-key'" in text and "too short: 11 characters, min_length is 16" in text
    assert "CANARY" not in text and caught.value.kind == "weak_value" and enforce.warnings == []
    warn = strength.Enforcer.from_options({"min_length": 64}, "warn")
    warn.require("api-key", CANARY)
    assert len(warn.warnings) == 1 and "secret 'api-key'" in warn.warnings[0] and CANARY not in warn.warnings[0]
    warn.require("other", generators.generate("hex", 64))
    assert len(warn.warnings) == 1


def _role_generators():
    with open(os.path.join(ROOT, "roles", "rotate", "defaults", "main.yml"), encoding="utf-8") as handle:
        return [item["generator"] for item in yaml.safe_load(handle)["rotate_secrets"] if item.get("generator")]


@pytest.mark.parametrize("kind", generators.GENERATOR_TYPES)
def test_every_generator_default_passes_the_default_policy(kind):
    for _attempt in range(200):
        value = generators.generate(kind)
        assert strength.check(value, DEFAULT) == [], kind


def test_the_rotate_roles_generators_pass_the_default_policy():
    specs = _role_generators()
    assert len(specs) >= 4
    for spec in specs:
        for _attempt in range(100):
            assert strength.check(generators.from_spec(spec), DEFAULT) == [], spec


def test_collection_policy_sources_in_order():
    variables = {"vibebox_secrets_policy": {"min_length": 20}, "vibebox_secrets_policy_mode": "warn"}
    env = {"VIBEBOX_SECRETS_POLICY": '{"min_length": 30}', "VIBEBOX_SECRETS_POLICY_MODE": "enforce"}
    ini = {"policy": '{"min_length": 40}', "policy_mode": "warn"}
    assert strength.collection_policy({}, variables, env, ini) == {"policy": {"min_length": 20}, "policy_mode": "warn"}
    assert strength.collection_policy({}, {}, env, ini) == {"policy": {"min_length": 30}, "policy_mode": "enforce"}
    assert strength.collection_policy({}, {}, {}, ini) == {"policy": {"min_length": 40}, "policy_mode": "warn"}
    assert strength.collection_policy({}, {}, {}, {}) == {}
    # the task's own option wins
    assert strength.collection_policy({"policy": {}, "policy_mode": "enforce"}, variables, env, ini) == {}
    # an empty variable is the default policy ({}), not "no policy"
    assert strength.collection_policy({}, {"vibebox_secrets_policy": {}}, {}, {}) == {"policy": {}}


@pytest.mark.parametrize("variables, env, ini, words", [
    ({"vibebox_secrets_policy": {"min_length": -1}}, {}, {}, "vibebox_secrets_policy.min_length"),
    ({}, {"VIBEBOX_SECRETS_POLICY": "{oops"}, {}, "VIBEBOX_SECRETS_POLICY is not valid JSON"),
    ({}, {}, {"policy": '{"colour": 1}'}, "[vibebox_secrets] policy in ansible.cfg has unknown keys"),
    ({"vibebox_secrets_policy_mode": "strict"}, {}, {}, "vibebox_secrets_policy_mode must be one of"),
])
def test_a_bad_collection_policy_names_its_source(variables, env, ini, words):
    with pytest.raises(InvalidOption) as caught:
        strength.collection_policy({}, variables, env, ini)
    assert words in str(caught.value)


def test_the_compliance_report_uses_the_same_rules():
    policy = compliance.Policy.from_options({"min_length": 20, "min_entropy_bits": 64, "forbidden": ["hunter2"]})
    for value in ("hunter2", "Password123!", CANARY, generators.generate("password", 40)):
        measured = strength.measure(value, policy.strength.forbidden)
        row = compliance.assess({}, None, None, policy, compliance._utc(None) or _now(), measured)
        assert row["violations"] == strength.check(value, policy.strength)
        assert value not in repr(row)
    assert compliance.report_lines([], policy)[-1].endswith("(policy: min_length 20, min_entropy_bits 64, 1 forbidden values)")
    with pytest.raises(InvalidOption, match="unknown fields"):
        compliance.Policy.from_options({"policy_mode": "warn"})


def _now():
    import datetime as dt

    return dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
