"""What the command line accepts and how it answers: exit statuses, the two errors a
command raises, and the argparse types of its options.

Each type raises ArgumentTypeError itself, naming what is wrong with the value: for a
ValueError argparse would print the function's name ("invalid layer_sizes value").
"""

from __future__ import annotations

import argparse
import math
import signal

from .._checks import quote_input

PROG = "tinygrad-scalar"
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, as a shell reports a process killed by SIGTERM
# 141: standard output is a pipe whose reader has gone (`tinygrad-scalar --help | head -1`);
# the status a shell reports for `cat` or `yes`, which SIGPIPE ends at that point
EXIT_BROKEN_PIPE = 128 + getattr(signal, "SIGPIPE", 13)


class BadInput(Exception):
    """A problem with what the user asked for: reported in one line, exit status 2."""


class CommandFailed(Exception):
    """The input was fine but the work failed (no renderer, say): one line, exit status 1."""


def _integer(text: str, description: str) -> int:
    stripped = text.strip()
    digits = stripped[1:] if stripped[:1] in "+-" else stripped
    # isdecimal, not isdigit: "²" is a digit that int() refuses; very long numbers are refused
    # by int() (ValueError) rather than computed.
    try:
        if not digits.isdecimal():
            raise ValueError(text)
        return int(stripped)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be {description}, got {quote_input(text)}"
        ) from None


def positive_int(text: str) -> int:
    value = _integer(text, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {quote_input(text)}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {quote_input(text)}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {quote_input(text)}")
    return value


def positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {quote_input(text)}")
    return value


def nonnegative_float(text: str) -> float:
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {quote_input(text)}")
    return value


def fraction(text: str) -> float:
    value = _finite_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"must be between 0 and 1 (exclusive), got {quote_input(text)}"
        )
    return value


def layer_sizes(text: str) -> list[int]:
    """ "16,16" -> [16, 16]: the hidden layer widths."""
    description = "comma-separated positive layer widths such as 16,16"
    widths = []
    for part in text.split(","):
        try:
            width = _integer(part, description)
        except argparse.ArgumentTypeError:
            width = 0
        if width < 1 or not part.strip().isdecimal():
            raise argparse.ArgumentTypeError(f"must be {description}, got {quote_input(text)}")
        widths.append(width)
    return widths


def any_int(text: str) -> int:
    """Any integer (a seed)."""
    return _integer(text, "an integer")
