"""micrograd's names on our Value: _prev, _op, _backward(), its constructor, own attributes.

The lecture "The spelled-out intro to neural networks and backpropagation" uses these; with
them its code runs on our Value (tests/test_micrograd_notebooks.py runs the notebooks).
"""

import copy
import math
import pickle

import pytest

import tinygrad_scalar as ts
from tinygrad_scalar import Value


def test_prev_is_the_parents_as_a_set():
    a, b = Value(2.0), Value(-3.0)
    assert (a * b)._prev == {a, b}
    assert (a + a)._prev == {a}  # a set: a parent used twice appears once, as in micrograd
    assert ts.sum([a, b, a])._prev == {a, b}
    assert a._prev == set()


def test_op_is_the_name_of_the_op():
    a = Value(2.0)
    assert (a * 3)._op == "*"
    assert a.tanh()._op == "tanh"
    assert (a**2)._op == "**2"
    assert a._op == ""


def test_backward_by_hand_as_the_lecture_does_it():
    # the lecture's neuron, then its manual backward pass node by node
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1, x2w2 = x1 * w1, x2 * w2
    x1w1x2w2 = x1w1 + x2w2
    n = x1w1x2w2 + b
    o = n.tanh()
    o.grad = 1.0
    for node in (o, n, b, x1w1x2w2, x2w2, x1w1):
        node._backward()
    manual = [x1.grad, w1.grad, x2.grad, w2.grad, b.grad]
    assert n.grad == pytest.approx(0.5, abs=1e-6)  # 1 - tanh(n)**2, as the lecture works out
    for leaf in (x1, w1, x2, w2, b):
        leaf.grad = 0.0
    o.backward()
    assert manual == [x1.grad, w1.grad, x2.grad, w2.grad, b.grad]
    assert manual == pytest.approx([-1.5, 1.0, 0.5, 0.0, 0.5], abs=1e-6)


def test_backward_of_one_node_adds_local_times_grad():
    a, b, c = Value(2.0), Value(3.0), Value(5.0)
    product, total = a * b, ts.sum([a, b, c])
    product.grad = 10.0
    product._backward()
    assert (a.grad, b.grad) == (30.0, 20.0)
    product._backward()  # it adds, as micrograd's does
    assert (a.grad, b.grad) == (60.0, 40.0)
    total.grad = 1.0
    total._backward()  # a node of three parents
    assert (a.grad, b.grad, c.grad) == (61.0, 41.0, 1.0)
    c._backward()  # a leaf has no step to take
    assert c.grad == 1.0


def test_micrograds_constructor():
    a, b = Value(2.0), Value(3.0)
    x = Value(5.0, (a, b), "+", label="x")
    assert (x.data, x.label, x._op, x._prev) == (5.0, "x", "+", {a, b})
    assert x.parents == (a, b) and not x.is_leaf
    assert Value(2.0, "y").label == "y"  # our shorthand for a label still works
    assert Value(2.0, (), "", "z").label == "z"
    with pytest.raises(TypeError, match="_children must be Values, got float"):
        Value(1.0, (a, 2.0), "*")
    with pytest.raises(TypeError, match="_children must be a tuple of Values, got str"):
        Value(1.0, "ab", "+")
    with pytest.raises(TypeError, match="_op must be a str"):
        Value(1.0, (a,), 3)
    with pytest.raises(ValueError, match="without _children"):
        Value(1.0, (), "+")


def micrograd_tanh(x: Value) -> Value:
    """tanh written as micrograd's lecture writes an op: a node and its _backward."""
    t = math.tanh(x.data)
    out = Value(t, (x,), "tanh")

    def _backward():
        x.grad += (1 - t**2) * out.grad

    out._backward = _backward
    return out


def test_an_op_written_the_micrograd_way_backpropagates_through_its_backward():
    a, b = Value(0.3), Value(-0.7)
    ours = (micrograd_tanh(a * b + a) * 2.0).exp()
    ours.backward()
    by_us = a.grad, b.grad
    a.grad = b.grad = 0.0
    builtin = ((a * b + a).tanh() * 2.0).exp()
    builtin.backward()
    assert ours.data == builtin.data
    assert by_us == pytest.approx((a.grad, b.grad), rel=1e-15)
    assert ts.grad(micrograd_tanh)(0.5) == pytest.approx(1 - math.tanh(0.5) ** 2, rel=1e-15)


