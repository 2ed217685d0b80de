# %% [markdown]
# # 05 · Gradient descent
#
# The gradient points in the direction in which a function rises fastest. Gradient descent
# repeatedly takes a small step the other way:
#
# $$w_{\text{new}} = w_{\text{old}} - \eta \, \frac{\partial L}{\partial w},$$
#
# where $\eta$ (the *learning rate*) sets the step size. This notebook runs that rule on
# functions of one and two variables, draws the path it takes, and shows what a learning
# rate that is too small or too large does, and why a start point can end in the wrong
# valley.

# %%
import matplotlib.pyplot as plt
import numpy as np

from tinygrad_scalar import grad, value_and_grad

plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## One variable
#
# Take $f(x) = (x - 2)^2$, lowest at $x = 2$, and start at $x = -1$. The derivative
# $f'(x) = 2(x - 2)$ is negative left of the minimum, so subtracting it moves $x$ right.

# %%
def descend(f, x, learning_rate, steps):
    """Plain gradient descent on a function of one variable; returns the visited points."""
    slope = grad(f)
    path = [x]
    for _ in range(steps):
        x = x - learning_rate * slope(x)
        path.append(x)
    return path


def bowl(x):
    return (x - 2) ** 2


path = descend(bowl, -1.0, learning_rate=0.1, steps=5)
for step, x in enumerate(path):
    print(f"step {step}: x = {x:.4f}   f(x) = {bowl(x):.4f}")

# %% [markdown]
# ## Too small, about right, too large
#
# Here one step maps the distance to the minimum $d = x - 2$ to $(1 - 2\eta)\,d$. With
# $\eta = 0.02$ it shrinks by only 4 % per step; with $\eta = 0.3$ by 60 %; with
# $\eta = 1.05$ the factor is $-1.1$: every step jumps over the minimum and lands farther
# away, so the iteration *diverges*.

# %%
rates = {"too small": 0.02, "about right": 0.3, "too large": 1.05}
xs = np.linspace(-4, 8, 200)
fig, axes = plt.subplots(1, 3, figsize=(11, 3), sharey=True)
for ax, (title, rate) in zip(axes, rates.items()):
    path = descend(bowl, -1.0, rate, steps=12)
    ax.plot(xs, (xs - 2) ** 2, color="lightgray")
    ax.plot(path, [bowl(x) for x in path], "o-", ms=4)
    ax.set_title(f"{title}, $\\eta = {rate}$")
    ax.set_ylim(-1, 40)
    print(f"{title:11} (learning rate {rate:4}): x after 12 steps = {path[-1]:8.3f}")
plt.show()

# %% [markdown]
# Now choose the learning rate yourself. In JupyterLab a slider appears under the figure:
# drag it and the path is redrawn (a copy viewed without a running kernel shows
# $\eta = 0.3$). Watch the steps lengthen, start to jump over the minimum once $\eta$
# passes $0.5$ (the factor $1 - 2\eta$ turns negative), bounce between two points at
# exactly $\eta = 1$ and fly off beyond it.

# %%
from tinygrad_scalar.notebook import slider


def draw_descent(learning_rate):
    path = descend(bowl, -1.0, learning_rate, steps=12)
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot(xs, (xs - 2) ** 2, color="lightgray")
    ax.plot(path, [bowl(x) for x in path], "o-", ms=4)
    ax.set_xlim(-4, 8)
    ax.set_ylim(-1, 40)
    ax.set_title(f"$\\eta = {learning_rate:.2f}$: x after 12 steps = {path[-1]:.3f}")
    plt.show()


slider(draw_descent, learning_rate=(0.01, 1.1, 0.01, 0.3))

# %% [markdown]
# ## Two variables: a path over contour lines
#
# With several weights the gradient is a vector of partial derivatives and the update moves
# all of them at once. Take the stretched bowl
#
# $$L(w_1, w_2) = w_1^2 + 10\,w_2^2, \qquad \nabla L = (2w_1,\ 20w_2),$$
#
# starting from $(w_1, w_2) = (3, 1)$. Each contour line joins points of equal loss; the
# gradient is perpendicular to them. Because the bowl is ten times steeper along $w_2$, the
# largest stable learning rate is set by that direction ($\eta < 0.1$), and the path
# zig-zags across the valley before it settles.

# %%
def loss(w1, w2):
    return w1**2 + 10 * w2**2


loss_and_gradient = value_and_grad(loss, argnums=(0, 1))


