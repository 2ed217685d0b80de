"""Training loops: `fit` a model by gradient descent, then `evaluate`, `accuracy`, `predict`.

One training step is the recipe the material teaches: a forward pass over the batch, the
mean loss, the backward pass (chain rule), and the update `w_new = w_old - lr * dL/dw`
(done by an optimizer from tinygrad_scalar.optim).

>>> from tinygrad_scalar.nn import MLP
>>> from tinygrad_scalar.data import make_moons
>>> X, y = make_moons(n=40, seed=0)
>>> model = MLP(2, [8, 1], seed=0)
>>> history = fit(model, X, y, loss="hinge", optimizer="sgd", lr=0.1, epochs=5, progress=False)
>>> len(history.train_loss)
5

How predictions become classes: a model with one output predicts class 1 when its score is
above 0 (above 0.5 for a sigmoid output); a model with several outputs predicts the index
of the largest one. Labels are 0/1 (or -1/+1) for one output, 0..k-1 for k outputs; the
hinge loss gets them as -1/+1, mapped internally.
"""

from __future__ import annotations

import numbers
import random
from typing import Any, Callable, NamedTuple, Sequence, Union

from . import losses, optim
from ._checks import check_int, check_number, class_indices, is_number, quote_input
from .data import batches
from .engine import Value, data_of, dot, no_grad, take
from .engine import sum as value_sum

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("linear", "cosine")
DEFAULT_LR = {"sgd": 0.1, "adam": 0.01}

LossArg = Union[str, Callable[[list, list], Value]]

__all__ = [
    "History",
    "Evaluation",
    "accuracy",
    "classify",
    "count_outputs",
    "decision_threshold",
    "evaluate",
    "fit",
    "predict",
    "predicted_class",
]


# --- small helpers -----------------------------------------------------------------------------


def _output_kind(model: Any) -> str:
    """The model's output layer ("linear", "sigmoid" or "softmax"); plain callables are linear."""
    return getattr(model, "output", "linear")


def decision_threshold(model: Any) -> float:
    """Where a single output switches from class 0 to class 1: 0.5 for a sigmoid output,
    else 0."""
    return 0.5 if _output_kind(model) == "sigmoid" else 0.0


def _as_floats(output: Any) -> Any:
    """A model output (a Value or number, or a list of them) as a float or a list of floats."""
    if isinstance(output, Value) or is_number(output):
        return float(data_of(output))
    return [float(data_of(o)) for o in output]


def predicted_class(output: Any, threshold: float) -> int:
    """The class one output predicts: 1 above `threshold` for a single score, else the
    index of the largest score."""
    scores = _as_floats(output)
    if isinstance(scores, float):
        return int(scores > threshold)
    if len(scores) == 1:
        return int(scores[0] > threshold)
    return max(range(len(scores)), key=scores.__getitem__)


def _check_dataset(X: Any, y: Any, name_x: str, name_y: str) -> tuple[list, list]:
    try:
        X, y = list(X), list(y)
    except TypeError:
        raise ValueError(f"{name_x} and {name_y} must be sequences") from None
    if not X:
        raise ValueError(f"{name_x} is empty")
    if len(X) != len(y):
        raise ValueError(f"{name_x} has {len(X)} rows but {name_y} has {len(y)} labels")
    return X, y


# --- losses as fit needs them -------------------------------------------------------------------


class TrainingLoss:
    """A loss as `fit` needs it, for one model and one set of labels: each kind of loss
    is a subclass that says, in one place, which models it fits (`__init__`), what it
    makes of the labels (`targets`), its mean over a batch (`batch`, the eager form) and
    its value for one sample (`per_sample`, the form `compile` traces; by default the
    batch form on a batch of one). `classification` says whether accuracy is meaningful.
    """

    name = "custom"

    def __init__(self, model: Any, y: Sequence) -> None:
        self.output = _output_kind(model)
        self.threshold = decision_threshold(model)
        self.n_outputs = count_outputs(model)
        self.classification = True

    def classes(self, y: Sequence, name: str = "y") -> list[int]:
        """The labels as class indices of this model (ValueError naming a bad one)."""
        return class_indices(y, self.n_outputs, name)

    def targets(self, y: Sequence, name: str = "y") -> list:
        """The labels `y` (called `name` in errors) as the loss needs them."""
        return self.classes(y, name)

    def batch(self, outputs: list, targets: list) -> Value:
        """The mean loss over a batch of model outputs, one Value."""
        raise NotImplementedError

    def per_sample(self, output: Any, target: Any) -> Value:
        """The loss of one sample (`target` may be one of compile's traced inputs)."""
        return self.batch([output], [target])

    def _needs_one_output(self) -> None:
        if self.n_outputs != 1:
            raise ValueError(
                f"loss {quote_input(self.name)} needs a model with one output,"
                f" this one has {self.n_outputs} (use cross_entropy for several classes)"
            )


