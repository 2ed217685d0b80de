"""What engine v2 (issue 9) promises a user, tested from the outside.

Tracer errors while compile traces; a zero local derivative contributing exactly 0;
identity `==`; the free functions; grad with constant arguments; a user-defined rule
through eager, grad(grad(...)) and compile; pickling and copying deep graphs; the
per-thread and per-task switches; one topological order and one chain rule.
"""

from __future__ import annotations

import asyncio
import copy
import math
import pickle
import threading

import pytest

import tinygrad_scalar as ts
from tinygrad_scalar import (
    Rule,
    TracerError,
    Value,
    data,
    detect_anomaly,
    engine,
    grad,
    gradients,
    is_grad_enabled,
    losses,
    no_grad,
    topological_order,
    train,
)
from tinygrad_scalar.compiler import compile
from tinygrad_scalar.nn import MLP

INF = math.inf


def same(a, b):
    return a == b or (a != a and b != b)


# --- 3. tracer errors -------------------------------------------------------------------------

BRANCHES = {
    "if x > 0": lambda v: 1.0 if v > 0 else 0.0,
    "if x <= 0": lambda v: 1.0 if v <= 0 else 0.0,
    "bool(x)": lambda v: bool(v),
    "float(x)": lambda v: float(v),
    "int(x)": lambda v: int(v),
    "round(x)": lambda v: round(v, 1),
}


@pytest.mark.parametrize("branch", list(BRANCHES))
def test_a_branch_on_a_batch_value_while_tracing_is_a_tracer_error(branch):
    w = Value(2.0)

    def fn(x):
        y = w * x
        BRANCHES[branch](y)
        return y

    with pytest.raises(TracerError, match="depends on compile's inputs") as error:
        compile(fn, [w], (1.0,))
    message = str(error.value)
    assert "frozen for every sample" in message
    assert "as an op" in message and "take" in message  # the remedy
    assert "\n" not in message
    assert isinstance(error.value, TypeError)  # as JAX's tracer errors are


@pytest.mark.parametrize("branch", list(BRANCHES))
def test_a_branch_on_a_parameter_while_tracing_is_fine(branch):
    w = Value(2.0)
    scale = Value(3.0)

    def fn(x):
        BRANCHES[branch](w * scale)  # no batch input in it: the same for every sample
        return w * x

    step = compile(fn, [w], (1.0,))
    assert step([1.0, 3.0]) == 4.0


def test_the_same_branches_are_fine_eagerly_and_after_tracing():
    w = Value(2.0)
    x = Value(1.5)
    for branch in BRANCHES.values():
        branch(w * x)
    compile(lambda v: w * v, [w], (1.0,))
    assert int(w * x) == 3 and bool(w * x) and float(w * x) == 3.0


# --- 4. a zero local derivative contributes exactly 0 -----------------------------------------


def test_dead_relu_to_the_minus_one_has_gradient_zero():
    x = Value(-1.0)
    y = x.relu() ** -1  # relu(-1) = 0, 0 ** -1 = inf, d/dy = -inf
    y.backward()
    assert y.data == INF
    assert x.grad == 0.0


def test_zero_local_derivatives_match_pytorch():
    torch = pytest.importorskip("torch")

    def ours_and_torch(f, *xs):
        leaves = [Value(x) for x in xs]
        f(*leaves).backward()
        tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
        f(*tensors).backward()
        return [v.grad for v in leaves], [t.grad.item() for t in tensors]

    cases = [
        (lambda x: x.relu() ** -1, [-1.0]),
        (lambda x: (x**0.0) * INF, [0.0]),
        (lambda x: (x**0.0) * INF, [3.0]),
        (lambda x, b: (x**b) * INF, [2.0, 0.0]),
    ]
    for f, xs in cases:
        ours, theirs = ours_and_torch(f, *xs)
        assert all(map(same, ours, theirs)), (xs, ours, theirs)


def test_abs_at_zero_with_an_infinite_upstream_gradient_gives_zero():
    # PyTorch gives nan here (sign(0) * -inf); issue 9 asks for the masked 0, as for relu
    x = Value(0.0)
    (abs(x) ** -1).backward()
    assert x.grad == 0.0


