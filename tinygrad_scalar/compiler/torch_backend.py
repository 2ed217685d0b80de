"""The torch backend: a compiled step's plan replayed on torch tensors, driven by torch's autograd.

`compile(fn, params, example, backend="torch")` traces and plans exactly as the NumPy step
does (trace.py, plan.py); this module then runs the plan's groups on torch tensors. Each
elementwise group applies its rule through one `torch.autograd.Function` whose forward is
the rule's `forward` and whose backward is the rule's `derivatives`, both from rules.py and
evaluated on `tensors`, the torch backend `o`. So no op's derivative is written here, and
a user's own `Rule` runs on torch with no extra code. `sum` and `dot` keep their matrix
layout, as in groups.py: sums add left to right (as eager), a per-sample dot multiplies
through MUL's rule, and a layer of dots with leaf weights is one matrix product whose
backward is DOT's local derivatives (x for w, w for x) in matrix layout, in eager's order
where a partial sum could overflow. So the torch step gives the NumPy step's and eager's
numbers, inf and nan included.

Because torch's autograd engine drives the backward pass, the same replay is also a
`torch.nn.Module` (`step.to_torch()`, `to_torch(fn, params, example)`): its parameters
are the traced parameters (one vector, or with `per_value=True` one 0-dim Parameter per
Value), so torch's optimizers, `DistributedDataParallel` and GPUs take it from there.

torch is imported only here, and only when this backend is asked for; it is never a
dependency of the package.
"""

from __future__ import annotations

import bisect
import functools
import math
import weakref
from typing import Any, Iterable, Sequence

import numpy as np

from .. import rules
from ..engine import Value
from ..nn.torch_bridge import import_torch
from .groups import (
    OVERFLOW_SAFE,
    DotGroup,
    ElementwiseGroup,
    LayerGroup,
    Positions,
    SumGroup,
    may_overflow,
)
from .step import CompiledByShape, CompiledStep
from .trace import batch_rule_error

# --- the torch backend `o`: the functions a rule may call, on tensors ------------------------


