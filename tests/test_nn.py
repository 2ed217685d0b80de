"""Tests for tinygrad_scalar.nn: shapes, parameter order and names, initialisation,
reproducibility, save/load (atomic, strict, corrupt files) and the PyTorch bridge."""

import json
import math
import os
import random
import re
import statistics
import sys

import numpy as np
import pytest

from tinygrad_scalar import Value
from tinygrad_scalar.nn import MLP, Layer, Module, Neuron


def set_weights(neuron, ws, b):
    for w, x in zip(neuron.w, ws):
        w.data = x
    neuron.b.data = b


# --- shapes and structure -------------------------------------------------------------


def test_parameter_count_of_the_demo_network():
    assert len(MLP(2, [16, 16, 1], seed=0).parameters()) == 337
    assert MLP(2, [16, 16, 1], seed=0).num_parameters() == 337


def test_parameter_order_is_layer_neuron_weights_then_bias():
    model = MLP(2, [3, 2], seed=0)
    params = model.parameters()
    expected = []
    for layer in model.layers:
        for neuron in layer.neurons:
            expected.extend(neuron.w)
            expected.append(neuron.b)
    assert len(params) == len(expected) == 3 * 3 + 4 * 2
    assert all(p is e for p, e in zip(params, expected))


def test_named_parameters_have_dotted_names_in_order():
    model = MLP(2, [16, 16, 1], seed=0)
    named = model.named_parameters()
    names = [name for name, _ in named]
    assert names[:4] == [
        "layers.0.neurons.0.w.0",
        "layers.0.neurons.0.w.1",
        "layers.0.neurons.0.b",
        "layers.0.neurons.1.w.0",
    ]
    assert names[-1] == "layers.2.neurons.0.b"
    assert len(set(names)) == 337
    lookup = dict(named)
    assert lookup["layers.0.neurons.3.w.1"] is model.layers[0].neurons[3].w[1]
    assert lookup["layers.1.neurons.15.w.15"] is model.layers[1].neurons[15].w[15]
    assert lookup["layers.0.neurons.3.b"] is model.layers[0].neurons[3].b
    assert [p for _, p in named] == model.parameters()


def test_layer_and_neuron_names():
    layer = Layer(2, 2, seed=0)
    assert [n for n, _ in layer.named_parameters()] == [
        "neurons.0.w.0",
        "neurons.0.w.1",
        "neurons.0.b",
        "neurons.1.w.0",
        "neurons.1.w.1",
        "neurons.1.b",
    ]
    assert [n for n, _ in Neuron(3, seed=0).named_parameters()] == ["w.0", "w.1", "w.2", "b"]


def test_output_is_a_value_for_width_one_and_a_list_otherwise():
    assert isinstance(MLP(2, [4, 1], seed=0)([1.0, 2.0]), Value)
    out = MLP(2, [4, 3], seed=0)([1.0, 2.0])
    assert isinstance(out, list) and len(out) == 3 and all(isinstance(v, Value) for v in out)
    one = Layer(2, 1, seed=0)([1.0, 2.0])
    assert isinstance(one, list) and len(one) == 1


def test_hidden_layers_of_width_one_work_and_backpropagate():
    model = MLP(3, [1, 1, 2], activation="tanh", seed=0)
    out = model([0.3, -0.2, 0.9])
    assert len(out) == 2
    (out[0] + out[1]).backward()
    first = model.layers[0].neurons[0]
    assert all(w.grad != 0.0 for w in first.w)


def test_neuron_is_one_dot_node_plus_its_activation():
    neuron = Neuron(3, activation="tanh", seed=0)
    out = neuron([1.0, 2.0, 3.0])
    assert out.op == "tanh"
    (weighted,) = out.parents
    assert weighted.op == "dot"
    assert len(weighted.parents) == 2 * 3 + 1
    linear = Neuron(3, activation="linear", seed=0)([1.0, 2.0, 3.0])
    assert linear.op == "dot"


