# arroyo_jupyter — the two commands a newcomer needs: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# One stamp per extra: `make demo` installs only what the demo needs.
DEMO_STAMP := $(VENV)/.installed-demo
LAB_STAMP  := $(VENV)/.installed-lab
TEST_STAMP := $(VENV)/.installed-test
NPMSTAMP := node_modules/.installed

.PHONY: demo test lab bench lint golden planner clean install system-deps

install: $(TEST_STAMP) $(NPMSTAMP)

$(BIN)/python:
	PY=$(PY) scripts/system-deps.sh demo
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# $(call pip-extra,EXTRA): install the package with one extra, then stamp it
define pip-extra
	$(BIN)/pip install -q -e '.[$(1)]'
	# jupyter-events pulls this in; it costs ~3 s per process that imports jsonschema
	-$(BIN)/pip uninstall -y -q rfc3987-syntax
	touch $@
endef

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(call pip-extra,demo)

$(LAB_STAMP): pyproject.toml | $(BIN)/python
	$(call pip-extra,lab)

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(call pip-extra,test)

$(NPMSTAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPMSTAMP)

# Debian packages the tests need (Chromium, brokers): installed when root, else the one command to run.
system-deps:
	PY=$(PY) scripts/system-deps.sh test

demo: $(DEMO_STAMP)
	$(BIN)/arroyo-jupyter demo

test: system-deps $(TEST_STAMP) $(NPMSTAMP)
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest -q

golden: $(TEST_STAMP)
	$(BIN)/pytest -q tests/engine/test_golden.py

# Arroyo's planner queries vs the embedded server (also in `make test`: tests/engine/test_arroyo_planner.py)
planner: $(TEST_STAMP)
	$(BIN)/pytest -q tests/engine/test_arroyo_planner.py -W always

lab: $(LAB_STAMP)
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/quickstart.ipynb

bench: system-deps $(TEST_STAMP) $(NPMSTAMP)
	$(BIN)/python -m benchmarks

# The whole package: lint, format and types.
lint: $(TEST_STAMP)
	$(BIN)/ruff check arroyo_jupyter arroyo_udf tests benchmarks
	$(BIN)/ruff format --check arroyo_jupyter arroyo_udf tests benchmarks
	$(BIN)/mypy arroyo_jupyter arroyo_udf

clean:
	rm -rf $(VENV) node_modules .pytest_cache test-artifacts
