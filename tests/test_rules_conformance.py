"""Every rule of rules.py gives the same numbers on every backend.

A rule is written once, against a backend `o`, and runs on three: plain floats (the eager
forward pass), Values (the generated Value methods, and `create_graph`) and NumPy arrays
(`compile`). This file evaluates each rule on each backend at ordinary inputs and at the
edges of IEEE 754 (+-0, +-inf, nan, subnormals, +-1e308, exp's overflow and underflow
thresholds, each op's kink) and checks that the value, the sign of a zero and the local
derivatives agree.

How close is "agree":

* The float and Value backends call the same Python functions, so they must agree bit for
  bit, for every rule.
* The NumPy backend agrees bit for bit on arithmetic (+ - * /, comparisons, where,
  maximum, sqrt, which IEEE requires to be correctly rounded). For the transcendental
  functions (exp, log, log1p, tanh, sin, cos, sigmoid, softplus, pow) NumPy may use its
  own SIMD implementations instead of the C library's. Each is within 2 ulp of the true
  value, so the two can differ by up to 4 ulp: on this machine glibc's tanh is up to 2 ulp
  off and NumPy's up to 1, and they differ by 3 ulp at some inputs near 0.5. We allow
  TRANSCENDENTAL_ULPS = 4 for those rules; zeros, infinities and nan must still match
  exactly.
* A derivative is computed from the op's output (tanh' = 1 - out**2); where out has 1 ulp
  of libm noise, 1 - out**2 near out = 1 can lose many more. So the NumPy backend's
  derivatives are computed from the float backend's output, which isolates the rule's
  derivative function from the forward's rounding (compiled vs eager at the end-to-end
  level is tests/test_compile_extremes.py).
"""

from __future__ import annotations

import itertools
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_scalar import Value, _generated, codegen, engine, rules
from tinygrad_scalar.compiler import arrays
from tinygrad_scalar.rules import floats

INF, NAN = math.inf, math.nan
TRANSCENDENTAL_ULPS = 4
EXP_OF_MINUS_100 = math.exp(-100.0)  # where CLAMPED_LOG's floor of -100 starts to bite

# Inputs at the edges of float64 and at the kinks and poles of the table's ops.
SPECIALS = [
    0.0, -0.0, INF, -INF, NAN,
    5e-324, -5e-324, 2.2e-308, -2.2e-308,  # subnormals
    1e308, -1e308,
    1.0, -1.0,  # log(1) = 0, log1p's pole at -1
    0.5, -0.5, 2.0, 3.0, -3.0, 0.3, -2.5,
    709.0, 710.0, -745.0, -746.0, 800.0, -800.0,  # exp's overflow and underflow
    36.0, -36.0, 1e-20, -1e-20,  # sigmoid's saturation; tiny inputs
    EXP_OF_MINUS_100, 1e-300,  # CLAMPED_LOG's floor
]  # fmt: skip
# A smaller set for two-input rules, whose cases are every pair.
PAIR_SPECIALS = [
    0.0, -0.0, INF, -INF, NAN, 5e-324, -2.2e-308, 1e308, -1e308,
    1.0, -1.0, 0.5, -0.5, 2.0, 3.0, -2.5, 800.0, -800.0,
]  # fmt: skip