class HingeLoss(TrainingLoss):
    """micrograd's max-margin loss on one raw score; labels 0/1 become -1/+1."""

    name = "hinge"

    def __init__(self, model: Any, y: Sequence) -> None:
        super().__init__(model, y)
        self._needs_one_output()
        if self.output == "sigmoid":
            raise ValueError("loss 'hinge' needs raw scores: build the model with output='linear'")

    def targets(self, y: Sequence, name: str = "y") -> list:
        return [2 * c - 1 for c in self.classes(y, name)]

    def batch(self, outputs: list, targets: list) -> Value:
        return losses.hinge(outputs, targets)


class MSELoss(TrainingLoss):
    """Mean squared error: on real targets (regression), or on classes (integer labels),
    which become the outputs' targets: -1/+1 for a linear output (so its sign is the
    class), 0/1 for a sigmoid output (so 0.5 is the boundary), one-hot rows for several."""

    name = "mse"

    def __init__(self, model: Any, y: Sequence) -> None:
        super().__init__(model, y)
        self.classification = all(
            isinstance(label, numbers.Integral) and not isinstance(label, bool) for label in y
        )

    def targets(self, y: Sequence, name: str = "y") -> list:
        if not self.classification:
            return [list(map(float, t)) if isinstance(t, (list, tuple)) else float(t) for t in y]
        classes = self.classes(y, name)
        if self.n_outputs > 1:
            return [[1.0 if k == c else 0.0 for k in range(self.n_outputs)] for c in classes]
        if self.output == "sigmoid":
            return [float(c) for c in classes]
        return [2.0 * c - 1.0 for c in classes]

    def batch(self, outputs: list, targets: list) -> Value:
        return losses.mse(outputs, targets)


class BCELoss(TrainingLoss):
    """Binary cross-entropy on one output: on probabilities for a sigmoid output, on
    logits (stably) for a linear one."""

    name = "bce"

    def __init__(self, model: Any, y: Sequence) -> None:
        super().__init__(model, y)
        self._needs_one_output()

    def targets(self, y: Sequence, name: str = "y") -> list:
        return [float(c) for c in self.classes(y, name)]

    def batch(self, outputs: list, targets: list) -> Value:
        if self.output == "sigmoid":
            return losses.binary_cross_entropy(outputs, targets)
        return losses.binary_cross_entropy_with_logits(outputs, targets)


class CrossEntropyLoss(TrainingLoss):
    """Cross-entropy over one output per class; the targets are the class indices (compile
    feeds them as an integer input, which picks each sample's class with `take`)."""

    name = "cross_entropy"

    def __init__(self, model: Any, y: Sequence) -> None:
        super().__init__(model, y)
        if self.n_outputs < 2:
            raise ValueError(
                "loss 'cross_entropy' needs a model with one output per class (at least 2);"
                " use hinge or bce for one output"
            )

    def batch(self, outputs: list, targets: list) -> Value:
        if self.output == "softmax":  # the outputs are already probabilities
            picked = [take(row, c) for row, c in zip(outputs, targets)]
            return value_sum([-p.log() for p in picked]) / len(picked)
        return losses.cross_entropy(outputs, targets)


class CustomLoss(TrainingLoss):
    """A function `loss(outputs, targets) -> Value` of the user's, given the labels as they
    are; accuracy is reported when every label is a class of the model."""

    def __init__(self, loss: Callable[[list, list], Value], model: Any, y: Sequence) -> None:
        super().__init__(model, y)
        self.name = getattr(loss, "__name__", "custom")
        self.function = loss
        try:
            self.classes(y)
        except ValueError:
            self.classification = False

    def targets(self, y: Sequence, name: str = "y") -> list:
        return list(y)

    def batch(self, outputs: list, targets: list) -> Value:
        return self.function(outputs, targets)


