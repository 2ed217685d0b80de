"""benchmarks/gpt.py, the GPT workload of `make bench`: the reference Value, the model
written once for any Value class, the sum/dot version and the PyTorch version agree on
losses, gradients and Adam updates (one document or a batch), and run.py's GPT row runs."""

import functools
import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest

import tinygrad_scalar
from tinygrad_scalar import Value, gradcheck

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
_spec = importlib.util.spec_from_file_location("bench_gpt", BENCHMARKS / "gpt.py")
gpt = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)  # dataclasses look it up
_spec.loader.exec_module(gpt)

TOLERANCE = 1e-9
DOCS = gpt.training_docs(seed=0)
TOKENIZER = gpt.Tokenizer(DOCS)
WEIGHTS = gpt.init_weights(TOKENIZER.vocab_size, seed=1)
SAMPLE_DOCS = [doc for doc in DOCS if len(doc) <= 5][:3]  # short names keep the tests quick
SAMPLE = [TOKENIZER.encode(doc) for doc in SAMPLE_DOCS]
REFERENCE = "reference Value, operators"

# Each scalar version: (Value class, loss of (params, tokens)).
SCALAR_VERSIONS = {
    "reference Value, operators": (gpt.RefValue, functools.partial(gpt.gpt_loss, gpt.RefValue)),
    "tinygrad_scalar.Value, operators": (Value, functools.partial(gpt.gpt_loss, Value)),
    "tinygrad_scalar.Value, sum/dot": (Value, gpt.gpt_loss_fast),
}


def assert_all_close(ours, theirs, tol=TOLERANCE):
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert math.isclose(a, b, rel_tol=tol, abs_tol=tol), f"element {i}: {a!r} vs {b!r}"


@functools.cache  # the reference's numbers are computed once
def loss_and_grads(version, tokens):
    value_cls, loss_of = SCALAR_VERSIONS[version]
    params = gpt.build_params(value_cls, WEIGHTS)
    loss = loss_of(params, list(tokens))
    loss.backward()
    return loss.data, [p.grad for p in gpt.flat_params(params)]


# --- the reference Value ---------------------------------------------------------------------


def every_op(a, b):
    """Each operator RefValue defines, once, on two inputs a > 0 and b."""
    return ((a * b + 1.5 - b) / (2.0 - a) + 3.0 / a - (-b) * 0.5 + (a**2.5).log()).exp() + (
        b - 0.2
    ).relu() * (1.0 - a)


@pytest.mark.parametrize("a, b", [(0.7, 0.4), (1.3, -0.6), (0.2, 2.0)])
def test_reference_value_matches_tinygrad_scalar_and_central_differences(a, b):
    ra, rb = gpt.RefValue(a), gpt.RefValue(b)
    out = every_op(ra, rb)
    out.backward()
    va, vb = Value(a), Value(b)
    expected = every_op(va, vb)
    expected.backward()
    assert_all_close([out.data, ra.grad, rb.grad], [expected.data, va.grad, vb.grad], tol=1e-14)
    assert gradcheck(every_op, a, b)


def test_reference_value_accumulates_a_shared_input_once_per_use():
    x = gpt.RefValue(3.0)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward()
    assert (y.data, x.grad) == (12.0, 7.0)


# --- data ------------------------------------------------------------------------------------


def test_tokenizer_wraps_a_name_in_bos_and_round_trips():
    assert TOKENIZER.vocab_size == 27 and TOKENIZER.bos == 26  # a..z, then BOS
    tokens = TOKENIZER.encode("emma")
    assert tokens == [26, 4, 12, 12, 0, 26]
    assert TOKENIZER.decode(tokens) == "emma"


def test_training_docs_are_every_name_in_a_seeded_order():
    assert sorted(DOCS) == tinygrad_scalar.data.load_names()
    assert gpt.training_docs(seed=0) == DOCS and gpt.training_docs(seed=1) != DOCS
    # every name fits the block: BOS + name predicts name + BOS in at most 16 positions
    assert max(len(TOKENIZER.encode(doc)) - 1 for doc in DOCS) <= gpt.BLOCK_SIZE


def test_weights_have_the_model_shapes_and_depend_on_the_seed():
    shapes = {name: (len(rows), len(rows[0])) for name, rows in WEIGHTS.items()}
    assert shapes == {
        "wte": (27, 16),
        "wpe": (16, 16),
        "layer0.attn_wq": (16, 16),
        "layer0.attn_wk": (16, 16),
        "layer0.attn_wv": (16, 16),
        "layer0.attn_wo": (16, 16),
        "layer0.mlp_fc1": (64, 16),
        "layer0.mlp_fc2": (16, 64),
        "lm_head": (27, 16),
    }
    assert len(gpt.flat_params(WEIGHTS)) == 27 * 16 * 2 + 16 * 16 * 5 + 2 * 64 * 16
    assert gpt.init_weights(27, seed=1) == WEIGHTS != gpt.init_weights(27, seed=2)


# --- the versions agree ------------------------------------------------------------------------


@pytest.mark.parametrize("tokens", [tuple(t) for t in SAMPLE], ids=SAMPLE_DOCS)
def test_every_scalar_version_gives_the_same_loss_and_gradients(tokens):
    reference_loss, reference_grads = loss_and_grads(REFERENCE, tokens)
    # small initial weights: the model starts close to a uniform guess over 27 tokens
    assert abs(reference_loss - math.log(27)) < 0.3
    assert sum(g != 0.0 for g in reference_grads) > 1000
    for version in SCALAR_VERSIONS:
        loss, grads = loss_and_grads(version, tokens)
        assert_all_close([loss], [reference_loss])
        assert_all_close(grads, reference_grads)