class tensors:  # noqa: N801 - the torch backend `o`, like rules.floats and compiler.arrays
    """The float backend's functions on torch tensors of one dtype and device.

    A call whose arguments are all plain numbers is the float backend's own (a rule's
    constant, such as `o.eq(c, 0.0)` for a parameter c); otherwise plain numbers become
    tensors of the backend's dtype, so `where(cond, 1.0, 0.0)` is float64, not torch's
    default float32.
    """

    def __init__(self, torch: Any, dtype: Any, device: Any) -> None:
        self.torch, self.dtype, self.device = torch, dtype, device
        self._constants: dict[tuple[float, float], Any] = {}

    def tensor(self, x: Any) -> Any:
        """x as a tensor of this backend (a tensor is returned as it is)."""
        if isinstance(x, self.torch.Tensor):
            return x
        if isinstance(x, bool):
            return self.torch.tensor(x, device=self.device)
        x = float(x)
        key = (x, math.copysign(1.0, x))  # 0.0 and -0.0 are two constants
        constant = self._constants.get(key)
        if constant is None:
            constant = self.torch.tensor(x, dtype=self.dtype, device=self.device)
            if x == x and len(self._constants) < 1024:
                self._constants[key] = constant
        return constant

    def _any_tensor(self, *xs: Any) -> bool:
        return any(isinstance(x, self.torch.Tensor) for x in xs)

    def div(self, a: Any, b: Any) -> Any:
        if not self._any_tensor(a, b):
            return rules.floats.div(a, b)
        return self.torch.div(self.tensor(a), self.tensor(b))

    def power(self, a: Any, b: Any) -> Any:
        # a tensor exponent, never a Python float: torch computes x ** 0.5 as sqrt(x) and
        # x ** -0.5 as rsqrt(x), which differ from C's pow at -0 and -inf
        if not self._any_tensor(a, b):
            return rules.floats.power(a, b)
        return self.torch.pow(self.tensor(a), self.tensor(b))

    def exp(self, x: Any) -> Any:
        return self.torch.exp(x) if self._any_tensor(x) else rules.floats.exp(x)

    def log(self, x: Any) -> Any:
        return self.torch.log(x) if self._any_tensor(x) else rules.floats.log(x)

    def log1p(self, x: Any) -> Any:
        if not self._any_tensor(x):
            return rules.floats.log1p(x)
        # torch's log1p flushes subnormal inputs to 0; log1p(x) rounds to x itself for any
        # |x| below 1e-300 (x - x**2 / 2 is x to the last bit)
        return self.torch.where(self.torch.abs(x) < 1e-300, x, self.torch.log1p(x))

    def sqrt(self, x: Any) -> Any:
        return self.torch.sqrt(x) if self._any_tensor(x) else rules.floats.sqrt(x)

    def tanh(self, x: Any) -> Any:
        return self.torch.tanh(x) if self._any_tensor(x) else rules.floats.tanh(x)

    def sin(self, x: Any) -> Any:
        return self.torch.sin(x) if self._any_tensor(x) else rules.floats.sin(x)

    def cos(self, x: Any) -> Any:
        return self.torch.cos(x) if self._any_tensor(x) else rules.floats.cos(x)

    def abs(self, x: Any) -> Any:
        return self.torch.abs(x) if self._any_tensor(x) else rules.floats.abs(x)

    def sigmoid(self, x: Any) -> Any:
        if not self._any_tensor(x):
            return rules.floats.sigmoid(x)
        # as floats.sigmoid: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below, so exp never
        # overflows; e^-|x| is exactly the exponential each branch needs
        e = self.torch.exp(-self.torch.abs(x))
        return self.torch.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        if not self._any_tensor(cond):
            return a if cond else b
        return self.torch.where(cond, self.tensor(a), self.tensor(b))

    def maximum(self, a: Any, b: Any) -> Any:
        # the float backend's definition: nan if either is nan, b when they are equal
        # (torch.maximum(-0.0, 0.0) is -0.0, floats' and NumPy's 0.0)
        if not self._any_tensor(a, b):
            return rules.floats.maximum(a, b)
        a, b = self.tensor(a), self.tensor(b)
        return self.torch.where((a > b) | self.torch.isnan(a), a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        if not self._any_tensor(a, b):
            return rules.floats.minimum(a, b)
        a, b = self.tensor(a), self.tensor(b)
        return self.torch.where((a < b) | self.torch.isnan(a), a, b)

    def eq(self, a: Any, b: Any) -> Any:
        if not self._any_tensor(a, b):
            return a == b
        return self.torch.eq(self.tensor(a), self.tensor(b))

    def logical_not(self, cond: Any) -> Any:
        if not self._any_tensor(cond):
            return rules.floats.logical_not(cond)
        return self.torch.logical_not(cond)

    def select(self, index: Any, xs: Sequence[Any]) -> Any:
        # each sample (and node) picks its own input: a gather along a new first axis. An
        # index out of range is reported by take's batch check once forward is done.
        torch = self.torch
        stacked = torch.stack(torch.broadcast_tensors(*map(self.tensor, xs)))
        picks = torch.clamp(self.tensor(index), 0, len(xs) - 1).long()
        picks = torch.broadcast_to(picks, stacked.shape[1:])[None]
        return torch.gather(stacked, 0, picks)[0]


# --- one autograd.Function for every rule ------------------------------------------------------


def _times(o: tensors, local: Any, grad: Any, grad_is_finite: bool) -> Any:
    """rules.chain_term: local * grad, except that a local derivative of exactly 0 adds
    exactly 0, even to an inf or nan gradient; None where it is a constant 0."""
    if not isinstance(local, o.torch.Tensor):
        return None if local == 0.0 else local * grad
    if grad_is_finite:  # 0 * a finite gradient is 0 already
        return local * grad
    return rules.chain_term(o, local, grad)


@functools.cache
def _rule_function(torch: Any) -> Any:
    """The autograd.Function that applies a rule: forward and backward from rules.py."""

    class RuleFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, rule: rules.Rule, o: tensors, *inputs: Any) -> Any:
            shape = inputs[0].shape  # every input is (nodes, batch); broadcast just in case
            if any(x.shape != shape for x in inputs):
                shape = torch.broadcast_shapes(*(x.shape for x in inputs))
            try:
                out = rule.evaluate(o, inputs)
            except (RuntimeError, TypeError, ValueError) as error:
                raise batch_rule_error(rule.name, error) from None
            out = o.tensor(out)
            if out.shape != shape or any(out is x for x in inputs):
                out = torch.broadcast_to(out, shape).clone()  # a new tensor of the full shape
            ctx.rule, ctx.o = rule, o
            ctx.save_for_backward(out, *inputs)
            return out

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            out, *inputs = ctx.saved_tensors
            try:
                local_grads = ctx.rule.local_derivatives(ctx.o, out, inputs)
            except (RuntimeError, TypeError, ValueError) as error:
                raise batch_rule_error(ctx.rule.name, error) from None
            needed = ctx.needs_input_grad[2:]
            finite = bool(torch.isfinite(grad).all())
            parent_grads = [
                _times(ctx.o, local, grad, finite) if need else None
                for local, need in zip(local_grads, needed)
            ]
            return (None, None, *parent_grads)

    return RuleFunction


