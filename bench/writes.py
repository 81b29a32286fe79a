"""Write benchmark: N secrets written to OpenBao and to AWS Secrets Manager (moto), every way the collection offers.

For each provider it runs, side by side and interleaved (``--runs`` rounds, medians printed):

- ``ping loop``: ``ansible.builtin.ping`` in a ``loop`` of N, what Ansible costs per module run: the **floor**;
- ``module loop``: ``vibebox.secrets.secret`` in a ``loop`` of N, on a fresh prefix (every secret is new),
  then the same run again (nothing changes);
- ``bulk task``: ``vibebox.secrets.secret`` with ``secrets:`` (the N secrets in one module run), new then again;
- ``migrate.yml``: ``playbooks/migrate.yml`` with an N-line .env file, new then again;
- the anchors, ``community.hashi_vault.vault_kv2_write`` (``read_before_write: true``, the idempotent way) on
  OpenBao and ``community.aws.secretsmanager_secret`` on AWS, in a ``loop``, new then again, when installed in
  .build/collections or .build/bench-collections (``make bench`` fetches them there); otherwise their row says
  "not installed";
- ``sdk``: hvac or botocore directly in this process, read-compare-write per secret: what the service costs.

The ping floor and the anchors start a Python per item and take most of the time; ``--loop-runs`` runs them in
fewer rounds than the others. Requests are counted by the servers (OpenBao's file audit device, moto's request
log), never by our code.

    python bench/writes.py [--secrets 200] [--runs 5] [--loop-runs 3] [--providers vault,aws]
                           [--only ping,module,bulk,migrate.yml,community,sdk]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Callable, Dict, List, Tuple

from benchlib import collections_dir, load_test_server

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)

LOOP = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/vibebox.secrets.secrets: "{{ provider_options }}"
  tasks:
    - name: one module run per secret
      vibebox.secrets.secret:
        name: "{{ item.name }}"
        value: "{{ item.value }}"
      loop: "{{ items }}"
      loop_control: {label: "{{ item.name }}"}
"""
BULK = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/vibebox.secrets.secrets: "{{ provider_options }}"
  tasks:
    - name: every secret in one module run
      vibebox.secrets.secret:
        secrets: "{{ items }}"
"""
PING = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: what Ansible costs per module run
      ansible.builtin.ping:
      loop: "{{ items }}"
      loop_control: {label: "{{ item.name }}"}
"""
HASHI_VAULT = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: the anchor, one module run per secret
      community.hashi_vault.vault_kv2_write:
        url: "{{ provider_options.vault_addr }}"
        token: "{{ provider_options.vault_token }}"
        auth_method: token
        engine_mount_point: secret
        read_before_write: true
        path: "{{ provider_options.prefix }}{{ item.name }}"
        data: {value: "{{ item.value }}"}
      loop: "{{ items }}"
      loop_control: {label: "{{ item.name }}"}
"""
COMMUNITY_AWS = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: the anchor, one module run per secret
      community.aws.secretsmanager_secret:
        name: "{{ provider_options.prefix }}{{ item.name }}"
        secret: "{{ item.value }}"
        endpoint_url: "{{ provider_options.aws_endpoint_url }}"
        region: "{{ provider_options.aws_region }}"
        access_key: "{{ provider_options.aws_access_key_id }}"
        secret_key: "{{ provider_options.aws_secret_access_key }}"
      loop: "{{ items }}"
      loop_control: {label: "{{ item.name }}"}
"""


# Where `make bench` puts the anchors (tests/servers/fetch_optional_collections.sh, taken from the PyPI
# `ansible` wheel): a collections path of the benchmark's own, so that no test ever resolves a community.* name
BENCH_COLLECTIONS = os.path.join(REPO, ".build", "bench-collections")


