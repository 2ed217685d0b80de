"""Tracing: call the per-sample function once on placeholder Values and keep its graph.

An example argument gives each argument's shape: a number, a row of numbers, or an int
(`INDEX`: an integer input that `take(rows, i)` uses to gather each sample's own row).
While tracing, a Python branch on a Value computed from the placeholders raises
TracerError, and the checks losses make on labels are recorded to be made on every batch.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any, Callable, Iterable

import numpy as np

from ..engine import Value, enable_grad, tracing


def checked_params(params: Iterable[Value]) -> list[Value]:
    if isinstance(params, Value):
        params = [params]
    try:
        params = list(params)
    except TypeError:
        raise TypeError(
            f"compile: params must be a list of Values, got {type(params).__name__}"
        ) from None
    unique, seen = [], set()
    for i, p in enumerate(params):
        if not isinstance(p, Value):
            raise TypeError(f"compile: params[{i}] is not a Value: {type(p).__name__}")
        if p.parents:
            raise ValueError(
                f"compile: params[{i}] ({p!r:.60}) is not a leaf; parameters are leaf Values"
                " (computed Values are part of the traced graph)"
            )
        if p not in seen:  # a parameter listed twice gets its gradient once
            seen.add(p)
            unique.append(p)
    return unique


INDEX = "index"  # the width of an integer input


def sample_argument(value: Any, i: int) -> int | str | None:
    """None for a number, INDEX for an int (an integer input), the length for a flat
    sequence of numbers (checked)."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"compile: example argument {i} is a string; pass numbers")
    if isinstance(value, Value):
        raise TypeError(
            f"compile: example argument {i} is a Value; pass plain numbers, compile makes"
            " the placeholder Values"
        )
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return INDEX
    array = np.asarray(value, dtype=object)
    if array.ndim == 0 and isinstance(array.item(), numbers.Real):  # also a 0-d array
        return None
    if array.ndim != 1 or not all(
        isinstance(x, numbers.Real) and not isinstance(x, Value) for x in array
    ):
        raise TypeError(
            f"compile: example argument {i} must be a number or a flat sequence of numbers,"
            f" got {type(value).__name__}"
        )
    if len(array) == 0:
        raise ValueError(f"compile: example argument {i} is an empty sequence")
    return len(array)


def trace_graph(fn: Callable[..., Any], example: Any) -> tuple:
    """Run fn once on placeholders; (argument widths, placeholders per argument, roots)."""
    if not callable(fn):
        raise TypeError(f"compile: fn must be callable, got {type(fn).__name__}")
    if not isinstance(example, (tuple, list)):
        raise TypeError(
            "compile: example must be a tuple with one sample argument per argument of fn,"
            f" e.g. (x_row, y); got {type(example).__name__}"
        )
    if not example:
        raise ValueError("compile: example is empty; fn needs at least one sample argument")
    try:
        inspect.signature(fn).bind(*example)
    except TypeError as error:
        raise TypeError(
            f"compile: example has {len(example)} argument(s), which does not fit fn: {error}"
        ) from None
    except ValueError:  # no signature available (some builtins): let the call decide
        pass
    widths = [sample_argument(value, i) for i, value in enumerate(example)]
    placeholders: list[list[Value]] = []
    arguments: list[Any] = []
    indices = set()
    for i, (value, width) in enumerate(zip(example, widths)):
        if width == INDEX:
            v = Value(float(value), f"input{i}")
            placeholders.append([v])
            arguments.append(v)
            indices.add(v)
        elif width is None:
            v = Value(float(value), f"input{i}")
            placeholders.append([v])
            arguments.append(v)
        else:
            row = [Value(float(x), f"input{i}[{j}]") for j, x in enumerate(value)]
            placeholders.append(row)
            arguments.append(row)
    tracer = _Tracer({v for row in placeholders for v in row}, indices)
    with enable_grad(), tracing(tracer):
        result = fn(*arguments)
    loss, outputs, single = _split_result(result)
    return widths, placeholders, [loss, *outputs], single, tracer.checks


class _Tracer:
    """What engine.tracing needs while fn runs: the placeholders (a Python branch on a
    Value computed from them is an error) and the checks `engine.require` records."""

    def __init__(self, placeholders: set, indices: set) -> None:
        self.placeholders = placeholders
        self.indices = indices  # the integer inputs, which `take` accepts as an index
        self.checks: list[tuple] = []  # (node, holds, message, index)

    def require(self, node: Value, holds: Callable, message: Callable, index: int) -> None:
        self.checks.append((node, holds, message, index))


def _split_result(result: Any) -> tuple[Value, list[Value], bool]:
    if isinstance(result, Value):
        return result, [], False
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], Value):
        loss, outputs = result
        if isinstance(outputs, Value):
            return loss, [outputs], True
        if (
            isinstance(outputs, (list, tuple))
            and outputs
            and all(isinstance(v, Value) for v in outputs)
        ):
            return loss, list(outputs), False
    raise TypeError(
        "compile: fn must return the per-sample loss as a Value, or a pair (loss, outputs)"
        f" with outputs a Value or a list of Values; got {type(result).__name__}"
    )