# the losses `fit` knows by name
TRAINING_LOSSES: dict[str, type[TrainingLoss]] = {
    loss.name: loss for loss in (HingeLoss, MSELoss, BCELoss, CrossEntropyLoss)
}
LOSSES = tuple(TRAINING_LOSSES)


def training_loss(loss: LossArg, model: Any, y: Sequence) -> TrainingLoss:
    """The TrainingLoss for `loss` (a name in LOSSES or a function) on this model and labels."""
    if not isinstance(loss, str):
        if not callable(loss):
            raise ValueError(f"loss must be one of {', '.join(LOSSES)} or a callable")
        return CustomLoss(loss, model, y)
    if loss not in TRAINING_LOSSES:
        raise ValueError(f"unknown loss {quote_input(loss)}; choose one of: {', '.join(LOSSES)}")
    return TRAINING_LOSSES[loss](model, y)


def count_outputs(model: Any) -> int:
    """How many outputs `model` has: its last layer's width, 1 for a plain callable."""
    sizes = getattr(model, "sizes", None)
    if sizes:
        return int(sizes[-1])
    return 1  # plain callables are taken to return one Value


# --- history -----------------------------------------------------------------------------------


class History:
    """Per-epoch record of a training run.

    Attributes (lists, one entry per epoch): `train_loss` (mean loss over the epoch's
    batches, each taken before its update, without the L2 term), `train_accuracy`
    (over the same forward passes), `test_loss` and `test_accuracy` (after the epoch;
    empty when no test data was given), `lr` (the rate used). Accuracies are None for
    regression. It is also a read-only mapping: `history["train_loss"]`, `dict(history)`.
    """

    KEYS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr")

    def __init__(self) -> None:
        self.train_loss: list[float] = []
        self.train_accuracy: list[float | None] = []
        self.test_loss: list[float] = []
        self.test_accuracy: list[float | None] = []
        self.lr: list[float] = []

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def __len__(self) -> int:
        return len(self.KEYS)

    def __iter__(self):  # iterates over keys, like a dict
        return iter(self.KEYS)

    def keys(self) -> tuple[str, ...]:
        return self.KEYS

    def items(self) -> list[tuple[str, list]]:
        return [(key, self[key]) for key in self.KEYS]

    def __getitem__(self, key: str) -> list:
        if key not in self.KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def as_dict(self) -> dict[str, list]:
        """A plain dict of copies of the lists (JSON-serialisable)."""
        return {key: list(self[key]) for key in self.KEYS}

    def __repr__(self) -> str:
        if not self.train_loss:
            return "History(0 epochs)"
        last = f"train_loss={self.train_loss[-1]:.4g}"
        if self.train_accuracy and self.train_accuracy[-1] is not None:
            last += f", train_accuracy={self.train_accuracy[-1]:.3f}"
        if self.test_loss:
            last += f", test_loss={self.test_loss[-1]:.4g}"
        if self.test_accuracy and self.test_accuracy[-1] is not None:
            last += f", test_accuracy={self.test_accuracy[-1]:.3f}"
        return f"History({self.epochs} epochs, last: {last})"


# --- optimizer and schedule --------------------------------------------------------------------


def _make_optimizer(optimizer: Any, params: list[Value], lr: float | None) -> optim.Optimizer:
    if isinstance(optimizer, optim.Optimizer):
        if lr is not None:
            optimizer.lr = check_number(lr, "lr", positive=True)
        return optimizer
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {quote_input(optimizer)}; choose one of: {', '.join(OPTIMIZERS)}"
            " or pass an optimizer object"
        )
    rate = DEFAULT_LR[optimizer] if lr is None else check_number(lr, "lr", positive=True)
    if optimizer == "sgd":
        return optim.SGD(params, lr=rate)
    return optim.Adam(params, lr=rate)


