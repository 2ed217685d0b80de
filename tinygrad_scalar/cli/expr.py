"""A safe parser for the arithmetic the command line accepts, e.g. "x**2 + 2*x*y + y**2".

The text is parsed with Python's `ast` module and the tree is checked against a whitelist
before anything is computed: numbers, names, `+ - * / **`, unary minus and plus,
parentheses, and calls of the FUNCTIONS below (exp, log, sin, ...) with one argument.
Evaluation walks that checked tree (with a stack, not recursion) and builds engine Values;
nothing is ever given to eval or exec. Names are Python identifiers, compared as Python
compares them: after NFKC normalisation, so "ﬁ" in the expression is the name bound by fi=1.

>>> tree = parse("x**2 + exp(y)", names=["x", "y"])
>>> evaluate(tree, {"x": Value(3.0), "y": Value(0.0)}).data
10.0
"""

from __future__ import annotations

import ast
import keyword
import math
import unicodedata
from typing import Callable, Iterable, Sequence

from .._checks import quote_input, shorten_input
from ..engine import Value

MAX_LENGTH = 1000  # characters of expression text
# Nesting of parentheses, calls and mixed operators. A chain of one kind of operator,
# "x + x + ... + x" or "x ** x ** x", counts as one level however long it is.
MAX_DEPTH = 100

FUNCTIONS: dict[str, Callable[[Value], Value]] = {
    "exp": Value.exp,
    "log": Value.log,
    "sqrt": Value.sqrt,
    "tanh": Value.tanh,
    "sigmoid": Value.sigmoid,
    "relu": Value.relu,
    "abs": Value.abs,
    "sin": Value.sin,
    "cos": Value.cos,
    "log1p": Value.log1p,
    "softplus": Value.softplus,
}

_BINARY_OPERATORS: dict[type, Callable] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_UNARY_OPERATORS: dict[type, Callable] = {ast.USub: lambda a: -a, ast.UAdd: lambda a: a}
# Operators that chain without parentheses: + and - (and * and /) associate to the left,
# ** to the right.
_PRECEDENCE: dict[type, int] = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.Pow: 3}

# What to call the things we refuse, in words a user knows.
_DESCRIPTIONS: dict[type, str] = {
    ast.Attribute: "attribute access is",
    ast.Subscript: "subscripts are",
    ast.Slice: "slices are",
    ast.Lambda: "lambda is",
    ast.IfExp: "conditional expressions are",
    ast.Compare: "comparisons are",
    ast.BoolOp: "'and'/'or' are",
    ast.ListComp: "comprehensions are",
    ast.SetComp: "comprehensions are",
    ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "comprehensions are",
    ast.List: "lists are",
    ast.Tuple: "tuples are",
    ast.Set: "sets are",
    ast.Dict: "dicts are",
    ast.JoinedStr: "strings are",
    ast.Starred: "starred arguments are",
    ast.NamedExpr: "assignments (:=) are",
    ast.Await: "await is",
    ast.Yield: "yield is",
    ast.YieldFrom: "yield is",
}
_OPERATOR_SYMBOLS: dict[type, str] = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
    ast.Invert: "~",
    ast.Not: "not",
}


class ExpressionError(ValueError):
    """The text is not an expression we accept; the message points at the offending part."""


def _describe(node: ast.AST) -> str:
    return _DESCRIPTIONS.get(type(node), f"{type(node).__name__} expressions are")


def _fail(text: str, node: ast.AST, problem: str) -> ExpressionError:
    """An error naming the problem, its column and the source it refers to."""
    snippet = ast.get_source_segment(text, node) or ""
    if len(snippet) > 40:
        snippet = snippet[:37] + "..."
    column = getattr(node, "col_offset", 0) + 1
    return ExpressionError(f"{problem} at column {column}: {snippet!r}")


def check_name(name: str) -> str:
    """A name the command line may bind: a Python identifier that is not a keyword or a
    function. Returns it NFKC-normalised, the form the parser gives names in expressions."""
    normalised = unicodedata.normalize("NFKC", name)
    if not normalised.isidentifier() or keyword.iskeyword(normalised):
        raise ExpressionError(f"{quote_input(name)} is not a valid variable name")
    if normalised in FUNCTIONS:
        raise ExpressionError(f"{quote_input(name)} is a function name and cannot be a variable")
    return normalised


def parse(text: str, names: Iterable[str]) -> ast.Expression:
    """Parse and check `text`; `names` are the variables it may use. Returns the checked tree,
    or raises ExpressionError saying what is wrong and where."""
    if not isinstance(text, str):
        raise ExpressionError(f"the expression must be text, got {type(text).__name__}")
    if not text.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"the expression is {len(text)} characters long, more than {MAX_LENGTH}"
        )
    for column, char in enumerate(text, start=1):
        if not char.isprintable():
            raise ExpressionError(
                f"the expression must be one line of printable text: {char!r} at column {column}"
            )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        offset = error.offset or 0
        if 1 <= offset <= len(text):
            where = f" at column {offset}: {text[offset - 1 : offset + 19]!r}"
        else:
            where = " at the end of the expression"
        raise ExpressionError(f"{error.msg}{where}") from None
    except (RecursionError, MemoryError, ValueError):  # the parser's own limits
        raise ExpressionError("the expression is too deeply nested") from None
    _check(tree, text, {unicodedata.normalize("NFKC", name) for name in names})
    return tree


