"""The notebooks' exercise check and slider (tinygrad_scalar.notebook)."""

from __future__ import annotations

import sys

import pytest

from tinygrad_scalar import Value
from tinygrad_scalar.notebook import STATIC_FIGURES_VARIABLE, check, slider


def printed(capsys, answer, expected, **options):
    check(answer, expected, **options)
    return capsys.readouterr().out


def test_an_unanswered_exercise_says_so_without_raising(capsys):
    assert printed(capsys, ..., 160.0) == (
        "not answered yet: replace the ... with your answer and run the cell again\n"
    )


@pytest.mark.parametrize(
    "answer, expected", [(160.0, 160.0), (160, 160.0), (-2 / 3, -0.6666666666666666), (0.0, 0.0)]
)
def test_a_right_answer_is_correct(capsys, answer, expected):
    assert printed(capsys, answer, expected) == "correct\n"


def test_the_engine_value_may_be_a_value_node_or_a_numpy_number(capsys):
    np = pytest.importorskip("numpy")
    assert printed(capsys, 0.5, Value(0.0).sigmoid()) == "correct\n"
    assert printed(capsys, -0.413394, np.float64(-0.4133940001), tolerance=1e-6) == "correct\n"
    assert printed(capsys, np.float64(2.0), np.array([2.0])[0]) == "correct\n"


def test_a_wrong_answer_gets_a_hint_and_the_expected_value_stays_hidden(capsys):
    out = printed(capsys, 150.0, 160.0)
    assert out.startswith("not quite, 150.0 is not it")
    assert "160" not in out


def test_tolerance_is_relative_for_large_values_and_absolute_below_one(capsys):
    assert printed(capsys, 0.817574, 0.8175744761936437, tolerance=1e-6) == "correct\n"
    assert printed(capsys, 0.8175, 0.8175744761936437, tolerance=1e-6).startswith("not quite")
    assert printed(capsys, 1000.0005, 1000.0, tolerance=1e-6) == "correct\n"
    assert printed(capsys, 1000.002, 1000.0, tolerance=1e-6).startswith("not quite")


@pytest.mark.parametrize("answer", ["160", None, [160.0], True, float("nan"), float("inf")])
def test_answers_of_the_wrong_kind_get_a_hint_not_an_exception(capsys, answer):
    assert printed(capsys, answer, 160.0).startswith("not quite")


def test_slider_draws_once_with_the_start_values_when_figures_are_static(monkeypatch):
    monkeypatch.setenv(STATIC_FIGURES_VARIABLE, "1")
    calls = []
    slider(
        lambda depth, rate: calls.append((depth, rate)), depth=(1, 16, 1, 10), rate=(0, 1, 0.1, 0.3)
    )
    assert calls == [(10, 0.3)]


def test_slider_without_ipywidgets_draws_a_static_figure(monkeypatch, capsys):
    monkeypatch.delenv(STATIC_FIGURES_VARIABLE, raising=False)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails
    calls = []
    slider(lambda rate: calls.append(rate), rate=(0.01, 1.1, 0.01, 0.3))
    assert calls == [0.3]
    assert capsys.readouterr().out == ""  # no widget, no message


def test_slider_with_ipywidgets_builds_live_sliders(monkeypatch):
    ipywidgets = pytest.importorskip("ipywidgets")
    monkeypatch.setenv(STATIC_FIGURES_VARIABLE, "0")
    built = {}
    real_interact = ipywidgets.interact

    def recording_interact(draw, **widgets):
        built.update(widgets)
        return real_interact(draw, **widgets)

    monkeypatch.setattr(ipywidgets, "interact", recording_interact)
    calls = []
    slider(
        lambda depth, rate: calls.append((depth, rate)),
        depth=(1, 16, 1, 10),
        rate=(0.01, 1.1, 0.01, 0.3),
    )
    depth, rate = built["depth"], built["rate"]
    assert isinstance(depth, ipywidgets.IntSlider)
    assert (depth.min, depth.max, depth.step, depth.value) == (1, 16, 1, 10)
    assert isinstance(rate, ipywidgets.FloatSlider)
    assert (rate.min, rate.max, rate.step, rate.value) == (0.01, 1.1, 0.01, 0.3)
    assert calls == [(10, 0.3)]  # the first figure is drawn at once, with the start values


def test_slider_names_a_malformed_control():
    with pytest.raises(ValueError, match=r"slider 'rate'.*low, high, step, start"):
        slider(lambda rate: None, rate=(0.0, 1.0))
