"""fit / evaluate / accuracy / predict, and the plotting helpers."""

import math
import sys
import xml.etree.ElementTree as ET

import pytest

from tinygrad_scalar import losses, optim
from tinygrad_scalar.data import make_blobs, make_moons, make_regression_1d, make_spiral
from tinygrad_scalar.nn import MLP
from tinygrad_scalar.train import History, accuracy, classify, evaluate, fit, predict

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def set_weights(model, values):
    for p, v in zip(model.parameters(), values, strict=True):
        p.data = float(v)


def identity_model(nin, output="linear"):
    """nin inputs -> nin outputs (or 1 when nin == 1), each output equal to one input."""
    model = MLP(nin, [nin], output=output, seed=0)
    weights = []
    for k in range(nin):
        weights += [1.0 if i == k else 0.0 for i in range(nin)] + [0.0]
    set_weights(model, weights)
    return model


@pytest.fixture(scope="module")
def moons():
    return make_moons(n=100, noise=0.1, seed=0)


# --- the demo configuration -------------------------------------------------------------------


@pytest.mark.slow
def test_demo_configuration_separates_the_moons(moons):
    X, y = moons
    model = MLP(2, [16, 16, 1], seed=0)
    history = fit(
        model, X, y, loss="hinge", optimizer="sgd", lr=1.0, schedule="linear",
        epochs=100, l2=1e-4, seed=0, progress=False,
    )  # fmt: skip
    assert accuracy(model, X, y) >= 0.97
    assert history.epochs == 100
    assert history.train_loss[-1] < history.train_loss[0] / 10


def test_compiled_training_follows_the_eager_one(moons):
    pytest.importorskip("numpy")
    X, y = moons
    histories = []
    for compiled in (False, True):
        model = MLP(2, [8, 1], seed=1)
        histories.append(
            fit(model, X[:40], y[:40], lr=0.5, epochs=8, l2=1e-3, compile=compiled, progress=False)
        )
    eager, compiled = histories
    assert compiled.train_loss == pytest.approx(eager.train_loss, rel=1e-9)
    assert compiled.train_accuracy == eager.train_accuracy


@pytest.mark.parametrize("output", ["linear", "softmax"])
def test_compiled_cross_entropy_follows_the_eager_one(output):
    # compile takes the class indices as an integer input: each sample picks its own class
    X, y = make_spiral(n=60, classes=3, seed=0)
    histories = []
    for compiled in (False, True):
        model = MLP(2, [6, 3], seed=2, output=output)
        histories.append(
            fit(model, X, y, loss="cross_entropy", optimizer="adam", lr=0.05, epochs=5,
                batch_size=16, seed=1, compile=compiled, progress=False)
        )  # fmt: skip
    assert histories[1].train_loss == pytest.approx(histories[0].train_loss, rel=1e-9)


# --- one step by hand -------------------------------------------------------------------------


def test_one_full_batch_step_is_the_gradient_descent_update(moons):
    X, y = moons[0][:10], moons[1][:10]
    lr, l2 = 0.3, 0.01
    model = MLP(2, [3, 1], seed=4)
    before = [p.data for p in model.parameters()]

    # the same step written out: hinge on -1/+1 labels, L2 term, backward, w -= lr * grad
    reference = MLP(2, [3, 1], seed=4)
    params = reference.parameters()
    scores = [reference(x) for x in X]
    signed = [1 if label == 1 else -1 for label in y]
    hinge = sum((1 - t * s).relu() for s, t in zip(scores, signed)) / len(X)
    objective = hinge + l2 * sum(p * p for p in params)
    objective.backward()
    expected = [b - lr * p.grad for b, p in zip(before, params)]

    history = fit(model, X, y, loss="hinge", optimizer="sgd", lr=lr, epochs=1, l2=l2,
                  progress=False)  # fmt: skip
    assert [p.data for p in model.parameters()] == pytest.approx(expected, rel=1e-12)
    assert history.train_loss == [pytest.approx(hinge.data, rel=1e-12)]  # without the L2 term


def test_minibatches_make_one_step_per_batch(moons):
    X, y = moons

    class CountingSGD(optim.SGD):
        steps = 0

        def step(self):
            CountingSGD.steps += 1
            super().step()

    model = MLP(2, [4, 1], seed=0)
    fit(model, X, y, optimizer=CountingSGD(model.parameters(), lr=0.1), epochs=3,
        batch_size=32, progress=False)  # fmt: skip
    assert CountingSGD.steps == 3 * math.ceil(100 / 32)


