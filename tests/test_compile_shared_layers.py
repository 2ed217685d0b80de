"""A layer applied to several sets of inputs (a transformer's positions) runs as one
batched matrix product in the compiled step; it must give eager's numbers, values and
gradients, at ordinary and extreme inputs, with no bias, a leaf bias or a computed one."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from compiled_vs_eager import compiled_run, eager_run

import tinygrad_scalar as ts
from tinygrad_scalar import Value
from tinygrad_scalar.engine import max_shift

EXTREMES = [0.0, -0.0, 1.5, -2.0, 5e-324, -5e-324, 1e308, -1e308, math.inf, -math.inf, math.nan]


def same_float(a: float, b: float) -> bool:
    """Equal as IEEE numbers: nan matches nan, and 0.0 does not match -0.0."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def agrees(a: float, b: float) -> bool:
    """The same inf, nan or signed zero as eager; a finite number to rounding (where no sum
    can overflow the product runs in BLAS's order, as a layer of one set does)."""
    if math.isfinite(a) and math.isfinite(b) and a != 0.0 and b != 0.0:
        return math.isclose(a, b, rel_tol=1e-12)
    return same_float(a, b)


def shared_layer_model(bias_kind: str, seed: int):
    """(fn, params): the same 3 x 2 weights (and bias) on three pairs of inputs, each
    pair's outputs through relu, all added up."""
    rng = random.Random(seed)
    weights = [[Value(rng.uniform(-1, 1)) for _ in range(2)] for _ in range(3)]
    leaf_bias = [Value(rng.uniform(-1, 1)) for _ in range(3)]
    scale = Value(0.5)
    params = [w for row in weights for w in row] + leaf_bias + [scale]

    def fn(x):
        outputs = []
        for pair in (x[0:2], x[2:4], x[4:6]):
            if bias_kind == "none":
                layer = [ts.dot(row, pair) for row in weights]
            elif bias_kind == "leaf":
                layer = [ts.dot(row, pair, b) for row, b in zip(weights, leaf_bias)]
            else:  # a bias computed per sample: a row of the buffer
                layer = [ts.dot(row, pair, scale * pair[0]) for row in weights]
            outputs += [v.relu() for v in layer]
        return ts.sum(outputs)

    return fn, params


@pytest.mark.parametrize("bias_kind", ["none", "leaf", "row"])
def test_a_layer_on_several_sets_of_inputs_is_one_product_and_equals_eager(bias_kind):
    fn, params = shared_layer_model(bias_kind, seed=1)
    step = ts.compile(fn, params, ([1.0] * 6,))
    assert "on 3 sets of inputs" in step.describe()
    rng = random.Random(2)
    batches = [[[rng.uniform(-3, 3) for _ in range(6)] for _ in range(5)]]
    batches += [[[rng.choice(EXTREMES) for _ in range(6)] for _ in range(4)] for _ in range(40)]
    for batch in batches:
        loss, grads = compiled_run(step, params, batch)
        (eager_loss, results), eager_grads = eager_run(
            fn, params, (batch,), lambda row: [Value(v) for v in row]
        )
        assert agrees(loss, eager_loss), (batch, loss, eager_loss)
        for sample, result in zip(batch, results):  # a sample's loss, alone and in eager
            assert agrees(step.evaluate([sample]), result.data), sample
        # inf and nan where eager has them (a zero local adds exactly 0), else to rounding
        assert [agrees(a, b) for a, b in zip(grads, eager_grads)] == [True] * len(params), (
            batch,
            grads,
            eager_grads,
        )


