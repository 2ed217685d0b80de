"""tinygrad_scalar: a scalar reverse-mode autodiff engine with a small neural-net library.

>>> from tinygrad_scalar import Value
>>> x = Value(3.0)
>>> y = x**2 + 2 * x
>>> y.backward(); x.grad
8.0
"""

from .engine import (
    Value,
    detect_anomaly,
    dot,
    enable_grad,
    gradients,
    is_grad_enabled,
    no_grad,
    sum,
    topological_order,
)
from .functional import GradcheckError, grad, gradcheck, value_and_grad

__version__ = "0.1.0"

__all__ = [
    "GradcheckError",
    "Value",
    "detect_anomaly",
    "dot",
    "enable_grad",
    "grad",
    "gradcheck",
    "gradients",
    "is_grad_enabled",
    "no_grad",
    "sum",
    "topological_order",
    "value_and_grad",
]
