# vibebox.secrets: `make demo` tries the collection on the embedded local store, `make test` runs every
# test. Everything is installed into .venv and .build/ by these targets; nothing is needed by hand.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
BUILD := $(CURDIR)/.build
COLLECTIONS := $(BUILD)/collections
LINK := $(COLLECTIONS)/ansible_collections/vibebox/secrets
TESTTREE := $(BUILD)/ansible-test/ansible_collections/vibebox/secrets
ENV_SH := $(BUILD)/env.sh
DEMO_STATE := $(CURDIR)/demo-state
DOCS_VENV := $(BUILD)/venvs/docs
PYTEST_ARGS ?=
# releases of tests/matrix/versions.txt to run (default: all; the one in .venv ran the full suite)
MATRIX ?=

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_NOCOLOR := 1
export ANSIBLE_FORCE_COLOR := 0

# pip, quiet, without the warnings this machine's index configuration adds to every install
PIP_QUIET := grep -v 'is ignored: it is neither a file nor a directory' || true

.PHONY: help venv test-venv collection env optional-collections demo test pytest unit sanity lint molecule \
        build-install docsite docs matrix changelog ee servers bench clean

help:
	@echo "make demo    - .venv with requirements.txt only, then migrate + rotate on the embedded local store;"
	@echo "               prints the one command that sets up your shell: . .build/env.sh"
	@echo "make test    - every test: pytest (unit, real servers, playbooks), ansible-test, lint, molecule,"
	@echo "               build + install, docsite, and the ansible-core version matrix (tests/matrix/)"
	@echo "make matrix  - only the version matrix (MATRIX='2.17 2.21' for some releases)"
	@echo "make docs    - regenerate docs/docsite/rst from the Markdown guides in docs/"
	@echo "make changelog - rebuild the current release's notes from changelogs/fragments, and CHANGELOG.md"
	@echo "make ee      - the execution environment's build context in .build/ee (ansible-builder build needs podman)"
	@echo "make bench   - fleet reads (50 hosts x 10 secrets, 200 x 50) against moto, then writes of 200 secrets (OpenBao, moto)"
	@echo "               side by side with the anchors (make bench-writes for the writes only; BENCH_WRITES_ARGS=...)"

# --- environments -----------------------------------------------------------------------------------
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | $(PIP_QUIET)

# what the demo and a user need: ansible-core and cryptography (requirements.txt)
$(VENV)/.requirements: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements.txt 2>&1 | $(PIP_QUIET)
	@touch $@

# everything the tests need on top (requirements-test.txt includes requirements.txt)
$(VENV)/.requirements-test: requirements.txt requirements-test.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements-test.txt 2>&1 | $(PIP_QUIET)
	@touch $@ $(VENV)/.requirements

venv: $(VENV)/.requirements
test-venv: $(VENV)/.requirements-test

# the checkout itself, reached as ansible_collections/vibebox/secrets (collection code imports itself by
# its full name); optional collections (make optional-collections) go into the same folder
collection:
	@mkdir -p $(dir $(LINK))
	@[ -L $(LINK) ] || ln -sfn $(CURDIR) $(LINK)

# `. .build/env.sh` gives a shell what the Makefile gives its recipes: the venv on PATH, this checkout on
# ANSIBLE_COLLECTIONS_PATH, and the embedded store that `make demo` filled
env: collection
	@mkdir -p $(BUILD)
	@{ echo "# Written by make (demo, test, env). Source it: . .build/env.sh"; \
	   echo "# The venv's ansible-* commands, this checkout as the vibebox.secrets collection (with the optional"; \
	   echo "# collections make test fetches), and the embedded local store of make demo (demo-state/)."; \
	   echo "case \":\$$PATH:\" in *\":$(BIN):\"*) ;; *) export PATH=\"$(BIN):\$$PATH\" ;; esac"; \
	   echo "export ANSIBLE_COLLECTIONS_PATH=\"$(COLLECTIONS)\""; \
	   echo "export VIBEBOX_LOCAL_PATH=\"$(DEMO_STATE)/data/vibebox/secrets.db\""; \
	   echo "export VIBEBOX_AUDIT_LOG=\"$(DEMO_STATE)/state/vibebox/audit.log\""; \
	 } > $(ENV_SH).tmp && mv $(ENV_SH).tmp $(ENV_SH)

# awx.awx, amazon.aws and kubernetes.core (declared in tests/requirements.yml), taken from the PyPI
# `ansible` wheel because Galaxy cannot be reached from every machine that runs the tests
optional-collections: $(BIN)/python
	PYTHON=$(BIN)/python bash tests/servers/fetch_optional_collections.sh $(COLLECTIONS)

