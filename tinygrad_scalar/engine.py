"""The Value node and reverse-mode differentiation.

A Value holds one float. A Value made by an op also remembers its `parents` (the inputs,
in argument order) and `local_grads`, the derivative of its output with respect to each
parent, computed once in the forward pass by the op's rule (rules.py). The chain rule is
then one loop, in `backpropagate` below:

    for node in reverse topological order:
        for parent, local in zip(node.parents, node.local_grads):
            grad[parent] += local * grad[node]

Nodes hold no closures and no references to their children, so a graph holds no
reference cycles and is freed by reference counting as soon as nothing refers to it.

The ops themselves (`a * b`, `x.exp()`, ...) are in _generated.py: each rule of rules.py
written out by codegen.py and committed, so `def __mul__` can be read there.

The switches `no_grad`, `enable_grad` and `detect_anomaly` are per thread and per asyncio
task (context variables), like PyTorch's grad mode. `compile` traces a function through one
hook, `trace_hook` (below); tracing itself lives in compiler/trace.py.
"""

from __future__ import annotations

import builtins
import contextlib
import contextvars
import functools
import math
import numbers
import pickle
import threading
import weakref
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence, Union

from . import _generated, codegen, rules
from ._generated import new_node, set_node
from .rules import Rule, chain_term, floats

Operand = Union["Value", int, float]


def as_float(x: Any, what: str = "Value") -> float:
    """The float a number stands for: TypeError naming the type for anything else,
    ValueError for an int too large for a float."""
    if type(x) is float:
        return x
    if isinstance(x, Value):
        raise TypeError(f"{what} takes a real number, got a Value")
    numpy_kind = getattr(getattr(x, "dtype", None), "kind", None)
    if isinstance(x, numbers.Real) or (
        numpy_kind in ("b", "i", "u", "f") and getattr(x, "shape", None) == ()
    ):  # int, bool, Fraction, NumPy scalars and 0-d arrays
        try:
            return float(x)
        except OverflowError:
            digits = len(str(abs(int(x))))
            raise ValueError(
                f"{what}: a number with {digits} digits is too large for a float"
            ) from None
    raise TypeError(f"{what} takes a real number, got {type(x).__name__}: {x!r:.60}")


def data_of(x: Any) -> Any:
    """x.data for a Value, x itself for anything else."""
    return x.data if isinstance(x, Value) else x


# --- modes: per thread and per task --------------------------------------------------------
# The hot path reads one module global: `_modes_active` counts the mode blocks open in any
# thread. While it is 0 (nearly always) no context variable needs to be read at all.

_modes_active = 0
_modes_lock = threading.Lock()


def _count_mode(change: int) -> None:
    """One more mode block open (1) or one fewer (-1). The generated methods read the count
    as a global of their own module, kept equal here."""
    global _modes_active
    with _modes_lock:
        _modes_active += change
        _generated.modes_active = _modes_active


@contextlib.contextmanager
def mode(variable: contextvars.ContextVar, value: Any) -> Iterator[None]:
    """Set a context variable for the block, as a mode: while any mode is on, ops take the
    path that looks at the modes (grad mode, anomaly checks, compile's tracer). Leaving the
    block from another context than the one it was entered in (a generator resumed
    elsewhere, `Context.run`) is a RuntimeError, and leaves no mode counted as on."""
    _count_mode(1)
    token = variable.set(value)
    try:
        yield
    finally:
        _count_mode(-1)
        try:
            variable.reset(token)
        except ValueError:
            raise RuntimeError(
                f"the {variable.name} block was left in another context than the one it was"
                " entered in"
            ) from None


class _Switch:
    """The value a `with no_grad():` (or enable_grad, detect_anomaly) block gives its
    switch, and the value it covers. The context variable holds the innermost one; a block
    that is left is `closed`, and a closed one is skipped when the switch is read, in every
    context that sees it. So leaving a block from another context (a generator resumed in
    another task, `Context.run`), where the variable cannot be reset, still restores the
    switch, instead of leaving grad mode off for good."""

    __slots__ = ("value", "covers", "closed")

    def __init__(self, value: Any, covers: _Switch | None) -> None:
        self.value, self.covers, self.closed = value, covers, False


_grad_enabled: contextvars.ContextVar[_Switch | None] = contextvars.ContextVar(
    "tinygrad_scalar_grad_enabled", default=None
)
_anomaly: contextvars.ContextVar[_Switch | None] = contextvars.ContextVar(
    "tinygrad_scalar_detect_anomaly", default=None
)


def _switch_value(variable: contextvars.ContextVar[_Switch | None], default: Any) -> Any:
    switch = variable.get()
    while switch is not None and switch.closed:
        switch = switch.covers
    return default if switch is None else switch.value


@contextlib.contextmanager
def _switched(variable: contextvars.ContextVar[_Switch | None], value: Any) -> Iterator[None]:
    switch = _Switch(value, variable.get())
    _count_mode(1)
    token = variable.set(switch)
    try:
        yield
    finally:
        switch.closed = True
        _count_mode(-1)
        with contextlib.suppress(ValueError):  # another context: closing it was enough
            variable.reset(token)


def no_grad() -> contextlib.AbstractContextManager[None]:
    """Inside, ops compute values only: results are leaves with no parents."""
    return _switched(_grad_enabled, False)


def enable_grad() -> contextlib.AbstractContextManager[None]:
    """Turn graph building back on inside a no_grad block."""
    return _switched(_grad_enabled, True)


def is_grad_enabled() -> bool:
    return bool(_switch_value(_grad_enabled, True))


def detect_anomaly(enabled: bool = True) -> contextlib.AbstractContextManager[None]:
    """Raise FloatingPointError at the first inf or nan an op produces, forward or backward."""
    return _switched(_anomaly, bool(enabled))


