#!/usr/bin/env bash
# The version matrix: the playbook-level tests of the lookups, modules and roles (embedded local
# store and OpenBao) and `ansible-test units`, on every ansible-core release of versions.txt.
#
#   tests/matrix/run.sh [RELEASE ...]      e.g. tests/matrix/run.sh 2.17 2.21; default: every row
#   tests/matrix/run.sh --check [RELEASE ...]    only find the Pythons (fails at once when one is missing)
#   tests/matrix/run.sh --prepare [RELEASE ...]  only make the venvs (make test does this in the background,
#                                                niced, while the suites before the matrix run)
#
# Each release gets its own virtualenv, .build/matrix/ansible-core-<release>/venv, made with the
# Python that versions.txt pairs with it and installed from the project's own files (requirements.txt,
# requirements-matrix.txt, ansible-core==<release>.*). A venv is kept between runs and made again only
# when one of those inputs changes. The Python is found without a fixed path: pyenv's prefix for that
# version when pyenv is there, else python<version> on PATH; a missing one fails with what to install.
#
# Environment: MATRIX_PYTEST_ARGS (extra pytest arguments), PYTEST_WORKERS (default 2), MATRIX_COVERED_BY
# (a Python whose ansible-core release already ran the full suite: left out), MATRIX_TABLE (another table).
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true

root=$(cd "$(dirname "$0")/../.." && pwd)
table=${MATRIX_TABLE:-$root/tests/matrix/versions.txt}
build="$root/.build/matrix"
workers=${PYTEST_WORKERS:-2}

# The playbook-level tests of the lookups, modules and roles on the local store and OpenBao (their
# AWS cases need moto, which the matrix does not install: the full suite runs them once), the option
# definitions the lookups register through a non-public API, the modules run in the controller's worker
# (which answers a step of ActionBase._execute_module, also not public) compared with the module run, and
# every plugin's documentation.
TESTS=(
  tests/integration/test_option_definitions.py
  tests/integration/test_in_process.py
  tests/integration/test_local_playbooks.py
  tests/integration/test_dotenv_lookup.py
  tests/integration/test_server_playbooks.py
  tests/integration/test_migrate_playbook.py
  tests/integration/test_rotate_playbooks.py
  tests/integration/test_plugin_docs.py
)
# the releases between the bounds (third column `core` of versions.txt): what depends on ansible-core itself
CORE_TESTS=(
  tests/integration/test_option_definitions.py
  tests/integration/test_in_process.py
  tests/integration/test_local_playbooks.py
  tests/integration/test_plugin_docs.py
)
DESELECT="not aws"
# Cases that repeat, on another provider or with another bad name, what the matrix already runs, and
# whose outcome does not depend on ansible-core: the full suite runs them once (keeps make test short).
SKIP_CASES=(
  "tests/integration/test_migrate_playbook.py::test_dry_run_migrate_again_validate_rollback[local]"
  "tests/integration/test_local_playbooks.py::test_eight_forks_writing_at_once_lose_nothing"
  "tests/integration/test_local_playbooks.py::test_bad_names_are_rejected_before_any_write[bad3]"
  "tests/integration/test_local_playbooks.py::test_bad_names_are_rejected_before_any_write[a/../b]"
  "tests/integration/test_local_playbooks.py::test_bad_names_are_rejected_before_any_write[has space]"
  "tests/integration/test_local_playbooks.py::test_bad_names_are_rejected_before_any_write[tab\there]"
  # refusals and failure paths the roles hand to the modules: Python decides them, the same way on every
  # release; the matrix keeps each role's full run, re-run, check mode, rollback and rescue
  "tests/integration/test_migrate_playbook.py::test_openbao_policy_missing_a_capability_stops_the_plan_before_any_write"
  "tests/integration/test_migrate_playbook.py::test_a_rollback_whose_token_may_not_delete_stops_before_any_write"
  "tests/integration/test_migrate_playbook.py::test_a_fault_at_the_third_write_is_rolled_back[local]"
  "tests/integration/test_migrate_playbook.py::test_blocked_keys_stop_the_run_before_any_write"
  "tests/integration/test_rotate_playbooks.py::test_a_job_pointed_at_an_empty_store_fails_and_creates_nothing"
  "tests/integration/test_rotate_playbooks.py::test_a_failed_rollback_reports_the_versions_before_and_after"
  "tests/integration/test_rotate_playbooks.py::test_a_grace_period_beyond_100_years_is_refused_before_any_write"
  "tests/integration/test_rotate_playbooks.py::test_unreadable_rotation_tags_do_not_block_rotation_or_cleanup"
)

