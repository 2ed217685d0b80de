"""A transformer small enough for tests, built from nn.transformer's pieces as notebook
11's GPT is, and random documents for it; shared by the torch backend's tests (the DDP
test's processes import only this, not the test modules)."""

from __future__ import annotations

import random

from tinygrad_scalar import losses
from tinygrad_scalar.nn import CausalSelfAttention, Embedding, KVCache, Layer, Module, rmsnorm

VOCAB, EMBD, HEADS, BLOCK = 5, 8, 2, 6


class TinyGPT(Module):
    def __init__(self, seed=0):
        rng = random.Random(seed)
        self.tokens = Embedding(VOCAB, EMBD, std=0.3, rng=rng)
        self.positions = Embedding(BLOCK, EMBD, std=0.3, rng=rng)
        self.attn = CausalSelfAttention(EMBD, HEADS, std=0.3, rng=rng)
        self.fc1 = Layer(EMBD, 2 * EMBD, activation="relu", rng=rng)
        self.fc2 = Layer(2 * EMBD, EMBD, activation="linear", rng=rng)
        self.lm_head = Layer(EMBD, VOCAB, activation="linear", rng=rng)

    def loss(self, *tokens):
        cache, logits = KVCache(), []
        for t in range(len(tokens) - 1):
            x = [a + b for a, b in zip(self.tokens(tokens[t]), self.positions(t))]
            x = [a + b for a, b in zip(x, self.attn.step(rmsnorm(x), cache))]
            x = [a + b for a, b in zip(x, self.fc2(self.fc1(rmsnorm(x))))]
            logits.append(self.lm_head(x))
        return losses.cross_entropy(logits, list(tokens[1:]))

    def parameters(self):
        parts = (self.tokens, self.positions, self.attn, self.fc1, self.fc2, self.lm_head)
        return [p for part in parts for p in part.parameters()]


def token_columns(n_docs, length, seed):
    rng = random.Random(seed)
    docs = [[rng.randrange(VOCAB) for _ in range(length)] for _ in range(n_docs)]
    return docs, [list(column) for column in zip(*docs)]
