"""A Value's computation graph as a Graphviz drawing.

Each Value becomes a box showing its label, data and grad; each op becomes a small node of
its own between its inputs and its output, as in micrograd's drawings. Parameters, other
leaves (inputs and constants) and the output get different colours.

Labels are plain DOT strings (not HTML-like labels, which the WebAssembly build of Graphviz
does not support). Everything a user wrote (labels, parameter names) is escaped for a quoted
DOT string first, so no label can change the structure of the graph. Node ids come from the
topological order, so the same graph always gives the same DOT text.

This module only reads the graph: it never changes a Value.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import graphviz

from ..engine import Value
from . import render as _render

RANKDIRS = ("LR", "RL", "TB", "BT")

# Fill colours by the role a value plays in the graph.
COLOURS = {
    "parameter": "#cfe2ff",  # blue
    "input": "#d3f4dc",  # green: leaves that are not parameters (inputs and constants)
    "output": "#ffe08a",  # amber: the root
    "interior": "#ffffff",
    "op": "#eeeeee",
    "neuron": "#f3e8ff",  # violet: a collapsed neuron
}
HIGHLIGHT_COLOUR = "#d62728"

# Unary ops that count as a neuron's activation when collapsing (the op right after a `dot`).
ACTIVATION_OPS = ("relu", "tanh", "sigmoid", "leaky_relu")

# When a highlighted leaf reaches the root along more paths than this, the note gives the
# total only instead of writing out every product.
MAX_PATHS_WRITTEN = 4

_PARAMETER_SUFFIX = re.compile(r"(?:^|\.)(?:w\.\d+|b)$")


# --- text -----------------------------------------------------------------------------------


def escape_label(text: str) -> str:
    """User text for the inside of a quoted DOT label, shown literally: backslashes, quotes
    and ampersands escaped, a newline as a line break, other control characters as visible
    escapes."""
    pieces = []
    for char in text:
        if char == "\\":
            pieces.append("\\\\")  # a lone backslash would start an escape such as \N or \l
        elif char == '"':
            pieces.append('\\"')
        elif char == "\n":
            pieces.append("\\n")
        elif char == "&":  # Graphviz reads entities such as &amp; even in plain labels
            pieces.append("&amp;")
        elif unicodedata.category(char) in ("Cc", "Cs"):
            pieces.append(ascii(char)[1:-1].replace("\\", "\\\\"))  # e.g. \x00 shown as text
        else:
            pieces.append(char)
    return "".join(pieces)


def _label(*lines: str) -> str:
    """A label from lines that are already escaped. nohtml: a label that starts with < and ends
    with > must not be taken for an HTML-like label by the graphviz package."""
    return graphviz.nohtml("\\n".join(lines))


def format_number(x: Any, precision: int) -> str:
    """`x` with `precision` decimals; scientific notation where that would hide it."""
    if isinstance(x, Value):  # a grad from backward(create_graph=True)
        x = x.data
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0.0:
        x = 0.0  # no "-0.0000"
    elif abs(x) >= 1e9 or abs(x) < 0.5 * 10.0**-precision:
        return f"{x:.{precision}e}"
    return f"{x:.{precision}f}"


# --- the drawing --------------------------------------------------------------------------


class Graph:
    """A drawn computation graph: DOT text that renders to SVG, PNG or PDF.

    >>> from tinygrad_scalar import Value
    >>> x = Value(2.0, "x"); y = x * x; y.backward()
    >>> graph = draw(y)
    >>> graph.source.startswith("digraph")
    True
    """

    def __init__(self, digraph: graphviz.Digraph, node_count: int) -> None:
        self.digraph = digraph
        self.source: str = digraph.source
        self.node_count = node_count

    def svg(self) -> str:
        """The graph laid out as SVG text (with `dot` when on PATH, else WebAssembly)."""
        return _render.render(self.source, "svg").decode("utf-8")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the graph to `path`; the format comes from the suffix (.svg, .png, .pdf,
        .dot). Nothing is written unless rendering succeeds. Returns the path."""
        path = Path(path)
        fmt = _render.SUFFIX_FORMATS.get(path.suffix.lower())
        if fmt is None:
            known = ", ".join(_render.SUFFIX_FORMATS)
            raise ValueError(
                f"cannot save graph to {str(path)!r}: unknown format {path.suffix!r}; "
                f"use one of {known}"
            )
        data = self.source.encode("utf-8") if fmt == "dot" else _render.render(self.source, fmt)
        return _render.write_atomically(path, data)

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        # Jupyter shows the SVG inline; text/plain is the fallback for plain consoles.
        return {"image/svg+xml": self.svg(), "text/plain": repr(self)}

    def __repr__(self) -> str:
        return f"<Graph of {self.node_count} nodes>"


