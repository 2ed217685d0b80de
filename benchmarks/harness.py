"""What every row of `make bench` shares: timing by alternated rounds (`alternate`), the
report and its table, the loss checks, and imports that may be missing.

run.py's docstring says how the timing is made fair."""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

LOSS_TOLERANCE = 1e-9  # two losses agree within this times max(1, |loss|)
MOONS_SIZES = [2, 16, 16, 1]  # micrograd's demo model, used by the moons rows
MOONS_LR = 0.05  # small and fixed: every round repeats the same step on a slowly moving model


# --- timing --------------------------------------------------------------------------------


@dataclass
class Timing:
    """Seconds per call of one engine's step, one sample per timed call, kept by round."""

    rounds: list[list[float]] = field(default_factory=list)

    @property
    def samples(self) -> list[float]:
        return [t for samples in self.rounds for t in samples]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def spread(self) -> str:
        return f"{format_seconds(min(self.samples))}-{format_seconds(max(self.samples))}"


def _timed_call(step: Callable[[], Any]) -> float:
    """One step, charged for its own garbage (see the module docstring)."""
    gc.collect()  # untimed: start with no one else's garbage
    start = time.perf_counter()
    step()  # returns only plain numbers, so the graph is unreferenced once it returns
    gc.collect()  # timed: free this step's reference cycles, if it made any
    return time.perf_counter() - start


def alternate(
    steps: dict[str, Callable[[], Any]],
    rounds: int,
    budget: float = 0.2,
    calls: int | None = None,
) -> dict[str, Timing]:
    """Time each engine's step, the engines alternated round by round.

    One warm-up call per engine (untimed) also measures how long a step takes; a fast
    engine then makes several calls per round, so each round spends about `budget`
    seconds on it and its median rests on enough samples to be stable. With `calls`
    given, every engine makes exactly one warm-up call and `calls` calls per round
    instead, so engines that train as they are timed take the same steps in lockstep.
    """
    gc.collect()
    gc.freeze()
    try:
        per_round = {}
        for name, step in steps.items():
            warm = _timed_call(step)
            if calls is not None:
                per_round[name] = calls
                continue
            if warm < budget:  # a fast step: its first call may include one-off set-up
                warm = min(warm, _timed_call(step), _timed_call(step))
            per_round[name] = max(1, min(50, int(budget / max(warm, 1e-6))))
        timings = {name: Timing() for name in steps}
        for _ in range(rounds):
            for name, step in steps.items():
                timings[name].rounds.append([_timed_call(step) for _ in range(per_round[name])])
        return timings
    finally:
        gc.unfreeze()


def format_seconds(t: float) -> str:
    """3 significant figures in s, ms or us (chosen after rounding: 0.99996 s is 1.00 s)."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= 0.9995 * scale or unit == "us":
            return f"{three_figures(t / scale)} {unit}"
    raise AssertionError("unreachable")


def three_figures(x: float) -> str:
    decimals = 2 if x < 9.995 else 1 if x < 99.95 else 0
    return f"{x:.{decimals}f}"


# --- the table -------------------------------------------------------------------------------


@dataclass
class Row:
    benchmark: str
    measure: str
    ours: str = ""
    peer: str = ""
    ratio: str = ""
    target: str = ""
    status: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)

    def add(self, row: Row, summary: str | None = None) -> None:
        self.rows.append(row)
        if summary:
            self.summaries.append(summary)

    def skip(self, benchmark: str, measure: str, reason: str) -> None:
        self.add(
            Row(benchmark, measure, status=f"skipped: {reason}"), f"{measure}: skipped ({reason})"
        )

    def check_losses(self, what: str, a: float, b: float) -> bool:
        """Record (and print at once) whether two losses agree to LOSS_TOLERANCE."""
        difference = abs(a - b)
        ok = difference <= LOSS_TOLERANCE * max(1.0, abs(a))
        line = f"{what}: {a!r} vs {b!r}, |difference| {difference:.2e}"
        return self.record(f"{line} (tolerance {LOSS_TOLERANCE:g})", ok)

    def record(self, what: str, ok: bool) -> bool:
        """Record (and print at once) a correctness check that passed or failed."""
        self.checks.append((f"{what}: {'ok' if ok else 'FAILED'}", ok))
        print(f"  check {self.checks[-1][0]}", flush=True)
        return ok


def met_text(ok: bool) -> str:
    return "met" if ok else "NOT met"


def speed_row(
    report: Report,
    benchmark: str,
    measure: str,
    ours: Timing,
    peer_name: str,
    peer: Timing,
    target: float,
    target_text: str,
) -> None:
    """A time-per-step row: ratio = peer's median / ours (above 1 means ours is faster)."""
    ratio = peer.median / ours.median
    status = met_text(ratio >= target)
    report.add(
        Row(
            benchmark,
            measure,
            f"{format_seconds(ours.median)} ({ours.spread()})",
            f"{peer_name} {format_seconds(peer.median)} ({peer.spread()})",
            f"{three_figures(ratio)}x",
            target_text,
            status,
        ),
        f"{measure}: {three_figures(ratio)}x {peer_name}'s speed (target {target_text}): {status}",
    )


