"""Tracing: call the per-sample function once on placeholder Values and keep its graph.

An example argument gives each argument's shape: a number, a row of numbers, or an int
(`INDEX`: an integer input that `take(rows, i)` uses to gather each sample's own row).

A traced function runs once, on the example, but its graph is replayed on every sample, so
nothing about a sample may leave the graph as a plain number. The placeholders, and every
Value computed from them, are `TracedValue`s: a Value whose number cannot be read by the
user's code (`if x > 0`, `float(x)`, `x.data`, `f"{x:.3f}"` raise TracerError naming the
remedy; `repr` shows no number). What can be traced faithfully is: `detach()` and ops under
`no_grad()` become values without gradient (a `stop_gradient` node, like JAX's
`lax.stop_gradient`), `gradients()` builds its derivatives as part of the graph, and the
checks losses make on labels are recorded to be made on every batch. `backward()` inside
the function is refused (it would add to `.grad` once). The engine reports these events
through its one hook (`engine.trace_hook`), which this module installs.
"""

from __future__ import annotations

import contextvars
import inspect
import numbers
import sys
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .. import rules
from ..engine import Value, apply, enable_grad, is_grad_enabled, mode, set_trace_hook


class TracerError(TypeError):
    """A Value that depends on compile's inputs was read as a number while tracing (it
    would be frozen at the example's value for every sample)."""


def branch_error(rule_name: str) -> TracerError:
    """A rule that branches in Python (`if`, `and`, `or`) on a value, met by a backend that
    computes a whole batch at once (NumPy arrays or torch tensors)."""
    return TracerError(
        f"compile: rule {rule_name!r} branches in Python on a value ('if', 'and', 'or');"
        " write the choice with o.where(cond, a, b) so it is made per sample"
    )


def not_on_batches(rule_name: str, error: Exception) -> TracerError:
    """A rule written for floats only (`math.exp(x)`, `float(x)`), met by a backend that
    computes a whole batch at once."""
    return TracerError(
        f"compile: rule {rule_name!r} does not run on a whole batch ({error}); write it with"
        " o's functions (o.exp, o.log, o.where, ...), not math.* or float(): compiled, o"
        " computes on NumPy arrays or torch tensors"
    )


def batch_rule_error(rule_name: str, error: Exception) -> Exception:
    """What to raise for `error`, raised by a rule run on a whole batch (NumPy arrays or
    torch tensors): a rule written for floats only gets a TracerError naming it, for a
    Python `if` on a value (NumPy: "The truth value of an array ... is ambiguous"; torch:
    "Boolean value of Tensor ... is ambiguous") or a float-only function such as math.exp
    (a TypeError; torch: "only one element tensors can be converted"). Any other error is
    the rule's own, raised as it is."""
    text = str(error)
    if "truth value of an array" in text or "Boolean value of Tensor" in text:
        return branch_error(rule_name)
    if isinstance(error, TypeError) or "element tensors can be converted" in text:
        return not_on_batches(rule_name, error)
    return error


_FROZEN = (
    "{what} on a Value that depends on compile's inputs: that value is read once, at trace"
    " time, and would be frozen for every sample. {remedy}"
)
_BRANCH_REMEDY = (
    "Write the choice as an op (maximum, relu, o.where in a Rule), index with"
    " tinygrad_scalar.take, or pass the value in as data"
)


def frozen(what: str, remedy: str = _BRANCH_REMEDY) -> TracerError:
    return TracerError(_FROZEN.format(what=what, remedy=remedy))


_DATA_SLOT = Value.__dict__["data"]  # the slot that holds a Value's number
_PACKAGE = __name__.split(".")[0]


def _read_by_the_package(frame: Any) -> bool:
    """Whether the code reading `.data` is this package's own (the engine computing an op
    reads its inputs' numbers; a user's function must not)."""
    module = frame.f_globals.get("__name__", "")
    return module == _PACKAGE or module.startswith(_PACKAGE + ".")


def _data(value: TracedValue) -> float:
    if not _read_by_the_package(sys._getframe(1)):
        raise frozen(
            ".data",
            "For a softmax shift use tinygrad_scalar.max_shift (or functional.softmax and"
            " log_softmax, which use it); for a value without gradient use .detach(); for"
            " an op of your own write a Rule (tinygrad_scalar.Rule)",
        )
    return _DATA_SLOT.__get__(value)


def _set_data(value: TracedValue, number: float) -> None:
    _DATA_SLOT.__set__(value, number)


