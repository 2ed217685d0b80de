"""Make the pictures the README shows, with the project's own code.

    .venv/bin/python docs/make_pictures.py

writes docs/neuron.svg: one tanh neuron with two inputs, after backward(), drawn by
tinygrad_scalar.viz (Graphviz's `dot` when on PATH, else the WebAssembly build).
"""

from __future__ import annotations

from pathlib import Path

from tinygrad_scalar import Value
from tinygrad_scalar.viz import draw

DOCS = Path(__file__).resolve().parent


def neuron_picture() -> Path:
    inputs = [Value(1.0, "x0"), Value(-0.5, "x1")]
    try:
        from tinygrad_scalar.nn import Neuron
    except ImportError:  # nn.py not there yet: the same neuron by hand
        from tinygrad_scalar import dot

        weights, bias = [Value(-0.6), Value(0.8)], Value(0.1)
        out = dot(weights, inputs, bias).tanh()
        params = [("w.0", weights[0]), ("w.1", weights[1]), ("b", bias)]
    else:
        neuron = Neuron(2, activation="tanh", seed=3)
        out = neuron(inputs)
        params = neuron
    out.label = "out"
    out.backward()
    return draw(out, params=params).save(DOCS / "neuron.svg")


if __name__ == "__main__":
    print(f"wrote {neuron_picture()}")
