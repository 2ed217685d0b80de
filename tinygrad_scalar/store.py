"""Parameters whose numbers live in two arrays while a compiled step trains them.

A training step touches every parameter three times: the compiled step reads each
`.data` and adds into each `.grad`, and the optimizer reads both and writes `.data`
back. For a model of a few thousand parameters those Python loops cost more than the
step's arithmetic. So a compiled step keeps its parameters in a `Store`: one float64
array of their numbers and one of their gradients, in the step's order. The step, the
optimizer and `zero_grad` then work on the arrays, with no loop over Values at all.

The Values stay the user's: while they are in a store they are `StoredValue`s, a Value
whose `.data` and `.grad` read and write their entry of the arrays, so every read sees
the numbers the last step left, and every write (an SGD step by hand, `load_state_dict`,
clipping a gradient) is what the next step uses. There is no copy to fall out of date.
(PyTorch does the same when it keeps many parameters as views of one flat buffer.)

Only floats go into the arrays. Writing anything else, such as a gradient that is a
Value after `backward(create_graph=True)`, or an int, first releases the store: every
one of its Values becomes a plain Value again, holding its numbers in its own slots, and
the next compiled step makes a new store. So does a store that the next step needs for a
different list of parameters.

>>> from tinygrad_scalar import Value
>>> a, b = Value(1.0), Value(2.0)
>>> store = Store.of([a, b])
>>> type(a).__name__, a.data, store.data.tolist()
('StoredValue', 1.0, [1.0, 2.0])
>>> a.data = 5.0; store.data.tolist()
[5.0, 2.0]
>>> store.grad += 0.5; b.grad
0.5
>>> store.release(); type(a).__name__, a.data, b.grad
('Value', 5.0, 0.5)
"""

from __future__ import annotations

import weakref
from typing import Any, Sequence

import numpy as np

from .engine import Value

# The slots that hold a plain Value's number and gradient (a StoredValue's properties
# stand in front of them while it is stored)
_DATA_SLOT = Value.__dict__["data"]
_GRAD_SLOT = Value.__dict__["grad"]


class Store:
    """The numbers (`data`) and gradients (`grad`) of a list of leaf Values, as float64
    arrays in the list's order, while the Values are StoredValues reading and writing them.

    Make one with `Store.of(values)`; `store.live` is False once it is released."""

    __slots__ = ("values", "data", "grad", "live", "__weakref__")

    def __init__(self, values: list[Value]) -> None:
        self.values = values
        self.data = np.array([v.data for v in values], dtype=np.float64)
        self.grad = np.array([v.grad for v in values], dtype=np.float64)
        self.live = True
        me = weakref.ref(self)  # a weak reference back: no cycle through the Values
        for i, v in enumerate(values):
            stored: Any = v
            stored._place = (self.data, self.grad, i, me)
            stored.__class__ = StoredValue

    @staticmethod
    def of(values: Sequence[Value]) -> Store | None:
        """The live store of exactly these Values in this order, made if there is none
        (after releasing the stores any of them are in). None if one of them cannot be
        stored: its number or gradient is not a float (a Value after create_graph=True), it
        is listed twice, or it is not a plain Value."""
        store = Store.holding(values)
        if store is not None:
            return store
        if len({id(v) for v in values}) != len(values):
            return None  # a Value twice: it has one number, not two entries
        for v in values:
            if type(v) is StoredValue:
                _release(v)
        if not all(
            type(v) is Value and type(v.data) is float and type(v.grad) is float for v in values
        ):  # a traced Value, or a subclass of the user's, keeps its own slots
            return None
        return Store(list(values))

    @staticmethod
    def holding(values: Sequence[Value]) -> Store | None:
        """The live store whose Values are exactly `values` in order, or None. Cheap: one
        look at the first Value and a comparison of two lists by identity."""
        first: Any = values[0] if values else None
        if type(first) is not StoredValue:
            return None
        store = first._place[3]()
        if store is None or not store.live or store.values != values:
            return None
        return store

    def release(self) -> None:
        """Make every Value of this store a plain Value again, holding its own numbers."""
        if not self.live:
            return
        self.live = False
        for v in self.values:
            _unstore(v)
        self.values = []

    def __repr__(self) -> str:
        state = "live" if self.live else "released"
        return f"Store({len(self.data)} values, {state})"


def _unstore(v: Any) -> None:
    data, grad, i, _ = v._place
    _DATA_SLOT.__set__(v, data.item(i))
    _GRAD_SLOT.__set__(v, grad.item(i))
    del v._place
    v.__class__ = Value


def _release(v: Any) -> None:
    """Release the store `v` is in: all of it if it is still live, else `v` alone (a
    store nothing refers to any more has no one else to tell)."""
    store = v._place[3]()
    if store is not None and store.live:
        store.release()
    else:
        _unstore(v)


def _get_data(v: Any) -> float:
    data, _, i, _ = v._place
    return data.item(i)


def _set_data(v: Any, number: Any) -> None:
    if type(number) is float:
        data, _, i, _ = v._place
        data[i] = number
    else:
        _release(v)
        v.data = number


def _get_grad(v: Any) -> float:
    _, grad, i, _ = v._place
    return grad.item(i)


def _set_grad(v: Any, number: Any) -> None:
    if type(number) is float:
        _, grad, i, _ = v._place
        grad[i] = number
    else:  # a Value (create_graph=True), an int, ...: as a plain Value would hold it
        _release(v)
        v.grad = number


class StoredValue(Value):
    """A leaf Value in a Store: its `.data` and `.grad` are its entry of the store's
    arrays. It is a Value in every other way, and pickles and copies as a plain one."""

    __slots__ = ()
    _place: tuple  # (the store's data, its grad, this Value's index, the store, weakly)
    data = property(_get_data, _set_data)
    grad = property(_get_grad, _set_grad)


__all__ = ["Store", "StoredValue"]
