"""Makes ``ansible_collections.vibebox.secrets`` importable from a plain checkout.

Collection code imports itself by its full name, so the checkout is reached as <dir>/ansible_collections/vibebox/secrets. `make` builds that
link in .build/; running pytest by hand gets the same link here.
"""
from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _collections_dir() -> str:
    marker = os.sep + os.path.join("ansible_collections", "vibebox", "secrets")
    if ROOT.endswith(marker):  # already inside a collection tree (ansible-test)
        return ROOT[: -len(marker)]
    base = os.path.join(ROOT, ".build", "collections")
    link = os.path.join(base, "ansible_collections", "vibebox", "secrets")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        try:
            os.symlink(ROOT, link)
        except FileExistsError:
            pass
    return base


COLLECTIONS_DIR = _collections_dir()
if COLLECTIONS_DIR not in sys.path:
    sys.path.insert(0, COLLECTIONS_DIR)
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", COLLECTIONS_DIR)