@pytest.mark.parametrize(
    "activation, expected",
    [
        ("relu", 0.0),
        ("linear", -0.5),
        ("tanh", math.tanh(-0.5)),
        ("sigmoid", 1 / (1 + math.exp(0.5))),
        ("leaky_relu", -0.005),
    ],
)
def test_neuron_forward_by_hand(activation, expected):
    neuron = Neuron(2, activation=activation, seed=0)
    set_weights(neuron, [2.0, -3.0], 0.5)
    # 2 * 1 - 3 * 1 + 0.5 = -0.5
    assert neuron([1.0, 1.0]).data == pytest.approx(expected, abs=1e-15)


def test_mlp_forward_by_hand():
    model = MLP(2, [2, 1], activation="relu", seed=0)
    set_weights(model.layers[0].neurons[0], [1.0, 1.0], 0.0)  # h0 = relu(x0 + x1)
    set_weights(model.layers[0].neurons[1], [1.0, -1.0], -5.0)  # h1 = relu(x0 - x1 - 5) = 0
    set_weights(model.layers[1].neurons[0], [2.0, 7.0], 0.25)
    assert model([1.5, 2.0]).data == 2 * 3.5 + 0.25


def test_sigmoid_and_softmax_outputs():
    probability = MLP(2, [4, 1], output="sigmoid", seed=0)([0.1, 0.2])
    assert probability.op == "sigmoid" and 0 < probability.data < 1
    probs = MLP(2, [4, 3], output="softmax", seed=0)([0.1, 0.2])
    assert len(probs) == 3
    assert math.fsum(p.data for p in probs) == pytest.approx(1.0, abs=1e-15)


def test_inputs_may_be_values_tuples_or_numpy_rows():
    model = MLP(3, [4, 2], seed=0)
    expected = [v.data for v in model([0.5, -1.0, 2.0])]
    row = np.array([[0.5, -1.0, 2.0]])[0]
    for xs in (
        (0.5, -1.0, 2.0),
        row,
        [Value(0.5), Value(-1.0), Value(2.0)],
        [np.float32(0.5), np.int64(-1), 2],
    ):
        assert [v.data for v in model(xs)] == expected


def test_gradient_flows_to_value_inputs():
    model = MLP(2, [3, 1], activation="tanh", seed=0)
    x = [Value(0.3), Value(-0.7)]
    model(x).backward()
    assert x[0].grad != 0.0 and x[1].grad != 0.0


def test_wrong_number_of_inputs_says_expected_and_got():
    with pytest.raises(ValueError, match="expects 2 inputs, got 3"):
        MLP(2, [3, 1], seed=0)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="expects 2 inputs, got 1"):
        Layer(2, 3, seed=0)([1.0])
    with pytest.raises(ValueError, match="expects 2 inputs, got 3"):
        Neuron(2, seed=0)([1.0, 2.0, 3.0])


def test_non_numeric_input_is_refused():
    with pytest.raises(ValueError, match="input 1 must be a number"):
        MLP(2, [3, 1], seed=0)([1.0, "a"])


def test_an_input_too_large_for_a_float_is_a_value_error():
    with pytest.raises(ValueError, match="MLP: input 0 is too large for a float"):
        MLP(2, [3, 1], seed=0)([10**400, 1.0])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Neuron(2, activation="softplus"), "unknown activation 'softplus'.*relu, tanh"),
        (lambda: Neuron(2, init="glorot"), "unknown init 'glorot'.*he, xavier, uniform"),
        (lambda: Neuron(0), "nin must be a positive integer, got 0"),
        (lambda: MLP(2, [3, 0]), "layer width 1 must be a positive integer"),
        (lambda: MLP(2, []), "at least one layer"),
        (lambda: MLP(2, [3, 1], output="tanh"), "unknown output 'tanh'.*linear, sigmoid, softmax"),
        (lambda: MLP(2, [3, 1], output="softmax"), "at least 2 outputs"),
        (lambda: MLP(2.5, [3]), "nin must be a positive integer, got 2.5"),
        (lambda: Neuron(2, seed=1, rng=random.Random(1)), "either seed or rng"),
    ],
)
def test_bad_constructor_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_repr_looks_like_pytorch():
    assert repr(MLP(2, [16, 16, 1], seed=0)) == (
        "MLP(\n"
        "  (0): Layer(2 -> 16, relu)\n"
        "  (1): Layer(16 -> 16, relu)\n"
        "  (2): Layer(16 -> 1, linear)\n"
        ")"
    )
    assert "(1): Layer(4 -> 3, linear)\n  (2): Softmax(3)" in repr(
        MLP(2, [4, 3], output="softmax", seed=0)
    )
    assert repr(MLP(2, [4, 1], output="sigmoid", seed=0)).endswith("Layer(4 -> 1, sigmoid)\n)")


