"""Run one of these notebooks cell by cell in IPython, with micrograd's Value or ours.

    python run_cells.py NOTEBOOK theirs|ours|ours-nn

prints, as JSON, the modules of the `Value` (and `model`) the notebook ended with, and
one entry per code cell: null if the cell ran, else the error's type and message. A cell that fails
does not stop the run (the next cells run anyway, as a learner would run them). With
`ours` only the Value is swapped:

* `micrograd.engine.Value` is tinygrad_scalar's Value before the first cell runs, so
  `from micrograd.engine import Value` and micrograd's own `nn` use ours;
* a cell that defines `class Value` (the lecture writes its own) imports ours instead,
  keeping the rest of the cell.

`ours-nn` also swaps micrograd's nn for ours, as the README's "Coming from micrograd" says:
`from tinygrad_scalar.nn import ...`, and `MLP(..., init="uniform")` for micrograd's
initialisation.

The same two changes to the data apply to both runs: scikit-learn, if it is not
installed, is stood in for by a `make_moons` of the same shape (NumPy arrays of 0/1
labels), and the demo is made shorter (SHORTER below).
"""

from __future__ import annotations

import ast
import json
import sys
import types

# micrograd's demo, made shorter for a test (each of its training steps takes a second and
# a half with micrograd's Value, the decision boundary's 400 forward passes four seconds)
SHORTER = {"for k in range(100):": "for k in range(2):", "h = 0.25\n": "h = 1.0\n"}

OUR_NN = {
    "from micrograd.nn import": "from tinygrad_scalar.nn import",
    "MLP(2, [16, 16, 1])": 'MLP(2, [16, 16, 1], init="uniform")',
}


def _without_class_value(source: str) -> str:
    """The cell with its `class Value` definition replaced by an import of ours."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: no class in such a cell here
        return source
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Value":
            lines = source.splitlines()
            start, end = node.lineno - 1, node.end_lineno or node.lineno
            if node.decorator_list:
                start = node.decorator_list[0].lineno - 1
            lines[start:end] = ["from tinygrad_scalar import Value"]
            return "\n".join(lines)
    return source


def _stand_in_for_sklearn() -> None:
    try:
        import sklearn.datasets
    except ImportError:
        import numpy as np

        from tinygrad_scalar.data import make_moons

        def moons(n_samples: int = 100, noise: float = 0.1, **_: object) -> tuple:
            X, y = make_moons(n_samples, noise, seed=1337)
            return np.array(X), np.array(y)

        sklearn = types.ModuleType("sklearn")
        datasets = types.ModuleType("sklearn.datasets")
        datasets.make_moons = moons  # type: ignore[attr-defined]
        datasets.make_blobs = None  # type: ignore[attr-defined] # imported, never called
        sklearn.datasets = datasets  # type: ignore[attr-defined]
        sys.modules.update({"sklearn": sklearn, "sklearn.datasets": datasets})


def run(path: str, which: str) -> list:
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell

    _stand_in_for_sklearn()
    if which in ("ours", "ours-nn"):
        import micrograd.engine

        import tinygrad_scalar

        micrograd.engine.Value = tinygrad_scalar.Value  # type: ignore[misc]
    shell = InteractiveShell.instance()
    shell.enable_gui = lambda gui=None: None  # `%matplotlib inline` outside a kernel
    results = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        source = cell.source
        for long, short in SHORTER.items():
            source = source.replace(long, short)
        if which in ("ours", "ours-nn"):
            source = _without_class_value(source)
        if which == "ours-nn":
            for theirs, ours in OUR_NN.items():
                source = source.replace(theirs, ours)
        outcome = shell.run_cell(source, silent=False)
        error = outcome.error_before_exec or outcome.error_in_exec
        results.append(None if error is None else f"{type(error).__name__}: {error}")
    ended_with = {name: shell.user_ns.get(name) for name in ("Value", "model")}
    modules = {name: getattr(x, "__module__", None) for name, x in ended_with.items()}
    return [modules, results]


if __name__ == "__main__":
    print("RESULTS " + json.dumps(run(sys.argv[1], sys.argv[2])))
