"""Pictures of training: loss/accuracy curves and a 2-D decision boundary (matplotlib).

matplotlib is an optional extra (`pip install tinygrad-scalar[plot]`), imported only when
a function here is called. The figures are made with `matplotlib.figure.Figure` directly,
not through pyplot, so nothing depends on (or changes) pyplot's global state or needs a
display: saving works on a headless machine, and a returned Figure still shows inline in
Jupyter.

>>> from tinygrad_scalar.train import History
>>> h = History(); h.train_loss += [1.0, 0.5]; h.train_accuracy += [0.5, 0.9]
>>> fig = plot_history(h)          # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
from typing import Any, Sequence

from ._checks import check_int, class_indices
from ._files import atomic_write, check_replaceable

__all__ = ["plot_decision_boundary", "plot_history"]

SAVE_FORMATS = ("png", "svg", "pdf")
MISSING_MATPLOTLIB = "plotting needs matplotlib: pip install tinygrad-scalar[plot]"


_figure_class: Any = None


def _new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure that Jupyter shows inline even when pyplot was never imported
    (IPython only knows how to draw a bare Figure once pyplot has set up its backend)."""
    global _figure_class
    if _figure_class is None:
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError(MISSING_MATPLOTLIB) from None

        class PlotFigure(Figure):
            def _repr_png_(self) -> bytes:
                buffer = io.BytesIO()
                self.savefig(buffer, format="png", dpi=100)
                return buffer.getvalue()

        _figure_class = PlotFigure
    return _figure_class(figsize=(width, height), layout="constrained")


def _save_format(path: str | os.PathLike | None) -> str | None:
    """The file format from the path's suffix, checked before any drawing starts, as is
    what is at the path (a device, a pipe or a folder there is refused: NotARegularFile)."""
    if path is None:
        return None
    suffix = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if suffix not in SAVE_FORMATS:
        raise ValueError(
            f"cannot save a figure as {os.fspath(path)!r}: use a .png, .svg or .pdf file name"
        )
    check_replaceable(path)
    return suffix


def _save(fig: Any, path: str | os.PathLike, fmt: str) -> None:
    """Write next to the destination under a temporary name, then rename: an interrupted
    save never leaves a half-written picture behind (or destroys an old one)."""
    with atomic_write(path) as f:
        fig.savefig(f, format=fmt, dpi=120)


def _series(history: Any, key: str) -> list:
    try:
        values = history[key]
    except (KeyError, TypeError):
        values = getattr(history, key, None)
    return [] if values is None else list(values)


