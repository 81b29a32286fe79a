"""Fleet benchmark: N hosts x M secrets in one set_fact, forks 10, against moto.

Runs the same playbook three ways and prints, for each, the backend requests (from the moto
server's own request log) and the median wall time of three runs:

- ``literal``    the secrets as a literal list: what Ansible itself costs (the floor);
- ``vibebox``    ``query('vibebox.secrets.get', ...)`` through the run cache;
- ``amazon.aws`` ``lookup('amazon.aws.secretsmanager_secret', ...)``, when the collection is importable;
- ``builtin.env`` ``query('ansible.builtin.env', ...)`` of M variables: what any lookup plugin costs in every
  fork (Ansible finds, loads and calls it), with no secret behind it;
- ``vibebox local`` ``query('vibebox.secrets.get', ...)`` on the embedded local store: the collection's cost
  in every fork without the AWS SDK (the first fork does not import botocore or build a client);
- ``vibebox+callback`` the ``vibebox`` playbook with the opt-in ``vibebox.secrets.run_cache`` callback enabled
  (the controller loads the lookups once and starts the run cache, which imports botocore, when the playbook
  starts).

Then the per-term overhead of a lookup with a warm run cache, measured in this process.
Targets: vibebox sends <= ceil(M/20) requests (BatchGetSecretValue takes 20 names) and takes <= 1.15x the
floor at 50 hosts x 10 secrets, <= 1.2x at 200 hosts x 50 secrets.

    python bench/fleet.py [--shape small|large] [--hosts 50] [--secrets 10] [--forks 10] [--runs 3]
      [--no-anchor]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

from benchlib import collections_dir, fill_local_store, load_test_server

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
PREFIX = "vibebox/bench/"
READS = ("GetSecretValue", "BatchGetSecretValue")
#: names per BatchGetSecretValue call (the AWS limit for a list of ids)
BATCH = 20
#: the shapes `make bench` prints: hosts, secrets, forks and the wall-time target against the floor
SHAPES = {
    "small": {"hosts": 50, "secrets": 10, "forks": 10, "target": 1.15},
    "large": {"hosts": 200, "secrets": 50, "forks": 20, "target": 1.2},
}


def moto_launcher():
    """tests/servers/moto_server.py: moto's ThreadedMotoServer with a request log."""
    return load_test_server("moto_server.py", "vibebox_bench_moto")


def amazon_aws_available(env: Dict[str, str]) -> bool:
    """amazon.aws is on the collections path (make optional-collections puts it there) and imports."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]);"
            " import ansible_collections.amazon.aws.plugins.lookup.secretsmanager_secret")
    done = subprocess.run([sys.executable, "-c", code, env["ANSIBLE_COLLECTIONS_PATH"]],
                          env=env, capture_output=True, check=False)
    return done.returncode == 0


PLAY = """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: read the secrets
      ansible.builtin.set_fact:
        app_secrets: {expression}
      no_log: true
    - name: check what was read
      ansible.builtin.assert:
        that: app_secrets | length == {count}
        quiet: true
"""

EXPRESSIONS = {
    "literal": "{literal}",
    "vibebox": "\"{{{{ query('vibebox.secrets.get', *secret_names) }}}}\"",
    "amazon.aws": "\"{{{{ query('amazon.aws.secretsmanager_secret', *full_names, endpoint_url=endpoint, region=region) }}}}\"",
    "builtin.env": "\"{{{{ query('ansible.builtin.env', *env_names) }}}}\"",
}
EXPRESSIONS["vibebox local"] = EXPRESSIONS["vibebox"]
EXPRESSIONS["vibebox+callback"] = EXPRESSIONS["vibebox"]  # the same lookup; its run enables the callback


def write_files(folder: str, hosts: int, names: List[str], values: Dict[str, str]) -> Tuple[str, Dict[str, str]]:
    inventory = os.path.join(folder, "inventory.ini")
    with open(inventory, "w", encoding="utf-8") as handle:
        handle.write("[fleet]\n" + "".join(f"host{index:03d}\n" for index in range(hosts)))
        handle.write("\n[fleet:vars]\nansible_connection=local\nansible_python_interpreter={{ ansible_playbook_python }}\n")
    plays = {}
    literal = json.dumps([values[name] for name in names])
    for variant, template in EXPRESSIONS.items():
        path = os.path.join(folder, f"{variant.replace(' ', '-')}.yml")
        expression = template.format(literal=literal)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(PLAY.format(expression=expression, count=len(names)))
        plays[variant] = path
    return inventory, plays


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(playbook: str, inventory: str, env: Dict[str, str], extra: str) -> Tuple[float, float]:
    """(wall seconds, CPU seconds of ansible-playbook and its forks) of one run.

    CPU time is printed too because wall time on a shared machine moves with its load; the run
    cache helper is not a child (it detaches), its CPU is not counted (one fetch per run).
    """
    command = [os.path.join(BIN, "ansible-playbook"), "-i", inventory, playbook, "-e", "@" + extra]
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO, check=False)
    elapsed = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    if done.returncode != 0:
        output = done.stdout + done.stderr
        failures = [line for line in output.splitlines() if line.startswith(("fatal:", "failed:", "ERROR", "[ERROR]"))]
        shown = "\n".join(failures[:20]) or output[-3000:]
        raise SystemExit(f"{os.path.basename(playbook)} failed (rc={done.returncode}):\n{shown}")
    return elapsed, cpu


def warm_overhead(env: Dict[str, str], names: List[str], repeat: int = 200) -> Tuple[float, float]:
    """Seconds per term of the get lookup with a warm run cache, and per call of 10 terms.

    Runs in a child interpreter that behaves like an Ansible worker: the collection loader, the
    lookup plugin, the environment of the playbook runs, a run cache of its own.
    """
    code = r"""
