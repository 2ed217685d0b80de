"""The compiled step: a traced graph replayed over whole batches, and one step per shape.

`compile` traces (trace.py), plans (plan.py) and returns a `CompiledStep` that runs the
plan's groups (groups.py) forward and backward on NumPy buffers. `compile_by_shape` keeps
one CompiledStep per shape of sample, for variable-length inputs.
"""

from __future__ import annotations

import itertools
import numbers
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .._floats import as_array
from ..engine import Value
from ..store import Store
from .groups import batch_sum
from .plan import Plan
from .trace import INDEX, checked_params, sample_argument, trace_graph

_LONGEST_WAIT = 1024  # calls: a step retries storing its parameters at least this often
_WORTH_STORING = 8  # calls: a store that served fewer was released too soon to pay

# --- the compiled step -----------------------------------------------------------------------


class CompiledStep:
    """A traced per-sample graph, replayed over whole batches with NumPy.

    Made by `compile(fn, params, example)`; see that function and the module docstring.
    """

    def __init__(self, fn: Callable[..., Any], params: Iterable[Value], example: Any) -> None:
        self._params = checked_params(params)
        traced = trace_graph(fn, example)
        self._arg_widths, placeholders, roots, self._single_output, checks = traced
        plan = Plan(self._params, placeholders, roots, [check[0] for check in checks])
        # checks on batch values (labels, probabilities), made on every batch after forward
        self._checks = [(plan.row[node], holds, message, i) for node, holds, message, i in checks]
        self._check_blocks = _check_blocks(self._checks)
        self._argument_of_row = {
            row: (i, rows.stop - rows.start > 1 or self._arg_widths[i] not in (None, INDEX))
            for i, rows in enumerate(plan.arg_rows)
            for row in range(rows.start, rows.stop)
        }
        self._n_params = len(self._params)
        self._plan = plan  # rows, groups and sizes; it lets go of the traced nodes below
        plan.forget_nodes()
        self._buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._store: Store | None = None  # the parameters' arrays, from the first call on
        self._store_wait = 1  # calls to wait before storing again after a release (doubles)
        self._calls_to_wait = 0
        self._store_calls = 0  # calls the store has served

    # --- running it -----------------------------------------------------------------

    def __call__(self, *batches: Any, return_outputs: bool = False) -> Any:
        """Forward and backward over the batch; returns the mean loss as a float (and,
        with `return_outputs=True`, the per-sample outputs as a NumPy array) and adds the
        gradient of the mean loss into each parameter's `.grad`."""
        values, grads, leaves = self._forward(batches, return_outputs)
        batch_size = values.shape[1]
        grads.fill(0.0)
        grads[self._plan.loss_row] = 1.0 / batch_size  # d mean / d loss_i, as eager's sum * (1/n)
        leaf_grads = np.zeros_like(leaves)
        with np.errstate(all="ignore"):  # IEEE inf and nan, as in the eager engine
            for group in self._plan.backward_groups:
                group.backward(values, grads, leaves, leaf_grads)
            if self._plan.param_rows_count:  # parameters used as values: sum rows over the batch
                used = self._plan.leaf_rows_index[: self._plan.param_rows_count]
                leaf_grads[used] += batch_sum(grads[: self._plan.param_rows_count])
        self._add_gradients(leaf_grads[: self._n_params])
        return self._result(values, return_outputs)

    def evaluate(self, *batches: Any, return_outputs: bool = False) -> Any:
        """Like calling the step, but forward only: no parameter's `.grad` changes."""
        values, _, _ = self._forward(batches, return_outputs)
        return self._result(values, return_outputs)

    def __getstate__(self) -> dict[str, Any]:
        # a copy (copy.deepcopy, pickle) has its own parameters, stored by its first call:
        # the original's store holds the original's
        state = self.__dict__.copy()
        state["_store"] = None
        return state

    # --- the parameters: in a Store (store.py) while the step trains them ----------------
    # The step keeps its parameters' numbers and gradients in two arrays, which the
    # optimizer and zero_grad work on too, so a training step has no loop over Values.
    # Code that reads or writes a parameter between steps releases the store (the Values
    # are plain again). Storing and releasing cost a loop over the Values each, about what
    # a store saves in one or two calls. So a store released after fewer than
    # _WORTH_STORING calls (an L2 penalty computed eagerly every step) makes the step wait
    # twice as many calls as before storing them again, reading and writing the Values one
    # by one meanwhile, as eagerly; a store that lasted longer (a weight printed now and
    # then) is made again at once.

    def _parameter_numbers(self) -> np.ndarray:
        """The parameters' numbers, in order, as float64 (not to be changed in place)."""
        store = self._store
        if store is not None and store.live:
            self._store_calls += 1
            return store.data
        if store is not None:  # released since the last call
            self._store = None
            if self._store_calls >= _WORTH_STORING:
                self._store_wait, self._calls_to_wait = 1, 0
            else:
                self._store_wait = min(2 * self._store_wait, _LONGEST_WAIT)
                self._calls_to_wait = self._store_wait
        if self._calls_to_wait:
            self._calls_to_wait -= 1
        else:
            # the step holds its store (the Values refer to it weakly): a store lives as
            # long as a step that trains its Values
            self._store = store = Store.of(self._params)
            self._store_calls = 1
            if store is not None:
                return store.data
        # the values an optimizer just wrote back are already an array (_floats)
        return as_array([p.data for p in self._params])

    def _add_gradients(self, grads: np.ndarray) -> None:
        """Add the gradients into the parameters', one by one, as `p.grad += g` would:
        into the store's array if they are in one."""
        with Store.lock:  # (store.py: a release in another thread waits for the sum)
            store = self._store
            if store is not None and store.live:
                store.grad += grads
                return
        for param, grad in zip(self._params, grads.tolist()):
            param.grad += grad

    def _forward(self, batches: tuple, return_outputs: bool) -> tuple:
        if return_outputs and not len(self._plan.output_rows):
            raise ValueError(
                "return_outputs=True needs fn to return (loss, outputs); it returned only a loss"
            )
        arrays, batch_size = self._checked_batches(batches)
        values, grads = self._buffers_for(batch_size)
        leaves = np.empty(self._n_params + len(self._plan.constants))
        leaves[self._n_params :] = self._plan.constants
        leaves[: self._n_params] = self._parameter_numbers()
        values[self._plan.leaf_rows] = leaves[self._plan.leaf_rows_index][:, None]
        for rows, array in zip(self._plan.arg_rows, arrays):
            values[rows] = array.T if array.ndim == 2 else array
        with np.errstate(all="ignore"):
            for group in self._plan.groups:
                group.forward(values, leaves)
            # each block of checks at once; only if one fails, check by check (in order) for
            # the first failure's message
            if not all(
                np.asarray(holds(values[rows]), bool).all() for rows, holds in self._check_blocks
            ):
                for row, holds, message, index in self._checks:
                    bad = np.flatnonzero(~np.asarray(holds(values[row]), dtype=bool))
                    if len(bad):
                        failure = self._check_failure(row, int(bad[0]), values, message, index)
                        raise ValueError(failure)
        return values, grads, leaves

    def _check_failure(self, row: int, sample: int, values: Any, message: Any, index: int) -> str:
        """The message of a failed batch check, naming the batch and position when the
        checked value is a batch input itself."""
        text = message(index, float(values[row, sample]))
        argument = self._argument_of_row.get(row)
        if argument is None:
            return f"sample {sample} of the batch: {text}"
        i, is_row = argument
        column = f", {row - self._plan.arg_rows[i].start}" if is_row else ""
        return f"batch {i}[{sample}{column}]: {text}"

    def _result(self, values: np.ndarray, return_outputs: bool) -> Any:
        losses = values[self._plan.loss_row]
        with np.errstate(all="ignore"):  # inf - inf is nan here too, without a warning
            mean = float(losses.sum()) * (1.0 / len(losses))
        if not return_outputs:
            return mean
        outputs = values[self._plan.output_rows].T.copy()
        return mean, outputs[:, 0] if self._single_output else outputs

    def _buffers_for(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        buffers = self._buffers.get(batch_size)
        if buffers is None:
            if len(self._buffers) >= 4:  # a few sizes (full batches and the last one)
                self._buffers.clear()
            buffers = (
                np.empty((self._plan.n_rows, batch_size)),
                np.empty((self._plan.n_rows, batch_size)),
            )
            self._buffers[batch_size] = buffers
        return buffers

    def _checked_batches(self, batches: tuple) -> tuple[list[np.ndarray], int]:
        widths = self._arg_widths
        if len(batches) != len(widths):
            raise ValueError(
                f"compiled step takes {len(widths)} batch(es), one per argument of fn,"
                f" got {len(batches)}"
            )
        arrays, batch_size = [], None
        for i, (batch, width) in enumerate(zip(batches, widths)):
            array = _numbers(batch, i)
            if width == INDEX and not _is_integer_array(batch):
                _check_whole_numbers(array, i)
            scalar = width is None or width == INDEX
            expected = "(batch,)" if scalar else f"(batch, {width})"
            fits = array.ndim == 1 if scalar else (array.ndim == 2 and array.shape[1] == width)
            if not fits:
                raise ValueError(
                    f"batch {i} has shape {array.shape}, but fn was traced with"
                    f" {'a number' if scalar else f'{width} numbers'} for argument {i}:"
                    f" expected {expected}"
                )
            if batch_size is None:
                batch_size = len(array)
            elif len(array) != batch_size:
                raise ValueError(f"batch {i} has {len(array)} samples but batch 0 has {batch_size}")
            arrays.append(array)
        if not batch_size:
            raise ValueError("the batch is empty: pass at least one sample")
        return arrays, batch_size

    def to_torch(self, device: Any = None, dtype: Any = None, per_value: bool = False) -> Any:
        """This step as a `torch.nn.Module` (see `to_torch`): its parameter `params` holds
        the traced parameters in order (one vector, or one 0-dim Parameter per Value with
        `per_value=True`), its forward(*batches) is the mean loss as a 0-dim tensor."""
        from .torch_backend import to_torch_module

        return to_torch_module(self, device, dtype, per_value)

    def describe(self) -> str:
        """The plan, one line per group: which op runs over how many nodes."""
        lines = [repr(self)]
        lines += [f"  {i:3d}. {group.describe()}" for i, group in enumerate(self._plan.groups)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"CompiledStep({self._plan.n_nodes} nodes, depth {self._plan.depth},"
            f" {len(self._plan.groups)} vectorized groups, {self._n_params} params)"
        )


def _check_blocks(checks: list[tuple]) -> list[tuple[np.ndarray, Callable]]:
    """The batch checks as (rows, holds) blocks, made once each for all their rows: checks
    whose tests are the same function (the same code, and equal numbers in its closure:
    take's `0 <= i < n` on every token of a sequence) share a block, a row once. A test is
    elementwise (it runs on a row of the batch), so it runs as well on several rows."""
    blocks: dict[Any, tuple[list[int], Callable]] = {}
    for row, holds, _, _ in checks:
        rows, _ = blocks.setdefault(_same_test_key(holds), ([], holds))
        if row not in rows:
            rows.append(row)
    return [(np.array(rows, dtype=np.intp), holds) for rows, holds in blocks.values()]


def _same_test_key(holds: Callable) -> Any:
    """A key equal for two tests that compute the same: for this package's own tests
    (take's, the losses'), the function's code and the plain numbers it closes over, which
    are never rebound; any other callable is its own key (a closure of yours may change)."""
    if not getattr(holds, "__module__", "").startswith(f"{_PACKAGE}."):
        return holds
    code = getattr(holds, "__code__", None)
    cells = getattr(holds, "__closure__", None) or ()
    try:
        contents = tuple(cell.cell_contents for cell in cells)
    except ValueError:  # an empty cell
        return holds
    plain = all(type(c) in (int, float, bool) and c == c for c in contents)  # no nan
    if code is None or not plain or getattr(holds, "__defaults__", None) is not None:
        return holds
    # each number by type and repr: 1 == 1.0 == True and 0.0 == -0.0, yet a test may tell
    # them apart
    numbers = tuple((type(c), repr(c)) for c in contents)
    return (code, id(getattr(holds, "__globals__", None)), numbers)


_PACKAGE = __name__.split(".")[0]  # tinygrad_scalar


def _numbers(batch: Any, i: int) -> np.ndarray:
    """A batch as float64, refusing what is not a real number (None, strings, an int too
    large for a float) instead of turning it into nan or raising OverflowError."""
    try:
        array = np.asarray(batch)
    except (TypeError, ValueError) as error:  # ragged rows
        raise ValueError(f"batch {i} is not an array of numbers: {error}") from None
    if array.dtype.kind not in "iuf" or (
        # NumPy turns [True, 2.5] into [1.0, 2.5]: look for a bool among numbers given as lists
        # (only lists and tuples: a pandas Series or DataFrame indexes by label, not position)
        isinstance(batch, (list, tuple)) and not _BOOLS.isdisjoint(map(type, _items(batch)))
    ):  # bools are refused, as the eager losses do
        # as the objects given: NumPy makes [1.0, "2"] an array of strings, losing which is bad
        for position, x in np.ndenumerate(np.asarray(batch, dtype=object)):
            if isinstance(x, bool) or not isinstance(x, numbers.Real) or isinstance(x, Value):
                where = ", ".join(map(str, position))
                raise ValueError(f"batch {i}[{where}] is not a number: {x!r:.60}")
            try:
                float(x)
            except OverflowError:
                raise ValueError(
                    f"batch {i}[{', '.join(map(str, position))}] is too large for a float"
                ) from None
    return array.astype(np.float64, copy=False)


_BOOLS = {bool, np.bool_}


def _items(batch: Any) -> Any:
    """The numbers of a batch given as a sequence: of a sequence of rows, each row's."""
    if len(batch) and isinstance(batch[0], (list, tuple)):
        return itertools.chain.from_iterable(batch)
    return batch


def _is_integer_array(batch: Any) -> bool:
    """A NumPy array of integers: whole numbers, with nothing to check."""
    return isinstance(batch, np.ndarray) and batch.dtype.kind in "iu"


def _check_whole_numbers(array: np.ndarray, i: int) -> None:
    """An integer input's batch holds whole numbers: 2.0 is fine, 1.5 and nan are not."""
    if array.dtype.kind == "f" and not (array == np.floor(array)).all():  # nan is not equal
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(np.ravel(array != np.floor(array)))
        if len(bad):
            raise ValueError(
                f"batch {i}[{bad[0]}] is {float(np.ravel(array)[bad[0]])!r}, not a whole number:"
                f" argument {i} was traced with an int, so it is an integer input"
            )


BACKENDS = ("numpy", "torch")


def compile(  # noqa: A001 - tinygrad_scalar.compile, as torch.compile
    fn: Callable[..., Any],
    params: Iterable[Value],
    example: Sequence[Any],
    backend: str = "numpy",
    device: Any = None,
    dtype: Any = None,
) -> CompiledStep:
    """Trace `fn` once and return a step that runs it over whole batches with NumPy.

    `fn(*sample)` builds one sample's graph and returns its loss Value, or a pair
    `(loss, outputs)` with outputs a Value or a list of Values. `params` are the leaf
    Values shared by every sample (a list, or `model.parameters()`). `example` is a
    tuple with one argument per argument of `fn`, each a number or a flat sequence of
    numbers (a feature row); it fixes the graph's shape (see the module docstring).

    `step(*batches)` takes one batch per argument of `fn` (a sequence of numbers, or of
    rows of the traced width), returns the mean loss as a float and adds the gradient
    of the mean loss into every parameter's `.grad`, as `loss.backward()` would.
    `step(*batches, return_outputs=True)` returns `(mean_loss, outputs)`, outputs of
    shape (batch,) for a single output Value or (batch, k) for a list of k;
    `step.evaluate(*batches)` runs the forward pass only.

    From its first call on, the step keeps the parameters' numbers and gradients in two
    arrays (store.py) that optim's optimizers and `zero_grad` work on too, so a training
    loop makes no Python loop over the parameters. Reading or writing a parameter's
    `.data` or `.grad` gives them all back as plain Values holding those numbers.

    >>> from tinygrad_scalar import Value, dot
    >>> w, b = [Value(0.5), Value(-1.0)], Value(0.25)
    >>> step = compile(lambda x, y: (dot(w, x, b) - y) ** 2, [*w, b], ([1.0, 2.0], 0.0))
    >>> step([[1.0, 2.0], [0.0, 1.0]], [0.0, 1.0])  # ((-1.25)**2 + (-1.75)**2) / 2
    2.3125

    `backend="torch"` replays the same plan on torch tensors, `dtype` (torch.float64 by
    default) on `device` (the CPU by default; "cuda" where there is one), with the same
    interface; its derivatives are still the rules' own (compiler/torch_backend.py).
    """
    options = _checked_backend(backend, device, dtype, "compile")
    if backend == "torch":
        from .torch_backend import TorchCompiledStep

        return TorchCompiledStep(fn, params, example, **options)
    return CompiledStep(fn, params, example)


def _checked_backend(backend: str, device: Any, dtype: Any, where: str) -> dict[str, Any]:
    """compile's keyword arguments for the backend, checked: a clear error for an unknown
    backend, for device or dtype without torch, and for torch not installed."""
    if backend == "torch":
        from .torch_backend import checked_torch_options

        return checked_torch_options(device, dtype, where)
    if backend != "numpy":
        raise ValueError(f"{where}: backend must be one of {BACKENDS}, got {backend!r:.60}")
    if device is not None or dtype is not None:
        raise ValueError(
            f'{where}: device and dtype are options of backend="torch"; the NumPy backend'
            " runs in float64 on the CPU"
        )
    return {}


def to_torch(
    fn: Callable[..., Any],
    params: Iterable[Value],
    example: Sequence[Any],
    device: Any = None,
    dtype: Any = None,
    per_value: bool = False,
) -> Any:
    """Trace `fn` as `compile` does and return it as a `torch.nn.Module`.

    The module has one `nn.Parameter`, `net.params`, holding the data of `params` in
    order (`net.params[i]` is `params[i].data`; `dtype`, float64 by default, on `device`):
    one vector rather than one tensor per scalar, so torch's optimizers and DDP make one
    call for all of them, and on a GPU each of their operations is one kernel, not one per
    scalar.
    With `per_value=True`, `net.params` is instead an `nn.ParameterList` of one 0-dim
    Parameter per Value, in order (`list(net.parameters())` pairs with `params`), stacked
    into that vector on each forward; the same numbers, slower. `forward(*batches)`
    takes the batches a compiled step takes and returns the mean loss as a 0-dim tensor,
    whose `backward()` runs the rules' derivatives under torch's autograd; `write_back()`
    copies the trained weights into the Values. So torch's optimizers, GPUs and
    `DistributedDataParallel` can train any model `compile` can trace:

        net = ts.to_torch(lambda x, y: losses.mse(model(x), y), model.parameters(), (X[0], y[0]))
        opt = torch.optim.Adam(net.parameters(), lr=0.01)
        for _ in range(100):
            opt.zero_grad(); net(X, y).backward(); opt.step()
        net.write_back()  # the Values now hold the trained weights

    Same as `compile(fn, params, example).to_torch(device, dtype, per_value)`.
    """
    return compile(fn, params, example).to_torch(device, dtype, per_value)


# --- one compiled step per shape: variable-length samples ---------------------------------


class CompiledByShape:
    """Compiled steps of `fn`, one per shape of sample, traced when a shape is first seen.

    Made by `compile_by_shape(fn, params)`; see that function.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        params: Iterable[Value],
        max_shapes: int,
        backend: str = "numpy",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"compile_by_shape: fn must be callable, got {type(fn).__name__}")
        if isinstance(max_shapes, bool) or not isinstance(max_shapes, int) or max_shapes < 1:
            raise ValueError(
                f"compile_by_shape: max_shapes must be an int >= 1, got {max_shapes!r}"
            )
        self._fn = fn
        self._params = checked_params(params)  # a generator is read once, here
        self.max_shapes = max_shapes
        self._options = {"backend": backend}
        self._options.update(_checked_backend(backend, device, dtype, "compile_by_shape"))
        self.traces = 0  # how many times fn was traced (a shape traced again after eviction counts)
        self._steps: dict[tuple, CompiledStep] = {}  # insertion order = least recently used first

    def __call__(self, *batches: Any, return_outputs: bool = False) -> Any:
        """Forward and backward over the batch with the step for its shape (see
        CompiledStep.__call__): the mean loss, and the gradient added into `.grad`."""
        return self.step_for(*batches)(*batches, return_outputs=return_outputs)

    def evaluate(self, *batches: Any, return_outputs: bool = False) -> Any:
        """Forward only, with the step for the batch's shape (see CompiledStep.evaluate)."""
        return self.step_for(*batches).evaluate(*batches, return_outputs=return_outputs)

    def step_for(self, *batches: Any) -> CompiledStep:
        """The CompiledStep for the batches' shape, traced on their first sample if new."""
        example = tuple(_first_sample(batch, i) for i, batch in enumerate(batches))
        shape = tuple(sample_argument(value, i) for i, value in enumerate(example))
        step = self._steps.pop(shape, None)
        if step is None:
            step = compile(self._fn, self._params, example, **self._options)
            self.traces += 1
            if len(self._steps) >= self.max_shapes:  # forget the least recently used shape
                del self._steps[next(iter(self._steps))]
        self._steps[shape] = step  # (re)inserted last: the most recently used
        return step

    def to_torch(self, device: Any = None, dtype: Any = None, per_value: bool = False) -> Any:
        """These steps as one `torch.nn.Module` (see `to_torch`): its parameters are the
        shared parameters (one vector, or one 0-dim Parameter per Value with
        `per_value=True`), and forward(*batches) runs the step for the batches' shape
        (traced if new), so one module trains on batches of every shape."""
        from .torch_backend import to_torch_module

        return to_torch_module(self, device, dtype, per_value)

    @property
    def shapes(self) -> list[tuple]:
        """The cached shapes, least recently used first: per argument None (a number),
        "index" (an integer input) or the width of a row."""
        return list(self._steps)

    def __len__(self) -> int:
        return len(self._steps)

    def __repr__(self) -> str:
        return (
            f"CompiledByShape({len(self._steps)} shape(s) cached of at most {self.max_shapes},"
            f" {self.traces} trace(s), {len(self._params)} params)"
        )


def _first_sample(batch: Any, i: int) -> Any:
    """A batch's first sample, as compile's example takes it (a NumPy integer becomes an
    int, so an integer array is an integer input)."""
    if isinstance(batch, (str, bytes)) or not hasattr(batch, "__len__"):
        raise TypeError(
            f"batch {i} must be a sequence of samples (numbers or rows), got {type(batch).__name__}"
        )
    if len(batch) == 0:
        raise ValueError(f"batch {i} is empty: pass at least one sample")
    first = batch[0]
    if isinstance(first, numbers.Integral) and not isinstance(first, bool):
        return int(first)
    return first


def compile_by_shape(
    fn: Callable[..., Any],
    params: Iterable[Value],
    max_shapes: int = 64,
    backend: str = "numpy",
    device: Any = None,
    dtype: Any = None,
) -> CompiledByShape:
    """Like `compile`, for samples whose shape varies: one CompiledStep per shape.

    A compiled step is traced for one shape of sample, for example documents of one
    length. This object traces `fn` again whenever a batch of a new shape comes, on that
    batch's first sample, and keeps the step for later batches of the same shape. The
    shape is the number of batches (arguments of `fn`, so `fn(*tokens)` takes one per
    token) and, per argument, what its first sample is: a number, an int (an integer
    input; an integer NumPy array counts as ints) or a row of some width. Every sample
    of a batch has its batch's shape: group samples by shape first.

    At most `max_shapes` steps are kept (64 by default; a step holds its buffers, a few
    MB for a large graph); past that the least recently used one is dropped and traced
    again if needed. `.traces` counts the traces made, `.shapes` lists the cached shapes.
    Calling it and `.evaluate(...)` work as on a CompiledStep; `backend`, `device` and
    `dtype` are compile's, and `.to_torch()` makes all the shapes one torch module.

    >>> import tinygrad_scalar as ts
    >>> table = [ts.Value(1.0), ts.Value(2.0), ts.Value(3.0)]
    >>> total = compile_by_shape(lambda *ids: ts.sum([ts.take(table, i) for i in ids]), table)
    >>> total([0, 2], [1, 1])  # two samples of two ids: (1 + 2 + 3 + 2) / 2
    4.0
    >>> total([0], [1], [2])  # one sample of three ids: a second shape, a second trace
    6.0
    >>> total.traces, total.shapes
    (2, [('index', 'index'), ('index', 'index', 'index')])
    """
    return CompiledByShape(fn, params, max_shapes, backend, device, dtype)
