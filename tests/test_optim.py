"""Tests for tinygrad_scalar.optim: first steps by hand, several steps against torch.optim,
learning-rate schedules against torch.optim.lr_scheduler, state save/restore, bad input."""

import math
import random
import warnings

import pytest

from tinygrad_scalar import Value
from tinygrad_scalar.nn import MLP
from tinygrad_scalar.optim import SGD, Adam, AdamW, CosineAnnealingLR, LinearLR, StepLR

# --- a small non-quadratic objective, written once for Values and once for torch ----------

START = [0.7, -1.3, 2.1]


def objective(p):
    """(p0 - 1)^2 + 3 (p1 + 0.5)^2 + p0 p2 + 0.1 p2^4: curved, coupled, not quadratic."""
    return (p[0] - 1) ** 2 + 3 * (p[1] + 0.5) ** 2 + p[0] * p[2] + 0.1 * p[2] ** 4


def run_ours(make_optimizer, steps, make_scheduler=None):
    params = [Value(x) for x in START]
    opt = make_optimizer(params)
    scheduler = make_scheduler(opt) if make_scheduler else None
    for _ in range(steps):
        opt.zero_grad()
        objective(params).backward()
        opt.step()
        if scheduler:
            scheduler.step()
    return [p.data for p in params]


def run_torch(torch, make_optimizer, steps, make_scheduler=None):
    params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in START]
    opt = make_optimizer(params)
    scheduler = make_scheduler(opt) if make_scheduler else None
    for _ in range(steps):
        opt.zero_grad()
        objective(params).backward()
        opt.step()
        if scheduler:
            scheduler.step()
    return [p.item() for p in params]


# --- first steps by hand -------------------------------------------------------------------


def test_sgd_first_step_by_hand():
    w = Value(1.0)
    opt = SGD([w], lr=0.1)
    (w * w).backward()  # grad 2
    opt.step()
    assert w.data == pytest.approx(1.0 - 0.1 * 2.0)


def test_sgd_momentum_and_weight_decay_by_hand():
    w = Value(1.0)
    opt = SGD([w], lr=0.1, momentum=0.9, weight_decay=0.5)
    w.grad = 2.0
    opt.step()  # g = 2 + 0.5 * 1 = 2.5; buffer = 2.5; w = 1 - 0.25
    assert w.data == pytest.approx(0.75)
    w.grad = 2.0
    opt.step()  # g = 2 + 0.5 * 0.75 = 2.375; buffer = 0.9 * 2.5 + 2.375 = 4.625
    assert w.data == pytest.approx(0.75 - 0.1 * 4.625)


def test_sgd_nesterov_by_hand():
    w = Value(0.0)
    opt = SGD([w], lr=1.0, momentum=0.5, nesterov=True)
    w.grad = 1.0
    opt.step()  # buffer = 1; step = g + 0.5 * buffer = 1.5
    assert w.data == pytest.approx(-1.5)
    w.grad = 1.0
    opt.step()  # buffer = 0.5 + 1 = 1.5; step = 1 + 0.75
    assert w.data == pytest.approx(-1.5 - 1.75)


def test_adam_first_step_moves_by_lr_times_the_sign():
    # after one step the bias-corrected moments are g and g^2, so the step is lr * g / (|g| + eps)
    w, v = Value(1.0), Value(-2.0)
    opt = Adam([w, v], lr=0.1)
    w.grad, v.grad = 2.0, -0.003
    opt.step()
    assert w.data == pytest.approx(1.0 - 0.1 * 2.0 / (2.0 + 1e-8), rel=1e-12)
    assert v.data == pytest.approx(-2.0 + 0.1 * 0.003 / (0.003 + 1e-8), rel=1e-12)


def test_adamw_decays_the_weight_outside_the_moments():
    w = Value(1.0)
    opt = AdamW([w], lr=0.1, weight_decay=0.5)
    w.grad = 2.0
    opt.step()
    assert w.data == pytest.approx(1.0 * (1 - 0.1 * 0.5) - 0.1 * 2.0 / (2.0 + 1e-8), rel=1e-12)


