"""torch is optional: without it, the torch paths raise one ImportError that says how to
install it, and nothing else changes. torch's absence is simulated (an `import torch`
that fails), so these tests run whether or not torch is installed."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest

import tinygrad_scalar as ts
from tinygrad_scalar import Value
from tinygrad_scalar.nn import MLP

INSTALL = r'pip install "tinygrad-scalar\[torch\]" \(or pip install torch==2\.13\.0\)'
NOTEBOOK_11 = Path(__file__).resolve().parents[1] / "notebooks" / "src" / "11_tiny_gpt.py"


@pytest.fixture
def without_torch(monkeypatch):
    for name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError


def line_model():
    w, b = Value(0.5), Value(-1.0)
    return [w, b], lambda x, y: (w * x + b - y) ** 2


def test_the_torch_paths_say_how_to_install_torch_and_the_numpy_step_is_untouched(
    without_torch,
):
    params, fn = line_model()
    with pytest.raises(
        ImportError, match=r'compile\(..., backend="torch"\) needs PyTorch.*' + INSTALL
    ):
        ts.compile(fn, params, (1.0, 0.0), backend="torch")
    with pytest.raises(ImportError, match=r"to_torch\(\) needs PyTorch.*" + INSTALL):
        ts.to_torch(fn, params, (1.0, 0.0))
    step = ts.compile(fn, params, (1.0, 0.0))
    with pytest.raises(ImportError, match=r"to_torch\(\) needs PyTorch.*" + INSTALL):
        step.to_torch()
    by_shape = ts.compile_by_shape(fn, params)
    with pytest.raises(ImportError, match=r"to_torch\(\) needs PyTorch.*" + INSTALL):
        by_shape.to_torch()
    with pytest.raises(
        ImportError, match=r'compile_by_shape\(..., backend="torch"\) needs PyTorch'
    ):
        ts.compile_by_shape(fn, params, backend="torch")
    with pytest.raises(ImportError, match=r"MLP.to_torch\(\) needs PyTorch.*" + INSTALL):
        MLP(2, [1], seed=0).to_torch()
    assert step([1.0, 2.0], [0.0, 1.0]) == 0.625  # ((0.5 - 1)^2 + (1 - 1 - 1)^2) / 2
    assert [p.grad for p in params] == [-2.5, -1.5]
    assert by_shape([1.0], [0.0]) == 0.25


def test_notebook_11s_pytorch_cell_says_how_to_install_torch_and_stops(without_torch):
    source = NOTEBOOK_11.read_text(encoding="utf-8")
    last_cell = source.rsplit("\n# %%\n", 1)[1]
    assert "train_step.to_torch()" in last_cell
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(last_cell, str(NOTEBOOK_11), "exec"), {})  # names it needs are unset
    assert printed.getvalue() == (
        'PyTorch is not installed: pip install "tinygrad-scalar[torch]" to run this cell.\n'
    )
