"""Issue 18's rows of `make bench`: the compiled step on torch, on the CPU.

    .venv/bin/python benchmarks/run.py --only torch-moons
    .venv/bin/python benchmarks/run.py --only torch-gpt

Four training loops, alternated in one process (harness.py's `alternate`) on the same model,
weights, batch and optimizer settings, in lockstep (the loss of every step is checked):

  torch backend   `ts.compile(..., backend="torch")` and our optim.Adam: the user's loop
                  of the NumPy compile, with the plan replayed on torch tensors
  to_torch        the same plan as a torch.nn.Module (`step.to_torch()`), trained with
                  torch.optim.Adam: what a user exports to take it further (GPU, DDP)
  NumPy compile   `ts.compile(...)` and our optim.Adam (loops.py's loop)
  PyTorch         the hand-written float64 PyTorch model (peers.py, gpt.py)

  torch-moons  the moons MLP of loops.py (2-16-16-1, relu, 100 points, hinge), Adam
  torch-gpt    the GPT of benchmarks/gpt.py on a batch of 16 names; time per token

There is no speed target: the torch backend is for reach (GPUs, DistributedDataParallel),
not for CPU speed. It replays the same groups as the NumPy step, one torch call (or
autograd.Function) per group, and pays torch's per-op dispatch on each, so on these small
graphs it is expected to be slower than both the NumPy step and hand-written PyTorch.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

import gpt
import loops
import peers

Trainers = dict[str, tuple[Callable[[], float], list[float]]]


def moons_trainers(torch: Any) -> Trainers:
    """The four moons loops from the same initial weights (loops.py's model and data)."""
    import numpy as np

    import tinygrad_scalar as ts
    from tinygrad_scalar import losses, nn, optim

    trainers: Trainers = {}
    numpy_loop = loops.moons_loop_trainers(torch)
    X, y = peers.moons(loops.MOONS_POINTS)
    X_array, y_array = np.asarray(X), np.asarray(y)

    model = nn.MLP(2, [16, 16, 1], activation="relu", output="linear", seed=0)
    step = ts.compile(
        lambda x, t: losses.hinge(model(x), t), model.parameters(), (X[0], y[0]), backend="torch"
    )
    optimizer = optim.Adam(model.parameters(), lr=loops.MOONS_LR)
    backend_losses: list[float] = []

    def on_torch_backend() -> float:
        model.zero_grad()
        backend_losses.append(step(X_array, y_array))
        optimizer.step()
        return backend_losses[-1]

    trainers["torch backend"] = (on_torch_backend, backend_losses)

    exported_model = nn.MLP(2, [16, 16, 1], activation="relu", output="linear", seed=0)
    net = ts.to_torch(
        lambda x, t: losses.hinge(exported_model(x), t),
        exported_model.parameters(),
        (X[0], y[0]),
    )
    torch_optimizer = torch.optim.Adam(net.parameters(), lr=loops.MOONS_LR)
    X_tensor = torch.tensor(X, dtype=torch.float64)
    y_tensor = torch.tensor(y, dtype=torch.float64)
    trainers["to_torch"] = module_trainer(net, torch_optimizer, lambda: (X_tensor, y_tensor))

    trainers["NumPy compile"] = numpy_loop["compiled"]
    trainers["PyTorch"] = numpy_loop["torch"]
    return trainers


def module_trainer(
    net: Any, optimizer: Any, batches: Callable[[], tuple], learning_rate: Callable | None = None
) -> tuple[Callable[[], float], list[float]]:
    """The exported module trained with a torch optimizer: zero_grad, forward, backward,
    step (the learning rate set first where `learning_rate(step)` is given)."""
    module_losses: list[float] = []

    def train() -> float:
        if learning_rate is not None:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(len(module_losses))
        optimizer.zero_grad()
        loss = net(*batches())
        loss.backward()
        optimizer.step()
        module_losses.append(loss.item())
        return module_losses[-1]

    return train, module_losses


def gpt_trainers(torch: Any, names: list[list[int]], weights: Any, schedule_steps: int) -> Trainers:
    """The four GPT loops on the batch `names` every step, from `weights`."""
    import numpy as np

    import tinygrad_scalar as ts
    from tinygrad_scalar import optim

    trainers: Trainers = {}
    numpy_loop = loops.gpt_loop_trainers(torch, names, weights, schedule_steps)
    columns = list(np.array(names).T)  # one integer batch per token position

    params = gpt.build_params(ts.Value, weights)
    flat = gpt.flat_params(params)
    step = ts.compile(
        lambda *tokens: gpt.gpt_loss_fast(params, tokens), flat, tuple(names[0]), backend="torch"
    )
    optimizer = optim.Adam(
        flat, lr=gpt.LEARNING_RATE, betas=(gpt.BETA1, gpt.BETA2), eps=gpt.ADAM_EPS
    )
    backend_losses: list[float] = []

    def on_torch_backend() -> float:
        optimizer.lr = gpt.learning_rate(len(backend_losses), schedule_steps)
        optimizer.zero_grad()
        backend_losses.append(step(*columns))
        optimizer.step()
        return backend_losses[-1]

    trainers["torch backend"] = (on_torch_backend, backend_losses)

    exported_params = gpt.build_params(ts.Value, weights)
    net = ts.to_torch(
        lambda *tokens: gpt.gpt_loss_fast(exported_params, tokens),
        gpt.flat_params(exported_params),
        tuple(names[0]),
    )
    torch_optimizer = torch.optim.Adam(
        net.parameters(), lr=gpt.LEARNING_RATE, betas=(gpt.BETA1, gpt.BETA2), eps=gpt.ADAM_EPS
    )
    column_tensors = tuple(torch.tensor(column) for column in columns)
    trainers["to_torch"] = module_trainer(
        net,
        torch_optimizer,
        lambda: column_tensors,
        lambda k: gpt.learning_rate(k, schedule_steps),
    )
    trainers["NumPy compile"] = numpy_loop["compiled"]
    trainers["PyTorch"] = numpy_loop["torch"]
    return trainers


def report_rows(report: Any, bench: str, what: str, timings: dict) -> None:
    """Each torch path against the NumPy compile and against hand-written PyTorch;
    ratio = the peer's median / ours (above 1 means the torch path is faster)."""
    import harness

    for ours, peer in (
        ("torch backend", "NumPy compile"),
        ("torch backend", "PyTorch"),
        ("to_torch", "PyTorch"),
    ):
        mine, theirs = timings[ours], timings[peer]
        ratio = f"{harness.three_figures(theirs.median / mine.median)}x"
        measure = f"{what}: {ours} vs {peer}"
        report.add(
            harness.Row(
                bench,
                measure,
                f"{harness.format_seconds(mine.median)} ({mine.spread()})",
                f"{peer} {harness.format_seconds(theirs.median)} ({theirs.spread()})",
                ratio,
                "(reported)",
            ),
            f"{measure}: {ratio} {peer}'s speed (reported, no target on the CPU)",
        )


def row_torch_moons(report: Any, args: argparse.Namespace) -> None:
    import harness

    bench = "issue 18: on torch"
    what = "moons loop"
    torch = harness.import_torch()
    if torch is None:
        report.skip(bench, what, "torch not installed")
        return
    trainers = moons_trainers(torch)
    print(
        f"  timing the moons loop on torch ({loops.MOONS_POINTS} points,"
        f" {loops.MOONS_CALLS} steps per round) ...",
        flush=True,
    )
    steps = {name: step for name, (step, _) in trainers.items()}
    timings = harness.alternate(steps, args.rounds, calls=loops.MOONS_CALLS)
    harness.check_lockstep_losses(
        report, "moons on torch", {name: losses for name, (_, losses) in trainers.items()}
    )
    report_rows(report, bench, what, timings)


def row_torch_gpt(report: Any, args: argparse.Namespace) -> None:
    import harness
    import row_gpt

    bench = "issue 18: on torch"
    names, weights, tokens = row_gpt.gpt_batch_workload(args)
    what = f"GPT per token ({len(names)} names, Adam)"
    torch = harness.import_torch()
    if torch is None:
        report.skip(bench, what, "torch not installed")
        return
    trainers = gpt_trainers(torch, names, weights, row_gpt.GPT_SCHEDULE_STEPS)
    print(
        f"  timing the GPT loop on torch ({len(names)} names, {tokens} predicted tokens per"
        f" step, {loops.GPT_CALLS} steps per round) ...",
        flush=True,
    )
    steps = {name: step for name, (step, _) in trainers.items()}
    timings = harness.alternate(steps, args.rounds, calls=loops.GPT_CALLS)
    harness.check_lockstep_losses(
        report, "GPT on torch", {name: losses for name, (_, losses) in trainers.items()}
    )
    per_token = {name: harness.per_token(timing, tokens) for name, timing in timings.items()}
    report_rows(report, bench, what, per_token)