def test_zero_grad():
    model = MLP(2, [3, 1], activation="tanh", seed=0)
    model([1.0, -1.0]).backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


# --- initialisation and reproducibility ------------------------------------------------


def test_same_seed_same_weights_different_seed_different_weights():
    a = MLP(2, [8, 8, 1], seed=0).state_dict()
    b = MLP(2, [8, 8, 1], seed=0).state_dict()
    c = MLP(2, [8, 8, 1], seed=1).state_dict()
    assert a == b
    assert list(a) == list(c) and list(a.values()) != list(c.values())


def test_one_rng_is_shared_across_the_layers():
    # if every layer restarted from the seed, two equal-shape layers would be identical
    model = MLP(4, [4, 4, 4], activation="tanh", seed=3)
    first = [w.data for n in model.layers[1].neurons for w in n.w]
    second = [w.data for n in model.layers[2].neurons for w in n.w]
    assert first != second


def test_rng_argument_and_seed_agree():
    assert Neuron(5, rng=random.Random(7)).state_dict() == Neuron(5, seed=7).state_dict()


def test_seeded_construction_leaves_the_global_random_state_alone():
    before = random.getstate()
    MLP(2, [4, 1], seed=0)
    assert random.getstate() == before


def test_without_a_seed_the_global_random_module_is_used():
    random.seed(123)
    a = MLP(2, [4, 1]).state_dict()
    random.seed(123)
    b = MLP(2, [4, 1]).state_dict()
    assert a == b


def _weights_and_biases(layer):
    weights = [w.data for n in layer.neurons for w in n.w]
    biases = [n.b.data for n in layer.neurons]
    return weights, biases


def test_he_init_statistics():
    weights, biases = _weights_and_biases(Layer(200, 50, activation="relu", seed=0))
    assert biases == [0.1] * 50
    assert abs(statistics.fmean(weights)) < 0.01
    # gauss(0, 1) * sqrt(2 / nin): std 0.1 for nin = 200
    assert statistics.pstdev(weights) == pytest.approx(math.sqrt(2 / 200), rel=0.05)


def test_xavier_init_is_glorot_uniform():
    weights, biases = _weights_and_biases(Layer(200, 50, init="xavier", seed=0))
    bound = math.sqrt(6 / (200 + 50))
    assert biases == [0.0] * 50
    assert max(abs(w) for w in weights) <= bound
    assert max(abs(w) for w in weights) > 0.95 * bound
    assert statistics.pstdev(weights) == pytest.approx(bound / math.sqrt(3), rel=0.05)


def test_uniform_init_is_micrograds():
    weights, biases = _weights_and_biases(Layer(100, 50, init="uniform", seed=0))
    assert biases == [0.0] * 50
    assert all(-1.0 <= w <= 1.0 for w in weights)
    assert statistics.pstdev(weights) == pytest.approx(1 / math.sqrt(3), rel=0.05)


@pytest.mark.parametrize(
    "activation, bias", [("relu", 0.1), ("leaky_relu", 0.1), ("tanh", 0.0), ("sigmoid", 0.0)]
)
def test_default_init_follows_the_activation(activation, bias):
    assert Neuron(4, activation=activation, seed=0).b.data == bias


def test_mlp_default_init_per_layer():
    model = MLP(2, [4, 1], seed=0)  # relu hidden layer (he), linear output (xavier)
    assert [n.b.data for n in model.layers[0].neurons] == [0.1] * 4
    assert model.layers[1].neurons[0].b.data == 0.0
    uniform = MLP(2, [4, 1], init="uniform", seed=0)
    assert [n.b.data for layer in uniform.layers for n in layer.neurons] == [0.0] * 5


