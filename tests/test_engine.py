"""Unit tests for the Value engine: construction, every op's value and local derivatives,
IEEE edge cases, backward() semantics, create_graph, grad modes, deep graphs and memory;
a zero local derivative adding exactly 0; identity `==`; the per-thread and per-task
switches; one topological order and one chain rule.

Expected numbers come from the math module (derivatives written in a form independent of
the engine's rules, e.g. tanh' = 1/cosh**2 rather than 1 - tanh**2), from NumPy's float64
arithmetic for IEEE edge values, or are exact small integers worked out by hand.
"""

import asyncio
import gc
import itertools
import math
import pickle
import threading
import weakref

import numpy as np
import pytest

import tinygrad_scalar as ts
from tinygrad_scalar import (
    Rule,
    Value,
    data,
    detect_anomaly,
    enable_grad,
    engine,
    grad,
    gradients,
    is_grad_enabled,
    no_grad,
    topological_order,
    train,
)
from tinygrad_scalar.compiler import compile
from tinygrad_scalar.nn import MLP

INF = math.inf
NAN = math.nan


def same_float(got, expected, rel=1e-12):
    """Equal as IEEE numbers: nan matches nan, infinities match exactly, finite ones closely."""
    if math.isnan(expected):
        return math.isnan(got)
    if math.isinf(expected):
        return got == expected
    return math.isclose(got, expected, rel_tol=rel, abs_tol=1e-300)


def value_and_leaf_grads(f, *numbers):
    """Run f on fresh leaves, backpropagate, return (output value, gradient of each leaf)."""
    leaves = [Value(x) for x in numbers]
    out = f(*leaves)
    out.backward()
    return out.data, tuple(leaf.grad for leaf in leaves)


# --- construction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        (3, 3.0),
        (-2.5, -2.5),
        (True, 1.0),
        (False, 0.0),
        (np.float64(1.25), 1.25),
        (np.float32(0.5), 0.5),
        (np.int64(7), 7.0),
        (np.int8(-3), -3.0),
        (2**60, float(2**60)),
    ],
)
def test_value_stores_numbers_as_python_float(raw, expected):
    v = Value(raw)
    assert type(v.data) is float
    assert v.data == expected
    assert v.grad == 0.0
    assert v.op == ""
    assert v.parents == ()


def test_value_accepts_numpy_bool():
    assert Value(np.True_).data == 1.0


@pytest.mark.parametrize(
    "bad, type_name",
    [("1.0", "str"), (None, "NoneType"), ([1.0], "list"), (object(), "object"), (1j, "complex")],
)
def test_value_rejects_non_numbers_naming_the_type(bad, type_name):
    with pytest.raises(TypeError, match=type_name):
        Value(bad)


def test_value_keeps_its_label():
    assert Value(1.0, label="w1").label == "w1"
    assert Value(1.0).label == ""


@pytest.mark.parametrize("other", ["2", None, [1.0], object(), {}])
@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**"])
def test_operators_with_unsupported_types_raise_type_error(op, other):
    apply = {
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: a / b,
        "**": lambda a, b: a**b,
    }[op]
    with pytest.raises(TypeError):
        apply(Value(2.0), other)
    with pytest.raises(TypeError):
        apply(other, Value(2.0))


def test_float_of_a_value_is_its_data():
    assert float(Value(2.5) * 2) == 5.0
    assert math.isnan(float(Value(-1.0).log()))


def test_comparisons_look_at_data_and_return_bools():
    a, b = Value(1.0), Value(2.0)
    results = [a < b, a <= b, a > b, a >= b, a < 1.5, a <= 1.0, 3 > a, 1.0 >= a]  # noqa: SIM300 - reflected
    assert results == [True, True, False, False, True, True, True, True]
    assert all(type(r) is bool for r in results)
    # no graph was built: the operands gained no parents and are still leaves
    assert a.parents == () and b.parents == ()


def test_equality_is_identity_as_in_micrograd():
    a, b = Value(1.0), Value(1.0)
    assert a == a and a != b and not (a == b)  # noqa: SIM201 - == and != separately
    assert (a == 1.0) is False and (a != 1.0) is True  # a Value is not its number
    assert len({a: 1, b: 2}) == 2


def test_list_index_and_remove_find_the_parameter_itself():
    # an MLP's biases all start at 0.1: with == on .data, index() found the first one
    params = [Value(0.1, "b1"), Value(0.1, "b2"), Value(0.1, "b3")]
    b3 = params[2]
    assert params.index(b3) == 2
    params.remove(b3)
    assert [p.label for p in params] == ["b1", "b2"]
    assert b3 not in params


def test_in_place_operators_make_new_nodes():
    a = Value(3.0)
    original = a
    a += 2
    assert a is not original
    assert original.data == 3.0 and a.data == 5.0
    assert a.parents[0] is original
    a *= a
    assert a.data == 25.0
    a -= 1
    a /= 4
    a **= 2
    assert a.data == 36.0
    a.backward()
    # a = (((x + 2)**2 - 1) / 4)**2, da/dx = 2 * 6 * (2 * 5) / 4 = 30
    assert original.grad == 30.0


def test_op_names():
    x, y = Value(2.0), Value(3.0)
    assert (x + y).op == "+"
    assert (x - y).op == "-"
    assert (x * y).op == "*"
    assert (x / y).op == "/"
    assert (x**y).op == "**"
    assert (x**2).op.startswith("**")
    assert (-x).op == "neg"
    for name in ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "leaky_relu", "abs"]:
        assert getattr(x, name)().op == name
    assert ts.sum([x, y]).op == "sum"
    assert ts.dot([x], [y]).op == "dot"


