# %% [markdown]
# # 07 · Training a network on the moons
#
# Everything so far comes together here. Training repeats four steps until the loss stops
# falling:
#
# 1. **forward**: run a batch of examples through the network;
# 2. **loss**: measure how wrong the outputs are;
# 3. **backward**: compute the gradient of the loss with respect to every weight and bias;
# 4. **update**: move each parameter a small step against its gradient.
#
# One pass over the whole training set is an *epoch*; each epoch is cut into *batches*.
# We train a small network to separate two interleaving half moons, first with a loop
# written out in full, then with `fit`, and compare two optimisers (SGD and Adam) and two
# initialisations (He and uniform).

# %%

import matplotlib.pyplot as plt
from IPython.display import display

from tinygrad_scalar import Value
from tinygrad_scalar.data import batches, make_moons, train_test_split
from tinygrad_scalar.losses import binary_cross_entropy_with_logits
from tinygrad_scalar.nn import MLP
from tinygrad_scalar.plot import plot_decision_boundary, plot_history
from tinygrad_scalar.train import accuracy, fit

plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## The data
#
# 100 points in the plane, two classes shaped like hooked crescents: no straight line splits
# them, so the network has to learn a curved boundary. A quarter of the points is held out
# to test the trained network on data it never saw.

# %%
X, y = make_moons(n=100, noise=0.1, seed=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_fraction=0.25, seed=0)
print(len(X_train), "training points,", len(X_test), "test points")

fig, ax = plt.subplots(figsize=(4.5, 3))
for label, marker in [(0, "o"), (1, "s")]:
    points = [p for p, c in zip(X, y) if c == label]
    ax.scatter([p[0] for p in points], [p[1] for p in points], marker=marker, s=18,
               label=f"class {label}")
ax.legend()
plt.show()

# %% [markdown]
# ## The loop, written out
#
# The network has 2 inputs, two hidden ReLU layers of 8 neurons and one output: a score
# (logit) $z$ whose sigmoid is the probability of class 1. The loss is binary cross-entropy
# on that logit (notebook 06). The update is plain gradient descent,
# $w \leftarrow w - \eta\,\partial L / \partial w$, on batches of 16 points.

# %%
model = MLP(2, [8, 8, 1], activation="relu", seed=0)
learning_rate = 0.1
print(model.num_parameters(), "parameters")

for epoch in range(30):
    epoch_losses = []
    for X_batch, y_batch in batches(X_train, y_train, batch_size=16, seed=epoch):
        logits = [model(x) for x in X_batch]                          # 1. forward
        loss = binary_cross_entropy_with_logits(logits, y_batch)      # 2. loss
        model.zero_grad()                                             # (clear old gradients)
        loss.backward()                                               # 3. backward
        for p in model.parameters():                                  # 4. update
            p.data -= learning_rate * p.grad
        epoch_losses.append(loss.data)
    if epoch % 5 == 4:
        mean_loss = sum(epoch_losses) / len(epoch_losses)
        print(f"epoch {epoch + 1:2}: mean batch loss {mean_loss:.4f}, "
              f"test accuracy {accuracy(model, X_test, y_test):.2f}")

# %% [markdown]
# `model.zero_grad()` matters: gradients accumulate (notebook 02), and without it every
# step would also repeat all earlier steps' gradients.
#
# ## The same with `fit`
#
# `fit` runs exactly this loop and records the mean loss and accuracy of each epoch, on the
# training data and, when given, on the test data. `plot_history` draws those curves.

# %%
sgd_model = MLP(2, [8, 8, 1], activation="relu", seed=0)
sgd_history = fit(sgd_model, X_train, y_train, loss="bce", optimizer="sgd", lr=0.1,
                  epochs=60, batch_size=16, X_test=X_test, y_test=y_test, seed=0,
                  progress=False)
print(sgd_history)
display(plot_history(sgd_history))

# %% [markdown]
# ## SGD against Adam
#
# Plain SGD uses one learning rate for every parameter. Adam keeps running averages of each
# parameter's gradient $g$ and of $g^2$ and divides the one by the square root of the other,
# so each parameter takes steps of similar size whether its gradients are large or tiny.
# On this problem it reaches a lower loss in the same number of epochs.

