# %% [markdown]
# # 04 · The backward pass by hand
#
# Backpropagation is the chain rule applied to a network, organised so that nothing is
# computed twice. Here we do it on paper for a tiny network (1 input, 2 hidden ReLU neurons,
# 2 ReLU outputs, squared-error cost), write the result as a few matrix formulas, and then
# let the engine compute the same numbers.

# %%
import numpy as np

from tinygrad_scalar import Value, draw
from tinygrad_scalar.nn import Layer

np.set_printoptions(precision=6, suppress=True)

# %% [markdown]
# ## The network and its forward pass
#
# One example $x$ with target $y = (y_1, y_2)$. Row vectors throughout, as in notebook 03:
#
# $$Z_h = x W_h + B_h,\quad H = \text{relu}(Z_h),\quad Z_o = H W_o + B_o,\quad
# \hat y = \text{relu}(Z_o),$$
#
# with $W_h$ of shape $1 \times 2$ and $W_o$ of shape $2 \times 2$. The cost for this
# example is
#
# $$C = \tfrac12 \sum_{k=1}^{2} (\hat y_k - y_k)^2 .$$
#
# The layers come from `tinygrad_scalar.nn` with He initialisation (biases $0.1$), the same
# network as at the end of notebook 03.

# %%
hidden = Layer(1, 2, activation="relu", init="he", seed=3)
output = Layer(2, 2, activation="relu", init="he", seed=4)


def matrices(layer):
    W = np.array([[w.data for w in neuron.w] for neuron in layer.neurons]).T
    b = np.array([neuron.b.data for neuron in layer.neurons])
    return W, b


Wh, Bh = matrices(hidden)
Wo, Bo = matrices(output)
x = np.array([[1.5]])
y = np.array([[1.0, 0.0]])

Zh = x @ Wh + Bh
H = np.maximum(0, Zh)
Zo = H @ Wo + Bo
y_hat = np.maximum(0, Zo)
C = 0.5 * np.sum((y_hat - y) ** 2)
print("Zh =", Zh, " H =", H)
print("Zo =", Zo, " y_hat =", y_hat)
print("cost C =", round(C, 6))

# %% [markdown]
# ## Output error terms
#
# Define the *error term* of a neuron as the derivative of the cost with respect to its
# weighted sum. For output neuron $k$, by the chain rule through $\hat y_k = \text{relu}(Z_{o,k})$:
#
# $$E_{o,k} = \frac{\partial C}{\partial Z_{o,k}}
# = \underbrace{(\hat y_k - y_k)}_{\partial C / \partial \hat y_k}\cdot
# \underbrace{\text{relu}'(Z_{o,k})}_{\partial \hat y_k / \partial Z_{o,k}},
# \qquad \text{relu}'(z) = \begin{cases} 1 & z > 0 \\ 0 & z \le 0. \end{cases}$$
#
# Since $Z_{o,k} = \sum_j H_j W_{o,jk} + B_{o,k}$, each output weight and bias gradient is
# the error term times whatever multiplied that weight:
#
# $$\frac{\partial C}{\partial W_{o,jk}} = H_j\,E_{o,k}, \qquad
# \frac{\partial C}{\partial B_{o,k}} = E_{o,k},
# \qquad\text{in matrix form}\quad \frac{\partial C}{\partial W_o} = H^\top E_o .$$

# %%
def relu_slope(Z):
    return (Z > 0).astype(float)


Eo = (y_hat - y) * relu_slope(Zo)
dWo = H.T @ Eo
dBo = Eo[0]
print("Eo    =", Eo)
print("dC/dWo =\n", dWo)
print("dC/dBo =", dBo)

# %% [markdown]
# ## Hidden error terms
#
# Hidden neuron $j$ influences the cost through *both* outputs, so its contributions add up
# (each output's error term, weighted by the connection $W_{o,jk}$), and then pass through
# its own ReLU:
#
# $$E_{h,j} = \frac{\partial C}{\partial Z_{h,j}}
# = \Big(\sum_{k} E_{o,k}\, W_{o,jk}\Big)\,\text{relu}'(Z_{h,j}),
# \qquad E_h = (E_o W_o^\top) \odot \text{relu}'(Z_h).$$
#
# This is the step that gives backpropagation its name: the error terms of a layer are
# computed from those of the layer after it. The weight gradients follow as before:
#
# $$\frac{\partial C}{\partial W_h} = x^\top E_h, \qquad \frac{\partial C}{\partial B_h} = E_h .$$

# %%
Eh = (Eo @ Wo.T) * relu_slope(Zh)
dWh = x.T @ Eh
dBh = Eh[0]
print("Eh    =", Eh)
print("dC/dWh =", dWh)
print("dC/dBh =", dBh)

# %% [markdown]
# ## The same numbers from the engine
#
# The engine knows nothing about layers or error terms: it records each operation and applies
# the chain rule node by node. The results must still match our formulas.

