#!/usr/bin/env bash
# Make sure PostgreSQL server binaries (initdb, pg_ctl) exist for the database rotation tests.
# The test image has Debian's postgresql-15; a fresh CI machine gets it from apt. The Debian package
# is used (not a PyPI wheel) because it is what the machine image carries and needs no download.
# Prints the folder of the binaries. Installing needs root or passwordless sudo.
set -euo pipefail

find_bindir() {
  local dir
  if [[ -n "${VIBEBOX_PG_BINDIR:-}" && -x "${VIBEBOX_PG_BINDIR}/initdb" ]]; then
    echo "$VIBEBOX_PG_BINDIR"; return 0
  fi
  for dir in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -rn); do
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then echo "$dir"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"; return 0
  fi
  return 1
}

if bindir=$(find_bindir); then
  echo "postgresql: found server binaries in $bindir"
  exit 0
fi

echo "postgresql: server binaries missing, installing the Debian package 'postgresql'" >&2
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)
else
  echo "postgresql: not root and no sudo; install the package 'postgresql' (or set VIBEBOX_PG_BINDIR)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
# the package's post-install may try to start a cluster; without systemd that is harmless
"${SUDO[@]}" apt-get install -y -q --no-install-recommends postgresql

if bindir=$(find_bindir); then
  echo "postgresql: installed, server binaries in $bindir"
  exit 0
fi
echo "postgresql: installed the package but found no initdb/pg_ctl" >&2
exit 1
