"""A page that steps through a graph: the forward pass, then backpropagation, one node at a time.

`explore(root, **draw_options)` draws the graph as `draw()` does (with the colour key), then
lets a reader walk it: the given values (inputs, parameters, constants) are shown from the
start, each computed value appears in topological order, then each gradient arrives in
reverse order, with the chain-rule product for that step written out with its numbers. Every
name the text uses is on a box (see _display_names). Clicking a node shows its whole
chain-rule expansion, and a collapsed neuron's weights and bias.

The page is one HTML file with its script and style inline (no network). As written, it is a
picture of the finished drawing (every value and gradient; an <img> of the SVG from a data:
URL) and a line saying what it is: what a viewer that runs no script shows, and what survives
the HTML sanitizer of an untrusted notebook. The script turns the picture's SVG into the live
drawing and adds the buttons, slider and text above it. Two explorers on one page do not
clash: each lives in its own container (its name comes from the content, so a rebuilt
notebook does not change), and its SVG has no element ids.

A testing contract, so that tests (and anyone) can drive the page once its script ran:
  - each drawn value is an SVG group with `data-node` (unique) and `data-label` (its own
    name, when it has one), and, once revealed, `data-value` / `data-grad`: the float's repr;
  - the buttons carry `data-action="start" | "prev" | "next" | "end"`; the step counter has
    `data-role="step"`, the slider `data-role="slider"`, the explanation line
    `data-role="explain"`, and the clicked node's expansion `data-role="detail"`.

The gradients come from the engine (`engine.gradients`, so no `.grad` changes); this module
only writes out, for each step, the numbers the engine used: a node's local derivatives
(`local_grads`) times its consumers' gradients.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .. import engine
from .._files import atomic_write, check_replaceable
from ..codegen import enclosed_in_parentheses
from ..engine import Value
from ..rules import dot_operands
from .graph import (
    ACTIVATION_OPS,
    DrawOptions,
    Layout,
    build_drawing,
    format_number,
    short_parameter_name,
    svg_picture,
)

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
XLINK_NAMESPACE = "http://www.w3.org/1999/xlink"
_SVG = f"{{{SVG_NAMESPACE}}}"

# Ops written between their operands in explanations; everything else is written f(a, b).
INFIX_OPS = ("+", "-", "*", "/", "**")

# An unnamed value is called by the expression that made it when that is at most this long,
# else by a short name t1, t2, ... (its place in the forward pass).
MAX_EXPRESSION_NAME = 14

# draw() options that make no sense here: the explorer shows gradients and does its own marking.
_NOT_OPTIONS = ("show_grad", "highlight")

# Counts the pages made in this process, so that two displays of one graph differ.
_DISPLAYS = itertools.count(1)

ROLE_WORDS = {
    "parameter": "a parameter",
    "input": "an input",
    "constant": "a constant",
    "output": "the output",
}


def explore(root: Value, *, step_given: bool = False, **draw_options: Any) -> Explorer:
    """A page that steps through the forward and backward pass of `root`'s graph.

    draw_options are draw()'s: rankdir, precision, max_nodes, params, collapse, legend (on
    by default here). The gradients shown are d root / d value, computed by the engine
    without touching `.grad`, so calling backward() first is not needed. Above max_nodes it
    refuses as draw() does.

    The given values (inputs, parameters, constants) are shown from the start, so the forward
    pass steps through the computed ones only; step_given=True reveals each given value in a
    step of its own as well, in topological order. The backward pass gives every value its
    gradient, given ones included.

    >>> from tinygrad_scalar import Value
    >>> a = Value(2.0, "a"); b = Value(-3.0, "b"); e = a * b; e.label = "e"
    >>> page = explore(e)  # doctest: +SKIP
    >>> page.save("e.html")  # doctest: +SKIP
    """
    for name in _NOT_OPTIONS:
        if name in draw_options:
            raise TypeError(
                f"explore() does not take {name}=: it shows every gradient and marks each step "
                "itself"
            )
    return Explorer(root, step_given=step_given, **draw_options)


class Explorer:
    """The stepping page for one graph: `.html()`, `.save(path)`, and inline in Jupyter."""

    def __init__(self, root: Value, *, step_given: bool = False, **draw_options: Any) -> None:
        if not isinstance(root, Value):
            raise TypeError(f"explore() takes a Value, got {type(root).__name__}")
        draw_options.setdefault("legend", True)  # the colours mean something: say what
        precision = draw_options.get("precision", 4)
        order = engine.topological_order(root)
        derivatives = engine.gradients(root, order)
        grads = {id(node): float(_number(g)) for node, g in zip(order, derivatives)}
        # Drawn once to learn the layout (which values have boxes, their roles and names),
        # then again with the name the text gives each box on it; rendered once.
        options = DrawOptions.from_keywords(draw_options)
        layout = build_drawing(root, options, grads=grads).layout
        assert layout is not None
        drawn = [node for node in order if id(node) in layout.dot_names]
        names, full_names = _display_names(drawn, layout, precision)
        graph = build_drawing(root, options, grads=grads, box_names=names)
        assert graph.layout is not None
        self.root = root
        self.node_count = graph.node_count
        self._layout = graph.layout
        self._grads = grads
        self._precision = precision
        self._step_given = bool(step_given)
        self._order = drawn
        self._names = names
        self._full_names = full_names
        self._svg = graph.svg()

    # --- output -------------------------------------------------------------------------------

    def html(self) -> str:
        """A complete standalone HTML page; the arrow keys step it as soon as it loads."""
        title = html.escape(f"Forward and backward: {self._names[id(self.root)]}")
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{title}</title>\n</head>\n<body>\n{self._fragment(standalone=True)}\n"
            "</body>\n</html>\n"
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to `path` (an .html file), all at once or not at all."""
        check_replaceable(path)  # a device, pipe or folder there: refused before any work
        with atomic_write(path) as file:
            file.write(self.html().encode("utf-8"))
        return Path(path)

    def _repr_html_(self) -> str:
        return self._fragment(standalone=False)

    def __repr__(self) -> str:
        return f"<Explorer of {len(self._order)} values>"

    # --- the page -----------------------------------------------------------------------------

    def _fragment(self, standalone: bool) -> str:
        svg, elements = _annotate(
            self._svg, self._layout, self._order, (self._names, self._full_names), self._grads
        )
        steps, nodes = self._steps(elements)
        data = json.dumps(
            {"steps": steps, "nodes": nodes, "bar": _BAR, "standalone": standalone},
            ensure_ascii=True,
        )
        data = data.replace("<", "\\u003c")  # no "</script>" can end the script early
        # The same graph gives the same container name (a rebuilt notebook stays
        # byte-identical); the count keeps two displays of it apart on one page.
        digest = hashlib.sha256(f"{svg}{data}".encode()).hexdigest()[:16]
        container = f"tgs-explorer-{digest}-{next(_DISPLAYS)}"
        root_name = self._names[id(self.root)]
        picture = svg_picture(
            svg, f"computation graph of {root_name} with every value and gradient", "tgs-picture"
        )
        return _PAGE.format(
            container=container,
            style=_STYLE,
            picture=picture,
            root_name=html.escape(root_name),
            data=data,
            script=_SCRIPT,
        )

    def _is_given(self, node: Value) -> bool:
        """A value nothing in the drawing computes: an input, a parameter, a constant."""
        return not self._layout.inputs[id(node)]

    def _steps(self, elements: _Elements) -> tuple[list[dict], list[dict]]:
        """Every step (start, forward ones, backward ones) and every drawn value's record."""
        layout, names, order = self._layout, self._names, self._order
        consumers: dict[int, list[tuple[Value, list[Any]]]] = {id(node): [] for node in order}
        for node in order:
            for parent, factors in layout.inputs[id(node)]:
                consumers[id(parent)].append((node, factors))

        forward = [n for n in order if self._step_given or not self._is_given(n)]
        given = len(order) - len(forward)
        out = _d(names[id(self.root)])
        shown_first = (
            f"; the {given} given ones (inputs, parameters, constants) are shown from the start"
        )
        start_text = (
            f"{len(order)} values{shown_first if given else ''}. Forward: each computed value "
            "is worked out from its inputs, in topological order. Backward: starting from "
            f"{out}/{out} = 1, each value receives its gradient, in reverse order."
        )
        steps: list[dict] = [{"phase": "start", "node": None, "explain": start_text, "marks": []}]
        position = {id(node): i for i, node in enumerate(order)}
        shown_at = {id(node): step for step, node in enumerate(forward, start=1)}
        records: list[dict] = []
        for i, node in enumerate(order):
            records.append(
                {
                    "el": elements.node[id(node)],
                    "value": repr(float(node.data)),
                    "grad": repr(self._grads[id(node)]),
                    "shown": shown_at.get(id(node), 0),  # the step that reveals the value
                    # the step that reveals the gradient: the backward pass visits every
                    # value, in reverse order
                    "arrives": len(forward) + len(order) - i,
                    "detail": "",
                }
            )
        for node in forward:
            steps.append(
                {
                    "phase": "forward",
                    "node": position[id(node)],
                    "explain": self._forward_text(node),
                    "marks": elements.forward_marks(node, layout),
                }
            )
        for node in reversed(order):
            text = self._backward_text(node, consumers[id(node)])
            records[position[id(node)]]["detail"] = "\n".join(
                [self._heading(node), self._forward_text(node), text, *self._hidden_lines(node)]
            ).lstrip("\n")
            steps.append(
                {
                    "phase": "backward",
                    "node": position[id(node)],
                    "explain": text,
                    "marks": elements.backward_marks(node, consumers[id(node)], layout),
                }
            )
        return steps, records

    def _heading(self, node: Value) -> str:
        """A neuron box's long name, for the detail: "h1[3] is layers.1.neurons.3"."""
        full = self._full_names.get(id(node))
        return f"{self._names[id(node)]} is {full}" if full else ""

    def _hidden_lines(self, node: Value) -> list[str]:
        """The weights and bias drawn inside a neuron box, each with its data and gradient."""
        hidden = self._layout.hidden.get(id(node))
        if not hidden:
            return []
        weighted_sum = self._layout.neurons[id(node)][0]
        terms = self._term_names(weighted_sum)
        out = _d(self._names[id(self.root)])
        lines = [f"its weights and bias (grad = {out}/d·):"]
        width = max(len(terms[id(p)]) for p in hidden)
        for parameter in hidden:
            full = self._full_names.get(id(parameter), "")
            lines.append(
                f"  {terms[id(parameter)]:<{width}}  data {self._number(parameter.data):>10}"
                f"  grad {self._number(self._grads[id(parameter)]):>10}"
                + (f"  ({full})" if full else "")
            )
        return lines

    def _number(self, x: Any) -> str:
        return format_number(x, self._precision)

    def _forward_text(self, node: Value) -> str:
        """How the forward pass computes `node`, with the numbers."""
        name, layout = self._names[id(node)], self._layout
        role = layout.roles[id(node)]
        if role == "constant":
            return f"{name}: a constant"
        if not layout.inputs[id(node)]:
            what = ROLE_WORDS.get(role, "a leaf")
            return f"{name} = {self._number(node.data)}: {what}, given"
        result = self._number(node.data)
        if id(node) in layout.neurons:
            weighted_sum, activation = layout.neurons[id(node)]
            symbols, numbers = self._dot_terms(weighted_sum)
            if activation is None:
                return f"{name} = {symbols} = {numbers} = {result}"
            z = self._number(weighted_sum.data)
            return (
                f"{name} = {activation.op}({symbols}) = {activation.op}({numbers}) "
                f"= {activation.op}({z}) = {result}"
            )
        if node.op == "dot":
            symbols, numbers = self._dot_terms(node)
            return f"{name} = {symbols} = {numbers} = {result}"
        symbols = _applied(node.op, [self._names[id(p)] for p in node.parents], " ")
        numbers = _applied(node.op, [self._number(p.data) for p in node.parents], " ")
        return f"{name} = {symbols} = {numbers} = {result}"

    def _dot_terms(self, weighted_sum: Value) -> tuple[str, str]:
        """w0·x0 + w1·x1 + b, in names (or the dot's term names) and in numbers."""
        weights, inputs, bias = dot_operands(weighted_sum.parents)
        names = self._term_names(weighted_sum)
        symbol_terms, number_terms = [], []
        for w, x in zip(weights, inputs):
            symbol_terms.append(f"{names[id(w)]}·{names[id(x)]}")
            number_terms.append(f"{self._number(w.data)} × {self._number(x.data)}")
        if bias is not None:
            symbol_terms.append(names[id(bias)])
            number_terms.append(self._number(bias.data))
        return " + ".join(symbol_terms), " + ".join(number_terms)

    def _term_names(self, weighted_sum: Value) -> dict[int, str]:
        """{id(parent): its name} for a dot's parents: a drawn value's own name, a weight or
        bias hidden inside a neuron box by its place in the sum (w0, w1, ..., b)."""
        weights, inputs, bias = dot_operands(weighted_sum.parents)
        fallbacks = [(w, f"w{i}") for i, w in enumerate(weights)]
        fallbacks += [(x, f"x{i}") for i, x in enumerate(inputs)]
        fallbacks += [] if bias is None else [(bias, "b")]
        names: dict[int, str] = {}
        for parent, fallback in fallbacks:
            names.setdefault(id(parent), self._names.get(id(parent), fallback))
        return names

    def _backward_text(self, node: Value, uses: list[tuple[Value, list[Any]]]) -> str:
        """The chain rule for `node`: the sum over its uses of (user's gradient × local
        derivatives), with the engine's numbers."""
        out = _d(self._names[id(self.root)])
        name = self._names[id(node)]
        d_name = _d(name)
        grad = self._number(self._grads[id(node)])
        if node is self.root:
            return f"{out}/{out} = 1: backpropagation starts at the output"
        symbols, numbers = [], []
        for user, factors in uses:
            d_user = _d(self._names[id(user)])
            # ∂ for the local derivative: the user's own, holding its other inputs fixed
            symbols.append(f"{out}/{d_user} · ∂{d_user[1:]}/∂{d_name[1:]}")
            shown = [self._grads[id(user)], *factors]
            numbers.append(" × ".join(self._number(_number(x)) for x in shown))
        text = f"{out}/{d_name} = {' + '.join(symbols)} = {' + '.join(numbers)} = {grad}"
        if len(uses) > 1:
            text += f" (the sum over the {len(uses)} places {name} is used)"
        if self._layout.roles[id(node)] == "constant":
            text += f"; {name} is a constant, so nothing uses this gradient"
        return text