def test_parents_are_in_argument_order():
    a, b = Value(1.0, "a"), Value(2.0, "b")
    assert (a - b).parents == (a, b) and (a - b).parents[0] is a
    assert (b - a).parents[0] is b and (b - a).parents[1] is a
    reversed_sub = 5 - a
    assert reversed_sub.parents[1] is a and reversed_sub.parents[0].data == 5.0
    assert reversed_sub.data == 4.0
    power = 2**a
    assert power.parents[1] is a and power.parents[0].data == 2.0
    assert (a**b).parents == (a, b)


def test_sum_and_dot_are_single_nodes():
    ws = [Value(w) for w in (1.0, 2.0, 3.0)]
    xs = [Value(x) for x in (4.0, 5.0, 6.0)]
    bias = Value(0.5)
    total = ts.sum(ws)
    assert len(total.parents) == 3 and all(p is w for p, w in zip(total.parents, ws))
    out = ts.dot(ws, xs, bias=bias)
    assert len(out.parents) == 7
    assert all(p is q for p, q in zip(out.parents, ws + xs + [bias]))
    assert all(p.parents == () for p in out.parents)  # no hidden intermediate nodes


def test_dot_with_mismatched_lengths_is_a_value_error():
    with pytest.raises(ValueError, match="2 weights but 3 inputs"):
        ts.dot([1.0, 2.0], [1.0, 2.0, 3.0])


def test_sum_rejects_non_numbers():
    with pytest.raises(TypeError, match="str"):
        ts.sum([Value(1.0), "2"])


# --- each op at ordinary inputs: value and derivatives -----------------------------------


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# (name, f on Values, inputs, expected value, expected derivative w.r.t. each input)
ORDINARY = [
    ("add", lambda a, b: a + b, (1.5, -2.25), -0.75, (1.0, 1.0)),
    ("add number", lambda a: a + 4, (1.5,), 5.5, (1.0,)),
    ("radd number", lambda a: 4 + a, (1.5,), 5.5, (1.0,)),
    ("sub", lambda a, b: a - b, (1.5, -2.25), 3.75, (1.0, -1.0)),
    ("rsub number", lambda a: 4 - a, (1.5,), 2.5, (-1.0,)),
    ("mul", lambda a, b: a * b, (1.5, -2.25), 1.5 * -2.25, (-2.25, 1.5)),
    ("rmul number", lambda a: 3 * a, (1.5,), 4.5, (3.0,)),
    ("div", lambda a, b: a / b, (1.5, -2.5), 1.5 / -2.5, (1 / -2.5, -1.5 / 2.5**2)),
    ("rdiv number", lambda a: 3 / a, (1.5,), 2.0, (-3 / 1.5**2,)),
    ("div number", lambda a: a / 4, (1.5,), 0.375, (0.25,)),
    ("pow 3", lambda a: a**3, (1.7,), 1.7**3, (3 * 1.7**2,)),
    ("pow -0.5", lambda a: a**-0.5, (1.7,), 1.7**-0.5, (-0.5 * 1.7**-1.5,)),
    ("pow 2.5", lambda a: a**2.5, (1.7,), 1.7**2.5, (2.5 * 1.7**1.5,)),
    ("pow int of negative", lambda a: a**3, (-2.0,), -8.0, (12.0,)),
    ("pow numpy exponent", lambda a: a ** np.float64(2.0), (1.5,), 2.25, (3.0,)),
    (
        "pow value exponent",
        lambda a, b: a**b,
        (1.7, 2.3),
        1.7**2.3,
        (2.3 * 1.7**1.3, 1.7**2.3 * math.log(1.7)),
    ),
    ("rpow number base", lambda b: 2**b, (1.3,), 2**1.3, (2**1.3 * math.log(2),)),
    ("neg", lambda a: -a, (1.5,), -1.5, (-1.0,)),
    ("exp", lambda a: a.exp(), (0.7,), math.exp(0.7), (math.exp(0.7),)),
    ("log", lambda a: a.log(), (0.7,), math.log(0.7), (1 / 0.7,)),
    ("sqrt", lambda a: a.sqrt(), (0.7,), math.sqrt(0.7), (0.5 * 0.7**-0.5,)),
    ("tanh", lambda a: a.tanh(), (0.7,), math.tanh(0.7), (1 / math.cosh(0.7) ** 2,)),
    (
        "sigmoid",
        lambda a: a.sigmoid(),
        (0.7,),
        _sigmoid(0.7),
        (math.exp(-0.7) / (1 + math.exp(-0.7)) ** 2,),
    ),
    ("relu positive", lambda a: a.relu(), (0.7,), 0.7, (1.0,)),
    ("relu negative", lambda a: a.relu(), (-0.7,), 0.0, (0.0,)),
    ("leaky_relu positive", lambda a: a.leaky_relu(), (0.7,), 0.7, (1.0,)),
    ("leaky_relu negative", lambda a: a.leaky_relu(), (-0.7,), -0.007, (0.01,)),
    ("leaky_relu slope", lambda a: a.leaky_relu(0.2), (-0.7,), -0.14, (0.2,)),
    ("abs positive", lambda a: a.abs(), (0.7,), 0.7, (1.0,)),
    ("abs negative", lambda a: a.abs(), (-0.7,), 0.7, (-1.0,)),
    ("builtin abs", lambda a: abs(a), (-0.7,), 0.7, (-1.0,)),
    ("sum", lambda a, b, c: ts.sum([a, b, c]), (1.0, -2.0, 0.5), -0.5, (1.0, 1.0, 1.0)),
    ("sum with numbers", lambda a: ts.sum([a, 2, 3.5]), (1.0,), 6.5, (1.0,)),
    (
        "dot",
        lambda w1, w2, x1, x2: ts.dot([w1, w2], [x1, x2]),
        (0.5, -1.5, 2.0, 3.0),
        0.5 * 2.0 - 1.5 * 3.0,
        (2.0, 3.0, 0.5, -1.5),
    ),
    (
        "dot with bias",
        lambda w1, w2, x1, x2, b: ts.dot([w1, w2], [x1, x2], bias=b),
        (0.5, -1.5, 2.0, 3.0, 0.25),
        0.5 * 2.0 - 1.5 * 3.0 + 0.25,
        (2.0, 3.0, 0.5, -1.5, 1.0),
    ),
    (
        "dot with number inputs",
        lambda w: ts.dot([w, 2.0], [3.0, 4.0], bias=1),
        (0.5,),
        10.5,
        (3.0,),
    ),
]


