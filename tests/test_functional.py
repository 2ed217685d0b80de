"""Tests for the functional API: grad, value_and_grad, gradients and gradcheck.

Expected derivatives are worked out by hand from textbook formulas and evaluated with the
math module.
"""

import math
import re

import pytest

import tinygrad_scalar as ts
from tinygrad_scalar import (
    GradcheckError,
    Value,
    grad,
    gradcheck,
    gradients,
    rules,
    value_and_grad,
)

# --- grad and value_and_grad ---------------------------------------------------------------


def test_grad_of_a_polynomial():
    assert grad(lambda x: x**3 - 2 * x)(1.5) == pytest.approx(3 * 1.5**2 - 2, rel=1e-15)


def test_grad_returns_floats_for_float_inputs():
    result = grad(lambda x: x.exp())(0.3)
    assert type(result) is float
    assert result == pytest.approx(math.exp(0.3), rel=1e-15)


def test_grad_accepts_ints_and_values():
    assert grad(lambda x: x * x)(3) == 6.0
    g = grad(lambda x: x * x)(Value(3.0))
    assert float(g) == 6.0


def test_third_derivative_of_4x_cubed_is_24():
    assert grad(grad(grad(lambda x: 4 * x**3)))(2.0) == 24


def test_nested_grad_through_several_ops():
    # f = log(x) * tanh(x): f'' = -tanh/x**2 + 2 sech**2/x - 2 log(x) tanh sech**2
    def f(x):
        return x.log() * x.tanh()

    x = 0.8
    t, sech2 = math.tanh(x), 1 / math.cosh(x) ** 2
    first = t / x + math.log(x) * sech2
    second = -t / x**2 + 2 * sech2 / x - 2 * math.log(x) * t * sech2
    assert grad(f)(x) == pytest.approx(first, rel=1e-13)
    assert grad(grad(f))(x) == pytest.approx(second, rel=1e-12)


def test_fourth_derivative_of_exp_and_sigmoid():
    x = 0.4
    assert grad(grad(grad(grad(lambda t: (2 * t).exp()))))(x) == pytest.approx(
        16 * math.exp(2 * x), rel=1e-12
    )
    # sigmoid'' = s (1 - s) (1 - 2 s)
    s = 1 / (1 + math.exp(-x))
    assert grad(grad(lambda t: t.sigmoid()))(x) == pytest.approx(
        s * (1 - s) * (1 - 2 * s), rel=1e-12
    )


def test_nested_grad_with_value_exponent():
    # f = x**x: f' = x**x (log x + 1), f'' = x**x ((log x + 1)**2 + 1/x)
    x = 1.3
    f = lambda t: t**t
    assert grad(f)(x) == pytest.approx(x**x * (math.log(x) + 1), rel=1e-13)
    assert grad(grad(f))(x) == pytest.approx(x**x * ((math.log(x) + 1) ** 2 + 1 / x), rel=1e-12)


def test_grad_with_argnums():
    # arguments not differentiated are passed through as they are (here plain floats)
    f = lambda x, y, z: x * y**2 + z**3
    args = (1.5, -2.0, 0.5)
    assert grad(f)(*args) == 4.0
    assert grad(f, argnums=1)(*args) == 2 * 1.5 * -2.0
    assert grad(f, argnums=-1)(*args) == 0.75
    assert grad(f, argnums=(0, 2))(*args) == (4.0, 0.75)
    assert grad(f, argnums=(1,))(*args) == (-6.0,)


def test_value_and_grad():
    value, derivative = value_and_grad(lambda x: x.sqrt())(4.0)
    assert (value, derivative) == (2.0, 0.25)
    value, (dx, dy) = value_and_grad(lambda x, y: x / y, argnums=(0, 1))(3.0, 2.0)
    assert (value, dx, dy) == (1.5, 0.5, -0.75)


def test_grad_of_a_function_ignoring_its_input_is_zero():
    assert grad(lambda x: 5.0)(2.0) == 0.0
    assert grad(lambda x, y: y * 2, argnums=0)(2.0, Value(1.0)) == 0.0


def test_grad_hessian_row_when_every_argument_is_differentiated():
    # f = x**2 y**3: d2f/dx dy = 6 x y**2, d2f/dy2 = 6 x**2 y
    f = lambda x, y: x**2 * y**3
    row = grad(lambda x, y: grad(f, argnums=1)(x, y), argnums=(0, 1))(1.5, 2.0)
    assert row == (pytest.approx(6 * 1.5 * 4.0), pytest.approx(6 * 1.5**2 * 2.0))


