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
# what a user of the collection does not need (galaxy.yml build_ignore): development tooling, tests,
# build and state folders, dotfiles
listing=$(tar -tzf "$tarball")
unwanted=$(echo "$listing" | grep -E '^(\.|Makefile$|bench/|hacking/|tests/|demo-state/|extensions/molecule/|requirements-(test|matrix|docs)\.txt$|ruff\.toml$|changelogs/fragments/)|(^|/)(\.venv|\.build|__pycache__)/' || true)
if [ -n "$unwanted" ]; then
  echo "the tarball carries development-only files (galaxy.yml build_ignore):" >&2
  echo "$unwanted" | head -20 >&2
  exit 1
fi
for wanted in LICENSE README.md meta/runtime.yml plugins/plugin_utils/option_definitions.json docs/docsite/extra-docs.yml \
              docs/docsite/links.yml changelogs/changelog.yaml; do
  grep -qx "$wanted" <<< "$listing" || { echo "the tarball lacks $wanted" >&2; exit 1; }
done
export XDG_DATA_HOME="$work/data" XDG_STATE_HOME="$work/state"
cd "$work"
# ansible-doc exits 0 for a plugin it cannot find: its JSON says whether the plugin was there
for plugin in "module vibebox.secrets.secret" "lookup vibebox.secrets.get" "lookup vibebox.secrets.dotenv" "filter vibebox.secrets.resolve"; do
  set -- $plugin
  "$BIN/ansible-doc" -t "$1" --json "$2" | "$BIN/python" -c "import json, sys; sys.exit(0 if json.load(sys.stdin).get('$2') else 'ansible-doc finds no $1 $2 in the installed collection')"
done
if "$BIN/ansible-doc" -l vibebox.secrets 2>/dev/null | grep -q secret_migrate || [ -f "$work/installed/ansible_collections/vibebox/secrets/playbooks/migrate.yml" ]; then
  printf 'DATABASE_PASSWORD=from-installed-collection\n' > "$work/app.env"
  "$BIN/ansible-playbook" vibebox.secrets.migrate --check -e env_file="$work/app.env" -e provider=local
fi
"$BIN/ansible-playbook" vibebox.secrets.demo -e demo_env_file="$here/examples/app.env"
echo "build-install: the installed collection works"
