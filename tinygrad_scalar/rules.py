"""Every differentiable op, written once: its forward value next to its local derivatives.

A rule is two functions written against a backend namespace `o`:

    forward(o, *inputs)           -> the output
    derivatives(o, out, *inputs)  -> (d out / d input_0, d out / d input_1, ...)

`derivatives` receives the output as well as the inputs because several ops reuse it
(exp' = out, tanh' = 1 - out**2, sigmoid' = out * (1 - out)).

The same two functions run on three backends, so no op is ever written twice:

* `floats` (below): plain Python floats, IEEE 754 instead of exceptions. The engine's
  forward pass uses it, and stores the numbers on the new node.
* `value_ops` (engine.py): Values. `backward(create_graph=True)` evaluates the derivatives on
  the nodes themselves, which builds a graph that can be differentiated again.
* `arrays` (compiler): NumPy arrays, one column per sample, for `compile`.

So a rule uses only what every backend offers: arithmetic through operators, comparisons
with <, <=, >, >= (and `o.eq`, since `==` on Values is identity), the functions of `floats`
below, and `o.where(cond, a, b)` for a choice. Never a Python `if` on a value: on arrays it
would pick one branch for every sample at once. A rule parameter (the exponent of `x**c`,
the slope of leaky_relu) is data on the rule, its `arg`, passed after the inputs.

Rules are public and callable: `EXP(2.0)` is a float, `EXP(Value(2.0))` a Value, and a rule
you write yourself works in forward, backward, grad(grad(...)) and compile:

    softplus = Rule("softplus", lambda o, x: o.log(1.0 + o.exp(x)),
                    lambda o, out, x: (o.exp(x) / (1.0 + o.exp(x)),))

Floats follow IEEE 754 and PyTorch: 1/0 = inf, log(0) = -inf, log(-1) = nan,
exp(1000) = inf, (-8) ** 0.5 = nan, relu'(0) = abs'(0) = 0; at nan, relu, maximum and
minimum pass the gradient on (relu'(nan) = 1), as PyTorch does.
"""

from __future__ import annotations

import functools
import math
import operator
import pickle
from typing import Any, Callable, Iterable, Sequence

# --- the float backend: IEEE 754 results where Python's math raises -----------------------


def _is_odd_integer(b: float) -> bool:
    return math.isfinite(b) and b == math.floor(b) and b % 2 == 1


class floats:  # noqa: N801 - used as a namespace, `o.exp(x)`, like a module
    """Plain floats. Python raises on 1/0, math.log(0) and math.exp(1000); these don't."""

    @staticmethod
    def div(a: float, b: float) -> float:
        """a / b, with a / 0 = +-inf and 0 / 0 = nan."""
        if b == 0.0:
            if a != a or a == 0.0:
                return math.nan
            return math.copysign(math.inf, a) * math.copysign(1.0, b)
        return a / b

    @staticmethod
    def power(a: float, b: float) -> float:
        """IEEE pow: overflow gives inf, a negative base with a non-integer exponent nan,
        0 ** negative inf."""
        try:
            return math.pow(a, b)
        except OverflowError:
            return -math.inf if a < 0 and _is_odd_integer(b) else math.inf
        except ValueError:
            if a == 0.0:  # 0 ** negative (and 0 ** -inf, which Python 3.10 refuses too)
                return math.copysign(math.inf, a) if _is_odd_integer(b) else math.inf
            return math.nan  # negative base, non-integer exponent

    @staticmethod
    def exp(x: float) -> float:
        try:
            return math.exp(x)
        except OverflowError:
            return math.inf

    @staticmethod
    def log(x: float) -> float:
        if x > 0.0 or x != x:
            return math.log(x)
        return -math.inf if x == 0.0 else math.nan

    @staticmethod
    def log1p(x: float) -> float:
        if x > -1.0 or x != x:
            return math.log1p(x)
        return -math.inf if x == -1.0 else math.nan

    @staticmethod
    def sqrt(x: float) -> float:
        return math.sqrt(x) if x >= 0.0 or x != x else math.nan

    tanh = staticmethod(math.tanh)

    @staticmethod
    def sigmoid(x: float) -> float:
        if x >= 0.0:  # written so that exp never overflows
            return 1.0 / (1.0 + math.exp(-x))
        e = floats.exp(x)  # nan also lands here and stays nan
        return e / (1.0 + e)

    @staticmethod
    def sin(x: float) -> float:
        return math.sin(x) if x - x == 0.0 else math.nan  # sin(inf) is nan, as in C

    @staticmethod
    def cos(x: float) -> float:
        return math.cos(x) if x - x == 0.0 else math.nan

    abs = staticmethod(abs)

    @staticmethod
    def where(cond: bool, a: float, b: float) -> float:
        return a if cond else b

    @staticmethod
    def maximum(a: float, b: float) -> float:
        """The larger; nan if either is nan; b when they are equal (as NumPy's)."""
        return a if a > b or a != a else b

    @staticmethod
    def minimum(a: float, b: float) -> float:
        return a if a < b or a != a else b

    eq = staticmethod(operator.eq)

    @staticmethod
    def logical_not(cond: bool) -> bool:
        """not cond. (`~` on a Python bool is -2 or -1, both true: never use it in a rule.)"""
        return not cond

    @staticmethod
    def select(index: float, xs: Sequence[float]) -> float:
        """xs[index]: the index is a whole number, checked where it enters."""
        return xs[int(index)]


