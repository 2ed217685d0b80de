"""Computation graphs as pictures: `draw(value)` returns a Graph that renders to SVG.

>>> from tinygrad_scalar import Value
>>> from tinygrad_scalar.viz import draw
>>> x = Value(2.0, "x"); y = (x * x).tanh(); y.backward()
>>> graph = draw(y)            # graph.svg(), graph.save("y.svg"), or show it in Jupyter
>>> "digraph" in graph.source
True

Rendering uses Graphviz's `dot` when it is on PATH, else Graphviz compiled to WebAssembly
(SVG only); see tinygrad_scalar.viz.render. `explore(value)` makes a page that steps through
the forward and backward pass (tinygrad_scalar.viz.explore).
"""

from .explore import Explorer, explore
from .graph import Graph, draw, escape_label, format_number
from .render import RENDERER_ENV_VAR, RenderError, RendererUnavailable, choose_renderer

__all__ = [
    "Explorer",
    "Graph",
    "RENDERER_ENV_VAR",
    "RenderError",
    "RendererUnavailable",
    "choose_renderer",
    "draw",
    "escape_label",
    "explore",
    "format_number",
]
