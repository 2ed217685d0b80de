"""The groups a compiled step runs: one NumPy call per op and level.

`arrays` (numpy_backend.py) is the backend `o` the rules of rules.py are evaluated on when
every number is a whole batch (a row of a `(rows, batch)` buffer). A group holds the rows of
its inputs and outputs and runs forward and backward for all its nodes at once:
`ElementwiseGroup` applies a rule, `SumGroup` and `DotGroup` keep the matrix layout of `sum`
and `dot`, and `LayerGroup` runs a layer of `dot` nodes with leaf weights as one matrix
product.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import numpy as np

from .. import rules
from ..numpy_backend import arrays
from ..rules import chain_term
from .trace import batch_rule_error

# --- the array backend (numpy_backend.py): the rules of rules.py on whole batches ------------
# Every elementwise group runs its rule's own forward and derivatives functions with `o` =
# `arrays`, on arrays of shape (nodes, batch). Nothing here knows any op's derivative.


def _on_arrays(rule: rules.Rule, compute: Any) -> Any:
    """compute(), the rule's forward or derivatives on arrays; the errors of a rule written
    for floats only become TracerErrors naming it: a Python `if` on a value, math.exp(x)."""
    try:
        return compute()
    except (TypeError, ValueError) as error:
        raise batch_rule_error(rule.name, error) from None


def _evaluate(rule: rules.Rule, inputs: list) -> np.ndarray:
    out = _on_arrays(rule, lambda: rule.evaluate(arrays, inputs))
    return np.broadcast_to(out, np.broadcast(*inputs).shape) if np.ndim(out) == 0 else out


def _derivatives(rule: rules.Rule, out: np.ndarray, inputs: list) -> Sequence[Any]:
    return _on_arrays(rule, lambda: rule.local_derivatives(arrays, out, inputs))


# --- positions in a buffer -------------------------------------------------------------------


class Positions:
    """Row positions in a buffer (rows of the values, or entries of the parameter vector),
    read and accumulated into as cheaply as their pattern allows: a contiguous run becomes
    a slice (a view, no copy); other rows are gathered with `take`. Rows that repeat are
    added into with `add.at` through their positions in the flattened buffer (NumPy's 1-D
    `add.at` is several times faster than the 2-D one), which adds a repeated position's
    contributions one after another."""

    __slots__ = ("index", "_flat", "_repeats")

    def __init__(self, positions: Sequence[int]) -> None:
        array = np.asarray(positions, dtype=np.intp)
        first = int(array[0])
        self._flat: tuple[int, np.ndarray] | None = None  # (batch size, flat positions)
        self._repeats = False
        if np.array_equal(array, np.arange(first, first + len(array))):
            self.index: Any = slice(first, first + len(array))
            return
        self.index = array
        self._repeats = len(np.unique(array)) < len(array)

    def _flat_positions(self, batch: int) -> np.ndarray:
        """Where each (row, sample) of the positions sits in a flattened (rows, batch) buffer."""
        if self._flat is None or self._flat[0] != batch:
            self._flat = (batch, (self.index[:, None] * batch + np.arange(batch)).ravel())
        return self._flat[1]

    def numbers(self) -> np.ndarray:
        """The row numbers, as an array, whether they are stored as a slice or an array."""
        if isinstance(self.index, slice):
            return np.arange(self.index.start, self.index.stop, dtype=np.intp)
        return self.index

    def take(self, buffer: np.ndarray) -> np.ndarray:
        if type(self.index) is slice:
            return buffer[self.index]
        return buffer.take(self.index, axis=0)  # faster than buffer[index] for rows

    def add_into(self, buffer: np.ndarray, contributions: Any) -> None:
        if type(self.index) is slice:
            buffer[self.index] += contributions
        elif not self._repeats:  # each row once: read, add, write back
            buffer[self.index] = buffer.take(self.index, axis=0) + contributions
        else:
            if np.may_share_memory(contributions, buffer):
                # add.at would copy the whole buffer to be safe; a copy of these is smaller
                contributions = np.array(contributions)
            if buffer.ndim == 1:
                np.add.at(buffer, self.index, contributions)
                return
            batch = buffer.shape[1]
            if contributions.shape != (len(self.index), batch):
                contributions = np.broadcast_to(contributions, (len(self.index), batch))
            np.add.at(buffer.reshape(-1), self._flat_positions(batch), contributions.ravel())


def _is_constant_zero(local: Any) -> bool:
    return type(local) is float and local == 0.0


def _full(x: Any, shape: tuple) -> Any:
    return x if getattr(x, "shape", None) == shape else np.broadcast_to(x, shape)


# --- sums in eager's order -------------------------------------------------------------------
# The engine adds a sum or a dot left to right from 0.0, the bias last (rules._add_up, _dot).
# np.sum gives no order (with a batch of one it adds pairwise), and BLAS none either, so the
# order could change a sample's inf or nan with the batch it is in. Sums and per-sample dots
# therefore add left to right here too; a matrix product keeps BLAS's speed where no partial
# sum can overflow and is added left to right, as eager, where one might (_overflow_risk).

# Below this no partial sum of terms whose absolute values add up to less can overflow, in
# any order, nor a product round to inf: 2**1020 is DBL_MAX / 8, room for rounding.
OVERFLOW_SAFE = 2.0**1020


def left_to_right(terms: np.ndarray, axis: int = 1, out: np.ndarray | None = None) -> np.ndarray:
    """0.0 + terms[0] + terms[1] + ... along `axis`, in that order, as rules._add_up does
    (into `out` if given). (Adding 0.0 last gives the same number as starting from it: only
    a -0.0 can change, to 0.0, either way.) A few terms are added one by one, more by
    add.accumulate, which is sequential by definition. Which is faster depends on the
    shape: add.accumulate costs a few nanoseconds an element along any axis, a loop about
    a microsecond a term (a third of that for whole slabs along the first axis), so the
    loop runs unless the terms are many and each short (measured, NumPy 2.4)."""
    n = terms.shape[axis]
    axis %= terms.ndim
    if not n:
        total = np.empty(np.delete(terms.shape, axis)) if out is None else out
        total.fill(0.0)
        return total
    if n > 4 and terms.size // n < (64 if axis == 0 else 300):
        total = np.add.accumulate(terms, axis=axis).take(-1, axis=axis)
        return np.add(total, 0.0, out=total if out is None else out)
    if axis == 0:  # whole slabs: views
        total = np.add(terms[0], 0.0, out=out)
        for term in terms[1:]:
            total += term
        return total
    if axis == terms.ndim - 1:  # a column at a time: a view is faster than take here
        total = np.add(terms[..., 0], 0.0, out=out)
        for i in range(1, n):
            total += terms[..., i]
        return total
    total = np.add(terms.take(0, axis=axis), 0.0, out=out)
    for i in range(1, n):
        total += terms.take(i, axis=axis)
    return total


def all_finite(grad: np.ndarray) -> bool:
    """Whether every number of a gradient is finite, told from the sum of their squares (one
    BLAS call, no temporary): an inf or nan makes that inf or nan in any order, as no term
    is negative. A finite number past 1e154 makes it inf too; the caller then takes
    masked_product, which differs from the plain product only in the sign of a zero, and
    a gradient adds its contributions up from 0.0, so that sign never shows."""
    return math.isfinite(np.vdot(grad, grad))


def masked_product(local: Any, grad: Any) -> Any:
    """rules.chain_term on arrays: local * grad, where a local derivative of exactly 0 gives
    exactly 0, even against an inf or nan gradient (as in engine.backpropagate). Where every
    product is finite that is the product itself."""
    product = local * grad
    if np.isfinite(product).all():
        return product
    return chain_term(arrays, local, grad)


def batch_sum(rows: np.ndarray, size: float | None = None) -> np.ndarray:
    """Each row summed over the batch (its last axis), as the eager mean's backward adds the
    samples: last sample first where a partial sum might overflow, else NumPy's faster
    sum (equal to rounding). `size` is largest(rows), if known (or a size_bound under which
    no overflow is possible)."""
    if size is None:  # size_bound first, as LayerGroup's checks
        size = size_bound(rows)
        if may_overflow(size * rows.shape[-1]):
            size = largest(rows)
    if may_overflow(size * rows.shape[-1]):
        return left_to_right(rows[:, ::-1])
    return rows.sum(axis=1)


def size_bound(array: np.ndarray) -> float:
    """An upper bound of largest(array) from one BLAS call: twice the root of the sum of
    the squares (twice, for that sum's rounding); inf where a square overflows (|x| above
    1e154) or with an inf, nan with a nan. It may be below largest(array) only where every
    |x| is under 1e-154 (the squares underflow), where no bound made with it is near an
    overflow. So where `may_overflow` of a bound made of these is False, it is False for
    the bound made of largest() too: the same decision, largest() computed only otherwise."""
    return 2.0 * math.sqrt(np.vdot(array, array))


def largest(array: np.ndarray) -> float:
    """The largest absolute value in `array` (nan if it holds a nan, 0 if it is empty)."""
    return float(np.abs(array).max(initial=0.0)) if array.size else 0.0


def may_overflow(bound: float) -> bool:
    """Whether sums whose terms' absolute values add up to at most `bound` might overflow
    (True for inf and nan too)."""
    return not bound < OVERFLOW_SAFE


def _all_within(positions: Positions, unread: np.ndarray) -> bool:
    """Whether every row of `positions` is `unread` (a mask over the rows)."""
    return bool(unread[positions.index].all())


# --- per-sample dots term after term ---------------------------------------------------------
# A dot group lists each node's n terms node after node, (k, n). Read term after term,
# (n, k), each term of every node is one contiguous (k, batch) slab: the left to right sum is
# n whole-slab additions and a node's gradient reaches its n terms without broadcasting along
# a middle axis. Backward adds a row's contributions in the order of the entries; term after
# term that order may differ from node after node (the step's order before term-major reads,
# so the same numbers as then), so it is used only where every row gets its contributions in
# the same order either way (attention's q, k and v do). Node after node is not eager's order
# either: eager's backward walks the nodes in reverse topological order, last node first, so
# where a row's contributions overflow in one order and not the other (1e308 + 1e308 -
# 1e308), the step and eager can differ in inf against a finite number.


def _term_order(k: int, n: int) -> np.ndarray:
    """Entry j of the term-major order is entry _term_order(k, n)[j] of the node-major one."""
    return np.arange(k * n).reshape(k, n).T.ravel()


def _keeps_order(node_major: np.ndarray, by_term: np.ndarray, unread: np.ndarray) -> bool:
    """Whether adding into the rows `node_major` in term-major order (`by_term`) adds each
    row's contributions in the node-major order, `unread` rows (whose gradient nothing
    reads) aside: a row's entries, taken in term-major order, come in increasing node order."""
    rows = node_major[by_term]
    read = ~unread[rows]
    rows, entries = rows[read], by_term[read]
    by_row = np.argsort(rows, kind="stable")  # each row's entries, in term-major order
    rows, entries = rows[by_row], entries[by_row]
    same_row = rows[1:] == rows[:-1]
    return bool((entries[1:][same_row] > entries[:-1][same_row]).all())