# --- sums in eager's order, and the layer's matrix product ------------------------------------
# As groups.py on NumPy: sums and per-sample dots add left to right, as the engine does, so a
# sample's inf or nan never depends on the batch; a layer keeps the matrix product where no
# partial sum can overflow and adds in eager's order where one might.


def _left_to_right(torch: Any, terms: Any, dim: int) -> Any:
    """0.0 + terms[0] + terms[1] + ... along `dim`, in that order: torch's cumsum on the
    CPU adds one term after the other (a plain sum adds pairwise)."""
    if terms.shape[dim] == 0:
        return terms.sum(dim=dim)
    return torch.cumsum(terms, dim=dim).select(dim, -1) + 0.0


def _largest(x: Any) -> float:
    """The largest absolute value in x (nan if it holds a nan, 0 if it is empty)."""
    return float(x.abs().max()) if x.numel() else 0.0


def _masked_product(torch: Any, local: Any, grad: Any) -> Any:
    """rules.chain_term on tensors: local * grad, a zero local derivative giving exactly 0
    even against inf or nan. Where every product is finite that is the product itself."""
    product = local * grad
    if bool(torch.isfinite(product).all()):
        return product
    return rules.chain_term(tensors(torch, product.dtype, product.device), local, grad)


@functools.cache
def _layer_function(torch: Any) -> Any:
    """W @ X (+ bias): k dot nodes with leaf weights over the same n inputs, for a batch."""

    class LayerFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, w: Any, x: Any, bias: Any, bias_is_leaf: bool) -> Any:
            k, n = w.shape
            if bias is not None and bias_is_leaf:
                bias = bias[:, None]
            out = w @ x + 0.0  # as eager's sum from 0.0: never -0.0
            if bias is not None:
                out = out + bias
            sizes = _largest(w), _largest(x)
            bound = sizes[0] * n * sizes[1] + (0.0 if bias is None else _largest(bias))
            if may_overflow(bound):  # eager's order for the samples where it could matter
                x_bound = x.abs().amax(dim=0) * w.abs().sum(dim=1).max()
                if bias is not None:
                    x_bound = x_bound + bias.abs().amax(dim=0)
                samples = torch.nonzero(~(x_bound < OVERFLOW_SAFE)).flatten()
                exact = _left_to_right(torch, w[:, :, None] * x[None, :, samples], dim=1)
                if bias is not None:
                    exact = exact + (bias if bias.shape[1] == 1 else bias[:, samples])
                out[:, samples] = exact
            ctx.save_for_backward(w, x)
            ctx.sizes, ctx.bias_is_leaf = sizes, bias_is_leaf
            return out

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            # d/dw = x, d/dx = w, d/dbias = 1, DOT's local derivatives in matrix layout:
            # BLAS where every product is finite and no partial sum can overflow, otherwise
            # the products one by one (a zero local derivative adding exactly 0) in eager's
            # order, as groups.LayerGroup does
            w, x = ctx.saved_tensors
            k, batch = w.shape[0], grad.shape[1]
            w_size, x_size = ctx.sizes
            grad_size = _largest(grad)
            grad_w = grad_x = grad_bias = None
            if ctx.needs_input_grad[0]:
                if may_overflow(grad_size * batch * x_size):
                    products = _masked_product(torch, x.flip(1)[None], grad.flip(1)[:, None])
                    grad_w = _left_to_right(torch, products, dim=2)
                else:
                    grad_w = grad @ x.T
            if ctx.needs_input_grad[1]:
                if may_overflow(grad_size * k * w_size):
                    products = _masked_product(torch, w.flip(0)[:, :, None], grad.flip(0)[:, None])
                    grad_x = _left_to_right(torch, products, dim=0)
                else:
                    grad_x = w.T @ grad
            if ctx.needs_input_grad[2]:
                grad_bias = _left_to_right(torch, grad.flip(1), 1) if ctx.bias_is_leaf else grad
            return grad_w, grad_x, grad_bias, None

    return LayerFunction


