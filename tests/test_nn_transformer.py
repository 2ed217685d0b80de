"""The transformer pieces of tinygrad_scalar.nn: Embedding rows, rmsnorm, causal
self-attention with a KV cache. Checked against central differences everywhere, and
against PyTorch in float64 where it is installed."""

import math
import random

import pytest

from tinygrad_scalar import Value, gradcheck
from tinygrad_scalar import sum as value_sum
from tinygrad_scalar.nn import (
    CausalSelfAttention,
    Embedding,
    KVCache,
    Module,
    attention,
    linear,
    rmsnorm,
)

REL = 1e-12  # PyTorch float64 agreement, relative to the size of the numbers compared


def assert_close(ours, theirs, rel=REL):
    """Element-wise |a - b| <= rel * max(|b|, 1e-3 * the largest |b|): relative, without
    demanding 12 digits of a number that is 0 up to rounding."""
    ours, theirs = [float(a) for a in ours], [float(b) for b in theirs]
    assert len(ours) == len(theirs)
    floor = 1e-3 * max(abs(b) for b in theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert abs(a - b) <= rel * max(abs(b), floor), f"element {i}: {a!r} vs {b!r}"


def data(vectors):
    return [[v.data for v in row] for row in vectors]


def grads(rows):
    return [w.grad for row in rows for w in row]


def flat(rows):
    return [x for row in rows for x in row]


def random_rows(rng, n_rows, n_cols, scale=1.0):
    return [[rng.gauss(0.0, scale) for _ in range(n_cols)] for _ in range(n_rows)]


def numeric_gradient(loss_of, leaf, eps=1e-6):
    """Central difference of loss_of() in one leaf Value's data."""
    x = leaf.data
    leaf.data = x + eps
    up = loss_of().data
    leaf.data = x - eps
    down = loss_of().data
    leaf.data = x
    return (up - down) / (2 * eps)


# --- without torch: shapes, the KV cache, causality, central differences -------------------


def test_embedding_looks_up_rows_and_gradients_reach_only_those_rows():
    emb = Embedding(5, 3, seed=0)
    assert emb(2) is emb.weight[2]
    loss = value_sum(emb(2) + emb(4) + emb(2))  # row 2 twice: its gradient accumulates
    loss.backward()
    assert grads(emb.weight) == [0.0] * 6 + [2.0] * 3 + [0.0] * 3 + [1.0] * 3
    assert [name for name, _ in emb.named_parameters()][:4] == [
        "weight.0.0",
        "weight.0.1",
        "weight.0.2",
        "weight.1.0",
    ]


def test_embedding_rows_start_as_normal_draws_with_the_given_std():
    emb = Embedding(100, 50, std=0.5, seed=3)
    xs = [p.data for p in emb.parameters()]
    mean = sum(xs) / len(xs)
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs))
    assert abs(mean) < 0.03 and abs(std - 0.5) < 0.02
    assert [p.data for p in Embedding(100, 50, std=0.5, seed=3).parameters()] == xs


def test_rmsnorm_output_has_unit_root_mean_square():
    xs = [Value(x) for x in [3.0, -4.0, 12.0, 0.5]]
    out = [y.data for y in rmsnorm(xs, eps=0.0)]
    assert math.isclose(math.sqrt(sum(y * y for y in out) / 4), 1.0, rel_tol=1e-15)
    rms = math.sqrt((9 + 16 + 144 + 0.25) / 4)
    assert out == pytest.approx([3.0 / rms, -4.0 / rms, 12.0 / rms, 0.5 / rms], rel=1e-15)


def test_rmsnorm_gradients_match_central_differences():
    c = [0.3, -1.2, 0.7, 2.0]
    assert gradcheck(
        lambda *xs: value_sum(ci * y for ci, y in zip(c, rmsnorm(xs))), 0.4, -1.1, 2.5, 0.05
    )


