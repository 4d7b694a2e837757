# Quick start: `make demo` (venv + install + the offline demo DAG), then `make test`.
# `make test-cluster` (root, Debian, apt): profiles/slurm on a live single-node SLURM cluster.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: demo tuned-demo miniature-sensitivity byo-example readme test format test-cluster lint report clean-demo

# One line per stage (pip's own, per package, goes to .venv/pip.log): the install takes minutes
$(BIN)/snakemake: pyproject.toml
	@test -x $(BIN)/python || { echo "[install] creating $(VENV) ($(PYTHON))"; $(PYTHON) -m venv $(VENV); }
	@echo "[install] pip: the pinned dependencies of pyproject.toml (torch's CUDA build is most of it: minutes; pip's own log: $(VENV)/pip.log)"
	@$(BIN)/python -m pip install --quiet --progress-bar off --disable-pip-version-check --log $(VENV)/pip.log -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(BIN)/python -c "import haframe, torch, snakemake, mlflow, snakemake_executor_plugin_slurm"
	@echo "[install] done: $(VENV) takes $$(du -sh $(VENV) | cut -f1)"
	@touch $@

demo: $(BIN)/snakemake
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml
	$(BIN)/snakemake --configfile config/demo.yaml --report results/demo/report.html
	@cat results/demo/report/tables/synthetic.md
	@echo "Every table: results/demo/report/tables/; the report: results/demo/report.html; the runs in MLflow: .venv/bin/mlflow ui --backend-store-uri sqlite:///results/mlflow.db --artifacts-destination results/mlflow-artifacts"

# The fair protocol on the miniature (config/tuned_demo.yaml): ce_II, haframe, soft_labels, hxe
# and a shuffled-hierarchy control of haframe, 6 trials x 3 repetitions each, selected on
# validation AHD@1; under 20 minutes on 2 cores
tuned-demo: $(BIN)/snakemake
	$(BIN)/snakemake --cores $(CORES) --configfile config/tuned_demo.yaml
	$(BIN)/snakemake --configfile config/tuned_demo.yaml --report results/tuned_demo/report.html
	@cat results/tuned_demo/report/tables/synthetic.md results/tuned_demo/report/tables/synthetic_selection.md

# HAFrame against type-II CE (5 seeds each) on every cell of the miniature's pre-registered
# calibration grid (config/miniature_sensitivity.yaml: 15 cells, 150 runs, about 30 minutes on
# 2 cores); not part of `make demo`
miniature-sensitivity: $(BIN)/snakemake
	$(BIN)/snakemake --cores $(CORES) --configfile config/miniature_sensitivity.yaml
	$(BIN)/python -m haframe.report.sensitivity config/miniature_sensitivity.yaml
	@cat results/miniature_sensitivity/report/sensitivity.md

# Your own data, tried on example data: writes data/byo_example/ (an image folder and its
# hierarchy) and runs config/byo_example.yaml on it (results/byo_example/)
byo-example: $(BIN)/snakemake
	$(BIN)/python -m haframe.data.example_folder data/byo_example
	$(BIN)/snakemake --cores $(CORES) --configfile config/byo_example.yaml

# README's result tables and the tuned demo's fronts figure (docs/), regenerated from the last
# `make demo` and `make tuned-demo` (never edited by hand; what is missing is left as it is)
TUNED_FRONTS := results/tuned_demo/report/figures/synthetic_fronts.png
SENSITIVITY := results/miniature_sensitivity/report/sensitivity.png
readme:
	$(BIN)/python -m haframe.report.readme README.md results/demo/report/tables/synthetic.md \
	    results/tuned_demo/report/tables/synthetic.md results/miniature_sensitivity/report/sensitivity.md
	if test -f $(TUNED_FRONTS); then cp $(TUNED_FRONTS) docs/tuned_demo_fronts.png; fi
	if test -f $(SENSITIVITY); then cp $(SENSITIVITY) docs/miniature_sensitivity.png; fi

# formatting and lint first (seconds), then the tests on every core (pytest-xdist, pyproject's
# addopts), the 10 slowest listed
test: $(BIN)/snakemake
	$(BIN)/ruff format --check
	$(BIN)/ruff check
	$(BIN)/snakefmt --check workflow/
	$(BIN)/python -m pytest --durations=10

# rewrites the Python (ruff, pyproject's settings) and the Snakefiles (snakefmt) in place
format: $(BIN)/snakemake
	$(BIN)/ruff format
	$(BIN)/ruff check --fix
	$(BIN)/snakefmt workflow/

# Starts munge, MariaDB, slurmdbd, slurmctld and slurmd (.ci/slurm/start.sh, packages installed
# if missing), runs tests/cluster against them, and stops exactly those daemons: in the test's
# teardown, and once more here in case the timeout killed pytest first.
SLURM_STATE ?= /tmp/haframe-slurm
test-cluster: $(BIN)/snakemake
	@status=0; HAFRAME_SLURM_STATE=$(SLURM_STATE) timeout -k 30 600 \
	    $(BIN)/python -m pytest tests/cluster -n 0 -s -p no:cacheprovider || status=$$?; \
	.ci/slurm/stop.sh $(SLURM_STATE); exit $$status

lint: $(BIN)/snakemake
	$(BIN)/snakemake --lint --configfile config/demo.yaml

clean-demo:
	rm -rf results .snakemake