def installed(paths: List[str], namespace: str, name: str, plugin: str) -> bool:
    """Whether a module of an anchor collection is in one of the collections paths, or in the Python's
    site-packages (``pip install -r bench/requirements.txt``), where Ansible finds collections too."""
    try:
        import ansible_collections  # pylint: disable=import-outside-toplevel

        roots = [os.path.dirname(folder) for folder in ansible_collections.__path__]
    except ImportError:
        roots = []
    return any(os.path.isfile(os.path.join(path, "ansible_collections", namespace, name, "plugins", "modules",
                                           plugin + ".py")) for path in [*paths, *roots])


class Target:
    """One server, its provider options and a request counter read from the server itself."""

    def __init__(self, provider: str, options: Dict[str, str], count: Callable[[], int],
                 sdk: Callable[[str, List[Dict[str, str]]], None], stop: Callable[[], None]) -> None:
        self.provider, self.options, self.count, self.sdk, self.stop = provider, options, count, sdk, stop


def vault_target() -> Target:
    server = load_test_server("openbao.py", "bench_writes_openbao").start(audit=True)
    options = {"provider": "vault", "vault_addr": server.addr, "vault_token": server.token}

    def count() -> int:
        return sum(1 for entry in server.audit_entries("request")
                   if entry["request"].get("path", "").startswith("secret/"))

    def sdk(prefix: str, items: List[Dict[str, str]]) -> None:
        import hvac

        client = hvac.Client(url=server.addr, token=server.token)
        for item in items:
            path = prefix + item["name"]
            try:
                current = client.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)
                same = current["data"]["data"].get("value") == item["value"]
            except hvac.exceptions.InvalidPath:
                same = False
            if not same:
                client.secrets.kv.v2.create_or_update_secret(path=path, secret={"value": item["value"]})
        client.adapter.close()

    return Target("vault", options, count, sdk, server.stop)


def aws_target() -> Target:
    launcher = load_test_server("moto_server.py", "bench_writes_moto")
    server = launcher.start()
    options = {"provider": "aws", "aws_endpoint_url": server.url, "aws_region": launcher.REGION,
               "aws_access_key_id": launcher.ACCESS_KEY, "aws_secret_access_key": launcher.SECRET_KEY}

    def sdk(prefix: str, items: List[Dict[str, str]]) -> None:
        import botocore.session

        client = botocore.session.get_session().create_client(
            "secretsmanager", region_name=launcher.REGION, endpoint_url=server.url,
            aws_access_key_id=launcher.ACCESS_KEY, aws_secret_access_key=launcher.SECRET_KEY)
        for item in items:
            name = prefix + item["name"]
            try:
                same = client.get_secret_value(SecretId=name)["SecretString"] == item["value"]
            except client.exceptions.ResourceNotFoundException:
                client.create_secret(Name=name, SecretString=item["value"])
                continue
            if not same:
                client.put_secret_value(SecretId=name, SecretString=item["value"])

    return Target("aws", options, lambda: len(server.requests.actions()), sdk, server.stop)