# --- the one hook compile traces through --------------------------------------------------
# compile (compiler/trace.py) runs the user's function once, on Values of its own, and must
# see what becomes of them: every node an op makes, detach(), take() with a Value index, the
# checks losses make (require), gradients() and backward(). While it traces, in a mode, the function
# installed here returns its tracer; the engine asks only while a mode is on, so eager code
# never pays for it. The engine does not import the compiler: the compiler installs this.


class Tracer(Protocol):
    """What the engine asks of compile's tracer (compiler/trace.py implements it)."""

    def made(self, node: Value) -> Value:
        """The result of an op, given the node the op made (under no_grad, a value without
        gradient, where eagerly it would be a leaf)."""

    def detached(self, value: Value) -> Value:
        """value.detach(): a value through which no gradient flows."""

    def take(self, seq: list, index: Value) -> Any:
        """take(seq, index) for a Value index; None if the index is not one compile feeds."""

    def require(self, values: Sequence[Any], holds: Callable, message: Callable) -> None:
        """Record the checks `require` made eagerly, to be made on every batch."""

    def gradients(
        self, output: Value, inputs: list, gradient: Any, create_graph: bool, walk: Callable
    ) -> tuple:
        """gradients(...) inside the traced function; `walk` is the engine's own."""

    def backward(self, value: Value) -> None:
        """value.backward() inside the traced function (compile refuses it)."""


def _no_tracer() -> Tracer | None:
    return None


trace_hook: Callable[[], Tracer | None] = _no_tracer


def set_trace_hook(current_tracer: Callable[[], Tracer | None]) -> None:
    """Install the function that returns the tracer of this thread and task, or None."""
    global trace_hook
    trace_hook = current_tracer


