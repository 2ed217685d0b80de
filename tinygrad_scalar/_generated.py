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

from .rules import ABS, ADD, COS, DIV, EXP, LOG, LOG1P, MUL, NEG, POW, POWER_BY, RELU, SIGMOID, SIN, SOFTPLUS, SQRT, SUB, TANH, floats

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
_f_abs = floats.abs
_f_cos = floats.cos
_f_div = floats.div
_f_exp = floats.exp
_f_log = floats.log
_f_log1p = floats.log1p
_f_maximum = floats.maximum
_f_power = floats.power
_f_sigmoid = floats.sigmoid
_f_sin = floats.sin
_f_sqrt = floats.sqrt
_f_tanh = floats.tanh
_math_exp = math.exp
_math_log = math.log
_math_sqrt = math.sqrt
_power_by = POWER_BY.with_arg
_power_rules = POWER_BY._bound  # the rules with_arg made already, by parameter


def set_node(node: Value, data: float, parents: tuple, local_grads: Sequence, rule: Rule | None) -> None:
    """Fill the slots of `node`: the value `data`, made by `rule` from `parents` (a leaf
    if there are none), with the local derivative of each. Value.__init__, new_node
    and unpickling build nodes with it; the methods below write the same lines out."""
    if not parents:
        node.data = data
        node.grad = 0.0
        node._rule = node._first_parent = node._second_parent = None
        node._parents = node._local_grads = ()
    elif len(parents) == 1:
        node.data = data
        node.grad = 0.0
        node._rule = rule
        node._first_parent = parents[0]
        node._first_local = local_grads[0]
        node._second_parent = None
    elif len(parents) == 2:
        node.data = data
        node.grad = 0.0
        node._rule = rule
        node._first_parent = parents[0]
        node._first_local = local_grads[0]
        node._second_parent = parents[1]
        node._second_local = local_grads[1]
    else:
        node.data = data
        node.grad = 0.0
        node._rule = rule
        node._first_parent = node._second_parent = None
        node._parents = parents
        node._local_grads = tuple(local_grads)


def new_node(data: float, parents: tuple, local_grads: Sequence, rule: Rule | None) -> Value:
    """A new Value laid out by set_node; `data` is already a float."""
    node = _new(Value)
    set_node(node, data, parents, local_grads, rule)
    return node


