"""PyTorch as the oracle at nan and at overflow: the kinked ops and mse.

relu, maximum and minimum choose between their inputs with a comparison, and every
comparison with nan is False, so which branch a nan takes is a convention. PyTorch lets the
gradient through: relu'(nan) = 1 and, where either input of maximum or minimum is nan, both
inputs get the whole gradient. We follow it (we used to give 0: in random graphs that
became finite disagreements, such as d/dx0 = 0 against torch's -2). mse scales before it
doubles, as torch's backward does, so its gradient at 1e308 is finite.

The compiled (NumPy) path runs the same rules, and is compared with the eager one here too.
Skipped where torch is not installed (it is never a dependency of the project).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_scalar as ts
from tinygrad_scalar import Value, losses
from tinygrad_scalar.compiler import compile

torch = pytest.importorskip("torch")
functional = pytest.importorskip("torch.nn.functional")

INF, NAN = math.inf, math.nan
# the values that decide a branch: nan, the infinities, both zeros, subnormals, the largest
EDGES = [NAN, INF, -INF, 0.0, -0.0, 5e-324, -5e-324, 1e308, -1e308, 1.0, -2.5]


def tensor(x, requires_grad=True):
    return torch.tensor(float(x), dtype=torch.float64, requires_grad=requires_grad)


def same(got, expected):
    """The same number, nan matching nan (the sign of a zero gradient is not compared: see
    test_a_zero_gradient_is_plus_zero)."""
    got, expected = float(got), float(expected)
    if math.isnan(expected) or math.isnan(got):
        return math.isnan(expected) and math.isnan(got)
    return got == expected or math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-300)


# name: (ours on Values, torch's on tensors)
UNARY = {
    "relu": (lambda v: v.relu(), torch.relu),
    "abs": (lambda v: v.abs(), torch.abs),
    "leaky_relu": (lambda v: v.leaky_relu(0.2), lambda t: functional.leaky_relu(t, 0.2)),
}
BINARY = {
    "maximum": (ts.maximum, torch.maximum),
    "minimum": (ts.minimum, torch.minimum),
}


def test_the_cases_of_the_issue_match_torch():
    x = Value(NAN)
    x.relu().backward()
    assert x.grad == 1.0  # was 0
    a, b = Value(5.4e16), Value(NAN)
    ts.maximum(a, b).backward()
    assert (a.grad, b.grad) == (1.0, 1.0)  # was (0, 0)
    a, b = Value(NAN), Value(-3.0)
    ts.minimum(a, b).backward()
    assert (a.grad, b.grad) == (1.0, 1.0)
    tie_a, tie_b = Value(2.0), Value(2.0)
    ts.maximum(tie_a, tie_b).backward()
    assert (tie_a.grad, tie_b.grad) == (0.5, 0.5)  # ties still split
    zero = Value(0.0)
    zero.relu().backward()
    assert zero.grad == 0.0  # relu'(0) = 0 still


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_kinks_match_torch_at_every_edge(name):
    ours, theirs = UNARY[name]
    mismatches = []
    for x in EDGES:
        v, t = Value(x), tensor(x)
        out, expected = ours(v), theirs(t)
        out.backward()
        expected.backward()
        if not (same(out.data, expected.item()) and same(v.grad, t.grad.item())):
            mismatches.append((x, (out.data, v.grad), (expected.item(), t.grad.item())))
    assert mismatches == []


@pytest.mark.parametrize("name", sorted(BINARY))
def test_maximum_and_minimum_match_torch_at_every_pair_of_edges(name):
    ours, theirs = BINARY[name]
    mismatches = []
    for x in EDGES:
        for y in EDGES:
            a, b, ta, tb = Value(x), Value(y), tensor(x), tensor(y)
            out, expected = ours(a, b), theirs(ta, tb)
            out.backward()
            expected.backward()
            got = (out.data, a.grad, b.grad)
            want = (expected.item(), ta.grad.item(), tb.grad.item())
            if not all(map(same, got, want)):
                mismatches.append((x, y, got, want))
    assert mismatches == []


# --- random graphs of the kinked ops, at inputs that reach nan --------------------------------

FLOATS = st.one_of(
    st.sampled_from(EDGES),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-10.0, 10.0),
)
# each step: (op, index of its first input, index of its second input); the inputs are the
# three leaves and every result so far
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["relu", "maximum", "minimum", "abs", "leaky_relu", "+", "-", "neg"]),
        st.integers(0, 100),
        st.integers(0, 100),
    ),
    min_size=1,
    max_size=8,
)


def run_program(steps, leaves, relu, maximum, minimum, leaky):
    nodes = list(leaves)
    for op, i, j in steps:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        ops = {
            "relu": lambda a, b: relu(a),
            "maximum": maximum,
            "minimum": minimum,
            "abs": lambda a, b: abs(a),
            "leaky_relu": lambda a, b: leaky(a),
            "+": lambda a, b: a + b,
            "-": lambda a, b: a - b,
            "neg": lambda a, b: -a,
        }
        result = ops[op](a, b)
        nodes.append(result)
    return nodes[-1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS, point=st.lists(FLOATS, min_size=3, max_size=3))
def test_random_graphs_of_kinked_ops_match_torch_at_nan_and_overflow(steps, point):
    xs = [Value(p) for p in point]
    out = run_program(steps, xs, Value.relu, ts.maximum, ts.minimum, lambda v: v.leaky_relu(0.2))
    ts_ = [tensor(p) for p in point]
    expected = run_program(
        steps,
        ts_,
        torch.relu,
        torch.maximum,
        torch.minimum,
        lambda t: functional.leaky_relu(t, 0.2),
    )
    assert same(out.data, expected.item())
    if not out.parents:  # the program returned one of its inputs
        return
    out.backward()
    torch_grads = torch.autograd.grad(expected, ts_, allow_unused=True)
    for i, (x, g) in enumerate(zip(xs, torch_grads)):
        want = 0.0 if g is None else g.item()
        assert same(x.grad, want), (f"d/dx{i}", x.grad, want)


# --- compile runs the same rules --------------------------------------------------------------


def test_compiled_kinks_follow_the_same_convention_at_nan():
    w, b = Value(1.5, "w"), Value(-0.5, "b")

    def f(x):
        return ts.maximum(w * x, b) + ts.minimum(b, x * 0.5).relu() + (w * x).relu()

    step = compile(f, [w, b], (0.25,))
    batch = [0.25, NAN, -1.0, INF, 3.0]
    for p in (w, b):
        p.grad = 0.0
    step(batch)
    compiled = [w.grad, b.grad]
    for p in (w, b):
        p.grad = 0.0
    mean = ts.sum([f(Value(x)) for x in batch]) * (1 / len(batch))
    mean.backward()
    eager = [w.grad, b.grad]
    np.testing.assert_array_equal(np.array(compiled), np.array(eager))
    assert math.isnan(eager[0])  # w's slope is x, and one x is nan
    # b's gradient per sample: 0; 2 at nan (maximum and, through relu(nan), minimum pass it
    # on); 1 at -1 (maximum picks b); 0; 0. With the old convention nan gave 0.
    assert eager[1] == pytest.approx((0 + 2 + 1 + 0 + 0) / 5)


# --- mse at overflow ----------------------------------------------------------------------------


@pytest.mark.parametrize("big", [1e308, -1e308, 1.7e308, -1.7e308])
def test_mse_gradient_at_overflow_matches_torch(big):
    preds = [big, 1.0, 2.0, 0.5, 3.0]
    targets = [0.0, 0.0, 1.0, -1.0, 0.0]
    ps = [Value(p) for p in preds]
    loss = losses.mse(ps, targets)
    loss.backward()
    tp = torch.tensor(preds, dtype=torch.float64, requires_grad=True)
    expected = functional.mse_loss(tp, torch.tensor(targets, dtype=torch.float64))
    expected.backward()
    assert loss.data == expected.item() == INF
    assert [p.grad for p in ps] == tp.grad.tolist()  # bit for bit: -4e307, not -inf
    assert math.isfinite(ps[0].grad)


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_mse_and_half_mse_scale_before_doubling(n):
    big = -1.6e308
    ps = [Value(big)] + [Value(1.0) for _ in range(n - 1)]
    losses.mse(ps, [0.0] * n).backward()
    assert ps[0].grad == (2.0 / n) * big  # torch's order: (2 / n) * (p - t); -inf for n = 1
    qs = [Value(big)] + [Value(1.0) for _ in range(n - 1)]
    losses.half_mse(qs, [0.0] * n).backward()
    assert qs[0].grad == big * (1.0 / n)  # finite for every n


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(FLOATS, st.floats(allow_nan=True, allow_infinity=True)), min_size=1, max_size=6
    )
)
def test_mse_matches_torch_at_any_floats(pairs):
    preds, targets = [p for p, _ in pairs], [t for _, t in pairs]
    ps = [Value(p) for p in preds]
    loss = losses.mse(ps, targets)
    loss.backward()
    tp = torch.tensor(preds, dtype=torch.float64, requires_grad=True)
    expected = functional.mse_loss(tp, torch.tensor(targets, dtype=torch.float64))
    expected.backward()
    assert same(loss.data, expected.item()) or math.isclose(
        loss.data, expected.item(), rel_tol=1e-12
    )
    for p, g in zip(ps, tp.grad.tolist()):
        assert same(p.grad, g), (p.grad, g)


# --- the sign of a zero gradient ----------------------------------------------------------------


def test_a_zero_gradient_is_plus_zero():
    # Our gradients are sums that start at +0.0, so x * -0.0 gives x.grad = +0.0. PyTorch
    # gives -0.0 because its first contribution replaces a grad of None; with
    # zero_grad(set_to_none=False) it adds to +0.0 and gives +0.0 as we do. Documented in
    # the README ("Numerical conventions").
    x = Value(3.0)
    (x * -0.0).backward()
    assert x.grad == 0.0 and math.copysign(1.0, x.grad) == 1.0
    t = tensor(3.0)
    (t * -0.0).backward()
    assert math.copysign(1.0, t.grad.item()) == -1.0  # torch's first gradient, as is
    t.grad = torch.zeros_like(t)  # what zero_grad(set_to_none=False) leaves
    (t * -0.0).backward()
    assert math.copysign(1.0, t.grad.item()) == 1.0  # accumulated onto +0.0, as ours
