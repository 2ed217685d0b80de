"""A compiled step keeps its parameters in a Store (store.py) while it trains them: the
training loop then gives the same bits as with plain Values, code that touches a parameter
between steps sees plain Values with the right numbers, and nothing is kept alive by a
reference cycle."""

import gc
import struct
import weakref

import numpy as np
import pytest

import tinygrad_scalar as ts
from tinygrad_scalar import data, losses, nn, optim
from tinygrad_scalar.store import Store, StoredValue


def bits(xs):
    """The numbers' exact bits (-0.0 and nan included)."""
    return struct.pack(f"{len(xs)}d", *xs)


def moons_model():
    X, y = data.make_moons(40, noise=0.1, seed=1)
    labels = np.array([1.0 if label == 1 else -1.0 for label in y])
    model = nn.MLP(2, [8, 8, 1], activation="relu", output="linear", seed=3)
    return model, np.array(X), labels


def run_loop(optimizer_of, steps=12, between=None, scale=1.0):
    """The README's loop on the moons MLP; the weights and gradients after every step."""
    model, X, labels = moons_model()
    params = model.parameters()
    optimizer = optimizer_of(params)
    step = ts.compile(lambda x, t: losses.hinge(model(x), t), params, (X[0], 1.0))
    seen = []
    for k in range(steps):
        model.zero_grad()
        step(X * scale, labels)
        if between is not None:
            between(params, k)
        optimizer.step()
        seen.append((bits(optimizer.exp_avg) if hasattr(optimizer, "exp_avg") else b"", k))
    return [p.data for p in params], [p.grad for p in params], seen


OPTIMIZERS = {
    "adam": lambda ps: optim.Adam(ps, lr=0.05),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=0.1),
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    # heavy ball with dampening and weight decay: every line of SGD._step_arrays
    "sgd dampening": lambda ps: optim.SGD(
        ps, lr=0.1, momentum=0.8, dampening=0.3, weight_decay=0.01
    ),
}


def l2_penalty(params, k):
    (1e-3 * ts.dot(params, params)).backward()  # eager, into the same .grad


def clip_by_hand(params, k):
    for p in params:
        p.grad = max(-0.05, min(0.05, p.grad))


def sgd_by_hand_every_third_step(params, k):
    if k % 3 == 0:
        for p in params:
            p.data -= 0.01 * p.grad


BETWEEN = {
    "nothing": None,
    "l2 penalty": l2_penalty,
    "clipping": clip_by_hand,
    "sgd by hand": sgd_by_hand_every_third_step,
}


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("scale", [1.0, 1e300, 0.0])
@pytest.mark.parametrize("between", BETWEEN)
def test_the_loop_gives_the_same_bits_with_and_without_the_store(name, scale, between, monkeypatch):
    # scale 1e300 overflows the loss and gradients into inf and nan; 0.0 gives zeros.
    # `between` runs after the step and before the optimizer, touching every parameter.
    stored = run_loop(OPTIMIZERS[name], scale=scale, between=BETWEEN[between])
    with monkeypatch.context() as patch:
        patch.setattr(Store, "of", staticmethod(lambda values: None))
        plain = run_loop(OPTIMIZERS[name], scale=scale, between=BETWEEN[between])
    assert bits(stored[0]) == bits(plain[0])  # weights
    assert bits(stored[1]) == bits(plain[1])  # gradients
    assert stored[2] == plain[2]  # Adam's moments, step by step


@pytest.mark.parametrize(
    "step_params",
    [lambda model: model.parameters()[::-1], lambda model: model.layers[0].parameters()],
    ids=["reversed", "first layer alone"],
)
def test_an_optimizer_over_another_list_than_the_step_s_trains_as_without_it(
    step_params, monkeypatch
):
    # The store holds the step's list, in its order; Adam's moments follow the optimizer's.
    # On the store's arrays they would meet other parameters' gradients (or none), so the
    # optimizer and zero_grad must find no store for their list and go Value by Value.
    def run():
        model, X, labels = moons_model()
        params = model.parameters()
        optimizer = optim.Adam(params, lr=0.05)
        step = ts.compile(lambda x, t: losses.hinge(model(x), t), step_params(model), (X[0], 1.0))
        for _ in range(3):
            optimizer.zero_grad()
            step(X, labels)
            optimizer.step()
        return bits([p.data for p in params]), bits(optimizer.exp_avg)

    stored = run()
    with monkeypatch.context() as patch:
        patch.setattr(Store, "of", staticmethod(lambda values: None))
        assert stored == run()


def test_while_training_the_parameters_are_stored_and_the_optimizer_uses_the_arrays():
    model, X, labels = moons_model()
    params = model.parameters()
    optimizer = optim.Adam(params, lr=0.05)
    step = ts.compile(lambda x, t: losses.hinge(model(x), t), params, (X[0], 1.0))
    step(X, labels)
    store = Store.holding(params)
    assert store is not None and all(type(p) is StoredValue for p in params)
    before = store.data.copy()
    optimizer.step()
    assert Store.holding(params) is store  # the optimizer wrote the array, not the Values
    assert not np.array_equal(store.data, before)
    model.zero_grad()
    assert not store.grad.any() and store.live