# --- state dicts ---------------------------------------------------------------------------


def test_state_dict_round_trip_and_order():
    source, target = MLP(2, [3, 2], seed=0), MLP(2, [3, 2], seed=1)
    state = source.state_dict()
    assert list(state) == [name for name, _ in source.named_parameters()]
    target.load_state_dict(state)
    assert target.state_dict() == state
    assert [v.data for v in target([0.2, 0.4])] == [v.data for v in source([0.2, 0.4])]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("layers.0.neurons.1.b"), "missing keys: layers.0.neurons.1.b"),
        (lambda s: s.update({"layers.9.b": 1.0}), "unexpected keys: layers.9.b"),
        (lambda s: s.update({"layers.0.neurons.0.w.1": "x"}), "'layers.0.neurons.0.w.1' is not a"),
        (lambda s: s.update({"layers.0.neurons.0.w.0": None}), "'layers.0.neurons.0.w.0' is not a"),
        (
            lambda s: s.update({"layers.1.neurons.0.b": math.nan}),
            "'layers.1.neurons.0.b' is not fi",
        ),
        (lambda s: s.update({"layers.1.neurons.0.b": True}), "'layers.1.neurons.0.b' is not a"),
        (
            lambda s: s.update({"layers.0.neurons.1.w.0": 10**400}),
            "'layers.0.neurons.1.w.0' is too large for a float",
        ),
    ],
)
def test_load_state_dict_is_strict_and_changes_nothing_on_error(change, message):
    model = MLP(2, [3, 1], seed=0)
    before = model.state_dict()
    state = {name: value + 1.0 for name, value in before.items()}
    change(state)
    with pytest.raises(ValueError, match=re.escape(message)):
        model.load_state_dict(state)
    assert model.state_dict() == before


# --- save / load ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(nin=2, sizes=[16, 16, 1]),
        dict(nin=3, sizes=[5, 4], activation="tanh", output="softmax"),
        dict(nin=2, sizes=[4, 1], activation="leaky_relu", output="sigmoid"),
        dict(nin=1, sizes=[1, 1, 1], activation="sigmoid"),
    ],
)
def test_save_load_round_trip_gives_identical_outputs(tmp_path, kwargs):
    model = MLP(**kwargs, seed=4)
    path = tmp_path / "model.json"
    model.save(path)
    loaded = MLP.load(path)
    assert isinstance(loaded, MLP)
    assert loaded.config() == model.config()
    assert loaded.state_dict() == model.state_dict()
    rng = random.Random(0)
    for _ in range(5):
        x = [rng.uniform(-2, 2) for _ in range(kwargs["nin"])]
        a, b = model(x), loaded(x)
        a, b = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
        assert [v.data for v in a] == [v.data for v in b]


def test_saved_file_is_plain_json_with_the_architecture(tmp_path):
    path = tmp_path / "m.json"
    MLP(2, [3, 1], activation="tanh", output="sigmoid", seed=0).save(str(path))
    payload = json.loads(path.read_text())
    assert payload["format"] == "tinygrad_scalar" and payload["version"] == 1
    assert (payload["nin"], payload["sizes"]) == (2, [3, 1])
    assert (payload["activation"], payload["output"]) == ("tanh", "sigmoid")
    assert len(payload["state_dict"]) == 3 * 3 + 4


def test_layer_and_neuron_save_and_load(tmp_path):
    layer = Layer(3, 2, activation="tanh", seed=0)
    layer.save(tmp_path / "layer.json")
    assert Layer.load(tmp_path / "layer.json").state_dict() == layer.state_dict()
    neuron = Neuron(2, activation="sigmoid", seed=0)
    neuron.save(tmp_path / "neuron.json")
    loaded = Neuron.load(tmp_path / "neuron.json")
    assert loaded([0.5, 0.5]).data == neuron([0.5, 0.5]).data
    with pytest.raises(ValueError, match="holds a 'Neuron', not a MLP"):
        MLP.load(tmp_path / "neuron.json")


