"""Neurons, layers and multi-layer perceptrons built from Values.

A `Neuron` computes `act(w . x + b)`: the weighted sum is ONE engine node (`dot`) and the
activation one more, so a graph of a network stays readable. A `Layer` is a list of
neurons on the same inputs, an `MLP` a list of layers.

>>> model = MLP(2, [16, 16, 1], seed=0)
>>> len(model.parameters())
337
>>> out = model([0.5, -1.0])          # one Value, since the last layer has one neuron

Every module can list its parameters in a fixed order (layer by layer, neuron by neuron,
weights in input order then the bias: micrograd's and PyTorch's order) and give them dotted
names (`layers.0.neurons.3.w.1`). Saving and loading live in `nn.io`, the PyTorch bridge
in `nn.torch_bridge`; the methods here call them.
"""

from __future__ import annotations

import math
import os
from typing import Any, Iterable, Sequence, TypeVar

from .. import rules
from .._checks import check_int, finite_float, is_number, make_rng, quote_input
from ..engine import Value, dots
from ..functional import softmax
from ..store import zero_grads
from . import io

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "linear")
INITS = ("he", "xavier", "uniform")
OUTPUTS = ("linear", "sigmoid", "softmax")
LEAKY_RELU_SLOPE = 0.01  # PyTorch's default negative_slope, so to_torch() is exact

_JUST_VALUES = {Value}