def test_a_micrograd_node_without_backward_passes_no_gradient_like_micrograds():
    a = Value(1.0)
    out = Value(2.0, (a,), "twice") * 3.0
    out.backward()
    assert a.grad == 0.0  # micrograd's default _backward is `lambda: None`


def test_a_micrograd_node_cannot_be_differentiated_twice_compiled_or_pickled():
    with pytest.raises(TypeError, match=r"'tanh' node was made with micrograd's constructor"):
        ts.grad(ts.grad(micrograd_tanh))(0.5)
    w = Value(0.5)
    step = ts.compile(lambda x: micrograd_tanh(w) * x, [w], (1.0,))
    with pytest.raises(TypeError, match="micrograd's constructor"):
        step([1.0, 2.0])
    # on a value of the sample, reading x.data is refused while tracing: it would be frozen
    with pytest.raises(ts.TracerError, match=r"\.data on a Value .* write a Rule"):
        ts.compile(lambda x: micrograd_tanh(x * w), [w], (1.0,))
    with pytest.raises(pickle.PicklingError, match="micrograd's constructor"):
        pickle.dumps(micrograd_tanh(Value(1.0)))


def test_a_value_takes_attributes_of_ones_own():
    # an optimizer's moments kept on the parameters, as micrograd users write Adam
    p = Value(1.0)
    p.m, p.v = 0.0, 0.0
    for _ in range(3):
        p.grad = 0.0
        (p * p).backward()
        p.m = 0.9 * p.m + 0.1 * p.grad
        p.v = 0.999 * p.v + 0.001 * p.grad**2
        p.data -= 0.1 * p.m / (math.sqrt(p.v) + 1e-8)
    assert p.m > 0 and p.data < 1.0
    node = p * 2
    node.color = "red"
    assert node.color == "red" and vars(node) == {"color": "red"}
    with pytest.raises(AttributeError):
        Value(1.0).m  # noqa: B018 - an attribute never set is still an error


def test_labels_and_unlabelled_nodes():
    a = Value(1.0, label="a")
    b = a * 2
    assert (a.label, b.label) == ("a", "")
    b.label = "b"
    assert repr(b) == "Value(data=2.0, grad=0.0, label='b', op='*')"
    assert pickle.loads(pickle.dumps(b)).label == "b"
    assert pickle.loads(pickle.dumps(a)).label == "a"


def test_backward_twice_gives_leaves_twice_their_gradient_where_micrograd_gives_more():
    # the figures the README's "Coming from micrograd" states
    a, b = Value(2.0), Value(-3.0)
    d = (a * b + a) ** 2
    d.backward()
    assert a.grad == 16.0
    d.backward()
    assert a.grad == 32.0
    engine = pytest.importorskip("micrograd.engine")
    a, b = engine.Value(2.0), engine.Value(-3.0)
    d = (a * b + a) ** 2
    d.backward()
    assert a.grad == 16.0
    d.backward()
    assert a.grad == 72.0


def test_own_attributes_are_not_pickled_or_copied():
    p = Value(1.0, label="p")
    p.m = 0.5
    for twin in (pickle.loads(pickle.dumps(p)), copy.copy(p), copy.deepcopy(p)):
        assert (twin.data, twin.label) == (1.0, "p") and not hasattr(twin, "m")


def test_bool_and_repr_differ_from_micrograds_as_the_readme_says():
    assert not Value(0.0) and Value(-0.5)
    assert repr(Value(2.0, label="a") + 1) == "Value(data=3.0, grad=0.0, op='+')"
    with pytest.raises(TypeError, match="got str"):
        Value("x")


def test_a_layer_returns_a_list_and_an_mlp_one_value_for_one_output():
    from tinygrad_scalar.nn import MLP, Layer

    (only,) = Layer(2, 1, seed=0)([1.0, 2.0])  # micrograd's Layer would return the Value
    assert isinstance(only, Value)
    assert isinstance(MLP(2, [3, 1], seed=0)([1.0, 2.0]), Value)
    uniform = MLP(2, [16, 16, 1], init="uniform", seed=0)  # micrograd's initialisation
    weights = [p.data for layer in uniform.layers for n in layer.neurons for p in n.w]
    biases = [n.b.data for layer in uniform.layers for n in layer.neurons]
    assert all(-1.0 <= w <= 1.0 for w in weights) and set(biases) == {0.0}
