# %% [markdown]
# # 01 · Derivatives and the chain rule
#
# Training a network means nudging every weight in the direction that lowers the loss.
# To know that direction we need derivatives. This notebook recalls the few rules we need
# (power rule, partial derivatives, the chain rule) and checks each one with
# `tinygrad_scalar`, which computes derivatives for us.

# %%
import matplotlib.pyplot as plt

from tinygrad_scalar import Value, grad

plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## A derivative is a rate of change
#
# For $f(x) = x^2$, how fast does $f$ change near $x = 3$? Step a little, by $h$, and
# compare the change in output with the change in input. The derivative is what this ratio
# approaches as the step shrinks:
#
# $$f'(x) = \lim_{h \to 0} \frac{f(x + h) - f(x)}{h}.$$
#
# For $x^2$ the ratio is $\frac{(x+h)^2 - x^2}{h} = 2x + h$, so the limit is $2x$, which is
# $6$ at $x = 3$. The table shows the ratio closing in on $6$, off by exactly $h$.

# %%
def f(x):
    return x**2


x0 = 3.0
for h in [1.0, 0.1, 0.01, 0.001]:
    ratio = (f(x0 + h) - f(x0)) / h
    print(f"h = {h:<6}  (f(x+h) - f(x)) / h = {ratio:.6f}   error = {ratio - 6:.6f}")

# %% [markdown]
# The engine gets the exact value with no step at all: a `Value` remembers how it was
# computed, and `backward()` applies the rules of differentiation to that record.

# %%
x = Value(3.0, label="x")
y = x**2
y.backward()
print("f(3) =", y.data, "  f'(3) =", x.grad)

# %% [markdown]
# Geometrically, $f'(3)$ is the slope of the line that touches the curve at $x = 3$.

# %%
xs = [i / 20 for i in range(-20, 121)]
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(xs, [f(v) for v in xs], label="$f(x) = x^2$")
ax.plot(xs, [f(x0) + x.grad * (v - x0) for v in xs], "--", label="tangent at $x=3$, slope 6")
ax.scatter([x0], [f(x0)], color="black", zorder=3)
ax.set_ylim(-5, 40)
ax.set_xlabel("x")
ax.legend()
plt.show()

# %% [markdown]
# ## The power rule
#
# For $f(x) = x^n$ the derivative is $f'(x) = n\,x^{n-1}$, and a constant factor stays
# in front. So
#
# $$\frac{d}{dx}x^2 = 2x, \qquad \frac{d}{dx}\,4x^3 = 4 \cdot 3x^2 = 12x^2.$$
#
# `grad(f)` turns a function into its derivative; we compare it with the rule at a few
# points.

# %%
d_square = grad(lambda x: x**2)
d_four_cubed = grad(lambda x: 4 * x**3)

for x in [-2.0, 0.5, 3.0]:
    print(f"x = {x:5}:  d/dx x^2 = {d_square(x):6}  (2x = {2 * x:6})   "
          f"d/dx 4x^3 = {d_four_cubed(x):6}  (12x^2 = {12 * x**2:6})")
    assert d_square(x) == 2 * x and d_four_cubed(x) == 12 * x**2

# %% [markdown]
# ## Partial derivatives
#
# A loss depends on many weights at once. A *partial derivative* asks how the output moves
# when one input moves and every other input is held fixed. Take
#
# $$f(x, y) = x^2 + 2xy + y^2.$$
#
# Treating $y$ as a constant, $\frac{\partial f}{\partial x} = 2x + 2y$; treating $x$ as a
# constant, $\frac{\partial f}{\partial y} = 2x + 2y$ as well. They agree because $f$ is
# symmetric: swapping $x$ and $y$ leaves it unchanged (it is $(x + y)^2$).
#
# The vector of all partial derivatives is the *gradient*,
# $\nabla f = \left(\frac{\partial f}{\partial x}, \frac{\partial f}{\partial y}\right)$.
# One `backward()` fills in both.

# %%
x, y = Value(1.0, label="x"), Value(2.0, label="y")
f_xy = x**2 + 2 * x * y + y**2
f_xy.backward()
print("f(1, 2) =", f_xy.data)
print("df/dx =", x.grad, "  df/dy =", y.grad, "  2x + 2y =", 2 * 1.0 + 2 * 2.0)

# %% [markdown]
# `grad` with `argnums` picks which arguments to differentiate with respect to. Holding $y$
# fixed and stepping only $x$ by a small $h$ gives the same number, which is what "partial"
# means.

# %%
def f2(x, y):
    return x**2 + 2 * x * y + y**2


