"""The website `make docs` builds (docs/build_site.py, mkdocs.yml).

The fast tests read how the README is split into Guide pages, without MkDocs: every section
lands on a page, whole and once, and its links lead somewhere. The slow tests build the
whole site into a temporary folder and open it as a reader would, from disk with the
network cut off, in Chromium driven by Playwright (as tests/test_explore.py does): every
course page loads without a console error and shows its pictures, the explorer on the
notebook-02 page steps through the notebook's own graph with the engine's numbers, the API
page of Value lists `backward` with its source, and search finds `gradcheck`.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

import tinygrad_scalar as ts

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def load_build_site():
    spec = importlib.util.spec_from_file_location("build_site", ROOT / "docs" / "build_site.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_site"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


build_site = load_build_site()


def guide_pages(readme: str) -> tuple[list, dict[str, str]]:
    """(the README's sections, {page: its markdown}) as the site's build makes them."""
    _, sections = build_site.split_readme(readme)
    build_site.assign_pages(sections)
    pages = dict.fromkeys(s.page for s in sections)
    return sections, {page: build_site.page_markdown(page, sections) for page in pages}


# --- the Guide: README sections to pages (fast) -----------------------------------------------


def test_every_readme_section_lands_whole_on_exactly_one_page():
    sections, pages = guide_pages(README)
    headings, in_code = [], False
    for line in README.splitlines():
        in_code ^= line.startswith("```")
        if not in_code and re.match(r"#{2,3} ", line):
            headings.append(line.split(" ", 1)[1])
    assert [s.title for s in sections] == headings  # none missed, none invented
    for section in sections:
        body = "\n".join(section.body).strip()
        holding = [p for p, text in pages.items() if body in text]
        assert holding == [section.page], f"{section.title!r} is on {holding}"
        assert re.search(rf"^#+ {re.escape(section.title)}$", pages[section.page], re.M)


def test_the_guide_has_the_pages_the_issue_names():
    sections, pages = guide_pages(README)
    for page in ("guide/getting-started", "guide/engine", "guide/rules", "guide/nn-and-training",
                 "guide/compile", "guide/drawing", "guide/cli", "guide/files-and-errors",
                 "guide/numerics"):  # fmt: skip
        assert page in pages, page
    assert "`backward()` walks" not in pages["guide/getting-started"]
    assert pages["guide/drawing"].startswith("# Computation graphs as SVG\n")
    assert "\n## Stepping through backpropagation\n" in pages["guide/drawing"]


def test_a_new_readme_section_gets_a_page_of_its_own():
    readme = README + "\n## Something new\n\nNew text.\n\n### Its detail\n\nMore text.\n"
    sections, pages = guide_pages(readme)
    assert pages["guide/something-new"] == (
        "# Something new\n\nNew text.\n\n## Its detail\n\nMore text.\n"
    )


def test_a_heading_inside_a_code_block_is_not_a_section():
    readme = "# t\n\n## Real\n\n```sh\n## not a heading\n```\n"
    _, sections = build_site.split_readme(readme)
    assert [s.title for s in sections] == ["Real"]


def test_links_are_rewritten_to_places_that_exist_in_the_site(tmp_path):
    sections, pages = guide_pages(README)
    links = build_site.Links(sections, "https://example.org/repo")
    rewritten = links.rewrite(
        "[perf](#performance) [rules](tinygrad_scalar/rules.py) [l](LICENSE) "
        "[nb](notebooks/) ![pic](docs/neuron.svg) `07_training_moons`",
        "guide/engine",
    )
    assert rewritten.strip() == (
        "[perf](../guide/performance.md#performance) [rules](../reference/rule.md) "
        "[l](https://example.org/repo/blob/main/LICENSE) [nb](../course/index.md) "
        "![pic](../docs/neuron.svg) [`07_training_moons`](../course/07_training_moons.ipynb)"
    )
    assert links.pictures == {"docs/neuron.svg"}


def test_every_relative_link_in_the_laid_out_sources_resolves(tmp_path):
    build_site.lay_out_sources(tmp_path)
    broken = []
    for page in tmp_path.rglob("*.md"):
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if not (page.parent / target.split("#")[0]).exists():
                broken.append(f"{page.relative_to(tmp_path)}: {target}")
    assert broken == []
    assert sorted(p.name for p in (tmp_path / "course").glob("*.ipynb")) == [
        p.name for p in NOTEBOOKS
    ]


def test_formulas_become_mathml_and_code_stays_code():
    out = build_site.to_mathml(
        "For $f(x) = x^2$, `cost $5` and\n$$\\frac{a_1}{b}$$ but not \\$3 or $ 4$."
    )
    assert out.count("<math") == 2 and '<math xmlns="http://www.w3.org/1998/Math/MathML"' in out
    assert 'display="block"' in out and "<mfrac>" in out and "<msup>" in out
    assert "`cost $5`" in out and "\\$3" in out and "$ 4$" in out
    with pytest.raises(ValueError, match="cannot turn"):
        build_site.to_mathml("the $x^$ here")


def test_a_solution_cell_becomes_a_collapsed_block(tmp_path):
    notebook = json.loads(NOTEBOOKS[1].read_text(encoding="utf-8"))
    hidden = [c for c in notebook["cells"] if c["metadata"].get("jupyter", {}).get("source_hidden")]
    assert hidden, "notebook 02 has solutions"
    build_site.prepare_notebook(NOTEBOOKS[1], tmp_path / "02.ipynb")
    laid_out = json.loads((tmp_path / "02.ipynb").read_text(encoding="utf-8"))
    blocks = [c for c in laid_out["cells"] if "<details" in "".join(c["source"])]
    assert len(blocks) == len(hidden)
    first = "".join(blocks[0]["source"])
    assert first.startswith('<details class="solution"') and "".join(hidden[0]["source"]) in first
    assert "correct" in first  # what the solution printed


# --- the built site in a browser (slow) -------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    build_site.build(source_dir=out / "src", site_dir=out / "site")
    return out / "site"


@pytest.fixture
def open_page(browser, site):
    """open_page("course/x.html") -> (page, errors): the page read from disk, with every
    request that is not for a file refused, and every console error and uncaught exception."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
    )

    def opener(name: str):
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
        page.goto((site / name).as_uri())
        page.wait_for_load_state("load")
        return page, errors

    yield opener
    context.close()


