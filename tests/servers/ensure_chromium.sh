#!/usr/bin/env bash
# Make sure a headless browser exists for the status page test (tests/integration/test_status_page.py):
# Debian's chromium and the DejaVu fonts the page names, installed with apt when missing. The Debian
# package is used (not a downloaded browser build) because apt is what every machine of the project
# reaches, and the test needs no pip package to drive it (chromium --headless --dump-dom/--screenshot).
# Without root or sudo it says so and exits 0: the test then skips with the same message, except with
# CI=true, where a missing browser is a failure (here and in the test).
set -euo pipefail

found() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
fonts() { [[ -d /usr/share/fonts/truetype/dejavu ]]; }

if found && fonts; then
  echo "chromium: found $(command -v chromium || command -v chromium-browser)"
  exit 0
fi

missing=()
found || missing+=(chromium)
fonts || missing+=(fonts-dejavu-core)
echo "chromium: installing the Debian packages ${missing[*]}" >&2
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "chromium: not root and no passwordless sudo; install ${missing[*]} with apt to run the status page test" >&2
  [[ "${CI:-}" == "true" ]] && exit 1
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! { "${SUDO[@]}" apt-get update -q && "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; }; then
  echo "chromium: apt-get could not install ${missing[*]}" >&2
  [[ "${CI:-}" == "true" ]] && exit 1
  exit 0
fi
found && echo "chromium: installed $(command -v chromium || command -v chromium-browser)"
