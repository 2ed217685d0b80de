"""Every differentiable op, written once: its forward value next to its local derivatives.

A rule is two functions:

    forward(*inputs)           -> the output
    derivatives(out, *inputs)  -> (d out / d input_0, d out / d input_1, ...)

`derivatives` receives the output as well as the inputs because several ops reuse it
(exp' = out, tanh' = 1 - out**2, sigmoid' = out * (1 - out)).

The rules are written with ordinary arithmetic and with the helpers below (`div`, `power`,
`log`, ...), which accept plain floats *and* Values. So the same rule serves twice:

* during the forward pass the engine calls it with floats, which is fast, and stores the
  resulting numbers on the new node;
* `backward(create_graph=True)` calls it again with the Values themselves, which builds a
  graph of the derivative that can be differentiated once more (higher-order derivatives).

On floats the helpers follow IEEE 754 and PyTorch instead of raising Python exceptions:
1/0 = inf, log(0) = -inf, log(-1) = nan, exp(1000) = inf, (-8) ** 0.5 = nan.
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any, Callable, Sequence

# --- IEEE-style float helpers that fall back to Value methods -------------------------
# A Value is recognised by not being a float; the engine only ever stores floats in .data.


def div(a: Any, b: Any) -> Any:
    """a / b, with a / 0 = +-inf and 0 / 0 = nan for floats."""
    if type(a) is float and type(b) is float and b == 0.0:
        if a != a or a == 0.0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def power(a: Any, b: Any) -> Any:
    """a ** b, IEEE pow for floats: overflow gives inf, a negative base with a
    non-integer exponent gives nan, 0 ** negative gives inf."""
    if type(a) is not float or type(b) is not float:
        return a**b
    try:
        return math.pow(a, b)
    except OverflowError:
        odd_integer = b == math.floor(b) and b % 2 == 1
        return -math.inf if a < 0 and odd_integer else math.inf
    except ValueError:
        if a == 0.0:  # 0 ** negative
            odd_integer = b == math.floor(b) and b % 2 == 1
            return math.copysign(math.inf, a) if odd_integer else math.inf
        return math.nan  # negative base, non-integer exponent


def exp(x: Any) -> Any:
    if type(x) is not float:
        return x.exp()
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def log(x: Any) -> Any:
    if type(x) is not float:
        return x.log()
    if x > 0.0 or x != x:
        return math.log(x)
    return -math.inf if x == 0.0 else math.nan


def sqrt(x: Any) -> Any:
    if type(x) is not float:
        return x.sqrt()
    return math.sqrt(x) if x >= 0.0 or x != x else math.nan


def tanh(x: Any) -> Any:
    return math.tanh(x) if type(x) is float else x.tanh()


def sigmoid(x: Any) -> Any:
    if type(x) is not float:
        return x.sigmoid()
    if x >= 0.0:  # written so that exp never overflows
        return 1.0 / (1.0 + math.exp(-x))
    e = exp(x)  # nan also lands here and stays nan
    return e / (1.0 + e)


def sign(x: Any) -> float:
    """abs's slope: +1, -1, and 0 at 0 (as in PyTorch)."""
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


# --- the rules --------------------------------------------------------------------------


class Rule:
    """One op: its name (shown in graphs and errors), forward and local derivatives.

    An n-ary rule (sum, dot) takes all of its inputs as one sequence, `forward(xs)` and
    `derivatives(out, xs)`, instead of one argument each: a neuron's dot has dozens.
    """

    __slots__ = ("name", "forward", "derivatives", "nary")

    def __init__(
        self, name: str, forward: Callable, derivatives: Callable, nary: bool = False
    ) -> None:
        self.name = name
        self.forward = forward
        self.derivatives = derivatives
        self.nary = nary

    def local_derivatives(self, out: Any, inputs: tuple) -> tuple:
        """derivatives() for a tuple of inputs, whatever the rule's arity."""
        return self.derivatives(out, inputs) if self.nary else self.derivatives(out, *inputs)

    def __repr__(self) -> str:
        return f"Rule({self.name!r})"