def _padded_runs(operands: list[np.ndarray], pad: int) -> Any:
    """Shorter sums and dots are padded with a zero constant (row `pad`) to their group's
    number of terms. Where, term after term, the nodes that have the term are one run (and
    every node has the first), the real terms alone: ([each operand's positions of them,
    term-major], runs [(first node, stop, offset of the term's first)], each one's node).
    `operands` are (k, n) rows, node-major. A padding term adds 0.0 (0.0 * 0.0 for a dot),
    which changes no partial sum from 0.0 (never -0.0), so it can be left out; and nothing
    reads the constant's gradient. None where there is no padding or no such runs."""
    real = np.zeros(operands[0].shape, dtype=bool)
    for rows in operands:
        real |= rows != pad
    if real.all() or not real[:, 0].all():
        return None
    runs: list[tuple[int, int, int]] = []
    rows_of: list[list[int]] = [[] for _ in operands]
    nodes: list[int] = []
    for term in range(operands[0].shape[1]):
        members = np.flatnonzero(real[:, term])
        if not len(members):
            continue
        first, stop = int(members[0]), int(members[-1]) + 1
        if stop - first != len(members):
            return None
        runs.append((first, stop, len(nodes)))
        for rows, kept in zip(operands, rows_of):
            kept += rows[first:stop, term].tolist()
        nodes += range(first, stop)
    return [Positions(kept) for kept in rows_of], runs, np.array(nodes, dtype=np.intp)


