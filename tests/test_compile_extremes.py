"""compile agrees with the eager engine at extreme inputs, and checks every batch.

A compiled step is traced on one example and then replayed on every batch. The failures
of issue 9 came from what the trace froze: a Python branch on a value (a clamped log, the
softplus branch, the softmax shift) ran once, on the example, and was wrong for samples far
from it; and label checks ran only on the example. Here the example is ordinary and the
batches are not: features and logits of 1e3, +-1e300, subnormals and zeros.

The reference is always the eager engine on the same batch: one graph per sample, the
losses averaged as `sum(...) * (1 / n)`, then `backward()`. Loss and gradients must agree
to 1e-9 relative (a matrix product adds in BLAS's order where no partial sum can overflow,
so not bit for bit), and where eager has a finite number, so must compile. Where eager has
inf or nan, compile must have inf or nan too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from compiled_vs_eager import compiled_run, eager_run

import tinygrad_scalar as ts
from tinygrad_scalar import Value, data, losses, train
from tinygrad_scalar.compiler import compile
from tinygrad_scalar.nn import MLP

RTOL = 1e-9

# rows of 3 features: the first is the ordinary example compile traces
FEATURES = [
    [0.5, -1.2, 2.0],
    [1e3, -1e3, 0.0],
    [1e300, 0.0, -1.0],
    [-1e300, 1.0, 0.5],
    [5e-324, -5e-324, 0.0],
    [0.0, -0.0, 0.0],
    [2.2e-308, 1.0, -2.0],
    [-1e3, 1e3, 1e3],
]
EXTREME_LOGITS = [1e3, -1e3, 1e300, -1e300, 5e-324, -5e-324, 0.0, -0.0, 800.0, -800.0, 40.0]


# --- the eager reference and the comparison ----------------------------------------------------


def as_sample_argument(x):
    return [Value(v) for v in x] if isinstance(x, (list, tuple)) else Value(x)


def eager(fn, params, *batches):
    """(mean loss, gradient of each parameter) from the eager engine."""
    (mean, _), grads = eager_run(fn, params, batches, as_sample_argument)
    return mean, grads


compiled = compiled_run


def assert_agree(got, expected, what):
    """Equal to RTOL relative; an entry of ~0 that cancelled is compared on the scale of the
    whole list; non-finite numbers equal exactly (nan matches nan)."""
    got, expected = np.atleast_1d(np.asarray(got, float)), np.atleast_1d(np.asarray(expected))
    finite = np.isfinite(expected)
    scale = np.abs(expected[finite]).max() if finite.any() else 0.0
    for i, (g, e) in enumerate(zip(got.tolist(), expected.tolist())):
        if not math.isfinite(e):  # inf or nan where eager has either (module docstring)
            assert not math.isfinite(g), f"{what}[{i}]: {g!r} vs eager {e!r}"
            continue
        assert math.isfinite(g), f"{what}[{i}]: compile gives {g!r} where eager gives {e!r}"
        tolerance = RTOL * abs(e) + 1e-6 * RTOL * scale + 1e-300
        assert abs(g - e) <= tolerance, f"{what}[{i}]: {g!r} vs eager {e!r}"


def check_against_eager(fn, params, example, *batches):
    step = compile(fn, params, example)
    loss, grads = compiled(step, params, *batches)
    eager_loss, eager_grads = eager(fn, params, *batches)
    assert_agree(loss, eager_loss, "loss")
    assert_agree(grads, eager_grads, "gradient")
    return loss, eager_loss


# --- random MLPs with every activation and loss --------------------------------------------------


def one_hot_cross_entropy(logits, one_hot):
    """Cross-entropy with the class as a one-hot row, which compile can trace (an int index
    picking a logit would be frozen at the example's class)."""
    return -ts.sum([t * lp for t, lp in zip(one_hot, ts.log_softmax(logits))])


LOSSES = {  # name -> (model output, per-sample loss, labels for FEATURES)
    "mse": ("linear", 1, losses.mse, [0.5, -2.0, 1.0, 0.0, 3.0, -1.0, 2.0, 1.0]),
    "hinge": ("linear", 1, losses.hinge, [1, -1, 1, -1, 1, -1, 1, -1]),
    "bce": ("sigmoid", 1, losses.binary_cross_entropy, [1, 0, 1, 0, 0, 1, 1, 0]),
    "bce_with_logits": (
        "linear",
        1,
        losses.binary_cross_entropy_with_logits,
        [1.0, 0.0, 1.0, 0.0, 0.5, 1.0, 0.25, 0.0],  # floats: an int example is an index
    ),
    "cross_entropy": (
        "linear",
        3,
        one_hot_cross_entropy,
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]] * 2,
    ),
}  # fmt: skip


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu", "linear"])
@pytest.mark.parametrize("loss_name", list(LOSSES))
@pytest.mark.parametrize("seed", [0, 1])
def test_random_mlp_compiled_equals_eager_at_extreme_features(activation, loss_name, seed):
    output, width, loss, labels = LOSSES[loss_name]
    model = MLP(3, [4, 3, width], activation=activation, output=output, seed=seed)
    params = model.parameters()

    def fn(x, t):
        return loss(model(x), t)

    for traced in (0, 1):  # traced at an ordinary row, then at an extreme one
        example = (FEATURES[traced], labels[traced])
        check_against_eager(fn, params, example, FEATURES, labels)