def test_seeded_minibatch_runs_repeat_and_other_seeds_differ(moons):
    X, y = moons

    def run(seed):
        model = MLP(2, [4, 1], seed=0)
        return fit(model, X, y, epochs=3, batch_size=10, seed=seed, progress=False).train_loss

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_l2_shrinks_the_weights(moons):
    X, y = moons
    sizes = []
    for l2 in (0.0, 0.1):
        model = MLP(2, [8, 1], seed=0)
        fit(model, X, y, lr=0.2, epochs=20, l2=l2, progress=False)
        sizes.append(sum(p.data**2 for p in model.parameters()))
    assert sizes[1] < 0.7 * sizes[0]


def test_linear_schedule_decays_like_micrograds_demo(moons):
    X, y = moons
    history = fit(MLP(2, [2, 1], seed=0), X, y, lr=1.0, epochs=10, schedule="linear",
                  progress=False)  # fmt: skip
    assert history.lr == pytest.approx([1.0 - 0.9 * k / 10 for k in range(10)])


# --- history ----------------------------------------------------------------------------------


def test_history_records_train_and_test_metrics(moons):
    X, y = moons
    model = MLP(2, [8, 1], seed=0)
    history = fit(model, X[:80], y[:80], optimizer="adam", lr=0.05, epochs=15,
                  X_test=X[80:], y_test=y[80:], progress=False)  # fmt: skip
    assert isinstance(history, History)
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr"):
        assert len(history[key]) == 15
        assert getattr(history, key) is history[key]
    assert set(dict(history)) == set(History.KEYS)
    assert history.train_loss[-1] < history.train_loss[0]
    # the last test entries describe the final model
    final = evaluate(model, X[80:], y[80:], loss="hinge")
    assert history.test_loss[-1] == pytest.approx(final.loss)
    assert history.test_accuracy[-1] == accuracy(model, X[80:], y[80:])
    assert "15 epochs" in repr(history)
    with pytest.raises(KeyError):
        history["nope"]


def test_regression_has_no_accuracy_and_learns_the_sine():
    X, y = make_regression_1d(n=40, noise=0.05, seed=0)
    model = MLP(1, [16, 1], activation="tanh", seed=0)
    history = fit(model, X, y, loss="mse", optimizer="adam", lr=0.03, epochs=60, progress=False)
    assert history.train_accuracy == [None] * 60
    assert history.train_loss[-1] < 0.2 * history.train_loss[0]
    assert evaluate(model, X, y, loss="mse").accuracy is None


def test_a_callable_loss_gets_the_batch_outputs_and_labels(moons):
    X, y = moons
    seen = []

    def loss(outputs, targets):
        seen.append((len(outputs), list(targets)))
        return losses.mse(outputs, targets)

    fit(MLP(2, [1], seed=0), X[:6], y[:6], loss=loss, epochs=1, progress=False)
    assert seen == [(6, y[:6])]


def test_blobs_with_cross_entropy_are_learned():
    X, y = make_blobs(n=60, centers=3, seed=0)
    model = MLP(2, [8, 3], seed=0)
    fit(model, X, y, loss="cross_entropy", optimizer="adam", lr=0.05, epochs=30, progress=False)
    assert accuracy(model, X, y) >= 0.95


# --- progress bar -----------------------------------------------------------------------------


def test_progress_bar_shows_the_running_loss_and_can_be_silenced(moons, capsys):
    X, y = moons
    fit(MLP(2, [2, 1], seed=0), X, y, epochs=2, progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    fit(MLP(2, [2, 1], seed=0), X, y, epochs=2, progress=True)
    assert "loss=" in capsys.readouterr().err


# --- bad arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": -3}, "epochs"),
        ({"lr": -0.1}, "lr"),
        ({"l2": -1.0}, "l2"),
        ({"batch_size": 0}, "batch_size"),
        ({"loss": "l1"}, "unknown loss 'l1'"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
        ({"schedule": "exp"}, "unknown schedule"),
        ({"X_test": [[0.0, 0.0]]}, "X_test and y_test"),
        ({"loss": "cross_entropy"}, "one output per class"),
        ({"lr": 10**400}, "lr must be a finite number > 0, got 1000"),
        ({"l2": math.inf}, "l2 must be a finite number >= 0, got inf"),
    ],
)
def test_bad_fit_arguments_raise_naming_them(moons, kwargs, match):
    X, y = moons
    with pytest.raises(ValueError, match=match):
        fit(MLP(2, [1], seed=0), X, y, progress=False, **kwargs)


