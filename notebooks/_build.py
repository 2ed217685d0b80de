"""Build the walkthrough notebooks from their plain-Python sources, then run them.

The sources live in notebooks/src/NN_name.py in the "percent" format that Jupytext and
VS Code understand: a line `# %%` starts a code cell, `# %% [markdown]` starts a text
cell whose lines are written as comments (`# ` is stripped), and
`# %% jupyter={"source_hidden": true}` starts a code cell whose source JupyterLab shows
collapsed (the exercises' solutions; Jupytext reads the same line as that metadata).
Editing a .py file and running

    python notebooks/_build.py                 # every source
    python notebooks/_build.py 03 07           # only the notebooks whose name starts so

executes each notebook in a fresh kernel and writes notebooks/NN_name.ipynb with its
outputs (only if every cell ran), so the committed notebook carries them.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import nbformat
from execute import NOTEBOOK_DIR, run_notebook
from nbclient.exceptions import CellExecutionError

SOURCE_DIR = NOTEBOOK_DIR / "src"
CELL_MARKER = "# %%"
MARKDOWN_MARKER = "# %% [markdown]"
HIDDEN_SOURCE_MARKER = '# %% jupyter={"source_hidden": true}'
HIDDEN_SOURCE_METADATA = {"jupyter": {"source_hidden": True}}

KERNEL_METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def parse_cells(source: str) -> list[nbformat.NotebookNode]:
    """Split percent-format source into notebook cells (text before the first marker is dropped)."""
    cells: list[nbformat.NotebookNode] = []
    kind, lines = None, []

    def flush() -> None:
        text = "\n".join(lines).strip("\n")
        if kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(text))
        elif kind == "code" and text.strip():
            cells.append(nbformat.v4.new_code_cell(text))
        elif kind == "hidden code" and text.strip():
            metadata = copy.deepcopy(HIDDEN_SOURCE_METADATA)
            cells.append(nbformat.v4.new_code_cell(text, metadata=metadata))

    for line in source.splitlines():
        if line.strip() == MARKDOWN_MARKER:
            flush()
            kind, lines = "markdown", []
        elif line.strip() == CELL_MARKER:
            flush()
            kind, lines = "code", []
        elif line.strip() == HIDDEN_SOURCE_MARKER:
            flush()
            kind, lines = "hidden code", []
        elif kind == "markdown":
            # "# text" -> "text"; a bare "#" is an empty line of the paragraph
            lines.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
        else:
            lines.append(line)
    flush()
    return cells


def build(source_path: Path) -> Path:
    notebook = nbformat.v4.new_notebook(metadata=KERNEL_METADATA)
    notebook.cells = parse_cells(source_path.read_text(encoding="utf-8"))
    for number, cell in enumerate(notebook.cells):
        cell.id = f"{source_path.stem[:2]}-{number:02d}"  # stable ids: clean diffs
    target = NOTEBOOK_DIR / f"{source_path.stem}.ipynb"
    # written only once it has run cleanly: a failing build leaves the old notebook alone
    nbformat.write(run_notebook(notebook, NOTEBOOK_DIR), target)
    return target


def main(prefixes: list[str]) -> int:
    sources = sorted(SOURCE_DIR.glob("[0-9][0-9]_*.py"))
    if prefixes:
        sources = [s for s in sources if any(s.stem.startswith(p) for p in prefixes)]
    if not sources:
        print(f"_build.py: no source in {SOURCE_DIR} matches {prefixes}", file=sys.stderr)
        return 2
    status = 0
    for source in sources:
        try:
            print(f"built {build(source).name}")
        except CellExecutionError as error:
            print(f"FAILED {source.name}\n{error}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
