"""take(seq, i) and integer inputs of compile: each sample picks its own row.

Eagerly `take` is checked indexing. In a compiled step, an argument whose example is an
int is an integer input: `take` with it gathers per sample, and cross_entropy accepts it
as the class. The reference is always the eager engine run sample by sample on Python
ints, the losses averaged with `sum(...) * (1 / n)`. compile_by_shape traces one step per
shape of sample (for example one per document length) and keeps it.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from compiled_vs_eager import compiled_run, eager_run

import tinygrad_scalar as ts
from tinygrad_scalar import TracerError, Value, losses, take
from tinygrad_scalar.compiler import CompiledByShape, compile, compile_by_shape
from tinygrad_scalar.nn import linear

RTOL = 1e-12
VOCAB, DIM = 7, 4


def assert_close(actual, expected):
    """Equal to 1e-12 relative; entries that cancel to ~0 are compared on the array's scale."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = np.abs(expected).max() if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=1e-14 * scale)


def make_model(seed):
    """An embedding table (VOCAB rows of DIM) and an LM head (VOCAB x DIM), as Values."""
    rng = random.Random(seed)
    table = [[Value(rng.gauss(0.0, 1.0)) for _ in range(DIM)] for _ in range(VOCAB)]
    head = [[Value(rng.gauss(0.0, 1.0)) for _ in range(DIM)] for _ in range(VOCAB)]
    params = [p for rows in (table, head) for row in rows for p in row]
    return table, head, params


def next_token_loss(table, head):
    """Per sample: the rows of two context tokens, summed, then the LM head's logits and
    the cross-entropy of the integer label."""

    def fn(first, second, label):
        context = [a + b for a, b in zip(take(table, first), take(table, second))]
        logits = linear(context, head)
        return losses.cross_entropy([logits], [label]), logits

    return fn


def eager_mean_and_grads(fn, params, *batches):
    (mean, _), grads = eager_run(fn, params, batches, int)
    return mean, grads


compiled_mean_and_grads = compiled_run


# --- take, eagerly ------------------------------------------------------------------------


def test_take_returns_the_element_or_the_row_itself():
    xs = [Value(1.0), Value(2.0), Value(3.0)]
    rows = [[Value(1.0), Value(2.0)], [Value(3.0), Value(4.0)]]
    assert take(xs, 2) is xs[2]
    assert take(rows, 1) is rows[1]
    assert take((10.0, 20.0), np.int64(1)) == 20.0  # any integer type, any sequence
    loss = take(xs, 0) * 3.0
    loss.backward()
    assert [x.grad for x in xs] == [3.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("index", "error", "message"),
    [
        (True, TypeError, r"take: index must be an int, got bool"),
        (1.0, TypeError, r"take: index must be an int, got float"),
        ("1", TypeError, r"take: index must be an int, got str"),
        (-1, IndexError, r"take: index -1 is out of range for 3 rows"),
        (3, IndexError, r"take: index 3 is out of range for 3 rows"),
        (Value(1.0), TypeError, r"take: index must be an int, or an integer input of compile"),
    ],
)
def test_take_refuses_what_is_not_an_index_in_range(index, error, message):
    with pytest.raises(error, match=message):
        take([Value(1.0), Value(2.0), Value(3.0)], index)


# --- take and integer labels, compiled ------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_compiled_take_and_integer_labels_match_eager(seed):
    table, head, params = make_model(seed)
    fn = next_token_loss(table, head)
    rng = np.random.default_rng(seed)
    step = compile(fn, params, (1, 2, 3))
    for batch_size in (1, 5, 32):
        batches = [rng.integers(0, VOCAB, size=batch_size) for _ in range(3)]
        mean, grads = compiled_mean_and_grads(step, params, *batches)
        expected_mean, expected_grads = eager_mean_and_grads(fn, params, *batches)
        assert_close(mean, expected_mean)
        assert_close(grads, expected_grads)


def test_compiled_take_gradients_equal_eager_where_they_overflow():
    # a gathered row scaled past float range: inf and nan gradients for some rows, exactly
    # as the eager engine gives them (all of a take's inputs are added in one scatter)
    table = [[Value(a), Value(b)] for a, b in [(1.0, -2.0), (1e200, 3.0), (0.5, -1e300)]]
    params = [p for row in table for p in row]

    def fn(i, scale):
        a, b = take(table, i)
        return (a * scale) ** 2 + b * scale * 1e10

    step = compile(fn, params, (0, 1.0))
    batches = (np.array([0, 1, 2, 1, 0]), np.array([1.0, 1e200, 2.0, -1.0, 1e300]))
    mean, grads = compiled_run(step, params, *batches)
    (expected_mean, _), expected_grads = eager_run(fn, params, batches, lambda x: x.item())
    assert np.isnan(expected_grads).any() or np.isinf(expected_grads).any()
    np.testing.assert_array_equal(grads, expected_grads)
    assert mean == expected_mean or (np.isnan(mean) and np.isnan(expected_mean))


