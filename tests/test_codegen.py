"""codegen.py: the committed _generated.py is what codegen writes today, and it is the code
that runs (grep, mypy and coverage see the Value methods there)."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

from tinygrad_scalar import Value, _generated, codegen, rules

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_generated_module_is_a_fresh_generation():
    committed = codegen.GENERATED_FILE.read_text(encoding="utf-8")
    assert committed == codegen.generated_module_source(), (
        "tinygrad_scalar/_generated.py is out of date: run `make generate`"
    )


def test_the_methods_that_run_are_defined_in_the_committed_file():
    for method in [*codegen.BINARY, *codegen.UNARY, "__pow__"]:
        function = getattr(_generated, method)
        assert Path(inspect.getsourcefile(function)).name == "_generated.py"
        if not method.startswith("_pow"):
            assert getattr(Value, method) is function
    assert "def __mul__(self: Value, other: Operand) -> Value:" in inspect.getsource(_generated)


def test_a_changed_rule_shows_in_a_fresh_generation(monkeypatch):
    # the file is written from the table: change MUL's derivative and the text follows
    monkeypatch.setattr(rules.MUL, "derivatives", lambda o, out, a, b: (b, a * 2.0))
    fresh = codegen.generated_module_source()
    assert "node._second_local = a * 2.0" in fresh
    assert fresh != codegen.GENERATED_FILE.read_text(encoding="utf-8")


def test_the_node_layout_is_written_once_for_methods_kernels_and_new_node():
    source = codegen.generated_module_source()
    kernel = codegen.layer_kernel_source(2, True)
    leaf = codegen.node_lines("node", "data", "None", [], ())
    for line in leaf:
        assert line in source  # new_node's and set_node's leaf
    assert "node._first_parent = node._second_parent = None" in kernel  # a dot: the tuples


def test_the_walk_kernel_is_the_chain_rules_inner_loop_unrolled():
    source = codegen.walk_kernel_source(3)
    assert "p0.grad += l0 * grad" in source and "p2.grad += l2 * grad" in source
    parents = [Value(0.0) for _ in range(3)]
    codegen.walk_kernel(3)(parents, (1.0, 2.0, 3.0), 2.0)
    assert [p.grad for p in parents] == [2.0, 4.0, 6.0]


def test_grep_finds_the_real_mul():
    found = subprocess.run(
        ["grep", "-rn", "def __mul__", "tinygrad_scalar/"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert "tinygrad_scalar/_generated.py" in found, found
    assert sys.modules["tinygrad_scalar._generated"] is _generated


def test_the_kernels_made_at_run_time_show_their_source():
    import inspect

    kernel = codegen.layer_kernel(3, True, rules.RELU)
    assert inspect.getsource(kernel) == codegen.layer_kernel_source(3, True, rules.RELU)
    assert inspect.getsource(codegen.walk_kernel(5)) == codegen.walk_kernel_source(5)
