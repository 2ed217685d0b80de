"""Lists of Python floats as NumPy arrays, each list converted once.

A training loop reads every parameter's value twice a step (the compiled step, then the
optimizer) and the optimizer writes them all back; for a model of a few thousand
parameters each conversion of the list into an array costs more than the arithmetic. The
optimizer remembers the array it wrote (`remember`), and `as_array` returns it again for a
list of the same numbers, without converting.

Two lists of floats that compare equal hold the same numbers bit for bit, except that 0.0
equals -0.0 (and nan equals nothing): so only arrays with no zero and no nan are
remembered. A list of the very float objects that were written compares equal at once
(identity comes first); a list that differs usually does so at its first element.

A list that is converted is packed as C doubles by `struct` (each number's own bits, as
float() gives them), about three times faster than `np.array` for a list of floats;
anything struct refuses (a string, an int too large for a float) goes to `np.array`, which
converts or refuses it as before.
"""

from __future__ import annotations

import struct

import numpy as np

_KEEP = 4  # lists remembered: a few models' parameters
_SMALLEST = 256  # below this a conversion costs less than the comparison could
_remembered: list[tuple[list[float], np.ndarray]] = []  # newest first


def as_array(floats: list[float]) -> np.ndarray:
    """`floats` as a float64 array, which the caller must not change in place (it may be
    the one remembered)."""
    if len(floats) >= _SMALLEST:
        for known, array in _remembered:
            if len(known) == len(floats) and known == floats:
                return array
    try:
        return np.frombuffer(struct.pack(f"{len(floats)}d", *floats), dtype=np.float64)
    except (struct.error, TypeError):
        return np.array(floats, dtype=np.float64)


def remember(floats: list[float], array: np.ndarray) -> None:
    """Note that `array` holds the numbers of `floats` (its `tolist()`, just written
    somewhere), so that as_array can return it for them. Neither may change afterwards."""
    if len(floats) < _SMALLEST or not np.all(array != 0.0) or np.isnan(array).any():
        return
    _remembered.insert(0, (floats, array))
    del _remembered[_KEEP:]