def test_attention_weights_are_a_softmax_over_the_positions_so_far():
    attn = CausalSelfAttention(8, n_heads=2, seed=1)
    xs = random_rows(random.Random(0), 4, 8)
    cache = KVCache()
    attn(xs, cache)
    assert len(cache) == 4 and [len(k) for k in cache.keys] == [8] * 4
    for t, per_head in enumerate(cache.weights):
        assert len(per_head) == 2
        for weights in per_head:
            assert len(weights) == t + 1  # position t sees positions 0..t
            assert math.isclose(sum(w.data for w in weights), 1.0, rel_tol=1e-14)
    assert [w.data for w in cache.weights[0][0]] == [1.0]


def test_step_by_step_with_a_kv_cache_equals_the_whole_sequence():
    attn = CausalSelfAttention(8, n_heads=4, seed=2)
    xs = random_rows(random.Random(1), 5, 8)
    cache = KVCache()
    stepped = [attn.step(x, cache) for x in xs]
    assert data(stepped) == data(attn(xs))


def test_attention_is_causal_a_later_input_changes_no_earlier_output():
    attn = CausalSelfAttention(8, n_heads=2, seed=3)
    xs = random_rows(random.Random(2), 5, 8)
    before = data(attn(xs))
    xs[3] = [x + 10.0 for x in xs[3]]
    after = data(attn(xs))
    assert after[:3] == before[:3]
    assert after[3] != before[3] and after[4] != before[4]


def test_attention_over_one_value_returns_that_value():
    value = [Value(x) for x in [1.0, 2.0, 3.0, 4.0]]
    out, weights = attention([Value(0.5)] * 4, [[Value(9.0)] * 4], [value], n_heads=2)
    assert [v.data for v in out] == [1.0, 2.0, 3.0, 4.0]
    assert [[w.data for w in head] for head in weights] == [[1.0], [1.0]]


def test_attention_gradients_match_central_differences():
    attn = CausalSelfAttention(4, n_heads=2, std=0.5, seed=4)
    rng = random.Random(3)
    xs = [[Value(x) for x in row] for row in random_rows(rng, 3, 4)]
    c = random_rows(rng, 3, 4)

    def loss_of():
        return value_sum(ci * y for crow, row in zip(c, attn(xs)) for ci, y in zip(crow, row))

    leaves = flat(xs) + attn.parameters()
    loss_of().backward()
    for leaf in leaves:
        assert math.isclose(leaf.grad, numeric_gradient(loss_of, leaf), rel_tol=1e-6, abs_tol=1e-8)


def test_linear_is_one_dot_per_row():
    out = linear([1.0, 2.0], [[3.0, 4.0], [-1.0, 0.5]])
    assert [y.data for y in out] == [11.0, 0.0]
    assert all(len(y.parents) == 4 for y in out)  # one node over the row and the inputs


def test_attention_heads_must_split_the_width():
    with pytest.raises(ValueError, match="n_embd 10 does not split into 4 heads"):
        CausalSelfAttention(10, n_heads=4)
    with pytest.raises(ValueError, match="CausalSelfAttention expects vectors of 8, got 3"):
        CausalSelfAttention(8, n_heads=2, seed=0).step([1.0, 2.0, 3.0], KVCache())


def test_rmsnorm_and_attention_reject_shapes_they_cannot_use():
    with pytest.raises(ValueError, match="rmsnorm needs at least one value"):
        rmsnorm([])
    with pytest.raises(ValueError, match="a query of 6 does not split into 4 heads"):
        attention([Value(1.0)] * 6, [[Value(1.0)] * 6], [[Value(1.0)] * 6], n_heads=4)


@pytest.mark.parametrize(
    "make", [lambda: Embedding(6, 4, seed=0), lambda: CausalSelfAttention(8, 2, seed=0)]
)
def test_transformer_modules_save_and_load(tmp_path, make):
    model = make()
    path = tmp_path / "model.json"
    model.save(path)
    again = type(model).load(path)
    assert isinstance(again, Module) and again.config() == model.config()
    assert again.state_dict() == model.state_dict()
    assert [p.data for p in again.parameters()] == [p.data for p in model.parameters()]


