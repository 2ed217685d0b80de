"""Two helpers the walkthrough notebooks share: an exercise check and a slider.

`check(answer, expected)` prints one friendly line about a learner's answer; it never
raises, so a notebook runs top to bottom with its exercises still unanswered.

`slider(draw, name=(low, high, step, start))` shows a figure with a live slider in
JupyterLab, and a plain static figure everywhere else (no ipywidgets, a code host's
notebook viewer, the build that writes the committed notebooks).

They live here, not in each notebook, so that the ten notebooks use one rule for "close
enough" and one fallback for widgets.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any, Callable

from .engine import Value

__all__ = ["check", "slider"]

NOT_ANSWERED = "not answered yet: replace the ... with your answer and run the cell again"
CORRECT = "correct"

# Set (to anything but "" or "0") by notebooks/execute.py: the committed notebooks then show
# a static figure that every viewer displays, and rebuilding them stays byte-identical
# (a live widget's output carries a fresh random model id on every run).
STATIC_FIGURES_VARIABLE = "TINYGRAD_SCALAR_STATIC_FIGURES"


def check(answer: Any, expected: Any, tolerance: float = 1e-9) -> None:
    """Print whether `answer` matches `expected` (a number or a Value, usually from the engine).

    Prints "not answered yet ..." while `answer` is `...`, "correct" when it is within
    `tolerance` of `expected` (relative, or absolute for values below 1), and "not quite,
    ..." otherwise. Never raises on a learner's answer, whatever its type.
    """
    if answer is Ellipsis:
        print(NOT_ANSWERED)
        return
    target = float(expected.data if isinstance(expected, Value) else expected)
    if isinstance(answer, Value):
        print(
            f"not quite, the answer should be a number and this is a Value: give its .data"
            f" ({answer.data!r:.40}), or its .grad if the gradient is asked for"
        )
        return
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        print(f"not quite, the answer should be a number, got {answer!r:.40}")
        return
    value = float(answer)
    if not math.isfinite(value):
        print(f"not quite, {value} is not a finite number")
    elif abs(value - target) <= tolerance * max(1.0, abs(target)):
        print(CORRECT)
    else:
        print(f"not quite, {answer} is not it: try again (a solution is in the next cell)")


def _static_figures() -> bool:
    return os.environ.get(STATIC_FIGURES_VARIABLE, "") not in ("", "0")


def slider(draw: Callable[..., Any], **controls: tuple[float, float, float, float]) -> None:
    """Call `draw(**values)` with a slider for each control, or once with the start values.

    Each control is `(low, high, step, start)`; integers throughout give an integer
    slider. `draw` makes and shows its own figure (for example ending in plt.show()).
    With ipywidgets installed the sliders appear under the figure and redraw it when a
    slider is released. Without ipywidgets, or when the environment variable
    TINYGRAD_SCALAR_STATIC_FIGURES is set, `draw` runs once with the start values.
    """
    for name, control in controls.items():
        if len(control) != 4 or not all(isinstance(v, (int, float)) for v in control):
            raise ValueError(f"slider {name!r}: give (low, high, step, start), got {control!r}")
    starts = {name: control[3] for name, control in controls.items()}
    try:
        import ipywidgets
    except ImportError:
        ipywidgets = None
    if ipywidgets is None or _static_figures():
        draw(**starts)
        return
    widgets = {}
    for name, (low, high, step, start) in controls.items():
        whole = all(isinstance(v, int) for v in (low, high, step, start))
        kind = ipywidgets.IntSlider if whole else ipywidgets.FloatSlider
        widgets[name] = kind(
            value=start,
            min=low,
            max=high,
            step=step,
            description=name,
            continuous_update=False,  # redraw on release: a redraw may take a moment
            style={"description_width": "initial"},
        )
    ipywidgets.interact(draw, **widgets)
