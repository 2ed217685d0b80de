"""tinygrad_scalar: a scalar reverse-mode autodiff engine with a small neural-net library.

>>> from tinygrad_scalar import Value
>>> x = Value(3.0)
>>> y = x**2 + 2 * x
>>> y.backward(); x.grad
8.0

The engine (Value, grad, ...) is imported at once. The layers above it load on first use,
so `import tinygrad_scalar` stays light: `tinygrad_scalar.nn`, `.losses`, `.optim`, `.data`,
`.train`, `.plot`, `.viz` (also `draw`), and `compile`/`CompiledStep` (NumPy, or torch with
`backend="torch"`, from `.compiler`) and `to_torch`.
"""

from __future__ import annotations

import importlib
from typing import Any

from .engine import (
    Value,
    detect_anomaly,
    dot,
    enable_grad,
    gradients,
    is_grad_enabled,
    max_shift,
    no_grad,
    sum,  # noqa: F401 - tinygrad_scalar.sum, kept out of __all__
    take,
    topological_order,
)
from .functional import (
    GradcheckError,
    abs,  # noqa: F401 - tinygrad_scalar.abs, kept out of __all__
    cos,
    exp,
    grad,
    gradcheck,
    log,
    log1p,
    log_sigmoid,
    log_softmax,
    logsumexp,
    maximum,
    minimum,
    relu,
    sigmoid,
    sin,
    softmax,
    softplus,
    sqrt,
    tanh,
    value_and_grad,
)
from .rules import Rule

_SUBMODULES = {"nn", "losses", "optim", "data", "train", "plot", "viz"}
_LAZY_NAMES = {"compile": "compiler", "CompiledStep": "compiler", "draw": "viz", "MLP": "nn"}
_LAZY_NAMES["explore"] = "viz"  # tinygrad_scalar.explore: the page that steps through a graph
_LAZY_NAMES["compile_by_shape"] = _LAZY_NAMES["CompiledByShape"] = "compiler"  # per-shape steps
_LAZY_NAMES["to_torch"] = "compiler"  # a traced function as a torch.nn.Module (needs torch)
_LAZY_NAMES["TracerError"] = "compiler"


def __getattr__(name: str) -> Any:
    # PEP 562: load the heavier layers (NumPy, graphviz, matplotlib) only when asked for.
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name == "__version__":
        value = globals()[name] = _installed_version()
        return value
    if name in _LAZY_NAMES:
        module = importlib.import_module(f".{_LAZY_NAMES[name]}", __name__)
        value = globals()[name] = getattr(module, name)  # later lookups skip this function
        return value
    raise AttributeError(f"module 'tinygrad_scalar' has no attribute {name!r}")


def _installed_version() -> str:
    # One source: the version in pyproject.toml, which installing writes into the metadata.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tinygrad-scalar")
    except PackageNotFoundError:  # a source tree on sys.path that was never installed
        return "0+unknown"


# `sum`, `abs` and `compile` are left out of __all__ on purpose: `from tinygrad_scalar import *`
# must not shadow Python's built-ins. Use them as tinygrad_scalar.sum, .abs and .compile.
__all__ = [
    "CompiledByShape",
    "CompiledStep",
    "GradcheckError",
    "MLP",
    "Rule",
    "TracerError",
    "Value",
    "compile_by_shape",
    "cos",
    "detect_anomaly",
    "dot",
    "draw",
    "enable_grad",
    "exp",
    "explore",
    "grad",
    "gradcheck",
    "gradients",
    "is_grad_enabled",
    "log",
    "log1p",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "max_shift",
    "maximum",
    "minimum",
    "no_grad",
    "relu",
    "sigmoid",
    "sin",
    "softmax",
    "softplus",
    "take",
    "sqrt",
    "tanh",
    "to_torch",
    "topological_order",
    "value_and_grad",
]