def _relu_slope(out: Any, x: Any) -> tuple:
    # relu'(0) = 0, as in PyTorch. Both tuples are constants: no allocation per node.
    return (1.0,) if x > 0 else (0.0,)


def _pow_derivatives(out: Any, a: Any, b: Any) -> tuple:
    # d/da = b * a**(b - 1), which is 0 where b == 0, even at a == 0, where the formula
    # would give 0 * inf. When b is a Value (a higher-order graph) the formula is kept away
    # from a == 0, because the derivative of d/da with respect to b is not 0 there.
    if b == 0 and (type(b) is float or a == 0):
        d_base = 0.0
    else:
        d_base = b * power(a, b - 1.0)
    # d/db = a**b * log(a), taken as 0 where a == 0 and b >= 0 (0**b is flat in b there),
    # as PyTorch does.
    d_exponent = 0.0 if a == 0 and b >= 0 else out * log(a)
    return (d_base, d_exponent)


# fmt: off
#                name       forward                           local derivatives d out / d input
ADD      = Rule("+",       lambda a, b: a + b,               lambda out, a, b: (1.0, 1.0))
SUB      = Rule("-",       lambda a, b: a - b,               lambda out, a, b: (1.0, -1.0))
MUL      = Rule("*",       lambda a, b: a * b,               lambda out, a, b: (b, a))
DIV      = Rule("/",       div,                              lambda out, a, b: (div(1.0, b), -div(out, b)))  # noqa: E501
POW      = Rule("**",      power,                            _pow_derivatives)
NEG      = Rule("neg",     lambda x: -x,                     lambda out, x: (-1.0,))
IDENTITY = Rule("id",      lambda x: x,                      lambda out, x: (1.0,))
EXP      = Rule("exp",     exp,                              lambda out, x: (out,))
LOG      = Rule("log",     log,                              lambda out, x: (div(1.0, x),))
SQRT     = Rule("sqrt",    sqrt,                             lambda out, x: (div(0.5, out),))
TANH     = Rule("tanh",    tanh,                             lambda out, x: (1.0 - out * out,))
SIGMOID  = Rule("sigmoid", sigmoid,                          lambda out, x: (out * (1 - out),))
RELU     = Rule("relu",    lambda x: 0.0 if x <= 0 else x,   _relu_slope)
ABS      = Rule("abs",     abs,                              lambda out, x: (sign(x),))  # 0 at 0
# fmt: on


@functools.lru_cache(maxsize=256)
def power_by(c: float) -> Rule:
    """x ** c for a constant exponent c: d/dx = c * x**(c - 1), and 0 when c == 0."""
    return Rule(
        f"**{c:g}",
        lambda x: power(x, c),
        lambda out, x: (0.0 if c == 0 else c * power(x, c - 1.0),),
    )


@functools.lru_cache(maxsize=256)
def leaky_relu_with(slope: float) -> Rule:
    """x for x > 0, else slope * x. At 0 the slope is `slope` (as in PyTorch)."""
    return Rule(
        "leaky_relu",
        lambda x: x if x > 0.0 else slope * x,
        lambda out, x: (1.0 if x > 0 else slope,),
    )


# n-ary ops: one node for a whole sum, and one for a neuron's weighted sum.
SUM = Rule("sum", sum, lambda out, xs: (1.0,) * len(xs), nary=True)


def _dot_forward(inputs: Sequence[Any]) -> Any:
    # inputs are w_0..w_{n-1}, x_0..x_{n-1}, and an optional bias at the end
    n = len(inputs) // 2
    ws, xs = inputs[:n], inputs[n : 2 * n]
    total = sum(map(operator.mul, ws, xs))
    return total + inputs[-1] if len(inputs) % 2 else total


def _dot_derivatives(out: Any, inputs: Sequence[Any]) -> tuple:
    # d/dw_i = x_i, d/dx_i = w_i, d/dbias = 1
    n = len(inputs) // 2
    ws, xs = inputs[:n], inputs[n : 2 * n]
    return (*xs, *ws, 1.0) if len(inputs) % 2 else (*xs, *ws)


DOT = Rule("dot", _dot_forward, _dot_derivatives, nary=True)