# The rules of rules.py by kind. The first test checks that this covers the whole table,
# so a new rule cannot be left out of this file.
BINARY_RULES = {
    "+": rules.ADD,
    "-": rules.SUB,
    "*": rules.MUL,
    "/": rules.DIV,
    "**": rules.POW,
    "maximum": rules.MAXIMUM,
    "minimum": rules.MINIMUM,
}
UNARY_RULES = {
    "neg": rules.NEG,
    "id": rules.IDENTITY,
    "stop_gradient": rules.STOP_GRADIENT,
    "exp": rules.EXP,
    "log": rules.LOG,
    "log1p": rules.LOG1P,
    "sqrt": rules.SQRT,
    "tanh": rules.TANH,
    "sigmoid": rules.SIGMOID,
    "sin": rules.SIN,
    "cos": rules.COS,
    "relu": rules.RELU,
    "abs": rules.ABS,
    "softplus": rules.SOFTPLUS,
    "half_square": rules.HALF_SQUARE,
}
POWER_EXPONENTS = [0.0, 0.5, -0.5, 2.0, 3.0, -1.0, 1 / 3, 1.0, -2.0, 2.5]
LEAKY_SLOPES = [0.01, 0.2, 0.0]
BOUND_RULES = {  # families with their parameter: name shown in test ids -> rule
    **{f"**{c:g}": rules.POWER_BY.with_arg(c) for c in POWER_EXPONENTS},
    **{f"leaky_relu({s:g})": rules.LEAKY_RELU.with_arg(s) for s in LEAKY_SLOPES},
    "clamped_log(-100)": rules.CLAMPED_LOG.with_arg(-100.0),
}
NARY_RULES = {
    "sum": rules.SUM,
    "dot": rules.DOT,
    "max_shift": rules.MAX_SHIFT,
    "take": rules.TAKE,
}
ALL_SINGLE = {**UNARY_RULES, **BOUND_RULES}

# rules whose NumPy value may differ from the C library's by a few ulp (module docstring)
TRANSCENDENTAL = {"exp", "log", "log1p", "tanh", "sin", "cos", "sigmoid", "softplus", "**"}


def ulps_allowed(rule: rules.Rule) -> int:
    # a bound rule is named after its parameter ("**2"); POW's "**" is transcendental too
    if rule.name in TRANSCENDENTAL or rule.name.startswith("**") or rule.name == "clamped_log":
        return TRANSCENDENTAL_ULPS
    return 0


# --- comparing floats -------------------------------------------------------------------------


def _ordinal(x: float) -> int:
    """x's position among the float64s, so that neighbours differ by 1."""
    bits = struct.unpack("<q", struct.pack("<d", x))[0]
    return bits if bits >= 0 else -(bits & 0x7FFF_FFFF_FFFF_FFFF)


def same_number(got: float, expected: float, ulps: int = 0) -> bool:
    """Equal as IEEE numbers: nan matches nan, a zero only a zero of the same sign, an
    infinity only itself; a finite nonzero number within `ulps` units in the last place."""
    got, expected = float(got), float(expected)
    if expected != expected or got != got:
        return expected != expected and got != got
    if expected == 0.0 or got == 0.0 or math.isinf(expected) or math.isinf(got):
        return got == expected and math.copysign(1.0, got) == math.copysign(1.0, expected)
    return abs(_ordinal(got) - _ordinal(expected)) <= ulps


def assert_same(got, expected, ulps, what):
    assert same_number(got, expected, ulps), f"{what}: got {got!r}, float backend {expected!r}"


# --- the float backend: the reference ---------------------------------------------------------


def on_floats(rule: rules.Rule, inputs: tuple) -> tuple[float, tuple]:
    out = rule.evaluate(floats, inputs)
    return out, rule.local_derivatives(floats, out, inputs)


def unary_cases():
    return [(x,) for x in SPECIALS]


def binary_cases():
    return list(itertools.product(PAIR_SPECIALS, repeat=2))


def nary_cases(rule_name: str):
    """Argument lists for an n-ary rule: lengths 1 to 4 (dot: pairs, with and without bias)."""
    picks = [0.0, -0.0, INF, -INF, NAN, 1e308, -1e308, 5e-324, 2.0, -3.0, 800.0]
    cases = []
    for n in (1, 2, 3, 4):
        for start in range(len(picks)):
            cases.append(tuple(picks[(start + k * 3) % len(picks)] for k in range(n)))
    if rule_name == "dot":  # an even count is weights and inputs; odd adds a bias
        cases = [c for c in cases if len(c) >= 2]
    if rule_name == "take":  # the elements, then a whole-number index among them
        cases = [(*c, float(i)) for c in cases for i in range(len(c))]
    return cases


# --- the table is covered ---------------------------------------------------------------------


def test_every_rule_of_the_table_is_tested_here():
    built_in = {r.name for r in rules.RULES.values() if r.forward.__module__ == rules.__name__}
    tested = {*BINARY_RULES, *UNARY_RULES, *NARY_RULES, "**c", "leaky_relu", "clamped_log"}
    assert built_in == tested


