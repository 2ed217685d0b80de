# %% [markdown]
# # 09 · Higher-order derivatives
#
# The derivative of a function is again a function, so it can be differentiated again.
# The second derivative measures *curvature*: how fast the slope itself changes. This
# notebook takes derivatives of derivatives with `grad(grad(f))`, uses the sign of the
# second derivative to tell minima from maxima, and compares Newton's method (which uses
# curvature) with plain gradient descent (which does not).

# %%
import math

import matplotlib.pyplot as plt

from tinygrad_scalar import Value, grad

plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## Derivatives of derivatives
#
# For $f(x) = 4x^3$ the power rule, applied again and again, gives
# $f'(x) = 12x^2$, $f''(x) = 24x$, $f'''(x) = 24$ and $f''''(x) = 0$.
#
# `grad(f)` returns an ordinary Python function, so `grad` can be applied to its result.
# This works because when `grad` is handed a `Value` it keeps the graph of the derivative
# it builds, and that graph can be differentiated in turn.

# %%
def f(x):
    return 4 * x**3


derivatives = [f, grad(f), grad(grad(f)), grad(grad(grad(f))), grad(grad(grad(grad(f))))]
by_hand = [lambda x: 4 * x**3, lambda x: 12 * x**2, lambda x: 24 * x, lambda x: 24.0,
           lambda x: 0.0]
x = 2.0
for order, (engine_fn, rule) in enumerate(zip(derivatives, by_hand)):
    value = engine_fn(x)
    print(f"order {order}: engine {float(value):6}   power rule {rule(x):6}")
    assert float(value) == rule(x)

# %% [markdown]
# The same is available on the graph directly: `backward(create_graph=True)` makes each
# `.grad` a `Value` with a graph of its own. Clearing `x.grad` and calling `backward()` on
# that gradient gives the second derivative.

# %%
x = Value(2.0, label="x")
y = x**3  # y' = 3x^2 = 12, y'' = 6x = 12
y.backward(create_graph=True)
first = x.grad
print("first derivative:", first.data, " (a", type(first).__name__ + ")")
x.grad = 0.0
first.backward()
print("second derivative:", x.grad)

# %% [markdown]
# ## Curvature tells a minimum from a maximum
#
# Where $f'(x) = 0$ the tangent is flat. If $f''(x) > 0$ the curve bends upward there (a
# local minimum); if $f''(x) < 0$ it bends downward (a local maximum).
#
# Take $f(x) = x^3 - 3x$: $f'(x) = 3x^2 - 3$ vanishes at $x = \pm 1$, and $f''(x) = 6x$
# is $+6$ at $x = 1$ and $-6$ at $x = -1$.

# %%
def cubic(x):
    return x**3 - 3 * x


d_cubic, dd_cubic = grad(cubic), grad(grad(cubic))
for x in [-1.0, 1.0]:
    kind = "minimum" if dd_cubic(x) > 0 else "maximum"
    print(f"x = {x:4}: f' = {d_cubic(x)}, f'' = {dd_cubic(x):4} -> local {kind}")

xs = [i / 50 for i in range(-110, 111)]
fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.plot(xs, [cubic(v) for v in xs], label="$f(x) = x^3 - 3x$")
ax.plot(xs, [d_cubic(v) for v in xs], label="$f'(x)$")
ax.plot(xs, [dd_cubic(v) for v in xs], label="$f''(x)$")
ax.axhline(0, color="gray", lw=0.5)
ax.scatter([-1, 1], [cubic(-1.0), cubic(1.0)], color="black", zorder=3)
ax.set_ylim(-7, 7)
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# ## Second derivatives of several variables: the Hessian
#
# With two inputs there are four second derivatives, collected in the Hessian matrix
# $H_{ij} = \frac{\partial^2 f}{\partial x_i \partial x_j}$. For
# $f(x, y) = x^2 + 2xy + y^2$ (whose gradient is $(2x + 2y,\ 2x + 2y)$) every entry is $2$.
#
# To get a row of $H$: build the gradient with `create_graph=True`, then backpropagate from
# one of its components.

# %%
def hessian_row(f, point, i):
    """Row i of the Hessian of f at `point`: the gradient of df/dx_i."""
    inputs = [Value(v) for v in point]
    f(*inputs).backward(create_graph=True)
    partial_i = inputs[i].grad
    for v in inputs:
        v.grad = 0.0
    partial_i.backward()
    return [float(v.grad) for v in inputs]


def f_xy(x, y):
    return x**2 + 2 * x * y + y**2


print("Hessian of x^2 + 2xy + y^2 at (1, 2):")
for i in range(2):
    print("  ", hessian_row(f_xy, (1.0, 2.0), i))

# %% [markdown]
# `grad` nests across arguments too: differentiating $\partial f / \partial x$ with respect to
# $y$ gives the mixed partial $\frac{\partial^2 f}{\partial y\,\partial x}$ directly.

# %%
mixed = grad(grad(f_xy, argnums=0), argnums=1)
print("d/dy (df/dx) at (1, 2) =", mixed(1.0, 2.0))

