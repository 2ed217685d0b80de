# %% [markdown]
# # 03 · The forward pass
#
# The forward pass carries an input through the network, layer by layer, to a prediction.
# Each neuron does the same small thing: a weighted sum of its inputs plus a bias, passed
# through an *activation function*. This notebook computes one neuron by hand, then a
# network with two hidden ReLU layers and a softmax output, first neuron by neuron with
# `tinygrad_scalar.nn` and then in matrix form with NumPy, and checks that the two agree.

# %%
import math

import numpy as np

from tinygrad_scalar import Value, draw
from tinygrad_scalar.nn import MLP, Layer, Neuron

# %% [markdown]
# ## One neuron
#
# With inputs $x_0 \dots x_{n-1}$, weights $w_0 \dots w_{n-1}$ and bias $b$ (counted from 0,
# as the library names them), a sigmoid neuron computes
#
# $$y = \sigma\Big(\sum_{i=0}^{n-1} x_i w_i + b\Big), \qquad \sigma(z) = \frac{1}{1 + e^{-z}}.$$
#
# The weighted sum $z$ can be any real number; the sigmoid squashes it into $(0, 1)$.

# %%
neuron = Neuron(3, activation="sigmoid", seed=0)
x = [0.5, -1.0, 2.0]

z_by_hand = sum(xi * wi.data for xi, wi in zip(x, neuron.w)) + neuron.b.data
y_by_hand = 1 / (1 + math.exp(-z_by_hand))
y = neuron([Value(xi, label=f"x{i}") for i, xi in enumerate(x)])
print("weights:", [round(w.data, 4) for w in neuron.w], " bias:", neuron.b.data)
print(f"z = {z_by_hand:.6f},  sigmoid(z) by hand = {y_by_hand:.6f},  neuron(x) = {y.data:.6f}")

# %% [markdown]
# In the graph the weighted sum is a single `dot` node with the weights, inputs and bias as
# its parents, followed by the activation.

# %%
draw(y, params=neuron, show_grad=False)

# %% [markdown]
# ## A network: two hidden ReLU layers and a softmax output
#
# Hidden neurons use ReLU, $\text{relu}(z) = \max(0, z)$. The output layer produces one
# score per class, and softmax turns the scores into probabilities:
# $p_k = e^{z_k} / \sum_j e^{z_j}$.
#
# `MLP(2, [3, 3, 2], output="softmax")` has 2 inputs, hidden layers of 3 and 3 neurons
# and 2 outputs. The weights of ReLU layers start with He initialisation: drawn from a
# normal distribution with standard deviation $\sqrt{2/n_{\text{in}}}$. He's scheme says
# nothing about biases; this library starts them at $0.1$ (its own choice), so that ReLUs
# begin active.

# %%
model = MLP(2, [3, 3, 2], activation="relu", output="softmax", seed=1)
print(model, "with", model.num_parameters(), "parameters")
for name, p in model.named_parameters()[:4]:
    print(f"  {name:22} {p.data:+.4f}")
print("  ...")

# %% [markdown]
# ### Neuron by neuron
#
# Every neuron of a layer reads all outputs of the layer before. We loop over the layers
# and their neurons explicitly, exactly as the model does inside.

# %%
def forward_by_neurons(model, x):
    activations = list(x)
    for layer in model.layers:
        activations = [neuron(activations) for neuron in layer.neurons]
        print(f"  after {layer}: {[round(a.data, 4) for a in activations]}")
    exps = [math.exp(a.data) for a in activations]
    return [e / sum(exps) for e in exps]


x = [0.8, -0.3]
print("input", x)
probabilities = forward_by_neurons(model, x)
print("softmax:", [round(p, 6) for p in probabilities])
print("model(x):", [round(p.data, 6) for p in model(x)])

# %% [markdown]
# ### In matrix form
#
# Stack the input rows into a matrix $X$ (one row per example) and each layer's weights into
# a matrix $W$ whose column $j$ holds neuron $j$'s weights. Then a whole layer, for all
# examples at once, is one matrix product:
#
# $$H_1 = \text{relu}(X W_1 + b_1), \quad H_2 = \text{relu}(H_1 W_2 + b_2), \quad
# P = \text{softmax}(H_2 W_3 + b_3),$$
#
# where the bias row $b$ is added to every row and softmax works row by row.

# %%
def layer_matrices(layer):
    """(W, b) for a Layer: W[i, j] is neuron j's weight on input i."""
    W = np.array([[w.data for w in neuron.w] for neuron in layer.neurons]).T
    b = np.array([neuron.b.data for neuron in layer.neurons])
    return W, b


def relu(Z):
    return np.maximum(0.0, Z)


def softmax_rows(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))  # shifting a row does not change softmax
    return E / E.sum(axis=1, keepdims=True)


