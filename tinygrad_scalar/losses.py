"""Loss functions on Values, numerically stable, agreeing with PyTorch in float64.

Each loss takes predictions (Values, or plain numbers) and targets (numbers or Values)
and returns one Value to call backward() on. Means are one n-ary `sum` node divided by
n, not a chain of `+`.

>>> from tinygrad_scalar import Value
>>> p = [Value(0.5), Value(2.0)]
>>> loss = mse(p, [1.0, 1.0])
>>> loss.data
0.625
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from ._checks import is_number
from .engine import Value, _data_of
from .engine import sum as value_sum

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
    """Mean squared error, mean((p - t)^2) (PyTorch's MSELoss)."""
    ps, ts = _pairs(preds, targets, "mse", "preds", "targets")
    return _mean([(_as_value(p) - t) ** 2 for p, t in zip(ps, ts)])


def half_mse(preds: Any, targets: Any) -> Value:
    """Half the mean squared error, sum((p - t)^2) / (2n): the cost whose derivative
    is simply the mean of (p - t)."""
    ps, ts = _pairs(preds, targets, "half_mse", "preds", "targets")
    return value_sum([(_as_value(p) - t) ** 2 for p, t in zip(ps, ts)]) / (2 * len(ps))


def hinge(scores: Any, labels: Any) -> Value:
    """Max-margin loss mean(relu(1 - y * s)) with labels y in {-1, +1} (micrograd's)."""
    ss, ys = _pairs(scores, labels, "hinge", "scores", "labels")
    for i, y in enumerate(ys):
        if _data_of(y) not in (-1.0, 1.0):
            raise ValueError(f"hinge: labels must be -1 or +1, got {_data_of(y)!r} at index {i}")
    return _mean([(1 - y * _as_value(s)).relu() for s, y in zip(ss, ys)])


def _clamped_log(p: Value) -> Value:
    # Where log p would fall below the floor, the term is the constant floor: its value
    # matches PyTorch; its gradient is 0 (PyTorch reports (p - y) / 1e-12 there instead).
    if p.data > 0.0 and math.log(p.data) >= LOG_FLOOR:
        return p.log()
    return Value(LOG_FLOOR)


def binary_cross_entropy(probs: Any, targets: Any) -> Value:
    """mean(-(y log p + (1 - y) log(1 - p))) for probabilities p in [0, 1].

    As in PyTorch each log is clamped at -100, so p = 0 or p = 1 gives a finite loss.
    Gradients equal PyTorch's except within about 1e-12 of p = 0 or 1: PyTorch divides by
    max(p (1 - p), 1e-12) there, while here a clamped log has slope 0 and an unclamped one
    its true slope. Prefer binary_cross_entropy_with_logits, which is stable without
    clamping.
    """
    ps, ys = _pairs(probs, targets, "binary_cross_entropy", "probs", "targets")
    terms = []
    for i, (p, y) in enumerate(zip(ps, ys)):
        p = _as_value(p)
        if not 0.0 <= p.data <= 1.0:
            raise ValueError(
                f"binary_cross_entropy: probs[{i}] = {p.data!r} is not in [0, 1]"
                " (pass raw scores to binary_cross_entropy_with_logits instead)"
            )
        parts = []
        # a target of exactly 0 or 1 drops a term instead of multiplying it by 0, which
        # keeps a huge-but-finite log slope from turning into 0 * inf = nan
        if not (is_number(y) and y == 0.0):
            parts.append(y * _clamped_log(p))
        if not (is_number(y) and y == 1.0):
            parts.append((1 - y) * _clamped_log(1 - p))
        terms.append(-value_sum(parts))
    return _mean(terms)


def _softplus(x: Value) -> Value:
    """log(1 + exp(x)) without overflow: for x >= 0 it is x + log(1 + exp(-x)). Both
    branches are smooth and agree, so the gradient is right everywhere, x = 0 included."""
    if x.data >= 0.0:
        return x + (1 + (-x).exp()).log()
    return (1 + x.exp()).log()


def binary_cross_entropy_with_logits(logits: Any, targets: Any) -> Value:
    """Binary cross-entropy of sigmoid(x), computed stably from the logit x:
    mean(softplus(x) - x * y) = mean(max(x, 0) - x * y + log(1 + exp(-|x|)))."""
    xs, ys = _pairs(logits, targets, "binary_cross_entropy_with_logits", "logits", "targets")
    return _mean([_softplus(_as_value(x)) - _as_value(x) * y for x, y in zip(xs, ys)])


def _row(logits: Any, name: str) -> list[Value]:
    if isinstance(logits, Value) or is_number(logits):
        logits = [logits]
    try:
        items = list(logits)
    except TypeError:
        raise ValueError(f"{name}: logits must be a list of numbers or Values") from None
    if not items:
        raise ValueError(f"{name}: logits are empty")
    return [_as_value(_operand(z, "logits", i)) for i, z in enumerate(items)]


def softmax(logits: Any) -> list[Value]:
    """exp(z_i) / sum_j exp(z_j), with the max subtracted first so exp never overflows
    (the shift is a constant and cancels, so gradients are unchanged)."""
    zs = _row(logits, "softmax")
    shift = max(z.data for z in zs)
    exps = [(z - shift).exp() for z in zs]
    total = value_sum(exps)
    return [e / total for e in exps]


def _log_sum_exp(zs: list[Value]) -> tuple[Value, float]:
    """log(sum(exp(z - m))) and the shift m = max(z): log-sum-exp(z) is their sum."""
    shift = max(z.data for z in zs)
    return value_sum([(z - shift).exp() for z in zs]).log(), shift


def log_softmax(logits: Any) -> list[Value]:
    """z_i - log(sum_j exp(z_j)), stable for any logits."""
    zs = _row(logits, "log_softmax")
    lse, shift = _log_sum_exp(zs)
    return [(z - shift) - lse for z in zs]


def _class_index(c: Any, n_classes: int, row: int) -> int:
    if isinstance(c, bool) or not isinstance(c, numbers.Integral):
        if is_number(c) and float(c).is_integer():
            c = int(c)  # 2.0 from a float label list is fine
        else:
            raise ValueError(f"cross_entropy: class index for row {row} must be an int, got {c!r}")
    if not 0 <= c < n_classes:
        raise ValueError(
            f"cross_entropy: class index {c} for row {row} is out of range for {n_classes} classes"
        )
    return int(c)


def cross_entropy(logits_rows: Any, class_indices: Any) -> Value:
    """Mean over rows of -log softmax(row)[class] (PyTorch's CrossEntropyLoss).

    `logits_rows` is a list of rows (each a list of logits), `class_indices` one int per
    row. A single row with a single int is accepted too. Stable for any logits:
    cross_entropy([[1000.0, -1000.0]], [1]) is 2000, not inf.
    """
    if _is_integer_like(class_indices):
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
        zs = _row(row, "cross_entropy")
        if width is None:
            width = len(zs)
        elif len(zs) != width:
            raise ValueError(f"cross_entropy: row {r} has {len(zs)} logits, row 0 has {width}")
        c = _class_index(c, len(zs), r)
        lse, shift = _log_sum_exp(zs)
        terms.append(lse - (zs[c] - shift))
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