# %%
adam_model = MLP(2, [8, 8, 1], activation="relu", seed=0)
adam_history = fit(adam_model, X_train, y_train, loss="bce", optimizer="adam", lr=0.02,
                   epochs=60, batch_size=16, X_test=X_test, y_test=y_test, seed=0,
                   progress=False)
print(adam_history)

fig, ax = plt.subplots(figsize=(5, 3))
epochs = range(1, len(sgd_history.train_loss) + 1)  # numbered from 1, like plot_history
ax.plot(epochs, sgd_history.train_loss, label="SGD, lr 0.1")
ax.plot(epochs, adam_history.train_loss, label="Adam, lr 0.02")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_yscale("log")
ax.legend()
plt.show()

# %% [markdown]
# ## The decision boundary
#
# Colouring every point of the plane by the class the network predicts shows the boundary
# it learned: a curve that follows the gap between the two moons.

# %%
display(plot_decision_boundary(adam_model, X, y, resolution=60, title="Adam, 60 epochs"))

# %% [markdown]
# ## He against uniform initialisation
#
# Before training, weights must be random (identical neurons would stay identical forever).
# *He* initialisation draws each weight from a normal distribution with standard deviation
# $\sqrt{2 / n_{\text{in}}}$, scaled so that a ReLU layer keeps the size of its signal. It
# sets the weights only; with `init="he"` this library starts the biases at $0.1$, its own
# choice, so that ReLUs start active. *Uniform* initialisation draws the weights from
# $[-1, 1]$ whatever the layer width, with zero biases.

# %%
histories = {}
for init in ["he", "uniform"]:
    model = MLP(2, [8, 8, 1], activation="relu", init=init, seed=0)
    histories[init] = fit(model, X_train, y_train, loss="bce", optimizer="sgd", lr=0.1,
                          epochs=60, batch_size=16, X_test=X_test, y_test=y_test, seed=0,
                          progress=False)
    print(f"{init:8}: {histories[init]}")

fig, ax = plt.subplots(figsize=(5, 3))
for init, history in histories.items():
    ax.plot(range(1, len(history.train_loss) + 1), history.train_loss, label=f"{init} init")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.legend()
plt.show()

# %% [markdown]
# For a layer with 8 inputs He's standard deviation is $\sqrt{2/8} = 0.5$, close to the
# uniform distribution's $1/\sqrt{3} \approx 0.58$, and with only two hidden layers both
# starts train. The choice matters in deep networks, where a badly scaled layer shrinks or blows up
# the signal a little more at every layer: see notebook 08.
#
# ## Try it
#
# Work each exercise out on paper, put your result in place of the `...` after
# `answer =` and run the cell: the engine checks it. Under each exercise a collapsed cell
# holds a solution; click it (or the `⋯` in its place) to open it.
#
# **1.** With 75 training points and batches of 16, how many parameter updates happen in
# one epoch? (The last batch may be smaller.)

# %%
from tinygrad_scalar.notebook import check

answer = ...
check(answer, len(list(batches(X_train, y_train, batch_size=16))))

# %% jupyter={"source_hidden": true}
# Solution
# four full batches hold 64 points, and a fifth takes the last 11.
answer = 5
check(answer, len(list(batches(X_train, y_train, batch_size=16))))

# %% [markdown]
# **2.** How many parameters does `MLP(2, [8, 8, 1])` have?

# %%
answer = ...
check(answer, MLP(2, [8, 8, 1]).num_parameters())

# %% jupyter={"source_hidden": true}
# Solution
# (inputs + 1 bias) per neuron: 8 * (2 + 1) + 8 * (8 + 1) + 1 * (8 + 1)
# = 24 + 72 + 9.
answer = 105
check(answer, MLP(2, [8, 8, 1]).num_parameters())

# %% [markdown]
# **3.** If a logit is $z = 0$, what probability of class 1 does the network give?

# %%
answer = ...
check(answer, Value(0.0).sigmoid())

# %% jupyter={"source_hidden": true}
# Solution
# sigmoid(0) = 1 / (1 + e^0) = 1 / 2: no preference either way.
answer = 0.5
check(answer, Value(0.0).sigmoid())
