"""Move benchmark: N secrets from the embedded local store into OpenBao, in one ansible-playbook run.

Starts an OpenBao dev server (tests/servers/openbao.py, with its file audit device), fills a fresh
local store with N secrets, runs ``playbooks/migrate.yml -e migrate_from=local -e provider=vault``
once, then once more (nothing to do), and prints for each run the wall time, the CPU time of
ansible-playbook and its children, and the write requests OpenBao received (from its audit device,
not from our code). Checks that every secret arrived and that the second run wrote nothing.

    python bench/move.py [--secrets 1000] [--batch 50] [--versions current|all]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from benchlib import collections_dir, fill_local_store, load_test_server

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)


def _writes(server, prefix: str) -> int:
    return sum(1 for entry in server.audit_entries("request")
               if entry["request"]["operation"] in ("create", "update", "delete")
               and prefix.strip("/") in entry["request"].get("path", ""))


def _run(extra: dict, env: dict) -> tuple:
    fd, path = tempfile.mkstemp(prefix="move-vars-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(extra, handle)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([os.path.join(BIN, "ansible-playbook"), os.path.join(REPO, "playbooks", "migrate.yml"),
                           "-e", "@" + path], env=env, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    os.unlink(path)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-2000:])
        raise SystemExit(f"ansible-playbook failed with {done.returncode}")
    return wall, cpu, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--versions", choices=["current", "all"], default="current")
    args = parser.parse_args()
    collections = collections_dir()
    sys.path.insert(0, collections)
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory

    server = load_test_server("openbao.py", "bench_openbao").start(audit=True)
    work = tempfile.mkdtemp(prefix="vibebox-move-bench-")
    try:
        local = {"provider": "local", "local_path": os.path.join(work, "store", "secrets.db"),
                 "local_key_file": os.path.join(work, "store", "secrets.key")}
        started = time.monotonic()
        fill_local_store(local, ((f"app/secret-{index:05d}", os.urandom(24).hex()) for index in range(args.secrets)),
                         "bench", {"team": "bench"})
        print(f"seeded {args.secrets} secrets into the local store in {time.monotonic() - started:.1f} s")
        prefix = "vibebox/bench/"
        extra = {"migrate_from": "local", "migrate_from_options": {k: v for k, v in local.items() if k != "provider"},
                 "provider": "vault", "vault_addr": server.addr, "vault_token": server.token, "prefix": prefix,
                 "migrate_batch_size": args.batch, "migrate_versions": args.versions,
                 "migrate_backup_dir": os.path.join(work, "backups"),
                 "migrate_backup_key_file": os.path.join(work, "backup.key"), "audit_log": "false"}
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, XDG_STATE_HOME=os.path.join(work, "state"),
                   XDG_DATA_HOME=os.path.join(work, "data"), ANSIBLE_NOCOLOR="1")
        for label in ("move", "again"):
            writes = _writes(server, prefix)
            wall, cpu, out = _run(extra, env)
            summary = next((line.strip().strip('",') for line in out.splitlines() if "create:" in line), "?")
            print(f"{label:6s} wall {wall:7.1f} s  cpu {cpu:6.1f} s  OpenBao writes {_writes(server, prefix) - writes:5d}"
                  f"  ({summary})")
            if label == "again" and _writes(server, prefix) != writes:
                print("FAIL: the second run wrote to OpenBao")
                return 1
        target = factory.build_manager({"provider": "vault", "vault_addr": server.addr, "vault_token": server.token,
                                        "prefix": prefix, "audit_log": "false"}, env={})
        count = len(target.list())
        target.close()
        print(f"secrets in OpenBao: {count}")
        return 0 if count == args.secrets else 1
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
