"""Row `compiled` (issue 6): the demo step through tinygrad_scalar.compile, vs micrograd
and PyTorch."""

from __future__ import annotations

import argparse
from typing import Any, Callable

import peers
from harness import (
    MOONS_LR,
    MOONS_SIZES,
    Report,
    alternate,
    import_or_none,
    import_torch,
    missing_module,
    speed_row,
)
from row_api import micrograd_demo, micrograd_demo_step, ours_api_step, ours_model_like

# --- row 3 (issue 6): compiled ---------------------------------------------------------------


def ours_compiled_step(model: Any, X: list, y: list) -> Callable[[], float]:
    """The demo step with the data loss compiled; the L2 term stays eager."""
    import numpy as np

    import tinygrad_scalar as ts
    from tinygrad_scalar import losses, optim
    from tinygrad_scalar.compiler import compile as compile_step

    params = model.parameters()
    optimizer = optim.SGD(params, lr=MOONS_LR)
    step_data = compile_step(
        lambda x, label: losses.hinge([model(x)], [label]), params, (X[0], y[0])
    )
    X_array, y_array = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def step() -> float:
        optimizer.zero_grad()
        reg_loss = peers.L2_ALPHA * ts.dot(params, params)
        reg_loss.backward()
        data_loss = step_data(X_array, y_array)  # adds the data loss's gradient into .grad
        optimizer.step()
        return data_loss + reg_loss.data

    return step


def torch_step(torch: Any, mg_model: Any, X: list, y: list) -> Callable[[], float]:
    net = peers.torch_mlp(torch, peers.weights_from_params(mg_model.parameters(), MOONS_SIZES))
    X_tensor = torch.tensor(X, dtype=torch.float64)
    y_tensor = torch.tensor(y, dtype=torch.float64)
    return lambda: peers.torch_moons_step(torch, net, X_tensor, y_tensor, MOONS_LR)


def row_compiled(report: Report, args: argparse.Namespace) -> None:
    bench = "issue 6: compiled"
    if import_or_none("micrograd.nn") is None:
        report.skip(bench, "moons demo step, compiled", "micrograd not installed")
        return
    missing = missing_module("tinygrad_scalar.nn", "tinygrad_scalar.compiler")
    if missing:
        report.skip(bench, "moons demo step, compiled", missing)
        return
    X, y = peers.moons(100)
    engine, mg_model = micrograd_demo()
    _, model = ours_model_like(mg_model)
    _, eager_model = ours_model_like(mg_model)
    torch = import_torch()

    steps = {"ours": ours_compiled_step(model, X, y)}
    steps["micrograd"] = micrograd_demo_step(engine, mg_model, X, y)
    if torch is not None:
        steps["torch"] = torch_step(torch, mg_model, X, y)  # before any step changes weights
    first = {name: step() for name, step in steps.items()}
    eager_first = ours_api_step(eager_model, X, y)()
    report.check_losses("compiled, first loss compiled vs eager", first["ours"], eager_first)
    report.check_losses(
        "compiled, first loss compiled vs micrograd", first["ours"], first["micrograd"]
    )
    if torch is not None:
        report.check_losses("compiled, first loss compiled vs torch", first["ours"], first["torch"])

    print("  timing the compiled step ...", flush=True)
    timings = alternate(steps, args.rounds)
    speed_row(
        report, bench, "moons demo step, compiled", timings["ours"], "micrograd",
        timings["micrograd"], 300.0, ">= 300x",
    )  # fmt: skip
    if torch is None:
        report.skip(bench, "moons demo step vs PyTorch", "torch not installed")
        return
    speed_row(
        report, bench, "moons demo step vs PyTorch", timings["ours"], "torch",
        timings["torch"], 1.0, ">= 1.0x (at or below its time)",
    )  # fmt: skip
