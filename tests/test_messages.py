"""Messages and switches at the edges: generator rows, long bad arguments, a closed pipe,
and a no_grad block left from another context."""

from __future__ import annotations

import asyncio
import contextvars
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tinygrad_scalar as ts
from tinygrad_scalar import Value, cli
from tinygrad_scalar.engine import dots

ROOT = Path(__file__).resolve().parents[1]
LONG = "a" * 1000


# --- dots takes any iterable of rows --------------------------------------------------------


def test_dots_takes_a_generator_of_rows_and_of_biases():
    xs = [Value(1.0), Value(2.0)]
    rows = [[Value(1.0), 2.0], [Value(3.0), Value(4.0)]]  # a number: the kernel gives up
    expected = [v.data for v in dots(rows, xs, [0.5, 0.0])]
    got = dots((row for row in rows), xs, (b for b in [0.5, 0.0]))
    assert [v.data for v in got] == expected == [5.5, 11.0]
    values_only = [[Value(1.0), Value(2.0)], [Value(3.0), Value(4.0)]]  # the kernel's path
    assert [v.data for v in dots(iter(values_only), xs)] == [5.0, 11.0]


def test_a_row_that_is_a_generator_is_refused_with_what_is_expected():
    xs = [Value(1.0), Value(2.0)]
    with pytest.raises(TypeError, match="each row of weights must be a list or tuple, got gen"):
        dots([(w for w in [Value(1.0), 2.0])], xs)


# --- long bad arguments are quoted to 100 characters -------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--dataset", LONG],
        ["train", "--activation", LONG],
        ["train", "--" + LONG],
        ["train", "extra" + LONG],
        [LONG],
        ["graph", "x*2", "x=1", LONG, LONG],
    ],
)
def test_a_long_bad_argument_is_quoted_to_at_most_100_characters(capsys, args):
    status = cli.main(args)
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert "a" * 90 in err and "a" * 98 not in err and "..." in err  # cut, and says so
    assert len(err) < 400


def test_an_out_folder_name_too_long_is_refused_before_training(tmp_path, capsys):
    status = cli.main(["demo", "--no-progress", "--out", str(tmp_path / "new" / LONG[:300])])
    captured = capsys.readouterr()
    assert status == 2
    assert "is longer than the" in captured.err and "a" * 98 not in captured.err
    assert captured.out == ""  # it used to train first and fail at the end
    assert list(tmp_path.iterdir()) == []


# --- a closed pipe ------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "pipe") or sys.platform == "win32", reason="POSIX pipes")
@pytest.mark.parametrize("args", [["--help"], ["graph", "x*2", "x=1"]])
def test_output_into_a_closed_pipe_is_quiet_and_exits_like_other_tools(args):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written: `| head -0`
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tinygrad_scalar", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""  # no "Broken pipe", no traceback
    assert result.returncode == 141  # as a shell reports `yes | head -1`'s yes


# --- a no_grad block left in another context ----------------------------------------------------


@pytest.mark.parametrize("switch", ["no_grad", "enable_grad_inside_no_grad"])
def test_leaving_a_switch_from_another_context_restores_it(switch):
    outer = ts.no_grad() if switch != "no_grad" else None
    if outer is not None:
        outer.__enter__()
    expected = ts.is_grad_enabled()
    block = ts.no_grad() if switch == "no_grad" else ts.enable_grad()
    block.__enter__()
    assert ts.is_grad_enabled() is not expected
    elsewhere = contextvars.copy_context()
    elsewhere.run(block.__exit__, None, None, None)  # used to raise ValueError
    assert ts.is_grad_enabled() is expected  # here: not stuck
    assert elsewhere.run(ts.is_grad_enabled) is expected  # and there
    if outer is not None:
        outer.__exit__(None, None, None)
    assert ts.is_grad_enabled() and len((Value(1.0) * 2).parents) == 2


def test_a_no_grad_entered_in_one_task_and_left_in_another_is_undone_everywhere():
    block = ts.no_grad()

    async def enter():
        block.__enter__()
        return ts.is_grad_enabled()

    async def leave():
        block.__exit__(None, None, None)
        return ts.is_grad_enabled()

    async def main():
        inside = await asyncio.create_task(enter())
        after = await asyncio.create_task(leave())
        return inside, after, ts.is_grad_enabled()

    assert asyncio.run(main()) == (False, True, True)
    assert ts.is_grad_enabled()


def test_detect_anomaly_left_from_another_context_stops_checking():
    block = ts.detect_anomaly()
    block.__enter__()
    with pytest.raises(FloatingPointError):
        Value(0.0).log()
    contextvars.copy_context().run(block.__exit__, None, None, None)
    assert Value(0.0).log().data == float("-inf")  # no longer checked
