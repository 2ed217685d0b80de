"""A Value's computation graph as a Graphviz drawing.

Each Value becomes a box showing its label, data and grad; each op becomes a small node of
its own between its inputs and its output, as in micrograd's drawings. Parameters, inputs,
constants and the output get different colours (`draw(..., legend=True)` shows the key).

Which leaves are constants: once a graph names any of its leaves (a Value label, or `params=`),
the leaves left without a name are constants, such as the 2 in `2*x*y` or a target value;
they are drawn as their number alone, with no gradient row. In a graph that names none of its
leaves every leaf is drawn as an input.

Indices count from 0 everywhere, as Python's do: parameter names (`layers.0.neurons.3.w.1`),
the terms of a `dot` node (`w0·x0`, `w1·x1`, ...) and the CLI's inputs (`x0`, `x1`, ...).

Labels are plain DOT strings (not HTML-like labels, which the WebAssembly build of Graphviz
does not support). Everything a user wrote (labels, parameter names) is escaped for a quoted
DOT string first, so no label can change the structure of the graph. Node ids come from the
topological order, so the same graph always gives the same DOT text.

This module only reads the graph: it never changes a Value.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import graphviz

from .._files import atomic_write, check_replaceable
from ..engine import Value, data_of, topological_order
from ..rules import dot_operands
from . import render as _render

RANKDIRS = ("LR", "RL", "TB", "BT")

# Fill colours by the role a value plays in the graph.
COLOURS = {
    "parameter": "#cfe2ff",  # blue
    "input": "#d3f4dc",  # green: named leaves that are not parameters
    "constant": "#ffffff",  # white with a dashed grey border: unnamed leaves (see above)
    "output": "#ffe08a",  # amber: the root
    "interior": "#ffffff",
    "op": "#eeeeee",
    "neuron": "#f3e8ff",  # violet: a collapsed neuron
}
CONSTANT_BORDER = "#888888"
HIGHLIGHT_COLOUR = "#d62728"

# What each role means, for the legend (draw(..., legend=True)), in the order it lists them.
ROLE_MEANINGS = {
    "parameter": "parameter",
    "input": "input",
    "constant": "constant (no gradient)",
    "interior": "computed value",
    "neuron": "neuron (dot → activation)",
    "op": "operation",
    "output": "output",
}

# PNG resolution bounds for save(..., dpi=N); Graphviz's default is 96.
MIN_DPI, MAX_DPI = 10, 1200

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

    def __init__(
        self, digraph: graphviz.Digraph, node_count: int, layout: Layout | None = None
    ) -> None:
        self.digraph = digraph
        self.source: str = digraph.source
        self.node_count = node_count
        self.layout = layout  # which drawn node is which Value (the explorer reads it)

    def svg(self) -> str:
        """The graph laid out as SVG text (with `dot` when on PATH, else WebAssembly)."""
        return _render.render(self.source, "svg").decode("utf-8")

    def save(self, path: str | os.PathLike, *, dpi: float | None = None) -> Path:
        """Write the graph to `path`; the format comes from the suffix (.svg, .png, .pdf,
        .dot). `dpi` sets a PNG's resolution (Graphviz's default is 96; 192 doubles the
        size, for slides). Nothing is written unless rendering succeeds. Returns the path."""
        path = Path(path)
        fmt = _render.SUFFIX_FORMATS.get(path.suffix.lower())
        if fmt is None and path.suffix.lower() in (".html", ".htm"):
            raise ValueError(
                f"cannot save graph to {str(path)!r}: a Graph is a picture (.svg, .png, .pdf,"
                " .dot); for a page that steps through the passes use"
                f" explore(root).save({str(path)!r})"
            )
        if fmt is None:
            known = ", ".join(_render.SUFFIX_FORMATS)
            raise ValueError(
                f"cannot save graph to {str(path)!r}: unknown format {path.suffix!r}; "
                f"use one of {known}"
            )
        source = self.source
        if dpi is not None:
            check_dpi(dpi)
            if fmt != "png":
                raise ValueError(f"dpi applies to PNG only, not to {str(path)!r}")
            source = _with_graph_attribute(source, "dpi", f"{float(dpi):g}")
        check_replaceable(path)  # a device, pipe or folder there: refused before rendering
        data = source.encode("utf-8") if fmt == "dot" else _render.render(source, fmt)
        with atomic_write(path) as file:
            file.write(data)
        return path

    def _repr_svg_(self) -> str:
        return fit_width(self.svg())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        # An untrusted notebook (any notebook just cloned or downloaded) is not allowed to
        # show image/svg+xml in JupyterLab, which falls back to the text. HTML is sanitized
        # rather than refused, and an <img> of the SVG passes, so the same picture comes as
        # text/html too: JupyterLab, VS Code and nbconvert prefer it, a viewer that does not
        # show HTML takes the SVG, and a plain console the text.
        svg = self.svg()
        return {
            "text/html": svg_picture(svg, f"computation graph of {self.node_count} nodes"),
            "image/svg+xml": fit_width(svg),
            "text/plain": repr(self),
        }

    def __repr__(self) -> str:
        return f"<Graph of {self.node_count} nodes>"


def check_dpi(dpi: Any) -> None:
    """A PNG resolution must be a number of dots per inch from MIN_DPI to MAX_DPI."""
    if isinstance(dpi, bool) or not isinstance(dpi, numbers.Real):
        raise TypeError(f"dpi must be a number, got {dpi!r}")
    if not MIN_DPI <= dpi <= MAX_DPI:  # type: ignore[operator]  # typeshed's Real has no <=
        raise ValueError(f"dpi must be between {MIN_DPI} and {MAX_DPI}, got {dpi!r}")


def _with_graph_attribute(source: str, name: str, value: str) -> str:
    """DOT `source` with one more graph attribute (a later one wins in Graphviz)."""
    head, brace, rest = source.partition("{")
    return f"{head}{brace}\n\t{name}={value}{rest}"


_SVG_SIZE = re.compile(r'<svg\b([^>]*?)\swidth="([^"]+)"\s+height="([^"]+)"')


def fit_width(svg: str) -> str:
    """The SVG scaled to the width of whatever holds it (a notebook cell) when it is wider
    than that, and shown at its own size otherwise: width 100% with its own width as the
    maximum; the viewBox keeps the proportions."""
    return _SVG_SIZE.sub(
        lambda m: f'<svg{m.group(1)} width="100%" style="max-width: {m.group(2)}; height: auto"',
        svg,
        count=1,
    )


def svg_picture(svg: str, alt: str, css_class: str = "") -> str:
    """An <img> showing `svg` from a data: URL, scaled down to fit whatever holds it.

    A picture that no HTML sanitizer strips and in which no script can run: what a notebook
    shows wherever it does not trust its outputs."""
    encoded = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    class_attribute = f' class="{html.escape(css_class)}"' if css_class else ""
    return (
        f'<img{class_attribute} alt="{html.escape(alt)}" style="max-width: 100%; height: auto"'
        f' src="data:image/svg+xml;base64,{encoded}">'
    )


@dataclass
class Layout:
    """How a drawing maps onto the graph, for code that annotates the rendered SVG.

    values: the drawn Values in topological order (leaves hidden inside a collapsed neuron
        are not drawn); dot_names: {id(value): its DOT node name}; op_names: {id(value):
        the DOT name of the op node that made it} (absent for leaves and neurons);
    inputs: {id(value): [(drawn parent, local derivatives from the parent up to the value)]},
        one entry per time a parent is used; a neuron's entries run through its weighted
        sum, so they hold two factors (the activation's and the dot's);
    roles: {id(value): "parameter" | "input" | "constant" | "interior" | "neuron" |
        "output"}; names: {id(value): its shown name, "" when it has none};
    neurons: {id(box's output): (its dot node, its activation node or None)};
    full_names: {id(neuron box): its module path, layers.1.neurons.3, where the box shows a
        short name, h1[3]; id(weight drawn inside a box): its parameter name};
    hidden: {id(neuron box): the leaf weights and bias drawn inside}.
    """

    values: list[Value]
    dot_names: dict[int, str]
    op_names: dict[int, str]
    inputs: dict[int, list[tuple[Value, list[Any]]]]
    roles: dict[int, str]
    names: dict[int, str]
    neurons: dict[int, tuple[Value, Value | None]]
    full_names: dict[int, str] = field(default_factory=dict)
    hidden: dict[int, list[Value]] = field(default_factory=dict)


@dataclass
class _Neuron:
    """A `dot` node (and the activation right after it) drawn as one box when collapsing."""

    output: Value
    weighted_sum: Value
    activation: Value | None
    inputs: list[Value] = field(default_factory=list)  # drawn parents, in argument order
    hidden: list[Value] = field(default_factory=list)  # leaf weights and bias drawn inside
    name: str = ""  # short, on the box: h1[3]
    full_name: str = ""  # the module path its parameters share: layers.1.neurons.3


@dataclass(frozen=True)
class DrawOptions:
    """draw()'s options (see its docstring), checked by `check`."""

    rankdir: str = "LR"
    show_grad: bool = True
    precision: int = 4
    max_nodes: int = 500
    params: Any = None
    highlight: Value | None = None
    collapse: bool = False
    legend: bool = False

    @classmethod
    def from_keywords(cls, options: dict[str, Any]) -> DrawOptions:
        """draw()'s keyword arguments as DrawOptions; TypeError naming one it does not take."""
        unknown = sorted(set(options) - set(cls.__dataclass_fields__))
        if unknown:
            raise TypeError(f"draw() got an unexpected keyword argument {unknown[0]!r}")
        return cls(**options)

    def check(self) -> None:
        """TypeError or ValueError naming the option that is wrong."""
        if self.rankdir not in RANKDIRS:
            raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {self.rankdir!r}")
        for name in ("precision", "max_nodes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be an int, got {value!r}")
        if not 0 <= self.precision <= 17:
            raise ValueError(f"precision must be between 0 and 17 decimals, got {self.precision}")
        if self.max_nodes < 1:
            raise ValueError(f"max_nodes must be at least 1, got {self.max_nodes}")


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
    legend: bool = False,
) -> Graph:
    """Draw the graph that computes `root`.

    params: a Module (anything with `named_parameters()`), (name, Value) pairs, a dict
        {name: Value}, or a list of Values such as `model.parameters()` (named by their
        labels, else `params[i]`); those leaves are coloured as parameters and show their
        names.
    highlight: a Value in the graph; the paths from it to `root` are marked, and the graph
        notes the chain-rule product of the local derivatives along them.
    collapse: draw each neuron (a `dot` node and the activation after it) as one box.
    legend: add a key saying what each colour means.
    max_nodes: refuse (ValueError, before any layout) to draw more nodes than this.

    Before backward() (root.grad == 0) gradients show as "grad ?" rather than 0.
    Unnamed leaves in a graph that names some of its leaves are drawn as constants (see the
    module's docstring).

    >>> from tinygrad_scalar import Value
    >>> a = Value(3.0, "a"); out = (a * a).tanh(); out.backward()
    >>> draw(out, precision=2).node_count
    5
    """
    options = DrawOptions(
        rankdir, show_grad, precision, max_nodes, params, highlight, collapse, legend
    )
    return build_drawing(root, options)


def build_drawing(
    root: Value,
    options: DrawOptions,
    grads: dict[int, Any] | None = None,
    box_names: dict[int, str] | None = None,
) -> Graph:
    """draw(), for code that supplies the gradients to show: `grads` maps id(value) to the
    gradient written in its box (the explorer passes d root / d value from the engine, so
    its picture does not depend on whether backward() was called); `box_names` maps id(value)
    to the name its box shows instead of its own (the explorer's t1, (a*b), h1[3].w0, ...)."""
    if not isinstance(root, Value):
        raise TypeError(f"draw() takes a Value, got {type(root).__name__}")
    options.check()
    order = topological_order(root)  # parents in argument order: w0 is drawn above w1
    index = {id(node): i for i, node in enumerate(order)}
    highlight = options.highlight
    if highlight is not None and (not isinstance(highlight, Value) or id(highlight) not in index):
        raise ValueError("highlight must be a Value that the drawn output depends on")
    parameter_names = _parameter_names(options.params)
    neurons, absorbed = (
        _group_neurons(order, root, parameter_names) if options.collapse else ({}, set())
    )
    node_count = _count_drawn_nodes(order, neurons, absorbed, options)

    if grads is None:
        grads_known = float(data_of(root.grad)) != 0.0  # backward() seeds the root with 1.0
        grad_of = lambda node: node.grad
    else:
        grads_known = True
        grad_of = lambda node: grads[id(node)]
    names_leaves = bool(parameter_names) or any(
        node.label for node in order if not node.parents and id(node) not in absorbed
    )
    styler = _Styler(
        options.precision,
        options.show_grad and grads_known,
        options.show_grad,
        parameter_names,
        root,
        grad_of,
        names_leaves,
        box_names or {},
    )
    on_path = _nodes_on_paths(order, highlight) if highlight is not None else set()
    canvas = _Canvas(_new_digraph(options.rankdir), index, on_path)
    layout = Layout([], {}, {}, {}, {}, {}, {})
    for node in order:
        if id(node) in absorbed:
            continue
        layout.values.append(node)
        layout.dot_names[id(node)] = canvas.node_id(node)
        layout.names[id(node)] = styler.name_of(node)
        if id(node) in neurons:
            _draw_neuron(canvas, layout, styler, neurons[id(node)], absorbed, parameter_names)
        else:
            _draw_value(canvas, layout, styler, node)

    digraph = canvas.digraph
    if options.legend:
        present = set(layout.roles.values()) | ({"op"} if layout.op_names else set())
        _add_legend(digraph, [role for role in ROLE_MEANINGS if role in present])
    notes = []
    if options.show_grad and not grads_known:
        notes.append("grad ? : not computed yet (call backward() on the output first)")
    if highlight is not None:
        notes.append(_chain_rule_note(order, root, highlight, on_path, styler))
    if notes:
        digraph.attr(label=_label(*notes), labelloc="b", fontsize="11")
    return Graph(digraph, node_count, layout)


def _count_drawn_nodes(
    order: list[Value], neurons: dict, absorbed: set[int], options: DrawOptions
) -> int:
    """How many Graphviz nodes the drawing has (a value and its op are two); ValueError
    past options.max_nodes, before any layout."""
    node_count = sum(
        1 if id(node) in neurons else (2 if node.parents else 1)
        for node in order
        if id(node) not in absorbed
    )
    if node_count > options.max_nodes:
        advice = "pass a larger max_nodes" + ("" if options.collapse else ", or collapse=True")
        raise ValueError(
            f"this graph has {node_count} nodes, more than max_nodes={options.max_nodes}: {advice}"
        )
    return node_count


def _new_digraph(rankdir: str) -> graphviz.Digraph:
    return graphviz.Digraph(
        "computation_graph",
        # ordering=out: a node's successors keep the order their edges are written in, so
        # the neurons of a layer come out 0, 1, 2, ... and a dot's terms stay in order
        graph_attr={
            "rankdir": rankdir,
            "fontname": "Helvetica",
            "nodesep": "0.25",
            "ordering": "out",
        },
        node_attr={"fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"arrowsize": "0.7"},
    )


class _Canvas:
    """The digraph being drawn, with each value's node id (from the topological order)
    and which values lie on a highlighted path."""

    def __init__(self, digraph: graphviz.Digraph, index: dict[int, int], on_path: set) -> None:
        self.digraph, self.index, self.on_path = digraph, index, on_path

    def node_id(self, node: Value) -> str:
        return f"v{self.index[id(node)]}"

    def marked(self, node: Value) -> bool:
        return id(node) in self.on_path

    def edge(self, tail: str, head: str, marked: bool) -> None:
        if marked:
            self.digraph.edge(tail, head, color=HIGHLIGHT_COLOUR, penwidth="2.5")
        else:
            self.digraph.edge(tail, head)


def _draw_neuron(
    canvas: _Canvas,
    layout: Layout,
    styler: _Styler,
    neuron: _Neuron,
    absorbed: set[int],
    parameter_names: dict[int, str],
) -> None:
    """A collapsed neuron: one box, with an edge from each of its drawn inputs."""
    node, marked = neuron.output, canvas.marked(neuron.output)
    layout.roles[id(node)] = "output" if node is styler.root else "neuron"
    layout.names[id(node)] = node.label or neuron.name
    if neuron.full_name and not node.label:
        layout.full_names[id(node)] = neuron.full_name
    layout.inputs[id(node)] = _neuron_inputs(neuron, absorbed)
    layout.neurons[id(node)] = (neuron.weighted_sum, neuron.activation)
    layout.hidden[id(node)] = neuron.hidden
    for parameter in neuron.hidden:
        if id(parameter) in parameter_names:
            layout.full_names[id(parameter)] = parameter_names[id(parameter)]
    canvas.digraph.node(canvas.node_id(node), **styler.neuron_attrs(neuron, marked))
    for parent in neuron.inputs:
        canvas.edge(canvas.node_id(parent), canvas.node_id(node), marked and canvas.marked(parent))


def _draw_value(canvas: _Canvas, layout: Layout, styler: _Styler, node: Value) -> None:
    """A value's box and, for a computed one, its op node with an edge from each parent."""
    marked = canvas.marked(node)
    layout.roles[id(node)] = styler.role(node)
    layout.inputs[id(node)] = [
        (parent, [local]) for parent, local in zip(node.parents, node.local_grads)
    ]
    canvas.digraph.node(canvas.node_id(node), **styler.value_attrs(node, marked))
    if not node.parents:
        return
    op_id = canvas.node_id(node) + "_op"
    layout.op_names[id(node)] = op_id
    op_attrs = {"color": HIGHLIGHT_COLOUR, "penwidth": "2.5"} if marked else {}
    ports = _dot_ports(len(node.parents)) if node.op == "dot" else None
    if ports is not None:
        # one field per term, so each weight and its input meet at the same field
        weights, _, bias = dot_operands(node.parents)
        fields = [f"<t{i}> w{i}·x{i}" for i in range(len(weights))]
        if bias is not None:
            fields.append("<b> + b")
        label, shape = _label("|".join(["dot", *fields])), "record"
    else:
        label, shape = _label(escape_label(node.op)), "ellipse"
    canvas.digraph.node(
        op_id,
        label,
        shape=shape,
        style="filled",
        fillcolor=COLOURS["op"],
        fontsize="10",
        height="0.3",
        margin="0.04",
        **op_attrs,
    )
    positions = list(range(len(node.parents)))
    if ports is not None:  # w0, x0, w1, x1, ..., b: each pair side by side
        positions.sort(key=lambda j: (ports[j], j))
    for j in positions:
        parent = node.parents[j]
        head = op_id if ports is None else f"{op_id}:{ports[j]}"
        canvas.edge(canvas.node_id(parent), head, marked and canvas.marked(parent))
    canvas.edge(op_id, canvas.node_id(node), marked)


def _dot_ports(parent_count: int) -> list[str]:
    """The field each parent of a dot(ws, xs[, bias]) enters: w_i and x_i both enter t<i>,
    the bias b (rules.dot_operands says which parent is which)."""
    weights, inputs, bias = dot_operands(range(parent_count))
    terms = [f"t{i}" for i in range(len(weights))]
    return [*terms, *terms, *(["b"] if bias is not None else [])]


def _neuron_inputs(neuron: _Neuron, absorbed: set[int]) -> list[tuple[Value, list[Any]]]:
    """A collapsed neuron's drawn parents, each with the local derivatives from it up to the
    box's output: the dot's, then the activation's when there is one."""
    weighted_sum, activation = neuron.weighted_sum, neuron.activation
    entries = []
    for parent, local in zip(weighted_sum.parents, weighted_sum.local_grads):
        if id(parent) in absorbed:
            continue
        factors = [local] if activation is None else [local, activation.local_grads[0]]
        entries.append((parent, factors))
    return entries


def _hidden_terms(neuron: _Neuron) -> str:
    """The weights and bias drawn inside a neuron box by their places in its weighted sum,
    w0·x0 + w1·x1 + ... + b: "w0, w1, b", or "w0…w15, b" for a run of more than two."""
    parents = neuron.weighted_sum.parents
    n = len(dot_operands(parents)[0])  # the places of the weights come first
    places = [next(j for j, q in enumerate(parents) if q is p) for p in neuron.hidden]
    weights = sorted(j for j in places if j < n)
    names = [f"w{j}" for j in weights]
    if len(weights) > 2 and weights == list(range(weights[0], weights[-1] + 1)):
        names = [f"w{weights[0]}…w{weights[-1]}"]
    return ", ".join(names + ["b"] * any(j >= n for j in places))


def _add_legend(digraph: graphviz.Digraph, roles: list[str]) -> None:
    """A boxed key with one small sample node per role the drawing uses, in one line (chained
    by invisible edges, so it runs along the ranks like the graph does)."""
    with digraph.subgraph(name="cluster_legend") as key:
        key.attr(label="key", fontsize="10", style="rounded", color="#bbbbbb", labeljust="l")
        previous = None
        for role in roles:
            attrs = {"style": "filled", "fillcolor": COLOURS[role], "shape": "box"}
            if role == "op":
                attrs["shape"] = "ellipse"
            elif role == "neuron":
                attrs["shape"] = "box3d"
            elif role == "constant":
                attrs.update(style="dashed", color=CONSTANT_BORDER)
            name = f"legend_{role}"
            key.node(name, _label(ROLE_MEANINGS[role]), fontsize="9", height="0.3", **attrs)
            if previous is not None:
                key.edge(previous, name, style="invis")
            previous = name


# --- helpers --------------------------------------------------------------------------------


def _parameter_names(params: Any) -> dict[int, str]:
    """{id(parameter): name} from a Module, a dict {name: Value}, (name, Value) pairs or a
    list of Values (`model.parameters()`), each named by its label or as `params[i]`."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        pairs: Iterable = params.named_parameters()
    elif isinstance(params, dict):
        pairs = params.items()
    elif isinstance(params, Value):
        raise TypeError("params must be a Module or a list of Values, not one Value")
    else:
        pairs = list(params) if isinstance(params, Iterable) else params
        if isinstance(pairs, list) and pairs and all(isinstance(p, Value) for p in pairs):
            pairs = [(p.label or f"params[{i}]", p) for i, p in enumerate(pairs)]
    names: dict[int, str] = {}
    try:
        for name, value in pairs:
            if not isinstance(value, Value):
                raise TypeError(f"parameter {name!r} is a {type(value).__name__}, not a Value")
            names.setdefault(id(value), str(name))
    except (TypeError, ValueError) as error:
        raise TypeError(
            "params must be a Module, a list of Values, a dict {name: Value} or (name, Value)"
            f" pairs: {error}"
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
        # the weights and the bias are drawn inside the neuron, its inputs outside
        weights, _, bias = dot_operands(node.parents)
        for parent in [*weights, *([bias] if bias is not None else [])]:
            if not parent.parents:
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
        neuron.full_name = _neuron_name(neuron.hidden, parameter_names)
        neuron.name = short_neuron_name(neuron.full_name)
    return neurons, absorbed


def _neuron_name(hidden: list[Value], parameter_names: dict[int, str]) -> str:
    """The module path its parameters share: "layers.0.neurons.3" from "...neurons.3.w.1"."""
    prefixes = {
        _PARAMETER_SUFFIX.sub("", parameter_names[id(p)])
        for p in hidden
        if id(p) in parameter_names
    }
    return prefixes.pop() if len(prefixes) == 1 else ""


_LAYER_NEURON = re.compile(r"^(?:(?P<path>.+)\.)?layers\.(?P<layer>\d+)\.neurons\.(?P<index>\d+)$")
_NEURON = re.compile(r"^(?:(?P<path>.+)\.)?neurons\.(?P<index>\d+)$")


def short_neuron_name(module_path: str) -> str:
    """A neuron's name as a box and a sentence can hold it: h<layer>[<neuron>] for an MLP's
    layers.<layer>.neurons.<neuron>, <path>[<neuron>] for <path>.neurons.<neuron> (n[3] for
    a lone Layer's), any other path unchanged.

    >>> short_neuron_name("layers.1.neurons.3"), short_neuron_name("mlp.layers.0.neurons.2")
    ('h1[3]', 'mlp.h0[2]')
    >>> short_neuron_name("head.neurons.4"), short_neuron_name("neurons.4")
    ('head[4]', 'n[4]')
    """
    match = _LAYER_NEURON.match(module_path)
    if match:
        path = f"{match['path']}." if match["path"] else ""
        return f"{path}h{match['layer']}[{match['index']}]"
    match = _NEURON.match(module_path)
    if match:
        return f"{match['path'] or 'n'}[{match['index']}]"
    return module_path


def short_parameter_name(name: str) -> str:
    """A neuron's weight or bias by its neuron's short name: h1[3].w0, h1[3].b.

    >>> short_parameter_name("layers.1.neurons.3.w.0"), short_parameter_name("layers.1.neurons.3.b")
    ('h1[3].w0', 'h1[3].b')
    >>> short_parameter_name("embedding.weight")
    'embedding.weight'
    """
    neuron, _, rest = name.rpartition(".")
    if rest == "b" and neuron:
        short, suffix = short_neuron_name(neuron), "b"
    else:
        neuron, _, w = neuron.rpartition(".")
        if w != "w" or not rest.isdigit() or not neuron:
            return name
        short, suffix = short_neuron_name(neuron), f"w{rest}"
    return name if short == neuron else f"{short}.{suffix}"


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
                value += float(data_of(local)) * total[id(parent)]
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
        paths: list[list[float]] = []
        for parent, local in zip(node.parents, node.local_grads):
            if id(parent) in on_path:
                paths.extend(path + [float(data_of(local))] for path in factors_to[id(parent)])
        factors_to[id(node)] = paths
    return factors_to[id(root)]


class _Styler:
    """The names, roles, colours and plain DOT labels of value boxes and neuron boxes."""

    def __init__(
        self,
        precision: int,
        grads_known: bool,
        show_grad: bool,
        parameter_names: dict[int, str],
        root: Value,
        grad_of: Any,
        names_leaves: bool,
        box_names: dict[int, str],
    ) -> None:
        self.precision = precision
        self.grads_known = grads_known
        self.show_grad = show_grad
        self.parameter_names = parameter_names
        self.root = root
        self.grad_of = grad_of  # the gradient a box shows
        self.names_leaves = names_leaves  # then unnamed leaves are constants
        self.box_names = box_names  # for boxes with no name of their own

    def number(self, x: Any) -> str:
        return format_number(x, self.precision)

    def constant(self, x: float) -> str:
        """A constant as it would be written: 2 rather than 2.0000."""
        return (
            format_number(x, self.precision)
            if not math.isfinite(x)
            else f"{x:.{max(self.precision, 1)}g}"
        )

    def name_of(self, node: Value) -> str:
        return self.parameter_names.get(id(node), node.label)

    def role(self, node: Value) -> str:
        if node is self.root:
            return "output"
        if id(node) in self.parameter_names:
            return "parameter"
        if node.parents:
            return "interior"
        return "constant" if self.names_leaves and not node.label else "input"

    def _cells(self, node: Value) -> list[str]:
        cells = [f"data {self.number(node.data)}"]
        if self.show_grad:
            grad = self.grad_of(node)
            cells.append(f"grad {self.number(grad)}" if self.grads_known else "grad ?")
        return cells

    def _attrs(self, lines: list[str], fill: str, marked: bool, shape: str) -> dict[str, str]:
        attrs = {"label": _label(*lines), "shape": shape, "style": "filled", "fillcolor": fill}
        if marked:
            attrs.update(color=HIGHLIGHT_COLOUR, penwidth="2.5")
        return attrs

    def value_attrs(self, node: Value, marked: bool) -> dict[str, str]:
        """Label, shape and colours of a value: its name, data and grad, one per line; a
        constant shows its number alone."""
        role = self.role(node)
        if role == "constant":
            attrs = self._attrs([self.constant(node.data)], COLOURS[role], marked, "box")
            attrs["style"] = "dashed"
            attrs.setdefault("color", CONSTANT_BORDER)
            return attrs
        name = self.box_names.get(id(node)) or self.name_of(node)
        if id(node) in self.parameter_names and node.label and node.label != name:
            name = f"{name} ({node.label})"
        lines = ([escape_label(name)] if name else []) + self._cells(node)
        return self._attrs(lines, COLOURS[role], marked, "box")

    def neuron_attrs(self, neuron: _Neuron, marked: bool) -> dict[str, str]:
        """A collapsed neuron: its name, its ops, how many parameters it hides, data, grad."""
        ops = "dot" + (f" → {neuron.activation.op}" if neuron.activation is not None else "")
        # the name the explorer's text uses too: the user's label first
        output = neuron.output
        name = output.label or neuron.name or self.box_names.get(id(output), "") or "neuron"
        lines = [escape_label(name), escape_label(ops)]
        if neuron.hidden:  # the names the explorer's text gives them: w0…w3, b
            lines.append(escape_label(_hidden_terms(neuron)))
        role = "output" if neuron.output is self.root else "neuron"
        attrs = self._attrs(lines + self._cells(neuron.output), COLOURS[role], marked, "box3d")
        attrs["margin"] = "0.15,0.1"  # keep the text clear of the 3-D edge
        return attrs