class Value:
    """A scalar that remembers how it was computed, so it can be differentiated.

    `==` and `!=` are identity, as for any Python object (so `params.index(p)` finds p);
    <, <=, >, >= compare `.data`.

    >>> a = Value(2.0); b = Value(-3.0)
    >>> c = a * b + a.exp()
    >>> c.backward(); round(a.grad, 4), b.grad
    (4.3891, 2.0)
    """

    # The node layout. A node made by an op has a rule, and its edges in slots: most ops
    # have one or two parents, kept in _first_parent and _second_parent (None if absent)
    # with their local derivatives beside them in _first_local and _second_local; a node of
    # more parents (sum, dot) keeps tuples in _parents and _local_grads, with both parent
    # slots None. Slots instead of a tuple per node: a graph is half as many objects for
    # Python's garbage collector to walk. A leaf has no rule, no parent slots and empty
    # tuples. Nodes are built in one place, codegen.node_lines, which _generated.py's
    # new_node and set_node and every generated method are written from.
    # `__dict__` lets a user give a Value attributes of their own (an optimizer's `p.m`, a
    # colour for drawing), and holds the label of the few nodes that have one: the others
    # read the class's "" and make no dict, so a node costs what it did with a label slot.
    __slots__ = ("data", "grad", "_rule", "_first_parent", "_second_parent",
                 "_first_local", "_second_local", "_parents", "_local_grads",
                 "__weakref__", "__dict__")  # fmt: skip
    label: str = ""
    data: float
    grad: Any  # a float, or a Value after backward(create_graph=True)
    _rule: Rule | None
    _first_parent: Value | None
    _second_parent: Value | None
    _first_local: Any
    _second_local: Any
    _parents: tuple[Value, ...]
    _local_grads: tuple

    def __init__(self, data: Any, _children: Any = (), _op: str = "", label: str = "") -> None:
        """`Value(data, label="x")`; `Value(2.0, "x")` is a label too. The middle
        arguments are micrograd's: `Value(t, (x,), "tanh")` is a node with parents whose
        gradients flow through the `_backward` function you then give it (see
        MicrogradOp)."""
        if isinstance(_children, str) and not _op and not label:
            _children, label = (), _children  # Value(2.0, "x"): a label, never children
        if not isinstance(label, str):
            raise TypeError(f"Value label must be a str, got {type(label).__name__}")
        set_node(self, as_float(data), (), (), None)  # a leaf
        if label:
            self.label = label
        if _children or _op:
            self._make_micrograd_node(_children, _op)

    def _make_micrograd_node(self, children: Any, op: Any) -> None:
        if not isinstance(op, str):
            raise TypeError(f"Value: _op must be a str, got {type(op).__name__}")
        if isinstance(children, str) or not isinstance(children, Iterable):
            raise TypeError(
                f"Value: _children must be a tuple of Values, got {type(children).__name__}"
            )
        parents = tuple(children)
        for parent in parents:
            if not isinstance(parent, Value):
                raise TypeError(
                    f"Value: _children must be Values, got {type(parent).__name__}: {parent!r:.40}"
                )
        if not parents:
            raise ValueError(f"Value: _op={op!r} without _children; a leaf has no op")
        self._rule = MicrogradOp(op)
        self._parents = parents  # with no local derivatives: the walk calls its _backward

    @property
    def parents(self) -> tuple[Value, ...]:
        """The inputs of the op that made this Value, in argument order (() for a leaf)."""
        first = self._first_parent
        if first is None:
            return self._parents
        second = self._second_parent
        return (first,) if second is None else (first, second)

    @property
    def local_grads(self) -> tuple:
        """d self / d parent, one per parent (() for a leaf)."""
        if self._first_parent is None:
            return self._local_grads
        first = self._first_local
        return (first,) if self._second_parent is None else (first, self._second_local)

    @property
    def op(self) -> str:
        """The name of the op that made this Value ("" for a leaf)."""
        return self._rule.name if self._rule is not None else ""

    @property
    def rule(self) -> Rule | None:
        """The rule that made this Value (None for a leaf)."""
        return self._rule

    @property
    def is_leaf(self) -> bool:
        return self._rule is None

    # --- micrograd's names, so its lecture code (draw_dot, trace, manual backward) runs ---

    @property
    def _prev(self) -> set[Value]:
        """The parents as a set, as micrograd keeps them."""
        return set(self.parents)

    @property
    def _op(self) -> str:
        """The op's name, as micrograd calls it ("" for a leaf)."""
        return self.op

    def _backward(self) -> None:
        """This one node's chain-rule step, as micrograd's lecture calls it by hand: each
        parent's grad += local derivative * this node's grad. A leaf has none to take."""
        with _walk_lock:
            backpropagate([self])

    # The arithmetic methods (+ - * / ** neg exp log ...): each is one rule of rules.py
    # written out, in _generated.py (codegen.py writes it; `make generate`). `x ** c` with
    # a number c is POWER_BY.with_arg(c); a Value exponent is POW.
    __add__ = _generated.__add__
    __radd__ = _generated.__radd__
    __sub__ = _generated.__sub__
    __rsub__ = _generated.__rsub__
    __mul__ = _generated.__mul__
    __rmul__ = _generated.__rmul__
    __truediv__ = _generated.__truediv__
    __rtruediv__ = _generated.__rtruediv__
    __pow__ = _generated.__pow__
    __rpow__ = _generated.__rpow__
    __neg__ = _generated.__neg__
    __abs__ = _generated.__abs__
    exp = _generated.exp
    log = _generated.log
    log1p = _generated.log1p
    sqrt = _generated.sqrt
    tanh = _generated.tanh
    sigmoid = _generated.sigmoid
    sin = _generated.sin
    cos = _generated.cos
    relu = _generated.relu
    abs = _generated.abs
    softplus = _generated.softplus

    def __pos__(self) -> Value:
        return self

    def leaky_relu(self, slope: float = 0.01) -> Value:
        return apply(rules.LEAKY_RELU.with_arg(as_float(slope, "slope")), (self,))

    # --- comparisons look at .data and build no graph; == is identity ------------------

    def __lt__(self, other: Operand) -> bool:
        return self.data < data_of(other)

    def __le__(self, other: Operand) -> bool:
        return self.data <= data_of(other)

    def __gt__(self, other: Operand) -> bool:
        return self.data > data_of(other)

    def __ge__(self, other: Operand) -> bool:
        return self.data >= data_of(other)

    def __float__(self) -> float:
        return self.data

    def __int__(self) -> int:
        return int(self.data)

    def __bool__(self) -> bool:
        return self.data != 0.0

    def __index__(self) -> int:
        raise TypeError(
            "a Value is not an index: use int(v), or tinygrad_scalar.take(seq, i) with an"
            " integer input of compile"
        )

    def __round__(self, ndigits: int | None = None) -> Any:
        return round(self.data, ndigits)

    def __format__(self, spec: str) -> str:
        return format(self.data, spec) if spec else repr(self)

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        op = f", op={self.op!r}" if self._rule is not None else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{label}{op})"

    # --- pickling and copying: node by node, shared nodes once, never recursing --------

    def __reduce__(self) -> tuple:
        if self._rule is None:  # a leaf pickles as itself, so graphs that share it still do
            return (_leaf_from, (self.data, data_of(self.grad), self.label))
        return _reduce_interior(self)

    # --- differentiation ------------------------------------------------------------

    def __setstate__(self, state: tuple) -> None:
        # an interior node, as _reduce_interior lists it
        data, grad, label, rule = state[:4]
        if len(state) == 6 and type(state[4]) is tuple:  # more than two parents
            parents, local_grads = state[4], state[5]
        else:  # one or two: (parent, local) or (parent, local, parent, local)
            parents, local_grads = state[4::2], state[5::2]
        set_node(self, data, parents, local_grads, rule)
        self.grad = grad
        if label:  # most nodes have none, and then no __dict__ either
            self.label = label

    def detach(self) -> Value:
        """A new leaf with the same data and label, cut off from this graph."""
        if _modes_active:
            tracer = trace_hook()
            if tracer is not None:  # compile: the value, per sample, with no gradient
                return tracer.detached(self)
        return Value(self.data, label=self.label)

    def backward(self, gradient: Any = 1.0, create_graph: bool = False) -> None:
        """Apply the chain rule from this node down to every node it depends on.

        Gradients accumulate into leaves across calls (call zero_grad or reset `.grad`
        between steps), while every interior node's `.grad` is overwritten with this
        call's value. With `create_graph=True` every `.grad` becomes a Value with a graph
        of its own, which can be differentiated again.
        """
        if _modes_active:
            tracer = trace_hook()
            if tracer is not None:  # compile: it would run once, at trace time
                tracer.backward(self)
        seed = _seed(gradient, create_graph)
        if self._rule is None:
            self.grad = self.grad + seed
            return
        with _walk_lock:
            order = topological_order(self, leaves=False)  # leaves only accumulate
            for node in order:
                node.grad = 0.0
            self.grad = seed
            backpropagate(order, create_graph)


# --- the one topological order ---------------------------------------------------------------

_RECURSION_BUDGET = 400  # Python calls per walk; deeper graphs continue with a stack