@dataclass
class _Neuron:
    """A `dot` node (and the activation right after it) drawn as one box when collapsing."""

    output: Value
    weighted_sum: Value
    activation: Value | None
    inputs: list[Value] = field(default_factory=list)  # drawn parents, in argument order
    hidden: list[Value] = field(default_factory=list)  # leaf weights and bias drawn inside
    name: str = ""


def draw(
    root: Value,
    *,
    rankdir: str = "LR",
    show_grad: bool = True,
    precision: int = 4,
    max_nodes: int = 500,
    params: Any = None,
    highlight: Value | None = None,
    collapse: bool = False,
) -> Graph:
    """Draw the graph that computes `root`.

    params: a Module (anything with `named_parameters()`), (name, Value) pairs, or a dict
        {name: Value}; those leaves are coloured as parameters and show their names.
    highlight: a Value in the graph; the paths from it to `root` are marked, and the graph
        notes the chain-rule product of the local derivatives along them.
    collapse: draw each neuron (a `dot` node and the activation after it) as one box.
    max_nodes: refuse (ValueError, before any layout) to draw more nodes than this.

    Before backward() (root.grad == 0) gradients show as "grad ?" rather than 0.

    >>> from tinygrad_scalar import Value
    >>> a = Value(3.0, "a"); out = (a * a).tanh(); out.backward()
    >>> draw(out, precision=2).node_count
    5
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw() takes a Value, got {type(root).__name__}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    if isinstance(precision, bool) or not isinstance(precision, numbers.Integral):
        raise TypeError(f"precision must be an int, got {precision!r}")
    if not 0 <= precision <= 17:
        raise ValueError(f"precision must be between 0 and 17 decimals, got {precision}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, numbers.Integral):
        raise TypeError(f"max_nodes must be an int, got {max_nodes!r}")
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, got {max_nodes}")

    order = _in_argument_order(root)
    index = {id(node): i for i, node in enumerate(order)}
    if highlight is not None and (not isinstance(highlight, Value) or id(highlight) not in index):
        raise ValueError("highlight must be a Value that the drawn output depends on")
    parameter_names = _parameter_names(params)

    if collapse:
        neurons, absorbed = _group_neurons(order, root, parameter_names)
        node_count = sum(
            1 if id(node) in neurons else (2 if node.parents else 1)
            for node in order
            if id(node) not in absorbed
        )
    else:
        neurons, absorbed = {}, set()
        node_count = len(order) + sum(1 for node in order if node.parents)
    if node_count > max_nodes:
        advice = "pass a larger max_nodes" + ("" if collapse else ", or collapse=True")
        raise ValueError(
            f"this graph has {node_count} nodes, more than max_nodes={max_nodes}: {advice}"
        )

    on_path = _nodes_on_paths(order, highlight) if highlight is not None else set()
    grads_known = _as_float(root.grad) != 0.0  # backward() seeds the root with 1.0
    styler = _Styler(precision, show_grad and grads_known, show_grad, parameter_names, root)

    digraph = graphviz.Digraph(
        "computation_graph",
        graph_attr={"rankdir": rankdir, "fontname": "Helvetica", "nodesep": "0.25"},
        node_attr={"fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"arrowsize": "0.7"},
    )

    def node_id(node: Value) -> str:
        return f"v{index[id(node)]}"

    def edge(tail: str, head: str, marked: bool) -> None:
        if marked:
            digraph.edge(tail, head, color=HIGHLIGHT_COLOUR, penwidth="2.5")
        else:
            digraph.edge(tail, head)

    for node in order:
        if id(node) in absorbed:
            continue
        marked = id(node) in on_path
        if id(node) in neurons:
            neuron = neurons[id(node)]
            digraph.node(node_id(node), **styler.neuron_attrs(neuron, marked))
            for parent in neuron.inputs:
                edge(node_id(parent), node_id(node), marked and id(parent) in on_path)
            continue
        digraph.node(node_id(node), **styler.value_attrs(node, marked))
        if node.parents:
            op_id = node_id(node) + "_op"
            op_attrs = {"color": HIGHLIGHT_COLOUR, "penwidth": "2.5"} if marked else {}
            digraph.node(
                op_id,
                _label(escape_label(node.op)),
                shape="ellipse",
                style="filled",
                fillcolor=COLOURS["op"],
                fontsize="10",
                height="0.3",
                margin="0.04",
                **op_attrs,
            )
            for parent in node.parents:
                edge(node_id(parent), op_id, marked and id(parent) in on_path)
            edge(op_id, node_id(node), marked)

    notes = []
    if show_grad and not grads_known:
        notes.append("grad ? : not computed yet (call backward() on the output first)")
    if highlight is not None:
        notes.append(_chain_rule_note(order, root, highlight, on_path, styler))
    if notes:
        digraph.attr(label=_label(*notes), labelloc="b", fontsize="11")
    return Graph(digraph, node_count)


# --- helpers --------------------------------------------------------------------------------


def _in_argument_order(root: Value) -> list[Value]:
    """Every node `root` depends on, each after its parents, with parents visited in argument
    order (so w0 is drawn above w1). Iterative, so graphs of any depth work."""
    order: list[Value] = []
    expanded: set[int] = set()
    done: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in done:
            continue
        if id(node) in expanded or not node.parents:
            done.add(id(node))
            order.append(node)
            continue
        expanded.add(id(node))
        stack.append(node)
        stack.extend(reversed(node.parents))  # the first parent is popped first
    return order


def _as_float(x: Any) -> float:
    return x.data if isinstance(x, Value) else float(x)


def _parameter_names(params: Any) -> dict[int, str]:
    """{id(parameter): name} from a Module, a dict {name: Value} or (name, Value) pairs."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        pairs: Iterable = params.named_parameters()
    elif isinstance(params, dict):
        pairs = params.items()
    else:
        pairs = params
    names: dict[int, str] = {}
    try:
        for name, value in pairs:
            if not isinstance(value, Value):
                raise TypeError(f"parameter {name!r} is a {type(value).__name__}, not a Value")
            names.setdefault(id(value), str(name))
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"params must be a Module, a dict {{name: Value}} or (name, Value) pairs: {error}"
        ) from None
    return names