# --- naming ---------------------------------------------------------------------------------


def _applied(op: str, operands: list[str], space: str) -> str:
    """An op written out on its operands: a * b, x**2, -x, a + b + c, tanh(x)."""
    if op in INFIX_OPS and len(operands) == 2:
        return f"{space}{op}{space}".join(operands)
    if op == "sum":
        return f"{space}+{space}".join(operands)
    if op.startswith("**") and len(operands) == 1:  # a constant exponent: the op is "**2"
        base = operands[0]
        return f"({base}){op}" if base.startswith("-") else f"{base}{op}"  # (-3)**2, not -3**2
    if op == "neg" and len(operands) == 1:
        operand = operands[0]
        simple = operand.isidentifier() or operand.startswith("(")
        return f"-{operand}" if simple else f"-({operand})"  # -x, -(3.0000), -(w.0)
    if len(operands) == 1 and enclosed_in_parentheses(operands[0]):
        return f"{op}{operands[0]}"  # tanh(t1+x), not tanh((t1+x))
    return f"{op}({', '.join(operands)})"


_INDEXED_NAME = re.compile(r"^[^\W\d]\w*(?:\[\d+\])+$")  # h1[3]


def _d(name: str) -> str:
    """d<name>, with a name that is not a plain identifier (or one indexed, h1[3]) in
    parentheses: dx0, dh1[3], d(layers.0.w)."""
    simple = name.isidentifier() or name.startswith("(") or _INDEXED_NAME.match(name)
    return f"d{name}" if simple else f"d({name})"