def descend_2d(w, learning_rate, steps):
    path = [w]
    for _ in range(steps):
        _, (d1, d2) = loss_and_gradient(*w)
        w = (w[0] - learning_rate * d1, w[1] - learning_rate * d2)
        path.append(w)
    return np.array(path)


grid_1, grid_2 = np.meshgrid(np.linspace(-3.5, 3.5, 120), np.linspace(-1.6, 1.6, 120))
fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), sharey=True)
for ax, rate in zip(axes, [0.02, 0.09, 0.102]):
    path = descend_2d((3.0, 1.0), rate, steps=25)
    ax.contour(grid_1, grid_2, loss(grid_1, grid_2), levels=15, cmap="viridis", linewidths=0.8)
    ax.plot(path[:, 0], path[:, 1], "o-", color="crimson", ms=3)
    ax.set_xlim(-3.5, 3.5)
    ax.set_ylim(-1.6, 1.6)
    ax.set_title(f"$\\eta = {rate}$: L = {loss(*path[-1]):.3g} after 25 steps")
    ax.set_xlabel("$w_1$")
axes[0].set_ylabel("$w_2$")
plt.show()

# %% [markdown]
# ## Local and global minima
#
# A function can have several valleys. Gradient descent only ever goes downhill from where
# it is, so it stops at the bottom of whichever valley it starts in. The quartic
#
# $$q(x) = x^4 - 3x^2 + x$$
#
# has a deep (global) minimum near $x = -1.30$ and a shallower (local) one near $x = 1.13$.

# %%
def quartic(x):
    return x**4 - 3 * x**2 + x


xs = np.linspace(-2.1, 2.1, 200)
fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.plot(xs, quartic(xs), color="lightgray")
for start, color in [(-2.0, "tab:blue"), (2.0, "tab:orange")]:
    path = descend(quartic, start, learning_rate=0.02, steps=60)
    ax.plot(path, [quartic(x) for x in path], "o-", ms=3, color=color,
            label=f"start {start:+}: ends at x = {path[-1]:.3f}, q = {quartic(path[-1]):.3f}")
ax.legend(fontsize=8, loc="upper center")
plt.show()

# %% [markdown]
# A neural network's loss has countless such valleys and flat regions. In practice many of
# them are about equally good, and tricks such as random restarts, momentum and Adam (see
# notebook 07) help a run avoid getting stuck in a poor one.
#
# ## Try it
#
# Work each exercise out on paper, put your result in place of the `...` after
# `answer =` and run the cell: the engine checks it. Under each exercise a collapsed cell
# holds a solution; click it (or the `⋯` in its place) to open it.
#
# **1.** For $f(x) = 5x^2$, one step maps $x$ to $(1 - 10\eta)\,x$. What is the largest
# learning rate for which gradient descent does not diverge? (The engine checks it as
# $2 / f''$.)

# %%
from tinygrad_scalar.notebook import check

answer = ...
check(answer, 2 / grad(grad(lambda x: 5 * x**2))(0.0))

# %% jupyter={"source_hidden": true}
# Solution
# the distance to the minimum shrinks while |1 - 10 eta| < 1, i.e. for
# 0 < eta < 0.2; at eta = 0.2 the factor is -1 and x just flips sign forever.
answer = 0.2
check(answer, 2 / grad(grad(lambda x: 5 * x**2))(0.0))

# %% [markdown]
# **2.** Starting at $x = 3$ on $f(x) = x^2$ with $\eta = 0.1$: where is $x$ after one
# step?

# %%
answer = ...
check(answer, descend(lambda x: x**2, 3.0, learning_rate=0.1, steps=1)[-1])

# %% jupyter={"source_hidden": true}
# Solution
# f'(3) = 6, so x becomes 3 - 0.1 * 6.
answer = 2.4
check(answer, descend(lambda x: x**2, 3.0, learning_rate=0.1, steps=1)[-1])

# %% [markdown]
# **3.** On the quartic $q$, starting at $x = 0.5$ with $\eta = 0.02$: which minimum is
# reached, the one near $-1.30$ or the one near $1.13$? Give its $x$ to two decimals.

# %%
answer = ...
check(answer, descend(quartic, 0.5, learning_rate=0.02, steps=300)[-1], tolerance=5e-3)

# %% jupyter={"source_hidden": true}
# Solution
# q'(0.5) = 4 * 0.125 - 3 + 1 = -1.5 is negative, so the first step goes right,
# downhill into the shallow valley, and descent never climbs back out of it.
answer = 1.13
check(answer, descend(quartic, 0.5, learning_rate=0.02, steps=300)[-1], tolerance=5e-3)
