"""Make the pictures the README shows, with the project's own code.

    .venv/bin/python docs/make_pictures.py

writes docs/neuron.svg: one tanh neuron with two inputs, after backward(), drawn by
tinygrad_scalar.viz (Graphviz's `dot` when on PATH, else the WebAssembly build); and
docs/decision_boundary.png: the demo's network (`tinygrad-scalar demo`, seed 0) after
training, over the moons it was trained on; and docs/explorer.png: the same neuron in
tinygrad_scalar.explore's page, half way through the backward pass, photographed by the
browser the tests use (Playwright driving Debian's Chromium; skipped, saying so, without them).
"""

from __future__ import annotations

import os
from pathlib import Path

from tinygrad_scalar import Value
from tinygrad_scalar.nn import Neuron
from tinygrad_scalar.viz import draw, explore

DOCS = Path(__file__).resolve().parent


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def the_neuron() -> tuple[Value, Neuron]:
    inputs = [Value(1.0, "x0"), Value(-0.5, "x1")]
    neuron = Neuron(2, activation="tanh", seed=3)
    out = neuron(inputs)
    out.label = "out"
    return out, neuron


def neuron_picture() -> Path:
    out, neuron = the_neuron()
    out.backward()
    return draw(out, params=neuron).save(DOCS / "neuron.svg")


def explorer_picture() -> Path | str:
    """A screenshot of the explorer at the step where w.1 receives its gradient."""
    if not os.path.exists(CHROMIUM):
        return f"skipped explorer.png: no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "skipped explorer.png: Playwright is not installed (pip install playwright)"
    out, neuron = the_neuron()
    page_path = DOCS / ".explorer.html"
    explore(out, params=neuron).save(page_path)
    path = DOCS / "explorer.png"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 860, "height": 600}, device_scale_factor=2)
            page.goto(page_path.as_uri())
            page.focus(".tgs-explorer")
            while not page.inner_text("[data-role=explain]").startswith("dout/d(w.1) ="):
                page.keyboard.press("ArrowRight")
            page.locator(".tgs-explorer").screenshot(path=str(path))
            browser.close()
    finally:
        page_path.unlink()
    return path


def decision_boundary_picture() -> Path:
    from tinygrad_scalar.data import make_moons
    from tinygrad_scalar.nn import MLP
    from tinygrad_scalar.plot import plot_decision_boundary
    from tinygrad_scalar.train import fit

    # the demo's configuration (tinygrad_scalar/cli/commands.py)
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
    made = explorer_picture()
    print(f"wrote {made}" if isinstance(made, Path) else made)