def _number(x: Any) -> float:
    return x.data if isinstance(x, Value) else float(x)


def _simple(name: str) -> bool:
    """A name that reads as one thing inside an expression: x, h1[3], 2, -0.5."""
    if name.isidentifier() or _INDEXED_NAME.match(name):
        return True
    try:
        float(name)
    except ValueError:
        return False
    return True


def _display_names(
    order: list[Value], layout: Layout, precision: int
) -> tuple[dict[int, str], dict[int, str]]:
    """A name for every drawn value, the one its box shows and the text uses, and the long
    name (for hover and the detail) of those shown short.

    A value's name is its own (a label; a parameter's or a neuron's, short: h1[3].w0,
    h1[3]), a constant's number, the output's "out", a short expression of simple names such
    as (a*b) or (w·x+b), a neuron's z1[3] = w·x+b and h1[3] = its activation, or else t1,
    t2, ... A generated name is used once, and never takes a name the graph already has."""
    taken = {name for name in layout.names.values() if name}
    names: dict[int, str] = {}
    full_names = dict(layout.full_names)
    count = 0

    def fresh() -> str:
        nonlocal count
        count += 1
        while f"t{count}" in taken:
            count += 1
        return f"t{count}"

    for node in order:
        own = layout.names.get(id(node), "")
        if own and layout.roles[id(node)] == "parameter":
            name = short_parameter_name(own)
            if name != own:
                full_names[id(node)] = own
        elif own:
            name = own
        elif layout.roles[id(node)] == "constant":
            name = f"{node.data:.{max(precision, 1)}g}"
        else:
            name = _generated_name(node, layout, names)
            if node is order[-1] and not name:
                name = "out"  # the root: the one value every step's text names
            if len(name) > MAX_EXPRESSION_NAME or name in taken:
                name = ""
            name = name or fresh()
            taken.add(name)
        names[id(node)] = name
    return names, full_names


