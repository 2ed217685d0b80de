"""The PyTorch bridge: an MLP as an equivalent float64 `torch.nn.Sequential`, and back.

torch is imported only when a function here is called, and is never a dependency of the
package: `pip install "tinygrad-scalar[torch]"` to use it. `MLP.to_torch()` and
`MLP.from_torch()` call these; `import_torch` is how every path that needs torch gets it.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from .module import LEAKY_RELU_SLOPE, MLP, OUTPUTS


def to_torch(model: MLP) -> Any:
    """An equivalent float64 `torch.nn.Sequential` (Linear layers and activation
    modules) carrying copies of these weights."""
    torch = import_torch("MLP.to_torch()")
    modules: list[Any] = []
    for i, layer in enumerate(model.layers):
        linear = torch.nn.Linear(layer.nin, layer.nout, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(
                torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64)
            )
            linear.bias.copy_(torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64))
        modules.append(linear)
        act = _torch_activation(torch, layer.activation)
        if act is not None:
            modules.append(act)
        if i == len(model.layers) - 1 and model.output == "softmax":
            modules.append(torch.nn.Softmax(dim=-1))
    return torch.nn.Sequential(*modules)


def from_torch(cls: type[MLP], sequential: Any) -> MLP:
    """Read an MLP back from a `torch.nn.Sequential` of Linear layers, each followed by
    at most one activation module (ReLU, Tanh, Sigmoid, LeakyReLU(0.01), Identity;
    after the last Linear: nothing, Sigmoid or Softmax)."""
    torch = import_torch("MLP.from_torch()")
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
        raise ValueError(f"from_torch: hidden layers use different activations {sorted(hidden)}")
    activation = hidden.pop() if hidden else "relu"
    output = acts[-1]
    if output not in OUTPUTS:
        raise ValueError(
            f"from_torch: last activation {output!r} is not one of {', '.join(OUTPUTS)}"
        )
    nin = linears[0].in_features
    for prev, nxt in itertools.pairwise(linears):
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


INSTALL_TORCH = 'pip install "tinygrad-scalar[torch]" (or pip install torch==2.13.0)'


def import_torch(feature: str) -> Any:
    """The torch module, or one ImportError that names the feature and how to install it."""
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"{feature} needs PyTorch, which is not installed: {INSTALL_TORCH}"
        ) from (error)
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
