"""What the command line tells a learner: every default in --help, sin and cos in `graph`,
and where an argument that starts with '-' goes."""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys

import pytest

from tinygrad_scalar import cli


def subcommand(name: str) -> argparse.ArgumentParser:
    parser = cli.build_parser()
    (choices,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return choices.choices[name]


def stated_default(action: argparse.Action) -> object:
    """The default an option's help states, "(default X)", read as the option reads X."""
    match = re.search(r"\(default (?:\./)?([^)]+)\)", action.help or "")
    assert match, f"{action.option_strings} does not state its default: {action.help!r}"
    return (action.type or str)(match.group(1))


def test_train_help_shows_every_default(capsys):
    assert cli.main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "(default adam)" in text and "(default 100)" in text and "(default relu)" in text
    stated = 0
    for action in subcommand("train")._actions:
        if action.default in (None, False, argparse.SUPPRESS):
            continue  # a flag, or a default that depends on another option (said in words)
        assert stated_default(action) == action.default
        assert action.help in text
        stated += 1
    assert stated >= 10  # dataset, samples, classes, layers, activation, optimizer, ...


@pytest.mark.parametrize(
    "expression, x, value, derivative",
    [
        ("sin(x)", 0.5, math.sin(0.5), math.cos(0.5)),
        ("cos(x)", 0.5, math.cos(0.5), -math.sin(0.5)),
        ("sin(x)*cos(x)", 1.0, math.sin(1.0) * math.cos(1.0), math.cos(2.0)),
        (
            "log1p(x) + softplus(x)",
            1.0,
            math.log(2.0) + math.log1p(math.e),
            0.5 + 1 / (1 + 1 / math.e),
        ),
    ],
)
def test_graph_accepts_the_librarys_functions(capsys, expression, x, value, derivative):
    assert cli.main(["graph", expression, f"x={x}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("f = ") and lines[1].startswith("df/dx = ")
    assert float(lines[0].split(" = ")[1]) == pytest.approx(value, rel=1e-5)
    assert float(lines[1].split(" = ")[1]) == pytest.approx(derivative, rel=1e-5)


@pytest.mark.parametrize(
    "argv, example",
    [
        (["graph", "-x", "x=1"], 'tinygrad-scalar graph -- "-x" x=1'),
        (["graph", "-x"], 'tinygrad-scalar graph -- "-x" x=1'),
        (["predict", "m.json", "-1e-3", "2"], "tinygrad-scalar predict MODEL.json -- -1e-3 2"),
    ],
)
def test_an_argument_starting_with_a_dash_points_to_the_double_dash(capsys, argv, example):
    assert cli.main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "a value starting with '-' goes after '--'" in line and example in line


def test_the_double_dash_hint_works_as_it_says(capsys):
    assert cli.main(["graph", "--", "-x", "x=1"]) == 0
    assert capsys.readouterr().out.splitlines() == ["f = -1", "df/dx = -1"]


def test_an_unknown_option_elsewhere_gets_no_double_dash_hint():
    result = subprocess.run(
        [sys.executable, "-m", "tinygrad_scalar", "train", "--bogus"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "tinygrad-scalar: error: unrecognized arguments: --bogus (see tinygrad-scalar --help)"
    ]