def test_pow_with_exponent_zero_passes_no_gradient_to_its_base():
    for base in (0.0, -2.0, 5.0, INF):
        x = Value(base)
        ((x**0.0) * INF).backward()
        assert x.grad == 0.0, base
        a, b = Value(base), Value(0.0)
        ((a**b) * INF).backward()
        assert a.grad == 0.0, base


def test_create_graph_masks_a_zero_local_derivative_that_is_a_value():
    # with create_graph the local derivatives are Values: MUL's is the other operand, and
    # x**2's is 2x; at 0 with an infinite upstream gradient they must add 0, not nan
    for make in (lambda x: (x * Value(0.0)) ** -1, lambda x: (x * 0.0) ** -1):
        x = Value(2.0)
        out = make(x)
        assert gradients(out, [x]) == (0.0,)
        assert engine.data_of(gradients(out, [x], create_graph=True)[0]) == 0.0
    x = Value(0.0)
    out = (x**2.0) ** -1
    assert engine.data_of(gradients(out, [x], create_graph=True)[0]) == 0.0
    out.backward(create_graph=True)
    assert engine.data_of(x.grad) == 0.0
    # a zero Value local with a finite gradient still carries its own derivative
    assert grad(grad(lambda v: v**2.0))(0.0) == 2.0
    assert grad(grad(lambda v: v * v))(0.0) == 2.0


@pytest.mark.parametrize(
    "fn",
    [
        lambda w, x: (w * x).relu() ** -1,
        lambda w, x: abs(w * x) ** -1,
        lambda w, x: ((w * x) ** 0.0) * INF,
    ],
)
def test_compiled_zero_local_derivatives_contribute_zero(fn):
    w = Value(1.0)
    step = compile(lambda x: fn(w, x), [w], (1.0,))
    eager_leaves = [Value(x) for x in (-1.0, 0.0)]
    w.grad = 0.0
    eager_loss = ts.sum([fn(w, x) for x in eager_leaves]) * 0.5
    eager_loss.backward()
    eager_grad, w.grad = w.grad, 0.0
    step([-1.0, 0.0])
    assert same(w.grad, eager_grad)
    assert not math.isnan(w.grad)


# --- 5. identity ==, comparisons, formatting --------------------------------------------------


def test_index_and_remove_find_the_parameter_itself_when_biases_are_equal():
    model = MLP(2, [3, 3, 1], seed=0)
    params = model.parameters()
    biases = [neuron.b for layer in model.layers for neuron in layer.neurons]
    for b in biases:
        b.data = 0.1
    b3 = biases[3]
    where = next(i for i, p in enumerate(params) if p is b3)
    assert params.index(b3) == where
    params.remove(b3)
    assert all(p is not b3 for p in params)
    assert sum(1 for p in params if p.data == 0.1) == len(biases) - 1
    assert b3 in model.parameters()


def test_equality_is_identity_and_order_compares_data():
    a, b = Value(1.0), Value(1.0)
    assert a == a and a != b and not (a == b)  # noqa: SIM201 - == and != separately
    assert a <= b and a >= b and not (a < b) and not (a > b)
    assert Value(1.0) < Value(2.0) and Value(2.0) > 1.5 and 0.5 < Value(1.0)  # noqa: SIM300
    assert len({a, b}) == 2 and {a: 1, b: 2}[b] == 2  # hashed by identity
    assert hash(a) != hash(b) or a is b
    assert (Value(1.0) == 1.0) is False  # a Value is not its number


def test_format_round_int_read_the_number():
    v = Value(3.14159)
    assert f"{v:.3f}" == "3.142"
    assert round(v, 2) == 3.14 and type(round(v, 2)) is float
    assert round(v) == 3
    assert int(Value(-2.7)) == -2 and int(v) == 3
    assert float(v) == 3.14159
    assert f"{v}" == repr(v)


# --- 6. free functions ------------------------------------------------------------------------

FREE = ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sin", "cos", "abs", "log1p", "softplus"]


@pytest.mark.parametrize("name", FREE)
def test_free_functions_take_floats_and_values(name):
    f = getattr(ts, name)
    for x in (0.7, 2.0, -0.3, 0.0):
        on_float = f(x)
        on_value = f(Value(x))
        assert type(on_float) is float
        assert isinstance(on_value, Value)
        assert same(on_float, on_value.data)
        method = abs(Value(x)) if name == "abs" else getattr(Value(x), name)()
        assert same(on_value.data, method.data)


