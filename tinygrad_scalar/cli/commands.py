"""The subcommands demo, train and predict: each takes the parsed arguments and returns the
exit status, or raises BadInput (exit status 2) or CommandFailed (exit status 1).

Output folders are checked before any training: the files are assembled in a temporary
folder (inside --out when it exists, beside it otherwise) and moved into place only when
every file is complete; an error or an interrupt removes it.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any, Callable, Sequence

from .._checks import quote_input
from .._files import StagedFolder, check_replaceable, kind_of_file
from ..nn import MLP
from ..rules import floats
from .arguments import EXIT_OK, BadInput

DATASETS = ("moons", "circles", "blobs", "spiral", "xor")
MULTICLASS_DATASETS = ("blobs", "spiral")

# The demo: micrograd's moons demo (2-16-16-1, 100 points, hinge loss + 1e-4 L2, full-batch
# SGD with the rate decaying linearly from 1.0 to 0.1 over 100 steps).
DEMO_DIR = "tinygrad-scalar-demo"
TRAIN_DIR = "tinygrad-scalar-train"  # train --out
DEMO_SIZES = [16, 16, 1]
DEMO_POINTS = 100
DEMO_NOISE = 0.1
DEMO_EPOCHS = 100
DEMO_LR = 1.0
DEMO_L2 = 1e-4
# Limits that keep a typo from exhausting memory: the engine holds one Python object per
# number, so a network or dataset far past these would take hours or be killed.
MAX_SAMPLES = 100_000
MAX_CLASSES = 100
MAX_PARAMETERS = 100_000
PICTURES = ("loss.png", "decision_boundary.png")
DEMO_FILES = ("model.json", *PICTURES, "neuron.svg")
TRAIN_FILES = ("model.json", *PICTURES)


# --- output folders ---------------------------------------------------------------------------


def _open_out_dir(out: str, names: Sequence[str]) -> StagedFolder:
    """The staging folder for `out`, made now, before any work: every problem with --out
    (a file in the way, no permission, a file system that refuses new folders) is bad input
    found here, not after training. `names` are the files that will be written."""
    if not out:
        raise BadInput("--out must name a folder, got ''")
    if os.path.exists(out) and not os.path.isdir(out):
        what = "a file" if os.path.isfile(out) else kind_of_file(os.stat(out).st_mode)
        raise BadInput(f"--out {quote_input(out)} is {what}, not a folder")
    if os.path.islink(out) and not os.path.exists(out):
        raise BadInput(
            f"--out {quote_input(out)} is a symbolic link to {quote_input(os.readlink(out))},"
            " which is missing"
        )
    for name in names:
        if os.path.isdir(os.path.join(out, name)):
            raise BadInput(f"--out {quote_input(out)}: {quote_input(name)} is a folder")
        try:  # a read-only file there is refused now, not replaced after training
            check_replaceable(os.path.join(out, name))
        except OSError as error:
            raise BadInput(
                f"--out {quote_input(out)}: cannot replace {quote_input(name)}:"
                f" {error.strerror or error}"
            ) from None
    ancestor = os.path.abspath(out)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise BadInput(f"--out {quote_input(out)}: {quote_input(ancestor)} is not a folder")
    try:  # a folder still to be made is only refused by the final rename, after training
        longest_name = os.pathconf(ancestor, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        longest_name = 255
    for part in os.path.abspath(out)[len(ancestor) :].split(os.sep):
        if len(os.fsencode(part)) > longest_name:
            raise BadInput(
                f"--out {quote_input(out)}: the name {quote_input(part)} is longer than the"
                f" {longest_name} bytes the file system allows"
            )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise BadInput(
            f"--out {quote_input(out)}: no permission to write in {quote_input(ancestor)}"
        )
    folder = StagedFolder(out)
    try:
        folder.create()
    except OSError as error:
        raise BadInput(
            f"--out {quote_input(out)}: cannot write there ({error.strerror or error})"
        ) from None
    return folder


def _write_pictures(staging: str, model: Any, history: Any, X: list, y: list) -> list[str]:
    """Loss curve and decision boundary; with matplotlib missing, say so and go on."""
    try:
        from ..plot import plot_decision_boundary, plot_history

        plot_history(history, os.path.join(staging, "loss.png"))
        plot_decision_boundary(model, X, y, os.path.join(staging, "decision_boundary.png"))
    except ImportError as error:
        return [f"note: skipped loss.png and decision_boundary.png ({error})"]
    return []


def _write_neuron_graph(staging: str, model: Any, x: list[float]) -> list[str]:
    """The first hidden neuron's graph on one input, with its gradients, as SVG."""
    from ..engine import Value
    from ..viz import draw

    neuron = model.layers[0].neurons[0]
    inputs = [Value(v, label=f"x{i}") for i, v in enumerate(x)]
    out = neuron(inputs)
    out.label = "out"
    out.backward()
    try:
        draw(out, params=neuron).save(os.path.join(staging, "neuron.svg"))
    except Exception as error:  # no renderer must not cost the other files
        return [f"note: skipped neuron.svg ({type(error).__name__}: {error})"]
    finally:
        neuron.zero_grad()
    return []