def topological_order(*roots: Value, leaves: bool = True) -> list[Value]:
    """Every node the roots depend on, each after all of its parents (the roots last).

    A depth-first search that visits parents in argument order, so for `a * b` the nodes
    of `a` come before those of `b`. `leaves=False` leaves out the leaves (backward only
    needs the nodes it walks through). Recursion is the fastest way to do this in Python;
    past a depth of _RECURSION_BUDGET the same search goes on with its own stack, so graphs
    of any depth work.
    """
    order: list[Value] = []
    done: set[Value] = set()
    add, append = done.add, order.append

    def visit(node: Value, depth: int) -> None:
        if depth > _RECURSION_BUDGET:
            _visit_with_stack(node, done, order, leaves)
            return
        add(node)
        a = node._first_parent
        if a is None:  # more than two parents
            for parent in node._parents:
                if parent._rule is not None:  # not a leaf
                    if parent not in done:
                        visit(parent, depth + 1)
                elif leaves and parent not in done:
                    add(parent)
                    append(parent)
        else:  # the same for one or two parents, written out: it is a third faster
            if a._rule is not None:
                if a not in done:
                    visit(a, depth + 1)
            elif leaves and a not in done:
                add(a)
                append(a)
            b = node._second_parent
            if b is not None:
                if b._rule is not None:
                    if b not in done:
                        visit(b, depth + 1)
                elif leaves and b not in done:
                    add(b)
                    append(b)
        append(node)

    try:
        for root in roots:
            if root in done:
                continue
            if root._rule is not None:
                visit(root, 0)
            elif leaves:
                add(root)
                append(root)
    finally:
        visit = None  # type: ignore[assignment] # it refers to itself: break that cycle
    return order


def _visit_with_stack(start: Value, done: set, order: list, leaves: bool) -> None:
    """topological_order's search from `start`, with a stack of (node, parents left)."""
    add, append = done.add, order.append
    add(start)
    stack = [(start, iter(start.parents))]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            if parent in done:
                continue
            if parent._rule is not None:
                add(parent)
                stack.append((parent, iter(parent.parents)))
                break
            if leaves:
                add(parent)
                append(parent)
        else:  # every parent is in the order: so is the node now
            stack.pop()
            append(node)


# --- the one chain rule ----------------------------------------------------------------------

_walk_lock = threading.RLock()  # one walk at a time: walks use the nodes' .grad fields


def backpropagate(order: list[Value], create_graph: bool = False) -> None:
    """The chain rule for `order` (interior nodes, each after its parents), whose last node
    holds the seed gradient in `.grad` and the others 0. As it is taught:

        for node in reversed(order):
            for parent, local in zip(node.parents, node.local_grads):
                parent.grad += local * node.grad

    That is the loop below, where `local * node.grad` is `rules.chain_term`: a local
    derivative of exactly 0 adds exactly 0, even when the gradient is inf or nan. With
    `create_graph` the local derivatives are computed again on the Values themselves (the
    rules on the `value_ops` backend), so the gradients are graphs that can be
    differentiated again. A node made with micrograd's constructor takes its step through
    the `_backward` its maker gave it, if any.

    Without create_graph or anomaly checks, `backpropagate_floats` runs instead: the same
    loop, specialised for float gradients, giving the same numbers faster.
    """
    check = _switch_value(_anomaly, False) if _modes_active else False
    if not (create_graph or check):
        backpropagate_floats(order)
        return
    o = value_ops if create_graph else floats
    for node in reversed(order):
        if type(node._rule) is MicrogradOp:
            if create_graph:  # its _backward computes with floats: the result would be wrong
                _no_rule(node.op)
            _micrograd_step(node)
            continue
        grad, parents = node.grad, node.parents
        upstream = data_of(grad)
        finite = upstream - upstream == 0.0
        for parent, local in zip(parents, _local_derivatives(node, create_graph)):
            # against a finite gradient chain_term is the product itself, which keeps a
            # Value local of 0 whose own derivative may not be 0 (x**2 at 0, twice)
            term = local * grad if finite else chain_term(o, local, grad)
            parent.grad = parent.grad + term
        if check:
            _check_backward(node, [p.grad for p in parents], grad)


def _local_derivatives(node: Value, create_graph: bool) -> tuple:
    """The node's local derivatives: as the forward pass stored them, or with create_graph
    computed again on the Values (so that they have derivatives of their own)."""
    if not create_graph:
        return node.local_grads
    with detect_anomaly(False):  # an inf here is reported as backward's, by the caller
        return node._rule.local_derivatives(value_ops, node, node.parents)  # type: ignore[union-attr]  # a node with parents has a rule


def _micrograd_step(node: Value) -> None:
    step = node.__dict__.get("_backward")
    if step is not None:  # without one, nothing: micrograd's `lambda: None`
        step()


def backpropagate_floats(order: list[Value]) -> None:
    """backpropagate's loop specialised for float gradients (no create_graph, no anomaly
    checks): the same numbers, faster. Per node:

    * an inf or nan gradient: the loop as taught, through rules.chain_term;
    * one or two parents: their slots read directly, `local * grad` written out (twice as
      fast as zip); against a finite gradient chain_term is just that product;
    * more parents (sum, dot): if the gradient is 0 and every local derivative finite,
      nothing (about half of an MLP's neurons, below a dead relu); else the loop unrolled
      for that many parents (codegen.walk_kernel_source), or the loop itself past 64.
    """
    for node in reversed(order):
        grad = node.grad
        if grad - grad != 0.0:  # an inf or nan gradient
            for parent, local in zip(node.parents, node.local_grads):
                parent.grad += chain_term(floats, local, grad)
            if type(node._rule) is MicrogradOp:
                _micrograd_step(node)
            continue
        second = node._second_parent
        if second is not None:  # two parents
            node._first_parent.grad += node._first_local * grad  # type: ignore[union-attr]  # a second parent: so a first
            second.grad += node._second_local * grad
            continue
        first = node._first_parent
        if first is not None:  # one parent
            first.grad += node._first_local * grad
            continue
        local_grads = node._local_grads
        if not local_grads:  # made with micrograd's constructor: no local derivatives kept
            _micrograd_step(node)
            continue
        if grad == 0.0:
            total = _builtin_sum(local_grads)  # finite only if every local derivative is
            if total - total == 0.0:
                continue  # local * 0 is 0 for each: nothing to add
        parents = node._parents
        walk = _walks[len(parents)] if len(parents) < _WALK_KERNEL_LIMIT else _walk_loop
        walk(parents, local_grads, grad)