def _columns(block: Any, sets: int) -> Any:
    """(sets * r, batch) rows -> (r, batch * sets) columns, as LayerGroup._columns."""
    if sets == 1:
        return block
    batch = block.shape[1]
    return block.reshape(sets, -1, batch).permute(1, 2, 0).reshape(-1, batch * sets)


def _rows_of(columns: Any, sets: int) -> Any:
    """_columns undone, as LayerGroup._rows_of."""
    if sets == 1:
        return columns
    batch = columns.shape[1] // sets
    return columns.reshape(-1, batch, sets).permute(2, 0, 1).reshape(-1, batch)


# --- the plan as operations on torch tensors ---------------------------------------------------
# The plan numbers every node's row of a (rows, batch) buffer: the leaves used as values, then
# each batch argument, then each group's outputs. Here each of those blocks is a tensor of its
# own (autograd records every one), and a group reads its inputs from the blocks.


class _Gather:
    """Rows of the buffer, read from the blocks: a slice of one block where they are
    contiguous, else one index_select from the blocks they lie in."""

    def __init__(self, rows: np.ndarray, starts: list[int], stops: list[int], to_index: Any):
        blocks = [bisect.bisect_right(starts, r) - 1 for r in rows.tolist()]
        used = sorted(set(blocks))
        self.blocks = used
        self.slice: slice | None = None
        self.index = None
        if len(used) == 1:
            local = rows - starts[used[0]]
            first = int(local[0])
            if np.array_equal(local, np.arange(first, first + len(local))):
                self.slice = slice(first, first + len(local))
                return
            self.index = to_index(local)
            return
        # rows of several blocks: the blocks side by side, then one index_select
        offsets, offset = {}, 0
        for b in used:
            offsets[b] = offset
            offset += stops[b] - starts[b]
        local = np.array([r - starts[b] + offsets[b] for r, b in zip(rows.tolist(), blocks)])
        self.index = to_index(local)

    def __call__(self, torch: Any, blocks: list) -> Any:
        if len(self.blocks) == 1:
            block = blocks[self.blocks[0]]
            if self.slice is not None:
                return block[self.slice]
            return torch.index_select(block, 0, self.index)  # faster than block[index]
        return torch.index_select(torch.cat([blocks[b] for b in self.blocks]), 0, self.index)


