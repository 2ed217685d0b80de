# %% [markdown]
# # 11 · A tiny GPT on Values
#
# A GPT reads text one token at a time and, at every position, guesses the token that
# comes next. It is built from the same parts as the earlier notebooks: weighted sums,
# a nonlinearity, softmax and cross-entropy. Each number below is a `Value`, and one
# backward pass gives the gradient of the loss with respect to every weight, attention
# included.
#
# We train a character-level GPT on about 5,000 first names from the 1990 US Census, then
# let it make up new ones. The sizes follow Karpathy's microgpt: 1 layer, vectors of 16
# numbers, 4 attention heads, room for 16 characters.

# %%
import math
import random

import matplotlib.pyplot as plt

import tinygrad_scalar as ts
from tinygrad_scalar import Value, no_grad
from tinygrad_scalar.data import CharTokenizer, batches_by_length, load_names
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
# Each name is one *document*. A tokenizer turns text into integers: here every letter
# gets an id, and one extra id, BOS ("beginning of sequence"), is written before and after
# each name. The model learns to predict the next token everywhere: after BOS the first
# letter, after the last letter BOS, which is how it says "the name ends here".

# %%
names = load_names()  # lowercase, shipped with the package
tokenizer = CharTokenizer(names)
BOS, vocab_size = tokenizer.bos, tokenizer.vocab_size
print(len(names), "names, e.g.", random.Random(0).sample(names, 6))
print(tokenizer)
print("emma ->", tokenizer.encode("emma"), "->", tokenizer.decode(tokenizer.encode("emma")))

# %% [markdown]
# ## The pieces
#
# **Embedding rows.** A token id selects one row of a table of learned numbers, its
# *embedding*. A second table holds one row per position. The model adds the two rows,
# so the vector it works on says both which letter this is and where it stands.
# `take(table, i)` is the lookup; `Embedding` is a table with that lookup.

# %%
N_EMBD, N_HEADS, BLOCK_SIZE = 16, 4, 16

token_rows = Embedding(vocab_size, N_EMBD, std=0.08, seed=0)
e = token_rows(tokenizer.encode("emma")[1])  # the row of 'e'
print("the row of 'e':", [round(v.data, 3) for v in e[:5]], "...", len(e), "numbers")
print("the same row by take:", ts.take(token_rows.weight, 4) is e)

# %% [markdown]
# **rmsnorm** divides a vector by its root mean square,
# $x_i / \sqrt{\tfrac1n\sum_j x_j^2 + \epsilon}$, so that every block receives inputs of
# about size 1, however large the weights before it grow. The sum of squares is one
# `dot` node of the vector with itself.

# %%
normed = rmsnorm(e)
print("rms before:", round(math.sqrt(sum(v.data**2 for v in e) / N_EMBD), 4))
print("rms after: ", round(math.sqrt(sum(v.data**2 for v in normed) / N_EMBD), 4))

# %% [markdown]
# **Causal self-attention** lets a position gather information from earlier ones.
#
# 1. Each position turns its vector into three: a *query* (what it is looking for), a *key*
#    (what it holds) and a *value* (what it hands on). Each is a matrix times the vector.
# 2. The query is compared with the key of every position so far: the *score* is the dot
#    product $q \cdot k$, divided by $\sqrt{d}$ ($d$ the length of the vectors) so the
#    scores do not grow with $d$.
# 3. softmax turns the scores into weights that are positive and sum to 1.
# 4. The output is the weighted sum of the values.
#
# With 4 *heads*, the 16 numbers are cut into 4 slices of 4 and each slice does steps 2-4
# on its own, so one head can look at the previous letter while another looks at the
# start of the name. A last matrix mixes the heads' outputs. *Causal* means a position
# only sees itself and the positions before it: it cannot peek at the letter it has to
# predict. When we generate text one token at a time, the keys and values of the earlier
# positions do not change, so they are kept in a list, the *KV cache*, instead of being
# computed again.
#
# Here is one head on two positions, with vectors of 2 numbers:

