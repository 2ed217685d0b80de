# %% [markdown]
# # 06 · Loss functions
#
# A loss turns "how wrong is the network?" into one number that gradient descent can lower.
# Which loss to use depends on what the network predicts: a real number (regression) or a
# class (classification). This notebook computes the common losses with
# `tinygrad_scalar.losses`, compares them, and checks the gradients that make them
# convenient, including the famous $p - y$ of softmax with cross-entropy.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from tinygrad_scalar import Value, gradients
from tinygrad_scalar.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    half_mse,
    mse,
    softmax,
)

plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## Regression: mean squared error
#
# For predictions $\hat y_i$ and targets $y_i$, $i = 1 \dots n$,
#
# $$\text{MSE} = \frac{1}{n}\sum_{i=1}^{n} (y_i - \hat y_i)^2 .$$
#
# Squaring makes every error count as positive and punishes large errors much more than
# small ones. Many texts use half of it as the *cost*,
#
# $$C = \frac{1}{2n}\sum_{i=1}^{n} (y_i - \hat y_i)^2, \qquad
# \frac{\partial C}{\partial \hat y_i} = \frac{\hat y_i - y_i}{n},$$
#
# because the $\tfrac12$ cancels the 2 that differentiation brings down. The minimum is in
# the same place; only the scale of the gradient changes.

# %%
targets = [1.0, 2.0, 4.0]
preds = [Value(1.5), Value(2.0), Value(3.0)]

loss = mse(preds, targets)
cost = half_mse(preds, targets)
print(f"MSE = {loss.data:.4f}   (0.25 + 0 + 1) / 3 = {(0.25 + 0 + 1) / 3:.4f}")
print(f"C   = {cost.data:.4f}   half of it")

d_cost = gradients(cost, preds)
by_formula = [(p.data - t) / len(targets) for p, t in zip(preds, targets)]
print("dC/dpred from the engine: ", [round(g, 6) for g in d_cost])
print("(pred - target) / n:      ", [round(g, 6) for g in by_formula])

# %% [markdown]
# ## Binary classification: log loss
#
# A classifier that outputs a probability $p = P(y = 1)$ is scored by *binary
# cross-entropy*, also called log loss:
#
# $$\ell(p, y) = -\big(y \log p + (1 - y)\log(1 - p)\big).$$
#
# Only one term is active: $-\log p$ when $y = 1$ and $-\log(1 - p)$ when $y = 0$. A
# confident wrong answer ($p \to 0$ while $y = 1$) costs without bound, while squared error
# could never charge more than 1.

# %%
ps = np.linspace(0.005, 0.995, 200)
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(ps, [binary_cross_entropy([p], [1.0]).data for p in ps], label="log loss, $y = 1$")
ax.plot(ps, [binary_cross_entropy([p], [0.0]).data for p in ps], label="log loss, $y = 0$")
ax.plot(ps, (1 - ps) ** 2, "--", label="squared error, $y = 1$")
ax.set_xlabel("predicted probability $p$")
ax.set_ylabel("loss")
ax.set_ylim(0, 5)
ax.legend()
plt.show()

# %% [markdown]
# ## Why not squared error for classification?
#
# The probability usually comes from a sigmoid, $p = \sigma(z)$, of a score $z$ (the
# *logit*). With log loss the chain rule gives a remarkably simple slope,
#
# $$\frac{\partial \ell}{\partial z} = \frac{\partial \ell}{\partial p}\,\sigma'(z)
# = \frac{p - y}{p(1 - p)} \cdot p(1 - p) = p - y,$$
#
# while squared error keeps the factor $\sigma'(z) = p(1 - p)$, which is almost 0 when the
# network is confidently wrong, exactly when it most needs to learn:
#
# $$\frac{\partial}{\partial z}(p - y)^2 = 2(p - y)\,p(1 - p).$$

# %%
def slope_at(loss_of_probability, z, y):
    logit = Value(z)
    loss_of_probability(logit.sigmoid(), y).backward()
    return logit.grad


for z in [-6.0, 0.0, 6.0]:
    p = 1 / (1 + math.exp(-z))
    log_loss = slope_at(lambda p, y: binary_cross_entropy([p], [y]), z, 1.0)
    squared = slope_at(lambda p, y: (p - y) ** 2, z, 1.0)
    print(f"z = {z:+.0f}, y = 1, p = {p:.4f}:  log loss slope {log_loss:+.4f} "
          f"(p - y = {p - 1:+.4f})   squared error slope {squared:+.4f}")

# %% [markdown]
# With $z = -6$ the network says "almost surely 0" for a true 1: log loss pushes with
# slope $\approx -1$, squared error with $\approx -0.005$, two hundred times weaker.
#
# In practice the sigmoid and the log are fused: `binary_cross_entropy_with_logits` takes
# $z$ directly and stays finite and exact even for huge $|z|$.