@pytest.fixture
def torch():
    """PyTorch on one thread: on a busy machine its thread pool spins and takes 100x longer
    on tensors this small (benchmarks/run.py does the same)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def test_pytorch_version_gives_the_same_loss_and_gradients(torch):
    for tokens in SAMPLE:
        reference_loss, reference_grads = loss_and_grads(REFERENCE, tuple(tokens))
        model = gpt.torch_gpt(WEIGHTS)
        loss = model(tokens)
        loss.backward()
        grads = [g for p in model.ordered_parameters() for g in p.grad.flatten().tolist()]
        assert_all_close([loss.item()], [reference_loss])
        assert_all_close(grads, reference_grads)


@functools.cache
def train_two_steps(version):
    """Two Adam steps on two documents, then the loss on the first again."""
    value_cls, loss_of = SCALAR_VERSIONS[version]
    params = gpt.build_params(value_cls, WEIGHTS)
    state = gpt.AdamState.zeros(len(gpt.flat_params(params)))
    losses = [gpt.train_step(loss_of, params, state, SAMPLE[i], i, 10) for i in range(2)]
    losses.append(loss_of(params, SAMPLE[0]).data)
    return losses, [p.data for p in gpt.flat_params(params)]


@pytest.mark.slow
def test_adam_steps_change_every_version_identically():
    reference_losses, reference_weights = train_two_steps(REFERENCE)
    assert reference_losses[2] < reference_losses[0]  # training on a name makes it likelier
    assert reference_weights != gpt.flat_params(WEIGHTS)
    for version in SCALAR_VERSIONS:
        losses, weights = train_two_steps(version)
        assert_all_close(losses, reference_losses)
        assert_all_close(weights, reference_weights)


@pytest.mark.slow
def test_adam_steps_in_pytorch_match(torch):
    reference_losses, reference_weights = train_two_steps(REFERENCE)
    model = gpt.torch_gpt(WEIGHTS)
    optimizer = gpt.torch_adam(model)
    losses = [gpt.torch_train_step(model, optimizer, SAMPLE[i], i, 10) for i in range(2)]
    losses.append(model(SAMPLE[0]).item())
    weights = [w for p in model.ordered_parameters() for w in p.detach().flatten().tolist()]
    assert_all_close(losses, reference_losses)
    assert_all_close(weights, reference_weights)


def test_adam_decays_the_learning_rate_linearly_to_zero():
    assert gpt.learning_rate(0, 100) == gpt.LEARNING_RATE
    assert gpt.learning_rate(50, 100) == pytest.approx(gpt.LEARNING_RATE / 2)
    assert gpt.learning_rate(100, 100) == 0.0


# --- a batch of documents of equal length ------------------------------------------------------

BATCH = [TOKENIZER.encode(doc) for doc in DOCS if len(doc) == 4][:3]


@functools.cache
def batch_step(version):
    """One Adam step on the mean loss of BATCH: (the loss, the weights after it)."""
    value_cls, loss_of = SCALAR_VERSIONS[version]
    params = gpt.build_params(value_cls, WEIGHTS)
    state = gpt.AdamState.zeros(len(gpt.flat_params(params)))
    loss = gpt.batch_train_step(loss_of, params, state, BATCH, 0, 10)
    return loss, [p.data for p in gpt.flat_params(params)]


def test_a_batch_step_is_adam_on_the_mean_of_the_documents_losses_and_gradients():
    singles = [loss_and_grads(REFERENCE, tuple(tokens)) for tokens in BATCH]
    assert len(BATCH) == 3 and BATCH[0] != BATCH[1]
    params = gpt.flat_params(gpt.build_params(gpt.RefValue, WEIGHTS))
    for p, *grads in zip(params, *(grads for _, grads in singles)):
        p.grad = sum(grads) / 3
    gpt.adam_step(params, gpt.AdamState.zeros(len(params)), 0, 10)
    loss, weights = batch_step(REFERENCE)
    assert_all_close([loss], [sum(single_loss for single_loss, _ in singles) / 3])
    assert_all_close(weights, [p.data for p in params])
    assert weights != gpt.flat_params(WEIGHTS)


def test_every_scalar_version_takes_the_same_batch_step():
    reference_loss, reference_weights = batch_step(REFERENCE)
    for version in SCALAR_VERSIONS:
        loss, weights = batch_step(version)
        assert_all_close([loss], [reference_loss])
        assert_all_close(weights, reference_weights)


def test_pytorch_runs_a_batch_of_documents_at_once_to_the_same_step(torch):
    reference_loss, reference_weights = batch_step(REFERENCE)
    model = gpt.torch_gpt(WEIGHTS)
    loss = gpt.torch_train_step(model, gpt.torch_adam(model), BATCH, 0, 10)
    weights = [w for p in model.ordered_parameters() for w in p.detach().flatten().tolist()]
    assert_all_close([loss], [reference_loss])
    assert_all_close(weights, reference_weights)


# --- the benchmark's GPT row runs -------------------------------------------------------------


def test_bench_gpt_row_runs_and_every_engine_takes_the_same_steps():
    """`benchmarks/run.py --only gpt --quick` (a few seconds) prints its rows and the step
    by step loss checks; it exits 1 if any engine's loss drifts from the reference's.
    Only what it prints is checked, never how fast anything was."""
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--only", "gpt", "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| issue 9: GPT step")]
    assert len(rows) == 2 and "drop-in Value" in rows[0] and "sum/dot" in rows[1]
    checks = [line for line in run.stdout.splitlines() if line.startswith("  check GPT step")]
    assert len(checks) == 2 and all(line.endswith(": ok") for line in checks)
    # one warm-up step per engine, then 3 steps (one per name) in each of 2 rounds
    assert all("of 7, the largest difference" in line for line in checks)