# %%
q = [Value(0.5, "q0"), Value(-1.0, "q1")]
keys = [[Value(1.0, "k00"), Value(0.2, "k01")], [Value(-0.3, "k10"), Value(0.8, "k11")]]
values = [[Value(2.0, "v00"), Value(0.0, "v01")], [Value(-1.0, "v10"), Value(1.0, "v11")]]
head_output, (head_weights,) = attention(q, keys, values, n_heads=1)
scores = [(q[0].data * k[0].data + q[1].data * k[1].data) / math.sqrt(2) for k in keys]
print("scores q.k/sqrt(2):", [round(s, 4) for s in scores])
print("weights (softmax): ", [round(w.data, 4) for w in head_weights])
print("output:            ", [round(o.data, 4) for o in head_output])

# %% [markdown]
# The graph of the head's first output number, after `backward()`. With `collapse=True`
# each weighted sum is one box: a score box holds the query's two numbers as its
# "2 parameters", and the output box weighs the values. Between them is the softmax:
# `max_shift` subtracts the largest score (so that `exp` cannot overflow; the shift
# cancels, so its gradient is 0 up to rounding), then `exp`, the `sum` and the
# divisions. (`ts.explore(head_output[0])` shows the same graph on a page that steps
# through the forward and backward pass node by node.)

# %%
head_output[0].backward()
ts.draw(head_output[0], precision=3, collapse=True)

# %% [markdown]
# ## The model
#
# For each position: the token row plus the position row, normalised; then attention and
# a relu MLP (4 times as wide as the vectors), each one's result *added* to its input (a
# *residual connection*: the sum passes the gradient straight through, which keeps
# training stable); last, the *LM head* maps the vector to one score (*logit*) per token.
# The loss of a name is the mean cross-entropy of the true next token over its positions.
#
# `loss(*tokens)` takes the tokens as separate arguments. They can be Python ints, or,
# when `compile` traces the function, integer inputs whose values change from sample to
# sample; `take` (inside `Embedding`) and `cross_entropy` accept both.

# %%


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

    def loss(self, *tokens):
        """Mean cross-entropy of predicting tokens[1:] from the tokens before them."""
        n = min(BLOCK_SIZE, len(tokens) - 1)
        cache = KVCache()
        logits = [self.step(tokens[t], t, cache) for t in range(n)]
        return cross_entropy(logits, list(tokens[1 : n + 1]))

    def named_parameters(self):
        parts = ("tokens", "positions", "attn", "fc1", "fc2", "lm_head")
        return [
            (f"{part}.{name}", p)
            for part in parts
            for name, p in getattr(self, part).named_parameters()
        ]


model = TinyGPT(vocab_size)
print(model.num_parameters(), "parameters")
print(
    f"loss on 'emma' before training: {model.loss(*tokenizer.encode('emma')).data:.3f};",
    f"a uniform guess over {vocab_size} tokens scores ln {vocab_size} = {math.log(vocab_size):.3f}",
)

# %% [markdown]
# ## Sampling
#
# To write a name: start from BOS, let the model give the probabilities of the next
# token, draw one at random with those probabilities, feed it back in, and stop when it
# draws BOS. Dividing the logits by a *temperature* below 1 sharpens the distribution
# (likelier letters, safer names); above 1 flattens it (more surprising names). Before
# training the letters are close to uniform noise.

# %%


def sample(model, temperature=0.8, rng=None):
    rng = rng or random.Random()
    cache, token, out = KVCache(), BOS, []
    with no_grad():  # no backward pass here, so no graph is recorded
        for position in range(BLOCK_SIZE):
            logits = model.step(token, position, cache)
            probs = softmax([z / temperature for z in logits])
            token = rng.choices(range(vocab_size), weights=[p.data for p in probs])[0]
            if token == BOS:
                break
            out.append(token)
    return tokenizer.decode(out)


print("before training:", [sample(model, 1.0, random.Random(i)) for i in range(8)])