def _walk_loop(parents: tuple, local_grads: tuple, grad: float) -> None:
    """The inner loop of the chain rule for one node, against a finite gradient."""
    for parent, local in zip(parents, local_grads):
        parent.grad += local * grad


def _first_walk(parents: tuple, local_grads: tuple, grad: float) -> None:
    """The first node with this many parents: make its walk kernel, then use it."""
    kernel = _walks[len(parents)] = codegen.walk_kernel(len(parents))
    kernel(parents, local_grads, grad)


_builtin_sum = builtins.sum  # this module's own sum makes a node

# number of parents -> its walk kernel (_first_walk until that is made; the loop for a leaf)
_WALK_KERNEL_LIMIT = codegen.WALK_KERNEL_WIDTHS.stop
_walks: list[Callable[[tuple, tuple, float], None]] = [_walk_loop] * _WALK_KERNEL_LIMIT
_walks[codegen.WALK_KERNEL_WIDTHS.start :] = [_first_walk] * len(codegen.WALK_KERNEL_WIDTHS)


def _seed(gradient: Any, create_graph: bool) -> Any:
    if isinstance(gradient, Value):
        return gradient if create_graph else gradient.data
    gradient = as_float(gradient, "gradient")
    return Value(gradient, label="gradient") if create_graph else gradient


def gradients(
    output: Value,
    inputs: Sequence[Value],
    gradient: Any = 1.0,
    create_graph: bool = False,
) -> tuple:
    """d output / d input for each input, like `torch.autograd.grad`: no `.grad` changes.

    An input the output does not depend on gets 0.0. With `create_graph=True` the
    results are Values that can be differentiated again. (The walk borrows the nodes'
    `.grad` fields and puts back what they held.)
    """
    if not isinstance(output, Value):
        raise TypeError(f"gradients: output must be a Value, got {type(output).__name__}")
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"gradients: inputs[{i}] must be a Value, got {type(x).__name__}")
    if _modes_active:
        tracer = trace_hook()
        if tracer is not None:  # compile: derivatives that differ per sample
            return tracer.gradients(output, inputs, gradient, create_graph, _gradients)
    return _gradients(output, inputs, gradient, create_graph)


def _gradients(output: Value, inputs: list, gradient: Any, create_graph: bool) -> tuple:
    """gradients(), its arguments checked: one walk on borrowed `.grad` fields."""
    seed = _seed(gradient, create_graph)
    with _walk_lock:
        order = topological_order(output)
        saved = [node.grad for node in order]
        try:
            for node in order:
                node.grad = 0.0
            output.grad = seed
            backpropagate([node for node in order if node._rule is not None], create_graph)
            in_graph = set(order)
            return tuple(x.grad if x in in_graph else 0.0 for x in inputs)
        finally:
            for node, grad in zip(order, saved):
                node.grad = grad


# --- nodes made with micrograd's constructor ------------------------------------------------


def _no_rule(name: str, *args: Any) -> Any:
    raise TypeError(
        f"the {name!r} node was made with micrograd's constructor Value(data, _children, _op):"
        " it has no rule, so only backward (through its _backward) works on it; write the op"
        " as a Rule to differentiate it twice or compile it"
    )


class MicrogradOp(Rule):
    """The op of a node made with micrograd's constructor, `Value(t, (x,), "tanh")`: a name
    and nothing else. Its gradient is whatever the `_backward` function assigned to the
    node adds to its parents' `.grad` (micrograd's pattern); it is not a registered rule."""

    __slots__ = ()

    def __init__(self, name: str) -> None:
        refuse = functools.partial(_no_rule, name)
        super().__init__(name or "op", refuse, refuse, nary=True, register=False)
        self.name = name  # micrograd allows "", a Rule's name does not

    def __reduce__(self) -> tuple:
        raise pickle.PicklingError(
            f"cannot pickle a node made with micrograd's constructor (op {self.name!r}):"
            " its _backward is a function of your own"
        )

    def __repr__(self) -> str:
        return f"MicrogradOp({self.name!r})"


# --- applying a rule -------------------------------------------------------------------------

_new = object.__new__


# A new node (a leaf if there are no parents): the layout of codegen.node_lines, written
# out in _generated.py.
_new_node = new_node


def _constant(x: Any) -> Any:
    """A number as a leaf Value (a constant of the graph); NotImplemented for the rest."""
    if type(x) is int and -(2**53) <= x <= 2**53:  # `0 + v` starts every builtin sum
        return _new_node(float(x), (), (), None)
    if isinstance(x, Value):
        return x
    if isinstance(x, numbers.Real) or hasattr(x, "dtype"):
        return _new_node(as_float(x, "operand"), (), (), None)
    return NotImplemented


def _exponent(c: Any) -> Any:
    """A number exponent as a float (NotImplemented for anything else)."""
    if type(c) is int and -(2**53) <= c <= 2**53:
        return float(c)
    try:
        return as_float(c, "the exponent")
    except TypeError:
        return NotImplemented


