"""`make bench`: tinygrad_scalar side by side with micrograd and PyTorch, in one process.

    .venv/bin/python benchmarks/run.py            # the full run (a few minutes at most)
    .venv/bin/python benchmarks/run.py --quick    # fewer rounds, a smoke test
    .venv/bin/python benchmarks/run.py --only binary

Rows (each in a module of its own, row_*.py, loops.py, torch_rows.py; named in ROWS):
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
import os
import sys
from typing import Callable

# NumPy's BLAS on one thread, as PyTorch (see import_torch), set before NumPy loads: these
# products are far too small to split, and on a busy machine each wake-up of a BLAS worker
# thread can stall a step for milliseconds (it tripled the compiled GPT row's median).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import loops  # noqa: E402 - issue 17's rows, in a module of their own
import row_api  # noqa: E402 - after the thread settings above: the rows import NumPy
import row_binary  # noqa: E402
import row_compiled  # noqa: E402
import row_gpt  # noqa: E402
import row_spiral  # noqa: E402
import torch_rows  # noqa: E402 - issue 18's rows, in a module of their own
from harness import FOOTER, Report, machine_lines, print_table  # noqa: E402

ROWS: dict[str, Callable[[Report, argparse.Namespace], None]] = {
    "binary": row_binary.row_binary,
    "api": row_api.row_api,
    "compiled": row_compiled.row_compiled,
    "spiral": row_spiral.row_spiral,
    "gpt": row_gpt.row_gpt,
    "gpt-tokens": row_gpt.row_gpt_tokens,
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
    args.depths = row_binary.DEPTHS
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