# --- against PyTorch in float64 --------------------------------------------------------------


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def test_embedding_matches_torch(torch):
    emb = Embedding(7, 5, seed=5)
    indices = [3, 0, 3, 6]
    c = random_rows(random.Random(4), len(indices), 5)
    rows = [emb(i) for i in indices]
    loss = value_sum(ci * x for crow, row in zip(c, rows) for ci, x in zip(crow, row))
    loss.backward()

    weight = torch.tensor(data(emb.weight), dtype=torch.float64, requires_grad=True)
    rows_t = torch.nn.functional.embedding(torch.tensor(indices), weight)
    loss_t = (torch.tensor(c, dtype=torch.float64) * rows_t).sum()
    loss_t.backward()
    assert_close(flat(data(rows)), rows_t.flatten().tolist())
    assert_close([loss.data], [loss_t.item()])
    assert_close(grads(emb.weight), weight.grad.flatten().tolist())


@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_rmsnorm_matches_torch(torch, eps):
    rng = random.Random(6)
    xs = [Value(rng.gauss(0.0, 2.0)) for _ in range(16)]
    c = [rng.gauss(0.0, 1.0) for _ in range(16)]
    out = rmsnorm(xs, eps=eps)
    value_sum(ci * y for ci, y in zip(c, out)).backward()

    x_t = torch.tensor([x.data for x in xs], dtype=torch.float64, requires_grad=True)
    out_t = torch.nn.functional.rms_norm(x_t, (16,), eps=eps)
    (torch.tensor(c, dtype=torch.float64) * out_t).sum().backward()
    assert_close([y.data for y in out], out_t.tolist())
    assert_close([x.grad for x in xs], x_t.grad.tolist())


@pytest.mark.parametrize("n_heads", [1, 4])
def test_causal_self_attention_matches_torch(torch, n_heads):
    n_embd, T = 16, 6
    attn = CausalSelfAttention(n_embd, n_heads=n_heads, std=0.3, seed=7)
    rng = random.Random(8)
    xs = [[Value(x) for x in row] for row in random_rows(rng, T, n_embd)]
    c = random_rows(rng, T, n_embd)
    cache = KVCache()
    out = attn(xs, cache)
    value_sum(ci * y for crow, row in zip(c, out) for ci, y in zip(crow, row)).backward()

    def leaf(rows):
        return torch.tensor(data(rows), dtype=torch.float64, requires_grad=True)

    x_t = leaf(xs)
    wq, wk, wv, wo = (leaf(w) for w in (attn.wq, attn.wk, attn.wv, attn.wo))
    head_dim = n_embd // n_heads

    def heads(m):  # (T, n_embd) -> (n_heads, T, head_dim)
        return m.view(T, n_heads, head_dim).transpose(0, 1)

    q, k, v = heads(x_t @ wq.T), heads(x_t @ wk.T), heads(x_t @ wv.T)
    mixed = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    out_t = mixed.transpose(0, 1).reshape(T, n_embd) @ wo.T
    (torch.tensor(c, dtype=torch.float64) * out_t).sum().backward()

    # the weights PyTorch uses, causal mask included, to compare with the cache's
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    scores = (q @ k.transpose(1, 2)) / math.sqrt(head_dim)
    weights_t = torch.softmax(scores.masked_fill(~mask, -math.inf), dim=-1)

    assert_close(flat(data(out)), out_t.flatten().tolist())
    for t in range(T):
        for h in range(n_heads):
            assert_close([w.data for w in cache.weights[t][h]], weights_t[h, t, : t + 1].tolist())
    assert_close(grads(xs), x_t.grad.flatten().tolist())
    for ours, theirs in zip((attn.wq, attn.wk, attn.wv, attn.wo), (wq, wk, wv, wo)):
        assert_close(grads(ours), theirs.grad.flatten().tolist())


@pytest.mark.parametrize(
    "keys, values, message",
    [
        ([[1.0, 2.0]], [], "1 keys and 0 values"),
        ([], [], "0 keys and 0 values"),
        ([[1.0, 2.0], [1.0]], [[1.0, 2.0], [3.0, 4.0]], "key 1 has 1 numbers, the query 2"),
        ([[1.0, 2.0]], [[1.0, 2.0, 3.0]], "value 0 has 3 numbers, the query 2"),
    ],
)
def test_attention_names_keys_and_values_that_do_not_fit(keys, values, message):
    from tinygrad_scalar.nn import attention

    with pytest.raises(ValueError, match=message):
        attention([1.0, 0.5], keys, values, n_heads=1)
