"""The functional API, as in JAX: grad, value_and_grad, gradcheck, and free functions.

`grad(f)` is a new function that returns df/dx. Called with floats it returns floats;
called with Values it returns Values that are still connected to those inputs, which is
what lets it nest: `grad(grad(f))` is the second derivative.

The free functions (`exp`, `log`, `sqrt`, `tanh`, `sigmoid`, `relu`, `sin`, `cos`, `abs`,
...) are the rules themselves: given floats they return a float, given a Value a Value,
so one function body works whatever it is called with. `softmax`, `log_softmax` and
`log_sigmoid` are built from ops (logsumexp, softplus), with no branch on a value.
"""

from __future__ import annotations

import contextvars
import math
import numbers
from typing import Any, Callable, Sequence, Union

from . import rules
from .engine import Value, as_float, gradients, identity, max_shift
from .engine import sum as value_sum

# free functions: a float in, a float out; a Value in, a Value out
exp, log, log1p, sqrt = rules.EXP, rules.LOG, rules.LOG1P, rules.SQRT
tanh, sigmoid, relu, softplus = rules.TANH, rules.SIGMOID, rules.RELU, rules.SOFTPLUS
sin, cos, abs = rules.SIN, rules.COS, rules.ABS  # noqa: A001 - as math-like functions
maximum, minimum = rules.MAXIMUM, rules.MINIMUM

ArgNums = Union[int, Sequence[int]]

# How many grad/value_and_grad calls are running their function right now, in this thread
# or task: inside one, an inner grad keeps its graph so the outer one can differentiate it.
_open_traces = contextvars.ContextVar("tinygrad_scalar_open_traces", default=0)


def _argnum_tuple(argnums: ArgNums) -> tuple[int, ...]:
    if isinstance(argnums, int) and not isinstance(argnums, bool):
        return (argnums,)
    if isinstance(argnums, (tuple, list)) and all(
        isinstance(i, int) and not isinstance(i, bool) for i in argnums
    ):
        return tuple(argnums)
    raise TypeError(f"argnums must be an int or a tuple of ints, got {argnums!r}")


def value_and_grad(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., tuple]:
    """Return a function computing `(f(*args), df/dargs[argnums])`.

    >>> value_and_grad(lambda x, y: x * y, argnums=(0, 1))(3.0, 4.0)
    (12.0, (4.0, 3.0))
    """
    positions = _argnum_tuple(argnums)

    def value_and_grad_f(*given: Any) -> tuple:
        for i in positions:
            if not -len(given) <= i < len(given):
                raise IndexError(f"argnums {i} is out of range for {len(given)} argument(s)")
        args = list(given)
        # Inside another grad's function (Values passed in, or captured by a closure), an
        # outer derivative is being taken: keep the derivative's graph and return Values.
        nested = _open_traces.get() > 0 or any(isinstance(a, Value) for a in args)
        wrt = []
        for i, x in enumerate(args):  # other numbers become constant Values (documented)
            if i not in positions and i - len(args) not in positions and _is_number(x):
                args[i] = Value(x)
        for i in positions:
            x = args[i]
            # identity() gives each call its own node, connected to an outer Value if any
            node = identity(x) if isinstance(x, Value) else Value(as_float(x, "grad"))
            args[i] = node
            wrt.append(node)
        token = _open_traces.set(_open_traces.get() + 1)
        try:
            out = f(*args)
        finally:
            _open_traces.reset(token)
        value: Value | float
        if not isinstance(out, Value):
            value = _result_as_float(out, "grad")  # a constant: derivative 0
            grads: tuple = (0.0,) * len(wrt)
        else:
            grads = gradients(out, wrt, create_graph=nested)
            # float(), not .data: while compile traces, a number computed from the
            # sample refuses float() (it would be frozen), where .data would let it out
            value = out if nested else float(out)
        if not nested:
            grads = tuple(float(g) for g in grads)
        return value, grads[0] if isinstance(argnums, int) else grads

    value_and_grad_f.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    return value_and_grad_f


