"""The walkthrough notebooks run top to bottom in a fresh kernel, and are committed run.

Each notebook is executed from its file (the committed outputs are ignored) with
nbclient, exactly as `make notebooks` does; any cell that raises fails the test.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
# notebooks/execute.py is a script, not part of the package: load it from its file
_spec = importlib.util.spec_from_file_location("notebooks_execute", NOTEBOOK_DIR / "execute.py")
_execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_execute)
execute_notebook, notebook_paths = _execute.execute_notebook, _execute.notebook_paths

EXPECTED_NOTEBOOKS = [
    "01_derivatives_and_chain_rule.ipynb",
    "02_value_and_backward.ipynb",
    "03_forward_pass.ipynb",
    "04_backward_pass_by_hand.ipynb",
    "05_gradient_descent.ipynb",
    "06_loss_functions.ipynb",
    "07_training_moons.ipynb",
    "08_vanishing_gradients.ipynb",
    "09_higher_order_derivatives.ipynb",
    "10_multiclass_spiral.ipynb",
]


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_every_walkthrough_is_there():
    assert [path.name for path in notebook_paths()] == EXPECTED_NOTEBOOKS


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda path: path.stem)
def test_notebook_is_committed_with_its_outputs(path):
    # A reader on a code host sees what the code printed and drew without running it.
    notebook = nbformat.read(path, as_version=4)
    cells = code_cells(notebook)
    assert cells, f"{path.name} has no code"
    not_run = [i for i, cell in enumerate(cells) if cell.execution_count is None]
    assert not not_run, f"{path.name}: code cells {not_run} were never executed"
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1)), (
        f"{path.name} was not run top to bottom in one go; run `make notebooks`"
    )
    errors = [out for cell in cells for out in cell.outputs if out.output_type == "error"]
    assert not errors, f"{path.name} is committed with an error output"
    assert any(cell.outputs for cell in cells), f"{path.name} shows no output at all"


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda path: path.stem)
def test_notebook_runs_in_a_fresh_kernel(path):
    notebook = execute_notebook(path)  # raises CellExecutionError at the first failing cell
    for cell in code_cells(notebook):
        assert all(out.output_type != "error" for out in cell.outputs)
    # Every "try it" cell checks the pre-filled answer with the engine and says so.
    printed = "".join(out.get("text", "") for cell in code_cells(notebook) for out in cell.outputs)
    assert "correct" in printed, f"{path.name}: no exercise check printed 'correct'"
    assert "not yet" not in printed, f"{path.name}: a pre-filled exercise answer is wrong"