import json, sys, time
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[sys.argv[1]])._install()
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import lookup_loader
names, repeat = json.loads(sys.argv[2]), int(sys.argv[3])
lookup = lookup_loader.get("vibebox.secrets.get", loader=DataLoader(), templar=None)
lookup.run(names, variables={})  # starts the helper and fills it
started = time.perf_counter()
for _ in range(repeat):
    lookup.run(names, variables={})
elapsed = time.perf_counter() - started
print(json.dumps({"per_call": elapsed / repeat, "per_term": elapsed / repeat / len(names)}))
"""
    env = dict(env, VIBEBOX_RUN_CACHE="true")  # not an Ansible fork: ask for the run cache explicitly
    done = subprocess.run([sys.executable, "-c", code, env["ANSIBLE_COLLECTIONS_PATH"], json.dumps(names), str(repeat)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit("warm-cache measurement failed:\n" + done.stderr[-3000:])
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return data["per_term"], data["per_call"]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="small",
                        help="small: 50 hosts x 10 secrets, forks 10 (target 1.15x); large: 200 x 50, forks 20 (1.2x)")
    parser.add_argument("--hosts", type=int, help="overrides the shape's")
    parser.add_argument("--secrets", type=int, help="overrides the shape's")
    parser.add_argument("--forks", type=int, help="overrides the shape's")
    parser.add_argument("--target", type=float, help="wall time against the floor; overrides the shape's")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-anchor", action="store_true",
                        help="leave amazon.aws out (at 200 x 50 it sends 10,000 requests per run)")
    args = parser.parse_args(argv)
    for key, value in SHAPES[args.shape].items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request otherwise
    collections = collections_dir()
    sys.path.insert(0, collections)
    launcher = moto_launcher()
    server = launcher.start()
    folder = tempfile.mkdtemp(prefix="vbbench-")
    try:
        names = [f"bench-secret-{index}" for index in range(args.secrets)]
        values = {name: f"value-{index}-{os.urandom(8).hex()}" for index, name in enumerate(names)}
        import boto3

        client = boto3.client("secretsmanager", endpoint_url=server.url, region_name=launcher.REGION,
                              aws_access_key_id=launcher.ACCESS_KEY, aws_secret_access_key=launcher.SECRET_KEY)
        for name in names:
            client.create_secret(Name=PREFIX + name, SecretString=values[name])

        env = dict(os.environ)
        env.update(server.env())
        env.update(
            PATH=BIN + os.pathsep + env.get("PATH", ""),
            ANSIBLE_COLLECTIONS_PATH=collections,
            ANSIBLE_FORKS=str(args.forks),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_HOST_KEY_CHECKING="0",
            ANSIBLE_LOCALHOST_WARNING="0",
            AWS_SECRET_PREFIX=PREFIX,
            XDG_STATE_HOME=os.path.join(folder, "state"),
            XDG_DATA_HOME=os.path.join(folder, "data"),
            SECRET_PROVIDER="aws",
        )
        # PYTHONDONTWRITEBYTECODE: a user's ansible-playbook writes bytecode caches; a sandbox that turns
        # them off would make every variant compile what it imports from source in every fork
        for variable in ("VAULT_ADDR", "ENABLE_SECRET_MANAGER", "VIBEBOX_RUN_CACHE", "PYTHONDONTWRITEBYTECODE"):
            env.pop(variable, None)
        extra = os.path.join(folder, "vars.json")
        with open(extra, "w", encoding="utf-8") as handle:
            json.dump({"secret_names": names, "full_names": [PREFIX + name for name in names],
                       "env_names": ["HOME"] * len(names),
                       "endpoint": server.url, "region": launcher.REGION}, handle)
        inventory, plays = write_files(folder, args.hosts, names, values)

        local = {"provider": "local", "local_path": os.path.join(folder, "local", "secrets.db"),
                 "local_key_file": os.path.join(folder, "local", "secrets.key")}
        fill_local_store(local, values.items())
        local_env = dict(env, SECRET_PROVIDER="local", VIBEBOX_LOCAL_PATH=local["local_path"],
                         VIBEBOX_LOCAL_KEY_FILE=local["local_key_file"])
        callback_env = dict(env, ANSIBLE_CALLBACKS_ENABLED="vibebox.secrets.run_cache")
        envs = {"vibebox local": local_env, "vibebox+callback": callback_env}
        variants = ["literal", "builtin.env", "vibebox", "vibebox+callback", "vibebox local"]
        if args.no_anchor:
            print("amazon.aws left out (--no-anchor)")
        elif amazon_aws_available(env):
            variants.append("amazon.aws")
        else:
            print("amazon.aws not installed, skipped (pip install ansible to compare)")

        print(f"fleet: {args.hosts} hosts x {args.secrets} secrets, forks {args.forks}, {args.runs} runs each,"
              f" moto {server.url}")
        run_once(plays["literal"], inventory, env, extra)  # warm the OS caches; not counted
        times: Dict[str, List[float]] = {variant: [] for variant in variants}
        cpus: Dict[str, List[float]] = {variant: [] for variant in variants}
        requests: Dict[str, List[int]] = {variant: [] for variant in variants}
        for _round in range(args.runs):
            for variant in variants:  # interleaved, so a busy moment of the machine hits every variant
                server.requests.clear()
                wall, cpu = run_once(plays[variant], inventory, envs.get(variant, env), extra)
                times[variant].append(wall)
                cpus[variant].append(cpu)
                requests[variant].append(sum(1 for action in server.requests.actions() if action in READS))
        median = {variant: statistics.median(times[variant]) for variant in variants}
        median_cpu = {variant: statistics.median(cpus[variant]) for variant in variants}

        floor, floor_cpu = median["literal"], median_cpu["literal"]
        print()
        print(f"{'variant':<16} {'requests':>12} {'wall (median)':>14} {'x floor':>8} {'cpu (median)':>13} {'x floor':>8}   wall runs")
        for variant in variants:
            shown = "/".join(str(count) for count in requests[variant])
            runs = ", ".join(f"{value:.2f}" for value in times[variant])
            print(f"{variant:<16} {shown:>12} {median[variant]:>13.2f}s {median[variant] / floor:>7.2f}x"
                  f" {median_cpu[variant]:>12.2f}s {median_cpu[variant] / floor_cpu:>7.2f}x   {runs}")
        print(f"(load average now: {', '.join(f'{value:.1f}' for value in os.getloadavg())} on {os.cpu_count()} CPUs)")

        server.requests.clear()
        per_term, per_call = warm_overhead(env, names)
        warm_requests = sum(1 for action in server.requests.actions() if action in READS)
        print()
        print(f"warm run cache: {per_term * 1e3:.2f} ms per term ({per_call * 1e3:.2f} ms per lookup of"
              f" {len(names)} terms; {warm_requests} backend request for the first lookup, none after)")

        most = max(requests["vibebox"] + requests["vibebox+callback"])
        allowed = -(-args.secrets // BATCH)
        ok_requests = most <= allowed
        ratio = median["vibebox"] / floor
        ok_ratio = ratio <= args.target
        print()
        print(f"target requests <= ceil({args.secrets}/{BATCH}) = {allowed}: {'met' if ok_requests else 'MISSED'} ({most})")
        print(f"target wall <= {args.target}x floor: {'met' if ok_ratio else 'MISSED'} ({ratio:.2f}x;"
              f" cpu {median_cpu['vibebox'] / floor_cpu:.2f}x)")
        with_callback = median["vibebox+callback"] / floor
        print(f"  with the run_cache callback: {'met' if with_callback <= args.target else 'MISSED'}"
              f" ({with_callback:.2f}x; cpu {median_cpu['vibebox+callback'] / floor_cpu:.2f}x;"
              f" requests {max(requests['vibebox+callback'])})")
        return 0 if ok_requests and ok_ratio else 1
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
