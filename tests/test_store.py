"""A compiled step's parameter store (tinygrad_scalar/store.py) changes no number a user sees.

While a compiled step trains them, parameters are StoredValues whose numbers are in two
arrays that the step, the optimizers and zero_grad share; any other read or write lets
the store go first. The reference is the same code with the store switched off
(`Store.of` returning None, so every Value keeps its own slots): a random sequence of
what users do between steps (compiled steps, zero_grad, optimizer steps, writes by hand
of floats, ints, NumPy scalars, Values and the extremes, eager backward, create_graph,
pickling, copies, state dicts, a second step over some of the parameters, a new step)
must leave bit for bit the same `.data`, `.grad`, losses and optimizer state with the
store as without it. The other tests pin what the store must not add: errors, reference
cycles, and above all a change to the numbers when another thread reads a parameter.
"""

import copy
import gc
import math
import pickle
import struct
import sys
import threading
import weakref
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_scalar as ts
from tinygrad_scalar import Value, nn, optim
from tinygrad_scalar.store import Store, StoredValue

X = np.array([[0.5, -1.0], [1.5, 2.0], [-0.3, 0.7], [0.0, 0.25]])
Y = np.array([1.0, -1.0, 0.5, 0.0])

EXTREMES = [0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan, 5e-324, -5e-324,
            2.2250738585072014e-308, 1e308, -1e308, 1.0, -2.5, 0.1]  # fmt: skip


@contextmanager
def store_switched_off(monkeypatch):
    """Every parameter keeps its numbers in its own slots, as before store.py."""
    with monkeypatch.context() as patch:
        patch.setattr(Store, "of", staticmethod(lambda values: None))
        yield


def seen(x):
    """What a user sees of a number: its type and its bits (so -0.0 counts), a Value as
    its number. Every nan is one: the engine's own nan signs are not reproducible (the
    first run of a program can differ from the next, with or without the store)."""
    if isinstance(x, Value):
        return ("Value", seen(x.data))
    if isinstance(x, (float, int, np.floating)):
        return (type(x).__name__, "nan" if x != x else struct.pack("<d", float(x)))
    return (type(x).__name__, repr(x))


def peek(p):
    """(p.data, p.grad) as reading them would give them, without reading them: a read
    lets the store go, and the test would then never see the store at work."""
    if type(p) is StoredValue:
        data, grad, i, _ = p._place
        return data.item(i), grad.item(i)
    return p.data, p.grad


