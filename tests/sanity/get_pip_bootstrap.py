"""Stand-in for ansible-test's downloaded get-pip script, which this network cannot reach.

ansible-test looks for ~/.ansible/test/cache/get_pip_<version>.py before downloading it from
ci-files.testing.ansible.com (its documented manual path). `make sanity` puts this file there: it
bootstraps pip from the interpreter's own ensurepip and then installs the pip version ansible-test
asked for from the package index, so every sanity test (validate-modules, pylint, yamllint, import,
runtime-metadata ...) runs for real instead of being skipped.
"""
import ensurepip
import os
import subprocess
import sys

BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def main() -> int:
    ensurepip.bootstrap(upgrade=True)
    cert = ["--cert", BUNDLE] if os.path.exists(BUNDLE) else []
    if cert:
        # ansible-test runs pip with a filtered environment; the venv's own pip.conf keeps the CA
        with open(os.path.join(sys.prefix, "pip.conf"), "w", encoding="utf-8") as handle:
            handle.write("[global]\ncert = %s\n" % BUNDLE)
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    return subprocess.call([sys.executable, "-m", "pip", "install", *cert, *args])


if __name__ == "__main__":
    sys.exit(main())