say() { printf '%s\n' "matrix: $*"; }
die() { printf '%s\n' "matrix: $*" >&2; exit 1; }

python_version_of() {  # the X.Y an interpreter reports, or nothing if it does not run
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

find_python() {  # find_python 3.12 -> path of a working python3.12
  local want=$1 candidate prefix
  if command -v pyenv >/dev/null 2>&1 && prefix=$(pyenv prefix "$want" 2>/dev/null); then
    for candidate in "$prefix/bin/python$want" "$prefix/bin/python3"; do
      if [ -x "$candidate" ] && [ "$(python_version_of "$candidate")" = "$want" ]; then
        echo "$candidate"; return 0
      fi
    done
  fi
  # a pyenv shim answers only for the selected version: asking for the version weeds the others out
  if candidate=$(command -v "python$want" 2>/dev/null) && [ "$(python_version_of "$candidate")" = "$want" ]; then
    echo "$candidate"; return 0
  fi
  return 1
}

digest_of() {  # what a venv was made from; a change makes it again
  { cat "$root/requirements.txt" "$root/requirements-matrix.txt"; echo "ansible-core==$1.*"; "$2" -VV; } | sha256sum | cut -d' ' -f1
}

venv_of() {  # venv_of RELEASE -> where that release's virtualenv lives
  echo "$build/ansible-core-$1/venv"
}

make_venv() {  # make_venv RELEASE PYTHON VENV
  local release=$1 python=$2 venv=$3 wanted
  wanted=$(digest_of "$release" "$python")
  # one maker at a time (make test's background --prepare and a matrix run started by hand)
  mkdir -p "$(dirname "$venv")"
  exec 9> "$venv.lock"
  flock 9
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.vibebox-matrix" 2>/dev/null)" = "$wanted" ]; then
    exec 9>&-
    return 0
  fi
  say "ansible-core $release: making $venv with $python"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" || die "ansible-core $release: $python cannot make a virtualenv (install its venv module)"
  local log="$venv.pip.log"
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$root/requirements.txt" \
       -r "$root/requirements-matrix.txt" "ansible-core==$release.*" > "$log" 2>&1; then
    cat "$log" >&2
    die "ansible-core $release: pip could not install the requirements into $venv"
  fi
  # pip warns about each index location of a machine's configuration that does not exist: noise
  grep -v 'is ignored: it is neither a file nor a directory' "$log" || true
  echo "$wanted" > "$venv/.vibebox-matrix"
  exec 9>&-
}

# the tree ansible-test wants: a copy of the repository under ansible_collections/vibebox/secrets
copy_tree() {
  local tree=$1
  rm -rf "$tree" && mkdir -p "$tree"
  (cd "$root" && git ls-files -co --exclude-standard -z | grep -zv '^tests/output/' \
     | while IFS= read -r -d '' file; do [ -f "$file" ] && printf '%s\0' "$file"; done \
     | xargs -0 cp --parents -t "$tree")
  (cd "$tree" && git init -q . && git add -A >/dev/null)
}

require_python() {  # require_python RELEASE PYTHON_VERSION -> path, or a failure that says what to install
  local python
  if ! python=$(find_python "$2"); then
    die "ansible-core $1 is tested on Python $2, which this machine does not have (looked for pyenv's $2 and python$2 on PATH). Install it (pyenv install $2, or the distribution's python$2 package with its venv module), or run the other releases: tests/matrix/run.sh RELEASE ..."
  fi
  echo "$python"
}