# --- subcommands ------------------------------------------------------------------------------


def _loss_text(loss: float) -> str:
    """A loss in fixed precision: 0.0123, 1.235e+300 (not 300 digits), nan."""
    return f"{loss:.4f}" if abs(loss) < 1e6 else f"{loss:.6g}"


def _report_accuracy(name: str, value: float, count: int) -> str:
    return f"{name}: {100 * value:.1f}% ({round(value * count)}/{count} points)"


def _write_folder(out: str, names: Sequence[str], fill: Callable[[str], list[str]]) -> int:
    """Check --out `out`, run `fill(staging folder)` (which writes the files `names` there
    and returns notes), then publish the folder and print the notes and the files written."""
    with _open_out_dir(out, names) as folder:
        assert folder.path is not None  # made by _open_out_dir
        notes = fill(folder.path)
        written = folder.publish()
    for note in notes:
        print(note)
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def run_demo(args: argparse.Namespace) -> int:
    return _write_folder(args.out, DEMO_FILES, lambda staging: _demo(args, staging))


def _demo(args: argparse.Namespace, staging: str) -> list[str]:
    """Train the demo model and write its files into `staging`; returns notes to print."""
    from ..data import make_moons
    from ..train import accuracy, fit

    X, y = make_moons(DEMO_POINTS, DEMO_NOISE, seed=args.seed)
    model = MLP(2, DEMO_SIZES, activation="relu", seed=args.seed)
    print(f"training {model.nin}-{'-'.join(map(str, DEMO_SIZES))} MLP on {len(X)} moons points")
    history = fit(
        model,
        X,
        y,
        loss="hinge",
        optimizer="sgd",
        lr=DEMO_LR,
        schedule="linear",
        epochs=DEMO_EPOCHS,
        l2=DEMO_L2,
        seed=args.seed,
        progress=not args.no_progress,
        compile=True,
    )
    final = accuracy(model, X, y)
    print(f"final loss: {_loss_text(history.train_loss[-1])}")
    print(_report_accuracy("final accuracy", final, len(X)))
    model.save(os.path.join(staging, "model.json"))
    notes = _write_pictures(staging, model, history, X, y)
    return notes + _write_neuron_graph(staging, model, X[0])


def _dataset(args: argparse.Namespace) -> tuple[list, list]:
    from .. import data

    noise = {} if args.noise is None else {"noise": args.noise}
    if args.dataset == "moons":
        return data.make_moons(args.samples, seed=args.seed, **noise)
    if args.dataset == "circles":
        return data.make_circles(args.samples, seed=args.seed, **noise)
    if args.dataset == "xor":
        return data.make_xor(args.samples, seed=args.seed, **noise)
    if args.dataset == "blobs":
        std = {} if args.noise is None else {"std": args.noise}
        return data.make_blobs(args.samples, centers=args.classes, seed=args.seed, **std)
    return data.make_spiral(args.samples, classes=args.classes, seed=args.seed, **noise)


def _count(number: int) -> str:
    """A count for a message: 12,345, or its order of magnitude when it is enormous (a
    4,000-digit --layers width gives an 8,000-digit parameter count)."""
    if number < 10**15:
        return f"{number:,}"
    return f"about 10^{int(number.bit_length() * math.log10(2))}"


def run_train(args: argparse.Namespace) -> int:
    classes = args.classes if args.dataset in MULTICLASS_DATASETS else 2
    if args.dataset in MULTICLASS_DATASETS and classes < 2:
        raise BadInput(f"--classes must be at least 2 for {args.dataset}, got {classes}")
    loss = args.loss or ("hinge" if classes == 2 else "cross_entropy")
    if loss in ("hinge", "bce") and classes > 2:
        raise BadInput(
            f"--loss {loss} is for two classes; --dataset {args.dataset} has {classes}"
            " (use cross_entropy or mse)"
        )
    if args.samples < 2:
        raise BadInput(
            f"--samples must be at least 2 (some to train, some to test), got {args.samples}"
        )
    if args.samples > MAX_SAMPLES:
        raise BadInput(f"--samples must be at most {MAX_SAMPLES:,}, got {args.samples:,}")
    if args.dataset in MULTICLASS_DATASETS and classes > MAX_CLASSES:
        raise BadInput(f"--classes must be at most {MAX_CLASSES}, got {classes:,}")
    outputs = classes if (loss == "cross_entropy" or (loss == "mse" and classes > 2)) else 1
    parameters = MLP.count_parameters(
        nin=2, sizes=[*args.layers, outputs], activation=args.activation, output="linear"
    )
    if parameters > MAX_PARAMETERS:
        raise BadInput(
            f"--layers {quote_input(','.join(map(str, args.layers)))} gives"
            f" {_count(parameters)} parameters;"
            f" this scalar engine takes at most {MAX_PARAMETERS:,}"
        )
    return _write_folder(
        args.out, TRAIN_FILES, lambda staging: _train(args, loss, outputs, staging)
    )


