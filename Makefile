# arroyo_jupyter — the two commands a newcomer needs: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
NPMSTAMP := node_modules/.installed

.PHONY: demo test lab bench lint golden planner clean install

install: $(STAMP) $(NPMSTAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# jupyter-events pulls this in; it costs ~3 s per process that imports jsonschema
	-$(BIN)/pip uninstall -y -q rfc3987-syntax
	touch $(STAMP)

$(NPMSTAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPMSTAMP)

demo: $(STAMP)
	$(BIN)/arroyo-jupyter demo

test: $(STAMP) $(NPMSTAMP)
	$(BIN)/pytest -q

golden: $(STAMP)
	$(BIN)/python ../shared/arroyo/sql-golden/check.py --engine '$(BIN)/arroyo-jupyter' ../shared/arroyo/sql-golden

# Arroyo's planner queries vs the embedded server (also in `make test`: tests/engine/test_arroyo_planner.py)
planner: $(STAMP)
	$(BIN)/pytest -q tests/engine/test_arroyo_planner.py -W always

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/quickstart.ipynb

bench: $(STAMP) $(NPMSTAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check arroyo_jupyter tests
	$(BIN)/mypy arroyo_jupyter/api

clean:
	rm -rf $(VENV) node_modules .pytest_cache test-artifacts
