"""Neural-network building blocks made of Values, in one namespace: `tinygrad_scalar.nn`.

- `module`: `Module` (parameters, names, state dicts), `Neuron`, `Layer`, `MLP`;
- `io`: saving and loading models as JSON (`MLP.save` / `MLP.load` call it);
- `torch_bridge`: an MLP to and from a `torch.nn.Sequential` (`MLP.to_torch`);
- `transformer`: `Embedding`, `linear`, `rmsnorm`, `attention`, `KVCache`,
  `CausalSelfAttention` (notebook 11's tiny GPT).
"""

from ..engine import take
from .io import FORMAT_NAME, FORMAT_VERSION
from .module import (
    ACTIVATIONS,
    INITS,
    LEAKY_RELU_SLOPE,
    MLP,
    OUTPUTS,
    Layer,
    Module,
    Neuron,
    default_init,
)
from .transformer import CausalSelfAttention, Embedding, KVCache, attention, linear, rmsnorm

__all__ = [
    "ACTIVATIONS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "INITS",
    "LEAKY_RELU_SLOPE",
    "MLP",
    "OUTPUTS",
    "CausalSelfAttention",
    "Embedding",
    "KVCache",
    "Layer",
    "Module",
    "Neuron",
    "attention",
    "default_init",
    "linear",
    "rmsnorm",
    "take",
]