def test_label_problems_are_caught_before_training():
    model = MLP(2, [3], seed=0)
    with pytest.raises(ValueError, match=r"hinge.*one output"):
        fit(model, [[0.0, 0.0]], [0], loss="hinge", progress=False)
    with pytest.raises(ValueError, match=r"y\[1\] = 3"):
        fit(model, [[0.0, 0.0]] * 2, [0, 3], loss="cross_entropy", progress=False)
    with pytest.raises(ValueError, match="0/1"):
        fit(MLP(2, [1], seed=0), [[0.0, 0.0]], [2], loss="hinge", progress=False)
    with pytest.raises(ValueError, match="2 rows but y has 1"):
        fit(MLP(2, [1], seed=0), [[0.0, 0.0]] * 2, [1], progress=False)


ONE_OUTPUT_LABELS = r"labels for one output must be 0/1 \(or -1/\+1\); "


@pytest.mark.parametrize(
    "loss, labels, bad",
    [
        ("hinge", [0, 2], r"y\[1\] is 2$"),
        ("hinge", [0.5, 1], r"y\[0\] is 0.5$"),
        ("bce", [0, 2], r"y\[1\] is 2$"),
        ("bce", [1, 0.5], r"y\[1\] is 0.5$"),
        ("mse", [0, 2], r"y\[1\] is 2$"),  # integer labels: classes (0.5 would be regression)
    ],
)
def test_every_one_output_loss_refuses_other_labels_with_one_message(loss, labels, bad):
    with pytest.raises(ValueError, match=ONE_OUTPUT_LABELS + bad):
        fit(MLP(2, [1], seed=0), [[0.0, 0.0]] * 2, labels, loss=loss, progress=False)


def test_bad_test_labels_are_named_as_test_labels():
    model = MLP(2, [1], seed=0)
    with pytest.raises(ValueError, match=ONE_OUTPUT_LABELS + r"y_test\[0\] is 7$"):
        fit(model, [[0.0, 0.0]], [1], X_test=[[0.0, 0.0]], y_test=[7], progress=False)


def test_accuracy_refuses_labels_that_are_not_classes_of_the_model():
    X = [[0.0, 0.0], [1.0, 1.0]]
    with pytest.raises(ValueError, match=ONE_OUTPUT_LABELS + r"y\[1\] is 2$"):
        accuracy(MLP(2, [1], seed=0), X, [0, 2])
    with pytest.raises(ValueError, match=r"y\[1\] = 5 is not a class \(expected an integer 0..2\)"):
        accuracy(MLP(2, [3], seed=0), X, [0, 5])
    with pytest.raises(ValueError, match=r"y\[0\] = -1 is not a class \(expected an"):
        accuracy(MLP(2, [3], seed=0), X, [-1, 0])


def test_a_callable_loss_on_labels_that_are_not_classes_reports_no_accuracy():
    X = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    history = fit(MLP(2, [1], seed=0), X, [0, 1, 2], loss=losses.mse, epochs=1, progress=False)
    assert history.train_accuracy == [None]


# --- evaluation helpers -----------------------------------------------------------------------


def test_one_output_is_class_one_above_zero():
    model = identity_model(1)
    X = [[-1.0], [2.0], [0.5], [0.0]]
    assert predict(model, X) == [-1.0, 2.0, 0.5, 0.0]
    assert classify(model, X) == [0, 1, 1, 0]
    assert accuracy(model, X, [0, 1, 0, 0]) == 0.75
    assert accuracy(model, X, [-1, 1, -1, -1]) == 0.75  # -1/+1 labels read the same


def test_sigmoid_output_is_class_one_above_one_half():
    model = identity_model(1, output="sigmoid")
    X = [[-1.0], [-0.1], [0.2]]
    assert predict(model, X) == pytest.approx([1 / (1 + math.exp(-v)) for (v,) in X])
    assert classify(model, X) == [0, 0, 1]


def test_several_outputs_predict_the_largest():
    model = identity_model(3)
    X = [[1.0, 0.0, 0.5], [0.0, 3.0, 1.0], [-1.0, -2.0, -0.5]]
    assert classify(model, X) == [0, 1, 2]
    assert accuracy(model, X, [0, 1, 0]) == pytest.approx(2 / 3)