# --- rules ---------------------------------------------------------------------------------

_NO_ARG = object()
# Set by engine.py: how a rule is applied when one of its inputs is a Value. (This module is
# the bottom layer and does not import the engine.)
apply_to_values: Callable[[Rule, tuple], Any] | None = None
RULES: dict[str, Rule] = {}  # every rule by name, for pickling nodes


class Rule:
    """One op: its name (shown in graphs and errors), forward and local derivatives.

    `arg` is the rule's parameter, if any (`POWER_BY.with_arg(2.0)` is `x ** 2`): it is
    passed to both functions after the inputs. An n-ary rule (sum, dot) takes all of its
    inputs as one sequence, `forward(o, xs)` and `derivatives(o, out, xs)`.
    """

    __slots__ = ("name", "forward", "derivatives", "nary", "takes_arg", "arg", "_family", "_bound",
                 "checked")  # fmt: skip

    def __init__(
        self,
        name: str,
        forward: Callable[..., Any],
        derivatives: Callable[..., Any],
        nary: bool = False,
        takes_arg: bool = False,
        register: bool = True,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"Rule: name must be a non-empty str, got {name!r:.60}")
        if not callable(forward) or not callable(derivatives):
            raise TypeError(f"Rule {name!r}: forward and derivatives must be functions")
        self.name = name
        self.forward = forward
        self.derivatives = derivatives
        self.nary = nary
        self.takes_arg = takes_arg
        self.arg: Any = _NO_ARG  # set on the copies with_arg makes
        self._family: Rule = self
        self._bound: dict[Any, Rule] = {}
        # The package's own rules are tested on every backend; a user's is checked the first
        # time it is applied (engine.check_rule), so it is False until then.
        self.checked = getattr(forward, "__module__", None) == __name__
        if not register:  # a rule that is never pickled by name (engine.MicrogradOp)
            return
        registered = RULES.get(name)
        if registered is None or registered.forward.__module__ != __name__:
            RULES[name] = self  # the latest definition of a name, but never over a built-in

    def with_arg(self, arg: Any) -> Rule:
        """This rule with its parameter set, e.g. POWER_BY.with_arg(3.0) for x ** 3."""
        family = self._family
        if not family.takes_arg:
            raise TypeError(f"rule {family.name!r} takes no parameter")
        rule = family._bound.get(arg)
        if rule is not None and arg == 0 and str(rule.arg) != str(arg):
            rule = None  # -0.0 == 0.0 as a key, but it is another parameter (0 * -0.0 = -0)
        if rule is None:
            keep = len(family._bound) < 1024 and str(arg) != "-0.0"  # -0.0 is never kept
            rule = object.__new__(Rule)
            for slot in Rule.__slots__:
                setattr(rule, slot, getattr(family, slot))
            rule.name = f"**{arg:g}" if family.name == "**c" else family.name  # as drawn
            rule.arg = arg
            if keep:  # exponents and slopes are usually a few constants
                family._bound[arg] = rule
        return rule

    def family_checked(self) -> None:
        """Mark this rule and its family (the same functions, any parameter) as checked on
        both backends (engine.check_rule), so that a parameter that changes on every call
        (`rule.with_arg(random())`) is not checked every time."""
        self.checked = self._family.checked = True

    def evaluate(self, o: Any, inputs: Sequence[Any]) -> Any:
        """forward() on backend `o`, whatever the rule's arity and parameter."""
        if self.nary:
            return self.forward(o, inputs)
        if self.arg is not _NO_ARG:
            return self.forward(o, *inputs, self.arg)
        return self.forward(o, *inputs)

    def local_derivatives(self, o: Any, out: Any, inputs: Sequence[Any]) -> tuple:
        """derivatives() on backend `o`, whatever the rule's arity and parameter."""
        if self.nary:
            return tuple(self.derivatives(o, out, inputs))
        if self.arg is not _NO_ARG:
            return tuple(self.derivatives(o, out, *inputs, self.arg))
        return tuple(self.derivatives(o, out, *inputs))

    def __call__(self, *inputs: Any) -> Any:
        """Apply the rule: a Value if any input is a Value, else a float.

        >>> EXP(0.0), POWER_BY.with_arg(2.0)(3.0)
        (1.0, 9.0)
        """
        if self.takes_arg and self.arg is _NO_ARG:
            raise TypeError(f"rule {self.name!r} needs its parameter: use .with_arg(...)")
        if self.nary and len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])
        assert apply_to_values is not None, "import tinygrad_scalar.engine first"
        return apply_to_values(self, inputs)

    def __reduce__(self) -> tuple:
        # pickled by name (and parameter): the functions stay in this module
        if RULES.get(self._family.name) is not self._family:
            raise pickle.PicklingError(
                f"cannot pickle a node made by rule {self.name!r}: that name belongs to another"
                " rule; give the rule a name of its own"
            )
        if self.arg is _NO_ARG:
            return (_rule_named, (self.name,))
        return (_bound_rule, (self._family.name, self.arg))

    def __repr__(self) -> str:
        return f"Rule({self.name!r})"


