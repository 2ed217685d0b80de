"""Imports go one way: no module imports a layer above its own, or another module's private
names. The layers, bottom to top (a module may import its own layer and those below; a
subpackage, such as nn/, compiler/, viz/ or cli/, is one layer):

    0  rules, codegen,         the table of ops, the code generated from it, and its
       numpy_backend, _floats  NumPy backend; lists of floats as arrays, converted once
    1  engine, _generated      Value, the backward walk, grad modes; the Value methods
    2  functional, _checks,    grad/gradcheck/softmax; argument checks and messages;
       _files, store           safe reading and atomic writing; parameters kept in arrays
    3  nn, losses, optim, data  side by side: none of them imports another
    4  train, compiler
    5  plot, viz, notebook     pictures, graphs, notebook helpers
    6  cli, __main__,          the command line (its parser, commands, graph command and
       __init__                expression parser); the package's __init__ (the public
                               API, which loads the layers below it)

Every import is read with `ast`, those inside functions too, so an import made late to
keep start-up light still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tinygrad_scalar

PACKAGE = "tinygrad_scalar"
PACKAGE_DIR = Path(tinygrad_scalar.__file__).parent

LAYERS = {
    "rules": 0,
    "codegen": 0,
    "numpy_backend": 0,
    "_floats": 0,
    "engine": 1,
    "_generated": 1,
    "functional": 2,
    "_checks": 2,
    "_files": 2,
    "store": 2,
    "nn": 3,
    "losses": 3,
    "optim": 3,
    "data": 3,
    "train": 4,
    "compiler": 4,
    "plot": 5,
    "viz": 5,
    "notebook": 5,
    "cli": 6,
    "__main__": 6,
    "": 6,  # the package itself: tinygrad_scalar/__init__.py
}


# Parts of one layer that stand side by side (nn takes softmax from functional, not losses).
INDEPENDENT = {"nn", "losses", "optim", "data"}


def layer_of(module: str) -> int:
    """The layer of a dotted module name inside the package ("viz.graph" is viz's)."""
    top = module.split(".")[0]
    if top not in LAYERS:
        raise KeyError(f"module {module!r} has no layer: add it to LAYERS in {__file__}")
    return LAYERS[top]


def module_name(path: Path) -> str:
    """tinygrad_scalar/viz/graph.py -> "viz.graph"; tinygrad_scalar/__init__.py -> ""."""
    parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(module: str) -> bool:
    return (PACKAGE_DIR / module.replace(".", "/") / "__init__.py").exists() or module == ""


def imported_modules(module: str, tree: ast.AST) -> list[tuple[int, str, list[str]]]:
    """(line, module imported from, names imported) for every import of the package's own
    modules in `tree`: absolute or relative, at the top or inside a function. `from . import
    render` counts as importing the module `render` itself."""
    found = []
    own_package = module if is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    found.append((node.lineno, alias.name[len(PACKAGE) + 1 :], []))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = own_package.split(".") if own_package else []
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module == PACKAGE or (node.module or "").startswith(PACKAGE + "."):
                target = (node.module or "")[len(PACKAGE) + 1 :]
            else:
                continue
            names = [alias.name for alias in node.names]
            if is_package(target):  # `from . import render`: the submodules themselves
                submodules = [n for n in names if _is_module(f"{target}.{n}".lstrip("."))]
                for name in submodules:
                    found.append((node.lineno, f"{target}.{name}".lstrip("."), []))
                names = [n for n in names if n not in submodules]
                if not names:
                    continue
            found.append((node.lineno, target, names))
    return found


def _is_module(module: str) -> bool:
    path = PACKAGE_DIR / module.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def violations(module: str, source: str) -> list[str]:
    """What is wrong with the imports of `module` (a dotted name inside the package) whose
    code is `source`: imports of a higher layer, and of another module's private names
    (`from .train import _threshold`, or `train._threshold` on an imported module)."""
    tree = ast.parse(source)
    problems = []
    imported_as: dict[str, str] = {}  # local name -> package module it stands for
    for line, target, names in imported_modules(module, tree):
        if target.split(".")[0] == module.split(".")[0]:
            pass  # within one module or subpackage: no layering inside viz
        elif {target.split(".")[0], module.split(".")[0]} <= INDEPENDENT:
            problems.append(f"{module} line {line} imports {target}, which stands beside it")
        elif layer_of(target) > layer_of(module):
            problems.append(
                f"{module or PACKAGE} (layer {layer_of(module)}) line {line} imports"
                f" {target or PACKAGE} (layer {layer_of(target)})"
            )
        for name in names:
            if name.startswith("_") and not name.startswith("__"):
                problems.append(f"{module or PACKAGE} line {line} imports private {target}.{name}")
        if not names:
            imported_as[target.rpartition(".")[2]] = target
    for node in ast.walk(tree):
        if isinstance(node, ast.alias) and node.asname:
            original = node.name.rpartition(".")[2]
            if original in imported_as:
                imported_as[node.asname] = imported_as[original]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported_as
            and imported_as[node.value.id] != module
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            target = imported_as[node.value.id]
            problems.append(
                f"{module or PACKAGE} line {node.lineno} uses private {target}.{node.attr}"
            )
    return problems


MODULES = sorted(module_name(path) for path in PACKAGE_DIR.rglob("*.py"))


def test_every_module_has_a_layer():
    assert len(MODULES) > 20
    for module in MODULES:
        layer_of(module)  # KeyError names a module missing from LAYERS


@pytest.mark.parametrize("module", MODULES)
def test_imports_go_down_and_leave_private_names_alone(module):
    path = PACKAGE_DIR / (module.replace(".", "/") or "__init__")
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    assert violations(module, path.read_text(encoding="utf-8")) == []


# --- the checker finds what it must find ------------------------------------------------------


def test_an_upward_import_is_found_at_the_top_and_inside_a_function():
    assert violations("engine", "from .viz import draw\n") == [
        "engine (layer 1) line 1 imports viz (layer 5)"
    ]
    late = "def draw(v):\n    from . import viz\n    return viz.draw(v)\n"
    assert violations("engine", late) == ["engine (layer 1) line 2 imports viz (layer 5)"]
    assert violations("nn", "import tinygrad_scalar.train as t\n") == [
        "nn (layer 3) line 1 imports train (layer 4)"
    ]
    assert violations("viz.graph", "from ..cli import main\n") == [
        "viz.graph (layer 5) line 1 imports cli (layer 6)"
    ]
    assert violations("notebook", "from . import Value\n") == [
        "notebook (layer 5) line 1 imports tinygrad_scalar (layer 6)"
    ]


def test_the_library_parts_of_one_layer_do_not_import_each_other():
    assert violations("nn.module", "from ..losses import softmax\n") == [
        "nn.module line 1 imports losses, which stands beside it"
    ]
    assert violations("nn.module", "from ..functional import softmax\n") == []


def test_imports_of_lower_layers_and_within_a_subpackage_pass():
    assert violations("plot", "from .train import decision_threshold\n") == []
    assert (
        violations("viz.explore", "from . import render as r\nfrom ..engine import Value\n") == []
    )
    assert violations("cli", "def f():\n    from . import __version__\n") == []


def test_private_names_of_other_modules_are_found():
    assert violations("plot", "def f():\n    from .train import _threshold\n") == [
        "plot line 2 imports private train._threshold"
    ]
    used = "from . import engine as e\nx = e._modes_active\n"
    assert violations("functional", used) == ["functional line 2 uses private engine._modes_active"]
