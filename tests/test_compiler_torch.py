"""compile(..., backend="torch") and to_torch(): the traced plan replayed on torch tensors.

The torch backend evaluates the rules of rules.py on tensors (`tensors`, the backend `o`)
and lets torch's autograd drive their derivatives. So the numbers it gives must be the
eager engine's and the NumPy step's: each rule at the edges of IEEE 754 (+-0, +-inf, nan,
subnormals, +-1e308), whole models at extreme inputs, every loss, a user's own rule, the
transformer, and training with torch's Adam against ours. Skipped where torch is not
installed (`pip install "tinygrad-scalar[torch]"`); what happens without torch is
tests/test_torch_optional.py, which runs everywhere.
"""

from __future__ import annotations

import inspect
import math
import random

import numpy as np
import pytest
import test_compile_exact
import test_compile_extremes
import test_compile_programs
from compiled_vs_eager import compiled_run, eager_run
from hypothesis import given, settings
from hypothesis import strategies as st
from test_compile_extremes import FEATURES, LOSSES, assert_agree
from test_rules_conformance import (
    ALL_SINGLE,
    BINARY_RULES,
    NARY_RULES,
    POWER_EXPONENTS,
    any_float,
    assert_same,
    binary_cases,
    nary_cases,
    on_floats,
    ulps_allowed,
    unary_cases,
)
from tiny_gpt import TinyGPT, token_columns

import tinygrad_scalar as ts
from tinygrad_scalar import Rule, Value, losses, optim, rules
from tinygrad_scalar.nn import MLP, Layer

torch = pytest.importorskip("torch")

from tinygrad_scalar.compiler.torch_backend import tensors  # noqa: E402 - needs torch

CPU64 = tensors(torch, torch.float64, torch.device("cpu"))


# --- every rule on the torch backend equals the float backend ---------------------------------


def check_torch_backend(rule: rules.Rule, cases: list[tuple]) -> None:
    """All cases at once, one column per case, as a compiled step runs them; the
    derivatives from the float backend's output (as in test_rules_conformance)."""
    columns = [torch.tensor(column, dtype=torch.float64) for column in zip(*cases)]
    ulps = ulps_allowed(rule)
    if (
        rule.name == "sqrt"
    ):  # torch's vectorized sqrt is not correctly rounded: 0.5**0.5 is 1 ulp off
        ulps = 1
    expected = [on_floats(rule, inputs) for inputs in cases]
    float_outs = torch.tensor([out for out, _ in expected], dtype=torch.float64)
    outs = torch.broadcast_to(CPU64.tensor(rule.evaluate(CPU64, columns)), float_outs.shape)
    derivatives = rule.local_derivatives(CPU64, float_outs, columns)
    for j, inputs in enumerate(cases):
        what = f"{rule.name}{inputs} on tensors"
        out, float_derivatives = expected[j]
        assert_same(outs[j].item(), out, ulps, f"{what} value")
        assert len(derivatives) == len(float_derivatives)
        for i, (column, want) in enumerate(zip(derivatives, float_derivatives)):
            got = torch.broadcast_to(CPU64.tensor(column), float_outs.shape)[j].item()
            assert_same(got, want, ulps, f"{what} d/d input {i}")


@pytest.mark.parametrize("name", list(BINARY_RULES))
def test_binary_rules_on_tensors_equal_floats(name):
    check_torch_backend(BINARY_RULES[name], binary_cases())


@pytest.mark.parametrize("name", list(ALL_SINGLE))
def test_unary_rules_on_tensors_equal_floats(name):
    check_torch_backend(ALL_SINGLE[name], unary_cases())


@pytest.mark.parametrize("name", list(NARY_RULES))
def test_nary_rules_on_tensors_equal_floats(name):
    by_length: dict[int, list] = {}
    for inputs in nary_cases(name):
        by_length.setdefault(len(inputs), []).append(inputs)
    for cases in by_length.values():
        check_torch_backend(NARY_RULES[name], cases)


