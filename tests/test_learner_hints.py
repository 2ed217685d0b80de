"""Small things a learner hits in the library: draw's params as a list of Values, a graph
saved as .html, and a Value given to a notebook exercise's check."""

from __future__ import annotations

import os

import pytest

from tinygrad_scalar import Value, draw
from tinygrad_scalar.nn import MLP
from tinygrad_scalar.notebook import check
from tinygrad_scalar.viz.graph import COLOURS


def node_lines(source: str, colour: str) -> list[str]:
    return [line for line in source.splitlines() if "[" in line and colour in line]


def test_draw_takes_a_list_of_values_as_params():
    model = MLP(2, [3, 1], seed=0)
    out = model([Value(1.0, "x0"), Value(-2.0, "x1")])
    out.backward()
    params = model.parameters()
    params[0].label = "w_first"
    source = draw(out, params=params).source
    by_module = draw(out, params=model).source
    # the same leaves are parameters, whichever way they are given
    assert len(node_lines(source, COLOURS["parameter"])) == len(params) == 13
    assert len(node_lines(by_module, COLOURS["parameter"])) == len(params)
    # named by their labels, else by their place in the list
    assert "w_first" in source and "params[1]" in source and "params[12]" in source
    assert "params[0]" not in source


def test_draw_says_what_params_may_be():
    x = Value(1.0)
    with pytest.raises(TypeError, match="a list of Values"):
        draw(x * 2, params=[1.0, 2.0])
    with pytest.raises(TypeError, match="not one Value"):
        draw(x * 2, params=x)


@pytest.mark.parametrize("name", ["x.html", "page.HTM"])
def test_saving_a_graph_as_html_points_to_explore(tmp_path, name):
    graph = draw(Value(2.0, "x") * 3)
    with pytest.raises(ValueError) as caught:
        graph.save(tmp_path / name)
    message = str(caught.value)
    assert "explore(root).save(" in message and name in message
    assert os.listdir(tmp_path) == []  # nothing written


def test_check_given_a_value_suggests_its_data(capsys):
    check(Value(160.0), 160.0)
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("not quite") and "Value" in line and ".data (160.0)" in line
    check(Value(160.0).data, 160.0)
    assert capsys.readouterr().out == "correct\n"
