"""Tests for tinygrad_scalar.losses: closed forms, stability at extreme logits, bad input,
and values and gradients against PyTorch in float64."""

import math
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinygrad_scalar import Value, gradcheck
from tinygrad_scalar import losses as L


def values(xs):
    return [Value(x) for x in xs]


def grads(vs):
    return [v.grad for v in vs]


# --- closed forms, no torch needed -----------------------------------------------------------


def test_mse_and_half_mse_by_hand():
    p = values([1.0, 2.0, -1.0])
    loss = L.mse(p, [0.0, 4.0, -1.0])
    assert loss.data == pytest.approx((1 + 4 + 0) / 3)
    loss.backward()
    assert grads(p) == pytest.approx([2 * 1 / 3, 2 * -2 / 3, 0.0])
    q = values([1.0, 2.0])
    half = L.half_mse(q, [0.0, 0.0])
    assert half.data == pytest.approx((1 + 4) / 4)
    half.backward()
    assert grads(q) == pytest.approx([1 / 2, 2 / 2])  # mean of (p - t)


def test_mean_is_one_sum_node():
    loss = L.mse(values([1.0, 2.0, 3.0]), [0.0, 0.0, 0.0])
    (_, mean) = loss.parents  # 2 * mean((p - t)**2 / 2): see test_mse_scales_before_doubling
    (total, _) = mean.parents
    assert total.op == "sum" and len(total.parents) == 3


def test_single_value_and_float_predictions():
    assert L.mse(Value(3.0), 1.0).data == 4.0
    assert L.mse(3.0, 1.0).data == 4.0
    assert L.mse([[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]]).data == pytest.approx(7.5)


def test_hinge_by_hand():
    s = values([2.0, 0.5, -1.0])
    loss = L.hinge(s, [1, 1, 1])  # margins: relu(-1) = 0, 0.5, 2
    assert loss.data == pytest.approx(2.5 / 3)
    loss.backward()
    assert grads(s) == pytest.approx([0.0, -1 / 3, -1 / 3])
    assert L.hinge([0.5], [-1]).data == pytest.approx(1.5)


def test_hinge_refuses_zero_one_labels():
    with pytest.raises(ValueError, match=r"labels must be -1 or \+1, got 0.0 at index 1"):
        L.hinge([0.3, 0.2], [1, 0])


def test_binary_cross_entropy_by_hand():
    p = values([0.8, 0.25])
    loss = L.binary_cross_entropy(p, [1.0, 0.0])
    assert loss.data == pytest.approx(-(math.log(0.8) + math.log(0.75)) / 2)
    loss.backward()
    # d/dp = (p - y) / (p (1 - p)) / n
    assert grads(p) == pytest.approx([(0.8 - 1) / (0.8 * 0.2) / 2, 0.25 / (0.25 * 0.75) / 2])


def test_binary_cross_entropy_clamps_the_log_like_pytorch():
    assert L.binary_cross_entropy([0.0], [0.0]).data == 0.0
    assert L.binary_cross_entropy([1.0], [1.0]).data == 0.0
    assert L.binary_cross_entropy([0.0], [1.0]).data == 100.0
    assert L.binary_cross_entropy([1.0], [0.0]).data == 100.0
    p = Value(0.0)
    L.binary_cross_entropy([p], [0.0]).backward()
    assert math.isfinite(p.grad)


def test_binary_cross_entropy_refuses_non_probabilities():
    with pytest.raises(ValueError, match=r"probs\[1\] = 1.5 is not in \[0, 1\]"):
        L.binary_cross_entropy([0.5, 1.5], [1, 0])


def test_bce_with_logits_matches_bce_of_sigmoid():
    for x, y in [(-2.0, 0.0), (0.3, 1.0), (1.7, 0.25)]:
        direct = L.binary_cross_entropy_with_logits([x], [y]).data
        via_probability = L.binary_cross_entropy([1 / (1 + math.exp(-x))], [y]).data
        assert direct == pytest.approx(via_probability, rel=1e-12)


@pytest.mark.parametrize("y", [0.0, 1.0, 0.3])
def test_bce_with_logits_gradient_is_sigmoid_minus_target_even_at_zero(y):
    for x_value in (0.0, -3.0, 2.5):
        x = Value(x_value)
        L.binary_cross_entropy_with_logits(x, y).backward()
        assert x.grad == pytest.approx(1 / (1 + math.exp(-x_value)) - y, abs=1e-15)


def test_bce_with_logits_is_finite_at_extreme_logits():
    x = Value(1000.0)
    loss = L.binary_cross_entropy_with_logits([x], [0.0])
    assert loss.data == 1000.0
    loss.backward()
    assert x.grad == 1.0
    assert L.binary_cross_entropy_with_logits([1000.0], [1.0]).data == 0.0
    assert L.binary_cross_entropy_with_logits([-1000.0], [1.0]).data == 1000.0


