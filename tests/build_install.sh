#!/usr/bin/env bash
# Build the collection tarball, install it with --no-deps into a temporary path (Galaxy is not
# reachable) and run playbooks from the installed copy, as a user who installed a release would.
set -euo pipefail
BIN=${1:?usage: build_install.sh VENV_BIN}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$BIN/ansible-galaxy" collection build --force --output-path "$work" "$here" >/dev/null
tarball=$(ls "$work"/vibebox-secrets-*.tar.gz)
echo "built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"
# only the fresh install on the path: the checkout link (.build/collections) or a copy elsewhere
# would make ansible-galaxy report "already installed" and install nothing
export ANSIBLE_COLLECTIONS_PATH="$work/installed" HOME="$work/home"
"$BIN/ansible-galaxy" collection install --no-deps --force -p "$work/installed" "$tarball" >/dev/null
[ -f "$work/installed/ansible_collections/vibebox/secrets/MANIFEST.json" ] || { echo "the install put nothing in $work/installed" >&2; exit 1; }
if tar -tzf "$tarball" | grep -E '(^|/)(\.venv|\.build|tests/output|demo-state)/' >/dev/null; then
  echo "the tarball carries build or state folders" >&2; exit 1
fi
export XDG_DATA_HOME="$work/data" XDG_STATE_HOME="$work/state"
cd "$work"
"$BIN/ansible-doc" vibebox.secrets.secret >/dev/null
"$BIN/ansible-doc" -t lookup vibebox.secrets.get >/dev/null
if "$BIN/ansible-doc" -l vibebox.secrets 2>/dev/null | grep -q secret_migrate || [ -f "$work/installed/ansible_collections/vibebox/secrets/playbooks/migrate.yml" ]; then
  printf 'DATABASE_PASSWORD=from-installed-collection\n' > "$work/app.env"
  "$BIN/ansible-playbook" vibebox.secrets.migrate --check -e env_file="$work/app.env" -e provider=local
fi
"$BIN/ansible-playbook" vibebox.secrets.demo -e demo_env_file="$here/examples/app.env"
echo "build-install: the installed collection works"