def _finish(rule: Rule, parents: tuple, datas: Sequence[float], out: Any) -> Value:
    """The end of every op: the new node with its local derivatives; while a mode is on,
    first the anomaly check, and a leaf under no_grad. (The generated methods come here
    only while a mode is on: they make the node themselves.)"""
    if _modes_active:
        anomaly = _anomaly.get()  # (an open switch's value read here, for speed)
        if anomaly is not None and (
            anomaly.value if not anomaly.closed else _switch_value(_anomaly, False)
        ):
            _check_forward(rule, out, datas)
        tracer = trace_hook()
        if tracer is not None:  # compile is tracing: it decides what the result is
            return tracer.made(
                _new_node(out, parents, rule.local_derivatives(floats, out, datas), rule)
            )
        grad = _grad_enabled.get()
        if grad is not None and not (
            grad.value if not grad.closed else _switch_value(_grad_enabled, True)
        ):
            return _new_node(out, (), (), None)
    return _new_node(out, parents, rule.local_derivatives(floats, out, datas), rule)


def apply(rule: Rule, inputs: Sequence[Any]) -> Any:
    """Apply `rule` to Values and numbers: a new node, or a float when no input is a Value."""
    if not rule.checked:  # a user's rule, applied for the first time
        check_rule(rule, inputs)
    if not any(isinstance(x, Value) for x in inputs):
        return _float_result(rule, rule.evaluate(floats, [as_float(x, rule.name) for x in inputs]))
    parents = tuple(x if isinstance(x, Value) else _constant_or_error(x, rule) for x in inputs)
    datas = [p.data for p in parents]
    return _finish(rule, parents, datas, _float_result(rule, rule.evaluate(floats, datas)))


def check_rule(rule: Rule, inputs: Sequence[Any]) -> None:
    """Refuse (TypeError naming it) a user's rule that gives one number on floats and
    another on NumPy arrays, before it gives a wrong number: eagerly it runs on floats,
    compiled on arrays, and Python's `if`, `not` or `~` on a comparison works on one only
    (`~True` is -2, which counts as true). Run once per rule, at a few points and at
    `inputs` (numpy_backend.disagreement); a rule that passes is marked `checked`."""
    point = []
    for x in inputs:
        x = data_of(x)
        if type(x) is not float:
            try:
                x = as_float(x, rule.name)
            except (TypeError, ValueError):  # apply names what is wrong with it
                return
        point.append(x)
    from . import numpy_backend  # NumPy only once a user's rule is used

    rule.checked = True  # now, so that a rule built of other rules does not come back here
    where = numpy_backend.disagreement(rule, point)
    if where is None:
        rule.family_checked()  # with_arg(another parameter) is not checked again
    else:
        rule.checked = False  # refused again the next time
        raise TypeError(
            f"rule {rule.name!r} gives different numbers on floats and on NumPy arrays: {where}."
            " A Python if, and, or, not or ~ on a comparison means one thing on a float and"
            " another on an array (~True is -2, which counts as true): write a choice with"
            " o.where(cond, a, b), combine conditions with & and |, and negate with"
            " o.logical_not"
        )


def _constant_or_error(x: Any, rule: Rule) -> Value:
    node = _constant(x)
    if node is NotImplemented:
        raise TypeError(f"{rule.name}: inputs must be numbers or Values, got {type(x).__name__}")
    return node


def _float_result(rule: Rule, out: Any) -> float:
    if type(out) is float:
        return out
    try:
        return as_float(out, f"rule {rule.name!r}")
    except TypeError:
        raise TypeError(
            f"rule {rule.name!r} returned {type(out).__name__} on floats; a rule's forward"
            " must return a number (use o.div and o.power: Python's / and ** raise or go"
            " complex where IEEE gives inf or nan)"
        ) from None


rules.apply_to_values = apply

# --- the Value backend: the rules' functions on Values (for create_graph) ------------------


class value_ops:  # noqa: N801 - a namespace, like rules.floats
    """Each function applies the rule that computes it, so it builds graph."""

    div = staticmethod(lambda a, b: apply(rules.DIV, (a, b)))
    exp = staticmethod(lambda x: apply(rules.EXP, (x,)))
    log = staticmethod(lambda x: apply(rules.LOG, (x,)))
    log1p = staticmethod(lambda x: apply(rules.LOG1P, (x,)))
    sqrt = staticmethod(lambda x: apply(rules.SQRT, (x,)))
    tanh = staticmethod(lambda x: apply(rules.TANH, (x,)))
    sigmoid = staticmethod(lambda x: apply(rules.SIGMOID, (x,)))
    sin = staticmethod(lambda x: apply(rules.SIN, (x,)))
    cos = staticmethod(lambda x: apply(rules.COS, (x,)))
    abs = staticmethod(lambda x: apply(rules.ABS, (x,)))
    maximum = staticmethod(lambda a, b: apply(rules.MAXIMUM, (a, b)))
    minimum = staticmethod(lambda a, b: apply(rules.MINIMUM, (a, b)))

    @staticmethod
    def power(a: Any, b: Any) -> Any:
        if isinstance(b, Value):
            return apply(rules.POW, (a, b))
        return apply(rules.POWER_BY.with_arg(as_float(b, "exponent")), (a,))

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Any:
        return a if cond else b

    @staticmethod
    def eq(a: Any, b: Any) -> bool:
        return float(a) == float(b)  # float(): compile's traced Values refuse to be read

    logical_not = staticmethod(floats.logical_not)  # comparisons of Values are bools

    @staticmethod
    def select(index: Any, xs: Sequence[Any]) -> Any:
        return apply(rules.TAKE, (*xs, index))


# --- n-ary ops and other entry points -------------------------------------------------------


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
    ws = ws if isinstance(ws, (list, tuple)) else list(ws)
    return dots([ws], xs, None if bias is None else [bias])[0]