@pytest.mark.parametrize(
    "name, f, inputs, value, derivatives", ORDINARY, ids=[c[0] for c in ORDINARY]
)
def test_op_value_and_derivatives(name, f, inputs, value, derivatives):
    got_value, got_grads = value_and_leaf_grads(f, *inputs)
    assert got_value == pytest.approx(value, rel=1e-13)
    assert got_grads == pytest.approx(derivatives, rel=1e-13)


@pytest.mark.parametrize(
    "name, f, inputs, value, derivatives", ORDINARY, ids=[c[0] for c in ORDINARY]
)
def test_op_derivatives_match_central_differences(name, f, inputs, value, derivatives):
    _, got_grads = value_and_leaf_grads(f, *inputs)
    h = 1e-6
    for i in range(len(inputs)):
        up, down = list(inputs), list(inputs)
        up[i] += h
        down[i] -= h
        numeric = (f(*map(Value, up)).data - f(*map(Value, down)).data) / (2 * h)
        assert got_grads[i] == pytest.approx(numeric, rel=1e-6, abs=1e-8)


# --- IEEE edge cases ------------------------------------------------------------------------

# (name, f on Values, inputs, expected value, expected derivatives)
EDGES = [
    ("exp overflow", lambda x: x.exp(), (1000.0,), INF, (INF,)),
    ("exp underflow", lambda x: x.exp(), (-1000.0,), 0.0, (0.0,)),
    ("log 0", lambda x: x.log(), (0.0,), -INF, (INF,)),
    ("log negative", lambda x: x.log(), (-1.0,), NAN, (-1.0,)),
    ("log inf", lambda x: x.log(), (INF,), INF, (0.0,)),
    ("1 / 0", lambda a, b: a / b, (1.0, 0.0), INF, (INF, -INF)),
    ("-1 / 0", lambda a, b: a / b, (-1.0, 0.0), -INF, (INF, INF)),
    ("1 / -0", lambda a, b: a / b, (1.0, -0.0), -INF, (-INF, -INF)),
    ("0 / 0", lambda a, b: a / b, (0.0, 0.0), NAN, (INF, NAN)),
    ("number / 0", lambda a: 2 / a, (0.0,), INF, (-INF,)),
    ("sqrt 0", lambda x: x.sqrt(), (0.0,), 0.0, (INF,)),
    ("sqrt negative", lambda x: x.sqrt(), (-4.0,), NAN, (NAN,)),
    ("relu at 0", lambda x: x.relu(), (0.0,), 0.0, (0.0,)),
    ("abs at 0", lambda x: x.abs(), (0.0,), 0.0, (0.0,)),
    ("leaky_relu at 0 has the slope", lambda x: x.leaky_relu(0.1), (0.0,), 0.0, (0.1,)),
    ("x**0 at 0", lambda x: x**0, (0.0,), 1.0, (0.0,)),
    ("x**Value(0) at 0", lambda x, y: x**y, (0.0, 0.0), 1.0, (0.0, 0.0)),
    ("0**y, y > 0", lambda x, y: x**y, (0.0, 2.0), 0.0, (0.0, 0.0)),
    ("0**y, y fractional", lambda x, y: x**y, (0.0, 0.5), 0.0, (INF, 0.0)),
    ("0**-1", lambda x: x**-1, (0.0,), INF, (-INF,)),
    ("x**0.5 at 0", lambda x: x**0.5, (0.0,), 0.0, (INF,)),
    ("negative base, fractional Value exponent", lambda x, y: x**y, (-8.0, 1 / 3), NAN, (NAN, NAN)),
    ("negative base, fractional number exponent", lambda x: x ** (1 / 3), (-8.0,), NAN, (NAN,)),
    ("number base negative, Value exponent", lambda y: (-2.0) ** y, (0.5,), NAN, (NAN,)),
    ("pow overflow", lambda x: x**400, (10.0,), INF, (INF,)),
    ("pow overflow, odd exponent", lambda x: x**401, (-10.0,), -INF, (INF,)),
    ("mul overflow", lambda x: x * 10, (1e308,), INF, (10.0,)),
    ("tanh 1e308", lambda x: x.tanh(), (1e308,), 1.0, (0.0,)),
    ("tanh -1e308", lambda x: x.tanh(), (-1e308,), -1.0, (0.0,)),
    ("sigmoid 1e308", lambda x: x.sigmoid(), (1e308,), 1.0, (0.0,)),
    ("sigmoid -1e308", lambda x: x.sigmoid(), (-1e308,), 0.0, (0.0,)),
    ("sigmoid -700", lambda x: x.sigmoid(), (-700.0,), math.exp(-700), (math.exp(-700),)),
    (
        "sigmoid -40",
        lambda x: x.sigmoid(),
        (-40.0,),
        math.exp(-40) / (1 + math.exp(-40)),
        (math.exp(-40) / (1 + math.exp(-40)) ** 2,),
    ),
    ("tanh 1e-300", lambda x: x.tanh(), (1e-300,), 1e-300, (1.0,)),
    ("exp nan", lambda x: x.exp(), (NAN,), NAN, (NAN,)),
    ("tanh nan", lambda x: x.tanh(), (NAN,), NAN, (NAN,)),
    ("sigmoid nan", lambda x: x.sigmoid(), (NAN,), NAN, (NAN,)),
    ("sigmoid -inf", lambda x: x.sigmoid(), (-INF,), 0.0, (0.0,)),
]


