"""Small built-in datasets, splits and batches: plain Python lists, no scikit-learn.

Every generator takes a `seed` and returns `(X, y)`: `X` is a list of feature rows (lists of
floats) and `y` a list of int class labels (floats for regression). The same seed always
gives the same data; `seed=None` draws fresh randomness.

>>> X, y = make_moons(n=4, noise=0.0, seed=0)
>>> len(X), len(X[0]), sorted(set(y))
(4, 2, [0, 1])
"""

from __future__ import annotations

import math
import numbers
import random
from importlib import resources
from typing import Iterator, Sequence, Union

from ._checks import check_int, check_number, class_indices, finite_float, make_rng, quote_input

Seed = Union[int, None, random.Random]
Dataset = tuple[list[list[float]], list]

__all__ = [
    "CharTokenizer",
    "batches",
    "batches_by_length",
    "load_names",
    "make_blobs",
    "make_circles",
    "make_moons",
    "make_regression_1d",
    "make_spiral",
    "make_xor",
    "to_signed_labels",
    "train_test_split",
]


def _linspace(start: float, stop: float, count: int) -> list[float]:
    """`count` evenly spaced points from start to stop inclusive (just `start` when count == 1)."""
    if count == 1:
        return [start]
    step = (stop - start) / (count - 1)
    return [start + i * step for i in range(count)]


def _shuffled(X: list, y: list, rng: random.Random) -> Dataset:
    """Shuffle rows and labels together, so classes are not in blocks."""
    order = list(range(len(X)))
    rng.shuffle(order)
    return [X[i] for i in order], [y[i] for i in order]


def _split_evenly(n: int, parts: int) -> list[int]:
    """Sizes of `parts` groups that add up to n and differ by at most one."""
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


# --- generators ----------------------------------------------------------------------------


def make_moons(n: int = 100, noise: float = 0.1, seed: Seed = 0) -> Dataset:
    """Two interleaving half circles in 2-D: class 0 the upper arc, class 1 the lower one.

    The upper arc is the unit half circle above the x axis; the lower one is the same arc
    flipped and shifted to (1, 0.5) below, so the two hook into each other. Gaussian noise
    with standard deviation `noise` is added to every coordinate.

    >>> X, y = make_moons(n=100, noise=0.1, seed=1)
    >>> len(X), y.count(0), y.count(1)
    (100, 50, 50)
    """
    n = check_int(n, "n")
    noise = check_number(noise, "noise")
    rng = make_rng(seed)
    n_upper, n_lower = _split_evenly(n, 2)
    X: list[list[float]] = []
    y: list[int] = []
    for t in _linspace(0.0, math.pi, n_upper):
        X.append([math.cos(t), math.sin(t)])
        y.append(0)
    for t in _linspace(0.0, math.pi, n_lower):
        X.append([1.0 - math.cos(t), 0.5 - math.sin(t)])
        y.append(1)
    X = [[a + rng.gauss(0.0, noise), b + rng.gauss(0.0, noise)] for a, b in X]
    return _shuffled(X, y, rng)


def make_circles(n: int = 100, noise: float = 0.05, factor: float = 0.5, seed: Seed = 0) -> Dataset:
    """Two concentric circles: class 0 on the unit circle, class 1 on radius `factor` (0..1).

    >>> X, y = make_circles(n=10, noise=0.0, factor=0.5, seed=0)
    >>> round(max(x * x + z * z for (x, z), c in zip(X, y) if c == 1), 6)
    0.25
    """
    n = check_int(n, "n")
    noise = check_number(noise, "noise")
    inner_radius = finite_float(factor)
    if inner_radius is None or not 0 < inner_radius < 1:
        raise ValueError(f"factor must be a number with 0 < factor < 1, got {quote_input(factor)}")
    rng = make_rng(seed)
    X: list[list[float]] = []
    y: list[int] = []
    for label, (radius, count) in enumerate(zip((1.0, inner_radius), _split_evenly(n, 2))):
        # `count` angles around the full circle, the end point left out (it would repeat 0)
        for i in range(count):
            t = 2.0 * math.pi * i / count
            X.append([radius * math.cos(t), radius * math.sin(t)])
            y.append(label)
    X = [[a + rng.gauss(0.0, noise), b + rng.gauss(0.0, noise)] for a, b in X]
    return _shuffled(X, y, rng)


