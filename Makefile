# Every target sets itself up: a fresh machine needs only python3 (>= 3.10) and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two installs, each with its own stamp: the demo needs only the package and matplotlib (the
# `plot` extra); the tests, linters and notebooks add the `dev` extra on top.
CREATED     := $(VENV)/.created
DEMO_STAMP  := $(VENV)/.installed-demo
STAMP       := $(VENV)/.installed

.PHONY: demo test test-fast typecheck lint format generate bench notebooks pictures clean lab docs dist

$(CREATED):
	@echo "==> [1/3] creating the virtual environment $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/3] updating pip"
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(DEMO_STAMP): pyproject.toml $(CREATED)
	@echo "==> [3/3] installing tinygrad_scalar with matplotlib (a minute or two the first time)"
	$(BIN)/python -m pip install --progress-bar on -e '.[plot]'
	touch $@

$(STAMP): pyproject.toml $(DEMO_STAMP)
	@echo "==> installing the test and lint tools (the dev extra)"
	$(BIN)/python -m pip install --progress-bar on -e '.[dev]'
	touch $@

demo: $(DEMO_STAMP)
	$(BIN)/tinygrad-scalar demo

# Everything: lint, types, then every test (doctests in the package included).
test: lint typecheck
	$(BIN)/python -m pytest -q

# The edit-test loop: skips the tests marked slow (notebooks, demo runs, browsers, ...).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

typecheck: $(STAMP)
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check tinygrad_scalar tests benchmarks docs notebooks/execute.py notebooks/_build.py
	$(BIN)/ruff format --check tinygrad_scalar tests benchmarks docs notebooks/execute.py notebooks/_build.py

format: $(STAMP)
	$(BIN)/ruff check --fix tinygrad_scalar tests benchmarks docs notebooks/execute.py notebooks/_build.py
	$(BIN)/ruff format tinygrad_scalar tests benchmarks docs notebooks/execute.py notebooks/_build.py

# The Value methods, written from the rules table into tinygrad_scalar/_generated.py (run it
# after changing rules.py or codegen.py; tests/test_codegen.py fails until you do).
generate: $(STAMP)
	$(BIN)/python -c "from tinygrad_scalar import codegen; print('wrote', codegen.write_generated_module())"

# Peers for the side-by-side benchmark: micrograd always, PyTorch (CPU) when it can be had.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet micrograd==0.1.0
	-$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python benchmarks/run.py

notebooks: $(STAMP)
	$(BIN)/python notebooks/execute.py

# JupyterLab and what the notebooks use (the package, matplotlib, ipywidgets: the `lab` extra),
# not the test tools, opened on the first notebook. Trusting the notebooks first lets
# JupyterLab show their drawings and run the explorers' buttons the moment one is opened
# (a notebook fresh from a clone is untrusted; the signatures live under ~/.local/share/jupyter).
# Extra options go through LAB_FLAGS, e.g. `make lab LAB_FLAGS=--no-browser`. Jupyter
# refuses to start as root (say, in a container) unless told to.
LAB_AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
LAB_STAMP   := $(VENV)/.installed-lab
$(LAB_STAMP): pyproject.toml $(DEMO_STAMP)
	@echo "==> installing JupyterLab and what the notebooks use (the lab extra)"
	$(BIN)/python -m pip install --progress-bar on -e '.[lab]'
	touch $@

lab: $(LAB_STAMP)
	$(BIN)/jupyter trust notebooks/[0-9][0-9]_*.ipynb
	$(BIN)/jupyter lab $(LAB_AS_ROOT) $(LAB_FLAGS) notebooks/01_derivatives_and_chain_rule.ipynb

# The course and reference site, built offline into site/ (open site/index.html). The `docs`
# extra (MkDocs, Material, mkdocs-jupyter, mkdocstrings) goes into .venv, never into the package.
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): pyproject.toml $(DEMO_STAMP)
	@echo "==> installing the site builder (the docs extra)"
	$(BIN)/python -m pip install --progress-bar on -e '.[docs]'
	touch $@

docs: $(DOCS_STAMP)
	$(BIN)/python docs/build_site.py

# The sdist and the wheel for the package index, in dist/, checked by twine.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build
	$(BIN)/twine check --strict dist/*

# The pictures the README shows, made by the project's own code.
pictures: $(STAMP)
	$(BIN)/python docs/make_pictures.py

clean:
	rm -rf $(VENV) build dist site *.egg-info .pytest_cache .ruff_cache .hypothesis
