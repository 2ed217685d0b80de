"""Pickling and deep-copying several Values that share a graph.

Each root used to flatten its own graph, so shared nodes were written once per root and
came back as separate copies (50 roots on a 40,000-node graph: 110 MB). Now every node is
an object of its own in the pickle: shared nodes stay shared, the size is the size of the
union, and deep graphs still need no recursion.
"""

from __future__ import annotations

import copy
import pickle

import pytest

import tinygrad_scalar as ts
from tinygrad_scalar import (
    Value,
    losses,
    topological_order,
)
from tinygrad_scalar import sum as value_sum
from tinygrad_scalar.nn import MLP

COPIERS = {
    "pickle": lambda thing: pickle.loads(pickle.dumps(thing)),
    "deepcopy": copy.deepcopy,
}


def shared_graph(nodes: int, roots: int):
    """`roots` Values, each one op on top of one graph of about `nodes` nodes."""
    xs = [Value(0.001 * i, f"x{i}") for i in range(20)]
    y = xs[0]
    for i in range(nodes // 2):
        y = (y * 0.999 + xs[i % 20]) if i % 3 else (y + xs[i % 20]).tanh()
    return xs, y, [y * float(k + 1) for k in range(roots)]


def chain(depth: int, start: Value):
    y = start
    for i in range(depth):
        y = y * 1.0000001 if i % 2 else y + 1e-7
    return y


@pytest.mark.parametrize("copier", COPIERS)
def test_roots_that_share_a_graph_still_share_it_after_a_copy(copier):
    xs, y, roots = shared_graph(200, 3)
    a, b, c = COPIERS[copier](roots)
    assert a.parents[0] is b.parents[0] is c.parents[0]
    assert a.parents[0] is not y
    assert a.parents[0].data == y.data
    # the leaves are shared too: both roots reach the same 20 inputs
    inputs_a = {id(v) for v in topological_order(a) if v.label.startswith("x")}
    inputs_b = {id(v) for v in topological_order(b) if v.label.startswith("x")}
    assert inputs_a == inputs_b and len(inputs_a) == 20
    loss = value_sum([a, b, c])
    loss.backward()
    original = value_sum(roots)
    original.backward()
    assert [v.grad for v in topological_order(loss) if not v.parents] == [
        v.grad for v in topological_order(original) if not v.parents
    ]


def test_fifty_roots_pickle_to_the_size_of_their_union():
    _, _, roots = shared_graph(4_000, 50)
    one = len(pickle.dumps(roots[0]))
    fifty = len(pickle.dumps(roots))
    # each further root is one node (its op, a constant and a reference to the shared graph)
    assert fifty < one + 49 * 100, (one, fifty)


@pytest.mark.parametrize("copier", COPIERS)
def test_roots_on_a_40000_deep_chain_share_it_without_recursion(copier):
    x = Value(0.5, "x")
    middle = chain(20_000, x)
    top = chain(20_000, middle)
    for ordering in ((middle, top), (top, middle)):
        copied = COPIERS[copier](list(ordering))
        copied_middle, copied_top = copied if ordering[0] is middle else copied[::-1]
        node = copied_top
        for _ in range(20_000):
            node = node.parents[0]
        assert node is copied_middle
        for _ in range(20_000):
            node = node.parents[0]
        assert node.parents == () and node.label == "x"


def test_separate_picklings_each_write_the_whole_graph():
    _, y, (a, b) = shared_graph(2_000, 2)
    first = pickle.dumps(a)
    second = pickle.dumps(b)  # nothing may be left out because `a` wrote it earlier
    assert abs(len(first) - len(second)) < 20
    copied = pickle.loads(second)
    assert len(topological_order(copied)) == len(topological_order(b))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_pickle_protocol_keeps_shared_nodes_shared(protocol):
    x = Value(2.0, "x")
    shared = (x * 3.0).exp()
    a, b = shared + 1.0, shared * x
    a.backward()
    a2, b2 = pickle.loads(pickle.dumps([a, b], protocol=protocol))
    assert a2.parents[0] is b2.parents[0]
    assert (a2.data, a2.parents[0].grad, b2.data) == (a.data, shared.grad, b.data)
    assert b2.parents[1] is a2.parents[0].parents[0].parents[0]  # the leaf x, once


# --- pickle and deepcopy -------------------------------------------------------------------


def deep_chain(depth):
    x = Value(0.5, "x")
    y = x
    for i in range(depth):
        y = y * 1.0000001 if i % 2 else y + 1e-7
    y.label = "top"
    return x, y


def walk_to_leaf(y):
    """(number of ops, the leaf at the bottom) of a chain, without recursion."""
    n = 0
    while y.parents:
        y = y.parents[0]
        n += 1
    return n, y


@pytest.mark.parametrize("copier", ["pickle", "deepcopy"])
def test_a_100000_deep_graph_pickles_and_copies(copier):
    x, y = deep_chain(100_000)
    y.backward()
    if copier == "pickle":
        twin = pickle.loads(pickle.dumps(y))
    else:
        twin = copy.deepcopy(y)
    assert twin is not y
    assert (twin.data, twin.grad, twin.label, twin.op) == (y.data, y.grad, "top", y.op)
    depth, leaf = walk_to_leaf(twin)
    assert depth == 100_000
    assert (leaf.data, leaf.grad, leaf.label) == (0.5, x.grad, "x")
    assert leaf is not x
    middle, twin_middle = y, twin
    for _ in range(50_000):
        middle, twin_middle = middle.parents[0], twin_middle.parents[0]
    assert (twin_middle.data, twin_middle.grad, twin_middle.op) == (
        middle.data,
        middle.grad,
        middle.op,
    )
    assert twin_middle.local_grads == middle.local_grads


def test_a_computed_value_pickles_with_its_rules_and_bound_parameters():
    a, b = Value(2.0, "a"), Value(-3.0, "b")
    out = ((a * b).tanh() + a**3 + b.leaky_relu(0.2) + ts.softplus(a)) / 2
    out.backward()
    twin = pickle.loads(pickle.dumps(out))
    original, copied = topological_order(out), topological_order(twin)
    assert [(v.data, v.grad, v.label, v.op) for v in original] == [
        (v.data, v.grad, v.label, v.op) for v in copied
    ]
    assert [v.rule for v in original] == [v.rule for v in copied]  # the same rule objects
    leaves = [v for v in copied if not v.parents]
    for leaf in leaves:
        leaf.grad = 0.0
    twin.backward()
    assert [v.grad for v in leaves] == [v.grad for v in original if not v.parents]


def test_leaves_shared_by_pickled_objects_stay_shared():
    model = MLP(2, [3, 1], seed=0)
    params = model.parameters()
    loss = losses.mse([model([0.5, -1.0]), model([1.0, 2.0])], [1.0, 0.0])
    loss_copy, params_copy = pickle.loads(pickle.dumps([loss, params]))
    leaves = {id(v) for v in topological_order(loss_copy) if not v.parents}
    assert all(id(p) in leaves for p in params_copy)
    loss_copy.backward()
    loss.backward()
    assert [p.grad for p in params_copy] == [p.grad for p in params]


def test_a_graph_of_create_graph_gradients_pickles_their_numbers():
    x = Value(1.5)
    y = x.exp() * x
    y.backward(create_graph=True)
    twin = pickle.loads(pickle.dumps(y))
    assert isinstance(x.grad, Value)
    assert walk_to_leaf(twin)[1].grad == x.grad.data