def test_a_function_written_once_works_with_floats_and_values():
    def neuron(x):
        return ts.tanh(ts.exp(x) * 0.5 - ts.sqrt(ts.abs(x)) + ts.sin(x) * ts.cos(x)) + ts.relu(x)

    x = Value(0.8)
    y = neuron(x)
    y.backward()
    assert y.data == neuron(0.8)
    h = 1e-6
    assert math.isclose(x.grad, (neuron(0.8 + h) - neuron(0.8 - h)) / (2 * h), rel_tol=1e-6)


# --- 7. grad with numeric constant arguments --------------------------------------------------


def test_grad_passes_other_numeric_arguments_as_constant_values():
    def f(x, y):
        return x * y.sigmoid()  # y.sigmoid() needs y to be a Value

    got = grad(f, argnums=0)(1.3, 0.7)
    assert type(got) is float
    assert got == 1.0 / (1.0 + math.exp(-0.7))
    assert grad(f, argnums=1)(1.3, 0.7) == pytest.approx(
        1.3 * ts.sigmoid(0.7) * (1 - ts.sigmoid(0.7)), rel=1e-15
    )


# --- 8. a user-defined rule through eager, grad(grad(...)) and compile ------------------------

user_softplus = Rule(
    "softplus",
    lambda o, x: o.log(1.0 + o.exp(x)),
    lambda o, out, x: (o.exp(x) / (1.0 + o.exp(x)),),
)


def test_user_rule_forward_and_backward():
    for x in (-3.0, 0.0, 0.5, 4.0):
        v = Value(x)
        y = user_softplus(v)
        y.backward()
        assert y.rule is user_softplus and y.op == "softplus"
        assert y.data == pytest.approx(math.log1p(math.exp(x)), rel=1e-15)
        assert v.grad == pytest.approx(1.0 / (1.0 + math.exp(-x)), rel=1e-15)
    assert user_softplus(0.0) == math.log(2.0)


def test_user_rule_second_and_third_derivatives_match_sympy():
    sympy = pytest.importorskip("sympy")
    s = sympy.Symbol("x")
    expression = sympy.log(1 + sympy.exp(s))
    for x in (-2.0, 0.3, 1.7):
        for order, ours in (
            (2, grad(grad(user_softplus))(x)),
            (3, grad(grad(grad(user_softplus)))(x)),
        ):
            exact = float(sympy.diff(expression, s, order).subs(s, x))
            assert ours == pytest.approx(exact, rel=1e-13), (x, order)


def test_user_rule_compiles_as_one_vectorized_group():
    w = [Value(0.5), Value(-1.0), Value(2.0)]

    def fn(x, t):
        hidden = [user_softplus(wi * x) for wi in w]  # three nodes at one depth
        return (ts.sum(hidden) - t) ** 2

    step = compile(fn, w, (1.0, 0.0))
    lines = step.describe().splitlines()
    softplus_lines = [line for line in lines if "softplus" in line]
    assert len(softplus_lines) == 1 and softplus_lines[0].endswith("softplus x3")
    xs, ts_ = [-2.0, 0.0, 1.0, 3.0], [1.0, 0.0, 2.0, -1.0]
    for p in w:
        p.grad = 0.0
    loss = step(xs, ts_)
    compiled_grads = [p.grad for p in w]
    for p in w:
        p.grad = 0.0
    eager_loss = ts.sum([fn(Value(x), Value(t)) for x, t in zip(xs, ts_)]) * (1 / len(xs))
    eager_loss.backward()
    assert loss == pytest.approx(eager_loss.data, rel=1e-12)
    assert compiled_grads == pytest.approx([p.grad for p in w], rel=1e-12)


# --- 9. pickle and deepcopy -------------------------------------------------------------------


def deep_chain(depth):
    x = Value(0.5, "x")
    y = x
    for i in range(depth):
        y = y * 1.0000001 if i % 2 else y + 1e-7
    y.label = "top"
    return x, y