class TorchProgram:
    """A plan's groups as torch operations, for one dtype and device.

    `run(parameters, batches)` takes the parameter vector (a tensor; autograd follows it)
    and the batch tensors, and returns (the per-sample losses, a function giving any row).
    """

    def __init__(self, plan: Any, checked_rows: Iterable[int], torch: Any, dtype: Any, device: Any):
        self.torch, self.dtype, self.device = torch, dtype, device
        self.o = tensors(torch, dtype, device)
        self._apply_rule = _rule_function(torch).apply
        n_leaf_rows = plan.leaf_rows.stop - plan.leaf_rows.start

        # the blocks, in row order: leaves used as values, each argument, each group's outputs
        spans = [(plan.leaf_rows.start, plan.leaf_rows.stop)] if n_leaf_rows else []
        spans += [(rows.start, rows.stop) for rows in plan.arg_rows]
        spans += [(group.out.start, group.out.stop) for group in plan.groups]
        self._starts = [start for start, _ in spans]
        self._stops = [stop for _, stop in spans]
        self._first_arg_block = 1 if n_leaf_rows else 0

        def to_index(array: Any) -> Any:
            return torch.as_tensor(np.asarray(array, dtype=np.int64), device=device)

        self._to_index = to_index
        self.constants = torch.as_tensor(plan.constants, dtype=dtype, device=device)
        self.leaf_rows_index = to_index(plan.leaf_rows_index) if n_leaf_rows else None
        self._ops = [self._operation(group) for group in plan.groups]
        self.loss = self._gather_rows([plan.loss_row])
        self.outputs = self._gather_rows(plan.output_rows) if len(plan.output_rows) else None
        self._checked = {row: self._gather_rows([row]) for row in checked_rows}

    def _gather_rows(self, rows: Iterable[int]) -> _Gather:
        return _Gather(np.asarray(list(rows), np.int64), self._starts, self._stops, self._to_index)

    def _gather(self, positions: Positions) -> _Gather:
        return self._gather_rows(positions.numbers().astype(np.int64))

    def _leaf_index(self, positions: Positions) -> Any:
        index = positions.index
        return index if isinstance(index, slice) else self._to_index(index)

    def _operation(self, group: Any) -> Any:
        """A function (blocks, leaves) -> the group's output block."""
        torch = self.torch
        if isinstance(group, ElementwiseGroup) and group.rule is rules.STOP_GRADIENT:
            # detach and no_grad while tracing: autograd must not walk below (as eagerly,
            # where they are leaves), or an inf derivative there meets 0 and sends nan
            (value,) = map(self._gather, group.inputs)
            return lambda blocks, leaves: value(torch, blocks).detach()
        if isinstance(group, ElementwiseGroup):
            rule, inputs, o, apply = (
                group.rule,
                list(map(self._gather, group.inputs)),
                self.o,
                self._apply_rule,
            )
            return lambda blocks, leaves: apply(rule, o, *(g(torch, blocks) for g in inputs))
        if isinstance(group, SumGroup):
            terms, k, n = self._gather(group.inputs), group.k, group.n
            return lambda blocks, leaves: _left_to_right(
                torch, terms(torch, blocks).reshape(k, n, -1), dim=1
            )
        if isinstance(group, LayerGroup):
            return self._layer(group)
        if isinstance(group, DotGroup):
            return self._dot(group)
        raise TypeError(f"the torch backend cannot run a {type(group).__name__}")

    def _layer(self, group: LayerGroup) -> Any:
        torch, k, n, bias_is_leaf = self.torch, group.k, group.n, group.bias_is_leaf
        sets = getattr(group, "sets", 1)  # the same weights on several sets of inputs
        weights, inputs = self._leaf_index(group.weights), self._gather(group.inputs)
        apply = _layer_function(torch).apply
        bias: Any = None
        if group.bias is not None:
            bias = self._leaf_index(group.bias) if bias_is_leaf else self._gather(group.bias)

        def columns(block: Any) -> Any:
            # (sets * r, batch) rows -> (r, sets * batch) columns, sample b of set s in
            # column b * sets + s (as groups.LayerGroup)
            if sets == 1:
                return block
            batch = block.shape[1]
            return block.reshape(sets, -1, batch).permute(1, 2, 0).reshape(-1, batch * sets)

        def rows_of(block: Any) -> Any:
            if sets == 1:
                return block
            batch = block.shape[1] // sets
            return block.reshape(-1, batch, sets).permute(2, 0, 1).reshape(-1, batch)

        def layer(blocks: list, leaves: Any) -> Any:
            w = leaves[weights].reshape(k, n)
            x = columns(inputs(torch, blocks))
            if bias is None:
                return rows_of(apply(w, x, None, False))
            bias_values = leaves[bias] if bias_is_leaf else columns(bias(torch, blocks))
            return rows_of(apply(w, x, bias_values, bias_is_leaf))

        return layer

    def _dot(self, group: DotGroup) -> Any:
        # the products through MUL's rule (its derivatives (b, a), a zero one adding
        # exactly 0), then added left to right, the bias last: as eager's dot
        torch, k, n, o = self.torch, group.k, group.n, self.o
        weights, inputs = self._gather(group.weights), self._gather(group.inputs)
        bias = self._gather(group.bias) if group.bias is not None else None
        apply = self._apply_rule

        def dot(blocks: list, leaves: Any) -> Any:
            w = weights(torch, blocks).reshape(k, n, -1)
            x = inputs(torch, blocks).reshape(k, n, -1)
            out = _left_to_right(torch, apply(rules.MUL, o, w, x), dim=1)
            return out if bias is None else out + bias(torch, blocks)

        return dot

    def run(self, parameters: Any, batches: Sequence[Any]) -> tuple[Any, Any]:
        """(the per-sample losses, row(r) -> row r of every sample), on these parameters."""
        torch = self.torch
        leaves = torch.cat((parameters, self.constants))
        batch_size = batches[0].shape[0]
        blocks: list[Any] = []
        if self.leaf_rows_index is not None:
            blocks.append(leaves[self.leaf_rows_index][:, None].expand(-1, batch_size))
        for batch in batches:
            blocks.append(batch[None] if batch.ndim == 1 else batch.T)
        for operation in self._ops:
            blocks.append(operation(blocks, leaves))
        return self.loss(torch, blocks)[0], lambda gather: gather(torch, blocks)

    def checked_row(self, row: int, read: Any) -> np.ndarray:
        return read(self._checked[row])[0].detach().cpu().numpy()

    def outputs_of(self, read: Any) -> Any:
        assert self.outputs is not None
        return read(self.outputs)


