"""The `tinygrad-scalar` command line (also `python -m tinygrad_scalar`).

    tinygrad-scalar demo [--out DIR] [--seed N] [--no-progress]
    tinygrad-scalar train --dataset moons --layers 16,16 [--loss ...] [--optimizer ...] ...
    tinygrad-scalar predict MODEL.json X0 X1 ...
    tinygrad-scalar graph EXPR [NAME=VALUE ...] [-o FILE]

Exit status: 0 on success, 2 for bad input (a one-line message on stderr naming the input;
nothing is written), 1 when something else fails, 130 when interrupted (Ctrl-C), 143 when
terminated (SIGTERM). Output folders are checked before any training: the files are
assembled in a temporary folder (inside --out when it exists, beside it otherwise) and
moved into place only when every file is complete; an error or an interrupt removes it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import signal
import sys
import threading
from typing import Any, NoReturn, Sequence

from .._checks import QUOTE_LIMIT, shorten_input
from ..nn import ACTIVATIONS
from ..train import LOSSES, OPTIMIZERS
from . import commands, graph
from .arguments import (
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    PROG,
    BadInput,
    CommandFailed,
    any_int,
    fraction,
    layer_sizes,
    nonnegative_float,
    positive_float,
    positive_int,
)
from .commands import DATASETS, DEMO_DIR, TRAIN_DIR

__all__ = ["BadInput", "CommandFailed", "build_parser", "main"]


class _Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C, so temporary files and folders are removed."""


# argparse takes "-x" or "-1e-3" for an option: for the commands whose arguments may start
# with "-", the error shows where they go instead
AFTER_DASHES = {
    "graph": f'{PROG} graph -- "-x" x=1',
    "predict": f"{PROG} predict MODEL.json -- -1e-3 2",
}


def _dashes_hint(command: str | None, arguments: Sequence[str]) -> str:
    if command in AFTER_DASHES and any(a.startswith("-") for a in arguments):
        return f"; a value starting with '-' goes after '--': {AFTER_DASHES[command]}"
    return ""


# argparse quotes what it refuses in full ("invalid choice: 'xxx...'", "unrecognized arguments:
# xxx..."): a quoted string, or a word, longer than the README's limit is cut to it.
_TOO_LONG = f"{{{QUOTE_LIMIT + 1},}}"  # more than QUOTE_LIMIT repeats, as a regex says it
_LONG_QUOTED = re.compile(r"'((?:[^'\\]|\\.)" + _TOO_LONG + ")'")
_LONG_WORD = re.compile(r"(?<![^\s])[^\s']" + _TOO_LONG)


