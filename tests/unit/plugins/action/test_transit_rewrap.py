"""action/transit_rewrap.py: rewrapped names are dropped, and ``ciphertexts`` comes back in the order given."""
from __future__ import annotations


def test_only_rewrapped_names_are_dropped(action):
    result = {"secrets": [{"name": "a", "rewrapped": 2}, {"name": "b", "rewrapped": 0}]}
    assert list(action("transit_rewrap").written_names(result)) == ["a"]


def test_a_failed_rewrap_drops_every_name_it_was_given(action):
    """The write that failed is not among ``secrets`` (only those done before it are), yet it may have landed (its
    answer lost): every name of the task is dropped, at worst read again."""
    result = {"failed": True, "secrets": [{"name": "a", "rewrapped": True}]}
    assert list(action("transit_rewrap", names=["a", "b", "c"]).written_names(result)) == ["a", "b", "c"]


def test_rewrapped_items_replace_theirs_and_the_others_stay(action, dropped):
    given = ["vault:v1:AAA", "vault:v2:BBB", "vault:v1:CCC"]
    items = [{"index": 0, "ciphertext": "vault:v2:aaa"}, {"index": 2, "ciphertext": "vault:v2:ccc"},
             {"index": 9, "ciphertext": "vault:v2:out-of-range"}]
    result = {"changed": True, "rewrapped_items": items}
    action("transit_rewrap", ciphertexts=given).after(result)
    assert result["ciphertexts"] == ["vault:v2:aaa", "vault:v2:BBB", "vault:v2:ccc"]


def test_a_failed_rewrap_returns_no_ciphertexts(action, dropped):
    result = {"failed": True, "rewrapped_items": [{"index": 0, "ciphertext": "vault:v2:aaa"}]}
    action("transit_rewrap", ciphertexts=["vault:v1:AAA"]).after(result)
    assert "ciphertexts" not in result