@pytest.mark.parametrize("bias_kind", ["none", "leaf", "row"])
def test_the_torch_backend_runs_a_layer_on_several_sets_as_the_numpy_one(bias_kind):
    pytest.importorskip("torch")
    fn, params = shared_layer_model(bias_kind, seed=4)
    steps = {
        backend: ts.compile(fn, params, ([1.0] * 6,), backend=backend)
        for backend in ("numpy", "torch")
    }
    rng = random.Random(5)
    batches = [[[rng.uniform(-3, 3) for _ in range(6)] for _ in range(5)]]
    batches += [[[rng.choice(EXTREMES) for _ in range(6)] for _ in range(4)] for _ in range(20)]
    for batch in batches:
        numpy_loss, numpy_grads = compiled_run(steps["numpy"], params, batch)
        torch_loss, torch_grads = compiled_run(steps["torch"], params, batch)
        assert agrees(torch_loss, numpy_loss), batch
        assert [agrees(a, b) for a, b in zip(torch_grads, numpy_grads)] == [True] * len(params)


# --- sums, dots and max_shifts of different widths at one depth share a padded group ---------


SCALES = [Value(1.0 + i / 8) for i in range(6)]


def mixed_widths(x):
    """Sums, per-sample dots and max_shifts of 1 to 6 inputs, all at one depth (attention
    makes these: one more key per position), each an output."""
    x = [s * v for s, v in zip(SCALES, x)]
    sums = [ts.sum(x[:k]) for k in range(1, 7)]
    dots = [ts.dot(x[:k], x[6 - k :]) for k in range(1, 6)]
    dots_with_bias = [ts.dot(x[:k], x[:k], x[5]) for k in range(1, 4)]
    shifts = [max_shift(x[:k]) for k in range(1, 7)]
    outputs = [*sums, *dots, *dots_with_bias, *shifts]
    return ts.sum([v * v for v in outputs]), outputs


def test_sums_dots_and_max_shifts_of_different_widths_share_a_group_and_equal_eager():
    step = ts.compile(mixed_widths, SCALES, ([1.0] * 6,))
    plan = step.describe()
    assert "sum x6 of 6" in plan and "dot x5 of 5" in plan and "max_shift x6" in plan, plan
    assert "dot x3 of 3" in plan, plan  # with a bias: a group of their own
    rng = random.Random(7)
    batches = [[[rng.uniform(-3, 3) for _ in range(6)] for _ in range(4)]]
    batches += [[[rng.choice(EXTREMES) for _ in range(6)] for _ in range(5)] for _ in range(60)]
    for batch in batches:
        _, outputs = step.evaluate(batch, return_outputs=True)
        for row, got in zip(batch, outputs.tolist()):
            _, eager = mixed_widths([Value(v) for v in row])
            # left to right as eager, so bit for bit: the padding changes nothing
            assert [same_float(a, b.data) for a, b in zip(got, eager)] == [True] * len(got), row
        _, grads = compiled_run(step, SCALES, batch)
        _, eager_grads = eager_run(mixed_widths, SCALES, (batch,), lambda r: [Value(v) for v in r])
        assert [agrees(a, b) for a, b in zip(grads, eager_grads)] == [True] * 6, batch


@pytest.mark.parametrize(
    "shape, axis",
    [
        ((96, 6, 3), 1),
        ((6, 27, 3), 1),
        ((1, 40, 2), 1),
        ((3, 2, 50), 2),
        ((16, 9, 5), 0),
        ((27, 6, 16), 0),
        ((3, 4, 2), 0),
        ((400, 6), 1),
        ((200, 3), -1),
    ],
)
def test_left_to_right_adds_in_order_whichever_way_it_runs(shape, axis):
    # a loop for a few long terms, add.accumulate for many short ones: both are eager's order
    from tinygrad_scalar.compiler.groups import left_to_right

    rng = np.random.default_rng(3)
    terms = rng.choice(np.array([*EXTREMES, 3.5, -7.25, 1e-300]), size=shape)[..., ::-1]
    with np.errstate(all="ignore"):  # inf - inf is nan here, as in eager, without a warning
        got = left_to_right(terms, axis=axis)
    moved = np.moveaxis(terms, axis, -1)
    expected = np.empty(moved.shape[:-1])
    for index in np.ndindex(expected.shape):
        total = 0.0
        for x in moved[index].tolist():
            total = total + x
        expected[index] = total
    pairs = zip(got.ravel().tolist(), expected.ravel().tolist())
    assert all(same_float(a, b) for a, b in pairs)
