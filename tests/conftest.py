"""Random expression trees shared by the oracle tests (sympy and PyTorch).

A tree is nested tuples such as ("mul", ("var", 0), ("exp", ("var", 1))). `evaluate`
computes one tree with any backend - engine Values, sympy symbols, torch tensors - so each
oracle builds the very same function in its own library and compares derivatives.

Arguments that leave a function's domain are avoided by construction (log(u*u + 1),
sqrt(u*u + 0.5), (u*u + 0.5)**c). What construction cannot rule out (a point near a kink
of relu/abs, a small denominator, a huge intermediate value, a saturated tanh whose
derivative 1 - tanh**2 has lost its digits) the engine backend reports by raising
`OutOfDomain`, which the tests turn into `hypothesis.assume(False)`.

Tests get this module's helpers through the `expressions` fixture.
"""

import os
import types

import pytest
from hypothesis import settings
from hypothesis import strategies as st

import tinygrad_scalar as ts
from tinygrad_scalar import Value

# In CI (CI=true) the property tests draw the same examples on every run, so a landing is
# never decided by a lucky or unlucky draw; on a developer's machine they explore anew.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


class OutOfDomain(Exception):
    """The drawn point is too close to a kink, a pole, or overflow for a fair comparison."""


UNARY = ["neg", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "leaky_relu", "abs",
         "pow_int", "pow_real", "scale", "shift", "rsub", "rdiv", "rpow"]  # fmt: skip
BINARY = ["add", "sub", "mul", "div", "div_guarded", "pow_value"]
NARY = ["sum", "dot"]

numbers = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)


@st.composite
def trees(draw, n_vars: int, depth: int = 4, leaf_allowed: bool = True):
    """A random expression over variables 0..n_vars-1, at most `depth` ops deep."""
    if depth == 0 or (leaf_allowed and draw(st.integers(0, 4)) == 0):
        if draw(st.integers(0, 5)) == 0:
            return ("const", draw(numbers))
        return ("var", draw(st.integers(0, n_vars - 1)))
    sub = trees(n_vars, depth - 1)
    kind = draw(st.sampled_from(UNARY + BINARY + NARY))
    if kind in BINARY:
        return (kind, draw(sub), draw(sub))
    if kind == "sum":
        return (kind, tuple(draw(st.lists(sub, min_size=1, max_size=3))))
    if kind == "dot":
        pairs = draw(st.integers(1, 2))
        bias = draw(st.one_of(st.none(), sub))
        return (kind, tuple(draw(sub) for _ in range(2 * pairs)), bias)
    if kind == "pow_int":
        return (kind, draw(sub), draw(st.sampled_from([2, 3, -1, -2])))
    if kind == "pow_real":
        return (kind, draw(sub), draw(st.floats(-1.5, 2.5)))
    if kind == "leaky_relu":
        return (kind, draw(sub), draw(st.sampled_from([0.01, 0.2])))
    if kind == "rpow":
        return (kind, draw(sub), draw(st.floats(0.3, 3.0)))
    if kind in ("scale", "shift", "rsub", "rdiv"):
        return (kind, draw(sub), draw(numbers))
    return (kind, draw(sub))


@st.composite
def cases(draw, max_vars: int = 3, depth: int = 4):
    """(tree, point): a random expression and the inputs to evaluate it at."""
    n_vars = draw(st.integers(1, max_vars))
    point = tuple(draw(st.floats(-2.0, 2.0)) for _ in range(n_vars))
    return draw(trees(n_vars, depth, leaf_allowed=False)), point