def test_each_sample_picks_its_own_row_and_element():
    table, _, params = make_model(0)
    column = [row[0] for row in table]

    def fn(i, j):  # a row by one index, a single element by another
        row = take(table, i)
        return take(column, j), row

    step = compile(fn, params, (0, 0))
    tokens, others = np.array([3, 0, 6, 3]), np.array([1, 5, 2, 0])
    mean, rows = step.evaluate(tokens, others, return_outputs=True)
    np.testing.assert_array_equal(rows, [[v.data for v in table[t]] for t in tokens])
    assert mean == pytest.approx(np.mean([column[j].data for j in others]), rel=RTOL)


def test_integer_batches_may_be_lists_or_whole_floats():
    table, head, params = make_model(1)
    fn = next_token_loss(table, head)
    step = compile(fn, params, (0, 0, 0))
    as_ints = step.evaluate([1, 2, 6], [0, 0, 3], [4, 5, 6])
    as_floats = step.evaluate(np.array([1.0, 2.0, 6.0]), [0.0, 0.0, 3.0], [4.0, 5.0, 6.0])
    assert (
        as_ints
        == as_floats
        == pytest.approx(
            eager_mean_and_grads(fn, params, *[[1, 2, 6], [0, 0, 3], [4, 5, 6]])[0], rel=RTOL
        )
    )


@pytest.mark.parametrize(
    ("batches", "message"),
    [
        (([0, 1, 7], [0, 0, 0], [0, 0, 0]), r"^batch 0\[2\]: take: index 7 is out of range for 7"),
        (([0, 1, 2], [0, -1, 0], [0, 0, 0]), r"^batch 1\[1\]: take: index -1 is out of range"),
        (([0, 1, 2], [0, 0, 0], [9, 0, 0]), r"^batch 2\[0\]: take: index 9 is out of range"),
        (([0, 1.5, 2], [0, 0, 0], [0, 0, 0]), r"^batch 0\[1\] is 1\.5, not a whole number"),
        (([0, 1, 2], [0, 0, float("nan")], [0, 0, 0]), r"^batch 1\[2\] is nan, not a whole"),
        (
            ([0, 1, 2], [0, 0, 0], [0, 0, float("inf")]),
            r"^batch 2\[2\]: take: index inf is out of range",
        ),
        (([True, False, True], [0, 0, 0], [0, 0, 0]), r"^batch 0\[0\] is not a number: "),
        # far outside any table (and past int64): refused as well, nothing read out of it
        (([0, 1, 2], [0, -1e300, 0], [0, 0, 0]), r"^batch 1\[1\]: take: index -1e\+300 is out"),
        (([0, 2.0**63, 2], [0, 0, 0], [0, 0, 0]), r"^batch 0\[1\]: take: index 9\.2\d*e\+18 is"),
        (([0, 1, 2], [0, 0, 0], [0, 0, -float("inf")]), r"^batch 2\[2\]: take: index -inf is"),
    ],
)
def test_bad_index_batches_name_the_batch_and_position(batches, message):
    table, head, params = make_model(2)
    step = compile(next_token_loss(table, head), params, (0, 0, 0))
    for run in (step, step.evaluate):
        with pytest.raises(ValueError, match=message):
            run(*batches)
    assert all(p.grad == 0.0 for p in params)  # a refused batch adds no gradient


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (4, r"^batch 0\[1\]: take: index 4 is out of range for 3 rows"),
        (-1, r"^batch 0\[1\]: take: index -1 is out of range for 5 rows"),
        (7, r"^batch 0\[1\]: take: index 7 is out of range for 5 rows"),
    ],
)
def test_the_same_index_into_tables_of_two_sizes_is_checked_against_each(index, message):
    # the checks of every take run together while they all hold; the first that fails
    # (in the order fn made them) is the one named, with its own table's size
    big, small = [Value(float(i)) for i in range(5)], [Value(-float(i)) for i in range(3)]
    step = compile(
        lambda i, j: take(big, i) * take(small, i) + take(big, j), [*big, *small], (0, 0)
    )
    assert step.evaluate([2, 1], [4, 3]) == pytest.approx(((2 * -2 + 4) + (1 * -1 + 3)) / 2)
    with pytest.raises(ValueError, match=message):
        step.evaluate([0, index], [0, 0])


def test_indexing_a_list_with_a_traced_index_is_a_tracer_error():
    table, _, params = make_model(3)
    with pytest.raises(TracerError, match=r"seq\[v\] \(indexing\)"):
        compile(lambda i: ts.sum(table[i]), params, (2,))


