"""Code written from the rules table: the Value methods, layer kernels and walk kernels.

A hand-written `__mul__` would repeat MUL's rule. Instead each rule is run once on a
symbolic backend whose "numbers" are pieces of Python source, which turns

    MUL = Rule("*", lambda o, a, b: a * b, lambda o, out, a, b: (b, a))

into the body of `Value.__mul__`:

    a = self.data
    b = other.data
    out = a * b
    ...
    node._first_parent = self
    node._first_local = b
    node._second_parent = other
    node._second_local = a

The functions of the float backend stay calls (`_f_exp(x)`), and `o.where` becomes
Python's conditional expression. The point is speed: one Python call per op, with no rule
lookups, as fast as a hand-written Value.

The Value methods are committed, in _generated.py (`make generate` writes it; a test checks
that it is up to date), so grep, go-to-definition, mypy and coverage see the code that runs.
The layer kernels (a layer of neurons of one width) and walk kernels (the chain rule for a
node of n parents) are made at run time, one per width, from the same node layout
(`node_lines`); `layer_kernel_source(16, True)` and `walk_kernel_source(16)` show them.
"""

from __future__ import annotations

import linecache
import math
import re
from pathlib import Path
from typing import Any

from . import rules
from .rules import Rule


class _Source:
    """A symbolic number: the Python expression that computes it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def _op(self, symbol: str, other: Any, reflected: bool = False) -> _Source:
        left, right = (_text(other), self.text) if reflected else (self.text, _text(other))
        return _Source(f"({left} {symbol} {right})")

    def __add__(self, other: Any) -> _Source:
        return self._op("+", other)

    def __radd__(self, other: Any) -> _Source:
        return self._op("+", other, reflected=True)

    def __sub__(self, other: Any) -> _Source:
        return self._op("-", other)

    def __rsub__(self, other: Any) -> _Source:
        return self._op("-", other, reflected=True)

    def __mul__(self, other: Any) -> _Source:
        return self._op("*", other)

    def __rmul__(self, other: Any) -> _Source:
        return self._op("*", other, reflected=True)

    def __bool__(self) -> bool:  # a Python `if` on a symbol would freeze one branch
        raise TypeError("codegen: a rule branches in Python; write the choice as o.where")

    def __truediv__(self, other: Any) -> _Source:  # Python's / (rules use o.div)
        return self._op("/", other)

    def __rtruediv__(self, other: Any) -> _Source:
        return self._op("/", other, reflected=True)

    def __neg__(self) -> _Source:
        return _Source(f"(-{self.text})")

    def __lt__(self, other: Any) -> _Source:
        return self._op("<", other)

    def __le__(self, other: Any) -> _Source:
        return self._op("<=", other)

    def __gt__(self, other: Any) -> _Source:
        return self._op(">", other)

    def __ge__(self, other: Any) -> _Source:
        return self._op(">=", other)

    def __and__(self, other: Any) -> _Source:
        return self._op("and", other)

    def __or__(self, other: Any) -> _Source:
        return self._op("or", other)


def _is_literal(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _text(x: Any) -> str:
    if isinstance(x, _Source):
        return x.text
    if type(x) is float:
        return repr(x) if x == x and abs(x) != float("inf") else f"float({str(x)!r})"
    if type(x) is int:  # Python's sum() starts from the int 0
        return repr(x)
    raise TypeError(f"codegen: cannot write {type(x).__name__} {x!r} as source")


# Where a float-backend function is Python's own operator or math function on most inputs,
# the method calls that directly and the backend function only for the rest. Each line is
# a fact about rules.floats (tests compare the methods with the rules at the edge cases):
_FAST_FORMS = {
    "div": "({0} / {1} if {1} else _f_div({0}, {1}))",  # div(a, b) is a / b for b != 0
    "exp": "(_math_exp({0}) if {0} < 709.0 else _f_exp({0}))",  # no overflow below 709
    "log": "(_math_log({0}) if {0} > 0.0 else _f_log({0}))",
    "sqrt": "(_math_sqrt({0}) if {0} >= 0.0 else _f_sqrt({0}))",
}


class _SourceBackend:
    """The backend `o` for symbolic numbers: a call of the float backend's function."""

    def __getattr__(self, name: str) -> Any:
        getattr(rules.floats, name)  # only what the float backend has

        def call(*args: Any) -> _Source:
            texts = list(map(_text, args))
            if name in _FAST_FORMS and all(t.isidentifier() or _is_literal(t) for t in texts):
                return _Source(_FAST_FORMS[name].format(*texts))
            return _Source(f"_f_{name}({', '.join(texts)})")

        return call

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> _Source:
        return _Source(f"({_text(a)} if {_text(cond)} else {_text(b)})")

    @staticmethod
    def eq(a: Any, b: Any) -> _Source:
        return _Source(f"({_text(a)} == {_text(b)})")


