"""The walkthrough notebooks run top to bottom in a fresh kernel, and are committed run.

Each notebook is executed from its file (the committed outputs are ignored) with
nbclient, as `make notebooks` does but with live sliders, as a learner gets them; any
cell that raises fails the test. Every exercise ships unanswered, with a collapsed
solution after it that the engine checks.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the notebooks run in Jupyter kernels

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
# notebooks/execute.py is a script, not part of the package: load it from its file
_spec = importlib.util.spec_from_file_location("notebooks_execute", NOTEBOOK_DIR / "execute.py")
_execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_execute)
execute_notebook, notebook_paths = _execute.execute_notebook, _execute.notebook_paths
# notebooks/_build.py imports execute.py as a sibling script
sys.modules.setdefault("execute", _execute)
_build_spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOK_DIR / "_build.py")
_build = importlib.util.module_from_spec(_build_spec)
_build_spec.loader.exec_module(_build)

UNANSWERED = re.compile(r"^answer = \.\.\.$", re.MULTILINE)
ANSWERED = re.compile(r"^answer = (?!\.\.\.$).+$", re.MULTILINE)
CHECK_CALL = re.compile(r"\bcheck\(")  # the exercise check, not gradcheck(
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

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
    "11_tiny_gpt.ipynb",
]


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def printed(cell):
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


def is_hidden(cell):
    return cell.metadata.get("jupyter", {}).get("source_hidden") is True


def exercises(notebook):
    """(exercise, solution) cell pairs; fails if a check is not laid out as one."""
    cells = code_cells(notebook)
    pairs = []
    for i, cell in enumerate(cells):
        if is_hidden(cell):
            assert i > 0 and UNANSWERED.search(cells[i - 1].source), (
                f"hidden cell {cell.id} does not follow an unanswered exercise"
            )
        elif CHECK_CALL.search(cell.source):
            assert UNANSWERED.search(cell.source), (
                f"cell {cell.id} checks an answer that is not `answer = ...`:\n{cell.source}"
            )
            assert i + 1 < len(cells) and is_hidden(cells[i + 1]), (
                f"exercise {cell.id} has no collapsed solution after it"
            )
            pairs.append((cell, cells[i + 1]))
    return pairs


def assert_exercises_unanswered_and_solved(notebook, name):
    pairs = exercises(notebook)
    assert len(pairs) >= 3, f"{name} has {len(pairs)} exercises"
    for exercise, solution in pairs:
        assert printed(exercise).startswith("not answered yet"), (
            f"{name} {exercise.id} printed {printed(exercise)!r}"
        )
        assert ANSWERED.search(solution.source) and "check(answer" in solution.source, (
            f"{name} {solution.id}: a solution sets the answer and checks it again"
        )
        assert printed(solution).splitlines()[0] == "correct", (
            f"{name} {solution.id}: the solution printed {printed(solution)!r}"
        )


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
    # live sliders, as in JupyterLab: ipywidgets runs in a kernel with no widget frontend
    notebook = execute_notebook(path, static_figures=False)  # raises at a failing cell
    for cell in code_cells(notebook):
        assert all(out.output_type != "error" for out in cell.outputs)
    # every exercise says it is waiting for an answer; every solution is checked correct
    assert_exercises_unanswered_and_solved(notebook, path.name)
    for cell in code_cells(notebook):
        if re.search(r"^slider\(", cell.source, re.MULTILINE):
            assert any(WIDGET_VIEW in out.get("data", {}) for out in cell.outputs), (
                f"{path.name} {cell.id}: the slider was not built live"
            )


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda path: path.stem)
def test_exercises_are_committed_unanswered_with_collapsed_checked_solutions(path):
    notebook = nbformat.read(path, as_version=4)
    assert_exercises_unanswered_and_solved(notebook, path.name)
    for _, solution in exercises(notebook):
        assert solution.metadata["jupyter"] == {"source_hidden": True}
        assert solution.source.splitlines()[0] == "# Solution"  # all JupyterLab shows collapsed


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda path: path.stem)
def test_sliders_are_committed_as_static_figures(path):
    # a code host's viewer cannot run widgets: the saved notebook shows a plain picture
    notebook = nbformat.read(path, as_version=4)
    for cell in code_cells(notebook):
        outputs = [out.get("data", {}) for out in cell.outputs]
        assert not any(WIDGET_VIEW in data for data in outputs), f"{path.name} {cell.id}"
        if re.search(r"^slider\(", cell.source, re.MULTILINE):
            assert any("image/png" in data for data in outputs), f"{path.name} {cell.id}"


def test_notebooks_with_sliders():
    with_sliders = [
        path.name[:2]
        for path in notebook_paths()
        if any(
            re.search(r"^slider\(", cell.source, re.MULTILINE)
            for cell in code_cells(nbformat.read(path, as_version=4))
        )
    ]
    assert with_sliders == ["05", "08"]


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda path: path.stem)
def test_committed_notebook_is_built_from_its_source(path):
    # cells, their order and their metadata (the collapsed solutions) come from the .py file
    source = NOTEBOOK_DIR / "src" / f"{path.stem}.py"
    built = _build.parse_cells(source.read_text(encoding="utf-8"))
    committed = nbformat.read(path, as_version=4).cells
    assert [(c.cell_type, c.source, c.metadata) for c in committed] == [
        (c.cell_type, c.source, c.metadata) for c in built
    ], f"{path.name} is out of date with {source.name}: run `make notebooks` or _build.py"


def test_a_solution_marker_makes_a_collapsed_code_cell():
    cells = _build.parse_cells(
        "# %% [markdown]\n# **1.** Two plus two.\n\n# %%\nanswer = ...\n\n"
        '# %% jupyter={"source_hidden": true}\n# Solution: count.\nanswer = 4\n'
    )
    assert [(c.cell_type, c.source, dict(c.metadata)) for c in cells] == [
        ("markdown", "**1.** Two plus two.", {}),
        ("code", "answer = ...", {}),
        ("code", "# Solution: count.\nanswer = 4", {"jupyter": {"source_hidden": True}}),
    ]


def test_rebuilding_without_graphviz_dot_rewrites_no_drawing(monkeypatch):
    # The committed drawings come from the WebAssembly Graphviz that pip installs, whatever
    # the machine: one without `dot` (or with another version of it) rebuilds them unchanged,
    # and so do the explorers (their container names come from their content).
    path = NOTEBOOK_DIR / "02_value_and_backward.ipynb"
    without_dot = [d for d in os.environ["PATH"].split(os.pathsep) if not Path(d, "dot").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(without_dot))
    assert shutil.which("dot") is None
    rebuilt = execute_notebook(path)
    committed = nbformat.read(path, as_version=4)
    drawings = [
        out
        for cell in code_cells(committed)
        for out in cell.outputs
        if "image/svg+xml" in out.get("data", {})
    ]
    assert len(drawings) == 3
    assert [cell.outputs for cell in code_cells(rebuilt)] == [
        cell.outputs for cell in code_cells(committed)
    ]
