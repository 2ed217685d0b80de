"""Pieces of a small transformer (see notebook 11), built from Values.

`Embedding` (rows of Values looked up by index), `rmsnorm`, `linear` (a matrix as rows, no
bias), `attention` and `CausalSelfAttention` (multi-head, with a `KVCache` for
token-by-token processing).
"""

from __future__ import annotations

from typing import Any, Sequence

from .._checks import check_int, make_rng
from ..engine import Value, dot, dots, take
from ..functional import softmax
from .module import Module

# --- pieces of a transformer: embedding rows, rmsnorm, causal self-attention -----------------
#
# Everything below works on plain lists of Values and contains no Python branch on a Value's
# .data, so `compile` can trace it: a branch on a value would run once, at trace time, and be
# frozen for every later sample.


def _matrix(n_rows: int, n_cols: int, std: float, rng: Any) -> list[list[Value]]:
    """A weight matrix as rows of Values drawn from a normal distribution N(0, std^2)."""
    return [[Value(rng.gauss(0.0, std)) for _ in range(n_cols)] for _ in range(n_rows)]


def linear(xs: Sequence[Any], weight: Sequence[Sequence[Any]]) -> list[Value]:
    """`weight @ xs` without a bias: one `dot` node per row of `weight` (a list of rows)."""
    return dots(weight, xs)


def rmsnorm(xs: Sequence[Any], eps: float = 1e-5) -> list[Value]:
    """Root-mean-square normalisation: `x / sqrt(mean(x^2) + eps)` (no learned scale), as
    `torch.nn.functional.rms_norm(x, (len(x),), eps=eps)`. A transformer applies it before
    each block, so every block sees inputs of about unit size."""
    xs = list(xs)
    if not xs:
        raise ValueError("rmsnorm needs at least one value, got an empty vector")
    scale = (dot(xs, xs) / len(xs) + eps) ** -0.5
    return [x * scale for x in xs]


class Embedding(Module):
    """A table of `num_embeddings` rows, each `dim` Values: `emb(i)` is row i (a list).

    A language model keeps one row per token (and one per position) and learns them.
    Rows start as N(0, std^2) draws; PyTorch's nn.Embedding uses std 1.

    >>> emb = Embedding(27, 16, seed=0)
    >>> len(emb(3)), emb.num_parameters()
    (16, 432)
    """

    def __init__(
        self,
        num_embeddings: int,
        dim: int,
        std: float = 1.0,
        seed: int | None = None,
        rng: Any = None,
    ) -> None:
        self.num_embeddings = check_int(num_embeddings, "num_embeddings")
        self.dim = check_int(dim, "dim")
        rng = make_rng(seed, rng, global_when_unseeded=True)
        self.weight = _matrix(self.num_embeddings, self.dim, std, rng)

    def __call__(self, index: int) -> list[Value]:
        return take(self.weight, index)

    @classmethod
    def _config_keys(cls) -> tuple[str, ...]:
        return ("num_embeddings", "dim")

    @classmethod
    def count_parameters(cls, num_embeddings: Any, dim: Any) -> int:
        return check_int(num_embeddings, "num_embeddings") * check_int(dim, "dim")

    def __repr__(self) -> str:
        return f"Embedding({self.num_embeddings}, {self.dim})"


def attention(
    query: Sequence[Any],
    keys: Sequence[Sequence[Any]],
    values: Sequence[Sequence[Any]],
    n_heads: int,
) -> tuple[list[Value], list[list[Value]]]:
    """Multi-head attention of ONE query vector over the given key and value vectors.

    The vectors are split into `n_heads` equal slices. For each head h, the scores are
    `q_h . k_h / sqrt(head_dim)` for every key, their softmax gives the weights, and the
    head's output is the weighted sum of the value slices. Returns (the heads' outputs
    concatenated, the weights of each head). Causality is the caller's: pass only the keys
    and values of positions up to the query's own.
    """
    if len(query) % n_heads:
        raise ValueError(
            f"attention: a query of {len(query)} does not split into {n_heads} heads of equal size"
        )
    if len(keys) != len(values) or not keys:
        raise ValueError(
            f"attention: {len(keys)} keys and {len(values)} values; pass one of each per"
            " position, at least one"
        )
    for what, vectors in (("key", keys), ("value", values)):
        for t, vector in enumerate(vectors):
            if len(vector) != len(query):
                raise ValueError(
                    f"attention: {what} {t} has {len(vector)} numbers, the query {len(query)}"
                )
    head_dim = len(query) // n_heads
    scale = head_dim**-0.5
    output: list[Value] = []
    weights_per_head = []
    for h in range(n_heads):
        lo, hi = h * head_dim, (h + 1) * head_dim
        q = query[lo:hi]
        weights = softmax([dot(q, k[lo:hi]) * scale for k in keys])
        output.extend(dot(weights, [v[j] for v in values]) for j in range(lo, hi))
        weights_per_head.append(weights)
    return output, weights_per_head


