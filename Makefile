# agnlab — the two set-up commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
# Single-threaded BLAS/torch by default: oversubscription is 10x slower on small machines.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export MPLBACKEND ?= Agg

.PHONY: venv demo test test-all bench notebooks clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# Explicit CPU torch first: a looser pin would pull a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[all]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/agnlab demo --out agnlab-report --overwrite
	@echo "Report: agnlab-report/index.html"

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks notebooks scripts
	$(VENV)/bin/actionlint .github/workflows/*.yml
	$(PY) -m pytest -n 2

test-all: $(STAMP)
	$(PY) -m pytest -m "slow or not slow"

bench: $(STAMP)
	OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 $(PY) benchmarks/run_all.py

# `make notebooks` runs every notebook and rewrites notebooks/html/; NB=notebooks/x.ipynb picks some,
# BASE=origin/main only those changed since that ref (as the notebooks workflow does on a pull request).
notebooks: $(STAMP)
	$(VENV)/bin/agnlab notebooks html $(if $(BASE),--changed $(BASE)) $(NB)

clean:
	rm -rf $(VENV) agnlab-report .pytest_cache
