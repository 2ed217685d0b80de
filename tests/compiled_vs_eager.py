"""Shared by the compiler tests: one per-sample function run through a compiled step and
eagerly, sample by sample, each from zeroed gradients, so the two can be compared."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import tinygrad_scalar as ts


def grads_of(run: Callable[[], Any], params: list) -> tuple[Any, np.ndarray]:
    """(what run() returns, the gradient it left in each parameter); .grad is 0 before and
    after."""
    for p in params:
        p.grad = 0.0
    result = run()
    grads = np.array([p.grad for p in params])
    for p in params:
        p.grad = 0.0
    return result, grads


def compiled_run(step: Any, params: list, *batches: Any, **options: Any) -> tuple[Any, np.ndarray]:
    """(what the compiled step returns, the gradients it added)."""
    return grads_of(lambda: step(*batches, **options), params)


def eager_run(
    fn: Callable[..., Any], params: list, batches: tuple, argument: Callable[[Any], Any]
) -> tuple[tuple[float, list], np.ndarray]:
    """((mean loss, fn's result for each sample), gradients of the mean), eagerly: fn is
    called on each sample's numbers, each made an argument by `argument`."""

    def run() -> tuple[float, list]:
        results = [fn(*map(argument, sample)) for sample in zip(*batches)]
        sample_losses = [r[0] if isinstance(r, tuple) else r for r in results]
        mean = ts.sum(sample_losses) * (1 / len(sample_losses))
        mean.backward()
        return mean.data, results

    return grads_of(run, params)
