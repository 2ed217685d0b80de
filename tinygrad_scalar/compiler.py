"""Compile a per-sample scalar graph into vectorized NumPy: trace once, replay over a batch.

`compile(fn, params, example)` calls `fn` once on placeholder Values and records the graph
behind the loss. Nodes of one rule at one depth form a group that runs as one NumPy call
on a `(rows, batch)` buffer, evaluating the rule's own forward and derivatives from
rules.py on the `arrays` backend below, so compiled and eager numbers come from the same
definitions. A layer of `dot` nodes with leaf weights runs as one matrix product; `sum`
and `dot` keep that matrix layout (layout, not another copy of a derivative). An int
example makes an integer input: `take(rows, i)` with it gathers each sample's own row.

While `fn` is traced, a Python branch on a Value computed from the inputs (`if x > 0`,
`float(x)`, `rows[x]`) raises TracerError instead of being frozen at the example's path,
and the checks losses make on labels (`engine.require`) are recorded and made on every
batch. A leaf that is neither a parameter nor a placeholder is a constant. Gradients are
first order; sums and matrix products add in another order than Python's loop, so
results agree with eager to rounding (about 1e-15 relative per op).
"""

from __future__ import annotations

import inspect
import numbers
from operator import attrgetter
from typing import Any, Callable, Iterable, NamedTuple, Sequence

import numpy as np

from . import rules
from .engine import TracerError, Value, enable_grad, topological_order, tracing

__all__ = ["CompiledByShape", "CompiledStep", "compile", "compile_by_shape"]

_get_data = attrgetter("data")


# --- the array backend: the rules of rules.py, evaluated on whole batches -------------------
# Every elementwise group runs its rule's own forward and derivatives functions with `o` =
# `arrays`, on arrays of shape (nodes, batch). Nothing here knows any op's derivative.


class arrays:  # noqa: N801 - the NumPy backend `o`, like rules.floats
    """NumPy functions with the float backend's IEEE results (run under np.errstate)."""

    exp, log, log1p, sqrt, tanh = np.exp, np.log, np.log1p, np.sqrt, np.tanh
    sin, cos, abs, maximum, minimum = np.sin, np.cos, np.abs, np.maximum, np.minimum
    div, eq = np.divide, np.equal

    @staticmethod
    def sigmoid(x: np.ndarray) -> np.ndarray:
        # as floats.sigmoid: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below, so exp never
        # overflows; e^-|x| is exactly the exponential each branch needs.
        e = np.exp(-np.abs(x))
        return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))

    @staticmethod
    def power(a: Any, b: Any) -> Any:
        # NumPy computes x ** 0.5 as sqrt(x), which differs from C's pow (math.pow) at -inf
        # (nan instead of inf) and at -0 (-0 instead of +0); abs(x) is pow's value there.
        out = np.power(a, b)
        return np.where((np.equal(b, 0.5)) & ((a == -np.inf) | (a == 0.0)), np.abs(a), out)

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Any:
        return np.where(cond, a, b)

    @staticmethod
    def select(index: np.ndarray, xs: Sequence[np.ndarray]) -> np.ndarray:
        # each sample (and node) picks its own input: a gather along a new first axis. An
        # index out of range is reported by take's batch check once forward is done.
        picks = np.clip(index, 0, len(xs) - 1).astype(np.intp)[None]
        return np.take_along_axis(np.stack(np.broadcast_arrays(*xs)), picks, axis=0)[0]


def _evaluate(rule: rules.Rule, inputs: list) -> np.ndarray:
    try:
        out = rule.evaluate(arrays, inputs)
    except ValueError as error:
        if "truth value of an array" not in str(error):
            raise
        raise TracerError(
            f"compile: rule {rule.name!r} branches in Python on a value ('if', 'and', 'or');"
            " write the choice with o.where(cond, a, b) so it is made per sample"
        ) from None
    return np.broadcast_to(out, np.broadcast(*inputs).shape) if np.ndim(out) == 0 else out


# --- positions in a buffer -------------------------------------------------------------------


class _Positions:
    """Row positions in a buffer (rows of the values, or entries of the parameter vector),
    read and accumulated into as cheaply as their pattern allows: a contiguous run becomes
    a slice (a view, no copy); repeated positions are summed before they are added."""

    __slots__ = ("index", "_unique", "_order", "_starts")

    def __init__(self, positions: Sequence[int]) -> None:
        positions = np.asarray(positions, dtype=np.intp)
        first = int(positions[0])
        self._unique = self._order = self._starts = None
        if np.array_equal(positions, np.arange(first, first + len(positions))):
            self.index: Any = slice(first, first + len(positions))
            return
        self.index = positions
        unique, first_seen = np.unique(positions, return_index=True)
        if len(unique) < len(positions):  # a repeated position: sum its contributions first
            self._order = np.argsort(positions, kind="stable")
            self._starts = np.searchsorted(positions[self._order], unique)
            self._unique = unique

    def take(self, buffer: np.ndarray) -> np.ndarray:
        return buffer[self.index]

    def add_into(self, buffer: np.ndarray, contributions: Any) -> None:
        if self._unique is None:
            buffer[self.index] += contributions
            return
        contributions = np.broadcast_to(contributions, (len(self.index),) + buffer.shape[1:])
        summed = np.add.reduceat(contributions[self._order], self._starts, axis=0)
        buffer[self._unique] += summed