@pytest.mark.parametrize(
    ("fn", "example"),
    [
        (lambda x: take([Value(1.0), Value(2.0)], x), (1.0,)),  # a float input
        (lambda i: take([Value(1.0), Value(2.0)], i * 1), (1,)),  # a Value computed from it
    ],
)
def test_take_with_a_value_that_is_not_an_integer_input_is_a_type_error(fn, example):
    with pytest.raises(TypeError, match=r"take: index must be an int, or an integer input") as e:
        compile(fn, [], example)
    assert not isinstance(e.value, TracerError)


# --- compile_by_shape --------------------------------------------------------------------------


def sequence_loss(table, head):
    """Per sample of any length: predict each token from the one before it."""

    def fn(*tokens):
        rows = [linear(take(table, t), head) for t in tokens[:-1]]
        return losses.cross_entropy(rows, list(tokens[1:]))

    return fn


def test_one_trace_per_length_reused_and_equal_to_eager():
    table, head, params = make_model(4)
    fn = sequence_loss(table, head)
    steps = compile_by_shape(fn, params)
    rng = np.random.default_rng(4)
    for length in (3, 5, 3, 5, 3):
        batches = [rng.integers(0, VOCAB, size=6) for _ in range(length)]
        mean, grads = compiled_mean_and_grads(steps, params, *batches)
        expected_mean, expected_grads = eager_mean_and_grads(fn, params, *batches)
        assert_close(mean, expected_mean)
        assert_close(grads, expected_grads)
    assert steps.traces == 2
    assert steps.shapes == [("index",) * 5, ("index",) * 3]  # least recently used first
    assert isinstance(steps.step_for(*[[0]] * 3), ts.CompiledStep)


def test_gradients_of_batches_of_two_lengths_add_up():
    table, head, params = make_model(5)
    fn = sequence_loss(table, head)
    short, long = ([1, 2], [3, 4], [5, 6]), ([0, 6], [1, 5], [2, 4], [3, 3])
    steps = compile_by_shape(fn, params)
    for p in params:
        p.grad = 0.0
    steps(*short)
    steps(*long)
    compiled = np.array([p.grad for p in params])
    steps.evaluate(*short)  # forward only: the gradients stay as they are
    assert_close([p.grad for p in params], compiled)
    expected = eager_mean_and_grads(fn, params, *short)[1]
    expected += eager_mean_and_grads(fn, params, *long)[1]
    assert_close(compiled, expected)


def test_the_cache_keeps_the_most_recently_used_shapes():
    table, head, params = make_model(6)
    steps = compile_by_shape(sequence_loss(table, head), params, max_shapes=2)
    batch = [[1, 2]]
    for length in (2, 3, 2, 4):  # 3 was used least recently when 4 came
        steps(*batch * length)
    assert (len(steps), steps.traces) == (2, 3)
    assert steps.shapes == [("index",) * 2, ("index",) * 4]
    steps(*batch * 3)  # traced again
    assert steps.traces == 4
    assert steps.shapes == [("index",) * 4, ("index",) * 3]


def test_the_shape_includes_row_widths_and_number_inputs():
    weights = [Value(0.5), Value(-1.0), Value(2.0)]

    def fn(row, target):
        return (ts.dot(weights[: len(row)], row) - target) ** 2

    steps = compile_by_shape(fn, weights)
    assert steps([[1.0, 2.0]], [0.0]) == pytest.approx((0.5 - 2.0) ** 2)
    assert steps([[1.0, 2.0, 1.0]], [0.0]) == pytest.approx((0.5 - 2.0 + 2.0) ** 2)
    assert steps.shapes == [(2, None), (3, None)]
    assert steps([[1.0, 1.0]], np.array([3])) == pytest.approx((-0.5 - 3.0) ** 2)
    assert steps.shapes[-1] == (2, "index")  # an integer array makes an integer input


def test_compile_by_shape_refuses_bad_arguments():
    w = Value(1.0)
    with pytest.raises(TypeError, match="fn must be callable"):
        compile_by_shape(3, [w])
    with pytest.raises(TypeError, match=r"params\[0\] is not a Value"):
        compile_by_shape(lambda x: x * w, [1.0])
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="max_shapes must be an int >= 1"):
            compile_by_shape(lambda x: x * w, [w], max_shapes=bad)
    steps = compile_by_shape(lambda x: x * w, [w])
    with pytest.raises(ValueError, match=r"batch 0 is empty"):
        steps([])
    with pytest.raises(TypeError, match=r"batch 0 must be a sequence of samples"):
        steps(2.0)
    assert isinstance(steps, CompiledByShape) and "0 trace(s)" in repr(steps)


def test_compile_by_shape_is_exported_at_the_top_level():
    assert ts.compile_by_shape is compile_by_shape and ts.CompiledByShape is CompiledByShape
    assert {"compile_by_shape", "CompiledByShape"} <= set(ts.__all__)