def test_every_generated_method_is_mapped_to_a_rule_of_the_table():
    for method, (rule, _) in codegen.BINARY.items():
        assert rule in BINARY_RULES.values(), method
    for method, rule in codegen.UNARY.items():
        assert rule in UNARY_RULES.values(), method
        assert getattr(Value, method) is getattr(_generated, method)  # the committed code


# --- float backend == calling the rule on Values == the generated methods ---------------------


def check_value_backends(rule: rules.Rule, inputs: tuple) -> None:
    """Calling the rule on Values, and the create_graph backend, give the float numbers bit
    for bit."""
    out, derivatives = on_floats(rule, inputs)
    leaves = [Value(x) for x in inputs]
    node = rule(leaves) if rule.nary else rule(*leaves)
    what = f"{rule.name}{inputs}"
    assert node.rule is rule and node.parents == tuple(leaves)
    assert_same(node.data, out, 0, f"{what} value")
    assert len(node.local_grads) == len(derivatives)
    for i, (got, expected) in enumerate(zip(node.local_grads, derivatives)):
        assert_same(got, expected, 0, f"{what} d/d input {i}")
    # calling the rule on floats gives a float
    plain = rule(list(inputs)) if rule.nary else rule(*inputs)
    assert type(plain) is float
    assert_same(plain, out, 0, f"{what} on floats")
    # the Value backend of create_graph: a graph whose numbers are the float derivatives
    on_values = rule.evaluate(engine.value_ops, node.parents)
    assert_same(engine.data_of(on_values), out, 0, f"{what} forward on the Value backend")
    graph_derivatives = rule.local_derivatives(engine.value_ops, node, node.parents)
    for i, (got, expected) in enumerate(zip(graph_derivatives, derivatives)):
        assert_same(engine.data_of(got), expected, 0, f"{what} create_graph d/d input {i}")


def check_generated_method(method: str, inputs: tuple) -> None:
    """A generated Value method (x * y, x.exp(), 2 ** x, ...) equals its rule, bit for bit."""
    if method in codegen.BINARY:
        rule, reflected = codegen.BINARY[method]
        a, b = inputs
        if method == "_pow_values":  # what x ** y runs when y is a Value
            calls = [(Value(a).__pow__, Value(b))]
        elif reflected:  # b.__radd__(a) is a + b: the Value is the right operand
            calls = [(getattr(Value(b), method), a), (getattr(Value(b), method), Value(a))]
        else:
            calls = [(getattr(Value(a), method), b), (getattr(Value(a), method), Value(b))]
        nodes = [bound(other) for bound, other in calls]
    else:
        rule = codegen.UNARY[method]
        nodes = [getattr(Value(inputs[0]), method)()]
    out, derivatives = on_floats(rule, inputs)
    for node in nodes:
        what = f"Value.{method}{inputs}"
        assert node.rule is rule
        assert_same(node.data, out, 0, f"{what} value")
        for i, (got, expected) in enumerate(zip(node.local_grads, derivatives, strict=True)):
            assert_same(got, expected, 0, f"{what} d/d input {i}")


def check_power_method(x: float, c: float) -> None:
    """x ** c with a number c is POWER_BY.with_arg(c)."""
    node = Value(x) ** c
    rule = rules.POWER_BY.with_arg(c)
    out, (derivative,) = on_floats(rule, (x,))
    assert node.rule.forward is rules.POWER_BY.forward and same_number(node.rule.arg, c)
    assert node.op == f"**{c:g}"
    assert_same(node.data, out, 0, f"Value({x!r}) ** {c!r}")
    assert_same(node.local_grads[0], derivative, 0, f"d/dx Value({x!r}) ** {c!r}")


@pytest.mark.parametrize("name", list(BINARY_RULES))
def test_binary_rules_on_values_equal_floats(name):
    for inputs in binary_cases():
        check_value_backends(BINARY_RULES[name], inputs)


@pytest.mark.parametrize("name", list(ALL_SINGLE))
def test_unary_rules_on_values_equal_floats(name):
    for inputs in unary_cases():
        check_value_backends(ALL_SINGLE[name], inputs)