def _rule_named(name: str) -> Rule:
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(
            f"no rule named {name!r}: define it (Rule({name!r}, ...)) before unpickling"
        ) from None


def _bound_rule(name: str, arg: Any) -> Rule:
    return _rule_named(name).with_arg(arg)


def chain_term(o: Any, local: Any, grad: Any) -> Any:
    """What one edge of the graph adds to its parent's gradient: local * grad, the chain
    rule. A local derivative of exactly 0 adds exactly 0, even when the gradient is inf or
    nan (PyTorch masks it so: a dead relu, abs at 0, pow with exponent 0, where 0 * inf
    would be nan). Against a finite gradient this is local * grad itself, so a walk that
    knows its gradient is finite may multiply. Every backward pass uses it: the engine's
    (engine.backpropagate) and compile's (compiler/groups.py), on their backends `o`."""
    return o.where(o.eq(local, 0.0), 0.0, local * grad)


def _pow_derivatives(o: Any, out: Any, a: Any, b: Any) -> tuple:
    # d/da = b * a**(b - 1). Where b == 0 that is 0; PyTorch returns 0 outright there, but
    # we keep the product wherever a**(b - 1) is finite, so that its own derivative with
    # respect to b (a second derivative) stays right, and give 0 where it would be 0 * inf.
    slope = o.power(a, b - 1.0)
    d_base = o.where(o.eq(b, 0.0), o.where(o.abs(slope) < math.inf, b * slope, 0.0), b * slope)
    # d/db = a**b * log(a), taken as 0 where a == 0 and b >= 0: 0**b is flat in b there
    # (as PyTorch).
    return (d_base, o.where(o.eq(a, 0.0) & (b >= 0.0), 0.0, out * o.log(a)))