# The rule each activation applies to a neuron's weighted sum (None: no extra node).
_ACTIVATION_RULES = {
    "relu": rules.RELU,
    "tanh": rules.TANH,
    "sigmoid": rules.SIGMOID,
    "leaky_relu": rules.LEAKY_RELU.with_arg(LEAKY_RELU_SLOPE),
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


M = TypeVar("M", bound="Module")


class Module:
    """Base class: parameters, names, gradients and (de)serialisation.

    Subclasses implement `__call__` and `config()` (the constructor arguments that rebuild
    the architecture). Their parameters are found by `named_parameters()`: every Value,
    Module, and list or tuple of them held in a public attribute, in the order the
    attributes were set.
    """

    def named_parameters(self) -> list[tuple[str, Value]]:
        """(dotted name, parameter) pairs in the fixed parameter order: the public attributes
        in the order they were set; a list's items by index (`neurons.3.w.1`), a Module's
        parameters under its attribute name. Private attributes (`_name`) are skipped.

        >>> Neuron(2, seed=0).named_parameters()[-1][0]
        'b'
        """
        named: list[tuple[str, Value]] = []
        for attribute, value in vars(self).items():
            if not attribute.startswith("_"):
                _collect_parameters(attribute, value, named)
        return named

    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this architecture (JSON-friendly): the
        attributes that `_config_keys()` names."""
        return {key: getattr(self, key) for key in self._config_keys()}

    def parameters(self) -> list[Value]:
        """Every trainable Value, in the same order as named_parameters()."""
        if type(self).named_parameters is not Module.named_parameters:  # a custom listing
            return [p for _, p in self.named_parameters()]
        # The same walk without building the dotted names, which cost more than the walk
        # itself: zero_grad() calls this every step.
        found: list[Value] = []
        for attribute, value in vars(self).items():
            if isinstance(value, _HOLDERS) and not attribute.startswith("_"):
                _collect_values(value, found)
        return found

    def num_parameters(self) -> int:
        return len(self.parameters())

    def zero_grad(self) -> None:
        """Reset every parameter's gradient to 0 (call before each backward pass)."""
        zero_grads(self.parameters())

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
            weight = finite_float(value)
            if weight is None:
                problem = "not finite" if isinstance(value, float) else "too large for a float"
                raise ValueError(
                    f"state dict value for {quote_input(name)} is {problem}: {quote_input(value)}"
                )
            weights[name] = weight
        for name, p in named:
            p.data = weights[name]

    def save(self, path: str | os.PathLike) -> None:
        """Write the architecture and weights as JSON, atomically (see `nn.io.save`): a
        failure never leaves a half-written file or destroys an existing one."""
        io.save(self, path)

    @classmethod
    def load(cls: type[M], path: str | os.PathLike) -> M:
        """Rebuild a model saved with save(). A missing, unreadable, corrupt or mismatched
        file raises ValueError naming the file and what is wrong (see `nn.io.load`)."""
        return io.load(cls, path)

    @classmethod
    def from_payload(cls: type[M], payload: Any) -> M:
        """Rebuild a model from the dict that save() writes (its parsed JSON)."""
        return io.from_payload(cls, payload)

    @classmethod
    def _config_keys(cls) -> tuple[str, ...]:
        raise NotImplementedError

    @classmethod
    def count_parameters(cls, *args: Any, **config: Any) -> int:
        """How many parameters the architecture that `config` describes has (the keyword
        arguments of config()), checked and computed without building it.

        >>> MLP.count_parameters(nin=2, sizes=[16, 16, 1], activation="relu", output="linear")
        337
        """
        raise NotImplementedError


def _collect_parameters(name: str, value: Any, named: list[tuple[str, Value]]) -> None:
    """Append the parameters `value` holds to `named`, their names under `name`."""
    if isinstance(value, Value):
        named.append((name, value))
    elif isinstance(value, Module):
        named.extend((f"{name}.{inner}", p) for inner, p in value.named_parameters())
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _collect_parameters(f"{name}.{i}", item, named)


def _collect_values(value: Any, found: list[Value]) -> None:
    """_collect_parameters without the names: append the parameters `value` holds."""
    if isinstance(value, Value):
        found.append(value)
    elif isinstance(value, Module):
        found.extend(value.parameters())
    elif isinstance(value, (list, tuple)):
        for item in value:
            if type(item) is Value:  # the common case (a neuron's weights), without a call
                found.append(item)
            elif isinstance(item, _HOLDERS):
                _collect_values(item, found)


_HOLDERS = (Value, Module, list, tuple)  # what can hold a parameter


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

    def __call__(self, xs: Sequence[Any]) -> Value:
        if len(xs) != self.nin:
            raise ValueError(f"Neuron expects {self.nin} inputs, got {len(xs)}")
        return dots([self.w], xs, [self.b], _ACTIVATION_RULES[self.activation])[0]

    @classmethod
    def _config_keys(cls) -> tuple[str, ...]:
        return ("nin", "activation")

    @classmethod
    def count_parameters(cls, nin: Any, activation: Any) -> int:
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
        if type(xs) is not list or not _JUST_VALUES.issuperset(map(type, xs)):
            xs = _as_input_values(xs, self.nin, "Layer")
        elif len(xs) != self.nin:
            raise ValueError(f"Layer expects {self.nin} inputs, got {len(xs)}")
        # each neuron is act(dot(w, x, b)); the dots are made together (engine.dots), so
        # the inputs they share are checked and read once
        neurons = self.neurons
        rule = _ACTIVATION_RULES[self.activation]
        return dots([n.w for n in neurons], xs, [n.b for n in neurons], rule)

    @classmethod
    def _config_keys(cls) -> tuple[str, ...]:
        return ("nin", "nout", "activation")

    @classmethod
    def count_parameters(cls, nin: Any, nout: Any, activation: Any) -> int:
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
            values = layer(values)
        if self.output == "softmax":
            values = softmax(values)
        return values[0] if len(values) == 1 else values

    def config(self) -> dict[str, Any]:
        return {
            "nin": self.nin,
            "sizes": list(self.sizes),
            "activation": self.activation,
            "output": self.output,
        }

    @classmethod
    def _config_keys(cls) -> tuple[str, ...]:
        return ("nin", "sizes", "activation", "output")

    @classmethod
    def count_parameters(cls, nin: Any, sizes: Any, activation: Any, output: Any) -> int:
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

    # --- the PyTorch bridge (nn.torch_bridge) -------------------------------------------

    def to_torch(self) -> Any:
        """An equivalent float64 `torch.nn.Sequential` (Linear layers and activation
        modules) carrying copies of these weights.

        This is the MLP rebuilt from torch's own layers, with torch's own derivatives, to
        hand over as a plain PyTorch model (`MLP.from_torch` reads it back). For any model
        `compile` can trace (an MLP with its loss, a transformer, your own rules),
        `tinygrad_scalar.to_torch(fn, params, example)` exports the traced loss instead: a
        module whose derivatives are still this library's rules, with `write_back()` to
        bring the trained weights home."""
        from .torch_bridge import to_torch

        return to_torch(self)

    @classmethod
    def from_torch(cls, sequential: Any) -> MLP:
        """Read an MLP back from a `torch.nn.Sequential` of Linear layers, each followed by
        at most one activation module (ReLU, Tanh, Sigmoid, LeakyReLU(0.01), Identity;
        after the last Linear: nothing, Sigmoid or Softmax)."""
        from .torch_bridge import from_torch

        return from_torch(cls, sequential)
