"""The compiled step's fast paths give the numbers of their plain versions, to the bit.

groups.py takes shortcuts where they provably change no number: a per-sample dot adds its
gradients term after term where that adds each row's contributions in the same order as node
after node; a max_shift of many inputs finds their maximum in one reduce, except where a tie
of zeros or a nan makes the order matter. Each test runs a graph both ways (the shortcut
switched off on a second step) at ordinary and extreme numbers, where a different order of
additions would show (1e308 + 1e308 - 1e308 is inf one way and 1e308 the other).
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from compiled_vs_eager import compiled_run, eager_run

import tinygrad_scalar as ts
from tinygrad_scalar import Value, rules
from tinygrad_scalar.compiler.groups import DotGroup, ElementwiseGroup, SumGroup
from tinygrad_scalar.engine import max_shift

# products of two of these reach 1e308 and overflow when added up in one order but not another
EXTREMES = [1.5e154, -1.5e154, 1e154, -1e154, 1e308, -0.0, 0.0, 5e-324, math.inf, math.nan]
PARAMS = [Value(v) for v in (0.5, -1.5, 2.0, 0.75)]


def same_float(a: float, b: float) -> bool:
    """Equal as IEEE numbers: nan matches nan, and 0.0 does not match -0.0."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def shared_rows(x):
    """Per-sample dots of 1 to 3 terms that share their operands, as attention's do: q[0]
    is the first weight of every dot, q[1] the second of three; among the inputs, k[1] is
    term 1 of one dot and term 0 of another (term after term its contributions would come
    in another order than node after node)."""
    p0, p1, p2, p3 = PARAMS
    q = [p0 * x[0], p1 * x[1]]
    k = [p2 * x[2], p3 * x[3]]
    v = [p0 * x[4], p1 * x[5]]  # p3's gradient comes through k[1] alone
    dots = [
        ts.dot(q, k),
        ts.dot([q[0]], [k[1]]),
        ts.dot([q[0], q[1], v[0]], [v[1], k[0], v[0]]),
        ts.dot(q, [k[1], v[0]]),
    ]
    return ts.sum([d * w for d, w in zip(dots, [x[6], x[7], x[0], x[1]])]), dots


def steps_with_and_without_the_shortcut():
    fast = ts.compile(shared_rows, PARAMS, ([1.0] * 8,))
    plain = ts.compile(shared_rows, PARAMS, ([1.0] * 8,))
    dots = [g for g in plain._plan.groups if isinstance(g, DotGroup)]
    assert len(dots) == 1 and dots[0].k == 4 and dots[0].n == 3, plain.describe()
    # the fast step takes the term-major scatter for one operand and not the other
    fast_dot = next(g for g in fast._plan.groups if isinstance(g, DotGroup))
    assert [s is None for s in fast_dot._scatters].count(True) == 1
    assert fast_dot._scatters[0][1] is not None  # and leaves out the padding's products
    dots[0]._scatters = (None, None)  # node after node, as the positions list them
    dots[0]._runs = None  # every product, the padding's too (see _runs_of_terms)
    return fast, plain


@pytest.mark.parametrize("seed", range(4))
def test_a_dot_group_adds_shared_rows_gradients_in_node_order_at_extremes(seed):
    fast, plain = steps_with_and_without_the_shortcut()
    rng = random.Random(seed)
    for _ in range(100):
        # ordinary numbers too: three of them added in another order differ in the last bit
        numbers = [*EXTREMES, *(rng.uniform(-2, 2) for _ in range(40))]
        batch = [[rng.choice(numbers) for _ in range(8)] for _ in range(rng.randint(1, 2))]
        (loss, outputs), grads = compiled_run(fast, PARAMS, batch, return_outputs=True)
        (plain_loss, plain_outputs), plain_grads = compiled_run(
            plain, PARAMS, batch, return_outputs=True
        )
        assert same_float(loss, plain_loss)
        pairs = zip(
            [*outputs.ravel().tolist(), *grads], [*plain_outputs.ravel().tolist(), *plain_grads]
        )
        assert all(same_float(a, b) for a, b in pairs), batch


