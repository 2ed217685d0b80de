"""compile: the vectorized replay must give the eager engine's loss and gradients.

The reference is always the eager engine on the same batch: one graph per sample, the
losses averaged with `sum(...) * (1 / n)`, then `backward()`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from compiled_vs_eager import compiled_run, eager_run

import tinygrad_scalar as ts
from tinygrad_scalar import Value, losses, rules
from tinygrad_scalar.compiler import CompiledStep, compile
from tinygrad_scalar.engine import identity
from tinygrad_scalar.nn import MLP

RTOL = 1e-12


def _argument(a):
    return Value(a) if np.ndim(a) == 0 else [Value(v) for v in a]


def eager_reference(fn, params, *batches):
    """(mean loss, gradients, per-sample first outputs) from the eager engine."""
    (mean, results), grads = eager_run(fn, params, batches, _argument)
    outputs = [
        r[1].data if isinstance(r[1], Value) else [v.data for v in r[1]]
        for r in results
        if isinstance(r, tuple)
    ]
    return mean, grads, np.array(outputs)


compiled_result = compiled_run


def assert_close(actual, expected):
    """Equal to 1e-12 relative; an entry that cancels to ~0 (like a cross-entropy bias
    gradient, whose terms sum to zero) is compared on the scale of the whole array."""
    expected = np.asarray(expected, dtype=np.float64)
    finite = np.abs(expected[np.isfinite(expected)])
    scale = finite.max() if finite.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=1e-14 * scale, equal_nan=True)


def hinge_fn(model):
    def fn(x, label):
        score = model(x)
        return losses.hinge([score], [label]), score

    return fn


def cross_entropy_fn(model):
    """Cross-entropy through log_softmax (which subtracts the max logit), the label given
    as a one-hot row of floats (fit gives class indices, through take)."""

    def fn(x, one_hot):
        logits = model(x)
        log_probs = losses.log_softmax(logits)
        return -ts.sum([t * lp for t, lp in zip(one_hot, log_probs)]), logits

    return fn


def mse_fn(model):
    def fn(x, target):
        pred = model(x)
        return losses.mse([pred], [target]), pred

    return fn


# --- equality with the eager engine -----------------------------------------------------


@pytest.mark.parametrize("seed", range(16))
def test_random_mlps_losses_and_batch_sizes_match_eager(seed):
    rng = np.random.default_rng(seed)
    activation = ["relu", "tanh", "sigmoid", "leaky_relu"][seed % 4]
    loss_kind = ["hinge", "cross_entropy", "mse"][seed % 3]
    nin = int(rng.integers(1, 5))
    hidden = [int(h) for h in rng.integers(1, 9, size=rng.integers(1, 3))]
    batch = int(rng.integers(1, 30))
    X = rng.normal(size=(batch, nin))
    if loss_kind == "cross_entropy":
        classes = int(rng.integers(2, 5))
        model = MLP(nin, [*hidden, classes], activation=activation, seed=seed)
        labels = np.eye(classes)[rng.integers(0, classes, size=batch)]
        fn = cross_entropy_fn(model)
    else:
        model = MLP(nin, [*hidden, 1], activation=activation, seed=seed)
        if loss_kind == "hinge":
            labels = np.where(rng.random(batch) < 0.5, -1.0, 1.0)
            fn = hinge_fn(model)
        else:
            labels = rng.normal(size=batch)
            fn = mse_fn(model)
    params = model.parameters()
    step = compile(fn, params, (X[0], labels[0]))

    (loss, outputs), grads = compiled_result(step, params, X, labels, return_outputs=True)
    expected_loss, expected_grads, expected_outputs = eager_reference(fn, params, X, labels)

    assert loss == pytest.approx(expected_loss, rel=RTOL)
    assert_close(grads, expected_grads)
    assert_close(outputs, expected_outputs)
    assert np.any(grads != 0.0)


def test_layers_run_as_matrix_products():
    model = MLP(2, [16, 16, 1], activation="relu", seed=0)
    step = compile(hinge_fn(model), model.parameters(), ([0.5, -0.5], 1.0))
    plan = step.describe()
    assert plan.count("matmul") == 3
    assert "matmul (16 x 2)" in plan and "matmul (16 x 16)" in plan and "matmul (1 x 16)" in plan


def test_relu_abs_and_leaky_relu_at_their_kinks_match_eager():
    # integer weights and inputs make the pre-activation exactly 0 for some samples
    w = [Value(1.0), Value(-1.0)]
    b = Value(0.0)
    params = [*w, b]

    def fn(x):
        z = ts.dot(w, x, b)
        return z.relu() * 3.0 + z.abs() + z.leaky_relu(0.25) * 2.0

    X = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 1.0], [1.0, 3.0], [-0.0, 0.0]])
    step = compile(fn, params, (X[0],))
    loss, grads = compiled_result(step, params, X)
    expected_loss, expected_grads, _ = eager_reference(fn, params, X)
    assert loss == expected_loss
    assert_close(grads, expected_grads)
    # by hand: at z = 0 relu' = 0, abs' = 0, leaky' = 0.25, so d/db there is 0.5; the
    # sample with z = 2 gives 3 + 1 + 2 = 6 and the one with z = -2 gives -1 + 0.5
    assert grads[2] == pytest.approx((0.5 * 3 + 6 + (-0.5)) / 5, rel=1e-15)


def test_cross_entropy_with_large_logits_stays_finite_and_matches_eager():
    model = MLP(3, [8, 4], activation="tanh", seed=3)
    for p in model.layers[-1].parameters():
        p.data *= 600.0  # logits in the hundreds: exp without the max shift would overflow
    params = model.parameters()
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 3))
    labels = np.eye(4)[rng.integers(0, 4, size=20)]
    fn = cross_entropy_fn(model)
    step = compile(fn, params, (X[0], labels[0]))
    (loss, logits), grads = compiled_result(step, params, X, labels, return_outputs=True)
    expected_loss, expected_grads, _ = eager_reference(fn, params, X, labels)
    assert np.abs(logits).max() > 710.0  # exp(710) is inf in float64
    assert math.isfinite(loss) and np.all(np.isfinite(grads))
    assert loss == pytest.approx(expected_loss, rel=RTOL)
    assert_close(grads, expected_grads)


# one per-sample term per op; a and c are parameters, x and y the sample
ELEMENTWISE_TERMS = {
    "add": lambda x, y, a, c: x + a,
    "sub": lambda x, y, a, c: x - c,
    "mul": lambda x, y, a, c: x * a,
    "div": lambda x, y, a, c: a / x,  # x = 0: inf, and -inf for -0.0
    "neg": lambda x, y, a, c: -(x * a),
    "exp": lambda x, y, a, c: (x * a).exp(),
    "log": lambda x, y, a, c: (x * a).log(),  # x <= 0: -inf, nan
    "sqrt": lambda x, y, a, c: (x * a).sqrt(),
    "tanh": lambda x, y, a, c: (x * c).tanh(),
    "sigmoid": lambda x, y, a, c: (x * c * 400.0).sigmoid(),  # saturates both ways
    "cube": lambda x, y, a, c: (x * a) ** 3,
    "square root as a power": lambda x, y, a, c: (x * a) ** 0.5,
    "power 0": lambda x, y, a, c: (x * a) ** 0,  # d/dx 0 even at x = 0
    "power -2": lambda x, y, a, c: (x * a) ** -2.0,
    "power of a parameter": lambda x, y, a, c: x**a,  # 0 ** a, negative bases
    "parameter to a power": lambda x, y, a, c: a**x,
    "power of a sample": lambda x, y, a, c: y ** (c * x),  # 0 ** 0, 0 ** negative
    "identity": lambda x, y, a, c: identity(x * a) * c,
    "relu": lambda x, y, a, c: (x * a).relu(),
    "abs": lambda x, y, a, c: (x * c).abs(),
    "leaky_relu": lambda x, y, a, c: (x * a).leaky_relu(0.1),
}
SPECIAL_XS = np.array([2.0, 0.5, 0.0, -0.0, -1.5, 3.0, 1.0, -2.0, 1e300])
SPECIAL_YS = np.array([0.0, 1.0, 2.0, 0.0, -0.5, 4.0, 0.0, 3.0, 1.0])


@pytest.mark.parametrize("name", ELEMENTWISE_TERMS)
def test_each_elementwise_op_matches_eager_at_special_values(name):
    term = ELEMENTWISE_TERMS[name]
    a, c = Value(0.7), Value(-1.3)

    def fn(x, y):
        out = term(x, y, a, c)
        return out, out

    # one sample at a time shows each sample's gradient; then the whole batch at once
    step = compile(fn, [a, c], (SPECIAL_XS[0], SPECIAL_YS[0]))
    for i in range(len(SPECIAL_XS)):
        xs, ys = SPECIAL_XS[i : i + 1], SPECIAL_YS[i : i + 1]
        (loss, out), grads = compiled_result(step, [a, c], xs, ys, return_outputs=True)
        expected_loss, expected_grads, expected_out = eager_reference(fn, [a, c], xs, ys)
        assert_close(out, expected_out)
        assert_close(grads, expected_grads)
    (loss, out), grads = compiled_result(step, [a, c], SPECIAL_XS, SPECIAL_YS, return_outputs=True)
    expected_loss, expected_grads, expected_out = eager_reference(
        fn, [a, c], SPECIAL_XS, SPECIAL_YS
    )
    assert_close(out, expected_out)
    assert_close(grads, expected_grads)


def test_all_ops_in_one_graph_match_eager():
    a, c = Value(0.7), Value(-1.3)

    def fn(x, y):
        terms = [term(x, y, a, c) for term in ELEMENTWISE_TERMS.values()]
        return ts.sum(terms), terms

    X, Y = np.array([0.3, 1.7, 2.5, 0.9]), np.array([0.5, 2.0, 1.5, 3.0])
    step = compile(fn, [a, c], (X[0], Y[0]))
    (loss, outputs), grads = compiled_result(step, [a, c], X, Y, return_outputs=True)
    expected_loss, expected_grads, expected_outputs = eager_reference(fn, [a, c], X, Y)
    assert outputs.shape == (4, len(ELEMENTWISE_TERMS))
    assert_close(outputs, expected_outputs)
    assert_close(grads, expected_grads)
    assert loss == pytest.approx(expected_loss, rel=RTOL)
    assert np.all(np.isfinite(grads))


def test_shared_weights_swapped_dot_and_computed_weights_match_eager():
    w = [Value(0.3), Value(-0.8), Value(1.1)]
    b = Value(0.2)
    params = [*w, b, w[0]]  # listed twice: counted once

    def fn(x, y):
        h1 = ts.dot([w[0], w[0], w[1]], x, b)  # one weight used twice in a neuron
        h2 = ts.dot(x, [w[2], w[1], w[0]])  # inputs first, weights second
        h3 = ts.dot([x[0] * w[1], x[1], h1], [h2, w[2], x[2]], bias=h1 * b)  # per sample
        h4 = ts.dot([w[1], w[2]], [x[1], x[1]])  # one input used twice
        s = ts.sum([h1, h2, h3, h1, h4])  # a repeated term
        return (s - y) ** 2 + w[0] * b * x[0], [h1, h2, h3, h4]

    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(7, 3)), rng.normal(size=7)
    step = compile(fn, params, (X[0], Y[0]))
    params = [*w, b]
    (loss, outputs), grads = compiled_result(step, params, X, Y, return_outputs=True)
    expected_loss, expected_grads, expected_outputs = eager_reference(fn, params, X, Y)
    assert loss == pytest.approx(expected_loss, rel=RTOL)
    assert_close(grads, expected_grads)
    assert_close(outputs, expected_outputs)
    assert "per sample" in step.describe()  # h3 could not be a matrix product


def test_a_users_rule_runs_vectorized():
    cube = rules.Rule("cube", lambda o, x: x * x * x, lambda o, out, x: (3.0 * x * x,))
    w = Value(0.5)

    def fn(x):
        return cube(x * w) + w

    xs = np.array([1.0, -2.0, 0.5])
    step = compile(fn, [w], (xs[0],))
    loss, grads = compiled_result(step, [w], xs)
    expected_loss, expected_grads, _ = eager_reference(fn, [w], xs)
    assert loss == pytest.approx(expected_loss, rel=RTOL)
    assert_close(grads, expected_grads)


# --- semantics of .grad, outputs, training ---------------------------------------------------


def test_gradients_accumulate_like_backward():
    model = MLP(2, [3, 1], activation="tanh", seed=1)
    params = model.parameters()
    fn = mse_fn(model)
    X, y = np.array([[0.1, 0.2], [0.3, -0.4]]), np.array([1.0, -1.0])
    step = compile(fn, params, (X[0], y[0]))
    _, once = compiled_result(step, params, X, y)
    for p in params:
        p.grad = 0.5
    step(X, y)
    step(X, y)
    assert_close(np.array([p.grad for p in params]), 0.5 + 2 * once)


def test_eager_l2_adds_into_the_same_grad():
    model = MLP(2, [4, 1], activation="relu", seed=2)
    params = model.parameters()
    fn = hinge_fn(model)
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(10, 2)), np.where(rng.random(10) < 0.5, -1.0, 1.0)
    step = compile(fn, params, (X[0], y[0]))

    for p in params:
        p.grad = 0.0
    data_loss = step(X, y)
    penalty = 1e-2 * ts.sum([p * p for p in params])
    penalty.backward()
    compiled_total = data_loss + penalty.data
    compiled_grads = np.array([p.grad for p in params])

    for p in params:
        p.grad = 0.0
    sample_losses = [fn(list(x), float(t))[0] for x, t in zip(X, y)]
    total = ts.sum(sample_losses) * (1 / len(X)) + 1e-2 * ts.sum([p * p for p in params])
    total.backward()
    assert compiled_total == pytest.approx(total.data, rel=RTOL)
    assert_close(compiled_grads, np.array([p.grad for p in params]))


def test_training_steps_follow_the_eager_trajectory():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(12, 2)), rng.normal(size=12)
    compiled_model = MLP(2, [5, 1], activation="tanh", seed=4)
    eager_model = MLP(2, [5, 1], activation="tanh", seed=4)
    step = compile(mse_fn(compiled_model), compiled_model.parameters(), (X[0], y[0]))
    for _ in range(5):
        for model, run in ((compiled_model, lambda: step(X, y)), (eager_model, None)):
            model.zero_grad()
            if run is not None:
                run()
            else:
                ts.sum([mse_fn(model)(list(x), float(t))[0] for x, t in zip(X, y)]).__mul__(
                    1 / len(X)
                ).backward()
            for p in model.parameters():
                p.data -= 0.3 * p.grad
    assert_close(
        np.array([p.data for p in compiled_model.parameters()]),
        np.array([p.data for p in eager_model.parameters()]),
    )


def test_return_outputs_shapes_and_evaluate_leaves_grads_alone():
    model = MLP(2, [3, 3], activation="relu", seed=6)
    params = model.parameters()
    fn = cross_entropy_fn(model)
    X, T = np.array([[0.5, 1.0], [-1.0, 2.0]]), np.eye(3)[[0, 2]]
    step = compile(fn, params, (X[0], T[0]))
    loss, logits = step.evaluate(X, T, return_outputs=True)
    assert all(p.grad == 0.0 for p in params)
    assert logits.shape == (2, 3)
    expected_loss, _, expected_logits = eager_reference(fn, params, X, T)
    assert_close(logits, expected_logits)
    assert step.evaluate(X.tolist(), T.tolist()) == pytest.approx(expected_loss, rel=RTOL)

    scalar_step = compile(mse_fn(MLP(2, [1], seed=0)), [], (X[0], 0.0))
    _, preds = scalar_step(X, [1.0, 2.0], return_outputs=True)
    assert preds.shape == (2,)


def test_return_outputs_needs_fn_to_return_outputs():
    w = Value(1.0)
    step = compile(lambda x: x * w, [w], (1.0,))
    with pytest.raises(ValueError, match="return_outputs=True needs fn to return"):
        step([1.0, 2.0], return_outputs=True)


def test_outputs_outside_the_loss_graph_do_not_touch_gradients():
    w = Value(2.0)

    def fn(x):
        loss = (x * w) ** 2
        return loss, [loss, 1.0 / (x * w)]  # the second output is infinite at x = 0 ...

    step = compile(fn, [w], (1.0,))
    (loss, outputs), grads = compiled_result(step, [w], [0.0, 1.0], return_outputs=True)
    assert outputs[0, 1] == math.inf
    assert grads[0] == pytest.approx(2 * 2.0 * 1.0 / 2)  # ... but not part of d loss / d w


def test_constants_are_baked_in_and_get_no_gradient():
    scale = Value(2.0)  # not a parameter: a constant
    w = Value(3.0)
    step = compile(lambda x: x * scale * w, [w], (1.0,))
    scale.data = 100.0  # too late: the trace saw 2.0
    assert step([1.0, 2.0]) == pytest.approx(2.0 * 3.0 * 1.5)
    assert scale.grad == 0.0 and w.grad == pytest.approx(2.0 * 1.5)
    w.data = 4.0  # a parameter is read on every call
    assert step([1.0, 2.0]) == pytest.approx(2.0 * 4.0 * 1.5)


# --- errors -------------------------------------------------------------------------------


@pytest.fixture
def line_step() -> CompiledStep:
    w = [Value(1.0), Value(2.0)]
    return compile(lambda x, y: (ts.dot(w, x) - y) ** 2, w, ([1.0, 1.0], 0.0))


@pytest.mark.parametrize(
    "batches, message",
    [
        (([[1.0, 2.0, 3.0]], [0.0]), r"batch 0 has shape \(1, 3\).*expected \(batch, 2\)"),
        (([1.0, 2.0], [0.0, 1.0]), r"batch 0 has shape \(2,\)"),
        (([[1.0, 2.0]], [[0.0]]), r"batch 1 has shape \(1, 1\).*expected \(batch,\)"),
        (([[1.0, 2.0]],), r"takes 2 batch\(es\).*got 1"),
        (([[1.0, 2.0], [3.0, 4.0]], [0.0]), "batch 1 has 1 samples but batch 0 has 2"),
        ((np.zeros((0, 2)), []), "the batch is empty"),
        (([[1.0, 2.0], [3.0]], [0.0, 1.0]), "batch 0 is not an array of numbers"),
        (([["a", "b"]], [0.0]), r"batch 0\[0, 0\] is not a number: 'a'"),
        (([[1.0, 2.0]], [None]), r"batch 1\[0\] is not a number: None"),
        (([[1.0, 2.0], [1.0, 10**400]], [0.0, 1.0]), r"batch 0\[1, 1\] is too large"),
        (([[1.0, 2.0]], [True]), r"batch 1\[0\] is not a number: (np\.)?True"),
    ],
)
def test_batches_that_do_not_fit_the_trace_are_refused(line_step, batches, message):
    with pytest.raises(ValueError, match=message):
        line_step(*batches)


def test_compile_refuses_bad_fn_params_and_examples():
    w = Value(1.0)
    with pytest.raises(TypeError, match="fn must return the per-sample loss as a Value"):
        compile(lambda x: 2.0, [w], (1.0,))
    with pytest.raises(TypeError, match="fn must return"):
        compile(lambda x: (x * w, "outputs"), [w], (1.0,))
    with pytest.raises(ValueError, match=r"params\[1\].*is not a leaf"):
        compile(lambda x: x * w, [w, w * 2.0], (1.0,))
    with pytest.raises(TypeError, match=r"params\[0\] is not a Value"):
        compile(lambda x: x * w, [1.0], (1.0,))
    with pytest.raises(TypeError, match="example has 1 argument"):
        compile(lambda x, y: x * w, [w], (1.0,))
    with pytest.raises(TypeError, match="example must be a tuple"):
        compile(lambda x: x * w, [w], 1.0)
    with pytest.raises(TypeError, match="example argument 0 must be a number or a flat"):
        compile(lambda x: x[0][0] * w, [w], ([[1.0, 2.0]],))
    with pytest.raises(TypeError, match="example argument 0 is a string"):
        compile(lambda x: x * w, [w], ("1.0",))


def test_cross_entropy_gradients_match_pytorch():
    torch = pytest.importorskip("torch")
    model = MLP(2, [8, 8, 3], activation="tanh", seed=7)
    net = model.to_torch()
    rng = np.random.default_rng(7)
    X, classes = rng.normal(size=(25, 2)), rng.integers(0, 3, size=25)
    step = compile(cross_entropy_fn(model), model.parameters(), (X[0], np.eye(3)[classes[0]]))
    model.zero_grad()
    loss = step(X, np.eye(3)[classes])

    torch_loss = torch.nn.functional.cross_entropy(net(torch.tensor(X)), torch.tensor(classes))
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    for i, layer in enumerate(model.layers):
        linear = net[2 * i]
        weights = np.array([[w.grad for w in n.w] for n in layer.neurons])
        assert_close(weights, linear.weight.grad.numpy())
        assert_close([n.b.grad for n in layer.neurons], linear.bias.grad.numpy())