def _make_schedule(schedule: Any, optimizer: optim.Optimizer, epochs: int) -> Any:
    if schedule is None:
        return None
    if schedule == "linear":
        # micrograd's demo rate: lr * (1 - 0.9 * epoch / epochs)
        return optim.LinearLR(optimizer, start_factor=1.0, end_factor=0.1, total_iters=epochs)
    if schedule == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=epochs)
    if callable(schedule):
        return schedule(optimizer)
    raise ValueError(
        f"unknown schedule {quote_input(schedule)}; choose one of: {', '.join(SCHEDULES)},"
        " or pass a function optimizer -> scheduler"
    )


def _compiled_step(model: Any, loss: TrainingLoss, params: list[Value], example: tuple) -> Callable:
    from .compiler import compile as compile_step  # here: it imports NumPy

    def sample_loss(x_row: Any, target: Any) -> tuple[Value, Any]:
        output = model(x_row)
        return loss.per_sample(output, target), output  # outputs give the train accuracy

    return compile_step(sample_loss, params, example)


# --- fit ---------------------------------------------------------------------------------------


def _train_step(
    model: Any,
    X_batch: list,
    t_batch: list,
    class_batch: list[int],
    spec: TrainingLoss,
    opt: optim.Optimizer,
    params: list[Value],
    l2: float,
    step: Callable | None,
) -> tuple[float, int]:
    """One update on one batch: forward, mean loss (+ L2), backward, optimizer step.

    Returns the batch's mean data loss (before the update, without L2) and how many of
    its rows were classified correctly (their class in `class_batch`) by that same
    forward pass.
    """
    opt.zero_grad()
    if step is None:
        outputs = [model(x) for x in X_batch]
        objective = spec.batch(outputs, t_batch)
        batch_loss = objective.data
        if l2:
            objective = objective + l2 * dot(params, params)
        objective.backward()
    else:  # the compiled step adds the data loss's gradient; the L2 term stays eager
        batch_loss, outputs = step(X_batch, t_batch, return_outputs=True)
        if l2:
            (l2 * dot(params, params)).backward()  # one node: sum of p * p
    opt.step()
    if not spec.classification:
        return batch_loss, 0
    correct = sum(predicted_class(out, spec.threshold) == c for out, c in zip(outputs, class_batch))
    return batch_loss, correct