@pytest.mark.parametrize("name, f, inputs, value, derivatives", EDGES, ids=[c[0] for c in EDGES])
def test_edge_values_and_derivatives(name, f, inputs, value, derivatives):
    got_value, got_grads = value_and_leaf_grads(f, *inputs)
    assert same_float(got_value, value), (got_value, value)
    for got, expected in zip(got_grads, derivatives):
        # a 1-ulp difference is allowed where the derivative is computed from the output
        assert same_float(got, expected, rel=1e-9), (got_grads, derivatives)


EDGE_NUMBERS = [0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 0.5, INF, -INF, NAN, 1e308, -1e308, 5e-324, 3.0]

BINARY = {
    "+": (lambda a, b: a + b, np.add),
    "-": (lambda a, b: a - b, np.subtract),
    "*": (lambda a, b: a * b, np.multiply),
    "/": (lambda a, b: a / b, np.divide),
    "**": (lambda a, b: a**b, np.power),
}


@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_ops_follow_ieee_on_every_pair_of_edge_values(op):
    ours, numpy_op = BINARY[op]
    mismatches = []
    with np.errstate(all="ignore"):
        for x, y in itertools.product(EDGE_NUMBERS, EDGE_NUMBERS):
            a, b = Value(x), Value(y)
            out = ours(a, b)  # must not raise
            out.backward()  # must not raise either
            # NumPy arrays call C's pow (NumPy scalars take a sqrt shortcut for ** 0.5)
            expected = float(numpy_op(np.array([x]), np.array([y]))[0])
            if not same_float(out.data, expected):
                mismatches.append((x, y, out.data, expected))
            if not all(isinstance(g, float) for g in (a.grad, b.grad)):
                mismatches.append((x, y, "gradient not a float", a.grad, b.grad))
            # the same with a plain number on either side
            assert same_float(ours(Value(x), y).data, expected)
            assert same_float(ours(x, Value(y)).data, expected)
    assert mismatches == []


UNARY = {
    "neg": (lambda v: -v, np.negative),
    "exp": (lambda v: v.exp(), np.exp),
    "log": (lambda v: v.log(), np.log),
    "sqrt": (lambda v: v.sqrt(), np.sqrt),
    "tanh": (lambda v: v.tanh(), np.tanh),
    "relu": (lambda v: v.relu(), lambda x: np.maximum(x, 0.0)),
    "abs": (lambda v: v.abs(), np.abs),
}


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_ops_follow_ieee_on_edge_values(op):
    ours, numpy_op = UNARY[op]
    with np.errstate(all="ignore"):
        for x in EDGE_NUMBERS + [1000.0, -1000.0, 710.0]:
            v = Value(x)
            out = ours(v)
            out.backward()
            expected = float(numpy_op(np.array([x]))[0])
            assert same_float(out.data, expected), (x, out.data, expected)
            assert isinstance(v.grad, float)


@pytest.mark.parametrize(
    "make", [lambda v: v.sigmoid(), lambda v: v.leaky_relu(), lambda v: v**2.5, lambda v: 3**v]
)
def test_other_ops_raise_nothing_on_edge_values(make):
    for x in EDGE_NUMBERS:
        v = Value(x)
        out = make(v)
        out.backward()
        assert isinstance(out.data, float) and isinstance(v.grad, float)
        # and second order: the derivative graph must not raise either
        w = Value(x)
        make(w).backward(create_graph=True)
        if isinstance(w.grad, Value):
            w.grad.backward()


@pytest.mark.parametrize("x", [-1e308, -800.0, -30.0, -1.0, 0.0, 1.0, 30.0, 800.0, 1e308])
def test_tanh_and_sigmoid_stay_in_range_with_finite_derivatives(x):
    for op, low, high in [("tanh", -1.0, 1.0), ("sigmoid", 0.0, 1.0)]:
        v = Value(x)
        out = getattr(v, op)()
        out.backward()
        assert low <= out.data <= high
        assert math.isfinite(v.grad) and v.grad >= 0.0
        second = ts.grad(ts.grad(lambda t, op=op: getattr(t, op)()))(x)
        assert math.isfinite(second)


# --- backward() ---------------------------------------------------------------------------


def test_leaves_accumulate_across_backward_calls():
    x = Value(3.0)
    y = x * x
    y.backward()
    assert x.grad == 6.0
    y.backward()
    assert x.grad == 12.0


def test_interior_nodes_restart_from_zero_on_each_call():
    x = Value(3.0)
    middle = x * 2
    out = middle * middle  # out = 4 x**2, d out/d middle = 2 * middle = 12
    out.backward()
    assert middle.grad == 12.0
    out.backward()
    assert middle.grad == 12.0
    assert x.grad == 48.0  # the leaf accumulated 24 twice


def test_reused_subexpression_sums_its_paths():
    a = Value(1.0)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad == 4.0
    assert b.grad == 2.0


def test_backward_with_a_gradient_argument():
    x = Value(2.0)
    y = x**3
    y.backward(gradient=0.5)
    assert x.grad == 6.0  # 0.5 * 3 * 4
    assert y.grad == 0.5


def test_backward_rejects_a_non_number_gradient():
    with pytest.raises(TypeError, match="str"):
        (Value(1.0) * 2).backward(gradient="1")


def test_backward_on_a_leaf():
    x = Value(5.0)
    x.backward()
    assert x.grad == 1.0
    x.backward(gradient=2.0)
    assert x.grad == 3.0


def test_backward_leaves_unrelated_values_alone():
    x, unrelated = Value(1.0), Value(2.0)
    (x * 3).backward()
    assert unrelated.grad == 0.0


