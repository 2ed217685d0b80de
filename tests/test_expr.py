"""The safe expression parser: what it computes, and everything it refuses before running."""

from __future__ import annotations

import builtins
import inspect
import math
import sys

import pytest

from tinygrad_scalar import Value
from tinygrad_scalar.cli.expr import (
    MAX_DEPTH,
    MAX_LENGTH,
    ExpressionError,
    evaluate,
    parse,
    parse_bindings,
)


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


# expression, the same function written in Python (the oracle), a point away from kinks
CASES = [
    ("x**2 + 2*x*y + y**2", lambda x, y: x**2 + 2 * x * y + y**2, (1.0, 2.0)),
    ("tanh(x) + sigmoid(y)", lambda x, y: math.tanh(x) + sigmoid(y), (0.3, -1.2)),
    ("sqrt(x) / abs(y)", lambda x, y: math.sqrt(x) / abs(y), (2.0, -0.7)),
    ("relu(-x) + log(x) * y", lambda x, y: max(-x, 0.0) + math.log(x) * y, (0.5, 3.0)),
    ("2 ** x - x ** -2 + +y", lambda x, y: 2**x - x**-2 + y, (1.5, 0.25)),
    ("exp(x - y) * 1e-1 + 3", lambda x, y: math.exp(x - y) * 0.1 + 3, (0.2, 0.9)),
    ("(x - y) ** 2 / 2", lambda x, y: (x - y) ** 2 / 2, (4.0, 1.0)),
]


@pytest.mark.parametrize("text, oracle, point", CASES, ids=[c[0] for c in CASES])
def test_value_and_partials_match_the_python_function(text, oracle, point):
    x, y = Value(point[0], "x"), Value(point[1], "y")
    out = evaluate(parse(text, names=["x", "y"]), {"x": x, "y": y})
    out.backward()
    assert out.data == pytest.approx(oracle(*point), rel=1e-12)
    eps = 1e-6  # central differences
    dx = (oracle(point[0] + eps, point[1]) - oracle(point[0] - eps, point[1])) / (2 * eps)
    dy = (oracle(point[0], point[1] + eps) - oracle(point[0], point[1] - eps)) / (2 * eps)
    assert x.grad == pytest.approx(dx, rel=1e-5, abs=1e-6)
    assert y.grad == pytest.approx(dy, rel=1e-5, abs=1e-6)


def test_a_constant_exponent_stays_a_constant():
    x = Value(3.0)
    out = evaluate(parse("x ** 2", names=["x"]), {"x": x})
    assert out.op == "**2" and out.parents == (x,)


def test_numbers_alone_and_huge_powers_follow_ieee():
    assert evaluate(parse("2 * 3", names=[]), {}).data == 6.0
    assert evaluate(parse("10 ** 10 ** 10", names=[]), {}).data == math.inf


