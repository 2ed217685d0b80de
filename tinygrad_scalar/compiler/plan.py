"""Planning: from a traced graph to rows of a buffer and groups over them, in depth order.

Nodes of one rule at one depth (and with the same layout) share a group key; each group
becomes one NumPy operation (see groups.py). Every node gets a row of the `(rows, batch)`
buffer: leaves used as values first, then the batch inputs, then each group's outputs.
"""

from __future__ import annotations

import itertools
import math
from operator import attrgetter
from typing import Any, Iterable, NamedTuple

import numpy as np

from .. import rules
from ..engine import Value, topological_order
from .groups import DotGroup, ElementwiseGroup, LayerGroup, Positions, SumGroup

# --- planning: from the traced graph to groups over rows ----------------------------------


# Sums, per-sample dots and max_shifts of at most this many inputs share a group whatever
# their number of inputs (attention's, one more key per position): each node's inputs are
# padded to the group's widest with a constant that changes nothing. A sum or dot adds
# left to right from 0.0, so its result is never -0.0 and a trailing + 0.0 (or 0.0 * 0.0)
# leaves it exactly as it was, inf and nan included; maximum(m, -inf) is m, nan included.
PAD_ARITY = 8


# Rules whose local derivatives are all a constant 0: their nodes' gradients go nowhere.
_SENDS_NOTHING_BACK = (rules.MAX_SHIFT, rules.STOP_GRADIENT)


def _arity_class(n: int) -> int:
    """The arity part of a padded kind's group key: 0 for every small n."""
    return 0 if n <= PAD_ARITY else n


class _GroupKey(NamedTuple):
    """Nodes with equal keys run together. `kind` is "layer" (dot with leaf weights, as a
    matrix product), "dot" (any other dot), "sum" or "elementwise"; `variant` tells
    apart what one NumPy call cannot mix (the rule; the bias and the shared inputs)."""

    depth: int
    in_loss_graph: bool  # False for nodes only an extra output needs: no backward
    kind: str
    arity: int
    variant: Any


def _differentiated(loss: Value) -> set:
    """The nodes backward walks from the loss: every node it depends on, but not through a
    stop_gradient node (detach and no_grad while tracing), as eagerly, where those are
    leaves. (Walked, an infinite local derivative below one would meet a zero gradient and
    send nan down.)"""
    walked: set = set()
    stack = [loss]
    while stack:
        node = stack.pop()
        if node not in walked:
            walked.add(node)
            if node.rule is not rules.STOP_GRADIENT:
                stack.extend(node.parents)
    return walked