class KVCache:
    """The keys and values of the positions a `CausalSelfAttention` has seen so far, and
    the attention weights it computed at each position (`weights[t][h]`: head h's weights
    over positions 0..t), for plotting."""

    def __init__(self) -> None:
        self.keys: list[list[Value]] = []
        self.values: list[list[Value]] = []
        self.weights: list[list[list[Value]]] = []

    def __len__(self) -> int:
        return len(self.keys)


class CausalSelfAttention(Module):
    """Multi-head causal self-attention, as in GPT: each position attends to itself and
    the positions before it, never to later ones.

    Four `n_embd x n_embd` matrices (no biases): queries `wq`, keys `wk`, values `wv`, and
    the output projection `wo`. `attn(xs)` maps a sequence of vectors to a sequence of
    vectors; `attn.step(x, cache)` processes one position, appending its key and value to
    the cache (the KV cache of token-by-token generation). Weights start as
    N(0, std^2) draws.

    >>> attn = CausalSelfAttention(16, n_heads=4, seed=0)
    >>> outs = attn([[0.1] * 16, [0.2] * 16, [0.3] * 16])
    >>> len(outs), len(outs[0]), attn.num_parameters()
    (3, 16, 1024)
    """

    def __init__(
        self,
        n_embd: int,
        n_heads: int,
        std: float = 0.08,
        seed: int | None = None,
        rng: Any = None,
    ) -> None:
        self.n_embd, self.n_heads = self._check_heads(n_embd, n_heads)
        rng = make_rng(seed, rng, global_when_unseeded=True)
        self.wq = _matrix(self.n_embd, self.n_embd, std, rng)
        self.wk = _matrix(self.n_embd, self.n_embd, std, rng)
        self.wv = _matrix(self.n_embd, self.n_embd, std, rng)
        self.wo = _matrix(self.n_embd, self.n_embd, std, rng)

    @staticmethod
    def _check_heads(n_embd: Any, n_heads: Any) -> tuple[int, int]:
        n_embd, n_heads = check_int(n_embd, "n_embd"), check_int(n_heads, "n_heads")
        if n_embd % n_heads:
            raise ValueError(f"n_embd {n_embd} does not split into {n_heads} heads of equal size")
        return n_embd, n_heads

    def step(self, x: Sequence[Any], cache: KVCache) -> list[Value]:
        """The output at the next position, whose input vector is x; x's key and value join
        the cache, so later positions can attend to it."""
        if len(x) != self.n_embd:
            raise ValueError(f"CausalSelfAttention expects vectors of {self.n_embd}, got {len(x)}")
        cache.keys.append(linear(x, self.wk))
        cache.values.append(linear(x, self.wv))
        heads, weights = attention(linear(x, self.wq), cache.keys, cache.values, self.n_heads)
        cache.weights.append(weights)
        return linear(heads, self.wo)

    def __call__(
        self, xs: Sequence[Sequence[Any]], cache: KVCache | None = None
    ) -> list[list[Value]]:
        cache = KVCache() if cache is None else cache
        return [self.step(x, cache) for x in xs]

    @classmethod
    def _config_keys(cls) -> tuple[str, ...]:
        return ("n_embd", "n_heads")

    @classmethod
    def count_parameters(cls, n_embd: Any, n_heads: Any) -> int:
        n_embd, _ = cls._check_heads(n_embd, n_heads)
        return 4 * n_embd * n_embd

    def __repr__(self) -> str:
        return f"CausalSelfAttention({self.n_embd}, n_heads={self.n_heads})"
