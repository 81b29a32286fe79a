"""A real PostgreSQL (15 on the image) for the database-password rotation tests.

Why a real server: the password rotation depends on what only the server decides — SCRAM logins,
advisory locks, pg_stat_activity, pg_authid, privileges of group roles — so a fake would test our
guesses. ``initdb`` in a temp folder + ``pg_ctl`` on a free 127.0.0.1 port takes about a
second; fsync is off because the data is thrown away.

PostgreSQL refuses to run as root, so when this runs as uid 0 the data folder is given to an
unprivileged user (``nobody`` unless VIBEBOX_PG_USER says otherwise) and every server binary runs
through ``runuser -u <user> --``. Binaries: /usr/lib/postgresql/<newest>/bin, else PATH (CI on a
fresh machine installs them with tests/servers/ensure_postgres.sh).

``python tests/servers/postgres.py`` starts one and prints its connection variables until Ctrl-C.
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

SUPERUSER = "postgres"


def find_bindir() -> str:
    """The folder holding initdb/pg_ctl/postgres: Debian's versioned folder first, then PATH."""
    explicit = os.environ.get("VIBEBOX_PG_BINDIR")
    candidates = [explicit] if explicit else []
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    versioned.sort(key=lambda path: int(path.split("/")[-2]) if path.split("/")[-2].isdigit() else 0, reverse=True)
    candidates += [path for path in versioned if path.endswith("/15/bin")] + versioned
    for folder in candidates:
        if folder and os.path.exists(os.path.join(folder, "initdb")) and os.path.exists(os.path.join(folder, "pg_ctl")):
            return folder
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return os.path.dirname(os.path.realpath(found))
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or PATH;"
        " run tests/servers/ensure_postgres.sh (apt-get install postgresql) or set VIBEBOX_PG_BINDIR"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One throw-away cluster. ``start()`` returns when it accepts connections; ``stop()`` removes it."""

    def __init__(self, bindir: Optional[str] = None, run_as: Optional[str] = None) -> None:
        self.bindir = bindir or find_bindir()
        self.run_as = run_as if run_as is not None else (
            os.environ.get("VIBEBOX_PG_USER", "nobody") if os.geteuid() == 0 else ""
        )
        self.password = secrets.token_urlsafe(18)
        self.host = "127.0.0.1"
        self.port = 0
        self.base: Optional[str] = None
        self.data: Optional[str] = None
        self.log: Optional[str] = None

    # helpers --------------------------------------------------------------------------------------
    def _cmd(self, binary: str, *args: str) -> List[str]:
        command = [os.path.join(self.bindir, binary), *args]
        if self.run_as:
            return ["runuser", "-u", self.run_as, "--", *command]
        return command

    def _run(self, binary: str, *args: str, timeout: float = 120) -> None:
        proc = subprocess.run(self._cmd(binary, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout, cwd=self.base, check=False)
        if proc.returncode != 0:
            tail = ""
            if self.log and os.path.exists(self.log):
                with open(self.log, encoding="utf-8", errors="replace") as handle:
                    tail = handle.read()[-2000:]
            raise RuntimeError(f"{binary} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{tail}")

    def _give_to_user(self, path: str) -> None:
        if not self.run_as:
            return
        entry = pwd.getpwnam(self.run_as)
        for root, _dirs, files in os.walk(path):
            os.chown(root, entry.pw_uid, entry.pw_gid)
            for item in files:
                os.chown(os.path.join(root, item), entry.pw_uid, entry.pw_gid)

    # lifecycle ------------------------------------------------------------------------------------
    def start(self, attempts: int = 3) -> "PostgresServer":
        # /tmp directly: pytest's tmp folders are 0700 root, which the unprivileged user cannot enter
        self.base = tempfile.mkdtemp(prefix="vibebox-pg-")
        os.chmod(self.base, 0o700)
        self.data = os.path.join(self.base, "data")
        self.log = os.path.join(self.base, "server.log")
        pwfile = os.path.join(self.base, "pwfile")
        with open(pwfile, "w", encoding="utf-8") as handle:
            handle.write(self.password + "\n")
        os.chmod(pwfile, 0o600)
        self._give_to_user(self.base)
        self._run("initdb", "-D", self.data, "-U", SUPERUSER, f"--pwfile={pwfile}", "-A", "scram-sha-256",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        os.unlink(pwfile)
        last: Optional[Exception] = None
        for _attempt in range(attempts):  # a free port can be taken between probe and bind
            self.port = free_port()
            options = (f"-c listen_addresses={self.host} -c port={self.port} -c unix_socket_directories={self.base}"
                       " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
            try:
                self._run("pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60", "start")
                self._wait_ready()
                return self
            except RuntimeError as exc:
                last = exc
                subprocess.run(self._cmd("pg_ctl", "-D", self.data, "-m", "immediate", "stop"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.base, check=False)
        self.stop()
        raise RuntimeError(f"PostgreSQL did not start: {last}")

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL is not listening on {self.host}:{self.port}")

    def stop(self) -> None:
        if self.data and os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(self._cmd("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.base, timeout=60, check=False)
        if self.base:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # what clients need ----------------------------------------------------------------------------
    def admin(self) -> Dict[str, object]:
        """Connection keywords of the superuser (psycopg.connect(**admin()))."""
        return dict(host=self.host, port=self.port, user=SUPERUSER, password=self.password, dbname="postgres")

    def env(self) -> Dict[str, str]:
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": SUPERUSER,
            "PGPASSWORD": self.password,
            "PGDATABASE": "postgres",
        }


def main() -> int:
    server = PostgresServer().start()
    print("\n".join(f"export {key}={value}" for key, value in server.env().items()), flush=True)
    stop = {"now": False}

    def _stop(*_args: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stop["now"]:
            time.sleep(0.5)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