def make_blobs(
    n: int = 100,
    centers: int | Sequence[Sequence[float]] = 3,
    std: float = 1.0,
    seed: Seed = 0,
) -> Dataset:
    """Gaussian clusters, one class per center, sizes as equal as `n` allows.

    `centers` is either a count (the centers are then spread evenly on a circle of radius 5
    around the origin in 2-D, so clusters with the default `std` barely touch) or explicit
    center coordinates, which also fix the number of features.

    >>> X, y = make_blobs(n=6, centers=[[0, 0], [10, 10]], std=0.0, seed=0)
    >>> sorted(map(tuple, X))
    [(0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (10.0, 10.0), (10.0, 10.0), (10.0, 10.0)]
    """
    n = check_int(n, "n")
    std = check_number(std, "std")
    if isinstance(centers, numbers.Integral) and not isinstance(centers, bool):
        count = check_int(centers, "centers")
        points = [
            [5.0 * math.cos(2 * math.pi * k / count), 5.0 * math.sin(2 * math.pi * k / count)]
            for k in range(count)
        ]
    else:
        try:
            points = [[float(c) for c in center] for center in centers]  # type: ignore[union-attr]
        except (TypeError, ValueError, OverflowError):
            raise ValueError(
                f"centers must be a count or a list of coordinate lists, got {quote_input(centers)}"
            ) from None
        if not points or not points[0] or any(len(p) != len(points[0]) for p in points):
            raise ValueError(
                "centers must be a non-empty list of coordinate lists of one length, "
                f"got {quote_input(centers)}"
            )
    rng = make_rng(seed)
    X: list[list[float]] = []
    y: list[int] = []
    for label, (center, size) in enumerate(zip(points, _split_evenly(n, len(points)))):
        for _ in range(size):
            X.append([c + rng.gauss(0.0, std) for c in center])
            y.append(label)
    return _shuffled(X, y, rng)


def make_spiral(n: int = 100, classes: int = 3, noise: float = 0.2, seed: Seed = 0) -> Dataset:
    """Interleaved spiral arms in 2-D, one arm per class: a classic that no straight line splits.

    Along each arm the radius grows from 0 to 1 while the angle turns by 4 radians; the
    arms start 2*pi/classes apart. `noise` perturbs the angle (radians).

    >>> X, y = make_spiral(n=30, classes=3, noise=0.0, seed=0)
    >>> [y.count(k) for k in range(3)]
    [10, 10, 10]
    """
    n = check_int(n, "n")
    classes = check_int(classes, "classes", minimum=2)
    noise = check_number(noise, "noise")
    rng = make_rng(seed)
    X: list[list[float]] = []
    y: list[int] = []
    for label, size in enumerate(_split_evenly(n, classes)):
        start = 2.0 * math.pi * label / classes
        for radius, turn in zip(_linspace(0.0, 1.0, size), _linspace(0.0, 4.0, size)):
            angle = start + turn + rng.gauss(0.0, noise)
            X.append([radius * math.cos(angle), radius * math.sin(angle)])
            y.append(label)
    return _shuffled(X, y, rng)


def make_xor(n: int = 100, noise: float = 0.1, seed: Seed = 0) -> Dataset:
    """Points in the square [-1, 1]^2 labelled 1 where the coordinates' signs differ, else 0.

    The label comes from the clean point; Gaussian noise of standard deviation `noise` is
    then added to the features, so points near the axes may land on the other side.

    >>> X, y = make_xor(n=200, noise=0.0, seed=0)
    >>> all((a * b < 0) == (label == 1) for (a, b), label in zip(X, y))
    True
    """
    n = check_int(n, "n")
    noise = check_number(noise, "noise")
    rng = make_rng(seed)
    X: list[list[float]] = []
    y: list[int] = []
    for _ in range(n):
        a, b = rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)
        y.append(1 if a * b < 0 else 0)
        X.append([a + rng.gauss(0.0, noise), b + rng.gauss(0.0, noise)])
    return X, y


