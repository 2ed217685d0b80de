"""micrograd's notebooks and the lecture's run on our Value: no cell breaks that works with
micrograd's.

tests/micrograd_notebooks/ holds micrograd's trace_graph.ipynb and demo.ipynb
(karpathy/micrograd c911406) and the two notebooks of the lecture "The spelled-out intro to
neural networks and backpropagation" (karpathy/nn-zero-to-hero 73c3fcc,
lectures/micrograd), outputs stripped, with their MIT licences. run_cells.py runs one
cell by cell, with their Value and with only the Value swapped for ours.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # eight IPython runs, micrograd's demo among them

pytest.importorskip("IPython")
pytest.importorskip("nbformat")
pytest.importorskip("micrograd")  # the dev extra installs micrograd==0.1.0

FOLDER = Path(__file__).resolve().parent / "micrograd_notebooks"
NOTEBOOKS = [
    "micrograd_trace_graph.ipynb",
    "micrograd_demo.ipynb",
    "lecture_first_half_roughly.ipynb",
    "lecture_second_half_roughly.ipynb",
]

MISSING = ("ModuleNotFoundError", "ExecutableNotFound")


def start(notebook: str, which: str, cwd: Path) -> subprocess.Popen:
    # IPython's history and profile go in the run's own folder, not the user's home
    env = {**os.environ, "MPLBACKEND": "Agg", "IPYTHONDIR": str(cwd / ".ipython")}
    return subprocess.Popen(
        [sys.executable, str(FOLDER / "run_cells.py"), str(FOLDER / notebook), which],
        cwd=cwd,  # trace_graph renders gout.svg into it
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def results(run: subprocess.Popen) -> tuple[dict, list]:
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-2000:]
    line = next(line for line in out.splitlines() if line.startswith("RESULTS "))
    modules, cells = json.loads(line.removeprefix("RESULTS "))
    return modules, cells


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_no_cell_breaks_that_runs_with_micrograds_value(notebook, tmp_path):
    (tmp_path / "theirs").mkdir()
    (tmp_path / "ours").mkdir()
    runs = {which: start(notebook, which, tmp_path / which) for which in ("theirs", "ours")}
    (their_modules, theirs), (our_modules, ours) = map(results, runs.values())
    assert our_modules["Value"] == "tinygrad_scalar.engine" != their_modules["Value"]
    assert len(ours) == len(theirs) > 5
    broken = {i: error for i, error in enumerate(ours) if error is not None and theirs[i] is None}
    assert broken == {}
    # the cells that matter ran: only what the machine may lack may fail, an optional
    # package (torch) or Graphviz's `dot` program (trace_graph's dot.render), and the later
    # cells that use the name a missing package would have bound
    unbound = {
        f"NameError: name '{e.split(chr(39))[1]}' is not defined"
        for e in theirs
        if e and e.startswith(MISSING[0])
    }
    for error in theirs:
        assert error is None or error.startswith(MISSING) or error in unbound, error


def test_micrograds_demo_runs_on_our_nn_too(tmp_path):
    # the README's advice: our Neuron, Layer and MLP, with init="uniform" for micrograd's
    (modules, cells) = results(start("micrograd_demo.ipynb", "ours-nn", tmp_path))
    assert modules == {"Value": "tinygrad_scalar.engine", "model": "tinygrad_scalar.nn.module"}
    assert cells == [None] * len(cells) and len(cells) > 5
