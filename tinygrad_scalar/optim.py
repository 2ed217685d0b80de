"""Optimizers and learning-rate schedules, step for step the same as torch.optim.

An optimizer holds a list of parameters (Values) and updates their `.data` from their
`.grad` with plain float arithmetic: no graph is built. The update formulas, including
where weight decay enters and Adam's bias correction, follow PyTorch's implementations.

>>> from tinygrad_scalar import Value
>>> w = Value(1.0)
>>> opt = SGD([w], lr=0.1)
>>> (w * w).backward(); opt.step(); w.data
0.8
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from ._checks import check_int, check_number, finite_float, quote_input
from ._floats import as_array, remember
from .engine import Value, data_of
from .store import Store, zero_grads


def _check_hyper(name: str, value: Any) -> Any:
    """A hyperparameter read back from a state dict, checked as the constructors check it."""
    if name == "nesterov":
        if not isinstance(value, bool):
            raise ValueError(f"nesterov must be true or false, got {quote_input(value)}")
        return value
    if name == "betas":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValueError(f"betas must be a pair of numbers, got {quote_input(value)}")
        return tuple(check_number(b, f"beta{i}", 0.0, 1.0) for i, b in enumerate(value, 1))
    return check_number(value, name)


def _state_list(name: str, values: Any, count: int) -> list[float | None]:
    """A per-parameter state list read back from a state dict: `count` finite numbers
    (None stands for an SGD momentum buffer not made yet)."""
    problem = f"optimizer state {name!r} must be a list of {count} finite numbers"
    if not isinstance(values, list) or len(values) != count:
        raise ValueError(problem)
    checked = [None if v is None else finite_float(v) for v in values]
    if any(c is None and v is not None for c, v in zip(checked, values)):
        raise ValueError(problem)
    return checked


def _numbers(xs: list[Any]) -> np.ndarray:
    """Parameters' values or gradients as one float64 array (not to be changed in place:
    it may be the one the last write-back remembered). A gradient that is a Value (after
    backward(create_graph=True)) counts as its number."""
    try:
        return as_array(xs)
    except TypeError:
        return np.array([data_of(x) for x in xs], dtype=np.float64)


def _write_data(params: list[Value], weights: np.ndarray) -> None:
    """The one write-back of a step: every parameter's new value, as a Python float. The
    array is remembered, so the next read of these values (the compiled step's, the next
    step's) need not convert them again."""
    written = weights.tolist()
    for p, w in zip(params, written):
        p.data = w
    remember(written, weights)


class Optimizer:
    """Base class: the parameter list, `lr`, zero_grad() and state save/restore."""

    # names of the per-parameter state lists (saved by state_dict)
    _state_names: tuple[str, ...] = ()
    # names of the hyperparameters (saved by state_dict, checked by load_state_dict)
    _hyper_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Value], lr: float) -> None:
        if isinstance(params, Value):
            raise ValueError(f"{type(self).__name__} takes a list of parameters, not one Value")
        try:
            self.params: list[Value] = list(params)
        except TypeError:
            raise ValueError(
                f"{type(self).__name__} takes a list of Values (e.g. model.parameters()),"
                f" got {type(params).__name__}"
            ) from None
        if not self.params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Value):
                raise ValueError(f"parameter {i} is a {type(p).__name__}, not a Value")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError("some parameters appear more than once in the list")
        self.lr = check_number(lr, "lr")
        self.step_count = 0

    def zero_grad(self) -> None:
        """Reset every parameter's gradient to 0."""
        zero_grads(self.params)

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters, the step count and per-parameter state (all plain floats)."""
        state: dict[str, Any] = {"lr": self.lr, "step_count": self.step_count}
        for name in self._hyper_names:
            value = getattr(self, name)
            state[name] = list(value) if isinstance(value, tuple) else value
        for name in self._state_names:
            values = getattr(self, name)
            state[name] = values.tolist() if isinstance(values, np.ndarray) else list(values)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict() returned (for the same number of parameters)."""
        if not isinstance(state, dict):
            raise ValueError(f"optimizer state must be a dict, got {type(state).__name__}")
        needed = ("lr", "step_count", *self._hyper_names, *self._state_names)
        missing = [k for k in needed if k not in state]
        if missing:
            raise ValueError(f"optimizer state is missing: {', '.join(missing)}")
        # check everything first, so a bad state changes nothing
        lists = {
            name: _state_list(name, state[name], len(self.params)) for name in self._state_names
        }
        lr = check_number(state["lr"], "lr")
        step_count = check_int(state["step_count"], "step_count", minimum=0)
        hyper = {name: _check_hyper(name, state[name]) for name in self._hyper_names}
        self.lr, self.step_count = lr, step_count
        for name, value in (*hyper.items(), *lists.items()):
            setattr(self, name, value)

    def __repr__(self) -> str:
        hyper = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._hyper_names)
        return f"{type(self).__name__}({len(self.params)} parameters, lr={self.lr!r}, {hyper})"