def make_regression_1d(n: int = 100, noise: float = 0.1, seed: Seed = 0) -> Dataset:
    """A noisy sine: x uniform in [-pi, pi] (sorted), y = sin(x) + Gaussian noise (floats).

    >>> X, y = make_regression_1d(n=5, noise=0.0, seed=0)
    >>> all(abs(t - math.sin(x)) < 1e-12 for (x,), t in zip(X, y))
    True
    """
    n = check_int(n, "n")
    noise = check_number(noise, "noise")
    rng = make_rng(seed)
    xs = sorted(rng.uniform(-math.pi, math.pi) for _ in range(n))
    return [[x] for x in xs], [math.sin(x) + rng.gauss(0.0, noise) for x in xs]


# --- real data ---------------------------------------------------------------------------

# The 1990 US Census first-name lists, vendored from the `names` package (see datasets/README.md).
NAME_FILES = {"female": "dist.female.first", "male": "dist.male.first"}


def load_names(which: str = "all") -> list[str]:
    """First names from the 1990 US Census, lowercase, for character-level language models.

    `which` is "female" (4,275 names), "male" (1,219) or "all" (both lists: 5,163 names,
    since 331 names are on both and each name appears once). The list is deduplicated and
    sorted alphabetically, so it is the same on every machine; shuffle it with a seeded
    `random.Random` for training. The data ships with the package: nothing is downloaded.

    >>> names = load_names()
    >>> len(names), names[:3]
    (5163, ['aaron', 'abbey', 'abbie'])
    """
    if not isinstance(which, str) or which not in ("all", *NAME_FILES):
        raise ValueError(f"which must be 'all', 'female' or 'male', got {which!r:.40}")
    files = NAME_FILES.values() if which == "all" else [NAME_FILES[which]]
    names: set[str] = set()
    folder = resources.files(__package__).joinpath("datasets")
    for file_name in files:
        text = folder.joinpath(file_name).read_text(encoding="ascii")
        # each line: NAME, then the Census frequency, cumulative frequency and rank
        names.update(line.split()[0].lower() for line in text.splitlines() if line.strip())
    return sorted(names)


# --- splitting and batching ----------------------------------------------------------------


def _check_pairs(X: Sequence, y: Sequence) -> int:
    if len(X) != len(y):
        raise ValueError(
            f"X and y must have the same length, got {len(X)} rows and {len(y)} labels"
        )
    return len(X)


def train_test_split(
    X: Sequence, y: Sequence, test_fraction: float = 0.2, seed: Seed = 0
) -> tuple[list, list, list, list]:
    """Shuffle and split into `(X_train, X_test, y_train, y_test)` (scikit-learn's order).

    The test part has round(len(X) * test_fraction) rows, at least one and leaving at
    least one for training.

    >>> X_train, X_test, y_train, y_test = train_test_split(list(range(10)), list(range(10)))
    >>> len(X_train), len(X_test), sorted(X_train + X_test) == list(range(10))
    (8, 2, True)
    """
    n = _check_pairs(X, y)
    if n < 2:
        raise ValueError(f"train_test_split needs at least 2 rows, got {n}")
    fraction = finite_float(test_fraction)
    if fraction is None or not 0 < fraction < 1:
        raise ValueError(
            f"test_fraction must be between 0 and 1 (exclusive), got {quote_input(test_fraction)}"
        )
    order = list(range(n))
    make_rng(seed).shuffle(order)
    n_test = min(n - 1, max(1, round(n * fraction)))
    test, train = order[:n_test], order[n_test:]
    return [X[i] for i in train], [X[i] for i in test], [y[i] for i in train], [y[i] for i in test]


