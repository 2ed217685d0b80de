# %% [markdown]
# # 08 · Vanishing gradients
#
# Backpropagation multiplies local derivatives along the path from the loss back to a
# weight. In a deep network that path is long, and a long product of numbers smaller than 1
# is tiny. Then the update $w_{\text{new}} = w_{\text{old}} - \eta \cdot (\text{tiny})$
# leaves the early layers where they started: they stop learning. This notebook measures
# the effect for sigmoid, tanh and ReLU networks and shows what initialisation has to do
# with it.

# %%

import matplotlib.pyplot as plt

from tinygrad_scalar import Value, grad
from tinygrad_scalar.data import make_moons
from tinygrad_scalar.losses import binary_cross_entropy_with_logits
from tinygrad_scalar.nn import MLP
from tinygrad_scalar.notebook import slider
from tinygrad_scalar.train import fit

plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## A product of local derivatives
#
# Stack $n$ one-neuron layers, $a_k = A(w\,a_{k-1} + b)$. By the chain rule
#
# $$\frac{\partial a_n}{\partial a_0} = \prod_{k=1}^{n} \frac{\partial a_k}{\partial a_{k-1}}
# = \prod_{k=1}^{n} A'(z_k)\, w .$$
#
# The sigmoid's slope is at most $\sigma'(0) = \tfrac14$, so with $w = 1$ the product is at
# most $4^{-n}$: below $10^{-6}$ after ten layers. The slope of tanh is at most $1$ and
# falls off away from $0$; ReLU's slope is exactly $1$ wherever the neuron is active.

# %%
def chain_gradient(activation, depth, w=1.0, b=0.0, x=0.5):
    """d a_depth / d a_0 for a chain of one-neuron layers, from the engine."""
    a0 = Value(x)
    a = a0
    for _ in range(depth):
        a = getattr(w * a + b, activation)()
    a.backward()
    return abs(a0.grad)


depths = list(range(1, 21))
fig, ax = plt.subplots(figsize=(5.5, 3.2))
for activation in ["sigmoid", "tanh", "relu"]:
    ax.semilogy(depths, [chain_gradient(activation, d) for d in depths], "o-", ms=3,
                label=activation)
ax.semilogy(depths, [0.25**d for d in depths], "k--", lw=1, label="$4^{-n}$")
ax.set_xlabel("number of layers $n$")
ax.set_ylabel("$|\\partial a_n / \\partial a_0|$")
ax.legend()
plt.show()
print(f"sigmoid, 10 layers: {chain_gradient('sigmoid', 10):.2e}   (0.25^10 = {0.25**10:.2e})")

# %% [markdown]
# ## Gradient size per layer in a real network
#
# Now a network with 10 hidden layers of 8 neurons, on 32 points of the moons data. After
# one `backward()` we average $|\partial L / \partial w|$ over each layer's weights. Layer 1
# is next to the input, farthest from the loss.
#
# In JupyterLab a slider under the figure sets the number of hidden layers, from 1 to 16:
# watch the sigmoid network's first layers fall further behind with every layer added.

# %%
X, y = make_moons(n=32, noise=0.1, seed=0)


def mean_weight_gradient_per_layer(model):
    loss = binary_cross_entropy_with_logits([model(x) for x in X], y)
    model.zero_grad()
    loss.backward()
    means = []
    for layer in model.layers:
        weights = [w for neuron in layer.neurons for w in neuron.w]
        means.append(sum(abs(w.grad) for w in weights) / len(weights))
    return means


def draw_gradient_per_layer(hidden_layers):
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for activation in ["sigmoid", "tanh", "relu"]:
        model = MLP(2, [8] * hidden_layers + [1], activation=activation, seed=0)
        means = mean_weight_gradient_per_layer(model)
        ax.semilogy(range(1, len(means) + 1), means, "o-", ms=4, label=activation)
        print(f"{activation:8} layer 1: {means[0]:.1e}   last layer: {means[-1]:.1e}   "
              f"ratio {means[-1] / means[0]:.0e}")
    ax.set_title(f"{hidden_layers} hidden layers of 8 neurons")
    ax.set_xlabel("layer (1 = next to the input)")
    ax.set_ylabel("mean $|\\partial L / \\partial w|$")
    ax.legend()
    plt.show()


# in JupyterLab a slider sets the depth; without a running kernel this shows 10 layers
slider(draw_gradient_per_layer, hidden_layers=(1, 16, 1, 10))

# %% [markdown]
# In the sigmoid network the first layer's gradients are millions of times smaller than the
# last layer's. With tanh and ReLU the first layer still gets a usable share (here a factor
# of about 4 and 20 below the last layer).
#
# ## What it does to training
#
# Two networks with six hidden layers, trained the same way (full batch, SGD, learning rate
# 0.5, 30 epochs). The sigmoid network's loss barely leaves $\ln 2 \approx 0.693$, the loss
# of answering "50 %" for every point; the ReLU network learns.