def plot_history(history: Any, path: str | os.PathLike | None = None) -> Any:
    """Loss (and, for classification, accuracy) per epoch, train and test.

    `history` is what `fit` returns, or any mapping with the keys `train_loss` and
    optionally `test_loss`, `train_accuracy`, `test_accuracy`. With `path` (.png, .svg or
    .pdf) the figure is also saved there. Returns the matplotlib Figure.
    """
    fmt = _save_format(path)
    train_loss = _series(history, "train_loss")
    if not train_loss:
        raise ValueError("plot_history: the history has no train_loss values")
    test_loss = _series(history, "test_loss")
    train_acc = [a for a in _series(history, "train_accuracy") if a is not None]
    test_acc = [a for a in _series(history, "test_accuracy") if a is not None]
    with_accuracy = bool(train_acc or test_acc)

    fig = _new_figure(9.0 if with_accuracy else 5.0, 3.5)
    axes = fig.subplots(1, 2 if with_accuracy else 1, squeeze=False)[0]
    epochs = range(1, len(train_loss) + 1)
    loss_ax = axes[0]
    loss_ax.plot(epochs, train_loss, label="train")
    if test_loss:
        loss_ax.plot(range(1, len(test_loss) + 1), test_loss, label="test")
    loss_ax.set(title="loss", xlabel="epoch", ylabel="loss")
    if min(train_loss + test_loss) > 0 and max(train_loss + test_loss) > 20 * min(
        train_loss + test_loss
    ):
        loss_ax.set_yscale("log")  # losses falling over orders of magnitude read better so
    loss_ax.legend()
    loss_ax.grid(alpha=0.3)
    if with_accuracy:
        acc_ax = axes[1]
        if train_acc:
            acc_ax.plot(range(1, len(train_acc) + 1), train_acc, label="train")
        if test_acc:
            acc_ax.plot(range(1, len(test_acc) + 1), test_acc, label="test")
        acc_ax.set(title="accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0.0, 1.02))
        acc_ax.legend()
        acc_ax.grid(alpha=0.3)
    if fmt is not None:
        _save(fig, path, fmt)  # type: ignore[arg-type]
    return fig


def _outputs_over(model: Any, points: list[list[float]]) -> list:
    """The model's outputs (floats, or lists of floats) at many points.

    The model is traced once and run over all points as NumPy arrays (a 100 x 100 grid is
    10,000 forward passes); if the model cannot be traced, each point is a plain forward
    pass without a graph.
    """
    from .compiler import compile as compile_step
    from .train import predict

    try:
        params = model.parameters()

        def forward(x_row: Any) -> tuple:
            out = model(x_row)
            first = out[0] if isinstance(out, list) else out
            return first, out

        traced = compile_step(forward, params, (points[0],))
        _, table = traced.evaluate(points, return_outputs=True)
    except Exception:  # any model the tracer cannot handle runs eagerly
        return predict(model, points)
    return table.tolist()


# Okabe & Ito's colour-blind-safe palette: every class stays clearly visible, also the
# middle one (a diverging map such as coolwarm makes it a pale grey). More classes than
# this reuse matplotlib's tab20 colours.
CLASS_COLOURS = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
REGION_ALPHA = 0.4  # regions paler than the points drawn on them
MAX_LEGEND_CLASSES = 12  # beyond this a legend hides the picture


def _class_colours(n_classes: int) -> list:
    """One colour per class: the palette above, then tab20's colours for the rest."""
    if n_classes <= len(CLASS_COLOURS):
        return list(CLASS_COLOURS[:n_classes])
    from matplotlib import colormaps

    tab20 = colormaps["tab20"]
    extra = [tab20(i % 20) for i in range(n_classes - len(CLASS_COLOURS))]
    return [*CLASS_COLOURS, *extra]


def _class_margins(outputs: list, threshold: float) -> Any:
    """For each class k, a score that is positive exactly where k is the predicted class:
    s_k - max(s_j, j != k) for several outputs, +-(score - threshold) for one.

    These vary smoothly over the plane, so their zero lines give smooth boundaries (the
    class numbers themselves would give staircases, and a thin band of class 1 wherever
    class 0 meets class 2)."""
    import numpy as np

    scores = np.array(
        [out if isinstance(out, list) else [out] for out in outputs], dtype=float
    )  # (points, outputs)
    if scores.shape[1] == 1:
        above = scores[:, 0] - threshold
        return np.stack([-above, above])
    margins = []
    for k in range(scores.shape[1]):
        others = np.delete(scores, k, axis=1).max(axis=1)
        margins.append(scores[:, k] - others)
    return np.stack(margins)  # (classes, points)


def plot_decision_boundary(
    model: Any,
    X: Sequence[Sequence[float]],
    y: Sequence[Any],
    path: str | os.PathLike | None = None,
    resolution: int = 100,
    title: str = "decision boundary",
) -> Any:
    """The model's predicted class over the plane, with the data points on top.

    For 2-D inputs only. The plane is sampled on a `resolution` x `resolution` grid
    around the data (forward passes without building a graph). Each class has its own
    colour (a colour-blind-safe palette), shown in a legend; the boundaries between
    classes are drawn as smooth black lines (where the two top scores are equal, or
    where a one-output model's score crosses 0, or 0.5 for a sigmoid output). With
    `path` (.png, .svg or .pdf) the figure is also saved. Returns the Figure.
    """
    import numpy as np

    from .train import decision_threshold

    fmt = _save_format(path)
    X = [list(map(float, row)) for row in X]
    y = list(y)
    if not X or any(len(row) != 2 for row in X):
        raise ValueError(
            "plot_decision_boundary needs 2-D inputs: every row of X must have 2 values"
        )
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
    resolution = check_int(resolution, "resolution", minimum=2)

    xs = [row[0] for row in X]
    ys = [row[1] for row in X]
    margin_x = 0.1 * (max(xs) - min(xs)) + 0.25
    margin_y = 0.1 * (max(ys) - min(ys)) + 0.25
    x0, x1 = min(xs) - margin_x, max(xs) + margin_x
    y0, y1 = min(ys) - margin_y, max(ys) + margin_y
    grid_x = [x0 + (x1 - x0) * i / (resolution - 1) for i in range(resolution)]
    grid_y = [y0 + (y1 - y0) * j / (resolution - 1) for j in range(resolution)]

    outputs = _outputs_over(model, [[gx, gy] for gy in grid_y for gx in grid_x])
    margins = _class_margins(outputs, decision_threshold(model)).reshape(-1, resolution, resolution)
    n_outputs = len(outputs[0]) if isinstance(outputs[0], list) else 1
    point_classes = class_indices(y, n_outputs)
    n_classes = max(len(margins), max(point_classes) + 1)
    colours = _class_colours(n_classes)

    fig = _new_figure(5.6, 4.5)
    ax = fig.subplots()
    for k, margin in enumerate(margins):
        if np.any(margin > 0):
            ax.contourf(
                grid_x,
                grid_y,
                margin,
                levels=[0.0, np.inf],
                colors=[colours[k]],
                alpha=REGION_ALPHA,
            )
            ax.contour(grid_x, grid_y, margin, levels=[0.0], colors="k", linewidths=1.0)
    point_classes_array = np.array(point_classes)
    for k in range(n_classes):
        chosen = point_classes_array == k
        ax.scatter(
            np.array(xs)[chosen],
            np.array(ys)[chosen],
            color=colours[k],
            s=18,
            edgecolors="k",
            linewidths=0.4,
            label=f"class {k}",
        )
    if n_classes <= MAX_LEGEND_CLASSES:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set(title=title, xlabel="x0", ylabel="x1", xlim=(x0, x1), ylim=(y0, y1))
    if fmt is not None:
        _save(fig, path, fmt)  # type: ignore[arg-type]
    return fig