def test_adam_weight_decay_is_added_to_the_gradient():
    w = Value(1.0)
    opt = Adam([w], lr=0.1, weight_decay=0.5)
    w.grad = -0.5  # effective gradient -0.5 + 0.5 * 1 = 0: no movement at all
    opt.step()
    assert w.data == 1.0


def test_step_reads_floats_and_builds_no_graph():
    model = MLP(2, [3, 1], activation="tanh", seed=0)
    opt = SGD(model.parameters(), lr=0.5)
    model([0.5, -0.5]).backward()
    before = [(p.data, p.grad) for p in model.parameters()]
    opt.step()
    for p, (data, grad) in zip(model.parameters(), before):
        assert p.data == data - 0.5 * grad
        assert p.is_leaf and type(p.data) is float


def test_zero_grad_resets_every_gradient():
    params = [Value(1.0), Value(2.0)]
    opt = Adam(params)
    for p in params:
        p.grad = 3.0
    opt.zero_grad()
    assert [p.grad for p in params] == [0.0, 0.0]


def test_value_gradients_from_create_graph_are_read_as_numbers():
    w = Value(3.0)
    (w * w).backward(create_graph=True)
    SGD([w], lr=0.1).step()
    assert w.data == pytest.approx(3.0 - 0.1 * 6.0)


def test_training_decreases_the_objective():
    params = [Value(x) for x in START]
    opt = Adam(params, lr=0.05)
    first = objective(params).data
    for _ in range(50):
        opt.zero_grad()
        loss = objective(params)
        loss.backward()
        opt.step()
    assert objective(params).data < first - 1.0


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SGD([], lr=0.1), "empty parameter list"),
        (lambda: SGD([Value(1.0)], lr=-0.1), "lr must be a finite number >= 0, got -0.1"),
        (lambda: SGD([1.0], lr=0.1), "parameter 0 is a float, not a Value"),
        (lambda: SGD(Value(1.0), lr=0.1), "not one Value"),
        (lambda: SGD([Value(1.0)], lr=0.1, nesterov=True), "needs momentum > 0"),
        (
            lambda: Adam([Value(1.0)], betas=(0.9, 1.0)),
            r"beta2 must be a finite number in \[0, 1\), got 1.0",
        ),
        (lambda: Adam([Value(1.0)], betas=0.9), "betas must be a pair"),
        (lambda: Adam([Value(1.0)], lr="fast"), "lr must be a finite number >= 0, got 'fast'"),
        (lambda: SGD([Value(1.0)], lr=10**400), "lr must be a finite number >= 0, got 1000"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_duplicate_parameters_are_refused():
    w = Value(1.0)
    with pytest.raises(ValueError, match="more than once"):
        SGD([w, w], lr=0.1)


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.05, momentum=0.9),
        lambda ps: Adam(ps, lr=0.05, weight_decay=0.01),
        lambda ps: AdamW(ps, lr=0.05),
    ],
)
def test_state_dict_round_trip_continues_identically(make):
    params = [Value(x) for x in START]
    opt = make(params)
    for _ in range(3):
        opt.zero_grad()
        objective(params).backward()
        opt.step()
    clone_params = [Value(p.data) for p in params]
    clone = make(clone_params)
    clone.load_state_dict(opt.state_dict())
    for _ in range(3):
        for ps, o in ((params, opt), (clone_params, clone)):
            o.zero_grad()
            objective(ps).backward()
            o.step()
    assert [p.data for p in clone_params] == [p.data for p in params]


def test_load_state_dict_refuses_a_wrong_size():
    opt = Adam([Value(1.0), Value(2.0)])
    state = Adam([Value(1.0)]).state_dict()
    with pytest.raises(ValueError, match="'exp_avg' must be a list of 2 finite numbers"):
        opt.load_state_dict(state)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"exp_avg": [0.0, 10**400]}, "'exp_avg' must be a list of 2 finite numbers"),
        ({"exp_avg_sq": [0.0, "x"]}, "'exp_avg_sq' must be a list of 2 finite numbers"),
        ({"step_count": "three"}, "step_count must be an integer >= 0, got 'three'"),
        ({"lr": 10**400}, "lr must be a finite number >= 0"),
        ({"eps": "tiny"}, "eps must be a finite number >= 0, got 'tiny'"),
        ({"betas": [0.9, 1.5]}, r"beta2 must be a finite number in \[0, 1\), got 1.5"),
    ],
)
def test_load_state_dict_refuses_bad_values_and_changes_nothing(change, message):
    opt = Adam([Value(1.0), Value(2.0)], lr=0.5)
    before = opt.state_dict()
    source = Adam([Value(1.0), Value(2.0)], lr=0.1, eps=1e-6)
    source.step_count = 4
    state = {**source.state_dict(), **change}
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(state)
    assert opt.state_dict() == before