def _generated_name(node: Value, layout: Layout, names: dict[int, str]) -> str:
    """The name an unnamed computed value is given when one reads well, else ""."""
    if id(node) in layout.neurons or not node.parents:
        return ""
    if node.op == "dot":
        neuron = _neuron_of(node, layout, names)
        if neuron.startswith("h"):  # h1[3] is the neuron's output, z1[3] its weighted sum
            return "z" + neuron[1:]
        has_bias = dot_operands(node.parents)[2] is not None
        return f"{neuron}.z" if neuron else ("(w·x+b)" if has_bias else "(w·x)")
    if node.op in ACTIVATION_OPS and node.parents[0].op == "dot":
        neuron = _neuron_of(node.parents[0], layout, names)
        if neuron:
            return neuron
    parts = [names.get(id(p), "") for p in node.parents]
    if not all(_simple(part) for part in parts):
        return ""
    name = _applied(node.op, parts, "")
    return name if name.endswith(")") else f"({name})"


def _neuron_of(weighted_sum: Value, layout: Layout, names: dict[int, str]) -> str:
    """The short name (h1[3]) of the neuron whose weights a dot node sums, when its weights
    are named parameters (an MLP drawn without collapse), else ""."""
    dot_weights, _, bias = dot_operands(weighted_sum.parents)
    weights = [*dot_weights, *([] if bias is None else [bias])]
    neurons = {
        short_parameter_name(layout.names[id(w)]).rpartition(".")[0]  # h1[3] from h1[3].w0
        for w in weights
        if layout.roles.get(id(w)) == "parameter" and layout.names.get(id(w))
    }
    if len(neurons) != 1 or len(weights) == 0:
        return ""
    name = neurons.pop()
    return name if _INDEXED_NAME.match(name) else ""