run_release() {  # run_release RELEASE PYTHON_VERSION [all|core]
  local release=$1 want=$2 scope=${3:-all} python venv tree started installed tests
  python=$(require_python "$release" "$want")
  venv=$(venv_of "$release")
  tree="$build/ansible-core-$release/tree/ansible_collections/vibebox/secrets"
  make_venv "$release" "$python" "$venv"
  installed=$("$venv/bin/python" -c 'from ansible.release import __version__; print(__version__)')
  case $installed in "$release".*) ;; *) die "ansible-core $release: the venv has ansible-core $installed";; esac
  started=$SECONDS
  case $scope in
    all) tests=("${TESTS[@]}") ;;
    core) tests=("${CORE_TESTS[@]}") ;;
    *) die "ansible-core $release: the third column of $table must be all or core (got '$scope')" ;;
  esac
  say "ansible-core $installed on Python $want: playbook-level tests ($scope)"
  local deselect=() case
  for case in "${SKIP_CASES[@]}"; do deselect+=(--deselect "$case"); done
  (cd "$root" && "$venv/bin/python" -m pytest -p no:cacheprovider -q -n "$workers" --dist loadfile \
     -k "$DESELECT" "${deselect[@]}" "${tests[@]}" ${MATRIX_PYTEST_ARGS:-})
  say "ansible-core $installed on Python $want: ansible-test units"
  copy_tree "$tree"
  (cd "$tree" && PATH="$venv/bin:$PATH" "$venv/bin/ansible-test" units --local --python "$want" --color no)
  say "ansible-core $installed on Python $want: passed ($((SECONDS - started)) s)"
}

mode=run
case ${1:-} in
  --check|--prepare) mode=${1#--}; shift ;;
  -*) die "unknown option $1 (--check, --prepare, or release numbers)" ;;
esac

mapfile -t rows < <(grep -vE '^\s*(#|$)' "$table")
[ ${#rows[@]} -gt 0 ] || die "no release in $table"
wanted=("$@")
selected=()
for row in "${rows[@]}"; do
  read -r release python_version scope _rest <<< "$row"
  if [ ${#wanted[@]} -eq 0 ] || printf '%s\n' "${wanted[@]}" | grep -qx "$release"; then
    selected+=("$release $python_version ${scope:-all}")
  fi
done
for release in "${wanted[@]}"; do
  printf '%s\n' "${rows[@]}" | awk '{print $1}' | grep -qx "$release" || die "ansible-core $release is not a row of $table"
done

# MATRIX_COVERED_BY=PYTHON: the release that interpreter's ansible-core belongs to has just passed the
# whole suite there (make test runs the full suite in .venv first), so the matrix leaves it out
covered=
if [ -n "${MATRIX_COVERED_BY:-}" ]; then
  covered=$("$MATRIX_COVERED_BY" -c 'from ansible.release import __version__ as v; print(".".join(v.split(".")[:2]))') \
    || die "MATRIX_COVERED_BY=$MATRIX_COVERED_BY has no ansible-core"
fi

# every Python first, so that a missing one fails before anything runs
for row in "${selected[@]}"; do
  read -r release python_version _scope <<< "$row"
  require_python "$release" "$python_version" >/dev/null
done
[ "$mode" != check ] || { say "every Python found"; exit 0; }
ran=()
for row in "${selected[@]}"; do
  read -r release python_version scope <<< "$row"
  if [ "$release" = "$covered" ]; then
    say "ansible-core $release: covered by the full suite on $MATRIX_COVERED_BY"
    continue
  fi
  if [ "$mode" = prepare ]; then
    make_venv "$release" "$(require_python "$release" "$python_version")" "$(venv_of "$release")"
  else
    run_release "$release" "$python_version" "$scope"
  fi
  ran+=("$release")
done
if [ "$mode" = prepare ]; then
  say "venvs ready for ansible-core ${ran[*]:-(none)}"
else
  say "passed on ansible-core ${ran[*]:-(none)}${covered:+ (and $covered in the full suite)}"
fi
