"""Build the course and reference website into site/, offline: `make docs`.

    .venv/bin/python docs/build_site.py

Nothing in the site is written twice. This script lays out MkDocs' source folder,
build/site-src/ (git-ignored), from the files that already say it all, then runs MkDocs:

- Guide: README.md split at its `##` and `###` headings into pages (GUIDE_PAGES says which
  heading goes where; a heading it does not name goes with its parent's page, and a new `##`
  section becomes a page of its own, so no section of the README is ever left out).
  Relative links are rewritten for the site: pictures are copied beside the pages, a module's
  source file points to its API page, and anything else to the repository.
- Course: the committed notebooks, with their outputs. Formulas become MathML here (no
  MathJax, so no network when a page is read), and an exercise's solution cell (written
  `# %% jupyter={"source_hidden": true}` in notebooks/src/) becomes a collapsed
  "Solution" block. mkdocs-jupyter renders them; an explorer's scripts run on the page.
- API reference: one page per part of the library, rendered by mkdocstrings from the
  docstrings, each object with its source a click away.

mkdocs.yml holds the theme and plugins; docs/site_hooks.py checks each page loads nothing
from the network.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import textwrap
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = ROOT / "build" / "site-src"  # MkDocs' docs_dir (mkdocs.yml), made anew each build
SITE_DIR = ROOT / "site"
ASSETS = Path(__file__).resolve().parent / "site"  # the site's own stylesheet

# (page, title, README headings that go there). A heading matches when it starts with one of
# these (case and backticks ignored). Pages appear in the order of their first section.
GUIDE_PAGES: list[tuple[str, str, list[str]]] = [
    (
        "guide/getting-started",
        "Getting started",
        ["Learn with the notebooks", "Two commands", "Which path do I use"],
    ),
    ("guide/engine", "The engine", ["The engine in use"]),
    ("guide/rules", "Rules and custom ops", ["One rules table"]),
    ("guide/numerics", "Numerics, modes and checks", ["Modes and checks", "Numerical"]),
    ("guide/nn-and-training", "Neural networks and training", ["Neural networks"]),
    ("guide/compile", "Training at matrix speed", ["Train at matrix speed"]),
    ("guide/outgrowing-scalars", "Outgrowing scalars: PyTorch", ["Outgrowing scalars"]),
    ("guide/drawing", "Drawing and the explorer", ["Computation graphs"]),
    ("guide/cli", "The command line", ["The command line"]),
    ("guide/files-and-errors", "Files and errors", ["Files and errors"]),
    ("guide/micrograd", "Coming from micrograd", ["Coming from micrograd"]),
    ("guide/performance", "Performance", ["Performance"]),
    ("course/index", "About the course", ["Notebooks"]),
    ("guide/project", "Tests and the project's layout", ["Tests", "Project layout", "License"]),
]

# API pages: (page, title, module whose source links land here, mkdocstrings identifiers).
# Identifiers are the public names (what `import` finds), so moving code between modules
# behind the same public name does not break the site.
API_PAGES: list[tuple[str, str, str, list[str]]] = [
    ("reference/value", "Value and the engine", "tinygrad_scalar/engine.py", [
        "tinygrad_scalar.Value", "tinygrad_scalar.sum", "tinygrad_scalar.dot",
        "tinygrad_scalar.engine.dots", "tinygrad_scalar.take", "tinygrad_scalar.no_grad",
        "tinygrad_scalar.enable_grad", "tinygrad_scalar.is_grad_enabled",
        "tinygrad_scalar.detect_anomaly", "tinygrad_scalar.gradients",
        "tinygrad_scalar.topological_order"]),
    ("reference/rule", "Rule: the rules table", "tinygrad_scalar/rules.py",
        ["tinygrad_scalar.Rule"]),
    ("reference/functional", "The functional API", "tinygrad_scalar/functional.py",
        ["tinygrad_scalar.functional"]),
    ("reference/nn", "nn: modules and layers", "tinygrad_scalar/nn/module.py",
        ["tinygrad_scalar.nn.module", "tinygrad_scalar.nn.transformer"]),
    ("reference/losses", "losses", "tinygrad_scalar/losses.py", ["tinygrad_scalar.losses"]),
    ("reference/optim", "optim", "tinygrad_scalar/optim.py", ["tinygrad_scalar.optim"]),
    ("reference/data", "data", "tinygrad_scalar/data.py", ["tinygrad_scalar.data"]),
    ("reference/train", "train", "tinygrad_scalar/train.py", ["tinygrad_scalar.train"]),
    ("reference/compile", "compile", "tinygrad_scalar/compiler/step.py", [
        "tinygrad_scalar.compiler.compile", "tinygrad_scalar.compiler.CompiledStep",
        "tinygrad_scalar.compiler.compile_by_shape", "tinygrad_scalar.compiler.CompiledByShape",
        "tinygrad_scalar.compiler.TracerError"]),
    ("reference/viz", "draw and explore", "tinygrad_scalar/viz/graph.py", [
        "tinygrad_scalar.viz.draw", "tinygrad_scalar.viz.Graph",
        "tinygrad_scalar.viz.explore", "tinygrad_scalar.viz.Explorer"]),
]  # fmt: skip


# --- the README, split into sections ----------------------------------------------------------


@dataclass
class Section:
    level: int  # 2 for `##`, 3 for `###`
    title: str  # the heading's text, as written
    body: list[str] = field(default_factory=list)  # the lines after the heading
    page: str = ""


def split_readme(text: str) -> tuple[list[str], list[Section]]:
    """(the lines before the first `##`, the `##` and `###` sections in order). Headings
    inside fenced code blocks are code, not headings."""
    preamble: list[str] = []
    sections: list[Section] = []
    fence = ""
    for line in text.splitlines():
        stripped = line.strip()
        marker = re.match(r"(`{3,}|~{3,})", stripped)
        if marker and (not fence or stripped.startswith(fence)):
            fence = "" if fence else marker.group(1)
        heading = None if fence else re.match(r"(#{2,3}) (.+?)\s*#*$", line)
        if heading:
            sections.append(Section(len(heading.group(1)), heading.group(2)))
        elif sections:
            sections[-1].body.append(line)
        else:
            preamble.append(line)
    return preamble, sections


def plain(title: str) -> str:
    return title.replace("`", "").strip().lower()


def assign_pages(sections: list[Section]) -> None:
    """Give each section its page: a named heading's page, else its `##` parent's, else a page
    of its own (a section added to the README after this table was written)."""
    parent_page = ""
    for section in sections:
        named = [page for page, _, starts in GUIDE_PAGES
                 if any(plain(section.title).startswith(s.lower()) for s in starts)]  # fmt: skip
        if named:
            section.page = named[0]
        elif section.level == 3 and parent_page:
            section.page = parent_page
        else:
            section.page = "guide/" + slugify(section.title)
        if section.level == 2:
            parent_page = section.page


def slugify(text: str) -> str:
    """The anchor MkDocs gives a heading (Python-Markdown's toc): GitHub's, with runs of
    hyphens joined."""
    text = unicodedata.normalize("NFKD", text.replace("`", "")).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def page_title(page: str, sections: list[Section]) -> str:
    for name, title, _ in GUIDE_PAGES:
        if name == page:
            return title
    return next(s.title for s in sections if s.page == page).replace("`", "")


def page_markdown(page: str, sections: list[Section]) -> str:
    """One page: its sections in README order. A page of one top section takes that heading
    as its title; a page of several gets the title from GUIDE_PAGES above them."""
    own = [s for s in sections if s.page == page]
    top = min(s.level for s in own)
    lines = []
    if sum(s.level == top for s in own) == 1 and own[0].level == top:
        lines.append(f"# {own[0].title}")
        lines += own[0].body
        shift = top - 1
        rest = own[1:]
    else:
        lines.append(f"# {page_title(page, sections)}")
        shift = top - 2
        rest = own
    for section in rest:
        lines.append(f"{'#' * (section.level - shift)} {section.title}")
        lines += section.body
    return "\n".join(lines).rstrip() + "\n"


# --- links ------------------------------------------------------------------------------------


class Links:
    """Rewrites the README's relative links for a page at a given place in the site."""

    def __init__(self, sections: list[Section], source_url: str) -> None:
        self.source_url = source_url.rstrip("/")
        # the anchor GitHub gives a README heading -> (page, the anchor on that page)
        self.anchors = {slugify(s.title): (s.page, slugify(s.title)) for s in sections}
        self.module_pages = {module: page for page, _, module, _ in API_PAGES}
        self.pictures: set[str] = set()

    def rewrite(self, markdown: str, page: str) -> str:
        up = "../" * page.count("/")

        def one(match: re.Match) -> str:
            bang, text, target = match.group(1), match.group(2), match.group(3)
            return f"{bang}[{text}]({self.target(target, page, up, bool(bang))})"

        def notebook(match: re.Match) -> str:
            name = match.group(1)
            if not (ROOT / "notebooks" / f"{name}.ipynb").exists():
                return match.group(0)
            return f"[`{name}`]({up}course/{name}.ipynb)"

        out, fence = [], ""
        for line in markdown.splitlines():
            stripped = line.strip()
            marker = re.match(r"(`{3,}|~{3,})", stripped)
            if marker and (not fence or stripped.startswith(fence)):
                fence = "" if fence else marker.group(1)
            elif not fence:
                line = re.sub(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)", one, line)
                line = re.sub(r"(?<!\[)`(\d\d_\w+)`(?!\])", notebook, line)
            out.append(line)
        return "\n".join(out) + "\n"

    def target(self, target: str, page: str, up: str, picture: bool) -> str:
        if re.match(r"[a-z]+:", target):
            return target
        if target.startswith("#"):
            anchor_page, anchor = self.anchors.get(target[1:], (page, target[1:]))
            return f"#{anchor}" if anchor_page == page else f"{up}{anchor_page}.md#{anchor}"
        path = target.split("#")[0].rstrip("/")
        if picture:
            self.pictures.add(path)
            return up + path
        if path == "notebooks":
            return f"{up}course/index.md"
        if path.startswith("notebooks/") and path.endswith(".ipynb"):
            return f"{up}course/{Path(path).name}"
        if path in self.module_pages:
            return f"{up}{self.module_pages[path]}.md"
        kind = "tree" if (ROOT / path).is_dir() else "blob"
        return f"{self.source_url}/{kind}/main/{path}"


# --- notebooks --------------------------------------------------------------------------------


def to_mathml(markdown: str) -> str:
    """`$...$` and `$$...$$` as MathML, which browsers draw with no script. Code spans and
    fenced blocks are left alone. Characters Markdown would act on are written as entities."""
    from latex2mathml.converter import convert

    def mathml(latex: str, display: str) -> str:
        try:
            out = convert(latex.strip(), display=display)
        except Exception as error:  # name the formula: the build stops on it
            raise ValueError(f"cannot turn ${latex}$ into MathML: {error}") from error
        return re.sub(r"[*_`\\\[\]]", lambda m: f"&#{ord(m.group())};", out)

    inline = re.compile(r"(?<![\\$])\$(?![\s$])([^$\n]+?)(?<!\s)\$")
    parts = re.split(r"(```.*?```|`[^`\n]*`)", markdown, flags=re.S)
    for i in range(0, len(parts), 2):  # the odd parts are code
        text = re.sub(r"\$\$(.+?)\$\$", lambda m: mathml(m.group(1), "block"), parts[i], flags=re.S)
        parts[i] = inline.sub(lambda m: mathml(m.group(1), "inline"), text)
    return "".join(parts)


def solution_markdown(cell: dict) -> str:
    """A solution code cell as a collapsed block: its code, then what it printed."""
    code = "".join(cell["source"]).rstrip()
    printed = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            printed.append("".join(output["text"]))
        elif "text/plain" in output.get("data", {}):
            printed.append("".join(output["data"]["text/plain"]) + "\n")
    lines = ['<details class="solution" markdown="1">', "<summary>Solution</summary>", ""]
    lines += ["```python", code, "```", ""]
    if "".join(printed).strip():
        lines += ['<div class="solution-output" markdown="1">', "", "```text"]
        lines += ["".join(printed).rstrip(), "```", "", "</div>", ""]
    lines.append("</details>")
    return "\n".join(lines) + "\n"


def prepare_notebook(source: Path, target: Path) -> str:
    """Copy a notebook for the site; return its title (its first `#` heading)."""
    notebook = json.loads(source.read_text(encoding="utf-8"))
    cells = []
    for cell in notebook["cells"]:
        cell = copy.deepcopy(cell)
        if cell["cell_type"] == "markdown":
            cell["source"] = to_mathml("".join(cell["source"]))
        elif cell["cell_type"] == "code" and cell["metadata"].get("jupyter", {}).get(
            "source_hidden"
        ):
            solution = solution_markdown(cell)
            cell = {
                "cell_type": "markdown",
                "id": cell.get("id"),
                "metadata": {},
                "source": solution,
            }
            cell = {key: value for key, value in cell.items() if value is not None}
        cells.append(cell)
    notebook["cells"] = cells
    target.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    first_text = next(
        "".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"
    )
    heading = re.search(r"^# (.+)$", first_text, re.M)
    return re.sub(r"<[^>]+>|`", "", heading.group(1)).strip() if heading else source.stem


# --- the site ---------------------------------------------------------------------------------


def project_urls() -> dict[str, str]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    table = text.split("[project.urls]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^(\w+) = "([^"]+)"', table, re.M))


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def generated_methods() -> str:
    """What the Value page says about the methods codegen writes from the rules table into
    _generated.py: their names, and the table."""
    from tinygrad_scalar import Value, _generated

    names = sorted(
        name
        for name, member in vars(Value).items()
        if getattr(member, "__module__", None) == _generated.__name__
    )
    source = (ROOT / "tinygrad_scalar" / "rules.py").read_text(encoding="utf-8")
    table = re.search(r"^# fmt: off\n(.*?)^# fmt: on", source, re.S | re.M)
    listed = ", ".join(f"`{name}`" for name in names)
    return (
        "## Operators and methods from the rules table\n\n"
        f"These members of `Value` are generated from the rules table: {listed}. "
        "Each runs one rule of `tinygrad_scalar/rules.py`, its forward value and its local "
        "derivatives ([Rule](rule.md)); the code is committed in "
        "`tinygrad_scalar/_generated.py` (`make generate` writes it).\n\n"
        '??? note "The rules table, from tinygrad_scalar/rules.py"\n\n'
        + textwrap.indent(f"```python\n{table.group(1).rstrip() if table else ''}\n```\n", "    ")
    )


def api_page(title: str, identifiers: list[str]) -> str:
    blocks = [f"# {title}", ""]
    for identifier in identifiers:
        blocks += [f"::: {identifier}", ""]
        if identifier == "tinygrad_scalar.Value":
            blocks += [generated_methods(), ""]
    return "\n".join(blocks)


HOME_CARDS = """
<div class="grid cards" markdown>

-   **[Guide](guide/getting-started.md)**

    ---

    The README in pages: the engine, rules and custom ops, training, `compile`, drawing,
    the command line.

-   **[Course](course/index.md)**

    ---

    Eleven notebooks, from the chain rule to a tiny GPT, with explorers that step through
    forward and backward passes on the page.

-   **[API reference](reference/value.md)**

    ---

    Every public class and function from its docstring, with its source.

</div>
"""


def lay_out_sources(source_dir: Path = SOURCE_DIR) -> dict:
    """Write MkDocs' source folder (build/site-src/) and return the navigation for `nav`."""
    shutil.rmtree(source_dir, ignore_errors=True)
    source_dir.mkdir(parents=True)
    urls = project_urls()
    preamble, sections = split_readme((ROOT / "README.md").read_text(encoding="utf-8"))
    assign_pages(sections)
    links = Links(sections, urls["Source"])

    pages = list(dict.fromkeys(s.page for s in sections))  # README order
    for page in pages:
        markdown = page_markdown(page, sections)
        write(source_dir / f"{page}.md", links.rewrite(markdown, page))
    home = "\n".join(preamble).strip() + "\n" + HOME_CARDS
    write(source_dir / "index.md", links.rewrite(home, "index"))

    course = []
    (source_dir / "course").mkdir(exist_ok=True)
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        title = prepare_notebook(notebook, source_dir / "course" / notebook.name)
        course.append({title: f"course/{notebook.name}"})

    reference = []
    for page, title, _, identifiers in API_PAGES:
        write(source_dir / f"{page}.md", api_page(title, identifiers))
        reference.append({title: f"{page}.md"})

    for picture in sorted(links.pictures):
        (source_dir / picture).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / picture, source_dir / picture)
    shutil.copytree(ASSETS, source_dir / "assets")

    guide = [{page_title(p, sections): f"{p}.md"} for p in pages if p.startswith("guide/")]
    return {
        "nav": [
            {"Home": "index.md"},
            {"Guide": guide},
            {"Course": [{"About the course": "course/index.md"}, *course]},
            {"API reference": reference},
        ],
        "urls": urls,
    }


def build(source_dir: Path = SOURCE_DIR, site_dir: Path = SITE_DIR) -> None:
    from mkdocs.commands import build as mkdocs_build
    from mkdocs.config import load_config

    laid_out = lay_out_sources(source_dir)
    config = load_config(
        str(ROOT / "mkdocs.yml"),
        nav=laid_out["nav"],
        docs_dir=str(source_dir),
        site_dir=str(site_dir),
    )
    options = config["plugins"]["mkdocstrings"].config["handlers"]["python"]["options"]
    options["extensions"] = [str(ROOT / e) for e in options.get("extensions", [])]
    for social in config["extra"].get("social", []):
        social["link"] = laid_out["urls"].get(social["link"], social["link"])
    mkdocs_build.build(config)
    print(f"docs: wrote {site_dir}/ (open {site_dir / 'index.html'} in a browser)")


if __name__ == "__main__":
    build()