def test_a_touch_releases_the_store_and_the_values_hold_the_step_s_numbers():
    model, X, labels = moons_model()
    params = model.parameters()
    step = ts.compile(lambda x, t: losses.hinge(model(x), t), params, (X[0], 1.0))
    eager_model, _, _ = moons_model()
    eager_loss = losses.hinge([eager_model(x) for x in X], list(labels))
    eager_loss.backward()
    step(X, labels)
    store = Store.holding(params)
    grads = store.grad.tolist()
    assert abs(params[5].grad - eager_model.parameters()[5].grad) <= 1e-12  # one read...
    assert not store.live and all(type(p) is ts.Value for p in params)  # ...releases all
    assert bits([p.grad for p in params]) == bits(grads)
    params[0].data = eager_model.parameters()[0].data = 0.25  # the next step reads it
    eager_after = losses.hinge([eager_model(x) for x in X], list(labels)).data
    assert step(X, labels) == pytest.approx(eager_after, abs=1e-12)


def test_a_step_whose_store_keeps_being_released_stores_it_less_and_less_often():
    model, X, labels = moons_model()
    params = model.parameters()
    step = ts.compile(lambda x, t: losses.hinge(model(x), t), params, (X[0], 1.0))
    stored_calls = []
    for k in range(40):
        step(X, labels)
        if Store.holding(params) is not None:
            stored_calls.append(k)
        l2_penalty(params, k)  # releases it
    assert stored_calls == [0, 3, 8, 17, 34]  # each release doubles the wait


def test_a_store_that_lasted_is_made_again_at_once_after_a_release():
    # a weight printed every 20 steps releases the store, which had served 20 calls
    model, X, labels = moons_model()
    params = model.parameters()
    step = ts.compile(lambda x, t: losses.hinge(model(x), t), params, (X[0], 1.0))
    unstored_calls = []
    for k in range(100):
        step(X, labels)
        if Store.holding(params) is None:
            unstored_calls.append(k)
        if k % 20 == 19:
            print(params[0])  # releases it
    assert unstored_calls == []  # every call after a release stored them again


def test_a_copy_of_a_step_trains_its_own_parameters():
    import copy

    model, X, labels = moons_model()
    params = model.parameters()
    step = ts.compile(lambda x, t: losses.hinge(model(x), t), params, (X[0], 1.0))
    step(X, labels)
    twin_model, twin_step = copy.deepcopy((model, step))
    twin_params = twin_model.parameters()
    twin_step(X, labels)  # adds into the twin's gradients only (copying read, so released, ours)
    assert Store.holding(twin_params) is not None and Store.holding(params) is None
    assert bits([p.grad for p in twin_params]) == bits([2 * p.grad for p in params])


def test_a_gradient_that_is_a_value_releases_the_store():
    w = ts.Value(1.5)
    step = ts.compile(lambda x: (w * x) ** 2, [w], (1.0,))
    step([1.0, 2.0])
    assert type(w) is StoredValue
    (w**3).backward(create_graph=True)  # .grad becomes a Value
    assert type(w) is ts.Value and isinstance(w.grad, ts.Value)
    assert w.grad.data == 7.5 + 3 * 1.5**2  # the step's mean of 2 w x^2, then 3 w^2
    step([1.0, 2.0])  # cannot be stored now: read and written as a Value, as eagerly
    assert type(w) is ts.Value and w.grad.data == 7.5 + 6.75 + 7.5


def train_and_forget():
    """Two steps of the README's loop; weak references to its store and a parameter."""
    model, X, labels = moons_model()
    params = model.parameters()
    optimizer = optim.Adam(params, lr=0.05)
    step = ts.compile(lambda x, t: losses.hinge(model(x), t), params, (X[0], 1.0))
    for _ in range(2):
        model.zero_grad()
        step(X, labels)
        optimizer.step()
    return weakref.ref(Store.holding(params)), weakref.ref(params[0])


def test_a_model_its_step_and_optimizer_are_freed_without_the_cycle_collector():
    gc.disable()
    try:
        store, first = train_and_forget()
        assert store() is None and first() is None  # reference counting alone freed them
    finally:
        gc.enable()


def test_a_store_no_step_holds_any_more_leaves_its_values_correct():
    w = ts.Value(2.0)
    step = ts.compile(lambda x: w * x, [w], (1.0,))
    step([3.0])
    del step  # the store goes with it; w keeps its numbers
    assert (w.data, w.grad) == (2.0, 3.0)
    again = ts.compile(lambda x: w * x * x, [w], (1.0,))
    again([2.0])
    assert (w.data, w.grad) == (2.0, 7.0)
