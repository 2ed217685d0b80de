"""Neurons, layers and multi-layer perceptrons built from Values.

A `Neuron` computes `act(w . x + b)`: the weighted sum is ONE engine node (`dot`) and the
activation one more, so a graph of a network stays readable. A `Layer` is a list of
neurons on the same inputs, an `MLP` a list of layers.

>>> model = MLP(2, [16, 16, 1], seed=0)
>>> len(model.parameters())
337
>>> out = model([0.5, -1.0])          # one Value, since the last layer has one neuron

Every module can list its parameters in a fixed order (layer by layer, neuron by neuron,
weights in input order then the bias: micrograd's and PyTorch's order), give them dotted
names (`layers.0.neurons.3.w.1`), and save them to / load them from JSON.

For a small transformer (see notebook 11): `Embedding` (rows of Values looked up by index),
`rmsnorm`, `linear` (a matrix as rows, no bias), `attention` and `CausalSelfAttention`
(multi-head, with a `KVCache` for token-by-token processing).
"""

from __future__ import annotations

import json
import math
import os
import random
from typing import Any, Iterable, Sequence

from ._checks import check_int, finite_float, is_number, make_rng
from ._files import MAX_READ_BYTES, FileRefused, atomic_write, read_limited
from .engine import Value, dot, take
from .expr import quote_input
from .losses import softmax

FORMAT_NAME = "tinygrad_scalar"
FORMAT_VERSION = 1

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "linear")
INITS = ("he", "xavier", "uniform")
OUTPUTS = ("linear", "sigmoid", "softmax")
LEAKY_RELU_SLOPE = 0.01  # PyTorch's default negative_slope, so to_torch() is exact

# How each activation is applied to a neuron's weighted sum (None: no extra node).
_ACTIVATION_FUNCTIONS = {
    "relu": Value.relu,
    "tanh": Value.tanh,
    "sigmoid": Value.sigmoid,
    "leaky_relu": lambda v: v.leaky_relu(LEAKY_RELU_SLOPE),
    "linear": None,
}


def _check_choice(what: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"unknown {what} {quote_input(value)}; choose one of: {', '.join(choices)}"
        )
    return value


def default_init(activation: str) -> str:
    """He initialisation suits ReLU-like units; Xavier suits the symmetric ones."""
    return "he" if activation in ("relu", "leaky_relu") else "xavier"


def _as_input_values(xs: Any, nin: int, owner: str) -> list[Value]:
    """Inputs as a list of Values: floats and NumPy scalars become leaves once, here, so
    every neuron of the first layer shares them instead of making its own constants."""
    try:
        xs = list(xs)
    except TypeError:
        raise ValueError(
            f"{owner} expects a sequence of {nin} inputs, got {type(xs).__name__}"
        ) from None
    if len(xs) != nin:
        raise ValueError(f"{owner} expects {nin} inputs, got {len(xs)}")
    values = []
    for i, x in enumerate(xs):
        if isinstance(x, Value):
            values.append(x)
        elif is_number(x):
            try:
                values.append(Value(float(x)))
            except OverflowError:  # an int beyond float range, e.g. from JSON
                raise ValueError(
                    f"{owner}: input {i} is too large for a float: {x!r:.40}"
                ) from None
        else:
            raise ValueError(
                f"{owner}: input {i} must be a number or a Value, got {type(x).__name__}: {x!r:.40}"
            )
    return values