def playbook(work: str, text: str) -> str:
    path = os.path.join(work, f"play-{uuid.uuid4().hex[:8]}.yml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def run(play: str, extra: Dict, env: Dict[str, str], work: str) -> Tuple[float, float]:
    """(wall, cpu) of one ansible-playbook run; fails the benchmark when the run fails."""
    path = os.path.join(work, f"vars-{uuid.uuid4().hex[:8]}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(extra, handle)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([os.path.join(BIN, "ansible-playbook"), play, "-e", "@" + path], env=env, cwd=work,
                          capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    os.unlink(path)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-2000:])
        raise SystemExit(f"ansible-playbook {os.path.basename(play)} failed with {done.returncode}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def items_for(count: int, salt: str) -> List[Dict[str, str]]:
    return [{"name": f"s{index:04d}", "value": f"{salt}-{index:04d}-{os.urandom(8).hex()}"} for index in range(count)]


class Variant:
    """One way of writing the secrets: a playbook (``text``), ``migrate.yml`` (``MIGRATE``) or the SDK (``SDK``)."""

    def __init__(self, label: str, text: str, per_item: bool) -> None:
        # per_item: starts a Python for every item of a loop (the floor and the anchors), the slow rows that
        # --loop-runs may run fewer times than the others
        self.label, self.text, self.per_item = label, text, per_item
        self.missing = ""  # why the variant cannot run here ("not installed"), printed in its row
        self.runs: Dict[str, List[Tuple[float, float, int]]] = {"new": [], "again": []}


MIGRATE, SDK = "migrate", "sdk"
ANCHORS = {"vault": ("community.hashi_vault", "vault_kv2_write", HASHI_VAULT),
           "aws": ("community.aws", "secretsmanager_secret", COMMUNITY_AWS)}


def variants_for(provider: str, paths: List[str], only: str) -> List[Variant]:
    """The variants of one provider, in the order they run and print; --only keeps those named by a first word."""
    collection, module, text = ANCHORS[provider]
    anchor = Variant(f"{collection}.{module} loop", text, per_item=True)
    if not installed(paths, *collection.split("."), module):
        anchor.missing = "not installed"
    variants = [Variant("ping loop (floor)", PING, per_item=True), Variant("module loop", LOOP, per_item=False),
                Variant("bulk task", BULK, per_item=False), Variant("migrate.yml", MIGRATE, per_item=False), anchor,
                Variant(f"sdk read-compare-write ({'hvac' if provider == 'vault' else 'botocore'})", SDK,
                        per_item=False)]
    chosen = [word for word in only.split(",") if word]
    if chosen:
        variants = [variant for variant in variants if variant.label.split(" ", maxsplit=1)[0] in chosen
                    or variant.label.split(".", maxsplit=1)[0] in chosen]
    return variants


def bench_provider(target: Target, variants: List[Variant], args, work: str, env: Dict[str, str]) -> None:
    """Runs the variants interleaved (variant after variant in each round), so that a busy moment of the shared
    machine hits every variant rather than all the runs of one; a variant that starts a Python per item runs in
    the first --loop-runs rounds only."""
    plays = {variant.label: playbook(work, variant.text) for variant in variants
             if variant.text not in (SDK, MIGRATE) and not variant.missing}
    warm = [variant for variant in variants if variant.label in plays][:1]
    for variant in warm:  # load the OS caches (ansible, the collections) once; not counted
        run(plays[variant.label], {"provider_options": {**target.options, "prefix": "vibebox/bench/warm-up/"},
                                   "items": items_for(2, "warm")}, env, work)
    for number in range(max(args.runs, args.loop_runs)):
        for variant in variants:
            if variant.missing or number >= (args.loop_runs if variant.per_item else args.runs):
                continue
            prefix = f"bench/{target.provider}-{uuid.uuid4().hex[:6]}/"
            items = items_for(args.secrets, variant.label[:4])
            options = {**target.options, "prefix": "vibebox/" + prefix, "audit_log": "false"}
            for phase in ("new", "again"):
                if variant.label.startswith("ping") and phase == "again":
                    continue
                before = target.count()
                if variant.text == SDK:
                    started, cpu0 = time.monotonic(), time.process_time()
                    target.sdk("vibebox/" + prefix, items)
                    wall, cpu = time.monotonic() - started, time.process_time() - cpu0
                elif variant.text == MIGRATE:
                    env_file = os.path.join(work, f"{prefix.replace('/', '-')}.env")
                    with open(env_file, "w", encoding="utf-8") as handle:
                        handle.writelines(f"{item['name'].upper()}={item['value']}\n" for item in items)
                    extra = {**options, "env_file": env_file, "migrate_backup_dir": os.path.join(work, "backups"),
                             "migrate_backup_key_file": os.path.join(work, "backup.key")}
                    wall, cpu = run(os.path.join(REPO, "playbooks", "migrate.yml"), extra, env, work)
                else:
                    wall, cpu = run(plays[variant.label], {"provider_options": options, "items": items}, env, work)
                requests = target.count() - before
                variant.runs[phase].append((wall, cpu, requests))
                print(f"  run {number + 1} {variant.label:44s} {phase:5s} {wall:7.1f} s  {requests:5d} requests",
                      flush=True)


def table(provider: str, variants: List[Variant], secrets: int) -> str:
    """One Markdown table: medians per variant, the ratio to the ping floor, requests from the server's log."""
    floor_runs = [variant.runs["new"] for variant in variants if variant.label.startswith("ping") and variant.runs["new"]]
    floor = statistics.median(item[0] for item in floor_runs[0]) if floor_runs else 0.0

    def ratio(wall: float) -> str:
        return f"{wall / floor:.2f}x" if floor else "-"

    def requests(value: float) -> str:
        return f"{value:.0f} ({value / secrets:.2f}/secret)"

    lines = [f"\nWrites of {secrets} secrets to {TITLES[provider]} (medians; requests counted by the server's own log)",
             "| variant | runs | wall new | x floor | wall again | x floor | cpu new | requests new | requests again |",
             "|---|---|---|---|---|---|---|---|---|"]
    for variant in variants:
        new, again = variant.runs["new"], variant.runs["again"]
        if not new:
            lines.append(f"| {variant.label} | {variant.missing or 'not run'} | | | | | | | |")
            continue
        wall_new = statistics.median(item[0] for item in new)
        cpu_new = statistics.median(item[1] for item in new)
        cells = [variant.label, str(len(new)), f"{wall_new:.1f} s", ratio(wall_new)]
        if again:
            wall_again = statistics.median(item[0] for item in again)
            cells += [f"{wall_again:.1f} s", ratio(wall_again)]
        else:
            cells += ["-", "-"]
        cells += [f"{cpu_new:.1f} s", requests(statistics.median(item[2] for item in new)),
                  requests(statistics.median(item[2] for item in again)) if again else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


TITLES = {"vault": "OpenBao", "aws": "AWS Secrets Manager (moto)"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5, help="rounds of every variant (medians are printed)")
    parser.add_argument("--loop-runs", type=int, default=None,
                        help="rounds of the variants that start a Python per item (the ping floor and the anchors,"
                        " minutes each at 200 secrets); default: --runs")
    parser.add_argument("--providers", default="vault,aws")
    parser.add_argument("--only", default="", help="comma-separated first words of the variants to run"
                        " (ping, module, bulk, migrate.yml, sdk, community); without ping there is no floor to compare with")
    args = parser.parse_args()
    if args.loop_runs is None:
        args.loop_runs = args.runs
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    paths = [collections_dir(), BENCH_COLLECTIONS]
    work = tempfile.mkdtemp(prefix="vibebox-writes-bench-")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.pathsep.join(paths), XDG_STATE_HOME=os.path.join(work, "state"),
               XDG_DATA_HOME=os.path.join(work, "data"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    for variable in ("SECRET_PROVIDER", "VAULT_ADDR", "AWS_SECRET_MANAGER_REGION"):
        env.pop(variable, None)
    tables = []
    started = time.monotonic()
    for provider in args.providers.split(","):
        variants = variants_for(provider, paths, args.only)
        for variant in variants:
            if variant.missing:
                print(f"{variant.label}: {variant.missing} in {os.pathsep.join(paths)}"
                      " (make bench fetches it into .build/bench-collections); its row says so", flush=True)
        print(f"{provider}: {args.secrets} secrets, {args.runs} rounds ({args.loop_runs} for the per-item loops)",
              flush=True)
        target = vault_target() if provider == "vault" else aws_target()
        try:
            bench_provider(target, variants, args, work, env)
        finally:
            target.stop()
        tables.append(table(provider, variants, args.secrets))
    print("\n".join(tables))
    print(f"\nwrites benchmark: {time.monotonic() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
