# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The run cache helper: the server side of client.py, run in its own process once per run.

Only the helper imports this file (and, through the factory, the chosen provider's SDK), and the one
fork that starts it (start.read_here); workers import the small client. ``CacheState`` is the cache
itself (TTL, single-flight, invalidation by generation), plain Python so tests drive it without a socket.
"""
from __future__ import annotations

import os
import socket
import socketserver
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors as _errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import leases as _leases
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache.client import REQUEST_TIMEOUT, process_start
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache.start import HANDED_NOTE, process_alive, remove_run_files
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache.wire import (
    PROTOCOL,
    Item,
    decode_outcome,
    encode_outcome,
    peer_uid,
    recv,
    request_options,
    send,
)

WATCH_INTERVAL = 0.5
#: longest a request waits for the starting fork's own first read (see CacheState.put)
PREFETCH_TIMEOUT = 30.0


def resolve(options: Mapping[str, Any], forced: Optional[str], env: Mapping[str, str]) -> Any:
    """factory.resolve with the asker's environment. Askers whose raw options differ only in what the
    chosen provider ignores share entries: ``Resolved.key`` holds only what it uses."""
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory

    return factory.resolve(options, env, forced)


# the helper's state -------------------------------------------------------------------------------

class _Flight:
    """One fetch in progress; later askers for the same key wait on ``done`` (single-flight)."""

    __slots__ = ("done", "outcome", "generation")

    def __init__(self, generation: int) -> None:
        self.done = threading.Event()
        self.outcome: object = None
        self.generation = generation


#: definite answers worth remembering for the TTL; transient failures are asked again
_CACHEABLE_ERRORS = (_errors.SecretNotFound, _errors.SecretDenied, _errors.SecretDeleted, _errors.InvalidSecretName)

#: Resolved -> SecretManager (or anything with get/get_many)
ManagerBuilder = Callable[[Any], Any]


def _build_manager(resolved: Any) -> Any:
    """The manager the asking worker would have built, with no cache of its own: the helper keeps
    entries for ``resolved.ttl`` itself, and a second copy in the manager would be one that an
    invalidation does not reach."""
    from dataclasses import replace

    from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory

    return factory.build_manager(replace(resolved, ttl=0.0))


class CacheState:
    """Everything the helper knows; pure Python so tests can drive it without a socket."""

    def __init__(self, build: ManagerBuilder = _build_manager, clock: Callable[[], float] = time.monotonic) -> None:
        self._build = build
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: Dict[Tuple[str, str, Optional[str]], Tuple[float, object]] = {}
        self._flights: Dict[Tuple[str, str, Optional[str]], _Flight] = {}
        #: invalidations per identity (a logical or stored name, casefolded): see _identities
        self._generations: Dict[str, int] = {}
        #: invalidations of everything (a write whose names are unknown): part of every identity's generation
        self._epoch = 0
        #: identity -> until when (clock) nothing it names is kept: an async write may land any time until then
        self._held: Dict[str, float] = {}
        #: until when nothing at all is kept: an async write whose names only its result would give
        self._held_all = 0.0
        #: the identities of each entry and fetch in progress, by the same key
        self._ids: Dict[Tuple[str, str, Optional[str]], Tuple[str, ...]] = {}
        self._managers: Dict[str, Any] = {}
        self._manager_locks: Dict[str, threading.Lock] = {}
        #: logins handed over by the fork that read first (backend key -> the backend's export_session)
        self._sessions: Dict[str, Any] = {}
        #: Resolved.key -> (Resolved, lease ids handed out under it), for release_leases at the end of the run
        self._leases: Dict[str, Tuple[Any, List[str]]] = {}
        self.stats: Dict[str, int] = dict(requests=0, hits=0, waits=0, fetched=0, backend_calls=0, invalidations=0,
                                          prefetched=0)
        #: cleared while the fork that started the helper reads its first secrets itself (see ``put``)
        self.ready = threading.Event()
        self.ready.set()

    @staticmethod
    def _identities(resolved: Any, name: str) -> Tuple[str, ...]:
        """The names a write of this secret may be announced by: its logical name and its name in the provider
        (the prefix applied), casefolded. A write through other options (another prefix, a case that Key Vault
        treats as the same) names the same stored secret differently; matching either, without case, drops
        every copy of it (at worst a secret with a similar name is read again)."""
        from ansible_collections.vibebox.secrets.plugins.module_utils.core.names import to_provider_name

        ids = [name.casefold()]
        try:
            ids.append(to_provider_name(resolved.provider, name, resolved.prefix).casefold())
        except Exception:
            pass
        return tuple(dict.fromkeys(ids))

    def _generation(self, ids: Iterable[str]) -> int:
        """How often anything these identities name was invalidated (called with the lock held)."""
        return self._epoch + sum(self._generations.get(one, 0) for one in ids)

    def _held_now(self, ids: Iterable[str], now: float) -> bool:
        """An async write of one of these identities may still land (called with the lock held)."""
        return self._held_all > now or any(self._held.get(one, 0.0) > now for one in ids)

    def holding(self) -> bool:
        """Whether an async write announced to this helper may still be running: the helper then stays, idle
        or not, since a helper started after it would not know to keep the values from before the write."""
        with self._lock:
            now = self._clock()
            return self._held_all > now or any(until > now for until in self._held.values())

    def _manager(self, resolved: Any) -> Any:
        """The one manager of ``resolved.key``, built once even when ten forks ask at the same moment."""
        key = resolved.key
        with self._lock:
            found = self._managers.get(key)
            if found is not None:
                return found
            lock = self._manager_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                found = self._managers.get(key)
            if found is not None:
                return found
            manager = self._build(resolved)
            with self._lock:
                self._managers[key] = manager
                session = self._sessions.pop(key, None)
            adopt = getattr(getattr(manager, "backend", None), "adopt_session", None)
            if session is not None and adopt is not None:
                try:
                    adopt(session)  # the token the first fork logged in for: the run logs in once
                except Exception:
                    pass  # the backend logs in itself
            return manager

    def sessions(self) -> Dict[str, Any]:
        """Each built backend's login (a token and its lifetime, if it logged in), by backend key, for the
        helper to adopt: what the starting fork hands over besides the values it read."""
        with self._lock:
            managers = list(self._managers.items())
        found: Dict[str, Any] = {}
        for key, manager in managers:
            export = getattr(getattr(manager, "backend", None), "export_session", None)
            try:
                session = export() if export is not None else None
            except Exception:
                session = None
            if session:
                found[key] = session
        return found

    def adopt_sessions(self, sessions: Optional[Mapping[str, Any]]) -> None:
        """Keep logins handed over (in memory only) for the backends this helper builds later."""
        if isinstance(sessions, Mapping):
            with self._lock:
                for key, session in sessions.items():
                    if isinstance(session, Mapping) and str(key) not in self._managers:
                        self._sessions[str(key)] = dict(session)

    def fetch(self, options: Mapping[str, Any], forced: Optional[str], items: Sequence[Item],
              bypass: bool = False, env: Optional[Mapping[str, str]] = None) -> Tuple[str, Dict[Item, object]]:
        """(provider, {item: Secret or SecretError}); never raises for a provider's failure.

        The manager (and with it the provider's SDK) is built only when something must be read: a
        helper whose entries came from ``put`` answers without ever importing the SDK.
        """
        env = {} if env is None else env
        self.ready.wait(PREFETCH_TIMEOUT)
        try:
            resolved = resolve(options, forced, env)
        except _errors.SecretError as exc:
            provider = exc.provider or forced or str(options.get("provider") or "unknown")
            return provider, {(str(name), version): exc for name, version in items}
        except Exception as exc:
            provider = forced or str(options.get("provider") or "unknown")
            return provider, {(str(name), version): _unexpected(exc) for name, version in items}
        fp, provider, ttl = resolved.key, resolved.provider, resolved.ttl
        results: Dict[Item, object] = {}
        mine: List[Tuple[Item, _Flight, Tuple[str, ...]]] = []
        waiting: List[Tuple[Item, _Flight]] = []
        with self._lock:
            self.stats["requests"] += 1
            now = self._clock()
            for name, version in dict.fromkeys((str(n), v) for n, v in items):
                key = (fp, name, version)
                if not bypass:
                    entry = self._entries.get(key)
                    if entry is not None and now - entry[0] < _leases.reuse_for(entry[1], ttl):
                        results[(name, version)] = entry[1]
                        self.stats["hits"] += 1
                        continue
                    flight = self._flights.get(key)
                    if flight is not None:
                        waiting.append(((name, version), flight))
                        self.stats["waits"] += 1
                        continue
                ids = self._identities(resolved, name)
                flight = _Flight(self._generation(ids))
                if key not in self._flights:
                    self._flights[key] = flight
                    self._ids[key] = ids
                mine.append(((name, version), flight, ids))
        if mine:
            outcomes: Dict[Item, object] = {}
            try:
                try:
                    manager = self._manager(resolved)
                except _errors.SecretError as exc:
                    outcomes = {item: exc for item, _flight, _ids in mine}
                except Exception as exc:
                    outcomes = {item: _unexpected(exc) for item, _flight, _ids in mine}
                else:
                    provider = str(getattr(manager, "provider", provider) or provider)
                    outcomes = self._from_backend(manager, [item for item, _flight, _ids in mine])
            finally:
                # even on a bug, every waiter gets an answer and no flight is left behind
                with self._lock:
                    stored_at = self._clock()
                    for item, flight, ids in mine:
                        key = (fp, item[0], item[1])
                        outcome = outcomes.get(item)
                        if outcome is None:
                            outcome = _errors.ProviderUnavailable("the run cache could not read this secret")
                        flight.outcome = outcome
                        if self._flights.get(key) is flight:
                            del self._flights[key]
                        fresh = self._generation(ids) == flight.generation
                        cacheable = isinstance(outcome, Secret) or isinstance(outcome, _CACHEABLE_ERRORS)
                        if ttl > 0 and fresh and cacheable and not self._held_now(ids, stored_at):
                            self._entries[key] = (stored_at, outcome)
                            self._ids[key] = ids
                        self._note_lease(resolved, outcome)
                        results[item] = outcome
                for _item, flight, _ids in mine:
                    flight.done.set()
        for item, flight in waiting:
            if not flight.done.wait(REQUEST_TIMEOUT):
                results[item] = _errors.ProviderUnavailable("timed out waiting for another request's fetch")
            else:
                results[item] = flight.outcome
        return provider, results

    def put(self, options: Mapping[str, Any], forced: Optional[str], outcomes: Mapping[Item, object],
            env: Optional[Mapping[str, str]] = None) -> int:
        """Keep what the fork that started this helper read itself, and let requests in; returns entries kept.

        That fork reads its first secrets in its own process while this helper starts (two cores at
        work instead of one fork waiting for the helper to import the provider's SDK), then hands the
        answers over here. Requests wait on ``ready`` meanwhile, so nothing is read twice. An
        invalidation that reached the helper in between wins: those names are not kept.
        """
        env = {} if env is None else env
        kept = 0
        try:
            resolved = resolve(options, forced, env)
        except Exception:
            self.ready.set()
            return 0
        fp, ttl = resolved.key, resolved.ttl
        with self._lock:
            stored_at = self._clock()
            self.stats["prefetched"] += len(outcomes)
            self.stats["fetched"] += len(outcomes)
            for (name, version), outcome in outcomes.items():
                cacheable = isinstance(outcome, Secret) or isinstance(outcome, _CACHEABLE_ERRORS)
                ids = self._identities(resolved, name)
                # no write announced since it was read, and none that may still land
                if ttl > 0 and cacheable and self._generation(ids) == 0 and not self._held_now(ids, stored_at):
                    self._entries[(fp, name, version)] = (stored_at, outcome)
                    self._ids[(fp, name, version)] = ids
                    kept += 1
                self._note_lease(resolved, outcome)
        self.ready.set()
        return kept

    def _from_backend(self, manager: Any, items: List[Item]) -> Dict[Item, object]:
        """One batch for current versions, the others concurrently (core.manager.read_items); every
        item gets an answer, even from an exception the provider did not turn into a core error."""
        from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import read_items

        current = sum(1 for _name, version in items if version is None)
        with self._lock:
            self.stats["fetched"] += len(items)
            self.stats["backend_calls"] += (1 if current else 0) + len(items) - current
        return read_items(manager, items, bypass_cache=True, unexpected=_unexpected)

    def _note_lease(self, resolved: Any, outcome: object) -> None:
        """Remember a lease this helper handed out (called with the lock held)."""
        lease = _leases.lease_of(outcome)
        if lease is not None:
            self._leases.setdefault(resolved.key, (resolved, []))[1].append(lease[0])

    def holds_leases(self) -> bool:
        """Whether this helper handed out leases: it then stays until the run ends, idle or not, so a
        later lookup gets the same lease and the end-of-run revocation does not revoke credentials a
        long task is still using."""
        with self._lock:
            return bool(self._leases)

    def release_leases(self) -> int:
        """The run is over: give each backend the leases handed out through it (it revokes them when
        its options say so); returns how many leases were offered. Never raises."""
        with self._lock:
            held = list(self._leases.values())
            self._leases.clear()
        offered = 0
        for resolved, lease_ids in held:
            try:
                self._manager(resolved).backend.release_leases(list(dict.fromkeys(lease_ids)))
                offered += len(lease_ids)
            except Exception:  # the leases still end with their TTL
                pass
        return offered

    def invalidate(self, names: Iterable[str], hold: float = 0.0) -> int:
        """Forget every version, under every option set, of the secrets these names announce (a logical name
        or a name in the provider, without case: _identities), and every leased secret whose lease id is among
        them (a revoked lease); returns entries dropped. A fetch still in progress for one of them is left to
        its own askers, but no later request joins it or gets its answer: they read again.

        ``hold``: seconds during which the write may still happen (an async task announces itself when its job
        starts, and the job writes whenever it gets there); until then what is read of these names is answered
        but not kept, so a read made before the job wrote is not served after it."""
        wanted = {str(name).casefold() for name in names if name}
        with self._lock:
            self.stats["invalidations"] += 1
            until = self._clock() + hold if hold > 0 else 0.0
            for name in wanted:
                self._generations[name] = self._generations.get(name, 0) + 1
                if until > self._held.get(name, 0.0):
                    self._held[name] = until

            def named(key: Tuple[str, str, Optional[str]]) -> bool:
                return not wanted.isdisjoint(self._ids.get(key) or (key[1].casefold(),))

            doomed = [key for key, (_stored, outcome) in self._entries.items()
                      if named(key) or ((_leases.lease_of(outcome) or ("",))[0] or "").casefold() in wanted]
            for key in doomed:
                del self._entries[key]
            for key in [key for key in self._flights if named(key)]:
                del self._flights[key]
            for key in [key for key in self._ids if key not in self._entries and key not in self._flights]:
                del self._ids[key]
            return len(doomed)

    def invalidate_all(self, hold: float = 0.0) -> int:
        """Forget everything, and let no read in flight keep what it finds: a write task that ended inside its
        module (its ``timeout``, a lost connection) may have written anything it was about to; returns entries
        dropped. ``hold``: keep nothing for that many seconds (an async job of a writer whose names only its
        result gives, such as a migration)."""
        with self._lock:
            self.stats["invalidations"] += 1
            self._epoch += 1
            if hold > 0:
                self._held_all = max(self._held_all, self._clock() + hold)
            dropped = len(self._entries)
            self._entries.clear()
            self._flights.clear()
            self._ids.clear()
            return dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._ids.clear()
            managers = list(self._managers.values())
            self._managers.clear()
        for manager in managers:
            try:
                manager.close()
            except Exception:
                pass

    def __len__(self) -> int:
        return len(self._entries)


def request_items(message: Mapping[str, Any]) -> List[Item]:
    return [(str(name), version if version is None else str(version)) for name, version in message.get("items") or []]


def answer(state: CacheState, message: Mapping[str, Any]) -> Dict[str, Any]:
    """The reply to a ``get``: the helper's, and the starting fork's own (start.read_here), so the fork
    that reads while the helper starts reads exactly as the helper would."""
    items = request_items(message)
    forced = message.get("forced")
    provider, outcomes = state.fetch(request_options(message.get("options")), None if forced is None else str(forced),
                                     items, bool(message.get("bypass")), dict(message.get("env") or {}))
    return {"ok": True, "protocol": PROTOCOL, "provider": provider,
            "results": [encode_outcome(outcomes[item]) for item in items]}


def _seconds(value: Any) -> float:
    """A hold in seconds from a request; anything that is not a number is no hold."""
    try:
        return max(float(value or 0), 0.0)
    except (TypeError, ValueError):
        return 0.0


def _unexpected(exc: BaseException) -> _errors.ProviderUnavailable:
    # Only the type: the text of an unknown exception could quote anything.
    return _errors.ProviderUnavailable(
        f"unexpected {type(exc).__name__} while reading", retryable=False,
        hint="Run again with VIBEBOX_RUN_CACHE=false to see the full error from the provider",
    )


# the helper process -------------------------------------------------------------------------------

class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False
    # every fork of a run may connect at once; socketserver's default backlog of 5 made the sixth fork's
    # connect fail while the helper was busy, and that fork read the backend itself (an extra request, an
    # extra lease of a dynamic secret)
    request_queue_size = 256
    state: CacheState
    last_request: float

    def verify_request(self, request, client_address) -> bool:  # type: ignore[override]
        uid = peer_uid(request)
        return uid is None or uid == os.getuid()


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        while True:
            try:
                message = recv(sock)
            except (OSError, ValueError):
                return
            if message is None:
                return
            self.server.last_request = time.monotonic()
            try:
                reply = self._dispatch(message)
            except Exception as exc:  # keep serving other clients
                reply = {"ok": False, "error": f"{type(exc).__name__} in the run cache"}
            try:
                send(sock, reply)
            except OSError:
                return
            self.server.last_request = time.monotonic()

    def _dispatch(self, message: Mapping[str, Any]) -> Dict[str, Any]:
        state = self.server.state
        op = message.get("op")
        if op == "get":
            return answer(state, message)
        if op == "put":
            forced = message.get("forced")
            options = request_options(message.get("options"))
            outcomes = {item: decode_outcome(answered)
                        for item, answered in zip(request_items(message), message.get("answers") or [])}
            state.adopt_sessions(message.get("sessions"))
            kept = state.put(options, None if forced is None else str(forced), outcomes, dict(message.get("env") or {}))
            return {"ok": True, "kept": kept}
        if op == "invalidate":
            if message.get("all") is True:
                return {"ok": True, "dropped": state.invalidate_all(_seconds(message.get("hold")))}
            return {"ok": True, "dropped": state.invalidate(message.get("names") or [], _seconds(message.get("hold")))}
        if op == "ping":
            return {"ok": True, "pid": os.getpid(), "protocol": PROTOCOL}
        if op == "stats":
            with state._lock:
                return {"ok": True, "stats": dict(state.stats), "entries": len(state._entries)}
        if op == "shutdown":
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            return {"ok": True}
        return {"ok": False, "error": f"unknown operation {op!r}"}


def _no_core_dumps() -> None:
    """A core file would put the values held in memory on disk."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass


def prepare_provider(env: Mapping[str, str]) -> Optional[str]:
    """Import the SDK of the provider ``env`` selects (the run's default provider), before any fork asks.

    Only an import: no client, no login, no request, so a run that never reads a secret costs the
    import and nothing else. Returns the provider, or None when ``env`` selects none that resolves or
    its SDK is missing (the first read then reports that, with the pip package, as it always does).
    """
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import registry

    try:
        provider = resolve({}, None, env).provider
        registry.import_sdk(provider)
    except Exception:
        return None
    return provider


def _reachable(socket_path: str, socket_id: Tuple[int, int]) -> bool:
    """The socket path still names this helper's socket. Removed (a cleaner of temporary files) or
    replaced (a helper started after this one stopped answering), no fork can reach this helper again."""
    try:
        info = os.lstat(socket_path)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: keep serving until the run or the idle timeout ends it
    return (info.st_dev, info.st_ino) == socket_id


def serve(socket_path: str, owner_pid: int, owner_start: str, idle: float,
          state: Optional[CacheState] = None, reader_pid: int = 0,
          prepare_env: Optional[Mapping[str, str]] = None, start_lock: Optional[int] = None) -> None:
    """Run the helper until the run ends, it is idle for ``idle`` seconds, or it is told to stop.

    ``reader_pid``: the fork that started the helper and is reading its first secrets itself; requests
    wait for its ``put`` (or its exit, or PREFETCH_TIMEOUT). ``prepare_env``: import the SDK of the
    provider it selects while already serving (a helper started with the playbook, before any fork).
    ``start_lock``: the descriptor of the run's start lock, held for this helper by the process that
    started it without waiting (start.start_with_playbook); closed once the socket listens, or when
    the helper exits, which lets the forks waiting on it in.
    """
    _no_core_dumps()
    folder = os.path.dirname(socket_path)
    try:
        os.unlink(socket_path)  # only ever a stale socket: the spawner holds the start lock
    except FileNotFoundError:
        pass
    old_umask = os.umask(0o177)
    try:
        server = _Server(socket_path, _Handler)
    finally:
        os.umask(old_umask)
    bound = os.lstat(socket_path)
    socket_id = (bound.st_dev, bound.st_ino)
    if start_lock is not None:
        try:
            os.unlink(os.path.join(folder, HANDED_NOTE))
        except FileNotFoundError:
            pass
        os.close(start_lock)  # the socket listens: forks that wait to start a helper find this one
    server.state = state or CacheState()
    server.last_request = time.monotonic()
    reader_start = process_start(reader_pid) if reader_pid else "0"
    if reader_pid:
        server.state.ready.clear()

    def watch() -> None:
        while True:
            time.sleep(WATCH_INTERVAL if server.state.ready.is_set() else 0.05)
            if not server.state.ready.is_set() and not process_alive(reader_pid, reader_start):
                server.state.ready.set()  # the reading fork is gone: requests read for themselves
            if not process_alive(owner_pid, owner_start):
                break
            if (idle > 0 and time.monotonic() - server.last_request > idle and not server.state.holds_leases()
                    and not server.state.holding()):
                break
            if not _reachable(socket_path, socket_id):
                break  # nobody can ask any more: do not keep the values
        server.shutdown()

    threading.Thread(target=watch, daemon=True).start()
    if prepare_env is not None:
        threading.Thread(target=prepare_provider, args=(prepare_env,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        server.state.release_leases()
        server.state.clear()
        remove_run_files(folder, socket_path, socket_id)


def main(argv: Sequence[str]) -> int:
    """Entry point of the helper: ``socket_path owner_pid owner_start idle [reader_pid] [prepare] [lock=FD]``.

    ``prepare``: import the SDK of the provider this process's environment selects (prepare_provider);
    ``lock=FD``: the start lock, held for this helper until it serves (see serve).
    """
    socket_path, owner_pid, owner_start, idle = argv[0], int(argv[1]), argv[2], float(argv[3])
    reader_pid = int(argv[4]) if len(argv) > 4 else 0
    flags = list(argv[5:])
    prepare_env = dict(os.environ) if "prepare" in flags else None
    start_lock = next((int(flag[5:]) for flag in flags if flag.startswith("lock=")), None)
    try:
        serve(socket_path, owner_pid, owner_start, idle, reader_pid=reader_pid, prepare_env=prepare_env,
              start_lock=start_lock)
    except BaseException as exc:  # tell the spawner why, without any value (there is none yet)
        try:
            with open(os.path.join(os.path.dirname(socket_path), "error"), "w", encoding="utf-8") as handle:
                handle.write(f"{type(exc).__name__}: {exc}"[:500])
        except OSError:
            pass
        return 1
    return 0
