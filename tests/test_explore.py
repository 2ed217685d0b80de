"""The explorer: a page that steps through the forward and backward pass of a graph.

The page's own output is checked as text (standalone, offline, attributes with the engine's
exact floats), and then in a real browser: Playwright from PyPI driving Debian's Chromium
(`executable_path`; Playwright's own browser download is not used). The browser tests step
through the page and compare every revealed number with the engine's, press the keys, click a
node, read the console, and load the page with scripts off. They skip, saying why, where no
Chromium or no Playwright can be had.
"""

from __future__ import annotations

import base64
import math
import os
import re
import shutil
import xml.etree.ElementTree as ET

import pytest

import tinygrad_scalar as ts
from tinygrad_scalar import Value, cli
from tinygrad_scalar.viz import Explorer, draw, explore, render

HAVE_RENDERER = shutil.which("dot") is not None or render.wasm_available()
pytestmark = pytest.mark.skipif(not HAVE_RENDERER, reason="no Graphviz renderer here")


# --- graphs -----------------------------------------------------------------------------------


def karpathy_graph():
    """L = (a*b + c) * f, the graph of micrograd's lecture, with every value labelled."""
    a, b, c, f = Value(2.0, "a"), Value(-3.0, "b"), Value(10.0, "c"), Value(-2.0, "f")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    L = d * f
    L.label = "L"
    return L, {"a": a, "b": b, "c": c, "f": f, "e": e, "d": d, "L": L}


def shared_graph():
    """x used twice, a constant, a tanh: g = tanh(2*x*y + x) with sum over paths."""
    x, y = Value(0.3, "x"), Value(-0.7, "y")
    g = (2 * x * y + x).tanh()
    g.label = "g"
    return g, {"x": x, "y": y, "g": g}


def small_mlp():
    model = ts.nn.MLP(2, [4, 4, 1], seed=0)
    out = model([Value(0.5, "x0"), Value(-1.0, "x1")])
    out.label = "out"
    return out, model


def drawing(page_html: str) -> str:
    """The SVG inside the page's picture (a data: URL), which the script makes live."""
    encoded = re.search(
        r'<img class="tgs-picture"[^>]* src="data:image/svg\+xml;base64,([^"]+)"', page_html
    )
    return base64.b64decode(encoded[1]).decode("utf-8")


def value_attributes(page_html: str) -> list[dict[str, str]]:
    """The attributes of every drawn value's group, in document order."""
    groups = re.findall(r"<g [^>]*data-node=[^>]*>", drawing(page_html))
    return [dict(re.findall(r'([\w-]+)="([^"]*)"', g)) for g in groups]


# --- the page as text -------------------------------------------------------------------------


def test_html_is_a_standalone_offline_page_with_the_engine_values():
    L, values = karpathy_graph()
    page = explore(L).html()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # offline: nothing is fetched (no src/href but the picture's data: URL, no http at all)
    assert re.findall(r"\b(?:src|href)=\"([a-z]*:?)", page) == ["data:"]
    for text in (page, drawing(page)):
        assert "http://" not in text.replace("http://www.w3.org/", "")
        assert "https://" not in text
    attributes = value_attributes(page)
    assert len(attributes) == len(values)
    assert len({a["data-node"] for a in attributes}) == len(values)  # unique
    gradients = dict(zip(values, ts.gradients(L, list(values.values()))))
    for a in attributes:  # the static page holds every value and gradient, exactly
        label = a["data-label"]
        assert float(a["data-value"]) == values[label].data
        assert float(a["data-grad"]) == gradients[label]
    # no element ids but the container's, so two pages can share a document
    container = re.search(r'id="(tgs-explorer-[\w-]+)"', page)[1]
    assert re.findall(r'\bid="([^"]+)"', page) == [container]
    assert re.findall(r'\bid="([^"]+)"', drawing(page)) == []


def test_explore_does_not_touch_grad_and_needs_no_backward():
    L, values = karpathy_graph()
    page = explore(L).html()
    assert all(v.grad == 0.0 for v in values.values())
    grads = {a["data-label"]: float(a["data-grad"]) for a in value_attributes(page)}
    L.backward()
    assert grads == {name: v.grad for name, v in values.items()}


