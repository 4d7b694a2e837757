# Quick start: `make demo` (venv + install + the offline demo DAG), then `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: demo test lint report clean-demo

$(BIN)/snakemake: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import haframe, torch, snakemake, mlflow"
	touch $@

demo: $(BIN)/snakemake
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml
	@cat results/report/tables/*.md

test: $(BIN)/snakemake
	$(BIN)/python -m pytest

lint: $(BIN)/snakemake
	$(BIN)/snakemake --lint --configfile config/demo.yaml

clean-demo:
	rm -rf results .snakemake