def __add__(self: Value, other: Operand) -> Value:
    """self + other: rules.ADD."""
    if not isinstance(other, Value):
        if type(other) is float:
            constant = _new(Value)
            constant.data = other
            constant.grad = 0.0
            constant._rule = constant._first_parent = constant._second_parent = None
            constant._parents = constant._local_grads = ()
            other = constant
        else:
            other = _constant(other)
            if other is NotImplemented:
                return other
    a = self.data
    b = other.data
    out = a + b
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(ADD, (self, other), (a, b), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = ADD
    node._first_parent = self
    node._first_local = 1.0
    node._second_parent = other
    node._second_local = 1.0
    return node


def __radd__(self: Value, other: Operand) -> Value:
    """other + self: rules.ADD."""
    if not isinstance(other, Value):
        if type(other) is float:
            constant = _new(Value)
            constant.data = other
            constant.grad = 0.0
            constant._rule = constant._first_parent = constant._second_parent = None
            constant._parents = constant._local_grads = ()
            other = constant
        else:
            other = _constant(other)
            if other is NotImplemented:
                return other
    a = other.data
    b = self.data
    out = a + b
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(ADD, (other, self), (a, b), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = ADD
    node._first_parent = other
    node._first_local = 1.0
    node._second_parent = self
    node._second_local = 1.0
    return node


def __sub__(self: Value, other: Operand) -> Value:
    """self - other: rules.SUB."""
    if not isinstance(other, Value):
        if type(other) is float:
            constant = _new(Value)
            constant.data = other
            constant.grad = 0.0
            constant._rule = constant._first_parent = constant._second_parent = None
            constant._parents = constant._local_grads = ()
            other = constant
        else:
            other = _constant(other)
            if other is NotImplemented:
                return other
    a = self.data
    b = other.data
    out = a - b
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(SUB, (self, other), (a, b), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = SUB
    node._first_parent = self
    node._first_local = 1.0
    node._second_parent = other
    node._second_local = -1.0
    return node


def __rsub__(self: Value, other: Operand) -> Value:
    """other - self: rules.SUB."""
    if not isinstance(other, Value):
        if type(other) is float:
            constant = _new(Value)
            constant.data = other
            constant.grad = 0.0
            constant._rule = constant._first_parent = constant._second_parent = None
            constant._parents = constant._local_grads = ()
            other = constant
        else:
            other = _constant(other)
            if other is NotImplemented:
                return other
    a = other.data
    b = self.data
    out = a - b
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(SUB, (other, self), (a, b), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = SUB
    node._first_parent = other
    node._first_local = 1.0
    node._second_parent = self
    node._second_local = -1.0
    return node


def __mul__(self: Value, other: Operand) -> Value:
    """self * other: rules.MUL."""
    if not isinstance(other, Value):
        if type(other) is float:
            constant = _new(Value)
            constant.data = other
            constant.grad = 0.0
            constant._rule = constant._first_parent = constant._second_parent = None
            constant._parents = constant._local_grads = ()
            other = constant
        else:
            other = _constant(other)
            if other is NotImplemented:
                return other
    a = self.data
    b = other.data
    out = a * b
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(MUL, (self, other), (a, b), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = MUL
    node._first_parent = self
    node._first_local = b
    node._second_parent = other
    node._second_local = a
    return node


def __rmul__(self: Value, other: Operand) -> Value:
    """other * self: rules.MUL."""
    if not isinstance(other, Value):
        if type(other) is float:
            constant = _new(Value)
            constant.data = other
            constant.grad = 0.0
            constant._rule = constant._first_parent = constant._second_parent = None
            constant._parents = constant._local_grads = ()
            other = constant
        else:
            other = _constant(other)
            if other is NotImplemented:
                return other
    a = other.data
    b = self.data
    out = a * b
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(MUL, (other, self), (a, b), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = MUL
    node._first_parent = other
    node._first_local = b
    node._second_parent = self
    node._second_local = a
    return node


def __truediv__(self: Value, other: Operand) -> Value:
    """self / other: rules.DIV."""
    if not isinstance(other, Value):
        if type(other) is float:
            constant = _new(Value)
            constant.data = other
            constant.grad = 0.0
            constant._rule = constant._first_parent = constant._second_parent = None
            constant._parents = constant._local_grads = ()
            other = constant
        else:
            other = _constant(other)
            if other is NotImplemented:
                return other
    a = self.data
    b = other.data
    out = a / b if b else _f_div(a, b)
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(DIV, (self, other), (a, b), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = DIV
    node._first_parent = self
    node._first_local = 1.0 / b if b else _f_div(1.0, b)
    node._second_parent = other
    node._second_local = -(out / b if b else _f_div(out, b))
    return node


def __rtruediv__(self: Value, other: Operand) -> Value:
    """other / self: rules.DIV."""
    if not isinstance(other, Value):
        if type(other) is float:
            constant = _new(Value)
            constant.data = other
            constant.grad = 0.0
            constant._rule = constant._first_parent = constant._second_parent = None
            constant._parents = constant._local_grads = ()
            other = constant
        else:
            other = _constant(other)
            if other is NotImplemented:
                return other
    a = other.data
    b = self.data
    out = a / b if b else _f_div(a, b)
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(DIV, (other, self), (a, b), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = DIV
    node._first_parent = other
    node._first_local = 1.0 / b if b else _f_div(1.0, b)
    node._second_parent = self
    node._second_local = -(out / b if b else _f_div(out, b))
    return node


def _pow_values(self: Value, other: Operand) -> Value:
    """self ** other: rules.POW."""
    if not isinstance(other, Value):
        if type(other) is float:
            constant = _new(Value)
            constant.data = other
            constant.grad = 0.0
            constant._rule = constant._first_parent = constant._second_parent = None
            constant._parents = constant._local_grads = ()
            other = constant
        else:
            other = _constant(other)
            if other is NotImplemented:
                return other
    a = self.data
    b = other.data
    out = _f_power(a, b)
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(POW, (self, other), (a, b), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = POW
    node._first_parent = self
    node._first_local = ((b * _f_power(a, (b - 1.0))) if (_f_abs(_f_power(a, (b - 1.0))) < float('inf')) else 0.0) if (b == 0.0) else (b * _f_power(a, (b - 1.0)))
    node._second_parent = other
    node._second_local = 0.0 if ((a == 0.0) and (b >= 0.0)) else (out * (_math_log(a) if a > 0.0 else _f_log(a)))
    return node


def __rpow__(self: Value, other: Operand) -> Value:
    """other ** self: rules.POW."""
    if not isinstance(other, Value):
        if type(other) is float:
            constant = _new(Value)
            constant.data = other
            constant.grad = 0.0
            constant._rule = constant._first_parent = constant._second_parent = None
            constant._parents = constant._local_grads = ()
            other = constant
        else:
            other = _constant(other)
            if other is NotImplemented:
                return other
    a = other.data
    b = self.data
    out = _f_power(a, b)
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(POW, (other, self), (a, b), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = POW
    node._first_parent = other
    node._first_local = ((b * _f_power(a, (b - 1.0))) if (_f_abs(_f_power(a, (b - 1.0))) < float('inf')) else 0.0) if (b == 0.0) else (b * _f_power(a, (b - 1.0)))
    node._second_parent = self
    node._second_local = 0.0 if ((a == 0.0) and (b >= 0.0)) else (out * (_math_log(a) if a > 0.0 else _f_log(a)))
    return node


def __neg__(self: Value) -> Value:
    """neg(self): rules.NEG."""
    x = self.data
    out = -x
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(NEG, (self,), (x,), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = NEG
    node._first_parent = self
    node._first_local = -1.0
    node._second_parent = None
    return node


def exp(self: Value) -> Value:
    """exp(self): rules.EXP."""
    x = self.data
    out = _math_exp(x) if x < 709.0 else _f_exp(x)
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(EXP, (self,), (x,), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = EXP
    node._first_parent = self
    node._first_local = out
    node._second_parent = None
    return node


def log(self: Value) -> Value:
    """log(self): rules.LOG."""
    x = self.data
    out = _math_log(x) if x > 0.0 else _f_log(x)
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(LOG, (self,), (x,), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = LOG
    node._first_parent = self
    node._first_local = 1.0 / x if x else _f_div(1.0, x)
    node._second_parent = None
    return node


def log1p(self: Value) -> Value:
    """log1p(self): rules.LOG1P."""
    x = self.data
    out = _f_log1p(x)
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(LOG1P, (self,), (x,), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = LOG1P
    node._first_parent = self
    node._first_local = _f_div(1.0, (1.0 + x))
    node._second_parent = None
    return node


def sqrt(self: Value) -> Value:
    """sqrt(self): rules.SQRT."""
    x = self.data
    out = _math_sqrt(x) if x >= 0.0 else _f_sqrt(x)
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(SQRT, (self,), (x,), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = SQRT
    node._first_parent = self
    node._first_local = 0.5 / out if out else _f_div(0.5, out)
    node._second_parent = None
    return node


def tanh(self: Value) -> Value:
    """tanh(self): rules.TANH."""
    x = self.data
    out = _f_tanh(x)
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(TANH, (self,), (x,), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = TANH
    node._first_parent = self
    node._first_local = 1.0 - (out * out)
    node._second_parent = None
    return node


def sigmoid(self: Value) -> Value:
    """sigmoid(self): rules.SIGMOID."""
    x = self.data
    out = _f_sigmoid(x)
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(SIGMOID, (self,), (x,), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = SIGMOID
    node._first_parent = self
    node._first_local = out * (1.0 - out)
    node._second_parent = None
    return node


def sin(self: Value) -> Value:
    """sin(self): rules.SIN."""
    x = self.data
    out = _f_sin(x)
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(SIN, (self,), (x,), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = SIN
    node._first_parent = self
    node._first_local = _f_cos(x)
    node._second_parent = None
    return node


def cos(self: Value) -> Value:
    """cos(self): rules.COS."""
    x = self.data
    out = _f_cos(x)
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(COS, (self,), (x,), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = COS
    node._first_parent = self
    node._first_local = -_f_sin(x)
    node._second_parent = None
    return node


def relu(self: Value) -> Value:
    """relu(self): rules.RELU."""
    x = self.data
    out = 0.0 if (x <= 0.0) else x
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(RELU, (self,), (x,), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = RELU
    node._first_parent = self
    node._first_local = 0.0 if (x <= 0.0) else 1.0
    node._second_parent = None
    return node


def abs(self: Value) -> Value:
    """abs(self): rules.ABS."""
    x = self.data
    out = _f_abs(x)
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(ABS, (self,), (x,), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = ABS
    node._first_parent = self
    node._first_local = 1.0 if (x > 0.0) else (-1.0 if (x < 0.0) else 0.0)
    node._second_parent = None
    return node


def softplus(self: Value) -> Value:
    """softplus(self): rules.SOFTPLUS."""
    x = self.data
    out = _f_maximum(x, 0.0) + _f_log1p(_f_exp((-_f_abs(x))))
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(SOFTPLUS, (self,), (x,), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = SOFTPLUS
    node._first_parent = self
    node._first_local = _f_sigmoid(x)
    node._second_parent = None
    return node


def __pow__(self: Value, exponent: Operand) -> Value:
    """self ** exponent: rules.POWER_BY.with_arg(exponent) for a number exponent,
    rules.POW for a Value."""
    if isinstance(exponent, Value):
        return _pow_values(self, exponent)
    c = exponent if type(exponent) is float else _exponent(exponent)
    if c is NotImplemented:
        return c
    rule = (c and _power_rules.get(c)) or _power_by(c)  # 0 and -0.0 differ
    x = self.data
    out = _f_power(x, c)
    if modes_active:  # no_grad, detect_anomaly or compile: the engine's general path
        return _finish(rule, (self,), (x,), out)
    node = _new(Value)
    node.data = out
    node.grad = 0.0
    node._rule = rule
    node._first_parent = self
    node._first_local = 0.0 if (c == 0.0) else (c * _f_power(x, (c - 1.0)))
    node._second_parent = None
    return node


__abs__ = abs