class Training:
    """A small MLP, a compiled step over all its parameters, one over its output layer's,
    an optimizer, and the actions a user takes between steps; `log` records everything
    the user could read after each."""

    def __init__(self, optimizer, backend="numpy"):
        self.model = nn.MLP(2, [3, 1], activation="tanh", output="linear", seed=0)
        self.params = self.model.parameters()
        self.step = ts.compile(self.loss_of, self.params, (X[0], 0.0), backend=backend)
        self.last_layer = self.model.layers[-1].parameters()
        self.step_last = ts.compile(self.loss_of, self.last_layer, (X[0], 0.0), backend=backend)
        self.optimizer = optimizer(self.params)
        self.backend = backend
        self.log = []

    def loss_of(self, x, t):
        return (self.model(x) - t) ** 2

    def eager_loss(self):
        return sum(self.loss_of(x, t) for x, t in zip(X, Y)) / len(X)

    def do(self, action):
        name, *args = action
        try:
            result = getattr(self, name)(*args)
        except Exception as error:  # the same error either way is fine
            result = ("raised", type(error).__name__, str(error))
        self.log.append((action, result, self.numbers()))

    def numbers(self):
        state = self.optimizer.state_dict()
        return (
            [tuple(seen(x) for x in peek(p)) for p in self.params],
            {key: seen(v) if not isinstance(v, list) else [seen(x) for x in v]
             for key, v in state.items()},
        )  # fmt: skip

    # --- the actions ---------------------------------------------------------------

    def compiled(self, rows):
        return seen(self.step(X[:rows], Y[:rows]))

    def compiled_last(self, rows):
        return seen(self.step_last(X[:rows], Y[:rows]))

    def evaluate(self, rows):
        return seen(self.step.evaluate(X[:rows], Y[:rows]))

    def optimizer_zero_grad(self):
        self.optimizer.zero_grad()

    def model_zero_grad(self):
        self.model.zero_grad()

    def optimizer_step(self):
        self.optimizer.step()

    def set_data(self, i, number):
        self.params[i % len(self.params)].data = number

    def set_grad(self, i, number):
        self.params[i % len(self.params)].grad = number

    def add_data(self, i, number):
        self.params[i % len(self.params)].data += number

    def sgd_by_hand(self, lr):  # micrograd's loop
        for p in self.params:
            p.data += -lr * p.grad

    def clip_by_hand(self, limit):
        for p in self.params:
            p.grad = min(max(p.grad, -limit), limit)

    def eager_backward(self, create_graph):
        loss = self.eager_loss()
        loss.backward(create_graph=create_graph)
        return seen(loss.data)

    def compiled_bad(self):  # one feature where the step was traced for two: an error
        return self.step(X[:, :1], Y)

    def anomaly_backward(self):
        with ts.detect_anomaly():
            self.eager_loss().backward()

    def no_grad_loss(self):
        with ts.no_grad():
            return seen(self.eager_loss().data)

    def set_lr(self, lr):
        self.optimizer.lr = lr

    def gradients(self, create_graph):
        found = ts.gradients(self.eager_loss(), self.params, create_graph=create_graph)
        return [seen(g) for g in found]

    def reload_state_dict(self):
        self.model.load_state_dict(self.model.state_dict())

    def pickles(self):
        twin, params = pickle.loads(pickle.dumps((self.model, self.params)))
        return [(seen(p.data), seen(p.grad)) for p in twin.parameters() + params]

    def copies(self):
        twin = copy.deepcopy(self.model)
        return [(seen(p.data), seen(p.grad)) for p in twin.parameters()], [
            seen(copy.copy(p).data) for p in self.params
        ]

    def new_step(self):  # its trace reads the parameters; its first call stores them
        self.step = ts.compile(self.loss_of, self.params, (X[0], 0.0), backend=self.backend)

    def new_optimizer(self):  # the same kind, its state carried over
        state = self.optimizer.state_dict()
        self.optimizer = type(self.optimizer)(self.params, lr=self.optimizer.lr)
        self.optimizer.load_state_dict(state)


OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
    "nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda ps: optim.Adam(ps, lr=0.02),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.02),
}

any_number = st.one_of(
    st.sampled_from(EXTREMES),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 3, -1, True, False]),
    st.floats(-4, 4).map(np.float64),
)
any_gradient = st.one_of(any_number, st.floats(-4, 4).map(Value))
rows = st.integers(1, len(X))
i = st.integers(0, 12)
actions = st.one_of(
    st.tuples(st.just("compiled"), rows),
    st.tuples(st.just("compiled_last"), rows),
    st.tuples(st.just("evaluate"), rows),
    st.tuples(st.just("optimizer_zero_grad")),
    st.tuples(st.just("model_zero_grad")),
    st.tuples(st.just("optimizer_step")),
    st.tuples(st.just("set_data"), i, any_number),
    st.tuples(st.just("set_grad"), i, any_gradient),
    st.tuples(st.just("add_data"), i, st.sampled_from(EXTREMES)),
    st.tuples(st.just("sgd_by_hand"), st.sampled_from([0.1, 1e-3, math.inf])),
    st.tuples(st.just("clip_by_hand"), st.sampled_from([1.0, 1e-300])),
    st.tuples(st.just("eager_backward"), st.booleans()),
    st.tuples(st.just("gradients"), st.booleans()),
    st.tuples(st.just("reload_state_dict")),
    st.tuples(st.just("pickles")),
    st.tuples(st.just("copies")),
    st.tuples(st.just("new_optimizer")),
    st.tuples(st.just("compiled_bad")),
    st.tuples(st.just("anomaly_backward")),
    st.tuples(st.just("no_grad_loss")),
    st.tuples(
        st.just("set_lr"), st.sampled_from([0.5, 0, 1e-300, np.float64(0.01), np.float32(0.1)])
    ),
)
# the training loop itself two times in three; a new step stores the parameters at once
# (a step whose store was let go waits longer and longer before it stores them again)
loop_actions = st.sampled_from(
    [("optimizer_zero_grad",), ("compiled", len(X)), ("optimizer_step",), ("new_step",)]
)
loops = st.lists(st.integers(0, 2).flatmap(lambda k: loop_actions if k else actions), max_size=30)


