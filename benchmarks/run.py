"""`make bench`: tinygrad_scalar side by side with micrograd and PyTorch, in one process.

    .venv/bin/python benchmarks/run.py            # the full run (a few minutes at most)
    .venv/bin/python benchmarks/run.py --quick    # fewer rounds, a smoke test
    .venv/bin/python benchmarks/run.py --only binary

Rows (each a function below, named in ROWS):
  binary    issue 2: micrograd's moons demo step built from binary + * relu on both engines;
            time per step, bytes per graph node, deepest chain backward can handle
  api       issue 3: micrograd.nn.MLP's demo step vs ours through the public API
  compiled  issue 6: the same step through tinygrad_scalar.compile, vs micrograd and PyTorch
  spiral    issue 6: one epoch of spiral (2-64-64-3, 3,000 points, cross-entropy, Adam)
  gpt       issue 9: a microgpt training step (benchmarks/gpt.py: forward, backward, Adam)
            on one 5-letter name: the reference Value vs tinygrad_scalar.Value running
            the same operator-only gpt_loss, and vs gpt_loss_fast (sum/dot and nn pieces);
            the drop-in is judged on its worst round, not only on the median
  gpt-tokens  issue 11: the GPT step on a batch of names of equal length, per predicted
            token: reference, drop-in, sum/dot, compiled (tinygrad_scalar.compile with
            integer token inputs and take) and PyTorch float64 on the whole batch at once
  moons-loop, gpt-loop  issue 17 (benchmarks/loops.py): the loop a user writes, zero_grad,
            compiled step and optim.Adam, vs the same loop in PyTorch
  torch-moons, torch-gpt  issue 18 (benchmarks/torch_rows.py): compile(backend="torch")
            and to_torch() vs the NumPy compile and hand-written PyTorch (no CPU target)

How the timing is made fair:
  * All engines run in this one process, alternated round by round (ours, micrograd,
    torch, ours, ...), so a busy neighbour on the machine slows all of them alike; the
    median over the rounds is reported, with the min and max as the spread.
  * Garbage is charged to the engine that made it. micrograd's `_backward` closures refer
    to their own output node, so every graph it builds is a reference cycle that only the
    cyclic garbage collector frees. Left alone, that collection happens whenever the
    collector next runs, which in an alternating run is often in the middle of the NEXT
    engine's timed step. So every timed step is [build graph + backward + update + drop
    references + gc.collect()], for every engine, and gc.collect() also runs (untimed)
    before each step starts.
  * gc.freeze() after each row's setup moves the objects that exist before timing starts
    (imported modules, data, models) out of the collector's sight, so the gc.collect()
    inside a step costs what that step's own garbage costs, not a fixed toll for walking
    torch's module objects that every engine would pay alike.
  * Engines that train while they are timed (the GPT rows) make the same number of calls
    in every round, so they take the same Adam steps from the same initial weights; the
    loss of every step is compared across engines, not only the first.
  * Timings are never asserted: a target that is missed is printed as "NOT met". Wrong
    numbers are a different matter: if two engines disagree on a loss, the run says so
    and exits with status 1 after printing the table.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any, Callable

# NumPy's BLAS on one thread, as PyTorch (see _torch), set before NumPy loads: these
# products are far too small to split, and on a busy machine each wake-up of a BLAS worker
# thread can stall a step for milliseconds (it tripled the compiled GPT row's median).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import gpt  # noqa: E402 - after the thread settings above
import peers  # noqa: E402

if __name__ == "__main__":  # loops.py imports this module as `run`: let it find this copy
    sys.modules.setdefault("run", sys.modules[__name__])
import loops  # noqa: E402 - issue 17's rows, in a module of their own
import torch_rows  # noqa: E402 - issue 18's rows, in a module of their own

LOSS_TOLERANCE = 1e-9
MOONS_SIZES = [2, 16, 16, 1]
SPIRAL_SIZES = [2, 64, 64, 3]
MOONS_LR = 0.05  # small and fixed: every round repeats the same step on a slowly moving model
SPIRAL_LR = 1e-3
SPIRAL_BATCH = 100
DEPTHS = [10**3, 10**4, 10**5, 10**6]


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
        return f"{_seconds(min(self.samples))}-{_seconds(max(self.samples))}"


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


def _seconds(t: float) -> str:
    """3 significant figures in s, ms or us (chosen after rounding: 0.99996 s is 1.00 s)."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= 0.9995 * scale or unit == "us":
            return f"{_three_figures(t / scale)} {unit}"
    raise AssertionError("unreachable")


