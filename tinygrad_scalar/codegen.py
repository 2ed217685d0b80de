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
            constant.label = ""
            constant.parents = constant.local_grads = ()
            constant._rule = None
            other = constant
        else:
            other = _constant(other)
            if other is NotImplemented:
                return other
"""

_MAKE_NODE = """\
    if _modes_active:
        return _finish({rule}, {parents}, {datas}, out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node.label = ""
    node.parents = {parents}
    node.local_grads = {local_grads}
    node._rule = {rule}
    return node
"""


def _body(rule: Rule, inputs: list[str], rule_name: str, parents: str) -> str:
    o = _SourceBackend()
    symbols = [_Source(name) for name in inputs]
    arg = [_Source("c")] if rule.takes_arg else []
    forward = rule.forward(o, *symbols, *arg)
    local_grads = rule.derivatives(o, _Source("out"), *symbols, *arg)
    return f"    out = {_text(forward)}\n" + _MAKE_NODE.format(
        rule=rule_name,
        parents=parents,
        datas=f"({', '.join(inputs)},)",
        local_grads=f"({''.join(_text(g) + ', ' for g in local_grads)})",
    )


def _binary(method: str, rule: Rule, rule_name: str, reflected: bool) -> str:
    a, b = ("other", "self") if reflected else ("self", "other")
    return (
        f"def {method}(self, other):\n{_CONVERT_OTHER}"
        f"    a = {a}.data\n    b = {b}.data\n" + _body(rule, ["a", "b"], rule_name, f"({a}, {b})")
    )


def _unary(method: str, rule: Rule, rule_name: str) -> str:
    return f"def {method}(self):\n    x = self.data\n" + _body(rule, ["x"], rule_name, "(self,)")


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
        "    x = self.data\n" + _body(rules.POWER_BY, ["x"], "rule", "(self,)")
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


def install_methods(value_class: Any, namespace: dict) -> None:
    """Compile the methods in `namespace` (the engine's globals, which hold _new, _finish,
    _constant, _exponent and _modes_active) and attach them to the Value class."""
    for name in dir(rules.floats):
        if not name.startswith("__"):
            namespace[f"_f_{name}"] = getattr(rules.floats, name)
    for method, (rule, _) in BINARY.items():
        namespace[f"_rule_{method}"] = rule
    for method, rule in UNARY.items():
        namespace[f"_rule_{method}"] = rule
    namespace["_power_by"] = rules.POWER_BY.with_arg
    namespace["_power_rules"] = rules.POWER_BY._bound  # the rules with_arg made already
    namespace["_math_exp"], namespace["_math_log"] = math.exp, math.log
    namespace["_math_sqrt"] = math.sqrt
    source = generated_source()
    exec(compile(source, "<tinygrad_scalar generated Value methods>", "exec"), namespace)
    for method in [*BINARY, *UNARY, "__pow__"]:
        function = namespace.pop(method) if method != "_pow_values" else namespace[method]
        function.__qualname__ = f"Value.{method}"
        if method != "_pow_values":
            setattr(value_class, method, function)
    value_class.__abs__ = value_class.abs