def test_grad_mixed_partial_through_different_argnums():
    f = lambda x, y: x**2 * y**3
    assert grad(grad(f, argnums=0), argnums=1)(1.5, 2.0) == pytest.approx(6 * 1.5 * 2.0**2)


def test_grad_of_a_closure_over_an_outer_variable():
    # d/dx [d/dy (x y)] = d/dx [x] = 1
    assert grad(lambda x: grad(lambda y: x * y)(1.0))(3.0) == 1.0


def test_grad_bad_argnums():
    with pytest.raises(TypeError, match="argnums"):
        grad(lambda x: x, argnums="0")
    with pytest.raises(TypeError, match="argnums"):
        grad(lambda x: x, argnums=1.0)
    with pytest.raises(IndexError, match="argnums 2"):
        grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)


def test_grad_rejects_non_number_arguments():
    with pytest.raises(TypeError, match="str"):
        grad(lambda x: x * 2)("3")


def test_grad_does_not_touch_dot_grad_of_values_passed_in():
    x = Value(2.0)
    x.grad = 7.0
    assert float(grad(lambda t: t * t)(x)) == 4.0
    assert x.grad == 7.0


# --- gradients() ---------------------------------------------------------------------------


def test_gradients_returns_derivatives_and_leaves_dot_grad_untouched():
    x, y, unused = Value(2.0), Value(3.0), Value(4.0)
    middle = x * y
    out = middle + x.exp()
    dx, dy, dunused = gradients(out, [x, y, unused])
    assert dx == pytest.approx(3.0 + math.exp(2.0), rel=1e-15)
    assert dy == 2.0
    assert dunused == 0.0
    assert (x.grad, y.grad, unused.grad, middle.grad, out.grad) == (0.0,) * 5


def test_gradients_with_respect_to_an_interior_node():
    x = Value(2.0)
    middle = x * 3
    out = middle * middle
    assert gradients(out, [middle]) == (12.0,)


def test_gradients_with_gradient_argument_and_create_graph():
    x = Value(1.5)
    (dx,) = gradients(x**3, [x], gradient=2.0, create_graph=True)
    assert isinstance(dx, Value)
    assert dx.data == pytest.approx(2 * 3 * 1.5**2)
    (d2x,) = gradients(dx, [x])
    assert d2x == pytest.approx(2 * 6 * 1.5)
    assert x.grad == 0.0


def test_gradients_rejects_a_non_value_output():
    with pytest.raises(TypeError, match="float"):
        gradients(1.0, [Value(1.0)])


# --- gradcheck -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f, inputs",
    [
        (lambda x: x.tanh() * x.exp(), (0.3,)),
        (lambda x, y: x**y + (x / y).log(), (1.3, 0.7)),
        (lambda x, y, z: ts.dot([x, y], [y, z], bias=x.sigmoid()).sqrt(), (1.1, 0.9, 2.0)),
        (lambda x: ts.sum([x.relu(), x.abs(), x.leaky_relu(0.3)]), (-0.8,)),
    ],
)
def test_gradcheck_passes_on_correct_derivatives(f, inputs):
    assert gradcheck(f, *inputs) is True


def test_gradcheck_accepts_values_as_inputs():
    assert gradcheck(lambda x: x * x, Value(2.0)) is True


