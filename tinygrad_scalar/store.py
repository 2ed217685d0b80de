"""Parameters whose numbers live in two arrays while a compiled step trains them.

A training step touches every parameter three times: the compiled step reads each
`.data` and adds into each `.grad`, and the optimizer reads both and writes `.data`
back. For a model of a few thousand parameters those Python loops cost more than the
step's arithmetic. So a compiled step keeps its parameters in a `Store`: one float64
array of their numbers and one of their gradients, in the step's order. The step, the
optimizer and `zero_grad` then work on the arrays, with no loop over Values at all.

While they are in a store the Values are `StoredValue`s, and the first time anything
else reads or writes the `.data` or `.grad` of one of them (printing a weight, an L2
penalty computed eagerly, an SGD step by hand, `state_dict`), the store is released
first: every one of its Values becomes a plain Value again, holding its numbers in its
own slots, and the read or write happens on that. So no copy can fall out of date, and
code that uses the Values sees plain Values at plain speed. The next compiled step
stores them again (a step whose store keeps being released waits longer and longer
before it does, see CompiledStep._parameter_numbers).

>>> from tinygrad_scalar import Value
>>> a, b = Value(1.0), Value(2.0)
>>> store = Store.of([a, b])
>>> type(a).__name__, store.data.tolist()
('StoredValue', [1.0, 2.0])
>>> store.grad += 0.5   # what a compiled step does with its gradients
>>> b.grad, type(b).__name__, store.live   # reading one releases them all
(0.5, 'Value', False)
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Sequence

import numpy as np

from .engine import Value


class Store:
    """The numbers (`data`) and gradients (`grad`) of a list of leaf Values, as float64
    arrays in the list's order, while the Values are StoredValues.

    Make one with `Store.of(values)`; `store.live` is False once it is released.

    `with Store.lock:` around finding a store and working on its arrays: a release in
    another thread (which only has to read a parameter) waits until the work is done,
    rather than copying the numbers out halfway and leaving the rest of the work to
    arrays no Value reads any more."""

    __slots__ = ("values", "data", "grad", "live", "__weakref__")
    lock = threading.RLock()  # one thread at a time makes, releases or works on a store

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
        with Store.lock:
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
        with Store.lock:
            if type(first) is not StoredValue:
                return None
            store = first._place[3]()
            listed = values if type(values) is list else list(values)
            if store is None or not store.live or store.values != listed:
                return None
            return store

    def release(self) -> None:
        """Make every Value of this store a plain Value again, holding its numbers."""
        with Store.lock:
            if not self.live:
                return
            self.live = False
            for v in self.values:
                _unstore(v)
            self.values = []

    def __repr__(self) -> str:
        state = "live" if self.live else "released"
        return f"Store({len(self.data)} values, {state})"


# The slots of a plain Value's number and gradient, which a StoredValue's properties hide
_DATA_SLOT = Value.__dict__["data"]
_GRAD_SLOT = Value.__dict__["grad"]


def zero_grads(values: Sequence[Value]) -> None:
    """Set every Value's gradient to 0.0 (Optimizer.zero_grad, Module.zero_grad): one fill
    of the store's array if the Values are exactly a live store's."""
    with Store.lock:
        store = Store.holding(values)
        if store is not None:
            store.grad.fill(0.0)
            return
    for v in values:
        v.grad = 0.0


def _unstore(v: Any) -> None:
    data, grad, i, _ = v._place
    # the numbers go into the slots before v is a plain Value: another thread may read
    # it as one the moment it is
    _DATA_SLOT.__set__(v, data.item(i))
    _GRAD_SLOT.__set__(v, grad.item(i))
    v.__class__ = Value
    del v._place


def _release(v: Any) -> None:
    """Release the store `v` is in: all of it if it is still live, else `v` alone (a
    store nothing refers to any more has no one else to tell)."""
    with Store.lock:
        if type(v) is not StoredValue:  # released by another thread meanwhile
            return
        store = v._place[3]()
        if store is not None and store.live:
            store.release()
        else:
            _unstore(v)


def _released_first(name: str) -> property:
    """A StoredValue's `.data` or `.grad`: release the store, then read or write the
    plain Value's slot."""

    def read(v: Any) -> Any:
        _release(v)
        return getattr(v, name)

    def write(v: Any, number: Any) -> None:
        _release(v)
        setattr(v, name, number)

    return property(read, write)


class StoredValue(Value):
    """A leaf Value whose numbers are in a Store's arrays. Reading or writing its `.data`
    or `.grad` makes it, and every Value of its store, a plain Value first."""

    __slots__ = ()
    _place: tuple  # (the store's data, its grad, this Value's index, the store, weakly)
    data = _released_first("data")
    grad = _released_first("grad")


__all__ = ["Store", "StoredValue", "zero_grads"]