def _progress_bar() -> Any:
    """tqdm's widget bar in Jupyter when ipywidgets is there, else its text bar (tqdm.auto
    would warn "IProgress not found" in a notebook without ipywidgets). Imported here, not at
    the top, to keep `import tinygrad_scalar.train` light."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm


def fit(
    model: Any,
    X: Sequence,
    y: Sequence,
    loss: LossArg = "hinge",
    optimizer: Any = "sgd",
    lr: float | None = None,
    epochs: int = 100,
    batch_size: int | None = None,
    l2: float = 0.0,
    X_test: Sequence | None = None,
    y_test: Sequence | None = None,
    seed: int | None = None,
    progress: bool = True,
    compile: bool = False,  # noqa: A002 - the documented keyword
    schedule: Any = None,
) -> History:
    """Train `model` on (X, y) by gradient descent and return its History.

    loss: "hinge" (labels 0/1, mapped to -1/+1), "mse", "bce" (sigmoid output: on
    probabilities; linear output: on logits), "cross_entropy" (one output per class), or a
    callable `loss(outputs, targets) -> Value` taking a batch, like those in
    tinygrad_scalar.losses (targets are the labels as given).
    optimizer: "sgd" or "adam" (rate `lr`, default 0.1 and 0.01), or an optimizer object.
    batch_size: None for full batch; batches are reshuffled each epoch from `seed`.
    l2: adds `l2 * sum(p * p)` over the parameters to every batch's loss.
    schedule: None, "linear" (lr * (1 - 0.9 * epoch / epochs)), "cosine", or a function
    taking the optimizer and returning a scheduler with step(); stepped once per epoch.
    compile: run each batch through tinygrad_scalar.compile (traced once, vectorized).
    progress: show a tqdm bar with the running loss.
    """
    X, y = _check_dataset(X, y, "X", "y")
    epochs = check_int(epochs, "epochs")
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size")
    l2 = check_number(l2, "l2")
    test_set = None
    if X_test is not None and y_test is not None:
        test_set = _check_dataset(X_test, y_test, "X_test", "y_test")
    elif X_test is not None or y_test is not None:
        raise ValueError("pass both X_test and y_test, or neither")

    spec = training_loss(loss, model, y)
    targets = spec.targets(y)
    classes = spec.classes(y) if spec.classification else [0] * len(y)
    if test_set is not None:
        spec.targets(test_set[1], "y_test")  # check the test labels before any training
        if spec.classification:
            spec.classes(test_set[1], "y_test")
    params = model.parameters() if hasattr(model, "parameters") else []
    opt = _make_optimizer(optimizer, params, lr)
    scheduler = _make_schedule(schedule, opt, epochs)
    rng = random.Random(seed)
    step = None
    if compile:
        step = _compiled_step(model, spec, params, (X[0], targets[0]))

    history = History()
    tqdm = _progress_bar()
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress, leave=True)
    try:  # close the bar even when interrupted, so messages after it start on a new line
        for _ in bar:
            history.lr.append(opt.lr)
            batches_of_rows = batches(
                range(len(X)), range(len(X)), batch_size or len(X),
                shuffle=batch_size is not None, seed=rng,
            )  # fmt: skip
            loss_sum, correct = 0.0, 0
            for rows, _ in batches_of_rows:
                batch_loss, batch_correct = _train_step(
                    model, [X[i] for i in rows], [targets[i] for i in rows],
                    [classes[i] for i in rows], spec, opt, params, l2, step,
                )  # fmt: skip
                loss_sum += batch_loss * len(rows)
                correct += batch_correct
            history.train_loss.append(loss_sum / len(X))
            history.train_accuracy.append(correct / len(X) if spec.classification else None)
            if test_set is not None:
                result = _evaluate(model, *test_set, spec)
                history.test_loss.append(result.loss)
                history.test_accuracy.append(result.accuracy)
            postfix = {"loss": f"{history.train_loss[-1]:.4g}"}
            if history.train_accuracy[-1] is not None:
                postfix["acc"] = f"{history.train_accuracy[-1]:.3f}"
            bar.set_postfix(postfix, refresh=False)
            if scheduler is not None:
                scheduler.step()
    finally:
        bar.close()
    return history


# --- evaluation --------------------------------------------------------------------------------


class Evaluation(NamedTuple):
    """The mean loss and the accuracy (None for regression) of a model on a dataset."""

    loss: float
    accuracy: float | None


def _evaluate(model: Any, X: list, y: list, spec: TrainingLoss) -> Evaluation:
    targets = spec.targets(y)
    classes = spec.classes(y) if spec.classification else None
    with no_grad():
        outputs = [model(x) for x in X]
        loss_value = spec.batch(outputs, targets).data
    if classes is None:
        return Evaluation(loss_value, None)
    correct = sum(predicted_class(out, spec.threshold) == c for out, c in zip(outputs, classes))
    return Evaluation(loss_value, correct / len(X))


def evaluate(model: Any, X: Sequence, y: Sequence, loss: LossArg = "hinge") -> Evaluation:
    """Mean loss and accuracy of `model` on (X, y), computed without building a graph.

    >>> from tinygrad_scalar.nn import MLP
    >>> result = evaluate(MLP(2, [1], seed=0), [[0.0, 1.0]], [1], loss="hinge")
    >>> result.accuracy in (0.0, 1.0)
    True
    """
    X, y = _check_dataset(X, y, "X", "y")
    return _evaluate(model, X, y, training_loss(loss, model, y))


def accuracy(model: Any, X: Sequence, y: Sequence) -> float:
    """Fraction of rows whose predicted class (see the module doc) equals the label."""
    X, y = _check_dataset(X, y, "X", "y")
    classes = class_indices(y, count_outputs(model))
    predicted = classify(model, X)
    return sum(p == c for p, c in zip(predicted, classes)) / len(X)


def predict(model: Any, X: Sequence) -> list:
    """The model's outputs for each row as floats (a list of floats per row for several
    outputs), computed without building a graph."""
    with no_grad():
        return [_as_floats(model(x)) for x in X]


def classify(model: Any, X: Sequence) -> list[int]:
    """The predicted class of each row (see the module doc for the rule)."""
    threshold = decision_threshold(model)
    return [predicted_class(out, threshold) for out in predict(model, X)]