def _add_runs(terms: np.ndarray, runs: list, out: np.ndarray) -> None:
    """out = 0.0 + each node's terms, left to right, from terms in runs (_padded_runs)."""
    np.add(terms[: len(out)], 0.0, out=out)  # the first term: every node has it
    for first, stop, offset in runs[1:]:
        out[first:stop] += terms[offset : offset + stop - first]


# --- groups: one NumPy operation per op and level --------------------------------------------
# Each group has forward(values, leaves) and backward(values, grads, leaves, leaf_grads):
# `values` and `grads` are (rows, batch); `leaves` is the vector of parameter and constant
# values and `leaf_grads` its gradient (only the parameters' part is used).
# skip_gradients_into(unread) tells a group which rows' gradients nothing reads (a mask over
# the rows: constants, batch inputs, max_shift's output): an input all of whose rows are
# among them gets no gradient computed.


class ElementwiseGroup:
    """k nodes of the same elementwise rule: out[i] = rule(inputs[0][i], inputs[1][i], ...).
    An n-ary rule (logsumexp) gets its n input blocks as one list, as in the engine."""

    def __init__(self, rule: rules.Rule, inputs: list, out: slice) -> None:
        self.rule, self.inputs, self.out = rule, inputs, out
        self._scatter: dict[tuple[int, ...], Positions] = {}
        self._adds_nothing = False  # set once backward finds every local derivative a constant 0
        self._no_gradient: frozenset[int] = frozenset()  # inputs whose gradient nothing reads
        self._used: tuple[int, ...] | None = None  # the inputs backward adds into, once known
        self._picked: Any = None  # take: the rows each node and sample picked in forward
        self._last_inputs: Any = []  # the inputs of the last forward
        if rule is rules.TAKE:
            # take's forward is select and its derivative 1 at the picked input, 0 elsewhere:
            # the same numbers come from gathering each (node, sample)'s picked row, and from
            # adding the gradient into that row alone (a 0 adds nothing, as in eager)
            self._choices = np.stack([p.numbers() for p in inputs[:-1]], axis=1)
            # where each node's choices start in the flattened (nodes, choices) array
            self._choice_starts = (np.arange(len(self._choices)) * len(inputs[:-1]))[:, None]
            self._flat_choices: tuple = (0, None, None)  # (batch, positions, columns)
            self.forward = self._take_forward  # type: ignore[method-assign]
            self.backward = self._take_backward  # type: ignore[method-assign]
        # many inputs (softmax's max_shift over a row of logits): all read in one take
        self._all_inputs: Positions | None = None
        if len(inputs) > 4:
            self._all_inputs = Positions(np.concatenate([p.numbers() for p in inputs]).tolist())
        if rule is rules.MAX_SHIFT and len(inputs) > 2:
            self.forward = self._max_shift_forward  # type: ignore[method-assign]

    def skip_gradients_into(self, unread: np.ndarray) -> None:
        if self.rule is not rules.TAKE:  # take's backward adds into the picked rows alone
            inputs = enumerate(self.inputs)
            self._no_gradient = frozenset(i for i, p in inputs if _all_within(p, unread))
            self._used = None

    def _inputs(self, values: np.ndarray) -> list:
        if self._all_inputs is None:
            return [p.take(values) for p in self.inputs]
        return list(self._all_inputs.take(values).reshape(len(self.inputs), -1, values.shape[1]))

    def forward(self, values: np.ndarray, leaves: np.ndarray) -> None:
        # backward, which follows, reads the same inputs: they are kept, not gathered again
        self._last_inputs = self._inputs(values)
        values[self.out] = _evaluate(self.rule, self._last_inputs)

    def _max_shift_forward(self, values: np.ndarray, leaves: np.ndarray) -> None:
        # The rule folds its inputs with maximum, one after another, then shifts the result:
        # max_shift(x_0, ..., x_n) is max_shift(m) of that fold m. One maximum.reduce over the
        # inputs finds the same m, in whatever order it compares, wherever the maximum is
        # not zero (a 0.0 and a -0.0 tie) and not nan (nans differ in their payload); there
        # the rule's own fold runs.
        if self._all_inputs is None:
            inputs = np.stack(self._inputs(values))
        else:
            inputs = self._all_inputs.take(values).reshape(len(self.inputs), -1, values.shape[1])
        self._last_inputs = inputs  # backward needs only their number: the rule's slopes are 0
        largest = np.maximum.reduce(inputs, axis=0)
        if not (np.abs(largest) > 0.0).all():  # a zero or nan maximum somewhere
            largest = functools.reduce(arrays.maximum, inputs)
        values[self.out] = _evaluate(self.rule, [largest])

    def _take_forward(self, values: np.ndarray, leaves: np.ndarray) -> None:
        batch = values.shape[1]
        if self._flat_choices[0] != batch:
            # the choices as positions in the flattened (rows, batch) buffer, less the
            # sample's column: NumPy's 1-D take and add.at are several times faster than
            # 2-D indexing
            self._flat_choices = (batch, self._choices * batch, np.arange(batch))
        _, flat_choices, columns = self._flat_choices
        index = self.inputs[-1].take(values)
        # Whole numbers (the batch was checked), but maybe out of range, or nan: take's
        # batch check reports those once forward is done, before anything reads a number
        # picked here, so they need only stay inside the table (mode="clip"), not be right.
        picks = index.astype(np.intp)
        # choices[node, pick] for each (node, sample), read from the flattened choices
        rows = flat_choices.take(self._choice_starts + picks, mode="clip")
        self._picked = (rows + columns).ravel()
        values[self.out] = values.take(self._picked).reshape(rows.shape)

    def _take_backward(self, values, grads, leaves, leaf_grads) -> None:
        # a copy of the gradient: as a view of the buffer it adds into, NumPy would copy
        # the whole buffer to be safe (half the cost of the step's takes)
        np.add.at(grads.reshape(-1), self._picked, grads[self.out].ravel().copy())

    def backward(self, values, grads, leaves, leaf_grads) -> None:
        if self._adds_nothing:
            return
        grad = grads[self.out]
        inputs = self._last_inputs  # of this batch's forward (rows are written once)
        local_grads = _derivatives(self.rule, values[self.out], inputs)
        # a local derivative of exactly 0 adds exactly 0, even to an inf or nan gradient
        # (as engine.backpropagate does); a constant 0 (max_shift's, say) adds nothing. Which
        # locals are constants depends on the rule alone (a rule has no `if` on a value), so
        # the inputs that get a gradient are found once.
        used = self._used
        if used is None:
            skip = self._no_gradient
            used = self._used = tuple(
                i
                for i, local in enumerate(local_grads)
                if not _is_constant_zero(local) and i not in skip
            )
            if not used:
                self._adds_nothing = True
                return
        if len(used) > 2:  # an n-ary rule (take): all its inputs in one scatter-add
            local = np.stack([_full(local_grads[i], grad.shape) for i in used])
            positions = self._scatter.get(used)
            if positions is None:
                rows = [self.inputs[i].numbers() for i in used]
                positions = Positions(np.concatenate(rows).tolist())
                self._scatter[used] = positions
            positions.add_into(grads, masked_product(local, grad).reshape(-1, grad.shape[-1]))
            return
        # Against a finite gradient, local * grad is already what eager adds (0 * finite is
        # a zero), so the masking is needed only where the gradient holds an inf or nan. A
        # constant local (not 0, see `used`) needs none: c * g is eager's number for any g,
        # and a constant 1 passes the gradient on as it is (1 * g is g, inf and nan too;
        # add_into may add a view of `grads` into it).
        finite = None
        for i in used:
            local = local_grads[i]
            if type(local) is float:
                contribution = grad if local == 1.0 else local * grad
            else:
                if finite is None:
                    finite = all_finite(grad)
                contribution = local * grad if finite else masked_product(local, grad)
            self.inputs[i].add_into(grads, contribution)

    def describe(self) -> str:
        return f"{self.rule.name} x{self.out.stop - self.out.start}"