# --- the demo ---------------------------------------------------------------------------------------
demo: venv env
	XDG_DATA_HOME=$(DEMO_STATE)/data XDG_STATE_HOME=$(DEMO_STATE)/state SECRET_PROVIDER=local \
	  $(BIN)/ansible-playbook playbooks/demo.yml -e demo_env_file=$(CURDIR)/examples/app.env
	@echo
	@echo "The demo's store is in demo-state/ (no value was printed). Set up this shell with:"
	@echo
	@echo "    . .build/env.sh"
	@echo
	@echo "then run the commands under 'After make demo' in README.md."

# --- the tests --------------------------------------------------------------------------------------
# each suite in turn, timed: the last lines say where the minutes went (the budget is 25 on 2 cores).
# The version matrix's venvs (pip: mostly waiting on the disk and the index) are made in the background at
# the lowest priority while the suites before it run, so they take only the time those leave idle; a missing
# Python fails at once, before any suite. The venv maker runs in a process group of its own (setsid: an
# interrupt of make does not reach it), so make test stops it, pip included, when it ends early or is interrupted.
SUITES := pytest unit sanity lint molecule build-install docsite matrix
MATRIX_PREPARE_LOG := $(BUILD)/matrix-prepare.log
test: test-venv env optional-collections
	bash tests/servers/ensure_postgres.sh
	bash tests/servers/ensure_chromium.sh
	@rm -f $(BUILD)/test-times; prepare=; \
	stop_prepare() { [ -z "$$prepare" ] || kill -- -$$prepare 2>/dev/null; }; \
	trap stop_prepare EXIT; trap 'exit 130' INT TERM; \
	case " $(SUITES) " in *" matrix "*) \
	  bash tests/matrix/run.sh --check $(MATRIX) || exit 1; \
	  MATRIX_COVERED_BY=$(if $(MATRIX),,$(BIN)/python) setsid nice -n 19 bash tests/matrix/run.sh --prepare $(MATRIX) \
	    > $(MATRIX_PREPARE_LOG) 2>&1 & prepare=$$!; \
	  echo "make test: the version matrix's venvs are made in the background (log: .build/matrix-prepare.log)";; \
	esac; \
	for suite in $(SUITES); do \
	  started=$$(date +%s); \
	  if [ "$$suite" = matrix ] && [ -n "$$prepare" ]; then \
	    wait $$prepare || { cat $(MATRIX_PREPARE_LOG) >&2; echo "make test: the matrix's venvs could not be made" >&2; exit 1; }; \
	    prepare=; \
	  fi; \
	  $(MAKE) --no-print-directory $$suite || { echo "make test: $$suite failed" >&2; exit 1; }; \
	  echo "$$suite $$(( $$(date +%s) - started ))" >> $(BUILD)/test-times; \
	done; \
	echo "make test: all suites passed; seconds per suite:"; \
	awk '{ total += $$2; printf "  %-14s %5d s\n", $$1, $$2 } END { printf "  %-14s %5d s\n", "total", total }' $(BUILD)/test-times

# integration + playbook tests against real servers and the wire fakes (they start them themselves)
pytest: test-venv collection optional-collections
	CI=$${CI:-} $(BIN)/python -m pytest -p no:cacheprovider tests/integration -q -n 2 --dist loadfile $(PYTEST_ARGS)

# the tree ansible-test wants: a copy under ansible_collections/vibebox/secrets
$(TESTTREE): FORCE
	@mkdir -p $(TESTTREE)
	@find $(TESTTREE) -mindepth 1 -maxdepth 1 ! -name tests -exec rm -rf {} +
	@rm -rf $(TESTTREE)/tests
	@git ls-files -co --exclude-standard -z | grep -zv '^tests/output/' \
	  | while IFS= read -r -d '' f; do [ -f "$$f" ] && printf '%s\0' "$$f"; done | xargs -0 cp --parents -t $(TESTTREE)/
	@cd $(TESTTREE) && { [ -d .git ] || git init -q .; } && git add -A >/dev/null 2>&1 || true
FORCE:

unit: test-venv $(TESTTREE)
	cd $(TESTTREE) && $(BIN)/ansible-test units --local --python 3.11 --color no

sanity: test-venv $(TESTTREE)
	@mkdir -p $(HOME)/.ansible/test/cache
	@cp tests/sanity/get_pip_bootstrap.py $(HOME)/.ansible/test/cache/get_pip_24_2.py
	cd $(TESTTREE) && $(BIN)/ansible-test sanity --local --python 3.11 --color no

lint: test-venv collection optional-collections
	$(BIN)/ruff check plugins tests bench hacking
	$(BIN)/ansible-lint --offline --profile production
	$(BIN)/python hacking/render_lookup_fragments.py --check
	$(BIN)/python hacking/render_option_definitions.py --check
	$(BIN)/python hacking/render_option_table.py --check
	$(BIN)/python hacking/render_docsite.py --check
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	$(BIN)/python hacking/update_changelog.py --check