# %%
prediction = output(hidden([Value(1.5, label="x")]))
cost = 0.5 * ((prediction[0] - 1.0) ** 2 + (prediction[1] - 0.0) ** 2)
cost.backward()
print("cost from the engine:", round(cost.data, 6))

engine_dWh = np.array([[n.w[0].grad for n in hidden.neurons]])
engine_dBh = np.array([n.b.grad for n in hidden.neurons])
engine_dWo = np.array([[n.w[j].grad for n in output.neurons] for j in range(2)])
engine_dBo = np.array([n.b.grad for n in output.neurons])
for name, by_hand, engine in [("dC/dWh", dWh, engine_dWh), ("dC/dBh", dBh, engine_dBh),
                              ("dC/dWo", dWo, engine_dWo), ("dC/dBo", dBo, engine_dBo)]:
    agree = np.allclose(by_hand, engine, rtol=0, atol=1e-12)
    print(f"{name}: by hand {by_hand.ravel()}  engine {engine.ravel()}  agree: {agree}")

# %% [markdown]
# The whole graph, with each neuron drawn as one box (`collapse=True`) and the parameters
# named; every box shows its value and its gradient.

# %%
parameters = {f"hidden.{name}": p for name, p in hidden.named_parameters()}
parameters.update({f"output.{name}": p for name, p in output.named_parameters()})
draw(cost, params=parameters, collapse=True, precision=3)

# %% [markdown]
# The same graph to step through: the backward half of `explore` gives each neuron its
# gradient in the order the error terms above were computed, output layer first, and writes
# each one as the sum over the neurons it feeds of (their gradient × the local derivative).
# Compare the steps with the formulas for the hidden error terms.

# %%
from tinygrad_scalar import explore

explore(cost, params=parameters, collapse=True, precision=3)

# %% [markdown]
# ## One step of gradient descent
#
# With all gradients known, each parameter moves a little against its gradient,
# $w \leftarrow w - \eta\,\partial C / \partial w$, and the cost goes down.

# %%
learning_rate = 0.1
for p in hidden.parameters() + output.parameters():
    p.data -= learning_rate * p.grad
new_prediction = output(hidden([1.5]))
new_cost = 0.5 * ((new_prediction[0] - 1.0) ** 2 + new_prediction[1] ** 2)
print(f"cost before the step {cost.data:.6f}, after {new_cost.data:.6f}")

# %% [markdown]
# ## A dead ReLU passes nothing back
#
# If a neuron's weighted sum is negative, $\text{relu}' = 0$ there and its error term is 0:
# neither its own weights nor anything before it learns from this example. Below, the
# weighted sum of a single ReLU neuron is negative, and every gradient is 0.

# %%
w, b = Value(-2.0, label="w"), Value(0.1, label="b")
y_hat = (w * 1.5 + b).relu()
single_cost = 0.5 * (y_hat - 2.0) ** 2
single_cost.backward()
print("y_hat =", y_hat.data, "  dC/dw =", w.grad, "  dC/db =", b.grad)

# %% [markdown]
# ## Try it
#
# Work each exercise out on paper, put your result in place of the `...` after
# `answer =` and run the cell: the engine checks it. Under each exercise a collapsed cell
# holds a solution; click it (or the `⋯` in its place) to open it.
#
# A single ReLU neuron $\hat y = \text{relu}(w x + b)$ with the cost
# $C = \frac12(\hat y - y)^2$, at $w = 2$, $x = 1.5$, $b = 0.1$ and target $y = 2$. The
# engine's gradients for it:

# %%
from tinygrad_scalar.notebook import check

w, b = Value(2.0), Value(0.1)
z = w * 1.5 + b
single_cost = 0.5 * (z.relu() - 2.0) ** 2
single_cost.backward()

# %% [markdown]
# **1.** Its error term $E = \partial C / \partial z$ with $z = wx + b$.

# %%
answer = ...
check(answer, z.grad)

# %% jupyter={"source_hidden": true}
# Solution
# z = 2 * 1.5 + 0.1 = 3.1 is positive, so relu'(z) = 1 and
# E = (y_hat - y) * 1 = 3.1 - 2.
answer = 1.1
check(answer, z.grad)

# %% [markdown]
# **2.** $\partial C / \partial w$.

# %%
answer = ...
check(answer, w.grad)

# %% jupyter={"source_hidden": true}
# Solution
# dz/dw = x, so dC/dw = E * x = 1.1 * 1.5.
answer = 1.65
check(answer, w.grad)

# %% [markdown]
# **3.** For the 1-2-2 network above (before the update step):
# $\partial C / \partial B_{h,1}$, the gradient of the first hidden bias, to 6 decimals.

# %%
answer = ...
check(answer, engine_dBh[0], tolerance=1e-6)

# %% jupyter={"source_hidden": true}
# Solution
# a bias gradient is the neuron's error term, dC/dB_h,1 = E_h,1: the sum over
# both outputs of E_o,k * W_o,1k, times relu'(Z_h,1) = 1. "Hidden error terms" printed it.
answer = -0.413394
check(answer, engine_dBh[0], tolerance=1e-6)