def broken_pictures(page) -> list[str]:
    return page.eval_on_selector_all(
        "article img",
        "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)",
    )


@pytest.mark.slow
def test_the_home_page_and_every_course_page_load_cleanly(open_page, site):
    page, errors = open_page("index.html")
    assert page.inner_text("article h1").rstrip("¶") == "tinygrad_scalar"
    assert errors == []
    assert len(NOTEBOOKS) == 11
    for notebook in NOTEBOOKS:
        page, errors = open_page(f"course/{notebook.stem}.html")
        title = page.inner_text("article h1")
        assert title.startswith(notebook.stem[:2] + " ·"), title
        pictures = page.eval_on_selector_all(
            ".jp-OutputArea-output img, .jp-OutputArea-output svg", "els => els.length"
        )
        assert pictures >= 1, f"{notebook.name} shows no picture"
        assert broken_pictures(page) == [], notebook.name
        assert page.eval_on_selector_all("math", "ms => ms.length") > 0, notebook.name
        solutions = page.query_selector_all("details.solution")
        assert solutions and not any(d.get_attribute("open") is not None for d in solutions)
        assert not page.is_visible("details.solution pre")  # collapsed until opened
        solutions[0].query_selector("summary").click()
        assert page.is_visible("details.solution pre")
        assert errors == [], f"{notebook.name}: {errors}"


def notebook_graph_root(monkeypatch) -> ts.Value:
    """Run notebook 02's code cells up to its explore(...) call; return the value it explores."""
    explored = []
    monkeypatch.setattr(ts, "explore", lambda root, **_: explored.append(root), raising=False)
    notebook = json.loads(NOTEBOOKS[1].read_text(encoding="utf-8"))
    namespace: dict = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), NOTEBOOKS[1].name, "exec"), namespace)
            if explored:
                return explored[0]
    raise AssertionError("notebook 02 has no explore(...) cell")


@pytest.mark.slow
def test_the_explorer_on_the_notebook_02_page_steps_with_the_engines_numbers(
    open_page, monkeypatch
):
    root = notebook_graph_root(monkeypatch)
    order = ts.topological_order(root)
    engine = {v.label: (v.data, v.grad) for v in order}
    assert len(engine) == len(order), "every value of the notebook's graph has its own label"
    page, errors = open_page("course/02_value_and_backward.html")
    explorer = page.query_selector(".tgs-explorer")
    # the given values (the leaves) are shown from the start; the forward pass steps through
    # the computed ones, the backward pass through every value
    given = [v.label for v in order if not v.parents]
    forward_order = [v for v in order if v.parents]
    steps = len(forward_order) + len(order)

    def shown() -> dict:
        return explorer.eval_on_selector_all(
            "[data-node]",
            """gs => Object.fromEntries(gs.map(g => [g.getAttribute("data-label"),
                 [g.getAttribute("data-value"), g.getAttribute("data-grad")]]))""",
        )

    def step_text() -> str:
        return explorer.query_selector("[data-role=step]").inner_text()

    assert step_text().startswith(f"step 0 of {steps}")
    assert all(grad is None for value, grad in shown().values())
    assert {label for label, (value, _) in shown().items() if value is not None} == set(given)
    for step in range(1, steps + 1):
        if step <= len(forward_order):  # the forward pass by the button, the backward by the key
            explorer.query_selector("[data-action=next]").click()
        else:
            explorer.hover()
            page.keyboard.press("ArrowRight")
        assert step_text().startswith(f"step {step} of {steps}")
        revealed = shown()
        forward = given + [v.label for v in forward_order[:step]]
        backward = [v.label for v in reversed(order)][: max(0, step - len(forward_order))]
        for label, (value, grad) in revealed.items():
            assert (value is not None) == (label in forward), (step, label)
            assert (grad is not None) == (label in backward), (step, label)
            if value is not None:
                assert float(value) == engine[label][0], (step, label)
            if grad is not None:
                assert float(grad) == engine[label][1], (step, label)
    page.keyboard.press("Home")
    assert step_text().startswith(f"step 0 of {steps}")
    assert errors == []


