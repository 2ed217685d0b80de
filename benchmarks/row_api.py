"""Row `api` (issue 3): micrograd.nn.MLP's demo step vs ours through the public API."""

from __future__ import annotations

import argparse
from typing import Any, Callable

import peers
from harness import MOONS_LR, Report, alternate, import_or_none, speed_row

# --- row 2 (issue 3): the public API ---------------------------------------------------------


def micrograd_demo(seed: int = 1337) -> tuple[Any, Any]:
    """micrograd's own demo model, micrograd.nn.MLP(2, [16, 16, 1]), seeded as the demo."""
    import random

    from micrograd import engine, nn

    random.seed(seed)
    return engine, nn.MLP(2, [16, 16, 1])


def micrograd_demo_step(engine: Any, model: Any, X: list, y: list) -> Callable[[], float]:
    params = model.parameters()

    def step() -> float:
        loss = peers.demo_loss(engine.Value, model, params, X, y)
        return peers.sgd_step(loss, params, MOONS_LR, 0)

    return step


def ours_model_like(mg_model: Any) -> tuple[Any, Any] | None:
    """Our nn.MLP(2, [16, 16, 1]) with micrograd's weights copied in via parameters()."""
    nn = import_or_none("tinygrad_scalar.nn")
    if nn is None:
        return None
    model = nn.MLP(2, [16, 16, 1], activation="relu", output="linear", init="uniform", seed=0)
    ours, theirs = model.parameters(), mg_model.parameters()
    if len(ours) != len(theirs):
        raise RuntimeError(f"parameter counts differ: ours {len(ours)}, micrograd {len(theirs)}")
    for p, q in zip(ours, theirs):
        p.data = float(q.data)
    return nn, model


def ours_api_step(model: Any, X: list, y: list) -> Callable[[], float]:
    """The demo step through our public API: nn.MLP, losses.hinge, sum, optim.SGD."""
    import tinygrad_scalar as ts
    from tinygrad_scalar import losses, optim

    params = model.parameters()
    optimizer = optim.SGD(params, lr=MOONS_LR)

    def step() -> float:
        scores = [model(x) for x in X]
        loss = losses.hinge(scores, y) + peers.L2_ALPHA * ts.sum(p * p for p in params)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.data

    return step


def row_api(report: Report, args: argparse.Namespace) -> None:
    bench = "issue 3: public API"
    measure = "moons demo step, nn.MLP"
    if import_or_none("micrograd.nn") is None:
        report.skip(bench, measure, "micrograd not installed")
        return
    X, y = peers.moons(100)
    engine, mg_model = micrograd_demo()
    ours = ours_model_like(mg_model)
    if ours is None:
        report.skip(bench, measure, "tinygrad_scalar.nn not available")
        return
    _, model = ours
    steps = {
        "ours": ours_api_step(model, X, y),
        "micrograd": micrograd_demo_step(engine, mg_model, X, y),
    }
    first = {name: step() for name, step in steps.items()}
    report.check_losses(
        "public API, first loss ours vs micrograd", first["ours"], first["micrograd"]
    )
    print("  timing the public-API step ...", flush=True)
    timings = alternate(steps, args.rounds)
    speed_row(
        report, bench, measure, timings["ours"], "micrograd", timings["micrograd"], 45.0, ">= 45x"
    )