@pytest.mark.parametrize("name", list(ALL_SINGLE))
@settings(max_examples=60, deadline=None)
@given(x=any_float)
def test_unary_rules_on_tensors_equal_floats_at_any_float(name, x):
    check_torch_backend(ALL_SINGLE[name], [(x,)])


@pytest.mark.parametrize("name", list(BINARY_RULES))
@settings(max_examples=60, deadline=None)
@given(a=any_float, b=any_float)
def test_binary_rules_on_tensors_equal_floats_at_any_floats(name, a, b):
    check_torch_backend(BINARY_RULES[name], [(a, b)])


@settings(max_examples=100, deadline=None)
@given(x=any_float, c=st.one_of(st.sampled_from(POWER_EXPONENTS), any_float))
def test_power_by_any_constant_on_tensors_equals_floats(x, c):
    check_torch_backend(rules.POWER_BY.with_arg(c), [(x,)])


@pytest.mark.parametrize("name", list(NARY_RULES))
@settings(max_examples=60, deadline=None)
@given(xs=st.lists(any_float, min_size=2, max_size=6))
def test_nary_rules_on_tensors_equal_floats_at_any_floats(name, xs):
    if name == "take":  # the last input is the index: a whole number among the others
        xs = [*xs[:-1], float((len(xs) - 1) // 2)]
    check_torch_backend(NARY_RULES[name], [tuple(xs)])


def test_torch_pow_fast_paths_do_not_leak_into_the_backend():
    # torch computes x ** 0.5 as sqrt and x ** -0.5 as rsqrt, which give -0, nan and -inf
    # where C's pow (the float backend) gives +0, inf, +inf and 0
    x = torch.tensor([-math.inf, -0.0], dtype=torch.float64)
    half = rules.POWER_BY.with_arg(0.5).evaluate(CPU64, [x]).tolist()
    minus_half = rules.POWER_BY.with_arg(-0.5).evaluate(CPU64, [x]).tolist()
    assert half == [math.inf, 0.0] and math.copysign(1.0, half[1]) == 1.0
    assert minus_half == [0.0, math.inf]


# --- whole models: torch == NumPy == eager, at ordinary and extreme inputs ---------------------


def sample_argument(x):
    """A sample's number as the eager function takes it: an int (a class, a token) stays
    an int, a float becomes a Value, a row a list of Values."""
    if isinstance(x, (list, tuple)):
        return [Value(v) for v in x]
    return x if isinstance(x, int) else Value(x)


def eager(fn, params, *batches):
    """(mean loss, gradient of each parameter) from the eager engine, sample by sample."""
    (mean, _), grads = eager_run(fn, params, batches, sample_argument)
    return mean, grads


def run_three_ways(fn, params, example, *batches):
    """(loss, gradients) from eager, the NumPy step and the torch step."""
    eager_result = eager(fn, params, *batches)
    numpy_result = compiled_run(ts.compile(fn, params, example), params, *batches)
    torch_step = ts.compile(fn, params, example, backend="torch")
    torch_result = compiled_run(torch_step, params, *batches)
    return eager_result, numpy_result, torch_result


def check_three_ways(fn, params, example, *batches):
    (eager_loss, eager_grads), numpy_result, torch_result = run_three_ways(
        fn, params, example, *batches
    )
    for name, (loss, grads) in (("numpy", numpy_result), ("torch", torch_result)):
        assert_agree(loss, eager_loss, f"{name} loss")
        assert_agree(grads, eager_grads, f"{name} gradient")
    return torch_result


def train_three_ways(fn, params, example, batches, steps=5, lr=0.05):
    """The weights after `steps` Adam steps on the same batch, from the same start: eagerly
    with our Adam, through backend="torch" with our Adam, and through to_torch() with
    torch.optim.Adam. The Values are left at their starting weights."""
    start = [p.data for p in params]
    trained = {}
    torch_step = ts.compile(fn, params, example, backend="torch")

    def eager_step():
        terms = [fn(*map(sample_argument, sample)) for sample in zip(*batches)]
        (ts.sum(terms) * (1 / len(terms))).backward()

    for name, step in (("eager", eager_step), ("torch backend", lambda: torch_step(*batches))):
        ours = optim.Adam(params, lr=lr)
        for _ in range(steps):
            ours.zero_grad()
            step()
            ours.step()
        trained[name] = [p.data for p in params]
        for p, x in zip(params, start):
            p.data, p.grad = x, 0.0
    net = ts.to_torch(fn, params, example)
    adam = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        adam.zero_grad()
        net(*batches).backward()
        adam.step()
    trained["to_torch"] = net.params.tolist()
    assert [p.data for p in params] == start
    assert trained["eager"] != start
    return trained


def check_training_three_ways(fn, params, example, batches, what, steps=5):
    trained = train_three_ways(fn, params, example, batches, steps)
    for name in ("torch backend", "to_torch"):
        assert_agree(trained[name], trained["eager"], f"{what}: {name} after {steps} Adam steps")


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu", "linear"])
@pytest.mark.parametrize("loss_name", list(LOSSES))
def test_random_mlp_on_torch_equals_numpy_and_eager_at_extreme_features(activation, loss_name):
    output, width, loss, labels = LOSSES[loss_name]
    model = MLP(3, [4, 3, width], activation=activation, output=output, seed=1)
    params = model.parameters()

    def fn(x, t):
        return loss(model(x), t)

    for traced in (0, 1):  # traced at an ordinary row, then at an extreme one
        check_three_ways(fn, params, (FEATURES[traced], labels[traced]), FEATURES, labels)


SPECIAL_INPUTS = [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, -5e-324, 1e308, -1e308, 0.7]


@pytest.mark.parametrize(
    "op",
    [
        lambda w, x: (w * x).exp(),
        lambda w, x: (w * x).log(),
        lambda w, x: (w * x).sqrt(),
        lambda w, x: (w * x).tanh(),
        lambda w, x: (w * x).sigmoid(),
        lambda w, x: (w * x).relu(),
        lambda w, x: abs(w * x),
        lambda w, x: (w * x) ** 0.5,
        lambda w, x: (w * x) ** -0.5,
        lambda w, x: w / x,
        lambda w, x: ts.maximum(w * x, 0.0),
        lambda w, x: ts.softplus(w * x),
        lambda w, x: ts.log1p(w * x),
        lambda w, x: ts.sin(w * x) + ts.cos(w * x),
        lambda w, x: (w * x).leaky_relu(0.2),
    ],
    ids=lambda op: "",
)
def test_each_op_on_torch_equals_eager_at_special_inputs(op):
    w = Value(1.5)
    fn = lambda x: op(w, x)
    (eager_loss, eager_grads), _, (loss, grads) = run_three_ways(fn, [w], (0.7,), SPECIAL_INPUTS)
    assert_agree(loss, eager_loss, "loss")
    assert_agree(grads, eager_grads, "gradient")
    # and sample by sample, the values themselves (nan where eager has nan)
    step = ts.compile(fn, [w], (0.7,), backend="torch")
    for x in SPECIAL_INPUTS:
        expected = fn(Value(x)).data
        got = step.evaluate([x])
        assert (got != got and expected != expected) or got == pytest.approx(expected, rel=1e-15)


def test_a_users_rule_trains_through_the_torch_backend_and_to_torch_as_eager():
    # written once against `o`, no torch code: it runs eagerly, on NumPy and on torch
    square_plus_sin = Rule(
        "square_plus_sin",
        lambda o, x: x * x + o.sin(x),
        lambda o, out, x: (2.0 * x + o.cos(x),),
    )
    rng = random.Random(0)
    xs = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(16)]
    ys = [math.sin(a) - b for a, b in xs]
    weights = [Value(0.3), Value(-0.2), Value(0.1)]

    def fn(x, y):
        return (square_plus_sin(ts.dot(weights[:2], x, weights[2])) - y) ** 2

    torch_result = check_three_ways(fn, weights, (xs[0], ys[0]), xs, ys)
    assert torch_result[0] > 0
    check_training_three_ways(fn, weights, (xs[0], ys[0]), (xs, ys), "square_plus_sin", 20)


def test_every_loss_trains_through_the_torch_backend_and_to_torch_as_eager():
    rng = random.Random(1)
    features = [[rng.uniform(-2, 2) for _ in range(3)] for _ in range(12)]
    cases = {  # loss -> (output, width, labels)
        "mse": ("linear", 1, [rng.uniform(-1, 1) for _ in features]),
        "half_mse": ("linear", 1, [rng.uniform(-1, 1) for _ in features]),
        "hinge": ("linear", 1, [rng.choice((-1, 1)) * 1.0 for _ in features]),
        "binary_cross_entropy": ("sigmoid", 1, [rng.uniform(0, 1) for _ in features]),
        "binary_cross_entropy_with_logits": ("linear", 1, [rng.uniform(0, 1) for _ in features]),
        "cross_entropy": ("linear", 3, [rng.randrange(3) for _ in features]),  # int classes
    }
    assert set(cases) == {name for name in losses.__all__ if "softmax" not in name}
    for name, (output, width, labels) in cases.items():
        model = MLP(3, [4, width], output=output, seed=2)
        params = model.parameters()
        loss = getattr(losses, name)

        def fn(x, t, loss=loss, model=model, width=width):
            out = model(x)
            return loss([out], [t]) if width > 1 else loss(out, t)

        check_three_ways(fn, params, (features[0], labels[0]), features, labels)
        check_training_three_ways(fn, params, (features[0], labels[0]), (features, labels), name)


def test_one_layer_on_several_sets_of_inputs_on_torch_equals_numpy_and_eager():
    # the planner runs a layer applied at several positions as one batched product
    layer = Layer(3, 4, activation="tanh", seed=0)
    params = layer.parameters()

    def fn(x1, x2):
        return ts.sum(layer(x1) + layer(x2))

    example = ([0.1, 0.2, 0.3], [0.3, -0.1, 0.5])
    assert "on 2 sets of inputs" in ts.compile(fn, params, example).describe()
    rng = random.Random(4)
    rows = [[[rng.gauss(0, 1) for _ in range(3)] for _ in range(5)] for _ in range(2)]
    rows[0][1] = [1e308, -1e308, 0.0]  # and an overflow, added in eager's order
    check_three_ways(fn, params, example, *rows)


# --- the NumPy step's own tests of exactness, run again on torch ---------------------------------


def compile_tests_of(module):
    """(test function, its arguments) for every test of `module` that compiles a step
    itself, each parametrized case spelled out; training runs (train.fit) are left out."""
    cases = []
    for name, test in vars(module).items():
        if not name.startswith("test_") or not inspect.isfunction(test):
            continue
        source = inspect.getsource(test)
        if "compile(" not in source or "train.fit" in source:
            continue
        combos: list[dict] = [{}]
        for mark in getattr(test, "pytestmark", []):
            if mark.name != "parametrize":
                continue
            names = [n.strip() for n in mark.args[0].split(",")]
            values = [v if len(names) > 1 else (v,) for v in mark.args[1]]
            combos = [{**c, **dict(zip(names, v))} for c in combos for v in values]
        for i, arguments in enumerate(combos):
            cases.append(pytest.param(test, arguments, id=f"{name}-{i}"))
    return cases


@pytest.mark.parametrize(
    "test, arguments",
    compile_tests_of(test_compile_exact)
    + compile_tests_of(test_compile_extremes)
    + compile_tests_of(test_compile_programs),  # random programs, by hypothesis
)
def test_the_numpy_steps_exactness_tests_pass_on_torch(test, arguments, monkeypatch):
    # the same tests, with every compile in them made with backend="torch"
    numpy_compile = ts.compiler.compile

    def compile_on_torch(fn, params, example):
        step = numpy_compile(fn, params, example, backend="torch")
        assert type(step).__name__ == "TorchCompiledStep"
        return step

    monkeypatch.setattr(ts, "compile", compile_on_torch)
    monkeypatch.setattr(test_compile_extremes, "compile", compile_on_torch)
    test(**arguments)


# --- a transformer: nn.transformer's pieces, as in notebook 11 ----------------------------------


def test_a_transformer_on_torch_equals_numpy_and_eager():
    model = TinyGPT()
    params = model.parameters()
    docs, columns = token_columns(6, 5, seed=0)
    eager_result, numpy_result, torch_result = run_three_ways(
        lambda *t: model.loss(*t), params, tuple(docs[0]), *columns
    )
    for name, (loss, grads) in (("numpy", numpy_result), ("torch", torch_result)):
        assert_agree(loss, eager_result[0], f"{name} loss")
        assert_agree(grads, eager_result[1], f"{name} gradient")
    check_training_three_ways(model.loss, params, tuple(docs[0]), columns, "transformer", 3)


def weights_of(net):
    """The module's parameters as one list of floats, in either form (vector or per Value)."""
    return torch.cat([p.reshape(-1) for p in net.parameters()]).tolist()


@pytest.mark.parametrize("per_value", [False, True], ids=["vector", "per_value"])
def test_a_transformer_trained_by_torch_adam_follows_our_adam_on_the_compiled_step(per_value):
    # issue 18: torch.optim.Adam on the exported module, our optim.Adam on the compiled
    # step, 20 steps from the same weights: the same trajectory to 1e-9, whether the
    # module holds one Parameter vector or one 0-dim Parameter per Value
    model = TinyGPT(seed=3)
    params = model.parameters()
    start = [p.data for p in params]
    batches = [token_columns(8, 5, seed=s)[1] for s in range(20)]
    example = tuple(column[0] for column in batches[0])

    step = ts.compile(model.loss, params, example)
    ours = optim.Adam(params, lr=0.02, betas=(0.85, 0.99))
    our_losses = []
    for columns in batches:
        ours.zero_grad()
        our_losses.append(step(*columns))
        ours.step()
    ours_trained = [p.data for p in params]

    for p, x in zip(params, start):
        p.data = x
    net = step.to_torch(per_value=per_value)
    assert len(list(net.parameters())) == (len(params) if per_value else 1)
    assert weights_of(net) == start
    adam = torch.optim.Adam(net.parameters(), lr=0.02, betas=(0.85, 0.99))
    torch_losses = []
    for columns in batches:
        adam.zero_grad()
        loss = net(*columns)
        loss.backward()
        adam.step()
        torch_losses.append(loss.item())
    assert [p.data for p in params] == start  # the Values change only on write_back()
    net.write_back()
    assert_agree(torch_losses, our_losses, "loss")
    assert_agree([p.data for p in params], ours_trained, "weight after 20 Adam steps")
    assert our_losses[-1] < our_losses[0]


def test_compile_by_shape_on_torch_and_its_module_train_on_every_length_as_numpy():
    # notebook 11's setting: one step per length of document, one module for all of them
    model = TinyGPT(seed=5)
    params = model.parameters()
    start = [p.data for p in params]
    batches = [token_columns(4, 3 + s % 3, seed=s)[1] for s in range(9)]  # lengths 3, 4, 5

    numpy_steps = ts.compile_by_shape(model.loss, params)
    torch_steps = ts.compile_by_shape(model.loss, params, backend="torch")
    for columns in batches[:3]:
        numpy_result = compiled_run(numpy_steps, params, *columns)
        torch_result = compiled_run(torch_steps, params, *columns)
        assert_agree(torch_result[0], numpy_result[0], "loss")
        assert_agree(torch_result[1], numpy_result[1], "gradient")
    assert type(torch_steps.step_for(*batches[0])).__name__ == "TorchCompiledStep"

    ours = optim.Adam(params, lr=0.02)
    for columns in batches:
        ours.zero_grad()
        numpy_steps(*columns)
        ours.step()
    ours_trained = [p.data for p in params]
    for p, x in zip(params, start):
        p.data = x
    net = numpy_steps.to_torch()
    adam = torch.optim.Adam(net.parameters(), lr=0.02)
    for columns in batches:
        adam.zero_grad()
        net(*(torch.tensor(column) for column in columns)).backward()
        adam.step()
    net.write_back()
    assert numpy_steps.traces == 3  # the module used the steps already traced
    assert_agree([p.data for p in params], ours_trained, "weight after 9 Adam steps")


# --- the module and the step: interface --------------------------------------------------------


def line_model():
    w, b = Value(0.5), Value(-1.0)
    return [w, b], lambda x, y: ((w * x + b - y) ** 2, w * x + b)


def test_the_module_holds_the_parameters_in_order_and_returns_a_0_dim_mean():
    params, fn = line_model()
    net = ts.to_torch(fn, params, (1.0, 0.0))
    assert isinstance(net, torch.nn.Module)
    (vector,) = net.parameters()  # one Parameter: the traced parameters in order
    assert vector is net.params and isinstance(vector, torch.nn.Parameter)
    assert vector.dtype == torch.float64 and vector.tolist() == [0.5, -1.0]
    loss = net([1.0, 2.0], [0.0, 1.0])  # ((0.5 - 1)^2 + (1 - 1 - 1)^2) / 2
    assert loss.shape == () and loss.item() == 0.625
    loss.backward()
    # d/dw mean = mean(2 (wx + b - y) x) = (2 * -0.5 * 1 + 2 * -1 * 2) / 2
    assert net.params.grad.tolist() == [-2.5, -1.5]
    mean, outputs = net(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]), return_outputs=True)
    assert outputs.tolist() == [-0.5, 0.0] and mean.item() == 0.625
    with torch.no_grad():
        net.params.add_(1.0)
    assert [p.data for p in params] == [0.5, -1.0]  # the Values change only on write_back()
    net.write_back()
    assert [p.data for p in params] == [1.5, 0.0]