def walk_to_leaf(y):
    """(number of ops, the leaf at the bottom) of a chain, without recursion."""
    n = 0
    while y.parents:
        y = y.parents[0]
        n += 1
    return n, y


@pytest.mark.parametrize("copier", ["pickle", "deepcopy"])
def test_a_100000_deep_graph_pickles_and_copies(copier):
    x, y = deep_chain(100_000)
    y.backward()
    if copier == "pickle":
        twin = pickle.loads(pickle.dumps(y))
    else:
        twin = copy.deepcopy(y)
    assert twin is not y
    assert (twin.data, twin.grad, twin.label, twin.op) == (y.data, y.grad, "top", y.op)
    depth, leaf = walk_to_leaf(twin)
    assert depth == 100_000
    assert (leaf.data, leaf.grad, leaf.label) == (0.5, x.grad, "x")
    assert leaf is not x
    middle, twin_middle = y, twin
    for _ in range(50_000):
        middle, twin_middle = middle.parents[0], twin_middle.parents[0]
    assert (twin_middle.data, twin_middle.grad, twin_middle.op) == (
        middle.data,
        middle.grad,
        middle.op,
    )
    assert twin_middle.local_grads == middle.local_grads


def test_a_computed_value_pickles_with_its_rules_and_bound_parameters():
    a, b = Value(2.0, "a"), Value(-3.0, "b")
    out = ((a * b).tanh() + a**3 + b.leaky_relu(0.2) + ts.softplus(a)) / 2
    out.backward()
    twin = pickle.loads(pickle.dumps(out))
    original, copied = topological_order(out), topological_order(twin)
    assert [(v.data, v.grad, v.label, v.op) for v in original] == [
        (v.data, v.grad, v.label, v.op) for v in copied
    ]
    assert [v.rule for v in original] == [v.rule for v in copied]  # the same rule objects
    leaves = [v for v in copied if not v.parents]
    for leaf in leaves:
        leaf.grad = 0.0
    twin.backward()
    assert [v.grad for v in leaves] == [v.grad for v in original if not v.parents]


def test_leaves_shared_by_pickled_objects_stay_shared():
    model = MLP(2, [3, 1], seed=0)
    params = model.parameters()
    loss = losses.mse([model([0.5, -1.0]), model([1.0, 2.0])], [1.0, 0.0])
    loss_copy, params_copy = pickle.loads(pickle.dumps([loss, params]))
    leaves = {id(v) for v in topological_order(loss_copy) if not v.parents}
    assert all(id(p) in leaves for p in params_copy)
    loss_copy.backward()
    loss.backward()
    assert [p.grad for p in params_copy] == [p.grad for p in params]


def test_a_graph_of_create_graph_gradients_pickles_their_numbers():
    x = Value(1.5)
    y = x.exp() * x
    y.backward(create_graph=True)
    twin = pickle.loads(pickle.dumps(y))
    assert isinstance(x.grad, Value)
    assert walk_to_leaf(twin)[1].grad == x.grad.data


# --- 10. the switches are per thread and per task ---------------------------------------------


def run_threads(*targets):
    errors = []

    def guarded(target):
        try:
            target()
        except BaseException as error:  # reported in the main thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]


def test_overlapping_no_grad_in_two_threads_leaves_grad_mode_on():
    both_inside = threading.Barrier(2, timeout=30)
    seen = {}

    def worker(name):
        with no_grad():
            both_inside.wait()  # both threads are in no_grad now
            seen[name] = (is_grad_enabled(), (Value(1.0) * 2).parents)
            both_inside.wait()

    run_threads(lambda: worker("a"), lambda: worker("b"))
    assert seen == {"a": (False, ()), "b": (False, ())}
    assert is_grad_enabled()
    assert len((Value(1.0) * 2).parents) == 2


def test_each_thread_sees_its_own_grad_mode():
    inside = threading.Barrier(2, timeout=30)
    seen = {}

    def without_grad():
        with no_grad():
            inside.wait()
            seen["no_grad"] = (is_grad_enabled(), len((Value(1.0) * 2).parents))
            inside.wait()

    def with_grad():
        inside.wait()  # the other thread is inside no_grad now
        seen["grad"] = (is_grad_enabled(), len((Value(1.0) * 2).parents))
        inside.wait()

    run_threads(without_grad, with_grad)
    assert seen == {"no_grad": (False, 0), "grad": (True, 2)}