@pytest.mark.parametrize("name", list(NARY_RULES))
def test_nary_rules_on_values_equal_floats(name):
    for inputs in nary_cases(name):
        check_value_backends(NARY_RULES[name], inputs)


@pytest.mark.parametrize("method", list(codegen.BINARY))
def test_generated_binary_methods_equal_their_rule(method):
    for inputs in binary_cases():
        check_generated_method(method, inputs)


@pytest.mark.parametrize("method", list(codegen.UNARY))
def test_generated_unary_methods_equal_their_rule(method):
    for inputs in unary_cases():
        check_generated_method(method, inputs)


@pytest.mark.parametrize("c", POWER_EXPONENTS)
def test_generated_power_by_a_number_equals_power_by(c):
    for (x,) in unary_cases():
        check_power_method(x, c)


@pytest.mark.parametrize("slope", LEAKY_SLOPES)
def test_leaky_relu_method_equals_its_rule(slope):
    rule = rules.LEAKY_RELU.with_arg(slope)
    for (x,) in unary_cases():
        node = Value(x).leaky_relu(slope)
        out, (derivative,) = on_floats(rule, (x,))
        assert node.rule is rule
        assert_same(node.data, out, 0, f"leaky_relu({x!r})")
        assert_same(node.local_grads[0], derivative, 0, f"leaky_relu'({x!r})")


def test_a_parameter_of_minus_zero_is_not_taken_for_zero():
    # with_arg caches bound rules by parameter, and -0.0 == 0.0 as a dict key: the slope
    # -0.0 used to get the rule of slope 0.0 (leaky_relu(-3) gave -0.0 instead of +0.0)
    for first, second in ((0.0, -0.0), (-0.0, 0.0)):
        for family in (rules.LEAKY_RELU, rules.CLAMPED_LOG, rules.POWER_BY):
            family.with_arg(first)
            assert math.copysign(1.0, family.with_arg(second).arg) == math.copysign(1.0, second)
        got = Value(-3.0).leaky_relu(second).data
        assert same_number(got, second * -3.0), got
        assert same_number(rules.CLAMPED_LOG.with_arg(second)(0.5), second)


def test_builtin_abs_of_a_value_is_the_abs_rule():
    for (x,) in unary_cases():
        node = abs(Value(x))
        out, (derivative,) = on_floats(rules.ABS, (x,))
        assert node.rule is rules.ABS
        assert_same(node.data, out, 0, f"abs({x!r})")
        assert_same(node.local_grads[0], derivative, 0, f"abs'({x!r})")


# --- the NumPy backend ------------------------------------------------------------------------


def check_numpy_backend(rule: rules.Rule, cases: list[tuple]) -> None:
    """All cases at once, one column per case, as compile runs them."""
    columns = [np.array(column, dtype=np.float64) for column in zip(*cases)]
    ulps = ulps_allowed(rule)
    expected = [on_floats(rule, inputs) for inputs in cases]
    float_outs = np.array([out for out, _ in expected], dtype=np.float64)
    with np.errstate(all="ignore"):
        outs = np.broadcast_to(rule.evaluate(arrays, columns), float_outs.shape)
        # from the float backend's output: see the module docstring
        derivatives = rule.local_derivatives(arrays, float_outs, columns)
    for j, inputs in enumerate(cases):
        what = f"{rule.name}{inputs} on arrays"
        out, float_derivatives = expected[j]
        assert_same(outs[j], out, ulps, f"{what} value")
        assert len(derivatives) == len(float_derivatives)
        for i, (column, want) in enumerate(zip(derivatives, float_derivatives)):
            got = np.broadcast_to(column, float_outs.shape)[j]
            assert_same(got, want, ulps, f"{what} d/d input {i}")


@pytest.mark.parametrize("name", list(BINARY_RULES))
def test_binary_rules_on_arrays_equal_floats(name):
    check_numpy_backend(BINARY_RULES[name], binary_cases())


