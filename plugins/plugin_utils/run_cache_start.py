# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Starting the run cache helper: only the fork that finds no helper for its run imports this.

Forks start at the same moment, so the start is serialised with a lock file in the run's 0700
directory; a helper that cannot start leaves a note there, so later forks of the run read the
backend directly at once instead of each waiting for a start that will fail again. Directories of
runs whose ansible-playbook is gone (a helper killed with -9) are swept after a start.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from typing import Any, List

from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import (
    START_TIMEOUT,
    RunCacheClient,
    RunCacheUnavailable,
    process_start,
)

_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from ansible_collections.vibebox.secrets.plugins.plugin_utils import run_cache_server; "
    "sys.exit(run_cache_server.main(sys.argv[2:]))"
)

_SPAWNED: List[Any] = []  # Popen objects of helpers started here


def process_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, somebody else's: cannot be our run, but do not guess
    return start == "0" or process_start(pid) == start


def private_dir(path: str) -> None:
    """Create ``path`` 0700 or check that an existing one is ours, a real directory and 0700."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise RunCacheUnavailable(f"cannot create {path}: {exc.strerror}") from None
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise RunCacheUnavailable(f"{path} is not a directory")
    if info.st_uid != os.getuid():
        raise RunCacheUnavailable(f"{path} belongs to uid {info.st_uid}, not to this user")
    if info.st_mode & 0o077:
        raise RunCacheUnavailable(f"{path} is accessible to other users (mode {oct(info.st_mode & 0o777)})")


def collections_root() -> str:
    """The directory holding ``ansible_collections`` that this file was imported from."""
    here = os.path.abspath(__file__)
    parts = here.split(os.sep)
    if parts[-6:-3] != ["ansible_collections", "vibebox", "secrets"]:
        raise RunCacheUnavailable(f"cannot locate the collection root from {here}")
    return os.sep.join(parts[:-6]) or os.sep


def start(client: RunCacheClient) -> None:
    """Start the helper of ``client``'s run unless another fork just did; raises RunCacheUnavailable."""
    import fcntl

    private_dir(client.base)
    private_dir(client.folder)
    if len(client.socket_path.encode()) > 100:
        raise RunCacheUnavailable(f"the socket path {client.socket_path} is too long for a Unix socket")
    failed = os.path.join(client.folder, "failed")
    with open(os.path.join(client.folder, "lock"), "a", encoding="utf-8") as lock:
        os.chmod(lock.name, 0o600)
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            if os.path.exists(failed):
                with open(failed, encoding="utf-8") as handle:
                    raise RunCacheUnavailable(handle.read().strip() or "the run cache could not start earlier in this run")
            if client.running():
                return
            try:
                _spawn(client)
            except RunCacheUnavailable as exc:
                # later forks of this run go straight to direct reads instead of waiting again
                with open(failed, "w", encoding="utf-8") as handle:
                    handle.write(str(exc))
                raise
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    sweep(client.base, keep=client.folder)


def _spawn(client: RunCacheClient) -> None:
    error_file = os.path.join(client.folder, "error")
    try:
        os.unlink(error_file)
    except FileNotFoundError:
        pass
    command = [sys.executable, "-c", _BOOTSTRAP, collections_root(), client.socket_path,
               str(client.owner_pid), client.owner_start, str(client.idle)]
    try:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=True, start_new_session=True,
        )
    except OSError as exc:
        raise RunCacheUnavailable(f"cannot start the run cache helper: {exc}") from None
    client._spawned = process
    _SPAWNED.append(process)  # keep a reference: no ResourceWarning, reaped by the next Popen
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if client.running():
            return
        if process.poll() is not None:
            reason = "exited at start"
            if os.path.exists(error_file):
                with open(error_file, encoding="utf-8") as handle:
                    reason = handle.read().strip() or reason
            raise RunCacheUnavailable(f"the run cache helper {reason}")
        time.sleep(0.005)
    process.kill()
    raise RunCacheUnavailable(f"the run cache helper did not answer within {START_TIMEOUT:.0f} s")


def sweep(base: str, keep: str) -> None:
    """Remove directories of runs whose ansible-playbook is gone (a helper killed with -9)."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        path = os.path.join(base, name)
        if path == keep or not name.startswith("run-"):
            continue
        try:
            _prefix, pid, started = name.split("-", 2)
            if process_alive(int(pid), started):
                continue
        except ValueError:
            continue
        import shutil

        shutil.rmtree(path, ignore_errors=True)
