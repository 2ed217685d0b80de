# %% [markdown]
# # 02 · Values and `backward()`
#
# A `Value` wraps one number. Every arithmetic operation on Values makes a new Value that
# remembers its inputs (its *parents*) and the derivative of its output with respect to each
# of them (its *local gradients*). Together these records form a *computation graph*.
# `backward()` walks that graph from the output back to the inputs and applies the chain
# rule at every node. This notebook builds a few graphs, draws them, and looks at exactly
# what `backward()` does.

# %%
from tinygrad_scalar import GradcheckError, Value, draw, gradcheck, topological_order

# %% [markdown]
# ## A small expression
#
# We compute $L = \tanh(x \cdot w + b)$ for one input $x$, weight $w$ and bias $b$: a single
# neuron, as we will see in notebook 03. Labels are optional; they only name the boxes in
# the drawing.

# %%
x = Value(2.0, label="x")
w = Value(-0.5, label="w")
b = Value(0.7, label="b")
xw = x * w
xw.label = "x·w"
z = xw + b
z.label = "z"
L = z.tanh()
L.label = "L"
print(L)
print("parents of z:", [p.label for p in z.parents], "  local gradients:", z.local_grads)

# %% [markdown]
# Drawing the graph before `backward()`: every box shows its value; gradients are still
# unknown. Ovals are operations, boxes are Values.

# %%
draw(L)

# %% [markdown]
# ## What `backward()` does
#
# `backward()` sets $\frac{\partial L}{\partial L} = 1$ and then visits the nodes from the
# output to the inputs. At each node it passes its gradient on to each parent, multiplied by
# the local gradient:
#
# $$\frac{\partial L}{\partial \text{parent}} \mathrel{+}= \frac{\partial \text{node}}{\partial \text{parent}} \cdot \frac{\partial L}{\partial \text{node}}.$$
#
# For our neuron: $\frac{\partial L}{\partial z} = 1 - \tanh^2 z$; an addition passes the
# gradient through unchanged, so $\frac{\partial L}{\partial b} = \frac{\partial L}{\partial z}$;
# a product sends each factor the *other* factor, so
# $\frac{\partial L}{\partial w} = x \cdot \frac{\partial L}{\partial z}$ and
# $\frac{\partial L}{\partial x} = w \cdot \frac{\partial L}{\partial z}$.

# %%
L.backward()
dL_dz = 1 - L.data**2
print(f"dL/dz = {z.grad:.6f}   (1 - tanh(z)^2 = {dL_dz:.6f})")
print(f"dL/db = {b.grad:.6f}")
print(f"dL/dw = {w.grad:.6f}   (x * dL/dz = {x.data * dL_dz:.6f})")
print(f"dL/dx = {x.grad:.6f}   (w * dL/dz = {w.data * dL_dz:.6f})")

# %% [markdown]
# The same graph after `backward()` now shows each node's gradient. With `highlight=w` the
# drawing marks the path from $w$ to $L$ and writes out the chain-rule product along it.

# %%
draw(L, highlight=w)

# %% [markdown]
# ### Step through it
#
# `explore` draws the same graph and lets you walk it: **next** (or →) computes one value of
# the forward pass, in topological order; then the backward pass gives one node its gradient
# at a time, in reverse order, and the line above the graph writes out that step's
# chain-rule product with its numbers. Click a node to see its whole expansion. (Where the
# notebook's scripts do not run, you see the finished graph.)

# %%
from tinygrad_scalar import explore

explore(L)

# %% [markdown]
# ## The order of the walk
#
# A node may pass its gradient on only once it has received *all* of its own gradient, that
# is, after every node that uses it has been processed. A *topological order* lists every
# node after its parents; `backward()` walks it in reverse.

# %%
order = topological_order(L)
print("topological order:", " -> ".join(node.label or repr(node.data) for node in order))
print("backward visits:  ", " -> ".join(node.label or repr(node.data) for node in reversed(order)))

# %% [markdown]
# ## A subexpression used twice
#
# When a Value feeds two places, its gradient is the *sum* of what flows back along each
# path (the multivariable chain rule). Take $a = x + y$ and $f = a \cdot a + a$: then
# $\frac{\partial f}{\partial a} = 2a + 1$. This is why `backward()` accumulates with
# `+=` instead of overwriting.