def test_per_value_gives_one_0_dim_parameter_per_value_in_order():
    params, fn = line_model()
    net = ts.to_torch(fn, params, (1.0, 0.0), per_value=True)
    w, b = net.parameters()  # the traced parameters, in order
    assert isinstance(w, torch.nn.Parameter) and w.shape == () and w.dtype == torch.float64
    assert [w.item(), b.item()] == [0.5, -1.0]
    assert [name for name, _ in net.named_parameters()] == ["params.0", "params.1"]
    loss = net([1.0, 2.0], [0.0, 1.0])
    assert loss.shape == () and loss.item() == 0.625  # as the vector form above
    loss.backward()
    assert [w.grad.item(), b.grad.item()] == [-2.5, -1.5]
    with torch.no_grad():
        w.add_(1.0)
        b.sub_(2.0)
    assert [p.data for p in params] == [0.5, -1.0]  # the Values change only on write_back()
    net.write_back()
    assert [p.data for p in params] == [1.5, -3.0]


def test_per_value_by_shape_holds_the_shared_parameters_and_runs_every_shape():
    w, b = Value(0.5), Value(-1.0)
    steps = ts.compile_by_shape(lambda *xs: (ts.sum([w * x for x in xs]) + b) ** 2, [w, b])
    net = steps.to_torch(per_value=True, dtype="float32")
    assert [p.item() for p in net.parameters()] == [0.5, -1.0]
    one = net([2.0, 4.0])  # ((1 - 1)^2 + (2 - 1)^2) / 2
    two = net([2.0], [4.0])  # (1 + 2 - 1)^2
    assert (one.item(), two.item()) == (0.5, 4.0) and two.dtype == torch.float32
    assert steps.traces == 2