# --- the SVG --------------------------------------------------------------------------------


class _Elements:
    """Numbers for the SVG's node and edge groups (data-el), so steps can name what to mark."""

    def __init__(self) -> None:
        self.node: dict[int, int] = {}  # id(value) -> its box
        self.by_dot_name: dict[str, int] = {}  # DOT node name -> group
        self.edges: dict[tuple[str, str], list[int]] = {}  # (tail, head) -> groups

    def _edge(self, tail: str, head: str) -> list[int]:
        return self.edges.get((tail, head), [])

    def forward_marks(self, node: Value, layout: Layout) -> list[list[int]]:
        """[current, used, edges] for the step that computes `node`."""
        me = layout.dot_names[id(node)]
        into = layout.op_names.get(id(node), me)
        used = [self.by_dot_name[layout.dot_names[id(p)]] for p, _ in layout.inputs[id(node)]]
        edges = [
            e for p, _ in layout.inputs[id(node)] for e in self._edge(layout.dot_names[id(p)], into)
        ]
        current = [self.by_dot_name[me]]
        if into != me:
            current.append(self.by_dot_name[into])
            edges += self._edge(into, me)
        return [current, sorted(set(used)), sorted(set(edges))]

    def backward_marks(
        self, node: Value, uses: list[tuple[Value, list[Any]]], layout: Layout
    ) -> list[list[int]]:
        """[current, used, edges] for the step that gives `node` its gradient."""
        me = layout.dot_names[id(node)]
        used, edges = [], []
        for user, _ in uses:
            user_name = layout.dot_names[id(user)]
            into = layout.op_names.get(id(user), user_name)
            used.append(self.by_dot_name[user_name])
            edges += self._edge(me, into)
            if into != user_name:
                used.append(self.by_dot_name[into])
                edges += self._edge(into, user_name)
        return [[self.by_dot_name[me]], sorted(set(used)), sorted(set(edges))]


def _annotate(
    svg: str,
    layout: Layout,
    order: list[Value],
    names: tuple[dict[int, str], dict[int, str]],
    grads: dict[int, float],
) -> tuple[str, _Elements]:
    """The rendered SVG with the testing contract's attributes on each value's group, a
    number on every node and edge group, and no element ids (two pages must not clash)."""
    ET.register_namespace("", SVG_NAMESPACE)
    ET.register_namespace("xlink", XLINK_NAMESPACE)
    tree = ET.fromstring(svg)
    by_dot_name = {layout.dot_names[id(node)]: node for node in order}
    elements = _Elements()
    count = 0
    for element in tree.iter():
        element.attrib.pop("id", None)
        if element.tag != f"{_SVG}g" or element.get("class") not in ("node", "edge"):
            continue
        title = element.find(f"{_SVG}title")
        text = title.text if title is not None and title.text else ""
        element.set("data-el", str(count))
        if element.get("class") == "edge":
            tail, _, head = text.partition("->")
            key = (tail.split(":")[0], head.split(":")[0])
            elements.edges.setdefault(key, []).append(count)
            if title is not None:
                element.remove(title)  # "v0->v2_op" means nothing to a reader
        else:
            elements.by_dot_name[text] = count
            node = by_dot_name.get(text)
            if node is not None:
                elements.node[id(node)] = count
                _mark_value_group(element, node, count, layout, names, grads)
            elif title is not None:
                element.remove(title)
        count += 1
    return ET.tostring(tree, encoding="unicode"), elements