# %%
x = Value(1.0, label="x")
y = Value(2.0, label="y")
a = x + y
a.label = "a"
f = a * a + a
f.label = "f"
f.backward()
print(f"df/da = {a.grad}   (2a + 1 = {2 * a.data + 1})")
print(f"df/dx = {x.grad},  df/dy = {y.grad}   (da/dx = da/dy = 1)")
draw(f)

# %% [markdown]
# ## Gradients accumulate across calls
#
# Leaves (the inputs and, later, the weights of a network) keep adding to `.grad` each
# time `backward()` runs. That is handy when one gradient is built from several pieces, but
# in a training loop it means the old gradient must be cleared before each new step
# (`zero_grad()` on a model does exactly that).

# %%
x = Value(3.0, label="x")
y = x**2
y.backward()
print("after one backward():  x.grad =", x.grad)
y.backward()
print("after a second call:   x.grad =", x.grad, " (6 + 6)")
x.grad = 0.0  # what zero_grad() does for every parameter
y.backward()
print("after clearing:        x.grad =", x.grad)

# %% [markdown]
# ## Checking gradients against finite differences
#
# A central difference $\frac{f(x + \varepsilon) - f(x - \varepsilon)}{2\varepsilon}$
# approximates the derivative with an error that shrinks like $\varepsilon^2$. `gradcheck`
# compares it with `backward()` for every input and raises `GradcheckError` when they
# disagree.

# %%
def neuron(x, w, b):
    return (x * w + b).tanh()


print(gradcheck(neuron, 2.0, -0.5, 0.7))
print(gradcheck(lambda x, y: (x * y).exp() / (1 + y**2), 0.3, -1.2))

# %% [markdown]
# Finite differences are blind at a kink. At $0$, ReLU's left slope is $0$ and its right
# slope is $1$; the engine uses $0$ (as PyTorch does) while the central difference
# averages to $0.5$, so `gradcheck` reports a mismatch there. Away from the kink the two agree.

# %%
try:
    gradcheck(lambda x: x.relu(), 0.0)
except GradcheckError as error:
    print("at the kink:", error)
print("away from it:", gradcheck(lambda x: x.relu(), 0.8))

# %% [markdown]
# ## Try it
#
# Work each exercise out on paper, put your result in place of the `...` after
# `answer =` and run the cell: the engine checks it. Under each exercise a collapsed cell
# holds a solution; click it (or the `⋯` in its place) to open it.
#
# **1.** For $g = (x \cdot y + x)^2$ at $x = 1$, $y = 2$, what is
# $\frac{\partial g}{\partial x}$? (Notice that $x$ is used twice.)

# %%
from tinygrad_scalar.notebook import check

x, y = Value(1.0), Value(2.0)
g = (x * y + x) ** 2
g.backward()

answer = ...
check(answer, x.grad)

# %% jupyter={"source_hidden": true}
# Solution
# with u = x*y + x = 3, dg/du = 2u = 6, and u grows through both uses of x:
# du/dx = y + 1 = 3. So dg/dx = 6 * 3.
answer = 18.0
check(answer, x.grad)

# %% [markdown]
# **2.** If you call `backward()` three times on $y = 5x$ without clearing, what is
# `x.grad`?

# %%
x = Value(4.0)
y = 5 * x
for _ in range(3):
    y.backward()

answer = ...
check(answer, x.grad)

# %% jupyter={"source_hidden": true}
# Solution
# each backward() adds dy/dx = 5 to x.grad, and nothing resets it in between.
answer = 15.0
check(answer, x.grad)

# %% [markdown]
# **3.** For $L = \tanh(x w + b)$ with $x = 2, w = -0.5, b = 0.7$ above: what is
# $\frac{\partial L}{\partial L}$, the gradient `backward()` starts with?

# %%
answer = ...
check(answer, L.grad)

# %% jupyter={"source_hidden": true}
# Solution
# a change in L changes L by the same amount, so the seed gradient is 1.
answer = 1.0
check(answer, L.grad)
