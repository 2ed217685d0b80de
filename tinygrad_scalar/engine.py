"""The Value node and reverse-mode differentiation.

A Value holds one float. A Value made by an op also remembers its `parents` (the inputs,
in argument order) and `local_grads`, the derivative of its output with respect to each
parent, computed once in the forward pass by the op's rule (see rules.py). backward()
then needs nothing but the chain rule:

    for node in reverse topological order:
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad += local * node.grad

Nodes hold no closures and no references to their children, so a graph holds no
reference cycles and is freed by reference counting as soon as nothing refers to it.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from typing import Any, Iterable, Iterator, Sequence, Union

from . import rules
from .rules import Rule

Operand = Union["Value", int, float]

# Module-wide switches, set by the context managers below.
_grad_enabled = True
_detect_anomaly = False


def _as_float(x: Any, what: str = "Value") -> float:
    """The float a number stands for; TypeError naming the type for anything else."""
    if type(x) is float:
        return x
    if type(x) is int:
        return float(x)
    if isinstance(x, numbers.Real) and not isinstance(x, Value):
        return float(x)  # int, bool, NumPy scalars, Fraction
    numpy_kind = getattr(getattr(x, "dtype", None), "kind", None)
    if numpy_kind in ("b", "i", "u", "f") and getattr(x, "shape", None) == ():
        return float(x)  # NumPy bool (not a numbers.Real) and 0-d NumPy arrays
    raise TypeError(f"{what} takes a real number, got {type(x).__name__}: {x!r:.60}")


class Value:
    """A scalar that remembers how it was computed, so it can be differentiated.

    >>> a = Value(2.0); b = Value(-3.0)
    >>> c = a * b + a.exp()
    >>> c.backward(); round(a.grad, 4), b.grad
    (4.3891, 2.0)
    """

    __slots__ = ("data", "grad", "label", "parents", "local_grads", "_rule", "__weakref__")

    def __init__(self, data: Any, label: str = "") -> None:
        if not isinstance(label, str):
            raise TypeError(f"Value label must be a str, got {type(label).__name__}")
        self.data = _as_float(data)
        self.grad: Any = 0.0
        self.label = label
        self.parents: tuple[Value, ...] = ()
        self.local_grads: tuple = ()
        self._rule: Rule | None = None

    @property
    def op(self) -> str:
        """The name of the op that made this Value ("" for a leaf)."""
        return self._rule.name if self._rule is not None else ""

    @property
    def is_leaf(self) -> bool:
        return not self.parents

    # --- arithmetic ----------------------------------------------------------------

    def __add__(self, other: Operand) -> Value:
        return _binary(rules.ADD, self, other)

    def __radd__(self, other: Operand) -> Value:
        return _binary(rules.ADD, other, self)

    def __sub__(self, other: Operand) -> Value:
        return _binary(rules.SUB, self, other)

    def __rsub__(self, other: Operand) -> Value:
        return _binary(rules.SUB, other, self)

    def __mul__(self, other: Operand) -> Value:
        return _binary(rules.MUL, self, other)

    def __rmul__(self, other: Operand) -> Value:
        return _binary(rules.MUL, other, self)

    def __truediv__(self, other: Operand) -> Value:
        return _binary(rules.DIV, self, other)

    def __rtruediv__(self, other: Operand) -> Value:
        return _binary(rules.DIV, other, self)

    def __pow__(self, exponent: Operand) -> Value:
        if isinstance(exponent, Value):
            return _binary(rules.POW, self, exponent)
        try:
            c = _as_float(exponent, "the exponent")
        except TypeError:
            return NotImplemented
        return _unary(rules.power_by(c), self)

    def __rpow__(self, base: Operand) -> Value:
        return _binary(rules.POW, base, self)

    def __neg__(self) -> Value:
        return _unary(rules.NEG, self)

    def __pos__(self) -> Value:
        return self

    # --- functions ------------------------------------------------------------------

    def exp(self) -> Value:
        return _unary(rules.EXP, self)

    def log(self) -> Value:
        return _unary(rules.LOG, self)

    def sqrt(self) -> Value:
        return _unary(rules.SQRT, self)

    def tanh(self) -> Value:
        return _unary(rules.TANH, self)

    def sigmoid(self) -> Value:
        return _unary(rules.SIGMOID, self)

    def relu(self) -> Value:
        return _unary(rules.RELU, self)

    def leaky_relu(self, slope: float = 0.01) -> Value:
        return _unary(rules.leaky_relu_with(_as_float(slope, "slope")), self)

    def abs(self) -> Value:
        return _unary(rules.ABS, self)

    __abs__ = abs

    # --- comparisons look at .data and build no graph (as with PyTorch tensors) ---------

    def __eq__(self, other: object) -> bool:
        return self.data == _data_of(other)

    def __ne__(self, other: object) -> bool:
        return self.data != _data_of(other)

    def __lt__(self, other: Operand) -> bool:
        return self.data < _data_of(other)

    def __le__(self, other: Operand) -> bool:
        return self.data <= _data_of(other)

    def __gt__(self, other: Operand) -> bool:
        return self.data > _data_of(other)

    def __ge__(self, other: Operand) -> bool:
        return self.data >= _data_of(other)

    __hash__ = object.__hash__  # nodes are identities: sets and dicts key on the object

    def __float__(self) -> float:
        return self.data

    def __bool__(self) -> bool:
        return self.data != 0.0

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        op = f", op={self.op!r}" if self._rule is not None else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{label}{op})"

    # --- differentiation ------------------------------------------------------------

    def detach(self) -> Value:
        """A new leaf with the same data and label, cut off from this graph."""
        return Value(self.data, self.label)

    def backward(self, gradient: Any = 1.0, create_graph: bool = False) -> None:
        """Apply the chain rule from this node down to every node it depends on.

        Gradients accumulate into leaves across calls (call zero_grad or reset `.grad`
        between steps), while every interior node starts again from 0, so its `.grad`
        always shows this call's value. With `create_graph=True` every `.grad` becomes a
        Value with a graph of its own, which can be differentiated again.
        """
        order = topological_order(self)
        if isinstance(gradient, Value) and not create_graph:
            gradient = gradient.data
        elif not isinstance(gradient, Value):
            gradient = _as_float(gradient, "gradient")
            if create_graph:
                gradient = Value(gradient, "gradient")
        for node in order:
            if node.parents:  # interior nodes start from 0; leaves keep what they hold
                node.grad = 0.0
        self.grad = gradient if self.parents else self.grad + gradient

        anomaly = _detect_anomaly
        # With create_graph the rules run again on Values, passing the node itself as `out`
        # (so exp' = out stays differentiable); the ops that builds are part of backward,
        # so an inf they produce is reported by the backward check below, not as forward.
        with detect_anomaly(False):
            for node in reversed(order):
                if not node.parents:
                    continue
                if create_graph:
                    local_grads = node._rule.local_derivatives(node, node.parents)
                else:
                    local_grads = node.local_grads
                grad = node.grad
                for parent, local in zip(node.parents, local_grads):
                    parent.grad = parent.grad + local * grad
                if anomaly:
                    _check_backward(node, [p.grad for p in node.parents], grad)

    def draw(self, **options: Any) -> Any:
        """Draw this Value's graph: a shortcut for `tinygrad_scalar.viz.draw(self, ...)`."""
        from .viz import draw  # imported here: the engine does not depend on viz

        return draw(self, **options)

    def topological_order(self) -> list[Value]:
        """Every node this one depends on, each after all of its parents."""
        return topological_order(self)


