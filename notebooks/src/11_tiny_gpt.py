# %% [markdown]
# # 11 · A tiny GPT on Values
#
# The model behind ChatGPT is a *transformer*: it reads a text one token at a time and
# predicts the next. Nothing in it is beyond the engine of the earlier notebooks: every
# number below is a `Value`, and one `backward()` gives the gradient of the loss with
# respect to every weight, through the attention too.
#
# We train a character-level GPT on about 5,000 first names from the 1990 US Census and
# then ask it to invent new ones. Sizes as in Karpathy's microgpt: 1 layer, 16-dimensional
# embeddings, 4 attention heads, a context of 16 characters.
#
# *Draft: this notebook trains eagerly; it will switch to `compile` once compiled steps take
# integer token inputs.*

# %%

import math
import random

import matplotlib.pyplot as plt

from tinygrad_scalar import Value, no_grad
from tinygrad_scalar.data import load_names
from tinygrad_scalar.losses import cross_entropy, softmax
from tinygrad_scalar.nn import (
    CausalSelfAttention,
    Embedding,
    KVCache,
    Layer,
    Module,
    attention,
    rmsnorm,
)
from tinygrad_scalar.optim import Adam, LinearLR

plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## The data and the tokenizer
#
# Each name is one *document*. The tokenizer gives every letter an integer id, and adds one
# special token, BOS ("beginning of sequence"), that marks where a name starts and where it
# ends. The model learns to predict the next token at every position: after BOS the first
# letter, after the last letter BOS.

# %%
names = load_names()
random.Random(0).shuffle(names)
chars = sorted(set("".join(names)))
BOS = len(chars)
vocab_size = len(chars) + 1
print(len(names), "names, e.g.", names[:6])
print("vocabulary:", "".join(chars), "+ BOS =", vocab_size, "tokens")


def encode(name):
    return [BOS] + [chars.index(c) for c in name] + [BOS]


def decode(tokens):
    return "".join(chars[t] for t in tokens if t != BOS)


print("emma ->", encode("emma"), "->", decode(encode("emma")))

# %% [markdown]
# ## The pieces
#
# **Embedding rows.** A token id picks a row of 16 learned numbers, its *embedding*; a
# second table gives each position its own row. The model adds the two, so it knows what
# the token is and where it stands.

# %%
token_embedding = Embedding(vocab_size, 16, std=0.08, seed=0)
row = token_embedding(encode("emma")[1])
print("the row of 'e':", [round(v.data, 3) for v in row[:6]], "...")

# %% [markdown]
# **rmsnorm** rescales a vector to root-mean-square 1, $x_i / \sqrt{\tfrac1n\sum_j x_j^2 +
# \epsilon}$, so every block sees inputs of about the same size however the weights grow.

# %%
normed = rmsnorm(row)
print("rms before:", round(math.sqrt(sum(v.data**2 for v in row) / 16), 4),
      " after:", round(math.sqrt(sum(v.data**2 for v in normed) / 16), 4))

# %% [markdown]
# **Causal self-attention.** Each position makes a *query* (what am I looking for?), a *key*
# (what do I offer?) and a *value* (what do I pass on?), each a linear map of its vector.
# A head scores its query against the keys of the positions so far, $q\cdot k/\sqrt{d}$,
# turns the scores into weights with softmax, and returns the weighted sum of the values.
# Four heads do this on four 4-dimensional slices, and a last linear map mixes their
# outputs. "Causal": a position never sees the ones after it, so the model cannot cheat by
# reading the answer. Going token by token, the keys and values of earlier positions are
# kept in a *KV cache* rather than recomputed.
#
# Here is one head on two positions with 2-dimensional vectors, drawn as a graph; each
# `dot` box is one weighted sum.

# %%
q = [Value(0.5, "q0"), Value(-1.0, "q1")]
keys = [[Value(1.0, "k00"), Value(0.2, "k01")], [Value(-0.3, "k10"), Value(0.8, "k11")]]
values = [[Value(2.0, "v00"), Value(0.0, "v01")], [Value(-1.0, "v10"), Value(1.0, "v11")]]
head_output, (head_weights,) = attention(q, keys, values, n_heads=1)
head_output[0].backward()
print("attention weights:", [round(w.data, 4) for w in head_weights])
head_output[0].draw(precision=3, collapse=True)

# %% [markdown]
# ## The model
#
# Token and position rows, added and normalised; then attention and a relu MLP (4x as
# wide), each added back onto its input (a *residual connection*, which keeps gradients
# flowing); last, the *LM head* maps the vector to one logit per token. The loss is the
# cross-entropy of the true next token, averaged over the positions of a name.

# %%
N_EMBD, N_HEADS, BLOCK_SIZE = 16, 4, 16