def test_constant_operands_do_not_become_parents_of_the_caller():
    x = Value(2.0)
    y = x * 3 + 1
    y.backward()
    assert x.grad == 3.0


def test_micrograd_readme_example_with_derivatives_by_hand():
    # micrograd's README expression; the oracle is the same arithmetic on plain floats
    # (relu written as max) and central differences for the derivatives
    a, b = Value(-4.0), Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f

    def plain(a, b):
        c = a + b
        d = a * b + b**3
        c = c + c + 1
        c = c + 1 + c - a
        d = d + d * 2 + max(b + a, 0.0)
        d = d + 3 * d + max(b - a, 0.0)
        e = c - d
        f = e**2
        return f / 2.0 + 10.0 / f

    assert g.data == pytest.approx(plain(-4.0, 2.0), rel=1e-14)
    g.backward()
    h = 1e-6
    assert a.grad == pytest.approx((plain(-4 + h, 2) - plain(-4 - h, 2)) / (2 * h), rel=1e-6)
    assert b.grad == pytest.approx((plain(-4, 2 + h) - plain(-4, 2 - h)) / (2 * h), rel=1e-6)


# --- backward(create_graph=True) ---------------------------------------------------------


def test_create_graph_gives_value_gradients_that_differentiate_again():
    x = Value(2.0)
    y = x**3
    y.backward(create_graph=True)
    first = x.grad
    assert isinstance(first, Value)
    assert first.data == 12.0  # 3 x**2
    x.grad = 0.0
    first.backward()
    assert x.grad == 12.0  # 6 x


def test_create_graph_third_derivative_through_several_ops():
    # f = x e^x: f' = (1 + x) e^x, f'' = (2 + x) e^x, f''' = (3 + x) e^x
    x = Value(0.5)
    (x * x.exp()).backward(create_graph=True)
    d1 = x.grad
    x.grad = 0.0
    d1.backward(create_graph=True)
    d2 = x.grad
    x.grad = 0.0
    d2.backward()
    d3 = x.grad
    assert d1.data == pytest.approx(1.5 * math.exp(0.5), rel=1e-14)
    assert d2.data == pytest.approx(2.5 * math.exp(0.5), rel=1e-14)
    assert d3 == pytest.approx(3.5 * math.exp(0.5), rel=1e-14)


def test_create_graph_mixed_second_derivatives():
    # f = x**2 * y + y.log(): d2f/dxdy = 2x, d2f/dy2 = -1/y**2
    x, y = Value(1.5), Value(0.8)
    (x**2 * y + y.log()).backward(create_graph=True)
    dfdx, dfdy = x.grad, y.grad
    x.grad = y.grad = 0.0
    dfdy.backward()
    assert x.grad == pytest.approx(3.0, rel=1e-14)
    assert y.grad == pytest.approx(-1 / 0.8**2, rel=1e-14)
    x.grad = y.grad = 0.0
    dfdx.backward()
    assert x.grad == pytest.approx(2 * 0.8, rel=1e-14)
    assert y.grad == pytest.approx(3.0, rel=1e-14)


def test_create_graph_makes_every_gradient_a_value():
    x = Value(2.0)
    (x + 1).backward(create_graph=True)
    assert isinstance(x.grad, Value)
    assert x.grad.data == 1.0


# --- grad modes, detach ------------------------------------------------------------------


def test_no_grad_builds_no_graph_and_nests():
    x = Value(2.0)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = x * 3 + x.exp()
        assert y.parents == () and y.op == ""
        assert y.data == pytest.approx(6 + math.exp(2.0))
        with enable_grad():
            assert is_grad_enabled()
            z = x * 3
            assert z.parents[0] is x
        with no_grad():
            pass
        assert not is_grad_enabled()
        assert (x * 2).parents == ()
    assert is_grad_enabled()
    assert (x * 2).parents[0] is x


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(RuntimeError), no_grad():
        raise RuntimeError("boom")
    assert is_grad_enabled()


def test_no_grad_result_gets_no_gradient_path():
    x = Value(2.0)
    with no_grad():
        frozen = x * 5
    out = frozen * x
    out.backward()
    assert x.grad == 10.0  # only the direct path: frozen counts as a constant


def test_detach_cuts_the_graph():
    x = Value(2.0, label="x")
    d = (x * x).detach()
    assert d.parents == () and d.data == 4.0
    out = d * x
    out.backward()
    assert x.grad == 4.0
    assert x.detach().label == "x"


def test_detect_anomaly_names_op_and_inputs_in_forward():
    x = Value(0.0)
    with detect_anomaly():
        with pytest.raises(FloatingPointError, match=r"log.*0\.0"):
            x.log()
        with pytest.raises(FloatingPointError, match=r"exp.*1000\.0"):
            Value(1000.0).exp()
        with pytest.raises(FloatingPointError, match=r"/.*1\.0, 0\.0"):
            Value(1.0) / x
        assert (x + 1).data == 1.0  # finite results pass


def test_detect_anomaly_in_backward_names_the_op():
    x = Value(0.0)
    with detect_anomaly():
        y = x.sqrt()  # forward is finite (0.0); its derivative 1 / (2 sqrt 0) is not
        with pytest.raises(FloatingPointError, match=r"sqrt.*0\.0"):
            y.backward()


def test_detect_anomaly_in_backward_with_create_graph():
    x = Value(0.0)
    with detect_anomaly():
        y = x.sqrt()
        with pytest.raises(FloatingPointError, match="sqrt"):
            y.backward(create_graph=True)


def test_nothing_raised_outside_detect_anomaly():
    with pytest.raises(FloatingPointError), detect_anomaly():
        Value(0.0).log()
    x = Value(0.0)
    y = x.log()
    assert y.data == -INF
    x.sqrt().backward()
    assert x.grad == INF


# --- deep graphs and memory ---------------------------------------------------------------