def _train(args: argparse.Namespace, loss: str, outputs: int, staging: str) -> list[str]:
    """Train the model `args` describe and write its files into `staging`; returns notes."""
    from ..data import train_test_split
    from ..train import accuracy, fit

    X, y = _dataset(args)
    X_train, X_test, y_train, y_test = train_test_split(X, y, args.test_fraction, seed=args.seed)
    model = MLP(2, [*args.layers, outputs], activation=args.activation, seed=args.seed)
    print(
        f"training {'-'.join(map(str, [2, *args.layers, outputs]))} MLP on {len(X_train)}"
        f" {args.dataset} points ({loss} loss, {args.optimizer})"
    )
    history = fit(
        model,
        X_train,
        y_train,
        loss=loss,
        optimizer=args.optimizer,
        lr=args.lr,
        epochs=args.epochs,
        batch_size=args.batch_size,
        l2=args.l2,
        X_test=X_test,
        y_test=y_test,
        seed=args.seed,
        progress=not args.no_progress,
        compile=args.compile,
    )
    print(f"final loss: {_loss_text(history.train_loss[-1])}")
    _check_converged(model, args, loss, X_train, y_train)
    # the history's train accuracy is taken before each step: measure the final model
    print(_report_accuracy("train accuracy", accuracy(model, X_train, y_train), len(X_train)))
    print(_report_accuracy("test accuracy", accuracy(model, X_test, y_test), len(X_test)))
    model.save(os.path.join(staging, "model.json"))
    return _write_pictures(staging, model, history, X, y)


def _check_converged(model: Any, args: argparse.Namespace, loss: str, X: list, y: list) -> None:
    """A model whose weights overflowed is not worth saving: say which setting to change."""
    for name, parameter in model.named_parameters():
        if not math.isfinite(parameter.data):
            raise BadInput(
                f"training diverged: parameter {name} became {parameter.data};"
                f" nothing was written ({_divergence_cause(model, args, loss, X, y)})"
            )


def _divergence_cause(model: Any, args: argparse.Namespace, loss: str, X: list, y: list) -> str:
    """Why training overflowed, judged from what was there before the first step: the data
    (--noise), the L2 penalty (--l2), or else the learning rate."""
    from ..train import evaluate

    largest = max(abs(coordinate) for row in X for coordinate in row)
    if not math.isfinite(largest):
        noise = "the noise" if args.noise is None else f"--noise {args.noise:g}"
        return f"the data overflowed: {noise} made points infinite; use a smaller --noise"
    # the same initial weights as the diverged model (same seed), before any step
    initial = MLP(2, model.sizes, activation=args.activation, seed=args.seed)
    if not math.isfinite(evaluate(initial, X, y, loss).loss):
        return (
            f"the data overflowed: the loss at the initial weights is not finite, with points"
            f" as large as {largest:.3g}; use a smaller --noise"
        )
    squares = sum(p.data * p.data for p in initial.parameters())
    if not math.isfinite(args.l2 * squares):
        return (
            f"the L2 penalty overflowed: --l2 {args.l2:g} times the initial sum of squared"
            f" weights ({squares:.3g}) is not finite; use a smaller --l2"
        )
    given = f"--lr {args.lr:g}" if args.lr is not None else "the default --lr"
    return f"try a smaller learning rate than {given}"


def run_predict(args: argparse.Namespace) -> int:
    from ..train import classify, predict

    features = []
    for i, text in enumerate(args.features):
        try:
            value = float(text)
        except ValueError:
            raise BadInput(f"input x{i} must be a number, got {quote_input(text)}") from None
        if not math.isfinite(value):
            raise BadInput(f"input x{i} must be a finite number, got {quote_input(text)}")
        features.append(value)
    try:
        model = MLP.load(args.model)
    except ValueError as error:
        raise BadInput(str(error)) from None
    except OSError as error:  # missing, a folder, unreadable
        raise BadInput(
            f"cannot read model {quote_input(args.model)}: {error.strerror or error}"
        ) from None
    if len(features) != model.nin:
        raise BadInput(
            f"model {quote_input(args.model)} takes {model.nin} inputs, got {len(features)}:"
            f" {quote_input(' '.join(args.features))}"
        )
    (output,) = predict(model, [features])
    (label,) = classify(model, [features])
    if isinstance(output, list):
        # Several outputs are class scores (logits, as cross-entropy trains them): softmax
        # turns them into probabilities, unless the model's own softmax layer already did.
        if model.output == "softmax":
            probabilities = output
        else:
            from ..functional import softmax

            probabilities = [p.data for p in softmax(output)]
    else:
        # One output is class 1's score against class 0's, whose score is 0: the softmax
        # of (0, score) is (1 - sigmoid(score), sigmoid(score)). A sigmoid output layer
        # has already applied it.
        print(f"output: {output:.6g}")
        class_1 = output if model.output == "sigmoid" else floats.sigmoid(output)
        probabilities = [1.0 - class_1, class_1]
    print("probabilities: " + ", ".join(f"class {k} {p:.4f}" for k, p in enumerate(probabilities)))
    print(f"class: {label} (probability {probabilities[label]:.4f})")
    return EXIT_OK