# --- the node layout: how every node is built, written once ----------------------------------
# Value.__slots__ (engine.py) says what the slots mean. A node of one or two parents keeps
# them in slots (_first_parent, _second_parent) with their local derivatives beside them
# (_first_local, _second_local); a node of more parents keeps two tuples (_parents,
# _local_grads); a leaf has no rule and no parents. Every place that builds a node uses
# these lines: the Value methods, new_node and set_leaf (so Value.__init__, engine's ops and
# unpickling), and the layer kernels.


def node_lines(
    node: str,
    value: str,
    rule: str,
    parents: list[str],
    local_grads: Any,
    known: dict | None = None,
) -> list[str]:
    """The statements that fill the slots of the Value `node` (already made with _new):
    its `value`, gradient 0, the `rule` that made it, its `parents` and the local derivative
    of each (expressions). No parents makes a leaf. `known` names tuples that already exist
    (see _tuple_source)."""
    lines = [f"{node}.data = {value}", f"{node}.grad = 0.0"]
    if not parents:
        return [
            *lines,
            f"{node}._rule = {node}._first_parent = {node}._second_parent = None",
            f"{node}._parents = {node}._local_grads = ()",
        ]
    lines.append(f"{node}._rule = {rule}")
    local_grads = [_text(g) for g in local_grads]
    if len(parents) > 2:
        return [
            *lines,
            f"{node}._first_parent = {node}._second_parent = None",
            f"{node}._parents = {_tuple_source(parents, known or {})}",
            f"{node}._local_grads = {_tuple_source(local_grads, known or {})}",
        ]
    lines += [f"{node}._first_parent = {parents[0]}", f"{node}._first_local = {local_grads[0]}"]
    if len(parents) == 2:
        return [
            *lines,
            f"{node}._second_parent = {parents[1]}",
            f"{node}._second_local = {local_grads[1]}",
        ]
    return [*lines, f"{node}._second_parent = None"]


def _tuple_source(items: list[str], known: dict) -> str:
    """A tuple of these expressions as source, where a run of them that `known` maps to a
    tuple that already exists is that tuple: ("x_data + (d0, d1, 1.0,)" for a layer's
    inputs' data and a neuron's weights' data). Joining tuples is about twice as fast as
    building one item by item."""
    parts: list[str] = []
    single: list[str] = []
    at = 0
    while at < len(items):
        for run, expression in known.items():
            if tuple(items[at : at + len(run)]) == run:
                if single:
                    parts.append(f"({', '.join(single)},)")
                    single = []
                parts.append(expression)
                at += len(run)
                break
        else:
            single.append(items[at])
            at += 1
    if single:
        parts.append(f"({', '.join(single)},)")
    return " + ".join(parts)


def _indented(lines: list[str], spaces: int) -> str:
    return "\n".join(" " * spaces + line if line else "" for line in lines)


def _lines(lines: list[str], spaces: int) -> list[str]:
    return [" " * spaces + line if line else "" for line in lines]


def _tuple_of(names: list[str]) -> str:
    return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"