# --- the compiled step on torch --------------------------------------------------------------


def torch_dtype_and_device(torch: Any, dtype: Any, device: Any, where: str) -> tuple[Any, Any]:
    """The torch dtype (float64 by default) and device (the CPU by default), checked."""
    if dtype is None:
        dtype = torch.float64
    elif isinstance(dtype, str):
        dtype = getattr(torch, dtype, dtype)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"{where}: dtype must be a floating-point torch dtype, got {dtype!r}")
    try:
        device = torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{where}: device {device!r} is not a torch device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"{where}: device {str(device)!r} is not available here"
            " (torch.cuda.is_available() is False)"
        )
    return dtype, device


def checked_torch_options(device: Any, dtype: Any, where: str) -> dict[str, Any]:
    """compile's device and dtype for backend="torch", checked (torch imported here)."""
    torch = import_torch(f'{where}(..., backend="torch")')
    dtype, device = torch_dtype_and_device(torch, dtype, device, where)
    return {"device": device, "dtype": dtype}


def program_of(step: CompiledStep, torch: Any, device: Any, dtype: Any) -> TorchProgram:
    """The plan of a compiled step (of either backend) as torch operations."""
    return TorchProgram(step._plan, [check[0] for check in step._checks], torch, dtype, device)


def run_program(
    step: CompiledStep, program: TorchProgram, parameters: Any, batches: Sequence[Any]
) -> tuple[Any, Any]:
    """(per-sample losses, row reader) of the step's plan on torch, with the batches
    checked and the batch checks (labels, probabilities) made as the NumPy step makes them."""
    torch = program.torch
    checked, _ = step._checked_batches(tuple(_as_numpy(torch, batch) for batch in batches))
    batch_tensors = [
        torch.as_tensor(array, dtype=program.dtype, device=program.device) for array in checked
    ]
    losses, read = program.run(parameters, batch_tensors)
    for row, holds, message, index in step._checks:
        values = program.checked_row(row, read)
        bad = np.flatnonzero(~np.asarray(holds(values), dtype=bool))
        if len(bad):
            failure = step._check_failure(row, int(bad[0]), _OneRow(values), message, index)
            raise ValueError(failure)
    return losses, read


