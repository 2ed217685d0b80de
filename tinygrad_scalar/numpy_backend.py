"""The rules' NumPy backend, and the check that a user's rule means the same on floats.

`arrays` is the backend `o` the rules of rules.py are evaluated on when every number is a
whole batch of samples (compile runs it on rows of a `(rows, batch)` buffer). Its functions
give the float backend's IEEE results, sample by sample.

A rule a user writes runs on floats eagerly and on arrays when compiled. Python's `if`,
`and`, `or`, `not` and `~` do not mean the same on both: on a Python bool, `~True` is -2,
which counts as true, so `o.where(~(x > 0.0), x, 0.0)` is x on floats and 0 on arrays.
`disagreement` finds such a rule before it gives a wrong number: the engine runs it on a
new rule, at a few points, the first time the rule is applied (engine.check_rule).

This module sits beside rules.py at the bottom of the package; NumPy is imported only when
something here is used.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from . import rules
from .rules import floats


class arrays:  # noqa: N801 - the NumPy backend `o`, like rules.floats
    """NumPy functions with the float backend's IEEE results (run under np.errstate)."""

    exp, log, log1p, sqrt, tanh = np.exp, np.log, np.log1p, np.sqrt, np.tanh
    sin, cos, abs, maximum, minimum = np.sin, np.cos, np.abs, np.maximum, np.minimum
    div, logical_not = np.divide, np.logical_not

    @staticmethod
    def eq(a: Any, b: Any) -> Any:
        # two constants (a rule's parameter against a number, as x ** c's `c == 0`): NumPy's
        # bool, which `where` picks with at once, rather than a whole np.where. NumPy's, not
        # Python's: its ~ is "not" as on arrays, so check_rule still sees a rule's ~ on it
        # differ from the float backend's (~True is -2 there)
        if type(a) is float and type(b) is float:
            return np.True_ if a == b else np.False_
        return np.equal(a, b)

    @staticmethod
    def sigmoid(x: np.ndarray) -> np.ndarray:
        # as floats.sigmoid: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below, so exp never
        # overflows; e^-|x| is exactly the exponential each branch needs.
        e = np.exp(-np.abs(x))
        return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))

    @staticmethod
    def power(a: Any, b: Any) -> Any:
        # NumPy computes x ** 0.5 as sqrt(x), which differs from C's pow (math.pow) at -inf
        # (nan instead of inf) and at -0 (-0 instead of +0); abs(x) is pow's value there.
        out = np.power(a, b)
        if type(b) is float and b != 0.5:  # a constant exponent (x ** c): nothing to mend
            return out
        return np.where((np.equal(b, 0.5)) & ((a == -np.inf) | (a == 0.0)), np.abs(a), out)

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Any:
        if type(cond) is np.bool_ or type(cond) is bool:  # decided by constants alone (eq):
            return a if cond else b  # the same for every sample
        return np.where(cond, a, b)

    @staticmethod
    def select(index: np.ndarray, xs: Sequence[np.ndarray]) -> np.ndarray:
        # each sample (and node) picks its own input: a gather along a new first axis. An
        # index out of range is reported by take's batch check once forward is done.
        picks = np.clip(index, 0, len(xs) - 1).astype(np.intp)[None]
        return np.take_along_axis(np.stack(np.broadcast_arrays(*xs)), picks, axis=0)[0]


# --- a user's rule on both backends ---------------------------------------------------------

# Both sides of 0 (where a kink or a sign test decides) and 0 itself; each input of a rule
# gets them in another order, so two inputs are not always equal.
PROBE_POINTS = (-2.0, -0.5, 0.0, 0.5, 2.0)
# The two backends may call different implementations of exp, log, tanh...: a few ulp.
PROBE_RTOL = 1e-9


def _agree(on_floats: float, on_arrays: Any) -> bool:
    on_arrays = float(on_arrays)
    if on_floats != on_floats or on_arrays != on_arrays:
        return on_floats != on_floats and on_arrays != on_arrays
    return on_floats == on_arrays or math.isclose(
        on_floats, on_arrays, rel_tol=PROBE_RTOL, abs_tol=1e-12
    )


def disagreement(rule: rules.Rule, point: Sequence[float]) -> str | None:
    """Where `rule` gives one number on floats and another on NumPy arrays, in words, or
    None. It is run at PROBE_POINTS and at `point` (the inputs it is being applied to),
    forward and local derivatives. Points where the float backend raises are skipped, and
    so is a rule that cannot run on arrays at all (compile says so if it is compiled)."""
    n = len(point)
    samples = [[PROBE_POINTS[(j + 2 * i) % 5] for i in range(n)] for j in range(5)]
    samples.append([float(x) for x in point])
    on_floats = []
    for sample in samples:
        try:
            out = rule.evaluate(floats, sample)
            slopes = rule.local_derivatives(floats, out, sample)
            on_floats.append((sample, float(out), [float(g) for g in slopes]))
        except Exception:  # outside the rule's domain, say: not a disagreement
            continue
    if not on_floats:
        return None
    columns = [np.array([sample[i] for sample, _, _ in on_floats]) for i in range(n)]
    outs = np.array([out for _, out, _ in on_floats])
    try:
        with np.errstate(all="ignore"):
            array_out = np.broadcast_to(rule.evaluate(arrays, columns), outs.shape)
            array_grads = [
                np.broadcast_to(g, outs.shape)
                for g in rule.local_derivatives(arrays, outs, columns)
            ]
    except Exception:  # written for floats only (math.exp, a Python if): not compiled
        return None
    for k, (sample, out, local_grads) in enumerate(on_floats):
        shown = ", ".join(f"{x!r}" for x in sample)
        if not _agree(out, array_out[k]):
            return f"at ({shown}) it is {out!r} on floats but {float(array_out[k])!r} on arrays"
        for i, grad in enumerate(local_grads):
            if not _agree(grad, array_grads[i][k]):
                return (
                    f"at ({shown}) its derivative {i} is {grad!r} on floats but"
                    f" {float(array_grads[i][k])!r} on arrays"
                )
    return None