def _shortened(message: str) -> str:
    message = _LONG_QUOTED.sub(lambda quoted: f"'{shorten_input(quoted.group(1))}'", message)
    return _LONG_WORD.sub(lambda word: shorten_input(word.group()), message)


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line (the usage is one `--help` away)."""

    arguments: Sequence[str] = ()  # what the last parse was given, for _dashes_hint

    def error(self, message: str) -> NoReturn:
        if message.startswith("the following arguments are required"):  # `graph -x`
            message += _dashes_hint(self.prog.split()[-1], self.arguments)
        message = _shortened(message)
        self.exit(EXIT_BAD_INPUT, f"{PROG}: error: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self.arguments = sys.argv[1:] if args is None else list(args)
        return super().parse_known_args(args, namespace)

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:  # `graph -x x=1`: x=1 is taken for the EXPR and -x is left over
            hint = _dashes_hint(getattr(parsed, "command", None), extras)
            self.error(f"unrecognized arguments: {shorten_input(' '.join(extras))}{hint}")
        return parsed

    def _print_message(self, message: str, file: Any = None) -> None:
        # argparse ignores a failed write, so `--help > /dev/full` would report success
        if message:
            (file or sys.stderr).write(message)


# --- the parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the whole command line, subcommands included."""
    parser = _Parser(
        prog=PROG,
        description="Train small neural networks on a scalar autodiff engine, and draw them.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    subcommands.required = True

    demo = subcommands.add_parser(
        "demo",
        help="train a 2-16-16-1 MLP on two moons and write the pictures",
        description=(
            "Train a 2-16-16-1 MLP on 100 two-moons points (hinge loss, L2, SGD) and write "
            f"the model, its loss curve, decision boundary and one neuron's graph to {DEMO_DIR}/."
        ),
    )
    demo.add_argument("--out", metavar="DIR", default=DEMO_DIR, help=f"default: ./{DEMO_DIR}")
    demo.add_argument("--seed", type=any_int, default=0, help="seeds the data and the weights")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(run=commands.run_demo)

    train = subcommands.add_parser(
        "train",
        help="train an MLP on a built-in dataset",
        description="Train an MLP on a built-in 2-D dataset, print its accuracy, and write "
        "the model (JSON), the loss curve and the decision boundary to --out.",
    )
    train.add_argument(
        "--dataset", choices=DATASETS, default="moons", help="the data set (default moons)"
    )
    train.add_argument("--samples", type=positive_int, default=200, help="points (default 200)")
    train.add_argument(
        "--noise", type=nonnegative_float, default=None, help="default: the dataset's own"
    )
    train.add_argument(
        "--classes", type=positive_int, default=3, help="classes for blobs and spiral (default 3)"
    )
    train.add_argument(
        "--layers", type=layer_sizes, default=[16, 16], help="hidden widths (default 16,16)"
    )
    train.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        default="relu",
        help="of the hidden layers (default relu)",
    )
    train.add_argument(
        "--loss",
        choices=LOSSES,
        default=None,
        help="default: hinge for two classes, cross_entropy for more",
    )
    train.add_argument(
        "--optimizer", choices=OPTIMIZERS, default="adam", help="the update rule (default adam)"
    )
    train.add_argument(
        "--lr", type=positive_float, default=None, help="default: 0.1 for sgd, 0.01 for adam"
    )
    train.add_argument(
        "--epochs", type=positive_int, default=100, help="passes over the data (default 100)"
    )
    train.add_argument(
        "--batch-size", type=positive_int, default=None, help="default: the whole training set"
    )
    train.add_argument(
        "--l2", type=nonnegative_float, default=1e-4, help="L2 regularisation (default 1e-4)"
    )
    train.add_argument(
        "--test-fraction", type=fraction, default=0.2, help="held out for testing (default 0.2)"
    )
    train.add_argument(
        "--seed", type=any_int, default=0, help="seeds the data, weights, batches (default 0)"
    )
    train.add_argument(
        "--out", metavar="DIR", default=TRAIN_DIR, help=f"the files go here (default ./{TRAIN_DIR})"
    )
    train.add_argument("--compile", action="store_true", help="vectorized training (NumPy)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(run=commands.run_train)

    predict = subcommands.add_parser(
        "predict",
        help="run a saved model on one input",
        description="Print a saved model's predicted class for one input row, with each"
        " class's probability (the softmax of the scores; for one output, its sigmoid, the"
        " probability of class 1). Put -- before the numbers if one of them is written like"
        " -1e-3.",
    )
    predict.add_argument("model", metavar="MODEL.json")
    predict.add_argument("features", metavar="X", nargs="+", help="the input values")
    predict.set_defaults(run=commands.run_predict)

    graph.add_parser(subcommands)  # its module holds its arguments next to its code
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]); returns the exit status."""
    return _flush_standard_output(_run(argv))


def _flush_standard_output(status: int) -> int:
    """Make sure what was printed reached standard output: a full disk or /dev/full
    (`--help > /dev/full`) is an error to report, not a success."""
    try:
        sys.stdout.flush()
    except OSError as error:
        if error.errno == errno.EPIPE:
            return _reader_gone()
        print(
            f"{PROG}: error: cannot write to standard output: {error.strerror or error}",
            file=sys.stderr,
        )
        # what is still buffered would fail again when Python exits, with a traceback
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return status if status != EXIT_OK else EXIT_FAILURE
    return status


def _reader_gone() -> int:
    """Standard output is a pipe whose reader has stopped reading (`--help | head -1`): not
    an error to report, as for other tools. What is still buffered goes nowhere (otherwise
    Python would fail on it at exit, with a traceback) and the status is EXIT_BROKEN_PIPE."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return EXIT_BROKEN_PIPE


def _run(argv: Sequence[str] | None) -> int:
    previous_handler = _catch_sigterm()
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as stop:  # --help, --version and usage errors
            return stop.code if isinstance(stop.code, int) else EXIT_OK
        status: int = args.run(args)
        return status
    except BadInput as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CommandFailed as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _Terminated:
        print(f"{PROG}: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except OSError as error:
        if error.errno == errno.EPIPE and not error.filename:  # `... | head -1`
            return _reader_gone()
        if error.errno is None:  # a message already written for the user
            print(f"{PROG}: error: {error}", file=sys.stderr)
        else:
            # our own files are always named; an unnamed write is a print (--help > /dev/full)
            where = f" {shorten_input(str(error.filename))}" if error.filename else ""
            where = where or " to standard output"
            print(f"{PROG}: error: cannot write{where}: {error.strerror}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)


def _catch_sigterm() -> Any:
    """Turn SIGTERM (`timeout`, `kill`, a job scheduler) into an exception, so that cleanup
    runs as it does for Ctrl-C; returns the previous handler, or None where signal handlers
    cannot be set (outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def terminate(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut cleanup
        raise _Terminated

    return signal.signal(signal.SIGTERM, terminate)
