"""The README's examples run and print what the README says they print."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def run(code: str, tmp_path: Path) -> str:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_engine_example_prints_micrographs_numbers(tmp_path):
    block = next(b for b in python_blocks() if "g.backward()" in b)
    assert run(block, tmp_path).split() == ["24.7041", "138.8338", "645.5773"]


def test_coming_from_micrograd_example_prints_what_it_says(tmp_path):
    block = next(b for b in python_blocks() if "e._backward()" in b)
    assert run(block, tmp_path).splitlines() == ["* True", "-3.0 2.0", "0.786448"]


def test_functional_examples_give_the_values_in_their_comments(tmp_path):
    block = next(b for b in python_blocks() if "grad(grad(grad(" in b)
    # each line `expression   # expected  (note)` becomes a print of the expression, and the
    # printed values are compared with the comments (spaces ignored)
    lines, expected = [], []
    for line in block.splitlines():
        code, _, comment = line.partition("#")
        if comment and code.strip():
            lines.append(f"print(repr({code.strip()}))")
            expected.append(comment.split("  ")[0].strip().replace(" ", ""))
        else:
            lines.append(line)
    printed = run("\n".join(lines), tmp_path).split("\n")
    assert [p.replace(" ", "") for p in printed if p] == expected


@pytest.mark.slow
def test_training_example_reaches_the_accuracy_it_states(tmp_path):
    block = next(b for b in python_blocks() if "make_moons" in b)
    out = run(block, tmp_path)
    assert out.split() == ["0.99"]
    assert (tmp_path / "moons.json").exists()


def test_lazy_names_stay_what_they_are():
    # `tinygrad_scalar.compile` is a function; importing the module behind it must not
    # replace it (a submodule named `compile` once did)
    code = (
        "import tinygrad_scalar as ts\n"
        "from tinygrad_scalar.train import fit\n"
        "print(callable(ts.compile), callable(ts.compile), ts.MLP.__name__, ts.draw.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["True", "True", "MLP", "draw"], done.stderr


def _printed_comments(block: str) -> list[str]:
    """What each `print(...)  # expected` line of a block says it prints."""
    return [
        line.partition("#")[2].split(":")[0].strip()
        for line in block.splitlines()
        if line.startswith("print(") and "#" in line
    ]


def test_rule_free_function_and_integer_input_examples_print_their_comments(tmp_path):
    for key in ("def swish", "softplus = Rule(", "table = [[", "make_moons(200"):
        block = next(b for b in python_blocks() if key in b)
        printed = run(block, tmp_path).strip().split("\n")
        assert printed == _printed_comments(block), key


@pytest.mark.slow
def test_every_python_block_runs_top_to_bottom_in_one_namespace(tmp_path):
    # what a reader gets by pasting each ```python block in turn into one session; the
    # "Outgrowing scalars" block needs PyTorch, optional (tests/test_torch_ddp.py runs it)
    blocks = python_blocks()
    assert len(blocks) >= 8
    if importlib.util.find_spec("torch") is None:
        blocks = [b for b in blocks if "import torch" not in b]
    run("\n\n".join(blocks), tmp_path)


def test_the_project_layout_names_every_module_of_the_package():
    # the layout block of "Project layout" is the map a reader trusts: no module missing
    text = README.read_text(encoding="utf-8")
    layout = text.split("## Project layout", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    package = README.parent / "tinygrad_scalar"
    for path in sorted(package.rglob("*.py")):
        name = path.name
        if name == "__init__.py" and path.parent != package:
            continue  # a subpackage is named by its folder
        assert name in layout, f"README's Project layout does not name {path.relative_to(package)}"
    for folder in sorted(p for p in package.iterdir() if p.is_dir() and p.name != "__pycache__"):
        assert f"{folder.name}/" in layout, f"README's Project layout does not name {folder.name}/"