def enclosed_in_parentheses(text: str) -> bool:
    """True for one pair of parentheses around the whole text: `(a * b)`, not `(a)*(b)`."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and i < len(text) - 1:
            return False
    return True


def _unparenthesized(text: str) -> str:
    """`(a * b)` as `a * b`, where the outer parentheses enclose the whole expression."""
    return text[1:-1] if enclosed_in_parentheses(text) else text


# --- the Value methods: each rule run once on symbols ---------------------------------------


def _rule_name(rule: Rule) -> str:
    """The name rules.py gives `rule` (MUL for rules.MUL)."""
    return next(name for name, value in vars(rules).items() if value is rule)


def _convert_other() -> list[str]:
    """A number operand becomes a leaf (a constant of the graph); a float is the common case."""
    return [
        "if not isinstance(other, Value):",
        "    if type(other) is float:",
        "        constant = _new(Value)",
        *_lines(node_lines("constant", "other", "None", [], ()), 8),
        "        other = constant",
        "    else:",
        "        other = _constant(other)",
        "        if other is NotImplemented:",
        "            return other",
    ]


def _body(rule: Rule, inputs: list[str], rule_name: str, parents: list[str]) -> list[str]:
    """What follows reading the inputs' data: the forward value, then the node."""
    o = _SourceBackend()
    symbols = [_Source(name) for name in inputs]
    arg = [_Source("c")] if rule.takes_arg else []
    forward = rule.forward(o, *symbols, *arg)
    local_grads = rule.derivatives(o, _Source("out"), *symbols, *arg)
    local_grads = [_Source(_unparenthesized(_text(g))) for g in local_grads]
    return [
        f"out = {_unparenthesized(_text(forward))}",
        "if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path",
        f"    return _finish({rule_name}, {_tuple_of(parents)}, {_tuple_of(inputs)}, out)",
        "node = _new(Value)",
        *node_lines("node", "out", rule_name, parents, local_grads),
        "return node",
    ]


def _binary(method: str, rule: Rule, reflected: bool) -> list[str]:
    a, b = ("other", "self") if reflected else ("self", "other")
    shown = f"{rule.name}({a}, {b})" if rule.name.isalpha() else f"{a} {rule.name} {b}"
    return [
        f"def {method}(self: Value, other: Operand) -> Value:",
        f'    """{shown}: rules.{_rule_name(rule)}."""',
        *_lines(_convert_other(), 4),
        f"    a = {a}.data",
        f"    b = {b}.data",
        *_lines(_body(rule, ["a", "b"], _rule_name(rule), [a, b]), 4),
    ]


def _unary(method: str, rule: Rule) -> list[str]:
    return [
        f"def {method}(self: Value) -> Value:",
        f'    """{rule.name}(self): rules.{_rule_name(rule)}."""',
        "    x = self.data",
        *_lines(_body(rule, ["x"], _rule_name(rule), ["self"]), 4),
    ]


def _power_by() -> list[str]:
    # x ** c for a number c: POWER_BY with c as its parameter; a Value exponent is POW.
    return [
        "def __pow__(self: Value, exponent: Operand) -> Value:",
        '    """self ** exponent: rules.POWER_BY.with_arg(exponent) for a number exponent,',
        '    rules.POW for a Value."""',
        "    if isinstance(exponent, Value):",
        "        return _pow_values(self, exponent)",
        "    c = exponent if type(exponent) is float else _exponent(exponent)",
        "    if c is NotImplemented:",
        "        return c",
        "    rule = (c and _power_rules.get(c)) or _power_by(c)  # 0 and -0.0 differ",
        "    x = self.data",
        *_lines(_body(rules.POWER_BY, ["x"], "rule", ["self"]), 4),
    ]


# method name -> (rule, reflected) for two-input ops; method name -> rule for one input
BINARY = {
    "__add__": (rules.ADD, False),
    "__radd__": (rules.ADD, True),
    "__sub__": (rules.SUB, False),
    "__rsub__": (rules.SUB, True),
    "__mul__": (rules.MUL, False),
    "__rmul__": (rules.MUL, True),
    "__truediv__": (rules.DIV, False),
    "__rtruediv__": (rules.DIV, True),
    "_pow_values": (rules.POW, False),
    "__rpow__": (rules.POW, True),
}
UNARY = {
    "__neg__": rules.NEG,
    "exp": rules.EXP,
    "log": rules.LOG,
    "log1p": rules.LOG1P,
    "sqrt": rules.SQRT,
    "tanh": rules.TANH,
    "sigmoid": rules.SIGMOID,
    "sin": rules.SIN,
    "cos": rules.COS,
    "relu": rules.RELU,
    "abs": rules.ABS,
    "softplus": rules.SOFTPLUS,
}