def test_nothing_is_evaluated_as_python(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval or exec was called")

    for name in ("eval", "exec"):  # (ast.parse itself compiles to a tree only)
        monkeypatch.setattr(builtins, name, forbidden)
    x = Value(2.0)
    assert evaluate(parse("x * x + 1", names=["x"]), {"x": x}).data == 5.0


# text, what the message must say (a regex)
REJECTED = [
    ("__import__('os').system('touch pwned')", r"only exp, .* can be called at column 1"),
    ("open('pwned', 'w')", r"only exp, .* can be called at column 1: 'open'"),
    ("x.__class__", r"attribute access is not allowed at column 1: 'x.__class__'"),
    ("x + y[0]", r"subscripts are not allowed at column 5: 'y\[0\]'"),
    ("(lambda: 1)()", r"only exp"),
    ("lambda: 1", r"lambda is not allowed"),
    ("[i for i in x]", r"comprehensions are not allowed"),
    ("exp(x=1)", r"keyword arguments are not allowed at column 5"),
    ("exp(*x)", r"starred arguments are not allowed"),
    ("exp(x, y)", r"exp takes exactly one argument, got 2"),
    ("x < y", r"comparisons are not allowed"),
    ("x and y", r"'and'/'or' are not allowed"),
    ("True + x", r"booleans are not allowed at column 1"),
    ("'a' * x", r"strings are not allowed at column 1: \"'a'\""),
    ("f'{x}'", r"strings are not allowed"),
    ("x if y else 1", r"conditional expressions are not allowed"),
    ("1j * x", r"complex values are not allowed"),
    ("x // y", r"operator // is not allowed"),
    ("x % y", r"operator % is not allowed"),
    ("~x", r"operator ~ is not allowed"),
    ("not x", r"operator not is not allowed"),
    ("(x := 1)", r"assignments \(:=\) are not allowed"),
    ("z + 1", r"unknown name 'z' .*z=VALUE.* at column 1"),
    ("exp + 1", r"exp is a function"),
    ("x +", r"invalid syntax at the end"),
    ("x y", r"invalid syntax at column 3: 'y'"),
    ("x\n+ 1", r"one line of printable text: '\\n' at column 2"),
    ("   ", r"empty"),
    ("1" + "0" * 400, r"number too large"),
    ("-" * (MAX_DEPTH + 5) + "x", r"nests deeper than"),
    ("(" * 250 + "x" + ")" * 250, r"too many nested parentheses"),
    ("x + " * (MAX_LENGTH // 4) + "x", rf"more than {MAX_LENGTH}"),
]


@pytest.mark.parametrize("text, message", REJECTED, ids=[t[:30] for t, _ in REJECTED])
def test_refused_with_a_one_line_message(text, message):
    with pytest.raises(ExpressionError, match=message) as caught:
        parse(text, names=["x", "y"])
    assert "\n" not in str(caught.value)


def test_bindings_parse_in_order():
    assert parse_bindings(["x=1", "y = -2.5", "big=1e3"]) == {"x": 1.0, "y": -2.5, "big": 1000.0}
    assert list(parse_bindings(["b=1", "a=2"])) == ["b", "a"]


@pytest.mark.parametrize(
    "pair, message",
    [
        ("x=", r"missing value for 'x' in 'x=': write x=NUMBER"),
        ("x", r"'x' is not NAME=VALUE"),
        ("=3", r"'=3' is not NAME=VALUE"),
        ("x=abc", r"'abc' is not a number \(in 'x=abc'\)"),
        ("1x=2", r"'1x' is not a valid variable name"),
        ("for=2", r"'for' is not a valid variable name"),
        ("exp=2", r"'exp' is a function name"),
        ("x.y=2", r"'x.y' is not a valid variable name"),
        ("x=nan", r"the value of 'x' must be a finite number, got 'nan'"),
        ("x=-inf", r"the value of 'x' must be a finite number, got '-inf'"),
        ("x=1e999", r"the value of 'x' must be a finite number, got '1e999'"),
        ("x=" + "9" * 5000, r"must be a finite number, got '9{97}\.\.\.'$"),
    ],
)
def test_malformed_bindings_are_refused(pair, message):
    with pytest.raises(ExpressionError, match=message):
        parse_bindings([pair])


def test_a_name_given_twice_is_refused():
    with pytest.raises(ExpressionError, match="'x' is given twice"):
        parse_bindings(["x=1", "x=2"])


# --- Unicode names: the same identifiers Python accepts, normalised as Python does -------------


@pytest.mark.parametrize(
    "pair, name",
    [("é=1", "é"), ("e\u0301=1", "é"), ("ﬁ=1", "fi"), ("𝑥=1", "x"), ("λ_2=1", "λ_2")],
)
def test_unicode_names_bind_under_their_nfkc_form(pair, name):
    assert parse_bindings([pair]) == {name: 1.0}


def test_a_name_the_parser_asks_for_can_be_bound():
    # the error for an unbound name says "bind it on the command line, é=VALUE": that works
    with pytest.raises(ExpressionError, match="é=VALUE"):
        parse("é * 2", names=[])
    bindings = parse_bindings(["é=3", "fi=0.5"])
    tree = parse("é * 2 + ﬁ", names=bindings)  # Python reads "ﬁ" as the name fi
    values = {name: Value(v) for name, v in bindings.items()}
    assert evaluate(tree, values).data == 6.5


# --- depth: long flat chains are fine, deep nesting is not --------------------------------------


@pytest.mark.parametrize("operator", ["+", "-", "*", "/", "**"])
def test_a_long_chain_of_one_operator_is_not_deep(operator):
    terms = 2 * MAX_DEPTH + 1
    text = operator.join(["x"] * terms)
    assert len(text) <= MAX_LENGTH
    result = evaluate(parse(text, names=["x"]), {"x": Value(1.0)})
    assert result.data == {"+": terms, "-": 2 - terms}.get(operator, 1.0)


def test_mixed_precedence_chains_are_flat_too():
    # x + x - x + ... and x * x / x * ...: each a single level of nesting
    text = "+".join(["x*x/x"] * 150)
    assert evaluate(parse(text, names=["x"]), {"x": Value(2.0)}).data == 300.0


def test_real_nesting_is_still_bounded():
    text = "x"
    for _ in range(MAX_DEPTH + 1):
        text = f"x*({text}+1)"  # alternating operators in parentheses: one level each
    assert len(text) <= MAX_LENGTH
    with pytest.raises(ExpressionError, match=f"nests deeper than {MAX_DEPTH} levels"):
        parse(text, names=["x"])


def test_evaluating_the_deepest_accepted_expression_needs_no_recursion():
    text = "-" * (MAX_DEPTH - 1) + "x"  # MAX_DEPTH levels: accepted
    tree = parse(text, names=["x"])
    previous = sys.getrecursionlimit()
    # far fewer frames than the tree is deep: a recursive walk would raise RecursionError
    sys.setrecursionlimit(len(inspect.stack()) + 30)
    try:
        result = evaluate(tree, {"x": Value(1.0)})
    finally:
        sys.setrecursionlimit(previous)
    assert result.data == -1.0  # an odd number of minus signs


def test_messages_quote_at_most_about_100_characters_of_input():
    long_name = "a" * 900
    with pytest.raises(ExpressionError) as unknown:
        parse(f"{long_name} + 1", names=["x"])
    with pytest.raises(ExpressionError) as twice:
        parse_bindings([f"{long_name}=1", f"{long_name}=2"])
    with pytest.raises(ExpressionError) as missing:
        parse_bindings([f"{long_name}="])
    for caught in (unknown, twice, missing):
        assert "aaa..." in str(caught.value) and len(str(caught.value)) < 300
