"""Re-execute the walkthrough notebooks in place, each in a fresh kernel.

    python notebooks/execute.py                    # every notebooks/NN_*.ipynb, outputs rewritten
    python notebooks/execute.py notebooks/01_*.ipynb
    python notebooks/execute.py --check            # run them all, write nothing

A notebook runs with notebooks/ as its working directory. The first error stops that
notebook: its file is left untouched, the error is printed, and the exit status is 1.
Sliders (tinygrad_scalar.notebook.slider) are drawn as static figures here, so that the
committed notebooks show a picture in any viewer and a rebuild gives the same bytes.
Graphs are laid out by the WebAssembly Graphviz that pip installs, even where a system
`dot` exists (its text measures and version differ from machine to machine): a rebuild
on any machine gives the same drawings, not a diff of every SVG.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tinygrad_scalar.notebook import STATIC_FIGURES_VARIABLE
from tinygrad_scalar.viz.render import RENDERER_ENV_VAR, wasm_available

NOTEBOOK_DIR = Path(__file__).resolve().parent
CELL_TIMEOUT_SECONDS = 120


def notebook_paths() -> list[Path]:
    """The walkthroughs, in reading order."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def run_notebook(
    notebook: nbformat.NotebookNode, working_dir: Path, static_figures: bool = True
) -> nbformat.NotebookNode:
    """Run every cell of `notebook` top to bottom in a fresh kernel started in `working_dir`.

    The outputs are replaced in place and the notebook returned; raises CellExecutionError
    at the first cell that fails. With static_figures=False the sliders are built as live
    ipywidgets (which nbclient runs without any widget frontend).
    """
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        # no timestamps, and printed lines merged into one output however the kernel
        # happened to flush them: re-running an unchanged notebook gives an empty diff
        record_timing=False,
        coalesce_streams=True,
        resources={"metadata": {"path": str(working_dir)}},
    )
    environment = dict(os.environ)
    environment[STATIC_FIGURES_VARIABLE] = "1" if static_figures else "0"
    if wasm_available():  # absent on Python 3.10 only: then whatever renderer there is
        environment[RENDERER_ENV_VAR] = "wasm"
    client.execute(env=environment)
    return notebook


def execute_notebook(path: Path, static_figures: bool = True) -> nbformat.NotebookNode:
    """Read the notebook at `path` and run it (see run_notebook); the file is not changed."""
    return run_notebook(nbformat.read(path, as_version=4), path.parent, static_figures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every NN_*.ipynb")
    parser.add_argument("--check", action="store_true", help="execute without writing")
    args = parser.parse_args(argv)

    paths = args.notebooks or notebook_paths()
    for path in paths:
        if not path.is_file():
            print(f"execute.py: no notebook at {path}", file=sys.stderr)
            return 2
    failed = 0
    for path in paths:
        started = time.perf_counter()
        try:
            notebook = execute_notebook(path)
        except CellExecutionError as error:
            failed += 1
            print(f"FAILED {path.name}\n{error}", file=sys.stderr)
            continue
        seconds = time.perf_counter() - started
        if not args.check:
            nbformat.write(notebook, path)
        print(f"ok {path.name} ({seconds:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
