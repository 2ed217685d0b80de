"""`tinygrad-scalar graph EXPR [NAME=VALUE ...] [-o FILE] [--no-open]`.

Computes EXPR at the given values, prints its value and its partial derivative with respect
to every variable, and with -o writes the computation graph (with gradients) to FILE. The
expression is called f, or g where an input is called f (see output_name):

    $ tinygrad-scalar graph "x**2 + 2*x*y + y**2" x=1 y=2 -o f.svg
    f = 9
    df/dx = 6
    df/dy = 6
    wrote f.svg

With -o f.html it writes a page that steps through the forward and backward pass instead
(tinygrad_scalar.viz.explore).

EXPR is checked by tinygrad_scalar.cli.expr against a whitelist and never evaluated as Python.
Without -o nothing is written. Bad input raises the command line's BadInput (exit status 2,
a one-line message); a missing renderer raises CommandFailed (exit status 1). No file is
written unless everything succeeded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import webbrowser
from pathlib import Path
from typing import Any

from .._checks import quote_input
from .._files import check_writable
from ..engine import Value
from ..viz import draw, explore
from ..viz.graph import check_dpi
from ..viz.render import SUFFIX_FORMATS, RenderError, RendererUnavailable, choose_renderer
from .arguments import BadInput, CommandFailed
from .expr import FUNCTIONS, ExpressionError, evaluate, parse, parse_bindings

# -o FILE: a picture in one of the renderer's formats, or .html for the stepping page
OUTPUT_FORMATS = {**SUFFIX_FORMATS, ".html": "html"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the `graph` subcommand on an argparse subparsers object."""
    parser = subparsers.add_parser(
        "graph",
        help="value, gradients and computation graph of an expression",
        description=(
            "Compute EXPR at the given NAME=VALUE points, print its value and its partial "
            "derivatives, and with -o write the computation graph with gradients. EXPR may "
            "use numbers, the bound names, + - * / **, parentheses and "
            f"{', '.join(FUNCTIONS)}. An EXPR starting with '-' goes after '--'."
        ),
        epilog='example: tinygrad-scalar graph "x**2 + 2*x*y + y**2" x=1 y=2 -o f.svg',
    )
    parser.add_argument("expr", metavar="EXPR", help='the expression, e.g. "tanh(w*x + b)"')
    parser.add_argument(
        "bindings", metavar="NAME=VALUE", nargs="*", help="a value for each name in EXPR"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the graph here (.svg, .png, .pdf or .dot), or a page that steps through "
        "the forward and backward pass (.html); without it nothing is written",
    )
    parser.add_argument(
        "--dpi",
        type=float,
        metavar="N",
        help="resolution of a PNG (-o f.png) in dots per inch; Graphviz's default is 96, "
        "192 draws it twice as large",
    )
    parser.add_argument(
        "--no-open",
        action="store_true",
        help="do not open the written file in a viewer (it is opened only from a terminal "
        "with a desktop)",
    )
    parser.set_defaults(run=run)
    return parser


def output_name(inputs: dict[str, Any]) -> str:
    """The expression's name in the output and the drawing: f, unless an input is called f
    (then g, h, f1, f2, ...): never the name of an input."""
    for name in ("f", "g", "h"):
        if name not in inputs:
            return name
    return next(f"f{k}" for k in range(1, len(inputs) + 2) if f"f{k}" not in inputs)


def _format(x: float) -> str:
    return f"{x:.12g}"


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; returns the exit status 0, or raises BadInput or CommandFailed."""
    try:
        bindings = parse_bindings(args.bindings)
        tree = parse(args.expr, names=bindings)
    except ExpressionError as error:
        raise BadInput(str(error)) from None

    output = None
    if getattr(args, "dpi", None) is not None and args.output is None:
        raise BadInput("--dpi needs -o FILE.png")
    if args.output is not None:
        # Every check that can fail happens before anything is computed or written.
        problem = _output_problem(args.output)
        if problem:
            raise BadInput(problem)
        output = Path(args.output)
        fmt = OUTPUT_FORMATS[output.suffix.lower()]
        dpi = getattr(args, "dpi", None)
        if dpi is not None:
            if fmt != "png":
                raise BadInput(f"--dpi applies to PNG output only, not to {args.output!r}")
            try:
                check_dpi(dpi)
            except ValueError as error:
                raise BadInput(f"--{error}") from None
        if fmt != "dot":
            try:
                choose_renderer("svg" if fmt == "html" else fmt)
            except (RendererUnavailable, ValueError) as error:
                raise CommandFailed(str(error)) from None

    variables = {name: Value(value, label=name) for name, value in bindings.items()}
    result = evaluate(tree, variables)
    if not result.label:  # a new value, not one of the inputs itself
        result.label = output_name(variables)
    result.backward()

    out = result.label
    print(f"{out} = {_format(result.data)}")
    for name, variable in variables.items():
        # a name bound but not used has derivative 0 (its grad was never touched)
        print(f"d{out}/d{name} = {_format(float(variable.grad))}")

    if output is None:
        return 0
    try:
        if fmt == "html":
            explore(result, max_nodes=2000).save(output)
        else:
            draw(result, max_nodes=2000).save(output, dpi=getattr(args, "dpi", None))
    except ValueError as error:  # too many nodes
        raise BadInput(str(error)) from None
    except OSError as error:  # names the file asked for, not a temporary one
        raise CommandFailed(
            f"cannot write {quote_input(args.output)}: {error.strerror or error}"
        ) from None
    except (RendererUnavailable, RenderError) as error:
        raise CommandFailed(f"cannot write {quote_input(args.output)}: {error}") from None
    print(f"wrote {output}")
    if not args.no_open and _can_open_viewer():
        _open_viewer(output)
    return 0


def _output_problem(text: str) -> str | None:
    """What stops the graph being written to `text` (the -o argument), or None."""
    if not text:
        return "-o must name a file, got ''"
    if text.endswith(("/", os.sep)):
        return f"cannot write {quote_input(text)}: it names a folder (a file name is needed)"
    output = Path(text)
    if output.suffix.lower() not in OUTPUT_FORMATS:
        known = ", ".join(OUTPUT_FORMATS)
        return (
            f"cannot write {quote_input(text)}: unknown format {quote_input(output.suffix)}"
            f" (use {known})"
        )
    try:
        if not output.parent.is_dir():
            return (
                f"cannot write {quote_input(text)}:"
                f" folder {quote_input(str(output.parent))} does not exist"
            )
        if output.is_dir():
            return f"cannot write {quote_input(text)}: it is a folder"
        check_writable(output)
    except OSError as error:  # a name too long, a loop of symbolic links, no permission
        return f"cannot write {quote_input(text)}: {error.strerror or error}"
    return None


def _can_open_viewer() -> bool:
    """Only from an interactive terminal on a desktop: never in scripts, pipes or CI, and not
    over ssh (where a text-mode browser would take over the terminal)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    if os.environ.get("CI"):
        return False
    if sys.platform.startswith(("win", "darwin")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _open_viewer(path: Path) -> None:
    # a viewer that fails to start must not turn success into an error
    with contextlib.suppress(Exception):
        webbrowser.open(path.resolve().as_uri())