class _OneRow:
    """values[row, sample] of one checked row, as CompiledStep._check_failure reads it."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __getitem__(self, key: tuple[int, int]) -> float:
        return float(self.values[key[1]])


def _check_outputs_wanted(step: CompiledStep, return_outputs: bool) -> None:
    if return_outputs and not len(step._plan.output_rows):
        raise ValueError(
            "return_outputs=True needs fn to return (loss, outputs); it returned only a loss"
        )


def _mean(losses: Any) -> Any:
    # sum * (1/n), as the NumPy step and eager's mean: d mean / d loss_i is exactly 1/n
    return losses.sum() * (1.0 / losses.shape[0])


class TorchCompiledStep(CompiledStep):
    """A compiled step replayed on torch tensors: `compile(..., backend="torch")`.

    Called, evaluated and read as a NumPy CompiledStep: the mean loss as a float, the
    outputs as a NumPy array, the gradient of the mean loss added into each parameter's
    `.grad`. The numbers are computed by torch, in `dtype` on `device`.
    """

    def __init__(
        self, fn: Any, params: Iterable[Value], example: Any, device: Any = None, dtype: Any = None
    ) -> None:
        options = checked_torch_options(device, dtype, "compile")
        self.dtype, self.device = options["dtype"], options["device"]
        super().__init__(fn, params, example)
        self._torch = torch = import_torch("compile")
        self._program = program_of(self, torch, self.device, self.dtype)

    def _parameters(self) -> Any:
        numbers = self._parameter_numbers()
        return self._torch.tensor(numbers, dtype=self.dtype, device=self.device)

    def __call__(self, *batches: Any, return_outputs: bool = False) -> Any:
        """Forward and backward over the batch (see CompiledStep.__call__)."""
        _check_outputs_wanted(self, return_outputs)
        parameters = self._parameters().requires_grad_()
        losses, read = run_program(self, self._program, parameters, batches)
        mean = _mean(losses)
        if mean.requires_grad:  # else no parameter is in the loss's graph
            (grads,) = self._torch.autograd.grad(mean, parameters, allow_unused=True)
            if grads is not None:
                self._add_gradients(grads.detach().cpu().double().numpy())
        return self._result_of(mean, read, return_outputs)

    def evaluate(self, *batches: Any, return_outputs: bool = False) -> Any:
        """Forward only: no parameter's `.grad` changes."""
        _check_outputs_wanted(self, return_outputs)
        with self._torch.no_grad():
            losses, read = run_program(self, self._program, self._parameters(), batches)
            return self._result_of(_mean(losses), read, return_outputs)

    def _result_of(self, mean: Any, read: Any, return_outputs: bool) -> Any:
        mean = float(mean.detach())
        if not return_outputs:
            return mean
        outputs = self._program.outputs_of(read).detach().cpu().double().numpy().T.copy()
        return mean, outputs[:, 0] if self._single_output else outputs

    def __repr__(self) -> str:
        return f"Torch{super().__repr__()[:-1]}, {self.dtype} on {self.device})"