@pytest.mark.parametrize("name", list(ALL_SINGLE))
def test_unary_rules_on_arrays_equal_floats(name):
    check_numpy_backend(ALL_SINGLE[name], unary_cases())


@pytest.mark.parametrize("name", list(NARY_RULES))
def test_nary_rules_on_arrays_equal_floats(name):
    by_length: dict[int, list] = {}
    for inputs in nary_cases(name):
        by_length.setdefault(len(inputs), []).append(inputs)
    for cases in by_length.values():
        check_numpy_backend(NARY_RULES[name], cases)


def test_numpy_sqrt_fast_path_at_minus_inf_and_minus_zero_matches_pow():
    # NumPy computes x ** 0.5 as sqrt(x): nan at -inf and -0 at -0, where C's pow gives
    # inf and +0 (issue 9: `(q*x)**0.5` at -inf was nan compiled, inf eager)
    rule = rules.POWER_BY.with_arg(0.5)
    with np.errstate(all="ignore"):
        got = rule.evaluate(arrays, [np.array([-INF, -0.0, 4.0])])
    assert got[0] == INF
    assert got[1] == 0.0 and math.copysign(1.0, got[1]) == 1.0
    assert got[2] == 2.0


# --- property tests: any float, with the special values drawn often ---------------------------

any_float = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(SPECIALS),
    st.floats(-40.0, 40.0),
)


def check_all_backends(rule: rules.Rule, inputs: tuple) -> None:
    check_value_backends(rule, inputs)
    check_numpy_backend(rule, [inputs])


@pytest.mark.parametrize("name", list(ALL_SINGLE))
@settings(max_examples=150, deadline=None)
@given(x=any_float)
def test_unary_rules_agree_on_every_backend_at_any_float(name, x):
    check_all_backends(ALL_SINGLE[name], (x,))


@pytest.mark.parametrize("name", list(BINARY_RULES))
@settings(max_examples=150, deadline=None)
@given(a=any_float, b=any_float)
def test_binary_rules_agree_on_every_backend_at_any_floats(name, a, b):
    check_all_backends(BINARY_RULES[name], (a, b))


@pytest.mark.parametrize("method", [*codegen.BINARY, *codegen.UNARY])
@settings(max_examples=100, deadline=None)
@given(a=any_float, b=any_float)
def test_generated_methods_equal_their_rule_at_any_floats(method, a, b):
    check_generated_method(method, (a, b) if method in codegen.BINARY else (a,))


@settings(max_examples=200, deadline=None)
@given(x=any_float, c=st.one_of(st.sampled_from(POWER_EXPONENTS), any_float))
def test_power_by_any_constant_agrees_on_every_backend(x, c):
    check_power_method(x, c)
    check_all_backends(rules.POWER_BY.with_arg(c), (x,))