def _mark_value_group(
    group: ET.Element,
    node: Value,
    count: int,
    layout: Layout,
    names: tuple[dict[int, str], dict[int, str]],
    grads: dict[int, float],
) -> None:
    shown_names, full_names = names
    group.set("data-node", f"n{count}")
    if layout.names.get(id(node)):
        group.set("data-label", layout.names[id(node)])
    group.set("data-value", repr(float(node.data)))
    group.set("data-grad", repr(grads[id(node)]))
    group.set("data-kind", layout.roles[id(node)])
    title = group.find(f"{_SVG}title")
    if title is not None:  # what a pointer resting on the box shows
        full = full_names.get(id(node))
        title.text = f"{shown_names[id(node)]}: {full}" if full else shown_names[id(node)]
    texts = list(group.iter(f"{_SVG}text"))
    for text in texts:
        content = (text.text or "").replace("\xa0", " ")
        if content.startswith("data "):
            text.set("data-part", "value")
        elif content.startswith("grad "):
            text.set("data-part", "grad")
    if layout.roles[id(node)] == "constant" and texts:
        texts[-1].set("data-part", "value")  # a constant's box is its number alone


# --- page template --------------------------------------------------------------------------

_STYLE = """
.tgs-explorer { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, sans-serif;
  color: #222; outline: none; margin: 0.5em 0; position: relative; }
.tgs-explorer .tgs-bar { position: relative; z-index: 3; background: #fff;
  padding-bottom: 0.3em; }
.tgs-explorer .tgs-controls { display: flex; align-items: center; gap: 0.4em;
  margin-bottom: 0.4em; white-space: nowrap; }
.tgs-explorer button { font: inherit; padding: 0.15em 0.7em; border: 1px solid #aaa;
  border-radius: 4px; background: #f7f7f7; cursor: pointer; }
.tgs-explorer button:hover { background: #e9ecef; }
.tgs-explorer input[type=range] { flex: none; width: 14em; }
.tgs-explorer [data-role=step] { font-variant-numeric: tabular-nums; flex: none;
  width: 17em; overflow: hidden; }
.tgs-explorer [data-role=explain], .tgs-explorer .tgs-detail {
  font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 13px;
  line-height: 1.4; white-space: pre-wrap; padding: 0.3em 0.5em; border-radius: 4px;
  box-sizing: border-box; overflow-y: auto; }
.tgs-explorer [data-role=explain] { height: calc(4 * 1.4em + 0.6em); background: #fff8e1;
  border-left: 4px solid #d62728; }
.tgs-explorer .tgs-detail { position: absolute; top: 100%; right: 0;
  width: min(44em, 100%); max-height: 18em; background: #f4efff;
  border: 1px solid #c5b3e6; border-left: 4px solid #6f42c1;
  box-shadow: 0 4px 12px rgba(0, 0, 0, 0.15); }
.tgs-explorer .tgs-detail[hidden] { display: none; }
.tgs-explorer [data-role=close] { float: right; padding: 0 0.4em; margin-left: 0.5em; }
.tgs-explorer .tgs-static { color: #555; font-size: 13px; }
.tgs-explorer svg { display: block; }
.tgs-explorer g[data-node] { cursor: pointer; }
.tgs-explorer g.tgs-no-value [data-part=value],
.tgs-explorer g.tgs-no-grad [data-part=grad] { visibility: hidden; }
.tgs-explorer g.tgs-current polygon, .tgs-explorer g.tgs-current ellipse,
.tgs-explorer g.tgs-current polyline { stroke: #d62728; stroke-width: 4px;
  stroke-dasharray: none; }
.tgs-explorer g.tgs-current { filter: drop-shadow(0 0 4px rgba(214, 39, 40, 0.8)); }
.tgs-explorer g.tgs-used polygon, .tgs-explorer g.tgs-used ellipse,
.tgs-explorer g.tgs-used polyline { stroke: #0d6efd; stroke-width: 2.5px; }
.tgs-explorer g.tgs-picked polygon, .tgs-explorer g.tgs-picked ellipse { stroke: #6f42c1;
  stroke-width: 3px; stroke-dasharray: none; }
.tgs-explorer g.tgs-active path { stroke: #d62728; stroke-width: 2.5px; }
.tgs-explorer g.tgs-active polygon { stroke: #d62728; fill: #d62728; }
"""