def _data_of(x: Any) -> Any:
    return x.data if isinstance(x, Value) else x


_FINISH = object()  # marks, on topological_order's stack, "the node below is finished"


def topological_order(root: Value) -> list[Value]:
    """Every node `root` depends on, each after all of its parents (root last).

    A depth-first search with its own stack instead of recursion, so graphs of any depth
    work. A node is pushed twice: first to push its parents, then, under a _FINISH marker,
    to be appended to the order once they are all in it.
    """
    order: list[Value] = []
    done: set[Value] = set()  # nodes already in `order`
    stack: list = [root]
    # this loop runs once per edge of the graph: look the list methods up once, not each time
    pop, push, push_all = stack.pop, stack.append, stack.extend
    while stack:
        node = pop()
        if node is _FINISH:  # every parent of the node below the marker is in `order` now
            node = pop()
            done.add(node)
            order.append(node)
        elif node in done:
            continue
        elif node.parents:
            push(node)
            push(_FINISH)
            push_all(node.parents)
        else:  # a leaf is finished as soon as it is seen
            done.add(node)
            order.append(node)
    return order


# --- making nodes ------------------------------------------------------------------------


def _new_node(data: float, parents: tuple, local_grads: tuple, rule: Rule) -> Value:
    """A Value made by an op, built without __init__'s checks (data is already a float)."""
    node = object.__new__(Value)
    node.data = data
    node.grad = 0.0
    node.label = ""
    node.parents = parents
    node.local_grads = local_grads
    node._rule = rule
    return node


def _leaf(data: float) -> Value:
    return _new_node(data, (), (), None)  # type: ignore[arg-type]


def _is_real(x: Any) -> bool:
    # float and int first: the abstract-class check for numbers.Real is slow, and
    # `2 * x`, `x + 1.0` are everywhere
    return type(x) is float or type(x) is int or isinstance(x, numbers.Real)


def _binary(rule: Rule, a: Any, b: Any) -> Value:
    """The hot path for + - * / **: one of a, b is a Value, the other a Value or a number."""
    if not isinstance(a, Value):
        if not _is_real(a):
            return NotImplemented
        a = _leaf(float(a))
    if not isinstance(b, Value):
        if not _is_real(b):
            return NotImplemented
        b = _leaf(float(b))
    a_data, b_data = a.data, b.data
    out = rule.forward(a_data, b_data)
    if _detect_anomaly:
        _check_forward(rule, out, (a_data, b_data))
    if not _grad_enabled:
        return _leaf(out)
    return _new_node(out, (a, b), rule.derivatives(out, a_data, b_data), rule)