def print_table(report: Report, header: list[str], footer: list[str]) -> None:
    columns = ["benchmark", "measure", "tinygrad_scalar", "peer", "ratio", "target", "result"]
    lines = [list(columns)] + [
        [r.benchmark, r.measure, r.ours, r.peer, r.ratio, r.target, r.status] for r in report.rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]

    def markdown(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    print()
    for line in header:
        print(line)
    print()
    print(markdown(lines[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines[1:]:
        print(markdown(line))
    print()
    for line in footer:
        print(line)
    print()
    print("Targets:")
    for line in report.summaries:
        print(f"  {line}")
    if report.checks:
        print("Correctness checks:")
        for line, _ in report.checks:
            print(f"  {line}")


def machine_lines(args: argparse.Namespace) -> list[str]:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    versions = [f"Python {platform.python_version()}"]
    for name in ("numpy", "micrograd", "torch"):
        versions.append(f"{name} {_version_of(name)}")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    rounds = "quick" if args.quick else "full"
    return [
        f"Machine: {cores} cores (nproc), {platform.machine()}, {platform.system()}"
        f" {platform.release()}; load average {load} at start",
        f"Software: {', '.join(versions)} (PyTorch CPU, float64, run on 1 thread; NumPy's"
        " BLAS on 1 thread too)",
        f"Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')};"
        f" {rounds} run ({args.rounds} rounds)",
    ]


def _version_of(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


FOOTER = [
    "Times are the median seconds per step over alternated rounds, (min-max) in brackets.",
    "Every timed step includes dropping its graph and a gc.collect(), for every engine:",
    "micrograd's graphs are reference cycles that only the cyclic collector frees, and",
    "each engine pays for its own garbage (gc.collect() also runs, untimed, before each",
    "step; objects made before timing are gc.freeze()-d so a collection walks only the",
    "step's own). Ratio = peer time / our time, so above 1 means tinygrad_scalar is faster.",
    "Bytes per node: tracemalloc's traced memory of the live graph / nodes in it",
    "(parameters excluded).",
    "GPT rows: one step is forward, backward and one Adam update. Per token = the time of",
    "one step on a batch of B names / (B x the tokens each name predicts: its letters and",
    "the closing BOS); eager engines loop over the batch's names, compiled and PyTorch run",
    "the batch at once. Every engine takes the same steps from the same weights and every",
    "step's loss is checked against the reference's.",
]


# --- imports that may be missing -----------------------------------------------------------


def import_torch() -> Any:
    """torch on one thread, or None. The networks here are far too small to split across
    threads; a second thread only adds wake-up stalls (tens of ms) on a busy 2-core box,
    so one thread is PyTorch at its fastest on this job."""
    torch = import_or_none("torch")
    if torch is not None:
        torch.set_num_threads(1)
    return torch


def missing_module(*names: str) -> str | None:
    """'<module> not available' for the first module that cannot be imported, else None."""
    for name in names:
        if import_or_none(name) is None:
            return f"{name} not available"
    return None


def import_or_none(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def check_lockstep_losses(report: Report, what: str, losses: dict[str, list[float]]) -> None:
    """Every engine's loss at every step against the first engine's: one check per engine,
    on the step where the two differ most. Also prints each engine's first loss."""
    (reference, expected), *others = losses.items()
    firsts = ", ".join(f"{name} {values[0]!r}" for name, values in losses.items())
    print(f"  {what}, loss at step 1 (the same starting weights): {firsts}")
    for name, values in others:
        if len(values) != len(expected):
            report.record(
                f"{what}: {name} took {len(values)} steps, {reference} {len(expected)}", False
            )
            continue
        worst = max(range(len(values)), key=lambda i: abs(values[i] - expected[i]))
        report.check_losses(
            f"{what}, loss {name} vs {reference} (step {worst + 1} of {len(values)},"
            " the largest difference)",
            values[worst],
            expected[worst],
        )


def round_ratios(peer: Timing, ours: Timing) -> list[float]:
    """Per round: the peer's median time / ours (above 1 means ours is faster)."""
    return [
        statistics.median(theirs) / statistics.median(mine)
        for theirs, mine in zip(peer.rounds, ours.rounds)
    ]


def per_token(timing: Timing, tokens: int) -> Timing:
    """The timing of a batch step divided by the tokens the batch predicts."""
    return Timing([[t / tokens for t in samples] for samples in timing.rounds])