df_dx, df_dy = grad(f2, argnums=(0, 1))(1.0, 2.0)
h = 1e-6
step_x = (f2(1.0 + h, 2.0) - f2(1.0 - h, 2.0)) / (2 * h)
step_y = (f2(1.0, 2.0 + h) - f2(1.0, 2.0 - h)) / (2 * h)
print(f"engine: ({df_dx}, {df_dy})   stepping one input: ({step_x:.6f}, {step_y:.6f})")

# %% [markdown]
# ## The chain rule
#
# When one function feeds another, $y = f(u)$ with $u = g(x)$, the rates multiply:
#
# $$\frac{dy}{dx} = \frac{dy}{du} \cdot \frac{du}{dx}.$$
#
# Example: $y = u^2$ with $u = 3x$. Then $\frac{dy}{du} = 2u$ and $\frac{du}{dx} = 3$, so
# $\frac{dy}{dx} = 2u \cdot 3 = 6u = 6 \cdot 3x = 18x$. (Check: $y = 9x^2$, whose derivative
# is $18x$.)
#
# After `backward()` every intermediate node holds the derivative of the output with respect
# to itself, so we can read off both factors.

# %%
x = Value(2.0, label="x")
u = 3 * x
y = u**2
y.backward()
print(f"u = 3x = {u.data}")
print(f"dy/du = {u.grad}   (2u = {2 * u.data})")
print(f"dy/dx = {x.grad}   (18x = {18 * x.data})")

# %% [markdown]
# ## A chain of three: $A(B(C(x)))$
#
# With more links the rule just keeps multiplying, one local derivative per link, each taken
# at the value flowing through it:
#
# $$\frac{d}{dx} A(B(C(x))) = A'\big(B(C(x))\big) \cdot B'\big(C(x)\big) \cdot C'(x).$$
#
# Take $C(x) = 3x + 1$, $B(c) = c^2$ and $A(b) = \ln b$. The three factors are $\frac{1}{b}$,
# $2c$ and $3$, so $f'(x) = \frac{6c}{c^2} = \frac{6}{3x + 1}$, which is $1.5$ at $x = 1$.
#
# A network is exactly such a chain (layer after layer), and backpropagation is this product
# evaluated from the output end.

# %%
x = Value(1.0, label="x")
c = 3 * x + 1
b = c**2
a = b.log()
a.backward()

A_prime, B_prime, C_prime = 1 / b.data, 2 * c.data, 3.0
print(f"A'(b) * B'(c) * C'(x) = {A_prime:.4f} * {B_prime} * {C_prime} = "
      f"{A_prime * B_prime * C_prime}")
print("engine dA/dx =", x.grad, "   6 / (3x + 1) =", 6 / (3 * 1.0 + 1))

# %% [markdown]
# ## Try it
#
# Work each exercise out on paper, put your result in place of the `...` after
# `answer =` and run the cell: the engine checks it. Under each exercise a collapsed cell
# holds a solution; click it (or the `⋯` in its place) to open it.
#
# **1.** The derivative of $g(x) = 5x^4$ at $x = 2$.

# %%
from tinygrad_scalar.notebook import check

answer = ...
check(answer, grad(lambda x: 5 * x**4)(2.0))

# %% jupyter={"source_hidden": true}
# Solution
# the power rule gives g'(x) = 20 x^3, so g'(2) = 20 * 8.
answer = 160.0
check(answer, grad(lambda x: 5 * x**4)(2.0))

# %% [markdown]
# **2.** $\frac{\partial h}{\partial y}$ for $h(x, y) = x^2 y + y^3$ at $(x, y) = (1, 2)$.

# %%
answer = ...
check(answer, grad(lambda x, y: x**2 * y + y**3, argnums=1)(1.0, 2.0))

# %% jupyter={"source_hidden": true}
# Solution
# hold x fixed; dh/dy = x^2 + 3 y^2 = 1 + 12.
answer = 13.0
check(answer, grad(lambda x, y: x**2 * y + y**3, argnums=1)(1.0, 2.0))

# %% [markdown]
# **3.** The derivative of $k(x) = (2x + 1)^3$ at $x = 1$ (chain rule with $u = 2x + 1$).

# %%
answer = ...
check(answer, grad(lambda x: (2 * x + 1) ** 3)(1.0))

# %% jupyter={"source_hidden": true}
# Solution
# dk/du = 3 u^2 and du/dx = 2, so k'(x) = 6 (2x + 1)^2 = 6 * 9 at x = 1.
answer = 54.0
check(answer, grad(lambda x: (2 * x + 1) ** 3)(1.0))
