#!/usr/bin/env bash
# Put optional collections (awx.awx, amazon.aws, kubernetes.core) into a collections path, offline
# from Galaxy: they are taken from the PyPI "ansible" package, which bundles them.
#
#   tests/servers/fetch_optional_collections.sh TARGET [namespace.name ...]
#
# TARGET becomes (or already is) a collections path: TARGET/ansible_collections/<ns>/<name>.
# Without names, awx.awx, amazon.aws and kubernetes.core are fetched. Users of the results:
#   - tests/integration/test_awx_files.py  (awx.awx: syntax check of playbooks/awx_configure.yml)
#   - bench/fleet.py                        (amazon.aws: the side-by-side benchmark)
#   - roles/external_secrets                (kubernetes.core: external_secrets_apply)
#   - bench/writes.py                       (community.hashi_vault, community.aws: the anchors, fetched by
#                                            make bench into .build/bench-collections, a path no test uses)
#
# Idempotent: a collection already extracted from the same ansible release is left alone, and the
# wheel is downloaded once into a cache folder. Only the named collections are extracted, never
# the rest of the ~55 MB wheel. Nothing is installed into any Python environment.
#
# Environment:
#   PYTHON                         Python with pip (default: python3)
#   VIBEBOX_ANSIBLE_WHEEL_VERSION  release of the "ansible" package (default below; 12.x pairs
#                                  with ansible-core 2.19)
#   VIBEBOX_WHEEL_CACHE            where the wheel is kept (default: TARGET/.wheels)
set -euo pipefail

if [ $# -lt 1 ] || [ -z "$1" ]; then
  echo "usage: $0 TARGET [namespace.name ...]" >&2
  exit 2
fi

target=$1
shift
if [ $# -gt 0 ]; then
  wanted=("$@")
else
  wanted=(awx.awx amazon.aws kubernetes.core)
fi

python=${PYTHON:-python3}
version=${VIBEBOX_ANSIBLE_WHEEL_VERSION:-12.3.0}
cache=${VIBEBOX_WHEEL_CACHE:-$target/.wheels}
stamp_name=.vibebox-fetched-from

mkdir -p "$target/ansible_collections"

missing=()
for fqcn in "${wanted[@]}"; do
  case $fqcn in
    *.*) ;;
    *) echo "not a collection name (namespace.name): $fqcn" >&2; exit 2 ;;
  esac
  folder="$target/ansible_collections/${fqcn%%.*}/${fqcn#*.}"
  if [ -f "$folder/MANIFEST.json" ] && [ "$(cat "$folder/$stamp_name" 2>/dev/null)" = "ansible==$version" ]; then
    continue
  fi
  missing+=("$fqcn")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "optional collections already in $target: ${wanted[*]} (ansible==$version)"
  exit 0
fi

wheel=$(ls "$cache"/ansible-"$version"-py3-none-any.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
  mkdir -p "$cache"
  echo "downloading ansible==$version (wheel only, no dependencies) into $cache"
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$cache" "ansible==$version"
  wheel=$(ls "$cache"/ansible-"$version"-py3-none-any.whl | head -n 1)
fi

# extract only ansible_collections/<ns>/<name>/ of each missing collection, replacing an older copy
"$python" - "$wheel" "$target" "$version" "$stamp_name" "${missing[@]}" <<'PY'
import os
import shutil
import sys
import zipfile

wheel, target, version, stamp_name, *names = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    members = archive.namelist()
    for fqcn in names:
        namespace, name = fqcn.split(".", 1)
        prefix = f"ansible_collections/{namespace}/{name}/"
        chosen = [item for item in members if item.startswith(prefix) and not item.endswith("/")]
        if not chosen:
            sys.exit(f"{fqcn} is not in {os.path.basename(wheel)}")
        folder = os.path.join(target, "ansible_collections", namespace, name)
        staging = folder + ".partial"
        shutil.rmtree(staging, ignore_errors=True)
        for item in chosen:
            relative = item[len(prefix):]
            if relative.startswith("/") or ".." in relative.split("/"):
                sys.exit(f"refusing a suspicious path in the wheel: {item}")
            destination = os.path.join(staging, relative)
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            with archive.open(item) as source, open(destination, "wb") as sink:
                shutil.copyfileobj(source, sink)
        with open(os.path.join(staging, stamp_name), "w", encoding="ascii") as handle:
            handle.write(f"ansible=={version}")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
        print(f"{fqcn}: extracted into {folder}")
PY