@pytest.mark.slow
def test_an_explorers_buttons_stay_below_the_sites_header(open_page):
    page, errors = open_page("course/04_backward_pass_by_hand.html")
    explorer = page.locator(".tgs-explorer").first
    explorer.scroll_into_view_if_needed()
    box = explorer.bounding_box()
    assert box is not None
    page.mouse.wheel(0, box["y"] + box["height"] / 2)  # half the drawing above the window
    page.wait_for_timeout(300)
    header_bottom = page.eval_on_selector(".md-header", "h => h.getBoundingClientRect().bottom")
    bar = explorer.locator(".tgs-bar").bounding_box()
    assert bar is not None and header_bottom - 1 <= bar["y"] < header_bottom + 40
    explorer.locator("[data-action=next]").click()  # not covered: the click reaches it
    assert explorer.locator("[data-role=step]").inner_text().startswith("step 1 of")
    assert errors == []


@pytest.mark.slow
def test_the_value_api_page_lists_backward_with_its_source(open_page):
    page, errors = open_page("reference/value.html")
    heading = page.query_selector('[id="tinygrad_scalar.Value.backward"]')
    assert heading is not None and "backward" in heading.inner_text()
    assert "Apply the chain rule" in page.inner_text("article")
    source = page.locator(
        'details:has(summary:has-text("Source code")):has-text("def backward(")'
    ).first
    assert not source.locator("pre").first.is_visible()
    source.locator("summary").click()  # the source is one click away
    assert source.locator("pre").first.is_visible()
    assert errors == []


@pytest.mark.slow
def test_search_finds_gradcheck_offline(open_page):
    page, errors = open_page("index.html")
    page.click(".md-search__input")
    page.keyboard.type("gradcheck")  # as a reader types: search runs on each key
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=15000)
    texts = results.all_inner_texts()
    assert any("gradcheck" in t.lower() for t in texts), texts
    results.first.locator("a").first.click()
    page.wait_for_load_state("load")
    assert "gradcheck" in page.inner_text("article").lower()
    assert errors == []


def test_docstrings_read_as_markdown_on_the_api_pages():
    spec = importlib.util.spec_from_file_location("site_griffe", ROOT / "docs" / "site_griffe.py")
    assert spec and spec.loader
    site_griffe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(site_griffe)
    doc = "Add.\n\n>>> add(1, 2)\n3\n\nx: the first\n    number.\nNote: not a parameter.\n"
    fenced = site_griffe.fence_doctests(doc)
    assert "```pycon\n>>> add(1, 2)\n3\n```\n" in fenced
    listed = site_griffe.list_parameters(fenced, {"x"})
    assert "\n- `x`: the first\n  number.\n\nNote: not a parameter." in listed


def test_a_page_that_would_load_from_the_network_stops_the_build():
    spec = importlib.util.spec_from_file_location("site_hooks", ROOT / "docs" / "site_hooks.py")
    assert spec and spec.loader
    site_hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(site_hooks)
    page = type("Page", (), {"file": type("File", (), {"src_uri": "course/x.ipynb"})()})()
    mathjax = '<script src="https://cdnjs.example/mathjax/2.7.7/latest.js?config=X"> </script>'
    assert "mathjax" not in site_hooks.on_page_content(f"<p>a</p>{mathjax}", page=page)
    links = '<a href="https://example.org">x</a><link rel="canonical" href="https://e.org/">'
    assert site_hooks.on_post_page(links, page=page) == links
    for tag in ('<script src="https://unpkg.com/x"></script>', '<img src="//e.org/a.png">',
                '<link rel="stylesheet" href="https://fonts.example/css">'):  # fmt: skip
        with pytest.raises(ValueError, match=r"course/x.ipynb loads from the network"):
            site_hooks.on_post_page(f"<html>{tag}</html>", page=page)