GENERATED_FILE = Path(__file__).with_name("_generated.py")

_HEADER = '''\
"""The Value methods (+ - * / ** exp log ...) and how a node is built, from rules.py.

GENERATED from the rules table (rules.py) by codegen.py: do not edit. Change rules.py or
codegen.py, then run `make generate`; a test (tests/test_codegen.py) fails when this file
differs from a fresh generation.

Each method is its rule run once on symbols: MUL's forward `a * b` and local derivatives
`(b, a)` become `out = a * b` and a node whose parents self and other have the local
derivatives b and a. The float backend's functions stay calls (`_f_exp(x)`), and `o.where`
becomes Python's conditional expression: one Python call per op, with no rule lookups, as
fast as a hand-written Value. While a mode is on (no_grad, detect_anomaly, compile) a
method hands its result to the engine's general path instead.

Value (engine.py) takes these functions as its methods (`__mul__ = _generated.__mul__`),
then calls `connect` to hand this module the names it uses from the engine.
"""

# ruff: noqa: E501
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .rules import {rule_imports}, floats

if TYPE_CHECKING:
    from .engine import Operand, Value
    from .rules import Rule

# From the engine, set by connect(): its general path of an op, a number as a leaf, a
# number exponent as a float. engine.mode() keeps `modes_active` equal to its own count.
_finish: Callable[..., Value]
_constant: Callable[[Any], Value]  # or NotImplemented, for what is not a number
_exponent: Callable[[Any], float]  # or NotImplemented
modes_active = 0


def connect(value_class: type, finish: Callable, constant: Callable, exponent: Callable) -> None:
    """Called once by engine.py, which imports this module before it defines Value."""
    globals().update(Value=value_class, _finish=finish, _constant=constant, _exponent=exponent)


_new = object.__new__
{float_functions}
_power_by = POWER_BY.with_arg
_power_rules = POWER_BY._bound  # the rules with_arg made already, by parameter
'''


def _float_function_lines(source: str) -> list[str]:
    """`_f_exp = floats.exp` and so on, for the float backend's functions `source` calls."""
    used = sorted(set(re.findall(r"\b_f_(\w+)\(", source)))
    lines = [f"_f_{name} = floats.{name}" for name in used]
    math_used = sorted(set(re.findall(r"\b_math_(\w+)\(", source)))
    return lines + [f"_math_{name} = math.{name}" for name in math_used]


def _node_builders() -> list[str]:
    """set_node and new_node: the node layout as functions, for engine.py."""
    by_arity = []
    conditions = ["if not parents", "elif len(parents) == 1", "elif len(parents) == 2", "else"]
    for arity, condition in enumerate(conditions):
        parents = ["parents[0]", "parents[1]"][:arity] if arity < 3 else ["parents"] * 3
        local_grads = [_Source(f"local_grads[{i}]") for i in range(min(arity, 2))]
        lines = node_lines("node", "data", "rule", parents, local_grads)
        if arity == 3:  # the tuples as they are (the locals as a tuple: they may be a list)
            lines[-2:] = ["node._parents = parents", "node._local_grads = tuple(local_grads)"]
        by_arity += [f"    {condition}:", *_lines(lines, 8)]
    signature = "data: float, parents: tuple, local_grads: Sequence, rule: Rule | None"
    return [
        f"def set_node(node: Value, {signature}) -> None:",
        '    """Fill the slots of `node`: the value `data`, made by `rule` from `parents` (a leaf',
        "    if there are none), with the local derivative of each. Value.__init__, new_node",
        '    and unpickling build nodes with it; the methods below write the same lines out."""',
        *by_arity,
        "",
        "",
        f"def new_node({signature}) -> Value:",
        '    """A new Value laid out by set_node; `data` is already a float."""',
        "    node = _new(Value)",
        "    set_node(node, data, parents, local_grads, rule)",
        "    return node",
    ]