class SumGroup:
    """k n-ary sums with n inputs each."""

    def __init__(self, inputs: Positions, k: int, n: int, out: slice, padding_row=None) -> None:
        self.inputs, self.k, self.n, self.out = inputs, k, n, out
        self._padding_row = padding_row  # the zero that pads shorter sums, if any
        self._runs: Any = None  # the real terms alone (see _padded_runs), in order
        self._inputs_need_grad = True
        # terms that are gathered anyway are gathered term after term (see _term_order),
        # so that each term is one contiguous slab; a block of rows is read as it is
        self._term_inputs: Positions | None = None
        if type(inputs.index) is not slice and n > 1:
            self._term_inputs = Positions(inputs.numbers()[_term_order(k, n)].tolist())

    def skip_gradients_into(self, unread: np.ndarray) -> None:
        self._inputs_need_grad = not _all_within(self.inputs, unread)
        self._runs = None
        node_major = self.inputs.numbers()
        if self._padding_row is not None and _keeps_order(
            node_major, _term_order(self.k, self.n), unread
        ):  # the real terms term after term, their gradients too (attention's softmax)
            found = _padded_runs([node_major.reshape(self.k, self.n)], self._padding_row)
            self._runs = None if found is None else (found[0][0], *found[1:])

    def forward(self, values, leaves) -> None:
        if self._runs is not None:
            inputs, runs, _ = self._runs
            _add_runs(inputs.take(values), runs, values[self.out])
        elif self._term_inputs is None:
            terms = self.inputs.take(values).reshape(self.k, self.n, -1)
            left_to_right(terms, out=values[self.out])
        else:
            terms = self._term_inputs.take(values).reshape(self.n, self.k, -1)
            left_to_right(terms, axis=0, out=values[self.out])

    def backward(self, values, grads, leaves, leaf_grads) -> None:
        if not self._inputs_need_grad:
            return
        grad = grads[self.out]  # d sum / d term = 1 for every term
        if self._runs is not None:  # each real term's node's gradient, term after term
            inputs, _, nodes = self._runs
            inputs.add_into(grads, grad.take(nodes, axis=0))
            return
        # each node's gradient once per term, node by node: (k * n, batch)
        self.inputs.add_into(grads, grad if self.n == 1 else grad.repeat(self.n, axis=0))

    def describe(self) -> str:
        return f"sum x{self.k} of {self.n}"