def dots(
    weight_rows: Sequence[Sequence[Operand]],
    xs: Sequence[Operand],
    biases: Sequence[Operand | None] | None = None,
    activation: Rule | None = None,
) -> list[Value]:
    """A layer of neurons' weighted sums, one `dot` node per row of weights: the node for
    row ws and bias b is ws[0] * xs[0] + ws[1] * xs[1] + ... + b, added left to right (no
    bias when `biases` is None or b is None). The inputs all rows share are read once.
    With an `activation` (a rule of one input, such as rules.RELU) each sum gets an activation
    node, and those are returned.

    Up to 64 inputs, Values only and no mode switched on, the nodes come from a kernel
    with DOT's rule (and a built-in activation's) unrolled for that width
    (codegen.layer_kernel_source shows it): that makes a layer's forward pass about twice
    as fast as the general path below it.

    >>> [float(v) for v in dots([[1, 2], [3, 4]], [1, 1], [0.5, 0.0])]
    [3.5, 7.0]
    """
    if activation is not None and not isinstance(activation, Rule):
        raise TypeError(
            f"dots: activation must be a Rule (such as rules.RELU) or None,"
            f" got {type(activation).__name__}"
        )
    inputs = xs if type(xs) is tuple else tuple(xs)
    n = len(inputs)
    if type(weight_rows) is not list and type(weight_rows) is not tuple:
        weight_rows = list(weight_rows)  # a generator of rows: the kernel would use it up
    if biases is not None and type(biases) is not list and type(biases) is not tuple:
        biases = list(biases)
    if biases is not None and len(biases) != len(weight_rows):
        raise ValueError(f"dots: {len(weight_rows)} rows of weights but {len(biases)} biases")
    if not _modes_active:
        # the common case: DOT's rule unrolled for this width, if there is a kernel for it;
        # the kernel returns None if not all are Values. A user's activation is applied
        # after it, not written into it: its rule may read something that changes (a
        # global, a closure) and the kernel would keep what it read the first time.
        yours = activation is not None and activation.forward.__module__ != rules.__name__
        kernel = codegen.layer_kernel(n, biases is not None, None if yours else activation)
        nodes = None if kernel is None else kernel(weight_rows, biases, inputs)
        if nodes is not None:
            if yours:
                return [apply(activation, (node,)) for node in nodes]  # type: ignore[arg-type]
            return nodes
    nodes_in = tuple([x if type(x) is Value else _constant_or_error(x, rules.DOT) for x in inputs])
    x_data = tuple([x.data for x in nodes_in])
    if biases is None:
        biases = [None] * len(weight_rows)
    nodes = []
    for ws, bias in zip(weight_rows, biases):
        if not isinstance(ws, Sequence):  # a generator, which the kernel may have used up
            raise TypeError(
                f"dots: each row of weights must be a list or tuple, got {type(ws).__name__}"
            )
        if len(ws) != n:
            raise ValueError(f"dot: {len(ws)} weights but {n} inputs")
        weights = tuple([w if type(w) is Value else _constant_or_error(w, rules.DOT) for w in ws])
        parents = weights + nodes_in
        datas = [w.data for w in weights]
        datas += x_data
        if bias is not None:
            bias_node = bias if type(bias) is Value else _constant_or_error(bias, rules.DOT)
            parents += (bias_node,)
            datas.append(bias_node.data)
        if not parents:
            nodes.append(Value(0.0))
            continue
        nodes.append(_finish(rules.DOT, parents, datas, rules.DOT.forward(floats, datas)))
    if activation is not None:
        return [apply(activation, (node,)) for node in nodes]
    return nodes


def max_shift(values: Sequence[Value]) -> Value:
    """max(values) (0 if infinite) as a node through which no gradient flows: the shift
    softmax and logsumexp subtract before exp. They do not depend on it, so its
    derivative is taken as 0, like JAX's stop_gradient on the max."""
    return _nary(rules.MAX_SHIFT, values)


def _nary(rule: Rule, inputs: Sequence[Any]) -> Value:
    """Apply an n-ary rule (sum, dot) to a sequence of Values and numbers: one node."""
    parents = tuple(inputs)
    if not _JUST_VALUES.issuperset(map(type, parents)):  # numbers become leaves
        parents = tuple(_constant_or_error(x, rule) for x in parents)
    datas = [p.data for p in parents]
    return _finish(rule, parents, datas, rule.forward(floats, datas))


_JUST_VALUES = {Value}


def take(seq: Sequence[Any], index: Any) -> Any:
    """seq[index], for a list of Values (or numbers) or a list of rows of them.

    With an int this is plain indexing (checked: no bools, floats or negative numbers).
    While compile traces, `index` may also be one of its integer inputs (an argument
    whose example is an int): then each sample picks its own element, as a `take` node
    (one per column for rows), and every batch is checked to be in range.
    """
    seq = list(seq)
    if isinstance(index, Value):
        tracer = trace_hook() if _modes_active else None
        picked = None if tracer is None else tracer.take(seq, index)
        if picked is None:
            raise TypeError(
                "take: index must be an int, or an integer input of compile while it traces"
                " (an argument whose example is an int)"
            )
        return picked
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise TypeError(f"take: index must be an int, got {type(index).__name__}: {index!r:.40}")
    if not 0 <= int(index) < len(seq):
        raise IndexError(f"take: index {index} is out of range for {len(seq)} rows")
    return seq[int(index)]


def identity(x: Operand) -> Value:
    """A new node equal to x whose derivative with respect to x is 1."""
    return apply(rules.IDENTITY, (x if isinstance(x, Value) else Value(x),))


# --- batch checks that compile replays ------------------------------------------------------


