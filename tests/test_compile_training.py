"""Training with compile follows eager training: the README's loop (zero_grad, the compiled
step, optim.Adam) for 20 steps gives the losses and weights the eager engine gives, to
1e-9, on the moons MLP and on the GPT of benchmarks/gpt.py; and `make bench`'s rows for
that loop (benchmarks/loops.py) run and check their losses against PyTorch."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_scalar as ts
from tinygrad_scalar import data, losses, nn, optim

STEPS = 20
TOLERANCE = 1e-9
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
_spec = importlib.util.spec_from_file_location("bench_gpt", BENCHMARKS / "gpt.py")
gpt = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)  # dataclasses look it up
_spec.loader.exec_module(gpt)


def assert_close(ours, eager, what):
    ours, eager = np.asarray(ours, dtype=float), np.asarray(eager, dtype=float)
    worst = np.max(np.abs(ours - eager) / np.maximum(1.0, np.abs(eager)))
    assert worst <= TOLERANCE, f"{what}: compiled and eager differ by {worst:.3g}"


def train(params, optimizer, step_loss, steps=STEPS, before=None):
    """The README's loop: zero_grad, a loss whose gradient lands in .grad, Adam. Returns
    the loss of every step and the weights after the last."""
    found = []
    for k in range(steps):
        if before is not None:
            before(optimizer, k)
        optimizer.zero_grad()
        found.append(step_loss())
        optimizer.step()
    return found, [p.data for p in params]


def moons_run(compiled):
    """20 Adam steps of the moons MLP on 100 points, eager or compiled."""
    X, y = data.make_moons(100, noise=0.1, seed=0)
    labels = [1.0 if label == 1 else -1.0 for label in y]
    model = nn.MLP(2, [16, 16, 1], activation="relu", output="linear", seed=0)
    params = model.parameters()
    optimizer = optim.Adam(params, lr=0.02)
    if compiled:
        step = ts.compile(lambda x, t: losses.hinge(model(x), t), params, (X[0], 1.0))
        return train(params, optimizer, lambda: step(np.array(X), np.array(labels)))

    def eager_loss():
        loss = losses.hinge([model(x) for x in X], labels)
        loss.backward()
        return loss.data

    return train(params, optimizer, eager_loss)


def test_compiled_moons_training_follows_eager_for_20_adam_steps():
    eager_losses, eager_weights = moons_run(compiled=False)
    ours_losses, ours_weights = moons_run(compiled=True)
    assert eager_losses[-1] < eager_losses[0] - 0.1  # it trained
    assert_close(ours_losses, eager_losses, "losses")
    assert_close(ours_weights, eager_weights, "weights after 20 steps")


def gpt_run(compiled):
    """20 Adam steps of benchmarks/gpt.py's model on a batch of 4 names, eager or compiled,
    the learning rate decaying as gpt.learning_rate."""
    docs = gpt.training_docs(seed=0)
    tokenizer = gpt.Tokenizer(docs)
    names = [tokenizer.encode(doc) for doc in docs if len(doc) == 4][:4]
    params = gpt.build_params(ts.Value, gpt.init_weights(tokenizer.vocab_size, seed=1))
    flat = gpt.flat_params(params)
    optimizer = optim.Adam(
        flat, lr=gpt.LEARNING_RATE, betas=(gpt.BETA1, gpt.BETA2), eps=gpt.ADAM_EPS
    )

    def schedule(optimizer, k):
        optimizer.lr = gpt.learning_rate(k, STEPS)

    if compiled:
        step = ts.compile(lambda *tokens: gpt.gpt_loss_fast(params, tokens), flat, tuple(names[0]))
        columns = list(np.array(names).T)  # one integer batch per token position
        return train(flat, optimizer, lambda: step(*columns), before=schedule)

    def eager_loss():
        loss = (1.0 / len(names)) * ts.sum(gpt.gpt_loss_fast(params, t) for t in names)
        loss.backward()
        return loss.data

    return train(flat, optimizer, eager_loss, before=schedule)


def test_compiled_gpt_training_follows_eager_for_20_adam_steps():
    eager_losses, eager_weights = gpt_run(compiled=False)
    ours_losses, ours_weights = gpt_run(compiled=True)
    assert eager_losses[-1] < eager_losses[0] - 0.1  # it trained
    assert_close(ours_losses, eager_losses, "losses")
    assert_close(ours_weights, eager_weights, "weights after 20 steps")


@pytest.mark.parametrize("row", ["moons-loop", "gpt-loop"])
def test_the_bench_rows_of_the_users_loop_run_and_match_torch(row):
    pytest.importorskip("torch")
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--only", row, "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| issue 17")]
    assert len(rows) == 1 and "torch" in rows[0], run.stdout
    checks = [line for line in run.stdout.splitlines() if line.startswith("  check ")]
    assert checks and all(line.endswith(": ok") for line in checks), run.stdout