@pytest.mark.slow
def test_chain_of_a_million_nodes_backprops():
    x = Value(0.5)
    out = x
    for _ in range(1_000_000):
        out = out + 1
    out.backward()  # no RecursionError
    assert out.data == 1_000_000.5
    assert x.grad == 1.0


def test_deep_chain_of_multiplications():
    factor = 1.0001
    x = Value(1.0)
    out = x
    for _ in range(20_000):
        out = out * factor
    out.backward()
    # d out/dx = factor**20000, computed independently in log space
    assert x.grad == pytest.approx(math.exp(20_000 * math.log(factor)), rel=1e-9)


def _interior_weakref_dies_with_root(after_backward):
    gc.collect()
    gc.disable()
    try:
        x = Value(1.5)
        interior = (x * 2).tanh()
        out = ts.sum([interior.exp(), x.log(), ts.dot([interior], [x], bias=1.0)]) / 3
        if after_backward:
            out.backward()
        ref = weakref.ref(interior)
        del interior
        assert ref() is not None  # still reachable from out
        del out
        return ref() is None
    finally:
        gc.enable()


def test_graph_is_freed_by_reference_counting_after_forward():
    assert _interior_weakref_dies_with_root(after_backward=False)


def test_graph_is_freed_by_reference_counting_after_backward():
    assert _interior_weakref_dies_with_root(after_backward=True)


def test_graph_with_value_exponent_and_division_is_freed():
    gc.collect()
    gc.disable()
    try:
        a, b = Value(2.0), Value(0.5)
        interior = a**b / (b - a)
        out = interior.sigmoid() * a.relu() + (-b).abs().sqrt().leaky_relu()
        out.backward()
        ref = weakref.ref(interior)
        del interior, out
        assert ref() is None
    finally:
        gc.enable()


def same(a, b):
    return a == b or (a != a and b != b)


# --- a zero local derivative contributes exactly 0 -----------------------------------------


def test_dead_relu_to_the_minus_one_has_gradient_zero():
    x = Value(-1.0)
    y = x.relu() ** -1  # relu(-1) = 0, 0 ** -1 = inf, d/dy = -inf
    y.backward()
    assert y.data == INF
    assert x.grad == 0.0


def test_zero_local_derivatives_match_pytorch():
    torch = pytest.importorskip("torch")

    def ours_and_torch(f, *xs):
        leaves = [Value(x) for x in xs]
        f(*leaves).backward()
        tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
        f(*tensors).backward()
        return [v.grad for v in leaves], [t.grad.item() for t in tensors]

    cases = [
        (lambda x: x.relu() ** -1, [-1.0]),
        (lambda x: (x**0.0) * INF, [0.0]),
        (lambda x: (x**0.0) * INF, [3.0]),
        (lambda x, b: (x**b) * INF, [2.0, 0.0]),
    ]
    for f, xs in cases:
        ours, theirs = ours_and_torch(f, *xs)
        assert all(map(same, ours, theirs)), (xs, ours, theirs)


def test_abs_at_zero_with_an_infinite_upstream_gradient_gives_zero():
    # PyTorch gives nan here (sign(0) * -inf); issue 9 asks for the masked 0, as for relu
    x = Value(0.0)
    (abs(x) ** -1).backward()
    assert x.grad == 0.0


def test_pow_with_exponent_zero_passes_no_gradient_to_its_base():
    for base in (0.0, -2.0, 5.0, INF):
        x = Value(base)
        ((x**0.0) * INF).backward()
        assert x.grad == 0.0, base
        a, b = Value(base), Value(0.0)
        ((a**b) * INF).backward()
        assert a.grad == 0.0, base


def test_create_graph_masks_a_zero_local_derivative_that_is_a_value():
    # with create_graph the local derivatives are Values: MUL's is the other operand, and
    # x**2's is 2x; at 0 with an infinite upstream gradient they must add 0, not nan
    for make in (lambda x: (x * Value(0.0)) ** -1, lambda x: (x * 0.0) ** -1):
        x = Value(2.0)
        out = make(x)
        assert gradients(out, [x]) == (0.0,)
        assert engine.data_of(gradients(out, [x], create_graph=True)[0]) == 0.0
    x = Value(0.0)
    out = (x**2.0) ** -1
    assert engine.data_of(gradients(out, [x], create_graph=True)[0]) == 0.0
    out.backward(create_graph=True)
    assert engine.data_of(x.grad) == 0.0
    # a zero Value local with a finite gradient still carries its own derivative
    assert grad(grad(lambda v: v**2.0))(0.0) == 2.0
    assert grad(grad(lambda v: v * v))(0.0) == 2.0


@pytest.mark.parametrize(
    "fn",
    [
        lambda w, x: (w * x).relu() ** -1,
        lambda w, x: abs(w * x) ** -1,
        lambda w, x: ((w * x) ** 0.0) * INF,
    ],
)
def test_compiled_zero_local_derivatives_contribute_zero(fn):
    w = Value(1.0)
    step = compile(lambda x: fn(w, x), [w], (1.0,))
    eager_leaves = [Value(x) for x in (-1.0, 0.0)]
    w.grad = 0.0
    eager_loss = ts.sum([fn(w, x) for x in eager_leaves]) * 0.5
    eager_loss.backward()
    eager_grad, w.grad = w.grad, 0.0
    step([-1.0, 0.0])
    assert same(w.grad, eager_grad)
    assert not math.isnan(w.grad)


# --- identity ==, comparisons, formatting --------------------------------------------------