# What the script puts above the drawing once it runs. Where it does not run, none of this
# exists: no dead buttons.
_BAR = """<div class="tgs-controls">
<button type="button" data-action="start" title="start (Home)">&#xAB; start</button>
<button type="button" data-action="prev" title="previous step (&#x2190;)">&#x2039; prev</button>
<button type="button" data-action="next" title="next step (&#x2192;)">next &#x203A;</button>
<button type="button" data-action="end" title="end (End)">end &#xBB;</button>
<input type="range" data-role="slider" min="0" value="0" aria-label="step">
<span data-role="step"></span>
</div>
<div data-role="explain" aria-live="polite"></div>
<div class="tgs-detail" data-role="detail-panel" hidden><button type="button" \
data-role="close" title="close (Esc)">&#xD7;</button><span data-role="detail"></span></div>"""

# Stepping: the page holds, for every step, its text and what to mark, and for every value
# the step that reveals its value and the one that reveals its gradient. Nothing is computed
# here: the numbers were written by Python from the engine's.
_SCRIPT = """
(function (container) {
  var script = document.currentScript;
  var root = script && script.parentNode;
  if (!root || !root.classList || !root.classList.contains("tgs-explorer")) {
    root = document.getElementById(container);
  }
  if (!root || root.getAttribute("data-ready")) { return; }
  root.setAttribute("data-ready", "1");
  var data = JSON.parse(root.querySelector("script[data-role=steps]").textContent);
  var steps = data.steps, nodes = data.nodes, last = steps.length - 1;

  // The live drawing is the picture's own SVG, taken out of its data: URL and put in the
  // page, as wide as the output and never wider than drawn (as graph.fit_width does).
  var picture = root.querySelector("img.tgs-picture");
  var encoded = picture.getAttribute("src").split(",")[1];
  var bytes = Uint8Array.from(atob(encoded), function (c) { return c.charCodeAt(0); });
  var graph = document.createElement("div");
  graph.className = "tgs-graph";
  graph.innerHTML = new TextDecoder("utf-8").decode(bytes);
  var svg = graph.querySelector("svg");
  svg.style.maxWidth = svg.getAttribute("width");
  svg.style.height = "auto";
  svg.setAttribute("width", "100%");
  svg.removeAttribute("height");
  var bar = document.createElement("div");
  bar.className = "tgs-bar";
  bar.innerHTML = data.bar;
  root.insertBefore(bar, picture);
  root.insertBefore(graph, picture);
  picture.hidden = true;
  root.querySelector(".tgs-static").hidden = true;

  var groups = {};
  svg.querySelectorAll("g[data-el]").forEach(function (g) {
    groups[g.getAttribute("data-el")] = g;
  });
  var counter = bar.querySelector("[data-role=step]");
  var explain = bar.querySelector("[data-role=explain]");
  var detail = bar.querySelector("[data-role=detail-panel]");
  var detailText = bar.querySelector("[data-role=detail]");
  var slider = bar.querySelector("[data-role=slider]");
  slider.max = String(last);
  var current = 0;
  var marked = [];

  function show(step) {
    current = Math.max(0, Math.min(last, step));
    nodes.forEach(function (node) {
      var g = groups[node.el];
      if (current >= node.shown) { g.setAttribute("data-value", node.value); }
      else { g.removeAttribute("data-value"); }
      if (current >= node.arrives) { g.setAttribute("data-grad", node.grad); }
      else { g.removeAttribute("data-grad"); }
      g.classList.toggle("tgs-no-value", current < node.shown);
      g.classList.toggle("tgs-no-grad", current < node.arrives);
    });
    marked.forEach(function (pair) { pair[0].classList.remove(pair[1]); });
    marked = [];
    var s = steps[current];
    ["tgs-current", "tgs-used", "tgs-active"].forEach(function (name, i) {
      (s.marks[i] || []).forEach(function (el) {
        var g = groups[el];
        if (g) { g.classList.add(name); marked.push([g, name]); }
      });
    });
    var phase = s.phase === "start" ? "start" :
      (s.phase === "forward" ? "forward pass" : "backward pass");
    counter.textContent = "step " + current + " of " + last + " \\u00b7 " + phase;
    explain.textContent = s.explain;
    slider.value = String(current);
  }

  function act(action) {
    if (action === "start") { show(0); }
    else if (action === "prev") { show(current - 1); }
    else if (action === "next") { show(current + 1); }
    else if (action === "end") { show(last); }
  }

  function pick(g, text) {
    root.querySelectorAll("g.tgs-picked").forEach(function (other) {
      other.classList.remove("tgs-picked");
    });
    if (g) { g.classList.add("tgs-picked"); }
    detailText.textContent = text;
    detail.hidden = !g;
  }

  bar.querySelectorAll("[data-action]").forEach(function (button) {
    button.addEventListener("click", function () { act(button.getAttribute("data-action")); });
  });
  slider.addEventListener("input", function () { show(parseInt(slider.value, 10)); });
  bar.querySelector("[data-role=close]").addEventListener("click", function () {
    pick(null, "");
  });
  nodes.forEach(function (node) {
    var g = groups[node.el];
    g.addEventListener("click", function () {
      if (g.classList.contains("tgs-picked")) { pick(null, ""); }
      else { pick(g, node.detail); }
    });
  });

  // The keys go to the explorer last clicked or hovered; a page of its own takes them from
  // the start. Never while the reader types (a notebook cell, a text field) or presses a
  // modifier, and the slider moves itself with the arrows.
  var shared = window.tgsExplorers = window.tgsExplorers || {active: null};
  function activate() { shared.active = root; }
  root.addEventListener("mouseenter", activate);
  root.addEventListener("pointerdown", activate);
  root.addEventListener("focusin", activate);
  if (data.standalone) { activate(); }
  var keys = {ArrowRight: "next", ArrowLeft: "prev", Home: "start", End: "end"};
  function onKey(event) {
    if (!root.isConnected) { window.removeEventListener("keydown", onKey, true); return; }
    if (shared.active !== root || event.altKey || event.ctrlKey || event.metaKey) { return; }
    var target = event.target;
    if (target === slider || (target && (target.isContentEditable ||
        /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)))) { return; }
    if (event.key === "Escape" && !detail.hidden) { pick(null, ""); }
    else if (keys[event.key]) { act(keys[event.key]); }
    else { return; }
    event.preventDefault();
    event.stopPropagation();  // keep notebook shortcuts out of it
  }
  window.addEventListener("keydown", onKey, true);

  // The bar (buttons, slider, counter, explanation) stays in view while a tall drawing
  // scrolls under it. CSS's position: sticky cannot do it inside a notebook, whose output
  // areas clip their overflow, so the bar is moved down by hand: to the top of whatever
  // scrolls the page, never past the drawing's end.
  var pending = false;
  function keepBarInView() {
    pending = false;
    if (!root.isConnected) { document.removeEventListener("scroll", onScroll, true); return; }
    var top = 0;
    for (var p = root.parentElement; p; p = p.parentElement) {
      var overflow = getComputedStyle(p).overflowY;
      if (overflow !== "visible" && p.scrollHeight > p.clientHeight) {
        top = Math.max(top, p.getBoundingClientRect().top);
      }
    }
    var box = root.getBoundingClientRect();
    // a header that stays at the top of the window (a docs site's) covers what is under it
    var x = Math.min(Math.max(box.left + 1, 0), window.innerWidth - 1);
    document.elementsFromPoint(x, 0).forEach(function (el) {
      var position = getComputedStyle(el).position;
      if (!root.contains(el) && (position === "fixed" || position === "sticky")) {
        top = Math.max(top, el.getBoundingClientRect().bottom);
      }
    });
    var shift = Math.max(0, Math.min(top - box.top, box.height - bar.offsetHeight));
    bar.style.transform = shift > 0 ? "translateY(" + shift + "px)" : "";
  }
  function onScroll() {
    if (!pending) { pending = true; window.requestAnimationFrame(keepBarInView); }
  }
  document.addEventListener("scroll", onScroll, true);
  show(0);
})"""

# The page as written: the finished drawing as a picture (every value and gradient; what a
# viewer that runs no script shows, sanitized or not), a line saying what it is, and the
# script that turns it into the stepping explorer.
_PAGE = """<div class="tgs-explorer" id="{container}" tabindex="0">
<style>{style}</style>
{picture}
<div class="tgs-static">The graph of {root_name} with every value and gradient. \
Where scripts run, buttons and the arrow keys step through the forward and backward pass.</div>
<script type="application/json" data-role="steps">{data}</script>
<script>{script}("{container}");</script>
</div>"""
