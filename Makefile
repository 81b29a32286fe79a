# vibebox.secrets: `make demo` runs the main job on the embedded local store, `make test` runs every test.
# Everything is installed into .venv and .build/ by these targets; nothing is needed by hand.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
BUILD := $(CURDIR)/.build
COLLECTIONS := $(BUILD)/collections
LINK := $(COLLECTIONS)/ansible_collections/vibebox/secrets
TESTTREE := $(BUILD)/ansible-test/ansible_collections/vibebox/secrets
INSTALLED := $(BUILD)/installed
DEMO_STATE := $(CURDIR)/demo-state
PYTEST_ARGS ?=

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_NOCOLOR := 1
export ANSIBLE_FORCE_COLOR := 0

.PHONY: help venv optional-collections collection demo test unit pytest sanity lint molecule build-install servers bench clean

help:
	@echo "make demo   - create .venv, install, migrate + rotate on the embedded local store"
	@echo "make test   - every test: pytest (unit, real servers, playbooks), ansible-test, lint, molecule, build"
	@echo "make bench  - fleet benchmark (50 hosts x 10 secrets) against moto"

$(VENV)/.installed: requirements.txt requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-test.txt
	@touch $@

venv: $(VENV)/.installed

# awx.awx, amazon.aws and kubernetes.core, taken from the PyPI `ansible` wheel (Galaxy is unreachable)
optional-collections: venv
	PYTHON=$(BIN)/python bash tests/servers/fetch_optional_collections.sh $(COLLECTIONS)

# the checkout itself, reached as ansible_collections/vibebox/secrets (DESIGN.md 2)
collection:
	@mkdir -p $(dir $(LINK))
	@[ -L $(LINK) ] || ln -sfn $(CURDIR) $(LINK)

demo: venv
	rm -rf $(INSTALLED) && mkdir -p $(INSTALLED)
	$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD) . >/dev/null
	$(BIN)/ansible-galaxy collection install --no-deps --force -p $(INSTALLED) $(BUILD)/vibebox-secrets-*.tar.gz >/dev/null
	XDG_DATA_HOME=$(DEMO_STATE)/data XDG_STATE_HOME=$(DEMO_STATE)/state ANSIBLE_COLLECTIONS_PATH=$(INSTALLED) \
	  $(BIN)/ansible-playbook playbooks/demo.yml -e demo_env_file=$(CURDIR)/examples/app.env

test: venv collection optional-collections
	bash tests/servers/ensure_postgres.sh
	$(MAKE) --no-print-directory pytest unit sanity lint molecule build-install
	@echo "make test: all suites passed"

# integration + playbook tests against real servers and the wire fakes (they start them themselves)
pytest: venv collection optional-collections
	CI=$${CI:-} $(BIN)/python -m pytest -p no:cacheprovider tests/integration -q -n 2 --dist loadfile $(PYTEST_ARGS)

# the tree ansible-test wants: a copy under ansible_collections/vibebox/secrets
$(TESTTREE): FORCE
	@mkdir -p $(TESTTREE)
	@find $(TESTTREE) -mindepth 1 -maxdepth 1 ! -name tests -exec rm -rf {} +
	@rm -rf $(TESTTREE)/tests
	@git ls-files -co --exclude-standard -z | grep -zv '^tests/output/' | xargs -0 -I{} cp --parents {} $(TESTTREE)/ 2>/dev/null || true
	@cd $(TESTTREE) && { [ -d .git ] || git init -q .; } && git add -A >/dev/null 2>&1 || true
FORCE:

unit: venv $(TESTTREE)
	cd $(TESTTREE) && $(BIN)/ansible-test units --local --python 3.11 --color no

sanity: venv $(TESTTREE)
	@mkdir -p $(HOME)/.ansible/test/cache
	@cp tests/sanity/get_pip_bootstrap.py $(HOME)/.ansible/test/cache/get_pip_24_2.py
	cd $(TESTTREE) && $(BIN)/ansible-test sanity --local --python 3.11 --color no

lint: venv collection
	$(BIN)/ruff check plugins tests bench hacking
	$(BIN)/ansible-lint --offline --profile production
	$(BIN)/python hacking/render_lookup_fragments.py --check
	$(BIN)/python hacking/render_option_definitions.py --check
	$(BIN)/antsibull-changelog lint

molecule: venv collection
	cd extensions && for scenario in $$(ls molecule | grep -v '\.'); do \
	  [ -f molecule/$$scenario/molecule.yml ] || continue; \
	  $(BIN)/molecule test -s $$scenario || exit 1; done

# build the tarball, install it into a temporary path and run a playbook from the installed collection
build-install: venv
	bash tests/build_install.sh $(BIN)

servers: venv
	$(BIN)/python tests/servers/run_all.py

bench: venv collection optional-collections
	$(BIN)/python bench/fleet.py

clean:
	rm -rf $(BUILD) $(DEMO_STATE) tests/output