def test_index_and_remove_find_the_parameter_itself_when_biases_are_equal():
    model = MLP(2, [3, 3, 1], seed=0)
    params = model.parameters()
    biases = [neuron.b for layer in model.layers for neuron in layer.neurons]
    for b in biases:
        b.data = 0.1
    b3 = biases[3]
    where = next(i for i, p in enumerate(params) if p is b3)
    assert params.index(b3) == where
    params.remove(b3)
    assert all(p is not b3 for p in params)
    assert sum(1 for p in params if p.data == 0.1) == len(biases) - 1
    assert b3 in model.parameters()


def test_equality_is_identity_and_order_compares_data():
    a, b = Value(1.0), Value(1.0)
    assert a == a and a != b and not (a == b)  # noqa: SIM201 - == and != separately
    assert a <= b and a >= b and not (a < b) and not (a > b)
    assert Value(1.0) < Value(2.0) and Value(2.0) > 1.5 and 0.5 < Value(1.0)  # noqa: SIM300
    assert len({a, b}) == 2 and {a: 1, b: 2}[b] == 2  # hashed by identity
    assert hash(a) != hash(b) or a is b
    assert (Value(1.0) == 1.0) is False  # a Value is not its number


def test_format_round_int_read_the_number():
    v = Value(3.14159)
    assert f"{v:.3f}" == "3.142"
    assert round(v, 2) == 3.14 and type(round(v, 2)) is float
    assert round(v) == 3
    assert int(Value(-2.7)) == -2 and int(v) == 3
    assert float(v) == 3.14159
    assert f"{v}" == repr(v)


# --- the switches are per thread and per task ---------------------------------------------


def run_threads(*targets):
    errors = []

    def guarded(target):
        try:
            target()
        except BaseException as error:  # reported in the main thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]


def test_overlapping_no_grad_in_two_threads_leaves_grad_mode_on():
    both_inside = threading.Barrier(2, timeout=30)
    seen = {}

    def worker(name):
        with no_grad():
            both_inside.wait()  # both threads are in no_grad now
            seen[name] = (is_grad_enabled(), (Value(1.0) * 2).parents)
            both_inside.wait()

    run_threads(lambda: worker("a"), lambda: worker("b"))
    assert seen == {"a": (False, ()), "b": (False, ())}
    assert is_grad_enabled()
    assert len((Value(1.0) * 2).parents) == 2


def test_each_thread_sees_its_own_grad_mode():
    inside = threading.Barrier(2, timeout=30)
    seen = {}

    def without_grad():
        with no_grad():
            inside.wait()
            seen["no_grad"] = (is_grad_enabled(), len((Value(1.0) * 2).parents))
            inside.wait()

    def with_grad():
        inside.wait()  # the other thread is inside no_grad now
        seen["grad"] = (is_grad_enabled(), len((Value(1.0) * 2).parents))
        inside.wait()

    run_threads(without_grad, with_grad)
    assert seen == {"no_grad": (False, 0), "grad": (True, 2)}


def test_detect_anomaly_in_one_thread_does_not_affect_another():
    inside = threading.Barrier(2, timeout=30)
    seen = {}

    def checking():
        with detect_anomaly():
            inside.wait()
            try:
                Value(1e308) * 10.0
            except FloatingPointError as error:
                seen["checking"] = str(error)
            inside.wait()

    def not_checking():
        inside.wait()
        seen["not_checking"] = (Value(1e308) * 10.0).data
        inside.wait()

    run_threads(checking, not_checking)
    assert "produced inf" in seen["checking"]
    assert seen["not_checking"] == INF


def test_backward_cannot_leave_anomaly_mode_on():
    x = Value(0.0)
    y = x.sqrt()  # sqrt'(0) = inf
    with pytest.raises(FloatingPointError), detect_anomaly():
        y.backward(create_graph=True)
    assert (Value(1e308) * 10.0).data == INF  # no FloatingPointError: anomaly mode is off
    y.backward(create_graph=True)
    assert x.grad.data == INF
    assert engine._modes_active == 0  # the hot path is back on its fast branch


def fit_once(seed):
    X, y = data.make_moons(24, seed=seed)
    model = MLP(2, [4, 1], seed=seed)
    train.fit(model, X, y, loss="hinge", lr=0.1, epochs=15, progress=False, seed=seed)
    return [p.data for p in model.parameters()]


def test_two_threads_fitting_their_own_models_get_the_sequential_parameters():
    sequential = [fit_once(1), fit_once(2)]
    start = threading.Barrier(2, timeout=30)
    threaded = {}

    def worker(seed):
        start.wait()
        threaded[seed] = fit_once(seed)

    run_threads(lambda: worker(1), lambda: worker(2))
    assert [threaded[1], threaded[2]] == sequential
    assert is_grad_enabled()


def test_asyncio_tasks_each_have_their_own_no_grad():
    async def without_grad(started, resume):
        with no_grad():
            started.set()
            await resume.wait()  # the other task runs while this one is inside no_grad
            return is_grad_enabled(), len((Value(1.0) * 2).parents)

    async def with_grad(started, resume):
        await started.wait()
        result = is_grad_enabled(), len((Value(1.0) * 2).parents)
        resume.set()
        return result

    async def main():
        started, resume = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(without_grad(started, resume), with_grad(started, resume))

    assert asyncio.run(main()) == [(False, 0), (True, 2)]
    assert is_grad_enabled()


# --- one topological order, one chain rule ------------------------------------------------


def test_topological_order_visits_parents_in_argument_order():
    a, b = Value(1.0, "a"), Value(2.0, "b")
    a2, b2 = a.exp(), b.exp()
    out = a2 * b2
    assert topological_order(out) == [a, a2, b, b2, out]
    assert topological_order(b2, a2) == [b, b2, a, a2]
    assert topological_order(a2, out) == [a, a2, b, b2, out]
    shared = a * a
    assert topological_order(shared) == [a, shared]


