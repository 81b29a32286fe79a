"""plugins/filter/backup_path.py: backup paths are spelled by core/backup.py, as the modules spell them."""
from __future__ import annotations

import os
import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vibebox.secrets.plugins.filter.backup_path import FilterModule
from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup

FILTERS = FilterModule().filters()


def test_a_planned_backup_is_named_as_the_modules_name_it_and_listed_by_them(tmp_path):
    path = FILTERS["backup_path"](str(tmp_path), label="/srv/app/.env")
    assert os.path.dirname(path) == str(tmp_path)
    assert re.fullmatch(r"migrate-env-\d{8}T\d{6}\.\d{6}Z\.backup", os.path.basename(path))
    assert os.path.basename(path).startswith(backup.stem("/srv/app/.env"))
    moved = FILTERS["backup_path"](str(tmp_path), stem=backup.stem("aws-to-vault"))
    assert os.path.basename(moved).startswith("migrate-aws-to-vault-")
    assert FILTERS["backup_undo_path"](path) == path + ".undo.yml"


def test_exactly_one_of_label_and_stem_and_a_folder_are_required(tmp_path):
    with pytest.raises(AnsibleFilterError, match="exactly one of label or stem"):
        FILTERS["backup_path"](str(tmp_path))
    with pytest.raises(AnsibleFilterError, match="exactly one of label or stem"):
        FILTERS["backup_path"](str(tmp_path), label="a", stem="b")
    with pytest.raises(AnsibleFilterError, match="backup folder"):
        FILTERS["backup_path"]("", label="a")


def test_the_folder_is_the_given_one_resolved_or_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert FILTERS["backup_folder"]("") == str(tmp_path / "state" / "vibebox" / "migrate-backups")
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert FILTERS["backup_folder"](str(tmp_path / "link")) == str(tmp_path / "real")