def test_loading_does_not_touch_the_global_random_state(tmp_path):
    MLP(2, [3, 1], seed=0).save(tmp_path / "m.json")
    before = random.getstate()
    MLP.load(tmp_path / "m.json")
    assert random.getstate() == before


def test_failed_save_of_non_finite_weights_keeps_the_old_file(tmp_path):
    path = tmp_path / "model.json"
    MLP(2, [3, 1], seed=0).save(path)
    old = path.read_bytes()
    broken = MLP(2, [3, 1], seed=1)
    broken.layers[0].neurons[0].w[0].data = math.nan
    with pytest.raises(ValueError, match=r"layers\.0\.neurons\.0\.w\.0 is nan"):
        broken.save(path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["model.json"]


def test_save_failing_at_the_rename_keeps_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "model.json"
    MLP(2, [3, 1], seed=0).save(path)
    old = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        MLP(2, [3, 1], seed=1).save(path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["model.json"]


def test_save_into_a_missing_directory_names_the_file(tmp_path):
    path = tmp_path / "nope" / "m.json"
    with pytest.raises(OSError, match=re.escape(str(path))):
        MLP(2, [1], seed=0).save(path)


def _valid_payload():
    model = MLP(2, [2, 1], seed=0)
    payload = {"format": "tinygrad_scalar", "version": 1, "class": "MLP", **model.config()}
    payload["state_dict"] = model.state_dict()
    return payload


def _edit(**changes):
    payload = _valid_payload()
    for key, value in changes.items():
        if value is _DROP:
            payload.pop(key)
        else:
            payload[key] = value
    return json.dumps(payload)


_DROP = object()
_GOOD = json.dumps(_valid_payload())
_RENAMED = _GOOD.replace("layers.1.neurons.0.b", "layers.1.neurons.0.bias")


@pytest.mark.parametrize(
    "text, problem",
    [
        (_GOOD[: len(_GOOD) // 2], "not valid JSON"),
        ("", "not valid JSON"),
        ("[1, 2, 3]", "expected a JSON object, got list"),
        (_edit(format="pickle"), "not a tinygrad_scalar model"),
        (_edit(version=99), "unsupported format version 99"),
        (_edit(nin="two"), "nin must be a positive integer, got 'two'"),
        (_edit(sizes=[2, 3]), "state_dict has 9 weights but the architecture"),
        (_edit(sizes="2,1"), "sizes must be a list"),
        (_edit(activation="swish"), "unknown activation 'swish'"),
        (_edit(sizes=_DROP), "missing fields: sizes"),
        (_edit(state_dict=[1.0, 2.0]), "state_dict must be an object"),
        (_RENAMED, "missing keys: layers.1.neurons.0.b"),
        (_GOOD.replace("0.1,", '"0.1",', 1), "is not a number"),
        (_GOOD.replace("0.1,", "NaN,", 1), "is not finite"),
        (_GOOD.replace("0.1,", "1" + "0" * 400 + ",", 1), "is too large for a float"),
    ],
)
def test_corrupt_model_files_raise_value_error_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        MLP.load(path)
    message = str(info.value)
    assert str(path) in message
    assert problem in message
    assert "\n" not in message


def test_binary_and_missing_files_raise_value_error_naming_the_file(tmp_path):
    binary = tmp_path / "model.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match=re.escape(str(binary))):
        MLP.load(binary)
    missing = tmp_path / "missing.json"
    with pytest.raises(ValueError, match=re.escape(str(missing)) + ".*No such file"):
        MLP.load(missing)


# --- the PyTorch bridge ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(nin=2, sizes=[16, 16, 1]),
        dict(nin=3, sizes=[4, 4, 3], activation="tanh", output="softmax"),
        dict(nin=2, sizes=[5, 1], activation="leaky_relu", output="sigmoid"),
        dict(nin=2, sizes=[3, 2], activation="sigmoid"),
        dict(nin=2, sizes=[3, 2], activation="linear"),
    ],
)
def test_to_torch_gives_the_same_outputs_and_gradients(kwargs):
    torch = pytest.importorskip("torch")
    model = MLP(**kwargs, seed=2)
    net = model.to_torch()
    assert all(p.dtype == torch.float64 for p in net.parameters())
    rng = random.Random(1)
    x = [rng.uniform(-2, 2) for _ in range(kwargs["nin"])]
    ours = model(x)
    ours = ours if isinstance(ours, list) else [ours]
    theirs = net(torch.tensor(x, dtype=torch.float64))
    assert [v.data for v in ours] == pytest.approx(theirs.tolist(), rel=1e-12, abs=1e-14)

    # gradient of a weighted sum of the outputs, with respect to every parameter in order
    coefficients = [rng.uniform(-1, 1) for _ in ours]
    model.zero_grad()
    sum(c * v for c, v in zip(coefficients, ours)).backward()
    (theirs * torch.tensor(coefficients, dtype=torch.float64)).sum().backward()
    torch_grads = []
    for module in net:
        if isinstance(module, torch.nn.Linear):
            for row, b in zip(module.weight.grad.tolist(), module.bias.grad.tolist()):
                torch_grads.extend(row)
                torch_grads.append(b)
    assert [p.grad for p in model.parameters()] == pytest.approx(torch_grads, rel=1e-10, abs=1e-14)


def test_from_torch_round_trip_and_a_torch_built_network():
    torch = pytest.importorskip("torch")
    model = MLP(3, [4, 2], activation="tanh", output="softmax", seed=0)
    back = MLP.from_torch(model.to_torch())
    assert back.config() == model.config()
    assert back.state_dict() == model.state_dict()

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 1), torch.nn.Sigmoid()
    )  # float32 weights are read as float64
    model = MLP.from_torch(net)
    assert model.config() == {"nin": 3, "sizes": [5, 1], "activation": "relu", "output": "sigmoid"}
    x = [0.3, -1.2, 0.8]
    expected = net.double()(torch.tensor(x, dtype=torch.float64)).item()
    assert model(x).data == pytest.approx(expected, rel=1e-12)