def generated_module_source() -> str:
    """The text of _generated.py, as `make generate` writes it."""
    functions: list[str] = []
    for method, (rule, reflected) in BINARY.items():
        functions += ["", "", *_binary(method, rule, reflected)]
    for method, rule in UNARY.items():
        functions += ["", "", *_unary(method, rule)]
    functions += ["", "", *_power_by(), "", "", "__abs__ = abs", ""]
    body = "\n".join(["", "", *_node_builders(), *functions])
    used_rules = {_rule_name(rule) for rule, _ in BINARY.values()}
    used_rules |= {_rule_name(rule) for rule in UNARY.values()} | {"POWER_BY"}
    header = _HEADER.format(
        rule_imports=", ".join(sorted(used_rules)),
        float_functions="\n".join(_float_function_lines(body)),
    )
    return header + body


def generated_source() -> str:
    """The source of every generated Value method: the committed _generated.py."""
    return generated_module_source()


def write_generated_module() -> Path:
    """Write _generated.py next to this file (what `make generate` runs)."""
    GENERATED_FILE.write_text(generated_module_source(), encoding="utf-8")
    return GENERATED_FILE


# --- a layer of dot nodes: DOT's rule written out for one width ---------------------------

# The widest neuron (layer kernel) and node (walk kernel) written out: a kernel is a line
# per input, and wider ones take engine's general loops.
MAX_KERNEL_WIDTH = 64

_LAYER_KERNEL = """\
def layer_kernel(rows, biases, inputs):
    nodes = []
    append = nodes.append
    try:
        {inputs} = inputs
        {input_checks}  # only Values have _rule
{input_reads}
        x_data = ({x_data})
        for {loop}:
            {weights} = ws  # a ValueError if the row is not {n} long
            {checks}
{reads}
            total = {forward}
{node}
{activate}            append(node)
    except (AttributeError, TypeError, ValueError):  # a row or inputs not {n} Values
        return None
    return nodes
"""

# the activation of a neuron's total, as a second node
_ACTIVATE = """\
            parent = node
            out = {forward}
{node}
"""


def layer_kernel_source(n: int, bias: bool, activation: Rule | None = None) -> str:
    """The source of `layer_kernel` for neurons of n inputs, with or without a bias, and
    an optional activation (a rule of one input and no parameter, such as RELU): DOT's
    rule run on symbols (weights' data d0.., inputs' data x0.., the bias's bd), unrolled,
    then the activation's rule on the total, so a layer's forward pass costs what
    hand-written code would.

    `layer_kernel(rows, biases, inputs)` makes one DOT node per row of weights (and bias,
    if there are biases), each followed by an activation node if there is an activation,
    and returns the last node of each row; or returns None, having made nothing that is
    kept, if the inputs or a row are not n Values (engine.dots then takes its general
    path, which converts numbers and names what is wrong). Reading `_rule`,
    a slot only Values have, is the type check: it costs a third of `type(w) is Value`.
    """
    o = _SourceBackend()
    symbols = [_Source(f"d{i}") for i in range(n)] + [_Source(f"x{i}") for i in range(n)]
    nodes = [f"w{i}" for i in range(n)] + [f"i{i}" for i in range(n)]
    if bias:
        symbols.append(_Source("bd"))
        nodes.append("b")
    local_grads = rules.DOT.derivatives(o, _Source("total"), symbols)
    weights = [f"w{i}" for i in range(n)]
    checked = weights + ["b"] if bias else weights
    reads = [f"d{i} = w{i}.data" for i in range(n)] + (["bd = b.data"] if bias else [])
    known = {  # tuples the kernel has already: see _tuple_source
        tuple(f"i{i}" for i in range(n)): "inputs",
        tuple(f"x{i}" for i in range(n)): "x_data",
    }
    activate = ""
    if activation is not None:
        total, out = _Source("total"), _Source("out")
        derivatives = activation.derivatives(o, out, total)
        activate = _ACTIVATE.format(
            forward=_text(activation.forward(o, total)),
            node=_indented(_new_node_lines("out", "_rule_activation", ["parent"], derivatives), 12),
        )
    inputs = [f"i{i}" for i in range(n)]
    return _LAYER_KERNEL.format(
        n=n,
        inputs=", ".join(inputs) + ",",
        input_checks="; ".join(f"{i}._rule" for i in inputs),
        input_reads=_indented([f"x{i} = i{i}.data" for i in range(n)], 8),
        x_data=", ".join(f"x{i}" for i in range(n)) + ",",
        loop="ws, b in zip(rows, biases)" if bias else "ws in rows",
        weights=", ".join(weights) + ",",
        checks="; ".join(f"{w}._rule" for w in checked),
        reads=_indented(reads, 12),
        forward=_text(rules.DOT.forward(o, symbols)),
        node=_indented(_new_node_lines("total", "_rule_dot", nodes, local_grads, known), 12),
        activate=activate,
    )