def _check(tree: ast.Expression, text: str, names: set[str]) -> None:
    # An explicit stack, not recursion, so the check itself cannot overflow.
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _fail(text, node, f"the expression nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                kind = "booleans" if isinstance(value, bool) else f"{type(value).__name__} values"
                if isinstance(value, (str, bytes)):
                    kind = "strings"
                raise _fail(text, node, f"{kind} are not allowed")
            if isinstance(value, int) and not math.isfinite(_int_as_float(value)):
                raise _fail(text, node, "number too large")
            if isinstance(value, float) and not math.isfinite(value):  # 1e999 reads as inf
                raise _fail(text, node, "not a finite number")
        elif isinstance(node, ast.Name):
            if node.id not in names:
                if node.id in FUNCTIONS:
                    raise _fail(text, node, f"{node.id} is a function: call it as {node.id}(x)")
                raise _fail(
                    text,
                    node,
                    f"unknown name {quote_input(node.id)}"
                    f" (bind it on the command line, {shorten_input(node.id, 20)}=VALUE)",
                )
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY_OPERATORS:
                symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
                raise _fail(text, node, f"operator {symbol} is not allowed (use + - * / **)")
            stack.append((node.right, depth + _nesting(node, node.right, left=False)))
            stack.append((node.left, depth + _nesting(node, node.left, left=True)))
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY_OPERATORS:
                symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
                raise _fail(text, node, f"operator {symbol} is not allowed")
            stack.append((node.operand, depth + 1))
        elif isinstance(node, ast.Call):
            allowed = ", ".join(FUNCTIONS)
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise _fail(text, node.func, f"only {allowed} can be called")
            if node.keywords:
                raise _fail(text, node.keywords[0], "keyword arguments are not allowed")
            if any(isinstance(arg, ast.Starred) for arg in node.args):
                raise _fail(text, node, "starred arguments are not allowed")
            if len(node.args) != 1:
                raise _fail(
                    text, node, f"{node.func.id} takes exactly one argument, got {len(node.args)}"
                )
            stack.append((node.args[0], depth + 1))
        else:
            raise _fail(text, node, f"{_describe(node)} not allowed")


def _nesting(parent: ast.BinOp, child: ast.AST, left: bool) -> int:
    """0 when `child` continues a chain of `parent`'s operator written without parentheses
    (the left side of + - * /, the right side of **), else 1."""
    if not isinstance(child, ast.BinOp):
        return 1
    level = _PRECEDENCE.get(type(parent.op))
    if level is None or _PRECEDENCE.get(type(child.op)) != level:
        return 1
    right_associative = isinstance(parent.op, ast.Pow)
    return 0 if left != right_associative else 1


def _int_as_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf


def evaluate(tree: ast.Expression, values: dict[str, Value]) -> Value:
    """Compute a tree from `parse` with engine Values, building the graph to differentiate.

    The tree is walked with an explicit stack, so no accepted expression can exhaust
    Python's recursion limit."""
    values = {unicodedata.normalize("NFKC", name): value for name, value in values.items()}
    results: list[Value | float] = []  # the values of finished subtrees, in order
    # (node, False): push its children; (node, True): its children's values are on `results`
    stack: list[tuple[ast.AST, bool]] = [(tree.body, False)]
    while stack:
        node, children_done = stack.pop()
        if isinstance(node, ast.Constant):
            assert isinstance(node.value, (int, float))  # parse() admits no other constant
            results.append(float(node.value))
        elif isinstance(node, ast.Name):
            results.append(values[node.id])
        elif not children_done:
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(_operands(node)))
        else:
            results.append(_apply(node, results))
    (result,) = results
    return result if isinstance(result, Value) else Value(result)


def _operands(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.Call):
        return [node.args[0]]
    raise AssertionError(f"unchecked node {type(node).__name__}")  # parse() prevents this


def _apply(node: ast.AST, results: list[Value | float]) -> Value | float:
    """The operation at `node`, applied to its operands' values taken off `results`."""
    if isinstance(node, ast.UnaryOp):
        return _UNARY_OPERATORS[type(node.op)](results.pop())
    if isinstance(node, ast.BinOp):
        right = results.pop()
        left = results.pop()
        if not isinstance(left, Value) and not isinstance(right, Value):
            # Two numbers: compute with the engine too, so 10**400 is inf, not an exception,
            # and a constant exponent stays a constant (one `**c` node, as for x**2).
            left = Value(left)
        return _BINARY_OPERATORS[type(node.op)](left, right)
    argument = results.pop()
    if not isinstance(argument, Value):
        argument = Value(argument)
    return FUNCTIONS[node.func.id](argument)  # type: ignore[attr-defined]


def parse_bindings(pairs: Sequence[str]) -> dict[str, float]:
    """NAME=VALUE strings to {name: float}, in the order given; ExpressionError if malformed."""
    bindings: dict[str, float] = {}
    for pair in pairs:
        name, separator, text = pair.partition("=")
        name = name.strip()
        if not separator or not name:
            raise ExpressionError(f"{quote_input(pair)} is not NAME=VALUE (for example x=1.5)")
        name = check_name(name)
        if not text.strip():
            raise ExpressionError(
                f"missing value for {quote_input(name, 20)} in {quote_input(pair)}:"
                f" write {shorten_input(name, 20)}=NUMBER"
            )
        try:
            value = float(text)
        except ValueError:
            raise ExpressionError(
                f"{quote_input(text)} is not a number (in {quote_input(pair)})"
            ) from None
        if not math.isfinite(value):
            raise ExpressionError(
                f"the value of {quote_input(name)} must be a finite number, got {quote_input(text)}"
            )
        if name in bindings:
            raise ExpressionError(f"{quote_input(name)} is given twice")
        bindings[name] = value
    return bindings