def _max_shift(o: Any, xs: Sequence[Any]) -> Any:
    # max(x), or 0 when that is infinite: subtracted from logits before exp, so no exp
    # overflows (and all -inf gives log 0 = -inf, not -inf - -inf = nan)
    m = xs[0]
    for x in xs[1:]:
        m = o.maximum(m, x)
    return o.where(o.abs(m) < math.inf, m, 0.0)


def _add_up(xs: Iterable[Any]) -> Any:
    # 0 + x_0 + x_1 + ..., left to right on every backend and Python version (3.12's sum()
    # compensates its rounding on floats, which a chain of + on Values would not)
    return functools.reduce(operator.add, xs, 0.0)


def dot_operands(inputs: Sequence[Any]) -> tuple[Sequence[Any], Sequence[Any], Any]:
    """(weights, inputs, bias) of a DOT node's parents (or of its inputs' numbers): DOT
    takes w_0..w_{n-1}, then x_0..x_{n-1}, then an optional bias (None when there is none).
    Every place that reads a dot's parents uses this (the rule, compile, the drawings).

    >>> dot_operands(["w0", "w1", "x0", "x1", "b"])
    (['w0', 'w1'], ['x0', 'x1'], 'b')
    """
    n = len(inputs) // 2
    return inputs[:n], inputs[n : 2 * n], inputs[-1] if len(inputs) % 2 else None


def _dot(o: Any, inputs: Sequence[Any]) -> Any:
    # ((0 + w_0*x_0) + w_1*x_1 + ...) + bias: left to right, the bias last as in a matrix
    # product plus bias (so compile agrees with it at overflow too)
    weights, xs, bias = dot_operands(inputs)
    total = _add_up(map(operator.mul, weights, xs))
    return total if bias is None else total + bias


def _dot_derivatives(o: Any, out: Any, inputs: Sequence[Any]) -> tuple:
    # d/dw_i = x_i, d/dx_i = w_i, d/dbias = 1
    weights, xs, bias = dot_operands(inputs)
    return (*xs, *weights) if bias is None else (*xs, *weights, 1.0)


