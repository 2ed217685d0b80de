"""The peers the benchmark compares against, written as plainly as their own demos.

Everything here is shared by the rows in run.py: the moons data, micrograd-style initial
weights as plain floats (so every engine starts from the same numbers), the binary-op
MLP that micrograd's demo builds (parametrised by the Value class, so the very same
Python code runs on micrograd's Value and on ours), and float64 PyTorch networks.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any, Callable

# One layer is a list of neurons, one neuron a pair (weights, bias) of plain floats.
Weights = list[list[tuple[list[float], float]]]

L2_ALPHA = 1e-4  # micrograd's demo: alpha * sum(p * p)


# --- data ----------------------------------------------------------------------------------


def moons(n: int = 100, seed: int = 0) -> tuple[list[list[float]], list[float]]:
    """n two-moons points and labels -1/+1 (hinge labels, as micrograd's demo uses).

    Uses tinygrad_scalar.data.make_moons when it is there; otherwise a small generator of
    the same shape, so the benchmark does not depend on that module to run.
    """
    try:
        from tinygrad_scalar.data import make_moons
    except ImportError:
        rng = random.Random(seed)
        half = n // 2
        X, y = [], []
        for i in range(n):
            t = math.pi * (i % half) / max(half - 1, 1)
            upper = i < half
            a, b = (math.cos(t), math.sin(t)) if upper else (1 - math.cos(t), 0.5 - math.sin(t))
            X.append([a + rng.gauss(0, 0.1), b + rng.gauss(0, 0.1)])
            y.append(0 if upper else 1)
    else:
        X, y = make_moons(n=n, noise=0.1, seed=seed)
    return X, [2.0 * label - 1.0 for label in y]


def spiral(n: int = 3000, classes: int = 3, seed: int = 0) -> tuple[list[list[float]], list[int]]:
    """n spiral points in `classes` arms and their class indices."""
    try:
        from tinygrad_scalar.data import make_spiral
    except ImportError:
        rng = random.Random(seed)
        X, y = [], []
        per_class = n // classes
        for label in range(classes):
            for i in range(per_class):
                r = i / max(per_class - 1, 1)
                angle = 2 * math.pi * label / classes + 4 * r + rng.gauss(0, 0.2)
                X.append([r * math.cos(angle), r * math.sin(angle)])
                y.append(label)
        order = list(range(len(X)))
        rng.shuffle(order)
        return [X[i] for i in order], [y[i] for i in order]
    return make_spiral(n=n, classes=classes, noise=0.2, seed=seed)


def uniform_weights(sizes: list[int], seed: int) -> Weights:
    """micrograd's initialisation: weights uniform(-1, 1), biases 0."""
    rng = random.Random(seed)
    return [
        [([rng.uniform(-1.0, 1.0) for _ in range(nin)], 0.0) for _ in range(nout)]
        for nin, nout in itertools.pairwise(sizes)
    ]


def flat(weights: Weights) -> list[float]:
    """The weights in micrograd's parameters() order: per neuron its weights, then bias."""
    return [x for layer in weights for w, b in layer for x in (*w, b)]


# --- the binary-op graph micrograd's demo builds, for any Value class ------------------------


class BinaryMLP:
    """micrograd's MLP written once for any Value class: each neuron is
    `sum((wi*xi for wi, xi in zip(w, x)), b)` from binary + and *, then relu (not on the
    last layer). Used for the "binary-op graph" row only, so both engines run the
    identical sequence of Python operations."""

    def __init__(self, value_cls: type, weights: Weights) -> None:
        self.value_cls = value_cls
        self.layers = [
            [([value_cls(w) for w in ws], value_cls(b)) for ws, b in layer] for layer in weights
        ]

    def parameters(self) -> list[Any]:
        return [p for layer in self.layers for w, b in layer for p in (*w, b)]

    def __call__(self, x: list[Any]) -> Any:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            acts = [sum((wi * xi for wi, xi in zip(w, x)), b) for w, b in layer]
            x = acts if i == last else [act.relu() for act in acts]
        return x[0]


def demo_loss(value_cls: type, model: Callable, params: list[Any], X: list, y: list) -> Any:
    """micrograd's demo loss, line for line: hinge on every point plus alpha * sum(p * p)."""
    inputs = [list(map(value_cls, row)) for row in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = L2_ALPHA * sum(p * p for p in params)
    return data_loss + reg_loss


def sgd_step(loss: Any, params: list[Any], lr: float, zero: Any) -> float:
    """zero_grad, backward and `p.data -= lr * p.grad`, as micrograd's demo does it."""
    for p in params:
        p.grad = zero
    loss.backward()
    for p in params:
        p.data -= lr * p.grad
    return loss.data


# --- PyTorch -------------------------------------------------------------------------------


def torch_mlp(torch: Any, weights: Weights) -> Any:
    """A float64 nn.Sequential of Linear + ReLU (no ReLU after the last) with these weights."""
    modules = []
    for i, layer in enumerate(weights):
        linear = torch.nn.Linear(len(layer[0][0]), len(layer), dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor([w for w, _ in layer], dtype=torch.float64))
            linear.bias.copy_(torch.tensor([b for _, b in layer], dtype=torch.float64))
        modules.append(linear)
        if i < len(weights) - 1:
            modules.append(torch.nn.ReLU())
    return torch.nn.Sequential(*modules)


def torch_moons_step(torch: Any, net: Any, X: Any, y: Any, lr: float) -> float:
    """The demo step on a (100, 2) tensor: mean hinge + alpha * sum(p * p), SGD update."""
    for p in net.parameters():
        p.grad = None
    scores = net(X).squeeze(1)
    data_loss = torch.relu(1 - y * scores).mean()
    reg_loss = L2_ALPHA * sum((p * p).sum() for p in net.parameters())
    loss = data_loss + reg_loss
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= lr * p.grad
    return loss.item()


def weights_from_params(params: list[Any], sizes: list[int]) -> Weights:
    """Read Weights back from a flat parameters() list in micrograd's order."""
    values = [float(p.data) for p in params]
    weights: Weights = []
    at = 0
    for nin, nout in itertools.pairwise(sizes):
        layer = []
        for _ in range(nout):
            layer.append((values[at : at + nin], values[at + nin]))
            at += nin + 1
        weights.append(layer)
    if at != len(values):
        raise ValueError(f"{len(values)} parameters do not fit sizes {sizes}")
    return weights