# --- groups: one NumPy operation per op and level --------------------------------------------
# Each group has forward(values, leaves) and backward(values, grads, leaves, leaf_grads):
# `values` and `grads` are (rows, batch); `leaves` is the vector of parameter and constant
# values and `leaf_grads` its gradient (only the parameters' part is used).


class _Elementwise:
    """k nodes of the same elementwise rule: out[i] = rule(inputs[0][i], inputs[1][i], ...).
    An n-ary rule (logsumexp) gets its n input blocks as one list, as in the engine."""

    def __init__(self, rule: rules.Rule, inputs: list, out: slice) -> None:
        self.rule, self.inputs, self.out = rule, inputs, out

    def forward(self, values: np.ndarray, leaves: np.ndarray) -> None:
        values[self.out] = _evaluate(self.rule, [p.take(values) for p in self.inputs])

    def backward(self, values, grads, leaves, leaf_grads) -> None:
        grad = grads[self.out]
        inputs = [p.take(values) for p in self.inputs]
        local_grads = self.rule.local_derivatives(arrays, values[self.out], inputs)
        # a local derivative of exactly 0 adds exactly 0, even to an inf or nan gradient
        # (as engine.backpropagate does)
        finite = np.isfinite(grad).all()
        for positions, local in zip(self.inputs, local_grads):
            contribution = local * grad if finite else np.where(local == 0.0, 0.0, local * grad)
            positions.add_into(grads, contribution)

    def describe(self) -> str:
        return f"{self.rule.name} x{self.out.stop - self.out.start}"


class _Sum:
    """k n-ary sums with n inputs each."""

    def __init__(self, inputs: _Positions, k: int, n: int, out: slice) -> None:
        self.inputs, self.k, self.n, self.out = inputs, k, n, out

    def forward(self, values, leaves) -> None:
        terms = self.inputs.take(values).reshape(self.k, self.n, -1)
        np.sum(terms, axis=1, out=values[self.out])

    def backward(self, values, grads, leaves, leaf_grads) -> None:
        grad = grads[self.out]  # d sum / d term = 1 for every term
        spread = np.broadcast_to(grad[:, None, :], (self.k, self.n, grad.shape[1]))
        self.inputs.add_into(grads, spread.reshape(self.k * self.n, -1))

    def describe(self) -> str:
        return f"sum x{self.k} of {self.n}"


class _Layer:
    """k dot nodes whose weights are leaves and whose inputs are the same n nodes:
    out = W @ X (+ bias), W (k, n) from the leaf vector, X (n, batch) from the rows."""

    def __init__(self, weights, inputs, bias, bias_is_leaf, k, n, out, weights_need_grad):
        self.weights = weights  # _Positions into the leaf vector, k * n entries, row-major
        self.inputs = inputs  # _Positions of the n input rows
        self.bias = bias  # None, or _Positions (leaf vector if bias_is_leaf, else rows)
        self.bias_is_leaf = bias_is_leaf
        self.k, self.n, self.out = k, n, out
        self.weights_need_grad = weights_need_grad

    def forward(self, values, leaves) -> None:
        w = self.weights.take(leaves).reshape(self.k, self.n)
        out = values[self.out]
        np.matmul(w, self.inputs.take(values), out=out)
        if self.bias is not None:
            bias = self.bias.take(leaves)[:, None] if self.bias_is_leaf else self.bias.take(values)
            out += bias

    def backward(self, values, grads, leaves, leaf_grads) -> None:
        grad = grads[self.out]
        x = self.inputs.take(values)
        w = self.weights.take(leaves).reshape(self.k, self.n)
        if self.weights_need_grad:
            self.weights.add_into(leaf_grads, (grad @ x.T).ravel())
        self.inputs.add_into(grads, w.T @ grad)
        if self.bias is not None:
            if self.bias_is_leaf:
                self.bias.add_into(leaf_grads, grad.sum(axis=1))
            else:
                self.bias.add_into(grads, grad)

    def describe(self) -> str:
        bias = " + bias" if self.bias is not None else ""
        return f"matmul ({self.k} x {self.n}) @ ({self.n} x batch){bias}"