def test_from_torch_refuses_what_it_cannot_represent():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    with pytest.raises(ValueError, match="unsupported module 1"):
        MLP.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="different activations"):
        MLP.from_torch(
            nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1))
        )
    with pytest.raises(ValueError, match="last activation 'tanh'"):
        MLP.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Tanh()))
    with pytest.raises(ValueError, match="comes before any Linear"):
        MLP.from_torch(nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))
    with pytest.raises(ValueError, match="no Linear layer"):
        MLP.from_torch(nn.Sequential())


def test_to_torch_without_torch_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(ImportError, match="pip install torch"):
        MLP(2, [1], seed=0).to_torch()


@pytest.mark.parametrize(
    "field, value",
    [("format", "f" * 10_000), ("class", ["MLP"] * 5000), ("activation", "r" * 10_000)],
)
def test_a_long_value_in_a_model_file_gives_a_short_message(tmp_path, field, value):
    MLP(2, [2, 1], seed=0).save(tmp_path / "m.json")
    payload = json.loads((tmp_path / "m.json").read_text())
    payload[field] = value
    (tmp_path / "m.json").write_text(json.dumps(payload))
    with pytest.raises(ValueError) as caught:
        MLP.load(tmp_path / "m.json")
    assert "..." in str(caught.value) and len(str(caught.value)) < 300