# --- against torch.optim --------------------------------------------------------------------

OPTIMIZERS = {
    "sgd": (lambda ps: SGD(ps, lr=0.05), lambda o, ps: o.SGD(ps, lr=0.05)),
    "sgd_momentum": (
        lambda ps: SGD(ps, lr=0.05, momentum=0.9),
        lambda o, ps: o.SGD(ps, lr=0.05, momentum=0.9),
    ),
    "sgd_dampening_decay": (
        lambda ps: SGD(ps, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1),
        lambda o, ps: o.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1),
    ),
    "sgd_nesterov": (
        lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda o, ps: o.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    ),
    "adam": (lambda ps: Adam(ps, lr=0.1), lambda o, ps: o.Adam(ps, lr=0.1)),
    "adam_decay_betas": (
        lambda ps: Adam(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        lambda o, ps: o.Adam(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    ),
    "adamw": (lambda ps: AdamW(ps, lr=0.1), lambda o, ps: o.AdamW(ps, lr=0.1)),
    "adamw_strong_decay": (
        lambda ps: AdamW(ps, lr=0.05, weight_decay=0.5),
        lambda o, ps: o.AdamW(ps, lr=0.05, weight_decay=0.5),
    ),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_matches_torch_step_for_step(name):
    torch = pytest.importorskip("torch")
    ours, theirs = OPTIMIZERS[name]
    for steps in (1, 2, 10):
        expected = run_torch(torch, lambda ps: theirs(torch.optim, ps), steps)
        assert run_ours(ours, steps) == pytest.approx(expected, rel=1e-11, abs=1e-13)


# --- learning-rate schedules -------------------------------------------------------------------

SCHEDULES = {
    "step": (lambda o: StepLR(o, step_size=3, gamma=0.5), lambda s, o: s.StepLR(o, 3, 0.5)),
    "linear_warmup": (
        lambda o: LinearLR(o),
        lambda s, o: s.LinearLR(o),
    ),
    "linear_decay": (
        lambda o: LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=10),
        lambda s, o: s.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=10),
    ),
    "cosine": (
        lambda o: CosineAnnealingLR(o, T_max=8),
        lambda s, o: s.CosineAnnealingLR(o, T_max=8),
    ),
    "cosine_eta_min": (
        lambda o: CosineAnnealingLR(o, T_max=5, eta_min=0.01),
        lambda s, o: s.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
    ),
}


def _lrs_ours(make, epochs, lr=0.1):
    opt = SGD([Value(0.0)], lr=lr)
    scheduler = make(opt)
    rates = [scheduler.get_last_lr()]
    for _ in range(epochs):
        opt.step()
        scheduler.step()
        rates.append(scheduler.get_last_lr())
        assert opt.lr == rates[-1]
    return rates


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_matches_torch(name):
    torch = pytest.importorskip("torch")
    ours, theirs = SCHEDULES[name]
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = theirs(torch.optim.lr_scheduler, opt)
    expected = [scheduler.get_last_lr()[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(25):
            opt.step()
            scheduler.step()
            expected.append(scheduler.get_last_lr()[0])
    assert _lrs_ours(ours, 25) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_training_with_a_schedule_matches_torch():
    torch = pytest.importorskip("torch")
    expected = run_torch(
        torch,
        lambda ps: torch.optim.Adam(ps, lr=0.1),
        12,
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=12),
    )
    ours = run_ours(lambda ps: Adam(ps, lr=0.1), 12, lambda o: CosineAnnealingLR(o, T_max=12))
    assert ours == pytest.approx(expected, rel=1e-11, abs=1e-13)


def test_step_schedule_by_hand():
    assert _lrs_ours(lambda o: StepLR(o, step_size=2, gamma=0.5), 5, lr=1.0) == [
        1.0,
        1.0,
        0.5,
        0.5,
        0.25,
        0.25,
    ]


def test_linear_decay_by_hand():
    rates = _lrs_ours(lambda o: LinearLR(o, 1.0, 0.0, total_iters=4), 6, lr=1.0)
    assert rates == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0, 0.0, 0.0], abs=1e-15)