@pytest.mark.parametrize("loss_name", ["bce_with_logits", "hinge", "mse"])
def test_single_logit_losses_at_extreme_logits(loss_name):
    _, _, loss, _ = LOSSES[loss_name]
    scale = Value(1.0)
    labels = [1.0 if i % 2 else (-1.0 if loss_name == "hinge" else 0.0) for i in range(11)]
    example = (-1.0, labels[0])
    eager_loss = check_against_eager(
        lambda z, t: loss(scale * z, t), [scale], example, EXTREME_LOGITS, labels
    )[1]
    assert eager_loss == eager_loss  # the comparison above was not nan against nan


def test_cross_entropy_at_extreme_logits():
    # one weight per logit (a shift of all logits would have gradient 0 up to rounding)
    weights = [Value(1.0), Value(0.5), Value(-1.0)]
    rows = [
        [1000.0, 1001.0, 999.0],
        [-1000.0, -1001.0, -999.0],
        [1e300, -1e300, 0.0],
        [5e-324, 0.0, -5e-324],
        [800.0, -800.0, 0.0],
        [0.0, 1.0, 2.0],
    ]
    one_hots = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]] * 2
    loss, eager_loss = check_against_eager(
        lambda z, t: one_hot_cross_entropy([w * v for w, v in zip(weights, z)], t),
        weights,
        ([0.0, 1.0, 2.0], one_hots[0]),
        rows,
        one_hots,
    )
    assert math.isfinite(loss) and math.isfinite(eager_loss)


# --- issue 9's failures, one regression test each -------------------------------------------------


def test_a_bias_added_to_an_overflowing_weighted_sum_is_added_last_as_eager():
    # w.x overflows to -inf and the bias is +1e308: both paths give -inf (bias last), where
    # adding the bias first would give inf + -inf = nan on one path only
    w, b = [Value(-1.0), Value(1e308)], Value(1e308)
    params = [*w, b]

    def fn(x):
        return ts.dot(w, x, b).relu()

    step = compile(fn, params, ([0.0, 0.0],))
    features = np.array([[-1e308, -2.0], [1.0, 1.0]])
    compiled = compiled_run(step, params, features)
    (mean, _), grads = eager_run(fn, params, (features,), lambda row: row.tolist())
    assert compiled[0] == mean
    np.testing.assert_array_equal(compiled[1], grads)


def test_sqrt_by_pow_at_minus_inf_is_inf_as_eager():
    q = Value(1.0)
    step = compile(lambda x: (q * x) ** 0.5, [q], (4.0,))
    assert step.evaluate([-math.inf]) == math.inf
    assert ((q * Value(-math.inf)) ** 0.5).data == math.inf
    check_against_eager(lambda x: (q * x) ** 0.5, [q], (4.0,), [-math.inf, -0.0, 4.0])


def test_compiled_bce_training_of_a_sigmoid_mlp_stays_finite_and_matches_eager():
    # issue 9: the clamped log was a Python branch frozen at the traced example; once the
    # sigmoid saturated, log(0) gave -inf and every parameter became nan (here from epoch 5)
    X, y = data.make_blobs(60, seed=0)
    y = [int(c > 0) for c in y]
    models = []
    for use_compile in (True, False):
        model = MLP(2, [16, 16, 1], output="sigmoid", seed=0)
        history = train.fit(
            model, X, y, loss="bce", lr=0.3, epochs=30, compile=use_compile, progress=False
        )
        assert all(math.isfinite(loss) for loss in history.train_loss), use_compile
        models.append(model)
    compiled_params = [p.data for p in models[0].parameters()]
    assert_agree(compiled_params, [p.data for p in models[1].parameters()], "parameter")


