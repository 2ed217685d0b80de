"""Row `binary` (issue 2): micrograd's moons demo step built from binary + * relu on both
engines; time per step, bytes per graph node, the deepest chain backward can handle."""

from __future__ import annotations

import argparse
import gc
import math
import tracemalloc
from typing import Any, Callable

import peers
from harness import (
    MOONS_LR,
    MOONS_SIZES,
    Report,
    Row,
    alternate,
    import_or_none,
    met_text,
    speed_row,
)

DEPTHS = [10**3, 10**4, 10**5, 10**6]


# --- row 1 (issue 2): the binary-op graph ------------------------------------------------------


def row_binary(report: Report, args: argparse.Namespace) -> None:
    bench = "issue 2: binary-op graph"
    micrograd = import_or_none("micrograd.engine")
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
                met_text(ours <= 200) if is_target else "",
            ),
            f"bytes per node after {stage}: {ours:.0f} (target <= 200): {met_text(ours <= 200)}"
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
            met_text(ours_depth >= 10**6),
        ),
        f"deepest chain: {_depth_text(ours_depth, depths)} (target 10^6):"
        f" {met_text(ours_depth >= 10**6)}",
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