# %%
fig, ax = plt.subplots(figsize=(5, 3))
for activation in ["sigmoid", "relu"]:
    model = MLP(2, [8] * 6 + [1], activation=activation, seed=0)
    history = fit(model, X, y, loss="bce", optimizer="sgd", lr=0.5, epochs=30,
                  batch_size=None, seed=0, progress=False)
    epochs = range(1, len(history.train_loss) + 1)  # epoch 1 is the first, as in the text
    ax.plot(epochs, history.train_loss, label=activation)
    print(f"{activation:8} loss: epoch 1 {history.train_loss[0]:.4f}, "
          f"epoch 30 {history.train_loss[-1]:.4f}")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.legend()
plt.show()

# %% [markdown]
# ## What initialisation does
#
# The factor $w$ in each term of the product matters as much as $A'$. The gradient of a
# weight is the signal arriving at it in the forward pass times the error arriving at it in
# the backward pass, and on the way both are multiplied by the weights of every *other*
# layer. If the weights are too small, every layer shrinks them; if too large, every layer
# grows them (the gradients *explode*). He initialisation draws the weights with standard
# deviation $\sqrt{2/n_{\text{in}}}$, scaled so that a ReLU layer keeps the size of its
# signal on average (the starting biases of $0.1$ are this library's choice, not part of
# He's scheme). Below we rescale a He-initialised 10-layer ReLU network's weights
# by $\tfrac12$, $1$ and $2$: with 11 weight layers each gradient moves by roughly
# $2^{10} \approx 1000$ either way.

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.2))
for scale in [0.5, 1.0, 2.0]:
    model = MLP(2, [8] * 10 + [1], activation="relu", init="he", seed=0)
    for layer in model.layers:
        for neuron in layer.neurons:
            for w in neuron.w:
                w.data *= scale
    means = mean_weight_gradient_per_layer(model)
    ax.semilogy(range(1, len(means) + 1), means, "o-", ms=4, label=f"He weights × {scale}")
    print(f"scale {scale}: layer 1 {means[0]:.1e}, last layer {means[-1]:.1e}")
ax.set_xlabel("layer (1 = next to the input)")
ax.set_ylabel("mean $|\\partial L / \\partial w|$")
ax.legend()
plt.show()

# %% [markdown]
# The remedies in practice: ReLU-like activations in hidden layers, initialisation scaled
# to the layer width (He for ReLU, Xavier/Glorot for tanh and sigmoid), and, in very deep
# networks, normalisation layers and skip connections.
#
# ## Try it
#
# Work each exercise out on paper, put your result in place of the `...` after
# `answer =` and run the cell: the engine checks it. Under each exercise a collapsed cell
# holds a solution; click it (or the `⋯` in its place) to open it.
#
# **1.** The largest value of the sigmoid's derivative
# $\sigma'(z) = \sigma(z)(1 - \sigma(z))$ (at $z = 0$).

# %%
from tinygrad_scalar.notebook import check

answer = ...
check(answer, grad(lambda z: z.sigmoid())(0.0))

# %% jupyter={"source_hidden": true}
# Solution
# sigmoid(0) = 1/2, so the slope there is 1/2 * (1 - 1/2).
answer = 0.25
check(answer, grad(lambda z: z.sigmoid())(0.0))

# %% [markdown]
# **2.** An upper bound for $|\partial a_5 / \partial a_0|$ in a chain of 5 sigmoid layers
# with $w = 2$, from $\sigma' \le \tfrac14$. (The solution also shows the engine's value for
# the chain with $b = 0$, $a_0 = 0$, which must stay below the bound.)

# %%
steepest_layer = 2.0 * grad(lambda z: z.sigmoid())(0.0)  # w times the largest slope

answer = ...
check(answer, steepest_layer**5)

# %% jupyter={"source_hidden": true}
# Solution
# each layer contributes w * sigmoid'(z) <= 2 * 1/4 = 1/2, and five of them
# multiply to at most (1/2)^5.
answer = 0.03125
check(answer, steepest_layer**5)
print(f"the chain at a_0 = 0: {chain_gradient('sigmoid', 5, w=2.0, x=0.0):.4f}, below the bound")

# %% [markdown]
# **3.** The derivative of the ReLU chain above for 20 layers with $w = 1$, $b = 0$,
# $a_0 = 0.5$.

# %%
answer = ...
check(answer, chain_gradient("relu", 20))

# %% jupyter={"source_hidden": true}
# Solution
# every a_k stays 0.5 > 0, so each ReLU passes the gradient on with slope 1, and
# twenty factors w * 1 = 1 multiply to 1: nothing vanishes.
answer = 1.0
check(answer, chain_gradient("relu", 20))