def _three_figures(x: float) -> str:
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


def _met(ok: bool) -> str:
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
    status = _met(ratio >= target)
    report.add(
        Row(
            benchmark,
            measure,
            f"{_seconds(ours.median)} ({ours.spread()})",
            f"{peer_name} {_seconds(peer.median)} ({peer.spread()})",
            f"{_three_figures(ratio)}x",
            target_text,
            status,
        ),
        f"{measure}: {_three_figures(ratio)}x {peer_name}'s speed (target {target_text}): {status}",
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


def _torch() -> Any:
    """torch on one thread, or None. The networks here are far too small to split across
    threads; a second thread only adds wake-up stalls (tens of ms) on a busy 2-core box,
    so one thread is PyTorch at its fastest on this job."""
    torch = _import("torch")
    if torch is not None:
        torch.set_num_threads(1)
    return torch


def _missing(*names: str) -> str | None:
    """'<module> not available' for the first module that cannot be imported, else None."""
    for name in names:
        if _import(name) is None:
            return f"{name} not available"
    return None


def _import(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# --- row 1 (issue 2): the binary-op graph ------------------------------------------------------


def row_binary(report: Report, args: argparse.Namespace) -> None:
    bench = "issue 2: binary-op graph"
    micrograd = _import("micrograd.engine")
    if micrograd is None:
        report.skip(bench, "moons demo step", "micrograd not installed")
        return
    import tinygrad_scalar as ts

    X, y = peers.moons(100)
    weights = peers.uniform_weights(MOONS_SIZES, seed=1)
    engines = {"ours": (ts.Value, 0.0), "micrograd": (micrograd.Value, 0)}
    models = {name: peers.BinaryMLP(cls, weights) for name, (cls, _) in engines.items()}

    def step_for(name: str) -> Callable[[], float]:
        value_cls, zero = engines[name]
        model = models[name]
        params = model.parameters()

        def step() -> float:
            loss = peers.demo_loss(value_cls, model, params, X, y)
            return peers.sgd_step(loss, params, MOONS_LR, zero)

        return step

    steps = {name: step_for(name) for name in engines}
    first = {name: step() for name, step in steps.items()}
    report.check_losses(
        "binary-op graph, first loss ours vs micrograd", first["ours"], first["micrograd"]
    )

    print("  timing the binary-op step ...", flush=True)
    timings = alternate(steps, args.rounds)
    speed_row(
        report, bench, "moons demo step (binary ops)", timings["ours"], "micrograd",
        timings["micrograd"], 7.0, ">= 7x",
    )  # fmt: skip

    memory = {name: graph_bytes(models[name], engines[name][0], X, y) for name in engines}
    # The target is the graph's own memory (after forward). After backward every node also
    # holds its gradient, a 24-byte float of its own; that figure is printed for information.
    for stage in ("forward", "backward"):
        ours, theirs = memory["ours"][stage], memory["micrograd"][stage]
        is_target = stage == "forward"
        report.add(
            Row(
                bench,
                f"bytes per node after {stage}",
                f"{ours:.0f} B",
                f"micrograd {theirs:.0f} B",
                f"{theirs / ours:.1f}x less",
                "<= 200 B" if is_target else "(information)",
                _met(ours <= 200) if is_target else "",
            ),
            f"bytes per node after {stage}: {ours:.0f} (target <= 200): {_met(ours <= 200)}"
            if is_target
            else f"bytes per node after backward: {ours:.0f} (the graph plus a float per .grad)",
        )
    nodes = memory["ours"]["nodes"]
    print(f"  graph: {nodes} nodes (ours), {memory['micrograd']['nodes']} (micrograd)")

    depths = args.depths
    ours_depth = deepest_chain(ts.Value, depths, "ours")
    theirs_depth = deepest_chain(micrograd.Value, depths, "micrograd")
    report.add(
        Row(
            bench,
            "deepest chain backward handles",
            _depth_text(ours_depth, depths),
            f"micrograd {_depth_text(theirs_depth, depths)}",
            "",
            ">= 10^6",
            _met(ours_depth >= 10**6),
        ),
        f"deepest chain: {_depth_text(ours_depth, depths)} (target 10^6):"
        f" {_met(ours_depth >= 10**6)}",
    )


def graph_bytes(model: Any, value_cls: type, X: list, y: list) -> dict[str, float]:
    """Traced memory of one live demo graph per node, after forward and after backward."""
    params = model.parameters()
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        loss = peers.demo_loss(value_cls, model, params, X, y)
        after_forward = tracemalloc.get_traced_memory()[0] - base
        loss.backward()
        after_backward = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    nodes = count_nodes(loss) - len(params)
    del loss
    gc.collect()
    return {
        "nodes": nodes,
        "forward": after_forward / nodes,
        "backward": after_backward / nodes,
    }


def count_nodes(root: Any) -> int:
    """Nodes reachable from root (ours keeps `parents`, micrograd `_prev`), without recursion."""
    seen = {id(root)}
    stack = [root]
    while stack:
        node = stack.pop()
        parents = node.parents if hasattr(node, "parents") else node._prev
        for parent in parents:
            if id(parent) not in seen:
                seen.add(id(parent))
                stack.append(parent)
    return len(seen)


def deepest_chain(value_cls: type, depths: list[int], name: str) -> int:
    """The longest chain y = y * c (n multiplies deep) whose backward works; 0 if none.

    Stops at the first depth that fails (micrograd's recursive topological sort raises
    RecursionError near Python's recursion limit of 1,000). A chain that runs must also
    give the right gradient, c**n.
    """
    deepest = 0
    c = 1.0000001
    for n in depths:
        x, factor = value_cls(1.0), value_cls(c)
        y = x
        for _ in range(n):
            y = y * factor
        try:
            y.backward()
        except RecursionError:
            print(f"  {name}: RecursionError at depth {n}")
            break
        finally:
            del y
        expected = c**n
        if abs(x.grad - expected) > 1e-9 * expected:
            print(f"  {name}: wrong gradient at depth {n}: {x.grad!r}, expected {expected!r}")
            break
        deepest = n
        print(f"  {name}: depth {n} ok", flush=True)
        del x, factor
        gc.collect()
    return deepest


def _depth_text(depth: int, depths: list[int]) -> str:
    if depth == 0:
        return f"< 10^{round(math.log10(depths[0]))} (fails at 10^{round(math.log10(depths[0]))})"
    return f"10^{round(math.log10(depth))}"


# --- row 2 (issue 3): the public API ---------------------------------------------------------


def micrograd_demo(seed: int = 1337) -> tuple[Any, Any]:
    """micrograd's own demo model, micrograd.nn.MLP(2, [16, 16, 1]), seeded as the demo."""
    import random

    from micrograd import engine, nn

    random.seed(seed)
    return engine, nn.MLP(2, [16, 16, 1])


def micrograd_demo_step(engine: Any, model: Any, X: list, y: list) -> Callable[[], float]:
    params = model.parameters()

    def step() -> float:
        loss = peers.demo_loss(engine.Value, model, params, X, y)
        return peers.sgd_step(loss, params, MOONS_LR, 0)

    return step


def ours_model_like(mg_model: Any) -> tuple[Any, Any] | None:
    """Our nn.MLP(2, [16, 16, 1]) with micrograd's weights copied in via parameters()."""
    nn = _import("tinygrad_scalar.nn")
    if nn is None:
        return None
    model = nn.MLP(2, [16, 16, 1], activation="relu", output="linear", init="uniform", seed=0)
    ours, theirs = model.parameters(), mg_model.parameters()
    if len(ours) != len(theirs):
        raise RuntimeError(f"parameter counts differ: ours {len(ours)}, micrograd {len(theirs)}")
    for p, q in zip(ours, theirs):
        p.data = float(q.data)
    return nn, model


def ours_api_step(model: Any, X: list, y: list) -> Callable[[], float]:
    """The demo step through our public API: nn.MLP, losses.hinge, sum, optim.SGD."""
    import tinygrad_scalar as ts
    from tinygrad_scalar import losses, optim

    params = model.parameters()
    optimizer = optim.SGD(params, lr=MOONS_LR)

    def step() -> float:
        scores = [model(x) for x in X]
        loss = losses.hinge(scores, y) + peers.L2_ALPHA * ts.sum(p * p for p in params)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.data

    return step


def row_api(report: Report, args: argparse.Namespace) -> None:
    bench = "issue 3: public API"
    measure = "moons demo step, nn.MLP"
    if _import("micrograd.nn") is None:
        report.skip(bench, measure, "micrograd not installed")
        return
    X, y = peers.moons(100)
    engine, mg_model = micrograd_demo()
    ours = ours_model_like(mg_model)
    if ours is None:
        report.skip(bench, measure, "tinygrad_scalar.nn not available")
        return
    _, model = ours
    steps = {
        "ours": ours_api_step(model, X, y),
        "micrograd": micrograd_demo_step(engine, mg_model, X, y),
    }
    first = {name: step() for name, step in steps.items()}
    report.check_losses(
        "public API, first loss ours vs micrograd", first["ours"], first["micrograd"]
    )
    print("  timing the public-API step ...", flush=True)
    timings = alternate(steps, args.rounds)
    speed_row(
        report, bench, measure, timings["ours"], "micrograd", timings["micrograd"], 45.0, ">= 45x"
    )


# --- row 3 (issue 6): compiled ---------------------------------------------------------------


def ours_compiled_step(model: Any, X: list, y: list) -> Callable[[], float]:
    """The demo step with the data loss compiled; the L2 term stays eager."""
    import numpy as np

    import tinygrad_scalar as ts
    from tinygrad_scalar import losses, optim
    from tinygrad_scalar.compiler import compile as compile_step

    params = model.parameters()
    optimizer = optim.SGD(params, lr=MOONS_LR)
    step_data = compile_step(
        lambda x, label: losses.hinge([model(x)], [label]), params, (X[0], y[0])
    )
    X_array, y_array = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def step() -> float:
        optimizer.zero_grad()
        reg_loss = peers.L2_ALPHA * ts.dot(params, params)
        reg_loss.backward()
        data_loss = step_data(X_array, y_array)  # adds the data loss's gradient into .grad
        optimizer.step()
        return data_loss + reg_loss.data

    return step


def torch_step(torch: Any, mg_model: Any, X: list, y: list) -> Callable[[], float]:
    net = peers.torch_mlp(torch, peers.weights_from_params(mg_model.parameters(), MOONS_SIZES))
    X_tensor = torch.tensor(X, dtype=torch.float64)
    y_tensor = torch.tensor(y, dtype=torch.float64)
    return lambda: peers.torch_moons_step(torch, net, X_tensor, y_tensor, MOONS_LR)


def row_compiled(report: Report, args: argparse.Namespace) -> None:
    bench = "issue 6: compiled"
    if _import("micrograd.nn") is None:
        report.skip(bench, "moons demo step, compiled", "micrograd not installed")
        return
    missing = _missing("tinygrad_scalar.nn", "tinygrad_scalar.compiler")
    if missing:
        report.skip(bench, "moons demo step, compiled", missing)
        return
    X, y = peers.moons(100)
    engine, mg_model = micrograd_demo()
    _, model = ours_model_like(mg_model)
    _, eager_model = ours_model_like(mg_model)
    torch = _torch()

    steps = {"ours": ours_compiled_step(model, X, y)}
    steps["micrograd"] = micrograd_demo_step(engine, mg_model, X, y)
    if torch is not None:
        steps["torch"] = torch_step(torch, mg_model, X, y)  # before any step changes weights
    first = {name: step() for name, step in steps.items()}
    eager_first = ours_api_step(eager_model, X, y)()
    report.check_losses("compiled, first loss compiled vs eager", first["ours"], eager_first)
    report.check_losses(
        "compiled, first loss compiled vs micrograd", first["ours"], first["micrograd"]
    )
    if torch is not None:
        report.check_losses("compiled, first loss compiled vs torch", first["ours"], first["torch"])

    print("  timing the compiled step ...", flush=True)
    timings = alternate(steps, args.rounds)
    speed_row(
        report, bench, "moons demo step, compiled", timings["ours"], "micrograd",
        timings["micrograd"], 300.0, ">= 300x",
    )  # fmt: skip
    if torch is None:
        report.skip(bench, "moons demo step vs PyTorch", "torch not installed")
        return
    speed_row(
        report, bench, "moons demo step vs PyTorch", timings["ours"], "torch",
        timings["torch"], 1.0, ">= 1.0x (at or below its time)",
    )  # fmt: skip


# --- row 4 (issue 6): spiral epoch -------------------------------------------------------------


def ours_spiral_epoch(model: Any, X: list, labels: list[int]) -> tuple[Callable, float, Callable]:
    """(one epoch of compiled Adam steps, seconds the tracing took, first-batch eager loss)."""
    import numpy as np

    import tinygrad_scalar as ts
    from tinygrad_scalar import losses, optim
    from tinygrad_scalar.compiler import compile as compile_step

    classes = SPIRAL_SIZES[-1]
    params = model.parameters()
    optimizer = optim.Adam(params, lr=SPIRAL_LR)
    one_hot = np.eye(classes)[labels]  # a class enters the trace as numbers, not an index

    def sample_loss(x: list, target: list) -> Any:
        log_probs = losses.log_softmax(model(x))
        return -ts.sum(t * lp for t, lp in zip(target, log_probs))

    start = time.perf_counter()
    step = compile_step(sample_loss, params, (X[0], list(one_hot[0])))
    trace_seconds = time.perf_counter() - start
    X_array = np.asarray(X, dtype=np.float64)
    batches = [
        (X_array[i : i + SPIRAL_BATCH], one_hot[i : i + SPIRAL_BATCH])
        for i in range(0, len(X), SPIRAL_BATCH)
    ]

    def epoch() -> float:
        total = 0.0
        for xb, tb in batches:
            optimizer.zero_grad()
            total += step(xb, tb)
            optimizer.step()
        return total / len(batches)

    def eager_first_loss() -> float:
        outputs = [model(x) for x in X[:SPIRAL_BATCH]]
        return losses.cross_entropy(outputs, labels[:SPIRAL_BATCH]).data

    return epoch, trace_seconds, (eager_first_loss, lambda: step.evaluate(*batches[0]))


def torch_spiral_epoch(
    torch: Any, model: Any, X: list, labels: list[int]
) -> tuple[Callable, Callable]:
    net = peers.torch_mlp(torch, peers.weights_from_params(model.parameters(), SPIRAL_SIZES))
    optimizer = torch.optim.Adam(net.parameters(), lr=SPIRAL_LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    X_tensor = torch.tensor(X, dtype=torch.float64)
    y_tensor = torch.tensor(labels, dtype=torch.long)
    batches = [
        (X_tensor[i : i + SPIRAL_BATCH], y_tensor[i : i + SPIRAL_BATCH])
        for i in range(0, len(X), SPIRAL_BATCH)
    ]

    def epoch() -> float:
        total = 0.0
        for xb, yb in batches:
            optimizer.zero_grad()
            loss = loss_fn(net(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item()
        return total / len(batches)

    def first_loss() -> float:
        with torch.no_grad():
            return loss_fn(net(batches[0][0]), batches[0][1]).item()

    return epoch, first_loss


def row_spiral(report: Report, args: argparse.Namespace) -> None:
    bench = "issue 6: compiled"
    measure = "spiral epoch (3,000 pts, batch 100, Adam)"
    missing = _missing("tinygrad_scalar.nn", "tinygrad_scalar.compiler")
    if missing:
        report.skip(bench, measure, missing)
        return
    nn = _import("tinygrad_scalar.nn")
    X, labels = peers.spiral(3000)
    model = nn.MLP(2, SPIRAL_SIZES[1:], activation="relu", output="linear", seed=0)
    epoch, trace_seconds, (eager_first, compiled_first) = ours_spiral_epoch(model, X, labels)
    print(f"  tracing the spiral model took {_seconds(trace_seconds)}")
    steps: dict[str, Callable] = {"ours": epoch}
    eager = eager_first()
    report.check_losses("spiral, first-batch loss compiled vs eager", compiled_first(), eager)
    torch = _torch()
    if torch is not None:  # built before any epoch changes our weights
        steps["torch"], torch_first = torch_spiral_epoch(torch, model, X, labels)
        report.check_losses("spiral, first-batch loss eager vs torch", eager, torch_first())

    print("  timing the spiral epoch ...", flush=True)
    timings = alternate(steps, max(2, args.rounds // 2), budget=0.0)
    ours = timings["ours"]
    ok = ours.median < 1.0
    if "torch" in timings:
        ratio = f"{_three_figures(timings['torch'].median / ours.median)}x"
        peer = f"torch {_seconds(timings['torch'].median)} ({timings['torch'].spread()})"
    else:
        ratio, peer = "", "torch not installed"
    report.add(
        Row(
            bench,
            measure,
            f"{_seconds(ours.median)} ({ours.spread()})",
            peer,
            ratio,
            "< 1 s",
            _met(ok),
        ),
        f"spiral epoch: {_seconds(ours.median)} (target < 1 s): {_met(ok)}"
        + (f"; torch/ours {ratio}" if ratio else ""),
    )
    report.add(Row(bench, "spiral: tracing once (not in the epoch)", _seconds(trace_seconds)))


# --- rows 5 and 6 (issues 9 and 11): a microgpt training step ---------------------------------

GPT_NAME_LETTERS = 5  # every document is a 5-letter name: BOS + 5 letters + BOS, 6 predictions
GPT_STEP_DOCS = 3  # the gpt row trains on these names in turn, one Adam step per name
GPT_BATCH = 16  # names in one batch of the per-token rows
GPT_QUICK_BATCH = 4
GPT_WEIGHT_SEED = 1
# The learning rate decays linearly over this many steps; far more than a run takes, so
# every step of the bench trains at close to the starting rate.
GPT_SCHEDULE_STEPS = 1000


def gpt_workload(count: int) -> tuple[list[list[int]], Any]:
    """The first `count` names of GPT_NAME_LETTERS letters in training order, as tokens,
    and the initial weights every engine starts from."""
    docs = gpt.training_docs(seed=0)
    tokenizer = gpt.Tokenizer(docs)
    names = [tokenizer.encode(doc) for doc in docs if len(doc) == GPT_NAME_LETTERS][:count]
    return names, gpt.init_weights(tokenizer.vocab_size, seed=GPT_WEIGHT_SEED)


def gpt_eager_trainer(
    loss_of: Callable[[Any, Any], Any],
    params: Any,
    inputs: Callable[[int], Any],
    train_step: Callable[..., float] = gpt.train_step,
) -> tuple[Callable[[], float], list[float]]:
    """(a step that trains `params` by one Adam step on `inputs(k)` at its k-th call, the
    list of losses its calls returned). `train_step` is gpt.train_step (one document) or
    gpt.batch_train_step. Engines called equally often stay in lockstep."""
    state = gpt.AdamState.zeros(len(gpt.flat_params(params)))
    losses: list[float] = []

    def step() -> float:
        k = len(losses)
        losses.append(train_step(loss_of, params, state, inputs(k), k, GPT_SCHEDULE_STEPS))
        return losses[-1]

    return step, losses


def gpt_scalar_versions() -> dict[str, tuple[type, Callable[[Any, Any], Any]]]:
    """The scalar engines of the GPT rows: (Value class, loss of (params, tokens))."""
    import functools

    import tinygrad_scalar as ts

    return {
        "reference": (gpt.RefValue, functools.partial(gpt.gpt_loss, gpt.RefValue)),
        "drop-in": (ts.Value, functools.partial(gpt.gpt_loss, ts.Value)),
        "sum/dot": (ts.Value, gpt.gpt_loss_fast),
    }


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


def row_gpt(report: Report, args: argparse.Namespace) -> None:
    bench = "issue 9: GPT step"
    missing = _missing("tinygrad_scalar.nn", "tinygrad_scalar.losses")
    if missing:
        report.skip(bench, "GPT training step", missing)
        return
    names, weights = gpt_workload(GPT_STEP_DOCS)
    steps, losses = {}, {}
    for engine, (value_cls, loss_of) in gpt_scalar_versions().items():
        params = gpt.build_params(value_cls, weights)
        steps[engine], losses[engine] = gpt_eager_trainer(
            loss_of, params, lambda k: names[k % len(names)]
        )
    print(
        f"  timing the GPT step (one {GPT_NAME_LETTERS}-letter name per step, forward,"
        f" backward, Adam; {len(names)} steps per round) ...",
        flush=True,
    )
    timings = alternate(steps, args.rounds, calls=len(names))
    check_lockstep_losses(report, "GPT step", losses)
    reference = timings["reference"]
    # The drop-in must never be slower than the reference: judged on its worst round.
    # The sum/dot version is judged, like the other rows, on the median.
    for engine, measure, target, every_round, aim in (
        ("drop-in", "GPT step, drop-in Value (same gpt_loss)", 1.0, True, 1.2),
        ("sum/dot", "GPT step, sum/dot (gpt_loss_fast)", 8.0, False, None),
    ):
        ours = timings[engine]
        ratios = round_ratios(reference, ours)
        median_ratio, worst = statistics.median(ratios), min(ratios)
        if every_round:
            target_text = f">= {target:.1f}x every round (aim {aim:g}x)"
            status = f"{_met(worst >= target)}; aim {_met(median_ratio >= aim)}"
            judged = "judged on the min per round"
        else:
            target_text = f">= {target:g}x"
            status, judged = _met(median_ratio >= target), "judged on the median"
        spread = f"{_three_figures(worst)}-{_three_figures(max(ratios))}x"
        report.add(
            Row(
                bench,
                measure,
                f"{_seconds(ours.median)} ({ours.spread()})",
                f"reference {_seconds(reference.median)} ({reference.spread()})",
                f"{_three_figures(median_ratio)}x (rounds {spread})",
                target_text,
                status,
            ),
            f"{measure}: {_three_figures(median_ratio)}x the reference's speed, median of"
            f" {len(ratios)} rounds; min per round {_three_figures(worst)}x (target"
            f" {target_text}, {judged}): {status}",
        )


def per_token(timing: Timing, tokens: int) -> Timing:
    """The timing of a batch step divided by the tokens the batch predicts."""
    return Timing([[t / tokens for t in samples] for samples in timing.rounds])


def gpt_compiled_trainer(
    params: Any, names: list[list[int]]
) -> tuple[Callable[[], float], list[float], float] | str:
    """(a compiled batch step, its losses, seconds the tracing took), or why there is none."""
    import numpy as np

    import tinygrad_scalar as ts

    if not hasattr(ts, "take"):
        return "tinygrad_scalar.take not available yet"
    flat = gpt.flat_params(params)
    start = time.perf_counter()
    try:
        step_batch = ts.compile(
            lambda *tokens: gpt.gpt_loss_fast(params, tokens), flat, tuple(names[0])
        )
    except Exception as error:  # noqa: BLE001 - the row says why instead of stopping the run
        return f"compile failed: {type(error).__name__}: {error}"
    trace_seconds = time.perf_counter() - start
    columns = np.array(names).T  # one 1-D integer batch per token position
    state = gpt.AdamState.zeros(len(flat))
    losses: list[float] = []

    def step() -> float:
        k = len(losses)
        losses.append(step_batch(*columns))  # the mean loss; its gradient added into .grad
        gpt.adam_step(flat, state, k, GPT_SCHEDULE_STEPS)
        return losses[-1]

    return step, losses, trace_seconds


def gpt_torch_trainer(torch: Any, weights: Any, names: list[list[int]]) -> tuple[Callable, list]:
    model = gpt.torch_gpt(weights)
    optimizer = gpt.torch_adam(model)
    batch = torch.tensor(names)
    losses: list[float] = []

    def step() -> float:
        k = len(losses)
        losses.append(gpt.torch_train_step(model, optimizer, batch, k, GPT_SCHEDULE_STEPS))
        return losses[-1]

    return step, losses


def row_gpt_tokens(report: Report, args: argparse.Namespace) -> None:
    bench = "issue 11: GPT per token"
    missing = _missing("tinygrad_scalar.nn", "tinygrad_scalar.losses")
    if missing:
        report.skip(bench, "GPT step per token", missing)
        return
    import tinygrad_scalar as ts

    names, weights = gpt_workload(GPT_QUICK_BATCH if args.quick else GPT_BATCH)
    tokens = len(names) * min(gpt.BLOCK_SIZE, len(names[0]) - 1)
    steps, losses = {}, {}
    for engine, (value_cls, loss_of) in gpt_scalar_versions().items():
        params = gpt.build_params(value_cls, weights)
        steps[engine], losses[engine] = gpt_eager_trainer(
            loss_of, params, lambda k: names, gpt.batch_train_step
        )
    compiled = gpt_compiled_trainer(gpt.build_params(ts.Value, weights), names)
    if isinstance(compiled, str):
        compiled_skipped = compiled
    else:
        compiled_skipped = None
        steps["compiled"], losses["compiled"], trace_seconds = compiled
        print(f"  tracing the GPT step for one batch shape took {_seconds(trace_seconds)}")
    torch = _torch()
    if torch is not None:
        steps["torch"], losses["torch"] = gpt_torch_trainer(torch, weights, names)
    print(
        f"  timing GPT batch steps ({len(names)} names of {GPT_NAME_LETTERS} letters,"
        f" {tokens} predicted tokens per batch) ...",
        flush=True,
    )
    timings = alternate(steps, max(2, args.rounds // 2), budget=0.0)
    check_lockstep_losses(report, "GPT batch step", losses)

    times = {engine: per_token(timing, tokens) for engine, timing in timings.items()}
    reference = times["reference"]
    shape = f"{len(names)} x {tokens // len(names)} tokens"
    report.add(
        Row(
            bench,
            f"per token ({shape}): reference Value",
            "",
            f"reference {_seconds(reference.median)} ({reference.spread()})",
            "",
            "(information)",
        )
    )
    for engine, what in (("drop-in", "drop-in Value"), ("sum/dot", "sum/dot")):
        ours = times[engine]
        report.add(
            Row(
                bench,
                f"per token: {what}",
                f"{_seconds(ours.median)} ({ours.spread()})",
                f"reference {_seconds(reference.median)}",
                f"{_three_figures(reference.median / ours.median)}x",
                "(information)",
            )
        )
    if compiled_skipped:
        report.skip(bench, "per token: compiled", compiled_skipped)
    else:
        speed_row(
            report, bench, "per token: compiled vs sum/dot", times["compiled"], "sum/dot",
            times["sum/dot"], 20.0, ">= 20x",
        )  # fmt: skip
    if torch is None:
        report.skip(bench, "per token: PyTorch", "torch not installed")
    elif compiled_skipped:
        theirs = times["torch"]
        report.add(
            Row(
                bench,
                "per token: PyTorch float64",
                "",
                f"torch {_seconds(theirs.median)} ({theirs.spread()})",
                "",
                "(information)",
            )
        )
    else:
        ours, theirs = times["compiled"], times["torch"]
        ratio = f"{_three_figures(theirs.median / ours.median)}x"
        report.add(
            Row(
                bench,
                "per token: compiled vs PyTorch",
                f"{_seconds(ours.median)} ({ours.spread()})",
                f"torch {_seconds(theirs.median)} ({theirs.spread()})",
                ratio,
                "(reported)",
            ),
            f"GPT per token, compiled: {ratio} PyTorch's speed (reported, no target)",
        )
    if not compiled_skipped:
        report.add(Row(bench, "GPT: tracing one batch shape (not timed)", _seconds(trace_seconds)))


ROWS: dict[str, Callable[[Report, argparse.Namespace], None]] = {
    "binary": row_binary,
    "api": row_api,
    "compiled": row_compiled,
    "spiral": row_spiral,
    "gpt": row_gpt,
    "gpt-tokens": row_gpt_tokens,
    "moons-loop": loops.row_moons_loop,
    "gpt-loop": loops.row_gpt_loop,
    "torch-moons": torch_rows.row_torch_moons,
    "torch-gpt": torch_rows.row_torch_gpt,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke test")
    parser.add_argument("--only", choices=sorted(ROWS), help="run one row")
    args = parser.parse_args(argv)
    args.rounds = 2 if args.quick else 7
    args.depths = DEPTHS
    header = machine_lines(args)
    for line in header:
        print(line)
    report = Report()
    for name, row in ROWS.items():
        if args.only and name != args.only:
            continue
        print(f"[{name}]", flush=True)
        row(report, args)
    print_table(report, header, FOOTER)
    failed = [line for line, ok in report.checks if not ok]
    if failed:
        print(f"{len(failed)} correctness check(s) FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