# %% [markdown]
# ## Training through `compile`
#
# The graph of one 6-letter name has thousands of nodes; building it in Python for every
# name of every step is slow. The graph's *shape* depends only on the length of the name,
# not on its letters, so `compile` can record it once per length and then run the same
# operations for a whole batch of names with NumPy: every `dot` of the layers (the
# weighted sums of `linear`, `Layer` and `rmsnorm`) becomes one matrix product, and each
# sample picks its own embedding rows and targets.
#
# `compile_by_shape` keeps one compiled step per shape and traces a new one the first
# time a length comes; `batches_by_length` groups the names into batches of equal length.
# A step returns the mean loss over the batch and adds its gradient into each weight's
# `.grad`, as `backward()` would. The same batch through the plain engine, name by name,
# gives the same number:

# %%
documents = [tokenizer.encode(name) for name in names]
train_step = ts.compile_by_shape(model.loss, model.parameters())

batch = [tokenizer.encode(name) for name in ("emma", "liam", "noah", "mila")]
columns = list(zip(*batch))  # one argument per position: token t of every name
print("compiled:", round(train_step.evaluate(*columns), 10))
eager = ts.sum([model.loss(*tokens) for tokens in batch]) / len(batch)
print("eager:   ", round(eager.data, 10))
print("the step for 4-letter names:", train_step.step_for(*columns))

# %% [markdown]
# Adam updates the weights, with a learning rate that falls in a straight line from 0.01
# to 0 over the run (`LinearLR`). Each step takes one batch of 32 names of one length.
# A short run, so that the notebook stays quick (the training takes about 15 s here).
# For better names, raise `steps` to 5000: about five times as long, and the mean loss of
# the last 100 batches falls from about 2.06 to about 1.95, enough to turn "corgmes"
# into "corine".

# %%
steps, batch_size = 1000, 32
optimizer = Adam(model.parameters(), lr=0.01, betas=(0.85, 0.99))
schedule = LinearLR(optimizer, start_factor=1.0, end_factor=0.0, total_iters=steps)
history, queue, epoch = [], [], 0
for step in range(steps):
    if not queue:  # a new pass over the names, in a new order
        queue, epoch = batches_by_length(documents, batch_size, seed=epoch), epoch + 1
    batch = queue.pop()
    optimizer.zero_grad()
    loss = train_step(*zip(*batch))
    optimizer.step()
    schedule.step()
    history.append(loss)
    if step % 200 == 0 or step == steps - 1:
        print(f"step {step:4d}  loss {loss:.3f}")
print(f"{train_step.traces} compiled steps, one per name length: {len(history)} batches")

# %%
window = 50
smoothed = [
    sum(history[max(0, i - window + 1) : i + 1]) / len(history[max(0, i - window + 1) : i + 1])
    for i in range(len(history))
]
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(history, alpha=0.3, label="one batch")
ax.plot(smoothed, label=f"mean of the last {window}")
ax.axhline(math.log(vocab_size), color="gray", linestyle=":", label="uniform guess")
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy per token")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Names after training
#
# The same random draws as before training, at three temperatures:

# %%
for temperature in (0.5, 0.8, 1.0):
    drawn = [sample(model, temperature, random.Random(i)) for i in range(8)]
    print(f"temperature {temperature}:", drawn)

# %% [markdown]
# ## Where the heads look
#
# Running one name through the model with a fresh cache keeps every head's attention
# weights (`cache.weights[t][h]`): row t of a map shows how position t shares its
# attention among positions 0..t. The grey triangle is the future, which no position sees.

# %%
name = "isabella"
tokens = tokenizer.encode(name)
cache = KVCache()
with no_grad():
    for t in range(len(tokens) - 1):
        model.step(tokens[t], t, cache)
labels = ["BOS", *name]
fig, axes = plt.subplots(1, N_HEADS, figsize=(12, 3.4))
for h, ax in enumerate(axes):
    grid = [
        [cache.weights[t][h][s].data if s <= t else float("nan") for s in range(len(labels))]
        for t in range(len(labels))
    ]
    ax.set_facecolor("#dddddd")
    image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"head {h}")
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("looks at")
axes[0].set_ylabel("position")
fig.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
plt.show()

