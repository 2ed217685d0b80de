"""Text data for language models: the character tokenizer with BOS, and batches of
documents of equal length (one compiled step per length)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tinygrad_scalar.data import CharTokenizer, batches_by_length, load_names


def test_the_tokenizer_of_the_census_names_round_trips_every_name():
    names = load_names()
    tok = CharTokenizer(names)
    assert tok.chars == "abcdefghijklmnopqrstuvwxyz"
    assert (tok.bos, tok.vocab_size) == (26, 27)
    for name in names:
        tokens = tok.encode(name)
        assert tokens[0] == tokens[-1] == tok.bos and tok.bos not in tokens[1:-1]
        assert tok.decode(tokens) == name
    assert tok.encode("ada") == [26, 0, 3, 0, 26]
    assert repr(tok) == "CharTokenizer('abcdefghijklmnopqrstuvwxyz' + BOS, vocab_size=27)"


def test_the_tokenizer_refuses_unknown_characters_and_tokens():
    tok = CharTokenizer(["abc"])
    with pytest.raises(ValueError, match=r"'z' in 'abz' is not in the vocabulary"):
        tok.encode("abz")
    with pytest.raises(ValueError, match=r"token 1 is 4, past the vocabulary of 4"):
        tok.decode([3, 4])
    for bad in (-1, 1.0, True):
        with pytest.raises(ValueError, match=r"token 0 must be an integer >= 0"):
            tok.decode([bad])
    with pytest.raises(TypeError, match="a list of strings"):
        CharTokenizer("abc")
    with pytest.raises(ValueError, match="no characters"):
        CharTokenizer(["", ""])


def test_batches_by_length_cover_every_sequence_once_in_equal_length_batches():
    names = load_names()
    batches = batches_by_length(names, 32, seed=0)
    assert Counter(n for batch in batches for n in batch) == Counter(names)
    assert all(len({len(n) for n in batch}) == 1 for batch in batches)
    assert all(1 <= len(batch) <= 32 for batch in batches)
    # only the last batch of each length may be short: at most one per length
    short = Counter(len(batch[0]) for batch in batches if len(batch) < 32)
    assert max(short.values()) == 1
    # the lengths are mixed, not one length after another
    assert len({len(batch[0]) for batch in batches[:10]}) > 1


def test_batches_by_length_follow_the_seed_and_leave_the_input_alone():
    docs = [[i] * (i % 5 + 1) for i in range(40)]
    copy = [list(d) for d in docs]
    assert batches_by_length(docs, 3, seed=1) == batches_by_length(docs, 3, seed=random.Random(1))
    assert batches_by_length(docs, 3, seed=1) != batches_by_length(docs, 3, seed=2)
    assert docs == copy
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        batches_by_length(docs, 0)