class SGD(Optimizer):
    """Stochastic gradient descent, `w <- w - lr * g`, with optional momentum (heavy ball or
    Nesterov), dampening and L2 weight decay added to the gradient (torch.optim.SGD):

        g = grad + weight_decay * w
        buf = g on the first step, else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf       (only when momentum != 0)
        w = w - lr * g
    """

    _state_names = ("momentum_buffers",)
    _hyper_names = ("momentum", "dampening", "weight_decay", "nesterov")

    def __init__(
        self,
        params: Iterable[Value],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        dampening: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = check_number(momentum, "momentum")
        self.weight_decay = check_number(weight_decay, "weight_decay")
        self.dampening = check_number(dampening, "dampening")
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
        # None until the first step; an array once a step ran on a store's arrays
        self.momentum_buffers: list[float | None] | np.ndarray = [None] * len(self.params)

    def step(self) -> None:
        """Update every parameter once from its current gradient."""
        # lr as a Python float: a NumPy number set by hand (opt.lr = np.float32(0.1)) would
        # make each parameter a NumPy number, which the store's arrays never hold
        lr, momentum, decay = float(self.lr), self.momentum, self.weight_decay
        with Store.lock:
            store = Store.holding(self.params)
            # a compiled step's parameters: all at once, on its arrays (unless some momentum
            # buffers are made and others not, as a state dict may say)
            if store is not None and (momentum == 0 or _all_or_none(self.momentum_buffers)):
                self._step_arrays(store, lr)
                self.step_count += 1
                return
        if store is not None:  # each parameter in turn, as plain Values
            store.release()
        if isinstance(self.momentum_buffers, np.ndarray):  # as _step_arrays left them
            self.momentum_buffers = self.momentum_buffers.tolist()
        if momentum == 0 and decay == 0:  # plain SGD, the common case: one line per parameter
            for p in self.params:
                g = p.grad
                p.data -= lr * (g if type(g) is float else float(data_of(g)))
            self.step_count += 1
            return
        buffers = self.momentum_buffers
        for i, p in enumerate(self.params):
            g = float(data_of(p.grad))  # a Value after backward(create_graph=True)
            if decay != 0:
                g = g + decay * p.data
            if momentum != 0:
                buf = buffers[i]
                if buf is None:
                    buf = g
                else:
                    buf = buf * momentum + (1 - self.dampening) * g
                buffers[i] = buf
                g = g + momentum * buf if self.nesterov else buf
            p.data = p.data - lr * g
        self.step_count += 1

    def _step_arrays(self, store: Store, lr: float) -> None:
        """step() on a store's arrays: the float operations of the loop below, in its
        order, on every parameter at once (so the same numbers)."""
        momentum, decay = self.momentum, self.weight_decay
        with np.errstate(all="ignore"):  # inf and nan as float arithmetic gives them
            g = store.grad
            if decay != 0:
                g = g + decay * store.data
            if momentum != 0:
                buffers = self.momentum_buffers
                if isinstance(buffers, list) and buffers[0] is None:  # the first step
                    buf = g.copy()
                else:
                    buf = (
                        np.asarray(buffers, dtype=np.float64) * momentum + (1 - self.dampening) * g
                    )
                self.momentum_buffers = buf
                g = g + momentum * buf if self.nesterov else buf
            store.data -= lr * g


def _all_or_none(buffers: list[float | None] | np.ndarray) -> bool:
    """Whether every momentum buffer is made, or none is."""
    return isinstance(buffers, np.ndarray) or buffers.count(None) in (0, len(buffers))


class Adam(Optimizer):
    """Adam with bias correction (torch.optim.Adam). weight_decay is L2: it is added to the
    gradient before the moments (use AdamW for decoupled decay).

        g = grad + weight_decay * w
        m = m + (1 - beta1) * (g - m)          v = beta2 * v + (1 - beta2) * g * g
        w = w - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """

    _state_names = ("exp_avg", "exp_avg_sq")
    _hyper_names = ("betas", "eps", "weight_decay")
    _decoupled = False

    def __init__(
        self,
        params: Iterable[Value],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair of numbers, got {quote_input(betas)}") from None
        self.betas = (
            check_number(beta1, "beta1", 0.0, 1.0),
            check_number(beta2, "beta2", 0.0, 1.0),
        )
        self.eps = check_number(eps, "eps")
        self.weight_decay = check_number(weight_decay, "weight_decay")
        self.exp_avg = np.zeros(len(self.params))
        self.exp_avg_sq = np.zeros(len(self.params))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self._state_names:  # every moment is a number (no None, as SGD allows)
            values = state.get(name) if isinstance(state, dict) else None
            if isinstance(values, list) and any(x is None for x in values):
                raise ValueError(
                    f"optimizer state {name!r} must be a list of {len(self.params)} finite numbers"
                )
        super().load_state_dict(state)
        self.exp_avg = np.array(self.exp_avg, dtype=np.float64)
        self.exp_avg_sq = np.array(self.exp_avg_sq, dtype=np.float64)

    def step(self) -> None:
        """Update every parameter once from its current gradient.

        The moments are NumPy arrays and the update runs on all parameters at once: the
        same float operations in the same order as a loop over the parameters would make,
        so the same numbers, with one read of the gradients and values and one write-back."""
        self.step_count += 1
        t = self.step_count
        lr, eps, decay = float(self.lr), self.eps, self.weight_decay  # as SGD's
        beta1, beta2 = self.betas
        step_size = lr / (1 - beta1**t)
        bias_correction2_sqrt = math.sqrt(1 - beta2**t)
        params = self.params
        with Store.lock:  # (store.py: a release in another thread waits for the write)
            store = Store.holding(params)  # the parameters of a compiled step
            if store is not None:
                g, w = store.grad, store.data
            else:
                g = _numbers([p.grad for p in params])
                w = _numbers([p.data for p in params])
            m, v = self.exp_avg, self.exp_avg_sq
            with np.errstate(all="ignore"):  # inf and nan as float arithmetic gives them
                if decay != 0:
                    if self._decoupled:  # AdamW: shrink the weight itself, outside the moments
                        w = w * (1 - lr * decay)
                    else:
                        g = g + decay * w
                m += (1 - beta1) * (g - m)
                v *= beta2
                v += (1 - beta2) * g * g
                denom = np.sqrt(v) / bias_correction2_sqrt + eps
                w = w - step_size * (m / denom)
            if store is not None:
                store.data[...] = w
            else:
                _write_data(params, w)


class AdamW(Adam):
    """Adam with decoupled weight decay (torch.optim.AdamW): each step first shrinks every
    weight, `w <- w * (1 - lr * weight_decay)`, then takes a plain Adam step."""

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Value],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


# --- learning-rate schedules ------------------------------------------------------------


class LRScheduler:
    """Base class. Like PyTorch's: construction sets the epoch-0 rate, and each step()
    (call it after optimizer.step(), usually once per epoch) moves to the next epoch and
    writes the new rate into `optimizer.lr`. The rates are computed with PyTorch's
    recursive formulas, so they equal torch.optim.lr_scheduler's to the last bit or two."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ValueError(
                f"{type(self).__name__} takes an optimizer, got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = -1
        self.step()

    def _next_lr(self, lr: float) -> float:
        """The rate for self.last_epoch, given the previous epoch's rate."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the optimizer's learning rate."""
        self.last_epoch += 1
        self.optimizer.lr = self._next_lr(self.optimizer.lr)
        self._last_lr = self.optimizer.lr

    def get_last_lr(self) -> float:
        """The learning rate set by the last step() (a float: there are no param groups;
        PyTorch returns a one-element list per group)."""
        return self._last_lr


class StepLR(LRScheduler):
    """Multiply the rate by `gamma` every `step_size` epochs (torch's StepLR):
    lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = check_int(step_size, "step_size")
        self.gamma = check_number(gamma, "gamma")
        super().__init__(optimizer)

    def _next_lr(self, lr: float) -> float:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lr
        return lr * self.gamma


class LinearLR(LRScheduler):
    """Scale the rate linearly from `start_factor * base_lr` at epoch 0 to
    `end_factor * base_lr` at epoch `total_iters`, then hold it (torch's LinearLR, same
    signature and defaults). A linear decay to zero over 100 epochs is
    `LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=100)`."""

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
    ) -> None:
        start, end = finite_float(start_factor), finite_float(end_factor)
        if start is None or not 0 < start <= 1:
            raise ValueError(
                f"start_factor must be a number in (0, 1], got {quote_input(start_factor)}"
            )
        if end is None or not 0 <= end <= 1:
            raise ValueError(
                f"end_factor must be a number in [0, 1], got {quote_input(end_factor)}"
            )
        self.start_factor, self.end_factor = start, end
        self.total_iters = check_int(total_iters, "total_iters")
        super().__init__(optimizer)

    def _next_lr(self, lr: float) -> float:
        if self.last_epoch == 0:
            return lr * self.start_factor
        if self.last_epoch > self.total_iters:
            return lr
        change = self.end_factor - self.start_factor
        return lr * (
            1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change)
        )


class CosineAnnealingLR(LRScheduler):
    """Follow half a cosine from base_lr down to eta_min over T_max epochs (torch's
    CosineAnnealingLR, without restarts; past T_max the cosine continues upward):
    lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = check_int(T_max, "T_max")
        self.eta_min = check_number(eta_min, "eta_min")
        super().__init__(optimizer)

    def _next_lr(self, lr: float) -> float:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if t == 0:
            return lr
        if (t - 1 - T) % (2 * T) == 0:
            return lr + (self.base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
        return (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (
            lr - eta_min
        ) + eta_min


__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "LRScheduler",
    "LinearLR",
    "Optimizer",
    "StepLR",
]