# %% [markdown]
# ## Try it
#
# Write your answer in place of `...` after `answer =` and run the cell: the engine
# checks it. Under each exercise a collapsed cell holds a solution; click it (or the `⋯`
# in its place) to open it.
#
# **1.** How many compiled steps did training trace? (Hint: what decides a graph's shape
# here?) Compute it from `names`.

# %%
from tinygrad_scalar.notebook import check

answer = ...
check(answer, train_step.traces)

# %% jupyter={"source_hidden": true}
# Solution
# one step per length of name: a name of n letters has n + 2 tokens, so n + 2 arguments.
answer = len({len(name) for name in names})
check(answer, train_step.traces)

# %% [markdown]
# **2.** One head with query $q = [1, 0]$ and two keys $k_0 = [2, 0]$, $k_1 = [0, 0]$
# (vectors of 2, so the scores are divided by $\sqrt 2$). What weight does it give to
# position 0? Four decimals.

# %%
_, (weights_2,) = attention([1.0, 0.0], [[2.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], n_heads=1)

answer = ...
check(answer, weights_2[0], tolerance=1e-4)

# %% jupyter={"source_hidden": true}
# Solution
# scores 2 / sqrt(2) = sqrt(2) and 0; softmax: e^sqrt(2) / (e^sqrt(2) + 1).
answer = math.exp(math.sqrt(2)) / (math.exp(math.sqrt(2)) + 1)
check(answer, weights_2[0], tolerance=1e-4)

# %% [markdown]
# **3.** How many weights does the attention block `CausalSelfAttention(16, 4)` have? Does
# the number of heads change it?

# %%
answer = ...
check(answer, CausalSelfAttention(16, 4, seed=0).num_parameters())

# %% jupyter={"source_hidden": true}
# Solution
# four 16 x 16 matrices (queries, keys, values, output) and no biases. The heads only cut
# the vectors into slices, so 1, 2, 4 or 8 heads all give the same count.
answer = 4 * 16 * 16
check(answer, CausalSelfAttention(16, 4, seed=0).num_parameters())

# %% [markdown]
# ## Onward to PyTorch
#
# Every name length's compiled step is one traced graph, and `to_torch()` turns them all
# into one `torch.nn.Module`. Its single parameter vector holds all of the model's
# weights in order, `net(*columns)` is the mean loss of a batch as a torch tensor, and
# its backward pass runs the same derivatives from `rules.py`, now driven by torch's
# autograd. From here on it is a PyTorch model: its optimizers, GPUs and
# `DistributedDataParallel` (several processes, each on part of every batch) take it
# further. Here it trains on 50 more batches with `torch.optim.Adam`, at a small
# learning rate since the schedule above has brought ours down to 0; then `write_back()`
# puts the weights back into the Values, and the scalar model writes names again.
# PyTorch is optional; where it is not installed the cell says so and stops.

# %%
try:
    import torch
except ImportError:
    torch = None
    print('PyTorch is not installed: pip install "tinygrad-scalar[torch]" to run this cell.')

if torch is not None:
    net = train_step.to_torch()  # one module for every length's compiled step
    print(type(net).__name__, "with", net.params.numel(), "weights in one parameter vector")
    torch_optimizer = torch.optim.Adam(net.parameters(), lr=0.0005, betas=(0.85, 0.99))
    torch_history = []
    for step in range(50):
        if not queue:
            queue, epoch = batches_by_length(documents, batch_size, seed=epoch), epoch + 1
        batch = queue.pop()
        torch_optimizer.zero_grad()
        loss = net(*zip(*batch))  # a 0-dim torch tensor
        loss.backward()
        torch_optimizer.step()
        torch_history.append(loss.item())
    print(f"mean loss of the last 50 batches on Values: {sum(history[-50:]) / 50:.3f}")
    print(f"mean loss of 50 more batches in PyTorch:    {sum(torch_history) / 50:.3f}")
    net.write_back()  # the trained weights back into the Values
    print("names after PyTorch:", [sample(model, 0.8, random.Random(i)) for i in range(8)])
