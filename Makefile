# dientine: `make run` and `make test` create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/city_coverage.yaml

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/dientine run $(SCENARIO)

test: $(STAMP)
	$(BIN)/python -m pytest tests scenarios/regression

bench: $(STAMP)
	@for b in $(filter-out bench/__init__.py,$(wildcard bench/*.py)); do \
		m=$$(basename $$b .py); echo "== bench/$$m.py"; $(BIN)/python -m bench.$$m || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) runs
