"""The Value methods (+ - * / ** exp log ...), generated from the rules table.

A hand-written `__mul__` would repeat MUL's rule. Instead each rule is run once on a
symbolic backend whose "numbers" are pieces of Python source, which turns

    MUL = Rule("*", lambda o, a, b: a * b, lambda o, out, a, b: (b, a))

into the body of `Value.__mul__`:

    a = self.data
    b = other.data
    out = (a * b)
    ... node.local_grads = (b, a)

The functions of the float backend stay calls (`_f_exp(x)`), and `o.where` becomes
Python's conditional expression. Reading rules.py is enough to know what every method
computes; `generated_source()` shows the result. The point is speed: one Python call per
op, with no rule lookups, as fast as a hand-written Value.
"""

from __future__ import annotations

import math
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


# a number operand becomes a leaf (a constant of the graph); a float is the common case
_CONVERT_OTHER = """\
    if type(other) is not Value:
        if type(other) is float:
            constant = _new(Value)
            constant.data = other
            constant.grad = 0.0
            constant._rule = constant._a = constant._b = None
            constant._parents = constant._local_grads = ()
            other = constant
        else:
            other = _constant(other)
            if other is NotImplemented:
                return other
"""

_MAKE_NODE = """\
    if _modes_active:
        return _finish({rule}, ({parents},), ({datas},), out)
{node}
    return node
"""


def _node_lines(
    value: str, rule: str, parents: list[str], local_grads: Any, known: dict | None = None
) -> list[str]:
    """The statements that make `node`: a new Value holding `value`, made by `rule`, with
    its parents and their local derivatives in the slots Value uses for that many parents
    (see Value.__slots__): engine._new_node, written out. `known` names tuples that
    already exist (see _tuple_source)."""
    lines = ["node = _new(Value)", f"node.data = {value}", "node.grad = 0.0"]
    lines.append(f"node._rule = {rule}")
    local_grads = [_text(g) for g in local_grads]
    if len(parents) > 2:
        return [
            *lines,
            "node._a = node._b = None",
            f"node._parents = {_tuple_source(parents, known or {})}",
            f"node._local_grads = {_tuple_source(local_grads, known or {})}",
        ]
    lines += [f"node._a = {parents[0]}", f"node._da = {local_grads[0]}"]
    if len(parents) == 2:
        return [*lines, f"node._b = {parents[1]}", f"node._db = {local_grads[1]}"]
    return [*lines, "node._b = None"]


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
    return "\n".join(" " * spaces + line for line in lines)


def _body(rule: Rule, inputs: list[str], rule_name: str, parents: list[str]) -> str:
    o = _SourceBackend()
    symbols = [_Source(name) for name in inputs]
    arg = [_Source("c")] if rule.takes_arg else []
    forward = rule.forward(o, *symbols, *arg)
    local_grads = rule.derivatives(o, _Source("out"), *symbols, *arg)
    return f"    out = {_text(forward)}\n" + _MAKE_NODE.format(
        rule=rule_name,
        parents=", ".join(parents),
        datas=", ".join(inputs),
        node=_indented(_node_lines("out", rule_name, parents, local_grads), 4),
    )


def _binary(method: str, rule: Rule, rule_name: str, reflected: bool) -> str:
    a, b = ("other", "self") if reflected else ("self", "other")
    return (
        f"def {method}(self, other):\n{_CONVERT_OTHER}"
        f"    a = {a}.data\n    b = {b}.data\n" + _body(rule, ["a", "b"], rule_name, [a, b])
    )


def _unary(method: str, rule: Rule, rule_name: str) -> str:
    return f"def {method}(self):\n    x = self.data\n" + _body(rule, ["x"], rule_name, ["self"])


def _power_by() -> str:
    # x ** c for a number c: POWER_BY with c as its parameter; a Value exponent is POW.
    return (
        "def __pow__(self, exponent):\n"
        "    if isinstance(exponent, Value):\n"
        "        return _pow_values(self, exponent)\n"
        "    c = exponent if type(exponent) is float else _exponent(exponent)\n"
        "    if c is NotImplemented:\n"
        "        return c\n"
        "    rule = (c and _power_rules.get(c)) or _power_by(c)  # 0 and -0.0 differ\n"
        "    x = self.data\n" + _body(rules.POWER_BY, ["x"], "rule", ["self"])
    )


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


def generated_source() -> str:
    """The source of every generated Value method."""
    parts = [_binary(m, rule, f"_rule_{m}", reflected) for m, (rule, reflected) in BINARY.items()]
    parts += [_unary(m, rule, f"_rule_{m}") for m, rule in UNARY.items()]
    parts.append(_power_by())
    return "\n\n".join(parts)


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
            node=_indented(_node_lines("out", "_rule_activation", ["parent"], derivatives), 12),
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
        node=_indented(_node_lines("total", "_rule_dot", nodes, local_grads, known), 12),
        activate=activate,
    )


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
        source = layer_kernel_source(n, bias, activation)
        exec(compile(source, f"<tinygrad_scalar layer kernel {n}>", "exec"), namespace)
        layer_kernels[key] = namespace["layer_kernel"]
    return layer_kernels[key]


# --- the chain rule for one node, written out for its number of parents ---------------------

# For nodes of 3 to MAX_KERNEL_WIDTH parents (backpropagate writes out one and two itself).
WALK_KERNEL_WIDTHS = range(3, MAX_KERNEL_WIDTH + 1)


def walk_kernel_source(n: int) -> str:
    """engine.backpropagate's step for a node of n parents, unrolled: each parent's
    `.grad` gets its local derivative times the node's gradient (about 40% faster than
    the loop for a neuron of 16 inputs)."""
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
    namespace: dict = {}
    exec(compile(walk_kernel_source(n), f"<tinygrad_scalar walk kernel {n}>", "exec"), namespace)
    return namespace["walk_kernel"]


_value_class: Any = None


def _float_functions() -> dict:
    """What generated source may call: the float backend's functions as _f_exp ..., and
    the math functions of _FAST_FORMS."""
    namespace = {f"_f_{name}": getattr(rules.floats, name) for name in dir(rules.floats)}
    namespace = {name: f for name, f in namespace.items() if not name.startswith("_f___")}
    namespace.update(_math_exp=math.exp, _math_log=math.log, _math_sqrt=math.sqrt)
    return namespace


def install_methods(value_class: Any, namespace: dict) -> None:
    """Compile the methods in `namespace` (the engine's globals, which hold _new, _finish,
    _constant, _exponent and _modes_active) and attach them to the Value class."""
    namespace.update(_float_functions())
    for method, (rule, _) in BINARY.items():
        namespace[f"_rule_{method}"] = rule
    for method, rule in UNARY.items():
        namespace[f"_rule_{method}"] = rule
    namespace["_power_by"] = rules.POWER_BY.with_arg
    namespace["_power_rules"] = rules.POWER_BY._bound  # the rules with_arg made already
    global _value_class
    _value_class = value_class
    source = generated_source()
    exec(compile(source, "<tinygrad_scalar generated Value methods>", "exec"), namespace)
    for method in [*BINARY, *UNARY, "__pow__"]:
        function = namespace.pop(method) if method != "_pow_values" else namespace[method]
        function.__qualname__ = f"Value.{method}"
        if method != "_pow_values":
            setattr(value_class, method, function)
    value_class.__abs__ = value_class.abs