def test_the_torch_step_has_the_compiled_step_interface():
    params, fn = line_model()
    step = ts.compile(fn, params, (1.0, 0.0), backend="torch")
    assert "torch.float64 on cpu" in repr(step)
    loss = step([1.0, 2.0], [0.0, 1.0])
    assert type(loss) is float and loss == 0.625
    assert [p.grad for p in params] == [-2.5, -1.5]
    step([1.0, 2.0], [0.0, 1.0])  # gradients add up, as backward() does
    assert [p.grad for p in params] == [-5.0, -3.0]
    mean, outputs = step.evaluate([1.0, 2.0], [0.0, 1.0], return_outputs=True)
    assert mean == 0.625 and outputs.tolist() == [-0.5, 0.0]
    assert isinstance(outputs, np.ndarray)
    assert [p.grad for p in params] == [-5.0, -3.0]  # evaluate leaves .grad alone


def test_float32_runs_in_float32_and_agrees_to_single_precision():
    params, fn = line_model()
    step = ts.compile(fn, params, (1.0, 0.0), backend="torch", dtype=torch.float32)
    assert step.evaluate([0.1, 0.2], [0.3, 0.4]) == pytest.approx(
        ts.compile(fn, params, (1.0, 0.0)).evaluate([0.1, 0.2], [0.3, 0.4]), rel=1e-6
    )
    net = ts.to_torch(fn, params, (1.0, 0.0), dtype="float32")
    assert net([0.1], [0.3]).dtype == torch.float32


