"""A microgpt-shaped GPT training step, the workload of the GPT rows of `make bench`.

The model is the one in Karpathy's single-file microgpt: a character-level transformer over
first names (tinygrad_scalar.data.load_names(), one name per document, a BOS token at
both ends) with 1 layer, 16-dim embeddings, 4 attention heads and a block of 16 positions.
Token and position embedding rows are added, then rmsnorm; the layer is causal
self-attention (queries, keys and values, with a KV cache: the document is processed token
by token and each position's key and value are appended to the cache) and a relu MLP 4x
as wide, each inside a residual connection with an rmsnorm in front; an LM head gives
logits, and the loss is the mean cross-entropy of predicting each next token. Adam with
a linearly decaying learning rate trains it. No biases; every weight starts as a
N(0, 0.08^2) draw.

The same model is written four ways, all from the same initial weights (`init_weights`):
  * `gpt_loss(value_cls, params, tokens)`: ONCE, with only operators, .exp(), .log(),
    .relu() and Python's builtin sum, for any scalar Value class; it runs on `RefValue`
    below (a reference Value in microgpt's design) and on tinygrad_scalar.Value as a
    drop-in replacement;
  * `gpt_loss_fast(params, tokens)`: on tinygrad_scalar.Value with the library's n-ary
    nodes (every linear layer a row of `dot`s) and its nn pieces (rmsnorm, attention,
    take) and cross_entropy;
  * `torch_gpt(weights)`: a float64 PyTorch nn.Module of the same model (whole document at
    once, causal mask; or a batch of documents of equal length), for the PyTorch rows.
All give the same losses and gradients to 1e-9 (tests/test_bench_gpt.py). Nothing here is
timed; benchmarks/run.py does the timing.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence

N_LAYER = 1
N_EMBD = 16
N_HEAD = 4
HEAD_DIM = N_EMBD // N_HEAD
BLOCK_SIZE = 16
MLP_WIDTH = 4 * N_EMBD
INIT_STD = 0.08
RMSNORM_EPS = 1e-5

# Adam as microgpt sets it up: the learning rate decays linearly to 0 over the run.
LEARNING_RATE = 0.01
BETA1, BETA2, ADAM_EPS = 0.85, 0.99, 1e-8

Weights = dict[str, list[list[float]]]


# --- a reference Value in microgpt's design ------------------------------------------------


class RefValue:
    """A scalar that remembers how it was made: its inputs (`_children`) and the derivative
    of itself with respect to each (`_local_grads`), fixed when the node is created. No
    closures: backward() multiplies each local derivative by the upstream gradient."""

    __slots__ = ("data", "grad", "_children", "_local_grads")

    def __init__(self, data, children=(), local_grads=()):
        self.data = data
        self.grad = 0.0
        self._children = children
        self._local_grads = local_grads

    def __add__(self, other):
        other = other if isinstance(other, RefValue) else RefValue(other)
        return RefValue(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other):
        other = other if isinstance(other, RefValue) else RefValue(other)
        return RefValue(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, exponent):  # a constant exponent (int or float), not a RefValue
        return RefValue(self.data**exponent, (self,), (exponent * self.data ** (exponent - 1),))

    def log(self):
        return RefValue(math.log(self.data), (self,), (1.0 / self.data,))

    def exp(self):
        e = math.exp(self.data)
        return RefValue(e, (self,), (e,))

    def relu(self):
        return RefValue(max(0.0, self.data), (self,), (1.0 if self.data > 0 else 0.0,))

    def __neg__(self):
        return self * -1.0

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return other + (-self)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other**-1.0

    def __rtruediv__(self, other):
        return other * self**-1.0

    def backward(self):
        order, seen = [], set()

        def visit(node):  # depth first: a node goes in after everything it was made from
            if node not in seen:
                seen.add(node)
                for child in node._children:
                    visit(child)
                order.append(node)

        visit(self)
        self.grad = 1.0
        for node in reversed(order):
            for child, local_grad in zip(node._children, node._local_grads):
                child.grad += local_grad * node.grad


# --- data: names as documents, characters as tokens ----------------------------------------


def training_docs(seed: int = 0) -> list[str]:
    """Every Census first name, shuffled by `seed`: the training documents, in order."""
    from tinygrad_scalar.data import load_names

    docs = load_names()
    random.Random(seed).shuffle(docs)
    return docs


class Tokenizer:
    """One token per character that occurs in the documents (sorted), plus BOS, which
    marks both the start and the end of a document."""

    def __init__(self, docs: Sequence[str]) -> None:
        self.chars = sorted(set("".join(docs)))
        self.bos = len(self.chars)
        self.vocab_size = len(self.chars) + 1
        self._ids = {ch: i for i, ch in enumerate(self.chars)}

    def encode(self, doc: str) -> list[int]:
        return [self.bos, *(self._ids[ch] for ch in doc), self.bos]

    def decode(self, tokens: Sequence[int]) -> str:
        return "".join(self.chars[t] for t in tokens if t != self.bos)


# --- weights ---------------------------------------------------------------------------------


def weight_shapes(vocab_size: int) -> dict[str, tuple[int, int]]:
    """(rows, columns) of every weight matrix, in parameter order. A linear layer's matrix
    has one row per output (PyTorch's layout)."""
    shapes = {"wte": (vocab_size, N_EMBD), "wpe": (BLOCK_SIZE, N_EMBD)}
    for layer in range(N_LAYER):
        for name in ("attn_wq", "attn_wk", "attn_wv", "attn_wo"):
            shapes[f"layer{layer}.{name}"] = (N_EMBD, N_EMBD)
        shapes[f"layer{layer}.mlp_fc1"] = (MLP_WIDTH, N_EMBD)
        shapes[f"layer{layer}.mlp_fc2"] = (N_EMBD, MLP_WIDTH)
    shapes["lm_head"] = (vocab_size, N_EMBD)
    return shapes


def init_weights(vocab_size: int, seed: int) -> Weights:
    """Initial weights as plain floats, N(0, INIT_STD^2), so every engine starts equal."""
    rng = random.Random(seed)
    return {
        name: [[rng.gauss(0.0, INIT_STD) for _ in range(cols)] for _ in range(rows)]
        for name, (rows, cols) in weight_shapes(vocab_size).items()
    }


def build_params(value_cls: type, weights: Weights) -> dict[str, list[list[Any]]]:
    """The weights as rows of `value_cls` leaves, same keys and shapes."""
    return {name: [[value_cls(w) for w in row] for row in rows] for name, rows in weights.items()}


def flat_params(params: dict[str, list[list[Any]]]) -> list[Any]:
    """Every parameter in the fixed order: matrices in weight_shapes() order, row-major."""
    return [p for rows in params.values() for row in rows for p in row]


# --- the model, written once for any Value class: operators and builtin sum only -------------


def _linear(x, w):
    return [sum(wi * xi for wi, xi in zip(row, x)) for row in w]


def _rmsnorm(x):
    mean_square = sum(xi * xi for xi in x) / len(x)
    scale = (mean_square + RMSNORM_EPS) ** -0.5
    return [xi * scale for xi in x]


def _softmax(logits):
    shift = max(z.data for z in logits)  # a float constant: it cancels in the ratio
    exps = [(z - shift).exp() for z in logits]
    total = sum(exps)
    return [e / total for e in exps]


def _next_token_logits(params, token, pos, keys, values):
    """Logits for the token after position `pos`; appends this position's keys and values
    (one list per layer) to the KV cache."""
    x = [t + p for t, p in zip(params["wte"][token], params["wpe"][pos])]
    x = _rmsnorm(x)
    for layer in range(N_LAYER):
        p = f"layer{layer}."
        residual = x
        x = _rmsnorm(x)
        q = _linear(x, params[p + "attn_wq"])
        keys[layer].append(_linear(x, params[p + "attn_wk"]))
        values[layer].append(_linear(x, params[p + "attn_wv"]))
        heads = []
        for h in range(N_HEAD):
            lo, hi = h * HEAD_DIM, (h + 1) * HEAD_DIM
            scores = [
                sum(qj * kj for qj, kj in zip(q[lo:hi], k[lo:hi])) / HEAD_DIM**0.5
                for k in keys[layer]
            ]
            weights = _softmax(scores)
            heads.extend(
                sum(a * v[j] for a, v in zip(weights, values[layer])) for j in range(lo, hi)
            )
        x = [a + b for a, b in zip(_linear(heads, params[p + "attn_wo"]), residual)]
        residual = x
        hidden = [h.relu() for h in _linear(_rmsnorm(x), params[p + "mlp_fc1"])]
        x = [a + b for a, b in zip(_linear(hidden, params[p + "mlp_fc2"]), residual)]
    return _linear(x, params["lm_head"])


def gpt_loss(value_cls: type, params: dict[str, list[list[Any]]], tokens: Sequence[int]) -> Any:
    """Mean cross-entropy of predicting tokens[1:] from what comes before, token by token
    with a KV cache, over at most BLOCK_SIZE positions. `params` holds `value_cls` leaves
    (from build_params); the arithmetic needs nothing of the class but its operators, so
    `value_cls` only documents which engine the call runs on."""
    del value_cls  # the operators of the params' own class do all the work
    n = min(BLOCK_SIZE, len(tokens) - 1)
    keys = [[] for _ in range(N_LAYER)]
    values = [[] for _ in range(N_LAYER)]
    losses = []
    for pos in range(n):
        probs = _softmax(_next_token_logits(params, tokens[pos], pos, keys, values))
        losses.append(-probs[tokens[pos + 1]].log())
    return (1.0 / n) * sum(losses)


# --- the same model on tinygrad_scalar's n-ary nodes and nn pieces -------------------------


def gpt_loss_fast(params: dict[str, list[list[Any]]], tokens: Sequence[int]) -> Any:
    """gpt_loss's model on tinygrad_scalar.Value, each weighted sum one `dot` node, through
    the library's nn.take / nn.rmsnorm / nn.linear / nn.attention and losses.cross_entropy."""
    from tinygrad_scalar import losses, nn

    n = min(BLOCK_SIZE, len(tokens) - 1)
    caches = [nn.KVCache() for _ in range(N_LAYER)]
    logits_rows = []
    for pos in range(n):
        token_row, pos_row = nn.take(params["wte"], tokens[pos]), nn.take(params["wpe"], pos)
        x = nn.rmsnorm([t + p for t, p in zip(token_row, pos_row)], RMSNORM_EPS)
        for layer, cache in enumerate(caches):
            p = f"layer{layer}."
            xn = nn.rmsnorm(x, RMSNORM_EPS)
            cache.keys.append(nn.linear(xn, params[p + "attn_wk"]))
            cache.values.append(nn.linear(xn, params[p + "attn_wv"]))
            query = nn.linear(xn, params[p + "attn_wq"])
            heads, _ = nn.attention(query, cache.keys, cache.values, N_HEAD)
            x = [a + b for a, b in zip(nn.linear(heads, params[p + "attn_wo"]), x)]
            hidden = [
                h.relu() for h in nn.linear(nn.rmsnorm(x, RMSNORM_EPS), params[p + "mlp_fc1"])
            ]
            x = [a + b for a, b in zip(nn.linear(hidden, params[p + "mlp_fc2"]), x)]
        logits_rows.append(nn.linear(x, params["lm_head"]))
    return losses.cross_entropy(logits_rows, list(tokens[1 : n + 1]))


# --- Adam with a linearly decaying learning rate -------------------------------------------


@dataclass
class AdamState:
    """Adam's running first and second moments, one entry per parameter."""

    m: list[float]
    v: list[float]

    @classmethod
    def zeros(cls, n: int) -> AdamState:
        return cls([0.0] * n, [0.0] * n)


def learning_rate(step: int, num_steps: int) -> float:
    return LEARNING_RATE * (1 - step / num_steps)


def adam_step(params: Sequence[Any], state: AdamState, step: int, num_steps: int) -> None:
    """One Adam update of every parameter from its .grad (step counts from 0), then the
    gradients are reset to 0 for the next backward pass."""
    lr = learning_rate(step, num_steps)
    correction1, correction2 = 1 - BETA1 ** (step + 1), 1 - BETA2 ** (step + 1)
    m, v = state.m, state.v
    for i, p in enumerate(params):
        g = p.grad
        m[i] = BETA1 * m[i] + (1 - BETA1) * g
        v[i] = BETA2 * v[i] + (1 - BETA2) * g * g
        p.data -= lr * (m[i] / correction1) / ((v[i] / correction2) ** 0.5 + ADAM_EPS)
        p.grad = 0.0


def train_step(
    loss_of: Callable[[Any, Sequence[int]], Any],
    params: dict[str, list[list[Any]]],
    state: AdamState,
    tokens: Sequence[int],
    step: int,
    num_steps: int,
) -> float:
    """Forward, backward and one Adam update on one document; returns the loss before it.
    `loss_of(params, tokens)` is gpt_loss (with its class bound) or gpt_loss_fast."""
    loss = loss_of(params, tokens)
    loss.backward()
    adam_step(flat_params(params), state, step, num_steps)
    return loss.data


def batch_train_step(
    loss_of: Callable[[Any, Sequence[int]], Any],
    params: dict[str, list[list[Any]]],
    state: AdamState,
    docs: Sequence[Sequence[int]],
    step: int,
    num_steps: int,
) -> float:
    """train_step on the mean loss of a batch of documents, as an eager engine runs a batch:
    a loop over the documents, each one's graph built, backpropagated (scaled by
    1/len(docs), so the gradients add up to those of the mean) and dropped before the
    next is built; then one Adam update. Returns the mean loss before the update."""
    scale = 1.0 / len(docs)
    total = 0.0
    for tokens in docs:
        loss = scale * loss_of(params, tokens)
        loss.backward()
        total += loss.data
        del loss  # free this graph now: a live one slows Python's collector as the next grows
    adam_step(flat_params(params), state, step, num_steps)
    return total


# --- PyTorch, float64 --------------------------------------------------------------------------


def torch_gpt(weights: Weights) -> Any:
    """The model as a float64 torch.nn.Module holding copies of `weights`; calling it on a
    document's tokens returns the loss. It processes the whole document at once, with a
    causal mask in place of the KV cache: the same numbers."""
    import torch
    from torch.nn import functional as F

    class TorchGPT(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.names = list(weights)
            self.weights = torch.nn.ParameterDict(
                {
                    name.replace(".", "_"): torch.nn.Parameter(
                        torch.tensor(rows, dtype=torch.float64)
                    )
                    for name, rows in weights.items()
                }
            )

        def ordered_parameters(self) -> list[Any]:
            """The parameters in flat_params() order."""
            return [self.weights[name.replace(".", "_")] for name in self.names]

        def forward(self, tokens: Sequence[int] | Sequence[Sequence[int]]) -> Any:
            """The loss of one document, or the mean loss of a batch of documents of
            equal length (a list of token lists) run at once."""
            w = lambda name: self.weights[name.replace(".", "_")]
            docs = torch.as_tensor(tokens)
            docs = docs[None] if docs.dim() == 1 else docs  # (documents, tokens)
            batch, n = docs.shape[0], min(BLOCK_SIZE, docs.shape[1] - 1)
            inputs, targets = docs[:, :n], docs[:, 1 : n + 1]
            x = F.rms_norm(w("wte")[inputs] + w("wpe")[:n], (N_EMBD,), eps=RMSNORM_EPS)
            for layer in range(N_LAYER):
                p = f"layer{layer}."
                xn = F.rms_norm(x, (N_EMBD,), eps=RMSNORM_EPS)
                q, k, v = (
                    (xn @ w(p + name).T).view(batch, n, N_HEAD, HEAD_DIM).transpose(1, 2)
                    for name in ("attn_wq", "attn_wk", "attn_wv")
                )
                heads = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                x = x + heads.transpose(1, 2).reshape(batch, n, N_EMBD) @ w(p + "attn_wo").T
                hidden = F.relu(F.rms_norm(x, (N_EMBD,), eps=RMSNORM_EPS) @ w(p + "mlp_fc1").T)
                x = x + hidden @ w(p + "mlp_fc2").T
            logits = x @ w("lm_head").T
            # every document predicts n tokens, so the mean over all of them is the mean
            # of the documents' losses
            return F.cross_entropy(logits.reshape(batch * n, -1), targets.reshape(batch * n))

    return TorchGPT()


def torch_adam(model: Any) -> Any:
    """PyTorch's Adam with adam_step's settings (the learning rate is set per step)."""
    import torch

    return torch.optim.Adam(
        model.ordered_parameters(), lr=LEARNING_RATE, betas=(BETA1, BETA2), eps=ADAM_EPS
    )


def torch_train_step(
    model: Any,
    optimizer: Any,
    tokens: Sequence[int] | Sequence[Sequence[int]],
    step: int,
    num_steps: int,
) -> float:
    """train_step for the PyTorch model: forward, backward, one Adam update, on one
    document or on a batch of documents of equal length at once (their mean loss)."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(step, num_steps)
    optimizer.zero_grad()
    loss = model(tokens)
    loss.backward()
    optimizer.step()
    return loss.item()
