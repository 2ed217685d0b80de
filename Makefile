# Every target sets itself up: a fresh machine needs only python3 (>= 3.10) and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format bench notebooks pictures clean lab

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tinygrad-scalar demo

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check tinygrad_scalar tests benchmarks docs notebooks/execute.py notebooks/_build.py
	$(BIN)/ruff format --check tinygrad_scalar tests benchmarks docs notebooks/execute.py notebooks/_build.py

format: $(STAMP)
	$(BIN)/ruff check --fix tinygrad_scalar tests benchmarks docs notebooks/execute.py notebooks/_build.py
	$(BIN)/ruff format tinygrad_scalar tests benchmarks docs notebooks/execute.py notebooks/_build.py

# Peers for the side-by-side benchmark: micrograd always, PyTorch (CPU) when it can be had.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet micrograd==0.1.0
	-$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python benchmarks/run.py

notebooks: $(STAMP)
	$(BIN)/python notebooks/execute.py

# JupyterLab (the `lab` extra) in the project's venv, opened on the first notebook.
# Extra options go through LAB_FLAGS, e.g. `make lab LAB_FLAGS=--no-browser`. Jupyter
# refuses to start as root (say, in a container) unless told to.
LAB_AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
$(VENV)/.lab-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	touch $@

lab: $(VENV)/.lab-installed
	$(BIN)/jupyter lab $(LAB_AS_ROOT) $(LAB_FLAGS) notebooks/01_derivatives_and_chain_rule.ipynb

# The pictures the README shows, made by the project's own code.
pictures: $(STAMP)
	$(BIN)/python docs/make_pictures.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
