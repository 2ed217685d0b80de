"""Random programs, compiled and eager: the same values and gradients, sample by sample.

Hypothesis writes a per-sample function from a few steps, each an op on values made before
it: the inputs (a row of three numbers, and an integer input that picks a row of a table
of parameters with `take`), the parameters, and earlier steps. The ops are the rules with a
choice made per value (relu, abs, maximum, minimum, leaky_relu, clamped_log, a user's Rule
written with `o.where`), the smooth ones, `detach()`, steps under `no_grad()`, n-ary sums,
a layer's `dot` with parameter weights and a `dot` of per-sample values, and `max_shift`.
The program ends in one of every loss. Inputs and parameters are drawn from ordinary numbers
and from the extremes: +-0, +-inf, nan, subnormals, +-1e308.

The compiled step (traced on an ordinary sample) must give, for every sample, eager's
output (the same whether the sample is alone or in the batch), and for every parameter
eager's gradient of the mean loss: where eager's number is finite, a finite number equal to
it to 1e-9 of the size of what it is computed from (its own size, or where terms cancel the
largest number in its graph; for a gradient, the sum of its paths' |products|); where
eager's is inf or nan, the same inf or nan. A gradient is compared only where no gradient
on the way to it adds up terms whose sizes reach 2^1020: past that the order of additions
decides between inf, nan and a number, and the step's order is not eager's (README,
compile; tests/test_compile_exact.py shows it both ways).
"""

from __future__ import annotations

import contextlib
import math
import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_scalar as ts
from tinygrad_scalar import Rule, Value, losses, no_grad, rules

RTOL = 1e-9

EXTREMES = [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, -5e-324, 2.2e-308, 1e308, -1e308]
ORDINARY = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
numbers = st.one_of(ORDINARY, st.sampled_from(EXTREMES), st.sampled_from([700.0, -700.0, 1e-3]))

# a user's rule whose choice is o.where: clip to [-1, 1] (a hard tanh)
HARD_TANH = Rule(
    "hard_tanh_test",
    lambda o, x: o.where(x > 1.0, 1.0, o.where(x < -1.0, -1.0, x)),
    lambda o, out, x: (o.where((x > 1.0) | (x < -1.0), 0.0, 1.0),),
)

UNARY = {
    "exp": lambda a: a.exp(),
    "log": lambda a: a.log(),
    "log1p": lambda a: a.log1p(),
    "sqrt": lambda a: a.sqrt(),
    "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(),
    "sin": lambda a: a.sin(),
    "neg": lambda a: -a,
    "square": lambda a: a**2,
    "relu": lambda a: a.relu(),
    "abs": lambda a: abs(a),
    "leaky_relu": lambda a: a.leaky_relu(0.1),
    "softplus": lambda a: a.softplus(),
    "clamped_log": lambda a: rules.CLAMPED_LOG.with_arg(-30.0)(a),
    "hard_tanh": lambda a: HARD_TANH(a),
    "detach": lambda a: a.detach(),
}
BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "maximum": lambda a, b: ts.maximum(a, b),
    "minimum": lambda a, b: ts.minimum(a, b),
}
NARY = {
    "sum": lambda xs, params: ts.sum(xs),
    "layer dot": lambda xs, params: ts.dot(params["w"], xs, params["b"]),
    "dot": lambda xs, params: ts.dot(xs[:2], [xs[2], xs[0]]),
    "max_shift": lambda xs, params: ts.max_shift(xs),
}
LOSSES = ["mse", "half_mse", "hinge", "bce", "bce_with_logits", "cross_entropy"]


@st.composite
def programs(draw):
    """(steps, loss): a step is (kind, op name, positions of its operands, under no_grad)."""
    steps = []
    for made in range(draw(st.integers(1, 6))):
        available = 7 + made  # x0 x1 x2, the taken row's two values, w0, b; then steps
        pick = st.integers(0, available - 1)
        kind = draw(st.sampled_from(["unary", "binary", "nary"]))
        table = {"unary": UNARY, "binary": BINARY, "nary": NARY}[kind]
        arity = {"unary": 1, "binary": 2, "nary": 3}[kind]
        operands = tuple(draw(pick) for _ in range(arity))
        steps.append((kind, draw(st.sampled_from(sorted(table))), operands, draw(st.booleans())))
    return steps, draw(st.sampled_from(LOSSES))