class TinyGPT(Module):
    def __init__(self, vocab_size, seed=0):
        rng = random.Random(seed)
        self.tokens = Embedding(vocab_size, N_EMBD, std=0.08, rng=rng)
        self.positions = Embedding(BLOCK_SIZE, N_EMBD, std=0.08, rng=rng)
        self.attn = CausalSelfAttention(N_EMBD, N_HEADS, std=0.08, rng=rng)
        self.fc1 = Layer(N_EMBD, 4 * N_EMBD, activation="relu", rng=rng)
        self.fc2 = Layer(4 * N_EMBD, N_EMBD, activation="linear", rng=rng)
        self.lm_head = Layer(N_EMBD, vocab_size, activation="linear", rng=rng)

    def step(self, token, position, cache):
        """Logits for the token after `position`; this position joins the KV cache."""
        x = [t + p for t, p in zip(self.tokens(token), self.positions(position))]
        x = rmsnorm(x)
        x = [a + b for a, b in zip(x, self.attn.step(rmsnorm(x), cache))]
        x = [a + b for a, b in zip(x, self.fc2(self.fc1(rmsnorm(x))))]
        return self.lm_head(x)

    def loss(self, tokens):
        n = min(BLOCK_SIZE, len(tokens) - 1)
        cache = KVCache()
        logits = [self.step(tokens[t], t, cache) for t in range(n)]
        return cross_entropy(logits, tokens[1 : n + 1])

    def named_parameters(self):
        parts = ("tokens", "positions", "attn", "fc1", "fc2", "lm_head")
        return [(f"{part}.{name}", p) for part in parts
                for name, p in getattr(self, part).named_parameters()]


model = TinyGPT(vocab_size)
print(model.num_parameters(), "parameters")
print(f"loss on 'emma' before training: {model.loss(encode('emma')).data:.3f}",
      f"(a uniform guess over {vocab_size} tokens scores log {vocab_size} = "
      f"{math.log(vocab_size):.3f})")

# %% [markdown]
# ## Sampling
#
# To write a name, start from BOS, let the model give the probabilities of the next token,
# draw one, feed it back in, and stop at BOS. Dividing the logits by a *temperature* below
# 1 sharpens the distribution (safer, duller names); above 1 flattens it. The untrained
# model spells noise.

# %%


def sample(model, temperature=0.8, rng=None):
    rng = rng or random.Random()
    cache, token, out = KVCache(), BOS, []
    with no_grad():  # no backward pass here: skip recording the graph
        for position in range(BLOCK_SIZE):
            logits = model.step(token, position, cache)
            probs = softmax([z / temperature for z in logits])
            token = rng.choices(range(vocab_size), weights=[p.data for p in probs])[0]
            if token == BOS:
                break
            out.append(token)
    return decode(out)


print("before training:", [sample(model, rng=random.Random(i)) for i in range(8)])

# %% [markdown]
# ## Training
#
# One name per step: forward, backward, an Adam step whose learning rate falls linearly to
# 0. A short run, so the notebook stays quick; raise `steps` to a few thousand for better
# names.

# %%
steps = 300
optimizer = Adam(model.parameters(), lr=0.01, betas=(0.85, 0.99))
schedule = LinearLR(optimizer, start_factor=1.0, end_factor=0.0, total_iters=steps)
history = []
for step in range(steps):
    loss = model.loss(encode(names[step % len(names)]))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    schedule.step()
    history.append(loss.data)
    if step % 50 == 0 or step == steps - 1:
        print(f"step {step:4d}  loss {loss.data:.3f}")

# %%
window = 20
smoothed = [sum(history[max(0, i - window + 1) : i + 1]) / len(history[max(0, i - window + 1) : i + 1])
            for i in range(len(history))]
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(history, alpha=0.3, label="one name")
ax.plot(smoothed, label=f"mean of the last {window}")
ax.axhline(math.log(vocab_size), color="gray", linestyle=":", label="uniform guess")
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
for temperature in (0.5, 1.0):
    print(f"temperature {temperature}:", [sample(model, temperature, random.Random(i)) for i in range(8)])

# %% [markdown]
# ## Where the heads look
#
# Running one name through the model with a fresh cache keeps each head's attention
# weights: row t shows how position t spreads its attention over positions 0..t.

# %%
name = "isabella"
tokens = encode(name)
cache = KVCache()
with no_grad():
    for t in range(len(tokens) - 1):
        model.step(tokens[t], t, cache)
labels = ["BOS", *name]
fig, axes = plt.subplots(1, N_HEADS, figsize=(12, 3.4))
for h, ax in enumerate(axes):
    grid = [[cache.weights[t][h][s].data if s <= t else float("nan") for s in range(len(labels))]
            for t in range(len(labels))]
    ax.imshow(grid, cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"head {h}")
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("attends to")
axes[0].set_ylabel("position")
fig.tight_layout()
plt.show()
