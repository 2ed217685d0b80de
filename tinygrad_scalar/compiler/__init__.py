"""Compile a per-sample scalar graph into vectorized NumPy: trace once, replay over a batch.

`compile(fn, params, example)` calls `fn` once on placeholder Values and records the graph
behind the loss. Nodes of one rule at one depth form a group that runs as one NumPy call
on a `(rows, batch)` buffer, evaluating the rule's own forward and derivatives from
rules.py on the `arrays` backend (groups.py), so compiled and eager numbers come from the same
definitions. A layer of `dot` nodes with leaf weights runs as one matrix product, and the
same layer on several sets of inputs (a transformer's positions) as one product over all
of them; `sum` and `dot` keep that matrix layout (layout, not another copy of a
derivative), and small sums, dots and max_shifts of different widths at one depth share a
group, padded with inputs that change nothing (plan.py). An int example makes an integer
input: `take(rows, i)` with it gathers each sample's own row.

While `fn` is traced, nothing computed from the inputs may leave the graph as the
example's number: a Python branch or read (`if x > 0`, `float(x)`, `rows[x]`, `x.data`,
`f"{x:.3f}"`) raises TracerError naming the remedy; `detach()`, `no_grad()` and
`gradients()` are traced as per-sample values (trace.py). The checks losses make on labels
(`engine.require`) are recorded and made on every batch. A leaf that is neither a
parameter nor a placeholder is a constant (its value at trace time).

The step differentiates the loss once (first order; a `gradients(..., create_graph=True)`
inside `fn` is part of the graph, so it is differentiated too). Sums add left to right as
eager's; a matrix product adds in BLAS's order where no partial sum can overflow (so
equal to rounding) and left to right, as eager, where one might (groups.py).

`backend="torch"` replays the same plan on torch tensors (torch_backend.py), and
`to_torch` / `step.to_torch()` make it a `torch.nn.Module` for torch's optimizers, GPUs
and DistributedDataParallel.
"""

from .groups import arrays
from .step import CompiledByShape, CompiledStep, compile, compile_by_shape, to_torch
from .trace import INDEX, TracedValue, TracerError

__all__ = [
    "INDEX",
    "CompiledByShape",
    "CompiledStep",
    "TracedValue",
    "TracerError",
    "arrays",
    "compile",
    "compile_by_shape",
    "to_torch",
]