def test_evaluate_computes_each_loss_by_its_formula():
    model = identity_model(1)
    X, y = [[-1.0], [2.0], [0.5]], [0, 1, 0]
    scores = [-1.0, 2.0, 0.5]
    signed = [-1, 1, -1]
    hinge = sum(max(0.0, 1 - t * s) for s, t in zip(scores, signed)) / 3
    assert evaluate(model, X, y, loss="hinge").loss == pytest.approx(hinge)
    mse = sum((s - t) ** 2 for s, t in zip(scores, signed)) / 3  # a linear output aims at -1/+1
    assert evaluate(model, X, y, loss="mse").loss == pytest.approx(mse)
    bce = sum(
        math.log(1 + math.exp(-s)) if t else math.log(1 + math.exp(s)) for s, t in zip(scores, y)
    )
    assert evaluate(model, X, y, loss="bce").loss == pytest.approx(bce / 3)
    assert evaluate(model, X, y).accuracy == pytest.approx(2 / 3)

    model3 = identity_model(3)
    rows, labels = [[1.0, 0.0, 0.5], [0.0, 3.0, 1.0]], [2, 1]
    ce = sum(math.log(sum(math.exp(v) for v in row)) - row[c] for row, c in zip(rows, labels)) / 2
    assert evaluate(model3, rows, labels, loss="cross_entropy").loss == pytest.approx(ce)


def test_evaluate_builds_no_graph():
    model = identity_model(1)
    evaluate(model, [[1.0], [2.0]], [1, 0])
    assert all(p.grad == 0.0 for p in model.parameters())


# --- plots ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(moons):
    X, y = moons
    model = MLP(2, [8, 1], seed=0)
    history = fit(model, X, y, optimizer="adam", lr=0.05, epochs=10, X_test=X[:20],
                  y_test=y[:20], progress=False)  # fmt: skip
    return model, history, X, y


