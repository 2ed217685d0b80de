"""The built-in datasets, the split and the batch iterator."""

import math
import random
import statistics

import pytest

from tinygrad_scalar import data

CLASSIFIERS = {
    "moons": (data.make_moons, {}, {0, 1}),
    "circles": (data.make_circles, {}, {0, 1}),
    "blobs": (data.make_blobs, {"centers": 4}, {0, 1, 2, 3}),
    "spiral": (data.make_spiral, {"classes": 3}, {0, 1, 2}),
    "xor": (data.make_xor, {}, {0, 1}),
}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classification_sets_have_the_asked_shape_and_labels(name):
    make, extra, labels = CLASSIFIERS[name]
    X, y = make(n=120, seed=3, **extra)
    assert len(X) == len(y) == 120
    assert all(isinstance(row, list) and len(row) == 2 for row in X)
    assert all(type(v) is float for row in X for v in row)
    assert all(type(label) is int for label in y)
    assert set(y) == labels


@pytest.mark.parametrize("name", ["moons", "circles", "blobs", "spiral"])
def test_classes_are_balanced_and_shuffled(name):
    make, extra, labels = CLASSIFIERS[name]
    X, y = make(n=101, seed=0, **extra)
    counts = [y.count(k) for k in sorted(labels)]
    assert max(counts) - min(counts) <= 1
    assert y != sorted(y)  # not in blocks of one class


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_same_seed_same_data_other_seed_other_data(name):
    make, extra, _ = CLASSIFIERS[name]
    assert make(n=50, seed=7, **extra) == make(n=50, seed=7, **extra)
    assert make(n=50, seed=7, **extra)[0] != make(n=50, seed=8, **extra)[0]


def test_generators_do_not_touch_the_global_random_state():
    random.seed(123)
    expected = random.random()
    random.seed(123)
    data.make_moons(n=30, seed=1)
    data.make_spiral(n=30, seed=1)
    assert random.random() == expected


def test_noise_free_moons_lie_on_their_two_half_circles():
    X, y = data.make_moons(n=60, noise=0.0, seed=0)
    for (a, b), label in zip(X, y):
        if label == 0:  # upper arc: the unit circle, above the x axis
            assert a * a + b * b == pytest.approx(1.0)
            assert b >= -1e-12
        else:  # lower arc: unit circle around (1, 0.5), below its centre
            assert (a - 1) ** 2 + (b - 0.5) ** 2 == pytest.approx(1.0)
            assert b <= 0.5 + 1e-12
    # the arcs hook into each other: each reaches past the other's centre line
    upper_x = [a for (a, _), label in zip(X, y) if label == 0]
    lower_x = [a for (a, _), label in zip(X, y) if label == 1]
    assert min(upper_x) == pytest.approx(-1.0) and max(upper_x) == pytest.approx(1.0)
    assert min(lower_x) == pytest.approx(0.0) and max(lower_x) == pytest.approx(2.0)


def test_moons_noise_is_gaussian_with_the_asked_spread():
    clean, _ = data.make_moons(n=2000, noise=0.0, seed=5)
    X, y = data.make_moons(n=2000, noise=0.2, seed=5)
    # the same seed shuffles the same way, so row i is clean row i plus noise
    offsets = [xn - xc for rn, rc in zip(X, clean) for xn, xc in zip(rn, rc)]
    assert statistics.mean(offsets) == pytest.approx(0.0, abs=0.02)
    assert statistics.stdev(offsets) == pytest.approx(0.2, rel=0.05)


def test_noise_free_circles_have_radius_one_and_factor():
    X, y = data.make_circles(n=40, noise=0.0, factor=0.3, seed=0)
    for (a, b), label in zip(X, y):
        assert math.hypot(a, b) == pytest.approx(1.0 if label == 0 else 0.3)


def test_blobs_without_spread_sit_on_their_centers():
    centers = [[0.0, 0.0, 1.0], [5.0, -5.0, 2.0]]
    X, y = data.make_blobs(n=7, centers=centers, std=0.0, seed=0)
    assert sorted(y) == [0, 0, 0, 0, 1, 1, 1]
    assert all(row == centers[label] for row, label in zip(X, y))


def test_blobs_spread_matches_std():
    X, y = data.make_blobs(n=3000, centers=[[1.0, 2.0]], std=0.5, seed=2)
    assert statistics.stdev(row[0] for row in X) == pytest.approx(0.5, rel=0.05)
    assert statistics.mean(row[1] for row in X) == pytest.approx(2.0, abs=0.03)


def test_spiral_arms_grow_from_the_centre_to_radius_one():
    X, y = data.make_spiral(n=90, classes=3, noise=0.0, seed=0)
    for k in range(3):
        radii = sorted(math.hypot(a, b) for (a, b), label in zip(X, y) if label == k)
        assert radii[0] == pytest.approx(0.0) and radii[-1] == pytest.approx(1.0)
        assert len(radii) == 30


def test_xor_labels_follow_the_quadrants():
    X, y = data.make_xor(n=300, noise=0.0, seed=4)
    assert all((a * b < 0) == (label == 1) for (a, b), label in zip(X, y))
    assert all(-1 <= v <= 1 for row in X for v in row)
    assert 100 < y.count(1) < 200