# fmt: off
#                 name          forward(o, ...)                           local derivatives(o, out, ...)
ADD        = Rule("+",          lambda o, a, b: a + b,                    lambda o, out, a, b: (1.0, 1.0))
SUB        = Rule("-",          lambda o, a, b: a - b,                    lambda o, out, a, b: (1.0, -1.0))
MUL        = Rule("*",          lambda o, a, b: a * b,                    lambda o, out, a, b: (b, a))
DIV        = Rule("/",          lambda o, a, b: o.div(a, b),              lambda o, out, a, b: (o.div(1.0, b), -o.div(out, b)))
POW        = Rule("**",         lambda o, a, b: o.power(a, b),            _pow_derivatives)
POWER_BY   = Rule("**c",        lambda o, x, c: o.power(x, c),            lambda o, out, x, c: (o.where(o.eq(c, 0.0), 0.0, c * o.power(x, c - 1.0)),), takes_arg=True)  # x ** c, c a constant
NEG        = Rule("neg",        lambda o, x: -x,                          lambda o, out, x: (-1.0,))
IDENTITY   = Rule("id",         lambda o, x: x,                           lambda o, out, x: (1.0,))
STOP_GRADIENT = Rule("stop_gradient", lambda o, x: x,                     lambda o, out, x: (0.0,))  # x, through which no gradient flows (detach and no_grad while compile traces)
EXP        = Rule("exp",        lambda o, x: o.exp(x),                    lambda o, out, x: (out,))
LOG        = Rule("log",        lambda o, x: o.log(x),                    lambda o, out, x: (o.div(1.0, x),))
LOG1P      = Rule("log1p",      lambda o, x: o.log1p(x),                  lambda o, out, x: (o.div(1.0, 1.0 + x),))
SQRT       = Rule("sqrt",       lambda o, x: o.sqrt(x),                   lambda o, out, x: (o.div(0.5, out),))
TANH       = Rule("tanh",       lambda o, x: o.tanh(x),                   lambda o, out, x: (1.0 - out * out,))
SIGMOID    = Rule("sigmoid",    lambda o, x: o.sigmoid(x),                lambda o, out, x: (out * (1.0 - out),))
SIN        = Rule("sin",        lambda o, x: o.sin(x),                    lambda o, out, x: (o.cos(x),))
COS        = Rule("cos",        lambda o, x: o.cos(x),                    lambda o, out, x: (-o.sin(x),))
RELU       = Rule("relu",       lambda o, x: o.where(x <= 0.0, 0.0, x),   lambda o, out, x: (o.where(x <= 0.0, 0.0, 1.0),))  # relu'(0) = 0, relu'(nan) = 1 (as PyTorch)
LEAKY_RELU = Rule("leaky_relu", lambda o, x, s: o.where(x > 0.0, x, s * x), lambda o, out, x, s: (o.where(x > 0.0, 1.0, s),), takes_arg=True)  # slope s at 0
ABS        = Rule("abs",        lambda o, x: o.abs(x),                    lambda o, out, x: (o.where(x > 0.0, 1.0, o.where(x < 0.0, -1.0, 0.0)),))  # 0 at 0
MAXIMUM    = Rule("maximum",    lambda o, a, b: o.maximum(a, b),          lambda o, out, a, b: (o.where(a < b, 0.0, o.where(o.eq(a, b), 0.5, 1.0)), o.where(b < a, 0.0, o.where(o.eq(a, b), 0.5, 1.0))))  # ties split; with a nan both get 1 (as PyTorch)
MINIMUM    = Rule("minimum",    lambda o, a, b: o.minimum(a, b),          lambda o, out, a, b: (o.where(a > b, 0.0, o.where(o.eq(a, b), 0.5, 1.0)), o.where(b > a, 0.0, o.where(o.eq(a, b), 0.5, 1.0))))
# Stable forms of what losses need, so that no loss branches in Python on a value:
SOFTPLUS   = Rule("softplus",   lambda o, x: o.maximum(x, 0.0) + o.log1p(o.exp(-o.abs(x))), lambda o, out, x: (o.sigmoid(x),))  # log(1 + e^x)
HALF_SQUARE = Rule("half_square", lambda o, x: (x * x) * 0.5,          lambda o, out, x: (x,))  # x**2 / 2: the slope x is finite wherever x is (2x overflows past 9e307)
CLAMPED_LOG = Rule("clamped_log", lambda o, x, floor: o.maximum(o.log(x), floor), lambda o, out, x, floor: (o.where(out > floor, o.div(1.0, x), 0.0),), takes_arg=True)  # max(log x, floor), slope 0 where clamped
# n-ary ops: one node for a whole sum, a neuron's weighted sum, softmax's shift.
SUM        = Rule("sum",        lambda o, xs: _add_up(xs),                lambda o, out, xs: (1.0,) * len(xs), nary=True)
DOT        = Rule("dot",        _dot,                                     _dot_derivatives, nary=True)
# softmax(z) = softmax(z - c) for any c: the shift makes exp safe, and no gradient flows through it
MAX_SHIFT  = Rule("max_shift",  _max_shift,                               lambda o, out, xs: (0.0,) * len(xs), nary=True)
# take(xs, i) = xs[i] for an index i that compile feeds per sample: d/dx_j is 1 where j == i
TAKE       = Rule("take",       lambda o, xs: o.select(xs[-1], xs[:-1]),  lambda o, out, xs: (*(o.where(o.eq(xs[-1], float(j)), 1.0, 0.0) for j in range(len(xs) - 1)), 0.0), nary=True)
# fmt: on