def test_a_dot_group_with_shared_rows_equals_eager():
    fast, _ = steps_with_and_without_the_shortcut()
    rng = np.random.default_rng(5)
    batch = rng.uniform(-2, 2, size=(6, 8)).tolist()
    (loss, _), grads = compiled_run(fast, PARAMS, batch, return_outputs=True)
    (eager_loss, _), eager_grads = eager_run(
        shared_rows, PARAMS, (batch,), lambda r: [Value(v) for v in r]
    )
    assert loss == pytest.approx(eager_loss, rel=1e-12)
    assert grads.tolist() == pytest.approx(eager_grads.tolist(), rel=1e-12)


# --- max_shift over many inputs --------------------------------------------------------------

SHIFTED = [0.0, -0.0, 1.0, -1.0, 2.5, math.inf, -math.inf, math.nan, 1e308, -5e-324]


def shifted_logits(x):
    """max_shift of 3, 6 and 12 inputs, returned as outputs."""
    shifts = [max_shift(x[:3]), max_shift(x[:6]), max_shift(x)]
    return ts.sum(shifts), shifts


@pytest.mark.parametrize("seed", range(3))
def test_max_shift_of_many_inputs_is_the_rules_fold_at_ties_of_zeros_and_at_nan(seed):
    fast = ts.compile(shifted_logits, [], ([1.0] * 12,))
    plain = ts.compile(shifted_logits, [], ([1.0] * 12,))
    shifts = [g for g in plain._plan.groups if getattr(g, "rule", None) is rules.MAX_SHIFT]
    assert len(shifts) == 2, plain.describe()  # 3 and 6 inputs share one (padded)
    for group in shifts:  # the rule's own fold, input after input
        group.forward = ElementwiseGroup.forward.__get__(group)
    rng = random.Random(seed)
    for _ in range(30):
        batch = [[rng.choice(SHIFTED) for _ in range(12)] for _ in range(rng.randint(1, 4))]
        _, got = fast.evaluate(batch, return_outputs=True)
        _, expected = plain.evaluate(batch, return_outputs=True)
        pairs = zip(got.ravel().tolist(), expected.ravel().tolist())
        assert all(same_float(a, b) for a, b in pairs), batch


# --- a dot over a block of rows ----------------------------------------------------------------


def squares(x):
    """An RMS norm's sum of squares: a dot of a block of rows (a group's output) with itself,
    for two blocks."""
    p0, p1, _, _ = PARAMS
    a, b = [p0 * v for v in x], [p1 * v for v in x]  # one block of rows: a's, then b's
    dots = [ts.dot(a[:3], a[:3]), ts.dot(a[3:], a[3:]), ts.dot(b[:3], b[3:])]
    return ts.sum([d * v for d, v in zip(dots, x)]), dots


def test_a_dot_over_blocks_of_rows_equals_eager_at_extremes():
    step = ts.compile(squares, PARAMS, ([1.0] * 6,))
    dot = next(g for g in step._plan.groups if isinstance(g, DotGroup))
    # the weights a block (read and added into through a view), the inputs not
    assert type(dot.weights.index) is slice and type(dot.inputs.index) is not slice
    rng = random.Random(11)
    for _ in range(40):
        numbers = [*EXTREMES, *(rng.uniform(-2, 2) for _ in range(10))]
        batch = [[rng.choice(numbers) for _ in range(6)] for _ in range(rng.randint(1, 3))]
        (_, outputs), grads = compiled_run(step, PARAMS, batch, return_outputs=True)
        (_, per_sample), eager_grads = eager_run(
            squares, PARAMS, (batch,), lambda r: [Value(v) for v in r]
        )
        eager_outputs = [[d.data for d in dots] for _, dots in per_sample]
        pairs = zip(outputs.ravel().tolist(), np.ravel(eager_outputs).tolist())
        assert all(same_float(a, b) for a, b in pairs), batch  # left to right: to the bit
        for got, expected in zip(grads.tolist(), eager_grads.tolist()):
            if expected == 0.0 or not math.isfinite(expected):
                assert same_float(got, expected), batch
            else:  # the samples' terms may be added in another order
                assert got == pytest.approx(expected, rel=1e-12), batch


# --- padded dots in runs (attention's weighted sums of values) --------------------------------