def _numbers_in(message):
    return [float(n) for n in re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", message)]


def test_gradcheck_reports_a_derivative_that_is_wrong():
    # x * detach(x) claims derivative x, while the function's value is x**2 (slope 2x)
    f = lambda y, x: y + x * x.detach()
    with pytest.raises(GradcheckError, match=r"input 1\b") as error:
        gradcheck(f, 0.25, 1.5)
    message = str(error.value)
    numbers = _numbers_in(message)
    assert 1.5 in numbers  # the input's value
    assert any(n == pytest.approx(1.5) for n in numbers[1:])  # backward's answer, x
    assert any(n == pytest.approx(3.0, rel=1e-6) for n in numbers)  # central differences, 2x


def test_gradcheck_catches_a_rule_that_lies():
    # a rule claiming exp' = 2 exp; gradcheck must notice on the exp input only
    lying_exp = rules.Rule("lying_exp", lambda o, x: o.exp(x), lambda o, out, x: (2 * out,))
    f = lambda a, b: a * 3 + lying_exp(b)
    with pytest.raises(GradcheckError, match=r"input 1 ") as error:
        gradcheck(f, 0.5, 0.2)
    numbers = _numbers_in(str(error.value))
    assert any(n == pytest.approx(2 * math.exp(0.2), rel=1e-12) for n in numbers)
    assert any(n == pytest.approx(math.exp(0.2), rel=1e-6) for n in numbers)
    assert gradcheck(lambda a, b: a * 3 + rules.EXP(b), 0.5, 0.2) is True


def test_gradcheck_is_an_assertion_error():
    assert issubclass(GradcheckError, AssertionError)


def test_gradcheck_needs_an_input():
    with pytest.raises(TypeError, match="at least one input"):
        gradcheck(lambda: Value(1.0))


def test_gradcheck_of_a_constant_function():
    assert gradcheck(lambda x: 3.0, 1.0) is True


@pytest.mark.parametrize("options", [{"eps": 0}, {"eps": -1e-6}, {"atol": -1}, {"rtol": math.nan}])
def test_gradcheck_rejects_bad_tolerances(options):
    with pytest.raises(ValueError, match=r"gradcheck: (eps|atol|rtol)"):
        gradcheck(lambda x: x * x, 1.0, **options)


def test_grad_of_a_function_returning_a_list_names_the_problem():
    with pytest.raises(TypeError, match="must return a scalar Value or a number, got list"):
        grad(lambda x: [x, x])(1.0)


def test_detect_anomaly_covers_grad():
    with pytest.raises(FloatingPointError, match="backward of sqrt"), ts.detect_anomaly():
        grad(lambda x: x.sqrt())(0.0)


@pytest.mark.parametrize(
    "logits, expected",
    [
        ([0.0, 0.0], math.log(2.0)),
        ([1000.0, 1000.0], 1000.0 + math.log(2.0)),
        ([-1000.0, -1e308], -1000.0),
        ([-math.inf, -math.inf], -math.inf),
        ([math.inf, 1.0], math.inf),
    ],
)
def test_logsumexp_is_stable_and_takes_its_shift_once(logits, expected):
    xs = [Value(z) for z in logits]
    out = ts.logsumexp(xs)
    assert out.data == pytest.approx(expected, rel=1e-15) or out.data == expected
    shifts = [n for n in ts.topological_order(out) if n.op == "max_shift"]
    assert len(shifts) == 1
    if math.isfinite(expected):
        out.backward()  # d/dz_i = softmax(z)_i
        assert sum(x.grad for x in xs) == pytest.approx(1.0, rel=1e-15)


def same(a, b):
    return a == b or (a != a and b != b)


# --- free functions ------------------------------------------------------------------------

FREE = ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sin", "cos", "abs", "log1p", "softplus"]


@pytest.mark.parametrize("name", FREE)
def test_free_functions_take_floats_and_values(name):
    f = getattr(ts, name)
    for x in (0.7, 2.0, -0.3, 0.0):
        on_float = f(x)
        on_value = f(Value(x))
        assert type(on_float) is float
        assert isinstance(on_value, Value)
        assert same(on_float, on_value.data)
        method = abs(Value(x)) if name == "abs" else getattr(Value(x), name)()
        assert same(on_value.data, method.data)


def test_a_function_written_once_works_with_floats_and_values():
    def neuron(x):
        return ts.tanh(ts.exp(x) * 0.5 - ts.sqrt(ts.abs(x)) + ts.sin(x) * ts.cos(x)) + ts.relu(x)

    x = Value(0.8)
    y = neuron(x)
    y.backward()
    assert y.data == neuron(0.8)
    h = 1e-6
    assert math.isclose(x.grad, (neuron(0.8 + h) - neuron(0.8 - h)) / (2 * h), rel_tol=1e-6)


# --- grad with numeric constant arguments --------------------------------------------------


def test_grad_passes_other_numeric_arguments_as_constant_values():
    def f(x, y):
        return x * y.sigmoid()  # y.sigmoid() needs y to be a Value

    got = grad(f, argnums=0)(1.3, 0.7)
    assert type(got) is float
    assert got == 1.0 / (1.0 + math.exp(-0.7))
    assert grad(f, argnums=1)(1.3, 0.7) == pytest.approx(
        1.3 * ts.sigmoid(0.7) * (1 - ts.sigmoid(0.7)), rel=1e-15
    )
