"""Make the pictures the README shows, with the project's own code.

    .venv/bin/python docs/make_pictures.py

writes docs/neuron.svg: one tanh neuron with two inputs, after backward(), drawn by
tinygrad_scalar.viz (Graphviz's `dot` when on PATH, else the WebAssembly build); and
docs/decision_boundary.png: the demo's network (`tinygrad-scalar demo`, seed 0) after
training, over the moons it was trained on.
"""

from __future__ import annotations

from pathlib import Path

from tinygrad_scalar import Value
from tinygrad_scalar.nn import Neuron
from tinygrad_scalar.viz import draw

DOCS = Path(__file__).resolve().parent


def neuron_picture() -> Path:
    inputs = [Value(1.0, "x0"), Value(-0.5, "x1")]
    neuron = Neuron(2, activation="tanh", seed=3)
    out = neuron(inputs)
    out.label = "out"
    out.backward()
    return draw(out, params=neuron).save(DOCS / "neuron.svg")


def decision_boundary_picture() -> Path:
    from tinygrad_scalar.data import make_moons
    from tinygrad_scalar.nn import MLP
    from tinygrad_scalar.plot import plot_decision_boundary
    from tinygrad_scalar.train import fit

    # the demo's configuration (tinygrad_scalar/cli.py)
    X, y = make_moons(100, 0.1, seed=0)
    model = MLP(2, [16, 16, 1], activation="relu", seed=0)
    fit(
        model,
        X,
        y,
        loss="hinge",
        optimizer="sgd",
        lr=1.0,
        schedule="linear",
        epochs=100,
        l2=1e-4,
        seed=0,
        progress=False,
        compile=True,
    )
    path = DOCS / "decision_boundary.png"
    plot_decision_boundary(model, X, y, path)
    return path


if __name__ == "__main__":
    print(f"wrote {neuron_picture()}")
    print(f"wrote {decision_boundary_picture()}")