def test_softmax_and_log_softmax_by_hand():
    probs = L.softmax([0.0, math.log(3.0)])
    assert [p.data for p in probs] == pytest.approx([0.25, 0.75])
    logs = L.log_softmax([0.0, math.log(3.0)])
    assert [v.data for v in logs] == pytest.approx([math.log(0.25), math.log(0.75)])


def test_softmax_is_stable_at_extreme_logits():
    probs = L.softmax([1000.0, -1000.0, 1000.0])
    assert [p.data for p in probs] == [0.5, 0.0, 0.5]
    logs = L.log_softmax([1000.0, -1000.0])
    assert [v.data for v in logs] == [0.0, -2000.0]


def test_cross_entropy_of_extreme_logits_is_finite():
    z = values([1000.0, -1000.0])
    loss = L.cross_entropy([z], [1])
    assert loss.data == 2000.0
    loss.backward()
    assert grads(z) == [1.0, -1.0]  # softmax - one_hot
    assert L.cross_entropy([[1000.0, -1000.0]], [0]).data == 0.0


def test_cross_entropy_by_hand_with_mean_over_rows():
    rows = [values([0.0, math.log(3.0)]), values([2.0, 2.0])]
    loss = L.cross_entropy(rows, [0, 1])
    assert loss.data == pytest.approx((-math.log(0.25) - math.log(0.5)) / 2)
    loss.backward()
    assert grads(rows[0]) == pytest.approx([(0.25 - 1) / 2, 0.75 / 2])
    assert grads(rows[1]) == pytest.approx([0.5 / 2, -0.5 / 2])
    assert L.cross_entropy([0.0, math.log(3.0)], 1).data == pytest.approx(-math.log(0.75))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: L.mse([1.0, 2.0], [1.0]), "mse: 2 preds but 1 targets"),
        (lambda: L.hinge([1.0], [1, -1]), "hinge: 1 scores but 2 labels"),
        (lambda: L.binary_cross_entropy([0.5], []), "1 probs but 0 targets"),
        (lambda: L.cross_entropy([[1.0, 2.0]], [0, 1]), "1 rows of logits but 2 classes"),
        (lambda: L.cross_entropy([[1.0, 2.0]], [2]), "the class of row 0 = 2 is not a class"),
        (lambda: L.cross_entropy([[1.0, 2.0]], [-1]), "the class of row 0 = -1 is not a class"),
        (
            lambda: L.cross_entropy([[1.0, 2.0]], [0.5]),
            r"= 0.5 is not a class \(expected an integer 0..1",
        ),
        (lambda: L.cross_entropy([[1.0, 2.0], [1.0]], [0, 0]), "row 1 has 1 logits, row 0 has 2"),
        (lambda: L.mse([], []), "no preds"),
        (lambda: L.mse(["a"], [1.0]), r"preds\[0\] must be a number or a Value"),
        (lambda: L.softmax([]), "logits are empty"),
        (lambda: L.mse([1.0], [10**400]), r"targets\[0\] is too large for a float"),
    ],
)
def test_bad_input_is_a_value_error_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- gradients against central differences (an oracle that needs no torch) -----------------

moderate = st.floats(-4.0, 4.0, allow_nan=False)


@settings(max_examples=30, deadline=None)
@given(st.lists(moderate, min_size=3, max_size=3), st.lists(moderate, min_size=3, max_size=3))
def test_regression_and_hinge_gradients_match_central_differences(xs, ts):
    assume(all(abs(abs(x) - 1.0) > 1e-3 for x in xs))  # hinge's kink at y * s = 1
    labels = [1.0 if t >= 0 else -1.0 for t in ts]
    assert gradcheck(lambda *p: L.mse(list(p), ts), *xs)
    assert gradcheck(lambda *p: L.half_mse(list(p), ts), *xs)
    assert gradcheck(lambda *s: L.hinge(list(s), labels), *xs)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(moderate, min_size=3, max_size=3),
    st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3),
    st.integers(0, 2),
)
def test_classification_gradients_match_central_differences(zs, ys, c):
    probabilities = [0.05 + 0.9 / (1 + math.exp(-z)) for z in zs]  # inside (0.05, 0.95)
    assert gradcheck(lambda *p: L.binary_cross_entropy(list(p), ys), *probabilities)
    assert gradcheck(lambda *x: L.binary_cross_entropy_with_logits(list(x), ys), *zs)
    assert gradcheck(lambda *z: L.cross_entropy([list(z)], [c]), *zs)
    assert gradcheck(lambda *z: L.log_softmax(list(z))[c], *zs)
    assert gradcheck(lambda *z: L.softmax(list(z))[c], *zs)


