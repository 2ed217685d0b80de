"""Row `spiral` (issue 6): one epoch of spiral (2-64-64-3, 3,000 points, cross-entropy,
Adam), compiled, vs PyTorch."""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import peers
from harness import (
    Report,
    Row,
    alternate,
    format_seconds,
    import_or_none,
    import_torch,
    met_text,
    missing_module,
    three_figures,
)

SPIRAL_SIZES = [2, 64, 64, 3]


SPIRAL_LR = 1e-3


SPIRAL_BATCH = 100


# --- row 4 (issue 6): spiral epoch -------------------------------------------------------------


def ours_spiral_epoch(model: Any, X: list, labels: list[int]) -> tuple[Callable, float, Callable]:
    """(one epoch of compiled Adam steps, seconds the tracing took, first-batch eager loss)."""
    import numpy as np

    import tinygrad_scalar as ts
    from tinygrad_scalar import losses, optim
    from tinygrad_scalar.compiler import compile as compile_step

    classes = SPIRAL_SIZES[-1]
    params = model.parameters()
    optimizer = optim.Adam(params, lr=SPIRAL_LR)
    one_hot = np.eye(classes)[labels]  # a class enters the trace as numbers, not an index

    def sample_loss(x: list, target: list) -> Any:
        log_probs = losses.log_softmax(model(x))
        return -ts.sum(t * lp for t, lp in zip(target, log_probs))

    start = time.perf_counter()
    step = compile_step(sample_loss, params, (X[0], list(one_hot[0])))
    trace_seconds = time.perf_counter() - start
    X_array = np.asarray(X, dtype=np.float64)
    batches = [
        (X_array[i : i + SPIRAL_BATCH], one_hot[i : i + SPIRAL_BATCH])
        for i in range(0, len(X), SPIRAL_BATCH)
    ]

    def epoch() -> float:
        total = 0.0
        for xb, tb in batches:
            optimizer.zero_grad()
            total += step(xb, tb)
            optimizer.step()
        return total / len(batches)

    def eager_first_loss() -> float:
        outputs = [model(x) for x in X[:SPIRAL_BATCH]]
        return losses.cross_entropy(outputs, labels[:SPIRAL_BATCH]).data

    return epoch, trace_seconds, (eager_first_loss, lambda: step.evaluate(*batches[0]))


def torch_spiral_epoch(
    torch: Any, model: Any, X: list, labels: list[int]
) -> tuple[Callable, Callable]:
    net = peers.torch_mlp(torch, peers.weights_from_params(model.parameters(), SPIRAL_SIZES))
    optimizer = torch.optim.Adam(net.parameters(), lr=SPIRAL_LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    X_tensor = torch.tensor(X, dtype=torch.float64)
    y_tensor = torch.tensor(labels, dtype=torch.long)
    batches = [
        (X_tensor[i : i + SPIRAL_BATCH], y_tensor[i : i + SPIRAL_BATCH])
        for i in range(0, len(X), SPIRAL_BATCH)
    ]

    def epoch() -> float:
        total = 0.0
        for xb, yb in batches:
            optimizer.zero_grad()
            loss = loss_fn(net(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item()
        return total / len(batches)

    def first_loss() -> float:
        with torch.no_grad():
            return loss_fn(net(batches[0][0]), batches[0][1]).item()

    return epoch, first_loss


def row_spiral(report: Report, args: argparse.Namespace) -> None:
    bench = "issue 6: compiled"
    measure = "spiral epoch (3,000 pts, batch 100, Adam)"
    missing = missing_module("tinygrad_scalar.nn", "tinygrad_scalar.compiler")
    if missing:
        report.skip(bench, measure, missing)
        return
    nn = import_or_none("tinygrad_scalar.nn")
    X, labels = peers.spiral(3000)
    model = nn.MLP(2, SPIRAL_SIZES[1:], activation="relu", output="linear", seed=0)
    epoch, trace_seconds, (eager_first, compiled_first) = ours_spiral_epoch(model, X, labels)
    print(f"  tracing the spiral model took {format_seconds(trace_seconds)}")
    steps: dict[str, Callable] = {"ours": epoch}
    eager = eager_first()
    report.check_losses("spiral, first-batch loss compiled vs eager", compiled_first(), eager)
    torch = import_torch()
    if torch is not None:  # built before any epoch changes our weights
        steps["torch"], torch_first = torch_spiral_epoch(torch, model, X, labels)
        report.check_losses("spiral, first-batch loss eager vs torch", eager, torch_first())

    print("  timing the spiral epoch ...", flush=True)
    timings = alternate(steps, max(2, args.rounds // 2), budget=0.0)
    ours = timings["ours"]
    ok = ours.median < 1.0
    if "torch" in timings:
        ratio = f"{three_figures(timings['torch'].median / ours.median)}x"
        peer = f"torch {format_seconds(timings['torch'].median)} ({timings['torch'].spread()})"
    else:
        ratio, peer = "", "torch not installed"
    report.add(
        Row(
            bench,
            measure,
            f"{format_seconds(ours.median)} ({ours.spread()})",
            peer,
            ratio,
            "< 1 s",
            met_text(ok),
        ),
        f"spiral epoch: {format_seconds(ours.median)} (target < 1 s): {met_text(ok)}"
        + (f"; torch/ours {ratio}" if ratio else ""),
    )
    report.add(Row(bench, "spiral: tracing once (not in the epoch)", format_seconds(trace_seconds)))