# %% [markdown]
# ## Newton's method against gradient descent
#
# Gradient descent steps against the slope with a fixed learning rate $\eta$:
# $x \leftarrow x - \eta f'(x)$. Newton's method fits a parabola to $f$ at the current point
# (using $f'$ and $f''$) and jumps to that parabola's lowest point:
#
# $$x \leftarrow x - \frac{f'(x)}{f''(x)}.$$
#
# Near a minimum with $f'' > 0$, Newton's error roughly squares at every step, so the number
# of correct digits doubles, while gradient descent shrinks the error by a roughly constant
# factor. We minimise $f(x) = e^x - 2x$, whose minimum is at $x^* = \ln 2$.

# %%
def g(x):
    return x.exp() - 2 * x


dg, ddg = grad(g), grad(grad(g))
x_star = math.log(2)

x_newton, x_descent, learning_rate = 2.0, 2.0, 0.3
newton_errors, descent_errors = [], []
for step in range(8):
    x_newton = x_newton - dg(x_newton) / ddg(x_newton)
    x_descent = x_descent - learning_rate * dg(x_descent)
    newton_errors.append(abs(x_newton - x_star))
    descent_errors.append(abs(x_descent - x_star))
    print(f"step {step + 1}: Newton error {newton_errors[-1]:.2e}   "
          f"descent error {descent_errors[-1]:.2e}")

# %%
fig, ax = plt.subplots(figsize=(5, 3))
steps = range(1, 9)
# an error of exactly 0 has no place on a log axis: draw it at 1e-17
ax.semilogy(steps, [max(e, 1e-17) for e in newton_errors], "o-", label="Newton")
ax.semilogy(steps, descent_errors, "s-", label="gradient descent, $\\eta = 0.3$")
ax.set_xlabel("step")
ax.set_ylabel("$|x - x^*|$")
ax.legend()
plt.show()

# %% [markdown]
# Newton's method is not a free lunch. It looks for *flat* points, not low ones: where
# $f'' < 0$ it steps towards a maximum. On $x^3 - 3x$, starting at $x = -0.5$, it heads for
# the maximum at $-1$, while gradient descent walks downhill to the minimum at $+1$. And with
# millions of weights the Hessian has trillions of entries, which is why networks are trained
# with first-order methods.

# %%
x_newton = x_descent = -0.5
for _ in range(30):
    x_newton = x_newton - d_cubic(x_newton) / dd_cubic(x_newton)
    x_descent = x_descent - 0.1 * d_cubic(x_descent)
print(f"Newton ends at {x_newton:.4f} (f'' = {dd_cubic(x_newton):.1f}, a maximum)")
print(f"descent ends at {x_descent:.4f} (f'' = {dd_cubic(x_descent):.1f}, a minimum)")

# %% [markdown]
# ## Try it
#
# Work each exercise out on paper, put your result in place of the `...` after
# `answer =` and run the cell: the engine checks it. Under each exercise a collapsed cell
# holds a solution; click it (or the `⋯` in its place) to open it.
#
# **1.** The second derivative of $x^5$ at $x = 1$.

# %%
from tinygrad_scalar.notebook import check

answer = ...
check(answer, grad(grad(lambda x: x**5))(1.0))

# %% jupyter={"source_hidden": true}
# Solution
# d/dx x^5 = 5 x^4, and again: 20 x^3, which is 20 at x = 1.
answer = 20.0
check(answer, grad(grad(lambda x: x**5))(1.0))

# %% [markdown]
# **2.** The third derivative of $e^{2x}$ at $x = 0$.

# %%
answer = ...
check(answer, grad(grad(grad(lambda x: (2 * x).exp())))(0.0))

# %% jupyter={"source_hidden": true}
# Solution
# each derivative brings out a factor 2 (chain rule), so the third is
# 8 e^(2x), and e^0 = 1.
answer = 8.0
check(answer, grad(grad(grad(lambda x: (2 * x).exp())))(0.0))

# %% [markdown]
# **3.** The mixed partial $\frac{\partial^2}{\partial x\,\partial y}\left(x^2 y^3\right)$
# at $(x, y) = (1, 1)$, i.e. row 0, column 1 of the Hessian.

# %%
answer = ...
check(answer, hessian_row(lambda x, y: x**2 * y**3, (1.0, 1.0), 0)[1])

# %% jupyter={"source_hidden": true}
# Solution
# d/dx gives 2 x y^3; then d/dy gives 6 x y^2, which is 6 at (1, 1).
answer = 6.0
check(answer, hessian_row(lambda x, y: x**2 * y**3, (1.0, 1.0), 0)[1])

# %% [markdown]
# **4.** Where one Newton step from $x = 1$ lands for $f(x) = x^2 - 4x$ (a parabola: one
# step is enough).

# %%
def parabola(x):
    return x**2 - 4 * x


answer = ...
check(answer, 1.0 - grad(parabola)(1.0) / grad(grad(parabola))(1.0))

# %% jupyter={"source_hidden": true}
# Solution
# x - f'(x) / f''(x) = 1 - (2 - 4) / 2 = 2, the vertex of the parabola.
answer = 2.0
check(answer, 1.0 - grad(parabola)(1.0) / grad(grad(parabola))(1.0))