def causal(x):
    """Dots of 1, 2, 3 and 4 terms over the same weights and inputs, as attention's weighted
    sums of values (position t sums t + 1 of them), and sums of as many terms: padded to 4
    terms, and term after term the nodes that have the term are one run."""
    p0, p1, p2, p3 = PARAMS
    a = [p0 * x[0], p1 * x[1], p2 * x[2], p3 * x[3]]
    v = [p3 * x[4], p2 * x[5], p1 * x[6], p0 * x[7]]
    dots = [ts.dot(a[: t + 1], v[: t + 1]) for t in range(4)]
    sums = [ts.sum(v[: t + 1]) for t in range(4)]  # as softmax's sums of exponentials
    return ts.sum([d * w + s * d for d, w, s in zip(dots, x[4:], sums)]), dots + sums


def test_padded_dots_and_sums_in_runs_leave_out_the_padding_and_change_no_number():
    fast = ts.compile(causal, PARAMS, ([1.0] * 8,))
    plain = ts.compile(causal, PARAMS, ([1.0] * 8,))
    shortcuts = [g for g in fast._plan.groups if isinstance(g, (DotGroup, SumGroup))]
    assert [g._runs is not None for g in shortcuts].count(True) == 2, fast.describe()
    for group in plain._plan.groups:
        if isinstance(group, (DotGroup, SumGroup)):
            group._runs = None  # every term, the padding's too
    rng = random.Random(3)
    for _ in range(100):
        numbers = [*EXTREMES, *(rng.uniform(-2, 2) for _ in range(40))]
        batch = [[rng.choice(numbers) for _ in range(8)] for _ in range(rng.randint(1, 3))]
        (loss, outputs), grads = compiled_run(fast, PARAMS, batch, return_outputs=True)
        (plain_loss, plain_outputs), plain_grads = compiled_run(
            plain, PARAMS, batch, return_outputs=True
        )
        got = [loss, *outputs.ravel().tolist(), *grads]
        expected = [plain_loss, *plain_outputs.ravel().tolist(), *plain_grads]
        assert all(same_float(a, b) for a, b in zip(got, expected)), batch
    batch = np.random.default_rng(5).uniform(-2, 2, size=(5, 8)).tolist()
    (loss, _), grads = compiled_run(fast, PARAMS, batch, return_outputs=True)
    (eager_loss, _), eager_grads = eager_run(
        causal, PARAMS, (batch,), lambda r: [Value(v) for v in r]
    )
    assert loss == pytest.approx(eager_loss, rel=1e-12)
    assert grads.tolist() == pytest.approx(eager_grads.tolist(), rel=1e-12)


# --- the finiteness test of a gradient --------------------------------------------------------


def relu_scaled(x):
    """Gradients past 1e154 (finite, but their squares overflow) reaching relus that are 0
    and products with zeros: the masked path, where the plain one would do."""
    a, b, c, _ = PARAMS
    hidden = [(b * v).relu() for v in x[:4]]
    return ts.sum([h * a * v for h, v in zip(hidden, x[4:])]) + ts.dot(hidden, x[4:]) * c


def test_a_huge_finite_gradient_gives_the_numbers_of_an_exact_finiteness_test(monkeypatch):
    from tinygrad_scalar.compiler import groups

    step = ts.compile(relu_scaled, PARAMS, ([1.0] * 8,))
    rng = random.Random(9)
    numbers = [1e200, -1e200, 1e160, -3e170, 0.0, -0.0, 1.5, -2.0, 5e-324, math.inf, math.nan]
    batches = [[[rng.choice(numbers) for _ in range(8)] for _ in range(3)] for _ in range(60)]
    runs = [[compiled_run(step, PARAMS, batch) for batch in batches]]
    monkeypatch.setattr(groups, "all_finite", lambda grad: bool(np.isfinite(grad).all()))
    runs.append([compiled_run(step, PARAMS, batch) for batch in batches])
    for batch, (loss, grads), (exact_loss, exact_grads) in zip(batches, *runs):
        got, expected = [loss, *grads.tolist()], [exact_loss, *exact_grads.tolist()]
        assert all(same_float(a, b) for a, b in zip(got, expected)), batch


# --- a layer's overflow checks ----------------------------------------------------------------


LAYER = [Value(v) for v in (1.0, 1.5, 0.5, -2.0, 3e-160, 7e153, 2.0, -1.0, 1e-300)]


def layer_on_two_sets(x):
    """A 2 x 3 layer with a leaf bias, applied to two sets of inputs (two positions)."""
    w, b = LAYER[:6], LAYER[6:8]
    outs = [ts.dot(w[3 * i : 3 * i + 3], x[s : s + 3], b[i]) for s in (0, 3) for i in range(2)]
    return ts.sum([o * LAYER[8] for o in outs]), outs