def evaluate(tree, xs, ops):
    """Compute `tree` with backend `ops` at variables `xs` (Values, symbols or tensors)."""
    kind = tree[0]
    if kind == "var":
        return xs[tree[1]]
    if kind == "const":
        return ops.const(tree[1])
    if kind == "sum":
        return ops.sum([evaluate(t, xs, ops) for t in tree[1]])
    if kind == "dot":
        factors = [evaluate(t, xs, ops) for t in tree[1]]
        half = len(factors) // 2
        bias = None if tree[2] is None else evaluate(tree[2], xs, ops)
        return ops.check_size(ops.dot(factors[:half], factors[half:], bias))
    u = evaluate(tree[1], xs, ops)
    if kind in BINARY:
        v = evaluate(tree[2], xs, ops)
        if kind == "add":
            out = u + v
        elif kind == "sub":
            out = u - v
        elif kind == "mul":
            out = u * v
        elif kind == "div":
            out = u / ops.check_away_from_zero(v)
        elif kind == "div_guarded":
            out = u / (v * v + 0.5)
        else:  # pow_value: a positive base, a Value exponent
            out = (u * u + 0.5) ** ops.check_pow_exponent(v)
        return ops.check_size(out)
    if kind == "neg":
        out = -u
    elif kind == "exp":
        out = ops.exp(u)
    elif kind == "log":
        out = ops.log(u * u + 1)
    elif kind == "sqrt":
        out = ops.sqrt(u * u + 0.5)
    elif kind == "tanh":
        out = ops.tanh(ops.check_not_saturated(u))
    elif kind == "sigmoid":
        out = ops.sigmoid(ops.check_not_saturated(u))
    elif kind == "relu":
        out = ops.relu(ops.check_away_from_kink(u))
    elif kind == "leaky_relu":
        out = ops.leaky_relu(ops.check_away_from_kink(u), tree[2])
    elif kind == "abs":
        out = ops.abs(ops.check_away_from_kink(u))
    elif kind == "pow_int":
        base = ops.check_away_from_zero(u) if tree[2] < 0 else u
        out = base ** tree[2]
    elif kind == "pow_real":
        out = (u * u + 0.5) ** tree[2]
    elif kind == "scale":
        out = tree[2] * u
    elif kind == "shift":
        out = u + tree[2]
    elif kind == "rsub":
        out = tree[2] - u
    elif kind == "rdiv":
        out = tree[2] / (u * u + 0.5)
    elif kind == "rpow":
        out = tree[2] ** u
    else:
        raise ValueError(f"unknown op in expression tree: {kind!r}")
    return ops.check_size(out)


def _no_check(x):
    return x


def _reject_if(condition):
    def check(x):
        if condition(x.data):
            raise OutOfDomain
        return x

    return check


# The engine itself, with the domain checks switched on.
engine_ops = types.SimpleNamespace(
    const=Value,
    exp=Value.exp,
    log=Value.log,
    sqrt=Value.sqrt,
    tanh=Value.tanh,
    sigmoid=Value.sigmoid,
    relu=Value.relu,
    leaky_relu=Value.leaky_relu,
    abs=Value.abs,
    sum=ts.sum,
    dot=ts.dot,
    check_size=_reject_if(lambda x: not abs(x) <= 1e3),
    check_away_from_zero=_reject_if(lambda x: abs(x) < 0.2),
    check_away_from_kink=_reject_if(lambda x: abs(x) < 1e-3),
    check_not_saturated=_reject_if(lambda x: abs(x) > 6.0),
    check_pow_exponent=_no_check,  # the torch oracle swaps in a stricter check (its test says why)
)


def make_backend(**functions):
    """A backend with the given functions and no domain checks (the engine does those)."""
    checks = dict.fromkeys(
        [
            "check_size",
            "check_away_from_zero",
            "check_away_from_kink",
            "check_not_saturated",
            "check_pow_exponent",
        ],
        _no_check,
    )
    return types.SimpleNamespace(**checks, **functions)


def tree_to_text(tree) -> str:
    """A readable form of a tree for failure messages."""
    kind = tree[0]
    if kind in ("var", "const"):
        return f"x{tree[1]}" if kind == "var" else repr(tree[1])
    parts = []
    for part in tree[1:]:
        if kind in ("sum", "dot") and part is tree[1]:
            parts.append("[" + ", ".join(tree_to_text(t) for t in part) + "]")
        elif isinstance(part, tuple):
            parts.append(tree_to_text(part))
        else:
            parts.append(repr(part))
    return f"{kind}({', '.join(parts)})"


@pytest.fixture(scope="session")
def expressions():
    """The helpers above: cases(), trees(), evaluate(), engine_ops, make_backend(), ..."""
    return types.SimpleNamespace(
        OutOfDomain=OutOfDomain,
        cases=cases,
        trees=trees,
        evaluate=evaluate,
        engine_ops=engine_ops,
        make_backend=make_backend,
        tree_to_text=tree_to_text,
    )


# Fixtures that take seconds: a test that uses one is marked slow, so `make test-fast` skips
# it. `demo` runs the whole demo in a subprocess; `browser` starts a headless Chromium.
SLOW_FIXTURES = {"demo", "browser"}


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


# --- a real browser: Debian's chromium, driven by Playwright (its own download is not used) ---
CHROMIUM = os.environ.get("TINYGRAD_SCALAR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
