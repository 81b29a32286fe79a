"""Write benchmark: N secrets written to OpenBao and to AWS Secrets Manager (moto), every way the collection offers.

For each provider it runs, side by side and interleaved (``--runs`` times, medians printed):

- ``ping loop``: ``ansible.builtin.ping`` in a ``loop`` of N, what Ansible costs per module run: the **floor**;
- ``module loop``: ``vibebox.secrets.secret`` in a ``loop`` of N, on a fresh prefix (every secret is new),
  then the same run again (nothing changes);
- ``bulk task``: ``vibebox.secrets.secret`` with ``secrets:`` (the N secrets in one module run), new then again;
- ``migrate.yml``: ``playbooks/migrate.yml`` with an N-line .env file, new then again;
- the anchors, when installed in .build/collections (``community.hashi_vault.vault_kv2_write`` on OpenBao,
  ``community.aws.secretsmanager_secret`` on AWS), else it says they are not installed;
- ``sdk``: hvac or botocore directly in this process, read-compare-write per secret: what the service costs.

Requests are counted by the servers (OpenBao's file audit device, moto's request log), never by our code.

    python bench/writes.py [--secrets 200] [--runs 3] [--providers vault,aws] [--only bulk,migrate.yml,sdk]
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
from typing import Callable, Dict, List, Optional, Tuple

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


def installed(collections: str, namespace: str, name: str, plugin: str) -> bool:
    return os.path.isfile(os.path.join(collections, "ansible_collections", namespace, name, "plugins", "modules",
                                       plugin + ".py"))


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


def bench_provider(target: Target, args, collections: str, work: str, env: Dict[str, str]) -> List[Tuple]:
    """Rows (variant, runs of (wall, cpu, requests)) for one provider."""
    variants: List[Tuple[str, Optional[str]]] = [
        ("ping loop (floor)", PING), ("module loop", LOOP), ("bulk task", BULK), ("migrate.yml", "migrate")]
    anchor = ("community.hashi_vault", "vault_kv2_write", HASHI_VAULT) if target.provider == "vault" else (
        "community.aws", "secretsmanager_secret", COMMUNITY_AWS)
    namespace, name = anchor[0].split(".")
    if installed(collections, namespace, name, anchor[1]):
        variants.append((f"{anchor[0]}.{anchor[1]} loop", anchor[2]))
    else:
        print(f"  {anchor[0]} is not installed in {collections}: its row is skipped")
    variants.append(("sdk read-compare-write", None))
    chosen = [word for word in args.only.split(",") if word]
    if chosen:
        variants = [item for item in variants
                    if item[0].split(" ", maxsplit=1)[0] in chosen or item[0].split(".", maxsplit=1)[0] in chosen]
    results: Dict[str, Dict[str, List[Tuple[float, float, int]]]] = {
        label: {"new": [], "again": []} for label, _text in variants}
    plays = {label: playbook(work, text) for label, text in variants if text not in (None, "migrate")}
    for number in range(args.runs):
        for label, text in variants:
            prefix = f"bench/{target.provider}-{uuid.uuid4().hex[:6]}/"
            items = items_for(args.secrets, label[:4])
            options = {**target.options, "prefix": "vibebox/" + prefix, "audit_log": "false"}
            for phase in ("new", "again"):
                if label.startswith("ping") and phase == "again":
                    continue
                before = target.count()
                if text is None:
                    started, cpu0 = time.monotonic(), time.process_time()
                    target.sdk("vibebox/" + prefix, items)
                    wall, cpu = time.monotonic() - started, time.process_time() - cpu0
                elif text == "migrate":
                    env_file = os.path.join(work, f"{prefix.replace('/', '-')}.env")
                    with open(env_file, "w", encoding="utf-8") as handle:
                        handle.writelines(f"{item['name'].upper()}={item['value']}\n" for item in items)
                    extra = {**options, "env_file": env_file, "migrate_backup_dir": os.path.join(work, "backups"),
                             "migrate_backup_key_file": os.path.join(work, "backup.key")}
                    wall, cpu = run(os.path.join(REPO, "playbooks", "migrate.yml"), extra, env, work)
                else:
                    wall, cpu = run(plays[label], {"provider_options": options, "items": items}, env, work)
                results[label][phase].append((wall, cpu, target.count() - before))
                print(f"  run {number + 1} {label:32s} {phase:5s} {wall:7.1f} s  {target.count() - before:5d} requests",
                      flush=True)
    return [(label, results[label]) for label, _text in variants]


def table(provider: str, rows: List[Tuple], secrets: int) -> str:
    floor = statistics.median(wall for wall, _cpu, _req in rows[0][1]["new"]) if rows[0][0].startswith("ping") else 0.0

    def ratio(wall: float) -> str:
        return f"{wall / floor:.2f}x" if floor else "-"

    lines = [f"\nWrites of {secrets} secrets to {provider} (median of {len(rows[0][1]['new'])} runs; requests from the"
             " server's own log)",
             "| variant | wall new | x floor | wall again | x floor | cpu new | requests new | requests again |",
             "|---|---|---|---|---|---|---|---|"]
    for label, phases in rows:
        new, again = phases["new"], phases["again"]
        wall_new = statistics.median(item[0] for item in new)
        cpu_new = statistics.median(item[1] for item in new)
        req_new = statistics.median(item[2] for item in new)
        if again:
            wall_again = statistics.median(item[0] for item in again)
            req_again = statistics.median(item[2] for item in again)
            again_text = f"{wall_again:.1f} s | {ratio(wall_again)} | "
            req_again_text = f"{req_again:.0f} ({req_again / secrets:.2f}/secret)"
        else:
            again_text, req_again_text = "- | - | ", "-"
        lines.append(f"| {label} | {wall_new:.1f} s | {ratio(wall_new)} | {again_text}{cpu_new:.1f} s | "
                     f"{req_new:.0f} ({req_new / secrets:.2f}/secret) | {req_again_text} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--providers", default="vault,aws")
    parser.add_argument("--only", default="", help="comma-separated first words of the variants to run"
                        " (ping, module, bulk, migrate.yml, sdk, community); without ping there is no floor to compare with")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    collections = collections_dir()
    work = tempfile.mkdtemp(prefix="vibebox-writes-bench-")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, XDG_STATE_HOME=os.path.join(work, "state"),
               XDG_DATA_HOME=os.path.join(work, "data"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    for variable in ("SECRET_PROVIDER", "VAULT_ADDR", "AWS_SECRET_MANAGER_REGION"):
        env.pop(variable, None)
    tables = []
    for provider in args.providers.split(","):
        print(f"{provider}:", flush=True)
        target = vault_target() if provider == "vault" else aws_target()
        try:
            tables.append(table(provider, bench_provider(target, args, collections, work, env), args.secrets))
        finally:
            target.stop()
    print("\n".join(tables))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