def test_a_layers_overflow_checks_from_bounds_decide_as_from_the_exact_sizes(monkeypatch):
    """size_bound decides at once where no partial sum can overflow, else the exact sizes
    decide as before: the same numbers as with the exact sizes always, near 1e154 (where a
    square overflows), 1e-154 (where it underflows) and 2**1020 (where BLAS gives way to
    eager's order)."""
    from tinygrad_scalar.compiler import groups

    step = ts.compile(layer_on_two_sets, LAYER, ([1.0] * 6,))
    assert "on 2 sets" in step.describe()
    rng = random.Random(4)
    # (-1e308, 1.5e308) into the first neuron: -1e308 + 1.5 * 1.5e308 is inf left to right
    # (eager's order), but 1.25e308 from BLAS's fused multiply-add
    numbers = [-1e308, 1.5e308, 1e154, -2e154, 1e-155, 1e10, 3.0, 0.0, -0.0, 5e-324, math.inf]
    batches = [[[rng.choice(numbers) for _ in range(6)] for _ in range(2)] for _ in range(80)]
    batches.append([[-1e308, 1.5e308, 0.0, 1.0, 2.0, 3.0], [-1e308, 1.5e308, 1e154, 1.0, 0.0, 0.0]])
    runs = [[compiled_run(step, LAYER, b, return_outputs=True) for b in batches]]
    monkeypatch.setattr(groups, "size_bound", lambda array: math.inf)  # always the sizes
    runs.append([compiled_run(step, LAYER, b, return_outputs=True) for b in batches])
    for batch, ((loss, outs), grads), ((exact_loss, exact_outs), exact_grads) in zip(
        batches, *runs
    ):
        got = [loss, *outs.ravel().tolist(), *grads.tolist()]
        expected = [exact_loss, *exact_outs.ravel().tolist(), *exact_grads.tolist()]
        assert all(same_float(a, b) for a, b in zip(got, expected)), batch


def test_batch_sum_decides_from_its_bound_as_from_the_largest_number():
    from tinygrad_scalar.compiler.groups import batch_sum, largest

    rng = np.random.default_rng(8)
    values = np.array([1e308, -1e308, 1.5e154, 1e-160, 3.0, -0.0, 0.0, 5e-324, math.inf, math.nan])
    for _ in range(200):
        rows = rng.choice(values, size=(3, int(rng.integers(1, 20))))
        ordinary = rng.random(rows.shape) < 0.6  # mostly ordinary numbers, added in any order
        rows[ordinary] = rng.normal(size=rows.shape)[ordinary]
        with np.errstate(all="ignore"):
            got, expected = batch_sum(rows), batch_sum(rows, largest(rows))
        assert all(same_float(a, b) for a, b in zip(got.tolist(), expected.tolist())), rows


def sums_of_squares(x):
    """RMS norm's x . x for two vectors: weights and inputs the same rows."""
    p0, p1, _, _ = PARAMS
    a, b = [p0 * v for v in x[:3]], [p1 * v for v in x[3:]]
    dots = [ts.dot(a, a), ts.dot(b, b)]
    return ts.sum([d * v for d, v in zip(dots, x)]), dots


def test_a_dot_of_rows_with_themselves_adds_one_product_twice_as_two():
    fast = ts.compile(sums_of_squares, PARAMS, ([1.0] * 6,))
    plain = ts.compile(sums_of_squares, PARAMS, ([1.0] * 6,))
    assert next(g for g in fast._plan.groups if isinstance(g, DotGroup))._same_operands
    next(g for g in plain._plan.groups if isinstance(g, DotGroup))._same_operands = False
    rng = random.Random(12)
    for _ in range(60):
        numbers = [*EXTREMES, *(rng.uniform(-2, 2) for _ in range(20))]
        batch = [[rng.choice(numbers) for _ in range(6)] for _ in range(rng.randint(1, 3))]
        (loss, grads), (plain_loss, plain_grads) = (
            compiled_run(step, PARAMS, batch) for step in (fast, plain)
        )
        got, expected = [loss, *grads.tolist()], [plain_loss, *plain_grads.tolist()]
        assert all(same_float(a, b) for a, b in zip(got, expected)), batch
