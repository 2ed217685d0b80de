"""Argument checks, class labels and quoted input, shared by every layer above the engine.

Each check either returns the cleaned value or raises ValueError with one line that names
the argument, says what it must be and shows what it got, so the same mistake reads the
same way whichever function caught it. Labels become class indices in one place
(`class_indices`), for training, accuracy and plots alike, and `quote_input` is the one
place a message shortens what the user typed. This module imports only the engine, so nn,
losses, optim, data, train and the command line can all use it.
"""

from __future__ import annotations

import math
import numbers
import random
from typing import Any, Sequence

from .engine import Value


def is_number(x: Any) -> bool:
    """A plain real number (int, float, NumPy scalar): not a bool, not a Value."""
    if type(x) is float or type(x) is int:  # the common case, without the slow ABC check
        return True
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and not isinstance(x, Value)


def finite_float(x: Any) -> float | None:
    """`x` as a finite float, or None when it is not a number, is inf/nan, or is an int
    too large for a float (10**400 is a valid JSON integer; float() overflows on it)."""
    if not is_number(x):
        return None
    try:
        value = float(x)
    except (OverflowError, ArithmeticError):
        return None
    return value if math.isfinite(value) else None


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """An int (NumPy ints too) >= minimum; bools and floats are refused, since they are
    mistakes (`MLP(2.5, ...)`, `epochs=True`)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {kind}, got {value!r:.60}")
    return int(value)


def check_number(
    value: Any,
    name: str,
    low: float = 0.0,
    high: float | None = None,
    positive: bool = False,
) -> float:
    """A finite real number >= low (> low when `positive`) and < high when high is given,
    as a float."""
    if positive:
        bound = f"> {low:g}"
    elif high is None:
        bound = f">= {low:g}"
    else:
        bound = f"in [{low:g}, {high:g})"
    result = finite_float(value)
    if (
        result is None
        or result < low
        or (positive and result == low)
        or (high is not None and result >= high)
    ):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r:.60}")
    return result


def make_rng(seed: Any, rng: Any = None, global_when_unseeded: bool = False) -> Any:
    """The random source for `seed`: a new random.Random(seed) for an int, the generator
    itself for a random.Random (or when `rng` is given). Without either, a fresh
    random.Random from system entropy, or the global `random` module when
    `global_when_unseeded` (so `random.seed()` makes unseeded models reproducible)."""
    if seed is not None and rng is not None:
        raise ValueError("pass either seed or rng, not both")
    if rng is not None:
        return rng
    if isinstance(seed, random.Random):
        return seed
    if seed is None:
        return random if global_when_unseeded else random.Random()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an int, None or a random.Random, got {seed!r:.60}")
    return random.Random(int(seed))


def class_index(label: Any, n_classes: int, what: str) -> int:
    """`label` as a class index 0..n_classes-1: an int, or a float such as 2.0 that holds
    one (labels read from a float list). Bools and anything else are refused, naming `what`.
    """
    whole = is_number(label) and (isinstance(label, numbers.Integral) or float(label).is_integer())
    if whole and not isinstance(label, bool) and 0 <= int(label) < n_classes:
        return int(label)
    raise ValueError(
        f"{what} = {quote_input(label)} is not a class (expected an integer 0..{n_classes - 1})"
    )


def class_indices(y: Sequence, n_outputs: int, name: str = "y") -> list[int]:
    """Labels as class indices, the one place labels are checked. For a model with one
    output (`n_outputs` 1): 0 and 1 as they are, -1 read as 0 (so -1/+1 hinge labels work
    too). For k outputs: 0..k-1. Anything else, bools included, is refused, naming `name`.
    """
    if n_outputs != 1:
        return [class_index(label, n_outputs, f"label {name}[{i}]") for i, label in enumerate(y)]
    classes = []
    for i, label in enumerate(y):
        if is_number(label) and label in (0, 1, -1):
            classes.append(1 if label == 1 else 0)
        else:
            raise ValueError(
                f"labels for one output must be 0/1 (or -1/+1); {name}[{i}] is {label!r:.60}"
            )
    return classes


# --- quoting user input in messages ------------------------------------------------------------

QUOTE_LIMIT = 100  # characters of user input an error message quotes, at most


def shorten_input(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` cut to `limit` characters (ending in "...") when longer, for messages that show
    it unquoted, such as a hint "write x=NUMBER"."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quote_input(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`value` quoted for an error message, cut to about `limit` characters so that a huge
    argument still gives a short one-line message: quote_input("x=1") == "'x=1'".

    Text is cut before quoting (the quotes stay balanced); anything else is shown by its
    repr, cut the same way. An int too long to print (Python refuses more than 4300 digits)
    is described by its size instead. This is the one place messages shorten user input.
    """
    if isinstance(value, str):
        return repr(shorten_input(value, limit))
    try:
        text = repr(value)
    except ValueError:  # int -> str refuses very long numbers
        digits = round(abs(value).bit_length() * math.log10(2)) if isinstance(value, int) else 0
        return f"<an integer of about {digits:,} digits>" if digits else "<unprintable value>"
    return shorten_input(text, limit)