def test_gradients_and_backward_agree():
    a, b, c = Value(0.3), Value(-1.2), Value(2.0)
    out = (a * b + c.tanh()) ** 2 / (a.exp() + 1) + ts.dot([a, b], [c, a], bias=b)
    by_gradients = gradients(out, [a, b, c])
    assert (a.grad, b.grad, c.grad) == (0.0, 0.0, 0.0)  # gradients() writes nothing
    out.backward()
    assert by_gradients == (a.grad, b.grad, c.grad)


@pytest.mark.parametrize("n", [3, 4, 16, 64, 65, 200])  # 3-64 walk unrolled kernels
def test_a_node_with_many_parents_sends_each_its_local_times_upstream(n):
    ws = [Value(0.5 * i - 3.0) for i in range(n)]
    xs = [Value(1.0 / (i + 1)) for i in range(n)]
    bias = Value(1.0)
    out = ts.dot(ws, xs, bias) * 3.0
    out.backward()
    assert [w.grad for w in ws] == [3.0 * x.data for x in xs]
    assert [x.grad for x in xs] == [3.0 * w.data for w in ws]
    assert bias.grad == 3.0
    # a parent that appears several times gets every contribution
    squares = ts.dot(xs, xs)
    assert gradients(squares, xs) == tuple(2.0 * x.data for x in xs)
    total = ts.sum([ws[0]] * n)
    total.backward()
    assert ws[0].grad == 3.0 * xs[0].data + n


def test_a_wide_node_with_zero_gradient_still_turns_an_infinite_local_into_nan():
    # below a zero upstream gradient a node's parents get local * 0: exactly 0 for a finite
    # local (so the walk may skip the node), nan for an infinite one (0 * inf, as PyTorch)
    ws, xs = [Value(1.0), Value(2.0), Value(3.0)], [Value(INF), Value(1.0), Value(2.0)]
    (ts.dot(ws, xs) * 0.0).backward()
    assert math.isnan(ws[0].grad) and (ws[1].grad, ws[2].grad) == (0.0, 0.0)
    dead = [Value(-1.0), Value(2.0), Value(3.0)]
    out = ts.dot(dead, [Value(1.0), Value(0.5), Value(-1.0)]).relu() + dead[0]
    out.backward()  # relu at -2 is dead: only the direct + reaches dead[0]
    assert [w.grad for w in dead] == [1.0, 0.0, 0.0]
    assert math.copysign(1.0, dead[1].grad) == 1.0


def test_the_chain_rule_walks_past_leaves_in_its_order():
    x, c = Value(3.0), Value(2.0)
    out = ts.sum([x * c, (x * 2.0).relu(), ts.dot([x, c, x], [c, c, x])])
    order = topological_order(out)  # leaves included: they have no parents to visit
    assert any(node.is_leaf and node.parents == () == node.local_grads for node in order)
    for node in order:
        node.grad = 0.0
    out.grad = 1.0
    engine.backpropagate(order)
    # out = x*c + relu(2x) + (x*c + c*c + x*x) at x = 3, c = 2
    assert (x.grad, c.grad) == (2.0 + 2.0 + 2.0 + 2 * 3.0, 3.0 + 3.0 + 2 * 2.0)


def test_backward_accumulates_into_leaves_and_overwrites_interior_nodes():
    x = Value(3.0)
    h = x * x
    out = h * 2.0
    out.backward()
    assert (x.grad, h.grad, out.grad) == (12.0, 2.0, 1.0)
    out.backward()
    assert (x.grad, h.grad, out.grad) == (24.0, 2.0, 1.0)


def test_gradients_refuses_a_number_as_an_input():
    x = Value(1.0)
    with pytest.raises(TypeError, match=r"inputs\[1\] must be a Value, got float"):
        gradients(x * 2, [x, 3.0])


def test_numbers_too_large_for_a_float_are_refused_naming_their_size():
    with pytest.raises(ValueError, match="a number with 401 digits is too large for a float"):
        Value(10**400)
    with pytest.raises(ValueError, match="401 digits is too large for a float"):
        Value(2) + 10**400
    with pytest.raises(ValueError, match="401 digits"):
        10**400 * Value(2)
    with pytest.raises(ValueError, match="401 digits"):
        Value(2) ** 10**400


def test_a_rule_pickles_by_its_name_and_a_taken_name_is_refused():

    def define(forward):
        return Rule("double_or_id", forward, lambda o, out, x: (2.0,))

    first = define(lambda o, x: 2.0 * x)
    second = define(lambda o, x: 2.0 * x)  # a notebook cell run again: the latest wins
    node = pickle.loads(pickle.dumps(second(Value(1.5))))
    assert node.rule is second and node.data == 3.0
    with pytest.raises(pickle.PicklingError, match="name belongs to another rule"):
        pickle.dumps(first(Value(1.5)))
    shadow = Rule("softplus", lambda o, x: x, lambda o, out, x: (1.0,))  # a built-in's name
    with pytest.raises(pickle.PicklingError, match="'softplus'"):
        pickle.dumps(shadow(Value(1.0)))
    assert pickle.loads(pickle.dumps(Value(1.0).softplus())).rule is ts.rules.SOFTPLUS


def test_chain_term_is_the_one_statement_of_a_zero_local_adding_zero():
    from tinygrad_scalar.numpy_backend import arrays
    from tinygrad_scalar.rules import chain_term, floats

    assert chain_term(floats, 0.0, INF) == 0.0 and chain_term(floats, 0.0, math.nan) == 0.0
    assert chain_term(floats, 2.0, 3.0) == 6.0 and chain_term(floats, 2.0, INF) == INF
    got = chain_term(arrays, np.array([0.0, 2.0, -1.0]), np.array([math.nan, INF, 4.0]))
    assert got.tolist() == [0.0, INF, -4.0]
    # the engine's walk adds it: abs'(0) = 0 against an infinite upstream gradient
    x = Value(0.0)
    (abs(x) * INF).backward()
    assert x.grad == 0.0