def _unary(rule: Rule, x: Value) -> Value:
    """Apply a one-input rule to a Value."""
    x_data = x.data
    out = rule.forward(x_data)
    if _detect_anomaly:
        _check_forward(rule, out, (x_data,))
    if not _grad_enabled:
        return _leaf(out)
    return _new_node(out, (x,), rule.derivatives(out, x_data), rule)


def _nary(rule: Rule, inputs: Sequence[Any]) -> Value:
    """Apply an n-ary rule (sum, dot) to a sequence of Values and numbers: one node."""
    parents = tuple(inputs)
    if not _JUST_VALUES.issuperset(map(type, parents)):  # numbers become leaves
        parents = tuple(x if isinstance(x, Value) else Value(x) for x in parents)
    datas = [p.data for p in parents]
    out = rule.forward(datas)
    if _detect_anomaly:
        _check_forward(rule, out, datas)
    if not _grad_enabled:
        return _leaf(out)
    return _new_node(out, parents, rule.derivatives(out, datas), rule)


_JUST_VALUES = {Value}


def sum(values: Iterable[Operand]) -> Value:  # noqa: A001 - the package's own n-ary sum
    """One node for a whole sum: `sum([a, b, c])` has three parents, not a chain of two `+`."""
    values = list(values)
    if not values:
        return Value(0.0)
    return _nary(rules.SUM, values)


def dot(ws: Sequence[Operand], xs: Sequence[Operand], bias: Operand | None = None) -> Value:
    """sum(w_i * x_i) + bias as ONE node (a neuron's weighted sum).

    >>> float(dot([1, 2], [3, 4], bias=0.5))
    11.5
    """
    inputs = (*ws, *xs) if bias is None else (*ws, *xs, bias)
    n_weights = len(ws)
    if 2 * n_weights != len(inputs) - (bias is not None):
        raise ValueError(f"dot: {n_weights} weights but {len(inputs) - n_weights} inputs")
    if not inputs:
        return Value(0.0)
    return _nary(rules.DOT, inputs)


def identity(x: Operand) -> Value:
    """A new node equal to x whose derivative with respect to x is 1."""
    return _unary(rules.IDENTITY, x if isinstance(x, Value) else Value(x))


# --- gradients without touching .grad (the engine of grad/value_and_grad) ------------------


def gradients(
    output: Value,
    inputs: Sequence[Value],
    gradient: Any = 1.0,
    create_graph: bool = False,
) -> tuple:
    """d output / d input for each input, like `torch.autograd.grad`: no `.grad` changes.

    An input the output does not depend on gets 0.0. With `create_graph=True` the
    results are Values that can be differentiated again.
    """
    if not isinstance(output, Value):
        raise TypeError(f"gradients: output must be a Value, got {type(output).__name__}")
    if isinstance(gradient, Value) and not create_graph:
        gradient = gradient.data
    elif not isinstance(gradient, Value):
        gradient = _as_float(gradient, "gradient")
        if create_graph:
            gradient = Value(gradient, "gradient")
    grads: dict[Value, Any] = {output: gradient}
    anomaly = _detect_anomaly
    with detect_anomaly(False):  # as in backward(): an inf here is reported as backward's
        for node in reversed(topological_order(output)):
            if not node.parents or node not in grads:
                continue
            if create_graph:
                local_grads = node._rule.local_derivatives(node, node.parents)
            else:
                local_grads = node.local_grads
            grad = grads[node]
            for parent, local in zip(node.parents, local_grads):
                grads[parent] = grads.get(parent, 0.0) + local * grad
            if anomaly:
                _check_backward(node, [grads[p] for p in node.parents], grad)
    return tuple(grads.get(x, 0.0) for x in inputs)


# --- modes -----------------------------------------------------------------------------------


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Inside, ops compute values only: results are leaves with no parents."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Turn graph building back on inside a no_grad block."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, True
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    return _grad_enabled


@contextlib.contextmanager
def detect_anomaly(enabled: bool = True) -> Iterator[None]:
    """Raise FloatingPointError at the first inf or nan an op produces, forward or backward."""
    global _detect_anomaly
    previous, _detect_anomaly = _detect_anomaly, enabled
    try:
        yield
    finally:
        _detect_anomaly = previous


def _finite(x: Any) -> bool:
    return math.isfinite(x.data if isinstance(x, Value) else x)


def _check_forward(rule: Rule, out: float, inputs: Sequence[float]) -> None:
    if not math.isfinite(out) and all(math.isfinite(x) for x in inputs):
        shown = ", ".join(repr(x) for x in inputs)
        raise FloatingPointError(f"{rule.name}({shown}) produced {out!r} in the forward pass")


def _check_backward(node: Value, parent_grads: Sequence[Any], upstream: Any) -> None:
    for grad in parent_grads:
        if not _finite(grad):
            shown = ", ".join(repr(p.data) for p in node.parents)
            raise FloatingPointError(
                f"backward of {node.op}({shown}) produced gradient {_data_of(grad)!r}"
                f" (upstream gradient {_data_of(upstream)!r})"
            )