def grad(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
    """Return a function computing the derivative of f with respect to args[argnums].

    >>> grad(grad(grad(lambda x: 4 * x**3)))(2.0)
    24.0
    """
    value_and_grad_f = value_and_grad(f, argnums)

    def grad_f(*args: Any) -> Any:
        return value_and_grad_f(*args)[1]

    grad_f.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    return grad_f


def _result_as_float(out: Any, caller: str) -> float:
    try:
        return as_float(out)
    except TypeError:
        raise TypeError(
            f"{caller}: the function must return a scalar Value or a number, "
            f"got {type(out).__name__}"
        ) from None


def _is_number(x: Any) -> bool:
    return type(x) in (int, float) or (
        isinstance(x, numbers.Real) and not isinstance(x, (bool, Value))
    )


class GradcheckError(AssertionError):
    """backward() and central differences disagree."""


def gradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Compare backward() with central differences (f(x+eps) - f(x-eps)) / 2eps.

    Returns True, or raises GradcheckError naming the input and both numbers. The test
    for each input is |analytic - numeric| <= atol + rtol * |numeric|, as in PyTorch.

    >>> gradcheck(lambda x, y: x * y.exp(), 1.5, -0.5)
    True
    """
    if not inputs:
        raise TypeError("gradcheck needs at least one input")
    for name, value in (("eps", eps), ("atol", atol), ("rtol", rtol)):
        if not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise ValueError(f"gradcheck: {name} must be a finite number >= 0, got {value!r}")
    if eps == 0:
        raise ValueError("gradcheck: eps must be > 0 (it is the finite-difference step)")
    point = [as_float(x.data if isinstance(x, Value) else x, "gradcheck") for x in inputs]
    analytic = value_and_grad(f, argnums=tuple(range(len(point))))(*point)[1]

    def f_at(i: int, x: float) -> float:
        args = list(point)
        args[i] = x
        out = f(*(Value(a) for a in args))
        return out.data if isinstance(out, Value) else _result_as_float(out, "gradcheck")

    for i, x in enumerate(point):
        numeric = (f_at(i, x + eps) - f_at(i, x - eps)) / (2 * eps)
        got = analytic[i]
        if not math.isclose(got, numeric, rel_tol=0, abs_tol=atol + rtol * abs(numeric)):
            raise GradcheckError(
                f"gradcheck: input {i} (= {x!r}): backward gives {got!r}, "
                f"central differences give {numeric!r}"
            )
    return True


# --- softmax and friends, from ops (no branch on a value) -----------------------------------


def value_list(xs: Any, name: str) -> list[Value]:
    """A number, a Value or a list of them as a list of Values (numbers become constants);
    ValueError naming `name` for anything else or an empty list."""
    if isinstance(xs, Value) or _is_number(xs):
        items = [xs]
    else:
        try:
            items = list(xs)
        except TypeError:
            raise ValueError(f"{name}: logits must be a list of numbers or Values") from None
    if not items:
        raise ValueError(f"{name}: logits are empty")
    for i, z in enumerate(items):
        if not isinstance(z, Value):
            items[i] = Value(as_float(z, f"{name}: logits[{i}]"))
    return items


def shifted_logits(zs: list[Value]) -> tuple[list[Value], Value, Value]:
    """(z - m for each z, log(sum(exp(z - m))), m) with m = max(z): the stable parts of
    log_softmax, logsumexp (the second plus m) and cross-entropy."""
    shift = max_shift(zs)
    shifted = [z - shift for z in zs]
    return shifted, value_sum([s.exp() for s in shifted]).log(), shift


def logsumexp(logits: Any) -> Value:
    """log(sum(exp(z))), stable for any logits."""
    _, log_total, shift = shifted_logits(value_list(logits, "logsumexp"))
    return log_total + shift


def log_softmax(logits: Any) -> list[Value]:
    """z_i - logsumexp(z), stable for any logits."""
    shifted, log_total, _ = shifted_logits(value_list(logits, "log_softmax"))
    return [s - log_total for s in shifted]


def softmax(logits: Any) -> list[Value]:
    """exp(z_i - m) / sum_j exp(z_j - m), m = max(z): no exp overflows, whatever the logits."""
    zs = value_list(logits, "softmax")
    shift = max_shift(zs)
    exps = [(z - shift).exp() for z in zs]
    total = value_sum(exps)
    return [e / total for e in exps]


def log_sigmoid(x: Any) -> Any:
    """log(sigmoid(x)) = -softplus(-x), stable for any x."""
    return -softplus(-x)