def both_ways(monkeypatch, optimizer, steps, backend="numpy"):
    with_store = Training(OPTIMIZERS[optimizer], backend)
    for action in steps:
        with_store.do(action)
    with store_switched_off(monkeypatch):
        without = Training(OPTIMIZERS[optimizer], backend)
        for action in steps:
            without.do(action)
    return with_store, without


def assert_same(with_store, without):
    for (action, ours, our_numbers), (_, plain, plain_numbers) in zip(with_store.log, without.log):
        assert ours == plain, f"{action}: returned {ours!r}, without the store {plain!r}"
        assert our_numbers == plain_numbers, f"after {action} the numbers differ"


@settings(max_examples=60, deadline=None)
@given(optimizer=st.sampled_from(sorted(OPTIMIZERS)), steps=loops)
def test_any_sequence_of_actions_sees_the_numbers_it_sees_without_the_store(optimizer, steps):
    monkeypatch = pytest.MonkeyPatch()
    try:
        with_store, without = both_ways(monkeypatch, optimizer, steps)
    finally:
        monkeypatch.undo()
    assert_same(with_store, without)


# --- what the differential test cannot see: the store's own promises -----------------------


def trained(optimizer=OPTIMIZERS["adam"], steps=3):
    """A Training after `steps` turns of the README's loop (its parameters stored)."""
    training = Training(optimizer)
    for _ in range(steps):
        training.optimizer.zero_grad()
        training.step(X, Y)
        training.optimizer.step()
    return training


def test_copies_and_pickles_of_a_stored_value_are_plain_values_with_its_numbers():
    for make in (copy.copy, copy.deepcopy, lambda p: pickle.loads(pickle.dumps(p))):
        training = trained()
        p = training.params[0]
        numbers = peek(p)
        twin = make(p)
        assert type(twin) is Value and (twin.data, twin.grad) == numbers
        assert (p.data, p.grad) == numbers  # the original too, let go or not
        twin.data = 123.0
        assert p.data == numbers[0]
    training = trained()
    numbers = [peek(p) for p in training.params]
    model = copy.deepcopy(training.model)
    assert {type(q) for q in model.parameters()} == {Value}
    assert [(q.data, q.grad) for q in model.parameters()] == numbers


def test_a_step_dropped_while_its_values_stay_stored_then_a_new_step(monkeypatch):
    def run():
        training = trained(OPTIMIZERS["sgd"])
        del training.step  # the store goes with it; the Values keep their numbers
        gc.collect()
        training.optimizer.zero_grad()
        training.eager_backward(False)
        training.optimizer.step()
        step = ts.compile(training.loss_of, training.params[::-1], (X[0], 0.0))
        losses = [step(X, Y) for _ in range(2)]
        training.optimizer.step()
        return losses, training.numbers()

    ours = run()
    with store_switched_off(monkeypatch):
        assert ours == run()


def test_a_step_that_raises_leaves_the_numbers_as_they_were():
    training = trained()
    before = training.numbers()
    with pytest.raises(ValueError):
        training.step(X[:, :1], Y)  # one feature, where the step was traced for two
    with pytest.raises(ValueError):
        training.step(X, Y[:2])
    assert training.numbers() == before
    training.step(X, Y)  # and the next step trains on
    assert training.numbers() != before


def test_a_graph_whose_parameters_are_stored_draws_as_a_plain_one():
    training = trained()
    loss = training.eager_loss()  # reads the parameters: lets the store go
    loss.backward()
    plain = ts.draw(loss, params=training.model).source
    Store.of(training.params)  # stored again, as the next compiled step does
    assert ts.draw(loss, params=training.model).source == plain