def _nodes_on_paths(order: list[Value], start: Value) -> set[int]:
    """ids of the nodes on some path from `start` up to the root (order ends at the root)."""
    reached = {id(start)}
    for node in order:
        if any(id(parent) in reached for parent in node.parents):
            reached.add(id(node))
    return reached


def _group_neurons(
    order: list[Value], root: Value, parameter_names: dict[int, str]
) -> tuple[dict[int, _Neuron], set[int]]:
    """Find the neurons to collapse: {id(box's output): _Neuron} and the ids drawn inside."""
    consumers: dict[int, list[Value]] = {}
    references: dict[int, int] = {}
    for node in order:
        for parent in node.parents:
            consumers.setdefault(id(parent), []).append(node)
            references[id(parent)] = references.get(id(parent), 0) + 1

    neurons: dict[int, _Neuron] = {}
    absorbed: set[int] = set()
    hidden_references: dict[int, int] = {}
    for node in order:
        if node.op != "dot":
            continue
        users = consumers.get(id(node), [])
        activation = users[0] if len(users) == 1 else None
        if activation is not None and (
            activation.op not in ACTIVATION_OPS or node is root or len(activation.parents) != 1
        ):
            activation = None
        if activation is not None:
            absorbed.add(id(node))
        output = activation if activation is not None else node
        neurons[id(output)] = _Neuron(output, node, activation)
        # dot's parents: n weights, n inputs, and an optional bias at the end
        n = len(node.parents) // 2
        for position, parent in enumerate(node.parents):
            if not (n <= position < 2 * n) and not parent.parents:
                hidden_references[id(parent)] = hidden_references.get(id(parent), 0) + 1

    # A leaf weight is drawn inside its neuron unless something else uses it too.
    for leaf_id, count in hidden_references.items():
        if count == references[leaf_id] and leaf_id != id(root):
            absorbed.add(leaf_id)
    for neuron in neurons.values():
        seen: set[int] = set()
        for parent in neuron.weighted_sum.parents:
            if id(parent) in absorbed:
                neuron.hidden.append(parent)
            elif id(parent) not in seen:
                neuron.inputs.append(parent)
            seen.add(id(parent))
        neuron.name = _neuron_name(neuron.hidden, parameter_names)
    return neurons, absorbed


def _neuron_name(hidden: list[Value], parameter_names: dict[int, str]) -> str:
    """The module path its parameters share: "layers.0.neurons.3" from "...neurons.3.w.1"."""
    prefixes = {
        _PARAMETER_SUFFIX.sub("", parameter_names[id(p)])
        for p in hidden
        if id(p) in parameter_names
    }
    return prefixes.pop() if len(prefixes) == 1 else ""