class _Dot:
    """k dot nodes of n terms in general (weights computed per sample, inputs differing)."""

    def __init__(self, weights, inputs, bias, k, n, out) -> None:
        self.weights, self.inputs, self.bias = weights, inputs, bias  # _Positions of rows
        self.k, self.n, self.out = k, n, out

    def _operands(self, values):
        w = self.weights.take(values).reshape(self.k, self.n, -1)
        x = self.inputs.take(values).reshape(self.k, self.n, -1)
        return w, x

    def forward(self, values, leaves) -> None:
        w, x = self._operands(values)
        out = values[self.out]
        np.sum(w * x, axis=1, out=out)
        if self.bias is not None:
            out += self.bias.take(values)

    def backward(self, values, grads, leaves, leaf_grads) -> None:
        grad = grads[self.out][:, None, :]
        w, x = self._operands(values)
        size = self.k * self.n
        self.weights.add_into(grads, (x * grad).reshape(size, -1))
        self.inputs.add_into(grads, (w * grad).reshape(size, -1))
        if self.bias is not None:
            self.bias.add_into(grads, grads[self.out])

    def describe(self) -> str:
        return f"dot x{self.k} of {self.n} (per sample)"


# --- the compiled step -----------------------------------------------------------------------


class CompiledStep:
    """A traced per-sample graph, replayed over whole batches with NumPy.

    Made by `compile(fn, params, example)`; see that function and the module docstring.
    """

    def __init__(self, fn: Callable[..., Any], params: Iterable[Value], example: Any) -> None:
        self._params = _checked_params(params)
        self._arg_widths, placeholders, roots, self._single_output, checks = _trace(fn, example)
        plan = _Plan(self._params, placeholders, roots, [check[0] for check in checks])
        # checks on batch values (labels, probabilities), made on every batch after forward
        self._checks = [(plan.row[node], holds, message, i) for node, holds, message, i in checks]
        self._argument_of_row = {
            row: (i, rows.stop - rows.start > 1 or self._arg_widths[i] not in (None, INDEX))
            for i, rows in enumerate(plan.arg_rows)
            for row in range(rows.start, rows.stop)
        }
        self._n_params = len(self._params)
        self._constants = plan.constants
        self._groups = plan.groups
        self._backward_groups = plan.backward_groups
        self._leaf_rows, self._leaf_rows_index = plan.leaf_rows, plan.leaf_rows_index
        self._param_rows_count = plan.param_rows_count
        self._arg_rows = plan.arg_rows
        self._n_rows, self._loss_row, self._output_rows = (
            plan.n_rows,
            plan.loss_row,
            plan.output_rows,
        )
        self._n_nodes, self._depth = plan.n_nodes, plan.depth
        self._buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    # --- running it -----------------------------------------------------------------

    def __call__(self, *batches: Any, return_outputs: bool = False) -> Any:
        """Forward and backward over the batch; returns the mean loss as a float (and,
        with `return_outputs=True`, the per-sample outputs as a NumPy array) and adds the
        gradient of the mean loss into each parameter's `.grad`."""
        values, grads, leaves = self._forward(batches, return_outputs)
        batch_size = values.shape[1]
        grads.fill(0.0)
        grads[self._loss_row] = 1.0 / batch_size  # d mean / d loss_i, as eager's sum * (1/n)
        leaf_grads = np.zeros_like(leaves)
        with np.errstate(all="ignore"):  # IEEE inf and nan, as in the eager engine
            for group in self._backward_groups:
                group.backward(values, grads, leaves, leaf_grads)
            if self._param_rows_count:  # parameters used as values: sum rows over the batch
                used = self._leaf_rows_index[: self._param_rows_count]
                leaf_grads[used] += grads[: self._param_rows_count].sum(axis=1)
        for param, grad in zip(self._params, leaf_grads[: self._n_params].tolist()):
            param.grad += grad
        return self._result(values, return_outputs)

    def evaluate(self, *batches: Any, return_outputs: bool = False) -> Any:
        """Like calling the step, but forward only: no parameter's `.grad` changes."""
        values, _, _ = self._forward(batches, return_outputs)
        return self._result(values, return_outputs)

    def _forward(self, batches: tuple, return_outputs: bool) -> tuple:
        if return_outputs and not len(self._output_rows):
            raise ValueError(
                "return_outputs=True needs fn to return (loss, outputs); it returned only a loss"
            )
        arrays, batch_size = self._checked_batches(batches)
        values, grads = self._buffers_for(batch_size)
        leaves = np.concatenate(
            (np.fromiter(map(_get_data, self._params), np.float64, self._n_params), self._constants)
        )
        values[self._leaf_rows] = leaves[self._leaf_rows_index][:, None]
        for rows, array in zip(self._arg_rows, arrays):
            values[rows] = array.T if array.ndim == 2 else array
        with np.errstate(all="ignore"):
            for group in self._groups:
                group.forward(values, leaves)
            for row, holds, message, index in self._checks:
                bad = np.flatnonzero(~np.asarray(holds(values[row]), dtype=bool))
                if len(bad):
                    raise ValueError(self._check_failure(row, int(bad[0]), values, message, index))
        return values, grads, leaves

    def _check_failure(self, row: int, sample: int, values: Any, message: Any, index: int) -> str:
        """The message of a failed batch check, naming the batch and position when the
        checked value is a batch input itself."""
        text = message(index, float(values[row, sample]))
        argument = self._argument_of_row.get(row)
        if argument is None:
            return f"sample {sample} of the batch: {text}"
        i, is_row = argument
        column = f", {row - self._arg_rows[i].start}" if is_row else ""
        return f"batch {i}[{sample}{column}]: {text}"

    def _result(self, values: np.ndarray, return_outputs: bool) -> Any:
        losses = values[self._loss_row]
        with np.errstate(all="ignore"):  # inf - inf is nan here too, without a warning
            mean = float(losses.sum()) * (1.0 / len(losses))
        if not return_outputs:
            return mean
        outputs = values[self._output_rows].T.copy()
        return mean, outputs[:, 0] if self._single_output else outputs

    def _buffers_for(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        buffers = self._buffers.get(batch_size)
        if buffers is None:
            if len(self._buffers) >= 4:  # a few sizes (full batches and the last one)
                self._buffers.clear()
            buffers = (np.empty((self._n_rows, batch_size)), np.empty((self._n_rows, batch_size)))
            self._buffers[batch_size] = buffers
        return buffers

    def _checked_batches(self, batches: tuple) -> tuple[list[np.ndarray], int]:
        widths = self._arg_widths
        if len(batches) != len(widths):
            raise ValueError(
                f"compiled step takes {len(widths)} batch(es), one per argument of fn,"
                f" got {len(batches)}"
            )
        arrays, batch_size = [], None
        for i, (batch, width) in enumerate(zip(batches, widths)):
            array = _numbers(batch, i)
            if width == INDEX:
                _check_whole_numbers(array, i)
            scalar = width is None or width == INDEX
            expected = "(batch,)" if scalar else f"(batch, {width})"
            fits = array.ndim == 1 if scalar else (array.ndim == 2 and array.shape[1] == width)
            if not fits:
                raise ValueError(
                    f"batch {i} has shape {array.shape}, but fn was traced with"
                    f" {'a number' if scalar else f'{width} numbers'} for argument {i}:"
                    f" expected {expected}"
                )
            if batch_size is None:
                batch_size = len(array)
            elif len(array) != batch_size:
                raise ValueError(f"batch {i} has {len(array)} samples but batch 0 has {batch_size}")
            arrays.append(array)
        if not batch_size:
            raise ValueError("the batch is empty: pass at least one sample")
        return arrays, batch_size

    def describe(self) -> str:
        """The plan, one line per group: which op runs over how many nodes."""
        lines = [repr(self)]
        lines += [f"  {i:3d}. {group.describe()}" for i, group in enumerate(self._groups)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"CompiledStep({self._n_nodes} nodes, depth {self._depth},"
            f" {len(self._groups)} vectorized groups, {self._n_params} params)"
        )


def _numbers(batch: Any, i: int) -> np.ndarray:
    """A batch as float64, refusing what is not a real number (None, strings, an int too
    large for a float) instead of turning it into nan or raising OverflowError."""
    try:
        array = np.asarray(batch)
    except (TypeError, ValueError) as error:  # ragged rows
        raise ValueError(f"batch {i} is not an array of numbers: {error}") from None
    if array.dtype.kind not in "iuf":  # bools are refused too, as the eager losses do
        # as the objects given: NumPy makes [1.0, "2"] an array of strings, losing which is bad
        for position, x in np.ndenumerate(np.asarray(batch, dtype=object)):
            if isinstance(x, bool) or not isinstance(x, numbers.Real) or isinstance(x, Value):
                where = ", ".join(map(str, position))
                raise ValueError(f"batch {i}[{where}] is not a number: {x!r:.60}")
            try:
                float(x)
            except OverflowError:
                raise ValueError(
                    f"batch {i}[{', '.join(map(str, position))}] is too large for a float"
                ) from None
    return array.astype(np.float64, copy=False)


def _check_whole_numbers(array: np.ndarray, i: int) -> None:
    """An integer input's batch holds whole numbers: 2.0 is fine, 1.5 and nan are not."""
    if array.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(np.ravel(array != np.floor(array)))
        if len(bad):
            raise ValueError(
                f"batch {i}[{bad[0]}] is {float(np.ravel(array)[bad[0]])!r}, not a whole number:"
                f" argument {i} was traced with an int, so it is an integer input"
            )


# --- planning: from the traced graph to groups over rows ----------------------------------


class _GroupKey(NamedTuple):
    """Nodes with equal keys run together. `kind` is "layer" (dot with leaf weights, as a
    matrix product), "dot" (any other dot), "sum" or "elementwise"; `variant` tells
    apart what one NumPy call cannot mix (the rule; the bias and the shared inputs)."""

    depth: int
    in_loss_graph: bool  # False for nodes only an extra output needs: no backward
    kind: str
    arity: int
    variant: Any


class _Plan:
    """Numbers every node's row and builds the groups, in depth order.

    Rows: first the parameters and constants that are used as values (filled from the
    leaf vector each call), then the placeholders argument by argument, then each group's
    outputs as one contiguous block.
    """

    def __init__(
        self, params: list[Value], placeholders: list[list[Value]], roots: list, checked: list
    ) -> None:
        loss, outputs = roots[0], roots[1:]
        order = topological_order(*roots, *checked)
        loss_graph = set(topological_order(loss))

        # the leaf vector: parameters first (their values change every step), then constants
        self.param_index = {p: i for i, p in enumerate(params)}
        placeholder_set = {v for row in placeholders for v in row}
        self.leaf_index = dict(self.param_index)
        for node in order:
            if not node.parents and node not in placeholder_set and node not in self.leaf_index:
                self.leaf_index[node] = len(self.leaf_index)
        self.constants = np.array(
            [v.data for v in list(self.leaf_index)[len(params) :]], dtype=np.float64
        )

        # depth of every node, and the groups
        depth: dict[Value, int] = {}
        groups: dict[_GroupKey, list[Value]] = {}
        self.layer_operands: dict[Value, tuple] = {}  # dot node -> (weights, inputs, bias)
        for node in order:
            if not node.parents:
                depth[node] = 0
                continue
            depth[node] = 1 + max(depth[p] for p in node.parents)
            key = self._group_key(node, depth[node], node in loss_graph)
            groups.setdefault(key, []).append(node)

        self.row: dict[Value, int] = {}
        self._number_leaf_rows(self._leaves_used_as_values(groups, roots))
        self.arg_rows = []
        for arg in placeholders:
            start = len(self.row)
            for v in arg:
                self.row[v] = len(self.row)
            self.arg_rows.append(slice(start, len(self.row)))

        built = []  # (in loss graph, group), in depth order
        for key in sorted(groups, key=attrgetter("depth")):  # stable: first seen first
            members = self._ordered(key, groups[key])
            start = len(self.row)
            for node in members:
                self.row[node] = len(self.row)
            built.append(
                (key.in_loss_graph, self._build(key, members, slice(start, len(self.row))))
            )
        self.groups = [group for _, group in built]
        self.backward_groups = [group for in_loss, group in reversed(built) if in_loss]
        self.n_rows = len(self.row)
        self.loss_row = self.row[loss]
        self.output_rows = np.array([self.row[v] for v in outputs], dtype=np.intp)
        self.n_nodes = len(order)
        self.depth = max(depth.values())

    def _is_leaf_value(self, v: Value) -> bool:
        """A parameter or a constant: one number for the whole batch."""
        return v in self.leaf_index

    def _group_key(self, node: Value, depth: int, in_loss_graph: bool) -> _GroupKey:
        rule, parents = node._rule, node.parents
        if rule is rules.DOT:
            n = len(parents) // 2
            weights, inputs = parents[:n], parents[n : 2 * n]
            bias = parents[2 * n] if len(parents) % 2 else None
            leafy = self._is_leaf_value
            if not all(map(leafy, weights)) and all(map(leafy, inputs)):
                weights, inputs = inputs, weights  # dot(x, w) written the other way round
            if all(map(leafy, weights)):
                self.layer_operands[node] = (weights, inputs, bias)
                bias_kind = "none" if bias is None else ("leaf" if leafy(bias) else "row")
                variant = (bias_kind, tuple(map(id, inputs)))  # a layer shares its inputs
                return _GroupKey(depth, in_loss_graph, "layer", n, variant)
            return _GroupKey(depth, in_loss_graph, "dot", n, bias is not None)
        if rule is rules.SUM:
            return _GroupKey(depth, in_loss_graph, "sum", len(parents), None)
        return _GroupKey(depth, in_loss_graph, "elementwise", len(parents), rule)

    def _leaves_used_as_values(self, groups: dict, roots: list) -> set:
        """Parameters and constants that need a row: all but a layer's weights and
        leaf biases, which the matrix product reads from the leaf vector directly."""
        used = set(roots)
        for key, members in groups.items():
            for node in members:
                if key.kind != "layer":
                    used.update(node.parents)
                    continue
                weights, inputs, bias = self.layer_operands[node]
                used.update(inputs)
                if bias is not None and not self._is_leaf_value(bias):
                    used.add(bias)
        return {v for v in used if self._is_leaf_value(v)}

    def _number_leaf_rows(self, leaves: set) -> None:
        ordered = sorted(leaves, key=self.leaf_index.get)  # parameters come first
        for v in ordered:
            self.row[v] = len(self.row)
        self.leaf_rows = slice(0, len(ordered))
        self.leaf_rows_index = np.array([self.leaf_index[v] for v in ordered], dtype=np.intp)
        self.param_rows_count = sum(1 for v in ordered if v in self.param_index)

    def _ordered(self, key: _GroupKey, members: list[Value]) -> list[Value]:
        """Order a group's nodes so that rows stay contiguous from one level to the next:
        a layer by its weights (the order of the parameters, so neuron order), any other
        group by the rows of its inputs (so tanh after a layer keeps the neurons' order)."""
        if key.kind == "layer":
            leaf_index, operands = self.leaf_index, self.layer_operands
            return sorted(members, key=lambda v: [leaf_index[w] for w in operands[v][0]])
        return sorted(members, key=lambda v: [self.row[p] for p in v.parents])

    def _rows(self, nodes: Iterable[Value]) -> _Positions:
        return _Positions([self.row[v] for v in nodes])

    def _build(self, key: _GroupKey, members: list[Value], out: slice) -> Any:
        k, n = len(members), key.arity
        if key.kind == "layer":
            weights = [w for v in members for w in self.layer_operands[v][0]]
            inputs = self.layer_operands[members[0]][1]
            biases = [self.layer_operands[v][2] for v in members]
            bias_kind = key.variant[0]
            bias = None
            if bias_kind == "leaf":
                bias = _Positions([self.leaf_index[b] for b in biases])
            elif bias_kind == "row":
                bias = self._rows(biases)
            return _Layer(
                weights=_Positions([self.leaf_index[w] for w in weights]),
                inputs=self._rows(inputs),
                bias=bias,
                bias_is_leaf=bias_kind == "leaf",
                k=k,
                n=n,
                out=out,
                weights_need_grad=any(w in self.param_index for w in weights),
            )
        if key.kind == "dot":
            weights = self._rows(p for v in members for p in v.parents[:n])
            inputs = self._rows(p for v in members for p in v.parents[n : 2 * n])
            bias = self._rows(v.parents[-1] for v in members) if key.variant else None
            return _Dot(weights, inputs, bias, k, n, out)
        if key.kind == "sum":
            return _Sum(self._rows(p for v in members for p in v.parents), k, n, out)
        inputs = [self._rows(v.parents[i] for v in members) for i in range(n)]
        return _Elementwise(key.variant, inputs, out)


# --- tracing ---------------------------------------------------------------------------------


def _checked_params(params: Iterable[Value]) -> list[Value]:
    if isinstance(params, Value):
        params = [params]
    try:
        params = list(params)
    except TypeError:
        raise TypeError(
            f"compile: params must be a list of Values, got {type(params).__name__}"
        ) from None
    unique, seen = [], set()
    for i, p in enumerate(params):
        if not isinstance(p, Value):
            raise TypeError(f"compile: params[{i}] is not a Value: {type(p).__name__}")
        if p.parents:
            raise ValueError(
                f"compile: params[{i}] ({p!r:.60}) is not a leaf; parameters are leaf Values"
                " (computed Values are part of the traced graph)"
            )
        if p not in seen:  # a parameter listed twice gets its gradient once
            seen.add(p)
            unique.append(p)
    return unique


INDEX = "index"  # the width of an integer input


def _sample_argument(value: Any, i: int) -> int | str | None:
    """None for a number, INDEX for an int (an integer input), the length for a flat
    sequence of numbers (checked)."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"compile: example argument {i} is a string; pass numbers")
    if isinstance(value, Value):
        raise TypeError(
            f"compile: example argument {i} is a Value; pass plain numbers, compile makes"
            " the placeholder Values"
        )
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return INDEX
    array = np.asarray(value, dtype=object)
    if array.ndim == 0 and isinstance(array.item(), numbers.Real):  # also a 0-d array
        return None
    if array.ndim != 1 or not all(
        isinstance(x, numbers.Real) and not isinstance(x, Value) for x in array
    ):
        raise TypeError(
            f"compile: example argument {i} must be a number or a flat sequence of numbers,"
            f" got {type(value).__name__}"
        )
    if len(array) == 0:
        raise ValueError(f"compile: example argument {i} is an empty sequence")
    return len(array)


def _trace(fn: Callable[..., Any], example: Any) -> tuple:
    """Run fn once on placeholders; (argument widths, placeholders per argument, roots)."""
    if not callable(fn):
        raise TypeError(f"compile: fn must be callable, got {type(fn).__name__}")
    if not isinstance(example, (tuple, list)):
        raise TypeError(
            "compile: example must be a tuple with one sample argument per argument of fn,"
            f" e.g. (x_row, y); got {type(example).__name__}"
        )
    if not example:
        raise ValueError("compile: example is empty; fn needs at least one sample argument")
    try:
        inspect.signature(fn).bind(*example)
    except TypeError as error:
        raise TypeError(
            f"compile: example has {len(example)} argument(s), which does not fit fn: {error}"
        ) from None
    except ValueError:  # no signature available (some builtins): let the call decide
        pass
    widths = [_sample_argument(value, i) for i, value in enumerate(example)]
    placeholders: list[list[Value]] = []
    arguments: list[Any] = []
    indices = set()
    for i, (value, width) in enumerate(zip(example, widths)):
        if width == INDEX:
            v = Value(float(value), f"input{i}")
            placeholders.append([v])
            arguments.append(v)
            indices.add(v)
        elif width is None:
            v = Value(float(value), f"input{i}")
            placeholders.append([v])
            arguments.append(v)
        else:
            row = [Value(float(x), f"input{i}[{j}]") for j, x in enumerate(value)]
            placeholders.append(row)
            arguments.append(row)
    tracer = _Tracer({v for row in placeholders for v in row}, indices)
    with enable_grad(), tracing(tracer):
        result = fn(*arguments)
    loss, outputs, single = _split_result(result)
    return widths, placeholders, [loss, *outputs], single, tracer.checks


class _Tracer:
    """What engine.tracing needs while fn runs: the placeholders (a Python branch on a
    Value computed from them is an error) and the checks `engine.require` records."""

    def __init__(self, placeholders: set, indices: set) -> None:
        self.placeholders = placeholders
        self.indices = indices  # the integer inputs, which `take` accepts as an index
        self.checks: list[tuple] = []  # (node, holds, message, index)

    def require(self, node: Value, holds: Callable, message: Callable, index: int) -> None:
        self.checks.append((node, holds, message, index))


def _split_result(result: Any) -> tuple[Value, list[Value], bool]:
    if isinstance(result, Value):
        return result, [], False
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], Value):
        loss, outputs = result
        if isinstance(outputs, Value):
            return loss, [outputs], True
        if (
            isinstance(outputs, (list, tuple))
            and outputs
            and all(isinstance(v, Value) for v in outputs)
        ):
            return loss, list(outputs), False
    raise TypeError(
        "compile: fn must return the per-sample loss as a Value, or a pair (loss, outputs)"
        f" with outputs a Value or a list of Values; got {type(result).__name__}"
    )


def compile(  # noqa: A001 - tinygrad_scalar.compile, as torch.compile
    fn: Callable[..., Any], params: Iterable[Value], example: Sequence[Any]
) -> CompiledStep:
    """Trace `fn` once and return a step that runs it over whole batches with NumPy.

    `fn(*sample)` builds one sample's graph and returns its loss Value, or a pair
    `(loss, outputs)` with outputs a Value or a list of Values. `params` are the leaf
    Values shared by every sample (a list, or `model.parameters()`). `example` is a
    tuple with one argument per argument of `fn`, each a number or a flat sequence of
    numbers (a feature row); it fixes the graph's shape (see the module docstring).

    `step(*batches)` takes one batch per argument of `fn` (a sequence of numbers, or of
    rows of the traced width), returns the mean loss as a float and adds the gradient
    of the mean loss into every parameter's `.grad`, as `loss.backward()` would.
    `step(*batches, return_outputs=True)` returns `(mean_loss, outputs)`, outputs of
    shape (batch,) for a single output Value or (batch, k) for a list of k;
    `step.evaluate(*batches)` runs the forward pass only.

    >>> from tinygrad_scalar import Value, dot
    >>> w, b = [Value(0.5), Value(-1.0)], Value(0.25)
    >>> step = compile(lambda x, y: (dot(w, x, b) - y) ** 2, [*w, b], ([1.0, 2.0], 0.0))
    >>> step([[1.0, 2.0], [0.0, 1.0]], [0.0, 1.0])  # ((-1.25)**2 + (-1.75)**2) / 2
    2.3125
    """
    return CompiledStep(fn, params, example)


# --- one compiled step per shape: variable-length samples ---------------------------------


class CompiledByShape:
    """Compiled steps of `fn`, one per shape of sample, traced when a shape is first seen.

    Made by `compile_by_shape(fn, params)`; see that function.
    """

    def __init__(self, fn: Callable[..., Any], params: Iterable[Value], max_shapes: int) -> None:
        if not callable(fn):
            raise TypeError(f"compile_by_shape: fn must be callable, got {type(fn).__name__}")
        if isinstance(max_shapes, bool) or not isinstance(max_shapes, int) or max_shapes < 1:
            raise ValueError(
                f"compile_by_shape: max_shapes must be an int >= 1, got {max_shapes!r}"
            )
        self._fn = fn
        self._params = _checked_params(params)  # a generator is read once, here
        self.max_shapes = max_shapes
        self.traces = 0  # how many times fn was traced (a shape traced again after eviction counts)
        self._steps: dict[tuple, CompiledStep] = {}  # insertion order = least recently used first

    def __call__(self, *batches: Any, return_outputs: bool = False) -> Any:
        """Forward and backward over the batch with the step for its shape (see
        CompiledStep.__call__): the mean loss, and the gradient added into `.grad`."""
        return self.step_for(*batches)(*batches, return_outputs=return_outputs)

    def evaluate(self, *batches: Any, return_outputs: bool = False) -> Any:
        """Forward only, with the step for the batch's shape (see CompiledStep.evaluate)."""
        return self.step_for(*batches).evaluate(*batches, return_outputs=return_outputs)

    def step_for(self, *batches: Any) -> CompiledStep:
        """The CompiledStep for the batches' shape, traced on their first sample if new."""
        example = tuple(_first_sample(batch, i) for i, batch in enumerate(batches))
        shape = tuple(_sample_argument(value, i) for i, value in enumerate(example))
        step = self._steps.pop(shape, None)
        if step is None:
            step = CompiledStep(self._fn, self._params, example)
            self.traces += 1
            if len(self._steps) >= self.max_shapes:  # forget the least recently used shape
                del self._steps[next(iter(self._steps))]
        self._steps[shape] = step  # (re)inserted last: the most recently used
        return step

    @property
    def shapes(self) -> list[tuple]:
        """The cached shapes, least recently used first: per argument None (a number),
        "index" (an integer input) or the width of a row."""
        return list(self._steps)

    def __len__(self) -> int:
        return len(self._steps)

    def __repr__(self) -> str:
        return (
            f"CompiledByShape({len(self._steps)} shape(s) cached of at most {self.max_shapes},"
            f" {self.traces} trace(s), {len(self._params)} params)"
        )


def _first_sample(batch: Any, i: int) -> Any:
    """A batch's first sample, as compile's example takes it (a NumPy integer becomes an
    int, so an integer array is an integer input)."""
    if isinstance(batch, (str, bytes)) or not hasattr(batch, "__len__"):
        raise TypeError(
            f"batch {i} must be a sequence of samples (numbers or rows), got {type(batch).__name__}"
        )
    if len(batch) == 0:
        raise ValueError(f"batch {i} is empty: pass at least one sample")
    first = batch[0]
    if isinstance(first, numbers.Integral) and not isinstance(first, bool):
        return int(first)
    return first


def compile_by_shape(
    fn: Callable[..., Any], params: Iterable[Value], max_shapes: int = 64
) -> CompiledByShape:
    """Like `compile`, for samples whose shape varies: one CompiledStep per shape.

    A compiled step is traced for one shape of sample, for example documents of one
    length. This object traces `fn` again whenever a batch of a new shape comes, on that
    batch's first sample, and keeps the step for later batches of the same shape. The
    shape is the number of batches (arguments of `fn`, so `fn(*tokens)` takes one per
    token) and, per argument, what its first sample is: a number, an int (an integer
    input; an integer NumPy array counts as ints) or a row of some width. Every sample
    of a batch has its batch's shape: group samples by shape first.

    At most `max_shapes` steps are kept (64 by default; a step holds its buffers, a few
    MB for a large graph); past that the least recently used one is dropped and traced
    again if needed. `.traces` counts the traces made, `.shapes` lists the cached shapes.
    Calling it and `.evaluate(...)` work as on a CompiledStep.

    >>> import tinygrad_scalar as ts
    >>> table = [ts.Value(1.0), ts.Value(2.0), ts.Value(3.0)]
    >>> total = compile_by_shape(lambda *ids: ts.sum([ts.take(table, i) for i in ids]), table)
    >>> total([0, 2], [1, 1])  # two samples of two ids: (1 + 2 + 3 + 2) / 2
    4.0
    >>> total([0], [1], [2])  # one sample of three ids: a second shape, a second trace
    6.0
    >>> total.traces, total.shapes
    (2, [('index', 'index'), ('index', 'index', 'index')])
    """
    return CompiledByShape(fn, params, max_shapes)
