"""Where a worker fork's CPU goes when it loads and calls the get lookup (the fleet benchmark's overhead).

Plays an Ansible controller in this process (the collection loader, the plugin loader, the executor's
modules imported), then forks workers one after the other the way Ansible's strategy does (the
multiprocessing fork context, ``current_worker`` set), each of which loads ``vibebox.secrets.get`` afresh and
reads M secrets from a moto server through the run cache. Each fork measures its own CPU time (not wall time:
this is meant for a shared machine) for:

- ``find``: Ansible resolving ``vibebox.secrets.get`` to a file (any collection plugin pays it);
- ``import``: loading the lookup file and what it imports, of which ``compile`` is Ansible's collection loader
  compiling collection modules from source;
- ``set_options``: Ansible resolving the lookup's options (variables, environment, ansible.cfg, defaults);
- ``run``: the lookup's ``run`` (options included), one socket round trip to the run cache helper.

``compile`` is counted wherever it happens, also inside ``import`` and ``run``; ``set_options`` is inside ``run``.

The first fork starts the helper and reads the provider itself (botocore; moto runs in this process, so
botocore is already imported and the first fork's figure leaves that import out). The forks after it alternate between
the collection's bytecode finder (plugins/plugin_utils/bytecode.py, as in a real worker) and none (every
collection module compiled from source, as Ansible's loader does), so both are measured under the same load;
the table shows the first fork and the median of each kind.

    python bench/fork_cost.py [--forks 20] [--secrets 10]
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

from benchlib import collections_dir, load_test_server

PREFIX = "vibebox/bench/"
PHASES = ("find", "import", "compile", "set_options", "run", "total")


def _timed(owner: Any, attribute: str, phase: str, spent: Dict[str, float]) -> None:
    """Wrap ``owner.attribute`` so that the CPU time spent inside it adds up in ``spent[phase]``."""
    original: Callable = getattr(owner, attribute)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[phase] = spent.get(phase, 0.0) + time.process_time() - started

    setattr(owner, attribute, wrapper)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--forks", type=int, default=20, help="forks of each kind after the first")
    parser.add_argument("--secrets", type=int, default=10)
    args = parser.parse_args(argv)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    collections = collections_dir()
    launcher = load_test_server("moto_server.py", "vibebox_bench_moto")
    server = launcher.start()
    folder = tempfile.mkdtemp(prefix="vbfork-")
    try:
        import boto3

        client = boto3.client("secretsmanager", endpoint_url=server.url, region_name=launcher.REGION,
                              aws_access_key_id=launcher.ACCESS_KEY, aws_secret_access_key=launcher.SECRET_KEY)
        names = [f"bench-secret-{index}" for index in range(args.secrets)]
        for name in names:
            client.create_secret(Name=PREFIX + name, SecretString="value-" + os.urandom(8).hex())
        os.environ.update(server.env())
        os.environ.update(AWS_SECRET_PREFIX=PREFIX, SECRET_PROVIDER="aws", VIBEBOX_RUN_CACHE="true",
                          VIBEBOX_RUN_CACHE_DIR=os.path.join(folder, "rc"), XDG_STATE_HOME=os.path.join(folder, "state"),
                          XDG_DATA_HOME=os.path.join(folder, "data"))
        for variable in ("VAULT_ADDR", "ENABLE_SECRET_MANAGER", "PYTHONDONTWRITEBYTECODE"):
            os.environ.pop(variable, None)
        sys.dont_write_bytecode = False

        # the controller: what ansible-playbook has imported before it forks a worker
        from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

        _AnsibleCollectionFinder(paths=[collections])._install()
        import ansible.executor.playbook_executor  # noqa: F401
        from ansible.executor.process import worker
        import ansible.executor.task_executor  # noqa: F401
        import ansible.plugins.strategy.linear  # noqa: F401
        from ansible.parsing.dataloader import DataLoader
        from ansible.plugins import AnsiblePlugin
        from ansible.plugins.loader import PluginLoader, lookup_loader
        from ansible.utils.collection_loader import _collection_finder

        spent: Dict[str, float] = {}
        _timed(PluginLoader, "find_plugin_with_context", "find", spent)
        _timed(PluginLoader, "_load_module_source", "import", spent)
        _timed(_collection_finder._AnsibleCollectionPkgLoaderBase, "get_code", "compile", spent)
        _timed(AnsiblePlugin, "set_options", "set_options", spent)
        context = multiprocessing.get_context("fork")
        results = context.SimpleQueue()

        def fork(bytecode: bool) -> None:
            if bytecode:
                worker.current_worker = object()  # what WorkerProcess sets: the collection sees a worker fork
            started = time.process_time()
            lookup = lookup_loader.get("vibebox.secrets.get", loader=DataLoader(), templar=None)
            loaded = time.process_time()
            values = lookup.run(names, variables={})
            ended = time.process_time()
            if len(values) != len(names):
                raise SystemExit("the lookup returned the wrong number of values")
            results.put(dict(spent, run=ended - loaded, total=ended - started))

        kinds = [True] + [index % 2 == 0 for index in range(2 * args.forks)]
        rows: Dict[bool, List[Dict[str, float]]] = {True: [], False: []}
        first: Dict[str, float] = {}
        for index, bytecode in enumerate(kinds):
            process = context.Process(target=fork, args=(bytecode,))
            process.start()
            row = results.get()
            process.join()
            if index == 0:
                first = row
            else:
                rows[bytecode].append(row)
        print(f"CPU ms per fork: get lookup of {args.secrets} secrets through the run cache ({args.forks} forks of each kind)")
        print(f"{'':<30}" + "".join(f"{phase:>12}" for phase in PHASES))
        print(f"{'first fork (starts, reads)':<30}" + "".join(f"{first.get(phase, 0.0) * 1e3:>12.1f}" for phase in PHASES))
        for bytecode, label in ((False, "compiled from source (median)"), (True, "bytecode cache (median)")):
            print(f"{label:<30}" + "".join(
                f"{statistics.median(row.get(phase, 0.0) for row in rows[bytecode]) * 1e3:>12.1f}" for phase in PHASES))
        from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import client as run_cache

        run_cache.client().shutdown()
        return 0
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
