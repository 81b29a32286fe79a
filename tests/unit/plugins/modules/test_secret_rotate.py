"""plugins/modules/secret_rotate.py: keep_previous follows the kind, and a hard cut refuses what contradicts it."""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation_kinds import kind_of
from ansible_collections.vibebox.secrets.plugins.modules.secret_rotate import keep_previous_for


def test_keep_previous_defaults_to_what_the_kind_means():
    assert keep_previous_for(kind_of("jwt"), None, "2h") is True
    assert keep_previous_for(kind_of("secret"), False, None) is False
    assert keep_previous_for(kind_of("jwt_refresh"), None, None) is False


@pytest.mark.parametrize("given,grace,words", [(True, None, "keep_previous: true"), (None, "2h", "grace_period")])
def test_a_hard_cut_kind_refuses_a_contradiction(given, grace, words):
    with pytest.raises(errors.InvalidOption, match=f"kind jwt_refresh is a hard cut: .*{words}"):
        keep_previous_for(kind_of("jwt_refresh"), given, grace)
