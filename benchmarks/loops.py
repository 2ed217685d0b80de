"""Issue 17's rows of `make bench`: the training loop a user writes, compiled, vs PyTorch.

    .venv/bin/python benchmarks/run.py --only moons-loop
    .venv/bin/python benchmarks/run.py --only gpt-loop

The README's loop is `model.zero_grad(); loss = step(X, y); optimizer.step()`. Each row
times that whole loop body, the optimizer included, against the same loop in PyTorch
(float64, `torch.optim.Adam`: zero_grad, forward, backward, step) on the same model,
weights, batch and optimizer settings:

  moons-loop  the moons MLP (2-16-16-1, relu, 100 points, mean hinge loss), Adam
  gpt-loop    the GPT of benchmarks/gpt.py on a batch of 16 names, Adam with the learning
              rate set every step (gpt.learning_rate); time per predicted token

Both engines train in lockstep (the same number of steps in every round, from the same
weights), and the loss of every step is checked against PyTorch's to harness.py's tolerance,
so the rows also show that the compiled loop follows PyTorch's trajectory. The timing
rules are harness.py's (`alternate`): one process, engines alternated round by round, every
timed step paying for its own garbage collection.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

import gpt
import peers

MOONS_POINTS = 100
MOONS_LR = 0.01
MOONS_CALLS = 20  # steps per engine per round (each round times 20 consecutive steps)
GPT_CALLS = 4


def moons_loop_trainers(torch: Any) -> dict[str, tuple[Callable[[], float], list[float]]]:
    """The README's compiled loop and PyTorch's, each (a step that trains one step and
    returns its loss, the losses so far), from the same initial weights."""
    import numpy as np

    import tinygrad_scalar as ts
    from tinygrad_scalar import losses, nn, optim

    X, y = peers.moons(MOONS_POINTS)
    model = nn.MLP(2, [16, 16, 1], activation="relu", output="linear", seed=0)
    # PyTorch's copy first: the weights every engine starts from
    net = peers.torch_mlp(torch, peers.weights_from_params(model.parameters(), [2, 16, 16, 1]))
    torch_optimizer = torch.optim.Adam(net.parameters(), lr=MOONS_LR)
    X_tensor = torch.tensor(X, dtype=torch.float64)
    y_tensor = torch.tensor(y, dtype=torch.float64)

    optimizer = optim.Adam(model.parameters(), lr=MOONS_LR)
    step = ts.compile(lambda x, t: losses.hinge(model(x), t), model.parameters(), (X[0], y[0]))
    X_array, y_array = np.asarray(X), np.asarray(y)
    ours_losses: list[float] = []
    torch_losses: list[float] = []

    def ours() -> float:
        model.zero_grad()
        loss = step(X_array, y_array)
        optimizer.step()
        ours_losses.append(loss)
        return loss

    def theirs() -> float:
        torch_optimizer.zero_grad()
        loss = torch.relu(1 - y_tensor * net(X_tensor).squeeze(1)).mean()
        loss.backward()
        torch_optimizer.step()
        torch_losses.append(loss.item())
        return torch_losses[-1]

    return {"compiled": (ours, ours_losses), "torch": (theirs, torch_losses)}


def gpt_loop_trainers(
    torch: Any, names: list[list[int]], weights: Any, schedule_steps: int
) -> dict[str, tuple[Callable[[], float], list[float]]]:
    """The compiled GPT loop with optim.Adam, and PyTorch's (gpt.torch_train_step), on the
    batch `names` every step, from `weights`."""
    import numpy as np

    import tinygrad_scalar as ts
    from tinygrad_scalar import optim

    params = gpt.build_params(ts.Value, weights)
    flat = gpt.flat_params(params)
    step = ts.compile(lambda *tokens: gpt.gpt_loss_fast(params, tokens), flat, tuple(names[0]))
    optimizer = optim.Adam(
        flat, lr=gpt.LEARNING_RATE, betas=(gpt.BETA1, gpt.BETA2), eps=gpt.ADAM_EPS
    )
    columns = list(np.array(names).T)  # one integer batch per token position
    ours_losses: list[float] = []

    def ours() -> float:
        optimizer.lr = gpt.learning_rate(len(ours_losses), schedule_steps)
        optimizer.zero_grad()
        loss = step(*columns)
        optimizer.step()
        ours_losses.append(loss)
        return loss

    import row_gpt

    theirs = row_gpt.gpt_torch_trainer(torch, weights, names, schedule_steps)
    return {"compiled": (ours, ours_losses), "torch": theirs}


def row_moons_loop(report: Any, args: argparse.Namespace) -> None:
    import harness

    bench = "issue 17: user's loop"
    measure = "moons loop (zero_grad, compiled step, Adam)"
    torch = harness.import_torch()
    if torch is None:
        report.skip(bench, measure, "torch not installed")
        return
    trainers = moons_loop_trainers(torch)
    steps = {name: step for name, (step, _) in trainers.items()}
    print(
        f"  timing the moons loop ({MOONS_POINTS} points, {MOONS_CALLS} steps per round) ...",
        flush=True,
    )
    timings = harness.alternate(steps, args.rounds, calls=MOONS_CALLS)
    harness.check_lockstep_losses(
        report, "moons loop", {"torch": trainers["torch"][1], "compiled": trainers["compiled"][1]}
    )
    harness.speed_row(
        report, bench, measure, timings["compiled"], "torch", timings["torch"], 1.0,
        ">= 1.0x (at or below its time)",
    )  # fmt: skip


def row_gpt_loop(report: Any, args: argparse.Namespace) -> None:
    import harness
    import row_gpt

    bench = "issue 17: user's loop"
    names, weights, tokens = row_gpt.gpt_batch_workload(args)
    measure = f"GPT loop per token ({len(names)} names, Adam)"
    torch = harness.import_torch()
    if torch is None:
        report.skip(bench, measure, "torch not installed")
        return
    trainers = gpt_loop_trainers(torch, names, weights, row_gpt.GPT_SCHEDULE_STEPS)
    steps = {name: step for name, (step, _) in trainers.items()}
    print(
        f"  timing the GPT loop ({len(names)} names, {tokens} predicted tokens per step,"
        f" {GPT_CALLS} steps per round) ...",
        flush=True,
    )
    timings = harness.alternate(steps, args.rounds, calls=GPT_CALLS)
    harness.check_lockstep_losses(
        report, "GPT loop", {"torch": trainers["torch"][1], "compiled": trainers["compiled"][1]}
    )
    ours, theirs = (harness.per_token(timings[name], tokens) for name in ("compiled", "torch"))
    harness.speed_row(
        report, bench, measure, ours, "torch", theirs, 1.0, ">= 1.0x (at or below its time)"
    )
