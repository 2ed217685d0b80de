"""engine.dots: a layer's weighted sums made together equal one dot per neuron."""

import math

import pytest

from tinygrad_scalar import Value, detect_anomaly, dot, no_grad, rules
from tinygrad_scalar.engine import apply, dots, gradients


def _layer(k, n, seed):
    import random

    rng = random.Random(seed)
    rows = [[Value(rng.uniform(-1, 1)) for _ in range(n)] for _ in range(k)]
    biases = [Value(rng.uniform(-1, 1)) for _ in range(k)]
    xs = [Value(rng.uniform(-2, 2)) for _ in range(n)]
    return rows, biases, xs


@pytest.mark.parametrize("with_bias", [True, False])
def test_dots_equal_one_dot_per_row_in_values_and_gradients(with_bias):
    rows, biases, xs = _layer(4, 5, seed=1)
    together = dots(rows, xs, biases if with_bias else None)
    one_by_one = [dot(ws, xs, b if with_bias else None) for ws, b in zip(rows, biases)]
    assert [v.data for v in together] == [v.data for v in one_by_one]
    assert all(v.op == "dot" and v.parents == u.parents for v, u in zip(together, one_by_one))
    inputs = [*xs, *(w for ws in rows for w in ws), *(biases if with_bias else [])]
    loss_a = sum(v * v for v in together)
    loss_b = sum(v * v for v in one_by_one)
    assert gradients(loss_a, inputs) == gradients(loss_b, inputs)


def test_dots_take_numbers_as_constants_and_refuse_other_things():
    rows = [[Value(1.0), Value(2.0)], [Value(3.0), Value(4.0)]]
    out = dots(rows, [1, 0.5], [0.5, 0.0])
    assert [v.data for v in out] == [2.5, 5.0]
    with pytest.raises(TypeError, match="dot: inputs must be numbers or Values, got str"):
        dots(rows, ["a", 1.0])
    with pytest.raises(ValueError, match="dot: 2 weights but 3 inputs"):
        dots(rows, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="dots: 2 rows of weights but 1 biases"):
        dots(rows, [1.0, 2.0], [0.0])


def test_dots_under_no_grad_are_leaves_and_keep_ieee_numbers():
    rows = [[Value(math.inf), Value(1.0)]]
    with no_grad():
        (out,) = dots(rows, [0.0, 2.0])
    assert out.parents == () and math.isnan(out.data)  # inf * 0 is nan, as in dot


def test_dots_take_numbers_among_weights_and_rows_without_a_bias():
    xs = [Value(1.0), Value(2.0)]
    with_number, plain = dots(
        [[Value(1.0), 3.0], [Value(0.5), Value(0.25)]], xs, [Value(1.0), None]
    )
    assert with_number.data == 8.0 and len(with_number.parents) == 5
    assert with_number.parents[1].is_leaf and with_number.parents[1].data == 3.0
    assert plain.data == 1.0 and plain.parents == (*plain.parents[:2], *xs)


def test_dots_refuse_an_activation_that_is_not_a_rule():
    with pytest.raises(TypeError, match=r"dots: activation must be a Rule .* got str"):
        dots([[Value(1.0)]], [Value(2.0)], activation="relu")


def test_dots_name_a_row_of_the_wrong_length():
    xs = [Value(1.0), Value(2.0)]
    with pytest.raises(ValueError, match="dot: 3 weights but 2 inputs"):
        dots([[Value(1.0), Value(1.0)], [Value(1.0)] * 3], xs)


def test_dots_under_detect_anomaly_report_an_overflow():
    with detect_anomaly(), pytest.raises(FloatingPointError, match=r"dot\(1e\+308"):
        dots([[Value(1e308), Value(1e308)]], [Value(10.0), Value(1.0)])


class _LooksLikeAValue:  # micrograd's Value, say: it has .data and .grad, but is not ours
    data, grad = 1.0, 0.0


@pytest.mark.parametrize("width", [2, 16])  # through the layer kernels
def test_dots_refuse_a_weight_that_only_looks_like_a_value(width):
    row = [Value(1.0)] * (width - 1) + [_LooksLikeAValue()]
    with pytest.raises(TypeError, match="dot: inputs must be numbers or Values, got _LooksLike"):
        dots([row], [Value(2.0)] * width, [Value(0.0)])


def test_dots_take_subclasses_of_value():
    class Param(Value):
        pass

    w, x = Param(3.0), Value(2.0)
    (out,) = dots([[w, w]], [x, x], [Param(1.0)], activation=None)
    assert out.data == 13.0 and out.parents[:2] == (w, w)
    out.backward()
    assert (w.grad, x.grad) == (4.0, 6.0)


def test_dots_take_rows_given_as_iterators():
    w1, w2, x1, x2, b = Value(2.0), Value(3.0), Value(5.0), Value(7.0), Value(1.0)
    (node,) = dots([iter([w1, w2])], [x1, x2], [b])
    assert node.parents == (w1, w2, x1, x2, b) and node.data == 32.0
    node.backward()
    assert (w1.grad, w2.grad, x1.grad, x2.grad, b.grad) == (5.0, 7.0, 2.0, 3.0, 1.0)


def test_a_weighted_sum_adds_left_to_right_on_every_path():
    # Python 3.12's sum() compensates rounding: 1e16 + 1 - 1e16 would be 1 there, and 0
    # added left to right; every path must give the same number
    ws, xs = [Value(1e16), Value(1.0), Value(-1e16)], [Value(1.0)] * 3
    expected = (0.0 + 1e16 + 1.0) - 1e16
    assert dot(ws, xs).data == expected
    assert apply(rules.DOT, (*ws, *xs)).data == expected
    with no_grad():
        assert dot(ws, xs).data == expected
    wide = [Value(1e16), Value(1.0), Value(-1e16)] * 30  # past the kernels' 64 inputs
    assert dot(wide, [Value(1.0)] * 90).data == sum_left_to_right([1e16, 1.0, -1e16] * 30)


def sum_left_to_right(numbers):
    total = 0.0
    for x in numbers:
        total += x
    return total


def test_an_activation_rule_that_returns_an_int_gives_float_nodes():
    step = rules.Rule("step_fn", lambda o, x: o.where(x > 0.0, 1, 0), lambda o, out, x: (0.0,))
    (node,) = dots([[Value(2.0)]], [Value(3.0)], [Value(1.0)], step)
    assert type(node.data) is float and node.data == 1.0
    assert float(node) == 1.0