def test_compiled_bce_training_for_300_epochs_has_no_nan_parameter():
    X, y = data.make_blobs(60, seed=0)
    y = [int(c > 0) for c in y]
    model = MLP(2, [16, 16, 1], output="sigmoid", seed=0)
    history = train.fit(model, X, y, loss="bce", lr=0.3, epochs=300, compile=True, progress=False)
    assert all(math.isfinite(p.data) for p in model.parameters())
    assert history.train_loss[-1] < 0.01


def test_bce_with_logits_traced_at_minus_one_run_at_800_is_eager_value():
    w = Value(1.0)

    def fn(z, t):
        return losses.binary_cross_entropy_with_logits(w * z, t)

    step = compile(fn, [w], (-1.0, 1.0))
    loss = step.evaluate([800.0], [1.0])
    assert loss == fn(Value(800.0), Value(1.0)).data == 0.0
    assert step.evaluate([800.0], [0.0]) == 800.0  # log(1 + e^800), not inf
    check_against_eager(fn, [w], (-1.0, 1.0), [800.0, -800.0, 800.0], [1.0, 1.0, 0.0])


def test_softmax_cross_entropy_with_logits_far_from_the_example_is_finite():
    weights = [Value(1.0), Value(0.5), Value(-1.0)]

    def fn(z, t):
        return one_hot_cross_entropy([w * v for w, v in zip(weights, z)], t)

    step = compile(fn, weights, ([0.0, 0.5, 1.0], [0.0, 1.0, 0.0]))
    far = [[1000.0, 1000.5, 1001.0], [-1000.0, -999.5, -999.0]]
    targets = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    loss = step.evaluate(far, targets)
    assert math.isfinite(loss)
    check_against_eager(fn, weights, ([0.0, 0.5, 1.0], [0.0, 1.0, 0.0]), far, targets)


def test_compiled_hinge_refuses_0_1_labels_naming_the_sample():
    w = Value(0.5)
    step = compile(lambda s, y: losses.hinge(w * s, y), [w], (1.0, 1.0))
    with pytest.raises(ValueError, match=r"batch 1\[2\]: hinge: labels must be -1 or \+1, got 0"):
        step([1.0, 2.0, 3.0], [1.0, -1.0, 0.0])
    assert w.grad == 0.0  # nothing was added for a refused batch


def test_compiled_bce_refuses_a_label_of_5():
    w = Value(0.5)
    step = compile(lambda x, y: losses.binary_cross_entropy((w * x).sigmoid(), y), [w], (1.0, 1.0))
    with pytest.raises(ValueError, match=r"batch 1\[1\]: .*targets\[0\] = 5.0 is not in \[0, 1\]"):
        step([1.0, 2.0], [1.0, 5.0])
    step_logits = compile(
        lambda x, y: losses.binary_cross_entropy_with_logits(w * x, y), [w], (1.0, 0.0)
    )
    with pytest.raises(ValueError, match=r"batch 1\[0\]: .*targets\[0\] = 5.0"):
        step_logits([1.0], [5.0])


@pytest.mark.parametrize(
    "bad, message",
    [
        (None, r"batch 1\[1\] is not a number: None"),
        (10**400, r"batch 1\[1\] is too large for a float"),
        ("1.0", r"batch 1\[1\] is not a number: '1.0'"),
    ],
)
def test_a_batch_with_a_non_number_raises_value_error_naming_the_batch(bad, message):
    w = Value(0.5)
    step = compile(lambda x, y: losses.mse(w * x, y), [w], (1.0, 1.0))
    with pytest.raises(ValueError, match=message):
        step([1.0, 2.0], [1.0, bad])
    with pytest.raises(ValueError, match=message.replace("1\\[1\\]", "0\\[1\\]")):
        step([1.0, bad], [1.0, 2.0])


def test_layer_gradient_overflowing_both_ways_is_nan_as_eager():
    # BLAS fuses multiply and add (fma(g, x, -inf) is -inf where g * x overflows); where a
    # partial sum can overflow the compiled layer adds the products one by one, as eager
    model = MLP(3, [4, 3, 1], activation="leaky_relu", seed=1)
    params = model.parameters()
    labels = LOSSES["mse"][3]

    def fn(x, t):
        return losses.mse(model(x), t)

    step = compile(fn, params, (FEATURES[0], labels[0]))
    grads = compiled(step, params, FEATURES, labels)[1]
    eager_grads = eager(fn, params, FEATURES, labels)[1]
    assert math.isnan(eager_grads[0])  # +inf from one sample, -inf from another
    assert math.isnan(grads[0])