class Plan:
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
        loss_graph = _differentiated(loss)

        # the leaf vector: parameters first (their values change every step), then constants
        self.param_index = {p: i for i, p in enumerate(params)}
        placeholder_set = {v for row in placeholders for v in row}
        self.leaf_index = dict(self.param_index)
        # the padding constants (see PAD_ARITY); a row only where some group is padded
        self._padding = {0.0: Value(0.0), -math.inf: Value(-math.inf)}
        for pad in self._padding.values():
            self.leaf_index[pad] = len(self.leaf_index)
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

        # constants and batch inputs: rows whose gradient nothing reads (a parameter's row
        # is summed into its .grad), so the groups need not compute it (skip_gradients_into)
        self.gradient_free_rows = range(self.param_rows_count, len(self.row))

        built = []  # (in loss graph, group), in depth order
        # stable: first seen first. Nodes of one depth never depend on each other, so a
        # depth's groups are all ordered (by the rows of earlier depths) before any is numbered
        by_depth = attrgetter("depth")
        for _, keys in itertools.groupby(sorted(groups, key=by_depth), by_depth):
            pending: list[tuple[_GroupKey, list[list[Value]]]] = []
            layers: dict[tuple, list[list[Value]]] = {}
            for key in keys:
                members = self._ordered(key, groups[key])
                if key.kind == "layer":
                    # layers with the same weights on other inputs (a transformer's positions)
                    # run as one batched matrix product: one set of inputs each
                    signature = self._layer_signature(key, members)
                    if signature in layers:
                        layers[signature].append(members)
                        continue
                    sets = layers[signature] = [members]
                else:
                    sets = [members]
                pending.append((key, sets))
            for key, sets in pending:
                start = len(self.row)
                for members in sets:
                    for node in members:
                        self.row[node] = len(self.row)
                group = self._build(key, sets, slice(start, len(self.row)))
                built.append((key.in_loss_graph, group))
        self.groups = [group for _, group in built]
        # rows whose gradient nothing reads: those above, and the outputs of rules whose
        # local derivatives are all 0 (softmax's max_shift, stop_gradient), which send
        # nothing back (so the shift subtracted from every logit is not given a gradient)
        unread = np.zeros(len(self.row), dtype=bool)
        unread[self.gradient_free_rows.start : self.gradient_free_rows.stop] = True
        for group in self.groups:
            if isinstance(group, ElementwiseGroup) and group.rule in _SENDS_NOTHING_BACK:
                unread[group.out] = True
        for group in self.groups:
            group.skip_gradients_into(unread)
        self.backward_groups = [group for in_loss, group in reversed(built) if in_loss]
        self.n_rows = len(self.row)
        self.loss_row = self.row[loss]
        self.output_rows = np.array([self.row[v] for v in outputs], dtype=np.intp)
        self.n_nodes = len(order)
        self.depth = max(depth.values())

    def forget_nodes(self) -> None:
        """Drop the maps keyed by traced nodes, once the step has read what it needs: a
        kept plan must not keep the whole traced graph alive."""
        self.row.clear()
        self.param_index.clear()
        self.leaf_index.clear()
        self.layer_operands.clear()
        self._padding.clear()

    def _is_leaf_value(self, v: Value) -> bool:
        """A parameter or a constant: one number for the whole batch."""
        return v in self.leaf_index

    def _group_key(self, node: Value, depth: int, in_loss_graph: bool) -> _GroupKey:
        rule, parents = node._rule, node.parents
        if rule is rules.DOT and len(parents) == 1:  # dot([], [], b) is 0.0 + b: a sum of one
            return _GroupKey(depth, in_loss_graph, "sum", 1, None)
        if rule is rules.DOT:
            weights, inputs, bias = rules.dot_operands(parents)
            n = len(weights)
            leafy = self._is_leaf_value
            if not all(map(leafy, weights)) and all(map(leafy, inputs)):
                weights, inputs = inputs, weights  # dot(x, w) written the other way round
            if all(map(leafy, weights)):
                self.layer_operands[node] = (weights, inputs, bias)
                bias_kind = "none" if bias is None else ("leaf" if leafy(bias) else "row")
                variant = (bias_kind, tuple(map(id, inputs)))  # a layer shares its inputs
                return _GroupKey(depth, in_loss_graph, "layer", n, variant)
            return _GroupKey(depth, in_loss_graph, "dot", _arity_class(n), bias is not None)
        if rule is rules.SUM:
            return _GroupKey(depth, in_loss_graph, "sum", _arity_class(len(parents)), None)
        if rule is rules.MAX_SHIFT:
            return _GroupKey(depth, in_loss_graph, "elementwise", _arity_class(len(parents)), rule)
        return _GroupKey(depth, in_loss_graph, "elementwise", len(parents), rule)

    def _padded_operands(self, key: _GroupKey, members: list[Value]) -> list[list[Value]]:
        """Each member's inputs, padded to the group's widest (see PAD_ARITY): for a dot
        its weights, then its inputs, then its bias if it has one."""
        if key.kind == "dot":
            operands = [rules.dot_operands(v.parents) for v in members]
            n = max(len(weights) for weights, _, _ in operands)
            zero = self._padding[0.0]
            return [
                [*weights, *[zero] * (n - len(weights)), *inputs, *[zero] * (n - len(inputs)),
                 *([] if bias is None else [bias])]
                for weights, inputs, bias in operands
            ]  # fmt: skip
        n = max(len(v.parents) for v in members)
        pad = [self._padding[-math.inf if key.variant is rules.MAX_SHIFT else 0.0]]
        return [[*v.parents, *pad * (n - len(v.parents))] for v in members]

    def _is_padded(self, key: _GroupKey) -> bool:
        return key.kind in ("dot", "sum") or (
            key.kind == "elementwise" and key.variant is rules.MAX_SHIFT
        )

    def _leaves_used_as_values(self, groups: dict, roots: list) -> set:
        """Parameters and constants that need a row: all but a layer's weights and
        leaf biases, which the matrix product reads from the leaf vector directly."""
        used = set(roots)
        for key, members in groups.items():
            if self._is_padded(key):
                for operands in self._padded_operands(key, members):
                    used.update(operands)
                continue
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
        ordered = sorted(leaves, key=self.leaf_index.__getitem__)  # parameters come first
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

    def _rows(self, nodes: Iterable[Value]) -> Positions:
        return Positions([self.row[v] for v in nodes])

    def _layer_signature(self, key: _GroupKey, members: list[Value]) -> tuple:
        """Layer groups of one depth with equal signatures share their weight matrix (and
        leaf biases): they differ only in their inputs."""
        operands, leaf_index = self.layer_operands, self.leaf_index
        weights = tuple(leaf_index[w] for v in members for w in operands[v][0])
        bias_kind = key.variant[0]
        biases = tuple(leaf_index[operands[v][2]] for v in members) if bias_kind == "leaf" else ()
        return (key.in_loss_graph, bias_kind, key.arity, weights, biases)

    def _build(self, key: _GroupKey, sets: list[list[Value]], out: slice) -> Any:
        members = sets[0]  # a layer may have several sets of inputs; other groups one
        k, n = len(members), key.arity
        if key.kind == "layer":
            weights = [w for v in members for w in self.layer_operands[v][0]]
            inputs = [x for nodes in sets for x in self.layer_operands[nodes[0]][1]]
            biases = [self.layer_operands[v][2] for nodes in sets for v in nodes]
            bias_kind = key.variant[0]
            bias = None
            if bias_kind == "leaf":  # the same leaves for every set of inputs
                bias = Positions([self.leaf_index[b] for b in biases[:k]])
            elif bias_kind == "row":
                bias = self._rows(biases)
            return LayerGroup(
                weights=Positions([self.leaf_index[w] for w in weights]),
                inputs=self._rows(inputs),
                bias=bias,
                bias_is_leaf=bias_kind == "leaf",
                k=k,
                n=n,
                out=out,
                weights_need_grad=any(w in self.param_index for w in weights),
                sets=len(sets),
            )
        if not self._is_padded(key):
            operands = [self._rows(v.parents[i] for v in members) for i in range(n)]
            return ElementwiseGroup(key.variant, operands, out)
        padded = self._padded_operands(key, members)
        if key.kind == "dot":
            dots = [rules.dot_operands(parents) for parents in padded]
            return DotGroup(
                self._rows(w for dot_weights, _, _ in dots for w in dot_weights),
                self._rows(x for _, dot_inputs, _ in dots for x in dot_inputs),
                self._rows(dot_bias for _, _, dot_bias in dots) if key.variant else None,
                k,
                len(dots[0][0]),
                out,
                padding_row=self.row.get(self._padding[0.0]),
            )
        n = len(padded[0])
        if key.kind == "sum":
            terms = self._rows(p for parents in padded for p in parents)
            return SumGroup(terms, k, n, out, padding_row=self.row.get(self._padding[0.0]))
        operands = [self._rows(parents[i] for parents in padded) for i in range(n)]
        return ElementwiseGroup(key.variant, operands, out)