# %%
logit = Value(-6.0)
loss = binary_cross_entropy_with_logits([logit], [1.0])
loss.backward()
sigmoid_minus_y = 1 / (1 + math.exp(6)) - 1
print(f"loss {loss.data:.6f}, dloss/dz = {logit.grad:.6f}, sigmoid(z) - y = {sigmoid_minus_y:.6f}")
print("a logit of -800:", binary_cross_entropy_with_logits([-800.0], [1.0]).data)

# %% [markdown]
# ## Several classes: softmax and cross-entropy
#
# For $K$ classes the network outputs $K$ logits $z_1 \dots z_K$. Softmax turns them into
# probabilities that are positive and sum to 1,
#
# $$p_k = \frac{e^{z_k}}{\sum_{j} e^{z_j}},$$
#
# and cross-entropy charges $-\log p_c$ for the true class $c$. Written with a one-hot
# target $y$ ($y_c = 1$, all other $y_k = 0$), it is $-\sum_k y_k \log p_k$, and its
# gradient with respect to the logits is again
#
# $$\frac{\partial \ell}{\partial z_k} = p_k - y_k .$$

# %%
logits = [Value(2.0), Value(1.0), Value(-1.0)]
true_class = 0
probabilities = softmax(logits)
loss = cross_entropy([logits], [true_class])
loss.backward()

one_hot = [1.0 if k == true_class else 0.0 for k in range(3)]
print("p         =", [round(p.data, 6) for p in probabilities],
      " sum", sum(p.data for p in probabilities))
print("loss      =", round(loss.data, 6),
      "  -log p_c =", round(-math.log(probabilities[true_class].data), 6))
print("dloss/dz  =", [round(z.grad, 6) for z in logits])
print("p - y     =", [round(p.data - y, 6) for p, y in zip(probabilities, one_hot)])

# %% [markdown]
# The gradient components sum to 0. That has to be so: adding the same constant to every
# logit leaves the softmax, and so the loss, unchanged, so the loss has zero slope along
# the direction $(1, 1, \dots, 1)$.
#
# ## Which loss for which task
#
# | task | output layer | loss |
# |---|---|---|
# | regression (a real number) | linear | mean squared error (or the $\tfrac{1}{2n}$ cost) |
# | two classes | one sigmoid unit, or a logit | binary cross-entropy (log loss) |
# | $K$ classes | $K$ logits + softmax | cross-entropy |
#
# ## Try it
#
# Work each exercise out on paper, put your result in place of the `...` after
# `answer =` and run the cell: the engine checks it. Under each exercise a collapsed cell
# holds a solution; click it (or the `⋯` in its place) to open it.
#
# **1.** The MSE of predictions $[1, 2, 3]$ against targets $[1, 2, 5]$.

# %%
from tinygrad_scalar.notebook import check

answer = ...
check(answer, mse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0]))

# %% jupyter={"source_hidden": true}
# Solution
# the squared errors are 0, 0 and (3 - 5)^2 = 4; their mean is 4 / 3.
answer = 4 / 3
check(answer, mse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0]))

# %% [markdown]
# **2.** The derivative of the $\frac{1}{2n}$ cost from exercise 1 with respect to the
# third prediction.

# %%
third = Value(3.0)
derivative = gradients(half_mse([1.0, 2.0, third], [1.0, 2.0, 5.0]), [third])[0]

answer = ...
check(answer, derivative)

# %% jupyter={"source_hidden": true}
# Solution
# d/dp of (p - t)^2 / (2n) is (p - t) / n = (3 - 5) / 3.
answer = -2 / 3
check(answer, derivative)

# %% [markdown]
# **3.** The log loss of predicting $p = 0.5$ for a true label 1 (a number, to 6
# decimals).

# %%
answer = ...
check(answer, binary_cross_entropy([0.5], [1.0]), tolerance=1e-6)

# %% jupyter={"source_hidden": true}
# Solution
# for label 1 the log loss is -ln p = -ln 0.5 = ln 2.
answer = 0.693147
check(answer, binary_cross_entropy([0.5], [1.0]), tolerance=1e-6)

# %% [markdown]
# **4.** For logits $[0, 0, 0]$ and true class 0, the cross-entropy gradient with respect
# to the first logit.

# %%
zs = [Value(0.0), Value(0.0), Value(0.0)]
derivative = gradients(cross_entropy([zs], [0]), zs)[0]

answer = ...
check(answer, derivative)

# %% jupyter={"source_hidden": true}
# Solution
# the gradient is softmax minus the one-hot target; equal logits give each class
# probability 1/3, so for the true class it is 1/3 - 1.
answer = -2 / 3
check(answer, derivative)
