"""Loss functions on Values, numerically stable, agreeing with PyTorch in float64.

Each loss takes predictions (Values, or plain numbers) and targets (numbers or Values)
and returns one Value to call backward() on. Means are one n-ary `sum` node divided by
n, not a chain of `+`.

No loss branches in Python on a value: the stable forms are ops (softplus, a clamped
log, logsumexp), so a loss traced once by `compile` is right for every sample. Label
checks go through `engine.require`, which compile replays on every batch.

>>> from tinygrad_scalar import Value
>>> p = [Value(0.5), Value(2.0)]
>>> loss = mse(p, [1.0, 1.0])
>>> loss.data
0.625
"""

from __future__ import annotations

import numbers
from typing import Any

from . import rules
from ._checks import class_index, is_number
from .engine import Value, require, take
from .engine import sum as value_sum
from .functional import log_softmax, shifted_logits, softmax, value_list

# PyTorch's binary_cross_entropy clamps each log at -100 so that p = 0 or 1 gives a
# finite loss; we do the same.
LOG_FLOOR = -100.0


def _operand(x: Any, what: str, index: int) -> Value | float:
    """A Value as it is; a number (NumPy scalars too) as a float; anything else refused."""
    if isinstance(x, Value):
        return x
    if is_number(x):
        try:
            return float(x)
        except OverflowError:  # an int beyond float range
            raise ValueError(f"{what}[{index}] is too large for a float: {x!r:.40}") from None
    raise ValueError(f"{what}[{index}] must be a number or a Value, got {type(x).__name__}")


def _as_list(xs: Any, what: str) -> list[Any]:
    """A single Value/number becomes a one-element list; a nested list of rows is
    flattened (the mean then runs over every element, as PyTorch's does)."""
    if isinstance(xs, Value) or is_number(xs):
        return [xs]
    try:
        items = list(xs)
    except TypeError:
        raise ValueError(f"{what} must be a number, a Value or a list of them") from None
    flat: list[Any] = []
    for item in items:
        if isinstance(item, Value) or is_number(item) or isinstance(item, (str, bytes)):
            flat.append(item)
        else:
            try:
                flat.extend(item)
            except TypeError:
                flat.append(item)  # refused with a clear message by _operand
    return flat


def _pairs(preds: Any, targets: Any, name: str, pred_name: str, target_name: str) -> tuple:
    ps = _as_list(preds, pred_name)
    ts = _as_list(targets, target_name)
    if len(ps) != len(ts):
        raise ValueError(f"{name}: {len(ps)} {pred_name} but {len(ts)} {target_name}")
    if not ps:
        raise ValueError(f"{name}: no {pred_name} given")
    ps = [_operand(p, pred_name, i) for i, p in enumerate(ps)]
    ts = [_operand(t, target_name, i) for i, t in enumerate(ts)]
    return ps, ts


def _as_value(x: Value | float) -> Value:
    return x if isinstance(x, Value) else Value(x)


def _mean(terms: list[Value]) -> Value:
    return value_sum(terms) / len(terms)


def mse(preds: Any, targets: Any) -> Value:
    """Mean squared error, mean((p - t)^2) (PyTorch's MSELoss).

    Written as 2 * mean((p - t)^2 / 2), which is the same number (halving and doubling
    are exact), so that backward scales before it multiplies, as PyTorch does: the gradient
    is (2 / n) * (p - t), finite at p - t = -1e308, where 2 * (p - t) would be -inf."""
    ps, ts = _pairs(preds, targets, "mse", "preds", "targets")
    return 2.0 * _mean([rules.HALF_SQUARE(_as_value(p) - t) for p, t in zip(ps, ts)])


def half_mse(preds: Any, targets: Any) -> Value:
    """Half the mean squared error, sum((p - t)^2) / (2n): the cost whose derivative
    is simply the mean of (p - t)."""
    ps, ts = _pairs(preds, targets, "half_mse", "preds", "targets")
    return _mean([rules.HALF_SQUARE(_as_value(p) - t) for p, t in zip(ps, ts)])


