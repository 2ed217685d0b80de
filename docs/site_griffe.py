"""A Griffe extension for the API reference (mkdocs.yml, mkdocstrings' `extensions`).

The docstrings are prose, written to read well in `help()`, and the API pages show them as
Markdown. Two habits of theirs need a word to Markdown:
- examples are doctests (`>>> x = Value(3.0)`), which pytest runs; a line starting with `>`
  would be a quotation, so each run of doctest lines becomes a ```pycon block;
- options are described one per line, `name: what it does`, continued on indented lines;
  where `name` is a parameter of the function, those lines become a list item.
"""

from __future__ import annotations

import re
from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """Wrap each run of lines that starts with `>>>` (up to a blank line) in a pycon fence."""
    out: list[str] = []
    indent: str | None = None  # the doctest block's indentation while inside one
    fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        if indent is not None and not line.strip():
            out.append(f"{indent}```")
            indent = None
        elif indent is None and not fence and line.lstrip().startswith(">>>"):
            indent = re.match(r"\s*", line).group()  # type: ignore[union-attr]
            out.append(f"{indent}```pycon")
        out.append(line)
    if indent is not None:
        out.append(f"{indent}```")
    return "\n".join(out)


def list_parameters(text: str, names: set[str]) -> str:
    """`name: text` lines (and their indented continuations) as Markdown list items, for the
    parameter names given."""
    out: list[str] = []
    in_item = False
    for line in text.splitlines():
        item = re.match(r"(\w+): (.*)", line)
        if item and item.group(1) in names:
            if out and out[-1].strip() and not in_item:
                out.append("")  # a list needs a blank line before it
            out.append(f"- `{item.group(1)}`: {item.group(2)}")
            in_item = True
        elif in_item and line.startswith((" ", "\t")) and line.strip():
            out.append("  " + line.strip())
        else:
            if in_item and line.strip():
                out.append("")
            in_item = False
            out.append(line)
    return "\n".join(out)


class DocstringsAsMarkdown(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None:
            return
        text = fence_doctests(obj.docstring.value)
        try:
            names = {p.name for p in obj.parameters}  # type: ignore[attr-defined]
        except (AttributeError, TypeError, ValueError):
            names = set()
        if names:
            text = list_parameters(text, names - {"self", "cls"})
        obj.docstring.value = text