def run_program(steps, loss_name, params, x, i, t):
    """The program on one sample: (loss, output)."""
    row = ts.take(params["table"], i)
    pool = [*x, *row, params["w"][0], params["b"]]
    for kind, name, operands, under_no_grad in steps:
        args = [pool[k] for k in operands]
        with no_grad() if under_no_grad else contextlib.nullcontext():
            if kind == "unary":
                pool.append(UNARY[name](args[0]))
            elif kind == "binary":
                pool.append(BINARY[name](*args))
            else:
                pool.append(NARY[name](args, params))
    out = pool[-1]
    if loss_name == "mse":
        return losses.mse(out, t), out
    if loss_name == "half_mse":
        return losses.half_mse(out, t), out
    if loss_name == "hinge":
        return losses.hinge(out, t), out
    if loss_name == "bce":
        return losses.binary_cross_entropy(out.sigmoid(), t), out
    if loss_name == "bce_with_logits":
        return losses.binary_cross_entropy_with_logits(out, t), out
    return losses.cross_entropy([[out, pool[0], row[1]]], [i]), out


def make_params(weights):
    w = [Value(v) for v in weights[:3]]
    b = Value(weights[3])
    table = [[Value(weights[4 + 2 * r]), Value(weights[5 + 2 * r])] for r in range(3)]
    flat = [*w, b, *(v for r in table for v in r)]
    return {"w": w, "b": b, "table": table}, flat


def labels_for(loss_name, draw_numbers):
    if loss_name == "hinge":
        return [1.0 if k % 2 else -1.0 for k in range(len(draw_numbers))]
    if loss_name in ("bce", "bce_with_logits"):
        return [abs(math.tanh(v)) if math.isfinite(v) else 1.0 for v in draw_numbers]
    return draw_numbers


def agree(got: float, expected: float, size: float, same_non_finite: bool) -> bool:
    """Finite: equal to RTOL of `size`, the size of what the number was computed from."""
    if not math.isfinite(expected):
        if not same_non_finite:
            return not math.isfinite(got)
        return got == expected or (math.isnan(got) and math.isnan(expected))
    return math.isfinite(got) and abs(got - expected) <= RTOL * size


def assert_agree(got, expected, sizes, what, same_non_finite=True):
    """Each finite number within RTOL of its size (see `sizes`); inf and nan the same one,
    or with `same_non_finite=False` any inf or nan."""
    got, expected = np.asarray(got, float).ravel(), np.asarray(expected, float).ravel()
    for k, (g, e, size) in enumerate(zip(got.tolist(), expected.tolist(), sizes)):
        assert agree(g, e, max(size, abs(e), 1e-300), same_non_finite), (
            f"{what}[{k}]: compiled {g!r}, eager {e!r} (size {size!r})"
        )


def value_size(root: Value) -> float:
    """The largest finite number in root's graph: what its rounding is relative to where
    terms cancel (a - b with a close to b)."""
    return max(
        (abs(n.data) for n in ts.topological_order(root) if math.isfinite(n.data)), default=0.0
    )


OVERFLOW_SAFE = 2.0**1020  # below it no sum of terms of these sizes overflows, in any order