def hinge(scores: Any, labels: Any) -> Value:
    """Max-margin loss mean(relu(1 - y * s)) with labels y in {-1, +1} (micrograd's)."""
    ss, ys = _pairs(scores, labels, "hinge", "scores", "labels")
    require(
        ys,
        lambda y: (y == -1.0) | (y == 1.0),
        lambda i, y: f"hinge: labels must be -1 or +1, got {y!r} at index {i}",
    )
    return _mean([(1 - y * _as_value(s)).relu() for s, y in zip(ss, ys)])


def _require_probabilities(xs: list, loss: str, what: str, hint: str = "") -> None:
    require(
        xs,
        lambda p: (p >= 0.0) & (p <= 1.0),
        lambda i, p: f"{loss}: {what}[{i}] = {p!r} is not in [0, 1]{hint}",
    )


def binary_cross_entropy(probs: Any, targets: Any) -> Value:
    """mean(-(y log p + (1 - y) log(1 - p))) for probabilities p in [0, 1].

    As in PyTorch each log is clamped at -100, so p = 0 or p = 1 gives a finite loss.
    Gradients equal PyTorch's except within about 1e-12 of p = 0 or 1: PyTorch divides by
    max(p (1 - p), 1e-12) there, while here a clamped log has slope 0 and an unclamped one
    its true slope. Prefer binary_cross_entropy_with_logits, which is stable without
    clamping.
    """
    name = "binary_cross_entropy"
    ps, ys = _pairs(probs, targets, name, "probs", "targets")
    hint = " (pass raw scores to binary_cross_entropy_with_logits instead)"
    _require_probabilities(ps, name, "probs", hint)
    _require_probabilities(ys, name, "targets")
    clamped_log = rules.CLAMPED_LOG.with_arg(LOG_FLOOR)
    terms = []
    for p, y in zip(ps, ys):
        p = _as_value(p)
        terms.append(-(y * clamped_log(p) + (1 - y) * clamped_log(1 - p)))
    return _mean(terms)


def binary_cross_entropy_with_logits(logits: Any, targets: Any) -> Value:
    """Binary cross-entropy of sigmoid(x), computed stably from the logit x:
    mean(softplus(x) - x * y), softplus(x) = max(x, 0) + log(1 + exp(-|x|))."""
    name = "binary_cross_entropy_with_logits"
    xs, ys = _pairs(logits, targets, name, "logits", "targets")
    _require_probabilities(ys, name, "targets")
    return _mean([_as_value(x).softplus() - _as_value(x) * y for x, y in zip(xs, ys)])


def cross_entropy(logits_rows: Any, class_indices: Any) -> Value:
    """Mean over rows of -log softmax(row)[class] (PyTorch's CrossEntropyLoss).

    `logits_rows` is a list of rows (each a list of logits), `class_indices` one int per
    row. A single row with a single int is accepted too. Stable for any logits:
    cross_entropy([[1000.0, -1000.0]], [1]) is 2000, not inf.
    """
    if _is_integer_like(class_indices) or isinstance(class_indices, Value):
        logits_rows, class_indices = [logits_rows], [class_indices]
    try:
        rows = list(logits_rows)
        indices = list(class_indices)
    except TypeError:
        raise ValueError(
            "cross_entropy takes a list of logit rows and a list of class indices"
        ) from None
    if len(rows) != len(indices):
        raise ValueError(f"cross_entropy: {len(rows)} rows of logits but {len(indices)} classes")
    if not rows:
        raise ValueError("cross_entropy: no rows given")
    terms = []
    width = None
    for r, (row, c) in enumerate(zip(rows, indices)):
        zs = value_list(row, "cross_entropy")
        if width is None:
            width = len(zs)
        elif len(zs) != width:
            raise ValueError(f"cross_entropy: row {r} has {len(zs)} logits, row 0 has {width}")
        shifted, log_total, _ = shifted_logits(zs)
        if isinstance(c, Value):  # an integer input of compile: each sample its own class
            terms.append(log_total - take(shifted, c))
        else:
            terms.append(
                log_total - shifted[class_index(c, len(zs), f"cross_entropy: the class of row {r}")]
            )
    return _mean(terms)


def _is_integer_like(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "half_mse",
    "hinge",
    "log_softmax",
    "mse",
    "softmax",
]