def test_plot_history_writes_png_and_svg(trained, tmp_path):
    plot = pytest.importorskip("tinygrad_scalar.plot")
    pytest.importorskip("matplotlib")
    _, history, _, _ = trained
    fig = plot.plot_history(history, tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG_MAGIC
    assert len(fig.axes) == 2  # loss and accuracy
    assert [line.get_label() for line in fig.axes[0].lines] == ["train", "test"]
    assert list(fig.axes[0].lines[0].get_ydata()) == history.train_loss
    plot.plot_history(history.as_dict(), tmp_path / "loss.svg")
    root = ET.parse(tmp_path / "loss.svg").getroot()
    assert root.tag.endswith("svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png", "loss.svg"]  # no temp left


def test_plot_decision_boundary_writes_a_picture(trained, tmp_path):
    plot = pytest.importorskip("tinygrad_scalar.plot")
    pytest.importorskip("matplotlib")
    model, _, X, y = trained
    fig = plot.plot_decision_boundary(model, X, y, tmp_path / "boundary.png", resolution=30)
    assert (tmp_path / "boundary.png").read_bytes()[:8] == PNG_MAGIC
    assert fig.axes[0].get_title() == "decision boundary"
    assert fig._repr_png_()[:8] == PNG_MAGIC  # how Jupyter shows it inline


def test_plot_decision_boundary_checks_labels_as_training_does(trained, tmp_path):
    plot = pytest.importorskip("tinygrad_scalar.plot")
    pytest.importorskip("matplotlib")
    model, _, X, _ = trained
    with pytest.raises(ValueError, match=ONE_OUTPUT_LABELS + r"y\[1\] is 2$"):
        plot.plot_decision_boundary(model, X[:2], [0, 2], tmp_path / "b.png", resolution=5)
    assert list(tmp_path.iterdir()) == []


def sector_model():
    """A linear three-class model: class k wins within 60 degrees of the angle 120k degrees."""
    model = MLP(2, [3], seed=0)
    for k, neuron in enumerate(model.layers[0].neurons):
        angle = 2 * math.pi * k / 3
        neuron.w[0].data, neuron.w[1].data, neuron.b.data = math.cos(angle), math.sin(angle), 0.0
    return model


def test_three_class_regions_are_clearly_coloured_with_a_legend(tmp_path):
    plot = pytest.importorskip("tinygrad_scalar.plot")
    image = pytest.importorskip("matplotlib.image")
    np = pytest.importorskip("numpy")
    X = [[math.cos(2 * math.pi * k / 3), math.sin(2 * math.pi * k / 3)] for k in range(3)]
    fig = plot.plot_decision_boundary(sector_model(), X, [0, 1, 2], tmp_path / "r.png")
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["class 0", "class 1", "class 2"]

    # The saved picture, read back: one pixel inside each class's region (away from the
    # data points and the boundaries). _save writes at 120 dpi; the axes were laid out at
    # the figure's own dpi.
    pixels = image.imread(tmp_path / "r.png")[:, :, :3]
    scale = 120 / fig.dpi
    region_colours = []
    for k in range(3):
        angle = 2 * math.pi * k / 3 + 0.35
        x, y = ax.transData.transform((0.6 * math.cos(angle), 0.6 * math.sin(angle))) * scale
        region_colours.append(pixels[round(pixels.shape[0] - y), round(x)])
    for i in range(3):
        for j in range(i + 1, 3):
            distance = np.linalg.norm(region_colours[i] - region_colours[j])
            assert distance > 0.1, f"classes {i} and {j} look alike: {region_colours}"
    # each region is its legend colour laid over white, not a grey
    for colour, handle in zip(region_colours, legend.legend_handles):
        marker = np.array(handle.get_facecolor()).reshape(-1, 4)[0, :3]
        assert colour == pytest.approx(
            plot.REGION_ALPHA * marker + (1 - plot.REGION_ALPHA), abs=0.02
        )
        assert colour.max() - colour.min() > 0.1


def test_boundaries_are_smooth_lines_between_the_classes(tmp_path):
    plot = pytest.importorskip("tinygrad_scalar.plot")
    np = pytest.importorskip("numpy")
    ContourSet = pytest.importorskip("matplotlib.contour").ContourSet
    X = [[math.cos(2 * math.pi * k / 3), math.sin(2 * math.pi * k / 3)] for k in range(3)]
    fig = plot.plot_decision_boundary(sector_model(), X, [0, 1, 2], resolution=30)
    # the three boundaries are rays from the origin at 60, 180 and 300 degrees: every
    # vertex of the drawn lines lies on one, to a small fraction of a grid cell (~0.08):
    # no staircase along the grid
    rays = [np.array([math.cos(a), math.sin(a)]) for a in (math.pi / 3, math.pi, -math.pi / 3)]
    lines = [c for c in fig.axes[0].collections if isinstance(c, ContourSet) and not c.filled]
    vertices = [vertex for line in lines for path in line.get_paths() for vertex in path.vertices]
    assert len(vertices) > 10
    for vertex in vertices:
        off_ray = min(abs(vertex[0] * r[1] - vertex[1] * r[0]) for r in rays)
        assert off_ray < 0.005


def test_decision_boundary_grid_matches_plain_forward_passes(trained):
    plot = pytest.importorskip("tinygrad_scalar.plot")
    model, _, _, _ = trained
    points = [[-1.0 + 0.37 * i, 0.8 - 0.21 * i] for i in range(12)]
    assert plot._outputs_over(model, points) == pytest.approx(predict(model, points), rel=1e-12)


def test_plots_refuse_bad_paths_and_inputs_before_writing(trained, tmp_path):
    plot = pytest.importorskip("tinygrad_scalar.plot")
    model, history, X, y = trained
    with pytest.raises(ValueError, match=r"png, \.svg or \.pdf"):
        plot.plot_history(history, tmp_path / "loss.txt")
    with pytest.raises(ValueError, match="2-D inputs"):
        plot.plot_decision_boundary(model, [[1.0, 2.0, 3.0]], [0], tmp_path / "b.png")
    with pytest.raises(ValueError, match="resolution"):
        plot.plot_decision_boundary(model, X, y, tmp_path / "b.png", resolution=1)
    assert list(tmp_path.iterdir()) == []


def test_plots_without_matplotlib_say_how_to_install_it(trained, monkeypatch):
    plot = pytest.importorskip("tinygrad_scalar.plot")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setattr(plot, "_figure_class", None)  # forget the class made by earlier tests
    with pytest.raises(ImportError, match=r"pip install tinygrad-scalar\[plot\]"):
        plot.plot_history(trained[1])


def test_an_unknown_loss_or_optimizer_is_quoted_short():
    X, y = make_moons(10, seed=0)
    model = MLP(2, [2, 1], seed=0)
    for options in ({"loss": "l" * 5000}, {"optimizer": "o" * 5000}):
        with pytest.raises(ValueError) as caught:
            fit(model, X, y, epochs=1, **options)
        assert "..." in str(caught.value) and len(str(caught.value)) < 300