def test_detect_anomaly_in_one_thread_does_not_affect_another():
    inside = threading.Barrier(2, timeout=30)
    seen = {}

    def checking():
        with detect_anomaly():
            inside.wait()
            try:
                Value(1e308) * 10.0
            except FloatingPointError as error:
                seen["checking"] = str(error)
            inside.wait()

    def not_checking():
        inside.wait()
        seen["not_checking"] = (Value(1e308) * 10.0).data
        inside.wait()

    run_threads(checking, not_checking)
    assert "produced inf" in seen["checking"]
    assert seen["not_checking"] == INF


def test_backward_cannot_leave_anomaly_mode_on():
    x = Value(0.0)
    y = x.sqrt()  # sqrt'(0) = inf
    with pytest.raises(FloatingPointError), detect_anomaly():
        y.backward(create_graph=True)
    assert (Value(1e308) * 10.0).data == INF  # no FloatingPointError: anomaly mode is off
    y.backward(create_graph=True)
    assert x.grad.data == INF
    assert engine._modes_active == 0  # the hot path is back on its fast branch


def fit_once(seed):
    X, y = data.make_moons(24, seed=seed)
    model = MLP(2, [4, 1], seed=seed)
    train.fit(model, X, y, loss="hinge", lr=0.1, epochs=15, progress=False, seed=seed)
    return [p.data for p in model.parameters()]


def test_two_threads_fitting_their_own_models_get_the_sequential_parameters():
    sequential = [fit_once(1), fit_once(2)]
    start = threading.Barrier(2, timeout=30)
    threaded = {}

    def worker(seed):
        start.wait()
        threaded[seed] = fit_once(seed)

    run_threads(lambda: worker(1), lambda: worker(2))
    assert [threaded[1], threaded[2]] == sequential
    assert is_grad_enabled()


def test_asyncio_tasks_each_have_their_own_no_grad():
    async def without_grad(started, resume):
        with no_grad():
            started.set()
            await resume.wait()  # the other task runs while this one is inside no_grad
            return is_grad_enabled(), len((Value(1.0) * 2).parents)

    async def with_grad(started, resume):
        await started.wait()
        result = is_grad_enabled(), len((Value(1.0) * 2).parents)
        resume.set()
        return result

    async def main():
        started, resume = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(without_grad(started, resume), with_grad(started, resume))

    assert asyncio.run(main()) == [(False, 0), (True, 2)]
    assert is_grad_enabled()


# --- 11. one topological order, one chain rule ------------------------------------------------


def test_topological_order_visits_parents_in_argument_order():
    a, b = Value(1.0, "a"), Value(2.0, "b")
    a2, b2 = a.exp(), b.exp()
    out = a2 * b2
    assert topological_order(out) == [a, a2, b, b2, out]
    assert topological_order(b2, a2) == [b, b2, a, a2]
    assert topological_order(a2, out) == [a, a2, b, b2, out]
    shared = a * a
    assert topological_order(shared) == [a, shared]


def test_gradients_and_backward_agree():
    a, b, c = Value(0.3), Value(-1.2), Value(2.0)
    out = (a * b + c.tanh()) ** 2 / (a.exp() + 1) + ts.dot([a, b], [c, a], bias=b)
    by_gradients = gradients(out, [a, b, c])
    assert (a.grad, b.grad, c.grad) == (0.0, 0.0, 0.0)  # gradients() writes nothing
    out.backward()
    assert by_gradients == (a.grad, b.grad, c.grad)


@pytest.mark.parametrize("n", [3, 4, 16, 64, 65, 200])  # 3-64 walk unrolled kernels
def test_a_node_with_many_parents_sends_each_its_local_times_upstream(n):
    ws = [Value(0.5 * i - 3.0) for i in range(n)]
    xs = [Value(1.0 / (i + 1)) for i in range(n)]
    bias = Value(1.0)
    out = ts.dot(ws, xs, bias) * 3.0
    out.backward()
    assert [w.grad for w in ws] == [3.0 * x.data for x in xs]
    assert [x.grad for x in xs] == [3.0 * w.data for w in ws]
    assert bias.grad == 3.0
    # a parent that appears several times gets every contribution
    squares = ts.dot(xs, xs)
    assert gradients(squares, xs) == tuple(2.0 * x.data for x in xs)
    total = ts.sum([ws[0]] * n)
    total.backward()
    assert ws[0].grad == 3.0 * xs[0].data + n