def test_load_refuses_a_file_over_64_mib_before_reading_it(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as file:
        file.truncate(64 * 1024 * 1024 + 1)  # sparse: takes no disk space
    with pytest.raises(ValueError) as caught:
        MLP.load(big)
    assert str(caught.value) == (
        f"cannot read model file {str(big)!r}: it is 64 MiB, more than the 64 MiB limit"
    )


@pytest.mark.parametrize("path", ["/dev/zero", "/"])
def test_load_refuses_a_device_or_a_folder_at_once(path):
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist here")
    with pytest.raises(ValueError, match="not a regular file"):
        MLP.load(path)


def test_save_keeps_a_private_file_private_and_follows_a_link(tmp_path):
    (tmp_path / "real.json").write_text("old")
    os.chmod(tmp_path / "real.json", 0o600)
    os.symlink("real.json", tmp_path / "model.json")
    MLP(2, [3, 1], seed=0).save(tmp_path / "model.json")
    assert os.path.islink(tmp_path / "model.json")
    assert MLP.load(tmp_path / "real.json").sizes == [3, 1]
    assert os.stat(tmp_path / "real.json").st_mode & 0o777 == 0o600


def test_save_refuses_a_read_only_file(tmp_path):
    (tmp_path / "model.json").write_text("old")
    os.chmod(tmp_path / "model.json", 0o444)
    with pytest.raises(OSError) as caught:
        MLP(2, [3, 1], seed=0).save(tmp_path / "model.json")
    assert str(caught.value) == (
        f"cannot write model file {tmp_path / 'model.json'}: the file is read-only (mode 0444)"
    )
    assert (tmp_path / "model.json").read_text() == "old"


@pytest.mark.parametrize("version", [True, 1.0, "1"])
def test_a_model_file_version_must_be_the_integer_1(tmp_path, version):
    MLP(2, [2, 1], seed=0).save(tmp_path / "m.json")
    payload = json.loads((tmp_path / "m.json").read_text())
    payload["version"] = version
    (tmp_path / "m.json").write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="unsupported format version"):
        MLP.load(tmp_path / "m.json")


def test_a_module_finds_its_parameters_in_its_attributes_without_listing_them():
    class TwoLayers(Module):
        def __init__(self) -> None:
            self.scale = Value(2.0)
            self.hidden = Layer(2, 2, seed=0)
            self.table = [[Value(0.5)], (Value(1.5), "not a parameter")]
            self._cache = [Value(9.0)]  # private: not a parameter
            self.width = 2

        def __call__(self, xs):
            return [self.scale * h for h in self.hidden(xs)]

        def config(self):
            return {}

    model = TwoLayers()
    names = [name for name, _ in model.named_parameters()]
    assert names == [
        "scale",
        *[f"hidden.neurons.{i}.{w}" for i in range(2) for w in ("w.0", "w.1", "b")],
        "table.0.0",
        "table.1.0",
    ]
    assert model.parameters()[0] is model.scale
    assert model.parameters()[-1] is model.table[1][0]
    model.load_state_dict({**model.state_dict(), "scale": 3.0})
    assert model.scale.data == 3.0 and model._cache[0].data == 9.0


def test_a_small_file_naming_a_huge_architecture_is_refused_before_building_it(tmp_path):
    # Building MLP(100000, [100000]) would take ten billion Values: the count refuses it.
    path = tmp_path / "huge.json"
    path.write_text(_edit(nin=100_000, sizes=[100_000]))
    with pytest.raises(ValueError, match="needs 10000100000"):
        MLP.load(path)


def test_count_parameters_is_the_count_a_built_model_has():
    config = {"nin": 3, "sizes": [4, 5, 2], "activation": "tanh", "output": "softmax"}
    assert MLP.count_parameters(**config) == MLP(**config, seed=0).num_parameters() == 53
    with pytest.raises(ValueError, match="layer width 1 must be a positive integer"):
        MLP.count_parameters(nin=2, sizes=[3, 0], activation="relu", output="linear")


def test_parameters_lists_what_named_parameters_names_in_the_same_order():
    # parameters() walks without building names; it must find the same Values in the same
    # order, through lists, tuples, nested modules, a private attribute (skipped) and a
    # module that lists its own parameters
    class Listed(Module):
        def __init__(self) -> None:
            self.extra = Value(9.0)

        def named_parameters(self):
            return [("own", self.extra)]

    class Holder(Module):
        def __init__(self) -> None:
            self.first = Value(1.0)
            self.nested = [(Value(2.0), [Value(3.0), Neuron(2, seed=0)]), "not a parameter"]
            self._hidden = Value(4.0)
            self.count = 3
            self.listed = Listed()
            self.mlp = MLP(2, [3, 1], seed=0)

    holder = Holder()
    named = [p for _, p in holder.named_parameters()]
    found = holder.parameters()
    assert len(found) == len(named) == 1 + 2 + 3 + 1 + 13
    assert all(a is b for a, b in zip(found, named))
    assert all(p is not holder._hidden for p in found)
    assert holder.num_parameters() == len(named)
