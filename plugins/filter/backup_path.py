# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters ``backup_folder``, ``backup_path`` and ``backup_undo_path``: where a migration's backups go, from
core/backup.py.

Why filters: a role names the backup file before the step that writes it (so the path never depends on a module
result Ansible may have masked), and the name must be spelled exactly as the modules spell it, since later moves
and rollbacks find backups by it. One spelling, in core/backup.py, instead of a copy in Jinja.
The documentation is in the .yml files next to this one.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

from ansible.errors import AnsibleFilterError

from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup as _backup


def backup_folder(given: Optional[str] = None) -> str:
    """The backup folder: ``given`` (user and links resolved), else the collection's default (under XDG_STATE_HOME)."""
    if given and not isinstance(given, str):
        raise AnsibleFilterError("vibebox.secrets.backup_folder: the input must be a folder path or empty")
    return os.path.realpath(os.path.expanduser(given)) if given else _backup.default_backup_dir()


def backup_path(folder: str, label: Optional[str] = None, stem: Optional[str] = None) -> str:
    """The path of a new backup in ``folder``, named after ``label`` (the .env file) or ``stem`` (a move's plan)."""
    if not folder or not isinstance(folder, str):
        raise AnsibleFilterError("vibebox.secrets.backup_path: the input must be the backup folder")
    try:
        return _backup.planned_path(folder, label or None, stem_text=stem or None)
    except ValueError as exc:
        raise AnsibleFilterError(f"vibebox.secrets.backup_path: {exc}") from None


def backup_undo_path(path: str) -> str:
    """The ``.undo.yml`` file beside the backup ``path``."""
    if not path or not isinstance(path, str):
        raise AnsibleFilterError("vibebox.secrets.backup_undo_path: the input must be a backup path")
    return _backup.undo_path(path)


class FilterModule:
    def filters(self) -> Dict[str, Any]:
        return {"backup_folder": backup_folder, "backup_path": backup_path, "backup_undo_path": backup_undo_path}