def test_batches_and_labels_are_checked_on_torch_as_on_numpy():
    w = Value(0.5)
    fn = lambda s, y: losses.hinge(w * s, y)
    step = ts.compile(fn, [w], (1.0, 1.0), backend="torch")
    with pytest.raises(ValueError, match=r"batch 1\[2\]: hinge: labels must be -1 or \+1, got 0"):
        step([1.0, 2.0, 3.0], [1.0, -1.0, 0.0])
    assert w.grad == 0.0
    net = step.to_torch()
    with pytest.raises(ValueError, match=r"batch 1\[2\]: hinge: labels must be -1 or \+1"):
        net(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, -1.0, 0.0]))
    with pytest.raises(ValueError, match=r"batch 0 has shape \(2, 2\)"):
        net([[1.0, 2.0], [3.0, 4.0]], [1.0, 1.0])


def test_bad_backend_device_and_dtype_are_clear_errors():
    params, fn = line_model()
    with pytest.raises(ValueError, match=r"compile: backend must be one of \('numpy', 'torch'\)"):
        ts.compile(fn, params, (1.0, 0.0), backend="jax")
    with pytest.raises(ValueError, match='device and dtype are options of backend="torch"'):
        ts.compile(fn, params, (1.0, 0.0), device="cpu")
    with pytest.raises(ValueError, match="dtype must be a floating-point torch dtype"):
        ts.compile(fn, params, (1.0, 0.0), backend="torch", dtype=torch.int64)
    with pytest.raises(ValueError, match="device 'toaster' is not a torch device"):
        ts.to_torch(fn, params, (1.0, 0.0), device="toaster")