def gradient_sizes(root: Value, params: list) -> list:
    """For each parameter, the sum over every path from root to it of |the product of the
    local derivatives| (the chain rule on absolute values): the size of the terms its
    gradient adds up, which rounding is relative to where they cancel. inf for a parameter
    whose gradient may overflow or be nan: one on the way to it adds up terms whose sizes
    reach OVERFLOW_SAFE, or meets a local derivative that is inf or nan (0 * inf is nan).
    There the order of the additions decides."""
    order = ts.topological_order(root)
    size = {node: 0.0 for node in order}
    size[root] = 1.0
    risky = dict.fromkeys(order, False)
    for node in reversed(order):
        if not size[node] < OVERFLOW_SAFE:  # nan too
            risky[node] = True
        for parent, local in zip(node.parents, node.local_grads):
            if local == 0.0:  # a zero local adds exactly nothing, as backward
                continue
            if risky[node] or not math.isfinite(local):
                risky[parent] = True
            if size[node] != 0.0:
                size[parent] += abs(local) * size[node]
    sizes = [size.get(p, 0.0) for p in params]  # 0 for a parameter the loss does not use
    return [math.inf if risky.get(p) else s for p, s in zip(params, sizes)]


def run_eagerly(fn, params, samples):
    """(mean loss, each sample's output, each parameter's gradient of the mean, and the
    sizes those are computed from: value_size, gradient_sizes), eagerly."""
    for p in params:
        p.grad = 0.0
    results = [fn([Value(v) for v in x], i, Value(t)) for x, i, t in samples]
    mean = ts.sum([loss for loss, _ in results]) * (1 / len(samples))
    mean.backward()
    grads = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    outputs = [out.data for _, out in results]
    sizes = (
        [value_size(out) for _, out in results],
        value_size(mean),
        gradient_sizes(mean, params),
    )
    return mean.data, outputs, grads, sizes


@settings(max_examples=int(os.environ.get("PROGRAMS", "150")), deadline=None)
@given(
    programs(),
    st.lists(numbers, min_size=10, max_size=10),
    st.lists(st.lists(numbers, min_size=3, max_size=3), min_size=1, max_size=4),
    st.data(),
)
def test_random_programs_compiled_equal_eager_at_any_inputs(program, weights, rows, data):
    steps, loss_name = program
    params, flat = make_params(weights)
    indices = data.draw(st.lists(st.integers(0, 2), min_size=len(rows), max_size=len(rows)))
    targets = labels_for(
        loss_name, data.draw(st.lists(numbers, min_size=len(rows), max_size=len(rows)))
    )

    def fn(x, i, t):
        return run_program(steps, loss_name, params, x, i, t)

    example = ([0.5, -1.0, 2.0], 1, 1.0 if loss_name == "hinge" else 0.5)
    samples = list(zip(rows, indices, targets))
    try:  # the checks losses make refuse a probability of nan: then so must compile
        eager_mean, per_sample, eager_grads, sizes = run_eagerly(fn, flat, samples)
    except ValueError as error:
        with pytest.raises(ValueError, match=re.escape(str(error).split(":")[0])):
            ts.compile(fn, flat, example)(rows, indices, targets)
        return
    try:
        step = ts.compile(fn, flat, example)
    except ValueError:  # the example itself is refused (a parameter of nan, say)
        with pytest.raises(ValueError):
            run_eagerly(fn, flat, [example])
        return
    for p in flat:
        p.grad = 0.0
    mean, outputs = step(rows, indices, targets, return_outputs=True)
    compiled_grads = [p.grad for p in flat]

    output_sizes, mean_size, gradient_size = sizes
    assert_agree(outputs, per_sample, output_sizes, "output")
    assert_agree([mean], [eager_mean], [mean_size], "mean loss")
    # a sample alone: the same inf or nan as in the batch (the finite digits may differ)
    for k, (x, i, t) in enumerate(samples):
        alone = step.evaluate([x], [i], [t], return_outputs=True)[1]
        assert_agree(alone, outputs[k : k + 1], output_sizes[k : k + 1], f"sample {k} alone")
    # a gradient whose additions can overflow (size inf) may be inf, nan or a number in
    # either (README, compile); every other one is finite and close, as eager's
    compared = [k for k, size in enumerate(gradient_size) if size < math.inf]
    assert all(math.isfinite(eager_grads[k]) for k in compared)
    assert_agree(
        [compiled_grads[k] for k in compared],
        [eager_grads[k] for k in compared],
        [gradient_size[k] for k in compared],
        "gradient",
    )