class TracedValue(Value):
    """A Value that depends on compile's inputs, made while compile traces: a placeholder
    or a node computed from one. It computes as any Value, but its number is the example's,
    so the user's code may not read it (the engine may, to compute ops)."""

    __slots__ = ()
    data = property(_data, _set_data)

    def __lt__(self, other: Any) -> bool:
        raise frozen("<")

    def __le__(self, other: Any) -> bool:
        raise frozen("<=")

    def __gt__(self, other: Any) -> bool:
        raise frozen(">")

    def __ge__(self, other: Any) -> bool:
        raise frozen(">=")

    def __float__(self) -> float:
        raise frozen("float()")

    def __int__(self) -> int:
        raise frozen("int()")

    def __bool__(self) -> bool:
        raise frozen("bool()")

    def __index__(self) -> int:
        raise frozen("seq[v] (indexing)")

    def __round__(self, ndigits: int | None = None) -> Any:
        raise frozen("round()")

    def __format__(self, spec: str) -> str:
        if not spec:
            return repr(self)
        raise frozen(
            f"format with {spec!r}",
            "Print numbers from the compiled step's outputs (return_outputs=True), or run"
            " the function eagerly",
        )

    def __repr__(self) -> str:
        # as JAX's tracers: what it is, not the example's number
        label = f", label={self.label!r}" if self.label else ""
        op = f", op={self.op!r}" if self.op else ""
        return f"Value(traced: one per sample{label}{op})"


def is_traced(x: Any) -> bool:
    return type(x) is TracedValue


def _stop_gradient(value: Value) -> Value:
    with enable_grad():  # the node itself is made as usual (a no_grad block would drop it)
        node = apply(rules.STOP_GRADIENT, (value,))
    node.label = value.label
    return node


class _Tracer:
    """compile's tracer, what the engine's hook returns while fn runs: it marks the nodes
    computed from the placeholders and keeps the checks `engine.require` makes."""

    def __init__(self, indices: set) -> None:
        self.indices = indices  # the integer inputs, which `take` accepts as an index
        self.checks: list[tuple] = []  # (node, holds, message, index)

    def made(self, node: Value) -> Value:
        if any(type(p) is TracedValue for p in node.parents):
            node.__class__ = TracedValue
        if not is_grad_enabled():  # no_grad: per sample, without gradient (not a leaf)
            return _stop_gradient(node)
        return node

    def detached(self, value: Value) -> Value:
        # also for a parameter: its value is read on every step, not frozen at this one
        return _stop_gradient(value)

    def take(self, seq: list, index: Value) -> Any:
        if index not in self.indices:
            return None
        if not seq:
            raise ValueError("take: the sequence is empty")
        n = len(seq)
        self.require(
            [index],
            lambda i: (i >= 0) & (i < n),
            lambda _, i: f"take: index {i:g} is out of range for {n} rows",
        )
        if all(isinstance(row, (list, tuple)) for row in seq):
            return [apply(rules.TAKE, (*column, index)) for column in zip(*seq)]
        return apply(rules.TAKE, (*seq, index))

    def require(self, values: Sequence[Any], holds: Callable, message: Callable) -> None:
        for i, x in enumerate(values):
            if type(x) is TracedValue:
                self.checks.append((x, holds, message, i))

    def backward(self, value: Value) -> None:
        raise TracerError(
            "backward() inside a function compile traces would run once, on the example, and"
            " add to .grad only then: return the loss and the compiled step differentiates it"
            " for every sample (use tinygrad_scalar.gradients for a derivative inside the"
            " function)"
        )

    def gradients(
        self, output: Value, inputs: list, gradient: Any, create_graph: bool, walk: Callable
    ) -> tuple:
        # as graphs, so that each sample gets its own derivatives; create_graph=False
        # makes them values without gradient, as eagerly they are plain numbers
        try:
            results = walk(output, inputs, gradient, True)
        except TracerError as error:
            raise TracerError(
                "gradients() inside a function compile traces builds the derivatives as"
                f" ops, and one of them branches in Python on a value: {error}"
            ) from None
        if create_graph:
            return results
        return tuple(_stop_gradient(r) if isinstance(r, Value) else r for r in results)


# one tracer per thread and asyncio task, as the engine's modes
_current_tracer: contextvars.ContextVar[_Tracer | None] = contextvars.ContextVar(
    "tinygrad_scalar_tracer", default=None
)
set_trace_hook(_current_tracer.get)


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
            v = TracedValue(float(value), f"input{i}")
            placeholders.append([v])
            arguments.append(v)
            indices.add(v)
        elif width is None:
            v = TracedValue(float(value), f"input{i}")
            placeholders.append([v])
            arguments.append(v)
        else:
            row: list[Value] = [
                TracedValue(float(x), f"input{i}[{j}]") for j, x in enumerate(value)
            ]
            placeholders.append(row)
            arguments.append(row)
    tracer = _Tracer(indices)
    with enable_grad(), mode(_current_tracer, tracer):
        result = fn(*arguments)
    loss, outputs, single = _split_result(result)
    return widths, placeholders, [loss, *outputs], single, tracer.checks


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