def test_a_rule_that_branches_in_python_is_a_tracer_error_on_torch_too():
    bad = Rule("bad", lambda o, x: x if x > 0 else -x, lambda o, out, x: (1.0,))
    w = Value(1.0)
    step = ts.compile(lambda x: bad(w * x), [w], (1.0,), backend="torch")
    with pytest.raises(ts.TracerError, match="rule 'bad' branches in Python"):
        step([1.0, -2.0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_on_cuda_the_step_and_the_module_equal_the_cpu():
    model = TinyGPT()
    params = model.parameters()
    docs, columns = token_columns(6, 5, seed=0)
    cpu = compiled_run(ts.compile(model.loss, params, tuple(docs[0])), params, *columns)
    cuda_step = ts.compile(model.loss, params, tuple(docs[0]), backend="torch", device="cuda")
    on_cuda = compiled_run(cuda_step, params, *columns)
    assert_agree(on_cuda[0], cpu[0], "loss")
    assert_agree(on_cuda[1], cpu[1], "gradient")
    net = cuda_step.to_torch(device="cuda")
    loss = net(*columns)
    assert loss.device.type == "cuda"
    loss.backward()
    assert_agree(net.params.grad.tolist(), cpu[1], "module gradient")


def test_cuda_where_there_is_none_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    params, fn = line_model()
    with pytest.raises(ValueError, match=r"device 'cuda' is not available here"):
        ts.compile(fn, params, (1.0, 0.0), backend="torch", device="cuda")