def _new_node_lines(
    value: str, rule: str, parents: list[str], local_grads: Any, known: dict | None = None
) -> list[str]:
    return ["node = _new(Value)", *node_lines("node", value, rule, parents, local_grads, known)]


layer_kernels: dict = {}


def layer_kernel(n: int, bias: bool, activation: Rule | None = None) -> Any:
    """The compiled layer kernel (see layer_kernel_source), made once; None where there is
    none: more than MAX_KERNEL_WIDTH inputs, or an activation that is not one of rules.py's
    rules of one input and no parameter. A user's rule is never written into a kernel: it
    may read something that changes (a global, a closure), and the kernel would keep what
    it read when it was made (engine.dots applies it after a kernel without it)."""
    if not 0 < n <= MAX_KERNEL_WIDTH:
        return None
    if activation is not None and (
        activation.nary or activation.takes_arg or activation.forward.__module__ != rules.__name__
    ):
        return None
    key = (n, bias, activation)
    if key not in layer_kernels:
        if len(layer_kernels) >= 256:  # a new Rule object on every call, say
            layer_kernels.clear()
        namespace = _float_functions()
        namespace["Value"], namespace["_new"] = _value_class, object.__new__
        namespace["_rule_dot"], namespace["_rule_activation"] = rules.DOT, activation
        name = f"layer kernel {n}{' + bias' if bias else ''}"
        name += f", {activation.name}" if activation is not None else ""
        source = layer_kernel_source(n, bias, activation)
        layer_kernels[key] = _run_source(source, name, namespace)["layer_kernel"]
    return layer_kernels[key]


# --- the chain rule for one node, written out for its number of parents ---------------------

# For nodes of 3 to MAX_KERNEL_WIDTH parents (backpropagate writes out one and two itself).
WALK_KERNEL_WIDTHS = range(3, MAX_KERNEL_WIDTH + 1)


def walk_kernel_source(n: int) -> str:
    """The chain rule's inner loop (engine.backpropagate) for a node of n parents, unrolled:
    each parent's `.grad` gets its local derivative times the node's gradient (about 40%
    faster than the loop for a neuron of 16 inputs)."""
    lines = [
        "def walk_kernel(parents, local_grads, grad):",
        "    " + "".join(f"p{i}, " for i in range(n)) + "= parents",
        "    " + "".join(f"l{i}, " for i in range(n)) + "= local_grads",
    ]
    lines += [f"    p{i}.grad += l{i} * grad" for i in range(n)]
    return "\n".join(lines) + "\n"


def walk_kernel(n: int) -> Any:
    """The walk kernel for n parents (see walk_kernel_source), compiled (engine keeps
    each one it makes)."""
    return _run_source(walk_kernel_source(n), f"walk kernel {n}", {})["walk_kernel"]


def _run_source(source: str, name: str, namespace: dict) -> dict:
    """Run generated `source` in `namespace` and return it. The source is also put in
    linecache under the file name `<tinygrad_scalar NAME>`, so tracebacks, pdb and
    inspect.getsource show a kernel's lines like any other code's."""
    filename = f"<tinygrad_scalar {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace


_value_class: Any = None


def _float_functions() -> dict:
    """What generated source may call: the float backend's functions as _f_exp ..., and
    the math functions of _FAST_FORMS."""
    namespace = {f"_f_{name}": getattr(rules.floats, name) for name in dir(rules.floats)}
    namespace = {name: f for name, f in namespace.items() if not name.startswith("_f___")}
    namespace.update(_math_exp=math.exp, _math_log=math.log, _math_sqrt=math.sqrt)
    return namespace


def use_value_class(value_class: Any) -> None:
    """The class the layer kernels make nodes of (engine.py calls this once)."""
    global _value_class
    _value_class = value_class


if __name__ == "__main__":  # make generate
    print(f"wrote {write_generated_module()}")