# --- against PyTorch in float64 ---------------------------------------------------------------


def _torch_leaf(torch, xs):
    return torch.tensor(xs, dtype=torch.float64, requires_grad=True)


def _compare(ours_loss, our_inputs, torch_loss, torch_inputs):
    torch_loss.backward()
    assert ours_loss.data == pytest.approx(torch_loss.item(), rel=1e-12, abs=1e-13)
    ours_loss.backward()
    assert grads(our_inputs) == pytest.approx(torch_inputs.grad.tolist(), rel=1e-10, abs=1e-13)


def _random_floats(rng, n, low=-3.0, high=3.0):
    return [rng.uniform(low, high) for _ in range(n)]


@pytest.mark.parametrize("seed", range(3))
def test_regression_losses_match_torch(seed):
    torch = pytest.importorskip("torch")
    rng = random.Random(seed)
    xs, ts = _random_floats(rng, 7), _random_floats(rng, 7)

    p = values(xs)
    tp = _torch_leaf(torch, xs)
    target = torch.tensor(ts, dtype=torch.float64)
    _compare(L.mse(p, ts), p, torch.nn.functional.mse_loss(tp, target), tp)

    p = values(xs)
    tp = _torch_leaf(torch, xs)
    _compare(L.half_mse(p, ts), p, 0.5 * torch.nn.functional.mse_loss(tp, target), tp)


@pytest.mark.parametrize("seed", range(3))
def test_hinge_matches_torch(seed):
    torch = pytest.importorskip("torch")
    rng = random.Random(seed)
    # keep scores away from the kink y * s = 1, where the one-sided slopes differ
    xs = [s if abs(abs(s) - 1) > 1e-3 else 0.0 for s in _random_floats(rng, 9)]
    ys = [rng.choice([-1.0, 1.0]) for _ in xs]
    s = values(xs)
    ts = _torch_leaf(torch, xs)
    expected = torch.clamp(1 - torch.tensor(ys, dtype=torch.float64) * ts, min=0).mean()
    _compare(L.hinge(s, ys), s, expected, ts)


@pytest.mark.parametrize("seed", range(3))
def test_binary_cross_entropies_match_torch(seed):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = random.Random(seed)
    probabilities = [rng.uniform(0.01, 0.99) for _ in range(6)]
    targets = [rng.choice([0.0, 1.0, rng.random()]) for _ in probabilities]
    t = torch.tensor(targets, dtype=torch.float64)

    p = values(probabilities)
    tp = _torch_leaf(torch, probabilities)
    _compare(L.binary_cross_entropy(p, targets), p, F.binary_cross_entropy(tp, t), tp)

    logits = _random_floats(rng, 6, -40.0, 40.0) + [0.0]
    targets = targets + [1.0]
    t = torch.tensor(targets, dtype=torch.float64)
    x = values(logits)
    tx = _torch_leaf(torch, logits)
    _compare(
        L.binary_cross_entropy_with_logits(x, targets),
        x,
        F.binary_cross_entropy_with_logits(tx, t),
        tx,
    )


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_softmax_and_log_softmax_match_torch(scale):
    torch = pytest.importorskip("torch")
    rng = random.Random(5)
    logits = [scale * z for z in _random_floats(rng, 5)]
    weights = _random_floats(rng, 5)  # a weighted sum gives every output a gradient

    for ours_fn, torch_fn in [
        (L.softmax, torch.softmax),
        (L.log_softmax, torch.log_softmax),
    ]:
        z = values(logits)
        tz = _torch_leaf(torch, logits)
        outputs = ours_fn(z)
        expected = torch_fn(tz, dim=0)
        assert [v.data for v in outputs] == pytest.approx(expected.tolist(), rel=1e-12, abs=1e-300)
        ours_loss = sum(w * v for w, v in zip(weights, outputs))
        torch_loss = (expected * torch.tensor(weights, dtype=torch.float64)).sum()
        _compare(ours_loss, z, torch_loss, tz)


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_cross_entropy_matches_torch(scale):
    torch = pytest.importorskip("torch")
    rng = random.Random(7)
    rows = [[scale * z for z in _random_floats(rng, 4)] for _ in range(5)]
    classes = [rng.randrange(4) for _ in rows]
    ours_rows = [values(row) for row in rows]
    t = _torch_leaf(torch, rows)
    ours = L.cross_entropy(ours_rows, classes)
    theirs = torch.nn.functional.cross_entropy(t, torch.tensor(classes))
    theirs.backward()
    assert ours.data == pytest.approx(theirs.item(), rel=1e-12)
    ours.backward()
    for row, expected in zip(ours_rows, t.grad.tolist()):
        assert grads(row) == pytest.approx(expected, rel=1e-10, abs=1e-13)
