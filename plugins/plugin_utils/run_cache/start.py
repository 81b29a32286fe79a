# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Starting the run cache helper: only the fork that finds no helper for its run imports this, or the
controller when the opt-in run_cache callback starts the helper with the playbook (start_with_playbook).

Forks start at the same moment, so the start is serialised with a lock file in the run's 0700
directory; a helper that cannot start leaves a note there, so later forks of the run read the
backend directly at once instead of each waiting for a start that will fail again. Directories of
runs whose ansible-playbook is gone (a helper killed with -9) are swept after a start.

The fork that starts the helper does not wait for it idly: while the new process starts Python and
imports the collection, that fork reads the secrets it was asked for in its own process (importing
the provider's SDK there, on the other core), then hands the answers to the helper (``put``) before
it lets the other forks in. The helper holds every request until then, so the run still reads each
secret once, and a helper that only ever serves what the first fork read never imports the SDK.
On the fleet benchmark the first ten forks of a run waited ~0.8 s for the helper's first answer;
now they wait for one fork's own read.

A helper started with the playbook is handed the lock instead (the controller does not wait for it);
a ``starting`` note lets the forks that wait on the lock end it if it never comes up (_acquire).
"""
from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import time
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache.client import (
    START_TIMEOUT,
    RunCacheClient,
    RunCacheUnavailable,
    process_start,
)

_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import server; "
    "sys.exit(server.main(sys.argv[2:]))"
)

_SPAWNED: List[Any] = []  # Popen objects of helpers started here


def process_alive(pid: int, start: str) -> bool:
    """``pid`` runs and is the process that started at ``start`` (a zombie has exited: not alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, somebody else's: cannot be our run, but do not guess
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
        if data[data.rfind(b")") + 2:].split()[0] == b"Z":
            return False
    except (OSError, IndexError):
        pass
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
    parts = here.split(os.sep)  # .../ansible_collections/vibebox/secrets/plugins/plugin_utils/run_cache/start.py
    if parts[-7:-4] != ["ansible_collections", "vibebox", "secrets"]:
        raise RunCacheUnavailable(f"cannot locate the collection root from {here}")
    return os.sep.join(parts[:-7]) or os.sep


#: the note the controller leaves when it hands the start lock to the helper it started with the playbook
#: ("<pid> <start> <deadline>"): how a fork waiting on that lock tells a helper that never came up
HANDED_NOTE = "starting"


@contextlib.contextmanager
def _start_lock(client: RunCacheClient) -> Iterator[Tuple[str, Any]]:
    """Held while one process decides whether to start the run's helper; yields the path of the note
    a failed start leaves for later forks, and the lock file. Forks start at the same moment: the
    lock file in the run's 0700 directory serialises them."""
    import fcntl

    if len(client.socket_path.encode()) > 100:  # before any directory is made: nothing to leave behind
        raise RunCacheUnavailable(f"the socket path {client.socket_path} is too long for a Unix socket")
    for _attempt in range(_LOCK_ATTEMPTS):
        private_dir(client.base)
        private_dir(client.folder)
        try:
            lock = open(os.path.join(client.folder, "lock"), "a", encoding="utf-8")
        except FileNotFoundError:
            continue  # the folder went with a helper that ended just now: make it again
        with lock:
            os.fchmod(lock.fileno(), 0o600)
            _acquire(lock, client)
            if not is_current(lock.fileno(), lock.name):
                continue  # a helper ending on idle removed this file while we waited: lock the new one
            try:
                yield os.path.join(client.folder, "failed"), lock
            finally:
                if not lock.closed:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
            return
    raise RunCacheUnavailable(f"the run cache's start lock in {client.folder} kept being replaced")


#: how often a fork takes the start lock again when the file it locked was removed meanwhile
_LOCK_ATTEMPTS = 5


def is_current(fd: int, path: str) -> bool:
    """``fd`` is the file at ``path`` now. A lock taken on a file that was removed (or replaced) while
    this process waited for it excludes nobody: the next process opens the new file."""
    try:
        held, named = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)


def remove_run_files(folder: str, socket_path: str, socket_id: Tuple[int, int]) -> None:
    """What an ending helper leaves: its socket, if the path still names it, and the run's folder with its
    lock, only while it holds the lock. A fork that holds the lock is starting the next helper, whose
    socket (and error note) must survive this one; and a socket path that names another socket belongs
    to a helper started after this one stopped answering."""
    import fcntl

    try:
        info = os.lstat(socket_path)
    except FileNotFoundError:
        pass
    except OSError:
        return
    else:
        if (info.st_dev, info.st_ino) != socket_id:
            return  # the folder is the newer helper's now
        try:
            os.unlink(socket_path)
        except OSError:
            return
    lock_path = os.path.join(folder, "lock")
    try:
        lock_fd = os.open(lock_path, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if not is_current(lock_fd, lock_path):
            return
        for leftover in ("error", "lock"):  # an error note no fork is reading: that fork would hold the lock
            try:
                os.unlink(os.path.join(folder, leftover))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(folder)
        except OSError:
            pass  # not empty: a note of a failed start, kept for the run's later forks
    except OSError:
        pass  # a fork holds the lock: it starts the next helper, and its files stay
    finally:
        os.close(lock_fd)


def _acquire(lock: Any, client: RunCacheClient) -> None:
    """Take the start lock. While the helper started with the playbook holds it (its note exists), wait by
    polling, and end that helper once it has not served within START_TIMEOUT of its start: a stopped or hung
    helper would otherwise hold every fork of the run. Its end lets go of the lock, and the fork that takes
    it starts a helper itself, as it would without the callback. Whatever holds the lock, this wait ends
    after twice START_TIMEOUT with RunCacheUnavailable (the fork then reads the provider directly)."""
    import fcntl

    handed_note = os.path.join(client.folder, HANDED_NOTE)
    if not os.path.exists(handed_note):
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        return
    give_up = time.monotonic() + 2 * START_TIMEOUT
    while True:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() > give_up:
                raise RunCacheUnavailable(f"the run cache helper did not answer within {2 * START_TIMEOUT:.0f} s") from None
            _end_if_stalled(handed_note, client)
            time.sleep(0.002)
            continue
        try:
            os.unlink(handed_note)  # whoever wrote it holds the lock no more
        except FileNotFoundError:
            pass
        return


def _end_if_stalled(handed_note: str, client: RunCacheClient) -> None:
    """End the helper the note names if its deadline has passed, it is that very process (pid and start
    time), it is this run's helper (its command line names the run's socket) and nothing listens on the
    run's socket: never a helper that listens (it lets go of the lock right after it starts to), never
    another process, whatever the note says."""
    import signal

    try:
        with open(handed_note, encoding="utf-8") as handle:
            pid, started, deadline = handle.read().split()
        if time.time() < float(deadline) or started == "0" or not process_alive(int(pid), started):
            return
        if not _is_helper_of(int(pid), client) or _listening(client.socket_path):
            return
        os.kill(int(pid), signal.SIGKILL)
    except (OSError, ValueError):
        return
    from ansible.utils.display import Display

    Display().warning(f"vibebox.secrets: the run cache helper started with the playbook did not serve within"
                      f" {START_TIMEOUT:.0f} s and was ended; a fork starts another")


def _is_helper_of(pid: int, client: RunCacheClient) -> bool:
    """``pid`` was started as this run's helper: its arguments name the run's socket and owner, as _spawn
    writes them (Linux /proc; elsewhere: unknown, so no)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            arguments = handle.read().split(b"\0")
    except OSError:
        return False
    return client.socket_path.encode() in arguments and str(client.owner_pid).encode() in arguments


def _listening(path: str) -> bool:
    """Something accepts connections on ``path`` (a stale socket file refuses them); never waits."""
    import socket

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(path)
    except BlockingIOError:
        return True  # its queue of connections is full: it listens
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _write_handed_note(client: RunCacheClient, pid: int) -> None:
    path = os.path.join(client.folder, HANDED_NOTE)
    fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"{pid} {process_start(pid)} {time.time() + START_TIMEOUT}")
    os.replace(path + ".new", path)


def start(client: RunCacheClient, first: Optional[Mapping[str, Any]] = None) -> Optional[Dict[str, Any]]:
    """Start the helper of ``client``'s run unless another fork just did; raises RunCacheUnavailable.

    Returns the reply to ``first`` (a ``get`` this process read itself while the helper started), or
    None when another fork started the helper or ``first`` is not a read.
    """
    reader = first if first is not None and first.get("op") == "get" else None
    answered = None
    with _start_lock(client) as (failed, _lock):
        if os.path.exists(failed):
            with open(failed, encoding="utf-8") as handle:
                raise RunCacheUnavailable(handle.read().strip() or "the run cache could not start earlier in this run")
        if client.running():
            return None
        try:
            process = _spawn(client, reader_pid=os.getpid() if reader is not None else 0)
            if reader is not None:
                answered = read_here(reader)
            _wait_until_serving(client, process)
        except RunCacheUnavailable as exc:
            # later forks of this run go straight to direct reads instead of waiting again
            with open(failed, "w", encoding="utf-8") as handle:
                handle.write(str(exc))
            raise
        if reader is not None:
            _hand_over(client, reader, answered)
    sweep(client.base, keep=client.folder)
    return answered


def start_with_playbook(client: RunCacheClient) -> bool:
    """Start the run's helper from the controller when the playbook starts (the run_cache callback).

    The helper then imports the SDK of the provider the controller's environment selects while the
    controller parses the play and forks its first workers, so those find it serving and its SDK
    loaded instead of one of them starting it and reading first while the others wait. The controller
    does not wait for it: the helper is handed the start lock and lets go of it once it serves, so a
    fork that asks sooner waits on the lock as for any start, and starts a helper itself if this one
    died, or ends it and starts one if it has not served within START_TIMEOUT (_acquire). True when
    this call started it, False when the run already has one (a second playbook of the same command)
    or a fork's start already failed; raises RunCacheUnavailable.
    """
    with _start_lock(client) as (failed, lock):
        if os.path.exists(failed) or client.running():
            return False
        process = _spawn(client, prepare=True, start_lock=lock.fileno())
        _write_handed_note(client, process.pid)  # before any fork exists: every fork that waits sees it
        lock.close()  # not unlocked: the helper holds the same lock now, until it serves or exits
    sweep(client.base, keep=client.folder)
    return True


def _spawn(client: RunCacheClient, reader_pid: int = 0, prepare: bool = False, start_lock: Optional[int] = None) -> Any:
    error_file = os.path.join(client.folder, "error")
    try:
        os.unlink(error_file)
    except FileNotFoundError:
        pass
    command = [sys.executable, "-c", _BOOTSTRAP, collections_root(), client.socket_path,
               str(client.owner_pid), client.owner_start, str(client.idle), str(reader_pid)]
    if prepare:
        command.append("prepare")
    if start_lock is not None:
        command.append(f"lock={start_lock}")
    try:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=True, start_new_session=True, pass_fds=() if start_lock is None else (start_lock,),
        )
    except OSError as exc:
        raise RunCacheUnavailable(f"cannot start the run cache helper: {exc}") from None
    _SPAWNED.append(process)  # keep a reference: no ResourceWarning, reaped by the next Popen
    return process


def _wait_until_serving(client: RunCacheClient, process: Any) -> None:
    error_file = os.path.join(client.folder, "error")
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


def read_here(request: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The helper's reply to the ``get`` ``request``, made in this process by the helper's own code
    (server.answer on a CacheState of its own, dropped afterwards); None if reading here failed in a
    way the helper should try again."""
    try:
        from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import server

        state = server.CacheState()
        try:
            reply = server.answer(state, request)
            sessions = state.sessions()
            if sessions:  # a login this process made: handed to the helper so the run logs in once
                reply["sessions"] = sessions
            return reply
        finally:
            state.clear()
    except Exception:  # the helper reads instead, once it lets requests in
        return None


def _hand_over(client: RunCacheClient, request: Mapping[str, Any], answered: Optional[Dict[str, Any]]) -> None:
    """Give the helper what this process read (or nothing), which lets the other forks' requests in."""
    message = {"op": "put", "options": dict(request.get("options") or {}), "forced": request.get("forced"),
               "env": dict(request.get("env") or {}), "items": [], "answers": []}
    if answered is not None:
        message["items"] = list(request.get("items") or [])
        message["answers"] = answered["results"]
        message["sessions"] = answered.pop("sessions", None) or {}
    try:
        client._exchange(message, start=False)
    except RunCacheUnavailable:
        pass  # the helper lets requests in when this process exits, or after PREFETCH_TIMEOUT


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
