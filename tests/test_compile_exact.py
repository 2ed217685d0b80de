"""compile never disagrees with eager where issue 17 found it did, one regression test each.

Sums, dots and a layer's matrix product: a zero local derivative adds exactly 0 against
an inf gradient, and where a partial sum can overflow the compiled step adds left to right
as eager does, so a sample's inf or nan is eager's whatever batch it is in. Also the
bias-only dot, and a bool among the floats of a batch.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from compiled_vs_eager import compiled_run, eager_run

import tinygrad_scalar as ts
from tinygrad_scalar import Value
from tinygrad_scalar.nn import Layer


def rows_as_values(row):
    return [Value(v) for v in row] if isinstance(row, (list, tuple, np.ndarray)) else Value(row)


def same_float(a: float, b: float) -> bool:
    """Equal as IEEE numbers: nan matches nan, and 0.0 does not match -0.0."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


# --- a zero local derivative adds exactly 0 ------------------------------------------------------


def test_zero_input_under_an_infinite_gradient_gives_a_zero_weight_gradient_in_a_dot():
    w = [Value(1.0), Value(0.0)]
    step = ts.compile(lambda x: ts.sqrt(ts.dot(w, x)), w, ([0.0, 1.0],))
    _, grads = compiled_run(step, w, [[0.0, 1.0]])
    assert grads.tolist() == [0.0, math.inf]  # eager's: d sqrt = inf at 0, times x = (0, 1)
    (_, _), eager_grads = eager_run(lambda x: ts.sqrt(ts.dot(w, x)), w, ([[0.0, 1.0]],),
                                    rows_as_values)  # fmt: skip
    assert eager_grads.tolist() == [0.0, math.inf]


def test_zero_weight_under_an_infinite_gradient_adds_nothing_to_the_inputs_gradient():
    # a layer (leaf weights: a matrix product) and a per-sample dot (weights from the input)
    w = [Value(0.0), Value(1.0)]
    scale = Value(1.0)

    def through_layer(x):
        return ts.sqrt(ts.dot(w, [scale * x[0], scale * x[1]]))

    def per_sample(x):
        return ts.sqrt(ts.dot([scale * x[0], scale * x[1]], [scale * x[0], w[1] * 0.0]))

    for fn in (through_layer, per_sample):
        params = [*w, scale]
        step = ts.compile(fn, params, ([1.0, 1.0],))
        _, grads = compiled_run(step, params, [[5.0, 0.0]])
        (_, _), eager_grads = eager_run(fn, params, ([[5.0, 0.0]],), rows_as_values)
        assert [same_float(a, b) for a, b in zip(grads, eager_grads)] == [True] * 3, (
            fn.__name__,
            grads,
            eager_grads,
        )


def test_dead_relu_units_under_an_infinite_loss_gradient_agree_with_eager():
    # the random MLPs: a dead relu unit's zero gradient times an infinite upstream
    layer = Layer(2, 3, activation="relu", seed=3)
    params = layer.parameters()

    def fn(x):
        return ts.sqrt(ts.sum(layer(x)))

    batch = [[-5.0, -5.0], [1e-320, 0.0], [0.0, 0.0]]
    step = ts.compile(fn, params, (batch[0],))
    _, grads = compiled_run(step, params, batch)
    (_, _), eager_grads = eager_run(fn, params, (batch,), rows_as_values)
    assert [same_float(a, b) for a, b in zip(grads, eager_grads)] == [True] * len(params)


# --- summation order -----------------------------------------------------------------------------


def test_an_overflowing_dot_is_inf_as_eager_whatever_the_batch_size():
    ws = [Value(v) for v in (1e308, 1e308, -1e308, -1e308)]
    step = ts.compile(lambda x: ts.dot(ws, x), ws, ([1.0] * 4,))
    eager = ts.dot(ws, [1.0] * 4).data
    assert eager == math.inf  # 1e308 + 1e308 overflows first, left to right
    assert step.evaluate([[1.0] * 4]) == math.inf
    assert step.evaluate([[1.0] * 4] * 3) == math.inf
    assert step.evaluate([[1.0] * 4] * 64) == math.inf


HUGE = [1e308, -1e308, 8e307, -8e307, 1.0, -1.0, 0.0, -0.0, 5e-324, math.inf, -math.inf]


def overflow_heavy(kind, weights, bias, scale):
    """w.x + b as a layer (leaf weights), a dot of per-sample values, or a sum of products."""
    if kind == "layer":
        return lambda x: ts.dot(weights, x, bias)
    if kind == "per-sample dot":
        return lambda x: ts.dot([scale * v for v in x], weights, scale * bias)
    return lambda x: ts.sum([w * v for w, v in zip(weights, x)] + [bias])


@pytest.mark.parametrize("kind", ["layer", "per-sample dot", "sum"])
def test_random_overflow_heavy_sums_equal_eager_bit_for_bit_in_any_batch(kind):
    """Each sample's output equals eager's to the bit (nan to nan, inf to the same inf) and
    so never depends on the batch. The issue found 270 of 2,609 such dots differing."""
    rng = random.Random(17)
    differing = 0
    for _ in range(150):
        n = rng.randint(1, 6)
        weights = [Value(rng.choice(HUGE[:-2])) for _ in range(n)]
        bias, scale = Value(rng.choice(HUGE[:-2])), Value(1.0)
        fn = overflow_heavy(kind, weights, bias, scale)
        step = ts.compile(lambda x, fn=fn: (fn(x), fn(x)), [*weights, bias, scale], ([1.0] * n,))
        batch = [[rng.choice(HUGE) for _ in range(n)] for _ in range(rng.randint(2, 5))]
        _, in_batch = step.evaluate(batch, return_outputs=True)
        for row, got in zip(batch, in_batch.tolist()):
            alone = step.evaluate([row])
            eager = fn([Value(v) for v in row]).data
            differing += not (same_float(got, eager) and same_float(alone, eager))
    assert differing == 0


# --- the bias-only dot and bools in a batch ------------------------------------------------------


def test_a_bias_only_dot_compiles_and_equals_eager():
    b = Value(2.0)
    step = ts.compile(lambda x: ts.dot([], [], b) * x, [b], (1.0,))
    loss, grads = compiled_run(step, [b], [3.0, -1.0])
    assert loss == 2.0  # (2 * 3 + 2 * -1) / 2
    assert grads.tolist() == [1.0]  # (3 + -1) / 2
    assert ts.compile(lambda x: ts.dot([], [], b) + x, [b], (1.0,)).evaluate([-2.0]) == 0.0


@pytest.mark.parametrize(
    "features, labels, where",
    [
        ([[True, 2.5]], [0.0], r"batch 0\[0, 0\] is not a number: True"),
        ([[1.0, 2.5], [0.5, False]], [0.0, 1.0], r"batch 0\[1, 1\] is not a number: False"),
        ([[1.0, 2.5]], [np.True_], r"batch 1\[0\] is not a number: (np\.)?True"),
        ([[1.0, 2.5], [1.0, 1.0]], [True, 2], r"batch 1\[0\] is not a number: True"),
    ],
)
def test_a_bool_among_the_numbers_of_a_batch_is_refused(features, labels, where):
    w = [Value(0.5), Value(-1.0)]
    step = ts.compile(lambda x, y: (ts.dot(w, x) - y) ** 2, w, ([1.0, 2.0], 0.0))
    with pytest.raises(ValueError, match=where):
        step(features, labels)
    assert [p.grad for p in w] == [0.0, 0.0]