class LayerGroup:
    """k dot nodes whose weights are leaves and whose inputs are the same n nodes:
    out = W @ X (+ bias), W (k, n) from the leaf vector, X (n, batch) from the rows.

    With `sets` > 1 the same k nodes' weights are applied to several sets of n inputs (a
    transformer's positions): `inputs` and `out` hold the sets one after another, and the
    product runs once over all sets' columns, as if they were one batch `sets` times as
    wide (sample b of set s is column b * sets + s: sample by sample, as eager goes)."""

    def __init__(self, weights, inputs, bias, bias_is_leaf, k, n, out, weights_need_grad, sets=1):
        self.weights = weights  # Positions into the leaf vector, k * n entries, row-major
        self.inputs = inputs  # Positions of the sets * n input rows
        self.bias = bias  # None, or Positions (leaf vector if bias_is_leaf, else rows)
        self.bias_is_leaf = bias_is_leaf
        self.k, self.n, self.out = k, n, out
        self.weights_need_grad = weights_need_grad
        self.sets = sets
        self._sizes: tuple[float, float] | None = None  # largest |weight|, |input| of a forward
        self._bounds = (0.0, 0.0)  # their size_bound
        self._last_operands: tuple = ()  # its (w, x): backward, which follows it, reads them again
        self._inputs_need_grad = True

    def skip_gradients_into(self, unread: np.ndarray) -> None:
        self._inputs_need_grad = not _all_within(self.inputs, unread)

    def _columns(self, block: np.ndarray) -> np.ndarray:
        """(sets * r, batch) rows -> (r, sets * batch) columns."""
        if self.sets == 1:
            return block
        sets, batch = self.sets, block.shape[1]
        return block.reshape(sets, -1, batch).transpose(1, 2, 0).reshape(-1, batch * sets)

    def _rows_of(self, columns: np.ndarray) -> np.ndarray:
        """(r, sets * batch) columns -> (sets * r, batch) rows: _columns undone."""
        if self.sets == 1:
            return columns
        sets = self.sets
        batch = columns.shape[1] // sets
        return columns.reshape(-1, batch, sets).transpose(2, 0, 1).reshape(-1, batch)

    def forward(self, values, leaves) -> None:
        w = self.weights.take(leaves).reshape(self.k, self.n)
        x = self._columns(self.inputs.take(values))
        out = values[self.out] if self.sets == 1 else np.empty((self.k, x.shape[1]))
        np.matmul(w, x, out=out)
        bias = None
        if self.bias is None:
            if self.sets == 1:  # (several sets: added as the columns are written, below)
                out += 0.0  # as eager's sum from 0.0: never -0.0
        else:
            if self.bias_is_leaf:
                bias = self.bias.take(leaves)[:, None]
            else:
                bias = self._columns(self.bias.take(values))
            # (sum + 0.0) + bias, as eager; equal to sum + (bias + 0.0) for every two
            # numbers (each side is -0.0 only where the other is), and the bias is smaller
            out += bias + 0.0
        # where a partial sum might overflow (or a number is inf or nan), eager's order: the
        # whole batch is checked at once, and only if that fails sample by sample. The
        # bounds first from size_bound (one call each), the exact sizes only if they fail.
        self._last_operands = (w, x)
        self._sizes = None  # largest |w| and |x|, once a check needs them
        self._bounds = w_bound, x_bound = size_bound(w), size_bound(x)  # backward's too
        bias_bound = 0.0 if bias is None else size_bound(bias)
        if may_overflow(w_bound * self.n * x_bound + bias_bound) and may_overflow(
            self._exact_size(0) * self.n * self._exact_size(1)
            + (0.0 if bias is None else largest(bias))
        ):
            with np.errstate(all="ignore"):
                x_bound = np.abs(x).max(axis=0) * (np.abs(w).sum(axis=1).max())
                if bias is not None:
                    x_bound = x_bound + np.abs(bias).max(axis=0)
            samples = np.flatnonzero(~(x_bound < OVERFLOW_SAFE))
            exact = left_to_right(w[:, :, None] * x[None, :, samples])
            if bias is not None:
                exact += bias if self.bias_is_leaf else bias[:, samples]
            out[:, samples] = exact
        if self.sets > 1:  # _rows_of, written straight into the rows
            batch = values.shape[1]
            rows = values[self.out].reshape(self.sets, self.k, batch)
            columns = out.reshape(self.k, batch, self.sets).transpose(2, 0, 1)
            if bias is None:  # + 0.0 as eager's sum from 0.0 (exact columns already were)
                np.add(columns, 0.0, out=rows)
            else:
                rows[...] = columns

    def backward(self, values, grads, leaves, leaf_grads) -> None:
        grad = self._columns(grads[self.out])
        w, x = self._last_operands  # of this batch's forward (the leaves and rows are unchanged)
        # BLAS where every product is finite and no partial sum can overflow; otherwise the
        # products one by one, a zero local derivative adding exactly 0 (as eager), added in
        # eager's order: a weight's over the batch last sample first (the mean's backward
        # walks the samples in reverse), an input's over the neurons last neuron first
        # each check as forward's: from size_bound, and only if that fails exactly
        grad_bound, (w_bound, x_bound) = size_bound(grad), self._bounds
        grad_sizes: list[float] = []  # largest |grad|, once a check needs it

        def grad_size() -> float:
            if not grad_sizes:
                grad_sizes.append(largest(grad))
            return grad_sizes[0]

        columns = grad.shape[1]
        if self.weights_need_grad:
            if may_overflow(grad_bound * columns * x_bound) and may_overflow(
                grad_size() * columns * self._exact_size(1)
            ):
                products = masked_product(x[None, :, ::-1], grad[:, None, ::-1])
                self.weights.add_into(leaf_grads, left_to_right(products, axis=2).ravel())
            else:
                self.weights.add_into(leaf_grads, (grad @ x.T).ravel())
        if not self._inputs_need_grad:
            pass
        elif may_overflow(grad_bound * self.k * w_bound) and may_overflow(
            grad_size() * self.k * self._exact_size(0)
        ):
            products = masked_product(w[::-1, :, None], grad[::-1, None, :])
            self._add_rows(self.inputs, grads, left_to_right(products, axis=0))
        else:
            self._add_rows(self.inputs, grads, w.T @ grad)
        if self.bias is not None:
            if self.bias_is_leaf:
                safe = not may_overflow(grad_bound * columns)
                self.bias.add_into(leaf_grads, batch_sum(grad, grad_bound if safe else None))
            else:
                self._add_rows(self.bias, grads, grad)

    def _exact_size(self, operand: int) -> float:
        """largest |w| (operand 0) or |x| (1) of the last forward, computed once."""
        if self._sizes is None:
            w, x = self._last_operands
            self._sizes = (largest(w), largest(x))
        return self._sizes[operand]

    def _add_rows(self, positions: Positions, buffer: np.ndarray, columns: np.ndarray) -> None:
        """positions.add_into(buffer, self._rows_of(columns)); contiguous rows are added
        into as a view of the columns, without first copying them into rows."""
        if self.sets == 1 or type(positions.index) is not slice:
            positions.add_into(buffer, self._rows_of(columns))
            return
        batch = buffer.shape[1]
        rows = buffer[positions.index].reshape(self.sets, -1, batch)
        rows += columns.reshape(-1, batch, self.sets).transpose(2, 0, 1)

    def describe(self) -> str:
        bias = " + bias" if self.bias is not None else ""
        sets = f" on {self.sets} sets of inputs" if self.sets > 1 else ""
        return f"matmul ({self.k} x {self.n}) @ ({self.n} x batch){bias}{sets}"