(W1, b1), (W2, b2), (W3, b3) = (layer_matrices(layer) for layer in model.layers)
print("shapes:", W1.shape, W2.shape, W3.shape)

X = np.array([[0.8, -0.3], [-1.0, 0.5], [0.0, 0.0], [2.0, 1.5]])
P_matrix = softmax_rows(relu(relu(X @ W1 + b1) @ W2 + b2) @ W3 + b3)
P_neurons = np.array([[p.data for p in model(row)] for row in X])
print(P_matrix.round(6))
print("the two forward passes agree:", np.allclose(P_matrix, P_neurons, rtol=0, atol=1e-12))

# %% [markdown]
# ## The prediction is a nested function
#
# Written without biases, a network with one hidden layer and activation $A$ predicts
#
# $$\hat y = A\big(A(X W_h)\, W_o\big),$$
#
# with $W_h$ the hidden weights and $W_o$ the output weights: a function inside a function.
# This nesting is what the chain rule will unpick in the backward pass.
#
# Below is the smallest such network: 1 input, 2 hidden neurons, 2 outputs, ReLU everywhere,
# He-initialised weights and the library's starting biases of $0.1$: the network we
# differentiate by hand in notebook 04.

# %%
hidden = Layer(1, 2, activation="relu", init="he", seed=3)
output = Layer(2, 2, activation="relu", init="he", seed=4)

Wh, Bh = layer_matrices(hidden)
Wo, Bo = layer_matrices(output)
X = np.array([[1.5]])
print("Wh =", Wh.round(4), " Bh =", Bh)
print("Wo =", Wo.round(4).tolist(), " Bo =", Bo)

nested = relu(relu(X @ Wh + Bh) @ Wo + Bo)
layered = [v.data for v in output(hidden([1.5]))]
print("A(A(X Wh + Bh) Wo + Bo) =", nested.round(6), "   output(hidden(x)) =", np.round(layered, 6))

# %% [markdown]
# ## Why the activation matters
#
# Without $A$ the two layers would collapse into one: $(X W_h) W_o = X (W_h W_o)$, a single
# linear map, however many layers we stack. The nonlinearity between layers is what lets a
# network bend its decision boundary.

# %%
print("X Wh Wo   =", (X @ Wh @ Wo).round(6))
print("X (Wh Wo) =", (X @ (Wh @ Wo)).round(6))

# %% [markdown]
# ## Try it
#
# Work each exercise out on paper, put your result in place of the `...` after
# `answer =` and run the cell: the engine checks it. Under each exercise a collapsed cell
# holds a solution; click it (or the `⋯` in its place) to open it.
#
# The exercises build neurons with chosen weights through this helper:

# %%
from tinygrad_scalar.notebook import check


def neuron_with(weights, bias, activation):
    """A Neuron whose weights and bias are set to the given numbers."""
    n = Neuron(len(weights), activation=activation)
    for w, value in zip(n.w, weights):
        w.data = value
    n.b.data = bias
    return n

# %% [markdown]
# **1.** A sigmoid neuron with weights $[1, -2]$ and bias $0.5$ gets the input $[3, 1]$.
# What does it output (6 decimals)?

# %%
answer = ...
check(answer, neuron_with([1.0, -2.0], 0.5, "sigmoid")([3.0, 1.0]), tolerance=1e-6)

# %% jupyter={"source_hidden": true}
# Solution
# z = 1*3 + (-2)*1 + 0.5 = 1.5 and sigmoid(1.5) = 1 / (1 + e^-1.5).
answer = 0.817574
check(answer, neuron_with([1.0, -2.0], 0.5, "sigmoid")([3.0, 1.0]), tolerance=1e-6)

# %% [markdown]
# **2.** How many parameters (weights and biases) does `MLP(2, [3, 3, 2])` have?

# %%
answer = ...
check(answer, model.num_parameters())

# %% jupyter={"source_hidden": true}
# Solution
# each neuron has one weight per input plus a bias:
# 3 * (2 + 1) + 3 * (3 + 1) + 2 * (3 + 1) = 9 + 12 + 8.
answer = 29
check(answer, model.num_parameters())

# %% [markdown]
# **3.** A ReLU neuron with weights $[2, 1]$ and bias $-4$ gets the input $[1, 1]$. What
# does it output?

# %%
answer = ...
check(answer, neuron_with([2.0, 1.0], -4.0, "relu")([1.0, 1.0]))

# %% jupyter={"source_hidden": true}
# Solution
# z = 2 + 1 - 4 = -1 is negative, and ReLU turns it into 0.
answer = 0.0
check(answer, neuron_with([2.0, 1.0], -4.0, "relu")([1.0, 1.0]))
