"""`make servers`: start every test server and wire fake at once, for exploring by hand.

Each launcher is also a command of its own (`python tests/servers/openbao.py`, ...) that prints the
environment variables a client needs; this starts them side by side and stops them all on Ctrl-C.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHERS = ("openbao.py", "moto_server.py", "gcp_fake.py", "azure_fake.py", "k8s_fake.py", "postgres.py")


def main(argv: list) -> int:
    import argparse

    known = [name[:-3] for name in LAUNCHERS]
    parser = argparse.ArgumentParser(description="Start every test server and wire fake, print the environment"
                                                 " variables a client needs, stop them all on Ctrl-C.")
    parser.add_argument("only", nargs="*", metavar="SERVER", help=f"start only these: {', '.join(known)}")
    chosen = parser.parse_args(argv).only
    unknown = [name for name in chosen if name not in known]
    if unknown:
        parser.error(f"unknown server {', '.join(unknown)}; known: {', '.join(known)}")
    children = []
    for name in LAUNCHERS:
        if chosen and name[:-3] not in chosen:
            continue
        path = os.path.join(HERE, name)
        if os.path.exists(path):
            print(f"# {name}", flush=True)
            children.append(subprocess.Popen([sys.executable, path]))  # pylint: disable=consider-using-with
            time.sleep(1.5)  # keeps each launcher's printed environment together
    print("# all servers started; Ctrl-C stops them", flush=True)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        child.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