class Module:
    """Base class: parameters, names, gradients and (de)serialisation.

    Subclasses implement `named_parameters()` and `config()` (the constructor arguments
    that rebuild the architecture), and `__call__`.
    """

    def named_parameters(self) -> list[tuple[str, Value]]:
        """(dotted name, parameter) pairs in the fixed parameter order."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this architecture (JSON-friendly)."""
        raise NotImplementedError

    def parameters(self) -> list[Value]:
        """Every trainable Value, in the same order as named_parameters()."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return len(self.named_parameters())

    def zero_grad(self) -> None:
        """Reset every parameter's gradient to 0 (call before each backward pass)."""
        for p in self.parameters():
            p.grad = 0.0

    def state_dict(self) -> dict[str, float]:
        """{dotted name: weight value}, in parameter order."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Any) -> None:
        """Copy weights in from a state_dict. Strict: the names must match exactly and every
        value must be a finite number. Nothing is changed unless everything is valid."""
        if not isinstance(state, dict):
            raise ValueError(f"state dict must be a dict, got {type(state).__name__}")
        named = self.named_parameters()
        expected = [name for name, _ in named]
        missing = [name for name in expected if name not in state]
        expected_set = set(expected)
        unexpected = [str(name) for name in state if name not in expected_set]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"missing keys: {_shorten(missing)}")
            if unexpected:
                parts.append(f"unexpected keys: {_shorten(unexpected)}")
            raise ValueError(f"state dict does not fit {type(self).__name__}: " + "; ".join(parts))
        weights = {}
        for name in expected:
            value = state[name]
            if not is_number(value):
                raise ValueError(
                    f"state dict value for {quote_input(name)} is not a number:"
                    f" {quote_input(value)}"
                )
            weights[name] = finite_float(value)
            if weights[name] is None:
                problem = "not finite" if isinstance(value, float) else "too large for a float"
                raise ValueError(
                    f"state dict value for {quote_input(name)} is {problem}: {quote_input(value)}"
                )
        for name, p in named:
            p.data = weights[name]

    def save(self, path: str | os.PathLike) -> None:
        """Write the architecture and weights as JSON, atomically: the file is written next
        to its destination under a temporary name and then renamed over it, so a failure
        never leaves a half-written file or destroys an existing one."""
        path = os.fspath(path)
        payload: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
        payload["class"] = type(self).__name__
        payload.update(self.config())
        payload["state_dict"] = self.state_dict()
        for name, value in payload["state_dict"].items():
            if finite_float(value) is None:
                raise ValueError(f"cannot save {path}: parameter {name} is {value!r:.40}")
        text = json.dumps(payload, indent=1) + "\n"

        try:
            with atomic_write(path, "w") as f:
                f.write(text)
        except OSError as e:
            raise OSError(f"cannot write model file {path}: {e.strerror or e}") from e

    @classmethod
    def load(cls, path: str | os.PathLike) -> Module:
        """Rebuild a model saved with save(). A missing, unreadable, corrupt or mismatched
        file raises ValueError naming the file and what is wrong. Only a regular file of at
        most MAX_READ_BYTES (64 MiB) is read: a folder, a device, a named pipe or a larger
        file is refused before anything is read."""
        path = os.fspath(path)
        name = quote_input(path)
        try:
            payload = json.loads(read_limited(path, MAX_READ_BYTES).decode("utf-8"))
        except FileRefused as e:
            raise ValueError(f"cannot read model file {name}: {e.reason}") from None
        except OSError as e:
            raise ValueError(f"cannot read model file {name}: {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise ValueError(f"model file {name} is not UTF-8 text") from None
        except json.JSONDecodeError as e:
            raise ValueError(
                f"model file {name} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
            ) from None
        except (ValueError, RecursionError) as e:  # e.g. absurdly nested or huge numbers
            raise ValueError(f"model file {name} is not valid JSON ({e})") from None
        try:
            return cls.from_payload(payload)
        except (ValueError, TypeError, ArithmeticError) as e:  # ArithmeticError: a backstop
            raise ValueError(f"model file {name}: {e}") from None

    @classmethod
    def from_payload(cls, payload: Any) -> Module:
        """Rebuild a model from the dict that save() writes (its parsed JSON)."""
        if not isinstance(payload, dict):
            raise ValueError(f"expected a JSON object, got {type(payload).__name__}")
        if payload.get("format") != FORMAT_NAME:
            raise ValueError(
                f"not a {FORMAT_NAME} model (format is {quote_input(payload.get('format'))})"
            )
        version = payload.get("version")
        if type(version) is not int or version != FORMAT_VERSION:  # true and 1.0 equal 1
            raise ValueError(
                f"unsupported format version {quote_input(payload.get('version'))}"
                f" (this version reads {FORMAT_VERSION})"
            )
        if payload.get("class") != cls.__name__:
            raise ValueError(f"holds a {quote_input(payload.get('class'))}, not a {cls.__name__}")
        missing = [k for k in (*cls._config_keys(), "state_dict") if k not in payload]
        if missing:
            raise ValueError(f"missing fields: {', '.join(missing)}")
        config = {k: payload[k] for k in cls._config_keys()}
        state = payload["state_dict"]
        if not isinstance(state, dict):
            raise ValueError(f"state_dict must be an object, got {type(state).__name__}")
        expected = cls._count_parameters(**config)  # also validates the config
        if len(state) != expected:
            raise ValueError(
                f"state_dict has {len(state)} weights but the architecture {config}"
                f" needs {expected}"
            )
        # a private seeded rng: loading must not consume the global random state
        model = cls(**config, rng=random.Random(0))
        model.load_state_dict(state)
        return model

    @classmethod
    def _config_keys(cls) -> tuple[str, ...]:
        raise NotImplementedError

    @classmethod
    def _count_parameters(cls, **config: Any) -> int:
        raise NotImplementedError


def _shorten(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


class Neuron(Module):
    """One unit: `act(w . x + b)`.

    init: "he" (gauss(0, 1) * sqrt(2 / nin), bias 0.1), "xavier" (Glorot *uniform*:
    uniform(-a, a) with a = sqrt(6 / (nin + fan_out)), bias 0; PyTorch's
    xavier_uniform_), or "uniform" (uniform(-1, 1), bias 0: micrograd's). The default is
    "he" for relu and leaky_relu, "xavier" otherwise. `fan_out` only matters for
    xavier; a Layer passes its width.

    >>> n = Neuron(3, activation="tanh", seed=1)
    >>> len(n.w), n.b.data
    (3, 0.0)
    """

    def __init__(
        self,
        nin: int,
        activation: str = "relu",
        init: str | None = None,
        seed: int | None = None,
        rng: Any = None,
        fan_out: int = 1,
    ) -> None:
        self.nin = check_int(nin, "nin")
        self.activation = _check_choice("activation", activation, ACTIVATIONS)
        self.init = _check_choice("init", default_init(activation) if init is None else init, INITS)
        fan_out = check_int(fan_out, "fan_out")
        rng = make_rng(seed, rng, global_when_unseeded=True)
        if self.init == "he":
            scale = math.sqrt(2.0 / self.nin)
            weights = [rng.gauss(0.0, 1.0) * scale for _ in range(self.nin)]
            bias = 0.1
        elif self.init == "xavier":
            bound = math.sqrt(6.0 / (self.nin + fan_out))
            weights = [rng.uniform(-bound, bound) for _ in range(self.nin)]
            bias = 0.0
        else:
            weights = [rng.uniform(-1.0, 1.0) for _ in range(self.nin)]
            bias = 0.0
        self.w = [Value(x) for x in weights]
        self.b = Value(bias)
        self._activate = _ACTIVATION_FUNCTIONS[self.activation]

    def __call__(self, xs: Sequence[Any]) -> Value:
        if len(xs) != self.nin:
            raise ValueError(f"Neuron expects {self.nin} inputs, got {len(xs)}")
        total = dot(self.w, xs, self.b)
        return total if self._activate is None else self._activate(total)

    def named_parameters(self) -> list[tuple[str, Value]]:
        named = [(f"w.{i}", w) for i, w in enumerate(self.w)]
        named.append(("b", self.b))
        return named

    def config(self) -> dict[str, Any]:
        return {"nin": self.nin, "activation": self.activation}

    @classmethod
    def _config_keys(cls) -> tuple[str, ...]:
        return ("nin", "activation")

    @classmethod
    def _count_parameters(cls, nin: Any, activation: Any) -> int:
        _check_choice("activation", activation, ACTIVATIONS)
        return check_int(nin, "nin") + 1

    def __repr__(self) -> str:
        return f"Neuron({self.nin}, {self.activation})"


class Layer(Module):
    """`nout` neurons reading the same `nin` inputs. Calling it always returns a list."""

    def __init__(
        self,
        nin: int,
        nout: int,
        activation: str = "relu",
        init: str | None = None,
        seed: int | None = None,
        rng: Any = None,
    ) -> None:
        self.nin = check_int(nin, "nin")
        self.nout = check_int(nout, "nout")
        self.activation = _check_choice("activation", activation, ACTIVATIONS)
        rng = make_rng(seed, rng, global_when_unseeded=True)
        self.neurons = [
            Neuron(self.nin, self.activation, init=init, rng=rng, fan_out=self.nout)
            for _ in range(self.nout)
        ]

    def __call__(self, xs: Any) -> list[Value]:
        if not (isinstance(xs, list) and all(isinstance(x, Value) for x in xs)):
            xs = _as_input_values(xs, self.nin, "Layer")
        elif len(xs) != self.nin:
            raise ValueError(f"Layer expects {self.nin} inputs, got {len(xs)}")
        return [neuron(xs) for neuron in self.neurons]

    def named_parameters(self) -> list[tuple[str, Value]]:
        return [
            (f"neurons.{i}.{name}", p)
            for i, neuron in enumerate(self.neurons)
            for name, p in neuron.named_parameters()
        ]

    def config(self) -> dict[str, Any]:
        return {"nin": self.nin, "nout": self.nout, "activation": self.activation}

    @classmethod
    def _config_keys(cls) -> tuple[str, ...]:
        return ("nin", "nout", "activation")

    @classmethod
    def _count_parameters(cls, nin: Any, nout: Any, activation: Any) -> int:
        _check_choice("activation", activation, ACTIVATIONS)
        return (check_int(nin, "nin") + 1) * check_int(nout, "nout")

    def __repr__(self) -> str:
        return f"Layer({self.nin} -> {self.nout}, {self.activation})"


class MLP(Module):
    """A multi-layer perceptron: `MLP(2, [16, 16, 1])` is 2 inputs, two hidden layers of
    16 and one output.

    Hidden layers use `activation`; the last layer is shaped by `output`: "linear" (raw
    scores), "sigmoid" (probabilities for binary labels) or "softmax" (linear neurons,
    then a softmax over the outputs). Calling the model on one input row (a list or
    tuple of floats/Values, or a 1-D NumPy array) returns one Value if the last layer
    has width 1, else a list. One random source is shared by all layers, so
    `MLP(..., seed=0)` always builds the same weights.
    """

    def __init__(
        self,
        nin: int,
        sizes: Sequence[int],
        activation: str = "relu",
        output: str = "linear",
        init: str | None = None,
        seed: int | None = None,
        rng: Any = None,
    ) -> None:
        self.nin, self.sizes = self._check_shape(nin, sizes)
        self.activation = _check_choice("activation", activation, ACTIVATIONS)
        self.output = _check_choice("output", output, OUTPUTS)
        if self.output == "softmax" and self.sizes[-1] < 2:
            raise ValueError("output='softmax' needs a last layer of at least 2 outputs")
        rng = make_rng(seed, rng, global_when_unseeded=True)
        widths = [self.nin, *self.sizes]
        last = len(self.sizes) - 1
        self.layers = [
            Layer(
                widths[i],
                widths[i + 1],
                activation=self.activation if i < last else self._output_activation(),
                init=init,
                rng=rng,
            )
            for i in range(len(self.sizes))
        ]

    def _output_activation(self) -> str:
        return "sigmoid" if self.output == "sigmoid" else "linear"

    @staticmethod
    def _check_shape(nin: Any, sizes: Any) -> tuple[int, list[int]]:
        nin = check_int(nin, "nin")
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
            raise ValueError(f"sizes must be a list of layer widths, got {sizes!r:.40}")
        sizes = list(sizes)
        if not sizes:
            raise ValueError("sizes must name at least one layer width")
        return nin, [check_int(s, f"layer width {i}") for i, s in enumerate(sizes)]

    def __call__(self, xs: Any) -> Value | list[Value]:
        values: list[Value] = _as_input_values(xs, self.nin, "MLP")
        for layer in self.layers:
            values = [neuron(values) for neuron in layer.neurons]
        if self.output == "softmax":
            values = softmax(values)
        return values[0] if len(values) == 1 else values

    def named_parameters(self) -> list[tuple[str, Value]]:
        return [
            (f"layers.{i}.{name}", p)
            for i, layer in enumerate(self.layers)
            for name, p in layer.named_parameters()
        ]

    def config(self) -> dict[str, Any]:
        return {
            "nin": self.nin,
            "sizes": list(self.sizes),
            "activation": self.activation,
            "output": self.output,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], **kwargs: Any) -> MLP:
        """Build a fresh (randomly initialised) MLP from a config() dict."""
        return cls(**config, **kwargs)

    @classmethod
    def _config_keys(cls) -> tuple[str, ...]:
        return ("nin", "sizes", "activation", "output")

    @classmethod
    def _count_parameters(cls, nin: Any, sizes: Any, activation: Any, output: Any) -> int:
        _check_choice("activation", activation, ACTIVATIONS)
        _check_choice("output", output, OUTPUTS)
        nin, sizes = cls._check_shape(nin, sizes)
        widths = [nin, *sizes]
        return sum((widths[i] + 1) * widths[i + 1] for i in range(len(sizes)))

    def __repr__(self) -> str:
        lines = [f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers)]
        if self.output == "softmax":
            lines.append(f"  ({len(self.layers)}): Softmax({self.sizes[-1]})")
        return "MLP(\n" + "\n".join(lines) + "\n)"

    # --- the PyTorch bridge -------------------------------------------------------------

    def to_torch(self) -> Any:
        """An equivalent float64 `torch.nn.Sequential` (Linear layers and activation
        modules) carrying copies of these weights."""
        torch = _import_torch()
        modules: list[Any] = []
        for i, layer in enumerate(self.layers):
            linear = torch.nn.Linear(layer.nin, layer.nout, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(
                    torch.tensor(
                        [[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64
                    )
                )
                linear.bias.copy_(
                    torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64)
                )
            modules.append(linear)
            act = _torch_activation(torch, layer.activation)
            if act is not None:
                modules.append(act)
            if i == len(self.layers) - 1 and self.output == "softmax":
                modules.append(torch.nn.Softmax(dim=-1))
        return torch.nn.Sequential(*modules)

    @classmethod
    def from_torch(cls, sequential: Any) -> MLP:
        """Read an MLP back from a `torch.nn.Sequential` of Linear layers, each followed by
        at most one activation module (ReLU, Tanh, Sigmoid, LeakyReLU(0.01), Identity;
        after the last Linear: nothing, Sigmoid or Softmax)."""
        torch = _import_torch()
        nn = torch.nn
        linears: list[Any] = []
        acts: list[str] = []
        for index, module in enumerate(sequential):
            if isinstance(module, nn.Linear):
                linears.append(module)
                acts.append("linear")
                continue
            if not linears:
                raise ValueError(f"from_torch: module {index} ({module}) comes before any Linear")
            if acts[-1] != "linear":
                raise ValueError(f"from_torch: two activations in a row at module {index}")
            acts[-1] = _activation_of_torch_module(nn, module, index)
        if not linears:
            raise ValueError("from_torch: the Sequential holds no Linear layer")
        hidden = set(acts[:-1])
        if len(hidden) > 1:
            raise ValueError(
                f"from_torch: hidden layers use different activations {sorted(hidden)}"
            )
        activation = hidden.pop() if hidden else "relu"
        output = acts[-1]
        if output not in OUTPUTS:
            raise ValueError(
                f"from_torch: last activation {output!r} is not one of {', '.join(OUTPUTS)}"
            )
        nin = linears[0].in_features
        for prev, nxt in zip(linears, linears[1:]):
            if prev.out_features != nxt.in_features:
                raise ValueError(
                    f"from_torch: a Linear with {prev.out_features} outputs feeds one"
                    f" with {nxt.in_features} inputs"
                )
        model = cls(
            nin,
            [lin.out_features for lin in linears],
            activation=activation,
            output=output,
            rng=random.Random(0),
        )
        for layer, linear in zip(model.layers, linears):
            if linear.bias is None:
                raise ValueError("from_torch: Linear layers without bias are not supported")
            weight = linear.weight.detach().to(torch.float64).tolist()
            bias = linear.bias.detach().to(torch.float64).tolist()
            for neuron, row, b in zip(layer.neurons, weight, bias):
                for w, x in zip(neuron.w, row):
                    w.data = float(x)
                neuron.b.data = float(b)
        return model


# --- pieces of a transformer: embedding rows, rmsnorm, causal self-attention -----------------
#
# Everything below works on plain lists of Values and contains no Python branch on a Value's
# .data, so `compile` can trace it: a branch on a value would run once, at trace time, and be
# frozen for every later sample.


def _matrix(n_rows: int, n_cols: int, std: float, rng: Any) -> list[list[Value]]:
    """A weight matrix as rows of Values drawn from a normal distribution N(0, std^2)."""
    return [[Value(rng.gauss(0.0, std)) for _ in range(n_cols)] for _ in range(n_rows)]


def _named_rows(name: str, rows: list[list[Value]]) -> list[tuple[str, Value]]:
    return [(f"{name}.{i}.{j}", w) for i, row in enumerate(rows) for j, w in enumerate(row)]


def linear(xs: Sequence[Any], weight: Sequence[Sequence[Any]]) -> list[Value]:
    """`weight @ xs` without a bias: one `dot` node per row of `weight` (a list of rows)."""
    return [dot(row, xs) for row in weight]


def rmsnorm(xs: Sequence[Any], eps: float = 1e-5) -> list[Value]:
    """Root-mean-square normalisation: `x / sqrt(mean(x^2) + eps)` (no learned scale), as
    `torch.nn.functional.rms_norm(x, (len(x),), eps=eps)`. A transformer applies it before
    each block, so every block sees inputs of about unit size."""
    xs = list(xs)
    if not xs:
        raise ValueError("rmsnorm needs at least one value, got an empty vector")
    scale = (dot(xs, xs) / len(xs) + eps) ** -0.5
    return [x * scale for x in xs]


class Embedding(Module):
    """A table of `num_embeddings` rows, each `dim` Values: `emb(i)` is row i (a list).

    A language model keeps one row per token (and one per position) and learns them.
    Rows start as N(0, std^2) draws; PyTorch's nn.Embedding uses std 1.

    >>> emb = Embedding(27, 16, seed=0)
    >>> len(emb(3)), emb.num_parameters()
    (16, 432)
    """

    def __init__(
        self,
        num_embeddings: int,
        dim: int,
        std: float = 1.0,
        seed: int | None = None,
        rng: Any = None,
    ) -> None:
        self.num_embeddings = check_int(num_embeddings, "num_embeddings")
        self.dim = check_int(dim, "dim")
        rng = make_rng(seed, rng, global_when_unseeded=True)
        self.weight = _matrix(self.num_embeddings, self.dim, std, rng)

    def __call__(self, index: int) -> list[Value]:
        return take(self.weight, index)

    def named_parameters(self) -> list[tuple[str, Value]]:
        return _named_rows("weight", self.weight)

    def config(self) -> dict[str, Any]:
        return {"num_embeddings": self.num_embeddings, "dim": self.dim}

    @classmethod
    def _config_keys(cls) -> tuple[str, ...]:
        return ("num_embeddings", "dim")

    @classmethod
    def _count_parameters(cls, num_embeddings: Any, dim: Any) -> int:
        return check_int(num_embeddings, "num_embeddings") * check_int(dim, "dim")

    def __repr__(self) -> str:
        return f"Embedding({self.num_embeddings}, {self.dim})"


def attention(
    query: Sequence[Any],
    keys: Sequence[Sequence[Any]],
    values: Sequence[Sequence[Any]],
    n_heads: int,
) -> tuple[list[Value], list[list[Value]]]:
    """Multi-head attention of ONE query vector over the given key and value vectors.

    The vectors are split into `n_heads` equal slices. For each head h, the scores are
    `q_h . k_h / sqrt(head_dim)` for every key, their softmax gives the weights, and the
    head's output is the weighted sum of the value slices. Returns (the heads' outputs
    concatenated, the weights of each head). Causality is the caller's: pass only the keys
    and values of positions up to the query's own.
    """
    if len(query) % n_heads:
        raise ValueError(
            f"attention: a query of {len(query)} does not split into {n_heads} heads of equal size"
        )
    head_dim = len(query) // n_heads
    scale = head_dim**-0.5
    output: list[Value] = []
    weights_per_head = []
    for h in range(n_heads):
        lo, hi = h * head_dim, (h + 1) * head_dim
        q = query[lo:hi]
        weights = softmax([dot(q, k[lo:hi]) * scale for k in keys])
        output.extend(dot(weights, [v[j] for v in values]) for j in range(lo, hi))
        weights_per_head.append(weights)
    return output, weights_per_head


class KVCache:
    """The keys and values of the positions a `CausalSelfAttention` has seen so far, and
    the attention weights it computed at each position (`weights[t][h]`: head h's weights
    over positions 0..t), for plotting."""

    def __init__(self) -> None:
        self.keys: list[list[Value]] = []
        self.values: list[list[Value]] = []
        self.weights: list[list[list[Value]]] = []

    def __len__(self) -> int:
        return len(self.keys)


class CausalSelfAttention(Module):
    """Multi-head causal self-attention, as in GPT: each position attends to itself and
    the positions before it, never to later ones.

    Four `n_embd x n_embd` matrices (no biases): queries `wq`, keys `wk`, values `wv`, and
    the output projection `wo`. `attn(xs)` maps a sequence of vectors to a sequence of
    vectors; `attn.step(x, cache)` processes one position, appending its key and value to
    the cache (the KV cache of token-by-token generation). Weights start as
    N(0, std^2) draws.

    >>> attn = CausalSelfAttention(16, n_heads=4, seed=0)
    >>> outs = attn([[0.1] * 16, [0.2] * 16, [0.3] * 16])
    >>> len(outs), len(outs[0]), attn.num_parameters()
    (3, 16, 1024)
    """

    def __init__(
        self,
        n_embd: int,
        n_heads: int,
        std: float = 0.08,
        seed: int | None = None,
        rng: Any = None,
    ) -> None:
        self.n_embd, self.n_heads = self._check_heads(n_embd, n_heads)
        rng = make_rng(seed, rng, global_when_unseeded=True)
        self.wq = _matrix(self.n_embd, self.n_embd, std, rng)
        self.wk = _matrix(self.n_embd, self.n_embd, std, rng)
        self.wv = _matrix(self.n_embd, self.n_embd, std, rng)
        self.wo = _matrix(self.n_embd, self.n_embd, std, rng)

    @staticmethod
    def _check_heads(n_embd: Any, n_heads: Any) -> tuple[int, int]:
        n_embd, n_heads = check_int(n_embd, "n_embd"), check_int(n_heads, "n_heads")
        if n_embd % n_heads:
            raise ValueError(f"n_embd {n_embd} does not split into {n_heads} heads of equal size")
        return n_embd, n_heads

    def step(self, x: Sequence[Any], cache: KVCache) -> list[Value]:
        """The output at the next position, whose input vector is x; x's key and value join
        the cache, so later positions can attend to it."""
        if len(x) != self.n_embd:
            raise ValueError(f"CausalSelfAttention expects vectors of {self.n_embd}, got {len(x)}")
        cache.keys.append(linear(x, self.wk))
        cache.values.append(linear(x, self.wv))
        heads, weights = attention(linear(x, self.wq), cache.keys, cache.values, self.n_heads)
        cache.weights.append(weights)
        return linear(heads, self.wo)

    def __call__(
        self, xs: Sequence[Sequence[Any]], cache: KVCache | None = None
    ) -> list[list[Value]]:
        cache = KVCache() if cache is None else cache
        return [self.step(x, cache) for x in xs]

    def named_parameters(self) -> list[tuple[str, Value]]:
        return [
            *_named_rows("wq", self.wq),
            *_named_rows("wk", self.wk),
            *_named_rows("wv", self.wv),
            *_named_rows("wo", self.wo),
        ]

    def config(self) -> dict[str, Any]:
        return {"n_embd": self.n_embd, "n_heads": self.n_heads}

    @classmethod
    def _config_keys(cls) -> tuple[str, ...]:
        return ("n_embd", "n_heads")

    @classmethod
    def _count_parameters(cls, n_embd: Any, n_heads: Any) -> int:
        n_embd, _ = cls._check_heads(n_embd, n_heads)
        return 4 * n_embd * n_embd

    def __repr__(self) -> str:
        return f"CausalSelfAttention({self.n_embd}, n_heads={self.n_heads})"


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            "the PyTorch bridge needs torch, which is not installed: pip install torch"
        ) from e
    return torch


def _torch_activation(torch: Any, activation: str) -> Any:
    nn = torch.nn
    return {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "leaky_relu": lambda: nn.LeakyReLU(LEAKY_RELU_SLOPE),
        "linear": lambda: None,
    }[activation]()


def _activation_of_torch_module(nn: Any, module: Any, index: int) -> str:
    if isinstance(module, nn.ReLU):
        return "relu"
    if isinstance(module, nn.Tanh):
        return "tanh"
    if isinstance(module, nn.Sigmoid):
        return "sigmoid"
    if isinstance(module, nn.Identity):
        return "linear"
    if isinstance(module, nn.Softmax):
        if module.dim not in (-1, 1):
            raise ValueError(f"from_torch: Softmax over dim {module.dim} is not supported")
        return "softmax"
    if isinstance(module, nn.LeakyReLU):
        if module.negative_slope != LEAKY_RELU_SLOPE:
            raise ValueError(
                f"from_torch: LeakyReLU slope {module.negative_slope} is not supported"
                f" (only {LEAKY_RELU_SLOPE})"
            )
        return "leaky_relu"
    raise ValueError(f"from_torch: unsupported module {index}: {module}")