@pytest.mark.parametrize("name", list(NARY_RULES))
@settings(max_examples=100, deadline=None)
@given(xs=st.lists(any_float, min_size=2, max_size=6))
def test_nary_rules_agree_on_every_backend_at_any_floats(name, xs):
    if name == "take":  # the last input is the index: a whole number among the others
        xs = [*xs[:-1], float((len(xs) - 1) // 2)]
    check_all_backends(NARY_RULES[name], tuple(xs))


# --- engine.dots's unrolled layer kernels == DOT's rule ----------------------------------------


def check_layer(rows: list, xs: list, biases: list | None, activation=None) -> None:
    """engine.dots makes, for each row, DOT's numbers on floats bit for bit, the nodes
    being the row's weights, then the inputs, then the bias; then the activation's."""
    inputs = [Value(x) for x in xs]
    weights = [[Value(w) for w in row] for row in rows]
    bias_nodes = None if biases is None else [Value(b) for b in biases]
    nodes = engine.dots(weights, inputs, bias_nodes, activation)
    if activation is not None:
        for i, node in enumerate(nodes):
            (total,) = node.parents
            out, derivatives = on_floats(activation, (total.data,))
            assert node.rule is activation
            assert_same(node.data, out, 0, f"row {i}: {activation.name}")
            assert_same(node.local_grads[0], derivatives[0], 0, f"row {i}: {activation.name}'")
        nodes = [node.parents[0] for node in nodes]
    for i, (row, node) in enumerate(zip(rows, nodes, strict=True)):
        bias = () if biases is None else (biases[i],)
        out, derivatives = on_floats(rules.DOT, (*row, *xs, *bias))
        what = f"row {i} of a layer of width {len(xs)}"
        parents = (*weights[i], *inputs, *(() if bias_nodes is None else (bias_nodes[i],)))
        assert node.rule is rules.DOT and node.parents == parents, what
        assert_same(node.data, out, 0, f"{what}: value")
        for j, (got, expected) in enumerate(zip(node.local_grads, derivatives, strict=True)):
            assert_same(got, expected, 0, f"{what}: d/d input {j}")


@pytest.mark.parametrize("width", [1, 2, 3, 16, 64, 65])  # 65: past the kernels
@pytest.mark.parametrize("with_bias", [True, False])
def test_layer_kernels_equal_the_dot_rule_at_the_specials(width, with_bias):
    picks = [x for x in SPECIALS if abs(x) != 709.0]
    rows = [[picks[(r * 7 + k * 5) % len(picks)] for k in range(width)] for r in range(12)]
    xs = [picks[(3 * k + 1) % len(picks)] for k in range(width)]
    biases = [picks[(r * 11) % len(picks)] for r in range(12)] if with_bias else None
    check_layer(rows, xs, biases)
    has_kernel = (width, with_bias, None) in codegen.layer_kernels
    assert has_kernel == (width <= codegen.MAX_KERNEL_WIDTH)


@settings(max_examples=150, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 4), st.integers(1, 6)),
    numbers=st.lists(any_float, min_size=40, max_size=40),
    with_bias=st.booleans(),
)
def test_layer_kernels_equal_the_dot_rule_at_any_floats(shape, numbers, with_bias):
    k, n = shape
    draw = iter(numbers * 2)
    rows = [[next(draw) for _ in range(n)] for _ in range(k)]
    xs = [next(draw) for _ in range(n)]
    check_layer(rows, xs, [next(draw) for _ in range(k)] if with_bias else None)


SOFTPLUS_BY_USER = rules.Rule(
    "softplus_by_a_user",
    lambda o, x: o.log(1.0 + o.exp(x)),
    lambda o, out, x: (o.exp(x) / (1.0 + o.exp(x)),),
)
ACTIVATIONS = {
    "relu": rules.RELU,
    "tanh": rules.TANH,
    "sigmoid": rules.SIGMOID,
    "leaky_relu": rules.LEAKY_RELU.with_arg(0.01),  # has a parameter: the general path
    "user's softplus": SOFTPLUS_BY_USER,
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("width", [2, 16, 65])
def test_layer_kernels_with_an_activation_equal_its_rule(name, width):
    picks = [x for x in SPECIALS if abs(x) != 709.0]
    rows = [[picks[(r * 7 + k * 5) % len(picks)] for k in range(width)] for r in range(12)]
    xs = [picks[(3 * k + 1) % len(picks)] % 5.0 for k in range(width)]  # keep some finite
    biases = [picks[(r * 11) % len(picks)] for r in range(12)]
    check_layer(rows, xs, biases, ACTIVATIONS[name])
    check_layer([[0.5] * width, [-0.25] * width], [1.0] * width, None, ACTIVATIONS[name])


def test_a_user_activation_is_never_written_into_a_kernel():
    math_by_hand = rules.Rule(
        "exp_through_math", lambda o, x: math.exp(min(x, 700.0)), lambda o, out, x: (out,)
    )
    branching = rules.Rule(
        "relu_with_an_if", lambda o, x: x if x > 0.0 else 0.0 * x, lambda o, out, x: (1.0,)
    )
    for rule in (math_by_hand, branching):
        check_layer([[0.5, 1.0], [-0.5, -1.0]], [1.0, 2.0], [0.25, 0.0], rule)
        assert codegen.layer_kernel(2, True, rule) is None
        assert (2, True, rule) not in codegen.layer_kernels
    assert codegen.layer_kernel(2, True, SOFTPLUS_BY_USER) is None  # even one it could write