def batches(
    X: Sequence, y: Sequence, batch_size: int, shuffle: bool = True, seed: Seed = None
) -> Iterator[tuple[list, list]]:
    """Yield `(X_batch, y_batch)` pairs of `batch_size` rows (the last one may be smaller).

    With `shuffle=True` the rows come in a random order drawn from `seed` (pass a
    `random.Random` to continue one stream across epochs).

    >>> [yb for _, yb in batches([0, 1, 2, 3, 4], [0, 1, 2, 3, 4], 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    """
    n = _check_pairs(X, y)
    batch_size = check_int(batch_size, "batch_size")
    order = list(range(n))
    if shuffle:
        make_rng(seed).shuffle(order)
    for start in range(0, n, batch_size):
        chunk = order[start : start + batch_size]
        yield [X[i] for i in chunk], [y[i] for i in chunk]


def to_signed_labels(y: Sequence) -> list[int]:
    """Map class labels 0/1 to -1/+1, the targets the hinge loss expects (-1/+1 pass through).

    >>> to_signed_labels([0, 1, 1, -1])
    [-1, 1, 1, -1]
    """
    return [2 * c - 1 for c in class_indices(y, 1)]


# --- text: characters as tokens, documents batched by length ------------------------------


class CharTokenizer:
    """One token per character seen in `docs` (in sorted order), plus BOS.

    BOS ("beginning of sequence") is the last token id: `encode` puts it at both ends of a
    document, so a language model learns to start a document after BOS and to end one by
    predicting BOS.

    >>> tok = CharTokenizer(["ab", "ba", "c"])
    >>> tok.chars, tok.bos, tok.vocab_size
    ('abc', 3, 4)
    >>> tok.encode("cab"), tok.decode([3, 2, 0, 1, 3])
    ([3, 2, 0, 1, 3], 'cab')
    """

    def __init__(self, docs: Sequence[str]) -> None:
        if isinstance(docs, str) or not all(isinstance(doc, str) for doc in docs):
            raise TypeError("CharTokenizer takes a list of strings (the documents)")
        self.chars = "".join(sorted(set("".join(docs))))
        if not self.chars:
            raise ValueError("CharTokenizer: the documents contain no characters")
        self.bos = len(self.chars)
        self.vocab_size = len(self.chars) + 1
        self._ids = {ch: i for i, ch in enumerate(self.chars)}

    def encode(self, doc: str) -> list[int]:
        """[BOS, one id per character, BOS]."""
        unknown = [ch for ch in doc if ch not in self._ids]
        if unknown:
            raise ValueError(
                f"CharTokenizer: {unknown[0]!r} in {doc!r:.40} is not in the vocabulary"
            )
        return [self.bos, *(self._ids[ch] for ch in doc), self.bos]

    def decode(self, tokens: Sequence[int]) -> str:
        """The characters of `tokens`, with every BOS left out."""
        text = []
        for position, token in enumerate(tokens):
            token = check_int(token, f"token {position}", minimum=0)
            if token > self.bos:
                raise ValueError(
                    f"token {position} is {token}, past the vocabulary of {self.vocab_size}"
                )
            if token != self.bos:
                text.append(self.chars[token])
        return "".join(text)

    def __repr__(self) -> str:
        return f"CharTokenizer({self.chars!r} + BOS, vocab_size={self.vocab_size})"


def batches_by_length(
    sequences: Sequence[Sequence], batch_size: int, seed: Seed = None
) -> list[list]:
    """`sequences` grouped into batches whose members all have the same length.

    A compiled step is traced for one length (see `compile_by_shape`); a batch of equal
    lengths runs through one step. Each length's sequences are shuffled and cut into
    batches of at most `batch_size`, and the batches of all lengths are shuffled together
    (drawn from `seed`), so one pass over the list visits every sequence once.

    >>> [len(b) for b in batches_by_length(["ab", "cd", "ef", "g"], 2, seed=0)]
    [1, 2, 1]
    """
    batch_size = check_int(batch_size, "batch_size")
    rng = make_rng(seed)
    by_length: dict[int, list] = {}
    for s in sequences:
        by_length.setdefault(len(s), []).append(s)
    out: list[list] = []
    for length in sorted(by_length):
        group = by_length[length]
        rng.shuffle(group)
        out.extend(group[start : start + batch_size] for start in range(0, len(group), batch_size))
    rng.shuffle(out)
    return out