def _chain_rule_note(
    order: list[Value], root: Value, start: Value, on_path: set[int], styler: _Styler
) -> str:
    """d root / d start as the sum over paths of the products of local derivatives."""
    # Count paths first (cheap); write products out only when there are few.
    path_counts: dict[int, int] = {id(start): 1}
    total: dict[int, float] = {id(start): 1.0}
    for node in order:
        if node is start or id(node) not in on_path:
            continue
        count, value = 0, 0.0
        for parent, local in zip(node.parents, node.local_grads):
            if id(parent) in on_path:
                count += path_counts[id(parent)]
                value += _as_float(local) * total[id(parent)]
        path_counts[id(node)], total[id(node)] = count, value

    num = styler.name_of(root) or "output"
    den = styler.name_of(start) or "highlighted value"
    head = f"∂ {escape_label(num)} / ∂ {escape_label(den)}"
    result = styler.number(total[id(root)])
    paths = path_counts[id(root)]
    if start is root:
        return f"{head} = 1"
    if paths > MAX_PATHS_WRITTEN:
        return (
            f"{head} = {result}: the sum over {paths} highlighted paths "
            "of the product of the local derivatives along each"
        )
    products = [
        " × ".join(styler.number(factor) for factor in factors)
        for factors in _paths_of_factors(order, start, root, on_path)
    ]
    return f"{head} = {' + '.join(products)} = {result}"


def _paths_of_factors(
    order: list[Value], start: Value, root: Value, on_path: set[int]
) -> list[list[float]]:
    """For each path from start to root, its local derivatives from start upward."""
    factors_to: dict[int, list[list[float]]] = {id(start): [[]]}
    for node in order:
        if node is start or id(node) not in on_path:
            continue
        paths = []
        for parent, local in zip(node.parents, node.local_grads):
            if id(parent) in on_path:
                paths.extend(path + [_as_float(local)] for path in factors_to[id(parent)])
        factors_to[id(node)] = paths
    return factors_to[id(root)]


class _Styler:
    """Builds the HTML-like labels of value nodes and neuron boxes."""

    def __init__(
        self,
        precision: int,
        grads_known: bool,
        show_grad: bool,
        parameter_names: dict[int, str],
        root: Value,
    ) -> None:
        self.precision = precision
        self.grads_known = grads_known
        self.show_grad = show_grad
        self.parameter_names = parameter_names
        self.root = root

    def number(self, x: Any) -> str:
        return format_number(x, self.precision)

    def name_of(self, node: Value) -> str:
        return self.parameter_names.get(id(node), node.label)

    def role(self, node: Value) -> str:
        if node is self.root:
            return "output"
        if id(node) in self.parameter_names:
            return "parameter"
        return "interior" if node.parents else "input"

    def _cells(self, node: Value) -> list[str]:
        cells = [f"data {self.number(node.data)}"]
        if self.show_grad:
            cells.append(f"grad {self.number(node.grad)}" if self.grads_known else "grad ?")
        return cells

    def _attrs(self, lines: list[str], fill: str, marked: bool, shape: str) -> dict[str, str]:
        attrs = {"label": _label(*lines), "shape": shape, "style": "filled", "fillcolor": fill}
        if marked:
            attrs.update(color=HIGHLIGHT_COLOUR, penwidth="2.5")
        return attrs

    def value_attrs(self, node: Value, marked: bool) -> dict[str, str]:
        """Label, shape and colours of a value: its name, data and grad, one per line."""
        name = self.name_of(node)
        if id(node) in self.parameter_names and node.label and node.label != name:
            name = f"{name} ({node.label})"
        lines = ([escape_label(name)] if name else []) + self._cells(node)
        return self._attrs(lines, COLOURS[self.role(node)], marked, "box")

    def neuron_attrs(self, neuron: _Neuron, marked: bool) -> dict[str, str]:
        """A collapsed neuron: its name, its ops, how many parameters it hides, data, grad."""
        ops = "dot" + (f" → {neuron.activation.op}" if neuron.activation is not None else "")
        name = neuron.name or neuron.output.label or "neuron"
        lines = [escape_label(name), escape_label(ops)]
        if neuron.hidden:
            count = len(neuron.hidden)
            lines.append(f"{count} parameter{'s' if count != 1 else ''}")
        role = "output" if neuron.output is self.root else "neuron"
        attrs = self._attrs(lines + self._cells(neuron.output), COLOURS[role], marked, "box3d")
        attrs["margin"] = "0.15,0.1"  # keep the text clear of the 3-D edge
        return attrs
