"""A user's rule means the same on every backend, or is refused before it gives a number.

A rule runs on floats eagerly and on NumPy arrays when compiled. Python's `~`, `not`, `if`,
`and` and `or` on a comparison mean one thing on a Python bool and another on an array:
`~True` is -2, which counts as true, so a rule written with `~(x > 0.0)` used to be silently
wrong eagerly and right compiled. The engine now runs a new rule on both backends at a few
points the first time it is applied, and refuses one whose numbers differ; `o.logical_not`
is the negation that works everywhere.

And a layer's kernel used to write a user's activation into its own source, keeping what
the rule read when the kernel was made: a rule reading a global gave stale numbers through
`dots` and fresh ones through the general path.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_scalar as ts
from tinygrad_scalar import (
    Rule,
    Value,
    grad,
)
from tinygrad_scalar.compiler import compile
from tinygrad_scalar.engine import dots, require


def negpart_with_tilde():
    return Rule(
        "negpart",
        lambda o, x: o.where(~(x > 0.0), x, 0.0),
        lambda o, out, x: (o.where(~(x > 0.0), 1.0, 0.0),),
    )


def negpart_with_logical_not():
    return Rule(
        "negpart_ok",
        lambda o, x: o.where(o.logical_not(x > 0.0), x, 0.0),
        lambda o, out, x: (o.where(o.logical_not(x > 0.0), 1.0, 0.0),),
    )


def test_the_rule_of_the_issue_is_refused_before_it_gives_a_number():
    negpart = negpart_with_tilde()
    with pytest.raises(TypeError) as caught:
        negpart(Value(2.0))  # was 2.0 eagerly, 0.0 compiled
    message = str(caught.value)
    assert message.startswith("rule 'negpart' gives different numbers on floats and on NumPy")
    assert "~True is -2" in message and "o.logical_not" in message
    assert "\n" not in message
    with pytest.raises(TypeError, match="rule 'negpart'"):  # and again: it is never accepted
        negpart(2.0)


def test_a_refused_rule_is_refused_on_every_path():
    negpart = negpart_with_tilde()
    w = Value(1.0)
    with pytest.raises(TypeError, match="rule 'negpart'"):
        dots([[w, w]], [Value(1.0), Value(2.0)], activation=negpart)
    with pytest.raises(TypeError, match="rule 'negpart'"):
        compile(lambda x: negpart(w * x), [w], (0.5,))
    with pytest.raises(TypeError, match="rule 'negpart'"):
        grad(lambda x: negpart(x))(3.0)


def test_a_derivative_that_differs_between_backends_is_refused_too():
    sign_by_not = Rule(
        "relu_by_not",
        lambda o, x: o.where(x > 0.0, x, 0.0),
        lambda o, out, x: (o.where(~(x <= 0.0), 1.0, 0.0),),  # right forward, wrong slope
    )
    with pytest.raises(TypeError, match=r"rule 'relu_by_not'.*its derivative 0 is"):
        sign_by_not(Value(-1.0))


@pytest.mark.parametrize("x", [2.0, -2.0, 0.0, -0.0, math.inf, -math.inf])
def test_logical_not_gives_the_same_numbers_eagerly_twice_differentiated_and_compiled(x):
    negpart = negpart_with_logical_not()
    v = Value(x)
    out = negpart(v)
    out.backward()
    expected = x if not x > 0.0 else 0.0
    assert (out.data, v.grad) == (expected, 0.0 if x > 0.0 else 1.0)
    assert grad(grad(lambda t: negpart(t) * t))(x) == (0.0 if x > 0.0 else 2.0)
    w = Value(1.0, "w")
    step = compile(lambda s: negpart(w * s), [w], (0.5,))
    w.grad = 0.0
    loss = step([x])
    eager_w = Value(1.0)
    eager = negpart(eager_w * x)
    eager.backward()
    assert loss == eager.data or (math.isnan(loss) and math.isnan(eager.data))
    assert w.grad == eager_w.grad or (math.isnan(w.grad) and math.isnan(eager_w.grad))


def test_a_rule_that_cannot_run_on_arrays_still_works_eagerly():
    by_math = Rule("exp_by_math", lambda o, x: math.exp(min(x, 700.0)), lambda o, out, x: (out,))
    v = Value(1.0)
    out = by_math(v)
    out.backward()
    assert (out.data, v.grad) == (math.e, math.e)


def test_a_rule_outside_its_domain_at_a_probe_point_is_not_refused():
    log_by_math = Rule("log_by_math", lambda o, x: math.log(x), lambda o, out, x: (1.0 / x,))
    assert log_by_math(Value(3.0)).data == math.log(3.0)  # math.log(-2.0) raises: skipped


def test_logical_not_on_every_backend():
    from tinygrad_scalar.compiler import arrays
    from tinygrad_scalar.rules import floats

    assert floats.logical_not(True) is False and floats.logical_not(False) is True
    assert list(arrays.logical_not(np.array([True, False]))) == [False, True]
    assert ts.engine.value_ops.logical_not(Value(1.0) > 0.0) is False


def test_require_refuses_a_check_written_with_tilde():
    with pytest.raises(TypeError) as caught:
        require([Value(5.0)], lambda p: ~((p < 0) | (p > 1)), lambda i, p: f"bad {p}")
    assert "returned the int -2 for 5.0" in str(caught.value)  # used to pass silently
    with pytest.raises(ValueError, match=r"bad 5\.0"):  # the check as the docstring says
        require([Value(5.0)], lambda p: (p >= 0) & (p <= 1), lambda i, p: f"bad {p}")
    require([Value(0.5)], lambda p: np.logical_not((p < 0) | (p > 1)), lambda i, p: "")


# --- a rule that reads a global: the kernel and the general path agree ------------------------


@pytest.mark.parametrize("width", [2, 16])
def test_a_layer_reads_a_user_activation_afresh_on_every_call(width):
    scale = [1.0]
    scaled = Rule("scaled", lambda o, x: x * scale[0], lambda o, out, x: (scale[0],))
    ws = [[Value(0.5) for _ in range(width)], [Value(-0.25) for _ in range(width)]]
    xs = [Value(1.0) for _ in range(width)]

    def by_kernel():
        return [node.data for node in dots(ws, xs, [Value(0.0), Value(1.0)], activation=scaled)]

    def by_general_path():
        return [scaled(ts.dot(row, xs, b)).data for row, b in zip(ws, [0.0, 1.0])]

    assert by_kernel() == by_general_path() == [0.5 * width, 1.0 - 0.25 * width]
    scale[0] = 3.0
    assert by_kernel() == by_general_path() == [1.5 * width, 3.0 * (1.0 - 0.25 * width)]
    out = dots(ws, xs, None, activation=scaled)[0]
    out.backward()
    assert ws[0][0].grad == 3.0 * 1.0  # the slope it reads now, not when the kernel was made


def test_a_rule_with_a_parameter_is_checked_once_for_all_its_parameters():
    scale = Rule("scale_by", lambda o, x, c: x * c, lambda o, out, x, c: (c,), takes_arg=True)
    assert scale.with_arg(2.0)(Value(3.0)).data == 6.0
    assert scale.with_arg(7.5).checked  # a new parameter: not checked again
    wrong = Rule(
        "above_by_tilde",
        lambda o, x, c: o.where(~(x > c), x, 0.0),
        lambda o, out, x, c: (1.0,),
        takes_arg=True,
    )
    with pytest.raises(TypeError, match="rule 'above_by_tilde'"):
        wrong.with_arg(0.0)(Value(2.0))
    assert not wrong.with_arg(1.0).checked


def test_a_tilde_on_a_comparison_of_the_rule_s_parameter_is_refused_too():
    # o.eq of the parameter and a number compares two floats: on arrays it must still be
    # NumPy's bool, whose ~ is "not", so that the check sees ~True (-2, true) on floats
    wrong = Rule(
        "scale_unless_zero_by_tilde",
        lambda o, x, c: o.where(~o.eq(c, 0.0), x * c, x),
        lambda o, out, x, c: (o.where(~o.eq(c, 0.0), c, 1.0),),
        takes_arg=True,
    )
    with pytest.raises(TypeError, match="rule 'scale_unless_zero_by_tilde' gives different"):
        wrong.with_arg(0.0)(Value(2.0))
    right = Rule(
        "scale_unless_zero",
        lambda o, x, c: o.where(o.logical_not(o.eq(c, 0.0)), x * c, x),
        lambda o, out, x, c: (o.where(o.logical_not(o.eq(c, 0.0)), c, 1.0),),
        takes_arg=True,
    )
    assert [right.with_arg(c)(Value(2.0)).data for c in (0.0, 3.0)] == [2.0, 6.0]


# --- a user-defined rule through eager, grad(grad(...)) and compile ------------------------

user_softplus = Rule(
    "softplus",
    lambda o, x: o.log(1.0 + o.exp(x)),
    lambda o, out, x: (o.exp(x) / (1.0 + o.exp(x)),),
)


def test_user_rule_forward_and_backward():
    for x in (-3.0, 0.0, 0.5, 4.0):
        v = Value(x)
        y = user_softplus(v)
        y.backward()
        assert y.rule is user_softplus and y.op == "softplus"
        assert y.data == pytest.approx(math.log1p(math.exp(x)), rel=1e-15)
        assert v.grad == pytest.approx(1.0 / (1.0 + math.exp(-x)), rel=1e-15)
    assert user_softplus(0.0) == math.log(2.0)


def test_user_rule_second_and_third_derivatives_match_sympy():
    sympy = pytest.importorskip("sympy")
    s = sympy.Symbol("x")
    expression = sympy.log(1 + sympy.exp(s))
    for x in (-2.0, 0.3, 1.7):
        for order, ours in (
            (2, grad(grad(user_softplus))(x)),
            (3, grad(grad(grad(user_softplus)))(x)),
        ):
            exact = float(sympy.diff(expression, s, order).subs(s, x))
            assert ours == pytest.approx(exact, rel=1e-13), (x, order)


def test_user_rule_compiles_as_one_vectorized_group():
    w = [Value(0.5), Value(-1.0), Value(2.0)]

    def fn(x, t):
        hidden = [user_softplus(wi * x) for wi in w]  # three nodes at one depth
        return (ts.sum(hidden) - t) ** 2

    step = compile(fn, w, (1.0, 0.0))
    lines = step.describe().splitlines()
    softplus_lines = [line for line in lines if "softplus" in line]
    assert len(softplus_lines) == 1 and softplus_lines[0].endswith("softplus x3")
    xs, ts_ = [-2.0, 0.0, 1.0, 3.0], [1.0, 0.0, 2.0, -1.0]
    for p in w:
        p.grad = 0.0
    loss = step(xs, ts_)
    compiled_grads = [p.grad for p in w]
    for p in w:
        p.grad = 0.0
    eager_loss = ts.sum([fn(Value(x), Value(t)) for x, t in zip(xs, ts_)]) * (1 / len(xs))
    eager_loss.backward()
    assert loss == pytest.approx(eager_loss.data, rel=1e-12)
    assert compiled_grads == pytest.approx([p.grad for p in w], rel=1e-12)