def test_a_wide_node_with_zero_gradient_still_turns_an_infinite_local_into_nan():
    # below a zero upstream gradient a node's parents get local * 0: exactly 0 for a finite
    # local (so the walk may skip the node), nan for an infinite one (0 * inf, as PyTorch)
    ws, xs = [Value(1.0), Value(2.0), Value(3.0)], [Value(INF), Value(1.0), Value(2.0)]
    (ts.dot(ws, xs) * 0.0).backward()
    assert math.isnan(ws[0].grad) and (ws[1].grad, ws[2].grad) == (0.0, 0.0)
    dead = [Value(-1.0), Value(2.0), Value(3.0)]
    out = ts.dot(dead, [Value(1.0), Value(0.5), Value(-1.0)]).relu() + dead[0]
    out.backward()  # relu at -2 is dead: only the direct + reaches dead[0]
    assert [w.grad for w in dead] == [1.0, 0.0, 0.0]
    assert math.copysign(1.0, dead[1].grad) == 1.0


def test_the_chain_rule_walks_past_leaves_in_its_order():
    x, c = Value(3.0), Value(2.0)
    out = ts.sum([x * c, (x * 2.0).relu(), ts.dot([x, c, x], [c, c, x])])
    order = topological_order(out)  # leaves included: they have no parents to visit
    assert any(node.is_leaf and node.parents == () == node.local_grads for node in order)
    for node in order:
        node.grad = 0.0
    out.grad = 1.0
    engine.backpropagate(order)
    # out = x*c + relu(2x) + (x*c + c*c + x*x) at x = 3, c = 2
    assert (x.grad, c.grad) == (2.0 + 2.0 + 2.0 + 2 * 3.0, 3.0 + 3.0 + 2 * 2.0)


def test_backward_accumulates_into_leaves_and_overwrites_interior_nodes():
    x = Value(3.0)
    h = x * x
    out = h * 2.0
    out.backward()
    assert (x.grad, h.grad, out.grad) == (12.0, 2.0, 1.0)
    out.backward()
    assert (x.grad, h.grad, out.grad) == (24.0, 2.0, 1.0)


def test_gradients_refuses_a_number_as_an_input():
    x = Value(1.0)
    with pytest.raises(TypeError, match=r"inputs\[1\] must be a Value, got float"):
        gradients(x * 2, [x, 3.0])


def test_numbers_too_large_for_a_float_are_refused_naming_their_size():
    with pytest.raises(ValueError, match="a number with 401 digits is too large for a float"):
        Value(10**400)
    with pytest.raises(ValueError, match="401 digits is too large for a float"):
        Value(2) + 10**400
    with pytest.raises(ValueError, match="401 digits"):
        10**400 * Value(2)
    with pytest.raises(ValueError, match="401 digits"):
        Value(2) ** 10**400


def test_a_rule_pickles_by_its_name_and_a_taken_name_is_refused():
    import pickle

    from tinygrad_scalar import Rule

    def define(forward):
        return Rule("double_or_id", forward, lambda o, out, x: (2.0,))

    first = define(lambda o, x: 2.0 * x)
    second = define(lambda o, x: 2.0 * x)  # a notebook cell run again: the latest wins
    node = pickle.loads(pickle.dumps(second(Value(1.5))))
    assert node.rule is second and node.data == 3.0
    with pytest.raises(pickle.PicklingError, match="name belongs to another rule"):
        pickle.dumps(first(Value(1.5)))
    shadow = Rule("softplus", lambda o, x: x, lambda o, out, x: (1.0,))  # a built-in's name
    with pytest.raises(pickle.PicklingError, match="'softplus'"):
        pickle.dumps(shadow(Value(1.0)))
    assert pickle.loads(pickle.dumps(Value(1.0).softplus())).rule is ts.rules.SOFTPLUS