def test_fit_with_compile_trains_as_without_the_store(monkeypatch):
    def run(optimizer):
        model = nn.MLP(2, [4, 1], activation="tanh", output="linear", seed=1)
        history = ts.train.fit(
            model, X.tolist(), [1, 0, 1, 0], loss="hinge", optimizer=optimizer, epochs=4,
            batch_size=2, l2=1e-3, seed=0, progress=False, compile=True,
        )  # fmt: skip
        return [seen(p.data) for p in model.parameters()], repr(vars(history))

    for optimizer in ("sgd", "adam"):
        ours = run(optimizer)
        with store_switched_off(monkeypatch):
            assert ours == run(optimizer)


def test_model_step_and_optimizer_are_freed_by_reference_counting():
    gc.collect()
    gc.disable()
    try:
        for optimizer in OPTIMIZERS.values():
            training = trained(optimizer)
            training.step(X, Y)  # stored now, whatever the optimizer
            parameter = weakref.ref(training.params[0])
            store = weakref.ref(Store.holding(training.params))
            del training
            assert parameter() is None and store() is None
    finally:
        gc.enable()


@contextmanager
def another_thread_reading(params):
    """Another thread (a progress display, an evaluation) reading the parameters without
    pause, threads switching as often as Python allows; yields the problems it saw: errors,
    and a number larger than the one it read before (in these tests numbers only go down,
    so that is an old number)."""
    problems, stop = [], threading.Event()

    def reader():
        last = [math.inf] * len(params)
        while not stop.is_set():
            try:
                for k, p in enumerate(params):
                    number = p.data
                    if number > last[k]:
                        problems.append(f"params[{k}] went back from {last[k]} to {number}")
                    last[k] = number
            except Exception as error:
                problems.append(error)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        yield problems
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(switch)


def test_a_thread_reading_the_parameters_changes_none_of_the_numbers_of_training():
    """A read lets the store go: in another thread, between the optimizer finding the
    store and writing its arrays, it lost that update (or raised in either thread).
    Store.lock makes it wait until the optimizer, zero_grad or the step is done."""
    params = [Value(float(i)) for i in range(200)]
    twins = [Value(float(i)) for i in range(200)]  # trained alone, the same way
    optimizer, alone = optim.SGD(params, lr=0.1), optim.SGD(twins, lr=0.1)
    with another_thread_reading(params[7:9]) as problems:
        for _ in range(5000):
            store = Store.of(params)  # as each compiled step stores them and adds to them
            with Store.lock:  # (CompiledStep._add_gradients)
                stored = store is not None and store.live
                if stored:
                    store.grad += 1.0
            if not stored:
                for p in params:
                    p.grad += 1.0
            for p in twins:
                p.grad += 1.0
            optimizer.step()
            alone.step()
            optimizer.zero_grad()
            alone.zero_grad()
    assert problems == []
    assert [p.data for p in params] == [p.data for p in twins]


def test_a_thread_reading_parameters_as_they_are_stored_and_let_go_sees_their_numbers():
    """Letting a Value go put its numbers in its slots only after it was a plain Value:
    another thread could read the number it had before it was stored."""
    params = [Value(0.0) for _ in range(50)]
    with another_thread_reading(params) as problems:
        for _ in range(5000):
            store = Store.of(params)
            with Store.lock:
                if store.live:  # (unless the other thread let it go already)
                    store.data -= 1.0
            store.release()
    assert problems == []
    assert len({p.data for p in params}) == 1


@pytest.mark.parametrize("optimizer", [optim.SGD, optim.Adam])
def test_a_numpy_learning_rate_set_by_hand_trains_as_its_float(optimizer):
    """`opt.lr = np.float32(0.1)` made every parameter a float32 on the eager path, while
    the store kept float64: both now compute with the rate's exact value as a float."""
    found = []
    for lr in (np.float32(0.1), float(np.float32(0.1))):
        for compiled in (True, False):
            training = Training(lambda ps: optimizer(ps, lr=0.5))
            training.optimizer.lr = lr
            for _ in range(2):
                training.optimizer.zero_grad()
                training.compiled(4) if compiled else training.eager_backward(False)
                training.optimizer.step()
            found.append(training.numbers()[0])
    assert all(type(p.data) is float for p in training.params)
    assert found[0] == found[2] and found[1] == found[3]
