# %% [markdown]
# # 10 · Several classes: the spiral
#
# With more than two classes the network gets one output per class. Those outputs are
# *logits*, raw scores; softmax turns them into probabilities,
#
# $$p_k = \frac{e^{z_k}}{\sum_{j=1}^{K} e^{z_j}},$$
#
# and the loss is cross-entropy, $-\log p_c$ for the true class $c$, averaged over the
# examples (notebook 06). Here a network learns to tell apart three interleaved spiral arms,
# a problem no straight line can solve.

# %%

import matplotlib.pyplot as plt
from IPython.display import display

from tinygrad_scalar import Value
from tinygrad_scalar.data import make_spiral, train_test_split
from tinygrad_scalar.losses import cross_entropy, softmax
from tinygrad_scalar.nn import MLP
from tinygrad_scalar.plot import plot_decision_boundary, plot_history
from tinygrad_scalar.train import accuracy, fit

plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## The data
#
# 180 points, 60 on each of three arms that wind around the origin. A sixth is kept aside for
# testing.

# %%
X, y = make_spiral(n=180, classes=3, noise=0.2, seed=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_fraction=1 / 6, seed=0)
print(len(X_train), "training points,", len(X_test), "test points, classes", sorted(set(y)))

fig, ax = plt.subplots(figsize=(4, 3.5))
for label, marker in zip(range(3), "o^s"):
    points = [p for p, c in zip(X, y) if c == label]
    ax.scatter([p[0] for p in points], [p[1] for p in points], marker=marker, s=16,
               label=f"class {label}")
ax.set_aspect("equal")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Three logits, three probabilities
#
# The network has 2 inputs, two hidden ReLU layers of 16 neurons and 3 linear outputs. Before
# training its probabilities are arbitrary. For comparison, a model that always answered
# $\tfrac13$ for each class would score $-\log \tfrac13 = \log 3 \approx 1.0986$; the
# random network starts a little worse than that.

# %%
model = MLP(2, [16, 16, 3], activation="relu", output="linear", seed=0)
logits = model(X_train[0])
probabilities = softmax(logits)
print("logits:       ", [round(z.data, 4) for z in logits])
print("probabilities:", [round(p.data, 4) for p in probabilities], " true class", y_train[0])
initial_loss = cross_entropy([model(x) for x in X_train], y_train)
print(f"loss before training: {initial_loss.data:.4f}")

# %% [markdown]
# For one example the gradient of the loss with respect to the logits is $p - y$ with $y$ the
# one-hot target: the true class's logit is pushed up by $1 - p_c$, every other logit down
# by its probability.

# %%
logits = [Value(z.data) for z in logits]  # fresh leaves, so we can read their gradients
loss = cross_entropy([logits], [y_train[0]])
loss.backward()
one_hot = [1.0 if k == y_train[0] else 0.0 for k in range(3)]
print("dloss/dz:", [round(z.grad, 6) for z in logits])
print("p - y:   ", [round(p.data - t, 6) for p, t in zip(softmax(logits), one_hot)])

# %% [markdown]
# ## Training
#
# `fit` with `loss="cross_entropy"` expects one output per class and integer labels. Adam,
# batches of 30, 60 epochs.

# %%
history = fit(model, X_train, y_train, loss="cross_entropy", optimizer="adam", lr=0.02,
              epochs=60, batch_size=30, X_test=X_test, y_test=y_test, seed=0, progress=False)
print(history)
display(plot_history(history))

# %% [markdown]
# ## Decision regions
#
# Each point of the plane is coloured by the class with the largest logit (the largest
# probability: softmax keeps the order). The regions curl with the arms.

# %%
display(plot_decision_boundary(model, X, y, resolution=80, title="16-16-3 ReLU network"))

# %% [markdown]
# ## Why the hidden layers are needed
#
# Without hidden layers the three logits are linear functions of the input, and the regions
# where one of three linear functions is largest are convex wedges. No arrangement of wedges
# follows a spiral, so the best such model gets only a fraction of the points right.

# %%
linear_model = MLP(2, [3], output="linear", seed=0)
fit(linear_model, X_train, y_train, loss="cross_entropy", optimizer="adam", lr=0.05,
    epochs=60, batch_size=30, seed=0, progress=False)
print(f"test accuracy: linear model {accuracy(linear_model, X_test, y_test):.2f}, "
      f"16-16-3 network {accuracy(model, X_test, y_test):.2f}")
display(plot_decision_boundary(linear_model, X, y, resolution=60, title="no hidden layer"))

# %% [markdown]
# ## Try it
#
# Work each exercise out on paper, put your result in place of the `...` after
# `answer =` and run the cell: the engine checks it. Under each exercise a collapsed cell
# holds a solution; click it (or the `⋯` in its place) to open it.
#
# **1.** The cross-entropy loss when the network gives the true class probability $1/3$
# (equal logits), to 6 decimals.

# %%
from tinygrad_scalar.notebook import check

answer = ...
check(answer, cross_entropy([[0.0, 0.0, 0.0]], [0]), tolerance=1e-6)

# %% jupyter={"source_hidden": true}
# Solution
# the loss is -ln(probability of the true class) = -ln(1/3) = ln 3.
answer = 1.098612
check(answer, cross_entropy([[0.0, 0.0, 0.0]], [0]), tolerance=1e-6)

# %% [markdown]
# **2.** For logits $[1, 1, 1, 1]$ and true class 2, the gradient with respect to logit 2.

# %%
zs = [Value(1.0) for _ in range(4)]
cross_entropy([zs], [2]).backward()

answer = ...
check(answer, zs[2].grad)

# %% jupyter={"source_hidden": true}
# Solution
# softmax minus the one-hot target; four equal logits give 1/4 each, so for the
# true class the gradient is 1/4 - 1.
answer = -0.75
check(answer, zs[2].grad)

# %% [markdown]
# **3.** How many parameters does `MLP(2, [16, 16, 3])` have?

# %%
answer = ...
check(answer, MLP(2, [16, 16, 3]).num_parameters())

# %% jupyter={"source_hidden": true}
# Solution
# (inputs + 1 bias) per neuron: 16 * (2 + 1) + 16 * (16 + 1) + 3 * (16 + 1)
# = 48 + 272 + 51.
answer = 371
check(answer, MLP(2, [16, 16, 3]).num_parameters())