def require(
    values: Sequence[Any], holds: Callable[[Any], Any], message: Callable[[int, float], str]
) -> None:
    """Check `holds(x)` for the data of each of `values` (labels, probabilities...).

    Eagerly, a failing value raises ValueError(message(index, value)). While compile
    traces, the check is also recorded, so the compiled step makes it on every batch:
    `holds` must therefore work on a float and on a NumPy array. Write it with comparisons
    joined by & and |, and negate by flipping them (`(p >= 0) & (p <= 1)`) or with
    `numpy.logical_not`, never with `~` or `not`: on a Python bool `~True` is -2, which
    counts as true, and `not` fails on an array. A `holds` that returns an int (what `~`
    gives) is refused with a TypeError.
    """
    for i, x in enumerate(values):
        ok = holds(data_of(x))
        if type(ok) is int:
            raise TypeError(
                f"require: the check returned the int {ok!r} for {data_of(x)!r}, not True or"
                " False: ~ on a Python bool is -2 or -1, which count as true; write the"
                " opposite comparison or use numpy.logical_not"
            )
        if not ok:
            raise ValueError(message(i, data_of(x)))
    if _modes_active:
        tracer = trace_hook()
        if tracer is not None:
            tracer.require(values, holds, message)


# --- anomaly checks ---------------------------------------------------------------------------


def _check_forward(rule: Rule, out: float, inputs: Sequence[float]) -> None:
    if not math.isfinite(out) and all(math.isfinite(x) for x in inputs):
        shown = ", ".join(repr(x) for x in inputs)
        raise FloatingPointError(f"{rule.name}({shown}) produced {out!r} in the forward pass")


def _check_backward(node: Value, parent_grads: Sequence[Any], upstream: Any) -> None:
    for grad in parent_grads:
        if not math.isfinite(data_of(grad)):
            shown = ", ".join(repr(p.data) for p in node.parents)
            raise FloatingPointError(
                f"backward of {node.op}({shown}) produced gradient {data_of(grad)!r}"
                f" (upstream gradient {data_of(upstream)!r})"
            )


# --- pickling: node by node, each interior node's ancestors first --------------------------
# Every node pickles as an object of its own, so pickle's memo keeps a node that several
# pickled objects share (`pickle.dumps([loss_a, loss_b])`, deepcopy too) shared: written
# once, the same object after loading. Pickle recurses into what an object refers to, which
# would fail on a deep graph; so the node that starts a pickling (a "root") first lists its
# interior ancestors, parents before children, as the argument of its constructor. Each of
# them, pickled from that list, finds its parents already written and recurses no further.
#
# A later root of the same pickling must not list again what an earlier one wrote (the size
# would be the sum of the graphs, not their union). Pickle's memo keeps every object it
# wrote alive until the pickling ends, the list of ancestors included, so a node is
# "written in this pickling" when the list that holds it is still alive: `_pickling.owner`
# maps a node's id to a weak reference to its list. None of this decides what is written,
# only in what order: a wrong guess costs recursion depth, never a wrong graph.

_pickling = threading.local()


class _Ancestors(list):
    """The list of nodes a root pickles before itself (a list that can be weakly referred to)."""

    __slots__ = ("__weakref__",)

    def __reduce__(self) -> tuple:
        return (_Ancestors, (list(self),))  # every protocol, 0 and 1 included


def _reduce_interior(node: Value) -> tuple:
    owner: dict[int, Any] | None = getattr(_pickling, "owner", None)
    if owner is None:
        owner = _pickling.owner = {}
    mine = owner.get(id(node))
    if mine is not None and mine() is not None:  # listed by a root of this pickling
        constructor_args: tuple = ()
    else:  # a root: list the interior ancestors not written yet, parents first
        if owner:
            ancestors = _Ancestors(_unwritten_ancestors(node, owner))
        else:
            ancestors = _Ancestors(topological_order(node, leaves=False))
            ancestors.pop()  # the node itself
        # when the pickling ends its lists are freed: the first to go forgets them all
        listed = weakref.ref(ancestors, _forget(owner))
        for ancestor in ancestors:
            owner[id(ancestor)] = listed
        owner[id(node)] = listed
        constructor_args = (ancestors,)
    # The edges by number of parents (see Value.__slots__); gradients that are Values
    # (create_graph) are stored as their numbers.
    first = node._first_parent
    if first is None:
        local_grads = tuple([data_of(g) for g in node._local_grads])
        edges: tuple = (node._parents, local_grads)
    elif node._second_parent is None:
        edges = (first, data_of(node._first_local))
    else:
        second = (node._second_parent, data_of(node._second_local))
        edges = (first, data_of(node._first_local), *second)
    state = (node.data, data_of(node.grad), node.label, node._rule, *edges)
    return (_node_after, constructor_args, state)


def _forget(owner: dict[int, Any]) -> Callable[[Any], None]:
    return lambda _: owner.clear()


def _unwritten_ancestors(root: Value, owner: dict[int, Any]) -> list[Value]:
    """The interior ancestors of `root` in topological order, not going past a node that
    this pickling has already written."""
    order: list[Value] = []
    seen = {root}
    stack = [(root, iter(root.parents))]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            if parent._rule is None or parent in seen:
                continue
            seen.add(parent)
            listed = owner.get(id(parent))
            if listed is not None and listed() is not None:
                continue
            stack.append((parent, iter(parent.parents)))
            break
        else:
            stack.pop()
            order.append(node)
    order.pop()  # the root itself
    return order


def _node_after(ancestors: Sequence[Value] = ()) -> Value:
    """An empty node for unpickling to fill; `ancestors` were unpickled before it, so its
    parents are ready when its slots are set."""
    return _new(Value)


def _leaf_from(data: float, grad: float, label: str) -> Value:
    node = _new_node(data, (), (), None)
    node.grad = grad
    if label:
        node.label = label
    return node


# --- the generated methods and kernels make Values too ----------------------------------------

_generated.connect(Value, _finish, _constant, _exponent)
codegen.use_value_class(Value)