def test_regression_is_a_noisy_sine_with_float_targets():
    X, y = data.make_regression_1d(n=50, noise=0.0, seed=1)
    assert all(len(row) == 1 for row in X)
    assert [row[0] for row in X] == sorted(row[0] for row in X)
    assert all(type(t) is float and t == pytest.approx(math.sin(x)) for (x,), t in zip(X, y))
    X, y = data.make_regression_1d(n=3000, noise=0.3, seed=1)
    residuals = [t - math.sin(x) for (x,), t in zip(X, y)]
    assert statistics.stdev(residuals) == pytest.approx(0.3, rel=0.05)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: data.make_moons(n=0), "n"),
        (lambda: data.make_moons(n=-5), "n"),
        (lambda: data.make_moons(n=2.5), "n"),
        (lambda: data.make_moons(n=True), "n"),
        (lambda: data.make_moons(noise=-0.1), "noise"),
        (lambda: data.make_moons(noise=float("nan")), "noise"),
        (lambda: data.make_circles(factor=1.0), "factor"),
        (lambda: data.make_circles(factor=0), "factor"),
        (lambda: data.make_blobs(centers=0), "centers"),
        (lambda: data.make_blobs(centers=[[0, 0], [1]]), "centers"),
        (lambda: data.make_blobs(std=-1), "std"),
        (lambda: data.make_spiral(classes=1), "classes"),
        (lambda: data.make_xor(noise="a"), "noise"),
        (lambda: data.make_regression_1d(n=0), "n"),
        (lambda: data.make_moons(seed="seven"), "seed"),
        (lambda: data.make_moons(noise=10**400), "noise"),
        (lambda: data.make_blobs(centers=[[10**400, 0.0]]), "centers"),
    ],
)
def test_bad_arguments_name_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()


def test_train_test_split_partitions_and_keeps_pairs():
    X = [[float(i), float(-i)] for i in range(50)]
    y = [i % 3 for i in range(50)]
    X_train, X_test, y_train, y_test = data.train_test_split(X, y, test_fraction=0.3, seed=1)
    assert len(X_test) == len(y_test) == 15 and len(X_train) == len(y_train) == 35
    assert sorted(X_train + X_test) == X
    for row, label in zip(X_train + X_test, y_train + y_test):
        assert label == int(row[0]) % 3
    assert data.train_test_split(X, y, 0.3, seed=1) == (X_train, X_test, y_train, y_test)
    assert data.train_test_split(X, y, 0.3, seed=2)[1] != X_test


def test_train_test_split_keeps_one_row_on_each_side():
    X_train, X_test, _, _ = data.train_test_split([[1.0], [2.0]], [0, 1], test_fraction=0.01)
    assert len(X_train) == len(X_test) == 1


@pytest.mark.parametrize(
    "args, match",
    [
        (([[0.0]] * 3, [0, 1]), "same length"),
        (([[0.0]], [0]), "at least 2"),
        (([[0.0]] * 4, [0] * 4, 0.0), "test_fraction"),
        (([[0.0]] * 4, [0] * 4, 1.0), "test_fraction"),
    ],
)
def test_train_test_split_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        data.train_test_split(*args)


def test_batches_cover_every_row_once_in_order_without_shuffle():
    X = [[float(i)] for i in range(10)]
    y = list(range(10))
    got = list(data.batches(X, y, batch_size=4, shuffle=False))
    assert [len(yb) for _, yb in got] == [4, 4, 2]
    assert [label for _, yb in got for label in yb] == y
    assert all(row[0] == label for xb, yb in got for row, label in zip(xb, yb))


def test_shuffled_batches_are_a_seeded_permutation():
    X = [[float(i)] for i in range(30)]
    y = list(range(30))
    first = list(data.batches(X, y, batch_size=7, seed=3))
    again = list(data.batches(X, y, batch_size=7, seed=3))
    other = list(data.batches(X, y, batch_size=7, seed=4))
    order = [label for _, yb in first for label in yb]
    assert first == again and first != other
    assert sorted(order) == y and order != y
    assert all(row[0] == label for xb, yb in first for row, label in zip(xb, yb))


def test_batches_reject_a_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        list(data.batches([[0.0]], [0], batch_size=0))


def test_signed_labels_for_the_hinge_loss():
    assert data.to_signed_labels([0, 1, 1, 0, -1]) == [-1, 1, 1, -1, -1]
    with pytest.raises(ValueError, match=r"must be 0/1 \(or -1/\+1\); y\[1\] is 2$"):
        data.to_signed_labels([0, 2])
    with pytest.raises(ValueError, match=r"y\[0\] is True$"):
        data.to_signed_labels([True, 0])


# --- the Census first names ----------------------------------------------------------------


def test_load_names_gives_the_census_first_names_lowercase_sorted_and_unique():
    names = data.load_names()
    assert len(names) == 5163
    assert names == sorted(set(names))
    assert all(name.isascii() and name.isalpha() and name.islower() for name in names)
    assert max(len(name) for name in names) == 11  # with a BOS token, fits a block of 16
    assert {"mary", "james", "linda", "robert"} <= set(names)


def test_load_names_by_list():
    female, male = data.load_names("female"), data.load_names("male")
    assert (len(female), len(male)) == (4275, 1219)  # one name per line of each Census file
    assert female[:2] == ["aaron", "abbey"]
    assert {"linda", "barbara"} <= set(female) - set(male)
    assert {"abraham", "alan"} <= set(male) - set(female)
    assert sorted(set(female) | set(male)) == data.load_names()


def test_load_names_returns_a_fresh_list():
    names = data.load_names()
    names.clear()
    assert len(data.load_names()) == 5163


@pytest.mark.parametrize("which", ["both", "Female", None, 1])
def test_load_names_rejects_an_unknown_list(which):
    with pytest.raises(ValueError, match="which must be 'all', 'female' or 'male'"):
        data.load_names(which)


def test_bad_centers_are_quoted_short():
    with pytest.raises(ValueError) as caught:
        data.make_blobs(10, centers=[[0.0] * 5000, [1.0]])
    assert "..." in str(caught.value) and len(str(caught.value)) < 300