# every scenario but "default" (empty: it only spares molecule's CRITICAL "glob failed" line, which
# fails the target if it comes back). The scenarios pin the local store, so a developer's exported VAULT_ADDR
# or a pod's KUBERNETES_SERVICE_HOST must not send their secrets elsewhere: both are exported here, pointing at
# a port nothing listens on (bound, then released), and a scenario that reached for them, or printed the
# notice of a provider chosen by detection, fails.
molecule: test-venv collection
	@mkdir -p $(BUILD)
	@port=$$($(BIN)/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	export VAULT_ADDR=http://127.0.0.1:$$port VAULT_TOKEN=not-a-real-token \
	       KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$$port; \
	cd extensions && for scenario in $$(ls molecule | grep -v '\.'); do \
	  [ "$$scenario" != default ] && [ -f molecule/$$scenario/molecule.yml ] || continue; \
	  $(BIN)/molecule test -s $$scenario 2>&1 | tee $(BUILD)/molecule-$$scenario.log || exit 1; \
	  if grep -q CRITICAL $(BUILD)/molecule-$$scenario.log; then echo "molecule printed a CRITICAL line" >&2; exit 1; fi; \
	  if grep -qE 'vibebox.secrets: no provider is set;|cannot reach' $(BUILD)/molecule-$$scenario.log; then \
	    echo "molecule scenario $$scenario left the local store (VAULT_ADDR/KUBERNETES_SERVICE_HOST were exported)" >&2; exit 1; \
	  fi; \
	done

# build the tarball, install it into a temporary path and run a playbook from the installed collection
build-install: test-venv
	bash tests/build_install.sh $(BIN)

# the docsite: antsibull-docs (its own venv: it pins docutils and Sphinx apart from the test tools)
# lints the plugin, role and extra docs as docs.ansible.com renders them
$(DOCS_VENV)/.installed: requirements-docs.txt requirements.txt
	rm -rf $(DOCS_VENV) && $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install -q -r requirements-docs.txt 2>&1 | $(PIP_QUIET)
	@touch $@

docsite: $(DOCS_VENV)/.installed collection
	$(BIN)/python hacking/render_docsite.py --check
	PATH=$(DOCS_VENV)/bin:$$PATH $(DOCS_VENV)/bin/antsibull-docs lint-collection-docs --plugin-docs --skip-rstcheck $(LINK)

docs: test-venv
	$(BIN)/python hacking/render_docsite.py

# the playbook-level tests and ansible-test units on every ansible-core release of tests/matrix/versions.txt,
# one venv each under .build/matrix/; the release in .venv already ran the full suite above
matrix:
	MATRIX_COVERED_BY=$(if $(MATRIX),,$(BIN)/python) bash tests/matrix/run.sh $(MATRIX)

# the release galaxy.yml names, rebuilt from every fragment in changelogs/fragments, and CHANGELOG.md
changelog: test-venv collection
	$(BIN)/python hacking/update_changelog.py

# the execution environment's build context, with the collection installed from the built tarball
ee: test-venv
	rm -rf $(BUILD)/ee && mkdir -p $(BUILD)/ee-collection
	rm -f $(BUILD)/ee-collection/*.tar.gz
	$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD)/ee-collection . >/dev/null
	mv $(BUILD)/ee-collection/vibebox-secrets-*.tar.gz $(BUILD)/ee-collection/vibebox-secrets.tar.gz
	$(BIN)/ansible-builder create --file execution-environment.yml --context $(BUILD)/ee --output-filename Containerfile
	@echo "build it with: ansible-builder build --file execution-environment.yml --context .build/ee --tag vibebox-secrets-ee:$$(sed -n 's/^version: *//p' galaxy.yml)"

servers: test-venv
	$(BIN)/python tests/servers/run_all.py

bench: test-venv collection optional-collections
	@status=0; \
	$(BIN)/python bench/fleet.py --shape small --runs 5 || status=1; \
	$(BIN)/python bench/fleet.py --shape large --runs 5 --no-anchor || status=1; \
	$(MAKE) --no-print-directory bench-writes || status=1; \
	exit $$status

# the writes benchmark's anchors (community.hashi_vault, and community.aws, which needs the amazon.aws of
# optional-collections), from the same cached wheel, into a collections path that only bench/writes.py adds:
# no test may resolve a community.* name, or a test using one would pass here and fail on a fresh clone
BENCH_COLLECTIONS := $(BUILD)/bench-collections
# medians of 5 rounds; the loops that start a Python per item (ping floor, anchors: most of the time) 3 rounds
BENCH_WRITES_ARGS ?= --runs 5 --loop-runs 3
.PHONY: bench-collections bench-writes
bench-collections: $(BIN)/python optional-collections
	VIBEBOX_WHEEL_CACHE=$(COLLECTIONS)/.wheels PYTHON=$(BIN)/python \
	  bash tests/servers/fetch_optional_collections.sh $(BENCH_COLLECTIONS) community.hashi_vault community.aws

bench-writes: test-venv collection optional-collections bench-collections
	$(BIN)/python bench/writes.py $(BENCH_WRITES_ARGS)

clean:
	rm -rf $(BUILD) $(DEMO_STATE) tests/output