# --- the step as a torch.nn.Module -----------------------------------------------------------


def _as_numpy(torch: Any, batch: Any) -> Any:
    return batch.detach().cpu().numpy() if isinstance(batch, torch.Tensor) else batch


@functools.cache
def _module_class(torch: Any) -> Any:
    class CompiledModule(torch.nn.Module):
        """A compiled step (or one per shape) as a torch module; made by `to_torch`."""

        def __init__(
            self, steps: CompiledStep | CompiledByShape, device: Any, dtype: Any, per_value: bool
        ):
            super().__init__()
            self._steps = steps
            self._values = list(steps._params)
            # By default one Parameter, the traced parameters in order: params[i] is Value
            # i. With per_value, a ParameterList of one 0-dim Parameter per Value, stacked
            # into that vector on each forward: torch's Adam over them and the backward of
            # the stack are several times slower than the step, and a GPU would launch a
            # kernel per scalar, so it is the option, not the default.
            numbers = [v.data for v in self._values]
            if per_value:
                self.params = torch.nn.ParameterList(
                    torch.tensor(number, dtype=dtype, device=device) for number in numbers
                )
                # what an empty list stacks to (a buffer, so that .to() moves it too)
                empty = torch.zeros(0, dtype=dtype, device=device)
                self.register_buffer("_no_parameters", empty, persistent=False)
            else:
                self.params = torch.nn.Parameter(torch.tensor(numbers, dtype=dtype, device=device))
            # step -> {(device, dtype): its plan on torch}; a step dropped by
            # compile_by_shape takes its programs with it
            self._programs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

        def forward(self, *batches: Any, return_outputs: bool = False) -> Any:
            """The mean loss over the batch as a 0-dim tensor (and with
            `return_outputs=True` the per-sample outputs, a (batch,) or (batch, k)
            tensor); one batch per argument of the traced function."""
            batches = tuple(_as_numpy(torch, batch) for batch in batches)
            steps = self._steps
            step = steps if isinstance(steps, CompiledStep) else steps.step_for(*batches)
            _check_outputs_wanted(step, return_outputs)
            parameters = self._vector()
            key = (parameters.device, parameters.dtype)
            programs = self._programs.setdefault(step, {})
            program = programs.get(key)
            if program is None:  # the first call, a new shape, or the module was moved
                program = programs[key] = program_of(step, torch, *key)
            losses, read = run_program(step, program, parameters, batches)
            mean = _mean(losses)
            if not return_outputs:
                return mean
            outputs = program.outputs_of(read).T
            return mean, outputs[:, 0] if step._single_output else outputs

        def write_back(self) -> None:
            """Copy the module's parameters into the Values it was made from, so that the
            scalar model can be drawn, explored, evaluated or saved again."""
            numbers = self._vector().detach().cpu().double().tolist()
            for value, number in zip(self._values, numbers):
                value.data = number

        def _vector(self) -> Any:
            """The parameters as one vector, element i Value i, in either form."""
            if not isinstance(self.params, torch.nn.ParameterList):
                return self.params
            return torch.stack(list(self.params)) if len(self.params) else self._no_parameters

        def extra_repr(self) -> str:
            form = "per_value" if isinstance(self.params, torch.nn.ParameterList) else "vector"
            return f"{len(self._values)} parameters ({form}) of {self._steps!r}"

    return CompiledModule


def to_torch_module(
    steps: CompiledStep | CompiledByShape,
    device: Any = None,
    dtype: Any = None,
    per_value: bool = False,
) -> Any:
    """The module `CompiledStep.to_torch` and `CompiledByShape.to_torch` return."""
    torch = import_torch("to_torch()")
    dtype, device = torch_dtype_and_device(torch, dtype, device, "to_torch")
    return _module_class(torch)(steps, device, dtype, per_value)
