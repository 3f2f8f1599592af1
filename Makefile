# The two set-up commands (see README): `make lab` and `make test`.
# TORCH_SPEC picks the torch wheel: users get plain `torch`; CI sets TORCH_SPEC=torch==2.13.0 (CPU wheel).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch
PY := $(VENV)/bin/python
STAMP := $(VENV)/.maskbench-installed
PYTEST_ARGS ?=
LAB_PORT ?= 8888

.PHONY: install lab test test-fast lint format check-notebooks bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, so that the project install below sees it satisfied and pulls no other build
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[all,test]"
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 --display-name "Python 3 (maskbench)"
	touch $(STAMP)

install: $(STAMP)

## Install everything and open JupyterLab on the tour notebook.
lab: install
	$(VENV)/bin/jupyter lab --ServerApp.port=$(LAB_PORT) $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/00_tour.ipynb

## Install everything and run the whole suite (unit, doctests, notebooks, JS helpers, real browser).
# Two runs: everything else on 2 workers, then the browser tests serially in one process, so that a
# single JupyterLab + Chromium serves them all (xdist groups are not honoured under pytest 9).
test: install lint
	$(PY) -m pytest -n 2 -m "not browser" $(PYTEST_ARGS)
	$(PY) -m pytest -m browser tests/browser $(PYTEST_ARGS)

## Everything but the notebooks and the browser (quick local loop).
test-fast: install
	$(PY) -m pytest -n 2 -m "not browser and not notebook" $(PYTEST_ARGS)

## Formatter and linter (configured in pyproject.toml); `make format` applies them.
lint: install
	$(VENV)/bin/ruff format --check maskbench tests benchmarks docs
	$(VENV)/bin/ruff check maskbench tests benchmarks docs

format: install
	$(VENV)/bin/ruff format maskbench tests benchmarks docs
	$(VENV)/bin/ruff check --fix maskbench tests benchmarks docs

## The notebooks at full size (MASKBENCH_SMALL unset): every claim they assert must hold.
check-notebooks: install
	MASKBENCH_SMALL=0 $(PY) -m pytest -m notebook tests/test_notebooks.py -p no:xdist $(PYTEST_ARGS)

## Benchmarks: CPU always, CUDA when present; tables in benchmarks/results/.
bench: install
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