class DotGroup:
    """k dot nodes of n terms in general (weights computed per sample, inputs differing).

    `weights` and `inputs` list each node's n terms, node after node (as the torch backend
    reads them); the NumPy replay reads them term after term (see _term_order)."""

    def __init__(self, weights, inputs, bias, k, n, out, padding_row=None) -> None:
        self.weights, self.inputs, self.bias = weights, inputs, bias  # Positions of rows
        self.k, self.n, self.out = k, n, out
        self._padding_row = padding_row  # the zero that pads shorter dots, if any
        self._same_operands = False  # weights and inputs the same rows (x . x)
        self._need_grad = (True, True)  # weights', inputs'
        # (w, x) of the last forward: each (n, k, batch), or (products, batch) with _runs
        self._last_operands: tuple = ()
        self._runs: Any = None  # the dots' real products, where _runs_of_terms finds runs
        self._by_term = _term_order(k, n)
        self._term_weights = Positions(weights.numbers()[self._by_term].tolist())
        self._term_inputs = Positions(inputs.numbers()[self._by_term].tolist())
        # how backward adds each operand's gradient, term-major where that adds every row's
        # contributions in the same order as node-major, else None (_term_scatter)
        self._scatters: tuple[Any, Any] = (None, None)

    def skip_gradients_into(self, unread: np.ndarray) -> None:
        weights, inputs = self.weights, self.inputs
        self._need_grad = (not _all_within(weights, unread), not _all_within(inputs, unread))
        self._same_operands = np.array_equal(weights.numbers(), inputs.numbers())
        self._scatters = (self._term_scatter(weights, unread), self._term_scatter(inputs, unread))
        self._runs = self._runs_of_terms()

    def _runs_of_terms(self) -> Any:
        """The real products alone, where _padded_runs finds runs (attention's weighted sums
        of values: dot t has t + 1 terms, in order) and both gradients are added term after
        term (_term_scatter): (weights' and inputs' positions, runs, nodes)."""
        needed = [s for s, need in zip(self._scatters, self._need_grad) if need]
        if self._padding_row is None or None in needed:
            return None
        operands = [p.numbers().reshape(self.k, self.n) for p in (self.weights, self.inputs)]
        found = _padded_runs(operands, self._padding_row)
        return None if found is None else (*found[0], found[1], found[2])

    def _term_scatter(self, positions: Positions, unread: np.ndarray) -> Any:
        """(rows, entries, nodes) to add an operand's gradient term after term, or None
        where that would change the order. `entries` (term-major) and their `nodes` are the
        products that reach a row whose gradient is read; None when that is all of them.
        Padding (shorter dots in the group) adds into a constant's row, which nothing
        reads: where that is a quarter of the products or more, those are left out.
        Operands in a block of rows (each once) are added into through a view: rows None."""
        if type(positions.index) is slice:
            return (None, None, None)
        node_major, by_term = positions.numbers(), self._by_term
        rows = node_major[by_term]
        read = ~unread[rows]
        if not read.any() or not _keeps_order(node_major, by_term, unread):
            return None  # (no gradient read at all: backward skips the operand)
        if 4 * read.sum() > 3 * len(read):
            return (Positions(rows.tolist()), None, None)
        entries = np.flatnonzero(read)
        return (Positions(rows[read].tolist()), entries, entries % self.k)

    def _term_major(self, buffer: np.ndarray, positions: Positions, by_term: Positions) -> Any:
        """An operand's rows as (n, k, batch), term after term: a view where the rows are
        a block (node after node), else gathered in term-major order."""
        if type(positions.index) is slice:
            return buffer[positions.index].reshape(self.k, self.n, -1).transpose(1, 0, 2)
        return by_term.take(buffer).reshape(self.n, self.k, -1)

    def forward(self, values, leaves) -> None:
        if self._runs is not None:
            self._forward_runs(values)
            return
        w = self._term_major(values, self.weights, self._term_weights)
        x = self._term_major(values, self.inputs, self._term_inputs)
        self._last_operands = (w, x)  # backward reads them again
        # the products term after term in memory too (views of a block are not), so that
        # each term's slab is contiguous
        products = np.multiply(w, x, out=np.empty((self.n, self.k, values.shape[1])))
        out = left_to_right(products, axis=0, out=values[self.out])
        if self.bias is not None:
            out += self.bias.take(values)

    def _forward_runs(self, values: np.ndarray) -> None:
        """forward without the padding products (see _runs_of_terms)."""
        weights, inputs, runs, _ = self._runs
        w, x = weights.take(values), inputs.take(values)
        self._last_operands = (w, x)  # backward reads them again
        out = values[self.out]
        _add_runs(w * x, runs, out)
        if self.bias is not None:
            out += self.bias.take(values)

    def backward(self, values, grads, leaves, leaf_grads) -> None:
        grad = grads[self.out]
        w, x = self._last_operands  # of this batch's forward
        # d/dw = x, d/dx = w: a zero one adds exactly 0, whatever the gradient (against a
        # finite gradient the plain product already does)
        times = np.multiply if all_finite(grad) else masked_product
        if self._runs is not None:  # the real products alone, each with its node's gradient
            weights, inputs, _, nodes = self._runs
            node_grad = grad.take(nodes, axis=0)
            if self._need_grad[0]:
                weights.add_into(grads, times(x, node_grad))
            if self._need_grad[1]:
                inputs.add_into(grads, times(w, node_grad))
            if self.bias is not None:
                self.bias.add_into(grads, grads[self.out].copy())
            return
        # a dot of rows with themselves (rmsnorm's x . x): both gradients are the same
        # numbers, computed once and added twice (weights' first, as the loop below)
        previous = None
        for operand, positions, scatter, need_grad in zip(
            (x, w), (self.weights, self.inputs), self._scatters, self._need_grad
        ):
            if need_grad:
                same = self._same_operands and previous is not None
                previous = self._add_gradient(
                    operand, positions, scatter, grad, grads, times, previous if same else None
                )
        if self.bias is not None:
            self.bias.add_into(grads, grads[self.out].copy())  # a copy: not added into itself

    def _add_gradient(self, operand, positions, scatter, grad, grads, times, contributions):
        """Add one operand's gradient (the other operand times the nodes' gradient) into
        grads, as `scatter` says (_term_scatter); `contributions`, if given, are those
        products already made. Returns the products."""
        entries_count = self.k * self.n
        if scatter is None:  # node-major, as the positions list them
            if contributions is None:
                contributions = times(operand, grad).transpose(1, 0, 2)
            positions.add_into(grads, contributions.reshape(entries_count, -1))
            return contributions
        rows, entries, nodes = scatter
        if contributions is None and entries is None:
            contributions = times(operand, grad)
        elif contributions is None:
            read = operand.reshape(entries_count, -1).take(entries, axis=0)
            contributions = times(read, grad.take(nodes, axis=0))
        if rows is None:  # a block of rows, each once: added into as a term-major view
            self._term_major(grads, positions, positions)[...] += contributions
        else:
            rows.add_into(grads, contributions.reshape(-1, grads.shape[1]))
        return contributions

    def describe(self) -> str:
        return f"dot x{self.k} of {self.n} (per sample)"