def test_cosine_follows_the_closed_form():
    rates = _lrs_ours(lambda o: CosineAnnealingLR(o, T_max=10, eta_min=0.1), 10, lr=1.0)
    closed = [0.1 + 0.9 * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(11)]
    assert rates == pytest.approx(closed, rel=1e-12)
    assert rates[-1] == pytest.approx(0.1)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda o: StepLR(o, step_size=0), "step_size must be a positive integer"),
        (lambda o: LinearLR(o, start_factor=0.0), r"start_factor must be a number in \(0, 1\]"),
        (lambda o: LinearLR(o, start_factor="half"), r"start_factor must be a number in \(0, 1\]"),
        (lambda o: LinearLR(o, end_factor=[1]), r"end_factor must be a number in \[0, 1\]"),
        (lambda o: CosineAnnealingLR(o, T_max=0), "T_max must be a positive integer"),
        (lambda o: StepLR("adam", step_size=1), "takes an optimizer, got str"),
    ],
)
def test_bad_schedule_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make(SGD([Value(0.0)], lr=0.1))


def _adam_loop_reference(weights, grad_steps, lr, betas, eps, decay, decoupled):
    """Adam written as a loop over Python floats (torch.optim.Adam's formulas, in the
    order optim.Adam documents): the oracle for the vectorized step."""
    beta1, beta2 = betas
    weights = list(weights)
    m, v = [0.0] * len(weights), [0.0] * len(weights)
    for t, grads in enumerate(grad_steps, 1):
        step_size = lr / (1 - beta1**t)
        correction = math.sqrt(1 - beta2**t)
        for i, g in enumerate(grads):
            if decay != 0:
                if decoupled:
                    weights[i] = weights[i] * (1 - lr * decay)
                else:
                    g = g + decay * weights[i]
            m[i] = m[i] + (1 - beta1) * (g - m[i])
            v[i] = v[i] * beta2 + (1 - beta2) * g * g
            weights[i] = weights[i] - step_size * (m[i] / (math.sqrt(v[i]) / correction + eps))
    return weights


EXTREME_GRADS = [0.0, -0.0, 1.5, -2.5e-3, 5e-324, -5e-324, 1e308, -1e308, math.inf, -math.inf]


@pytest.mark.parametrize("cls, decay", [(Adam, 0.0), (Adam, 0.1), (AdamW, 0.2)])
def test_adam_updates_all_parameters_at_once_as_a_float_loop_would(cls, decay):
    # the vectorized step must give the loop's numbers bit for bit, at ordinary and
    # extreme gradients (subnormals, +-1e308, +-inf, nan) and weights alike
    rng = random.Random(3)
    n = len(EXTREME_GRADS) + 1
    weights = [rng.uniform(-2, 2) for _ in range(n - 3)] + [1e308, -0.0, 5e-324]
    grad_steps = [
        [*EXTREME_GRADS, math.nan],
        [rng.uniform(-1, 1) for _ in range(n)],
        list(reversed([*EXTREME_GRADS, 0.25])),
    ]
    params = [Value(w) for w in weights]
    opt = cls(params, lr=0.01, betas=(0.85, 0.99), eps=1e-8, weight_decay=decay)
    for grads in grad_steps:
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
    expected = _adam_loop_reference(
        weights, grad_steps, 0.01, (0.85, 0.99), 1e-8, decay, cls is AdamW
    )
    got = [p.data for p in params]
    assert all(type(x) is float for x in got)
    assert [repr(x) for x in got] == [repr(x) for x in expected]


def test_adam_state_with_a_missing_moment_is_refused():
    opt = Adam([Value(1.0), Value(2.0)])
    state = {**opt.state_dict(), "exp_avg": [0.0, None]}
    with pytest.raises(ValueError, match="'exp_avg' must be a list of 2 finite numbers"):
        opt.load_state_dict(state)
    assert opt.state_dict()["exp_avg"] == [0.0, 0.0]