def test_repr_html_is_a_fragment_with_a_fresh_container_each_time():
    L, _ = karpathy_graph()
    explorer = explore(L)
    first, second = explorer._repr_html_(), explorer._repr_html_()
    assert first.startswith('<div class="tgs-explorer" id="tgs-explorer-')
    assert "<html" not in first and "<!DOCTYPE" not in first
    ids = [re.search(r'id="([^"]+)"', fragment)[1] for fragment in (first, second)]
    assert ids[0] != ids[1]
    # the same graph, the same name but for the count: a rebuilt notebook is unchanged
    assert ids[0].rsplit("-", 1)[0] == ids[1].rsplit("-", 1)[0]
    assert explore(karpathy_graph()[0])._repr_html_().split("-")[:3] == first.split("-")[:3]
    assert f'("{ids[0]}")' in first  # the script looks after its own container only
    assert repr(explorer) == "<Explorer of 7 values>"
    assert ts.explore is explore and isinstance(explorer, Explorer)


def test_save_writes_the_page_atomically(tmp_path, monkeypatch):
    L, _ = karpathy_graph()
    explorer = explore(L)
    path = explorer.save(tmp_path / "page.html")
    assert path == tmp_path / "page.html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and len(value_attributes(text)) == 7
    # a failure half way leaves the old file as it was and no temporary file behind
    monkeypatch.setattr(Explorer, "html", lambda self: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        explorer.save(path)
    assert path.read_text(encoding="utf-8") == text
    assert os.listdir(tmp_path) == ["page.html"]


def test_too_big_a_graph_is_refused_with_draws_error(monkeypatch):
    monkeypatch.setattr(render, "render", lambda *a: pytest.fail("rendered"))
    x = Value(0.5, "x")
    for _ in range(300):
        x = x.tanh()
    with pytest.raises(ValueError) as from_draw:
        draw(x)
    with pytest.raises(ValueError) as from_explore:
        explore(x)
    assert str(from_explore.value) == str(from_draw.value)
    assert "601 nodes" in str(from_explore.value)


def test_options_it_does_not_take_are_refused():
    L, values = karpathy_graph()
    with pytest.raises(TypeError, match="highlight"):
        explore(L, highlight=values["a"])
    with pytest.raises(TypeError, match="show_grad"):
        explore(L, show_grad=False)
    with pytest.raises(TypeError, match="takes a Value"):
        explore(3.0)
    with pytest.raises(ValueError, match="rankdir"):
        explore(L, rankdir="sideways")


def test_collapsed_mlp_has_one_node_per_neuron_with_the_engine_gradients():
    out, model = small_mlp()
    page = explore(out, params=model, collapse=True).html()
    attributes = value_attributes(page)
    assert len(attributes) == 2 + 4 + 4 + 1
    labels = [a.get("data-label") for a in attributes]
    assert "h1[3]" in labels and "x0" in labels and "out" in labels  # h1[3]: layers.1.neurons.3
    out.backward()
    inputs = {a["data-label"]: a for a in attributes if a.get("data-label") in ("x0", "x1")}
    x0, x1 = out_inputs(out)
    assert float(inputs["x0"]["data-grad"]) == x0.grad
    assert float(inputs["x1"]["data-grad"]) == x1.grad


def out_inputs(out):
    """The labelled leaves x0, x1 of the graph of `out`."""
    leaves = {v.label: v for v in ts.topological_order(out) if v.label in ("x0", "x1")}
    return leaves["x0"], leaves["x1"]


def test_the_cli_writes_the_page(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["graph", "x**2 + 2*x*y", "x=1", "y=2", "-o", "f.html", "--no-open"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "df/dx = 6" in out and "wrote f.html" in out
    page = (tmp_path / "f.html").read_text(encoding="utf-8")
    attributes = {a.get("data-label"): a for a in value_attributes(page)}
    assert float(attributes["x"]["data-grad"]) == 6.0
    assert float(attributes["y"]["data-grad"]) == 2.0
    assert float(attributes["f"]["data-value"]) == 5.0
    assert os.listdir(tmp_path) == ["f.html"]


# --- in a browser -----------------------------------------------------------------------------


@pytest.fixture
def open_page(browser, tmp_path):
    """open_page(html, scripts=True) -> (page, errors): the page loaded from a file, and every
    console error and uncaught exception it produced."""
    contexts = []

    def opener(html: str, scripts: bool = True):
        path = tmp_path / f"page{len(contexts)}.html"
        path.write_text(html, encoding="utf-8")
        context = browser.new_context(
            java_script_enabled=scripts, viewport={"width": 1100, "height": 800}
        )
        contexts.append(context)
        # offline: any request that is not for the page's own file fails at once (and shows
        # up as a console error, which the tests assert there is none of)
        context.route(
            "**/*",
            lambda route: (
                route.continue_() if route.request.url.startswith("file:") else route.abort()
            ),
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        return page, errors

    yield opener
    for context in contexts:
        context.close()


def shown(page) -> dict[str, dict[str, str | None]]:
    """{label: {"value": data-value or None, "grad": data-grad or None}} as the page has them."""
    return page.eval_on_selector_all(
        "[data-node]",
        """groups => Object.fromEntries(groups.map(g => [g.getAttribute("data-label"),
            {value: g.getAttribute("data-value"), grad: g.getAttribute("data-grad"),
             valueVisible: !!g.querySelector("[data-part=value]") &&
               getComputedStyle(g.querySelector("[data-part=value]")).visibility === "visible",
             gradVisible: !!g.querySelector("[data-part=grad]") &&
               getComputedStyle(g.querySelector("[data-part=grad]")).visibility === "visible"
            }]))""",
    )


def step_text(page) -> str:
    return page.inner_text("[data-role=step]")


def walk(root, step_given=False):
    """(given, forward, backward): the labels shown from the start, the labels the forward
    steps reveal in order, and those the backward steps give a gradient, in order."""
    order = ts.topological_order(root)
    given = [] if step_given else [v.label for v in order if not v.parents]
    forward = [v.label for v in order if v.label not in given]
    return given, forward, [v.label for v in reversed(order)]


@pytest.mark.parametrize("step_given", [False, True])
def test_stepping_reveals_each_value_then_each_gradient_exactly(open_page, step_given):
    L, values = karpathy_graph()
    L.backward()
    page, errors = open_page(explore(L, step_given=step_given).html())
    given, forward, backward = walk(L, step_given)
    # given values are there from the start unless asked otherwise: 3 + 7 steps, or 7 + 7
    last = len(forward) + len(backward)
    assert last == (14 if step_given else 10)
    assert step_text(page) == f"step 0 of {last} · start"
    for step in range(last + 1):
        if step:
            page.click("[data-action=next]")
        state = shown(page)
        revealed = given + forward[:step]
        graded = backward[: max(0, step - len(forward))]
        for label, s in state.items():
            if label in revealed:
                assert float(s["value"]) == values[label].data and s["valueVisible"]
            else:
                assert s["value"] is None and not s["valueVisible"]
            if label in graded:
                assert float(s["grad"]) == values[label].grad and s["gradVisible"]
            else:
                assert s["grad"] is None and not s["gradVisible"]
        if step:
            current = (forward + backward)[step - 1]
            marked = page.eval_on_selector_all("g.tgs-current[data-node]", "gs => gs.length")
            assert marked == 1
            assert page.get_attribute("g.tgs-current[data-node]", "data-label") == current
    # after the end, every gradient is the engine's .grad, exactly
    assert {k: float(s["grad"]) for k, s in shown(page).items()} == {
        k: v.grad for k, v in values.items()
    }
    page.click("[data-action=next]")  # past the end: stays
    assert step_text(page) == f"step {last} of {last} · backward pass"
    assert errors == []


def test_an_uncollapsed_mlp_steps_through_computed_values_only():
    # the 3-4-4-1 MLP: 122 steps when its 44 given values had a step each
    model = ts.nn.MLP(3, [4, 4, 1], seed=0)
    out = model([Value(0.5, "x0"), Value(-1.0, "x1"), Value(2.0, "x2")])
    values = len(ts.topological_order(out))
    assert len(step_texts(explore(out, params=model, step_given=True).html())) - 1 == 2 * values
    texts = step_texts(explore(out, params=model).html())
    assert len(texts) - 1 == (values - 44) + values == 78
    assert "the 44 given ones (inputs, parameters, constants) are shown from the start" in texts[0]
    assert not any(t.endswith("given") for t in texts[1:])  # no step reveals a given value
    # the neuron's weighted sum and activation by their short names, its weights by theirs
    assert texts[1] == (
        "z0[0] = h0[0].w0·x0 + h0[0].w1·x1 + h0[0].w2·x2 + h0[0].b = 0.7689 × 0.5000 + "
        "-1.1403 × -1.0000 + -0.5550 × 2.0000 + 0.1000 = 0.5148"
    )
    assert texts[2] == "h0[0] = relu(z0[0]) = relu(0.5148) = 0.5148"


def test_explanations_write_the_chain_rule_with_numbers(open_page):
    L, values = karpathy_graph()
    page, errors = open_page(explore(L, step_given=True).html())
    _, forward, backward = walk(L, step_given=True)
    texts = {}
    for step, label in enumerate(forward + backward, start=1):
        page.click("[data-action=next]")
        texts[(step <= len(forward), label)] = page.inner_text("[data-role=explain]")
    assert texts[(True, "e")] == "e = a * b = 2.0000 * -3.0000 = -6.0000"
    assert texts[(True, "a")] == "a = 2.0000: an input, given"
    assert texts[(False, "L")] == "dL/dL = 1: backpropagation starts at the output"
    # dL/da = dL/de · ∂e/∂a = (-2) × (-3) = 6, the lecture's numbers
    assert texts[(False, "a")] == "dL/da = dL/de · ∂e/∂a = -2.0000 × -3.0000 = 6.0000"
    assert texts[(False, "d")] == "dL/dd = dL/dL · ∂L/∂d = 1.0000 × -2.0000 = -2.0000"
    assert errors == []


def test_a_value_used_twice_gets_the_sum_over_its_uses(open_page):
    g, values = shared_graph()
    page, errors = open_page(explore(g).html())
    page.click("[data-action=end]")
    page.click("g[data-label=x]")
    detail = page.inner_text("[data-role=detail]")
    g.backward()
    x, y = values["x"], values["y"]
    two_x = 2 * x.data
    inner = two_x * y.data + x.data
    dg_dinner = 1 - math.tanh(inner) ** 2
    # the click shows how x is computed and its chain-rule expansion over both uses
    assert detail.splitlines()[0] == "x = 0.3000: an input, given"
    # unnamed values are called by the expression that made them, when that is short, or t1
    assert detail.splitlines()[1] == (
        "dg/dx = dg/d(2*x) · ∂(2*x)/∂x + dg/d(t1+x) · ∂(t1+x)/∂x"
        f" = {dg_dinner * y.data:.4f} × 2.0000 + {dg_dinner:.4f} × 1.0000 = {x.grad:.4f}"
        " (the sum over the 2 places x is used)"
    )
    assert math.isclose(x.grad, dg_dinner * (2 * y.data + 1))
    assert page.eval_on_selector_all("g.tgs-picked", "gs => gs.length") == 1
    assert errors == []


def test_keyboard_steps_and_the_slider_follows(open_page):
    L, values = karpathy_graph()
    page, errors = open_page(explore(L).html())
    n = 10
    page.focus(".tgs-explorer")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert step_text(page) == f"step 2 of {n} · forward pass"
    page.keyboard.press("ArrowLeft")
    assert step_text(page) == f"step 1 of {n} · forward pass"
    page.keyboard.press("End")
    assert step_text(page) == f"step {n} of {n} · backward pass"
    assert page.input_value("[data-role=slider]") == str(n)
    page.keyboard.press("Home")
    assert step_text(page) == f"step 0 of {n} · start"
    page.fill("[data-role=slider]", "7")  # dragging the slider jumps there
    assert step_text(page) == f"step 7 of {n} · backward pass"
    page.click("[data-action=prev]")
    page.click("[data-action=start]")
    assert step_text(page) == f"step 0 of {n} · start"
    assert errors == []


def test_two_explorers_on_one_page_step_separately(open_page):
    L, _ = karpathy_graph()
    g, _ = shared_graph()
    body = explore(L)._repr_html_() + explore(g)._repr_html_()
    page, errors = open_page(f"<!DOCTYPE html><html><body>{body}</body></html>")
    first, second = page.query_selector_all(".tgs-explorer")
    first.query_selector("[data-action=end]").click()
    assert first.query_selector("[data-role=step]").inner_text().startswith("step 10 of 10")
    assert second.query_selector("[data-role=step]").inner_text().startswith("step 0 of")
    second.focus()
    page.keyboard.press("ArrowRight")
    assert second.query_selector("[data-role=step]").inner_text().startswith("step 1 of")
    assert first.query_selector("[data-role=step]").inner_text().startswith("step 10 of 10")
    assert errors == []


def svg_texts(svg: str) -> list[str]:
    return [
        (t.text or "").replace("\xa0", " ")
        for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")
    ]


def test_without_scripts_the_page_is_a_picture_with_every_value_and_gradient(open_page):
    L, values = karpathy_graph()
    L.backward()
    html = explore(L).html()
    page, _ = open_page(html, scripts=False)
    picture = page.locator("img.tgs-picture")
    assert picture.is_visible()
    assert picture.evaluate("img => img.complete && img.naturalWidth > 100")  # it decoded
    assert page.locator("button, input, svg").count() == 0  # nothing dead, no loose text
    assert page.is_visible(".tgs-static")
    assert page.inner_text("body").startswith("The graph of L with every value and gradient.")
    texts = svg_texts(drawing(html))
    for v in values.values():
        assert f"data {v.data:.4f}" in texts and f"grad {v.grad:.4f}" in texts


def test_with_scripts_the_picture_becomes_the_live_drawing(open_page):
    L, _ = karpathy_graph()
    page, errors = open_page(explore(L).html())
    assert not page.locator("img.tgs-picture").is_visible()
    assert not page.locator(".tgs-static").is_visible()
    assert page.locator(".tgs-explorer svg g[data-node]").count() == 7
    assert errors == []


def test_a_collapsed_mlp_steps_through_with_the_engine_gradients(open_page):
    out, model = small_mlp()
    out.backward()
    page, errors = open_page(explore(out, params=model, collapse=True).html())
    page.click("[data-action=end]")
    state = shown(page)
    x0, x1 = out_inputs(out)
    assert float(state["x0"]["grad"]) == x0.grad and float(state["x1"]["grad"]) == x1.grad
    assert float(state["out"]["value"]) == out.data
    for layer, neuron in ((0, 2), (1, 3)):
        name = f"h{layer}[{neuron}]"  # layers.{layer}.neurons.{neuron}
        box = model.layers[layer].neurons[neuron]
        box_output = next(
            v
            for v in ts.topological_order(out)
            if v.parents and v.parents[0].op == "dot" and v.parents[0].parents[0] is box.w[0]
        )
        assert float(state[name]["value"]) == box_output.data
        assert float(state[name]["grad"]) == box_output.grad
    assert errors == []


def test_constants_step_without_a_gradient_row(open_page):
    x, y = Value(1.0, "x"), Value(2.0, "y")
    f = 2 * x * y
    f.label = "f"
    page, errors = open_page(explore(f, legend=True).html())
    page.click("[data-action=end]")
    constant = page.query_selector("g[data-kind=constant]")
    assert constant.get_attribute("data-label") is None
    assert float(constant.get_attribute("data-value")) == 2.0
    assert float(constant.get_attribute("data-grad")) == 2.0  # d f / d 2 = x*y, not drawn
    assert constant.query_selector("[data-part=grad]") is None
    assert "constant (no gradient)" in page.text_content("svg")
    assert errors == []


def test_it_works_in_nbconverts_html_export(open_page):
    nbformat = pytest.importorskip("nbformat")
    nbconvert = pytest.importorskip("nbconvert", reason="nbconvert comes with JupyterLab")
    L, _ = karpathy_graph()
    g, _ = shared_graph()
    notebook = nbformat.v4.new_notebook()
    for root in (L, g):  # two outputs, as two cells would give
        cell = nbformat.v4.new_code_cell("explore(...)")
        cell.outputs = [
            nbformat.v4.new_output(
                "display_data",
                data={"text/html": explore(root)._repr_html_(), "text/plain": "<Explorer>"},
            )
        ]
        notebook.cells.append(cell)
    body, _ = nbconvert.HTMLExporter().from_notebook_node(notebook)
    page, errors = open_page(body)
    first, second = page.query_selector_all(".tgs-explorer")
    first.query_selector("[data-action=end]").click()
    assert first.query_selector("[data-role=step]").inner_text().startswith("step 10 of 10")
    last_steps = {  # the last step is the first value in topological order
        "a": "dL/da = dL/de · ∂e/∂a = -2.0000 × -3.0000 = 6.0000",
        "f": "dL/df = dL/dL · ∂L/∂f = 1.0000 × 4.0000 = 4.0000",
    }
    first_value = ts.topological_order(L)[0].label
    assert first.query_selector("[data-role=explain]").inner_text() == last_steps[first_value]
    assert second.query_selector("[data-role=step]").inner_text().startswith("step 0 of")
    # nbconvert's page asks the network for its own scripts (which fail offline); ours do not
    assert not [e for e in errors if "Failed to load resource" not in e]


def test_hostile_labels_stay_text(open_page):
    hostile = "</script><script>window.pwned = 1</script>\"'<b>&amp;"
    x = Value(3.0, hostile)
    y = x * x
    y.label = "y"
    page, errors = open_page(explore(y).html())
    assert page.evaluate("window.pwned") is None
    assert page.get_attribute("g[data-kind=input]", "data-label") == hostile
    page.click("[data-action=next]")
    explain = page.inner_text("[data-role=explain]")
    assert explain == f"y = {hostile} * {hostile} = 3.0000 * 3.0000 = 9.0000"
    assert errors == []


def test_a_single_leaf_is_a_graph_of_one(open_page):
    x = Value(1.5, "x")
    page, errors = open_page(explore(x).html())
    page.click("[data-action=end]")
    assert page.inner_text("[data-role=step]") == "step 1 of 1 · backward pass"
    assert page.inner_text("[data-role=explain]") == (
        "dx/dx = 1: backpropagation starts at the output"
    )
    assert float(page.get_attribute("[data-node]", "data-grad")) == 1.0
    assert errors == []


def step_texts(page_html: str) -> list[str]:
    """Every step's explanation, from the page's data (what the buttons will show)."""
    import json

    data = re.search(r'<script type="application/json" data-role="steps">(.*?)</script>', page_html)
    return [step["explain"] for step in json.loads(data[1])["steps"]]


def test_powers_and_negation_are_written_as_a_reader_would():
    x = Value(3.0, "x")
    y = (-x) ** 2
    y.label = "y"
    texts = step_texts(explore(y).html())
    assert "(-x) = -x = -(3.0000) = -3.0000" in texts  # the unnamed -x is called by its expression
    assert "y = (-x)**2 = (-3.0000)**2 = 9.0000" in texts
    assert "dy/dx = dy/d(-x) · ∂(-x)/∂x = -6.0000 × -1.0000 = 6.0000" in texts
    g, _ = shared_graph()  # a function of an expression takes one pair of parentheses
    assert "g = tanh(t1+x) = tanh(-0.1200) = -0.1194" in step_texts(explore(g).html())


# --- a page a teacher can present ---------------------------------------------------------


def box_names(page) -> dict[str, str]:
    """{data-node: the first line of its box}: the name drawn on each value's box."""
    return page.eval_on_selector_all(
        "g[data-node]",
        "gs => Object.fromEntries(gs.map(g => [g.getAttribute('data-node'),"
        " g.querySelector('text').textContent.replace(/\\u00a0/g, ' ')]))",
    )


def test_every_name_the_text_uses_is_on_a_box(open_page):
    a, b = Value(3.0), Value(4.0)  # the example: nothing is labelled
    page, errors = open_page(explore(a * b + a).html())
    names = box_names(page)
    assert sorted(names.values()) == sorted(["t1", "t2", "(t1*t2)", "out"])
    texts = step_texts(page.content())
    assert texts[1] == "(t1*t2) = t1 * t2 = 3.0000 * 4.0000 = 12.0000"
    assert texts[2] == "out = (t1*t2) + t1 = 12.0000 + 3.0000 = 15.0000"
    for node, name in names.items():  # each box's detail is about the name on it
        page.click(f"g[data-node={node}]")
        assert page.inner_text("[data-role=detail]").startswith(f"{name} = ")
        page.click(f"g[data-node={node}]")  # a second click closes it
        assert not page.is_visible("[data-role=detail]")
    assert errors == []


def test_an_mlp_box_shows_its_short_name_and_the_long_one_on_hover(open_page):
    out, model = small_mlp()
    page, errors = open_page(explore(out, params=model).html())
    names = set(box_names(page).values())
    assert {"h0[0].w0", "h1[3].b", "z1[3]", "h1[3]", "out"} <= names
    assert not [n for n in names if n.startswith("layers.")]
    weight = page.locator("g[data-label='layers.1.neurons.3.w.0']")
    assert weight.locator("title").text_content() == "h1[3].w0: layers.1.neurons.3.w.0"
    texts = step_texts(page.content())
    assert "h1[3] = relu(z1[3]) = " in "\n".join(texts)
    assert not [t for t in texts if "layers." in t]
    assert errors == []


def test_a_collapsed_neuron_shows_its_weights_and_bias_on_click(open_page):
    out, model = small_mlp()
    gradients = dict(zip(model.parameters(), ts.gradients(out, model.parameters())))
    page, errors = open_page(explore(out, params=model, collapse=True).html())
    box = page.locator("g[data-kind=neuron]").filter(has=page.locator("text", has_text="h1[3]"))
    assert box.locator("title").text_content() == "h1[3]: layers.1.neurons.3"
    assert "w0…w3, b" in box.text_content()  # the names its text gives its parameters
    box.click()
    detail = page.inner_text("[data-role=detail]").splitlines()
    assert detail[0] == "h1[3] is layers.1.neurons.3"
    assert detail[1].startswith("h1[3] = relu(w0·h0[0] + w1·h0[1] + w2·h0[2] + w3·h0[3] + b) = ")
    assert detail[2].startswith("dout/dh1[3] = dout/dout · ∂out/∂h1[3] = ")
    neuron = model.layers[1].neurons[3]
    rows = detail[detail.index("its weights and bias (grad = dout/d·):") + 1 :]
    expected = [(f"w{j}", w, f"layers.1.neurons.3.w.{j}") for j, w in enumerate(neuron.w)] + [
        ("b", neuron.b, "layers.1.neurons.3.b")
    ]
    assert len(rows) == len(expected) == 5
    for row, (term, parameter, long_name) in zip(rows, expected):
        assert row.split() == [
            term,
            "data",
            f"{parameter.data:.4f}",
            "grad",
            f"{gradients[parameter]:.4f}",
            f"({long_name})",
        ]
    # and the step text is short: no dotted module path anywhere
    assert not [t for t in step_texts(page.content()) if "layers." in t]
    assert errors == []


def tall_graph():
    """A chain of 30 values drawn top to bottom: far taller than the window."""
    x = Value(0.5, "x")
    y = x
    for _ in range(30):
        y = (y * 1.1).tanh()
    y.label = "y"
    return y


def test_the_controls_stay_in_view_while_a_tall_graph_scrolls(open_page):
    page, errors = open_page(explore(tall_graph(), rankdir="TB").html())
    assert page.evaluate("document.documentElement.scrollHeight") > 3 * 800
    page.mouse.wheel(0, 2000)
    page.wait_for_function("window.scrollY > 1500")
    # stuck to the top of the window, over the drawing
    page.wait_for_function(
        "Math.abs(document.querySelector('.tgs-bar').getBoundingClientRect().top) <= 1"
    )
    assert page.locator(".tgs-bar").is_visible()
    page.click("[data-action=next]")  # and it still works from there
    assert step_text(page).startswith("step 1 of")
    assert errors == []


def test_the_graph_does_not_move_and_the_slider_keeps_its_width(open_page):
    g, _ = shared_graph()
    page, errors = open_page(explore(g).html())

    def where() -> tuple[float, float]:
        graph = page.locator(".tgs-graph svg").bounding_box()
        slider = page.locator("[data-role=slider]").bounding_box()
        return graph["y"], slider["width"]

    start = where()
    heights = set()
    for _ in range(11):  # every step: explanations of one line to several
        page.keyboard.press("ArrowRight")
        heights.add(  # lines of text the explanation takes
            page.locator("[data-role=explain]").evaluate(
                """e => { const r = document.createRange(); r.selectNodeContents(e);
                   return new Set([...r.getClientRects()].map(q => Math.round(q.top))).size; }"""
            )
        )
        assert where() == start
    assert len(heights) > 1  # the explanations did differ in length
    page.click("g[data-label=x]")  # the detail opens over the drawing, moving nothing
    assert page.is_visible("[data-role=detail]")
    assert where() == start
    page.keyboard.press("Escape")
    assert not page.is_visible("[data-role=detail]")
    assert errors == []


def test_a_cli_page_takes_the_keys_at_once(tmp_path, monkeypatch, open_page, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["graph", "(a*b+c)*f", "a=2", "b=-3", "c=10", "f=-2", "-o", "f.html", "--no-open"]
    assert cli.main(argv) == 0
    assert "dg/df = 4" in capsys.readouterr().out
    page_html = (tmp_path / "f.html").read_text(encoding="utf-8")
    page, errors = open_page(page_html)
    page.keyboard.press("ArrowRight")  # no click first
    assert step_text(page) == "step 1 of 10 · forward pass"
    # the output is not called after an input: one box named f, one named g
    assert sorted(box_names(page).values()).count("f") == 1
    assert page.get_attribute("g[data-kind=output]", "data-label") == "g"
    assert errors == []


def test_keys_go_to_the_explorer_last_hovered_or_clicked(open_page):
    L, _ = karpathy_graph()
    g, _ = shared_graph()
    body = explore(L)._repr_html_() + "<input id=typing>" + explore(g)._repr_html_()
    page, errors = open_page(f"<!DOCTYPE html><html><body>{body}</body></html>")
    first, second = page.locator(".tgs-explorer").all()

    def steps() -> tuple[str, str]:
        return tuple(
            e.locator("[data-role=step]").inner_text().split(" · ")[0] for e in (first, second)
        )

    page.keyboard.press("ArrowRight")  # a notebook's explorers wait to be chosen
    assert steps() == ("step 0 of 10", "step 0 of 11")
    second.hover()
    page.keyboard.press("ArrowRight")
    assert steps() == ("step 0 of 10", "step 1 of 11")
    first.locator("[data-role=explain]").click()
    page.mouse.move(0, 0)  # away from both: the last clicked keeps the keys
    page.keyboard.press("End")
    assert steps() == ("step 10 of 10", "step 1 of 11")
    page.click("#typing")  # typing in a field moves nothing
    page.keyboard.press("Home")
    assert steps() == ("step 10 of 10", "step 1 of 11")
    assert errors == []


def test_the_current_node_is_marked_boldly_and_the_key_is_shown(open_page):
    L, _ = karpathy_graph()
    page, errors = open_page(explore(L).html())
    assert "key" in page.text_content(".tgs-graph svg")  # the colour key, without asking
    assert "computed value" in page.text_content(".tgs-graph svg")
    page.keyboard.press("ArrowRight")
    outline = page.locator("g.tgs-current[data-node] polygon").first.evaluate(
        """p => { const s = getComputedStyle(p), g = getComputedStyle(p.closest('g'));
           return [s.stroke, parseFloat(s.strokeWidth), s.strokeDasharray, g.filter]; }"""
    )
    colour, width, dashes, glow = outline
    assert colour == "rgb(214, 39, 40)" and width >= 4 and dashes == "none"
    assert "drop-shadow" in glow
    assert errors == []
