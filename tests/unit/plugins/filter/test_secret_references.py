"""plugins/filter/secret_references.py: references parsed by core/references.py, with the operator's |FUNC only when asked."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vibebox.secrets.plugins.filter.secret_references import secret_references


def test_references_of_a_dict_of_templates_with_pipes():
    found = secret_references({"URL": "postgresql://app:${secret:database-password|urlquery}@db ${env:HOME}",
                               "OLD": "${secret:jwt-secret@previous#kid}"}, pipes=True)
    assert [(ref["name"], ref["version"], ref["json_key"], ref["pipe"]) for ref in found] == [
        ("database-password", None, None, "urlquery"), ("jwt-secret", "previous", "kid", None)]


def test_a_pipe_is_refused_unless_allowed_and_errors_name_the_place():
    with pytest.raises(AnsibleFilterError, match=r"text 1, line 1, column 5: invalid \$\{secret:"):
        secret_references("url ${secret:database-password|urlquery}")
    with pytest.raises(AnsibleFilterError, match="text 2, line 2, column 1: .*not closed"):
        secret_references(["fine", "x\n${secret:a"], pipes=True)


def test_bare_names_as_the_role_data_gives_them():
    found = secret_references(["jwt-secret@previous", "oauth#client_secret", "plain"], bare=True)
    assert [ref["name"] for ref in found] == ["jwt-secret", "oauth", "plain"]
    assert found[0]["version"] == "previous" and found[1]["json_key"] == "client_secret"
    for bad in ("two words", "a} x ${secret:b", ""):
        with pytest.raises(AnsibleFilterError):
            secret_references([bad], bare=True)
    with pytest.raises(AnsibleFilterError, match="must be a string"):
        secret_references([3])
